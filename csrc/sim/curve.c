#include "sim/curve.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"
#include "sim/plan_parse.h"
#include "sim/plot.h"

/* What each variable may be: the ranges of the flags that set the same plan field (sim/plan_limits.h) and
   of the cluster file's keys (sim/cluster.c), so a swept value is never one the simulator would refuse. */
typedef struct {
    const char *name;
    fp8lab_range range;
    int integer, geometric, categorical;
    int zero_is_floor; /* moe-imbalance: 0 asks for the statistical floor */
} var_info;

#define R(lo, hi) {(double)(lo), (double)(hi), 0}
#define RPOS(hi) {0.0, (double)(hi), 1}
#define MAX_GBPS 1e6
#define MAX_GEMM_EFF_SCALE 4.0
static const var_info VARS[FP8LAB_NVARS] = {
    [FP8LAB_VAR_GPUS] = {"gpus", R(1, FP8LAB_MAX_GPUS), .integer = 1, .geometric = 1},
    [FP8LAB_VAR_PRECISION] = {"precision", .categorical = 1},
    [FP8LAB_VAR_GPU] = {"gpu", .categorical = 1},
    [FP8LAB_VAR_MFU] = {"mfu", RPOS(1)},
    [FP8LAB_VAR_GLOBAL_BATCH] = {"global-batch", R(1, FP8LAB_MAX_GLOBAL_BATCH), .integer = 1, .geometric = 1},
    [FP8LAB_VAR_SEQ] = {"seq", R(1, FP8LAB_MAX_SEQ), .integer = 1},
    [FP8LAB_VAR_MICRO_BATCH] = {"micro-batch", R(1, FP8LAB_MAX_MICRO_BATCH), .integer = 1},
    [FP8LAB_VAR_TP] = {"tp", R(1, FP8LAB_MAX_TP), .integer = 1},
    [FP8LAB_VAR_PP] = {"pp", R(1, FP8LAB_MAX_PP), .integer = 1},
    [FP8LAB_VAR_EP] = {"ep", R(1, FP8LAB_MAX_EP), .integer = 1},
    [FP8LAB_VAR_COMM_SMS] = {"comm-sms", R(0, FP8LAB_MAX_COMM_SMS), .integer = 1},
    [FP8LAB_VAR_PRICE] = {"price", R(0, FP8LAB_MAX_PRICE)},
    [FP8LAB_VAR_NVLINK] = {"nvlink", RPOS(MAX_GBPS)},
    [FP8LAB_VAR_IB] = {"ib", RPOS(MAX_GBPS)},
    [FP8LAB_VAR_HBM] = {"hbm", RPOS(MAX_GBPS)},
    [FP8LAB_VAR_GEMM_EFF] = {"gemm-eff", RPOS(MAX_GEMM_EFF_SCALE)},
    [FP8LAB_VAR_MOE_IMBALANCE] = {"moe-imbalance", R(1, FP8LAB_MAX_MOE_IMBALANCE), .zero_is_floor = 1},
    [FP8LAB_VAR_SCHEDULE] = {"schedule", .categorical = 1},
    [FP8LAB_VAR_RECOMPUTE] = {"recompute", .categorical = 1},
};
#undef R
#undef RPOS

const char *fp8lab_sweep_names(void) {
    return "gpus, precision, gpu, mfu, global-batch, seq, micro-batch, tp, pp, ep, comm-sms, price, nvlink, ib, "
           "hbm, gemm-eff, moe-imbalance, schedule, recompute";
}

void fp8lab_sweep_free(fp8lab_sweep *s) {
    if (!s) return;
    free(s->clusters);
    s->clusters = NULL;
}

static int bad(const fp8lab_sweep *s, const char *spec, const char *why) {
    FP8LAB_ERR("%s: bad value '%s': %s", s->flag, spec, why);
    return -1;
}

/* "--vary: gpus=1e19 is not a whole number in [1, 1048576]" */
static int value_error(const fp8lab_sweep *s, const char *value) {
    const var_info *vi = &VARS[s->var];
    char rs[96];
    FP8LAB_ERR("%s: %s=%s is not a %s in %s%s", s->flag, s->name, value, vi->integer ? "whole number" : "number",
               fp8lab_range_str(vi->range, rs, sizeof rs), vi->zero_is_floor ? " or 0 (the statistical floor)" : "");
    return -1;
}

static int parse_value(const fp8lab_sweep *s, const char *tok, double *x) {
    const var_info *vi = &VARS[s->var];
    int rc;
    if (vi->integer) {
        int64_t i = 0;
        rc = fp8lab_parse_int(tok, vi->range, &i);
        *x = (double)i;
    } else {
        rc = fp8lab_parse_real(tok, vi->range, x);
    }
    if (rc == FP8LAB_NUM_RANGE && vi->zero_is_floor && *x == 0) {
        *x = 0; /* not -0 */
        rc = FP8LAB_NUM_OK;
    }
    return rc == FP8LAB_NUM_OK ? 0 : value_error(s, tok);
}

/* Any finite number, for reading back what we printed ourselves. */
static double reread(const char *text) {
    double v = NAN;
    fp8lab_parse_real(text, FP8LAB_RANGE(-DBL_MAX, DBL_MAX), &v);
    return v;
}

/* The shortest decimal that reads back as exactly x: the label shows the value simulated. */
static void label_real(char *buf, size_t cap, double x) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, x);
        if (reread(buf) == x) return;
    }
}

static void set_number(fp8lab_sweep *s, double x) {
    s->num[s->n] = x;
    if (VARS[s->var].integer) snprintf(s->label[s->n], sizeof s->label[0], "%.0f", x);
    else label_real(s->label[s->n], sizeof s->label[0], x);
    s->n++;
}

/* x rounded to 4 significant digits, so interior points of a range print short and exact. */
static double round4(double x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.4g", x);
    return reread(buf);
}

/* FROM:TO[:POINTS] */
static int parse_span(fp8lab_sweep *s, const char *spec, const char *v, int default_points) {
    char buf[256], *part[4] = {0};
    int np = 0;
    if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf) return bad(s, spec, "expected FROM:TO[:POINTS]");
    for (char *save = NULL, *t = strtok_r(buf, ":", &save); t && np < 4; t = strtok_r(NULL, ":", &save)) part[np++] = t;
    if (np < 2 || np > 3 || strstr(v, "::") || v[0] == ':' || v[strlen(v) - 1] == ':')
        return bad(s, spec, "expected FROM:TO[:POINTS]");
    double a, b;
    if (parse_value(s, part[0], &a) || parse_value(s, part[1], &b)) return -1;
    if (!(a < b)) return bad(s, spec, "FROM must be below TO");
    if (VARS[s->var].zero_is_floor && a == 0)
        return bad(s, spec, "a range cannot start at 0 (the statistical floor): list the values, e.g. 0,1.2,1.5");
    int64_t n = default_points;
    fp8lab_range rn = FP8LAB_RANGE(2, FP8LAB_SWEEP_MAX);
    if (np == 3 && fp8lab_parse_int(part[2], rn, &n) != FP8LAB_NUM_OK) {
        FP8LAB_ERR("%s: %s: POINTS '%s' is not a whole number in [2, %d]", s->flag, spec, part[2], FP8LAB_SWEEP_MAX);
        return -1;
    }
    if (!fp8lab_range_has(rn, (double)n)) {
        FP8LAB_ERR("%s: %s: %lld default points, not in [2, %d]", s->flag, spec, (long long)n, FP8LAB_SWEEP_MAX);
        return -1;
    }
    const var_info *vi = &VARS[s->var];
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / (double)(n - 1);
        /* GPU counts and batch sizes span decades: geometric spacing; the ends exactly as given */
        double x = i == 0 ? a : i == n - 1 ? b : vi->geometric ? a * pow(b / a, t) : a + (b - a) * t;
        double prev = s->n ? s->num[s->n - 1] : -DBL_MAX;
        if (vi->integer) x = floor(x + 0.5);
        else if (i > 0 && i < n - 1 && round4(x) > prev && round4(x) < b) x = round4(x);
        if (x <= prev) continue; /* whole numbers close together round to the same value */
        set_number(s, x);
    }
    return 0;
}

/* gpu=NAME (NAME.json next to the base cluster) or gpu=PATH.json; the label is the file's stem. */
static int add_gpu(fp8lab_sweep *s, const char *tok, const char *cluster_dir) {
    size_t l = strlen(tok), cap = l + strlen(cluster_dir) + 8;
    int is_file = l > 5 && !strcmp(tok + l - 5, ".json");
    char *path = malloc(cap);
    if (!path) {
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    if (is_file) snprintf(path, cap, "%s", tok);
    else snprintf(path, cap, "%s/%s.json", cluster_dir, tok);
    int rc = fp8lab_cluster_load(path, &s->clusters[s->n]);
    free(path);
    if (rc) {
        char inner[768];
        snprintf(inner, sizeof inner, "%s", fp8lab_last_error());
        fp8lab_set_error(__FILE__, __LINE__, fp8lab_last_error_exit(), "%s: gpu=%s: %s", s->flag, tok, inner);
        return -1;
    }
    const char *base = is_file && strrchr(tok, '/') ? strrchr(tok, '/') + 1 : tok;
    int stem = (int)strlen(base) - (is_file ? 5 : 0);
    char *lab = s->label[s->n];
    snprintf(lab, sizeof s->label[0], "%.*s", stem, base);
    /* file names may hold anything; labels end up in terminals, CSV and charts */
    for (char *c = lab; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) *c = '?';
    s->n++;
    return 0;
}

static int add_category(fp8lab_sweep *s, const char *tok, const char *cluster_dir) {
    fp8lab_plan t;
    fp8lab_plan_default(&t);
    char *lab = s->label[s->n];
    switch (s->var) {
    case FP8LAB_VAR_GPU: return add_gpu(s, tok, cluster_dir);
    case FP8LAB_VAR_PRECISION:
        if (fp8lab_prec_parse(tok) < 0) return bad(s, tok, "precision is one of bf16, fp16, fp8, fp32");
        snprintf(lab, sizeof s->label[0], "%s", fp8lab_prec_name((fp8lab_prec)fp8lab_prec_parse(tok)));
        break;
    case FP8LAB_VAR_SCHEDULE:
        if (fp8lab_parse_schedule(tok, &t))
            return bad(s, tok, "schedule is one of 1f1b, interleaved:V (V in 1..64), dualpipe");
        fp8lab_schedule_name(&t, lab, (int)sizeof s->label[0]);
        break;
    default: /* recompute */
        if (fp8lab_parse_recompute(tok, &t)) return bad(s, tok, "recompute is one of none, selective, full");
        snprintf(lab, sizeof s->label[0], "%s", fp8lab_recompute_name(t.recompute));
        break;
    }
    s->n++;
    return 0;
}

/* V1,V2,... */
static int parse_list(fp8lab_sweep *s, const char *spec, const char *v, const char *cluster_dir) {
    size_t count = 1;
    for (const char *c = v; *c; c++) count += *c == ',';
    if (count > FP8LAB_SWEEP_MAX) return bad(s, spec, "more than 4096 values");
    if (s->var == FP8LAB_VAR_GPU && !(s->clusters = calloc(count, sizeof *s->clusters))) {
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    for (const char *p = v;;) {
        size_t len = strcspn(p, ",");
        if (!len) return bad(s, spec, "an empty value");
        char *tok = strndup(p, len);
        if (!tok) {
            FP8LAB_ERR_RT("out of memory");
            return -1;
        }
        double x = 0;
        int rc = s->categorical ? add_category(s, tok, cluster_dir) : parse_value(s, tok, &x);
        if (!rc && !s->categorical) set_number(s, x);
        free(tok);
        if (rc) return -1;
        if (!p[len]) return 0;
        p += len + 1;
    }
}

static int find_var(const char *name, size_t len) {
    for (int i = 0; i < FP8LAB_NVARS; i++)
        if (strlen(VARS[i].name) == len && !strncmp(name, VARS[i].name, len)) return i;
    return -1;
}

int fp8lab_sweep_parse_flag(const char *flag, const char *spec, const char *cluster_dir, int default_points,
                            fp8lab_sweep *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->flag, sizeof s->flag, "%s", flag);
    const char *eq = strchr(spec, '=');
    if (!eq) return bad(s, spec, "expected NAME=VALUES, e.g. gpus=64:16384 or precision=bf16,fp8");
    int var = find_var(spec, (size_t)(eq - spec));
    if (var < 0) {
        FP8LAB_ERR("%s: unknown variable '%.*s' (known: %s)", flag, (int)(eq - spec), spec, fp8lab_sweep_names());
        return -1;
    }
    s->var = (fp8lab_var)var;
    snprintf(s->name, sizeof s->name, "%s", VARS[var].name);
    s->categorical = VARS[var].categorical;
    const char *v = eq + 1;
    int rc = !*v ? bad(s, spec, "no values")
             : !s->categorical && strchr(v, ':') ? parse_span(s, spec, v, default_points)
                                                 : parse_list(s, spec, v, cluster_dir);
    if (rc) fp8lab_sweep_free(s);
    return rc;
}

int fp8lab_sweep_parse(const char *spec, const char *cluster_dir, int default_points, fp8lab_sweep *s) {
    return fp8lab_sweep_parse_flag("--vary", spec, cluster_dir, default_points, s);
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

static int apply_rank(fp8lab_var v) { return v == FP8LAB_VAR_GPU ? 0 : v == FP8LAB_VAR_GPUS ? 2 : 1; }

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

static void simulate_point(const fp8lab_model *m, const point_env *e, fp8lab_curve_point *pt) {
    fp8lab_sim_result r;
    if (fp8lab_simulate(m, &e->c, &e->km, &e->plan, &r)) {
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
    if (e->mfu > 0) {
        /* an assumed MFU replaces the simulation: tokens/GPU-hour = MFU x BF16 peak / FLOPs per token */
        const fp8lab_gpu *g = &e->c.gpu;
        double pk = g->peak_tflops[FP8LAB_PREC_BF16] * 1e12;
        pt->tokens_per_gpu_hour = e->mfu * pk * 3600 / r.model_flops_per_token;
        pt->tflops_per_gpu = e->mfu * pk / 1e12;
        pt->mfu_bf16 = e->mfu;
        pt->mfu_fp8 = g->peak_tflops[FP8LAB_PREC_FP8] > 0 ? pt->tflops_per_gpu / g->peak_tflops[FP8LAB_PREC_FP8] : 0;
        pt->step_time_s = r.tokens_per_step / (pt->tokens_per_gpu_hour / 3600 * (double)r.gpus);
    }
    pt->cost_per_mtok = e->price / pt->tokens_per_gpu_hour * 1e6;
    /* the ranges keep every input finite and positive; this keeps a model bug from printing as data */
    if (!(pt->tokens_per_gpu_hour > 0) || !isfinite(pt->tokens_per_gpu_hour) || !isfinite(pt->cost_per_mtok) ||
        !isfinite(pt->step_time_s)) {
        snprintf(pt->why, sizeof pt->why, "the simulation gave no finite throughput");
        return;
    }
    pt->ok = 1;
}

int fp8lab_curve_run(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                     const fp8lab_plan *base, double price, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                     fp8lab_curve_point *out) {
    if (check_sweeps(c, s1, s2)) return -1;
    long seqs_per_dp = 0;
    if (s1->var == FP8LAB_VAR_GPUS || (s2 && s2->var == FP8LAB_VAR_GPUS)) {
        fp8lab_sim_result r0;
        if (fp8lab_simulate(m, c, km, base, &r0)) return -1;
        seqs_per_dp = r0.global_batch / r0.dp;
    }
    int n2 = s2 ? s2->n : 1;
    for (int j = 0; j < n2; j++)
        for (int i = 0; i < s1->n; i++) {
            fp8lab_curve_point *pt = &out[j * s1->n + i];
            *pt = (fp8lab_curve_point){.i1 = i, .i2 = j};
            point_env e = {.plan = *base, .c = *c, .km = *km, .price = price >= 0 ? price : c->price_per_gpu_hour,
                           .price_set = price >= 0};
            /* a swept gpu replaces the whole cluster, so it goes first; gpus last, as it reads tp and pp */
            int s1_first = !s2 || apply_rank(s1->var) <= apply_rank(s2->var);
            if (!s1_first) apply(s2, j, &e, seqs_per_dp);
            apply(s1, i, &e, seqs_per_dp);
            if (s2 && s1_first) apply(s2, j, &e, seqs_per_dp);
            simulate_point(m, &e, pt);
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

/* A CSV field and its separator: quoted (quotes doubled) when it holds a comma, a quote or a line break. */
static void csv_field(strbuf *b, const char *v, char sep) {
    if (!v[strcspn(v, ",\"\r\n")]) {
        sb_printf(b, "%s%c", v, sep);
        return;
    }
    sb_printf(b, "\"");
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
        csv_field(&b, s1->label[p->i1], ',');
        if (s2) csv_field(&b, s2->label[p->i2], ',');
        if (!p->ok) {
            char why[200];
            snprintf(why, sizeof why, "impossible: %s", p->why);
            sb_printf(&b, ",,,,,,,,,,");
            csv_field(&b, why, '\n');
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
