#include "nn/grad_sink.h"

#include "backend/gemm_ops.h"
#include "backend/layer_ops.h"
#include "backend/mem_ops.h"
#include "core/error.h"
#include "core/exact_sum.h"

float *fp8lab_grad_sink_leaf(fp8lab_grad_sink *s, size_t n, int zero) {
    if (n > s->leaf_floats) {
        fp8lab_free(s->be, s->leaf);
        s->leaf = fp8lab_alloc(s->be, sizeof(float) * n);
        s->leaf_floats = s->leaf ? n : 0;
        if (!s->leaf) return NULL;
    }
    return zero && fp8lab_memset0(s->be, s->leaf, sizeof(float) * n) ? NULL : s->leaf;
}

/* dst's offset in the planes, or -1 when its n floats lie outside the gradient buffer */
static long plane_offset(const fp8lab_grad_sink *s, const float *dst, long n) {
    const long off = (long)(dst - s->grads);
    if (n >= 0 && off >= 0 && off <= s->floats - n) return off;
    FP8LAB_ERR_RT("gradient sink: %ld floats at offset %ld lie outside the gradient buffer's %ld", n, off, s->floats);
    return -1;
}

int fp8lab_grad_sink_add(fp8lab_grad_sink *s, const float *dst, const float *leaf, long n) {
    const long off = plane_offset(s, dst, n);
    if (off < 0) return -1;
    fp8lab_exact_add(s->hi + off, s->lo + off, leaf, (size_t)n);
    return 0;
}

int fp8lab_grad_sink_add_many(fp8lab_grad_sink *s, const float *dst, const float *leaves, long n, int count,
                              long stride) {
    const long off = plane_offset(s, dst, n);
    if (off < 0) return -1;
    fp8lab_exact_add_many(s->hi + off, s->lo + off, leaves, (size_t)n, count, (size_t)stride);
    return 0;
}

int fp8lab_grad_sink_matmul(fp8lab_grad_sink *s, const float *dst, int M, int N, int K, const float *a,
                            const float *b) {
    const long off = plane_offset(s, dst, (long)M * N);
    return off < 0 ? -1
                   : fp8lab_matmul_f32_exact(s->be, M, N, K, FP8LAB_GRAD_BLOCK, a, b, s->hi + off, s->lo + off);
}

int fp8lab_grad_add(fp8lab_backend *be, fp8lab_grad_sink *s, float *dst, const float *leaf, long n) {
    return s ? fp8lab_grad_sink_add(s, dst, leaf, n) : fp8lab_add(be, dst, dst, leaf, n);
}
