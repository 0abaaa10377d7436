/* Front functions of the optimizer group: the contract in optim_ops.h, checked once for every backend. */
#include "backend/optim_ops.h"

#include "backend/check.h"
#include "core/error.h"

static int check_adamw_args(const char *op, const fp8lab_adamw_args *a) {
    if (fp8lab_check_ptr(op, "args", a) || fp8lab_check_nonneg(op, "lr", a->lr) ||
        fp8lab_check_unit(op, "beta1", a->beta1) || fp8lab_check_unit(op, "beta2", a->beta2) ||
        fp8lab_check_positive(op, "eps", a->eps) || fp8lab_check_nonneg(op, "weight_decay", a->weight_decay) ||
        fp8lab_check_positive(op, "grad_scale", a->grad_scale))
        return -1;
    if (a->step < 1) {
        FP8LAB_ERR("%s: step = %d must be positive (1-based, for the bias corrections)", op, a->step);
        return -1;
    }
    if (a->moments != FP8LAB_MOMENTS_BF16 && a->moments != FP8LAB_MOMENTS_F32) {
        FP8LAB_ERR("%s: unknown moments dtype %d (expected FP8LAB_MOMENTS_BF16=0 or FP8LAB_MOMENTS_F32=1)", op,
                   (int)a->moments);
        return -1;
    }
    return 0;
}

int fp8lab_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                 const fp8lab_adamw_args *a) {
    static const char op[] = "adamw";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, optim, adamw)) || fp8lab_check_count(op, n) ||
        check_adamw_args(op, a))
        return -1;
    const size_t malign = a->moments == FP8LAB_MOMENTS_BF16 ? 2 : 4;
    if (fp8lab_check_align(op, "param", param, 4) || fp8lab_check_align(op, "grad", grad, 4) ||
        fp8lab_check_align(op, "m", m, malign) || fp8lab_check_align(op, "v", v, malign))
        return -1;
    return be->optim->adamw(be, param, grad, m, v, n, a);
}

int fp8lab_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq_dev) {
    static const char op[] = "sumsq";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, optim, sumsq)) || fp8lab_check_count(op, n) ||
        fp8lab_check_align(op, "x", x, 4) || fp8lab_check_align(op, "sumsq_dev", sumsq_dev, 8))
        return -1;
    return be->optim->sumsq(be, x, n, sumsq_dev);
}

int fp8lab_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count_dev) {
    static const char op[] = "count_nonfinite";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, optim, count_nonfinite)) || fp8lab_check_count(op, n) ||
        fp8lab_check_align(op, "x", x, 4) || fp8lab_check_align(op, "count_dev", count_dev, 8))
        return -1;
    return be->optim->count_nonfinite(be, x, n, count_dev);
}
