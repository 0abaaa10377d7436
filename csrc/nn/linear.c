#include "nn/linear.h"

#include "core/error.h"

const char *fp8lab_recipe_name(fp8lab_recipe r) {
    switch (r) {
    case FP8LAB_RECIPE_FP32: return "fp32";
    case FP8LAB_RECIPE_BF16: return "bf16";
    case FP8LAB_RECIPE_FP8_TENSOR: return "fp8-tensor";
    case FP8LAB_RECIPE_FP8_BLOCK: return "fp8-block";
    }
    return "unknown";
}

static int check_recipe(const fp8lab_linear *l) {
    if (l->recipe == FP8LAB_RECIPE_FP32) return 0;
    if (l->recipe == FP8LAB_RECIPE_BF16 || l->recipe == FP8LAB_RECIPE_FP8_TENSOR ||
        l->recipe == FP8LAB_RECIPE_FP8_BLOCK) {
        FP8LAB_ERR_RT("linear: recipe %s is not implemented yet (only fp32)", fp8lab_recipe_name(l->recipe));
        return -1;
    }
    FP8LAB_ERR("linear: unknown recipe %d", (int)l->recipe);
    return -1;
}

int fp8lab_linear_fwd(fp8lab_backend *be, const fp8lab_linear *l, float *y, const float *x, const float *w,
                      const float *b, int N) {
    if (check_recipe(l)) return -1;
    /* y[N][out] = x[N][in] . op(W)[in][out]: W[out][in] is read transposed, W[in][out] as is */
    const fp8lab_op_t tw = l->layout == FP8LAB_W_OUT_IN ? FP8LAB_OP_T : FP8LAB_OP_N;
    if (fp8lab_matmul_f32(be, FP8LAB_OP_N, tw, N, l->out, l->in, 1.0f, x, w, 0.0f, y)) return -1;
    return b ? fp8lab_bias_fwd(be, y, b, N, l->out) : 0;
}

int fp8lab_linear_bwd(fp8lab_backend *be, const fp8lab_linear *l, float *dx, int dx_accumulate, float *dw,
                      float *db, const float *dy, const float *x, const float *w, int N) {
    if (check_recipe(l)) return -1;
    const int oi = l->layout == FP8LAB_W_OUT_IN;
    /* Dgrad: dx[N][in] = dy[N][out] . op(W)[out][in]; W[out][in] as is, W[in][out] transposed */
    if (dx && fp8lab_matmul_f32(be, FP8LAB_OP_N, oi ? FP8LAB_OP_N : FP8LAB_OP_T, N, l->in, l->out, 1.0f, dy, w,
                                dx_accumulate ? 1.0f : 0.0f, dx))
        return -1;
    /* Wgrad, accumulated: dW[out][in] += dy^T . x, or dW[in][out] += x^T . dy */
    if (oi ? fp8lab_matmul_f32(be, FP8LAB_OP_T, FP8LAB_OP_N, l->out, l->in, N, 1.0f, dy, x, 1.0f, dw)
           : fp8lab_matmul_f32(be, FP8LAB_OP_T, FP8LAB_OP_N, l->in, l->out, N, 1.0f, x, dy, 1.0f, dw))
        return -1;
    return db ? fp8lab_bias_bwd(be, db, dy, N, l->out) : 0;
}
