/* The Linear's recipes (csrc/nn/linear.h) on the CPU backend, at sizes that fit every recipe's tiles and at
   sizes the FP8 recipes zero-pad (in, out and N not multiples of 16 or 128: 128 x 200 -> 72, 200 x 256 -> 128,
   B 3 x T 100 = 300 x 96 -> 288, GPT-2 1.5B's c_attn 40 x 1600 -> 4800):
   - every recipe's Fprop, Dgrad and Wgrad (with bias), both weight layouts, against the fp32 recipe: relative
     Frobenius error under the recipe's tolerance (TOL_* below, each about 3x what was measured at 256 x 256 ->
     384; the padded sizes measure the same; the errors are printed);
   - fp8-block, fp8-tensor and fp8-tensor-delayed (first call) equal an independent composition on the host
     (fp8/quant.h quantizers, dequantized, FP64 matmul; fp8-block on operands zero-padded on the host) within
     1e-5 (FP32 outputs): padding is exact; their default BF16 outputs are exactly those FP32 outputs rounded to
     BF16; accumulation (dx_accumulate, dW +=) adds exactly;
   - the transposed weight operand: quantize_128x128(W^T) is quantize_128x128(W) with its FP8 bytes and its
     scale grid transposed;
   - delayed scaling takes each call's scale from the history of the previous calls (length 2, and the default
     16);
   - each weight operand is made once per step (the context's counters), in the Linear and in the model;
     padding writes nothing at sizes that fit, and a repeated call writes only the padded tensors' interiors;
     padded scratch shared with a Linear of another shape leaves a Linear's outputs bit for bit the same;
   - every recipe on a model no FP8 tile fits (C 64, 9 tokens) stays within 2 % of fp32's loss; refusals: a
     Linear of size 0, a token count of 0, a non-fp32 Linear without a context;
   - a tiny GPT-2 (C 128, 2 layers, V 256, T 32, B 4) and a tiny Llama (GQA 8/4 heads), and the same with C 96,
     3 heads, ffn 200 at B 3 x T 25 (every FP8 dimension padded), trained 30 steps with each recipe reach a mean
     loss over the last 5 steps within 3 % of the fp32 recipe's, same seed and data (measured: within 0.1-1 %);
     each recipe's step time against fp32 is printed. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <omp.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"
#include "model/config.h"
#include "nn/linear.h"
#include "nn/model.h"
#include "model_fixture.h"

static fp8lab_backend *be;

/* Relative Frobenius error against the fp32 recipe, per recipe and tensor (measured, N 256, in 256, out 384;
   printed by test_recipes_vs_fp32): bf16 ~3e-3 everywhere; fp8-tensor y ~4e-2 (E4M3 x E4M3), dx ~7e-2
   and dW ~7e-2 (E5M2 gradients); fp8-block ~3e-2 (E4M3, fine scales). */
#define TOL_BF16 1e-2
#define TOL_FP8_E4M3 5e-2
#define TOL_FP8_E5M2 1e-1
#define TOL_COMPOSE 1e-5
#define LOSS_RTOL 0.03

enum { LN = 256, LI = 256, LO = 384 };

/* ---- helpers ----------------------------------------------------------------------------------------------- */

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) fail_msg("out of host memory");
    return p;
}

static float *gen(size_t n, double sd, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * fp8lab_rng_normal(&r));
    return x;
}

/* activations with a spread of row magnitudes and a few outlier channels: what fine-grained scaling is for */
static float *gen_act(int rows, int cols, double sd, uint64_t seed) {
    float *x = gen((size_t)rows * cols, sd, seed);
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed ^ 0xABCDEF);
    for (int i = 0; i < rows; i++) {
        const double rs = exp(fp8lab_rng_normal(&r));
        for (int j = 0; j < cols; j++) x[(size_t)i * cols + j] *= (float)(rs * (j % 61 == 0 ? 8.0 : 1.0));
    }
    return x;
}

static float *up(const float *h, size_t n) {
    float *d = fp8lab_alloc(be, sizeof(float) * n);
    assert_non_null(d);
    assert_int_equal(fp8lab_copy_h2d(be, d, h, sizeof(float) * n), 0);
    return d;
}

static float *zeros(size_t n) {
    float *d = fp8lab_alloc(be, sizeof(float) * n);
    assert_non_null(d);
    assert_int_equal(fp8lab_memset0(be, d, sizeof(float) * n), 0);
    return d;
}

static float *down(const float *d, size_t n) {
    float *h = xmalloc(sizeof(float) * n);
    assert_int_equal(fp8lab_copy_d2h(be, h, d, sizeof(float) * n), 0);
    return h;
}

static double rel_f(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static double rel_d(const float *a, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - ref[i];
        num += d * d;
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static float *transpose_h(const float *x, int rows, int cols) {
    float *y = xmalloc(sizeof(float) * (size_t)rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) y[(size_t)c * rows + r] = x[(size_t)r * cols + c];
    return y;
}

/* One Linear's inputs (host) and outputs (host, after a run): N tokens, In in, Out out; w is stored as the layout
   says. */
typedef struct {
    fp8lab_wlayout layout;
    int N, In, Out;
    float *x, *w, *b, *dy;
} lin_in;

typedef struct {
    float *y, *dx, *dw, *db;
} lin_out;

static lin_in make_in_shape(int N, int In, int Out, fp8lab_wlayout layout, uint64_t seed) {
    lin_in in = {layout, N, In, Out, gen_act(N, In, 1.0, seed), gen((size_t)In * Out, 0.05, seed + 1),
                 gen(Out, 0.1, seed + 2), gen_act(N, Out, 1e-3, seed + 3)};
    return in;
}

static lin_in make_in(fp8lab_wlayout layout, uint64_t seed) { return make_in_shape(LN, LI, LO, layout, seed); }

static void free_in(lin_in *in) {
    free(in->x);
    free(in->w);
    free(in->b);
    free(in->dy);
}

static void free_out(lin_out *o) {
    free(o->y);
    free(o->dx);
    free(o->dw);
    free(o->db);
}

/* fwd + bwd once (twice with `twice`: the second bwd accumulates dx and dW, db). bias: with b/db. */
static lin_out run_linear(fp8lab_recipe r, fp8lab_linear_ctx *ctx, const lin_in *in, int bias, int twice) {
    const int N = in->N, In = in->In, Out = in->Out;
    const fp8lab_linear l = {In, Out, in->layout, r, ctx};
    float *x = up(in->x, (size_t)N * In), *w = up(in->w, (size_t)In * Out), *b = bias ? up(in->b, Out) : NULL,
          *dy = up(in->dy, (size_t)N * Out), *y = zeros((size_t)N * Out), *dx = zeros((size_t)N * In),
          *dw = zeros((size_t)In * Out), *db = bias ? zeros(Out) : NULL;
    if (fp8lab_linear_fwd(be, &l, y, x, w, b, N)) fail_msg("fwd %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    if (fp8lab_linear_bwd(be, &l, dx, 0, dw, db, dy, x, w, N))
        fail_msg("bwd %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    if (twice && fp8lab_linear_bwd(be, &l, dx, 1, dw, db, dy, x, w, N))
        fail_msg("bwd 2 %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    lin_out o = {down(y, (size_t)N * Out), down(dx, (size_t)N * In), down(dw, (size_t)In * Out),
                 bias ? down(db, Out) : NULL};
    float *ptrs[] = {x, w, b, dy, y, dx, dw, db};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) fp8lab_free(be, ptrs[i]);
    return o;
}

/* ---- every recipe against fp32 -------------------------------------------------------------------------------- */

/* (N, in, out): aligned; columns only (in, out not multiples of 16 or 128); rows only (N); everything, at B = 3,
   T = 100 with a 96-wide model's c_attn; GPT-2 1.5B's c_attn at a small N. */
static const struct {
    int N, In, Out;
} SHAPES[] = {{LN, LI, LO}, {128, 200, 72}, {200, 256, 128}, {300, 96, 288}, {40, 1600, 4800}};
#define NSHAPES (sizeof SHAPES / sizeof SHAPES[0])

static void test_recipes_vs_fp32(void **st) {
    (void)st;
    static const struct {
        fp8lab_recipe r;
        double tol_y, tol_dx, tol_dw;
    } R[] = {
        {FP8LAB_RECIPE_BF16, TOL_BF16, TOL_BF16, TOL_BF16},
        {FP8LAB_RECIPE_FP8_TENSOR, TOL_FP8_E4M3, TOL_FP8_E5M2, TOL_FP8_E5M2},
        {FP8LAB_RECIPE_FP8_TENSOR_DELAYED, TOL_FP8_E4M3, TOL_FP8_E5M2, TOL_FP8_E5M2},
        {FP8LAB_RECIPE_FP8_BLOCK, TOL_FP8_E4M3, TOL_FP8_E4M3, TOL_FP8_E4M3},
    };
    int failed = 0;
    for (size_t sh = 0; sh < NSHAPES; sh++)
        for (int lay = 0; lay < 2; lay++) {
            const int N = SHAPES[sh].N, In = SHAPES[sh].In, Out = SHAPES[sh].Out;
            const fp8lab_wlayout wl = lay ? FP8LAB_W_IN_OUT : FP8LAB_W_OUT_IN;
            lin_in in = make_in_shape(N, In, Out, wl, 100 + (uint64_t)lay + 10 * sh);
            lin_out ref = run_linear(FP8LAB_RECIPE_FP32, NULL, &in, 1, 0);
            for (size_t k = 0; k < sizeof R / sizeof R[0]; k++) {
                fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
                assert_non_null(c);
                lin_out o = run_linear(R[k].r, c, &in, 1, 0);
                const double ey = rel_f(o.y, ref.y, (size_t)N * Out), edx = rel_f(o.dx, ref.dx, (size_t)N * In),
                             edw = rel_f(o.dw, ref.dw, (size_t)In * Out), edb = rel_f(o.db, ref.db, Out);
                const int ok = ey <= R[k].tol_y && edx <= R[k].tol_dx && edw <= R[k].tol_dw && edb <= 1e-6;
                printf("%-19s N %3d %4d -> %4d %s  y %.2e (tol %.0e)  dx %.2e (tol %.0e)  dW %.2e (tol %.0e)  "
                       "db %.1e  %s\n",
                       fp8lab_recipe_name(R[k].r), N, In, Out, lay ? "W[in][out]" : "W[out][in]", ey, R[k].tol_y, edx,
                       R[k].tol_dx, edw, R[k].tol_dw, edb, ok ? "PASS" : "FAIL");
                failed += !ok;
                free_out(&o);
                fp8lab_linear_ctx_destroy(c);
            }
            free_out(&ref);
            free_in(&in);
        }
    fflush(stdout);
    assert_int_equal(failed, 0);
}

/* ---- the FP8 recipes against an independent composition ----------------------------------------------------- */

/* x[rows][cols] through fp8/quant.h's 1x128 quantizer, dequantized */
static double *deq_1x128(const float *x, int rows, int cols) {
    uint8_t *q = xmalloc((size_t)rows * cols);
    float *s = xmalloc(sizeof(float) * (size_t)rows * (cols / 128));
    assert_int_equal(fp8_quantize_1x128(x, rows, cols, FP8_E4M3, 0, q, s), 0);
    double *d = xmalloc(sizeof(double) * (size_t)rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            d[(size_t)r * cols + c] =
                (double)fp8_decode(FP8_E4M3, q[(size_t)r * cols + c]) * s[(size_t)r * (cols / 128) + c / 128];
    free(q);
    free(s);
    return d;
}

static double *deq_128x128(const float *x, int rows, int cols) {
    uint8_t *q = xmalloc((size_t)rows * cols);
    float *s = xmalloc(sizeof(float) * (size_t)(rows / 128) * (cols / 128));
    assert_int_equal(fp8_quantize_128x128(x, rows, cols, FP8_E4M3, 0, q, s), 0);
    double *d = xmalloc(sizeof(double) * (size_t)rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            d[(size_t)r * cols + c] = (double)fp8_decode(FP8_E4M3, q[(size_t)r * cols + c]) *
                                      s[(size_t)(r / 128) * (cols / 128) + c / 128];
    free(q);
    free(s);
    return d;
}

/* x[n] through fp8/quant.h's per-tensor quantizer (current scaling), dequantized; no padding at all */
static double *deq_tensor(const float *x, size_t n, int fmt) {
    uint8_t *q = xmalloc(n);
    float s;
    assert_int_equal(fp8_quantize_tensor(x, (long)n, fmt, 0, q, &s), 0);
    double *d = xmalloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = (double)fp8_decode(fmt, q[i]) * s;
    free(q);
    return d;
}

/* x[rows][cols] inside zeros, [rp][cp] */
static float *pad_h(const float *x, int rows, int cols, int rp, int cp) {
    float *y = calloc((size_t)rp * cp, sizeof(float));
    if (!y) fail_msg("out of host memory");
    for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * cp, x + (size_t)r * cols, sizeof(float) * (size_t)cols);
    return y;
}

/* quantize_1x128 or _128x128 of x[rows][cols] zero-padded to multiples of 128, dequantized ([rp][cp]) */
static double *deq_block_padded(const float *x, int rows, int cols, int blk128) {
    const int rp = (rows + 127) / 128 * 128, cp = (cols + 127) / 128 * 128;
    float *p = pad_h(x, rows, cols, rp, cp);
    double *d = blk128 ? deq_128x128(p, rp, cp) : deq_1x128(p, rp, cp);
    free(p);
    return d;
}

/* D[M][N] = A[M][K] . B[N][K]^T in FP64, A and B with row strides lda, ldb (>= K) */
static double *mm_nt(const double *a, int lda, const double *b, int ldb, int M, int N, int K) {
    double *d = xmalloc(sizeof(double) * (size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += a[(size_t)i * lda + k] * b[(size_t)j * ldb + k];
            d[(size_t)i * N + j] = s;
        }
    return d;
}

/* The recipe's y (with bias), dx and dW as the host composes them in FP64 from fp8/quant.h's quantizers:
   fp8-block on operands zero-padded to multiples of 128 (each GEMM's K is then a padded dimension), fp8-tensor
   with whole-tensor scales on the unpadded operands (E4M3 x and W, E5M2 dy). */
static void compose(fp8lab_recipe r, const lin_in *in, double **y, double **dx, double **dw) {
    const int N = in->N, In = in->In, Out = in->Out, lay = in->layout == FP8LAB_W_IN_OUT;
    const int Np = (N + 127) / 128 * 128, Inp = (In + 127) / 128 * 128, Outp = (Out + 127) / 128 * 128;
    /* Wo [out][in], Wi [in][out]; dy^T, x^T */
    float *wo = lay ? transpose_h(in->w, In, Out) : in->w, *wi = lay ? in->w : transpose_h(in->w, Out, In);
    float *dyt = transpose_h(in->dy, N, Out), *xt = transpose_h(in->x, N, In);
    double *dwoi;
    if (r == FP8LAB_RECIPE_FP8_BLOCK) {
        double *xq = deq_block_padded(in->x, N, In, 0), *woq = deq_block_padded(wo, Out, In, 1),
               *dyq = deq_block_padded(in->dy, N, Out, 0), *wiq = deq_block_padded(wi, In, Out, 1),
               *dytq = deq_block_padded(dyt, Out, N, 0), *xtq = deq_block_padded(xt, In, N, 0);
        *y = mm_nt(xq, Inp, woq, Inp, N, Out, Inp);
        *dx = mm_nt(dyq, Outp, wiq, Outp, N, In, Outp);
        dwoi = mm_nt(dytq, Np, xtq, Np, Out, In, Np);
        free(xq), free(woq), free(dyq), free(wiq), free(dytq), free(xtq);
    } else {
        double *xq = deq_tensor(in->x, (size_t)N * In, FP8_E4M3), *woq = deq_tensor(wo, (size_t)Out * In, FP8_E4M3),
               *dyq = deq_tensor(in->dy, (size_t)N * Out, FP8_E5M2), *wiq = deq_tensor(wi, (size_t)Out * In, FP8_E4M3),
               *dytq = deq_tensor(dyt, (size_t)N * Out, FP8_E5M2), *xtq = deq_tensor(xt, (size_t)N * In, FP8_E4M3);
        *y = mm_nt(xq, In, woq, In, N, Out, In);
        *dx = mm_nt(dyq, Out, wiq, Out, N, In, Out);
        dwoi = mm_nt(dytq, N, xtq, N, Out, In, N);
        free(xq), free(woq), free(dyq), free(wiq), free(dytq), free(xtq);
    }
    for (int n = 0; n < N; n++)
        for (int o = 0; o < Out; o++) (*y)[(size_t)n * Out + o] += in->b[o];
    *dw = dwoi;
    if (lay) { /* dW[in][out] */
        *dw = xmalloc(sizeof(double) * (size_t)In * Out);
        for (int o = 0; o < Out; o++)
            for (int i = 0; i < In; i++) (*dw)[(size_t)i * Out + o] = dwoi[(size_t)o * In + i];
        free(dwoi);
        free(wo);
    } else {
        free(wi);
    }
    free(dyt), free(xt);
}

/* fp8-block, fp8-tensor and the first call of fp8-tensor-delayed (its scales then are the tensors' own) equal
   the host composition within TOL_COMPOSE (FP32 outputs), on every shape but the largest (FP64 loops); padding
   is exact. Their default BF16 outputs are those FP32 outputs rounded, and a second backward adds exactly. */
static void test_composition(void **st) {
    (void)st;
    const fp8lab_linear_opts f32 = {.out_f32 = 1};
    static const fp8lab_recipe R[] = {FP8LAB_RECIPE_FP8_BLOCK, FP8LAB_RECIPE_FP8_TENSOR,
                                      FP8LAB_RECIPE_FP8_TENSOR_DELAYED};
    for (size_t sh = 0; sh + 1 < NSHAPES; sh++)
        for (int lay = 0; lay < 2; lay++) {
            const int N = SHAPES[sh].N, In = SHAPES[sh].In, Out = SHAPES[sh].Out;
            const fp8lab_wlayout wl = lay ? FP8LAB_W_IN_OUT : FP8LAB_W_OUT_IN;
            lin_in in = make_in_shape(N, In, Out, wl, 200 + (uint64_t)lay + 10 * sh);
            for (size_t k = 0; k < sizeof R / sizeof R[0]; k++) {
                double *y, *dx, *dw;
                compose(R[k] == FP8LAB_RECIPE_FP8_BLOCK ? R[k] : FP8LAB_RECIPE_FP8_TENSOR, &in, &y, &dx, &dw);
                fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, &f32), *cb = fp8lab_linear_ctx_create(be, NULL);
                assert_non_null(c);
                assert_non_null(cb);
                lin_out o = run_linear(R[k], c, &in, 1, 0);
                const double ey = rel_d(o.y, y, (size_t)N * Out), edx = rel_d(o.dx, dx, (size_t)N * In),
                             edw = rel_d(o.dw, dw, (size_t)In * Out);
                printf("%-19s vs host composition, N %3d %4d -> %4d %s: y %.2e dx %.2e dW %.2e (tol %.0e)\n",
                       fp8lab_recipe_name(R[k]), N, In, Out, lay ? "W[in][out]" : "W[out][in]", ey, edx, edw,
                       TOL_COMPOSE);
                assert_true(ey <= TOL_COMPOSE && edx <= TOL_COMPOSE && edw <= TOL_COMPOSE);
                /* default BF16 outputs: the FP32 outputs rounded (no bias, which is added in FP32 after); each
                   context's first call, so the delayed recipe's scales are the ones composed */
                fp8lab_linear_ctx_destroy(c);
                c = fp8lab_linear_ctx_create(be, &f32);
                assert_non_null(c);
                lin_out of = run_linear(R[k], c, &in, 0, 0), ob = run_linear(R[k], cb, &in, 0, 1);
                long bad = 0;
                for (size_t i = 0; i < (size_t)N * Out; i++) bad += ob.y[i] != bf16_to_f32(bf16_from_f32(of.y[i]));
                if (R[k] != FP8LAB_RECIPE_FP8_TENSOR_DELAYED) /* its second backward has new scales */
                    for (size_t i = 0; i < (size_t)N * In; i++) /* ob ran bwd twice: dx accumulated onto itself */
                        bad += ob.dx[i] != 2.0f * bf16_to_f32(bf16_from_f32(of.dx[i]));
                if (R[k] != FP8LAB_RECIPE_FP8_TENSOR_DELAYED)
                    for (size_t i = 0; i < (size_t)In * Out; i++) bad += ob.dw[i] != 2.0f * of.dw[i];
                assert_int_equal(bad, 0);
                free_out(&o);
                free_out(&of);
                free_out(&ob);
                fp8lab_linear_ctx_destroy(c);
                fp8lab_linear_ctx_destroy(cb);
                free(y), free(dx), free(dw);
            }
            free_in(&in);
        }
}

/* quantize_128x128(W^T) = quantize_128x128(W) transposed, bytes and scale grid (the backend's layout) */
static void test_transposed_weight_operand(void **st) {
    (void)st;
    enum { R = 384, C = 256 };
    float *wh = gen((size_t)R * C, 0.05, 7);
    wh[5] = 3.0f; /* one block with a large amax */
    float *w = up(wh, (size_t)R * C), *wt = zeros((size_t)R * C);
    assert_int_equal(fp8lab_transpose_f32(be, w, R, C, wt), 0);
    float *wth = down(wt, (size_t)R * C);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) assert_true(wth[(size_t)c * R + r] == wh[(size_t)r * C + c]);
    const size_t ns = fp8lab_scale_128x128_count(R, C), nst = fp8lab_scale_128x128_count(C, R);
    uint8_t *q = fp8lab_alloc(be, (size_t)R * C), *qt = fp8lab_alloc(be, (size_t)R * C);
    float *s = fp8lab_alloc(be, sizeof(float) * ns), *stt = fp8lab_alloc(be, sizeof(float) * nst);
    assert_int_equal(fp8lab_quantize_128x128(be, w, R, C, FP8_E4M3, 0, q, s), 0);
    assert_int_equal(fp8lab_quantize_128x128(be, wt, C, R, FP8_E4M3, 0, qt, stt), 0);
    uint8_t *hq = xmalloc((size_t)R * C), *hqt = xmalloc((size_t)R * C);
    float *hs = xmalloc(sizeof(float) * ns), *hst = xmalloc(sizeof(float) * nst);
    assert_int_equal(fp8lab_copy_d2h(be, hq, q, (size_t)R * C), 0);
    assert_int_equal(fp8lab_copy_d2h(be, hqt, qt, (size_t)R * C), 0);
    assert_int_equal(fp8lab_copy_d2h(be, hs, s, sizeof(float) * ns), 0);
    assert_int_equal(fp8lab_copy_d2h(be, hst, stt, sizeof(float) * nst), 0);
    long bad = 0;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) bad += hqt[(size_t)c * R + r] != hq[(size_t)r * C + c];
    for (int rb = 0; rb < R / 128; rb++)
        for (int cb = 0; cb < C / 128; cb++)
            bad += hst[fp8lab_scale_128x128_tile((size_t)cb, (size_t)rb, (size_t)fp8lab_blk_scale_ld(R))] !=
                   hs[fp8lab_scale_128x128_tile((size_t)rb, (size_t)cb, (size_t)fp8lab_blk_scale_ld(C))];
    assert_int_equal(bad, 0);
    fp8lab_free(be, w), fp8lab_free(be, wt), fp8lab_free(be, q), fp8lab_free(be, qt), fp8lab_free(be, s);
    fp8lab_free(be, stt);
    free(wh), free(wth), free(hq), free(hqt), free(hs), free(hst);
}

/* ---- delayed scaling ------------------------------------------------------------------------------------------ */

static float amax_h(const float *x, size_t n) {
    float a = 0;
    for (size_t i = 0; i < n; i++) a = fmaxf(a, fabsf(x[i]));
    return a;
}

/* forward with x times `mul`; returns the scale_inv used for x */
static float delayed_fwd(fp8lab_linear_ctx *c, const lin_in *in, float *xd, float *wd, float *yd, float mul) {
    const size_t n = (size_t)LN * LI;
    float *xs = xmalloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) xs[i] = in->x[i] * mul;
    assert_int_equal(fp8lab_copy_h2d(be, xd, xs, sizeof(float) * n), 0);
    free(xs);
    const fp8lab_linear l = {LI, LO, in->layout, FP8LAB_RECIPE_FP8_TENSOR_DELAYED, c};
    if (fp8lab_linear_fwd(be, &l, yd, xd, wd, NULL, LN)) fail_msg("%s", fp8lab_last_error());
    float sx, sw, sdy;
    assert_int_equal(fp8lab_linear_ctx_scales(c, wd, &sx, &sw, &sdy), 0);
    return sx;
}

static void test_delayed_history(void **st) {
    (void)st;
    lin_in in = make_in(FP8LAB_W_OUT_IN, 300);
    const float a = amax_h(in.x, (size_t)LN * LI);
    const float s1 = fp8_scale_inv_from_amax(a, FP8_E4M3, 0), s10 = fp8_scale_inv_from_amax(10 * a, FP8_E4M3, 0);
    float *xd = zeros((size_t)LN * LI), *wd = up(in.w, (size_t)LI * LO), *yd = zeros((size_t)LN * LO);
    /* history of length 2: calls x, 10x, x, x, x use the amaxes a (its own: empty history), a, 10a, 10a, a */
    const fp8lab_linear_opts o2 = {.amax_history = 2};
    fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, &o2);
    assert_non_null(c);
    const float mul[5] = {1, 10, 1, 1, 1}, want[5] = {s1, s1, s10, s10, s1};
    for (int k = 0; k < 5; k++) {
        const float s = delayed_fwd(c, &in, xd, wd, yd, mul[k]);
        printf("delayed, history 2: call %d (x * %g) scale_inv %.6g (want %.6g)\n", k + 1, (double)mul[k],
               (double)s, (double)want[k]);
        assert_true(s == want[k]);
    }
    /* the second call saturated: its largest output is far below 10x the first call's */
    fp8lab_linear_ctx_destroy(c);
    /* the default history (16): 10a, pushed by call 2, is the scale through call 18 and gone at call 19 */
    c = fp8lab_linear_ctx_create(be, NULL);
    assert_non_null(c);
    for (int k = 1; k <= 19; k++) {
        const float s = delayed_fwd(c, &in, xd, wd, yd, k == 2 ? 10.0f : 1.0f);
        const float w = k <= 2 ? s1 : k <= 18 ? s10 : s1;
        if (s != w) fail_msg("default history: call %d scale_inv %g, want %g", k, (double)s, (double)w);
    }
    fp8lab_linear_ctx_destroy(c);
    /* a bad history length is refused */
    const fp8lab_linear_opts bad = {.amax_history = FP8LAB_AMAX_HISTORY_MAX + 1};
    assert_null(fp8lab_linear_ctx_create(be, &bad));
    assert_non_null(strstr(fp8lab_last_error(), "amax history"));
    fp8lab_free(be, xd), fp8lab_free(be, wd), fp8lab_free(be, yd);
    free_in(&in);
}

/* ---- once per step -------------------------------------------------------------------------------------------- */

/* Each weight operand once per step, aligned or padded. What padding writes (stats.pad_bytes): nothing when every
   dimension is a multiple of the recipe's (256 x 256 -> 384 for all; 48 x 208 -> 80 for fp8-tensor*, which pads
   to 16 only); at 100 x 200 -> 72, a repeated call (weights cached, padded slots holding their geometry) writes
   only the interiors: each padded input copied once (x twice for fp8-block, FP32; the per-tensor recipes copy
   x, dy, x^T and dy^T as FP8 bytes) and each output with padded columns copied back (BF16 y and dx, FP32 dW). */
static void test_weight_once_per_step(void **st) {
    (void)st;
    static const struct {
        int N, In, Out;
    } SH[] = {{LN, LI, LO}, {48, 208, 80}, {100, 200, 72}};
    for (size_t sh = 0; sh < sizeof SH / sizeof SH[0]; sh++)
        for (int r = FP8LAB_RECIPE_BF16; r < FP8LAB_RECIPE_COUNT; r++) {
            const int N = SH[sh].N, In = SH[sh].In, Out = SH[sh].Out, m = fp8lab_recipe_pad_multiple((fp8lab_recipe)r);
            const int aligned = N % m == 0 && In % m == 0 && Out % m == 0;
            lin_in in = make_in_shape(N, In, Out, FP8LAB_W_IN_OUT, 400);
            fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
            assert_non_null(c);
            const fp8lab_linear l = {In, Out, in.layout, (fp8lab_recipe)r, c};
            float *x = up(in.x, (size_t)N * In), *w = up(in.w, (size_t)In * Out), *dy = up(in.dy, (size_t)N * Out),
                  *y = zeros((size_t)N * Out), *dx = zeros((size_t)N * In), *dw = zeros((size_t)In * Out);
            fp8lab_linear_stats s;
            long pad[3] = {0}, before = 0;
            for (int step = 0; step < 2; step++) {
                for (int micro = 0; micro < 3; micro++) {
                    assert_int_equal(fp8lab_linear_fwd(be, &l, y, x, w, NULL, N), 0);
                    assert_int_equal(fp8lab_linear_bwd(be, &l, dx, 0, dw, NULL, dy, x, w, N), 0);
                    fp8lab_linear_ctx_stats(c, &s);
                    if (step == 0) pad[micro] = s.pad_bytes - before;
                    before = s.pad_bytes;
                }
                fp8lab_linear_ctx_stats(c, &s);
                /* Wo and Wi once per step; the other 4 of 6 GEMM uses reuse them */
                assert_int_equal(s.weight_quants, 2 * (step + 1));
                assert_int_equal(s.weight_reuses, 4 * (step + 1));
                fp8lab_linear_ctx_invalidate(c);
            }
            const long nx = (long)N * In, ndy = (long)N * Out, nw = (long)In * Out;
            const long want = aligned ? 0
                              : r == FP8LAB_RECIPE_FP8_BLOCK ? 4 * (2 * nx + ndy) + 2 * (ndy + nx) + 4 * nw
                                                             : (2 * nx + 2 * ndy) + 2 * (ndy + nx) + 4 * nw;
            printf("%-19s %3d x %3d -> %3d: padding wrote %ld, %ld, %ld bytes in the first 3 calls (repeat: want "
                   "%ld)\n",
                   fp8lab_recipe_name((fp8lab_recipe)r), N, In, Out, pad[0], pad[1], pad[2], want);
            if (r == FP8LAB_RECIPE_BF16 || aligned) assert_true(pad[0] == 0 && pad[1] == 0 && s.pad_bytes == 0);
            else assert_true(pad[0] > pad[1] && pad[1] == want && pad[2] == want);
            fp8lab_free(be, x), fp8lab_free(be, w), fp8lab_free(be, dy), fp8lab_free(be, y), fp8lab_free(be, dx);
            fp8lab_free(be, dw);
            fp8lab_linear_ctx_destroy(c);
            free_in(&in);
        }
}

/* Padded scratch shared by Linears of other shapes keeps no stale values: A, then B (another shape, same
   context), then A again gives A's outputs bit for bit (fp8-tensor, fp8-block; both weight layouts). */
static void test_padding_shared_scratch(void **st) {
    (void)st;
    static const fp8lab_recipe R[] = {FP8LAB_RECIPE_FP8_TENSOR, FP8LAB_RECIPE_FP8_BLOCK};
    for (size_t k = 0; k < sizeof R / sizeof R[0]; k++)
        for (int lay = 0; lay < 2; lay++) {
            const fp8lab_wlayout wl = lay ? FP8LAB_W_IN_OUT : FP8LAB_W_OUT_IN;
            lin_in a = make_in_shape(100, 200, 72, wl, 500), b = make_in_shape(300, 96, 288, wl, 501);
            fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
            assert_non_null(c);
            lin_out a1 = run_linear(R[k], c, &a, 1, 0), b1 = run_linear(R[k], c, &b, 1, 0),
                    a2 = run_linear(R[k], c, &a, 1, 0);
            assert_memory_equal(a1.y, a2.y, sizeof(float) * 100 * 72);
            assert_memory_equal(a1.dx, a2.dx, sizeof(float) * 100 * 200);
            assert_memory_equal(a1.dw, a2.dw, sizeof(float) * 200 * 72);
            free_out(&a1), free_out(&b1), free_out(&a2);
            fp8lab_linear_ctx_destroy(c);
            free_in(&a), free_in(&b);
        }
}

/* ---- the model ------------------------------------------------------------------------------------------------ */

static const char GPT2_128[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 128, \"n_layer\": 2, "
                               "\"n_head\": 4, \"n_positions\": 32}";
static const char GPT2_ODD[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, "
                               "\"n_head\": 4, \"n_positions\": 16, \"n_inner\": 72}";
static const char GPT2_64[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 64, \"n_layer\": 1, "
                              "\"n_head\": 4, \"n_positions\": 16}";
static const char GPT2_96[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 96, \"n_layer\": 2, "
                              "\"n_head\": 3, \"n_positions\": 32, \"n_inner\": 200}";
static const char LLAMA_96[] = "{\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 96, "
                               "\"intermediate_size\": 200, \"num_hidden_layers\": 2, \"num_attention_heads\": 3, "
                               "\"num_key_value_heads\": 1, \"max_position_embeddings\": 64}";
static const char LLAMA_128[] = "{\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 128, "
                                "\"intermediate_size\": 256, \"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"head_dim\": 32, "
                                "\"num_key_value_heads\": 4, \"max_position_embeddings\": 64}";

static fp8lab_gpt *create(const char *json, uint64_t seed) { return fixture_gpt(be, json, seed); }

/* learnable data: mostly tok[t+1] = (5 tok[t] + 3) mod V, one position in 8 random */
static void batch(int32_t *tok, int32_t *tgt, int B, int T, int V, fp8lab_rng *r) {
    for (int b = 0; b < B; b++) {
        int32_t t0 = (int32_t)(fp8lab_rng_u32(r) % (uint32_t)V);
        for (int t = 0; t <= T; t++) {
            const int32_t nx = fp8lab_rng_u32(r) % 8 == 0 ? (int32_t)(fp8lab_rng_u32(r) % (uint32_t)V)
                                                         : (int32_t)((5 * t0 + 3) % V);
            if (t < T) tok[b * T + t] = t0;
            if (t > 0) tgt[b * T + t - 1] = t0;
            t0 = nx;
        }
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { TB = 4, TT = 32, TSTEPS = 30 };

/* 30 steps of B x T tokens; returns the mean loss of the last 5; *sec the time of the steps after the first */
static double train_bt(const char *json, fp8lab_recipe r, int B, int T, double *sec) {
    fp8lab_gpt *g = create(json, 42);
    if (fp8lab_gpt_set_recipe(g, r)) fail_msg("set_recipe %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    const int V = (int)fp8lab_gpt_config(g)->vocab;
    int32_t tok[TB * TT], tgt[TB * TT];
    if (B * T > TB * TT) fail_msg("train: B*T = %d over %d", B * T, TB * TT);
    fp8lab_rng rng;
    fp8lab_rng_seed(&rng, 7);
    fp8lab_adamw_args a = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                           .grad_scale = 1, .moments = FP8LAB_MOMENTS_F32};
    double tail = 0, t0 = 0;
    float first = 0;
    for (int s = 1; s <= TSTEPS; s++) {
        if (s == 2) t0 = now_s();
        batch(tok, tgt, B, T, V, &rng);
        float loss, norm;
        a.step = s;
        if (fp8lab_gpt_zero_grad(g) || fp8lab_gpt_forward(g, tok, tgt, B, T, &loss) || fp8lab_gpt_backward(g) ||
            fp8lab_gpt_step(g, &a, 1.0f, &norm) != 0)
            fail_msg("step %d (%s): %s", s, fp8lab_recipe_name(r), fp8lab_last_error());
        if (s == 1) first = loss;
        if (s > TSTEPS - 5) tail += loss / 5.0;
    }
    *sec = (now_s() - t0) / (TSTEPS - 1);
    printf("%-7s C %3ld B*T %3d %-19s loss %.4f -> %.4f (last 5 steps), %.2f ms/step\n",
           fp8lab_gpt_config(g)->model_type, (long)fp8lab_gpt_config(g)->hidden, B * T, fp8lab_recipe_name(r),
           (double)first, tail, 1e3 * *sec);
    fp8lab_gpt_destroy(g);
    return tail;
}

static void test_model_training(void **st) {
    (void)st;
    /* 128-wide models at B*T 128, and models no FP8 dimension fits (C 96 with 3 heads, c_attn 288, ffn 200) at
       B 3 x T 25 = 75 tokens */
    static const struct {
        const char *json;
        int B, T;
    } models[] = {{GPT2_128, TB, TT}, {LLAMA_128, TB, TT}, {GPT2_96, 3, 25}, {LLAMA_96, 3, 25}};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        double t32, t;
        const double ref = train_bt(models[m].json, FP8LAB_RECIPE_FP32, models[m].B, models[m].T, &t32);
        for (int r = FP8LAB_RECIPE_BF16; r < FP8LAB_RECIPE_COUNT; r++) {
            const double l = train_bt(models[m].json, (fp8lab_recipe)r, models[m].B, models[m].T, &t);
            printf("        %-19s final loss / fp32 = %.4f (within %.0f %%), step time / fp32 = %.2f\n",
                   fp8lab_recipe_name((fp8lab_recipe)r), l / ref, 100 * LOSS_RTOL, t / t32);
            assert_true(fabs(l / ref - 1) <= LOSS_RTOL);
        }
    }
    fflush(stdout);
}

static void test_model_once_per_step(void **st) {
    (void)st;
    fp8lab_gpt *g = create(GPT2_128, 3);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP8_BLOCK), 0);
    fp8lab_linear_ctx *c = fp8lab_gpt_linear_ctx(g);
    assert_non_null(c);
    int32_t tok[TB * TT], tgt[TB * TT];
    fp8lab_rng rng;
    fp8lab_rng_seed(&rng, 1);
    fp8lab_adamw_args a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 0.5f};
    fp8lab_linear_stats s;
    /* 2 layers x 4 Linears, and the output head (BF16 under the non-fp32 recipes, model.c): Wo and Wi of each */
    const long linears = 2 * 4 + 1, per_step = linears * 2;
    for (int step = 1; step <= 2; step++) {
        for (int micro = 0; micro < 2; micro++) {
            batch(tok, tgt, TB, TT, 256, &rng);
            float loss;
            assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, TB, TT, &loss), 0);
            assert_int_equal(fp8lab_gpt_backward(g), 0);
        }
        fp8lab_linear_ctx_stats(c, &s);
        assert_int_equal(s.weight_quants, per_step * step);
        assert_int_equal(s.weight_reuses, per_step * step);
        a.step = step;
        assert_int_equal(fp8lab_gpt_step(g, &a, 0.0f, NULL), 0);
    }
    /* weights written behind the model's back: the caller says so */
    float loss;
    batch(tok, tgt, TB, TT, 256, &rng);
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    fp8lab_gpt_weights_changed(g);
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    fp8lab_linear_ctx_stats(c, &s);
    assert_int_equal(s.weight_quants, per_step * 2 + linears + linears);
    /* zero_grad starts a step too (a caller's own optimizer ran before it) */
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    fp8lab_linear_ctx_stats(c, &s);
    assert_int_equal(s.weight_quants, per_step * 2 + linears + linears + linears);
    /* outside forward/backward the model's context is not bound */
    const fp8lab_linear l = {128, 128, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP8_BLOCK};
    float *x = zeros(128 * 128);
    assert_int_equal(fp8lab_linear_fwd(be, &l, x, x, x, NULL, 128), -1);
    assert_non_null(strstr(fp8lab_last_error(), "needs a linear context"));
    fp8lab_free(be, x);
    fp8lab_gpt_destroy(g);
}

static void test_refusals(void **st) {
    (void)st;
    fp8lab_recipe r;
    assert_int_equal(fp8lab_recipe_parse("fp8-block", &r), 0);
    assert_int_equal(r, FP8LAB_RECIPE_FP8_BLOCK);
    assert_int_equal(fp8lab_recipe_parse("fp8-tensor-delayed", &r), 0);
    assert_int_equal(r, FP8LAB_RECIPE_FP8_TENSOR_DELAYED);
    assert_int_equal(fp8lab_recipe_parse("fp8", &r), -1);
    assert_non_null(strstr(fp8lab_last_error(), "fp8-block"));
    /* C = 64: every recipe takes it (fp8-block pads to 128), and any token count (9) */
    fp8lab_gpt *g = create(GPT2_64, 1);
    int32_t tok[2 * 16], tgt[2 * 16];
    fp8lab_rng rng;
    fp8lab_rng_seed(&rng, 2);
    batch(tok, tgt, 2, 16, 64, &rng);
    float l32, loss;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, 1, 9, &l32), 0);
    for (int k = FP8LAB_RECIPE_BF16; k < FP8LAB_RECIPE_COUNT; k++) {
        if (fp8lab_gpt_set_recipe(g, (fp8lab_recipe)k)) fail_msg("%s", fp8lab_last_error());
        if (fp8lab_gpt_forward(g, tok, tgt, 1, 9, &loss) || fp8lab_gpt_backward(g))
            fail_msg("%s, 9 tokens: %s", fp8lab_recipe_name((fp8lab_recipe)k), fp8lab_last_error());
        printf("C 64, 9 tokens: loss fp32 %.6f, %s %.6f\n", (double)l32, fp8lab_recipe_name((fp8lab_recipe)k),
               (double)loss);
        assert_true(fabs(loss - l32) <= 2e-2 * fabs(l32));
    }
    fp8lab_gpt_destroy(g);
    /* odd sizes (C 32, ffn 72): bf16 stays close to fp32 */
    g = create(GPT2_ODD, 1);
    int32_t t3[3 * 5], g3[3 * 5];
    batch(t3, g3, 3, 5, 64, &rng);
    float l16;
    assert_int_equal(fp8lab_gpt_forward(g, t3, g3, 3, 5, &l32), 0);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_BF16), 0);
    assert_int_equal(fp8lab_gpt_forward(g, t3, g3, 3, 5, &l16), 0);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    printf("odd sizes: loss fp32 %.6f, bf16 %.6f\n", (double)l32, (double)l16);
    assert_true(fabs(l16 - l32) <= 1e-2 * fabs(l32));
    fp8lab_gpt_destroy(g);
    /* a Linear without a size, and a token count of 0 */
    fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
    float *buf = zeros(256 * 256);
    const fp8lab_linear l1 = {128, 0, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP8_BLOCK, c},
                        l2 = {128, 128, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP8_BLOCK, c};
    assert_int_equal(fp8lab_linear_fwd(be, &l1, buf, buf, buf, NULL, 128), -1);
    assert_non_null(strstr(fp8lab_last_error(), "out = 0"));
    assert_int_equal(fp8lab_linear_fwd(be, &l2, buf, buf, buf, NULL, 0), -1);
    assert_non_null(strstr(fp8lab_last_error(), "N (tokens: B*T) = 0"));
    fp8lab_free(be, buf);
    fp8lab_linear_ctx_destroy(c);
}

int main(void) {
    /* One thread: these sizes gain nothing from more, and on a loaded machine OpenMP's and OpenBLAS's spinning
       threads made the run 15x slower; the printed step times are single-thread. */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    be = fp8lab_cpu_backend_create();
    if (!be) {
        fprintf(stderr, "cpu backend: %s\n", fp8lab_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipes_vs_fp32),     cmocka_unit_test(test_composition),
        cmocka_unit_test(test_transposed_weight_operand), cmocka_unit_test(test_delayed_history),
        cmocka_unit_test(test_weight_once_per_step), cmocka_unit_test(test_padding_shared_scratch),
        cmocka_unit_test(test_model_once_per_step),
        cmocka_unit_test(test_refusals),            cmocka_unit_test(test_model_training),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(be);
    return rc;
}
