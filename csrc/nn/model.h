/* A GPT-2 or Llama causal language model for training on one backend: parameters in ONE device buffer (each
   tensor under its Hugging Face name and shape, params.h), gradients in a second buffer of the same layout,
   AdamW moments in two more (allocated on the first step), and the activations the backward needs in one arena
   sized from (B, T) on the first forward (grown when a larger batch comes).

     g = fp8lab_gpt_create(be, &cfg, seed);          // GPT-2 init: N(0, 0.02), residual projections / sqrt(2L)
     for each step:
       fp8lab_gpt_zero_grad(g);
       for each micro-batch: fp8lab_gpt_forward(g, tok, tgt, B, T, &loss); fp8lab_gpt_backward(g);
       fp8lab_gpt_step(g, &adamw, clip, &norm);      // adamw.grad_scale = 1 / micro-batches
     fp8lab_gpt_destroy(g);

   Linears run the recipe set by fp8lab_gpt_set_recipe (linear.h); embeddings, norms, attention and softmax run
   in FP32, and the output head in BF16 (FP32 under the fp32 recipe): DeepSeek-V3 §3.3.1 keeps them out of FP8.
   Every function returns 0, or -1 with fp8lab_last_error() set (exit status 2 for bad input, 1 for the
   machine), unless it says otherwise. */
#ifndef FP8LAB_NN_MODEL_H
#define FP8LAB_NN_MODEL_H
#include <stdint.h>

#include "backend/backend.h"
#include "model/config.h"
#include "nn/linear.h"
#include "nn/params.h"

typedef struct fp8lab_gpt fp8lab_gpt;

/* One tensor of the model: name and shape as the Hugging Face checkpoint has them; param and grad point into
   the model's device buffers. */
typedef struct fp8lab_gpt_tensor {
    const char *name;
    int ndim;
    int64_t shape[2];
    int64_t numel;
    float *param, *grad;
    int decay; /* AdamW weight decay applies (2-D tensors) */
} fp8lab_gpt_tensor;

/* The parameter count of the model fp8lab_gpt_create would build, without building it (-1: unsupported). */
int64_t fp8lab_gpt_param_count(const fp8lab_model *cfg);

/* gpt2 and llama configs (deepseek_v3 is refused). cfg->norm_eps / rope_theta of 0 (a config not read by
   fp8lab_model_load) mean the Hugging Face defaults: 1e-5 (GPT-2) / 1e-6 (Llama), 10000. NULL on failure. */
fp8lab_gpt *fp8lab_gpt_create(fp8lab_backend *be, const fp8lab_model *cfg, uint64_t seed);
void fp8lab_gpt_destroy(fp8lab_gpt *g); /* NULL: nothing */

/* The recipe of the blocks' Linears (linear.h; default fp32): any sizes (the FP8 recipes pad to their tiles
   inside the Linear). A new recipe starts with empty weight caches and amax histories. opts NULL: defaults
   (amax history 16, BF16 GEMM outputs). */
int fp8lab_gpt_set_recipe(fp8lab_gpt *g, fp8lab_recipe r);
int fp8lab_gpt_set_recipe_opts(fp8lab_gpt *g, fp8lab_recipe r, const fp8lab_linear_opts *opts);
fp8lab_recipe fp8lab_gpt_recipe(const fp8lab_gpt *g);
/* Weights are quantized once per step, on first use after fp8lab_gpt_step or fp8lab_gpt_zero_grad (so an
   optimizer of the caller's own between steps is covered): whoever writes parameters at another time (a
   checkpoint load into fp8lab_gpt_params before an evaluation) calls this so the next forward requantizes. */
void fp8lab_gpt_weights_changed(fp8lab_gpt *g);
/* The model's linear context (NULL for fp32): counters and scales for tests (linear.h). */
fp8lab_linear_ctx *fp8lab_gpt_linear_ctx(const fp8lab_gpt *g);
const fp8lab_model *fp8lab_gpt_config(const fp8lab_gpt *g);

/* Tensors, in checkpoint order. _get returns -1 (no error set) when there is no tensor of that name. */
int fp8lab_gpt_tensor_count(const fp8lab_gpt *g);
int fp8lab_gpt_tensor_at(const fp8lab_gpt *g, int i, fp8lab_gpt_tensor *out);
int fp8lab_gpt_tensor_get(const fp8lab_gpt *g, const char *name, fp8lab_gpt_tensor *out);
/* The whole buffers (device pointers) and their size in floats, alignment padding (zeros) included. */
float *fp8lab_gpt_params(const fp8lab_gpt *g);
float *fp8lab_gpt_grads(const fp8lab_gpt *g);
int64_t fp8lab_gpt_buffer_floats(const fp8lab_gpt *g);
/* Bytes of the activation arena for (B, T), without allocating it (-1 with an error: bad sizes). */
int64_t fp8lab_gpt_activation_bytes(const fp8lab_model *cfg, int B, int T);

/* tokens[B*T] (host, in [0, V)); targets[B*T] (host; negative: no loss there) or NULL for logits only.
   T <= n_positions for GPT-2. *loss (may be NULL) = mean cross-entropy over the targets >= 0 (0 when none). */
int fp8lab_gpt_forward(fp8lab_gpt *g, const int32_t *tokens, const int32_t *targets, int B, int T, float *loss);
/* logits [B*T][V] on the device after a forward; the backward overwrites them with their gradient */
const float *fp8lab_gpt_logits(const fp8lab_gpt *g);
/* Gradients of the last forward's mean loss, ADDED into the gradient buffer (micro-batches accumulate); needs a
   forward with targets since the last backward. */
int fp8lab_gpt_backward(fp8lab_gpt *g);
/* The same with the loss's denominator given: the gradient of (sum of this forward's per-position losses) /
   positions, so that data-parallel ranks, each with its share, make the gradient of the global batch's mean
   (positions: the count over all ranks; 0: this forward's own). */
int fp8lab_gpt_backward_over(fp8lab_gpt *g, int64_t positions);
/* Positions with a target in the last forward, and the sum of their losses (FP64). */
int64_t fp8lab_gpt_counted(const fp8lab_gpt *g);
double fp8lab_gpt_loss_sum(const fp8lab_gpt *g);
/* Exact, split-invariant gradient sums (nn/grad_sink.h; the CPU backend only, refused elsewhere): every backward
   adds its gradient's leaves exactly into two planes of doubles (2 x 8 bytes a parameter) and writes the
   gradient buffer from them, so a 1-rank batch and the same rows split over ranks (whole 128-token blocks each,
   planes summed over the ranks: train/dp.h) give the same gradient to the bit. zero_grad clears the planes. */
int fp8lab_gpt_set_exact_grads(fp8lab_gpt *g, int on);
/* 1 and the planes (buffer_floats() doubles each) when exact sums are on, else 0 (NULLs). */
int fp8lab_gpt_exact_planes(const fp8lab_gpt *g, double **hi, double **lo);
/* Told during each backward as a segment of the buffer, floats [begin, end), has its final gradient: the final
   norm's (an untied head's too) first, then each block's,
   last layer first, then the embeddings'. The segments tile the buffer, in decreasing order. A data-parallel run
   starts each segment's all-reduce there, while the backward goes on (train/dp.h). With exact sums the listener
   makes the segment's floats (fp8lab_exact_get from the planes, summed or not); without a listener the backward
   makes them. A nonzero return stops the backward with that error. fn NULL: nobody is told. */
typedef int (*fp8lab_grad_ready_fn)(void *ctx, int64_t begin, int64_t end);
void fp8lab_gpt_set_grad_ready(fp8lab_gpt *g, fp8lab_grad_ready_fn fn, void *ctx);
int fp8lab_gpt_zero_grad(fp8lab_gpt *g);

/* One AdamW step over every tensor: the global gradient norm comes from fp8lab_sumsq (times a->grad_scale); when
   clip > 0 and the norm exceeds it, the gradients are scaled by clip / norm through grad_scale. Weight decay
   (a->weight_decay) only on 2-D tensors, embeddings included; a->step is the 1-based step the caller keeps.
   Moments are allocated on the first call in a->moments' dtype. *grad_norm (may be NULL) gets the norm before
   clipping. Returns 0 after a step, 1 when the norm is not finite (step skipped, nothing changed), -1 on error. */
int fp8lab_gpt_step(fp8lab_gpt *g, const fp8lab_adamw_args *a, float clip, float *grad_norm);
/* The pieces of fp8lab_gpt_step, for an optimizer sharded over ranks (train/dp.h's ZeRO-1) that updates only
   floats [begin, end) of the buffers (0 <= begin <= end <= buffer_floats()). _grad_sumsq: *sumsq = the sum of
   squares of those gradients (FP64). _step_range: AdamW over those floats with a->grad_scale as given (the
   caller folds clipping into it), weight decay per tensor as fp8lab_gpt_step; moments allocated as there; marks
   the weights changed. Elementwise: ranges that tile the buffer update it exactly as one fp8lab_gpt_step. */
int fp8lab_gpt_grad_sumsq(fp8lab_gpt *g, int64_t begin, int64_t end, double *sumsq);
int fp8lab_gpt_step_range(fp8lab_gpt *g, const fp8lab_adamw_args *a, int64_t begin, int64_t end);
/* The AdamW moments fp8lab_gpt_step keeps, for checkpoints: device buffers of buffer_floats() elements of 2
   (BF16) or 4 (FP32) bytes, zeros until the first step; allocated in `dtype` by the first call (or step), which
   later calls and steps must match. */
int fp8lab_gpt_moments(fp8lab_gpt *g, fp8lab_moment_dtype dtype, void **m, void **v);

#endif
