#include "nn/grad_sink.h"

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

int fp8lab_grad_sink_add(fp8lab_grad_sink *s, const float *dst, const float *leaf, long n) {
    const long off = (long)(dst - s->grads);
    if (n < 0 || off < 0 || off > s->floats - n) {
        FP8LAB_ERR_RT("gradient sink: %ld floats at offset %ld lie outside the gradient buffer's %ld", n, off,
                      s->floats);
        return -1;
    }
    fp8lab_exact_add(s->hi + off, s->lo + off, leaf, (size_t)n);
    return 0;
}

int fp8lab_grad_add(fp8lab_backend *be, fp8lab_grad_sink *s, float *dst, const float *leaf, long n) {
    return s ? fp8lab_grad_sink_add(s, dst, leaf, n) : fp8lab_add(be, dst, dst, leaf, n);
}
