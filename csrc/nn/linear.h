/* A Linear layer's three GEMMs (Fprop, Dgrad, Wgrad) plus its bias, behind one recipe switch, so the FP8 recipes
   slot in later without touching the blocks that call it. Only FP8LAB_RECIPE_FP32 is implemented: every GEMM
   through fp8lab_matmul_f32. The weight stays where the checkpoint put it: GPT-2's Conv1D stores it [in][out],
   torch.nn.Linear (Llama) [out][in]; the layout only picks the transposes of matmul_f32, nothing is copied.

     Fprop  y[N][out]  = x[N][in] . W          (W as [in][out])
     Dgrad  dx[N][in]  = dy[N][out] . W^T
     Wgrad  dW        += x^T . dy  (as the layout stores W), db[out] += sum over rows of dy

   Pointers are device pointers of the backend. Parameter gradients accumulate (layer_ops.h); dx is overwritten
   unless dx_accumulate is set (several Linears reading one input: Llama's q/k/v projections). */
#ifndef FP8LAB_NN_LINEAR_H
#define FP8LAB_NN_LINEAR_H
#include "backend/backend.h"

typedef enum {
    FP8LAB_RECIPE_FP32 = 0,       /* FP32 GEMMs (the reference) */
    FP8LAB_RECIPE_BF16 = 1,       /* BF16 operands, FP32 accumulation: not implemented yet */
    FP8LAB_RECIPE_FP8_TENSOR = 2, /* FP8 per-tensor scaling: not implemented yet */
    FP8LAB_RECIPE_FP8_BLOCK = 3,  /* DeepSeek-V3: 1x128 activations, 128x128 weights: not implemented yet */
} fp8lab_recipe;

typedef enum {
    FP8LAB_W_OUT_IN = 0, /* W[out][in]: torch.nn.Linear (Llama) */
    FP8LAB_W_IN_OUT = 1, /* W[in][out]: Hugging Face Conv1D (GPT-2) */
} fp8lab_wlayout;

typedef struct fp8lab_linear {
    int in, out;
    fp8lab_wlayout layout;
    fp8lab_recipe recipe;
} fp8lab_linear;

const char *fp8lab_recipe_name(fp8lab_recipe r);

/* y = x W (+ b; b NULL: no bias), N rows */
int fp8lab_linear_fwd(fp8lab_backend *be, const fp8lab_linear *l, float *y, const float *x, const float *w,
                      const float *b, int N);
/* dx (NULL: not wanted) = or += dy W^T; dw += ; db += (db NULL: no bias) */
int fp8lab_linear_bwd(fp8lab_backend *be, const fp8lab_linear *l, float *dx, int dx_accumulate, float *dw,
                      float *db, const float *dy, const float *x, const float *w, int N);

#endif
