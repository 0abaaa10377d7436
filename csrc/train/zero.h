/* ZeRO-1 (issue 10, item 2): the optimizer state sharded over the data-parallel ranks. The gradient buffer's floats
   [0, size x count) are split into size blocks of count, rank r owning block r; the remainder [size x count,
   floats) is owned by every rank (summed with an all-reduce and updated the same way on each). A step: the
   gradients reduce-scattered (the exact planes when the model keeps them: nn/grad_sink.h), the global norm the
   all-reduced sum of the blocks' sums of squares (every rank clips and skips alike), AdamW on this rank's block of
   the FP32 master weights, then the updated block all-gathered into every rank's working weights:
     fp32  the masters themselves (the working weights are the masters);
     bf16  rounded to BF16 (2 bytes a parameter on the wire); the FP32 masters of a block live only on its rank;
     fp8   E4M3 with one scale per 128 floats, amax / 448 as DeepSeek-V3 scales its tiles (1 byte a parameter
           plus 4 per 128): the block count is then a multiple of 128.
   Every rank's working weights hold the same bits (the gathered rounding of each block, its own included), so the
   forward passes agree. The moments stay full-size buffers on every rank, each rank keeping its block current
   (and writing it into the checkpoint: train/opt_shards.h). Checkpoints hold the FP32 masters:
   fp8lab_zero_masters_out before a save, fp8lab_zero_round after. Size 1 (or NULL comm): the plain step. */
#ifndef FP8LAB_TRAIN_ZERO_H
#define FP8LAB_TRAIN_ZERO_H
#include <stdint.h>

#include "backend/backend.h"
#include "dist/comm.h"
#include "nn/model.h"

typedef enum { FP8LAB_ZERO_GATHER_F32 = 0, FP8LAB_ZERO_GATHER_BF16 = 1, FP8LAB_ZERO_GATHER_FP8 = 2 } fp8lab_zero_gather;

/* "fp32" | "bf16" | "fp8" -> *out; -1 with an error naming the value (exit 2) */
int fp8lab_zero_gather_parse(const char *s, fp8lab_zero_gather *out);
const char *fp8lab_zero_gather_name(fp8lab_zero_gather g);

typedef struct fp8lab_zero {
    fp8lab_comm *c;
    fp8lab_gpt *g;
    fp8lab_backend *be;
    fp8lab_zero_gather gather;
    int64_t count, begin, end, tail, floats; /* this rank's block [begin, end), the shared remainder [tail, floats) */
    float *master;  /* bf16/fp8: FP32 masters of the block, then of the remainder (host) */
    void *wire;     /* bf16/fp8: the gathered block values, size x count elements */
    float *scales;  /* fp8: size x count / 128 scales */
} fp8lab_zero;

/* Takes the current weights (initial or loaded) as the masters and rounds the working weights as the gather
   will: call after any checkpoint load and before the first step. The comm's buffers are the host's: the CPU
   backend only (as dp.h). */
int fp8lab_zero_init(fp8lab_zero *z, fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, fp8lab_zero_gather gather);
void fp8lab_zero_free(fp8lab_zero *z);
/* One step in place of fp8lab_dp_sum_grads + fp8lab_gpt_step; returns as fp8lab_gpt_step (1: non-finite norm,
   skipped on every rank). The gradient buffer is left partly reduced. */
int fp8lab_zero_step(fp8lab_zero *z, const fp8lab_adamw_args *a, float clip, float *grad_norm);
/* The working weights replaced by the FP32 masters on every rank (collective), for a checkpoint; _round makes
   them the gathered rounding again, as they were. */
int fp8lab_zero_masters_out(fp8lab_zero *z);
int fp8lab_zero_round(fp8lab_zero *z);

#endif
