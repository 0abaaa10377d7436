#include "sim/flops.h"

#include <string.h>

double fp8lab_attn_matrix_params(const fp8lab_model *m) {
    double h = (double)m->hidden, H = (double)m->heads;
    if (m->mla) {
        double qk = (double)(m->qk_nope + m->qk_rope);
        double q = m->q_lora_rank ? h * (double)m->q_lora_rank + (double)m->q_lora_rank * H * qk : h * H * qk;
        double kv_a = h * (double)(m->kv_lora_rank + m->qk_rope);
        double kv_b = (double)m->kv_lora_rank * H * (double)(m->qk_nope + m->v_head);
        double o = H * (double)m->v_head * h;
        return q + kv_a + kv_b + o;
    }
    double d = (double)m->head_dim, kv = (double)m->kv_heads;
    return h * H * d + 2.0 * h * kv * d + H * d * h;
}

double fp8lab_mlp_matrix_params(const fp8lab_model *m, long ffn) {
    return (m->gated_mlp ? 3.0 : 2.0) * (double)m->hidden * (double)ffn;
}

/* biases and latent norms that live inside the attention block */
static double attn_extra(const fp8lab_model *m) {
    double h = (double)m->hidden;
    if (m->bias) return 3.0 * h + h; /* c_attn bias (3h) + c_proj bias (h) */
    if (m->mla) return (double)m->q_lora_rank + (double)m->kv_lora_rank; /* q_a / kv_a RMSNorms */
    return 0;
}

static double norm_params(const fp8lab_model *m) { return m->bias ? 2.0 * (double)m->hidden : (double)m->hidden; }

void fp8lab_count_params(const fp8lab_model *m, fp8lab_params *p) {
    memset(p, 0, sizeof *p);
    double h = (double)m->hidden, V = (double)m->vocab;
    long nmoe = fp8lab_model_moe_layers(m), ndense = m->layers - nmoe;
    p->attn_layer = fp8lab_attn_matrix_params(m) + attn_extra(m);
    p->mlp_dense_layer = fp8lab_mlp_matrix_params(m, m->ffn) + (m->bias ? (double)m->ffn + h : 0);
    p->expert = m->n_routed ? fp8lab_mlp_matrix_params(m, m->moe_ffn) : 0;
    /* DeepSeek-V3's gate: weight [n_routed][h] plus the aux-loss-free bias e_score_correction_bias [n_routed] */
    p->router_layer = m->n_routed ? (double)m->n_routed * h + (m->arch == FP8LAB_ARCH_DSV3 ? (double)m->n_routed : 0)
                                  : 0;
    p->attn = p->attn_layer * (double)m->layers;
    p->mlp_dense = p->mlp_dense_layer * (double)ndense;
    p->experts_routed = p->expert * (double)m->n_routed * (double)nmoe;
    p->experts_shared = p->expert * (double)m->n_shared * (double)nmoe;
    p->router = p->router_layer * (double)nmoe;
    p->norms = norm_params(m) * (2.0 * (double)m->layers + 1.0);
    p->embed = V * h + (m->learned_pos ? (double)m->max_pos * h : 0);
    p->head = m->tied ? 0 : V * h;
    p->total = p->attn + p->mlp_dense + p->experts_routed + p->experts_shared + p->router + p->norms + p->embed +
               p->head;
    p->activated = p->total - p->experts_routed + p->expert * (double)m->topk * (double)nmoe;
    if (m->mtp_layers) {
        /* one MTP module (DeepSeek-V3 sec. 2.2): enorm, hnorm, eh_proj [h][2h], one transformer block (MoE
           when the model has experts), the shared head's own norm; embedding and head are shared */
        double blk_moe = p->attn_layer + 2 * norm_params(m) + p->router_layer;
        double blk = m->n_routed ? blk_moe + p->expert * (double)(m->n_routed + m->n_shared)
                                 : p->attn_layer + 2 * norm_params(m) + p->mlp_dense_layer;
        double blk_act = m->n_routed ? blk_moe + p->expert * (double)(m->topk + m->n_shared) : blk;
        double extra = 3.0 * h + 2.0 * h * h;
        p->mtp = (double)m->mtp_layers * (blk + extra);
        p->mtp_activated = (double)m->mtp_layers * (blk_act + extra);
    }
}

void fp8lab_count_flops(const fp8lab_model *m, long seq, fp8lab_flops *f) {
    memset(f, 0, sizeof *f);
    double h = (double)m->hidden, V = (double)m->vocab, L = (double)m->layers;
    long nmoe = fp8lab_model_moe_layers(m);
    double ndense = L - (double)nmoe;
    /* per query, QK^T and AV over (on average) S/2 keys: 2 FLOPs x heads x (d_qk + d_v) x S/2 */
    f->attn_scores_layer_fwd =
        (double)m->heads * (double)(fp8lab_model_qk_dim(m) + fp8lab_model_v_dim(m)) * (double)seq;
    f->attn_proj = 6.0 * fp8lab_attn_matrix_params(m) * L;
    f->attn_scores = 3.0 * f->attn_scores_layer_fwd * L;
    double expert = m->n_routed ? fp8lab_mlp_matrix_params(m, m->moe_ffn) : 0;
    f->mlp = 6.0 * (fp8lab_mlp_matrix_params(m, m->ffn) * ndense +
                    expert * (double)(m->topk + m->n_shared) * (double)nmoe);
    f->router = 6.0 * (double)m->n_routed * h * (double)nmoe;
    f->head = 6.0 * V * h;
    f->total = f->attn_proj + f->attn_scores + f->mlp + f->router + f->head;
    if (m->mtp_layers) {
        double blk = 6.0 * fp8lab_attn_matrix_params(m) + 3.0 * f->attn_scores_layer_fwd +
                     6.0 * (m->n_routed ? expert * (double)(m->topk + m->n_shared) + (double)m->n_routed * h
                                        : fp8lab_mlp_matrix_params(m, m->ffn));
        f->mtp = (double)m->mtp_layers * (blk + 6.0 * 2.0 * h * h + f->head);
    }
}
