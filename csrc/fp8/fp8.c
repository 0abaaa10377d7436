/* FP8/BF16 codecs by bit manipulation. Semantics follow the host path of CUDA's cuda_fp8.hpp /
   cuda_bf16.hpp, which is what tests/test_fp8_codec.cpp and tests/codec_exhaustive.cpp check against:
   - float -> fp8 (__NV_SATFINITE): round-to-nearest-even; anything that rounds past the largest finite value,
     ±Inf included, becomes ±max; every NaN becomes 0x7F (CUDA canonicalises the NaN first, so the sign is
     dropped); values at or below half the smallest subnormal become ±0.
   - fp8 -> float goes through fp16 in CUDA; every fp8 value is exact in fp16 and fp32, so only NaN needs care:
     CUDA returns the canonical 0x7FFFFFFF whatever the sign and payload.
   - float -> bf16: round-to-nearest-even, overflow goes to ±Inf, NaN becomes 0x7FFF. */
#include "fp8/fp8.h"

#include <string.h>

#include "fp8/fp8_impl.h"

uint8_t fp8_e4m3_from_f32(float x) { return fp8_e4m3_from_f32_inline(x); }
uint8_t fp8_e5m2_from_f32(float x) { return fp8_e5m2_from_f32_inline(x); }

float fp8_e4m3_to_f32(uint8_t v) {
    const uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    const uint32_t e = (v >> 3) & 0xFu, m = v & 7u;
    if ((v & 0x7Fu) == 0x7Fu) return f32_from_bits(F32_CANONICAL_NAN); /* E4M3 has no Inf */
    if (e == 0) return f32_from_bits(sign | f32_bits((float)m * 0x1p-9f));
    return f32_from_bits(sign | ((e + 120u) << 23) | (m << 20));
}

float fp8_e5m2_to_f32(uint8_t v) {
    const uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    const uint32_t e = (v >> 2) & 0x1Fu, m = v & 3u;
    if (e == 0x1Fu) return f32_from_bits(m ? F32_CANONICAL_NAN : (sign | 0x7F800000u));
    if (e == 0) return f32_from_bits(sign | f32_bits((float)m * 0x1p-16f));
    return f32_from_bits(sign | ((e + 112u) << 23) | (m << 21));
}

uint16_t bf16_from_f32(float x) { return bf16_from_f32_inline(x); }

float bf16_to_f32(uint16_t v) { return bf16_to_f32_inline(v); }
