/* The MLP sub-block, from the normed input to its output (block.c adds the residual).
     GPT-2: fc = ln2 . c_fc + b [N][F]; act = GELU_tanh(fc); y = act . c_proj + b
     Llama: gate_up = ln2 . [gate_proj; up_proj]^T [N][2F] in ONE GEMM (params.h keeps up_proj right after
            gate_proj, so the two [F][C] weights are one [2F][C] matrix and gate lands first, as the SwiGLU op
            wants); act = silu(gate) * up [N][F]; y = act . down_proj^T. The Wgrad GEMM likewise writes both
            gradients at once (the gradient buffer mirrors the parameters). */
#include "nn/nn_internal.h"

int fp8lab_mlp_fwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, fp8lab_block_acts *a, float *y) {
    fp8lab_backend *be = d->be;
    const int N = d->N, C = d->C, F = d->F;
    if (d->gpt2) {
        const fp8lab_linear c_fc = fp8lab_nn_linear(d, C, F, FP8LAB_W_IN_OUT);
        const fp8lab_linear c_proj = fp8lab_nn_linear(d, F, C, FP8LAB_W_IN_OUT);
        if (fp8lab_linear_fwd(be, &c_fc, a->fc, a->ln2, w->fc_w, w->fc_b, N) ||
            fp8lab_gelu_fwd(be, a->act, a->fc, (long)N * F))
            return -1;
        return fp8lab_linear_fwd(be, &c_proj, y, a->act, w->proj_w, w->proj_b, N);
    }
    const fp8lab_linear gate_up = fp8lab_nn_linear(d, C, 2 * F, FP8LAB_W_OUT_IN);
    const fp8lab_linear down = fp8lab_nn_linear(d, F, C, FP8LAB_W_OUT_IN);
    if (fp8lab_linear_fwd(be, &gate_up, a->fc, a->ln2, w->fc_w, NULL, N) || fp8lab_swiglu_fwd(be, a->act, a->fc, N, F))
        return -1;
    return fp8lab_linear_fwd(be, &down, y, a->act, w->proj_w, NULL, N);
}

int fp8lab_mlp_bwd(const fp8lab_nn_dims *d, const fp8lab_block_tensors *w, const fp8lab_block_tensors *g,
                   const fp8lab_block_acts *a, fp8lab_block_scratch *s, const float *dy, float *dx) {
    fp8lab_backend *be = d->be;
    const int N = d->N, C = d->C, F = d->F;
    if (d->gpt2) {
        const fp8lab_linear c_fc = fp8lab_nn_linear(d, C, F, FP8LAB_W_IN_OUT);
        const fp8lab_linear c_proj = fp8lab_nn_linear(d, F, C, FP8LAB_W_IN_OUT);
        if (fp8lab_linear_bwd(be, &c_proj, s->dact, 0, g->proj_w, g->proj_b, dy, a->act, w->proj_w, N) ||
            fp8lab_gelu_bwd(be, s->dfc, s->dact, a->fc, (long)N * F))
            return -1;
        return fp8lab_linear_bwd(be, &c_fc, dx, 0, g->fc_w, g->fc_b, s->dfc, a->ln2, w->fc_w, N);
    }
    const fp8lab_linear gate_up = fp8lab_nn_linear(d, C, 2 * F, FP8LAB_W_OUT_IN);
    const fp8lab_linear down = fp8lab_nn_linear(d, F, C, FP8LAB_W_OUT_IN);
    if (fp8lab_linear_bwd(be, &down, s->dact, 0, g->proj_w, NULL, dy, a->act, w->proj_w, N) ||
        fp8lab_swiglu_bwd(be, s->dfc, s->dact, a->fc, N, F))
        return -1;
    return fp8lab_linear_bwd(be, &gate_up, dx, 0, g->fc_w, NULL, s->dfc, a->ln2, w->fc_w, N);
}
