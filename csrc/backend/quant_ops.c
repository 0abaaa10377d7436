/* Front functions of the quantize group: the contract in quant_ops.h, checked once for every backend. */
#include "backend/quant_ops.h"

#include "backend/check.h"
#include "fp8/scale_layout.h"

/* an element-wise op over n elements: x and its output y, each at its element type's alignment */
static int check_elementwise(const char *op, long n, const void *x, size_t x_align, const char *y_name, const void *y,
                             size_t y_align) {
    return fp8lab_check_count(op, n) || fp8lab_check_align(op, "x", x, x_align) ||
           fp8lab_check_align(op, y_name, y, y_align);
}

int fp8lab_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y) {
    static const char op[] = "cast_f32_to_bf16";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, cast_f32_to_bf16)) ||
        check_elementwise(op, n, x, 4, "y", y, 2))
        return -1;
    return be->quant->cast_f32_to_bf16(be, x, n, y);
}

int fp8lab_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y) {
    static const char op[] = "cast_bf16_to_f32";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, cast_bf16_to_f32)) ||
        check_elementwise(op, n, x, 2, "y", y, 4))
        return -1;
    return be->quant->cast_bf16_to_f32(be, x, n, y);
}

int fp8lab_amax(fp8lab_backend *be, const float *x, long n, float *amax_dev) {
    static const char op[] = "amax";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, amax)) ||
        check_elementwise(op, n, x, 4, "amax_dev", amax_dev, 4))
        return -1;
    return be->quant->amax(be, x, n, amax_dev);
}

int fp8lab_quantize_tensor(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q,
                           float *scale_inv_dev) {
    static const char op[] = "quantize_tensor";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, quantize_tensor)) || fp8lab_check_fmt(op, "fmt", fmt) ||
        check_elementwise(op, n, x, 4, "q", q, 1) ||
        fp8lab_check_align(op, "scale_inv_dev", scale_inv_dev, 4))
        return -1;
    return be->quant->quantize_tensor(be, x, n, fmt, pow2, q, scale_inv_dev);
}

int fp8lab_cast_fp8_scaled(fp8lab_backend *be, const float *x, long n, int fmt, const float *scale_inv_dev,
                           uint8_t *q) {
    static const char op[] = "cast_fp8_scaled";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, cast_fp8_scaled)) || fp8lab_check_fmt(op, "fmt", fmt) ||
        check_elementwise(op, n, x, 4, "q", q, 1) ||
        fp8lab_check_align(op, "scale_inv_dev", scale_inv_dev, 4))
        return -1;
    return be->quant->cast_fp8_scaled(be, x, n, fmt, scale_inv_dev, q);
}

/* A tiled quantizer's shape and pointers: rows a multiple of rows_mult, cols of 128; x read as float4. */
static int check_tiled(const char *op, int fmt, int rows, int rows_mult, int cols, const float *x, const uint8_t *q,
                       const float *s, size_t s_align) {
    return fp8lab_check_fmt(op, "fmt", fmt) || fp8lab_check_dim(op, "rows", rows, rows_mult) ||
           fp8lab_check_dim(op, "cols", cols, FP8LAB_TILE) || fp8lab_check_align(op, "x", x, 16) ||
           fp8lab_check_align(op, "q", q, 4) || fp8lab_check_align(op, "s", s, s_align);
}

int fp8lab_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                          float *s) {
    static const char op[] = "quantize_1x128";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, quantize_1x128)) ||
        check_tiled(op, fmt, rows, 1, cols, x, q, s, 4))
        return -1;
    return be->quant->quantize_1x128(be, x, rows, cols, fmt, pow2, q, s);
}

int fp8lab_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                            float *s, uint8_t *qt, float *st) {
    static const char op[] = "quantize_1x128_t";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, quantize_1x128_t)) ||
        check_tiled(op, fmt, rows, FP8LAB_TILE, cols, x, q, s, 16) || fp8lab_check_align(op, "qt", qt, 4) ||
        fp8lab_check_align(op, "st", st, 16))
        return -1;
    return be->quant->quantize_1x128_t(be, x, rows, cols, fmt, pow2, q, s, qt, st);
}

int fp8lab_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                            float *s) {
    static const char op[] = "quantize_128x128";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, quant, quantize_128x128)) ||
        check_tiled(op, fmt, rows, FP8LAB_TILE, cols, x, q, s, 4))
        return -1;
    return be->quant->quantize_128x128(be, x, rows, cols, fmt, pow2, q, s);
}
