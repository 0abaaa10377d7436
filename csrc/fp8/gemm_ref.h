/* CPU reference for the block-scaled FP8 GEMM.
   D[m][n] = sum_k A[m][k]*B[n][k] ("NT", both K-contiguous), A scaled 1x128 (sa [M][K/128]), B scaled 128x128
   (sb [N/128][K/128]). Partial sums of promote_k products (a multiple of 128 dividing K, or 0 for "never") are
   formed in FP32, then scaled and added into an FP32 accumulator. Output D row-major [M][N] in FP32. */
#ifndef FP8LAB_GEMM_REF_H
#define FP8LAB_GEMM_REF_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int fp8_gemm_block_ref(const uint8_t *qa, const float *sa, const uint8_t *qb, const float *sb,
                       int M, int N, int K, int promote_k, float *D);

#ifdef __cplusplus
}
#endif
#endif
