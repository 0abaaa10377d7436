/* Quantizers. x is row-major [rows][cols]; cols is the reduction (K) dimension.
   scale_inv is the dequantization factor: x ~= fp8_to_f32(q) * scale_inv; amax/448 for E4M3, amax/57344 for
   E5M2; all-zero tiles get scale_inv = 1. pow2 != 0 rounds scale_inv up to a power of two.
   Return 0, or -1 with an error (fp8lab_last_error) when a dimension is not a multiple of 128 (block) or on
   bad input (non-finite values name the tile). */
#ifndef FP8LAB_QUANT_H
#define FP8LAB_QUANT_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { FP8_E4M3 = 0, FP8_E5M2 = 1 };

int fp8_quantize_tensor (const float *x, long n, int fmt, int pow2, uint8_t *q, float *scale_inv /*[1]*/);
int fp8_quantize_1x128  (const float *x, int rows, int cols, int fmt, int pow2,
                         uint8_t *q, float *scale_inv /*[rows][cols/128]*/);
int fp8_quantize_128x128(const float *x, int rows, int cols, int fmt, int pow2,
                         uint8_t *q, float *scale_inv /*[rows/128][cols/128]*/);

/* Helpers shared by every quantizer (and the CUDA kernels' CPU references). */
float fp8_fmt_max(int fmt);
uint8_t fp8_encode(int fmt, float x);
float fp8_decode(int fmt, uint8_t v);
/* scale_inv for a tile with the given amax (amax == 0 -> 1). */
float fp8_scale_inv_from_amax(float amax, int fmt, int pow2);

#ifdef __cplusplus
}
#endif
#endif
