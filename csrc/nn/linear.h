/* A Linear layer's three GEMMs (Fprop, Dgrad, Wgrad) plus its bias, behind one recipe switch. The weight stays
   where the checkpoint put it: GPT-2's Conv1D stores it [in][out], torch.nn.Linear (Llama) [out][in].

     Fprop  y[N][out]  = x[N][in] . W          (W as [in][out])
     Dgrad  dx[N][in]  = dy[N][out] . W^T
     Wgrad  dW        += x^T . dy  (as the layout stores W), db[out] += sum over rows of dy

   Recipes, and the backend ops each GEMM maps to (gemm_ops.h: every GEMM is NT, D[M][K'] = A[M][K] . B[K'][K]^T;
   "Wo" is the weight as [out][in], "Wi" as [in][out]; whichever the layout does not store is made with
   fp8lab_transpose_f32 before it is cast or quantized):
   - fp32: fp8lab_matmul_f32 on the FP32 tensors (the reference).
   - bf16: operands cast to BF16, fp8lab_gemm_bf16 with FP32 accumulation: Fprop x . Wo^T, Dgrad dy . Wi^T,
     Wgrad (dy^T)[out][N] . (x^T)[in][N]^T (the activations transposed first). Any dimensions.
   - fp8-tensor: per-tensor current scaling (amax of this call), fp8lab_quantize_tensor + fp8lab_gemm_fp8_tensor;
     x and W in E4M3, dy in E5M2 (Dgrad E5M2 x E4M3, Wgrad E5M2 x E4M3).
   - fp8-tensor-delayed: as fp8-tensor, but each tensor's scale comes from the amax history of its previous
     uses (the largest of the last `amax_history`, 16 by default; the very first use takes its own amax), then
     fp8lab_cast_fp8_scaled (values beyond the range saturate); this use's amax then joins the history. The
     amax goes through the host (one copy_d2h per tensor and use).
   - fp8-block (DeepSeek-V3): E4M3 everywhere, fp8lab_gemm_fp8_block (FP32 accumulation promoted every 128):
     Fprop x (1x128 along in, quantize_1x128) . Wo (128x128); Dgrad dy (1x128 along out) . Wi (128x128);
     Wgrad dy^T . x^T both 1x128 along the token dimension N (quantize_1x128_t: its transposed output; the same
     call gives dy's 1x128 tiles for Dgrad).
   Every non-fp32 recipe writes Fprop and Dgrad outputs in BF16 (then widened into the FP32 buffers), unless
   opts.out_f32; Wgrad always goes to an FP32 scratch that is added into dW (fp8lab_add). Biases stay FP32.

   Any in, out and N (>= 1) on every recipe. The FP8 GEMMs have their own multiples (gemm_ops.h, quant_ops.h):
   fp8-block needs M, N, K of each GEMM and both sides of its 128x128 and fused 1x128 quantizers in multiples of
   128, so each of in, out and N that is not one is zero-padded to 128 (each is K of one GEMM and M or N of the
   other two); cuBLASLt's per-tensor FP8 wants K and the output's N in multiples of 16, so fp8-tensor* pads in
   and out to 16 everywhere and N to 16 in Wgrad only (its K), never the token rows of Fprop and Dgrad (their
   M). Zeros leave the products exact and every scale as it was (a tile's, or the tensor's, amax ignores zeros).
   A Linear whose dimensions are all multiples runs exactly as before.
   What padding costs (nothing when every dimension is a multiple; stats.pad_bytes counts the bytes it writes):
   - memory: each cached weight operand (Wo, Wi) is held padded, (Op*Ip - O*I) bytes more each (GPT-2 1.5B's
     c_attn, 1600 -> 4800 padded to 1664 x 4864 for fp8-block: +5.4 %, 0.41 MB per operand and layer). The
     context's scratch (one set for all Linears, allocated on first need and kept) gains fp8-block FP32 copies of
     x [Np][Ip] and dy [Np][Op] and of one weight [Op][Ip], fp8-tensor* FP8 copies of x, dy, x^T and dy^T, and a
     dense copy of a GEMM output whose columns were padded; the FP8 operand slots grow to the padded sizes. For
     GPT-2 1.5B with fp8-block at N = 16384 tokens that is ~0.63 GB: x 109 MB, dy 319 MB (c_attn), weight 43 MB
     (mlp.c_fc), BF16 y of c_attn 157 MB, and a few MB on the FP8 operands.
   - traffic, per call: fp8-block copies x (Fprop, again for Wgrad) and dy into their padded buffers (FP32) before
     quantizing, fp8-tensor* copies the quantized bytes; the pads are zero-filled only when a scratch buffer
     changes geometry (a padded buffer keeps its zeros: a copy of the same geometry writes only the interior);
     a GEMM output with padded columns is copied back out (padded rows alone cost no copy, except for a
     non-accumulated FP32 output: the first rows are the result). Per step, each weight operand made is copied
     padded too (fp8-block: FP32 before quantize_128x128, the pad zero-filled when the previous weight had
     another shape; fp8-tensor*: its bytes, into the operand's padding zeroed once).
   - compute: the GEMMs run at the padded sizes (1600 x 4800 -> 1664 x 4864: +5.4 % FLOPs on c_attn).

   Weights are quantized (or cast) once per step: a context (fp8lab_linear_ctx) caches, per weight pointer, Wo
   for Fprop and Wi for Dgrad, each made on first use after fp8lab_linear_ctx_invalidate (the model calls it
   from fp8lab_gpt_step). The context also holds the delayed-scaling histories and the scratch buffers. A
   Linear uses l->ctx, else the context bound to the calling thread (fp8lab_linear_ctx_bind: the model binds its
   own around forward and backward); the fp32 recipe needs none.

   Pointers are device pointers of the backend. Parameter gradients accumulate (layer_ops.h); dx is overwritten
   unless dx_accumulate is set (several Linears reading one input: Llama's q/k/v projections). */
#ifndef FP8LAB_NN_LINEAR_H
#define FP8LAB_NN_LINEAR_H
#include "backend/backend.h"
#include "nn/grad_sink.h"

typedef enum {
    FP8LAB_RECIPE_FP32 = 0,               /* FP32 GEMMs (the reference) */
    FP8LAB_RECIPE_BF16 = 1,               /* BF16 operands, FP32 accumulation */
    FP8LAB_RECIPE_FP8_TENSOR = 2,         /* FP8 per-tensor current scaling; E4M3 forward, E5M2 gradients */
    FP8LAB_RECIPE_FP8_BLOCK = 3,          /* DeepSeek-V3: 1x128 activations, 128x128 weights, E4M3 */
    FP8LAB_RECIPE_FP8_TENSOR_DELAYED = 4, /* FP8 per-tensor delayed scaling (amax history) */
} fp8lab_recipe;
#define FP8LAB_RECIPE_COUNT 5
#define FP8LAB_RECIPE_DEFAULT FP8LAB_RECIPE_FP8_BLOCK
#define FP8LAB_AMAX_HISTORY_DEFAULT 16
#define FP8LAB_AMAX_HISTORY_MAX 1024

typedef enum {
    FP8LAB_W_OUT_IN = 0, /* W[out][in]: torch.nn.Linear (Llama) */
    FP8LAB_W_IN_OUT = 1, /* W[in][out]: Hugging Face Conv1D (GPT-2) */
} fp8lab_wlayout;

typedef struct fp8lab_linear_ctx fp8lab_linear_ctx;

typedef struct fp8lab_linear {
    int in, out;
    fp8lab_wlayout layout;
    fp8lab_recipe recipe;
    fp8lab_linear_ctx *ctx; /* NULL: the context bound to this thread */
    /* NULL: dW and db accumulate in place. Else Wgrad and the bias gradient go to the sink one 128-token block at
       a time (grad_sink.h: exact, and the same however the tokens are split over ranks); dw, db point into the
       sink's gradient buffer. */
    fp8lab_grad_sink *sink;
} fp8lab_linear;

typedef struct fp8lab_linear_opts {
    int amax_history; /* fp8-tensor-delayed: history length in [1, FP8LAB_AMAX_HISTORY_MAX]; 0: the default 16 */
    int out_f32;      /* Fprop/Dgrad GEMMs write FP32 instead of BF16 (non-fp32 recipes) */
} fp8lab_linear_opts;

/* What a context did since it was created (tests: "each weight once per step", "aligned sizes pay nothing"). */
typedef struct fp8lab_linear_stats {
    long weight_quants; /* weight operands made (cast, quantized; Wo and Wi each count one) */
    long weight_reuses; /* GEMMs that found their weight operand already made */
    long pad_bytes;     /* bytes written for padding: zero fills, copies into padded buffers and back out */
} fp8lab_linear_stats;

const char *fp8lab_recipe_name(fp8lab_recipe r);
/* "fp32", "bf16", "fp8-tensor", "fp8-tensor-delayed", "fp8-block"; -1 with an error listing them otherwise */
int fp8lab_recipe_parse(const char *s, fp8lab_recipe *out);
/* What the recipe pads in, out and N up to inside its GEMMs: 1 (fp32, bf16), 16 (fp8-tensor*), 128 (fp8-block). */
int fp8lab_recipe_pad_multiple(fp8lab_recipe r);
/* l's recipe and layout are known and in/out are positive (and small enough to pad); the error names `name`
   (a layer) and the dimension. */
int fp8lab_linear_check(const fp8lab_linear *l, const char *name);

fp8lab_linear_ctx *fp8lab_linear_ctx_create(fp8lab_backend *be, const fp8lab_linear_opts *opts /* NULL: defaults */);
void fp8lab_linear_ctx_destroy(fp8lab_linear_ctx *c); /* NULL: nothing */
/* The weights changed (optimizer step, load): every cached weight operand is remade on its next use. */
void fp8lab_linear_ctx_invalidate(fp8lab_linear_ctx *c);
/* Binds c (may be NULL) to the calling thread; returns the previous binding (restore it after). */
fp8lab_linear_ctx *fp8lab_linear_ctx_bind(fp8lab_linear_ctx *c);
void fp8lab_linear_ctx_stats(const fp8lab_linear_ctx *c, fp8lab_linear_stats *out);
/* fp8-tensor*: the scale_inv the last call used for weight w's input x, w itself and the gradient dy (0 when
   not yet used); -1 with an error when w has no entry. */
int fp8lab_linear_ctx_scales(const fp8lab_linear_ctx *c, const float *w, float *sx, float *sw, float *sdy);

/* fp8-tensor-delayed amax histories, for checkpoints: a weight's record is history_floats() floats, for x, W and
   dy each the count n, then n amaxes oldest first, then zeros to the history length. get fills zeros for a
   weight the context has no history of; set installs one now, or when the weight is first used (name: for the
   error when rec is not such a record, exit 2). */
size_t fp8lab_linear_ctx_history_floats(const fp8lab_linear_ctx *c);
int fp8lab_linear_ctx_history_check(const fp8lab_linear_ctx *c, const float *rec, const char *name);
int fp8lab_linear_ctx_history_get(const fp8lab_linear_ctx *c, const float *w, float *rec);
int fp8lab_linear_ctx_history_set(fp8lab_linear_ctx *c, const float *w, const float *rec, const char *name);

/* y = x W (+ b; b NULL: no bias), N rows */
int fp8lab_linear_fwd(fp8lab_backend *be, const fp8lab_linear *l, float *y, const float *x, const float *w,
                      const float *b, int N);
/* dx (NULL: not wanted) = or += dy W^T; dw += ; db += (db NULL: no bias) */
int fp8lab_linear_bwd(fp8lab_backend *be, const fp8lab_linear *l, float *dx, int dx_accumulate, float *dw,
                      float *db, const float *dy, const float *x, const float *w, int N);

#endif
