/* CPU backend against the numerics core and an fp64 reference: quantizers in the backend's scale layouts,
   the three GEMM recipes, and bad input. */
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
        assert_int_equal(be->quantize_1x128(be, x, R, C, fmt, 0, q, s), 0);
        assert_int_equal(fp8_quantize_1x128(x, R, C, fmt, 0, qr, sr), 0);
        assert_memory_equal(q, qr, (size_t)R * C);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C / 128; c++) assert_true(s[c * R + r] == sr[r * (C / 128) + c]);
        /* fused transpose: the second orientation is the core quantizer applied to x^T */
        assert_int_equal(be->quantize_1x128_t(be, x, R, C, fmt, 1, q, s, qt, st), 0);
        float *xt = malloc(sizeof(float) * R * C);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) xt[c * R + r] = x[r * C + c];
        assert_int_equal(fp8_quantize_1x128(xt, C, R, fmt, 1, qr, sr), 0);
        assert_memory_equal(qt, qr, (size_t)R * C);
        for (int c = 0; c < C; c++)
            for (int rb = 0; rb < R / 128; rb++) assert_true(st[rb * C + c] == sr[c * (R / 128) + rb]);
        free(xt);
        /* 128x128: padded to ld = roundup(3, 4) = 4, padding zero */
        int ld = fp8lab_blk_scale_ld(C);
        assert_int_equal(ld, 4);
        assert_int_equal(be->quantize_128x128(be, x, R, C, fmt, 0, q, s), 0);
        assert_int_equal(fp8_quantize_128x128(x, R, C, fmt, 0, qr, sr), 0);
        assert_memory_equal(q, qr, (size_t)R * C);
        for (int rb = 0; rb < R / 128; rb++) {
            for (int cb = 0; cb < 3; cb++) assert_true(s[rb * ld + cb] == sr[rb * 3 + cb]);
            assert_true(s[rb * ld + 3] == 0.0f);
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
    assert_int_equal(be->quantize_1x128(be, a, M, K, FP8_E4M3, 0, qa, sa), 0);
    if (bscal == FP8LAB_B_128x128)
        assert_int_equal(be->quantize_128x128(be, b, N, K, FP8_E4M3, 0, qb, sb), 0);
    else
        assert_int_equal(be->quantize_1x128(be, b, N, K, FP8_E4M3, 0, qb, sb), 0);
    assert_int_equal(be->gemm_fp8_block(be, qa, sa, qb, sb, bscal, M, N, K, FP8LAB_F32, D), 0);
    /* dequantize from the backend layouts */
    int ld = fp8lab_blk_scale_ld(K);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) da[m * K + k] = fp8_e4m3_to_f32(qa[m * K + k]) * sa[(k / 128) * M + m];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            db[n * K + k] = fp8_e4m3_to_f32(qb[n * K + k]) *
                            (bscal == FP8LAB_B_128x128 ? sb[(n / 128) * ld + k / 128] : sb[(k / 128) * N + n]);
    double *ref = gemm_f64(da, db, M, N, K);
    double e = rel_err(D, ref, (long)M * N);
    printf("gemm_fp8_block %s %dx%dx%d: rel err vs fp64 %.2e\n", bscal == FP8LAB_B_128x128 ? "1x128.128x128" : "1x128.1x128",
           M, N, K, e);
    assert_true(e <= 1e-6);
    if (bscal == FP8LAB_B_128x128) {
        /* the core reference takes the DESIGN layouts: sa [M][K/128], sb [N/128][K/128] */
        float *sa2 = malloc(sizeof(float) * M * (K / 128)), *sb2 = malloc(sizeof(float) * (N / 128) * (K / 128));
        for (int m = 0; m < M; m++)
            for (int kb = 0; kb < K / 128; kb++) sa2[m * (K / 128) + kb] = sa[kb * M + m];
        for (int nb = 0; nb < N / 128; nb++)
            for (int kb = 0; kb < K / 128; kb++) sb2[nb * (K / 128) + kb] = sb[nb * ld + kb];
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
    assert_int_equal(be->gemm_fp8_block(be, qa, sa, qb, sb, bscal, M, N, K, FP8LAB_BF16, Dh), 0);
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
    const int M = 96, N = 80, K = 200; /* non-block recipes take any shape */
    float *a = randn(M * K, 1.0, 31), *b = randn(N * K, 1.0, 32), *D = malloc(sizeof(float) * M * N);
    /* fp32: OpenBLAS sgemm vs fp64, FP32 rounding over K = 200: 1e-6 */
    assert_int_equal(be->gemm_f32(be, a, b, M, N, K, D), 0);
    double *ref = gemm_f64(a, b, M, N, K);
    assert_true(rel_err(D, ref, (long)M * N) <= 1e-6);
    free(ref);
    /* bf16: inputs rounded to bf16, products summed in FP32: vs fp64 over the rounded inputs, 1e-6 */
    uint16_t *ha = malloc(2 * (size_t)M * K), *hb = malloc(2 * (size_t)N * K);
    float *ra = malloc(sizeof(float) * M * K), *rb = malloc(sizeof(float) * N * K);
    assert_int_equal(be->cast_f32_to_bf16(be, a, (long)M * K, ha), 0);
    assert_int_equal(be->cast_f32_to_bf16(be, b, (long)N * K, hb), 0);
    assert_int_equal(be->cast_bf16_to_f32(be, ha, (long)M * K, ra), 0);
    assert_int_equal(be->cast_bf16_to_f32(be, hb, (long)N * K, rb), 0);
    for (long i = 0; i < (long)M * K; i++) assert_true(ha[i] == bf16_from_f32(a[i]));
    assert_int_equal(be->gemm_bf16(be, ha, hb, M, N, K, FP8LAB_F32, D), 0);
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
    assert_int_equal(be->quantize_tensor(be, a, (long)M * K, FP8_E4M3, 0, qa, &sa), 0);
    assert_int_equal(be->quantize_tensor(be, b, (long)N * K, FP8_E5M2, 0, qb, &sb), 0);
    assert_int_equal(be->amax(be, a, (long)M * K, &amax), 0);
    assert_true(sa == amax / 448.0f);
    for (long i = 0; i < (long)M * K; i++) ra[i] = fp8_e4m3_to_f32(qa[i]) * sa;
    for (long i = 0; i < (long)N * K; i++) rb[i] = fp8_e5m2_to_f32(qb[i]) * sb;
    assert_int_equal(be->gemm_fp8_tensor(be, qa, FP8_E4M3, &sa, qb, FP8_E5M2, &sb, M, N, K, FP8LAB_F32, D), 0);
    ref = gemm_f64(ra, rb, M, N, K);
    assert_true(rel_err(D, ref, (long)M * N) <= 1e-6);
    /* delayed scaling with the same scale reproduces the current-scaling bytes */
    uint8_t *q2 = malloc((size_t)M * K);
    assert_int_equal(be->cast_fp8_scaled(be, a, (long)M * K, FP8_E4M3, &sa, q2), 0);
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

static void test_bad_input(void **state) {
    (void)state;
    float x[128 * 128] = {0};
    uint8_t q[128 * 128];
    float s[8];
    fp8lab_clear_error();
    assert_int_equal(be->gemm_fp8_block(be, q, s, q, s, FP8LAB_B_128x128, 128, 100, 128, FP8LAB_F32, x), -1);
    assert_non_null(strstr(fp8lab_last_error(), "N = 100"));
    assert_int_equal(be->quantize_1x128_t(be, x, 64, 128, FP8_E4M3, 0, q, s, q, s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "rows = 64"));
    x[5 * 128 + 7] = NAN;
    assert_int_equal(be->quantize_1x128(be, x, 128, 128, FP8_E4M3, 0, q, s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "non-finite"));
    assert_null(fp8lab_backend_create("tpu"));
    assert_non_null(strstr(fp8lab_last_error(), "tpu"));
}

int main(void) {
    be = fp8lab_cpu_backend_create();
    if (!be) FP8LAB_SKIP("cpu backend: %s", fp8lab_last_error());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quantizers_match_core),
        cmocka_unit_test(test_gemm_fp8_block),
        cmocka_unit_test(test_gemm_other_recipes),
        cmocka_unit_test(test_bad_input),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    be->destroy(be);
    return rc;
}
