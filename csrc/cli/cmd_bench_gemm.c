/* fp8lab bench gemm: per shape and recipe, the measured GEMM time, TFLOP/s, % of the device's dense peak, and
   the error of the result against an fp64 product on the CPU. Two errors are reported:
   rel_err   - against fp64 over the recipe's own (quantized/rounded) inputs: the GEMM's arithmetic alone;
   quant_err - against fp64 over the original FP32 inputs: what the recipe costs end to end. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/bench.h"
#include "cli/bench_util.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"

typedef enum { R_FP32, R_BF16, R_FP8_TENSOR, R_FP8_BLOCK, R_FP8_LINEAR, R_FP8_1x128, R_COUNT } recipe_id;
static const char *RECIPE[R_COUNT] = {"fp32", "bf16", "fp8-tensor", "fp8-block", "fp8-linear", "fp8-1x128"};
/* fp8-linear: quantize the activations 1x128, then the block GEMM (weights quantized ahead, as in training);
   fp8-1x128: both operands 1x128-scaled, the Wgrad form (activations and output gradients along tokens) */

/* the quantized form each recipe's operands take: the three block recipes share fp8-block's */
static recipe_id operand_recipe(recipe_id r) { return r == R_FP8_LINEAR || r == R_FP8_1x128 ? R_FP8_BLOCK : r; }

/* gpu-facts.md's measured table (CUDA); a CPU-sized set otherwise (1024^3 is the acceptance shape) */
static const char *CUDA_SHAPES = "8192,8192,8192;4096,7168,2048;4096,2112,7168;4096,24576,1536;4096,7168,16384;"
                                 "4096,4096,7168;16384,7168,18432;16384,18432,7168";
static const char *CPU_SHAPES = "512,512,512;1024,1024,1024;2048,1024,1024";

#define ROT 2 /* rotating operand copies so timed runs do not hit the inputs in cache */

typedef struct {
    float *f[ROT];                   /* fp32 operand copies on the device */
    void *q[ROT];                    /* recipe's operand: bf16 or fp8 */
    float *s[ROT];                   /* scales (fp8 recipes) */
    size_t qbytes, sbytes;
} operand;

typedef struct {
    fp8lab_backend *be;
    int M, N, K;
    fp8lab_out_dtype out;
    operand a, b;
    void *d;
} gemm_case;

static void operand_free(fp8lab_backend *be, operand *o) {
    for (int r = 0; r < ROT; r++) {
        be->free(be, o->q[r]);
        be->free(be, o->s[r]);
        o->q[r] = NULL;
        o->s[r] = NULL;
    }
}

/* Converts the fp32 operand copies to the recipe's input format. For block recipes, a_side picks 1x128 tiles
   (activations, or both Wgrad operands) over 128x128 blocks (weights). */
static int operand_prepare(fp8lab_backend *be, operand *o, recipe_id r, int a_side, int rows, int cols) {
    const long n = (long)rows * cols;
    if (r == R_FP32) return 0;
    o->qbytes = r == R_BF16 ? 2 * (size_t)n : (size_t)n;
    o->sbytes = r == R_BF16         ? 0
                : r == R_FP8_TENSOR ? sizeof(float)
                : a_side          ? sizeof(float) * (size_t)(cols / 128) * rows
                                  : sizeof(float) * (size_t)(rows / 128) * fp8lab_blk_scale_ld(cols);
    for (int k = 0; k < ROT; k++) {
        o->q[k] = be->alloc(be, o->qbytes);
        o->s[k] = r == R_BF16 ? NULL : be->alloc(be, o->sbytes);
        if (!o->q[k] || (r != R_BF16 && !o->s[k])) return -1;
        int rc = r == R_BF16       ? be->cast_f32_to_bf16(be, o->f[k], n, o->q[k])
                 : r == R_FP8_TENSOR ? be->quantize_tensor(be, o->f[k], n, FP8_E4M3, 0, o->q[k], o->s[k])
                 : a_side          ? be->quantize_1x128(be, o->f[k], rows, cols, FP8_E4M3, 0, o->q[k], o->s[k])
                                   : be->quantize_128x128(be, o->f[k], rows, cols, FP8_E4M3, 0, o->q[k], o->s[k]);
        if (rc) return -1;
    }
    return 0;
}

static int run_once(gemm_case *c, recipe_id r, int k) {
    fp8lab_backend *be = c->be;
    operand *a = &c->a, *b = &c->b;
    switch (r) {
    case R_FP32: return be->gemm_f32(be, a->f[k], b->f[k], c->M, c->N, c->K, c->d);
    case R_BF16: return be->gemm_bf16(be, a->q[k], b->q[k], c->M, c->N, c->K, c->out, c->d);
    case R_FP8_TENSOR:
        return be->gemm_fp8_tensor(be, a->q[k], FP8_E4M3, a->s[k], b->q[k], FP8_E4M3, b->s[k], c->M, c->N, c->K,
                                   c->out, c->d);
    case R_FP8_LINEAR:
        if (be->quantize_1x128(be, a->f[k], c->M, c->K, FP8_E4M3, 0, a->q[k], a->s[k])) return -1;
        /* fall through */
    case R_FP8_BLOCK:
    case R_FP8_1x128:
        return be->gemm_fp8_block(be, a->q[k], a->s[k], b->q[k], b->s[k],
                                  r == R_FP8_1x128 ? FP8LAB_B_1x128 : FP8LAB_B_128x128, c->M, c->N, c->K, c->out, c->d);
    default: return -1;
    }
}

/* Copies an operand back to the host as the values the GEMM actually multiplied. */
static int operand_values(fp8lab_backend *be, const operand *o, recipe_id r, int a_side, int rows, int cols,
                          const float *orig, float *out) {
    const size_t n = (size_t)rows * cols;
    if (r == R_FP32) {
        memcpy(out, orig, n * sizeof(float));
        return 0;
    }
    uint8_t *q = malloc(o->qbytes);
    float *s = o->sbytes ? malloc(o->sbytes) : NULL;
    int rc = -1;
    if (q && (s || !o->sbytes) && !be->copy_d2h(be, q, o->q[0], o->qbytes) &&
        (!o->sbytes || !be->copy_d2h(be, s, o->s[0], o->sbytes))) {
        if (r == R_BF16)
            for (size_t i = 0; i < n; i++) out[i] = bf16_to_f32(((uint16_t *)q)[i]);
        else
            bench_dequant(q, s, r == R_FP8_TENSOR ? 't' : a_side ? 'r' : 'b', FP8_E4M3, rows, cols, out);
        rc = 0;
    }
    free(q);
    free(s);
    return rc;
}

typedef struct {
    bench_shape sh;
    recipe_id r;
    double ms, tflops, pct_peak, rel_err, quant_err, vs_fp32;
} gemm_result;

static double recipe_peak(const fp8lab_device_info *di, recipe_id r) {
    return r == R_FP32 ? di->peak_tflops_fp32 : r == R_BF16 ? di->peak_tflops_bf16 : di->peak_tflops_fp8;
}

/* Returns 0, 1 on a device failure, 2 on bad input (e.g. non-finite data refused by a quantizer). */
static int bench_shape_recipes(fp8lab_backend *be, const fp8lab_device_info *di, bench_shape sh, const int *want,
                               fp8lab_out_dtype out, int warmup, int iters, double init_scale, unsigned seed,
                               gemm_result *res, int *nres) {
    const int M = sh.m, N = sh.n, K = sh.k;
    const size_t na = (size_t)M * K, nb = (size_t)N * K, nd = (size_t)M * N;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *Av = malloc(na * sizeof(float)), *Bv = malloc(nb * sizeof(float)), *D = malloc(nd * sizeof(float));
    void *Dh = malloc(nd * sizeof(float));
    gemm_case c = {.be = be, .M = M, .N = N, .K = K, .out = out};
    int status = 1;
    if (!A || !B || !Av || !Bv || !D || !Dh) {
        fprintf(stderr, "error: out of host memory for shape %dx%dx%d\n", M, N, K);
        goto done;
    }
    /* normal inputs; every 1x128 row tile of A gets its own magnitude 2^[-4,4] so block scaling matters. One
       generator per tile, seeded from (seed, tile): the same inputs whatever the thread count, and the ~1e9
       samples of the GPU shape set take seconds instead of half a minute. */
    const long ta = (long)(na / 128), tb = (long)(nb / 128);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < ta + tb; t++) {
        fp8lab_rng rng;
        fp8lab_rng_seed(&rng, ((uint64_t)seed << 40) ^ (uint64_t)t);
        const double mag = t < ta ? ldexp(1.0, (int)(fp8lab_rng_u32(&rng) % 9) - 4) : 0.05;
        float *dst = t < ta ? A + (size_t)t * 128 : B + (size_t)(t - ta) * 128;
        for (int i = 0; i < 128; i++) dst[i] = (float)(init_scale * mag * fp8lab_rng_normal(&rng));
    }
    c.d = be->alloc(be, nd * (out == FP8LAB_F32 ? 4 : 2));
    if (!c.d) goto fail;
    for (int k = 0; k < ROT; k++) {
        c.a.f[k] = be->alloc(be, na * sizeof(float));
        c.b.f[k] = be->alloc(be, nb * sizeof(float));
        if (!c.a.f[k] || !c.b.f[k] || be->copy_h2d(be, c.a.f[k], A, na * 4) || be->copy_h2d(be, c.b.f[k], B, nb * 4))
            goto fail;
    }
    double fp32_ms = 0;
    for (int r = 0; r < R_COUNT; r++) {
        if (!want[r]) continue;
        const recipe_id vr = operand_recipe(r);
        const int b_tiles = r == R_FP8_1x128;
        if (operand_prepare(be, &c.a, vr, 1, M, K) || operand_prepare(be, &c.b, vr, b_tiles, N, K)) {
            status = strstr(fp8lab_last_error(), "non-finite") ? 2 : 1;
            goto fail;
        }
        double *t = malloc(sizeof(double) * (size_t)iters);
        if (!t) goto fail;
        int bad = 0;
        for (int i = 0; i < warmup + iters && !bad; i++) {
            be->sync(be);
            double t0 = fp8lab_now();
            bad = run_once(&c, r, i % ROT) || be->sync(be);
            if (i >= warmup) t[i - warmup] = fp8lab_now() - t0;
        }
        double ms = bad ? 0 : 1e3 * bench_median(t, iters);
        free(t);
        if (bad) goto fail;
        /* errors from the last run's inputs: copy 0 or 1 hold identical data */
        if (be->copy_d2h(be, Dh, c.d, nd * (out == FP8LAB_F32 ? 4 : 2))) goto fail;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < nd; i++) D[i] = out == FP8LAB_F32 ? ((float *)Dh)[i] : bf16_to_f32(((uint16_t *)Dh)[i]);
        if (operand_values(be, &c.a, vr, 1, M, K, A, Av) || operand_values(be, &c.b, vr, b_tiles, N, K, B, Bv))
            goto fail;
        gemm_result *g = &res[(*nres)++];
        g->sh = sh;
        g->r = r;
        g->ms = ms;
        g->tflops = 2.0 * M * N * K / (ms * 1e-3) / 1e12;
        double peak = recipe_peak(di, r);
        g->pct_peak = peak > 0 ? 100.0 * g->tflops / peak : NAN;
        g->rel_err = bench_rel_err_sampled(Av, Bv, D, M, N, K);
        g->quant_err = bench_rel_err_sampled(A, B, D, M, N, K);
        if (r == R_FP32) fp32_ms = ms;
        g->vs_fp32 = fp32_ms > 0 ? ms / fp32_ms : NAN;
        operand_free(be, &c.a);
        operand_free(be, &c.b);
    }
    status = 0;
    goto done;
fail:
    fprintf(stderr, "error: bench gemm %dx%dx%d: %s\n", M, N, K, fp8lab_last_error());
done:
    operand_free(be, &c.a);
    operand_free(be, &c.b);
    for (int k = 0; k < ROT; k++) {
        be->free(be, c.a.f[k]);
        be->free(be, c.b.f[k]);
    }
    be->free(be, c.d);
    free(A);
    free(B);
    free(Av);
    free(Bv);
    free(D);
    free(Dh);
    return status;
}

static cJSON *num_or_null(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static void print_json(const fp8lab_device_info *di, const char *backend, fp8lab_out_dtype out,
                       const gemm_result *res, int nres) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "device", di->name);
    cJSON_AddStringToObject(root, "backend", backend);
    cJSON_AddBoolToObject(root, "measured", 1);
    cJSON_AddStringToObject(root, "out_dtype", out == FP8LAB_F32 ? "f32" : "bf16");
    cJSON *pk = cJSON_AddObjectToObject(root, "peak_tflops");
    cJSON_AddItemToObject(pk, "bf16", num_or_null(di->peak_tflops_bf16 > 0 ? di->peak_tflops_bf16 : NAN));
    cJSON_AddItemToObject(pk, "fp8", num_or_null(di->peak_tflops_fp8 > 0 ? di->peak_tflops_fp8 : NAN));
    cJSON_AddItemToObject(pk, "fp32", num_or_null(di->peak_tflops_fp32 > 0 ? di->peak_tflops_fp32 : NAN));
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < nres; i++) {
        const gemm_result *g = &res[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "m", g->sh.m);
        cJSON_AddNumberToObject(o, "n", g->sh.n);
        cJSON_AddNumberToObject(o, "k", g->sh.k);
        cJSON_AddStringToObject(o, "recipe", RECIPE[g->r]);
        cJSON_AddNumberToObject(o, "ms", g->ms);
        cJSON_AddNumberToObject(o, "tflops", g->tflops);
        cJSON_AddItemToObject(o, "pct_peak", num_or_null(g->pct_peak));
        cJSON_AddNumberToObject(o, "rel_err", g->rel_err);
        cJSON_AddNumberToObject(o, "quant_err", g->quant_err);
        cJSON_AddItemToObject(o, "time_vs_fp32", num_or_null(g->vs_fp32));
        cJSON_AddItemToArray(arr, o);
    }
    char *s = cJSON_Print(root);
    puts(s);
    free(s);
    cJSON_Delete(root);
}

static void print_table(const fp8lab_device_info *di, const char *backend, fp8lab_out_dtype out, int iters,
                        const gemm_result *res, int nres) {
    printf("fp8lab bench gemm: measured on %s (backend %s), %s output, median of %d runs\n", di->name, backend,
           out == FP8LAB_F32 ? "FP32" : "BF16", iters);
    printf("rel_err: vs fp64 on the recipe's own inputs; quant_err: vs fp64 on the FP32 inputs (%s)\n",
           "Frobenius, sampled rows/cols");
    printf("%6s %6s %6s  %-10s %10s %9s %7s %9s %9s %8s\n", "M", "N", "K", "recipe", "ms", "TFLOP/s", "%peak",
           "rel_err", "quant_err", "vs fp32");
    for (int i = 0; i < nres; i++) {
        const gemm_result *g = &res[i];
        char pct[16] = "-", ratio[16] = "-";
        if (isfinite(g->pct_peak)) snprintf(pct, sizeof pct, "%.1f", g->pct_peak);
        if (isfinite(g->vs_fp32)) snprintf(ratio, sizeof ratio, "%.2fx", g->vs_fp32);
        printf("%6d %6d %6d  %-10s %10.3f %9.3f %7s %9.2e %9.2e %8s\n", g->sh.m, g->sh.n, g->sh.k, RECIPE[g->r], g->ms,
               g->tflops, pct, g->rel_err, g->quant_err, ratio);
    }
    if (!(di->peak_tflops_fp8 > 0)) printf("%%peak: no dense peak is known for this device\n");
}

int bench_gemm(int argc, char **argv) {
    const char *device = "auto", *shapes = NULL, *recipes = "all", *outs = "auto";
    int iters = 10, warmup = 2, json = 0, seed = 1;
    double init_scale = 1.0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"shapes", FLAG_STR, &shapes, "M,N,K[;M,N,K...], multiples of 128 (default: gpu-facts table or CPU set)"},
        {"recipe", FLAG_STR, &recipes, "all or a comma list of fp32,bf16,fp8-tensor,fp8-block,fp8-linear,fp8-1x128"},
        {"out", FLAG_STR, &outs, "output dtype: f32 | bf16 | auto (bf16 on cuda, f32 on cpu)"},
        {"iters", FLAG_INT, &iters, "timed runs per case (median reported)", FP8LAB_RANGE(1, 100000)},
        {"warmup", FLAG_INT, &warmup, "untimed runs first", FP8LAB_RANGE(0, 10000)},
        {"init-scale", FLAG_DOUBLE, &init_scale, "standard deviation multiplier of the random inputs", FP8LAB_RANGE_POS(1e30)},
        {"seed", FLAG_INT, &seed, "random seed", FP8LAB_RANGE(0, 2147483647)},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    int rc = cli_parse("fp8lab bench gemm [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    if (iters < 1 || warmup < 0) {
        fprintf(stderr, "error: --iters must be >= 1 and --warmup >= 0 (got %d, %d)\n", iters, warmup);
        return FP8LAB_EXIT_USAGE;
    }
    int want[R_COUNT] = {0};
    if (!strcmp(recipes, "all")) {
        for (int r = 0; r < R_COUNT; r++) want[r] = 1;
    } else {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", recipes);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int r = 0; r < R_COUNT; r++)
                if (!strcmp(tok, RECIPE[r])) want[r] = found = 1;
            if (!found) {
                fprintf(stderr, "error: --recipe: unknown recipe '%s' (expected all, fp32, bf16, fp8-tensor, "
                                "fp8-block, fp8-linear or fp8-1x128)\n", tok);
                return FP8LAB_EXIT_USAGE;
            }
        }
    }
    if (strcmp(outs, "auto") && strcmp(outs, "f32") && strcmp(outs, "bf16")) {
        fprintf(stderr, "error: --out: unknown dtype '%s' (expected f32, bf16 or auto)\n", outs);
        return FP8LAB_EXIT_USAGE;
    }
    if (cli_check_device(device)) return FP8LAB_EXIT_USAGE;
    bench_shape sh[64];
    fp8lab_backend *be = fp8lab_backend_create(device);
    if (!be) {
        fprintf(stderr, "error: --device %s: %s\n", device, fp8lab_last_error());
        return FP8LAB_EXIT_RUNTIME;
    }
    const int is_cpu = !strcmp(be->name, "cpu");
    if (is_cpu) want[R_FP32] = 1; /* the CPU baseline is always measured */
    int nsh = bench_parse_shapes("shapes", shapes ? shapes : is_cpu ? CPU_SHAPES : CUDA_SHAPES, 3, 128, sh, 64);
    if (nsh < 0) {
        be->destroy(be);
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_out_dtype out = !strcmp(outs, "f32") || (!strcmp(outs, "auto") && is_cpu) ? FP8LAB_F32 : FP8LAB_BF16;
    fp8lab_device_info di;
    be->info(be, &di);
    gemm_result *res = calloc((size_t)nsh * R_COUNT, sizeof *res);
    int nres = 0, status = 0;
    for (int i = 0; i < nsh && !status && res; i++) {
        if (!json) fprintf(stderr, "bench gemm: %dx%dx%d ...\n", sh[i].m, sh[i].n, sh[i].k);
        status = bench_shape_recipes(be, &di, sh[i], want, out, warmup, iters, init_scale, (unsigned)seed, res, &nres);
    }
    if (!status && res) {
        if (json) print_json(&di, be->name, out, res, nres);
        else print_table(&di, be->name, out, iters, res, nres);
    }
    free(res);
    be->destroy(be);
    return status == 2 ? FP8LAB_EXIT_USAGE : status ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}
