#include "train/optim.h"

#include <math.h>
#include <string.h>

#include "core/error.h"

size_t fp8lab_optim_moment_bytes(const fp8lab_optim *o) {
    return (o->dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4) * (size_t)o->floats;
}

int fp8lab_optim_init(fp8lab_optim *o, fp8lab_backend *be, const fp8lab_gpt *g, fp8lab_moment_dtype dtype) {
    memset(o, 0, sizeof *o);
    if (dtype != FP8LAB_MOMENTS_BF16 && dtype != FP8LAB_MOMENTS_F32) {
        FP8LAB_ERR("optimizer: unknown moments dtype %d", (int)dtype);
        return -1;
    }
    o->be = be;
    o->dtype = dtype;
    o->floats = fp8lab_gpt_buffer_floats(g);
    const size_t bytes = fp8lab_optim_moment_bytes(o);
    o->m = fp8lab_alloc(be, bytes);
    o->v = o->m ? fp8lab_alloc(be, bytes) : NULL;
    o->sumsq = o->v ? fp8lab_alloc(be, sizeof(double)) : NULL;
    if (!o->sumsq || fp8lab_memset0(be, o->m, bytes) || fp8lab_memset0(be, o->v, bytes)) {
        fp8lab_optim_free(o);
        return -1;
    }
    return 0;
}

void fp8lab_optim_free(fp8lab_optim *o) {
    if (!o->be) return;
    fp8lab_free(o->be, o->m);
    fp8lab_free(o->be, o->v);
    fp8lab_free(o->be, o->sumsq);
    memset(o, 0, sizeof *o);
}

int fp8lab_optim_step(fp8lab_optim *o, fp8lab_gpt *g, const fp8lab_adamw_args *a, float clip, float *grad_norm) {
    if (!a || !(clip >= 0) || !isfinite(clip)) {
        FP8LAB_ERR("optimizer: NULL args or clip = %g (finite, >= 0)", (double)clip);
        return -1;
    }
    fp8lab_backend *be = o->be;
    float *params = fp8lab_gpt_params(g), *grads = fp8lab_gpt_grads(g);
    double sumsq = 0;
    if (fp8lab_memset0(be, o->sumsq, sizeof(double)) || fp8lab_sumsq(be, grads, (long)o->floats, o->sumsq) ||
        fp8lab_copy_d2h(be, &sumsq, o->sumsq, sizeof(double)))
        return -1;
    const double norm = sqrt(sumsq) * (double)a->grad_scale;
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return 1;
    fp8lab_adamw_args s = *a;
    s.moments = o->dtype;
    if (clip > 0 && norm > clip) s.grad_scale = (float)((double)a->grad_scale * (double)clip / norm);
    const size_t es = o->dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4;
    const int n = fp8lab_gpt_tensor_count(g);
    for (int i = 0; i < n; i++) {
        fp8lab_gpt_tensor t;
        if (fp8lab_gpt_tensor_at(g, i, &t)) return -1;
        const size_t off = (size_t)(t.param - params);
        s.weight_decay = t.decay ? a->weight_decay : 0.0f;
        if (fp8lab_adamw(be, t.param, grads + off, (char *)o->m + es * off, (char *)o->v + es * off, (long)t.numel,
                         &s))
            return -1;
    }
    return 0;
}
