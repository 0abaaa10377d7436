/* Backend ops, quantize group: BF16 casts, amax, and the FP8 quantizers (fmt: FP8_E4M3 / FP8_E5M2 from
   fp8/quant.h; pow2 != 0 rounds scales up to powers of two). Scale layouts: fp8/scale_layout.h.

   The contract, checked once by the front functions for every backend (backends may assume it):
   - element counts n >= 1 (an empty tensor has no amax and no scale); rows, cols >= 1;
   - 1x128 needs cols a multiple of 128, the fused 1x128_t and 128x128 need rows and cols multiples of 128;
   - no NULL pointer; x 16-byte aligned for the tiled quantizers, their q 4-byte aligned, the fused quantizer's
     s and st 16-byte aligned (the vector loads and stores of the CUDA kernels); fp8lab_alloc gives 256.
   NaN rule: amax reduces |x| in IEEE bit order, so NaN propagates (NaN above +Inf; the result is the largest
   |x| bit pattern, identical on every backend). The quantizers refuse non-finite input (the CPU backend at
   once, naming the element; the CUDA backend at the next sync/copy_d2h, naming the op), and cast_fp8_scaled
   refuses a scale_inv that is not a positive finite number (same timing). */
#ifndef FP8LAB_QUANT_OPS_H
#define FP8LAB_QUANT_OPS_H
#include <stdint.h>

#include "backend/backend_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp8lab_quant_ops {
    int (*cast_f32_to_bf16)(fp8lab_backend *be, const float *x, long n, uint16_t *y); /* round to nearest even */
    int (*cast_bf16_to_f32)(fp8lab_backend *be, const uint16_t *x, long n, float *y);
    int (*amax)(fp8lab_backend *be, const float *x, long n, float *amax_dev /*[1]*/);
    /* current scaling: amax + cast in one call; scale_inv written to device memory */
    int (*quantize_tensor)(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q,
                           float *scale_inv_dev);
    /* delayed scaling: cast with a given device-resident scale_inv (values saturate) */
    int (*cast_fp8_scaled)(fp8lab_backend *be, const float *x, long n, int fmt, const float *scale_inv_dev,
                           uint8_t *q);
    int (*quantize_1x128)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                          float *s /*[cols/128][rows]*/);
    /* fused: q/s as quantize_1x128 of x, and qt/st = quantize_1x128 of x^T ([cols][rows], tiles along rows) */
    int (*quantize_1x128_t)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                            uint8_t *q, float *s /*[cols/128][rows]*/, uint8_t *qt, float *st /*[rows/128][cols]*/);
    int (*quantize_128x128)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                            uint8_t *q, float *s /*[rows/128][ld]*/);
} fp8lab_quant_ops;

int fp8lab_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y);
int fp8lab_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y);
int fp8lab_amax(fp8lab_backend *be, const float *x, long n, float *amax_dev);
int fp8lab_quantize_tensor(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q,
                           float *scale_inv_dev);
int fp8lab_cast_fp8_scaled(fp8lab_backend *be, const float *x, long n, int fmt, const float *scale_inv_dev,
                           uint8_t *q);
int fp8lab_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                          float *s);
int fp8lab_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                            float *s, uint8_t *qt, float *st);
int fp8lab_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                            float *s);

#ifdef __cplusplus
}
#endif
#endif
