/* CPU backend against the numerics core and an fp64 reference: quantizers in the backend's scale layouts,
   the three GEMM recipes; the front functions' argument checks (table-driven) and the non-finite rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "fp8/gemm_ref.h"
#include "fp8/quant.h"
#include "test_util.h"

static fp8lab_backend *be;

static float *randn(int n, double scale, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * (size_t)n);
    /* per-128 run magnitudes spread over 2^-6..2^5, as real activations are, so scales differ per tile */
    for (int i = 0; i < n; i += 128) {
        double mag = ldexp(1.0, (int)(fp8lab_rng_u32(&r) % 12) - 6);
        for (int j = i; j < i + 128 && j < n; j++) x[j] = (float)(scale * mag * fp8lab_rng_normal(&r));
    }
    return x;
}

/* relative Frobenius error of got against an fp64 ref */
static double rel_err(const float *got, const double *ref, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num += ((double)got[i] - ref[i]) * ((double)got[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static double *gemm_f64(const float *a, const float *b, int M, int N, int K) {
    double *d = malloc(sizeof(double) * (size_t)M * N);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)a[(size_t)m * K + k] * b[(size_t)n * K + k];
            d[(size_t)m * N + n] = s;
        }
    return d;
}

static void test_quantizers_match_core(void **state) {
    (void)state;
    const int R = 256, C = 384;
    float *x = randn(R * C, 1.0, 11);
    uint8_t *q = malloc((size_t)R * C), *qr = malloc((size_t)R * C), *qt = malloc((size_t)R * C);
    float *s = malloc(sizeof(float) * R * 4 * 4), *sr = malloc(sizeof(float) * R * 4 * 4), *st = malloc(sizeof(float) * C * 4);
    for (int fmt = 0; fmt < 2; fmt++) {
        /* 1x128: same bytes as the core, scales transposed to [cols/128][rows] */
        assert_int_equal(fp8lab_quantize_1x128(be, x, R, C, fmt, 0, q, s), 0);
        assert_int_equal(fp8_quantize_1x128(x, R, C, fmt, 0, qr, sr), 0);
        assert_memory_equal(q, qr, (size_t)R * C);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C / 128; c++)
                assert_true(s[fp8lab_scale_1x128_tile(r, c, R)] == sr[r * (C / 128) + c]);
        /* fused transpose: the second orientation is the core quantizer applied to x^T */
        assert_int_equal(fp8lab_quantize_1x128_t(be, x, R, C, fmt, 1, q, s, qt, st), 0);
        float *xt = malloc(sizeof(float) * R * C);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) xt[c * R + r] = x[r * C + c];
        assert_int_equal(fp8_quantize_1x128(xt, C, R, fmt, 1, qr, sr), 0);
        assert_memory_equal(qt, qr, (size_t)R * C);
        for (int c = 0; c < C; c++)
            for (int rb = 0; rb < R / 128; rb++)
                assert_true(st[fp8lab_scale_1x128_tile(c, rb, C)] == sr[c * (R / 128) + rb]);
        free(xt);
        /* 128x128: padded to ld = roundup(3, 4) = 4, padding zero */
        int ld = fp8lab_blk_scale_ld(C);
        assert_int_equal(ld, 4);
        assert_int_equal(fp8lab_quantize_128x128(be, x, R, C, fmt, 0, q, s), 0);
        assert_int_equal(fp8_quantize_128x128(x, R, C, fmt, 0, qr, sr), 0);
        assert_memory_equal(q, qr, (size_t)R * C);
        for (int rb = 0; rb < R / 128; rb++) {
            for (int cb = 0; cb < 3; cb++) assert_true(s[fp8lab_scale_128x128_tile(rb, cb, ld)] == sr[rb * 3 + cb]);
            assert_true(s[fp8lab_scale_128x128_tile(rb, 3, ld)] == 0.0f);
        }
    }
    free(x);
    free(q);
    free(qr);
    free(qt);
    free(s);
    free(sr);
    free(st);
}

/* Block GEMM: the CPU backend (sgemm on 128-wide panels) against fp8_gemm_block_ref with promote_k = 128 and
   against fp64 over the dequantized operands. Tolerance 1e-6: both sum exact FP8 products in FP32, in a
   different order; FP32 rounding over K <= 1024 stays orders of magnitude below it. */
static void check_block_gemm(int M, int N, int K, fp8lab_b_scaling bscal) {
    float *a = randn(M * K, 1.0, 21), *b = randn(N * K, 0.1, 22);
    uint8_t *qa = malloc((size_t)M * K), *qb = malloc((size_t)N * K);
    float *sa = malloc(sizeof(float) * M * (K / 128)), *sb = malloc(sizeof(float) * (N + 4) * (K / 128 + 4));
    float *D = malloc(sizeof(float) * M * N), *Dr = malloc(sizeof(float) * M * N);
    float *da = malloc(sizeof(float) * M * K), *db = malloc(sizeof(float) * N * K);
    assert_int_equal(fp8lab_quantize_1x128(be, a, M, K, FP8_E4M3, 0, qa, sa), 0);
    if (bscal == FP8LAB_B_128x128)
        assert_int_equal(fp8lab_quantize_128x128(be, b, N, K, FP8_E4M3, 0, qb, sb), 0);
    else
        assert_int_equal(fp8lab_quantize_1x128(be, b, N, K, FP8_E4M3, 0, qb, sb), 0);
    assert_int_equal(fp8lab_gemm_fp8_block(be, qa, sa, qb, sb, bscal, M, N, K, FP8LAB_F32, D), 0);
    /* dequantize from the backend layouts */
    int ld = fp8lab_blk_scale_ld(K);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) da[m * K + k] = fp8_e4m3_to_f32(qa[m * K + k]) * sa[fp8lab_scale_1x128_at(m, k, M)];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            db[n * K + k] = fp8_e4m3_to_f32(qb[n * K + k]) * (bscal == FP8LAB_B_128x128
                                                                  ? sb[fp8lab_scale_128x128_at(n, k, K)]
                                                                  : sb[fp8lab_scale_1x128_at(n, k, N)]);
    double *ref = gemm_f64(da, db, M, N, K);
    double e = rel_err(D, ref, (long)M * N);
    printf("gemm_fp8_block %s %dx%dx%d: rel err vs fp64 %.2e\n", bscal == FP8LAB_B_128x128 ? "1x128.128x128" : "1x128.1x128",
           M, N, K, e);
    assert_true(e <= 1e-6);
    if (bscal == FP8LAB_B_128x128) {
        /* the core reference takes the DESIGN layouts: sa [M][K/128], sb [N/128][K/128] */
        float *sa2 = malloc(sizeof(float) * M * (K / 128)), *sb2 = malloc(sizeof(float) * (N / 128) * (K / 128));
        for (int m = 0; m < M; m++)
            for (int kb = 0; kb < K / 128; kb++) sa2[m * (K / 128) + kb] = sa[fp8lab_scale_1x128_tile(m, kb, M)];
        for (int nb = 0; nb < N / 128; nb++)
            for (int kb = 0; kb < K / 128; kb++)
                sb2[nb * (K / 128) + kb] = sb[fp8lab_scale_128x128_tile(nb, kb, ld)];
        assert_int_equal(fp8_gemm_block_ref(qa, sa2, qb, sb2, M, N, K, 128, Dr), 0);
        double num = 0, den = 0;
        for (long i = 0; i < (long)M * N; i++) {
            num += ((double)D[i] - Dr[i]) * ((double)D[i] - Dr[i]);
            den += (double)Dr[i] * Dr[i];
        }
        assert_true(sqrt(num / den) <= 1e-6);
        free(sa2);
        free(sb2);
    }
    /* BF16 output is the FP32 result rounded: each element within half a BF16 ulp (2^-9 relative) */
    uint16_t *Dh = malloc(sizeof(uint16_t) * M * N);
    assert_int_equal(fp8lab_gemm_fp8_block(be, qa, sa, qb, sb, bscal, M, N, K, FP8LAB_BF16, Dh), 0);
    for (long i = 0; i < (long)M * N; i++) assert_true(Dh[i] == bf16_from_f32(D[i]));
    free(Dh);
    free(ref);
    free(a);
    free(b);
    free(qa);
    free(qb);
    free(sa);
    free(sb);
    free(D);
    free(Dr);
    free(da);
    free(db);
}

static void test_gemm_fp8_block(void **state) {
    (void)state;
    check_block_gemm(128, 128, 128, FP8LAB_B_128x128);
    check_block_gemm(256, 384, 640, FP8LAB_B_128x128);
    check_block_gemm(384, 256, 1024, FP8LAB_B_128x128);
    check_block_gemm(256, 384, 512, FP8LAB_B_1x128);
}

static void test_gemm_other_recipes(void **state) {
    (void)state;
    const int M = 96, N = 80, K = 208; /* non-block recipes take any shape (FP8 per-tensor: K a multiple of 16) */
    float *a = randn(M * K, 1.0, 31), *b = randn(N * K, 1.0, 32), *D = malloc(sizeof(float) * M * N);
    /* fp32: OpenBLAS sgemm vs fp64, FP32 rounding over K = 200: 1e-6 */
    assert_int_equal(fp8lab_gemm_f32(be, a, b, M, N, K, D), 0);
    double *ref = gemm_f64(a, b, M, N, K);
    assert_true(rel_err(D, ref, (long)M * N) <= 1e-6);
    free(ref);
    /* bf16: inputs rounded to bf16, products summed in FP32: vs fp64 over the rounded inputs, 1e-6 */
    uint16_t *ha = malloc(2 * (size_t)M * K), *hb = malloc(2 * (size_t)N * K);
    float *ra = malloc(sizeof(float) * M * K), *rb = malloc(sizeof(float) * N * K);
    assert_int_equal(fp8lab_cast_f32_to_bf16(be, a, (long)M * K, ha), 0);
    assert_int_equal(fp8lab_cast_f32_to_bf16(be, b, (long)N * K, hb), 0);
    assert_int_equal(fp8lab_cast_bf16_to_f32(be, ha, (long)M * K, ra), 0);
    assert_int_equal(fp8lab_cast_bf16_to_f32(be, hb, (long)N * K, rb), 0);
    for (long i = 0; i < (long)M * K; i++) assert_true(ha[i] == bf16_from_f32(a[i]));
    assert_int_equal(fp8lab_gemm_bf16(be, ha, hb, M, N, K, FP8LAB_F32, D), 0);
    ref = gemm_f64(ra, rb, M, N, K);
    assert_true(rel_err(D, ref, (long)M * N) <= 1e-6);
    /* ... and against the unrounded inputs the error is BF16's: 8 mantissa bits, ~2^-9 per element */
    double *ref0 = gemm_f64(a, b, M, N, K);
    double e_bf16 = rel_err(D, ref0, (long)M * N);
    assert_true(e_bf16 > 1e-5 && e_bf16 < 1e-2);
    free(ref);
    /* fp8 per-tensor, E4M3 x E5M2 (the usual Dgrad mix) */
    uint8_t *qa = malloc((size_t)M * K), *qb = malloc((size_t)N * K);
    float sa, sb, amax;
    assert_int_equal(fp8lab_quantize_tensor(be, a, (long)M * K, FP8_E4M3, 0, qa, &sa), 0);
    assert_int_equal(fp8lab_quantize_tensor(be, b, (long)N * K, FP8_E5M2, 0, qb, &sb), 0);
    assert_int_equal(fp8lab_amax(be, a, (long)M * K, &amax), 0);
    assert_true(sa == amax / 448.0f);
    for (long i = 0; i < (long)M * K; i++) ra[i] = fp8_e4m3_to_f32(qa[i]) * sa;
    for (long i = 0; i < (long)N * K; i++) rb[i] = fp8_e5m2_to_f32(qb[i]) * sb;
    assert_int_equal(fp8lab_gemm_fp8_tensor(be, qa, FP8_E4M3, &sa, qb, FP8_E5M2, &sb, M, N, K, FP8LAB_F32, D), 0);
    ref = gemm_f64(ra, rb, M, N, K);
    assert_true(rel_err(D, ref, (long)M * N) <= 1e-6);
    /* delayed scaling with the same scale reproduces the current-scaling bytes */
    uint8_t *q2 = malloc((size_t)M * K);
    assert_int_equal(fp8lab_cast_fp8_scaled(be, a, (long)M * K, FP8_E4M3, &sa, q2), 0);
    assert_memory_equal(q2, qa, (size_t)M * K);
    free(q2);
    free(ref);
    free(ref0);
    free(a);
    free(b);
    free(D);
    free(ha);
    free(hb);
    free(ra);
    free(rb);
    free(qa);
    free(qb);
}

/* ---- the front functions' contract: one row per rule (backend/quant_ops.h, gemm_ops.h, mem_ops.h) ----------
   Every op is called through its front function with valid, 256-byte aligned, zeroed buffers, except for the
   row's one change: a shape, format or dtype, one argument passed as NULL (null_arg) or moved off its
   alignment (odd_arg). expect is a substring of the error (NULL: the call succeeds); every failure must name
   the op and ask for exit status 2. The CUDA backend gets the same checks from the same code. */
typedef enum {
    V_CAST_F32_BF16, V_CAST_BF16_F32, V_AMAX, V_QUANT_TENSOR, V_CAST_FP8_SCALED, V_QUANT_1x128, V_QUANT_1x128_T,
    V_QUANT_128x128, V_GEMM_F32, V_GEMM_BF16, V_GEMM_FP8_TENSOR, V_GEMM_FP8_BLOCK, V_COPY_H2D, V_MEMSET0,
} vop;

static const char *const VOP_NAME[] = {
    "cast_f32_to_bf16", "cast_bf16_to_f32", "amax", "quantize_tensor", "cast_fp8_scaled", "quantize_1x128",
    "quantize_1x128_t", "quantize_128x128", "gemm_f32", "gemm_bf16", "gemm_fp8_tensor", "gemm_fp8_block",
    "copy_h2d", "memset0",
};

typedef struct {
    vop op;
    long n;          /* elements (element-wise ops) or bytes (memory ops) */
    int M, N, K;     /* GEMMs; the quantizers take rows = M, cols = K */
    int fmt, fmt_b;  /* FP8 formats: the quantizers' fmt, the GEMMs' fmt_a and fmt_b */
    int out, bscal;  /* GEMM output dtype and B scaling, as ints so that bad values fit */
    const char *null_arg, *odd_arg;
    const char *expect;
} vrow;

static const vrow VROWS[] = {
    /* element counts: n >= 1 everywhere (an empty tensor has no amax and no scale) */
    {V_AMAX, .n = 0, .expect = "amax: n = 0 must be positive"},
    {V_AMAX, .n = -5, .expect = "amax: n = -5 must be positive"},
    {V_AMAX, .n = 1},
    {V_CAST_F32_BF16, .n = 0, .expect = "cast_f32_to_bf16: n = 0 must be positive"},
    {V_CAST_BF16_F32, .n = 0, .expect = "cast_bf16_to_f32: n = 0 must be positive"},
    {V_QUANT_TENSOR, .n = 0, .expect = "quantize_tensor: n = 0 must be positive"},
    {V_CAST_FP8_SCALED, .n = -1, .expect = "cast_fp8_scaled: n = -1 must be positive"},
    /* NULL pointers */
    {V_CAST_BF16_F32, .n = 8, .null_arg = "x", .expect = "cast_bf16_to_f32: x is NULL"},
    {V_CAST_F32_BF16, .n = 8, .null_arg = "y", .expect = "cast_f32_to_bf16: y is NULL"},
    {V_AMAX, .n = 8, .null_arg = "amax_dev", .expect = "amax: amax_dev is NULL"},
    {V_QUANT_TENSOR, .n = 8, .null_arg = "scale_inv_dev", .expect = "quantize_tensor: scale_inv_dev is NULL"},
    {V_CAST_FP8_SCALED, .n = 8, .null_arg = "scale_inv_dev", .expect = "cast_fp8_scaled: scale_inv_dev is NULL"},
    {V_QUANT_1x128_T, .M = 128, .K = 128, .null_arg = "qt", .expect = "quantize_1x128_t: qt is NULL"},
    {V_GEMM_F32, .M = 8, .N = 8, .K = 8, .null_arg = "D", .expect = "gemm_f32: D is NULL"},
    {V_GEMM_FP8_TENSOR, .M = 16, .N = 16, .K = 16, .null_arg = "sa_dev", .expect = "gemm_fp8_tensor: sa_dev is NULL"},
    {V_GEMM_FP8_BLOCK, .M = 128, .N = 128, .K = 128, .null_arg = "B", .expect = "gemm_fp8_block: B is NULL"},
    {V_COPY_H2D, .n = 16, .null_arg = "dst", .expect = "copy_h2d: dst is NULL"},
    {V_COPY_H2D, .n = 0, .null_arg = "dst"}, /* nothing to copy: no pointer needed */
    {V_MEMSET0, .n = 4, .null_arg = "dst", .expect = "memset0: dst is NULL"},
    {V_MEMSET0, .n = 0, .null_arg = "dst"},
    /* formats and output dtypes */
    {V_QUANT_TENSOR, .n = 8, .fmt = 2, .expect = "quantize_tensor: unknown fp8 format fmt = 2"},
    {V_CAST_FP8_SCALED, .n = 8, .fmt = -1, .expect = "cast_fp8_scaled: unknown fp8 format fmt = -1"},
    {V_QUANT_128x128, .M = 128, .K = 128, .fmt = 7, .expect = "quantize_128x128: unknown fp8 format fmt = 7"},
    {V_GEMM_FP8_TENSOR, .M = 16, .N = 16, .K = 16, .fmt_b = 3,
     .expect = "gemm_fp8_tensor: unknown fp8 format fmt_b = 3"},
    {V_GEMM_FP8_TENSOR, .M = 16, .N = 16, .K = 16, .fmt = FP8_E5M2, .fmt_b = FP8_E5M2,
     .expect = "gemm_fp8_tensor: E5M2 x E5M2 is not supported"},
    {V_GEMM_FP8_TENSOR, .M = 16, .N = 16, .K = 16, .fmt = FP8_E5M2}, /* E5M2 x E4M3 is fine */
    {V_GEMM_BF16, .M = 8, .N = 8, .K = 8, .out = 7, .expect = "gemm_bf16: unknown output dtype 7"},
    {V_GEMM_FP8_BLOCK, .M = 128, .N = 128, .K = 128, .out = -1, .expect = "gemm_fp8_block: unknown output dtype -1"},
    {V_GEMM_FP8_BLOCK, .M = 128, .N = 128, .K = 128, .bscal = 5, .expect = "gemm_fp8_block: unknown B scaling 5"},
    /* shapes */
    {V_QUANT_1x128, .M = 128, .K = 100, .expect = "quantize_1x128: cols = 100 must be a positive multiple of 128"},
    {V_QUANT_1x128, .M = 0, .K = 128, .expect = "quantize_1x128: rows = 0 must be positive"},
    {V_QUANT_1x128, .M = 3, .K = 256}, /* 1x128 rows need not be a multiple of 128 */
    {V_QUANT_1x128_T, .M = 64, .K = 128, .expect = "quantize_1x128_t: rows = 64 must be a positive multiple of 128"},
    {V_QUANT_128x128, .M = 100, .K = 128, .expect = "quantize_128x128: rows = 100 must be a positive multiple of 128"},
    {V_GEMM_F32, .M = 0, .N = 8, .K = 8, .expect = "gemm_f32: M = 0 must be positive"},
    {V_GEMM_F32, .M = 3, .N = 5, .K = 7},
    {V_GEMM_FP8_TENSOR, .M = 16, .N = 16, .K = 200, .expect = "gemm_fp8_tensor: K = 200 must be a multiple of 16"},
    {V_GEMM_FP8_BLOCK, .M = 128, .N = 100, .K = 128, .expect = "gemm_fp8_block: N = 100 must be a positive multiple"},
    /* alignment the CUDA kernels and cuBLASLt need */
    {V_QUANT_1x128, .M = 128, .K = 128, .odd_arg = "x", .expect = "quantize_1x128: x = "},
    {V_QUANT_1x128, .M = 128, .K = 128, .odd_arg = "q", .expect = "quantize_1x128: q = "},
    {V_QUANT_1x128_T, .M = 128, .K = 128, .odd_arg = "st", .expect = "quantize_1x128_t: st = "},
    {V_GEMM_FP8_BLOCK, .M = 128, .N = 128, .K = 128, .odd_arg = "sb", .expect = "gemm_fp8_block: sb = "},
};

/* Zeroed device buffers big enough for every row. */
static struct {
    float *x, *s, *st, *y;
    uint8_t *q, *qt;
} vb;

enum { VB_ELEMS = 256 * 256 };

/* The pointer a row passes for argument `name`: NULL, p moved off its alignment, or p. */
static void *varg(const vrow *r, const char *name, void *p) {
    if (r->null_arg && !strcmp(r->null_arg, name)) return NULL;
    if (r->odd_arg && !strcmp(r->odd_arg, name)) return (char *)p + (name[0] == 'q' ? 1 : 4);
    return p;
}

static int vcall(const vrow *r) {
    float *x = varg(r, "x", vb.x), *s = varg(r, "s", vb.s), *st = varg(r, "st", vb.st);
    uint8_t *q = varg(r, "q", vb.q), *qt = varg(r, "qt", vb.qt);
    const fp8lab_out_dtype out = (fp8lab_out_dtype)r->out;
    switch (r->op) {
    case V_CAST_F32_BF16: return fp8lab_cast_f32_to_bf16(be, x, r->n, varg(r, "y", vb.y));
    case V_CAST_BF16_F32: return fp8lab_cast_bf16_to_f32(be, varg(r, "x", vb.q), r->n, varg(r, "y", vb.y));
    case V_AMAX: return fp8lab_amax(be, x, r->n, varg(r, "amax_dev", vb.s));
    case V_QUANT_TENSOR: return fp8lab_quantize_tensor(be, x, r->n, r->fmt, 0, q, varg(r, "scale_inv_dev", vb.s));
    case V_CAST_FP8_SCALED:
        vb.st[0] = 1.0f;
        return fp8lab_cast_fp8_scaled(be, x, r->n, r->fmt, varg(r, "scale_inv_dev", vb.st), q);
    case V_QUANT_1x128: return fp8lab_quantize_1x128(be, x, r->M, r->K, r->fmt, 0, q, s);
    case V_QUANT_1x128_T: return fp8lab_quantize_1x128_t(be, x, r->M, r->K, r->fmt, 0, q, s, qt, st);
    case V_QUANT_128x128: return fp8lab_quantize_128x128(be, x, r->M, r->K, r->fmt, 0, q, s);
    case V_GEMM_F32: return fp8lab_gemm_f32(be, varg(r, "A", vb.x), varg(r, "B", vb.st), r->M, r->N, r->K,
                                            varg(r, "D", vb.y));
    case V_GEMM_BF16: return fp8lab_gemm_bf16(be, varg(r, "A", vb.q), varg(r, "B", vb.qt), r->M, r->N, r->K, out,
                                              varg(r, "D", vb.y));
    case V_GEMM_FP8_TENSOR:
        return fp8lab_gemm_fp8_tensor(be, varg(r, "A", vb.q), r->fmt, varg(r, "sa_dev", vb.s), varg(r, "B", vb.qt),
                                      r->fmt_b, varg(r, "sb_dev", vb.st), r->M, r->N, r->K, out, varg(r, "D", vb.y));
    case V_GEMM_FP8_BLOCK:
        return fp8lab_gemm_fp8_block(be, varg(r, "A", vb.q), varg(r, "sa", vb.s), varg(r, "B", vb.qt),
                                     varg(r, "sb", vb.st), (fp8lab_b_scaling)r->bscal, r->M, r->N, r->K, out,
                                     varg(r, "D", vb.y));
    case V_COPY_H2D: return fp8lab_copy_h2d(be, varg(r, "dst", vb.y), vb.x, (size_t)r->n);
    case V_MEMSET0: return fp8lab_memset0(be, varg(r, "dst", vb.y), (size_t)r->n);
    }
    return -2;
}

static void test_front_contract(void **state) {
    (void)state;
    vb.x = fp8lab_alloc(be, sizeof(float) * VB_ELEMS);
    vb.s = fp8lab_alloc(be, sizeof(float) * VB_ELEMS);
    vb.st = fp8lab_alloc(be, sizeof(float) * VB_ELEMS);
    vb.y = fp8lab_alloc(be, sizeof(float) * VB_ELEMS);
    vb.q = fp8lab_alloc(be, VB_ELEMS);
    vb.qt = fp8lab_alloc(be, VB_ELEMS);
    assert_true(vb.x && vb.s && vb.st && vb.y && vb.q && vb.qt);
    int failed = 0;
    for (size_t i = 0; i < sizeof VROWS / sizeof VROWS[0]; i++) {
        const vrow *r = &VROWS[i];
        memset(vb.x, 0, sizeof(float) * VB_ELEMS);
        memset(vb.q, 0, VB_ELEMS);
        memset(vb.qt, 0, VB_ELEMS);
        memset(vb.s, 0, sizeof(float) * VB_ELEMS);
        memset(vb.st, 0, sizeof(float) * VB_ELEMS);
        fp8lab_clear_error();
        const int rc = vcall(r);
        const char *msg = rc ? fp8lab_last_error() : "ok";
        int ok = r->expect ? rc == -1 && strstr(msg, r->expect) && strstr(msg, VOP_NAME[r->op]) &&
                                 fp8lab_last_error_exit() == FP8LAB_EXIT_USAGE
                           : rc == 0;
        if (ok && r->odd_arg) ok = strstr(msg, "-byte aligned") != NULL;
        printf("%-3zu %-16s %s: %s\n", i, VOP_NAME[r->op], ok ? "ok  " : "FAIL", msg);
        failed += !ok;
    }
    fp8lab_free(be, vb.x);
    fp8lab_free(be, vb.s);
    fp8lab_free(be, vb.st);
    fp8lab_free(be, vb.y);
    fp8lab_free(be, vb.q);
    fp8lab_free(be, vb.qt);
    assert_int_equal(failed, 0);
}

/* ---- non-finite values: amax propagates NaN, the quantizers refuse -------------------------------------------
   amax reduces |x| as IEEE bit patterns (what the CUDA kernel does): NaN sorts above +Inf, and of two NaNs the
   larger |x| pattern wins, so both backends return the same bits. */
typedef struct {
    const char *what;
    uint32_t plant[3]; /* bit patterns written at index 0, n/2 and n-1 (0: leave the finite value) */
    uint32_t expect;   /* amax bits */
} amax_row;

static const amax_row AMAX_ROWS[] = {
    {"finite", {0, 0, 0}, 0x40400000u /* 3.0: the largest planted below */},
    {"-Inf", {0xff800000u, 0, 0}, 0x7f800000u},
    {"+Inf at the end", {0, 0, 0x7f800000u}, 0x7f800000u},
    {"NaN beside Inf", {0x7f800000u, 0x7fc00000u, 0}, 0x7fc00000u},
    {"NaN first", {0x7fc00000u, 0, 0}, 0x7fc00000u},
    {"negative NaN, larger payload", {0x7fc00000u, 0, 0xffc00001u}, 0x7fc00001u},
};

static void test_amax_nan_rule(void **state) {
    (void)state;
    const long n = 10007;
    float *x = malloc(sizeof(float) * (size_t)n), amax;
    for (size_t i = 0; i < sizeof AMAX_ROWS / sizeof AMAX_ROWS[0]; i++) {
        const amax_row *r = &AMAX_ROWS[i];
        for (long j = 0; j < n; j++) x[j] = (float)((j % 5) - 2) * 0.5f; /* |x| <= 1 */
        x[n / 3] = -3.0f;
        const long at[3] = {0, n / 2, n - 1};
        for (int k = 0; k < 3; k++)
            if (r->plant[k]) memcpy(&x[at[k]], &r->plant[k], sizeof(uint32_t));
        assert_int_equal(fp8lab_amax(be, x, n, &amax), 0);
        uint32_t bits;
        memcpy(&bits, &amax, sizeof bits);
        printf("amax %-30s 0x%08x (expected 0x%08x)\n", r->what, (unsigned)bits, (unsigned)r->expect);
        assert_true(bits == r->expect);
    }
    free(x);
}

/* Every quantizer refuses a tile with a NaN or an infinity (exit status 2, naming the element and the core
   quantizer that found it), and a delayed-scaling cast refuses a scale_inv that is not a positive finite
   number, such as amax/448 of a NaN amax. */
typedef struct {
    vop op;
    uint32_t bad;       /* bit pattern planted at element (5, 200) */
    const char *expect; /* in the message */
} nonfinite_row;

static const nonfinite_row NONFINITE_ROWS[] = {
    {V_QUANT_TENSOR, 0x7fc00000u, "fp8_quantize_tensor: non-finite value at index 1480"},
    {V_QUANT_TENSOR, 0x7f800000u, "fp8_quantize_tensor: non-finite value at index 1480"},
    {V_QUANT_1x128, 0x7fc00000u, "fp8_quantize_1x128: non-finite value at row 5 col 200"},
    {V_QUANT_1x128, 0xff800000u, "fp8_quantize_1x128: non-finite value at row 5 col 200"},
    {V_QUANT_1x128_T, 0xff800000u, "fp8_quantize_1x128: non-finite value at row 5 col 200"},
    {V_QUANT_128x128, 0x7fc00000u, "fp8_quantize_128x128: non-finite value at row 5 col 200"},
};

static void test_quantizers_refuse_nonfinite(void **state) {
    (void)state;
    const int rows = 128, cols = 256;
    float *x = fp8lab_alloc(be, sizeof(float) * rows * cols), *s = fp8lab_alloc(be, sizeof(float) * rows * cols);
    float *st = fp8lab_alloc(be, sizeof(float) * rows * cols);
    uint8_t *q = fp8lab_alloc(be, (size_t)rows * cols), *qt = fp8lab_alloc(be, (size_t)rows * cols);
    for (size_t i = 0; i < sizeof NONFINITE_ROWS / sizeof NONFINITE_ROWS[0]; i++) {
        const nonfinite_row *r = &NONFINITE_ROWS[i];
        for (int j = 0; j < rows * cols; j++) x[j] = (float)(j % 7) - 3.0f;
        memcpy(&x[5 * cols + 200], &r->bad, sizeof(uint32_t));
        fp8lab_clear_error();
        const int e4 = FP8_E4M3;
        const int rc = r->op == V_QUANT_TENSOR    ? fp8lab_quantize_tensor(be, x, (long)rows * cols, e4, 0, q, s)
                       : r->op == V_QUANT_1x128   ? fp8lab_quantize_1x128(be, x, rows, cols, e4, 0, q, s)
                       : r->op == V_QUANT_1x128_T ? fp8lab_quantize_1x128_t(be, x, rows, cols, e4, 0, q, s, qt, st)
                                                  : fp8lab_quantize_128x128(be, x, rows, cols, e4, 0, q, s);
        printf("%-16s 0x%08x: %s\n", VOP_NAME[r->op], (unsigned)r->bad, fp8lab_last_error());
        assert_int_equal(rc, -1);
        assert_non_null(strstr(fp8lab_last_error(), r->expect));
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    }
    /* the delayed-scaling chain: amax of a NaN tensor is NaN, and the scale made from it is refused */
    for (int j = 0; j < rows * cols; j++) x[j] = 1.0f;
    x[17] = NAN;
    assert_int_equal(fp8lab_amax(be, x, (long)rows * cols, s), 0);
    assert_true(isnan(s[0]));
    const float bad_scales[] = {s[0] / 448.0f, INFINITY, 0.0f, -1.0f};
    for (size_t i = 0; i < sizeof bad_scales / sizeof bad_scales[0]; i++) {
        s[1] = bad_scales[i];
        fp8lab_clear_error();
        assert_int_equal(fp8lab_cast_fp8_scaled(be, x, 64, FP8_E4M3, &s[1], q), -1);
        printf("cast_fp8_scaled scale %g: %s\n", (double)bad_scales[i], fp8lab_last_error());
        assert_non_null(strstr(fp8lab_last_error(), "cast_fp8_scaled: scale_inv = "));
        assert_non_null(strstr(fp8lab_last_error(), "is not a positive finite number"));
    }
    fp8lab_free(be, x);
    fp8lab_free(be, s);
    fp8lab_free(be, st);
    fp8lab_free(be, q);
    fp8lab_free(be, qt);
}

int main(void) {
    be = fp8lab_cpu_backend_create();
    if (!be) FP8LAB_SKIP("cpu backend: %s", fp8lab_last_error());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantizers_match_core),
        cmocka_unit_test(test_gemm_fp8_block),
        cmocka_unit_test(test_gemm_other_recipes),
        cmocka_unit_test(test_front_contract),
        cmocka_unit_test(test_amax_nan_rule),
        cmocka_unit_test(test_quantizers_refuse_nonfinite),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(be);
    return rc;
}
