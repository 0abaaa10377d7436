/* Front functions of the memory group (mem_ops.h). */
#include "backend/mem_ops.h"

#include "backend/check.h"
#include "core/error.h"

void *fp8lab_alloc(fp8lab_backend *be, size_t bytes) {
    if (fp8lab_check_op(be, "alloc", FP8LAB_HAS_OP(be, mem, alloc))) return NULL;
    return be->mem->alloc(be, bytes);
}

/* Called on cleanup paths with whatever was allocated: a NULL pointer or backend is not an error. */
void fp8lab_free(fp8lab_backend *be, void *p) {
    if (p && FP8LAB_HAS_OP(be, mem, free)) be->mem->free(be, p);
}

/* dst and src may be NULL only when nothing is copied */
static int check_copy(const fp8lab_backend *be, const char *op, int has_op, const void *dst, const void *src,
                      size_t bytes) {
    return fp8lab_check_op(be, op, has_op) ||
           (bytes && (fp8lab_check_ptr(op, "dst", dst) || fp8lab_check_ptr(op, "src", src)));
}

int fp8lab_copy_h2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    if (check_copy(be, "copy_h2d", FP8LAB_HAS_OP(be, mem, copy_h2d), dst, src, bytes)) return -1;
    return be->mem->copy_h2d(be, dst, src, bytes);
}

int fp8lab_copy_d2h(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    if (check_copy(be, "copy_d2h", FP8LAB_HAS_OP(be, mem, copy_d2h), dst, src, bytes)) return -1;
    return be->mem->copy_d2h(be, dst, src, bytes);
}

int fp8lab_copy_d2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    if (check_copy(be, "copy_d2d", FP8LAB_HAS_OP(be, mem, copy_d2d), dst, src, bytes)) return -1;
    return be->mem->copy_d2d(be, dst, src, bytes);
}

int fp8lab_copy_2d(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                   size_t rows) {
    const size_t bytes = rows ? width : 0;
    if (check_copy(be, "copy_2d", FP8LAB_HAS_OP(be, mem, copy_2d), dst, src, bytes)) return -1;
    if (width > dpitch || width > spitch) {
        FP8LAB_ERR("copy_2d: width %zu bytes exceeds the pitch (dst %zu, src %zu bytes)", width, dpitch, spitch);
        return -1;
    }
    if (!width || !rows) return 0;
    return be->mem->copy_2d(be, dst, dpitch, src, spitch, width, rows);
}

int fp8lab_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    if (fp8lab_check_op(be, "memset0", FP8LAB_HAS_OP(be, mem, memset0)) ||
        (bytes && fp8lab_check_ptr("memset0", "dst", dst)))
        return -1;
    return be->mem->memset0(be, dst, bytes);
}

int fp8lab_sync(fp8lab_backend *be) {
    if (fp8lab_check_op(be, "sync", FP8LAB_HAS_OP(be, mem, sync))) return -1;
    return be->mem->sync(be);
}

int fp8lab_transpose_f32(fp8lab_backend *be, const float *x, int rows, int cols, float *y) {
    static const char op[] = "transpose_f32";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, mem, transpose_f32)) || fp8lab_check_dim(op, "rows", rows, 1) ||
        fp8lab_check_dim(op, "cols", cols, 1) || fp8lab_check_ptr(op, "x", x) || fp8lab_check_ptr(op, "y", y))
        return -1;
    const char *xb = (const char *)x, *yb = (const char *)y;
    const size_t bytes = sizeof(float) * (size_t)rows * (size_t)cols;
    if (xb < yb + bytes && yb < xb + bytes) {
        FP8LAB_ERR("%s: y overlaps x (the transpose is not in place)", op);
        return -1;
    }
    return be->mem->transpose_f32(be, x, rows, cols, y);
}
