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

/* gpu-facts.md's measured table (CUDA) less 4096x2112x7168, whose N is not a multiple of the 128-wide block
   tiles our quantizers take; a CPU-sized set otherwise (1024^3 is the acceptance shape) */
static const char *CUDA_SHAPES = "8192,8192,8192;4096,7168,2048;4096,24576,1536;4096,7168,16384;"
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
        fp8lab_free(be, o->q[r]);
        fp8lab_free(be, o->s[r]);
        o->q[r] = NULL;
        o->s[r] = NULL;
    }
}

/* The backends record every failure with the same error kind; the only bad input a bench run can hand a
   quantizer is non-finite data, everything else is the device failing. */
static int backend_failure_status(void) { return strstr(fp8lab_last_error(), "non-finite") ? 2 : 1; }

/* Converts the fp32 operand copies to the recipe's input format. For block recipes, a_side picks 1x128 tiles
   (activations, or both Wgrad operands) over 128x128 blocks (weights). Returns 0, 1 (allocation or device
   failure) or 2 (bad input). */
static int operand_prepare(fp8lab_backend *be, operand *o, recipe_id r, int a_side, int rows, int cols) {
    const long n = (long)rows * cols;
    if (r == R_FP32) return 0;
    o->qbytes = r == R_BF16 ? 2 * (size_t)n : (size_t)n;
    o->sbytes = r == R_BF16         ? 0
                : r == R_FP8_TENSOR ? sizeof(float)
                : a_side            ? sizeof(float) * fp8lab_scale_1x128_count(rows, cols)
                                    : sizeof(float) * fp8lab_scale_128x128_count(rows, cols);
    for (int k = 0; k < ROT; k++) {
        o->q[k] = fp8lab_alloc(be, o->qbytes);
        o->s[k] = r == R_BF16 ? NULL : fp8lab_alloc(be, o->sbytes);
        if (!o->q[k] || (r != R_BF16 && !o->s[k])) return 1;
        int rc = r == R_BF16         ? fp8lab_cast_f32_to_bf16(be, o->f[k], n, o->q[k])
                 : r == R_FP8_TENSOR ? fp8lab_quantize_tensor(be, o->f[k], n, FP8_E4M3, 0, o->q[k], o->s[k])
                 : a_side ? fp8lab_quantize_1x128(be, o->f[k], rows, cols, FP8_E4M3, 0, o->q[k], o->s[k])
                          : fp8lab_quantize_128x128(be, o->f[k], rows, cols, FP8_E4M3, 0, o->q[k], o->s[k]);
        if (rc) return backend_failure_status();
    }
    return 0;
}

/* gemm_f32 has no output dtype: the FP32 baseline writes 4-byte floats whatever --out says. */
static fp8lab_out_dtype recipe_out(recipe_id r, fp8lab_out_dtype out) { return r == R_FP32 ? FP8LAB_F32 : out; }

static size_t out_elem_bytes(fp8lab_out_dtype o) { return o == FP8LAB_F32 ? sizeof(float) : sizeof(uint16_t); }

/* Bytes per output element of the widest output any wanted recipe writes: the one D buffer serves them all. */
static size_t widest_out(const int *want, fp8lab_out_dtype out) {
    size_t w = 0;
    for (int r = 0; r < R_COUNT; r++) {
        const size_t b = out_elem_bytes(recipe_out((recipe_id)r, out));
        if (want[r] && b > w) w = b;
    }
    return w;
}

static int run_once(gemm_case *c, recipe_id r, int k) {
    fp8lab_backend *be = c->be;
    operand *a = &c->a, *b = &c->b;
    switch (r) {
    case R_FP32: return fp8lab_gemm_f32(be, a->f[k], b->f[k], c->M, c->N, c->K, c->d);
    case R_BF16: return fp8lab_gemm_bf16(be, a->q[k], b->q[k], c->M, c->N, c->K, c->out, c->d);
    case R_FP8_TENSOR:
        return fp8lab_gemm_fp8_tensor(be, a->q[k], FP8_E4M3, a->s[k], b->q[k], FP8_E4M3, b->s[k], c->M, c->N,
                                      c->K, c->out, c->d);
    case R_FP8_LINEAR:
        if (fp8lab_quantize_1x128(be, a->f[k], c->M, c->K, FP8_E4M3, 0, a->q[k], a->s[k])) return -1;
        /* fall through */
    case R_FP8_BLOCK:
    case R_FP8_1x128:
        return fp8lab_gemm_fp8_block(be, a->q[k], a->s[k], b->q[k], b->s[k],
                                     r == R_FP8_1x128 ? FP8LAB_B_1x128 : FP8LAB_B_128x128, c->M, c->N, c->K, c->out,
                                     c->d);
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
    if (!q || (!s && o->sbytes))
        FP8LAB_ERR_RT("out of host memory reading back an operand (%zu + %zu bytes)", o->qbytes, o->sbytes);
    else if (!fp8lab_copy_d2h(be, q, o->q[0], o->qbytes) &&
        (!o->sbytes || !fp8lab_copy_d2h(be, s, o->s[0], o->sbytes))) {
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

typedef struct {
    float *A, *B;   /* FP32 inputs */
    float *Av, *Bv; /* the values a recipe actually multiplied */
    float *D;       /* its output as floats */
    void *Dh;       /* its output as the device wrote it (the widest dtype any recipe writes) */
    double *t;      /* run times */
} host_bufs;

static void host_bufs_free(host_bufs *h) {
    free(h->A);
    free(h->B);
    free(h->Av);
    free(h->Bv);
    free(h->D);
    free(h->Dh);
    free(h->t);
}

/* Host bytes one shape needs: host_bufs, plus, when the device is the host (CPU backend), the operand copies,
   their widest quantized form (BF16), D and the CPU GEMM's decoded temporaries. */
static double shape_host_bytes(double na, double nb, double nd, double out_w, int is_cpu) {
    double h = 4 * (2 * na + 2 * nb + nd) + out_w * nd;
    if (is_cpu) h += ROT * (4 + 2) * (na + nb) + out_w * nd + 4 * (na + nb + nd);
    return h;
}

static int host_bufs_alloc(host_bufs *h, const char *what, size_t na, size_t nb, size_t nd, size_t out_w,
                           int iters) {
    return !(h->t = bench_malloc(what, "timings", sizeof(double) * (size_t)iters)) ||
           !(h->A = bench_malloc(what, "A", na * sizeof(float))) ||
           !(h->B = bench_malloc(what, "B", nb * sizeof(float))) ||
           !(h->Av = bench_malloc(what, "A values", na * sizeof(float))) ||
           !(h->Bv = bench_malloc(what, "B values", nb * sizeof(float))) ||
           !(h->D = bench_malloc(what, "D", nd * sizeof(float))) || !(h->Dh = bench_malloc(what, "D copy", nd * out_w));
}

/* normal inputs; every 1x128 row tile of A gets its own magnitude 2^[-4,4] so block scaling matters. One
   generator per tile, seeded from (seed, tile): the same inputs whatever the thread count, and the ~1e9
   samples of the GPU shape set take seconds instead of half a minute. */
static void fill_inputs(float *A, size_t na, float *B, size_t nb, double init_scale, unsigned seed) {
    const long ta = (long)(na / 128), tb = (long)(nb / 128);
#pragma omp parallel for schedule(static)
    for (long t = 0; t < ta + tb; t++) {
        fp8lab_rng rng;
        fp8lab_rng_seed(&rng, ((uint64_t)seed << 40) ^ (uint64_t)t);
        const double mag = t < ta ? ldexp(1.0, (int)(fp8lab_rng_u32(&rng) % 9) - 4) : 0.05;
        float *dst = t < ta ? A + (size_t)t * 128 : B + (size_t)(t - ta) * 128;
        for (int i = 0; i < 128; i++) dst[i] = (float)(init_scale * mag * fp8lab_rng_normal(&rng));
    }
}

/* Median milliseconds of `iters` runs after `warmup` (both bounded by their flags, so the sum fits an int).
   Returns 0, or 1 after a device failure. */
static int time_recipe(gemm_case *c, recipe_id r, int warmup, int iters, double *t, double *ms) {
    for (int i = 0; i < warmup + iters; i++) {
        fp8lab_sync(c->be);
        const double t0 = fp8lab_now();
        if (run_once(c, r, i % ROT) || fp8lab_sync(c->be)) return 1;
        if (i >= warmup) t[i - warmup] = fp8lab_now() - t0;
    }
    *ms = 1e3 * bench_median(t, iters);
    return 0;
}

/* Reads the last run's output back as floats, in the dtype recipe r wrote. */
static int read_output(const gemm_case *c, recipe_id r, host_bufs *h) {
    const fp8lab_out_dtype o = recipe_out(r, c->out);
    const size_t nd = (size_t)c->M * c->N;
    if (fp8lab_copy_d2h(c->be, h->Dh, c->d, nd * out_elem_bytes(o))) return 1;
    const float *f = h->Dh;
    const uint16_t *b = h->Dh;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < nd; i++) h->D[i] = o == FP8LAB_F32 ? f[i] : bf16_to_f32(b[i]);
    return 0;
}

typedef struct {
    const fp8lab_device_info *di;
    const int *want;
    fp8lab_out_dtype out;
    int warmup, iters;
    double init_scale;
    unsigned seed;
} gemm_opts;

/* Every wanted recipe on one shape of the prepared case. Returns 0, or 1 (device or memory failure) or 2 (bad
   input) with fp8lab_last_error() set. */
static int run_recipes(gemm_case *c, host_bufs *h, const gemm_opts *o, gemm_result *res, int *nres) {
    double fp32_ms = 0;
    int status = 0;
    for (int r = 0; r < R_COUNT && !status; r++) {
        if (!o->want[r]) continue;
        const recipe_id vr = operand_recipe((recipe_id)r);
        const int b_tiles = r == R_FP8_1x128;
        double ms = 0;
        status = operand_prepare(c->be, &c->a, vr, 1, c->M, c->K);
        if (!status) status = operand_prepare(c->be, &c->b, vr, b_tiles, c->N, c->K);
        if (!status)
            status = time_recipe(c, (recipe_id)r, o->warmup, o->iters, h->t, &ms) || read_output(c, (recipe_id)r, h);
        if (!status)
            status = operand_values(c->be, &c->a, vr, 1, c->M, c->K, h->A, h->Av) ||
                     operand_values(c->be, &c->b, vr, b_tiles, c->N, c->K, h->B, h->Bv);
        if (status) break;
        gemm_result *g = &res[(*nres)++];
        *g = (gemm_result){.sh = {c->M, c->N, c->K}, .r = (recipe_id)r, .ms = ms};
        g->tflops = 2.0 * c->M * c->N * c->K / (ms * 1e-3) / 1e12;
        const double peak = recipe_peak(o->di, (recipe_id)r);
        g->pct_peak = peak > 0 ? 100.0 * g->tflops / peak : NAN;
        g->rel_err = bench_rel_err_sampled(h->Av, h->Bv, h->D, c->M, c->N, c->K);
        g->quant_err = bench_rel_err_sampled(h->A, h->B, h->D, c->M, c->N, c->K);
        if (r == R_FP32) fp32_ms = ms;
        g->vs_fp32 = fp32_ms > 0 ? ms / fp32_ms : NAN;
        operand_free(c->be, &c->a);
        operand_free(c->be, &c->b);
    }
    return status;
}

/* Returns 0, 1 on a device or memory failure, 2 on bad input (e.g. non-finite data refused by a quantizer). */
static int bench_shape_recipes(fp8lab_backend *be, bench_shape sh, const gemm_opts *o, gemm_result *res, int *nres) {
    const int M = sh.m, N = sh.n, K = sh.k;
    /* sizes within BENCH_MAX_ELEMS (bench_parse_shapes): every product below fits size_t and double exactly */
    const size_t na = (size_t)M * K, nb = (size_t)N * K, nd = (size_t)M * N, out_w = widest_out(o->want, o->out);
    char what[96];
    snprintf(what, sizeof what, "bench gemm %dx%dx%d", M, N, K);
    host_bufs h = {0};
    gemm_case c = {.be = be, .M = M, .N = N, .K = K, .out = o->out};
    int status = 1;
    if (bench_host_mem_check(what, shape_host_bytes((double)na, (double)nb, (double)nd, (double)out_w,
                                                    !strcmp(be->name, "cpu"))) ||
        host_bufs_alloc(&h, what, na, nb, nd, out_w, o->iters))
        goto done;
    fill_inputs(h.A, na, h.B, nb, o->init_scale, o->seed);
    int ready = (c.d = fp8lab_alloc(be, nd * out_w)) != NULL;
    for (int k = 0; k < ROT && ready; k++)
        ready = (c.a.f[k] = fp8lab_alloc(be, na * sizeof(float))) &&
                (c.b.f[k] = fp8lab_alloc(be, nb * sizeof(float))) && !fp8lab_copy_h2d(be, c.a.f[k], h.A, na * 4) &&
                !fp8lab_copy_h2d(be, c.b.f[k], h.B, nb * 4);
    /* from here every failure has left its error with the library */
    status = ready ? run_recipes(&c, &h, o, res, nres) : 1;
    if (status) fprintf(stderr, "error: %s: %s\n", what, fp8lab_last_error());
done:
    operand_free(be, &c.a);
    operand_free(be, &c.b);
    for (int k = 0; k < ROT; k++) {
        fp8lab_free(be, c.a.f[k]);
        fp8lab_free(be, c.b.f[k]);
    }
    fp8lab_free(be, c.d);
    host_bufs_free(&h);
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
        cJSON_AddStringToObject(o, "out_dtype", recipe_out(g->r, out) == FP8LAB_F32 ? "f32" : "bf16");
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
    printf("fp8lab bench gemm: measured on %s (backend %s), %s, median of %d runs\n", di->name, backend,
           out == FP8LAB_F32 ? "FP32 output" : "BF16 output (FP32 for the fp32 baseline)", iters);
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

/* --recipe: "all" or a comma list, parsed whole (no length limit); empty lists and items are refused rather
   than read as "nothing asked", which used to run the FP32 baseline alone. 0, or -1 after printing an error. */
static int parse_recipes(const char *s, int *want) {
    static const char *expected = "expected all or a comma list of fp32, bf16, fp8-tensor, fp8-block, fp8-linear, "
                                  "fp8-1x128";
    if (!*s) {
        fprintf(stderr, "error: --recipe '': empty (%s)\n", expected);
        return -1;
    }
    int item = 1;
    for (const char *p = s;; item++) {
        const size_t len = strcspn(p, ",");
        int found = 0;
        if (!len) {
            fprintf(stderr, "error: --recipe '%s': empty item %d (%s)\n", s, item, expected);
            return -1;
        }
        for (int r = 0; r < R_COUNT; r++)
            if ((strlen(RECIPE[r]) == len && !strncmp(p, RECIPE[r], len)) || (len == 3 && !strncmp(p, "all", 3)))
                want[r] = found = 1;
        if (!found) {
            fprintf(stderr, "error: --recipe: unknown recipe '%.*s' (item %d; %s)\n", (int)len, p, item, expected);
            return -1;
        }
        if (!p[len]) return 0;
        p += len + 1;
    }
}

/* 2·M·N·K FLOP per run, over every run the command would make (recipes x (warmup + iters) x shapes): a typo in
   --iters or --shapes is refused instead of running for days. The default CUDA set is ~1.5e15. */
#define GEMM_MAX_FLOP 1e17

static int check_total_work(const bench_shape *sh, int nsh, const int *want, int warmup, int iters) {
    int nrec = 0;
    for (int r = 0; r < R_COUNT; r++) nrec += want[r];
    double flop = 0;
    for (int i = 0; i < nsh; i++) flop += 2.0 * sh[i].m * sh[i].n * sh[i].k;
    flop *= (double)nrec * (warmup + iters);
    if (flop <= GEMM_MAX_FLOP) return 0;
    fprintf(stderr, "error: --shapes/--iters/--warmup: total work %.3g FLOP (%d recipes x %d runs x shapes) is over "
                    "the limit of %.0e FLOP; lower --iters or the shapes\n", flop, nrec, warmup + iters, GEMM_MAX_FLOP);
    return -1;
}

int bench_gemm(int argc, char **argv) {
    const char *device = "auto", *shapes = NULL, *recipes = "all", *outs = "auto";
    int iters = 10, warmup = 2, json = 0, seed = 1;
    double init_scale = 1.0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"shapes", FLAG_STR, &shapes, "M,N,K[;M,N,K...]: up to 64 shapes, each value a multiple of 128 in [128, "
                                      "1048576], each of M*K, N*K, M*N at most 2^32 (default: gpu-facts table or CPU "
                                      "set)"},
        {"recipe", FLAG_STR, &recipes, "all or a comma list of fp32,bf16,fp8-tensor,fp8-block,fp8-linear,fp8-1x128"},
        {"out", FLAG_STR, &outs, "output dtype: f32 | bf16 | auto (bf16 on cuda, f32 on cpu; fp32 rows are FP32)"},
        {"iters", FLAG_INT, &iters, "timed runs per case (median reported; 2MNK x (warmup + iters) x recipes, "
                                    "summed over the shapes, must stay <= 1e17 FLOP)", FP8LAB_RANGE(1, 100000)},
        {"warmup", FLAG_INT, &warmup, "untimed runs first", FP8LAB_RANGE(0, 10000)},
        /* inputs stay finite and normal in FP32, BF16 and E4M3 (after scaling) for any K up to 2^20 */
        {"init-scale", FLAG_DOUBLE, &init_scale, "standard deviation multiplier of the random inputs",
         FP8LAB_RANGE(1e-6, 1e6)},
        {"seed", FLAG_INT, &seed, "random seed", FP8LAB_RANGE(0, 2147483647)},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    int rc = cli_parse("fp8lab bench gemm [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    int want[R_COUNT] = {0};
    if (parse_recipes(recipes, want)) return FP8LAB_EXIT_USAGE;
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
    if (nsh < 0 || check_total_work(sh, nsh, want, warmup, iters)) {
        fp8lab_backend_destroy(be);
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_out_dtype out = !strcmp(outs, "f32") || (!strcmp(outs, "auto") && is_cpu) ? FP8LAB_F32 : FP8LAB_BF16;
    fp8lab_device_info di;
    fp8lab_backend_info(be, &di);
    const gemm_opts o = {.di = &di, .want = want, .out = out, .warmup = warmup, .iters = iters,
                         .init_scale = init_scale, .seed = (unsigned)seed};
    gemm_result *res = bench_malloc("bench gemm", "results", sizeof *res * (size_t)nsh * R_COUNT);
    int nres = 0, status = res ? 0 : 1;
    for (int i = 0; i < nsh && !status; i++) {
        if (!json) fprintf(stderr, "bench gemm: %dx%dx%d ...\n", sh[i].m, sh[i].n, sh[i].k);
        status = bench_shape_recipes(be, sh[i], &o, res, &nres);
    }
    if (!status) {
        if (json) print_json(&di, be->name, out, res, nres);
        else print_table(&di, be->name, out, iters, res, nres);
    }
    free(res);
    fp8lab_backend_destroy(be);
    return status == 2 ? FP8LAB_EXIT_USAGE : status ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}
