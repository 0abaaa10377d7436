/* A recording backend: wraps another backend (the inner one) and forwards every op to it, noting each call on
   the way: its kind, a GEMM's M/N/K, transposes and precision (which front was called), the FLOPs and the bytes
   the op must touch. It serves two purposes:
   - tests compare the GEMMs one training step issues with the op schedule the simulator plays
     (tests/test_schedule_match.c), from the call log;
   - `fp8lab train --profile` times every op (timing on): the inner backend is synchronised before and after
     each op and the interval is read from a monotonic clock. On a GPU that serialises the stream (no overlap
     of host and device, one op at a time), so profiled steps are slower than plain ones.

     fp8lab_backend *be = fp8lab_record_create(fp8lab_backend_create("cpu"), &(fp8lab_record_opts){.log = 1});
     ... build the model on be, train ...
     int n; const fp8lab_rec_op *ops = fp8lab_record_log(be, &n);
     fp8lab_backend_destroy(be);   // destroys the inner backend too

   The wrapper has the inner backend's name ("cpu", "cuda") and info, so callers that look at be->name work
   unchanged. Device pointers are the inner backend's. alloc, free and sync are forwarded, not recorded. */
#ifndef FP8LAB_BACKEND_RECORD_H
#define FP8LAB_BACKEND_RECORD_H
#include "backend/backend.h"

/* What the profile table groups ops by. */
typedef enum {
    FP8LAB_REC_GEMM,     /* gemm group */
    FP8LAB_REC_QUANT,    /* quantize group: BF16 casts, amax, FP8 quantizers */
    FP8LAB_REC_ATTN,     /* attn_fwd, attn_bwd */
    FP8LAB_REC_NORM_ACT, /* LayerNorm, RMSNorm, GELU, SwiGLU, RoPE */
    FP8LAB_REC_OPTIM,    /* optim group */
    FP8LAB_REC_OTHER,    /* copies, memset, transposes, embedding, cross-entropy, residual add, bias */
    FP8LAB_REC_NKINDS
} fp8lab_rec_kind;

/* A GEMM's precision: which front function was called. */
typedef enum {
    FP8LAB_REC_NONE,       /* not a GEMM */
    FP8LAB_REC_F32,        /* matmul_f32, gemm_f32 */
    FP8LAB_REC_BF16,       /* gemm_bf16 */
    FP8LAB_REC_FP8_TENSOR, /* gemm_fp8_tensor */
    FP8LAB_REC_FP8_BLOCK,  /* gemm_fp8_block */
} fp8lab_rec_prec;

typedef struct fp8lab_rec_op {
    const char *name;     /* the op, as the fronts name it: "gemm_fp8_block", "rmsnorm_bwd", "adamw" */
    fp8lab_rec_kind kind;
    int phase;            /* the caller's tag at the time of the call (fp8lab_record_set_phase) */
    fp8lab_rec_prec prec;
    int m, n, k;          /* GEMM: D[m][n] = op(A)[m][k] . op(B)[k][n] as the front was called */
    int ta, tb;           /* matmul_f32's transposes; the NT GEMMs: 0, 1 */
    double flops;         /* GEMM 2mnk; attention as the simulator counts it (causal; backward 2.5x) */
    double bytes;         /* device bytes the op must read and write at least */
    double seconds;       /* timing on: the op between synchronisations; 0 otherwise */
} fp8lab_rec_op;

typedef struct fp8lab_rec_totals {
    long calls;
    double seconds, flops, bytes;
} fp8lab_rec_totals;

typedef struct fp8lab_record_opts {
    int log;    /* keep every call for fp8lab_record_log (totals are always kept) */
    int timing; /* time each op, synchronising the inner backend before and after it */
} fp8lab_record_opts;

/* Takes inner over (fp8lab_backend_destroy of the wrapper destroys it). NULL with an error on failure (then
   inner stays the caller's); inner NULL gives NULL with the error already set by whoever failed to make it. */
fp8lab_backend *fp8lab_record_create(fp8lab_backend *inner, const fp8lab_record_opts *opts /* NULL: none */);
/* be was made by fp8lab_record_create */
int fp8lab_record_is(const fp8lab_backend *be);

/* Recording (and timing) only while enabled (the default after create); ops are forwarded either way. */
void fp8lab_record_enable(fp8lab_backend *be, int on);
/* A tag stored with every following call (e.g. forward / backward / optimizer in a test). */
void fp8lab_record_set_phase(fp8lab_backend *be, int phase);
/* The calls since create or the last reset, in order (opts.log; NULL and 0 otherwise). */
const fp8lab_rec_op *fp8lab_record_log(const fp8lab_backend *be, int *n);
/* Per kind, summed since create or the last reset. */
void fp8lab_record_totals(const fp8lab_backend *be, fp8lab_rec_totals out[FP8LAB_REC_NKINDS]);
void fp8lab_record_reset(fp8lab_backend *be);

const char *fp8lab_rec_kind_name(fp8lab_rec_kind k);
const char *fp8lab_rec_prec_name(fp8lab_rec_prec p);

#endif
