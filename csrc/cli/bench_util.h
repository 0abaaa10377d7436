/* Pieces shared by the bench commands. */
#ifndef FP8LAB_BENCH_UTIL_H
#define FP8LAB_BENCH_UTIL_H
#include <stdint.h>

#include "backend/backend.h"

typedef struct { int m, n, k; } bench_shape;

/* --device value check shared by the commands that pick a backend: 0, or -1 after printing an error. */
int cli_check_device(const char *device);

/* Parses "M,N,K[;M,N,K...]" (want == 3) or "R,C[;R,C...]" (want == 2, k unused). Every value must be a
   positive multiple of `mult`. Prints an error naming the flag and value and returns -1 on bad input. */
int bench_parse_shapes(const char *flag, const char *s, int want, int mult, bench_shape *out, int max);

/* Median of n doubles (sorts in place). */
double bench_median(double *t, int n);

/* Decodes an operand held in backend layout back to host floats: FP8 value times its scale.
   scaling: 't' per-tensor (s[0]), 'r' 1x128 row tiles ([cols/128][rows]), 'b' 128x128 ([rows/128][ld]). */
void bench_dequant(const uint8_t *q, const float *s, char scaling, int fmt, int rows, int cols, float *out);

/* Relative Frobenius error of D (row-major [M][N]) against an fp64 product of A[M][K] and B[N][K]^T, over a
   sample of rows and columns (all when small). */
double bench_rel_err_sampled(const float *A, const float *B, const float *D, int M, int N, int K);

#endif
