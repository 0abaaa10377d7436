/* Hopper FP8 tensor-core accumulator model; the assumptions are documented in accum_model.h. */
#include "fp8/accum_model.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/error.h"
#include "fp8/fp8.h"

/* Precomputed E4M3 values (as doubles, so products and aligned sums are exact). */
static double e4m3_value(uint8_t v) { return (double)fp8_e4m3_to_f32(v); }

/* One model dot product over K with a decoded-value table. */
static float tc_dot(const double *lut, const uint8_t *a, const uint8_t *b, int K, int promote_k, int mant_bits) {
    const int promote = promote_k ? promote_k : K;
    float fp32_acc = 0.0f, tc = 0.0f;
    double p[FP8_TC_GROUP];
    for (int k0 = 0; k0 < K; k0 += FP8_TC_GROUP) {
        double amax = fabs((double)tc);
        for (int i = 0; i < FP8_TC_GROUP; i++) {
            p[i] = lut[a[k0 + i]] * lut[b[k0 + i]];
            if (isnan(p[i])) return NAN; /* an E4M3 NaN operand; keeps the int64 casts below defined */
            amax = fmax(amax, fabs(p[i]));
        }
        if (amax > 0.0) {
            /* Units of 2^(E - mant_bits): the truncated terms become integers, summed exactly in int64. */
            const int q = ilogb(amax) - mant_bits; /* ilogb = floor(log2) */
            const double to_units = ldexp(1.0, -q);
            int64_t sum = (int64_t)((double)tc * to_units); /* cast truncates toward zero */
            for (int i = 0; i < FP8_TC_GROUP; i++) sum += (int64_t)(p[i] * to_units);
            tc = (float)ldexp((double)sum, q);
        }
        if ((k0 + FP8_TC_GROUP) % promote == 0) {
            fp32_acc += tc;
            tc = 0.0f;
        }
    }
    return fp32_acc + tc;
}

static void fill_lut(double lut[256]) {
    for (int v = 0; v < 256; v++) lut[v] = e4m3_value((uint8_t)v);
}

float fp8_tc_dot_model(const uint8_t *a, const uint8_t *b, int K, int promote_k, int mant_bits) {
    double lut[256];
    fill_lut(lut);
    return tc_dot(lut, a, b, K, promote_k, mant_bits);
}

int fp8_gemm_tc_model(const uint8_t *qa, const uint8_t *qb, int M, int N, int K, float scale, int promote_k,
                      int mant_bits, float *D) {
    if (!qa || !qb || !D) {
        FP8LAB_ERR("fp8_gemm_tc_model: NULL %s", !qa ? "qa" : !qb ? "qb" : "D");
        return -1;
    }
    if (M <= 0 || N <= 0 || K <= 0 || K % FP8_TC_GROUP) {
        FP8LAB_ERR("fp8_gemm_tc_model: need M, N > 0 and K a positive multiple of %d (got M=%d N=%d K=%d)",
                   FP8_TC_GROUP, M, N, K);
        return -1;
    }
    if (promote_k < 0 || promote_k % FP8_TC_GROUP || (promote_k && K % promote_k)) {
        FP8LAB_ERR("fp8_gemm_tc_model: promote_k = %d must be 0 (never) or a multiple of %d that divides K = %d",
                   promote_k, FP8_TC_GROUP, K);
        return -1;
    }
    if (mant_bits < 1 || mant_bits > FP8_TC_MANT_BITS_MAX) {
        FP8LAB_ERR("fp8_gemm_tc_model: mant_bits = %d out of range 1..%d", mant_bits, FP8_TC_MANT_BITS_MAX);
        return -1;
    }
    double lut[256];
    fill_lut(lut);
#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++)
            D[(size_t)m * N + n] =
                scale * tc_dot(lut, qa + (size_t)m * K, qb + (size_t)n * K, K, promote_k, mant_bits);
    return 0;
}
