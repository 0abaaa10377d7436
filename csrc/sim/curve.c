#include "sim/curve.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sim/plan_parse.h"
#include "sim/plot.h"

static const char *VARS[FP8LAB_NVARS] = {"gpus",   "precision", "gpu",       "mfu",       "global-batch",
                                         "seq",    "micro-batch", "tp",      "pp",        "ep",
                                         "comm-sms", "price",   "nvlink",    "ib",        "hbm",
                                         "gemm-eff", "moe-imbalance", "schedule", "recompute"};

const char *fp8lab_sweep_names(void) {
    return "gpus, precision, gpu, mfu, global-batch, seq, micro-batch, tp, pp, ep, comm-sms, price, nvlink, ib, "
           "hbm, gemm-eff, moe-imbalance, schedule, recompute";
}

static int is_categorical(fp8lab_var v) {
    return v == FP8LAB_VAR_PRECISION || v == FP8LAB_VAR_GPU || v == FP8LAB_VAR_SCHEDULE || v == FP8LAB_VAR_RECOMPUTE;
}
static int is_integer(fp8lab_var v) {
    return v == FP8LAB_VAR_GPUS || v == FP8LAB_VAR_GLOBAL_BATCH || v == FP8LAB_VAR_SEQ ||
           v == FP8LAB_VAR_MICRO_BATCH || v == FP8LAB_VAR_TP || v == FP8LAB_VAR_PP || v == FP8LAB_VAR_EP ||
           v == FP8LAB_VAR_COMM_SMS;
}

void fp8lab_sweep_free(fp8lab_sweep *s) {
    if (!s) return;
    free(s->clusters);
    s->clusters = NULL;
}

static int bad(const char *spec, const char *why) {
    FP8LAB_ERR("--vary: bad value '%s': %s", spec, why);
    return -1;
}

int fp8lab_sweep_parse(const char *spec, const char *cluster_dir, int default_points, fp8lab_sweep *s) {
    memset(s, 0, sizeof *s);
    const char *eq = strchr(spec, '=');
    if (!eq) return bad(spec, "expected NAME=VALUES, e.g. gpus=64:16384 or precision=bf16,fp8");
    size_t nl = (size_t)(eq - spec);
    int var = -1;
    for (int i = 0; i < FP8LAB_NVARS; i++)
        if (strlen(VARS[i]) == nl && !strncmp(spec, VARS[i], nl)) var = i;
    if (var < 0) {
        FP8LAB_ERR("--vary: unknown variable '%.*s' (known: %s)", (int)nl, spec, fp8lab_sweep_names());
        return -1;
    }
    s->var = (fp8lab_var)var;
    snprintf(s->name, sizeof s->name, "%s", VARS[var]);
    s->categorical = is_categorical(s->var);
    const char *v = eq + 1;
    if (!*v) return bad(spec, "no values");
    if (!s->categorical && strchr(v, ':')) {
        char *end;
        double a = strtod(v, &end), b, n = default_points;
        if (*end != ':') return bad(spec, "expected FROM:TO[:POINTS]");
        b = strtod(end + 1, &end);
        if (*end == ':') n = strtod(end + 1, &end);
        if (*end || !(a > 0) || !(b > a) || !(n >= 2) || n > FP8LAB_SWEEP_MAX || n != floor(n))
            return bad(spec, "expected 0 < FROM < TO and 2 <= POINTS <= 4096");
        s->n = (int)n;
        for (int i = 0; i < s->n; i++) {
            double t = (double)i / (s->n - 1);
            /* GPU counts and batch sizes span decades: geometric spacing */
            int geo = s->var == FP8LAB_VAR_GPUS || s->var == FP8LAB_VAR_GLOBAL_BATCH;
            double x = geo ? a * pow(b / a, t) : a + (b - a) * t;
            if (is_integer(s->var)) x = floor(x + 0.5);
            s->num[i] = x;
        }
    } else {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", v);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (s->n == FP8LAB_SWEEP_MAX) return bad(spec, "more than 4096 values");
            snprintf(s->label[s->n], sizeof s->label[0], "%s", tok);
            if (!s->categorical) {
                char *end;
                s->num[s->n] = strtod(tok, &end);
                if (*end || !(s->num[s->n] >= 0)) return bad(spec, "values must be non-negative numbers");
            } else if (s->var == FP8LAB_VAR_PRECISION && fp8lab_prec_parse(tok) < 0) {
                return bad(spec, "precision is one of bf16, fp16, fp8, fp32");
            } else if (s->var == FP8LAB_VAR_SCHEDULE || s->var == FP8LAB_VAR_RECOMPUTE) {
                fp8lab_plan t;
                fp8lab_plan_default(&t);
                if (s->var == FP8LAB_VAR_SCHEDULE ? fp8lab_parse_schedule(tok, &t) : fp8lab_parse_recompute(tok, &t))
                    return -1;
            }
            s->n++;
        }
        if (!s->n) return bad(spec, "no values");
    }
    for (int i = 0; i < s->n && !s->categorical; i++) {
        if (is_integer(s->var)) snprintf(s->label[i], sizeof s->label[0], "%.0f", s->num[i]);
        else snprintf(s->label[i], sizeof s->label[0], "%.4g", s->num[i]);
    }
    if (s->var == FP8LAB_VAR_GPU) {
        s->clusters = calloc((size_t)s->n, sizeof *s->clusters);
        if (!s->clusters) return bad(spec, "out of memory");
        for (int i = 0; i < s->n; i++) {
            char path[1200];
            size_t l = strlen(s->label[i]);
            if (l > 5 && !strcmp(s->label[i] + l - 5, ".json")) {
                snprintf(path, sizeof path, "%s", s->label[i]);
                /* label: the file's stem */
                const char *base = strrchr(s->label[i], '/');
                char stem[48];
                snprintf(stem, sizeof stem, "%.*s", (int)(strlen(base ? base + 1 : s->label[i]) - 5),
                         base ? base + 1 : s->label[i]);
                snprintf(s->label[i], sizeof s->label[0], "%s", stem);
            } else {
                snprintf(path, sizeof path, "%s/%s.json", cluster_dir, s->label[i]);
            }
            if (fp8lab_cluster_load(path, &s->clusters[i])) {
                fp8lab_sweep_free(s);
                return -1;
            }
        }
    }
    return 0;
}

typedef struct {
    fp8lab_plan plan;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    double price, mfu;
    int price_set;
} point_env;

static void apply(const fp8lab_sweep *s, int i, point_env *e, long seqs_per_dp) {
    double x = s->num[i];
    fp8lab_plan *p = &e->plan;
    switch (s->var) {
    case FP8LAB_VAR_GPUS:
        p->gpus = (long)x;
        p->dp = 0;
        if (seqs_per_dp > 0) {
            long dp = p->gpus / ((long)p->tp * p->pp);
            p->global_batch = dp > 0 ? dp * seqs_per_dp : 0;
        }
        break;
    case FP8LAB_VAR_PRECISION: p->prec = (fp8lab_prec)fp8lab_prec_parse(s->label[i]); break;
    case FP8LAB_VAR_GPU:
        e->c = s->clusters[i];
        if (!e->price_set) e->price = e->c.price_per_gpu_hour;
        break;
    case FP8LAB_VAR_MFU: e->mfu = x; break;
    case FP8LAB_VAR_GLOBAL_BATCH: p->global_batch = (long)x; break;
    case FP8LAB_VAR_SEQ: p->seq = (long)x; break;
    case FP8LAB_VAR_MICRO_BATCH: p->micro_batch = (long)x; break;
    case FP8LAB_VAR_TP: p->tp = (int)x, p->dp = 0; break;
    case FP8LAB_VAR_PP: p->pp = (int)x, p->dp = 0; break;
    case FP8LAB_VAR_EP: p->ep = (int)x; break;
    case FP8LAB_VAR_COMM_SMS: p->comm_sms = (int)x; break;
    case FP8LAB_VAR_PRICE: e->price = x, e->price_set = 1; break;
    case FP8LAB_VAR_NVLINK: e->c.intra_node_gbps = x; break;
    case FP8LAB_VAR_IB: e->c.inter_node_gbps_per_gpu = x; break;
    case FP8LAB_VAR_HBM: e->c.gpu.hbm_gbps = x; break;
    case FP8LAB_VAR_GEMM_EFF: e->km.gemm_eff_scale = x; break;
    case FP8LAB_VAR_MOE_IMBALANCE: p->moe_imbalance = x; break;
    case FP8LAB_VAR_SCHEDULE: fp8lab_parse_schedule(s->label[i], p); break;
    case FP8LAB_VAR_RECOMPUTE: fp8lab_parse_recompute(s->label[i], p); break;
    default: break;
    }
}

int fp8lab_curve_run(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                     const fp8lab_plan *base, double price, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                     fp8lab_curve_point *out) {
    long seqs_per_dp = 0;
    int sweeps_gpus = s1->var == FP8LAB_VAR_GPUS || (s2 && s2->var == FP8LAB_VAR_GPUS);
    if (sweeps_gpus) {
        fp8lab_sim_result r0;
        if (fp8lab_simulate(m, c, km, base, &r0)) return -1;
        seqs_per_dp = r0.global_batch / r0.dp;
    }
    int n2 = s2 ? s2->n : 1;
    for (int j = 0; j < n2; j++)
        for (int i = 0; i < s1->n; i++) {
            fp8lab_curve_point *pt = &out[j * s1->n + i];
            memset(pt, 0, sizeof *pt);
            pt->i1 = i, pt->i2 = j;
            point_env e = {.plan = *base, .c = *c, .km = *km, .price = price, .price_set = 0};
            if (s2) apply(s2, j, &e, seqs_per_dp);
            apply(s1, i, &e, seqs_per_dp);
            fp8lab_sim_result r;
            if (fp8lab_simulate(m, &e.c, &e.km, &e.plan, &r)) {
                snprintf(pt->why, sizeof pt->why, "%s", fp8lab_last_error());
                continue;
            }
            pt->ok = 1;
            pt->price = e.price;
            pt->gpus = r.gpus;
            pt->step_time_s = r.step_time_s;
            pt->tokens_per_gpu_hour = r.tokens_per_gpu_hour;
            pt->tflops_per_gpu = r.tflops_per_gpu;
            pt->mfu_bf16 = r.mfu_bf16, pt->mfu_fp8 = r.mfu_fp8;
            pt->memory_gb = r.mem.total_gb, pt->fits = r.mem.fits;
            if (e.mfu > 0) {
                /* an assumed MFU replaces the simulation: tokens/GPU-hour = MFU x BF16 peak / FLOPs per token */
                double pk = e.c.gpu.peak_tflops[FP8LAB_PREC_BF16] * 1e12;
                pt->tokens_per_gpu_hour = e.mfu * pk * 3600 / r.model_flops_per_token;
                pt->tflops_per_gpu = e.mfu * pk / 1e12;
                pt->mfu_bf16 = e.mfu;
                pt->mfu_fp8 = e.c.gpu.peak_tflops[FP8LAB_PREC_FP8] > 0 ? pt->tflops_per_gpu / e.c.gpu.peak_tflops[FP8LAB_PREC_FP8] : 0;
                pt->step_time_s = r.tokens_per_step / (pt->tokens_per_gpu_hour / 3600 * (double)r.gpus);
            }
            pt->cost_per_mtok = e.price / pt->tokens_per_gpu_hour * 1e6;
        }
    return 0;
}

char *fp8lab_curve_csv(const fp8lab_sweep *s1, const fp8lab_sweep *s2, const fp8lab_curve_point *pts) {
    int n = s1->n * (s2 ? s2->n : 1);
    size_t cap = 256 + (size_t)n * 320, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    len += (size_t)snprintf(out + len, cap - len, "%s,%s%sgpus_used,step_time_s,tokens_per_gpu_hour,cost_per_million_tokens_usd,"
                            "tflops_per_gpu,mfu_bf16,mfu_fp8,memory_gb_per_gpu,fits_in_hbm,price_per_gpu_hour,note\n",
                            s1->name, s2 ? s2->name : "", s2 ? "," : "");
    for (int k = 0; k < n; k++) {
        const fp8lab_curve_point *p = &pts[k];
        len += (size_t)snprintf(out + len, cap - len, "%s,", s1->label[p->i1]);
        if (s2) len += (size_t)snprintf(out + len, cap - len, "%s,", s2->label[p->i2]);
        if (!p->ok) {
            char why[160];
            snprintf(why, sizeof why, "%s", p->why);
            for (char *c = why; *c; c++)
                if (*c == ',' || *c == '"') *c = ';';
            len += (size_t)snprintf(out + len, cap - len, ",,,,,,,,,,\"impossible: %s\"\n", why);
            continue;
        }
        len += (size_t)snprintf(out + len, cap - len, "%ld,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.4g,%d,%.4g,simulated\n",
                                p->gpus, p->step_time_s, p->tokens_per_gpu_hour, p->cost_per_mtok, p->tflops_per_gpu,
                                p->mfu_bf16, p->mfu_fp8, p->memory_gb, p->fits, p->price);
    }
    return out;
}

int fp8lab_curve_plot(const char *path, const char *title, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                      const fp8lab_curve_point *pts) {
    int n2 = s2 ? s2->n : 1;
    size_t cap = 4096 + (size_t)s1->n * n2 * 96 + (size_t)n2 * 64, len = 0;
    char *b = malloc(cap);
    if (!b) {
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    len += (size_t)snprintf(b + len, cap - len, "$d << EOD\n");
    for (int j = 0; j < n2; j++) {
        for (int i = 0; i < s1->n; i++) {
            const fp8lab_curve_point *p = &pts[j * s1->n + i];
            double x = s1->categorical ? i : s1->num[i];
            if (p->ok) len += (size_t)snprintf(b + len, cap - len, "%.6g %.6g %.6g \"%s\"\n", x, p->cost_per_mtok,
                                               p->tokens_per_gpu_hour / 1e6, s1->label[i]);
        }
        len += (size_t)snprintf(b + len, cap - len, "\n\n");
    }
    len += (size_t)snprintf(b + len, cap - len, "EOD\n");
    /* one title per sweep-2 value */
    len += (size_t)snprintf(b + len, cap - len, "array T[%d]\n", n2);
    for (int j = 0; j < n2; j++)
        len += (size_t)snprintf(b + len, cap - len, "T[%d] = \"%s%s%s\"\n", j + 1, s2 ? s2->name : "simulated",
                                s2 ? " " : "", s2 ? s2->label[j] : "");
    int logx = !s1->categorical && s1->num[s1->n - 1] / s1->num[0] >= 16;
    len += (size_t)snprintf(
        b + len, cap - len,
        "set multiplot layout 1,2 title \"%s\"\nset grid\nset key top right\n%s"
        "set xlabel \"%s\"\nset ylabel \"USD per million tokens (simulated)\"\n%s"
        "plot for [j=0:%d] $d index j using %s with linespoints pt 7 ps 0.6 title T[j+1]\n"
        "set ylabel \"million tokens per GPU-hour (simulated)\"\n"
        "plot for [j=0:%d] $d index j using %s with linespoints pt 7 ps 0.6 title T[j+1]\n"
        "unset multiplot\n",
        title, logx ? "set logscale x 2\n" : "", s1->name,
        s1->categorical ? "set xtics rotate by -20\nset offsets 0.3,0.3,0,0\n" : "", n2 - 1,
        s1->categorical ? "1:2:xtic(4)" : "1:2", n2 - 1, s1->categorical ? "1:3:xtic(4)" : "1:3");
    int rc = fp8lab_gnuplot(path, 1100, 480, b);
    free(b);
    return rc;
}
