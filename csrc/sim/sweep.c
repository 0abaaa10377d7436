#include "sim/sweep.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"
#include "sim/plan_parse.h"

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
    [FP8LAB_VAR_COMPUTE_SCALE] = {"compute-scale", RPOS(FP8LAB_MAX_COMPUTE_SCALE)},
};
#undef R
#undef RPOS

const char *fp8lab_sweep_names(void) {
    return "gpus, precision, gpu, mfu, global-batch, seq, micro-batch, tp, pp, ep, comm-sms, price, nvlink, ib, "
           "hbm, gemm-eff, moe-imbalance, schedule, recompute, compute-scale";
}

void fp8lab_sweep_print_vars(FILE *f) {
    for (int v = 0; v < FP8LAB_NVARS; v++) {
        const var_info *vi = &VARS[v];
        char rs[96] = "";
        if (!vi->categorical) fp8lab_range_str(vi->range, rs, sizeof rs);
        fprintf(f, "  %-14s %s%s%s\n", vi->name,
                vi->categorical ? "names: " : vi->integer ? "whole numbers in " : "numbers in ",
                vi->categorical ? (v == FP8LAB_VAR_GPU ? "cluster files next to --cluster, or paths to .json"
                                   : v == FP8LAB_VAR_PRECISION ? "bf16, fp16, fp8, fp32"
                                   : v == FP8LAB_VAR_SCHEDULE ? "1f1b, interleaved:V, dualpipe, zb-h1"
                                                               : "none, selective, full")
                                : rs,
                vi->zero_is_floor ? ", or 0 (the statistical floor)" : "");
    }
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

/* POINTS of FROM:TO:POINTS (NULL: default_points); 0, or -1 with the error. */
static int span_points(const fp8lab_sweep *s, const char *spec, const char *text, int default_points, int64_t *n) {
    fp8lab_range rn = FP8LAB_RANGE(2, FP8LAB_SWEEP_MAX);
    *n = default_points;
    if (text && fp8lab_parse_int(text, rn, n) != FP8LAB_NUM_OK) {
        FP8LAB_ERR("%s: %s: POINTS '%s' is not a whole number in [2, %d]", s->flag, spec, text, FP8LAB_SWEEP_MAX);
        return -1;
    }
    if (!fp8lab_range_has(rn, (double)*n)) {
        FP8LAB_ERR("%s: %s: %lld default points, not in [2, %d]", s->flag, spec, (long long)*n, FP8LAB_SWEEP_MAX);
        return -1;
    }
    return 0;
}

/* n points from a to b, the ends exactly as given. */
static void fill_span(fp8lab_sweep *s, double a, double b, int64_t n) {
    const var_info *vi = &VARS[s->var];
    for (int64_t i = 0; i < n; i++) {
        double t = (double)i / (double)(n - 1);
        /* GPU counts and batch sizes span decades: geometric spacing */
        double x = i == 0 ? a : i == n - 1 ? b : vi->geometric ? a * pow(b / a, t) : a + (b - a) * t;
        double prev = s->n ? s->num[s->n - 1] : -DBL_MAX;
        if (vi->integer) x = floor(x + 0.5);
        else if (i > 0 && i < n - 1 && round4(x) > prev && round4(x) < b) x = round4(x);
        if (x <= prev) continue; /* whole numbers close together round to the same value */
        set_number(s, x);
    }
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
    int64_t n;
    if (span_points(s, spec, np == 3 ? part[2] : NULL, default_points, &n)) return -1;
    fill_span(s, a, b, n);
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
            return bad(s, tok, "schedule is one of 1f1b, interleaved:V (V in 1..64), dualpipe, zb-h1");
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

static int64_t gcd64(int64_t a, int64_t b) {
    while (b) {
        int64_t r = a % b;
        a = b, b = r;
    }
    return a;
}

/* The least common multiple of a swept layout degree, or the base plan's value when it is not swept. */
static int64_t degree_lcm(fp8lab_var var, long base, const fp8lab_sweep *other) {
    if (!other || other->var != var) return base;
    int64_t l = 1;
    for (int i = 0; i < other->n; i++) {
        int64_t v = (int64_t)other->num[i];
        if (fp8lab_mul_i64(l / gcd64(l, v), v, &l) || l > FP8LAB_MAX_GPUS) return FP8LAB_MAX_GPUS + 1;
    }
    return l;
}

int fp8lab_sweep_gpu_unit(const fp8lab_plan *base, const fp8lab_sweep *other, long *unit) {
    int64_t tp = degree_lcm(FP8LAB_VAR_TP, base->tp, other), pp = degree_lcm(FP8LAB_VAR_PP, base->pp, other);
    int64_t ep = degree_lcm(FP8LAB_VAR_EP, base->ep, other), u;
    if (fp8lab_mul_i64(tp, pp, &u) || fp8lab_mul_i64(u, ep, &u) || u > FP8LAB_MAX_GPUS) {
        FP8LAB_ERR("--vary: gpus: no GPU count up to %ld splits into tp %lld x pp %lld x ep %lld", FP8LAB_MAX_GPUS,
                   (long long)tp, (long long)pp, (long long)ep);
        return -1;
    }
    *unit = (long)u;
    return 0;
}

/* x to the nearest multiple of unit inside [unit, FP8LAB_MAX_GPUS] */
static double snap_to(double x, long unit) {
    double k = floor(x / (double)unit + 0.5), kmax = floor((double)FP8LAB_MAX_GPUS / (double)unit);
    return (k < 1 ? 1 : k > kmax ? kmax : k) * (double)unit;
}

static int seen_before(const fp8lab_sweep *s, int n, double x) {
    for (int i = 0; i < n; i++)
        if (s->num[i] == x) return 1;
    return 0;
}

int fp8lab_sweep_snap_gpus(fp8lab_sweep *s, long unit) {
    if (s->var != FP8LAB_VAR_GPUS || unit < 1) return 0;
    int n = 0, moved = 0;
    for (int i = 0; i < s->n; i++) {
        double x = snap_to(s->num[i], unit);
        moved += x != s->num[i];
        if (seen_before(s, n, x)) continue; /* 93 and 96 both become 96 at tp 8 */
        s->num[n] = x;
        snprintf(s->label[n], sizeof s->label[0], "%.0f", x);
        n++;
    }
    s->asked = s->n;
    s->n = n;
    s->snap_unit = unit;
    s->snapped = moved;
    return moved;
}

/* One value of s into e. */
static void apply_one(const fp8lab_sweep *s, int i, fp8lab_sweep_env *e) {
    double x = s->num[i];
    fp8lab_plan *p = &e->plan;
    switch (s->var) {
    case FP8LAB_VAR_GPUS:
        p->gpus = (long)x;
        p->dp = 0;
        if (e->seqs_per_dp > 0) {
            long dp = p->gpus / ((long)p->tp * p->pp);
            p->global_batch = dp > 0 ? dp * e->seqs_per_dp : 0;
        }
        break;
    case FP8LAB_VAR_PRECISION: p->prec = (fp8lab_prec)fp8lab_prec_parse(s->label[i]); break;
    case FP8LAB_VAR_GPU:
        e->cluster = s->clusters[i];
        if (!e->price_set) e->price = e->cluster.price_per_gpu_hour;
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
    case FP8LAB_VAR_NVLINK: e->cluster.intra_node_gbps = x; break;
    case FP8LAB_VAR_IB: e->cluster.inter_node_gbps_per_gpu = x; break;
    case FP8LAB_VAR_HBM: e->cluster.gpu.hbm_gbps = x; break;
    case FP8LAB_VAR_GEMM_EFF: e->km.gemm_eff_scale = x; break;
    case FP8LAB_VAR_COMPUTE_SCALE: e->km.compute_scale = x; break;
    case FP8LAB_VAR_MOE_IMBALANCE: p->moe_imbalance = x; break;
    case FP8LAB_VAR_SCHEDULE: fp8lab_parse_schedule(s->label[i], p); break;
    case FP8LAB_VAR_RECOMPUTE: fp8lab_parse_recompute(s->label[i], p); break;
    default: break;
    }
}

static int apply_rank(fp8lab_var v) { return v == FP8LAB_VAR_GPU ? 0 : v == FP8LAB_VAR_GPUS ? 2 : 1; }

void fp8lab_sweep_apply(const fp8lab_sweep *s1, int i, const fp8lab_sweep *s2, int j, fp8lab_sweep_env *e) {
    int s1_first = !s2 || apply_rank(s1->var) <= apply_rank(s2->var);
    if (!s1_first) apply_one(s2, j, e);
    apply_one(s1, i, e);
    if (s2 && s1_first) apply_one(s2, j, e);
}
