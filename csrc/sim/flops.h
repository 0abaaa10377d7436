/* Parameter counts and training FLOPs per token, by part, straight from the architecture (no schedule).
   Conventions: a multiply-add is 2 FLOPs; training = forward + 2x forward (dgrad + wgrad); attention scores
   (QK^T and AV) under a causal mask count only the lower triangle, once (an average of S/2 keys per query);
   norms, activations and softmax are not counted (they are memory-bound and small next to the GEMMs). */
#ifndef FP8LAB_SIM_FLOPS_H
#define FP8LAB_SIM_FLOPS_H
#include "model/config.h"

typedef struct {
    double attn;            /* attention projections + their biases/latent norms, all layers */
    double mlp_dense;       /* dense-layer MLPs */
    double experts_routed;  /* all routed experts */
    double experts_shared;
    double router;
    double norms;           /* per-layer and final norms */
    double embed;           /* token (+ learned position) embeddings */
    double head;            /* output projection, 0 when tied */
    double total;           /* main model (what model cards quote; DeepSeek-V3: 671B) */
    double activated;       /* used per token: routed experts counted top-k of n */
    double mtp;             /* multi-token-prediction modules, beyond the shared embedding and head */
    double mtp_activated;
    /* per layer */
    double attn_layer, mlp_dense_layer, expert, router_layer;
} fp8lab_params;

typedef struct {
    double attn_proj, attn_scores, mlp, router, head; /* training FLOPs per token, main model */
    double total;                                     /* sum of the above */
    double mtp;        /* MTP modules' training FLOPs per token: real work, not part of `total` */
    double attn_scores_layer_fwd; /* forward attention-score FLOPs per token per layer */
} fp8lab_flops;

void fp8lab_count_params(const fp8lab_model *m, fp8lab_params *p);
/* seq: sequence length the attention scores are counted at. */
void fp8lab_count_flops(const fp8lab_model *m, long seq, fp8lab_flops *f);

/* Weight-matrix sizes of one layer's parts (no biases, no norms): what the GEMMs multiply by. */
double fp8lab_attn_matrix_params(const fp8lab_model *m);
double fp8lab_mlp_matrix_params(const fp8lab_model *m, long ffn);

#endif
