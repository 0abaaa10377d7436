/* Backend ops, layers group (the trainer's issue fills it): embedding, layernorm/rmsnorm, GELU/SwiGLU,
   attention, softmax cross-entropy, each forward and backward. Until then no backend has it:
   fp8lab_backend.layers is NULL, and its front functions will report "op X is not implemented by backend Y"
   (backend/check.h: FP8LAB_HAS_OP) for a backend that leaves an entry NULL. */
#ifndef FP8LAB_LAYER_OPS_H
#define FP8LAB_LAYER_OPS_H

#include "backend/backend_types.h"

typedef struct fp8lab_layer_ops fp8lab_layer_ops;

#endif
