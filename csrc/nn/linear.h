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
     x and W in E4M3, dy in E5M2 (Dgrad E5M2 x E4M3, Wgrad E5M2 x E4M3). in, out and N multiples of 16.
   - fp8-tensor-delayed: as fp8-tensor, but each tensor's scale comes from the amax history of its previous
     uses (the largest of the last `amax_history`, 16 by default; the very first use takes its own amax), then
     fp8lab_cast_fp8_scaled (values beyond the range saturate); this use's amax then joins the history. The
     amax goes through the host (one copy_d2h per tensor and use).
   - fp8-block (DeepSeek-V3): E4M3 everywhere, fp8lab_gemm_fp8_block (FP32 accumulation promoted every 128):
     Fprop x (1x128 along in, quantize_1x128) . Wo (128x128); Dgrad dy (1x128 along out) . Wi (128x128);
     Wgrad dy^T . x^T both 1x128 along the token dimension N (quantize_1x128_t: its transposed output; the same
     call gives dy's 1x128 tiles for Dgrad). in, out and N multiples of 128.
   Every non-fp32 recipe writes Fprop and Dgrad outputs in BF16 (then widened into the FP32 buffers), unless
   opts.out_f32; Wgrad always goes to an FP32 scratch that is added into dW (fp8lab_add). Biases stay FP32.

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
} fp8lab_linear;

typedef struct fp8lab_linear_opts {
    int amax_history; /* fp8-tensor-delayed: history length in [1, FP8LAB_AMAX_HISTORY_MAX]; 0: the default 16 */
    int out_f32;      /* Fprop/Dgrad GEMMs write FP32 instead of BF16 (non-fp32 recipes) */
} fp8lab_linear_opts;

/* What a context did since it was created (tests: "each weight once per step"). */
typedef struct fp8lab_linear_stats {
    long weight_quants; /* weight operands made (cast, quantized; Wo and Wi each count one) */
    long weight_reuses; /* GEMMs that found their weight operand already made */
} fp8lab_linear_stats;

const char *fp8lab_recipe_name(fp8lab_recipe r);
/* "fp32", "bf16", "fp8-tensor", "fp8-tensor-delayed", "fp8-block"; -1 with an error listing them otherwise */
int fp8lab_recipe_parse(const char *s, fp8lab_recipe *out);
/* What in, out and the token count N must be multiples of: 1 (fp32, bf16), 16 (fp8-tensor*), 128 (fp8-block). */
int fp8lab_recipe_dim_multiple(fp8lab_recipe r);
/* l's recipe is known and in/out fit it; the error names `name` (a layer), the dimension and the multiple. */
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

/* y = x W (+ b; b NULL: no bias), N rows */
int fp8lab_linear_fwd(fp8lab_backend *be, const fp8lab_linear *l, float *y, const float *x, const float *w,
                      const float *b, int N);
/* dx (NULL: not wanted) = or += dy W^T; dw += ; db += (db NULL: no bias) */
int fp8lab_linear_bwd(fp8lab_backend *be, const fp8lab_linear *l, float *dx, int dx_accumulate, float *dw,
                      float *db, const float *dy, const float *x, const float *w, int N);

#endif
