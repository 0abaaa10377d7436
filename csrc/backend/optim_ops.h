/* Backend ops, optimizer group (the trainer's issue fills it): AdamW over FP32 master weights with BF16
   moments, gradient norm and clipping. Until then fp8lab_backend.optim is NULL (see layer_ops.h). */
#ifndef FP8LAB_OPTIM_OPS_H
#define FP8LAB_OPTIM_OPS_H

#include "backend/backend_types.h"

typedef struct fp8lab_optim_ops fp8lab_optim_ops;

#endif
