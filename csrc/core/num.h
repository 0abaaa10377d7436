/* One strict number parser for flags and config values, and the ranges every value is checked against.
   Integers: decimal digits with an optional sign, '.', and exponent, as long as the value is a whole number
   ("14.8e12" is, "1.5" is not); no hex, no leading/trailing junk, no overflow. Reals: finite only. */
#ifndef FP8LAB_CORE_NUM_H
#define FP8LAB_CORE_NUM_H
#include <stddef.h>
#include <stdint.h>

/* [lo, hi], or (lo, hi] when lo_open. Integer values use the same bounds (exact up to 2^53). */
typedef struct {
    double lo, hi;
    int lo_open;
} fp8lab_range;

#define FP8LAB_RANGE(lo, hi) ((fp8lab_range){(double)(lo), (double)(hi), 0})
#define FP8LAB_RANGE_POS(hi) ((fp8lab_range){0.0, (double)(hi), 1}) /* (0, hi] */

/* Largest integer any range may hold: every such value is exact in a double and products of two of them
   are checked (fp8lab_mul_i64). */
#define FP8LAB_INT_MAX_EXACT 9007199254740992.0 /* 2^53 */

enum { FP8LAB_NUM_OK = 0, FP8LAB_NUM_SYNTAX = 1, FP8LAB_NUM_RANGE = 2 };

/* Returns FP8LAB_NUM_OK and sets *out, FP8LAB_NUM_SYNTAX (not a whole decimal number / not a finite number),
   or FP8LAB_NUM_RANGE (a number, stored in *out as far as it is representable, outside r). */
int fp8lab_parse_int(const char *s, fp8lab_range r, int64_t *out);
int fp8lab_parse_real(const char *s, fp8lab_range r, double *out);

int fp8lab_range_has(fp8lab_range r, double v);
int fp8lab_range_valid(fp8lab_range r); /* lo < hi (or lo == hi, closed), both finite */
/* "[1, 1024]", "(0, 1]", "[0, 9.2e+18]": integers printed in full when exact. */
const char *fp8lab_range_str(fp8lab_range r, char *buf, size_t n);

/* Checked 64-bit arithmetic: 0, or -1 on overflow (out untouched). */
int fp8lab_mul_i64(int64_t a, int64_t b, int64_t *out);
int fp8lab_add_i64(int64_t a, int64_t b, int64_t *out);

#endif
