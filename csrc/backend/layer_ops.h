/* Backend ops, layers group: the non-GEMM layers of GPT-2 and Llama, each forward and backward, in FP32 (the
   recipe keeps embedding, norms and attention out of FP8). The CPU backend (cpu_layers.c) is the readable
   reference; the CUDA backend (cuda/, one .cu file per layer family) must agree with it (tests/
   test_backend_ops.c). Callers use the front functions below; a backend that leaves an entry NULL gets
   "op X is not implemented by backend Y".

   Conventions, checked once by the fronts:
   - activations are row-major [N][C] with N = B*T rows (token-major: row b*T + t);
   - attention tensors are [B][T][H][D] (heads inside a token's row, as a QKV projection writes them);
   - backward ops ACCUMULATE into parameter gradients (dw, db, dwte, dwpe: +=), because a parameter's gradient
     sums over uses (tied embeddings, micro-batches), and OVERWRITE activation gradients (dx, dq, ...) unless
     the op says otherwise; the caller zeroes parameter gradients once per step;
   - token ids are int32 in [0, V); a negative target means "no loss at this position";
   - every size >= 1; eps > 0. */
#ifndef FP8LAB_LAYER_OPS_H
#define FP8LAB_LAYER_OPS_H
#include <stdint.h>

#include "backend/backend_types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fp8lab_attn_shape {
    int B, T;     /* batch, sequence */
    int Hq, Hkv;  /* query heads; key/value heads (grouped-query attention: Hkv divides Hq) */
    int D;        /* head dimension */
} fp8lab_attn_shape;

typedef struct fp8lab_layer_ops {
    /* out[b*T+t][C] = wte[tok[b*T+t]][C] + (wpe ? wpe[t][C] : 0) */
    int (*embed_fwd)(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe,
                     int B, int T, int C, int V);
    /* dwte[tok] += dout; dwpe[t] += sum over b of dout (dwpe NULL: no learned positions) */
    int (*embed_bwd)(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                     int T, int C, int V);

    /* out = (x - mean) * rstd * w + b per row; mean[N], rstd[N] saved for the backward (b NULL: no bias) */
    int (*layernorm_fwd)(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x, const float *w,
                         const float *b, int N, int C, float eps);
    /* dx = (overwrite); dw += ; db += (db NULL when the forward had no bias) */
    int (*layernorm_bwd)(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout, const float *x,
                         const float *w, const float *mean, const float *rstd, int N, int C);
    /* out = x * rstd * w, rstd = 1/sqrt(mean(x^2) + eps) per row (Llama's RMSNorm) */
    int (*rmsnorm_fwd)(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N, int C,
                       float eps);
    int (*rmsnorm_bwd)(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int N, int C);

    /* GPT-2's GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    int (*gelu_fwd)(fp8lab_backend *be, float *out, const float *x, long n);
    int (*gelu_bwd)(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n);
    /* gate_up[N][2F] holds gate (first F columns) and up (last F): out[N][F] = silu(gate) * up */
    int (*swiglu_fwd)(fp8lab_backend *be, float *out, const float *gate_up, int N, int F);
    int (*swiglu_bwd)(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N, int F);

    /* Rotary embedding in place on x[B][T][H][D], D even, Hugging Face's "rotate_half" pairing (i, i + D/2),
       angle t * theta^(-2i/D); backward rotates by -angle (dx in place). */
    int (*rope_fwd)(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta);
    int (*rope_bwd)(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta);

    /* Causal attention, softmax(q k^T / sqrt(D)) v per head; query head h reads key/value head h / (Hq/Hkv).
       q, out [B][T][Hq][D]; k, v [B][T][Hkv][D]; lse[B][Hq][T] (log-sum-exp of each softmax row) saved. */
    int (*attn_fwd)(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                    fp8lab_attn_shape s);
    /* dq, dk, dv overwritten */
    int (*attn_bwd)(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                    const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s);

    /* Fused softmax + cross-entropy over logits[N][V]: loss[N] = logsumexp(row) - row[target] (0 where the
       target is negative). */
    int (*xent_fwd)(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V);
    /* dlogits (overwrite, may alias logits) = (softmax(row) - onehot(target)) * dloss; 0 rows where the
       target is negative. dloss is the weight of every position (1 / number of counted positions for a mean). */
    int (*xent_bwd)(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                    float dloss);

    /* out = a + b (out may alias a or b) */
    int (*add)(fp8lab_backend *be, float *out, const float *a, const float *b, long n);
    /* out[N][C] += bias[C] */
    int (*bias_fwd)(fp8lab_backend *be, float *out, const float *bias, int N, int C);
    /* dbias[C] += sum over rows of dout[N][C] */
    int (*bias_bwd)(fp8lab_backend *be, float *dbias, const float *dout, int N, int C);
} fp8lab_layer_ops;

int fp8lab_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe, int B,
                     int T, int C, int V);
int fp8lab_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                     int T, int C, int V);
int fp8lab_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x, const float *w,
                         const float *b, int N, int C, float eps);
int fp8lab_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout, const float *x,
                         const float *w, const float *mean, const float *rstd, int N, int C);
int fp8lab_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N, int C,
                       float eps);
int fp8lab_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int N, int C);
int fp8lab_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n);
int fp8lab_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n);
int fp8lab_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F);
int fp8lab_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N, int F);
int fp8lab_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta);
int fp8lab_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta);
int fp8lab_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                    fp8lab_attn_shape s);
int fp8lab_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                    const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s);
int fp8lab_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V);
int fp8lab_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                    float dloss);
int fp8lab_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n);
int fp8lab_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C);
int fp8lab_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C);

#ifdef __cplusplus
}
#endif
#endif
