/* Private to the CPU backend: exp and tanh in straight-line float arithmetic, so that the loops calling them
   vectorize (glibc's expf and tanhf are calls, and its vector variants need -ffast-math). */
#ifndef FP8LAB_CPU_MATH_H
#define FP8LAB_CPU_MATH_H
#include <stdint.h>

#include "fp8/fp8_impl.h" /* f32_bits, f32_from_bits */

/* e^x within 1.4 ulp of the correctly rounded value on [-87.3, 88.3] (measured against exp in double over that
   range in steps of 7e-4); below it the smallest normal float instead of a subnormal or 0, above it ~2.4e38
   instead of Inf; NaN stays NaN. x = n ln2 + r, |r| <= ln2/2, with ln2 split in two (Cody and Waite) so that
   r is exact; e^r by the minimax polynomial of Cephes' expf; 2^n built in the exponent bits. n is rounded to
   nearest by adding and taking away 1.5 * 2^23, and read from that sum's low bits (no float-to-int conversion,
   which NaN would make undefined). */
static inline float cpu_expf(float x) {
    x = x > 88.37f ? 88.37f : x;
    x = x < -87.33f ? -87.33f : x;
    const float t = x * 1.44269504088896341f + 12582912.0f;
    const float n = t - 12582912.0f;
    const int32_t ni = (int32_t)(f32_bits(t) - 0x4B400000u);
    const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    return p * f32_from_bits((uint32_t)(ni + 127) << 23);
}

/* tanh(u) = 1 - 2 / (1 + e^2u): within 3e-7 (absolute) of tanh, exactly +-1 far out. */
static inline float cpu_tanhf(float u) { return 1.0f - 2.0f / (1.0f + cpu_expf(2.0f * u)); }

#endif
