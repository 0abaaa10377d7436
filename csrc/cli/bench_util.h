/* Pieces shared by the bench commands. */
#ifndef FP8LAB_BENCH_UTIL_H
#define FP8LAB_BENCH_UTIL_H
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"

/* Limits every bench command enforces before it allocates or runs anything (and prints in --help): each
   dimension fits the backends' int arguments with room to spare, and one matrix stays addressable and within
   the largest GPU's memory. */
#define BENCH_MAX_DIM 1048576        /* 2^20: any M, N, K, rows or cols */
#define BENCH_MAX_ELEMS 4294967296LL /* 2^32 elements per matrix (16 GiB in FP32) */

typedef struct { int m, n, k; } bench_shape;

/* --device value check shared by the commands that pick a backend: 0, or -1 after printing an error. */
int cli_check_device(const char *device);

/* Parses "M,N,K[;M,N,K...]" (want == 3) or "R,C[;R,C...]" (want == 2, k unused), whole: every item and value
   must be present, a whole decimal number in [1, BENCH_MAX_DIM] (the strict parser of core/num.h) and a multiple
   of `mult`, and every matrix of a shape (M*K, N*K, M*N; rows*cols) at most BENCH_MAX_ELEMS elements. Returns the
   count, or -1 after printing an error naming the flag, the value, the shape and the allowed range. */
int bench_parse_shapes(const char *flag, const char *s, int want, int mult, bench_shape *out, int max);

/* 0 when `bytes` of host memory can be had on this machine (at most its physical memory), else -1 after printing
   "error: <what>: out of host memory: needs N bytes ..." (an exit-1 failure: the input is valid, the machine too
   small). Catches what malloc would grant under overcommit and the OOM killer would end. */
int bench_host_mem_check(const char *what, double bytes);

/* malloc that prints "error: <what>: out of host memory allocating N bytes for <name>" on failure. */
void *bench_malloc(const char *what, const char *name, size_t bytes);

/* Median of n doubles (sorts in place). */
double bench_median(double *t, int n);

/* Decodes an operand held in backend layout back to host floats: FP8 value times its scale.
   scaling: 't' per-tensor (s[0]), 'r' 1x128 row tiles ([cols/128][rows]), 'b' 128x128 ([rows/128][ld]). */
void bench_dequant(const uint8_t *q, const float *s, char scaling, int fmt, int rows, int cols, float *out);

/* Relative Frobenius error of D (row-major [M][N]) against an fp64 product of A[M][K] and B[N][K]^T, over a
   sample of rows and columns (all when small). */
double bench_rel_err_sampled(const float *A, const float *B, const float *D, int M, int N, int K);

#endif
