#include "sim/kernel_model.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

/* configs/calibration/gemm-h200-cublaslt.json (from shared/gpu-facts.md): cuBLASLt on an H200 (132 SMs), TFLOP/s:
   M, N, K, BF16, FP8 per-tensor, FP8 1x128·128x128 (forward/Dgrad), FP8 1x128·1x128 (Wgrad). Peaks: BF16 989,
   FP8 1979 (datasheet). tests/test_sim_kernel_fit.c checks that the file's rows give this table's fit. */
static const double FACTS[][7] = {
    {8192, 8192, 8192, 797, 1431, 1288, 1044},   {4096, 7168, 2048, 718, 1189, 1062, 839},
    {4096, 2112, 7168, 717, 1182, 1049, 817},    {4096, 24576, 1536, 767, 1283, 1129, 909},
    {4096, 7168, 16384, 821, 1478, 1327, 939},   {4096, 4096, 7168, 732, 1303, 1231, 933},
    {16384, 7168, 18432, 700, 1331, 1185, 961},  {16384, 18432, 7168, 654, 1269, 1188, 980},
};
enum { NFACTS = sizeof FACTS / sizeof FACTS[0], FACTS_SMS = 132 };

static double ceil_div(double a, double b) { return ceil(a / b); }

/* Useful share of the output tiles times that of the last wave: the k0-free part of shape_eff. */
static double shape_q(int tile, double m, double n, int sms) {
    double tm = ceil_div(m, tile), tn = ceil_div(n, tile);
    double q_tile = (m * n) / (tm * tile * tn * tile);
    double tiles = tm * tn, waves = ceil_div(tiles, sms);
    return q_tile * (tiles / (waves * sms));
}

static double shape_eff(int tile, double m, double n, double k, double k0, int sms) {
    return shape_q(tile, m, n, sms) * k / (k + k0);
}

/* Points fitted without a heap allocation: the default table and typical bench gemm files. */
enum { FIT_STACK_POINTS = 64 };

int fp8lab_kernel_model_fit(fp8lab_kernel_model *km, int r, const fp8lab_gemm_point *p, int n, int sms) {
    if (n < 1 || sms < 1 || r < 0 || r >= FP8LAB_NRECIPES) {
        FP8LAB_ERR("kernel model fit: recipe %d, %d points, %d SMs (expected a recipe in [0, %d), >= 1 point and "
                   ">= 1 SM)", r, n, sms, FP8LAB_NRECIPES);
        return -1;
    }
    /* ln(eff / shape_eff) = base_i + ln(k_i + k0): only the last term depends on k0, so each grid step costs one
       log per point (the calibration loader hands over up to ~10^5 points) */
    double stack[2 * FIT_STACK_POINTS];
    double *base = n <= FIT_STACK_POINTS ? stack : malloc(2 * sizeof(double) * (size_t)n);
    if (!base) {
        FP8LAB_ERR_RT("kernel model fit: out of memory for %d points (%zu bytes)", n, 2 * sizeof(double) * (size_t)n);
        return -1;
    }
    double *x = base + n;
    for (int i = 0; i < n; i++) base[i] = log(p[i].eff / (shape_q(km->tile, p[i].m, p[i].n, sms) * p[i].k));
    double best = INFINITY, best_k0 = 0, best_e = 0.7;
    /* k0 on a grid (the fit is 1-D once e_max is eliminated in closed form: ln e_max = mean of x) */
    for (double k0 = 0; k0 <= 4096; k0 += 8) {
        double sl = 0;
        for (int i = 0; i < n; i++) sl += x[i] = base[i] + log(p[i].k + k0);
        double le = sl / n, err = 0;
        for (int i = 0; i < n; i++) err += (le - x[i]) * (le - x[i]);
        if (err < best - 1e-12) {
            best = err;
            best_k0 = k0;
            best_e = exp(le);
        }
    }
    if (base != stack) free(base);
    km->e_max[r] = best_e > 1 ? 1 : best_e;
    km->k0[r] = best_k0;
    km->rms_log_err[r] = sqrt(best / n);
    km->npoints[r] = n;
    km->fit_sms = sms;
    return 0;
}

void fp8lab_kernel_model_default(fp8lab_kernel_model *km) {
    memset(km, 0, sizeof *km);
    km->tile = 128;
    /* gpu-facts.md: device-to-device copy 4208 GB/s (read+write) against the 4800 GB/s datasheet (H200) */
    km->mem_eff = 4208.0 / 4800.0;
    /* FlashAttention-3 (Shah et al. 2024, arXiv:2407.08608, Figs. 5-6), H100 SXM, BF16, causal, head dim 128,
       seq 4k: about 600 TFLOP/s forward and 450 TFLOP/s backward (backward counted as 2.5x forward FLOPs) */
    km->attn_fwd_eff = 600.0 / 989.0;
    km->attn_bwd_eff = 450.0 / 989.0;
    km->gemm_eff_scale = 1.0;
    km->compute_scale = 1.0;
    /* over the 889 kernel boundaries of DeepSeek's profiled chunk shorter than 20 us (the 10 longer ones wait for
       the all-to-all): launch, ramp-up and drain, which a sum of kernel times leaves out */
    km->kernel_gap_s = FP8LAB_KERNEL_GAP_S;
    fp8lab_gemm_point pts[NFACTS];
    static const double peak[4] = {989, 1979, 1979, 1979};
    static const int recipe[4] = {FP8LAB_RECIPE_BF16, FP8LAB_RECIPE_FP8_TENSOR, FP8LAB_RECIPE_FP8_BLOCK,
                                  FP8LAB_RECIPE_FP8_WGRAD};
    for (int col = 0; col < 4; col++) {
        for (int i = 0; i < NFACTS; i++)
            pts[i] = (fp8lab_gemm_point){FACTS[i][0], FACTS[i][1], FACTS[i][2], FACTS[i][3 + col] / peak[col]};
        fp8lab_kernel_model_fit(km, recipe[col], pts, NFACTS, FACTS_SMS);
    }
    /* no FP32 GEMM was measured: FP32 (TF32-free) GEMMs use the BF16 shape model against the FP32 peak */
    km->e_max[FP8LAB_RECIPE_FP32] = km->e_max[FP8LAB_RECIPE_BF16];
    km->k0[FP8LAB_RECIPE_FP32] = km->k0[FP8LAB_RECIPE_BF16];
    snprintf(km->source, sizeof km->source,
             "cuBLASLt table of configs/calibration/gemm-h200-cublaslt.json (H200, %d shapes)", NFACTS);
}

/* Calibration rows: the five recipes the model fits (fp8-1x128 is the Wgrad form), then bench gemm's row it
   reads but does not fit (quantize+GEMM). */
enum { RECIPE_LINEAR = FP8LAB_NRECIPES, RECIPE_NAMES };
static const char *const RECIPE_NAME[RECIPE_NAMES] = {"bf16", "fp8-tensor", "fp8-block", "fp32", "fp8-1x128",
                                                      "fp8-linear"};

const char *fp8lab_km_recipe_name(int r) { return r >= 0 && r < FP8LAB_NRECIPES ? RECIPE_NAME[r] : "?"; }
/* bench gemm's own bound on M, N and K: a calibration row is a GEMM that command measured */
#define CALIB_MAX_DIM 1048576
/* TFLOP/s: far above any dense peak shipped or announced, so a stated peak beyond it is a broken file */
#define CALIB_MAX_PEAK 1e5

typedef struct {
    double m, n, k, tflops;
    int recipe, row;
} calib_row;

typedef struct {
    const char *path;
    const fp8lab_gpu *gpu;
    double peak[FP8LAB_NRECIPES]; /* the file's peak_tflops per recipe; 0 = not stated */
} calib_ctx;

static int recipe_index(const char *s) {
    for (int i = 0; i < RECIPE_NAMES; i++)
        if (!strcmp(s, RECIPE_NAME[i])) return i;
    return -1;
}

static fp8lab_prec recipe_prec(int r) {
    return r == FP8LAB_RECIPE_BF16 ? FP8LAB_PREC_BF16 : r == FP8LAB_RECIPE_FP32 ? FP8LAB_PREC_FP32 : FP8LAB_PREC_FP8;
}

static double file_peak(const calib_ctx *c, int r) {
    return c->peak[r < FP8LAB_NRECIPES ? r : FP8LAB_RECIPE_FP8_BLOCK];
}

static int read_peaks(calib_ctx *c, const cJSON *root) {
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(root, "peak_tflops");
    if (!cJSON_IsObject(pk)) {
        FP8LAB_ERR("%s: key peak_tflops: %s", c->path, pk ? "expected an object" : "missing");
        return -1;
    }
    const fp8lab_range r = FP8LAB_RANGE_POS(CALIB_MAX_PEAK);
    if (fp8lab_json_num(c->path, pk, "peak_tflops.", "bf16", 0, r, &c->peak[FP8LAB_RECIPE_BF16])) {
        /* a CPU run of bench gemm has no dense peak to turn TFLOP/s into efficiency */
        char why[512];
        snprintf(why, sizeof why, "%s", fp8lab_last_error());
        FP8LAB_ERR("%s (hint: calibrate from a GPU run of fp8lab bench gemm --json; CPU runs have no peak)", why);
        return -1;
    }
    if (fp8lab_json_num(c->path, pk, "peak_tflops.", "fp8", 1, r, &c->peak[FP8LAB_RECIPE_FP8_TENSOR]) < 0 ||
        fp8lab_json_num(c->path, pk, "peak_tflops.", "fp32", 1, r, &c->peak[FP8LAB_RECIPE_FP32]) < 0)
        return -1;
    c->peak[FP8LAB_RECIPE_FP8_BLOCK] = c->peak[FP8LAB_RECIPE_FP8_WGRAD] = c->peak[FP8LAB_RECIPE_FP8_TENSOR];
    return 0;
}

/* TFLOP/s of row i: within the file's own peak for its precision (every row, fitted or not: one above it says
   the file is wrong), and within the cluster GPU's peak when the caller gave one. */
static int read_tflops(const calib_ctx *c, const cJSON *it, const char *pre, int recipe, double *out) {
    const double peak = file_peak(c, recipe);
    if (!(peak > 0) && recipe < FP8LAB_NRECIPES) {
        FP8LAB_ERR("%s: key peak_tflops.%s: missing, needed for %srecipe %s", c->path,
                   recipe == FP8LAB_RECIPE_FP32 ? "fp32" : "fp8", pre, RECIPE_NAME[recipe]);
        return -1;
    }
    if (fp8lab_json_num(c->path, it, pre, "tflops", 0, FP8LAB_RANGE_POS(peak > 0 ? peak : CALIB_MAX_PEAK), out))
        return -1;
    const double gpu_peak = recipe < FP8LAB_NRECIPES && c->gpu ? c->gpu->peak_tflops[recipe_prec(recipe)] : 0;
    if (gpu_peak > 0 && *out > gpu_peak) {
        FP8LAB_ERR("%s: key %stflops: %.17g is above the %s peak %g TFLOP/s of the cluster's GPU (allowed (0, %g]; "
                   "calibrate from a run on that GPU)", c->path, pre, *out, c->gpu->name, gpu_peak, gpu_peak);
        return -1;
    }
    return 0;
}

static int read_row(const calib_ctx *c, const cJSON *it, int i, calib_row *row) {
    char pre[40], rn[32];
    snprintf(pre, sizeof pre, "results[%d].", i);
    if (!cJSON_IsObject(it)) {
        FP8LAB_ERR("%s: key results[%d]: expected an object with m, n, k, recipe and tflops", c->path, i);
        return -1;
    }
    if (fp8lab_json_str(c->path, it, pre, "recipe", 0, rn, sizeof rn)) return -1;
    row->recipe = recipe_index(rn);
    row->row = i;
    if (row->recipe < 0) {
        FP8LAB_ERR("%s: key %srecipe: unknown recipe '%s' (expected bf16, fp8-tensor, fp8-block, fp32, fp8-1x128, "
                   "or fp8-linear, which is read and not fitted)", c->path, pre, rn);
        return -1;
    }
    /* whole numbers: m = 1e-300 once made a 1e296 s step */
    const fp8lab_range dim = FP8LAB_RANGE(1, CALIB_MAX_DIM);
    long m, n, k;
    if (fp8lab_json_int(c->path, it, pre, "m", 0, dim, &m) || fp8lab_json_int(c->path, it, pre, "n", 0, dim, &n) ||
        fp8lab_json_int(c->path, it, pre, "k", 0, dim, &k) || read_tflops(c, it, pre, row->recipe, &row->tflops))
        return -1;
    row->m = (double)m, row->n = (double)n, row->k = (double)k;
    return 0;
}

/* Orders rows by recipe, then shape, then position: each recipe's rows become one slice and duplicates
   neighbours. */
static int cmp_row(const void *pa, const void *pb) {
    const calib_row *a = pa, *b = pb;
    if (a->recipe != b->recipe) return a->recipe < b->recipe ? -1 : 1;
    const double d[3][2] = {{a->m, b->m}, {a->n, b->n}, {a->k, b->k}};
    for (int i = 0; i < 3; i++)
        if (d[i][0] != d[i][1]) return d[i][0] < d[i][1] ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

static int same_shape(const calib_row *a, const calib_row *b) {
    return a->recipe == b->recipe && a->m == b->m && a->n == b->n && a->k == b->k;
}

/* Two measurements of one GEMM would weigh that shape twice in the fit; bench gemm never writes them. */
static int refuse_duplicates(const calib_ctx *c, const calib_row *rows, int n) {
    for (int i = 1; i < n; i++)
        if (same_shape(&rows[i - 1], &rows[i])) {
            FP8LAB_ERR("%s: results[%d] and results[%d] both measure recipe %s at m=%.0f n=%.0f k=%.0f (duplicate "
                       "rows; keep one)", c->path, rows[i - 1].row, rows[i].row, RECIPE_NAME[rows[i].recipe],
                       rows[i].m, rows[i].n, rows[i].k);
            return -1;
        }
    return 0;
}

/* Fits every recipe that has rows into *fit (rows sorted by recipe); *used counts the points fitted. */
static int fit_recipes(const calib_ctx *c, const calib_row *rows, int n, fp8lab_kernel_model *fit, int *used) {
    fp8lab_gemm_point *pts = malloc(sizeof *pts * (size_t)n);
    if (!pts) {
        FP8LAB_ERR_RT("%s: out of memory for %d points (%zu bytes)", c->path, n, sizeof *pts * (size_t)n);
        return -1;
    }
    int rc = 0, lo = 0;
    *used = 0;
    while (lo < n && !rc && rows[lo].recipe < FP8LAB_NRECIPES) {
        const int r = rows[lo].recipe;
        int hi = lo;
        for (; hi < n && rows[hi].recipe == r; hi++)
            pts[hi - lo] = (fp8lab_gemm_point){rows[hi].m, rows[hi].n, rows[hi].k, rows[hi].tflops / c->peak[r]};
        rc = fp8lab_kernel_model_fit(fit, r, pts, hi - lo, c->gpu->sms);
        *used += hi - lo;
        lo = hi;
    }
    free(pts);
    return rc;
}

int fp8lab_kernel_model_calibrate_gpu(fp8lab_kernel_model *km, const char *path, const fp8lab_gpu *gpu) {
    if (gpu->sms < 1) {
        FP8LAB_ERR("%s: cannot calibrate for GPU %s with SM count %d (expected >= 1)", path, gpu->name, gpu->sms);
        return -1;
    }
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    int rc = -1, used = 0;
    calib_ctx c = {.path = path, .gpu = gpu};
    calib_row *rows = NULL;
    char dev[96] = "unknown device";
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    const int n = cJSON_GetArraySize(res);
    if (read_peaks(&c, root) || fp8lab_json_str(path, root, "", "device", 1, dev, sizeof dev) < 0) goto done;
    if (!cJSON_IsArray(res) || n <= 0) {
        FP8LAB_ERR("%s: key results: expected a non-empty array", path);
        goto done;
    }
    rows = calloc((size_t)n, sizeof *rows);
    if (!rows) {
        FP8LAB_ERR_RT("%s: out of memory for %d rows (%zu bytes)", path, n, sizeof *rows * (size_t)n);
        goto done;
    }
    /* walk the list: cJSON_GetArrayItem(res, i) starts from the head each time, quadratic in the rows */
    int i = 0;
    for (const cJSON *it = res->child; it && i < n; it = it->next, i++)
        if (read_row(&c, it, i, &rows[i])) goto done;
    qsort(rows, (size_t)n, sizeof *rows, cmp_row);
    if (refuse_duplicates(&c, rows, n)) goto done;
    if (rows[0].recipe >= FP8LAB_NRECIPES) {
        FP8LAB_ERR("%s: no usable row: the kernel model fits recipes bf16, fp8-tensor, fp8-block, fp32, fp8-1x128 "
                   "and the file has only fp8-linear rows", path);
        goto done;
    }
    /* fit a copy: a failure leaves the caller's model as it was */
    fp8lab_kernel_model fit = *km;
    if (fit_recipes(&c, rows, n, &fit, &used)) goto done;
    snprintf(fit.source, sizeof fit.source, "calibration %s (%s, %d points)", path, dev, used);
    *km = fit;
    rc = 0;
done:
    free(rows);
    cJSON_Delete(root);
    return rc;
}

int fp8lab_kernel_model_calibrate(fp8lab_kernel_model *km, const char *path, int device_sms) {
    /* no GPU peaks: rows are checked against the peaks the file states */
    const fp8lab_gpu gpu = {.name = "measured", .sms = device_sms};
    return fp8lab_kernel_model_calibrate_gpu(km, path, &gpu);
}

int fp8lab_recipe_for(fp8lab_prec p) {
    switch (p) {
    case FP8LAB_PREC_FP8: return FP8LAB_RECIPE_FP8_BLOCK;
    case FP8LAB_PREC_FP32: return FP8LAB_RECIPE_FP32;
    default: return FP8LAB_RECIPE_BF16;
    }
}

int fp8lab_recipe_for_pass(fp8lab_prec p, int wgrad) {
    return p == FP8LAB_PREC_FP8 && wgrad ? FP8LAB_RECIPE_FP8_WGRAD : fp8lab_recipe_for(p);
}

double fp8lab_gemm_eff(const fp8lab_kernel_model *km, int r, double m, double n, double k, int sms) {
    double e = km->e_max[r] * km->gemm_eff_scale * shape_eff(km->tile, m, n, k, km->k0[r], sms > 0 ? sms : 1);
    return e > 1 ? 1 : e;
}

static double elem_bytes(fp8lab_prec p) { return p == FP8LAB_PREC_FP8 ? 1 : p == FP8LAB_PREC_FP32 ? 4 : 2; }

/* One GEMM of a recipe, without the Wgrad accumulation (c->wgrad is not read) */
static double gemm_time_recipe(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const fp8lab_gemm_call *c,
                               int recipe) {
    const double m = c->m, n = c->n, k = c->k;
    const fp8lab_prec p = c->prec;
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    double peak = g->peak_tflops[p] * 1e12 * (double)c->sms / (double)g->sms;
    double t_c = 2.0 * m * n * k / (peak * fp8lab_gemm_eff(km, recipe, m, n, k, c->sms));
    /* output in BF16 (FP32 for FP32 GEMMs) */
    double bytes = (m * k + n * k) * elem_bytes(p) + m * n * (p == FP8LAB_PREC_FP32 ? 4 : 2);
    double t_m = fp8lab_mem_time(km, g, bytes);
    return t_c > t_m ? t_c : t_m;
}

/* A weight gradient is accumulated over the step's micro-batches into the FP32 main gradient: the Wgrad GEMM's
   epilogue reads and writes it (Megatron-LM's gradient-accumulation fusion; the "_acc" Wgrad kernels of DeepSeek's
   published H800 training profile), 4 + 4 bytes per element where the measured GEMMs write 2 of BF16. The epilogue
   runs after each output tile's main loop, not under it, so the time adds. */
#define WGRAD_ACCUM_BYTES (4.0 + 4.0 - 2.0)

double fp8lab_wgrad_accum_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, double m, double n) {
    return m > 0 && n > 0 ? fp8lab_mem_time(km, g, m * n * WGRAD_ACCUM_BYTES) : 0;
}

double fp8lab_gemm_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const fp8lab_gemm_call *c) {
    const double t = gemm_time_recipe(km, g, c, fp8lab_recipe_for_pass(c->prec, c->wgrad));
    return c->wgrad && t > 0 ? t + fp8lab_wgrad_accum_time(km, g, c->m, c->n) : t;
}

double fp8lab_gemm_time_recipe(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int recipe, double m, double n,
                               double k) {
    if (recipe < 0 || recipe >= FP8LAB_NRECIPES) return 0;
    const fp8lab_gemm_call c = {.m = m, .n = n, .k = k, .prec = recipe_prec(recipe), .sms = g->sms};
    return gemm_time_recipe(km, g, &c, recipe);
}

double fp8lab_mem_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, double bytes) {
    return bytes / (g->hbm_gbps * 1e9 * km->mem_eff);
}

double fp8lab_attn_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int sms_avail, double flops, int bwd) {
    double peak = g->peak_tflops[FP8LAB_PREC_BF16] * 1e12 * (double)sms_avail / (double)g->sms;
    return flops / (peak * (bwd ? km->attn_bwd_eff : km->attn_fwd_eff));
}

cJSON *fp8lab_kernel_model_json(const fp8lab_kernel_model *km) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "source", km->source);
    cJSON_AddStringToObject(o, "form", "eff = e_max * gemm_eff_scale * q_tile * q_wave * k / (k + k0)");
    FP8LAB_JSON_ADD_EXACT(o, {"tile", km->tile}, {"fit_sms", km->fit_sms});
    cJSON *recipes = cJSON_AddObjectToObject(o, "recipes");
    for (int r = 0; recipes && r < FP8LAB_NRECIPES; r++) {
        cJSON *e = cJSON_AddObjectToObject(recipes, RECIPE_NAME[r]);
        FP8LAB_JSON_ADD_EXACT(e, {"e_max", km->e_max[r]}, {"k0", km->k0[r]}, {"points", km->npoints[r]},
                                {"rms_log_err", km->rms_log_err[r]});
    }
    FP8LAB_JSON_ADD_EXACT(o, {"mem_eff", km->mem_eff}, {"attn_fwd_eff", km->attn_fwd_eff},
                            {"attn_bwd_eff", km->attn_bwd_eff}, {"kernel_gap_s", km->kernel_gap_s},
                            {"gemm_eff_scale", km->gemm_eff_scale});
    return o;
}

void fp8lab_kernel_model_print(FILE *f, const fp8lab_kernel_model *km, int json) {
    if (json) {
        cJSON *o = fp8lab_kernel_model_json(km);
        char *s = o ? cJSON_Print(o) : NULL;
        fprintf(f, "%s\n", s ? s : "null");
        cJSON_free(s);
        cJSON_Delete(o);
        return;
    }
    fprintf(f, "kernel model fitted to: %s\n", km->source);
    fprintf(f, "GEMM efficiency = e_max * q_tile * q_wave * K/(K + k0); %dx%d output tiles, fitted on %d SMs\n",
            km->tile, km->tile, km->fit_sms);
    fprintf(f, "%-11s %8s %8s %7s %11s  %s\n", "recipe", "e_max", "k0", "points", "rms ln err", "used for");
    static const char *const USE[FP8LAB_NRECIPES] = {
        "BF16 GEMMs", "(per-tensor FP8; not used by the step model)", "FP8 forward and Dgrad (1x128 x 128x128)",
        "FP32 GEMMs", "FP8 Wgrad (1x128 x 1x128)"};
    for (int r = 0; r < FP8LAB_NRECIPES; r++)
        fprintf(f, "%-11s %8.4f %8.0f %7d %11.4f  %s%s\n", RECIPE_NAME[r], km->e_max[r], km->k0[r], km->npoints[r],
                km->rms_log_err[r], USE[r], km->npoints[r] ? "" : " (no rows: the BF16 fit)");
    fprintf(f, "HBM streaming: %.4f of datasheet bandwidth; FlashAttention: forward %.4f, backward %.4f of BF16 peak\n",
            km->mem_eff, km->attn_fwd_eff, km->attn_bwd_eff);
    fprintf(f, "Wgrad GEMMs: + the FP32 main gradient read and written, %.0f bytes per weight element at HBM streaming "
               "speed\n", WGRAD_ACCUM_BYTES);
    fprintf(f, "kernel boundary: %.3f us of idle GPU added to every compute op\n", km->kernel_gap_s * 1e6);
    if (km->gemm_eff_scale != 1.0) fprintf(f, "GEMM efficiency what-if scale: %.4f\n", km->gemm_eff_scale);
    if (km->compute_scale != 1.0) fprintf(f, "compute time what-if scale: %.4f\n", km->compute_scale);
}
