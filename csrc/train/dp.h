/* Plain data parallelism for the trainer (issue: data parallel training): the model is replicated on every rank of
   a communicator (dist/comm.h), each rank trains on its slice of the global batch, and these helpers keep the
   replicas in step: gradients summed over ranks, numbers averaged, decisions agreed, weights checked identical.
   With a NULL communicator or one of size 1 every helper is the single-process identity (no collective).
   Every function returns 0, or -1 with fp8lab_last_error() set (the communicator's error), unless it says
   otherwise. */
#ifndef FP8LAB_TRAIN_DP_H
#define FP8LAB_TRAIN_DP_H
#include <stdint.h>

#include "backend/backend.h"
#include "dist/comm.h"
#include "nn/model.h"

static inline int fp8lab_dp_rank(const fp8lab_comm *c) { return c ? c->rank : 0; }
static inline int fp8lab_dp_size(const fp8lab_comm *c) { return c ? c->size : 1; }

/* The model's gradient buffer summed over ranks, in place; each rank's backward divided its losses by the global
   count of positions (fp8lab_gpt_backward_over), so the sum is the global batch's mean gradient. With the model's
   exact sums on (fp8lab_gpt_set_exact_grads) the exact planes are summed instead (as doubles, exactly) and the
   gradients made from them: the same bits as one rank running the whole global batch, whenever each rank's share
   is a whole number of 128-token blocks (nn/grad_sink.h). The MPI communicator takes host buffers: a device
   backend other than the CPU's is refused. */
int fp8lab_dp_sum_grads(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be);
/* The exact planes (nn/model.h) of floats [begin, begin + count) summed over the ranks (doubles whose sums are
   exact, so the order the ranks meet in does not matter), then the gradients there made from them; scatter: a
   reduce-scatter of count per rank landing at begin = rank x count (ZeRO-1's blocks), else an all-reduce. */
int fp8lab_dp_sum_planes(fp8lab_comm *c, fp8lab_gpt *g, int64_t begin, int64_t count, int scatter);
/* The backend's work done and its buffers usable by c: the MPI communicator takes host buffers, so a device
   backend other than the CPU's is refused. */
int fp8lab_dp_ready(fp8lab_comm *c, fp8lab_backend *be);
/* v[0..n) summed over ranks, in place (doubles). */
int fp8lab_dp_sum(fp8lab_comm *c, double *v, int n);
/* 1 when flag is nonzero on any rank, else 0; -1 on error. */
int fp8lab_dp_any(fp8lab_comm *c, int flag);
/* CRC-32C of the parameter buffer on every rank compared: *identical = 1 when all ranks hold the same bytes
   (the MAX and the MIN of the CRCs agree), *crc gets this rank's CRC (may be NULL). */
int fp8lab_dp_weights_identical(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, int *identical, uint32_t *crc);

#endif
