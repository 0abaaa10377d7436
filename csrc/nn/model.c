/* The model: parameters, gradients, moments and the activation arena, and the forward, backward and AdamW step
   over them (model.h). The blocks themselves are block.c, attention_block.c, mlp.c. */
#include "nn/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/exact_sum.h"
#include "core/rng.h"
#include "nn/nn_internal.h"

#define INIT_STD 0.02

struct fp8lab_gpt {
    fp8lab_backend *be;
    fp8lab_model cfg;
    fp8lab_param_layout layout;
    fp8lab_recipe recipe;
    fp8lab_linear_ctx *lin; /* weight operands cached per step, delayed-scaling histories (non-fp32 recipes) */
    float eps, theta;

    float *params, *grads; /* device, layout.floats each */
    void *m, *v;           /* AdamW moments, NULL until the first step */
    fp8lab_moment_dtype mdt;

    /* views into params and grads */
    fp8lab_block_tensors *wb, *gb; /* [layers] */
    float *wte, *wpe, *lnf_w, *lnf_b, *head;
    float *d_wte, *d_wpe, *d_lnf_w, *d_lnf_b, *d_head;

    /* activation arena for (B, T) */
    void *arena;
    int64_t arena_bytes;
    int B, T;
    fp8lab_nn_dims dims;
    int32_t *tok, *tgt;     /* device [N] */
    float **res;            /* [layers + 1] residual stream: res[0] embeddings, res[l+1] block l's output */
    fp8lab_block_acts *acts;
    fp8lab_block_scratch scr;
    float *dres;
    float *lnf, *lnf_mean, *lnf_rstd, *logits, *losses;
    double *sumsq;          /* device */
    float *host_losses;     /* host [N] */

    int ready;              /* a forward with targets awaits its backward */
    long counted;           /* positions with a target in the last forward */
    double loss_sum;        /* the sum of their losses */

    fp8lab_grad_sink sink;  /* exact, split-invariant gradients (grad_sink.h) when sink.hi is set */
    fp8lab_grad_ready_fn ready_fn; /* told as each segment's gradient is final (fp8lab_gpt_set_grad_ready) */
    void *ready_ctx;
};

/* ---- sizes --------------------------------------------------------------------------------------------- */

/* The model's sizes as ints (every op takes ints), or -1. */
static int check_cfg(const fp8lab_model *m) {
    if (m->arch != FP8LAB_ARCH_GPT2 && (m->arch != FP8LAB_ARCH_LLAMA || m->mla || m->n_routed)) {
        FP8LAB_ERR("model_type %s: the trainer runs gpt2 and llama only", m->model_type);
        return -1;
    }
    if (m->vocab < 1 || m->hidden < 1 || m->layers < 1 || m->heads < 1 || m->kv_heads < 1 || m->head_dim < 1 ||
        m->ffn < 1 || m->max_pos < 1 || m->heads % m->kv_heads) {
        FP8LAB_ERR("model: sizes out of range (vocab %ld, hidden %ld, layers %ld, heads %ld/%ld, head_dim %ld, "
                   "ffn %ld, positions %ld)",
                   m->vocab, m->hidden, m->layers, m->heads, m->kv_heads, m->head_dim, m->ffn, m->max_pos);
        return -1;
    }
    if (m->arch == FP8LAB_ARCH_GPT2 && m->heads * m->head_dim != m->hidden) {
        FP8LAB_ERR("model: gpt2 needs heads x head_dim = hidden (%ld x %ld != %ld)", m->heads, m->head_dim,
                   m->hidden);
        return -1;
    }
    if (m->arch == FP8LAB_ARCH_LLAMA && m->head_dim % 2) {
        FP8LAB_ERR("model: head_dim %ld must be even for RoPE", m->head_dim);
        return -1;
    }
    const long widest = m->arch == FP8LAB_ARCH_GPT2 ? (3 * m->hidden > m->ffn ? 3 * m->hidden : m->ffn)
                                                    : 2 * m->ffn;
    if (widest > INT_MAX / 4 || m->heads * m->head_dim > INT_MAX / 4 || m->vocab > INT_MAX / 4) {
        FP8LAB_ERR("model: a dimension exceeds what the ops take (int)");
        return -1;
    }
    return 0;
}

static void set_dims(fp8lab_nn_dims *d, const fp8lab_model *m, int B, int T) {
    d->gpt2 = m->arch == FP8LAB_ARCH_GPT2;
    d->B = B;
    d->T = T;
    d->N = B * T;
    d->C = (int)m->hidden;
    d->Hq = (int)m->heads;
    d->Hkv = (int)m->kv_heads;
    d->D = (int)m->head_dim;
    d->F = (int)m->ffn;
    d->V = (int)m->vocab;
}

/* A bump allocator over the arena: run once with base NULL to size it, once more to hand out pointers. Every
   piece starts 256-byte aligned. */
typedef struct {
    char *base;
    int64_t off;
} bump;

static void *take(bump *b, int64_t elems, size_t elem_size) {
    void *p = b->base ? b->base + b->off : NULL;
    b->off += ((int64_t)elem_size * elems + 255) / 256 * 256;
    return p;
}
#define TAKEF(b, n) ((float *)take(b, (int64_t)(n), sizeof(float)))

/* Lays the arena out for d (g NULL: only sizes it). Returns its size in bytes. */
static int64_t plan_arena(const fp8lab_nn_dims *d, long layers, fp8lab_gpt *g, void *base) {
    bump b = {base, 0};
    const int64_t N = d->N, C = d->C, QD = (int64_t)d->Hq * d->D, KD = (int64_t)d->Hkv * d->D, F = d->F,
                  FC = d->gpt2 ? F : 2 * F, NC = N * C;
    int32_t *tok = take(&b, N, sizeof(int32_t)), *tgt = take(&b, N, sizeof(int32_t));
    double *sumsq = take(&b, 1, sizeof(double));
    if (g) g->tok = tok, g->tgt = tgt, g->sumsq = sumsq;
    for (long l = 0; l <= layers; l++) {
        float *r = TAKEF(&b, NC);
        if (g) g->res[l] = r;
    }
    for (long l = 0; l < layers; l++) {
        fp8lab_block_acts a = {0};
        a.ln1 = TAKEF(&b, NC);
        a.ln1_mean = d->gpt2 ? TAKEF(&b, N) : NULL;
        a.ln1_rstd = TAKEF(&b, N);
        a.q = TAKEF(&b, N * QD);
        a.k = TAKEF(&b, N * KD);
        a.v = TAKEF(&b, N * KD);
        a.att = TAKEF(&b, N * QD);
        a.lse = TAKEF(&b, N * d->Hq);
        a.res_mid = TAKEF(&b, NC);
        a.ln2 = TAKEF(&b, NC);
        a.ln2_mean = d->gpt2 ? TAKEF(&b, N) : NULL;
        a.ln2_rstd = TAKEF(&b, N);
        a.fc = TAKEF(&b, N * FC);
        a.act = TAKEF(&b, N * F);
        if (g) g->acts[l] = a;
    }
    fp8lab_block_scratch s = {0};
    s.qkv = d->gpt2 ? TAKEF(&b, 3 * NC) : NULL;
    s.dqkv = d->gpt2 ? TAKEF(&b, 3 * NC) : NULL;
    s.dq = TAKEF(&b, N * QD);
    s.dk = TAKEF(&b, N * KD);
    s.dv = TAKEF(&b, N * KD);
    s.datt = TAKEF(&b, N * QD);
    s.dfc = TAKEF(&b, N * FC);
    s.dact = TAKEF(&b, N * F);
    s.dln = TAKEF(&b, NC);
    s.dtmp = TAKEF(&b, NC);
    float *dres = TAKEF(&b, NC), *lnf = TAKEF(&b, NC), *lnf_mean = TAKEF(&b, N), *lnf_rstd = TAKEF(&b, N),
          *logits = TAKEF(&b, N * d->V), *losses = TAKEF(&b, N);
    if (g) {
        g->scr = s;
        g->dres = dres;
        g->lnf = lnf;
        g->lnf_mean = lnf_mean;
        g->lnf_rstd = lnf_rstd;
        g->logits = logits;
        g->losses = losses;
    }
    return b.off;
}

static int check_bt(const fp8lab_model *m, int B, int T) {
    if (B < 1 || T < 1 || (long long)B * T > INT_MAX / 4) {
        FP8LAB_ERR("model: B = %d, T = %d: both must be >= 1 and B*T < 2^29", B, T);
        return -1;
    }
    if (m->learned_pos && T > m->max_pos) {
        FP8LAB_ERR("model: T = %d exceeds n_positions %ld (the learned position table)", T, m->max_pos);
        return -1;
    }
    if ((long long)B * T * m->vocab > (long long)INT_MAX * 64) {
        FP8LAB_ERR("model: B*T*V = %d*%d*%ld logits is too large", B, T, m->vocab);
        return -1;
    }
    return 0;
}

int64_t fp8lab_gpt_activation_bytes(const fp8lab_model *cfg, int B, int T) {
    if (check_cfg(cfg) || check_bt(cfg, B, T)) return -1;
    fp8lab_nn_dims d = {0};
    set_dims(&d, cfg, B, T);
    return plan_arena(&d, cfg->layers, NULL, NULL);
}

int64_t fp8lab_gpt_param_count(const fp8lab_model *cfg) { return fp8lab_param_count(cfg); }

/* ---- create / destroy -------------------------------------------------------------------------------------- */

static void set_views(fp8lab_gpt *g) {
    for (int i = 0; i < g->layout.n; i++) {
        const fp8lab_tensor_info *t = &g->layout.t[i];
        float *p = g->params + t->offset, *d = g->grads + t->offset;
        float **pw = NULL, **pg = NULL;
        fp8lab_block_tensors *w = t->layer >= 0 ? &g->wb[t->layer] : NULL,
                             *gr = t->layer >= 0 ? &g->gb[t->layer] : NULL;
        switch (t->role) {
        case FP8LAB_T_WTE: pw = &g->wte, pg = &g->d_wte; break;
        case FP8LAB_T_WPE: pw = &g->wpe, pg = &g->d_wpe; break;
        case FP8LAB_T_LNF_W: pw = &g->lnf_w, pg = &g->d_lnf_w; break;
        case FP8LAB_T_LNF_B: pw = &g->lnf_b, pg = &g->d_lnf_b; break;
        case FP8LAB_T_HEAD: pw = &g->head, pg = &g->d_head; break;
#define BLK(ROLE, field)                                                                                       \
    case ROLE: pw = &w->field, pg = &gr->field; break;
        BLK(FP8LAB_T_LN1_W, ln1_w) BLK(FP8LAB_T_LN1_B, ln1_b) BLK(FP8LAB_T_QKV_W, qkv_w)
        BLK(FP8LAB_T_QKV_B, qkv_b) BLK(FP8LAB_T_Q_W, q_w) BLK(FP8LAB_T_K_W, k_w) BLK(FP8LAB_T_V_W, v_w)
        BLK(FP8LAB_T_O_W, o_w) BLK(FP8LAB_T_O_B, o_b) BLK(FP8LAB_T_LN2_W, ln2_w) BLK(FP8LAB_T_LN2_B, ln2_b)
        BLK(FP8LAB_T_FC_W, fc_w) BLK(FP8LAB_T_FC_B, fc_b) BLK(FP8LAB_T_GATE_W, fc_w)
        BLK(FP8LAB_T_PROJ_W, proj_w) BLK(FP8LAB_T_PROJ_B, proj_b)
#undef BLK
        case FP8LAB_T_UP_W: /* the second half of the [gate; up] matrix that fc_w points to */
        case FP8LAB_T_COUNT: break;
        }
        if (pw) *pw = p, *pg = d;
    }
    if (g->cfg.tied) g->head = g->wte, g->d_head = g->d_wte;
}

/* GPT-2 initialization: 2-D weights N(0, 0.02), residual output projections N(0, 0.02 / sqrt(2 n_layer)), norm
   weights 1, biases 0. One RNG stream over the tensors in checkpoint order. */
static int init_params(fp8lab_gpt *g, uint64_t seed) {
    if (fp8lab_memset0(g->be, g->params, sizeof(float) * (size_t)g->layout.floats)) return -1;
    int64_t most = 0;
    for (int i = 0; i < g->layout.n; i++)
        if (g->layout.t[i].numel > most) most = g->layout.t[i].numel;
    float *h = malloc(sizeof(float) * (size_t)most);
    if (!h) {
        FP8LAB_ERR_RT("model init: out of host memory (%lld floats)", (long long)most);
        return -1;
    }
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    const double res_std = INIT_STD / sqrt(2.0 * (double)g->cfg.layers);
    int rc = 0;
    for (int i = 0; i < g->layout.n && !rc; i++) {
        const fp8lab_tensor_info *t = &g->layout.t[i];
        const fp8lab_tensor_role ro = t->role;
        const int norm_w = ro == FP8LAB_T_LN1_W || ro == FP8LAB_T_LN2_W || ro == FP8LAB_T_LNF_W;
        if (t->ndim == 2) {
            const double std = t->residual ? res_std : INIT_STD;
            for (int64_t j = 0; j < t->numel; j++) h[j] = (float)(std * fp8lab_rng_normal(&r));
        } else {
            for (int64_t j = 0; j < t->numel; j++) h[j] = norm_w ? 1.0f : 0.0f;
        }
        rc = fp8lab_copy_h2d(g->be, g->params + t->offset, h, sizeof(float) * (size_t)t->numel);
    }
    free(h);
    return rc;
}

fp8lab_gpt *fp8lab_gpt_create(fp8lab_backend *be, const fp8lab_model *cfg, uint64_t seed) {
    if (!be || !cfg) {
        FP8LAB_ERR("fp8lab_gpt_create: NULL backend or config");
        return NULL;
    }
    if (check_cfg(cfg)) return NULL;
    fp8lab_gpt *g = calloc(1, sizeof *g);
    if (!g) {
        FP8LAB_ERR_RT("model: out of host memory");
        return NULL;
    }
    g->be = be;
    g->cfg = *cfg;
    g->recipe = FP8LAB_RECIPE_FP32;
    const int gpt2 = cfg->arch == FP8LAB_ARCH_GPT2;
    g->eps = (float)(cfg->norm_eps > 0 ? cfg->norm_eps : gpt2 ? 1e-5 : 1e-6);
    g->theta = (float)(cfg->rope_theta > 0 ? cfg->rope_theta : 10000.0);
    if (fp8lab_param_layout_build(cfg, &g->layout)) goto fail;
    g->wb = calloc((size_t)cfg->layers, sizeof *g->wb);
    g->gb = calloc((size_t)cfg->layers, sizeof *g->gb);
    g->acts = calloc((size_t)cfg->layers, sizeof *g->acts);
    g->res = calloc((size_t)cfg->layers + 1, sizeof *g->res);
    if (!g->wb || !g->gb || !g->acts || !g->res) {
        FP8LAB_ERR_RT("model: out of host memory");
        goto fail;
    }
    const size_t bytes = sizeof(float) * (size_t)g->layout.floats;
    g->params = fp8lab_alloc(be, bytes);
    g->grads = g->params ? fp8lab_alloc(be, bytes) : NULL;
    if (!g->grads || fp8lab_memset0(be, g->grads, bytes)) goto fail;
    set_views(g);
    if (init_params(g, seed)) goto fail;
    return g;
fail:
    fp8lab_gpt_destroy(g);
    return NULL;
}

void fp8lab_gpt_destroy(fp8lab_gpt *g) {
    if (!g) return;
    fp8lab_free(g->be, g->params);
    fp8lab_free(g->be, g->grads);
    fp8lab_free(g->be, g->m);
    fp8lab_free(g->be, g->v);
    fp8lab_free(g->be, g->arena);
    fp8lab_free(g->be, g->sink.hi);
    fp8lab_free(g->be, g->sink.lo);
    fp8lab_free(g->be, g->sink.leaf);
    fp8lab_linear_ctx_destroy(g->lin);
    fp8lab_param_layout_free(&g->layout);
    free(g->wb);
    free(g->gb);
    free(g->acts);
    free(g->res);
    free(g->host_losses);
    free(g);
}

/* The output head stays out of FP8 (DeepSeek-V3 sec. 3.3.1): BF16 operands with FP32 accumulation, as the
   simulator's schedule has it (sim/schedule.h), or FP32 in an FP32 run. At GPT-2's vocabulary it is the
   largest GEMM of a small model: ~15 TFLOP of a GPT-2 124M step at B=64, T=1024, ~300 ms at the 51 TFLOP/s
   FP32 GEMMs measured on an H100, ~20 ms in BF16. */
static fp8lab_linear head_linear(const fp8lab_nn_dims *d) {
    const fp8lab_recipe r = d->recipe == FP8LAB_RECIPE_FP32 ? FP8LAB_RECIPE_FP32 : FP8LAB_RECIPE_BF16;
    return (fp8lab_linear){.in = d->C, .out = d->V, .layout = FP8LAB_W_OUT_IN, .recipe = r, .sink = d->sink};
}

/* Every Linear of the blocks must fit the recipe's tiles (the output head is never FP8: head_linear). */
static int check_linears(const fp8lab_gpt *g, fp8lab_recipe r) {
    const fp8lab_model *m = &g->cfg;
    const int C = (int)m->hidden, QD = (int)(m->heads * m->head_dim), KD = (int)(m->kv_heads * m->head_dim),
              F = (int)m->ffn;
    const fp8lab_wlayout io = FP8LAB_W_IN_OUT, oi = FP8LAB_W_OUT_IN;
    const struct {
        const char *name;
        fp8lab_linear l;
    } gpt2[] = {{"attn.c_attn", {C, 3 * C, io, r}}, {"attn.c_proj", {C, C, io, r}}, {"mlp.c_fc", {C, F, io, r}},
                {"mlp.c_proj", {F, C, io, r}}},
      llama[] = {{"self_attn.q_proj", {C, QD, oi, r}}, {"self_attn.k_proj", {C, KD, oi, r}},
                 {"self_attn.o_proj", {QD, C, oi, r}}, {"mlp.gate_up_proj", {C, 2 * F, oi, r}},
                 {"mlp.down_proj", {F, C, oi, r}}};
    const int gp = m->arch == FP8LAB_ARCH_GPT2, n = gp ? 4 : 5;
    for (int i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof name, "model %s, layer %s", m->model_type, gp ? gpt2[i].name : llama[i].name);
        if (fp8lab_linear_check(gp ? &gpt2[i].l : &llama[i].l, name)) return -1;
    }
    return 0;
}

int fp8lab_gpt_set_recipe_opts(fp8lab_gpt *g, fp8lab_recipe r, const fp8lab_linear_opts *opts) {
    if (check_linears(g, r)) return -1;
    fp8lab_linear_ctx *lin = NULL;
    if (r != FP8LAB_RECIPE_FP32 && !(lin = fp8lab_linear_ctx_create(g->be, opts))) return -1;
    fp8lab_linear_ctx_destroy(g->lin); /* a new recipe starts with fresh caches and histories */
    g->lin = lin;
    g->recipe = r;
    g->dims.recipe = r;
    return 0;
}

int fp8lab_gpt_set_recipe(fp8lab_gpt *g, fp8lab_recipe r) { return fp8lab_gpt_set_recipe_opts(g, r, NULL); }

fp8lab_recipe fp8lab_gpt_recipe(const fp8lab_gpt *g) { return g->recipe; }

void fp8lab_gpt_weights_changed(fp8lab_gpt *g) { fp8lab_linear_ctx_invalidate(g->lin); }

fp8lab_linear_ctx *fp8lab_gpt_linear_ctx(const fp8lab_gpt *g) { return g->lin; }

const fp8lab_model *fp8lab_gpt_config(const fp8lab_gpt *g) { return &g->cfg; }

/* ---- tensors ----------------------------------------------------------------------------------------------- */

int fp8lab_gpt_tensor_count(const fp8lab_gpt *g) { return g->layout.n; }

int fp8lab_gpt_tensor_at(const fp8lab_gpt *g, int i, fp8lab_gpt_tensor *out) {
    if (i < 0 || i >= g->layout.n) {
        FP8LAB_ERR("model: tensor index %d out of range [0, %d)", i, g->layout.n);
        return -1;
    }
    const fp8lab_tensor_info *t = &g->layout.t[i];
    *out = (fp8lab_gpt_tensor){.name = t->name, .ndim = t->ndim, .shape = {t->shape[0], t->shape[1]},
                               .numel = t->numel, .param = g->params + t->offset, .grad = g->grads + t->offset,
                               .decay = t->decay};
    return 0;
}

int fp8lab_gpt_tensor_get(const fp8lab_gpt *g, const char *name, fp8lab_gpt_tensor *out) {
    const int i = fp8lab_param_layout_find(&g->layout, name);
    return i < 0 ? -1 : fp8lab_gpt_tensor_at(g, i, out);
}

float *fp8lab_gpt_params(const fp8lab_gpt *g) { return g->params; }
float *fp8lab_gpt_grads(const fp8lab_gpt *g) { return g->grads; }
int64_t fp8lab_gpt_buffer_floats(const fp8lab_gpt *g) { return g->layout.floats; }
const float *fp8lab_gpt_logits(const fp8lab_gpt *g) { return g->logits; }

/* ---- forward / backward ---------------------------------------------------------------------------------- */

static int ensure_arena(fp8lab_gpt *g, int B, int T) {
    if (g->arena && g->B == B && g->T == T) return 0;
    fp8lab_nn_dims d = {0};
    set_dims(&d, &g->cfg, B, T);
    const int64_t bytes = plan_arena(&d, g->cfg.layers, NULL, NULL);
    if (bytes > g->arena_bytes) {
        fp8lab_free(g->be, g->arena);
        g->arena = NULL;
        g->arena_bytes = 0;
        float *hl = realloc(g->host_losses, sizeof(float) * (size_t)d.N);
        if (!hl) {
            FP8LAB_ERR_RT("model: out of host memory");
            return -1;
        }
        g->host_losses = hl;
        g->arena = fp8lab_alloc(g->be, (size_t)bytes);
        if (!g->arena) return -1;
        g->arena_bytes = bytes;
    }
    plan_arena(&d, g->cfg.layers, g, g->arena);
    d.be = g->be;
    d.recipe = g->recipe;
    d.eps = g->eps;
    d.theta = g->theta;
    d.sink = g->sink.hi ? &g->sink : NULL;
    g->dims = d;
    g->B = B;
    g->T = T;
    return 0;
}

static int forward(fp8lab_gpt *g, const int32_t *tokens, const int32_t *targets, int B, int T, float *loss) {
    g->ready = 0;
    if (!tokens) {
        FP8LAB_ERR("model forward: NULL tokens");
        return -1;
    }
    if (check_bt(&g->cfg, B, T)) return -1;
    const long N = (long)B * T, V = g->cfg.vocab;
    long counted = 0;
    for (long i = 0; i < N; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            FP8LAB_ERR("model forward: token %d at position %ld is outside [0, %ld)", tokens[i], i, V);
            return -1;
        }
        if (targets && targets[i] >= V) {
            FP8LAB_ERR("model forward: target %d at position %ld is outside [0, %ld) (negative: no loss)",
                       targets[i], i, V);
            return -1;
        }
        counted += targets && targets[i] >= 0;
    }
    if (ensure_arena(g, B, T)) return -1;
    fp8lab_backend *be = g->be;
    const fp8lab_nn_dims *d = &g->dims;
    const size_t tbytes = sizeof(int32_t) * (size_t)N;
    if (fp8lab_copy_h2d(be, g->tok, tokens, tbytes) || (targets && fp8lab_copy_h2d(be, g->tgt, targets, tbytes)) ||
        fp8lab_embed_fwd(be, g->res[0], g->tok, g->wte, g->wpe, B, T, d->C, d->V))
        return -1;
    for (long l = 0; l < g->cfg.layers; l++)
        if (fp8lab_block_fwd(d, &g->wb[l], &g->acts[l], &g->scr, g->res[l], g->res[l + 1])) return -1;
    const fp8lab_linear head = head_linear(d);
    if (fp8lab_nn_norm_fwd(d, g->lnf, g->lnf_mean, g->lnf_rstd, g->res[g->cfg.layers], g->lnf_w, g->lnf_b) ||
        fp8lab_linear_fwd(be, &head, g->logits, g->lnf, g->head, NULL, d->N))
        return -1;
    float mean = 0;
    if (targets) {
        if (fp8lab_xent_fwd(be, g->losses, g->logits, g->tgt, d->N, d->V) ||
            fp8lab_copy_d2h(be, g->host_losses, g->losses, sizeof(float) * (size_t)N))
            return -1;
        double sum = 0;
        for (long i = 0; i < N; i++) sum += g->host_losses[i];
        mean = counted ? (float)(sum / (double)counted) : 0.0f;
        g->counted = counted;
        g->loss_sum = sum;
        g->ready = 1;
    }
    if (loss) *loss = mean;
    return 0;
}

int fp8lab_gpt_forward(fp8lab_gpt *g, const int32_t *tokens, const int32_t *targets, int B, int T, float *loss) {
    fp8lab_linear_ctx *prev = fp8lab_linear_ctx_bind(g->lin);
    const int rc = forward(g, tokens, targets, B, T, loss);
    fp8lab_linear_ctx_bind(prev);
    return rc;
}

/* The embeddings' gradients through the sink: each token's row of dres is a leaf of its wte row (and of its
   position's wpe row), added on the host (the sink's backend is the CPU's). */
static int embed_bwd_exact(fp8lab_gpt *g) {
    const fp8lab_nn_dims *d = &g->dims;
    for (long i = 0; i < (long)d->N; i++) {
        const float *row = g->dres + i * d->C;
        if (fp8lab_grad_sink_add(&g->sink, g->d_wte + (long)g->tok[i] * d->C, row, d->C) ||
            (g->d_wpe && fp8lab_grad_sink_add(&g->sink, g->d_wpe + (i % d->T) * d->C, row, d->C)))
            return -1;
    }
    return 0;
}

/* Where segment s of the buffer starts: s = 0 the embeddings, 1 + l block l, 1 + layers the final norm (and an
   untied head) up to the end; the layout keeps them in that order (params.h). */
static int64_t segment_begin(const fp8lab_gpt *g, long s) {
    if (s == 0) return 0;
    const fp8lab_param_layout *p = &g->layout;
    for (int i = 0; i < p->n; i++)
        if (s <= g->cfg.layers ? p->t[i].layer == s - 1 : p->t[i].layer < 0 && p->t[i].offset > 0 &&
                                                               i > 0 && p->t[i - 1].layer >= 0)
            return p->t[i].offset;
    return p->floats;
}

/* Segment s's gradient is final for this backward: the listener told, or, without one, its floats made from the
   exact planes (a listener sums the planes over ranks first and makes the floats from the sums: train/dp.h). */
static int segment_done(fp8lab_gpt *g, long s) {
    const int64_t b = segment_begin(g, s), e = s > g->cfg.layers ? g->layout.floats : segment_begin(g, s + 1);
    if (g->sink.hi && fp8lab_sync(g->be)) return -1;
    if (g->sink.hi && !g->ready_fn) fp8lab_exact_get(g->grads + b, g->sink.hi + b, g->sink.lo + b, (size_t)(e - b));
    return g->ready_fn && e > b ? g->ready_fn(g->ready_ctx, b, e) : 0;
}

void fp8lab_gpt_set_grad_ready(fp8lab_gpt *g, fp8lab_grad_ready_fn fn, void *ctx) {
    g->ready_fn = fn;
    g->ready_ctx = ctx;
}

static int backward(fp8lab_gpt *g, long positions) {
    if (!g->ready) {
        FP8LAB_ERR("model backward: needs a forward with targets first (once per forward)");
        return -1;
    }
    g->ready = 0;
    if (!g->counted) { /* no position has a target: the loss is constant 0, but the segments are still told */
        for (long s = g->cfg.layers + 1; s >= 0; s--)
            if (segment_done(g, s)) return -1;
        return 0;
    }
    if (positions <= 0) positions = g->counted;
    fp8lab_backend *be = g->be;
    const fp8lab_nn_dims *d = &g->dims;
    const long L = g->cfg.layers;
    const fp8lab_linear head = head_linear(d);
    /* dlogits in place of the logits; then the head (its gradient goes to wte when tied), the final norm */
    if (fp8lab_xent_bwd(be, g->logits, g->logits, g->tgt, d->N, d->V, (float)(1.0 / (double)positions)) ||
        fp8lab_linear_bwd(be, &head, g->scr.dln, 0, g->d_head, NULL, g->logits, g->lnf, g->head, d->N) ||
        fp8lab_nn_norm_bwd(d, g->dres, g->d_lnf_w, g->d_lnf_b, g->scr.dln, g->res[L], g->lnf_w, g->lnf_mean,
                           g->lnf_rstd) ||
        segment_done(g, L + 1))
        return -1;
    for (long l = L - 1; l >= 0; l--)
        if (fp8lab_block_bwd(d, &g->wb[l], &g->gb[l], &g->acts[l], &g->scr, g->res[l], g->dres) ||
            segment_done(g, l + 1))
            return -1;
    const int rc = d->sink ? fp8lab_sync(be) || embed_bwd_exact(g)
                           : fp8lab_embed_bwd(be, g->d_wte, g->d_wpe, g->dres, g->tok, d->B, d->T, d->C, d->V);
    return rc || segment_done(g, 0) ? -1 : 0;
}

int fp8lab_gpt_backward_over(fp8lab_gpt *g, int64_t positions) {
    if (positions < 0) {
        FP8LAB_ERR("model backward: %lld positions (must be >= 0; 0: this forward's own)", (long long)positions);
        return -1;
    }
    fp8lab_linear_ctx *prev = fp8lab_linear_ctx_bind(g->lin);
    const int rc = backward(g, (long)positions);
    fp8lab_linear_ctx_bind(prev);
    return rc;
}

int fp8lab_gpt_backward(fp8lab_gpt *g) { return fp8lab_gpt_backward_over(g, 0); }

int64_t fp8lab_gpt_counted(const fp8lab_gpt *g) { return g->counted; }
double fp8lab_gpt_loss_sum(const fp8lab_gpt *g) { return g->loss_sum; }

/* ---- exact gradients --------------------------------------------------------------------------------------- */

int fp8lab_gpt_set_exact_grads(fp8lab_gpt *g, int on) {
    fp8lab_grad_sink *s = &g->sink;
    if (!on) {
        fp8lab_free(g->be, s->hi);
        fp8lab_free(g->be, s->lo);
        s->hi = s->lo = NULL;
    } else if (!s->hi) {
        if (strcmp(g->be->name, "cpu")) {
            FP8LAB_ERR("exact gradient sums run on the cpu backend only (this model is on %s)", g->be->name);
            return -1;
        }
        const size_t bytes = sizeof(double) * (size_t)g->layout.floats;
        *s = (fp8lab_grad_sink){.be = g->be, .grads = g->grads, .floats = g->layout.floats, .leaf = s->leaf,
                                .leaf_floats = s->leaf_floats, .hi = fp8lab_alloc(g->be, bytes),
                                .lo = fp8lab_alloc(g->be, bytes)};
        if (!s->hi || !s->lo || fp8lab_memset0(g->be, s->hi, bytes) || fp8lab_memset0(g->be, s->lo, bytes)) {
            fp8lab_gpt_set_exact_grads(g, 0);
            return -1;
        }
    }
    g->dims.sink = s->hi ? s : NULL;
    return 0;
}

int fp8lab_gpt_exact_planes(const fp8lab_gpt *g, double **hi, double **lo) {
    if (hi) *hi = g->sink.hi;
    if (lo) *lo = g->sink.lo;
    return g->sink.hi != NULL;
}

int fp8lab_gpt_zero_grad(fp8lab_gpt *g) {
    /* a step begins: whatever optimizer ran since the last one (fp8lab_gpt_step or the caller's own) may have
       changed the weights, so their FP8/BF16 copies are remade on the next forward */
    fp8lab_linear_ctx_invalidate(g->lin);
    const size_t n = (size_t)g->layout.floats;
    return fp8lab_memset0(g->be, g->grads, sizeof(float) * n) ||
                   (g->sink.hi && (fp8lab_memset0(g->be, g->sink.hi, sizeof(double) * n) ||
                                   fp8lab_memset0(g->be, g->sink.lo, sizeof(double) * n)))
               ? -1
               : 0;
}

/* ---- optimizer --------------------------------------------------------------------------------------------- */

static int ensure_moments(fp8lab_gpt *g, fp8lab_moment_dtype mdt) {
    if (g->m) {
        if (mdt == g->mdt) return 0;
        FP8LAB_ERR("model step: moments dtype changed after the first step (%s, then %s)",
                   g->mdt == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32", mdt == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32");
        return -1;
    }
    if (mdt != FP8LAB_MOMENTS_BF16 && mdt != FP8LAB_MOMENTS_F32) {
        FP8LAB_ERR("model step: unknown moments dtype %d", (int)mdt);
        return -1;
    }
    const size_t bytes = (mdt == FP8LAB_MOMENTS_BF16 ? 2 : 4) * (size_t)g->layout.floats;
    g->m = fp8lab_alloc(g->be, bytes);
    g->v = g->m ? fp8lab_alloc(g->be, bytes) : NULL;
    if (!g->v || fp8lab_memset0(g->be, g->m, bytes) || fp8lab_memset0(g->be, g->v, bytes)) {
        fp8lab_free(g->be, g->m);
        fp8lab_free(g->be, g->v);
        g->m = g->v = NULL;
        return -1;
    }
    g->mdt = mdt;
    return 0;
}

int fp8lab_gpt_moments(fp8lab_gpt *g, fp8lab_moment_dtype dtype, void **m, void **v) {
    if (ensure_moments(g, dtype)) return -1;
    *m = g->m;
    *v = g->v;
    return 0;
}

static int check_range(const fp8lab_gpt *g, const char *what, int64_t begin, int64_t end) {
    if (begin < 0 || end < begin || end > g->layout.floats) {
        FP8LAB_ERR("model %s: range [%lld, %lld) outside the buffer's %lld floats", what, (long long)begin,
                   (long long)end, (long long)g->layout.floats);
        return -1;
    }
    return 0;
}

int fp8lab_gpt_grad_sumsq(fp8lab_gpt *g, int64_t begin, int64_t end, double *sumsq) {
    if (check_range(g, "gradient norm", begin, end)) return -1;
    if (!g->arena && ensure_arena(g, 1, 1)) return -1; /* the device double for the sum lives there */
    *sumsq = 0;
    if (end == begin) return 0;
    return fp8lab_memset0(g->be, g->sumsq, sizeof(double)) ||
                   fp8lab_sumsq(g->be, g->grads + begin, (long)(end - begin), g->sumsq) ||
                   fp8lab_copy_d2h(g->be, sumsq, g->sumsq, sizeof(double))
               ? -1
               : 0;
}

int fp8lab_gpt_step_range(fp8lab_gpt *g, const fp8lab_adamw_args *a, int64_t begin, int64_t end) {
    if (!a || check_range(g, "step", begin, end) || ensure_moments(g, a->moments)) return -1;
    fp8lab_adamw_args s = *a;
    const size_t es = g->mdt == FP8LAB_MOMENTS_BF16 ? 2 : 4;
    /* runs of consecutive tensors with the same decay (the padding between them is zero and stays zero), each
       cut to [begin, end): AdamW is elementwise, so a range updates exactly what the whole step would there */
    for (int i = 0; i < g->layout.n;) {
        const fp8lab_tensor_info *t0 = &g->layout.t[i];
        int j = i + 1;
        while (j < g->layout.n && g->layout.t[j].decay == t0->decay) j++;
        const fp8lab_tensor_info *t1 = &g->layout.t[j - 1];
        const int64_t lo = t0->offset > begin ? t0->offset : begin;
        const int64_t hi = t1->offset + t1->numel < end ? t1->offset + t1->numel : end;
        s.weight_decay = t0->decay ? a->weight_decay : 0.0f;
        if (hi > lo && fp8lab_adamw(g->be, g->params + lo, g->grads + lo, (char *)g->m + es * (size_t)lo,
                                    (char *)g->v + es * (size_t)lo, (long)(hi - lo), &s))
            return -1;
        i = j;
    }
    fp8lab_linear_ctx_invalidate(g->lin); /* the weights changed: requantize them on the next forward */
    return 0;
}

int fp8lab_gpt_step(fp8lab_gpt *g, const fp8lab_adamw_args *a, float clip, float *grad_norm) {
    if (!a || !(clip >= 0) || !isfinite(clip)) {
        FP8LAB_ERR("model step: NULL args or clip = %g (must be finite and >= 0; 0: no clipping)", (double)clip);
        return -1;
    }
    double sumsq = 0;
    if (fp8lab_gpt_grad_sumsq(g, 0, g->layout.floats, &sumsq)) return -1;
    const double norm = sqrt(sumsq) * (double)a->grad_scale;
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return 1;
    fp8lab_adamw_args s = *a;
    if (clip > 0 && norm > clip) s.grad_scale = (float)((double)a->grad_scale * (double)clip / norm);
    return fp8lab_gpt_step_range(g, &s, 0, g->layout.floats);
}
