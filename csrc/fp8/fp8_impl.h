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

/* mbits mantissa bits, exponent bias, largest finite encoding. Inlined with constants for each format. */
static inline uint8_t fp8_from_f32(float x, unsigned mbits, unsigned bias, uint32_t maxnorm) {
    const uint32_t u = f32_bits(x);
    const uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    const uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return FP8_NAN;

    const uint32_t minnorm = (127u + 1u - bias) << 23;
    if (a >= minnorm) {
        /* Rounding may carry into the exponent, which is the correct next binade; rebias afterwards. */
        uint32_t r = shift_rne(a, 23u - mbits) - ((127u - bias) << mbits);
        if (r > maxnorm) r = maxnorm; /* monotone rounding: everything past max (Inf too) lands here */
        return (uint8_t)(sign | r);
    }

    /* fp8 subnormals are multiples of 2^-(bias-1+mbits); express the float's significand in those units. */
    const uint32_t e = a >> 23;
    const uint32_t shift = 150u - (bias - 1u + mbits) - e;
    /* shift >= 25 means the value is below half the smallest subnormal (significand < 2^24). Float
       subnormals (e == 0) fall in here as well. */
    if (shift >= 25u) return sign;
    const uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;
    /* a carry to 2^mbits is exactly the encoding of the smallest normal */
    return (uint8_t)(sign | shift_rne(mant, shift));
}

static inline uint8_t fp8_e4m3_from_f32_inline(float x) { return fp8_from_f32(x, 3u, 7u, 0x7Eu); }
static inline uint8_t fp8_e5m2_from_f32_inline(float x) { return fp8_from_f32(x, 2u, 15u, 0x7Bu); }

#endif
