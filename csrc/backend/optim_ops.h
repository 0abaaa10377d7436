/* Backend ops, optimizer group: AdamW over FP32 master weights with BF16 (default) or FP32 moments, the global
   gradient norm, and the non-finite check that lets a step be skipped instead of poisoning the weights.
   Front functions below; the same contract as layer_ops.h. */
#ifndef FP8LAB_OPTIM_OPS_H
#define FP8LAB_OPTIM_OPS_H
#include <stdint.h>

#include "backend/backend_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FP8LAB_MOMENTS_BF16 = 0, FP8LAB_MOMENTS_F32 = 1 } fp8lab_moment_dtype;

typedef struct fp8lab_adamw_args {
    float lr, beta1, beta2, eps;
    float weight_decay; /* decoupled; the caller passes 0 for tensors that are not matrices */
    int step;           /* 1-based, for the bias corrections 1 - beta^step */
    float grad_scale;   /* multiplies every gradient first: 1, or clip / norm when clipping */
    fp8lab_moment_dtype moments;
} fp8lab_adamw_args;

typedef struct fp8lab_optim_ops {
    /* one AdamW step on n parameters: m, v are uint16_t (BF16, round to nearest even) or float per
       a.moments; param updated in place; grad is read only */
    int (*adamw)(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                 const fp8lab_adamw_args *a);
    /* *sumsq_dev += sum of x^2 (accumulated in FP64 on the CPU, FP32 partials + FP64 total on a GPU), one
       device double: the global gradient norm is sqrt of the sum over every gradient buffer */
    int (*sumsq)(fp8lab_backend *be, const float *x, long n, double *sumsq_dev);
    /* *count_dev += number of non-finite entries of x (one device int64) */
    int (*count_nonfinite)(fp8lab_backend *be, const float *x, long n, int64_t *count_dev);
} fp8lab_optim_ops;

int fp8lab_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                 const fp8lab_adamw_args *a);
int fp8lab_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq_dev);
int fp8lab_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count_dev);

#ifdef __cplusplus
}
#endif
#endif
