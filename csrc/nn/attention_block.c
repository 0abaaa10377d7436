/* The attention sub-block, from the normed input to the output projection (block.c adds the residual).
     GPT-2: qkv = ln1 . c_attn + b   [N][3C], split into q, k, v [B][T][H][D]; att = attn(q, k, v);
            y = att . c_proj + b
     Llama: q, k, v = ln1 . {q,k,v}_proj^T; RoPE on q and k (in place: the rotated q, k are what the attention
            backward needs); att = attn(q, k, v) with Hkv <= Hq key/value heads; y = att . o_proj^T
   GPT-2's fused c_attn weight [C][3C] cannot be split into three GEMMs without a leading-dimension argument
   (its q, k, v parts are column blocks), so its output is split with one strided copy per part: nn_copy_cols. */
#include "nn/nn_internal.h"

/* dst[r][0:w] = src[r][0:w] for N rows of leading dimensions ld_dst, ld_src (floats): one strided copy */
static int nn_copy_cols(fp8lab_backend *be, float *dst, int ld_dst, const float *src, int ld_src, int N, int w) {
    return fp8lab_copy_2d(be, dst, sizeof(float) * (size_t)ld_dst, src, sizeof(float) * (size_t)ld_src,
                          sizeof(float) * (size_t)w, (size_t)N);
}

static fp8lab_attn_shape shape(const fp8lab_nn_dims *d) {
    return (fp8lab_attn_shape){.B = d->B, .T = d->T, .Hq = d->Hq, .Hkv = d->Hkv, .D = d->D};
}

int fp8lab_attn_block_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a,
                          fp8lab_block_scratch *s, float *y) {
    fp8lab_backend *be = d->be;
    const int N = d->N, QD = d->Hq * d->D, KD = d->Hkv * d->D;
    if (d->gpt2) {
        const int C = d->C;
        const fp8lab_linear c_attn = fp8lab_nn_linear(d, C, 3 * C, FP8LAB_W_IN_OUT);
        const fp8lab_linear c_proj = fp8lab_nn_linear(d, C, C, FP8LAB_W_IN_OUT);
        if (fp8lab_linear_fwd(be, &c_attn, s->qkv, a->ln1, w->qkv_w, w->qkv_b, N) ||
            nn_copy_cols(be, a->q, C, s->qkv, 3 * C, N, C) || nn_copy_cols(be, a->k, C, s->qkv + C, 3 * C, N, C) ||
            nn_copy_cols(be, a->v, C, s->qkv + 2 * C, 3 * C, N, C) ||
            fp8lab_attn_fwd(be, a->att, a->lse, a->q, a->k, a->v, shape(d)))
            return -1;
        return fp8lab_linear_fwd(be, &c_proj, y, a->att, w->o_w, w->o_b, N);
    }
    const fp8lab_linear q_proj = fp8lab_nn_linear(d, d->C, QD, FP8LAB_W_OUT_IN);
    const fp8lab_linear kv_proj = fp8lab_nn_linear(d, d->C, KD, FP8LAB_W_OUT_IN);
    const fp8lab_linear o_proj = fp8lab_nn_linear(d, QD, d->C, FP8LAB_W_OUT_IN);
    if (fp8lab_linear_fwd(be, &q_proj, a->q, a->ln1, w->q_w, NULL, N) ||
        fp8lab_linear_fwd(be, &kv_proj, a->k, a->ln1, w->k_w, NULL, N) ||
        fp8lab_linear_fwd(be, &kv_proj, a->v, a->ln1, w->v_w, NULL, N) ||
        fp8lab_rope_fwd(be, a->q, d->B, d->T, d->Hq, d->D, d->theta) ||
        fp8lab_rope_fwd(be, a->k, d->B, d->T, d->Hkv, d->D, d->theta) ||
        fp8lab_attn_fwd(be, a->att, a->lse, a->q, a->k, a->v, shape(d)))
        return -1;
    return fp8lab_linear_fwd(be, &o_proj, y, a->att, w->o_w, NULL, N);
}

int fp8lab_attn_block_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                          const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *dy, float *dx) {
    fp8lab_backend *be = d->be;
    const int N = d->N, QD = d->Hq * d->D, KD = d->Hkv * d->D;
    if (d->gpt2) {
        const int C = d->C;
        const fp8lab_linear c_attn = fp8lab_nn_linear(d, C, 3 * C, FP8LAB_W_IN_OUT);
        const fp8lab_linear c_proj = fp8lab_nn_linear(d, C, C, FP8LAB_W_IN_OUT);
        if (fp8lab_linear_bwd(be, &c_proj, s->datt, 0, g->o_w, g->o_b, dy, a->att, w->o_w, N) ||
            fp8lab_attn_bwd(be, s->dq, s->dk, s->dv, s->datt, a->att, a->lse, a->q, a->k, a->v, shape(d)) ||
            nn_copy_cols(be, s->dqkv, 3 * C, s->dq, C, N, C) ||
            nn_copy_cols(be, s->dqkv + C, 3 * C, s->dk, C, N, C) ||
            nn_copy_cols(be, s->dqkv + 2 * C, 3 * C, s->dv, C, N, C))
            return -1;
        return fp8lab_linear_bwd(be, &c_attn, dx, 0, g->qkv_w, g->qkv_b, s->dqkv, a->ln1, w->qkv_w, N);
    }
    const fp8lab_linear q_proj = fp8lab_nn_linear(d, d->C, QD, FP8LAB_W_OUT_IN);
    const fp8lab_linear kv_proj = fp8lab_nn_linear(d, d->C, KD, FP8LAB_W_OUT_IN);
    const fp8lab_linear o_proj = fp8lab_nn_linear(d, QD, d->C, FP8LAB_W_OUT_IN);
    /* the attention's dq, dk are gradients of the rotated q, k: rotate them back before the projections */
    return fp8lab_linear_bwd(be, &o_proj, s->datt, 0, g->o_w, NULL, dy, a->att, w->o_w, N) ||
                   fp8lab_attn_bwd(be, s->dq, s->dk, s->dv, s->datt, a->att, a->lse, a->q, a->k, a->v, shape(d)) ||
                   fp8lab_rope_bwd(be, s->dq, d->B, d->T, d->Hq, d->D, d->theta) ||
                   fp8lab_rope_bwd(be, s->dk, d->B, d->T, d->Hkv, d->D, d->theta) ||
                   fp8lab_linear_bwd(be, &q_proj, dx, 0, g->q_w, NULL, s->dq, a->ln1, w->q_w, N) ||
                   fp8lab_linear_bwd(be, &kv_proj, dx, 1, g->k_w, NULL, s->dk, a->ln1, w->k_w, N) ||
                   fp8lab_linear_bwd(be, &kv_proj, dx, 1, g->v_w, NULL, s->dv, a->ln1, w->v_w, N)
               ? -1
               : 0;
}
