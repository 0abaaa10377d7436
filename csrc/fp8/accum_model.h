/* A numerical model of the FP8 tensor-core accumulator on Hopper (H100/H800).

   Why: DeepSeek-V3 (arXiv 2412.19437, §3.3.2 "Increasing Accumulation Precision") reports that the
   accumulation precision of FP8 GEMM on H800 "is limited to retaining around 14 bits, which is significantly
   lower than FP32", giving a maximum relative error of nearly 2% at K = 4096 in their test; their fix is to
   copy the tensor-core partial into FP32 registers on the CUDA cores every N_C = 128 elements ("promotion").
   This model lets us reproduce that effect on a CPU and choose promotion intervals.

   Assumptions (the hardware is not documented; these are the usual reading of the DeepSeek text and of
   public microbenchmark reports, not facts we measured):
   - One MMA step consumes FP8_TC_GROUP = 32 products per output (the K of an m64nNk32 FP8 wgmma).
   - Each product of two E4M3 values is exact (8 significant bits).
   - In each step, the group's products and the running accumulator are aligned to the largest exponent E
     among them (E = floor(log2 |v|)) and each is truncated toward zero to a multiple of 2^(E - mant_bits),
     i.e. mant_bits bits are kept below the leading bit of the largest term. The aligned terms are then added
     exactly and the sum is written back as an FP32 accumulator (round to nearest even).
   - Every promote_k elements (a multiple of 32 dividing K; 0 = never) the tensor-core partial is added into
     an FP32 accumulator (round to nearest even) and reset to zero.
   - Operands are scaled per tensor; D = scale * (fp32 accumulator + remaining partial), in FP32.
   With mant_bits = FP8_TC_MANT_BITS (14) the model reproduces the order of magnitude DeepSeek reports;
   large mant_bits (e.g. 30) make it an almost exact FP32-accumulated GEMM. */
#ifndef FP8LAB_ACCUM_MODEL_H
#define FP8LAB_ACCUM_MODEL_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP8_TC_GROUP 32
#define FP8_TC_MANT_BITS 14
#define FP8_TC_MANT_BITS_MAX 40 /* aligned terms must fit the 53-bit exact sum */

/* D[m][n] = scale * sum_k e4m3(qa[m][k]) * e4m3(qb[n][k]) under the model above. qa [M][K], qb [N][K]
   (both K-contiguous, "NT"), D row-major [M][N]. K must be a multiple of 32; promote_k 0 or a multiple of 32
   dividing K; 1 <= mant_bits <= FP8_TC_MANT_BITS_MAX. Returns 0, or -1 with fp8lab_last_error() set. */
int fp8_gemm_tc_model(const uint8_t *qa, const uint8_t *qb, int M, int N, int K, float scale, int promote_k,
                      int mant_bits, float *D);

/* One output of the model (the dot product of two K-vectors), unscaled. For tests and single-value
   experiments; arguments are assumed valid (see fp8_gemm_tc_model). */
float fp8_tc_dot_model(const uint8_t *a, const uint8_t *b, int K, int promote_k, int mant_bits);

#ifdef __cplusplus
}
#endif
#endif
