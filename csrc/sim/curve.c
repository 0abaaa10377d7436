#include "sim/curve.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sim/plot.h"

/* Sweeps that contradict each other or the base cluster, caught before the first point. */
static int check_sweeps(const fp8lab_cluster *c, const fp8lab_sweep *s1, const fp8lab_sweep *s2) {
    if (s2 && s2->var == s1->var) {
        FP8LAB_ERR("%s: %s is already swept by %s", s2->flag, s2->name, s1->flag);
        return -1;
    }
    const fp8lab_sweep *sms = s1->var == FP8LAB_VAR_COMM_SMS ? s1 : s2 && s2->var == FP8LAB_VAR_COMM_SMS ? s2 : NULL;
    /* with a gpu sweep the limit differs per GPU: those points are reported as impossible layouts */
    if (!sms || s1->var == FP8LAB_VAR_GPU || (s2 && s2->var == FP8LAB_VAR_GPU)) return 0;
    for (int i = 0; i < sms->n; i++)
        if (sms->num[i] >= c->gpu.sms) {
            FP8LAB_ERR("%s: comm-sms=%s is not in [0, %d): %s has %d SMs", sms->flag, sms->label[i], c->gpu.sms,
                       c->gpu.name, c->gpu.sms);
            return -1;
        }
    return 0;
}

/* An assumed MFU replaces the simulation: tokens/GPU-hour = MFU x BF16 peak / FLOPs per token. */
static void assume_mfu(const fp8lab_sweep_env *e, const fp8lab_sim_result *r, fp8lab_curve_point *pt) {
    const fp8lab_gpu *g = &e->cluster.gpu;
    double pk = g->peak_tflops[FP8LAB_PREC_BF16] * 1e12;
    pt->tokens_per_gpu_hour = e->mfu * pk * 3600 / r->model_flops_per_token;
    pt->tflops_per_gpu = e->mfu * pk / 1e12;
    pt->mfu_bf16 = e->mfu;
    pt->mfu_fp8 = g->peak_tflops[FP8LAB_PREC_FP8] > 0 ? pt->tflops_per_gpu / g->peak_tflops[FP8LAB_PREC_FP8] : 0;
    pt->step_time_s = r->tokens_per_step / (pt->tokens_per_gpu_hour / 3600 * (double)r->gpus);
}

static void simulate_point(const fp8lab_model *m, const fp8lab_sweep_env *e, fp8lab_curve_point *pt) {
    fp8lab_sim_result r;
    if (fp8lab_simulate(m, &e->cluster, &e->km, &e->plan, &r)) {
        snprintf(pt->why, sizeof pt->why, "%s", fp8lab_last_error());
        return;
    }
    pt->price = e->price;
    pt->gpus = r.gpus;
    pt->step_time_s = r.step_time_s;
    pt->tokens_per_gpu_hour = r.tokens_per_gpu_hour;
    pt->tflops_per_gpu = r.tflops_per_gpu;
    pt->mfu_bf16 = r.mfu_bf16, pt->mfu_fp8 = r.mfu_fp8;
    pt->memory_gb = r.mem.total_gb, pt->fits = r.mem.fits;
    if (e->mfu > 0) assume_mfu(e, &r, pt);
    pt->cost_per_mtok = e->price / pt->tokens_per_gpu_hour * 1e6;
    /* the ranges keep every input finite and positive; this keeps a model bug from printing as data */
    if (!(pt->tokens_per_gpu_hour > 0) || !isfinite(pt->tokens_per_gpu_hour) || !isfinite(pt->cost_per_mtok) ||
        !isfinite(pt->step_time_s)) {
        snprintf(pt->why, sizeof pt->why, "the simulation gave no finite throughput");
        return;
    }
    pt->ok = 1;
}

/* Sequences per data-parallel rank of the base run, which a gpus sweep keeps; 0 when gpus is not swept. */
static int base_seqs_per_dp(const fp8lab_curve_in *in, long *out) {
    *out = 0;
    if (in->s1->var != FP8LAB_VAR_GPUS && !(in->s2 && in->s2->var == FP8LAB_VAR_GPUS)) return 0;
    fp8lab_sim_result r0;
    if (fp8lab_simulate(in->m, in->c, in->km, in->base, &r0)) return -1;
    *out = r0.global_batch / r0.dp;
    return 0;
}

int fp8lab_curve_run(const fp8lab_curve_in *in, fp8lab_curve_point *out) {
    const fp8lab_sweep *s1 = in->s1, *s2 = in->s2;
    const fp8lab_cluster *c = in->c;
    const double price = in->price;
    long seqs_per_dp;
    if (check_sweeps(c, s1, s2) || base_seqs_per_dp(in, &seqs_per_dp)) return -1;
    int n2 = s2 ? s2->n : 1;
    for (int j = 0; j < n2; j++)
        for (int i = 0; i < s1->n; i++) {
            fp8lab_curve_point *pt = &out[j * s1->n + i];
            *pt = (fp8lab_curve_point){.i1 = i, .i2 = j};
            fp8lab_sweep_env e = {.plan = *in->base, .cluster = *c, .km = *in->km,
                                  .price = price >= 0 ? price : c->price_per_gpu_hour, .price_set = price >= 0,
                                  .seqs_per_dp = seqs_per_dp};
            fp8lab_sweep_apply(s1, i, s2, j, &e);
            simulate_point(in->m, &e, pt);
        }
    return 0;
}

/* Text that grows as needed; `failed` once memory ran out (the text is then dropped). */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->failed = 1;
        return;
    }
    if (b->p && b->len + (size_t)need < b->cap) {
        b->len += (size_t)need;
        return;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap <= b->len + (size_t)need) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return;
    }
    b->p = p, b->cap = cap;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

static char *sb_take(strbuf *b) {
    if (b->failed || !b->p) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* Spreadsheets run a text cell that starts with one of these as a formula (CSV injection: a cluster file named
   "=cmd|..."); a leading quote makes the cell text. Numeric cells are left as they are: "-0" stays a number. */
static const char *formula_guard(const char *v, int text) {
    return text && v[0] && strchr("=+-@\t\r", v[0]) ? "'" : "";
}

/* A CSV field and its separator: quoted (quotes doubled) when it holds a comma, a quote or a line break.
   text: the field is text, never a number (see formula_guard). */
static void csv_field(strbuf *b, const char *v, int text, char sep) {
    const char *guard = formula_guard(v, text);
    if (!v[strcspn(v, ",\"\r\n")]) {
        sb_printf(b, "%s%s%c", guard, v, sep);
        return;
    }
    sb_printf(b, "\"%s", guard);
    for (const char *c = v; *c; c++) sb_printf(b, *c == '"' ? "\"\"" : "%c", *c);
    sb_printf(b, "\"%c", sep);
}

char *fp8lab_curve_csv(const fp8lab_sweep *s1, const fp8lab_sweep *s2, const fp8lab_curve_point *pts) {
    int n = s1->n * (s2 ? s2->n : 1);
    strbuf b = {0};
    sb_printf(&b, "%s,%s%sgpus_used,step_time_s,tokens_per_gpu_hour,cost_per_million_tokens_usd,"
                  "tflops_per_gpu,mfu_bf16,mfu_fp8,memory_gb_per_gpu,fits_in_hbm,price_per_gpu_hour,note\n",
              s1->name, s2 ? s2->name : "", s2 ? "," : "");
    for (int k = 0; k < n; k++) {
        const fp8lab_curve_point *p = &pts[k];
        csv_field(&b, s1->label[p->i1], s1->categorical, ',');
        if (s2) csv_field(&b, s2->label[p->i2], s2->categorical, ',');
        if (!p->ok) {
            char why[200];
            snprintf(why, sizeof why, "impossible: %s", p->why);
            sb_printf(&b, ",,,,,,,,,,");
            csv_field(&b, why, 1, '\n');
            continue;
        }
        sb_printf(&b, "%ld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4g,%d,%.4g,simulated\n", p->gpus, p->step_time_s,
                  p->tokens_per_gpu_hour, p->cost_per_mtok, p->tflops_per_gpu, p->mfu_bf16, p->mfu_fp8,
                  p->memory_gb, p->fits, p->price);
    }
    return sb_take(&b);
}

/* The chart's data: one block per sweep-2 value (x, cost, Mtokens/GPU-hour, label); labels are data, quoted by
   fp8lab_gnuplot_datum, so no value can end the datablock or reach the script. */
static void plot_data(strbuf *b, const fp8lab_sweep *s1, int n2, const fp8lab_curve_point *pts) {
    char q[2 * sizeof s1->label[0] + 3];
    sb_printf(b, "$d << EOD\n");
    for (int j = 0; j < n2; j++) {
        for (int i = 0; i < s1->n; i++) {
            const fp8lab_curve_point *p = &pts[j * s1->n + i];
            double x = s1->categorical ? i : s1->num[i];
            if (p->ok)
                sb_printf(b, "%.6g %.6g %.6g %s\n", x, p->cost_per_mtok, p->tokens_per_gpu_hour / 1e6,
                          fp8lab_gnuplot_datum(q, sizeof q, s1->label[i]));
        }
        sb_printf(b, "\n\n");
    }
    sb_printf(b, "EOD\n");
}

int fp8lab_curve_plot(const char *path, const char *title, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                      const fp8lab_curve_point *pts) {
    int n2 = s2 ? s2->n : 1;
    strbuf b = {0};
    char q[600], line[sizeof s1->name + sizeof s1->label[0] + 2];
    plot_data(&b, s1, n2, pts);
    /* one line title per sweep-2 value */
    sb_printf(&b, "array T[%d]\n", n2);
    for (int j = 0; j < n2; j++) {
        snprintf(line, sizeof line, "%s%s%s", s2 ? s2->name : "simulated", s2 ? " " : "", s2 ? s2->label[j] : "");
        sb_printf(&b, "T[%d] = %s\n", j + 1, fp8lab_gnuplot_str(q, sizeof q, line));
    }
    int logx = !s1->categorical && s1->num[0] > 0 && s1->num[s1->n - 1] / s1->num[0] >= 16;
    sb_printf(&b, "set multiplot layout 1,2 title %s\n", fp8lab_gnuplot_str(q, sizeof q, title));
    sb_printf(&b, "set grid\nset key top right\n%sset xlabel %s\n", logx ? "set logscale x 2\n" : "",
              fp8lab_gnuplot_str(q, sizeof q, s1->name));
    if (s1->categorical) sb_printf(&b, "set xtics rotate by -20\nset offsets 0.3,0.3,0,0\n");
    const char *u[2] = {s1->categorical ? "1:2:xtic(4)" : "1:2", s1->categorical ? "1:3:xtic(4)" : "1:3"};
    const char *ylabel[2] = {"USD per million tokens (simulated)", "million tokens per GPU-hour (simulated)"};
    for (int k = 0; k < 2; k++)
        sb_printf(&b, "set ylabel '%s'\nplot for [j=0:%d] $d index j using %s with linespoints pt 7 ps 0.6 "
                      "title T[j+1]\n", ylabel[k], n2 - 1, u[k]);
    sb_printf(&b, "unset multiplot\n");
    char *script = sb_take(&b);
    if (!script) {
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    int rc = fp8lab_gnuplot(path, 1100, 480, script);
    free(script);
    return rc;
}
