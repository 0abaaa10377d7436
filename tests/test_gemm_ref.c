/* The reference block-scaled GEMM against fp64 on the same dequantized values, an exactly representable case
   that pins down the scale layouts, and argument validation. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "fp8/gemm_ref.h"
#include "fp8/quant.h"

typedef struct {
    int M, N, K;
    uint8_t *qa, *qb;
    float *sa, *sb;
} operands;

/* Normal values whose magnitude is 2^u, u uniform in [-6, 5], per 1x128 block of A and per 128x128 block of
   B, so the scales differ by up to 2^11 across K blocks and rows. */
static operands make_operands(int M, int N, int K, uint64_t seed) {
    operands o = {M, N, K, malloc((size_t)M * K), malloc((size_t)N * K), malloc(sizeof(float) * M * (K / 128)),
                  malloc(sizeof(float) * (N / 128) * (K / 128))};
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K);
    assert_true(o.qa && o.qb && o.sa && o.sb && a && b);
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    for (int m = 0; m < M; m++)
        for (int kb = 0; kb < K / 128; kb++) {
            const double mag = ldexp(1.0, (int)(fp8lab_rng_u32(&r) % 12) - 6);
            for (int k = kb * 128; k < kb * 128 + 128; k++) a[(size_t)m * K + k] = (float)(mag * fp8lab_rng_normal(&r));
        }
    for (int nb = 0; nb < N / 128; nb++)
        for (int kb = 0; kb < K / 128; kb++) {
            const double mag = ldexp(1.0, (int)(fp8lab_rng_u32(&r) % 12) - 6);
            for (int n = nb * 128; n < nb * 128 + 128; n++)
                for (int k = kb * 128; k < kb * 128 + 128; k++)
                    b[(size_t)n * K + k] = (float)(mag * fp8lab_rng_normal(&r));
        }
    assert_int_equal(fp8_quantize_1x128(a, M, K, FP8_E4M3, 0, o.qa, o.sa), 0);
    assert_int_equal(fp8_quantize_128x128(b, N, K, FP8_E4M3, 0, o.qb, o.sb), 0);
    free(a);
    free(b);
    return o;
}

static void free_operands(operands *o) {
    free(o->qa);
    free(o->qb);
    free(o->sa);
    free(o->sb);
}

/* fp64 product of the dequantized operands. */
static double *reference(const operands *o) {
    const int KB = o->K / 128;
    double *D = malloc(sizeof(double) * o->M * o->N);
    assert_non_null(D);
    for (int m = 0; m < o->M; m++)
        for (int n = 0; n < o->N; n++) {
            double acc = 0;
            for (int k = 0; k < o->K; k++)
                acc += (double)fp8_e4m3_to_f32(o->qa[(size_t)m * o->K + k]) * o->sa[m * KB + k / 128] *
                       (double)fp8_e4m3_to_f32(o->qb[(size_t)n * o->K + k]) * o->sb[(n / 128) * KB + k / 128];
            D[(size_t)m * o->N + n] = acc;
        }
    return D;
}

/* Relative Frobenius error ||D - ref||_F / ||ref||_F. */
static double rel_fro(const float *D, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += (D[i] - ref[i]) * (D[i] - ref[i]);
        den += ref[i] * ref[i];
    }
    return sqrt(num / den);
}

static void test_vs_fp64(void **st) {
    (void)st;
    const int M = 32, N = 256;
    for (int K = 128; K <= 4096; K *= 2) {
        operands o = make_operands(M, N, K, (uint64_t)K);
        double *ref = reference(&o);
        float *D = malloc(sizeof(float) * M * N);
        assert_non_null(D);
        const int promotes[] = {0, 128, 256, 512, K};
        for (size_t p = 0; p < sizeof promotes / sizeof promotes[0]; p++) {
            if (promotes[p] > K || (promotes[p] == K && p + 1 < sizeof promotes / sizeof promotes[0])) continue;
            assert_int_equal(fp8_gemm_block_ref(o.qa, o.sa, o.qb, o.sb, M, N, K, promotes[p], D), 0);
            const double e = rel_fro(D, ref, (size_t)M * N);
            print_message("K=%5d promote_k=%4d  rel Frobenius error %.3g\n", K, promotes[p], e);
            assert_true(e <= 1e-6);
        }
        free(D);
        free(ref);
        free_operands(&o);
    }
}

/* Small integers and power-of-two scales: every step is exact in FP32, so D must equal the fp64 product
   exactly; any mix-up of sa/sb indexing or of K blocks shows up as a wrong value. */
static void test_exact_layouts(void **st) {
    (void)st;
    const int M = 3, N = 256, K = 384, KB = 3;
    uint8_t *qa = malloc((size_t)M * K), *qb = malloc((size_t)N * K);
    float sa[3 * 3], sb[2 * 3], D[3 * 256];
    assert_true(qa && qb);
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 5);
    for (int i = 0; i < M * K; i++) qa[i] = fp8_e4m3_from_f32((float)((int)(fp8lab_rng_u32(&r) % 9) - 4));
    for (int i = 0; i < N * K; i++) qb[i] = fp8_e4m3_from_f32((float)((int)(fp8lab_rng_u32(&r) % 9) - 4));
    for (int i = 0; i < M * KB; i++) sa[i] = ldexpf(1.0f, i % 5 - 2);
    for (int i = 0; i < 2 * KB; i++) sb[i] = ldexpf(1.0f, 3 - i);
    for (int pk = 0; pk <= K; pk += 128) {
        if (pk && K % pk) continue;
        assert_int_equal(fp8_gemm_block_ref(qa, sa, qb, sb, M, N, K, pk, D), 0);
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (double)fp8_e4m3_to_f32(qa[m * K + k]) * fp8_e4m3_to_f32(qb[n * K + k]) *
                           sa[m * KB + k / 128] * sb[(n / 128) * KB + k / 128];
                assert_true(D[m * N + n] == acc);
            }
    }
    free(qa);
    free(qb);
}

static void expect_error(int rc, const char *a) {
    assert_int_equal(rc, -1);
    if (!strstr(fp8lab_last_error(), a)) fail_msg("message '%s' lacks '%s'", fp8lab_last_error(), a);
}

static void test_validation(void **st) {
    (void)st;
    uint8_t qa[128 * 4] = {0}, qb[128 * 512] = {0};
    float sa[4] = {1, 1, 1, 1}, sb[4] = {1, 1, 1, 1}, D[128];
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 128, 512, 100, D), "promote_k = 100");
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 128, 512, 384, D), "promote_k = 384");
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 128, 512, -128, D), "promote_k = -128");
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 128, 500, 0, D), "K = 500");
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 100, 512, 0, D), "N = 100");
    expect_error(fp8_gemm_block_ref(qa, sa, qb, sb, 0, 128, 512, 0, D), "M=0");
    expect_error(fp8_gemm_block_ref(qa, NULL, qb, sb, 1, 128, 512, 0, D), "NULL sa");
    assert_int_equal(fp8_gemm_block_ref(qa, sa, qb, sb, 1, 128, 512, 512, D), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vs_fp64),
        cmocka_unit_test(test_exact_layouts),
        cmocka_unit_test(test_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
