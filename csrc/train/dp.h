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
/* Gradient buckets that travel while the backward runs (issue 10, item 2): between fp8lab_dp_buckets_begin and
   fp8lab_dp_buckets_finish the model tells (fp8lab_gpt_set_grad_ready) as each segment of the buffer has its final
   gradient, last layer first; segments are merged until a bucket holds at least cap_floats (PyTorch DDP's 25 MB
   by default), and each full bucket's all-reduce starts at once, non-blocking (the exact planes' two, or the
   floats'), while the backward goes on with the layers below; the buckets in flight get progress
   (fp8lab_comm_test) at every later segment. finish starts what is left, waits for all and makes the gradients
   (from the summed planes). The sums are those of fp8lab_dp_sum_grads, bit for bit with exact sums. cap_floats 0:
   one bucket, started when the backward ends (no overlap). */
#define FP8LAB_DP_MAX_BUCKETS 64

typedef struct fp8lab_dp_buckets {
    fp8lab_comm *c;
    fp8lab_gpt *g;
    int64_t cap;
    int64_t lo, hi;  /* segments received but not yet sent: [lo, hi) */
    int n;           /* buckets started this step */
    int early;       /* of them, started before the backward ended */
    int64_t begin[FP8LAB_DP_MAX_BUCKETS], end[FP8LAB_DP_MAX_BUCKETS];
    fp8lab_comm_req *req[2 * FP8LAB_DP_MAX_BUCKETS]; /* the exact planes' two a bucket */
} fp8lab_dp_buckets;
int fp8lab_dp_buckets_begin(fp8lab_dp_buckets *b, fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be,
                            int64_t cap_floats);
int fp8lab_dp_buckets_finish(fp8lab_dp_buckets *b);

/* CRC-32C of the parameter buffer on every rank compared: *identical = 1 when all ranks hold the same bytes
   (the MAX and the MIN of the CRCs agree), *crc gets this rank's CRC (may be NULL). */
int fp8lab_dp_weights_identical(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, int *identical, uint32_t *crc);

#endif
