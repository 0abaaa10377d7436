#include "core/num.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fp8lab_range_has(fp8lab_range r, double v) {
    if (!isfinite(v) || v > r.hi) return 0;
    return r.lo_open ? v > r.lo : v >= r.lo;
}

int fp8lab_range_valid(fp8lab_range r) {
    return isfinite(r.lo) && isfinite(r.hi) && (r.lo < r.hi || (r.lo == r.hi && !r.lo_open));
}

static void fmt_bound(char *buf, size_t n, double v) {
    if (v == floor(v) && fabs(v) <= FP8LAB_INT_MAX_EXACT && fabs(v) < 1e12) snprintf(buf, n, "%.0f", v);
    else snprintf(buf, n, "%g", v);
}

const char *fp8lab_range_str(fp8lab_range r, char *buf, size_t n) {
    char lo[40], hi[40];
    fmt_bound(lo, sizeof lo, r.lo);
    fmt_bound(hi, sizeof hi, r.hi);
    snprintf(buf, n, "%c%s, %s]", r.lo_open ? '(' : '[', lo, hi);
    return buf;
}

int fp8lab_mul_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t v;
    if (__builtin_mul_overflow(a, b, &v)) return -1;
    *out = v;
    return 0;
}

int fp8lab_add_i64(int64_t a, int64_t b, int64_t *out) {
    int64_t v;
    if (__builtin_add_overflow(a, b, &v)) return -1;
    *out = v;
    return 0;
}

/* Decimal syntax: [+-] digits [. digits] [(e|E) [+-] digits], at least one mantissa digit. Writes the
   mantissa digits (without the point) to dig, their count, the count after the point and the exponent. */
typedef struct {
    int neg;
    char dig[64];
    int ndig, nfrac;
    long exp;
} decimal;

static int scan_decimal(const char *s, decimal *d) {
    memset(d, 0, sizeof *d);
    const char *p = s;
    if (*p == '+' || *p == '-') d->neg = *p++ == '-';
    int seen = 0, point = 0;
    for (;; p++) {
        if (isdigit((unsigned char)*p)) {
            seen = 1;
            if (d->ndig == 0 && *p == '0' && !point) continue; /* leading zeros */
            if (d->ndig >= (int)sizeof d->dig - 1) return -1;
            d->dig[d->ndig++] = *p;
            d->nfrac += point;
        } else if (*p == '.' && !point) {
            point = 1;
        } else {
            break;
        }
    }
    if (!seen) return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        int eneg = 0;
        if (*p == '+' || *p == '-') eneg = *p++ == '-';
        if (!isdigit((unsigned char)*p)) return -1;
        long e = 0;
        for (; isdigit((unsigned char)*p); p++)
            if ((e = e * 10 + (*p - '0')) > 100000) return -1;
        d->exp = eneg ? -e : e;
    }
    return *p ? -1 : 0;
}

int fp8lab_parse_int(const char *s, fp8lab_range r, int64_t *out) {
    decimal d;
    if (!s || scan_decimal(s, &d)) return FP8LAB_NUM_SYNTAX;
    /* value = dig * 10^(exp - nfrac); whole when the digits past the shifted point are all zero */
    long shift = d.exp - d.nfrac;
    int keep = d.ndig;
    if (shift < 0) {
        if (-shift > d.ndig) keep = 0;
        else keep = d.ndig + (int)shift;
        for (int i = keep; i < d.ndig; i++)
            if (d.dig[i] != '0') return FP8LAB_NUM_SYNTAX;
        shift = 0;
    }
    int64_t v = 0;
    int over = 0;
    for (int i = 0; i < keep && !over; i++)
        over = fp8lab_mul_i64(v, 10, &v) || fp8lab_add_i64(v, d.dig[i] - '0', &v);
    for (long i = 0; i < shift && !over && v; i++) over = fp8lab_mul_i64(v, 10, &v);
    if (over) {
        *out = d.neg ? INT64_MIN : INT64_MAX;
        return FP8LAB_NUM_RANGE;
    }
    *out = d.neg ? -v : v;
    if (fabs((double)*out) > FP8LAB_INT_MAX_EXACT || !fp8lab_range_has(r, (double)*out)) return FP8LAB_NUM_RANGE;
    return FP8LAB_NUM_OK;
}

int fp8lab_parse_real(const char *s, fp8lab_range r, double *out) {
    decimal d;
    if (!s || scan_decimal(s, &d)) return FP8LAB_NUM_SYNTAX; /* refuses inf, nan, hex floats */
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) return FP8LAB_NUM_SYNTAX;
    *out = v;
    if (!isfinite(v)) return FP8LAB_NUM_RANGE; /* 1e999 */
    return fp8lab_range_has(r, v) ? FP8LAB_NUM_OK : FP8LAB_NUM_RANGE;
}
