/* Where parameter gradients go when they must not depend on how the batch is split (issue 10: a 4-rank run equal
   to a 1-rank run with 4x the micro-batch, FP8 recipes included, where one flipped rounding in a gradient grows
   through the FP8 weight quantization into a different loss within a few steps).

   Every contribution to a parameter's gradient is a "leaf" that depends on the tokens of one 128-token block of
   the micro-batch only (FP8LAB_GRAD_BLOCK, the FP8 tile, so an fp8-block Wgrad tile is one leaf): a Linear's
   Wgrad and bias gradient over the block's rows, a norm's weight gradient over them, an embedding row per token.
   The leaves are summed exactly (core/exact_sum.h) into two planes of doubles laid out as the gradient buffer,
   and the gradient is their float value. So whenever every rank's share of the batch is a whole number of blocks,
   the ranks' planes summed (in any order) are the planes one rank would have made from the whole batch, and the
   gradients agree to the bit. The fp8-tensor recipes take one amax over the whole local batch, which a split
   changes: they stay exact sums but not split-invariant.

   Host memory only: the sink is for the CPU backend, whose device memory is the host's (the model refuses it on
   another backend). */
#ifndef FP8LAB_NN_GRAD_SINK_H
#define FP8LAB_NN_GRAD_SINK_H
#include <stddef.h>

#include "backend/backend.h"

#define FP8LAB_GRAD_BLOCK 128

typedef struct fp8lab_grad_sink {
    fp8lab_backend *be;
    float *grads;          /* the gradient buffer the planes shadow */
    double *hi, *lo;       /* exact planes, one entry per float of grads */
    long floats;
    float *leaf;           /* scratch for one leaf (backend memory), grown on demand */
    size_t leaf_floats;
} fp8lab_grad_sink;

/* Leaf scratch of at least n floats, zeroed when zero is set; NULL with an error when out of memory. */
float *fp8lab_grad_sink_leaf(fp8lab_grad_sink *s, size_t n, int zero);
/* The leaf's n floats added exactly at dst's place in the planes (dst points into s->grads). */
int fp8lab_grad_sink_add(fp8lab_grad_sink *s, const float *dst, const float *leaf, long n);
/* count leaves of n floats, leaf j at leaves + j * stride, added exactly in turn at dst's place in the planes. */
int fp8lab_grad_sink_add_many(fp8lab_grad_sink *s, const float *dst, const float *leaves, long n, int count,
                              long stride);
/* dst [M][N] gains A^T . B (A stored [K][M], B stored [K][N], FP32), one leaf per 128-row block of K, in one
   backend call (fp8lab_matmul_f32_exact): the FP32 Wgrad through the sink. */
int fp8lab_grad_sink_matmul(fp8lab_grad_sink *s, const float *dst, int M, int N, int K, const float *a,
                            const float *b);
/* A contribution into dst: exact through s, or added into dst on the backend when s is NULL. */
int fp8lab_grad_add(fp8lab_backend *be, fp8lab_grad_sink *s, float *dst, const float *leaf, long n);
/* The blocks of N rows: count, and block b's first row and row count. */
static inline int fp8lab_grad_blocks(int N) { return (N + FP8LAB_GRAD_BLOCK - 1) / FP8LAB_GRAD_BLOCK; }
static inline int fp8lab_grad_block_rows(int N, int b) {
    const int r = N - b * FP8LAB_GRAD_BLOCK;
    return r < FP8LAB_GRAD_BLOCK ? r : FP8LAB_GRAD_BLOCK;
}

#endif
