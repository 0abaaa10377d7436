/* CPU backend, layers group (layer_ops.h) and matmul_f32 (gemm_ops.h).
   - every forward against a naive FP64 reference written here: max |got - ref| <= 1e-5 * max |ref| (FP32 sums over
     at most a few hundred terms stay near 1e-6);
   - every backward by central finite differences of L = sum(out * r), r fixed and random, L evaluated in FP64 by
     the reference forward (h = 1e-4: truncation ~h^2 = 1e-8, rounding ~1e-16/h, both far below the tolerance);
     the analytic FP32 gradient must satisfy |g - fd| <= 1e-3 |fd| + 1e-4 max|fd| element by element;
   - the accumulate (parameter gradients) versus overwrite (activation gradients) contract, causal masking, the
     argument checks and the refusal of out-of-range token ids. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "test_util.h"

static fp8lab_backend *be;

#define FWD_TOL 1e-5
#define FD_H 1e-4
#define FD_RTOL 1e-3
#define FD_ATOL 1e-4 /* times the largest |fd| of the sample */

/* ---- helpers ---------------------------------------------------------------------------------------------- */

static float *randn(long n, double scale, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = (float)(scale * fp8lab_rng_normal(&r));
    return x;
}

static float *filled(long n, float v) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = v;
    return x;
}

static float *copyf(const float *x, long n) {
    float *y = malloc(sizeof(float) * (size_t)n);
    memcpy(y, x, sizeof(float) * (size_t)n);
    return y;
}

static double *to_d(const float *x, long n) {
    double *y = malloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) y[i] = x[i];
    return y;
}

/* max |got - ref| / max |ref| <= tol */
static void check_close(const char *what, const float *got, const double *ref, long n, double tol) {
    double emax = 0, rmax = 0;
    for (long i = 0; i < n; i++) {
        assert_true(isfinite(got[i]));
        emax = fmax(emax, fabs(got[i] - ref[i]));
        rmax = fmax(rmax, fabs(ref[i]));
    }
    const double e = rmax > 0 ? emax / rmax : emax;
    printf("%-28s rel err vs fp64 %.2e\n", what, e);
    assert_true(e <= tol);
}

static void assert_all_equal(const float *a, const float *b, long n) {
    assert_memory_equal(a, b, sizeof(float) * (size_t)n);
}

/* ---- FP64 references ------------------------------------------------------------------------------------- */

static void ref_embed(double *out, const int32_t *tok, const double *wte, const double *wpe, int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int c = 0; c < C; c++)
                out[((long)b * T + t) * C + c] =
                    wte[(long)tok[b * T + t] * C + c] + (wpe ? wpe[(long)t * C + c] : 0.0);
}

static void ref_layernorm(double *out, double *mean, double *rstd, const double *x, const double *w, const double *b,
                          int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *xr = x + (long)n * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        for (int c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
        v /= C;
        const double s = 1.0 / sqrt(v + eps);
        for (int c = 0; c < C; c++) out[(long)n * C + c] = (xr[c] - m) * s * w[c] + (b ? b[c] : 0.0);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = s;
    }
}

static void ref_rmsnorm(double *out, double *rstd, const double *x, const double *w, int N, int C, double eps) {
    for (int n = 0; n < N; n++) {
        const double *xr = x + (long)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        const double s = 1.0 / sqrt(ss / C + eps);
        for (int c = 0; c < C; c++) out[(long)n * C + c] = xr[c] * s * w[c];
        if (rstd) rstd[n] = s;
    }
}

static double gelu_d(double x) { return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * x * x * x))); }

static void ref_gelu(double *out, const double *x, long n) {
    for (long i = 0; i < n; i++) out[i] = gelu_d(x[i]);
}

static void ref_swiglu(double *out, const double *gu, int N, int F) {
    for (int n = 0; n < N; n++)
        for (int f = 0; f < F; f++) {
            const double g = gu[(long)n * 2 * F + f], u = gu[(long)n * 2 * F + F + f];
            out[(long)n * F + f] = g / (1.0 + exp(-g)) * u;
        }
}

/* Hugging Face rotate_half: out = x cos + rotate_half(x) sin, rotate_half(x) = (-x2, x1) */
static void ref_rope(double *out, const double *x, int B, int T, int H, int D, double theta) {
    const int half = D / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const long o = (((long)b * T + t) * H + h) * D;
                for (int i = 0; i < half; i++) {
                    const double ang = t * pow(theta, -2.0 * i / D);
                    out[o + i] = x[o + i] * cos(ang) - x[o + i + half] * sin(ang);
                    out[o + i + half] = x[o + i + half] * cos(ang) + x[o + i] * sin(ang);
                }
            }
}

static void ref_attn(double *out, double *lse, const double *q, const double *k, const double *v, fp8lab_attn_shape s) {
    const int T = s.T, D = s.D, group = s.Hq / s.Hkv;
    double *p = malloc(sizeof(double) * (size_t)T);
    for (int b = 0; b < s.B; b++)
        for (int h = 0; h < s.Hq; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = q + (((long)b * T + t) * s.Hq + h) * D;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    const double *kj = k + (((long)b * T + j) * s.Hkv + h / group) * D;
                    double dot = 0;
                    for (int d = 0; d < D; d++) dot += qt[d] * kj[d];
                    p[j] = dot / sqrt((double)D);
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) sum += exp(p[j] - mx);
                double *o = out + (((long)b * T + t) * s.Hq + h) * D;
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int j = 0; j <= t; j++)
                        acc += exp(p[j] - mx) / sum * v[(((long)b * T + j) * s.Hkv + h / group) * D + d];
                    o[d] = acc;
                }
                if (lse) lse[((long)b * s.Hq + h) * T + t] = mx + log(sum);
            }
    free(p);
}

static void ref_xent(double *loss, const double *logits, const int32_t *tgt, int N, int V) {
    for (int n = 0; n < N; n++) {
        const double *x = logits + (long)n * V;
        double mx = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) mx = fmax(mx, x[i]);
        for (int i = 0; i < V; i++) sum += exp(x[i] - mx);
        loss[n] = tgt[n] < 0 ? 0.0 : mx + log(sum) - x[tgt[n]];
    }
}

/* ---- finite differences ---------------------------------------------------------------------------------- */

typedef enum { OP_EMBED, OP_LAYERNORM, OP_RMSNORM, OP_GELU, OP_SWIGLU, OP_ROPE, OP_ATTN, OP_XENT } fd_op;

/* The inputs of one op in FP64 (perturbed in place) and the weights r of L = sum(out * r). */
typedef struct {
    fd_op op;
    double *in[3]; /* embed: wte, wpe; norms: x, w, b; attention: q, k, v; others: x */
    const double *r;
    long nout;
    int B, T, C, N, F, H, D, V;
    fp8lab_attn_shape s;
    double eps, theta;
    const int32_t *tok;
} fd_ctx;

static double fd_loss(const fd_ctx *c) {
    double *out = malloc(sizeof(double) * (size_t)c->nout);
    switch (c->op) {
    case OP_EMBED: ref_embed(out, c->tok, c->in[0], c->in[1], c->B, c->T, c->C); break;
    case OP_LAYERNORM: ref_layernorm(out, NULL, NULL, c->in[0], c->in[1], c->in[2], c->N, c->C, c->eps); break;
    case OP_RMSNORM: ref_rmsnorm(out, NULL, c->in[0], c->in[1], c->N, c->C, c->eps); break;
    case OP_GELU: ref_gelu(out, c->in[0], c->nout); break;
    case OP_SWIGLU: ref_swiglu(out, c->in[0], c->N, c->F); break;
    case OP_ROPE: ref_rope(out, c->in[0], c->B, c->T, c->H, c->D, c->theta); break;
    case OP_ATTN: ref_attn(out, NULL, c->in[0], c->in[1], c->in[2], c->s); break;
    case OP_XENT: ref_xent(out, c->in[0], c->tok, c->N, c->V); break;
    }
    double L = 0;
    for (long i = 0; i < c->nout; i++) L += out[i] * c->r[i];
    free(out);
    return L;
}

/* Compares the analytic gradient g[n] of input c->in[which] with central differences at up to `samples` indices
   (all of them when n is smaller). */
static void fd_check(const char *what, fd_ctx *c, int which, const float *g, long n, int samples, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    const long cnt = n < samples ? n : samples;
    long *idx = malloc(sizeof(long) * (size_t)cnt);
    double *fd = malloc(sizeof(double) * (size_t)cnt), fdmax = 0;
    double *x = c->in[which];
    for (long s = 0; s < cnt; s++) {
        idx[s] = n <= samples ? s : (long)(fp8lab_rng_u64(&r) % (uint64_t)n);
        const double x0 = x[idx[s]];
        x[idx[s]] = x0 + FD_H;
        const double lp = fd_loss(c);
        x[idx[s]] = x0 - FD_H;
        const double lm = fd_loss(c);
        x[idx[s]] = x0;
        fd[s] = (lp - lm) / (2 * FD_H);
        fdmax = fmax(fdmax, fabs(fd[s]));
    }
    double worst = 0;
    int bad = 0;
    for (long s = 0; s < cnt; s++) {
        const double e = fabs(g[idx[s]] - fd[s]), tol = FD_RTOL * fabs(fd[s]) + FD_ATOL * fdmax;
        worst = fmax(worst, e / (fdmax > 0 ? fdmax : 1));
        if (!(e <= tol)) {
            if (bad < 5) printf("  %s[%ld]: analytic %.8g, fd %.8g\n", what, idx[s], (double)g[idx[s]], fd[s]);
            bad++;
        }
    }
    printf("%-28s fd check, %ld samples, max |g - fd| / max|fd| %.2e, max|fd| %.3g\n", what, cnt, worst, fdmax);
    assert_true(fdmax > 0); /* a zero gradient would make the check vacuous */
    assert_int_equal(bad, 0);
    free(idx);
    free(fd);
}

/* ---- embedding ------------------------------------------------------------------------------------------- */

static void check_embed(int with_wpe) {
    const int B = 3, T = 5, C = 12, V = 7, N = B * T;
    int32_t tok[15];
    for (int i = 0; i < N; i++) tok[i] = (i * 3) % 5; /* tokens 0..4 repeat; 5, 6 never appear */
    float *wte = randn((long)V * C, 1.0, 1), *wpe = with_wpe ? randn((long)T * C, 1.0, 2) : NULL;
    float *out = filled((long)N * C, NAN);
    assert_int_equal(fp8lab_embed_fwd(be, out, tok, wte, wpe, B, T, C, V), 0);
    double *dwte_ = to_d(wte, (long)V * C), *dwpe_ = with_wpe ? to_d(wpe, (long)T * C) : NULL;
    double *ref = malloc(sizeof(double) * (size_t)N * C);
    ref_embed(ref, tok, dwte_, dwpe_, B, T, C);
    check_close(with_wpe ? "embed_fwd (wpe)" : "embed_fwd (no wpe)", out, ref, (long)N * C, FWD_TOL);

    /* backward: dwte, dwpe += ; start from zero for the fd check */
    float *r = randn((long)N * C, 1.0, 3);
    float *gwte = filled((long)V * C, 0.0f), *gwpe = with_wpe ? filled((long)T * C, 0.0f) : NULL;
    assert_int_equal(fp8lab_embed_bwd(be, gwte, gwpe, r, tok, B, T, C, V), 0);
    double *rd = to_d(r, (long)N * C);
    fd_ctx c = {.op = OP_EMBED, .in = {dwte_, dwpe_}, .r = rd, .nout = (long)N * C, .B = B, .T = T, .C = C, .tok = tok};
    fd_check("embed_bwd dwte", &c, 0, gwte, (long)V * C, 1000, 4);
    /* rows of tokens that never appear stay zero */
    for (int i = 5 * C; i < V * C; i++) assert_true(gwte[i] == 0.0f);
    if (with_wpe) fd_check("embed_bwd dwpe", &c, 1, gwpe, (long)T * C, 1000, 5);
    /* accumulate: a second call doubles the gradients (up to FP32 rounding of the sums) */
    float *g1 = copyf(gwte, (long)V * C), *p1 = with_wpe ? copyf(gwpe, (long)T * C) : NULL;
    assert_int_equal(fp8lab_embed_bwd(be, gwte, gwpe, r, tok, B, T, C, V), 0);
    for (int i = 0; i < V * C; i++) assert_true(fabsf(gwte[i] - 2 * g1[i]) <= 1e-6f * (1 + fabsf(g1[i])));
    if (with_wpe)
        for (int i = 0; i < T * C; i++) assert_true(fabsf(gwpe[i] - 2 * p1[i]) <= 1e-6f * (1 + fabsf(p1[i])));
    free(wte);
    free(wpe);
    free(out);
    free(dwte_);
    free(dwpe_);
    free(ref);
    free(r);
    free(rd);
    free(gwte);
    free(gwpe);
    free(g1);
    free(p1);
}

static void test_embed(void **state) {
    (void)state;
    check_embed(1);
    check_embed(0);
}

/* ---- norms ----------------------------------------------------------------------------------------------- */

static void check_layernorm(int with_bias) {
    const int N = 9, C = 24;
    const float eps = 1e-5f;
    float *x = randn((long)N * C, 2.0, 11), *w = randn(C, 1.0, 12), *b = with_bias ? randn(C, 1.0, 13) : NULL;
    for (int i = 0; i < N * C; i++) x[i] += 0.5f; /* a nonzero mean */
    float *out = filled((long)N * C, NAN), *mean = filled(N, NAN), *rstd = filled(N, NAN);
    assert_int_equal(fp8lab_layernorm_fwd(be, out, mean, rstd, x, w, b, N, C, eps), 0);
    double *xd = to_d(x, (long)N * C), *wd = to_d(w, C), *bd = with_bias ? to_d(b, C) : NULL;
    double *ref = malloc(sizeof(double) * (size_t)N * C), rm[9], rs[9];
    ref_layernorm(ref, rm, rs, xd, wd, bd, N, C, eps);
    check_close(with_bias ? "layernorm_fwd (bias)" : "layernorm_fwd (no bias)", out, ref, (long)N * C, FWD_TOL);
    check_close("layernorm_fwd mean", mean, rm, N, FWD_TOL);
    check_close("layernorm_fwd rstd", rstd, rs, N, FWD_TOL);

    float *r = randn((long)N * C, 1.0, 14), *dx = filled((long)N * C, NAN);
    float *dw = filled(C, 0.0f), *db = with_bias ? filled(C, 0.0f) : NULL;
    assert_int_equal(fp8lab_layernorm_bwd(be, dx, dw, db, r, x, w, mean, rstd, N, C), 0);
    double *rd = to_d(r, (long)N * C);
    fd_ctx c = {.op = OP_LAYERNORM, .in = {xd, wd, bd}, .r = rd, .nout = (long)N * C, .N = N, .C = C, .eps = eps};
    fd_check("layernorm_bwd dx", &c, 0, dx, (long)N * C, 1000, 15);
    fd_check("layernorm_bwd dw", &c, 1, dw, C, 1000, 16);
    if (with_bias) fd_check("layernorm_bwd db", &c, 2, db, C, 1000, 17);
    /* dx overwritten (same bits again), dw and db accumulated (exactly doubled: the same sums added again) */
    float *dx1 = copyf(dx, (long)N * C), *dw1 = copyf(dw, C), *db1 = with_bias ? copyf(db, C) : NULL;
    assert_int_equal(fp8lab_layernorm_bwd(be, dx, dw, db, r, x, w, mean, rstd, N, C), 0);
    assert_all_equal(dx, dx1, (long)N * C);
    for (int i = 0; i < C; i++) {
        assert_true(dw[i] == 2 * dw1[i]);
        if (with_bias) assert_true(db[i] == 2 * db1[i]);
    }
    free(x), free(w), free(b), free(out), free(mean), free(rstd), free(xd), free(wd), free(bd), free(ref);
    free(r), free(dx), free(dw), free(db), free(rd), free(dx1), free(dw1), free(db1);
}

static void test_layernorm(void **state) {
    (void)state;
    check_layernorm(1);
    check_layernorm(0);
}

static void test_rmsnorm(void **state) {
    (void)state;
    const int N = 7, C = 32;
    const float eps = 1e-6f;
    float *x = randn((long)N * C, 1.5, 21), *w = randn(C, 1.0, 22);
    float *out = filled((long)N * C, NAN), *rstd = filled(N, NAN);
    assert_int_equal(fp8lab_rmsnorm_fwd(be, out, rstd, x, w, N, C, eps), 0);
    double *xd = to_d(x, (long)N * C), *wd = to_d(w, C), *ref = malloc(sizeof(double) * (size_t)N * C), rs[7];
    ref_rmsnorm(ref, rs, xd, wd, N, C, eps);
    check_close("rmsnorm_fwd", out, ref, (long)N * C, FWD_TOL);
    check_close("rmsnorm_fwd rstd", rstd, rs, N, FWD_TOL);
    float *r = randn((long)N * C, 1.0, 23), *dx = filled((long)N * C, NAN), *dw = filled(C, 0.0f);
    assert_int_equal(fp8lab_rmsnorm_bwd(be, dx, dw, r, x, w, rstd, N, C), 0);
    double *rd = to_d(r, (long)N * C);
    fd_ctx c = {.op = OP_RMSNORM, .in = {xd, wd}, .r = rd, .nout = (long)N * C, .N = N, .C = C, .eps = eps};
    fd_check("rmsnorm_bwd dx", &c, 0, dx, (long)N * C, 1000, 24);
    fd_check("rmsnorm_bwd dw", &c, 1, dw, C, 1000, 25);
    float *dx1 = copyf(dx, (long)N * C), *dw1 = copyf(dw, C);
    assert_int_equal(fp8lab_rmsnorm_bwd(be, dx, dw, r, x, w, rstd, N, C), 0);
    assert_all_equal(dx, dx1, (long)N * C);
    for (int i = 0; i < C; i++) assert_true(dw[i] == 2 * dw1[i]);
    free(x), free(w), free(out), free(rstd), free(xd), free(wd), free(ref), free(r), free(dx), free(dw), free(rd);
    free(dx1), free(dw1);
}

/* ---- pointwise ------------------------------------------------------------------------------------------- */

static void test_gelu(void **state) {
    (void)state;
    const long n = 1000;
    float *x = randn(n, 2.5, 31), *out = filled(n, NAN);
    x[0] = 0.0f, x[1] = 8.0f, x[2] = -8.0f; /* the tails: gelu(x) -> x and -> 0 */
    assert_int_equal(fp8lab_gelu_fwd(be, out, x, n), 0);
    double *xd = to_d(x, n), *ref = malloc(sizeof(double) * (size_t)n);
    ref_gelu(ref, xd, n);
    check_close("gelu_fwd", out, ref, n, FWD_TOL);
    float *r = randn(n, 1.0, 32), *dx = filled(n, NAN);
    assert_int_equal(fp8lab_gelu_bwd(be, dx, r, x, n), 0);
    double *rd = to_d(r, n);
    fd_ctx c = {.op = OP_GELU, .in = {xd}, .r = rd, .nout = n};
    fd_check("gelu_bwd dx", &c, 0, dx, n, 1000, 33);
    float *dx1 = copyf(dx, n);
    assert_int_equal(fp8lab_gelu_bwd(be, dx, r, x, n), 0);
    assert_all_equal(dx, dx1, n);
    free(x), free(out), free(xd), free(ref), free(r), free(dx), free(rd), free(dx1);
}

static void test_swiglu(void **state) {
    (void)state;
    const int N = 6, F = 20;
    float *gu = randn((long)N * 2 * F, 2.0, 41), *out = filled((long)N * F, NAN);
    assert_int_equal(fp8lab_swiglu_fwd(be, out, gu, N, F), 0);
    double *gd = to_d(gu, (long)N * 2 * F), *ref = malloc(sizeof(double) * (size_t)N * F);
    ref_swiglu(ref, gd, N, F);
    check_close("swiglu_fwd", out, ref, (long)N * F, FWD_TOL);
    float *r = randn((long)N * F, 1.0, 42), *dgu = filled((long)N * 2 * F, NAN);
    assert_int_equal(fp8lab_swiglu_bwd(be, dgu, r, gu, N, F), 0);
    double *rd = to_d(r, (long)N * F);
    fd_ctx c = {.op = OP_SWIGLU, .in = {gd}, .r = rd, .nout = (long)N * F, .N = N, .F = F};
    fd_check("swiglu_bwd dgate_up", &c, 0, dgu, (long)N * 2 * F, 1000, 43);
    float *d1 = copyf(dgu, (long)N * 2 * F);
    assert_int_equal(fp8lab_swiglu_bwd(be, dgu, r, gu, N, F), 0);
    assert_all_equal(dgu, d1, (long)N * 2 * F);
    free(gu), free(out), free(gd), free(ref), free(r), free(dgu), free(rd), free(d1);
}

/* ---- RoPE ------------------------------------------------------------------------------------------------ */

static void test_rope(void **state) {
    (void)state;
    const int B = 2, T = 50, H = 3, D = 16;
    const float theta = 10000.0f;
    const long n = (long)B * T * H * D;
    float *x0 = randn(n, 1.0, 51), *x = copyf(x0, n);
    assert_int_equal(fp8lab_rope_fwd(be, x, B, T, H, D, theta), 0);
    double *xd = to_d(x0, n), *ref = malloc(sizeof(double) * (size_t)n);
    ref_rope(ref, xd, B, T, H, D, theta);
    check_close("rope_fwd", x, ref, n, FWD_TOL);
    /* t = 0 is the identity; a rotation preserves every pair's norm */
    for (int h = 0; h < H * D; h++) assert_true(x[h] == x0[h]);
    for (long row = 0; row < n / D; row++)
        for (int i = 0; i < D / 2; i++) {
            const double a = hypot(x[row * D + i], x[row * D + i + D / 2]);
            const double b = hypot(x0[row * D + i], x0[row * D + i + D / 2]);
            assert_true(fabs(a - b) <= 1e-6 * (1 + b));
        }
    /* and rope_bwd is its inverse */
    float *y = copyf(x, n);
    assert_int_equal(fp8lab_rope_bwd(be, y, B, T, H, D, theta), 0);
    double emax = 0;
    for (long i = 0; i < n; i++) emax = fmax(emax, fabs(y[i] - x0[i]));
    printf("rope_bwd(rope_fwd(x)) - x      max abs %.2e\n", emax);
    assert_true(emax <= 1e-5);
    /* the gradient: rope_bwd(r) = dL/dx of L = sum(rope(x) * r) */
    float *r = randn(n, 1.0, 52), *g = copyf(r, n);
    assert_int_equal(fp8lab_rope_bwd(be, g, B, T, H, D, theta), 0);
    double *rd = to_d(r, n);
    fd_ctx c = {.op = OP_ROPE, .in = {xd}, .r = rd, .nout = n, .B = B, .T = T, .H = H, .D = D, .theta = theta};
    fd_check("rope_bwd dx", &c, 0, g, n, 300, 53);
    free(x0), free(x), free(xd), free(ref), free(y), free(r), free(g), free(rd);
}

/* ---- attention ------------------------------------------------------------------------------------------- */

static void check_attn(fp8lab_attn_shape s, int fd_samples, uint64_t seed) {
    const long nq = (long)s.B * s.T * s.Hq * s.D, nkv = (long)s.B * s.T * s.Hkv * s.D,
               nl = (long)s.B * s.Hq * s.T;
    char name[64];
    float *q = randn(nq, 1.0, seed), *k = randn(nkv, 1.0, seed + 1), *v = randn(nkv, 1.0, seed + 2);
    float *out = filled(nq, NAN), *lse = filled(nl, NAN);
    assert_int_equal(fp8lab_attn_fwd(be, out, lse, q, k, v, s), 0);
    double *qd = to_d(q, nq), *kd = to_d(k, nkv), *vd = to_d(v, nkv);
    double *ref = malloc(sizeof(double) * (size_t)nq), *rl = malloc(sizeof(double) * (size_t)nl);
    ref_attn(ref, rl, qd, kd, vd, s);
    snprintf(name, sizeof name, "attn_fwd Hq=%d Hkv=%d", s.Hq, s.Hkv);
    check_close(name, out, ref, nq, FWD_TOL);
    check_close("attn_fwd lse", lse, rl, nl, FWD_TOL);

    if (fd_samples) {
        float *r = randn(nq, 1.0, seed + 3);
        float *dq = filled(nq, NAN), *dk = filled(nkv, NAN), *dv = filled(nkv, NAN);
        assert_int_equal(fp8lab_attn_bwd(be, dq, dk, dv, r, out, lse, q, k, v, s), 0);
        double *rd = to_d(r, nq);
        fd_ctx c = {.op = OP_ATTN, .in = {qd, kd, vd}, .r = rd, .nout = nq, .s = s};
        snprintf(name, sizeof name, "attn_bwd dq (Hq=%d Hkv=%d)", s.Hq, s.Hkv);
        fd_check(name, &c, 0, dq, nq, fd_samples, seed + 4);
        snprintf(name, sizeof name, "attn_bwd dk (Hq=%d Hkv=%d)", s.Hq, s.Hkv);
        fd_check(name, &c, 1, dk, nkv, fd_samples, seed + 5);
        snprintf(name, sizeof name, "attn_bwd dv (Hq=%d Hkv=%d)", s.Hq, s.Hkv);
        fd_check(name, &c, 2, dv, nkv, fd_samples, seed + 6);
        /* all three overwritten: the same bits from a second call */
        float *dq1 = copyf(dq, nq), *dk1 = copyf(dk, nkv), *dv1 = copyf(dv, nkv);
        assert_int_equal(fp8lab_attn_bwd(be, dq, dk, dv, r, out, lse, q, k, v, s), 0);
        assert_all_equal(dq, dq1, nq);
        assert_all_equal(dk, dk1, nkv);
        assert_all_equal(dv, dv1, nkv);
        free(r), free(dq), free(dk), free(dv), free(rd), free(dq1), free(dk1), free(dv1);
    }
    free(q), free(k), free(v), free(out), free(lse), free(qd), free(kd), free(vd), free(ref), free(rl);
}

static void test_attn(void **state) {
    (void)state;
    check_attn((fp8lab_attn_shape){.B = 2, .T = 7, .Hq = 3, .Hkv = 3, .D = 8}, 2000, 61);  /* MHA, every element */
    check_attn((fp8lab_attn_shape){.B = 2, .T = 6, .Hq = 4, .Hkv = 2, .D = 8}, 2000, 71);  /* GQA, every element */
    check_attn((fp8lab_attn_shape){.B = 1, .T = 5, .Hq = 4, .Hkv = 1, .D = 6}, 2000, 81);  /* MQA */
    check_attn((fp8lab_attn_shape){.B = 2, .T = 64, .Hq = 4, .Hkv = 2, .D = 32}, 0, 91);   /* forward, larger */
    /* three query blocks of the CPU kernel (128 rows), the last ragged; backward sampled */
    check_attn((fp8lab_attn_shape){.B = 1, .T = 300, .Hq = 2, .Hkv = 1, .D = 8}, 40, 95);
}

/* Causal: changing k, v at positions > t leaves out[t] and lse[t] bit for bit, and changing them at t does not. */
static void test_attn_causal(void **state) {
    (void)state;
    const fp8lab_attn_shape s = {.B = 2, .T = 9, .Hq = 4, .Hkv = 2, .D = 8};
    const int cut = 4;
    const long nq = (long)s.B * s.T * s.Hq * s.D, nkv = (long)s.B * s.T * s.Hkv * s.D, nl = (long)s.B * s.Hq * s.T;
    const long row_kv = (long)s.Hkv * s.D, row_q = (long)s.Hq * s.D;
    float *q = randn(nq, 1.0, 101), *k = randn(nkv, 1.0, 102), *v = randn(nkv, 1.0, 103);
    float *o1 = malloc(sizeof(float) * nq), *o2 = malloc(sizeof(float) * nq);
    float *l1 = malloc(sizeof(float) * nl), *l2 = malloc(sizeof(float) * nl);
    assert_int_equal(fp8lab_attn_fwd(be, o1, l1, q, k, v, s), 0);
    for (int b = 0; b < s.B; b++)
        for (long i = (b * (long)s.T + cut + 1) * row_kv; i < (b + 1) * (long)s.T * row_kv; i++) {
            k[i] += 3.0f;
            v[i] -= 5.0f;
        }
    assert_int_equal(fp8lab_attn_fwd(be, o2, l2, q, k, v, s), 0);
    int changed_after = 0;
    for (int b = 0; b < s.B; b++) {
        assert_memory_equal(o1 + b * s.T * row_q, o2 + b * s.T * row_q, sizeof(float) * (cut + 1) * row_q);
        for (int t = cut + 1; t < s.T; t++)
            for (long i = 0; i < row_q; i++) changed_after += o1[(b * s.T + t) * row_q + i] != o2[(b * s.T + t) * row_q + i];
        for (int h = 0; h < s.Hq; h++)
            assert_memory_equal(l1 + ((long)b * s.Hq + h) * s.T, l2 + ((long)b * s.Hq + h) * s.T,
                                sizeof(float) * (cut + 1));
    }
    assert_true(changed_after > 0); /* the change is visible where it should be */
    /* the first position attends to itself only: out[0] = v[0] of its kv head */
    for (int h = 0; h < s.Hq; h++)
        for (int d = 0; d < s.D; d++) assert_true(fabsf(o2[h * s.D + d] - v[(h / 2) * s.D + d]) <= 1e-6f);
    free(q), free(k), free(v), free(o1), free(o2), free(l1), free(l2);
}

/* ---- cross-entropy --------------------------------------------------------------------------------------- */

static void test_xent(void **state) {
    (void)state;
    const int N = 8, V = 37;
    const float dloss = 1.0f / 6; /* six counted positions */
    int32_t tgt[8] = {3, -1, 0, 36, 17, -100, 3, 29};
    float *logits = randn((long)N * V, 3.0, 111), *loss = filled(N, NAN);
    assert_int_equal(fp8lab_xent_fwd(be, loss, logits, tgt, N, V), 0);
    double *ld = to_d(logits, (long)N * V), ref[8];
    ref_xent(ref, ld, tgt, N, V);
    check_close("xent_fwd", loss, ref, N, FWD_TOL);
    assert_true(loss[1] == 0.0f && loss[5] == 0.0f);
    float *dl = filled((long)N * V, NAN);
    assert_int_equal(fp8lab_xent_bwd(be, dl, logits, tgt, N, V, dloss), 0);
    for (int i = 0; i < V; i++) assert_true(dl[1 * V + i] == 0.0f && dl[5 * V + i] == 0.0f);
    /* each counted row sums to 0 (softmax sums to 1, minus the one-hot) */
    for (int n = 0; n < N; n++) {
        double s = 0;
        for (int i = 0; i < V; i++) s += dl[n * V + i];
        assert_true(fabs(s) <= 1e-6);
    }
    double rd[8];
    for (int n = 0; n < N; n++) rd[n] = dloss;
    fd_ctx c = {.op = OP_XENT, .in = {ld}, .r = rd, .nout = N, .N = N, .V = V, .tok = tgt};
    fd_check("xent_bwd dlogits", &c, 0, dl, (long)N * V, 1000, 112);
    /* in place: dlogits == logits gives the same bits */
    float *inplace = copyf(logits, (long)N * V);
    assert_int_equal(fp8lab_xent_bwd(be, inplace, inplace, tgt, N, V, dloss), 0);
    assert_all_equal(inplace, dl, (long)N * V);
    free(logits), free(loss), free(ld), free(dl), free(inplace);
}

/* ---- add, bias ------------------------------------------------------------------------------------------- */

static void test_add_bias(void **state) {
    (void)state;
    const int N = 10, C = 13;
    const long n = (long)N * C;
    float *a = randn(n, 1.0, 121), *b = randn(n, 1.0, 122), *out = filled(n, NAN);
    assert_int_equal(fp8lab_add(be, out, a, b, n), 0);
    for (long i = 0; i < n; i++) assert_true(out[i] == a[i] + b[i]);
    float *a2 = copyf(a, n);
    assert_int_equal(fp8lab_add(be, a2, a2, b, n), 0); /* out aliases a */
    assert_all_equal(a2, out, n);
    /* bias_fwd: out += bias per row */
    float *bias = randn(C, 1.0, 123), *o = copyf(a, n);
    assert_int_equal(fp8lab_bias_fwd(be, o, bias, N, C), 0);
    for (long i = 0; i < n; i++) assert_true(o[i] == a[i] + bias[i % C]);
    /* bias_bwd: dbias += column sums; twice doubles */
    float *db = filled(C, 0.5f);
    assert_int_equal(fp8lab_bias_bwd(be, db, a, N, C), 0);
    for (int c = 0; c < C; c++) {
        double s = 0.5;
        for (int r = 0; r < N; r++) s += a[r * C + c];
        assert_true(fabs(db[c] - s) <= 1e-5 * (1 + fabs(s)));
    }
    float *db1 = copyf(db, C);
    assert_int_equal(fp8lab_bias_bwd(be, db, a, N, C), 0);
    for (int c = 0; c < C; c++) assert_true(fabsf(db[c] - (2 * db1[c] - 0.5f)) <= 1e-5f * (1 + fabsf(db1[c])));
    free(a), free(b), free(out), free(a2), free(bias), free(o), free(db), free(db1);
}

/* ---- matmul_f32 ------------------------------------------------------------------------------------------ */

static void test_matmul_f32(void **state) {
    (void)state;
    const int M = 37, N = 29, K = 53;
    const float alpha = 0.75f;
    float *a = randn((long)M * K, 1.0, 131), *b = randn((long)K * N, 1.0, 132), *c0 = randn((long)M * N, 1.0, 133);
    double *ref = malloc(sizeof(double) * (size_t)M * N);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int beta = 0; beta < 2; beta++) {
                /* op(A)[m][k] = ta ? a[k][m] : a[m][k]; op(B)[k][n] = tb ? b[n][k] : b[k][n] */
                for (int m = 0; m < M; m++)
                    for (int nn = 0; nn < N; nn++) {
                        double s = 0;
                        for (int k = 0; k < K; k++)
                            s += (double)(ta ? a[(long)k * M + m] : a[(long)m * K + k]) *
                                 (tb ? b[(long)nn * K + k] : b[(long)k * N + nn]);
                        ref[(long)m * N + nn] = alpha * s + (beta ? c0[(long)m * N + nn] : 0.0);
                    }
                /* beta 0: C is not read (NaN there must not leak) */
                float *c = beta ? copyf(c0, (long)M * N) : filled((long)M * N, NAN);
                assert_int_equal(fp8lab_matmul_f32(be, (fp8lab_op_t)ta, (fp8lab_op_t)tb, M, N, K, alpha, a, b,
                                                   (float)beta, c),
                                 0);
                char name[64];
                snprintf(name, sizeof name, "matmul_f32 (%c,%c) beta %d", ta ? 'T' : 'N', tb ? 'T' : 'N', beta);
                check_close(name, c, ref, (long)M * N, FWD_TOL);
                free(c);
            }
    free(a), free(b), free(c0), free(ref);
}

/* ---- argument checks ------------------------------------------------------------------------------------- */

static void expect_fail(int rc, const char *msg, int exit_code) {
    printf("refused: %s\n", fp8lab_last_error());
    assert_int_equal(rc, -1);
    assert_non_null(strstr(fp8lab_last_error(), msg));
    assert_int_equal(fp8lab_last_error_exit(), exit_code);
    fp8lab_clear_error();
}

static void test_argument_checks(void **state) {
    (void)state;
    float *x = filled(4096, 0.0f), *y = filled(4096, 0.0f), *w = filled(64, 1.0f), *m = filled(64, 0.0f),
          *r = filled(64, 0.0f);
    const int E = FP8LAB_EXIT_USAGE;
    expect_fail(fp8lab_layernorm_fwd(be, y, m, r, x, w, NULL, 4, 16, 0.0f), "layernorm_fwd: eps = 0 must be positive", E);
    expect_fail(fp8lab_rmsnorm_fwd(be, y, r, x, w, 4, 16, NAN), "rmsnorm_fwd: eps = nan must be positive", E);
    expect_fail(fp8lab_rmsnorm_fwd(be, y, r, x, w, 4, 0, 1e-5f), "rmsnorm_fwd: C = 0 must be positive", E);
    expect_fail(fp8lab_layernorm_bwd(be, y, NULL, NULL, x, x, w, m, r, 4, 16), "layernorm_bwd: dw is NULL", E);
    expect_fail(fp8lab_rope_fwd(be, x, 1, 4, 2, 7, 10000.0f), "rope_fwd: D = 7 must be a positive multiple of 2", E);
    expect_fail(fp8lab_rope_bwd(be, x, 1, 4, 2, 8, -1.0f), "rope_bwd: theta = -1 must be positive", E);
    expect_fail(fp8lab_gelu_fwd(be, y, x, 0), "gelu_fwd: n = 0 must be positive", E);
    expect_fail(fp8lab_swiglu_bwd(be, y, x, NULL, 4, 8), "swiglu_bwd: gate_up is NULL", E);
    expect_fail(fp8lab_add(be, y, x, (const float *)((const char *)x + 1), 8), "add: b = ", E);
    const fp8lab_attn_shape gqa_bad = {.B = 1, .T = 4, .Hq = 4, .Hkv = 3, .D = 8};
    expect_fail(fp8lab_attn_fwd(be, y, r, x, x, x, gqa_bad), "attn_fwd: Hkv = 3 must divide Hq = 4", E);
    const fp8lab_attn_shape ok = {.B = 1, .T = 4, .Hq = 4, .Hkv = 2, .D = 8};
    expect_fail(fp8lab_attn_fwd(be, y, NULL, x, x, x, ok), "attn_fwd: lse is NULL", E);
    expect_fail(fp8lab_attn_bwd(be, y, y, y, x, x, r, x, x, x, (fp8lab_attn_shape){.B = 1, .T = 0, .Hq = 1, .Hkv = 1, .D = 8}),
                "attn_bwd: T = 0 must be positive", E);
    expect_fail(fp8lab_xent_bwd(be, y, x, (const int32_t *)w, 4, 16, INFINITY), "xent_bwd: dloss = inf must be finite",
                E);
    expect_fail(fp8lab_matmul_f32(be, (fp8lab_op_t)2, FP8LAB_OP_N, 4, 4, 4, 1.0f, x, x, 0.0f, y),
                "matmul_f32: unknown transpose ta = 2", E);
    expect_fail(fp8lab_matmul_f32(be, FP8LAB_OP_N, FP8LAB_OP_T, 4, 0, 4, 1.0f, x, x, 0.0f, y),
                "matmul_f32: N = 0 must be positive", E);
    expect_fail(fp8lab_matmul_f32(be, FP8LAB_OP_N, FP8LAB_OP_T, 4, 4, 4, 1.0f, x, x, 0.0f, NULL),
                "matmul_f32: C is NULL", E);

    /* token ids outside [0, V): refused, naming the position, before anything is written */
    int32_t tok[6] = {0, 1, 2, 3, 9, 1};
    float *wte = filled(10 * 8, 1.0f);
    expect_fail(fp8lab_embed_fwd(be, y, tok, wte, NULL, 2, 3, 8, 9), "embed_fwd: tok[4] = 9 is out of range", E);
    tok[4] = 1, tok[2] = -1;
    expect_fail(fp8lab_embed_bwd(be, wte, NULL, x, tok, 2, 3, 8, 10), "embed_bwd: tok[2] = -1 is out of range", E);
    for (int i = 0; i < 80; i++) assert_true(wte[i] == 1.0f); /* untouched */
    int32_t tgt[4] = {-1, 2, 16, 0};
    expect_fail(fp8lab_xent_fwd(be, y, x, tgt, 4, 16), "xent_fwd: targets[2] = 16 is out of range", E);
    expect_fail(fp8lab_xent_bwd(be, y, x, tgt, 4, 16, 1.0f), "xent_bwd: targets[2] = 16 is out of range", E);
    tgt[2] = 15; /* negative targets are fine */
    assert_int_equal(fp8lab_xent_fwd(be, y, x, tgt, 4, 16), 0);

    /* a backend without the table: "not implemented", exit status 1 */
    fp8lab_backend fake = {.name = "fake"};
    expect_fail(fp8lab_layernorm_fwd(&fake, y, m, r, x, w, NULL, 4, 16, 1e-5f),
                "op layernorm_fwd is not implemented by backend fake", FP8LAB_EXIT_RUNTIME);
    expect_fail(fp8lab_matmul_f32(&fake, FP8LAB_OP_N, FP8LAB_OP_N, 4, 4, 4, 1.0f, x, x, 0.0f, y),
                "op matmul_f32 is not implemented by backend fake", FP8LAB_EXIT_RUNTIME);
    expect_fail(fp8lab_add(NULL, y, x, x, 4), "add: the backend is NULL", E);
    free(x), free(y), free(w), free(m), free(r), free(wte);
}

int main(void) {
    be = fp8lab_cpu_backend_create();
    if (!be) FP8LAB_SKIP("cpu backend: %s", fp8lab_last_error());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embed),      cmocka_unit_test(test_layernorm),   cmocka_unit_test(test_rmsnorm),
        cmocka_unit_test(test_gelu),       cmocka_unit_test(test_swiglu),      cmocka_unit_test(test_rope),
        cmocka_unit_test(test_attn),       cmocka_unit_test(test_attn_causal), cmocka_unit_test(test_xent),
        cmocka_unit_test(test_add_bias),   cmocka_unit_test(test_matmul_f32),  cmocka_unit_test(test_argument_checks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(be);
    return rc;
}
