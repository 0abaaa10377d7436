#include "core/exact_sum.h"

#include <math.h>

/* Round to the nearest multiple of 2^-q by the 1.5 * 2^52 trick (vectorizes, unlike nearbyint): exact for
   |v| * 2^q < 2^51, which holds for hi wherever the sums are exact at all and always for lo. */
#define MAGIC 0x1.8p52

static inline double round_to(double v, double scale, double inv) {
    return ((v * scale + MAGIC) - MAGIC) * inv;
}

void fp8lab_exact_add(double *restrict hi, double *restrict lo, const float *restrict x, size_t n) {
#pragma omp parallel for schedule(static) if (n >= (1u << 14))
    for (size_t i = 0; i < n; i++) {
        const double v = x[i];
        const double h = round_to(v, 0x1p30, 0x1p-30);
        hi[i] += h;
        lo[i] += round_to(v - h, 0x1p60, 0x1p-60);
    }
}

void fp8lab_exact_get(float *restrict out, const double *restrict hi, const double *restrict lo, size_t n) {
#pragma omp parallel for schedule(static) if (n >= (1u << 14))
    for (size_t i = 0; i < n; i++) out[i] = (float)(hi[i] + lo[i]);
}

int fp8lab_exact_check(const double *hi, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isfinite(hi[i]) && fabs(hi[i]) >= FP8LAB_EXACT_HI_LIMIT) return 0;
    return 1;
}
