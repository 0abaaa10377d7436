#include "core/exact_sum.h"

#include <math.h>

/* Round to the nearest multiple of 2^-q by adding and taking away 1.5 * 2^(52-q), whose ulp is 2^-q (the 2^52
   trick without scaling; vectorizes, unlike nearbyint): exact for |v| < 2^(51-q), which holds for hi wherever the
   sums are exact at all and always for lo. */
#define MAGIC_HI 0x1.8p22
#define MAGIC_LO 0x1.8p-8

static inline void add_one(double *restrict hi, double *restrict lo, float x) {
    const double v = x;
    const double h = (v + MAGIC_HI) - MAGIC_HI;
    *hi += h;
    *lo += ((v - h) + MAGIC_LO) - MAGIC_LO;
}

/* Vector clones: the adds are most of what the exact sums cost, and the default x86-64 target has 2-wide doubles.
   Not under the sanitizers: an ifunc resolver runs before their runtime is up. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define NO_CLONES
#endif
#endif
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__SANITIZE_ADDRESS__) && !defined(NO_CLONES)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* Below this many floats one thread adds (a parallel region costs more than the adds: an embedding row is one leaf). */
#define PARALLEL_MIN (1u << 14)

VECTOR_CLONES void fp8lab_exact_add_many(double *restrict hi, double *restrict lo, const float *restrict x, size_t n,
                                         int count, size_t stride) {
    for (size_t i = 0; i < n; i++) {
        double h = hi[i], l = lo[i];
        for (int j = 0; j < count; j++) add_one(&h, &l, x[(size_t)j * stride + i]);
        hi[i] = h, lo[i] = l;
    }
}

void fp8lab_exact_add(double *restrict hi, double *restrict lo, const float *restrict x, size_t n) {
    if (n < PARALLEL_MIN) {
        fp8lab_exact_add_many(hi, lo, x, n, 1, 0);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) add_one(&hi[i], &lo[i], x[i]);
}

void fp8lab_exact_get(float *restrict out, const double *restrict hi, const double *restrict lo, size_t n) {
#pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (size_t i = 0; i < n; i++) out[i] = (float)(hi[i] + lo[i]);
}

int fp8lab_exact_check(const double *hi, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(hi[i]) && fabs(hi[i]) >= FP8LAB_EXACT_HI_LIMIT) return 0;
    return 1;
}
