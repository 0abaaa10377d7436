/* FP8 (E4M3, E5M2) and BF16 codecs, bit-identical to CUDA's cuda_fp8.h / cuda_bf16.h host conversions:
   float -> fp8 with __NV_SATFINITE and round-to-nearest-even; float -> bf16 round-to-nearest-even. */
#ifndef FP8LAB_FP8_H
#define FP8LAB_FP8_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint8_t  fp8_e4m3_from_f32(float x);   float fp8_e4m3_to_f32(uint8_t v);
uint8_t  fp8_e5m2_from_f32(float x);   float fp8_e5m2_to_f32(uint8_t v);
uint16_t bf16_from_f32(float x);       float bf16_to_f32(uint16_t v);

#define FP8_E4M3_MAX 448.0f
#define FP8_E5M2_MAX 57344.0f

#ifdef __cplusplus
}
#endif
#endif
