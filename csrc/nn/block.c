/* One pre-norm transformer block (GPT-2 and Llama):
     res_mid = x + attn(norm1(x)),  res_out = res_mid + mlp(norm2(res_mid))
   norm = LayerNorm with bias (GPT-2) or RMSNorm (Llama). The backward walks it in reverse, carrying the residual
   gradient in one buffer that each branch's input gradient is added into. */
#include "nn/nn_internal.h"

int fp8lab_nn_norm_fwd(const fp8lab_nn_dims *d, float *out, float *mean, float *rstd, const float *x,
                       const float *w, const float *b) {
    if (d->gpt2) return fp8lab_layernorm_fwd(d->be, out, mean, rstd, x, w, b, d->N, d->C, d->eps);
    return fp8lab_rmsnorm_fwd(d->be, out, rstd, x, w, d->N, d->C, d->eps);
}

static int norm_bwd_rows(const fp8lab_nn_dims *d, int N, float *dx, float *dw, float *db, const float *dout,
                         const float *x, const float *w, const float *mean, const float *rstd) {
    if (d->gpt2) return fp8lab_layernorm_bwd(d->be, dx, dw, db, dout, x, w, mean, rstd, N, d->C);
    return fp8lab_rmsnorm_bwd(d->be, dx, dw, dout, x, w, rstd, N, d->C);
}

/* Through a sink (grad_sink.h): one block of rows at a time, its weight (and bias) gradient a leaf; the leaves
   side by side ([block][weight C, bias C]) and added once, in block order */
static int norm_bwd_blocks(const fp8lab_nn_dims *d, float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd) {
    const size_t C = (size_t)d->C;
    const int nb = fp8lab_grad_blocks(d->N);
    float *leaves = fp8lab_grad_sink_leaf(d->sink, 2 * C * (size_t)nb, 1);
    if (!leaves) return -1;
    for (int b = 0; b < nb; b++) {
        const size_t r0 = (size_t)b * FP8LAB_GRAD_BLOCK;
        float *leaf = leaves + 2 * C * (size_t)b;
        if (norm_bwd_rows(d, fp8lab_grad_block_rows(d->N, b), dx + r0 * C, leaf, db ? leaf + C : NULL, dout + r0 * C,
                          x + r0 * C, w, d->gpt2 ? mean + r0 : mean, rstd + r0))
            return -1;
    }
    return fp8lab_sync(d->be) || fp8lab_grad_sink_add_many(d->sink, dw, leaves, (long)C, nb, 2 * (long)C) ||
           (db && fp8lab_grad_sink_add_many(d->sink, db, leaves + C, (long)C, nb, 2 * (long)C));
}

int fp8lab_nn_norm_bwd(const fp8lab_nn_dims *d, float *dx, float *dw, float *db, const float *dout, const float *x,
                       const float *w, const float *mean, const float *rstd) {
    if (d->sink) return norm_bwd_blocks(d, dx, dw, db, dout, x, w, mean, rstd);
    return norm_bwd_rows(d, d->N, dx, dw, db, dout, x, w, mean, rstd);
}

int fp8lab_block_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a,
                     fp8lab_block_scratch *s, const float *x, float *res_out) {
    const long NC = (long)d->N * d->C;
    return fp8lab_nn_norm_fwd(d, a->ln1, a->ln1_mean, a->ln1_rstd, x, w->ln1_w, w->ln1_b) ||
                   fp8lab_attn_block_fwd(d, w, a, s, a->res_mid) || fp8lab_add(d->be, a->res_mid, a->res_mid, x, NC) ||
                   fp8lab_nn_norm_fwd(d, a->ln2, a->ln2_mean, a->ln2_rstd, a->res_mid, w->ln2_w, w->ln2_b) ||
                   fp8lab_mlp_fwd(d, w, a, res_out) || fp8lab_add(d->be, res_out, res_out, a->res_mid, NC)
               ? -1
               : 0;
}

int fp8lab_block_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                     const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *x, float *dres) {
    const long NC = (long)d->N * d->C;
    return fp8lab_mlp_bwd(d, w, g, a, s, dres, s->dln) ||
                   fp8lab_nn_norm_bwd(d, s->dtmp, g->ln2_w, g->ln2_b, s->dln, a->res_mid, w->ln2_w, a->ln2_mean,
                                      a->ln2_rstd) ||
                   fp8lab_add(d->be, dres, dres, s->dtmp, NC) || /* dres: gradient of res_mid */
                   fp8lab_attn_block_bwd(d, w, g, a, s, dres, s->dln) ||
                   fp8lab_nn_norm_bwd(d, s->dtmp, g->ln1_w, g->ln1_b, s->dln, x, w->ln1_w, a->ln1_mean,
                                      a->ln1_rstd) ||
                   fp8lab_add(d->be, dres, dres, s->dtmp, NC) /* dres: gradient of x */
               ? -1
               : 0;
}
