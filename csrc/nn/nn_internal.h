/* Shared by the layers of csrc/nn/ (not a public header: model.h is). Every pointer is a device pointer. */
#ifndef FP8LAB_NN_INTERNAL_H
#define FP8LAB_NN_INTERNAL_H
#include "backend/backend.h"
#include "nn/linear.h"
#include "nn/params.h"

/* The sizes and flavour of one forward/backward, fixed per (model, B, T). */
typedef struct fp8lab_nn_dims {
    fp8lab_backend *be;
    fp8lab_recipe recipe;
    int gpt2;         /* LayerNorm with bias, fused c_attn, GELU, Conv1D [in][out] weights, biases; else Llama */
    int B, T, N;      /* N = B*T rows */
    int C, Hq, Hkv, D;
    int F;            /* MLP intermediate size */
    int V;
    float eps, theta; /* norm epsilon; RoPE base (Llama) */
    fp8lab_grad_sink *sink; /* NULL: parameter gradients accumulate in place; else through it (grad_sink.h) */
} fp8lab_nn_dims;

/* A Linear of the blocks: the run's recipe and gradient sink */
static inline fp8lab_linear fp8lab_nn_linear(const fp8lab_nn_dims *d, int in, int out, fp8lab_wlayout layout) {
    return (fp8lab_linear){.in = in, .out = out, .layout = layout, .recipe = d->recipe, .sink = d->sink};
}

/* One block's tensors (parameters or their gradients: the same struct over either buffer); NULL when the
   architecture has no such tensor. */
typedef struct fp8lab_block_tensors {
    float *ln1_w, *ln1_b;
    float *qkv_w, *qkv_b;   /* GPT-2 c_attn [C][3C], [3C] */
    float *q_w, *k_w, *v_w; /* Llama [Hq*D][C], [Hkv*D][C], [Hkv*D][C] */
    float *o_w, *o_b;       /* GPT-2 attn.c_proj [C][C] / Llama o_proj [C][Hq*D] */
    float *ln2_w, *ln2_b;
    float *fc_w, *fc_b;     /* GPT-2 c_fc [C][F], [F] / Llama gate_proj, immediately followed by up_proj: [2F][C] */
    float *proj_w, *proj_b; /* GPT-2 mlp.c_proj [F][C] / Llama down_proj [C][F] */
} fp8lab_block_tensors;

/* What one block's forward keeps for its backward (in the model's activation arena). */
typedef struct fp8lab_block_acts {
    float *ln1, *ln1_mean, *ln1_rstd; /* [N][C], [N], [N] (mean only for LayerNorm) */
    float *q, *k, *v;                 /* [B][T][H][D]; q and k after RoPE (Llama) */
    float *att, *lse;                 /* attention output [N][Hq*D], log-sum-exp [B][Hq][T] */
    float *res_mid;                   /* residual stream after attention [N][C] */
    float *ln2, *ln2_mean, *ln2_rstd;
    float *fc;                        /* MLP pre-activation: GPT-2 [N][F], Llama gate_up [N][2F] */
    float *act;                       /* GELU(fc) [N][F] / SwiGLU(gate_up) [N][F] */
} fp8lab_block_acts;

/* Work space shared by all blocks (not kept between ops of different blocks). */
typedef struct fp8lab_block_scratch {
    float *qkv;        /* GPT-2 forward: c_attn output [N][3C], split into q, k, v */
    float *dqkv;       /* GPT-2 backward: dq, dk, dv merged back into [N][3C] */
    float *dq, *dk, *dv, *datt;
    float *dfc;        /* [N][F] / [N][2F] */
    float *dact;       /* [N][F] */
    float *dln;        /* gradient of a norm's output [N][C] */
    float *dtmp;       /* gradient of a norm's input [N][C], added into the residual gradient */
} fp8lab_block_scratch;

/* norms: LayerNorm (GPT-2, mean saved) or RMSNorm (Llama, mean unused) */
int fp8lab_nn_norm_fwd(const fp8lab_nn_dims *d, float *out, float *mean, float *rstd, const float *x,
                       const float *w, const float *b);
int fp8lab_nn_norm_bwd(const fp8lab_nn_dims *d, float *dx, float *dw, float *db, const float *dout, const float *x,
                       const float *w, const float *mean, const float *rstd);

/* attention_block.c: from the normed input a->ln1 to the output projection y[N][C] (no residual) */
int fp8lab_attn_block_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a,
                          fp8lab_block_scratch *s, float *y);
/* dy: gradient of y; dx (overwritten): gradient of a->ln1; g: parameter gradients (accumulated) */
int fp8lab_attn_block_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                          const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *dy, float *dx);

/* mlp.c: from the normed input a->ln2 to y[N][C] (no residual) */
int fp8lab_mlp_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a, float *y);
int fp8lab_mlp_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                   const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *dy, float *dx);

/* block.c: pre-norm residual block, res_out = res_mid + mlp(norm2(res_mid)), res_mid = x + attn(norm1(x)) */
int fp8lab_block_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a,
                     fp8lab_block_scratch *s, const float *x, float *res_out);
/* dres: on entry the gradient of res_out, on return that of x (updated in place) */
int fp8lab_block_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                     const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *x, float *dres);

#endif
