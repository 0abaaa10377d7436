/* CPU backend, optimizer group: AdamW in FP32 (BF16 moments are decoded, updated in FP32 and rounded back to
   nearest even), the sum of squares in FP64, and the non-finite count. */
#include <math.h>
#include <stdint.h>

#include "backend/cpu_internal.h"
#include "fp8/fp8.h"
#include "fp8/fp8_impl.h"

/* One element: g = grad * grad_scale; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
   p -= lr (m/bc1 / (sqrt(v/bc2) + eps) + wd p). m, v in and out through *m, *v. The arguments come by value
   (a copy of fp8lab_adamw_args), so that the loops need not reload them after every store. */
static inline float adamw_update(float p, float grad, float *m, float *v, const fp8lab_adamw_args a, float bc1,
                                 float bc2) {
    const float g = grad * a.grad_scale;
    const float mt = a.beta1 * *m + (1.0f - a.beta1) * g;
    const float vt = a.beta2 * *v + (1.0f - a.beta2) * g * g;
    *m = mt;
    *v = vt;
    const float mhat = mt / bc1, vhat = vt / bc2;
    float upd = mhat / (sqrtf(vhat) + a.eps);
    if (a.weight_decay > 0.0f) upd += a.weight_decay * p;
    return p - a.lr * upd;
}

static int cpu_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                     const fp8lab_adamw_args *a) {
    (void)be;
    /* the bias corrections in double: beta^step underflows gracefully for any step */
    const float bc1 = (float)(1.0 - pow(a->beta1, a->step)), bc2 = (float)(1.0 - pow(a->beta2, a->step));
    const fp8lab_adamw_args args = *a;
    if (a->moments == FP8LAB_MOMENTS_F32) {
        float *mf = m, *vf = v;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) param[i] = adamw_update(param[i], grad[i], &mf[i], &vf[i], args, bc1, bc2);
    } else {
        uint16_t *mh = m, *vh = v;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) {
            float mi = bf16_to_f32_inline(mh[i]), vi = bf16_to_f32_inline(vh[i]);
            param[i] = adamw_update(param[i], grad[i], &mi, &vi, args, bc1, bc2);
            mh[i] = bf16_from_f32_inline(mi);
            vh[i] = bf16_from_f32_inline(vi);
        }
    }
    return 0;
}

static int cpu_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq) {
    (void)be;
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (long i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
    *sumsq += s;
    return 0;
}

static int cpu_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count) {
    (void)be;
    int64_t c = 0;
#pragma omp parallel for reduction(+ : c) schedule(static)
    for (long i = 0; i < n; i++) c += !isfinite(x[i]);
    *count += c;
    return 0;
}

const fp8lab_optim_ops fp8lab_cpu_optim_ops = {
    .adamw = cpu_adamw,
    .sumsq = cpu_sumsq,
    .count_nonfinite = cpu_count_nonfinite,
};
