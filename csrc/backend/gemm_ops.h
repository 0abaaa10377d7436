/* Backend ops, GEMM group: D[M][N] = A[M][K] . B[N][K]^T ("NT", both operands K-contiguous, row-major); D is
   float or bf16 per out. Scale layouts: fp8/scale_layout.h; per-tensor scales are one device float.

   The contract, checked once by the front functions (what cuBLASLt accepts, so a program that runs on the CPU
   backend runs on a GPU): M, N, K >= 1; no NULL pointer; out and formats valid;
   - gemm_fp8_tensor: K a multiple of 16 (16-byte FP8 rows), not both operands E5M2;
   - gemm_fp8_block: E4M3 operands, A scaled 1x128, B 128x128 or 1x128 (bscal); M, N, K multiples of 128;
     scale tensors 16-byte aligned. */
#ifndef FP8LAB_GEMM_OPS_H
#define FP8LAB_GEMM_OPS_H
#include <stdint.h>

#include "backend/backend_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* matmul_f32: the general FP32 product the FP32 and BF16 Linear paths need for their three GEMMs,
   C[M][N] = alpha * op(A)[M][K] . op(B)[K][N] + beta * C, row-major; op(A) is A stored [M][K] (N) or [K][M]
   (T), op(B) is B stored [K][N] (N) or [N][K] (T). Fprop x . W^T = (N, T); Dgrad dY . W = (N, N); Wgrad
   dW += dY^T . x = (T, N) with beta 1. */
typedef enum { FP8LAB_OP_N = 0, FP8LAB_OP_T = 1 } fp8lab_op_t;

typedef struct fp8lab_gemm_ops {
    int (*matmul_f32)(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                      const float *a, const float *b, float beta, float *c);
    int (*gemm_f32)(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d);
    int (*gemm_bf16)(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                     fp8lab_out_dtype out, void *d);
    int (*gemm_fp8_tensor)(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa_dev,
                           const uint8_t *qb, int fmt_b, const float *sb_dev, int M, int N, int K,
                           fp8lab_out_dtype out, void *d);
    int (*gemm_fp8_block)(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                          const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                          void *d);
    /* optional: host backends only (the planes are host doubles); fp8lab_matmul_f32_exact below */
    int (*matmul_f32_exact)(fp8lab_backend *be, int M, int N, int K, int block, const float *a, const float *b,
                            double *hi, double *lo);
} fp8lab_gemm_ops;

int fp8lab_matmul_f32(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                      const float *a, const float *b, float beta, float *c);
int fp8lab_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d);
int fp8lab_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                     fp8lab_out_dtype out, void *d);
int fp8lab_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa_dev,
                           const uint8_t *qb, int fmt_b, const float *sb_dev, int M, int N, int K,
                           fp8lab_out_dtype out, void *d);
int fp8lab_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                          const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                          void *d);
/* The split-invariant FP32 Wgrad (nn/grad_sink.h) in one call: for each block of `block` rows of K, the FP32
   product P = A_b^T . B_b (A stored [K][M], B stored [K][N]: matmul_f32's (T, N) with beta 0, the same bits) is
   added exactly (core/exact_sum.h) into the planes hi, lo [M][N]. One call instead of a GEMM and an exact add per
   block: each output tile stays in cache across the blocks and the threads share out tiles, not blocks' GEMMs. */
int fp8lab_matmul_f32_exact(fp8lab_backend *be, int M, int N, int K, int block, const float *a, const float *b,
                            double *hi, double *lo);

#ifdef __cplusplus
}
#endif
#endif
