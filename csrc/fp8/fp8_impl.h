/* The FP8 encoder as static inline functions, so the quantizers' inner loops inline it (fp8.c wraps them as the
   public API). Semantics: see fp8.c. */
#ifndef FP8LAB_FP8_IMPL_H
#define FP8LAB_FP8_IMPL_H
#include <stdint.h>
#include <string.h>

#define F32_CANONICAL_NAN 0x7FFFFFFFu
#define FP8_NAN 0x7Fu

static inline uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* Adds half an ulp of the target (minus one unless the kept lsb is odd), so the shift rounds to nearest-even. */
static inline uint32_t shift_rne(uint32_t v, unsigned shift) {
    return (v + (1u << (shift - 1)) - 1u + ((v >> shift) & 1u)) >> shift;
}

/* mbits mantissa bits, exponent bias, largest finite encoding. Inlined with constants for each format.
   Branch-free (both paths computed, then selected) so that the quantizers' loops vectorize. */
static inline uint8_t fp8_from_f32(float x, unsigned mbits, unsigned bias, uint32_t maxnorm) {
    const uint32_t u = f32_bits(x);
    const uint32_t sign = (u >> 24) & 0x80u;
    const uint32_t a = u & 0x7FFFFFFFu;
    const uint32_t minnorm = (127u + 1u - bias) << 23;

    /* normal: rounding may carry into the exponent, which is the correct next binade; rebias afterwards;
       everything past the largest finite value (Inf too) saturates to it (monotone rounding) */
    uint32_t normal = shift_rne(a, 23u - mbits) - ((127u - bias) << mbits);
    normal = normal > maxnorm ? maxnorm : normal;

    /* subnormal: fp8 subnormals are multiples of 2^-(bias-1+mbits), so the encoding is |x| in those units
       rounded to nearest-even: the scaling by a power of two is exact, and adding and taking away 2^23 rounds
       a float below 2^23 to an integer by the FPU's own round-to-nearest-even (no per-lane variable shift,
       which SSE2 lacks). A carry to 2^mbits is exactly the encoding of the smallest normal. Lanes on the
       normal path scale 0 instead, so every conversion stays in range. */
    const float units = f32_from_bits(a < minnorm ? a : 0u) * f32_from_bits((127u + bias - 1u + mbits) << 23);
    const uint32_t sub = (uint32_t)(int32_t)((units + 8388608.0f) - 8388608.0f);

    const uint32_t r = sign | (a >= minnorm ? normal : sub);
    return (uint8_t)(a > 0x7F800000u ? FP8_NAN : r);
}

/* BF16 by round-to-nearest-even of the high half; NaN to the canonical 0x7FFF (fp8.c documents it). */
static inline uint16_t bf16_from_f32_inline(float x) {
    const uint32_t u = f32_bits(x);
    const uint16_t r = (uint16_t)shift_rne(u, 16u); /* cannot wrap: the largest non-NaN input is 0xFF800000 */
    return (u & 0x7FFFFFFFu) > 0x7F800000u ? (uint16_t)0x7FFFu : r;
}
static inline float bf16_to_f32_inline(uint16_t v) { return f32_from_bits((uint32_t)v << 16); }

static inline uint8_t fp8_e4m3_from_f32_inline(float x) { return fp8_from_f32(x, 3u, 7u, 0x7Eu); }
static inline uint8_t fp8_e5m2_from_f32_inline(float x) { return fp8_from_f32(x, 2u, 15u, 0x7Bu); }

#endif
