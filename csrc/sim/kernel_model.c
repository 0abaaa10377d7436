#include "sim/kernel_model.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/json_get.h"

/* shared/gpu-facts.md, cuBLASLt on an H200 (132 SMs), TFLOP/s: M, N, K, BF16, FP8 per-tensor, FP8 1x128·128x128.
   Peaks: BF16 989, FP8 1979 (datasheet). */
static const double FACTS[][6] = {
    {8192, 8192, 8192, 797, 1431, 1288},    {4096, 7168, 2048, 718, 1189, 1062},
    {4096, 2112, 7168, 717, 1182, 1049},    {4096, 24576, 1536, 767, 1283, 1129},
    {4096, 7168, 16384, 821, 1478, 1327},   {4096, 4096, 7168, 732, 1303, 1231},
    {16384, 7168, 18432, 700, 1331, 1185},  {16384, 18432, 7168, 654, 1269, 1188},
};
enum { NFACTS = sizeof FACTS / sizeof FACTS[0], FACTS_SMS = 132 };

static double ceil_div(double a, double b) { return ceil(a / b); }

static double shape_eff(int tile, double m, double n, double k, double k0, int sms) {
    double tm = ceil_div(m, tile), tn = ceil_div(n, tile);
    double q_tile = (m * n) / (tm * tile * tn * tile);
    double tiles = tm * tn, waves = ceil_div(tiles, sms);
    double q_wave = tiles / (waves * sms);
    return q_tile * q_wave * k / (k + k0);
}

void fp8lab_kernel_model_fit(fp8lab_kernel_model *km, int r, const fp8lab_gemm_point *p, int n, int sms) {
    double best = INFINITY, best_k0 = 0, best_e = 0.7;
    /* k0 on a grid (the fit is 1-D once e_max is eliminated in closed form) */
    for (double k0 = 0; k0 <= 4096; k0 += 8) {
        double sl = 0;
        for (int i = 0; i < n; i++) sl += log(p[i].eff / shape_eff(km->tile, p[i].m, p[i].n, p[i].k, k0, sms));
        double le = sl / n, err = 0;
        for (int i = 0; i < n; i++) {
            double d = le + log(shape_eff(km->tile, p[i].m, p[i].n, p[i].k, k0, sms)) - log(p[i].eff);
            err += d * d;
        }
        if (err < best - 1e-12) {
            best = err;
            best_k0 = k0;
            best_e = exp(le);
        }
    }
    km->e_max[r] = best_e > 1 ? 1 : best_e;
    km->k0[r] = best_k0;
    km->rms_log_err[r] = sqrt(best / n);
    km->npoints[r] = n;
    km->fit_sms = sms;
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
    fp8lab_gemm_point pts[NFACTS];
    static const double peak[3] = {989, 1979, 1979};
    for (int col = 0; col < 3; col++) {
        for (int i = 0; i < NFACTS; i++)
            pts[i] = (fp8lab_gemm_point){FACTS[i][0], FACTS[i][1], FACTS[i][2], FACTS[i][3 + col] / peak[col]};
        fp8lab_kernel_model_fit(km, col, pts, NFACTS, FACTS_SMS);
    }
    /* no FP32 GEMM was measured: FP32 (TF32-free) GEMMs use the BF16 shape model against the FP32 peak */
    km->e_max[FP8LAB_RECIPE_FP32] = km->e_max[FP8LAB_RECIPE_BF16];
    km->k0[FP8LAB_RECIPE_FP32] = km->k0[FP8LAB_RECIPE_BF16];
    snprintf(km->source, sizeof km->source, "cuBLASLt table in shared/gpu-facts.md (H200, %d shapes)", NFACTS);
}

static int recipe_index(const char *s) {
    static const char *names[FP8LAB_NRECIPES] = {"bf16", "fp8-tensor", "fp8-block", "fp32"};
    for (int i = 0; i < FP8LAB_NRECIPES; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

int fp8lab_kernel_model_calibrate(fp8lab_kernel_model *km, const char *path, int device_sms) {
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    int rc = -1;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(root, "peak_tflops");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(root, "results");
    double peaks[FP8LAB_NRECIPES] = {0};
    char dev[96] = "unknown device";
    fp8lab_gemm_point *pts = NULL;
    int *rec = NULL;
    if (!cJSON_IsObject(pk)) {
        FP8LAB_ERR("%s: key peak_tflops: %s", path, pk ? "expected an object" : "missing");
        goto done;
    }
    if (fp8lab_json_num(path, pk, "peak_tflops.", "bf16", 0, FP8LAB_RANGE_POS(1e9), &peaks[0])) {
        /* a CPU run of bench gemm has no dense peak to turn TFLOP/s into efficiency */
        char why[512];
        snprintf(why, sizeof why, "%s", fp8lab_last_error());
        FP8LAB_ERR("%s (hint: calibrate from a GPU run of fp8lab bench gemm --json; CPU runs have no peak)", why);
        goto done;
    }
    if (fp8lab_json_num(path, pk, "peak_tflops.", "fp8", 1, FP8LAB_RANGE_POS(1e9), &peaks[1]) < 0) goto done;
    peaks[2] = peaks[1];
    if (fp8lab_json_num(path, pk, "peak_tflops.", "fp32", 1, FP8LAB_RANGE_POS(1e9), &peaks[3]) < 0) goto done;
    if (fp8lab_json_str(path, root, "", "device", 1, dev, sizeof dev) < 0) goto done;
    int n = cJSON_GetArraySize(res);
    if (!cJSON_IsArray(res) || n == 0) {
        FP8LAB_ERR("%s: key results: expected a non-empty array", path);
        goto done;
    }
    pts = calloc((size_t)n, sizeof *pts);
    rec = calloc((size_t)n, sizeof *rec);
    if (!pts || !rec) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(res, i);
        char pre[32], rn[32];
        double tf;
        snprintf(pre, sizeof pre, "results[%d].", i);
        if (fp8lab_json_str(path, it, pre, "recipe", 0, rn, sizeof rn) ||
            fp8lab_json_num(path, it, pre, "m", 0, FP8LAB_RANGE_POS(1e9), &pts[i].m) ||
            fp8lab_json_num(path, it, pre, "n", 0, FP8LAB_RANGE_POS(1e9), &pts[i].n) ||
            fp8lab_json_num(path, it, pre, "k", 0, FP8LAB_RANGE_POS(1e9), &pts[i].k) || fp8lab_json_num(path, it, pre, "tflops", 0, FP8LAB_RANGE_POS(1e9), &tf))
            goto done;
        rec[i] = recipe_index(rn);
        /* bench gemm rows the kernel model has no use for: quantize+GEMM and the Wgrad (1x128 x 1x128) form */
        if (rec[i] < 0 && (!strcmp(rn, "fp8-linear") || !strcmp(rn, "fp8-1x128"))) continue;
        if (rec[i] < 0) {
            FP8LAB_ERR("%s: key %srecipe: unknown recipe '%s' (expected bf16, fp8-tensor, fp8-block, fp32)", path,
                       pre, rn);
            goto done;
        }
        if (peaks[rec[i]] <= 0) {
            FP8LAB_ERR("%s: key peak_tflops.%s: missing, needed for %srecipe %s", path, rec[i] == 3 ? "fp32" : "fp8",
                       pre, rn);
            goto done;
        }
        pts[i].eff = tf / peaks[rec[i]];
    }
    for (int r = 0; r < FP8LAB_NRECIPES; r++) {
        fp8lab_gemm_point sel[256];
        int ns = 0;
        for (int i = 0; i < n && ns < 256; i++)
            if (rec[i] == r) sel[ns++] = pts[i];
        if (ns) fp8lab_kernel_model_fit(km, r, sel, ns, device_sms);
    }
    int used = 0;
    for (int i = 0; i < n; i++) used += rec[i] >= 0;
    snprintf(km->source, sizeof km->source, "calibration %s (%s, %d points)", path, dev, used);
    rc = 0;
done:
    free(pts);
    free(rec);
    cJSON_Delete(root);
    return rc;
}

int fp8lab_recipe_for(fp8lab_prec p) {
    switch (p) {
    case FP8LAB_PREC_FP8: return FP8LAB_RECIPE_FP8_BLOCK;
    case FP8LAB_PREC_FP32: return FP8LAB_RECIPE_FP32;
    default: return FP8LAB_RECIPE_BF16;
    }
}

double fp8lab_gemm_eff(const fp8lab_kernel_model *km, int r, double m, double n, double k, int sms) {
    double e = km->e_max[r] * km->gemm_eff_scale * shape_eff(km->tile, m, n, k, km->k0[r], sms > 0 ? sms : 1);
    return e > 1 ? 1 : e;
}

static double elem_bytes(fp8lab_prec p) { return p == FP8LAB_PREC_FP8 ? 1 : p == FP8LAB_PREC_FP32 ? 4 : 2; }

double fp8lab_gemm_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int sms_avail, fp8lab_prec p,
                        double m, double n, double k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    double peak = g->peak_tflops[p] * 1e12 * (double)sms_avail / (double)g->sms;
    double t_c = 2.0 * m * n * k / (peak * fp8lab_gemm_eff(km, fp8lab_recipe_for(p), m, n, k, sms_avail));
    /* output in BF16 (FP32 for FP32 GEMMs) */
    double bytes = (m * k + n * k) * elem_bytes(p) + m * n * (p == FP8LAB_PREC_FP32 ? 4 : 2);
    double t_m = fp8lab_mem_time(km, g, bytes);
    return t_c > t_m ? t_c : t_m;
}

double fp8lab_mem_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, double bytes) {
    return bytes / (g->hbm_gbps * 1e9 * km->mem_eff);
}

double fp8lab_attn_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int sms_avail, double flops, int bwd) {
    double peak = g->peak_tflops[FP8LAB_PREC_BF16] * 1e12 * (double)sms_avail / (double)g->sms;
    return flops / (peak * (bwd ? km->attn_bwd_eff : km->attn_fwd_eff));
}
