/* The Linear's recipes (csrc/nn/linear.h) on the CPU backend:
   - every recipe's Fprop, Dgrad and Wgrad (with bias) at N = 256, in = 256, out = 384, both weight layouts,
     against the fp32 recipe: relative Frobenius error under the recipe's tolerance (TOL_* below, each about
     3x what was measured; the errors are printed);
   - fp8-block equals an independent composition on the host (fp8/quant.h quantizers, dequantized, FP64 matmul)
     within 1e-5 (FP32 outputs), and its default BF16 outputs are exactly those FP32 outputs rounded to BF16;
     accumulation (dx_accumulate, dW +=) adds exactly;
   - the transposed weight operand: quantize_128x128(W^T) is quantize_128x128(W) with its FP8 bytes and its
     scale grid transposed;
   - delayed scaling takes each call's scale from the history of the previous calls (length 2, and the default
     16);
   - each weight operand is made once per step (the context's counters), in the Linear and in the model;
   - refusals: fp8 recipes on dimensions that do not fit (naming the layer), a token count that does not, a
     non-fp32 Linear without a context; bf16 on a model with odd sizes;
   - a tiny GPT-2 (C 128, 2 layers, V 256, T 32, B 4) and a tiny Llama (GQA 8/4 heads) trained 30 steps with
     each recipe reach a mean loss over the last 5 steps within 3 % of the fp32 recipe's, same seed and data
     (measured: within 0.2-1 %); each recipe's step time against fp32 is printed. */
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

/* One Linear's inputs (host) and outputs (host, after a run). w is stored as the layout says. */
typedef struct {
    fp8lab_wlayout layout;
    float *x, *w, *b, *dy;
} lin_in;

typedef struct {
    float *y, *dx, *dw, *db;
} lin_out;

static lin_in make_in(fp8lab_wlayout layout, uint64_t seed) {
    lin_in in = {layout, gen_act(LN, LI, 1.0, seed), gen((size_t)LI * LO, 0.05, seed + 1), gen(LO, 0.1, seed + 2),
                 gen_act(LN, LO, 1e-3, seed + 3)};
    return in;
}

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
    const fp8lab_linear l = {LI, LO, in->layout, r, ctx};
    float *x = up(in->x, (size_t)LN * LI), *w = up(in->w, (size_t)LI * LO), *b = bias ? up(in->b, LO) : NULL,
          *dy = up(in->dy, (size_t)LN * LO), *y = zeros((size_t)LN * LO), *dx = zeros((size_t)LN * LI),
          *dw = zeros((size_t)LI * LO), *db = bias ? zeros(LO) : NULL;
    if (fp8lab_linear_fwd(be, &l, y, x, w, b, LN)) fail_msg("fwd %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    if (fp8lab_linear_bwd(be, &l, dx, 0, dw, db, dy, x, w, LN))
        fail_msg("bwd %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    if (twice && fp8lab_linear_bwd(be, &l, dx, 1, dw, db, dy, x, w, LN))
        fail_msg("bwd 2 %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    lin_out o = {down(y, (size_t)LN * LO), down(dx, (size_t)LN * LI), down(dw, (size_t)LI * LO),
                 bias ? down(db, LO) : NULL};
    float *ptrs[] = {x, w, b, dy, y, dx, dw, db};
    for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) fp8lab_free(be, ptrs[i]);
    return o;
}

/* ---- every recipe against fp32 -------------------------------------------------------------------------------- */

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
    for (int lay = 0; lay < 2; lay++) {
        lin_in in = make_in(lay ? FP8LAB_W_IN_OUT : FP8LAB_W_OUT_IN, 100 + (uint64_t)lay);
        lin_out ref = run_linear(FP8LAB_RECIPE_FP32, NULL, &in, 1, 0);
        for (size_t k = 0; k < sizeof R / sizeof R[0]; k++) {
            fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
            assert_non_null(c);
            lin_out o = run_linear(R[k].r, c, &in, 1, 0);
            const double ey = rel_f(o.y, ref.y, (size_t)LN * LO), edx = rel_f(o.dx, ref.dx, (size_t)LN * LI),
                         edw = rel_f(o.dw, ref.dw, (size_t)LI * LO), edb = rel_f(o.db, ref.db, LO);
            const int ok = ey <= R[k].tol_y && edx <= R[k].tol_dx && edw <= R[k].tol_dw && edb <= 1e-6;
            printf("%-19s %s  y %.2e (tol %.0e)  dx %.2e (tol %.0e)  dW %.2e (tol %.0e)  db %.1e  %s\n",
                   fp8lab_recipe_name(R[k].r), lay ? "W[in][out]" : "W[out][in]", ey, R[k].tol_y, edx, R[k].tol_dx,
                   edw, R[k].tol_dw, edb, ok ? "PASS" : "FAIL");
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

/* ---- fp8-block against an independent composition ------------------------------------------------------------ */

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

/* D[M][N] = A[M][K] . B[N][K]^T in FP64 */
static double *mm_nt(const double *a, const double *b, int M, int N, int K) {
    double *d = xmalloc(sizeof(double) * (size_t)M * N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += a[(size_t)i * K + k] * b[(size_t)j * K + k];
            d[(size_t)i * N + j] = s;
        }
    return d;
}

static void test_block_composition(void **st) {
    (void)st;
    const fp8lab_linear_opts f32 = {.out_f32 = 1};
    for (int lay = 0; lay < 2; lay++) {
        lin_in in = make_in(lay ? FP8LAB_W_IN_OUT : FP8LAB_W_OUT_IN, 200 + (uint64_t)lay);
        /* Wo [out][in], Wi [in][out] */
        float *wo = lay ? transpose_h(in.w, LI, LO) : in.w, *wi = lay ? in.w : transpose_h(in.w, LO, LI);
        double *xq = deq_1x128(in.x, LN, LI), *woq = deq_128x128(wo, LO, LI), *dyq = deq_1x128(in.dy, LN, LO),
               *wiq = deq_128x128(wi, LI, LO);
        float *dyt = transpose_h(in.dy, LN, LO), *xt = transpose_h(in.x, LN, LI);
        double *dytq = deq_1x128(dyt, LO, LN), *xtq = deq_1x128(xt, LI, LN);
        double *y = mm_nt(xq, woq, LN, LO, LI), *dx = mm_nt(dyq, wiq, LN, LI, LO), *dwoi = mm_nt(dytq, xtq, LO, LI, LN);
        for (int n = 0; n < LN; n++)
            for (int o = 0; o < LO; o++) y[(size_t)n * LO + o] += in.b[o];
        double *dw = dwoi;
        if (lay) { /* dW[in][out] */
            dw = xmalloc(sizeof(double) * (size_t)LI * LO);
            for (int o = 0; o < LO; o++)
                for (int i = 0; i < LI; i++) dw[(size_t)i * LO + o] = dwoi[(size_t)o * LI + i];
        }
        fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, &f32), *cb = fp8lab_linear_ctx_create(be, NULL);
        assert_non_null(c);
        assert_non_null(cb);
        lin_out o = run_linear(FP8LAB_RECIPE_FP8_BLOCK, c, &in, 1, 0);
        const double ey = rel_d(o.y, y, (size_t)LN * LO), edx = rel_d(o.dx, dx, (size_t)LN * LI),
                     edw = rel_d(o.dw, dw, (size_t)LI * LO);
        printf("fp8-block vs host composition, %s: y %.2e dx %.2e dW %.2e (tol %.0e)\n",
               lay ? "W[in][out]" : "W[out][in]", ey, edx, edw, TOL_COMPOSE);
        assert_true(ey <= TOL_COMPOSE && edx <= TOL_COMPOSE && edw <= TOL_COMPOSE);
        /* default BF16 outputs: the FP32 outputs rounded (no bias, which is added in FP32 after) */
        lin_out of = run_linear(FP8LAB_RECIPE_FP8_BLOCK, c, &in, 0, 0), ob = run_linear(FP8LAB_RECIPE_FP8_BLOCK, cb,
                                                                                       &in, 0, 1);
        long bad = 0;
        for (size_t i = 0; i < (size_t)LN * LO; i++) bad += ob.y[i] != bf16_to_f32(bf16_from_f32(of.y[i]));
        for (size_t i = 0; i < (size_t)LN * LI; i++) /* ob ran bwd twice: dx accumulated onto itself */
            bad += ob.dx[i] != 2.0f * bf16_to_f32(bf16_from_f32(of.dx[i]));
        for (size_t i = 0; i < (size_t)LI * LO; i++) bad += ob.dw[i] != 2.0f * of.dw[i];
        assert_int_equal(bad, 0);
        free_out(&o);
        free_out(&of);
        free_out(&ob);
        fp8lab_linear_ctx_destroy(c);
        fp8lab_linear_ctx_destroy(cb);
        if (lay) free(wo), free(dw);
        else free(wi);
        free(xq), free(woq), free(dyq), free(wiq), free(dyt), free(xt), free(dytq), free(xtq), free(y), free(dx);
        free(dwoi);
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

static void test_weight_once_per_step(void **st) {
    (void)st;
    for (int r = FP8LAB_RECIPE_BF16; r < FP8LAB_RECIPE_COUNT; r++) {
        lin_in in = make_in(FP8LAB_W_IN_OUT, 400);
        fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
        assert_non_null(c);
        const fp8lab_linear l = {LI, LO, in.layout, (fp8lab_recipe)r, c};
        float *x = up(in.x, (size_t)LN * LI), *w = up(in.w, (size_t)LI * LO), *dy = up(in.dy, (size_t)LN * LO),
              *y = zeros((size_t)LN * LO), *dx = zeros((size_t)LN * LI), *dw = zeros((size_t)LI * LO);
        fp8lab_linear_stats s;
        for (int step = 0; step < 2; step++) {
            for (int micro = 0; micro < 3; micro++) {
                assert_int_equal(fp8lab_linear_fwd(be, &l, y, x, w, NULL, LN), 0);
                assert_int_equal(fp8lab_linear_bwd(be, &l, dx, 0, dw, NULL, dy, x, w, LN), 0);
            }
            fp8lab_linear_ctx_stats(c, &s);
            /* Wo and Wi once per step; the other 4 of 6 GEMM uses reuse them */
            assert_int_equal(s.weight_quants, 2 * (step + 1));
            assert_int_equal(s.weight_reuses, 4 * (step + 1));
            fp8lab_linear_ctx_invalidate(c);
        }
        fp8lab_free(be, x), fp8lab_free(be, w), fp8lab_free(be, dy), fp8lab_free(be, y), fp8lab_free(be, dx);
        fp8lab_free(be, dw);
        fp8lab_linear_ctx_destroy(c);
        free_in(&in);
    }
}

/* ---- the model ------------------------------------------------------------------------------------------------ */

static const char GPT2_128[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 128, \"n_layer\": 2, "
                               "\"n_head\": 4, \"n_positions\": 32}";
static const char GPT2_ODD[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, "
                               "\"n_head\": 4, \"n_positions\": 16, \"n_inner\": 72}";
static const char GPT2_64[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 64, \"n_layer\": 1, "
                              "\"n_head\": 4, \"n_positions\": 16}";
static const char LLAMA_128[] = "{\"model_type\": \"llama\", \"vocab_size\": 256, \"hidden_size\": 128, "
                                "\"intermediate_size\": 256, \"num_hidden_layers\": 2, \"num_attention_heads\": 8, \"head_dim\": 32, "
                                "\"num_key_value_heads\": 4, \"max_position_embeddings\": 64}";

static fp8lab_gpt *create(const char *json, uint64_t seed) {
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    fp8lab_model m;
    const int rc = fp8lab_model_from_json(j, "test-config", &m);
    cJSON_Delete(j);
    if (rc) fail_msg("config: %s", fp8lab_last_error());
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, seed);
    if (!g) fail_msg("create: %s", fp8lab_last_error());
    return g;
}

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

/* 30 steps; returns the mean loss of the last 5; *sec the time of the steps after the first */
static double train(const char *json, fp8lab_recipe r, double *sec) {
    fp8lab_gpt *g = create(json, 42);
    if (fp8lab_gpt_set_recipe(g, r)) fail_msg("set_recipe %s: %s", fp8lab_recipe_name(r), fp8lab_last_error());
    const int V = (int)fp8lab_gpt_config(g)->vocab;
    int32_t tok[TB * TT], tgt[TB * TT];
    fp8lab_rng rng;
    fp8lab_rng_seed(&rng, 7);
    fp8lab_adamw_args a = {.lr = 3e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                           .grad_scale = 1, .moments = FP8LAB_MOMENTS_F32};
    double tail = 0, t0 = 0;
    float first = 0;
    for (int s = 1; s <= TSTEPS; s++) {
        if (s == 2) t0 = now_s();
        batch(tok, tgt, TB, TT, V, &rng);
        float loss, norm;
        a.step = s;
        if (fp8lab_gpt_zero_grad(g) || fp8lab_gpt_forward(g, tok, tgt, TB, TT, &loss) || fp8lab_gpt_backward(g) ||
            fp8lab_gpt_step(g, &a, 1.0f, &norm) != 0)
            fail_msg("step %d (%s): %s", s, fp8lab_recipe_name(r), fp8lab_last_error());
        if (s == 1) first = loss;
        if (s > TSTEPS - 5) tail += loss / 5.0;
    }
    *sec = (now_s() - t0) / (TSTEPS - 1);
    printf("%-7s %-19s loss %.4f -> %.4f (last 5 steps), %.2f ms/step\n", fp8lab_gpt_config(g)->model_type,
           fp8lab_recipe_name(r), (double)first, tail, 1e3 * *sec);
    fp8lab_gpt_destroy(g);
    return tail;
}

static void test_model_training(void **st) {
    (void)st;
    const char *models[] = {GPT2_128, LLAMA_128};
    for (int m = 0; m < 2; m++) {
        double t32, t;
        const double ref = train(models[m], FP8LAB_RECIPE_FP32, &t32);
        for (int r = FP8LAB_RECIPE_BF16; r < FP8LAB_RECIPE_COUNT; r++) {
            const double l = train(models[m], (fp8lab_recipe)r, &t);
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
    const long per_step = 2 * 4 * 2; /* 2 layers x 4 Linears x (Wo, Wi) */
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
    assert_int_equal(s.weight_quants, per_step * 2 + 8 + 8);
    /* zero_grad starts a step too (a caller's own optimizer ran before it) */
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, TB, TT, &loss), 0);
    fp8lab_linear_ctx_stats(c, &s);
    assert_int_equal(s.weight_quants, per_step * 2 + 8 + 8 + 8);
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
    /* C = 64: fp8-block refused naming the first layer that does not fit; fp8-tensor (multiples of 16) taken */
    fp8lab_gpt *g = create(GPT2_64, 1);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP8_BLOCK), -1);
    printf("refused: %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "attn.c_attn"));
    assert_non_null(strstr(fp8lab_last_error(), "in = 64"));
    assert_int_equal(fp8lab_gpt_recipe(g), FP8LAB_RECIPE_FP32); /* unchanged */
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP8_TENSOR), 0);
    int32_t tok[2 * 16], tgt[2 * 16];
    fp8lab_rng rng;
    fp8lab_rng_seed(&rng, 2);
    batch(tok, tgt, 2, 16, 64, &rng);
    float loss;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, 2, 16, &loss), 0);
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, 1, 9, &loss), -1); /* 9 tokens */
    printf("refused: %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "B*T"));
    fp8lab_gpt_destroy(g);
    /* odd sizes (C 32, ffn 72): fp8-tensor refused at mlp.c_fc's out = 72; bf16 runs and stays close to fp32 */
    g = create(GPT2_ODD, 1);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP8_TENSOR), -1);
    assert_non_null(strstr(fp8lab_last_error(), "mlp.c_fc"));
    int32_t t3[3 * 5], g3[3 * 5];
    batch(t3, g3, 3, 5, 64, &rng);
    float l32, l16;
    assert_int_equal(fp8lab_gpt_forward(g, t3, g3, 3, 5, &l32), 0);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_BF16), 0);
    assert_int_equal(fp8lab_gpt_forward(g, t3, g3, 3, 5, &l16), 0);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    printf("odd sizes: loss fp32 %.6f, bf16 %.6f\n", (double)l32, (double)l16);
    assert_true(fabs(l16 - l32) <= 1e-2 * fabs(l32));
    fp8lab_gpt_destroy(g);
    /* a Linear with dims that do not fit, and a token count that does not */
    fp8lab_linear_ctx *c = fp8lab_linear_ctx_create(be, NULL);
    float *buf = zeros(256 * 256);
    const fp8lab_linear l1 = {128, 200, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP8_BLOCK, c},
                        l2 = {128, 128, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP8_BLOCK, c};
    assert_int_equal(fp8lab_linear_fwd(be, &l1, buf, buf, buf, NULL, 128), -1);
    assert_non_null(strstr(fp8lab_last_error(), "out = 200"));
    assert_int_equal(fp8lab_linear_fwd(be, &l2, buf, buf, buf, NULL, 100), -1);
    assert_non_null(strstr(fp8lab_last_error(), "N (tokens: B*T) = 100"));
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
        cmocka_unit_test(test_recipes_vs_fp32),     cmocka_unit_test(test_block_composition),
        cmocka_unit_test(test_transposed_weight_operand), cmocka_unit_test(test_delayed_history),
        cmocka_unit_test(test_weight_once_per_step), cmocka_unit_test(test_model_once_per_step),
        cmocka_unit_test(test_refusals),            cmocka_unit_test(test_model_training),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(be);
    return rc;
}
