/* Exact, order-independent sums of FP32 numbers, so that a gradient summed over 128-token blocks comes out the same
   to the bit however the blocks are split over data-parallel ranks and in whatever order the ranks' sums meet
   (train/dp.h; issue 10: "its final loss equals a 1-rank run with 4x the micro-batch").

   A value is held as two doubles, hi and lo, each a multiple of its own quantum: hi of 2^-30, lo of 2^-60. A float
   x is split once, exactly, into hi = x rounded to 2^-30 and lo = the rest rounded to 2^-60 (the bits of x below
   2^-60, 8.7e-19, are dropped, the same way every time). Sums of such multiples are exact in a double while
   |hi| < 2^22 and |lo| < 2^-8 (2^24 terms of |lo| <= 2^-31), so any order of adding, and any grouping across ranks
   (MPI_SUM on doubles), gives the same two doubles; the float result is hi + lo rounded once. Past those bounds
   the sum stays correct to double precision but may depend on the order (fp8lab_exact_check reports it). NaN and
   infinities pass through as in any sum. */
#ifndef FP8LAB_CORE_EXACT_SUM_H
#define FP8LAB_CORE_EXACT_SUM_H
#include <stddef.h>

#define FP8LAB_EXACT_HI_LIMIT 0x1p22 /* |hi| below this: exact */

/* hi[i], lo[i] += x[i], i < n */
void fp8lab_exact_add(double *hi, double *lo, const float *x, size_t n);
/* hi[i], lo[i] += x[j * stride + i] for j = 0, 1, ..., count - 1 in turn, i < n, on the calling thread alone (the
   caller's parallel region shares out the rows): the planes read and written once for count leaves */
void fp8lab_exact_add_many(double *hi, double *lo, const float *x, size_t n, int count, size_t stride);
/* out[i] = (float)(hi[i] + lo[i]) */
void fp8lab_exact_get(float *out, const double *hi, const double *lo, size_t n);
/* 1 when every finite |hi[i]| is below FP8LAB_EXACT_HI_LIMIT (the sums so far were exact), else 0 */
int fp8lab_exact_check(const double *hi, size_t n);

#endif
