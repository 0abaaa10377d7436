#include "nn/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    fp8lab_param_layout *l;
    int cap;
    int pack_next; /* the next tensor directly follows the last one (no alignment padding) */
} builder;

static int add(builder *b, fp8lab_tensor_role role, int layer, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add(builder *b, fp8lab_tensor_role role, int layer, int64_t d0, int64_t d1, const char *fmt, ...) {
    fp8lab_param_layout *l = b->l;
    if (l->n == b->cap) {
        int cap = b->cap ? 2 * b->cap : 64;
        fp8lab_tensor_info *t = realloc(l->t, sizeof *t * (size_t)cap);
        if (!t) {
            FP8LAB_ERR_RT("parameter table: out of host memory");
            return -1;
        }
        l->t = t;
        b->cap = cap;
    }
    fp8lab_tensor_info *t = &l->t[l->n];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->numel = d1 ? d0 * d1 : d0; /* every dimension <= 2^24 (config ranges): no overflow */
    int64_t off = l->floats;
    if (!b->pack_next) off = (off + FP8LAB_PARAM_ALIGN - 1) / FP8LAB_PARAM_ALIGN * FP8LAB_PARAM_ALIGN;
    b->pack_next = 0;
    t->offset = off;
    t->role = role;
    t->layer = layer;
    t->decay = t->ndim == 2;
    t->residual = role == FP8LAB_T_O_W || role == FP8LAB_T_PROJ_W;
    l->floats = off + t->numel;
    l->count += t->numel;
    l->n++;
    return 0;
}

static int build_gpt2(const fp8lab_model *m, builder *b) {
    const int64_t C = m->hidden, V = m->vocab, F = m->ffn;
    if (add(b, FP8LAB_T_WTE, -1, V, C, "transformer.wte.weight") ||
        add(b, FP8LAB_T_WPE, -1, m->max_pos, C, "transformer.wpe.weight"))
        return -1;
    for (int i = 0; i < (int)m->layers; i++) {
        const char *h = "transformer.h";
        if (add(b, FP8LAB_T_LN1_W, i, C, 0, "%s.%d.ln_1.weight", h, i) ||
            add(b, FP8LAB_T_LN1_B, i, C, 0, "%s.%d.ln_1.bias", h, i) ||
            add(b, FP8LAB_T_QKV_W, i, C, 3 * C, "%s.%d.attn.c_attn.weight", h, i) ||
            add(b, FP8LAB_T_QKV_B, i, 3 * C, 0, "%s.%d.attn.c_attn.bias", h, i) ||
            add(b, FP8LAB_T_O_W, i, C, C, "%s.%d.attn.c_proj.weight", h, i) ||
            add(b, FP8LAB_T_O_B, i, C, 0, "%s.%d.attn.c_proj.bias", h, i) ||
            add(b, FP8LAB_T_LN2_W, i, C, 0, "%s.%d.ln_2.weight", h, i) ||
            add(b, FP8LAB_T_LN2_B, i, C, 0, "%s.%d.ln_2.bias", h, i) ||
            add(b, FP8LAB_T_FC_W, i, C, F, "%s.%d.mlp.c_fc.weight", h, i) ||
            add(b, FP8LAB_T_FC_B, i, F, 0, "%s.%d.mlp.c_fc.bias", h, i) ||
            add(b, FP8LAB_T_PROJ_W, i, F, C, "%s.%d.mlp.c_proj.weight", h, i) ||
            add(b, FP8LAB_T_PROJ_B, i, C, 0, "%s.%d.mlp.c_proj.bias", h, i))
            return -1;
    }
    if (add(b, FP8LAB_T_LNF_W, -1, C, 0, "transformer.ln_f.weight") ||
        add(b, FP8LAB_T_LNF_B, -1, C, 0, "transformer.ln_f.bias"))
        return -1;
    return m->tied ? 0 : add(b, FP8LAB_T_HEAD, -1, V, C, "lm_head.weight");
}

static int build_llama(const fp8lab_model *m, builder *b) {
    const int64_t C = m->hidden, V = m->vocab, F = m->ffn, QD = m->heads * m->head_dim,
                  KD = m->kv_heads * m->head_dim;
    if (add(b, FP8LAB_T_WTE, -1, V, C, "model.embed_tokens.weight")) return -1;
    for (int i = 0; i < (int)m->layers; i++) {
        const char *h = "model.layers";
        if (add(b, FP8LAB_T_LN1_W, i, C, 0, "%s.%d.input_layernorm.weight", h, i) ||
            add(b, FP8LAB_T_Q_W, i, QD, C, "%s.%d.self_attn.q_proj.weight", h, i) ||
            add(b, FP8LAB_T_K_W, i, KD, C, "%s.%d.self_attn.k_proj.weight", h, i) ||
            add(b, FP8LAB_T_V_W, i, KD, C, "%s.%d.self_attn.v_proj.weight", h, i) ||
            add(b, FP8LAB_T_O_W, i, C, QD, "%s.%d.self_attn.o_proj.weight", h, i) ||
            add(b, FP8LAB_T_LN2_W, i, C, 0, "%s.%d.post_attention_layernorm.weight", h, i) ||
            add(b, FP8LAB_T_GATE_W, i, F, C, "%s.%d.mlp.gate_proj.weight", h, i))
            return -1;
        b->pack_next = 1; /* [gate; up] = one [2F][C] matrix */
        if (add(b, FP8LAB_T_UP_W, i, F, C, "%s.%d.mlp.up_proj.weight", h, i) ||
            add(b, FP8LAB_T_PROJ_W, i, C, F, "%s.%d.mlp.down_proj.weight", h, i))
            return -1;
    }
    if (add(b, FP8LAB_T_LNF_W, -1, C, 0, "model.norm.weight")) return -1;
    return m->tied ? 0 : add(b, FP8LAB_T_HEAD, -1, V, C, "lm_head.weight");
}

int fp8lab_param_layout_build(const fp8lab_model *m, fp8lab_param_layout *out) {
    memset(out, 0, sizeof *out);
    builder b = {out, 0, 0};
    int rc;
    if (m->arch == FP8LAB_ARCH_GPT2)
        rc = build_gpt2(m, &b);
    else if (m->arch == FP8LAB_ARCH_LLAMA && !m->mla && !m->n_routed)
        rc = build_llama(m, &b);
    else {
        FP8LAB_ERR("model_type %s: the trainer runs gpt2 and llama only", m->model_type);
        rc = -1;
    }
    if (rc) fp8lab_param_layout_free(out);
    return rc;
}

void fp8lab_param_layout_free(fp8lab_param_layout *l) {
    free(l->t);
    memset(l, 0, sizeof *l);
}

int fp8lab_param_layout_find(const fp8lab_param_layout *l, const char *name) {
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->t[i].name, name)) return i;
    return -1;
}

int64_t fp8lab_param_count(const fp8lab_model *m) {
    fp8lab_param_layout l;
    if (fp8lab_param_layout_build(m, &l)) return -1;
    int64_t n = l.count;
    fp8lab_param_layout_free(&l);
    return n;
}
