/* AdamW over the model's parameter buffer with moments the trainer owns (so checkpoints can save and restore
   them): the same update as fp8lab_gpt_step (global norm from fp8lab_sumsq, clipping through grad_scale, decay
   on 2-D tensors only), one backend AdamW call per tensor. */
#ifndef FP8LAB_TRAIN_OPTIM_H
#define FP8LAB_TRAIN_OPTIM_H
#include <stdint.h>

#include "backend/backend.h"
#include "nn/model.h"

typedef struct fp8lab_optim {
    fp8lab_backend *be;
    fp8lab_moment_dtype dtype;
    int64_t floats;  /* the model's buffer size */
    void *m, *v;     /* device, floats x (2 | 4) bytes each, zero at first */
    double *sumsq;   /* device */
} fp8lab_optim;

int fp8lab_optim_init(fp8lab_optim *o, fp8lab_backend *be, const fp8lab_gpt *g, fp8lab_moment_dtype dtype);
void fp8lab_optim_free(fp8lab_optim *o);
size_t fp8lab_optim_moment_bytes(const fp8lab_optim *o); /* of m (= of v) */

/* One step: a->step is 1-based, a->grad_scale the gradients' multiplier (1 without accumulation), a->moments
   ignored (o->dtype). *grad_norm gets the norm before clipping. 0 after a step, 1 when the norm is not finite
   (nothing changed), -1 on error. */
int fp8lab_optim_step(fp8lab_optim *o, fp8lab_gpt *g, const fp8lab_adamw_args *a, float clip, float *grad_norm);

#endif
