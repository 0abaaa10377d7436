/* Kernel time model: GEMMs from a roofline with shape-dependent efficiency, element-wise ops from bytes over
   achieved HBM bandwidth, FlashAttention from FLOPs at a published efficiency.

   GEMM efficiency (fraction of the dense peak) = e_max · q_tile · q_wave · K/(K + k0):
   - q_tile: useful share of the 128x128 output tiles (M and N padded up to the tile);
   - q_wave: tiles / (ceil(tiles / SMs) · SMs), the idle SMs of the last wave;
   - K/(K + k0): prologue/epilogue cost that a short reduction cannot amortize (small-K penalty); small M or N
     show up through q_tile and q_wave.
   e_max and k0 are fitted per recipe (least squares on log efficiency) to measured points: by default the
   cuBLASLt table in configs/calibration/gemm-h200-cublaslt.json (H200; the same rows are compiled in, and
   tests/test_sim_kernel_fit.c checks that the file and the compiled table give the same fit), or the points of
   a `fp8lab bench gemm --json` file. `fp8lab info --kernel-model` prints the fit.

   Recipes: FP8_BLOCK is the forward and Dgrad form of DeepSeek-V3's recipe (1x128 activation tiles times 128x128
   weight blocks); FP8_WGRAD is its Wgrad form, both operands 1x128 along the token (reduction) dimension, which
   measures at ~0.79x the FP8_BLOCK speed on the same shapes. */
#ifndef FP8LAB_SIM_KERNEL_MODEL_H
#define FP8LAB_SIM_KERNEL_MODEL_H
#include <stdio.h>

#include "sim/cluster.h"

enum { FP8LAB_RECIPE_BF16 = 0, FP8LAB_RECIPE_FP8_TENSOR = 1, FP8LAB_RECIPE_FP8_BLOCK = 2, FP8LAB_RECIPE_FP32 = 3,
       FP8LAB_RECIPE_FP8_WGRAD = 4, FP8LAB_NRECIPES = 5 };

typedef struct {
    double m, n, k, eff; /* eff = measured TFLOP/s / dense peak of that precision */
} fp8lab_gemm_point;

typedef struct {
    double e_max[FP8LAB_NRECIPES], k0[FP8LAB_NRECIPES];
    double rms_log_err[FP8LAB_NRECIPES]; /* fit quality: RMS of ln(model/measured) */
    int npoints[FP8LAB_NRECIPES];
    int fit_sms;                         /* SM count of the device the points were measured on */
    int tile;                            /* output tile edge (128) */
    double mem_eff;                      /* achieved / datasheet HBM bandwidth for streaming kernels */
    double attn_fwd_eff, attn_bwd_eff;   /* FlashAttention, fraction of BF16 peak */
    double gemm_eff_scale;               /* what-if multiplier on every GEMM efficiency (1 = as measured) */
    double compute_scale;                /* what-if multiplier on every compute op's time: GEMM, attention and
                                            element-wise (1 = as modeled; fp8lab claim's profile comparison) */
    double kernel_gap_s;                 /* GPU idle at each kernel boundary (launch, ramp-up, drain), added once
                                            to every compute op */
    char source[160];
} fp8lab_kernel_model;

/* The default kernel_gap_s: the mean GPU idle between consecutive compute kernels in DeepSeek's H800 training profile
   (configs/calibration/deepseek-v3-h800-profile.json, kernel_gaps.mean_us) */
#define FP8LAB_KERNEL_GAP_S 2.089e-6

/* Defaults fitted to the measured table of configs/calibration/gemm-h200-cublaslt.json (gpu-facts.md). */
void fp8lab_kernel_model_default(fp8lab_kernel_model *km);
/* The calibration-file name of a recipe ("bf16", "fp8-tensor", "fp8-block", "fp32", "fp8-1x128"), "?" if none. */
const char *fp8lab_km_recipe_name(int recipe);
/* Prints the fit: one line per recipe (e_max, k0, points, RMS log error) and the other constants; with json,
   fp8lab_kernel_model_json's object. */
void fp8lab_kernel_model_print(FILE *f, const fp8lab_kernel_model *km, int json);
/* The fit as a JSON object whose numbers round-trip exactly (cJSON prints 17 digits where 15 do not); NULL when
   out of memory. The caller frees it with cJSON_Delete. */
struct cJSON *fp8lab_kernel_model_json(const fp8lab_kernel_model *km);
/* Refits every recipe that has points in a `fp8lab bench gemm --json` file (recipes "bf16", "fp8-tensor",
   "fp8-block", "fp32", "fp8-1x128" (the Wgrad form); "fp8-linear" rows are checked and not fitted); recipes
   without points keep their defaults. Every row must hold whole m, n, k in [1, 1048576] and tflops in (0, the
   file's peak_tflops for its precision], peaks in (0, 1e5]; no two rows may measure the same recipe and shape,
   and at least one row must be fitted. O(n log n) in the rows. 0, or -1 with an error naming the file, row,
   key, value and range (exit 2; exit 1 for out of memory), *km untouched. The points are taken as measured on a
   GPU with device_sms SMs. */
int fp8lab_kernel_model_calibrate(fp8lab_kernel_model *km, const char *path, int device_sms);
/* Same, for the cluster's GPU: its SM count, and each row's tflops must also be within gpu->peak_tflops of its
   precision where that peak is > 0 (a row faster than the GPU was not measured on it). */
int fp8lab_kernel_model_calibrate_gpu(fp8lab_kernel_model *km, const char *path, const fp8lab_gpu *gpu);
/* Fits one recipe to n >= 1 points (eff in (0, 1], m, n, k >= 1) measured on a device with `sms` SMs. 0, or -1
   with an error (bad arguments, out of memory). */
int fp8lab_kernel_model_fit(fp8lab_kernel_model *km, int recipe, const fp8lab_gemm_point *p, int n, int sms);

/* Recipe a training precision uses for its GEMMs (fp8 = 1x128 activations, 128x128 weights, as DeepSeek-V3). */
int fp8lab_recipe_for(fp8lab_prec p);
/* Same, for one pass: an FP8 weight-gradient GEMM (wgrad != 0) runs as 1x128 x 1x128 (FP8LAB_RECIPE_FP8_WGRAD);
   every other GEMM as fp8lab_recipe_for(p). */
int fp8lab_recipe_for_pass(fp8lab_prec p, int wgrad);
/* Efficiency for one GEMM shape with `sms` SMs available to it. */
double fp8lab_gemm_eff(const fp8lab_kernel_model *km, int recipe, double m, double n, double k, int sms);
/* One [m][k]x[k][n] GEMM as the step model runs it: its precision, the SMs it has (the rest serve communication),
   and whether it is a weight gradient. */
typedef struct {
    double m, n, k;
    fp8lab_prec prec;
    int sms;
    int wgrad; /* an FP8 one runs the Wgrad recipe; any one accumulates into the FP32 main gradient [m][n] */
} fp8lab_gemm_call;

/* Seconds for one GEMM on gpu g: max(compute at the modeled efficiency, operand+output bytes over HBM bandwidth),
   plus for a Wgrad GEMM its main-gradient accumulation (fp8lab_wgrad_accum_time). */
double fp8lab_gemm_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const fp8lab_gemm_call *c);
/* Seconds for one plain GEMM of a recipe (FP8LAB_RECIPE_*: its operand precision and fit), as `fp8lab bench gemm`
   measures it: what the recipe's calibration rows are compared with. */
double fp8lab_gemm_time_recipe(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int recipe, double m, double n,
                               double k);
double fp8lab_mem_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, double bytes);
/* The Wgrad epilogue's read and write of the FP32 main gradient [m][n], beyond the BF16 output the GEMM fit
   measured. */
double fp8lab_wgrad_accum_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, double m, double n);
/* FlashAttention: fwd or bwd (hardware) FLOPs in BF16. */
double fp8lab_attn_time(const fp8lab_kernel_model *km, const fp8lab_gpu *g, int sms_avail, double flops, int bwd);

#endif
