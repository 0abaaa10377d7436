#include "backend/check.h"

#include <math.h>
#include <stdint.h>

#include "core/error.h"
#include "fp8/quant.h"

int fp8lab_check_op(const fp8lab_backend *be, const char *op, int has_op) {
    if (!be) {
        FP8LAB_ERR("%s: the backend is NULL", op);
        return -1;
    }
    if (!has_op) {
        FP8LAB_ERR_RT("op %s is not implemented by backend %s", op, be->name);
        return -1;
    }
    return 0;
}

int fp8lab_check_ptr(const char *op, const char *name, const void *p) {
    if (p) return 0;
    FP8LAB_ERR("%s: %s is NULL", op, name);
    return -1;
}

int fp8lab_check_align(const char *op, const char *name, const void *p, size_t align) {
    if (fp8lab_check_ptr(op, name, p)) return -1;
    if (!((uintptr_t)p & (align - 1))) return 0;
    FP8LAB_ERR("%s: %s = %p is not %zu-byte aligned (hint: pass pointers from fp8lab_alloc, or offsets that keep "
               "the alignment)",
               op, name, p, align);
    return -1;
}

int fp8lab_check_count(const char *op, long n) {
    if (n >= 1) return 0;
    FP8LAB_ERR("%s: n = %ld must be positive", op, n);
    return -1;
}

int fp8lab_check_dim(const char *op, const char *name, int v, int mult) {
    if (v >= 1 && v % mult == 0) return 0;
    if (mult == 1) FP8LAB_ERR("%s: %s = %d must be positive", op, name, v);
    else FP8LAB_ERR("%s: %s = %d must be a positive multiple of %d", op, name, v, mult);
    return -1;
}

int fp8lab_check_fmt(const char *op, const char *name, int fmt) {
    if (fmt == FP8_E4M3 || fmt == FP8_E5M2) return 0;
    FP8LAB_ERR("%s: unknown fp8 format %s = %d (expected FP8_E4M3=0 or FP8_E5M2=1)", op, name, fmt);
    return -1;
}

int fp8lab_check_out(const char *op, fp8lab_out_dtype out) {
    if (out == FP8LAB_F32 || out == FP8LAB_BF16) return 0;
    FP8LAB_ERR("%s: unknown output dtype %d (expected FP8LAB_F32=0 or FP8LAB_BF16=1)", op, (int)out);
    return -1;
}

int fp8lab_check_finite(const char *op, const char *name, double v) {
    if (isfinite(v)) return 0;
    FP8LAB_ERR("%s: %s = %g must be finite", op, name, v);
    return -1;
}

int fp8lab_check_positive(const char *op, const char *name, double v) {
    if (isfinite(v) && v > 0) return 0;
    FP8LAB_ERR("%s: %s = %g must be positive and finite", op, name, v);
    return -1;
}

int fp8lab_check_nonneg(const char *op, const char *name, double v) {
    if (isfinite(v) && v >= 0) return 0;
    FP8LAB_ERR("%s: %s = %g must be finite and >= 0", op, name, v);
    return -1;
}

int fp8lab_check_unit(const char *op, const char *name, double v) {
    if (v >= 0 && v < 1) return 0;
    FP8LAB_ERR("%s: %s = %g must be in [0, 1)", op, name, v);
    return -1;
}
