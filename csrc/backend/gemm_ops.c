/* Front functions of the GEMM group: the contract in gemm_ops.h, checked once for every backend. */
#include "backend/gemm_ops.h"

#include "backend/check.h"
#include "core/error.h"
#include "fp8/quant.h"
#include "fp8/scale_layout.h"

/* M, N, K multiples of mult; A, B, D not NULL */
static int check_shape(const char *op, int M, int N, int K, int mult, const void *a, const void *b, const void *d) {
    return fp8lab_check_dim(op, "M", M, mult) || fp8lab_check_dim(op, "N", N, mult) ||
           fp8lab_check_dim(op, "K", K, mult) || fp8lab_check_ptr(op, "A", a) || fp8lab_check_ptr(op, "B", b) ||
           fp8lab_check_ptr(op, "D", d);
}

int fp8lab_matmul_f32(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                      const float *a, const float *b, float beta, float *c) {
    static const char op[] = "matmul_f32";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, matmul_f32)) || fp8lab_check_dim(op, "M", M, 1) ||
        fp8lab_check_dim(op, "N", N, 1) || fp8lab_check_dim(op, "K", K, 1) || fp8lab_check_align(op, "A", a, 4) ||
        fp8lab_check_align(op, "B", b, 4) || fp8lab_check_align(op, "C", c, 4) ||
        fp8lab_check_finite(op, "alpha", alpha) || fp8lab_check_finite(op, "beta", beta))
        return -1;
    if ((ta != FP8LAB_OP_N && ta != FP8LAB_OP_T) || (tb != FP8LAB_OP_N && tb != FP8LAB_OP_T)) {
        FP8LAB_ERR("%s: unknown transpose %s = %d (expected FP8LAB_OP_N=0 or FP8LAB_OP_T=1)", op,
                   ta != FP8LAB_OP_N && ta != FP8LAB_OP_T ? "ta" : "tb",
                   ta != FP8LAB_OP_N && ta != FP8LAB_OP_T ? (int)ta : (int)tb);
        return -1;
    }
    return be->gemm->matmul_f32(be, ta, tb, M, N, K, alpha, a, b, beta, c);
}

int fp8lab_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d) {
    static const char op[] = "gemm_f32";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, gemm_f32)) || check_shape(op, M, N, K, 1, a, b, d)) return -1;
    return be->gemm->gemm_f32(be, a, b, M, N, K, d);
}

int fp8lab_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                     fp8lab_out_dtype out, void *d) {
    static const char op[] = "gemm_bf16";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, gemm_bf16)) || check_shape(op, M, N, K, 1, a, b, d) ||
        fp8lab_check_out(op, out))
        return -1;
    return be->gemm->gemm_bf16(be, a, b, M, N, K, out, d);
}

/* cuBLASLt has no E5M2 x E5M2 kernel: refused on every backend so code that runs on one runs on all */
static int check_fp8_pair(const char *op, int fmt_a, int fmt_b) {
    if (fp8lab_check_fmt(op, "fmt_a", fmt_a) || fp8lab_check_fmt(op, "fmt_b", fmt_b)) return -1;
    if (fmt_a != FP8_E5M2 || fmt_b != FP8_E5M2) return 0;
    FP8LAB_ERR("%s: E5M2 x E5M2 is not supported (hint: keep one operand E4M3, e.g. E4M3 activations/weights with "
               "E5M2 gradients)",
               op);
    return -1;
}

int fp8lab_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa_dev,
                           const uint8_t *qb, int fmt_b, const float *sb_dev, int M, int N, int K,
                           fp8lab_out_dtype out, void *d) {
    static const char op[] = "gemm_fp8_tensor";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, gemm_fp8_tensor)) ||
        check_shape(op, M, N, K, 1, qa, qb, d) || fp8lab_check_out(op, out) || check_fp8_pair(op, fmt_a, fmt_b) ||
        fp8lab_check_align(op, "sa_dev", sa_dev, 4) || fp8lab_check_align(op, "sb_dev", sb_dev, 4))
        return -1;
    if (K % 16) {
        FP8LAB_ERR("%s: K = %d must be a multiple of 16 (FP8 rows must be 16-byte aligned for cuBLASLt)", op, K);
        return -1;
    }
    return be->gemm->gemm_fp8_tensor(be, qa, fmt_a, sa_dev, qb, fmt_b, sb_dev, M, N, K, out, d);
}

int fp8lab_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                          const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                          void *d) {
    static const char op[] = "gemm_fp8_block";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, gemm_fp8_block)) ||
        check_shape(op, M, N, K, FP8LAB_TILE, qa, qb, d) || fp8lab_check_out(op, out))
        return -1;
    if (bscal != FP8LAB_B_128x128 && bscal != FP8LAB_B_1x128) {
        FP8LAB_ERR("%s: unknown B scaling %d (expected FP8LAB_B_128x128=0 or FP8LAB_B_1x128=1)", op, (int)bscal);
        return -1;
    }
    /* cuBLASLt block scaling reads the scale tensors with 16-byte loads */
    if (fp8lab_check_align(op, "sa", sa, 16) || fp8lab_check_align(op, "sb", sb, 16)) return -1;
    return be->gemm->gemm_fp8_block(be, qa, sa, qb, sb, bscal, M, N, K, out, d);
}

int fp8lab_matmul_f32_exact(fp8lab_backend *be, int M, int N, int K, int block, const float *a, const float *b,
                            double *hi, double *lo) {
    static const char op[] = "matmul_f32_exact";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, gemm, matmul_f32_exact)) || fp8lab_check_dim(op, "M", M, 1) ||
        fp8lab_check_dim(op, "N", N, 1) || fp8lab_check_dim(op, "K", K, 1) || fp8lab_check_dim(op, "block", block, 1) ||
        fp8lab_check_align(op, "A", a, 4) || fp8lab_check_align(op, "B", b, 4) ||
        fp8lab_check_align(op, "hi", hi, 8) || fp8lab_check_align(op, "lo", lo, 8))
        return -1;
    return be->gemm->matmul_f32_exact(be, M, N, K, block, a, b, hi, lo);
}
