#include "sim/schedule.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Activations travel in BF16; FP8 GEMM inputs are kept for the backward in FP8 (DeepSeek-V3 sec. 3.3.4
   caches the activations of linear layers in FP8). */
#define ACT 2.0

typedef struct {
    fp8lab_schedule *f;        /* forward list under construction */
    const fp8lab_model *m;
    const fp8lab_sched_opts *o;
    double t, ts;              /* tokens per micro-batch; tokens per rank where sequence parallel splits them */
    double h, tp;
    fp8lab_prec gp;            /* GEMM precision */
    double eb;                 /* bytes per saved GEMM-input element */
    fp8lab_part part;          /* part override (MTP), or FP8LAB_NPARTS */
    int fail;
} bld;

static fp8lab_op *push(fp8lab_schedule *s, int *fail) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        fp8lab_op *p = realloc(s->ops, (size_t)cap * sizeof *p);
        if (!p) {
            *fail = 1;
            return NULL;
        }
        s->ops = p;
        s->cap = cap;
    }
    fp8lab_op *op = &s->ops[s->n++];
    memset(op, 0, sizeof *op);
    op->count = 1;
    return op;
}

static fp8lab_op *add(bld *b, const char *name, fp8lab_op_kind kind, fp8lab_part part) {
    fp8lab_op *op = push(b->f, &b->fail);
    if (!op) return NULL;
    snprintf(op->name, sizeof op->name, "%s", name);
    op->kind = kind;
    op->pass = FP8LAB_PASS_F;
    op->dtype = FP8LAB_PREC_BF16;
    op->bwd_dtype = FP8LAB_PREC_BF16;
    op->part = b->part != FP8LAB_NPARTS ? b->part : part;
    return op;
}

/* the precision of the GEMMs that stay out of FP8 (head, router): BF16, or FP32 in an FP32 run */
static fp8lab_prec high_prec(const bld *b) {
    return b->gp == FP8LAB_PREC_FP32 ? FP8LAB_PREC_FP32 : FP8LAB_PREC_BF16;
}

/* One GEMM of a layer's forward: out[m][n] = in[m][k] . W[n][k], `count` times (a rank's local experts). */
typedef struct {
    const char *name;
    double m, n, k;
    fp8lab_part part;
    int high;                 /* 1: kept out of FP8 (head, router: high_prec); 0: the run's GEMM precision */
    double saved;             /* input bytes kept for the backward whatever the recompute */
    double saved_recomputable; /* input bytes kept unless recomputed (the cast a selective recompute redoes) */
    int cheap;                /* selective recompute re-runs it */
    int moe;                  /* waits for the busiest expert */
    int gathered;             /* reads the input tp_enter gathered */
    double count;             /* 0: 1 */
} gemm_spec;

static void gemm(bld *b, gemm_spec g) {
    fp8lab_op *op = add(b, g.name, FP8LAB_OP_GEMM, g.part);
    if (!op) return;
    const fp8lab_prec p = g.high ? high_prec(b) : b->gp;
    op->m = g.m, op->n = g.n, op->k = g.k;
    op->dtype = p;
    op->bwd_dtype = p;
    op->flops = 2.0 * g.m * g.n * g.k;
    op->count = g.count > 0 ? g.count : 1;
    op->saved = g.saved, op->saved_recomputable = g.saved_recomputable;
    op->cheap = g.cheap, op->moe = g.moe, op->reads_gathered = g.gathered;
}

/* One memory-bound op: bytes moved forward and backward, bytes kept for the backward. */
typedef struct {
    const char *name;
    double bytes, bwd_bytes, saved;
    int cheap, moe;
} elt_spec;

static void elt(bld *b, elt_spec e) {
    fp8lab_op *op = add(b, e.name, FP8LAB_OP_ELTWISE, FP8LAB_PART_OTHER);
    if (!op) return;
    op->bytes = e.bytes, op->bwd_bytes = e.bwd_bytes, op->saved = e.saved, op->cheap = e.cheap, op->moe = e.moe;
}

/* How a GEMM's FP8 input lives until the backward: either the GEMM keeps it (its `saved`), and selective
   recompute has nothing to redo, or the GEMM drops it (its `saved_recomputable`), and selective recompute must
   rebuild it by running the cast again. */
typedef enum { QUANT_REBUILT, QUANT_KEPT } quant_fate;

/* cast to FP8 with a fused transpose, so that the wgrad GEMM finds its operand K-contiguous: read BF16,
   write FP8 twice, plus one FP32 scale per 128 elements per orientation */
static void quant(bld *b, const char *name, double elems, quant_fate fate) {
    if (b->gp == FP8LAB_PREC_FP8)
        elt(b, (elt_spec){.name = name, .bytes = elems * (2 + 1 + 1 + 8.0 / 128), .cheap = fate == QUANT_REBUILT});
}

/* Bytes a GEMM right after tp_enter keeps of its input. Under sequence parallelism that input is the
   all-gather of the sequence shards; Korthikanti et al. 2022 (sec. 4.2.2) keep only the local shard and
   all-gather it again in the backward (tp_regather), so the saved input is ts tokens, not t. */
static double gathered_input(const bld *b, double width, double bytes) { return b->ts * width * bytes; }


/* One collective: its kind in the forward and in the backward (FP8LAB_COLL_NONE: none in that pass) over one
   group, and the bytes each moves. */
typedef struct {
    const char *name;
    fp8lab_coll fwd, bwd;
    fp8lab_group group;
    double bytes, bwd_bytes;
} comm_spec;

static fp8lab_op *comm(bld *b, comm_spec c) {
    fp8lab_op *op = add(b, c.name, FP8LAB_OP_COMM, FP8LAB_PART_OTHER);
    if (!op) return NULL;
    op->coll = c.fwd, op->bwd_coll = c.bwd, op->group = c.group, op->bytes = c.bytes, op->bwd_bytes = c.bwd_bytes;
    return op;
}

/* Megatron's f/g conjugate operators around a tensor-parallel block (Shoeybi et al. 2019; with sequence
   parallelism, Korthikanti et al. 2022: all-gather before, reduce-scatter after) */
static void tp_enter(bld *b) {
    if (b->tp <= 1) return;
    const double full = b->t * b->h * ACT;
    fp8lab_op *op = comm(b, b->o->sp ? (comm_spec){.name = "tp.all_gather", .fwd = FP8LAB_COLL_ALLGATHER,
                                                   .bwd = FP8LAB_COLL_REDUCESCATTER, .group = FP8LAB_GROUP_TP,
                                                   .bytes = full, .bwd_bytes = full}
                                     : (comm_spec){.name = "tp.f", .bwd = FP8LAB_COLL_ALLREDUCE,
                                                   .group = FP8LAB_GROUP_TP, .bwd_bytes = full});
    /* its backward reduces the input gradient that the next GEMM's Dgrad wrote, while that GEMM's Wgrad runs
       (Megatron-LM's LinearWithGradAccumulationAndAsyncCommunication: reduce-scatter with sequence parallelism,
       all-reduce without) */
    if (op) op->beside_wgrad = 1;
}

/* The all-gather that gives the Wgrad GEMMs back the input of which gathered_input kept only this rank's shard,
   run beside the Dgrad GEMMs of the GEMMs that read that input (gemm_spec.gathered): Megatron-LM's
   LinearWithGradAccumulationAndAsyncCommunication (megatron/core/tensor_parallel/layers.py at 937571c: all-gather
   with async_op, then the Dgrad matmul, then wait) and Transformer Engine's LayerNormLinear
   (module/layernorm_linear.py at v1.8; a "bulk" userbuffers overlap under --tp-comm-overlap). Placed after the
   last GEMM that reads the gathered input, so that in the backward it comes before their Dgrads; `bytes` per
   element of the kept shards. */
static void tp_regather(bld *b, double width, double bytes) {
    if (b->tp <= 1 || !b->o->sp) return;
    fp8lab_op *op = comm(b, (comm_spec){.name = "tp.regather", .bwd = FP8LAB_COLL_ALLGATHER, .group = FP8LAB_GROUP_TP,
                                        .bwd_bytes = b->t * width * bytes});
    if (op) op->beside_dgrad = 1;
}

static void tp_exit(bld *b) {
    if (b->tp <= 1) return;
    const double full = b->t * b->h * ACT;
    if (b->o->sp)
        comm(b, (comm_spec){.name = "tp.reduce_scatter", .fwd = FP8LAB_COLL_REDUCESCATTER, .bwd = FP8LAB_COLL_ALLGATHER,
                            .group = FP8LAB_GROUP_TP, .bytes = full, .bwd_bytes = full});
    else comm(b, (comm_spec){.name = "tp.g", .fwd = FP8LAB_COLL_ALLREDUCE, .group = FP8LAB_GROUP_TP, .bytes = full});
}

static void norm(bld *b, const char *name, double width, double tokens) {
    double x = tokens * width * ACT;
    /* read x, write y; backward reads x and dy, writes dx. The input is kept (it is also the residual). */
    elt(b, (elt_spec){.name = name, .bytes = 2 * x, .bwd_bytes = 3 * x, .saved = x, .cheap = 1});
}

static void residual(bld *b) { elt(b, (elt_spec){.name = "residual_add", .bytes = 3 * b->ts * b->h * ACT}); }

/* activation function on [tokens][width] outputs: SwiGLU reads gate and up, GELU one input */
static void act(bld *b, const char *name, double tokens, double width, int moe, double count) {
    double y = tokens * width * ACT * count;
    /* DeepSeek-V3 sec. 3.3.4 caches the SwiGLU inputs in FP8 and recomputes the output in the backward */
    double keep = b->gp == FP8LAB_PREC_FP8 ? y / ACT : y;
    if (b->m->gated_mlp)
        elt(b, (elt_spec){.name = name, .bytes = 3 * y, .bwd_bytes = 5 * y, .saved = 2 * keep, .cheap = 1, .moe = moe});
    else elt(b, (elt_spec){.name = name, .bytes = 2 * y, .bwd_bytes = 3 * y, .saved = keep, .cheap = 1, .moe = moe});
}

/* FlashAttention keeps Q, K, V, its output O and one FP32 log-sum-exp per head and token for the backward
   (Dao et al. 2022), no S^2 tensor. O is also the output projection's input, which attn.o keeps: in a BF16
   (FP16, FP32) run that is the same tensor, counted there once; in an FP8 run attn.o keeps the FP8 cast for its
   Wgrad and the attention backward still needs the BF16 O (D = rowsum(dO * O)), so both are kept. */
static void attention_core(bld *b, double dqk, double dv, double heads, double recomputable_qkv) {
    const fp8lab_sched_opts *o = b->o;
    fp8lab_op *op = add(b, "attn.core", FP8LAB_OP_ATTN, FP8LAB_PART_ATTN_SCORES);
    if (!op) return;
    double S = (double)o->seq;
    /* causal: S^2/2 query-key pairs, 2 FLOPs each for QK^T (dqk) and for AV (dv) */
    op->flops = (double)o->micro_batch * heads * S * S * (dqk + dv);
    double qkv = b->t * heads * (2 * dqk + dv) * ACT, lse = b->t * heads * 4;
    double out = b->gp == FP8LAB_PREC_FP8 ? b->t * heads * dv * ACT : 0;
    op->saved = lse + out + (recomputable_qkv ? 0 : qkv);
    op->saved_recomputable = recomputable_qkv ? qkv : 0;
}

static void mha_block(bld *b) {
    const fp8lab_model *m = b->m;
    double t = b->t, h = b->h, H = (double)m->heads / b->tp, KV = (double)m->kv_heads / b->tp, d = (double)m->head_dim;
    if (KV < 1) KV = 1; /* fewer KV heads than TP ranks: replicated */
    norm(b, "attn.norm", h, b->ts);
    tp_enter(b);
    quant(b, "attn.quant_x", t * h, QUANT_REBUILT);
    if (m->arch == FP8LAB_ARCH_GPT2) {
        gemm(b, (gemm_spec){.name = "attn.qkv", .m = t, .n = 3 * H * d, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1, .saved_recomputable = gathered_input(b, h, b->eb)});
        tp_regather(b, h, b->eb);
    } else {
        gemm(b, (gemm_spec){.name = "attn.q", .m = t, .n = H * d, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1, .saved_recomputable = gathered_input(b, h, b->eb)});
        gemm(b, (gemm_spec){.name = "attn.k", .m = t, .n = KV * d, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1});
        gemm(b, (gemm_spec){.name = "attn.v", .m = t, .n = KV * d, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1});
        tp_regather(b, h, b->eb);
        double qk = t * (H + KV) * d * ACT;
        elt(b, (elt_spec){.name = "attn.rope", .bytes = 2 * qk, .bwd_bytes = 2 * qk, .cheap = 1});
    }
    attention_core(b, d, d, H, 0);
    quant(b, "attn.quant_o", t * H * d, QUANT_KEPT); /* attn.o keeps it */
    gemm(b, (gemm_spec){.name = "attn.o", .m = t, .n = h, .k = H * d, .part = FP8LAB_PART_ATTN_PROJ,
                        .saved = t * H * d * b->eb});
    tp_exit(b);
    residual(b);
}

/* Multi-head latent attention (DeepSeek-V2/V3). The down-projections are replicated across TP ranks, the
   up-projections split by heads. DeepSeek-V3 sec. 3.2.3 recomputes the up-projections in the backward, so
   under selective recompute q, k, v are not kept. */
static void mla_block(bld *b) {
    const fp8lab_model *m = b->m;
    double t = b->t, h = b->h, H = (double)m->heads / b->tp;
    double qk = (double)(m->qk_nope + m->qk_rope), ql = (double)m->q_lora_rank, kl = (double)m->kv_lora_rank;
    norm(b, "attn.norm", h, b->ts);
    tp_enter(b);
    quant(b, "attn.quant_x", t * h, QUANT_REBUILT);
    if (ql > 0) {
        gemm(b, (gemm_spec){.name = "attn.q_a", .m = t, .n = ql, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1, .saved_recomputable = gathered_input(b, h, b->eb)});
        norm(b, "attn.q_a_norm", ql, t);
        quant(b, "attn.quant_q_a", t * ql, QUANT_KEPT); /* attn.q_b keeps it */
        gemm(b, (gemm_spec){.name = "attn.q_b", .m = t, .n = H * qk, .k = ql, .part = FP8LAB_PART_ATTN_PROJ,
                            .saved = t * ql * b->eb, .cheap = 1});
    } else {
        gemm(b, (gemm_spec){.name = "attn.q", .m = t, .n = H * qk, .k = h, .part = FP8LAB_PART_ATTN_PROJ,
                            .gathered = 1, .saved_recomputable = gathered_input(b, h, b->eb)});
    }
    gemm(b, (gemm_spec){.name = "attn.kv_a", .m = t, .n = kl + (double)m->qk_rope, .k = h,
                        .part = FP8LAB_PART_ATTN_PROJ, .gathered = 1});
    tp_regather(b, h, b->eb);
    norm(b, "attn.kv_a_norm", kl, t);
    quant(b, "attn.quant_kv_a", t * kl, QUANT_KEPT); /* attn.kv_b keeps it */
    gemm(b, (gemm_spec){.name = "attn.kv_b", .m = t, .n = H * (double)(m->qk_nope + m->v_head), .k = kl,
                        .part = FP8LAB_PART_ATTN_PROJ, .saved = t * kl * b->eb, .cheap = 1});
    double rope = t * (H + 1) * (double)m->qk_rope * ACT;
    elt(b, (elt_spec){.name = "attn.rope", .bytes = 2 * rope, .bwd_bytes = 2 * rope, .cheap = 1});
    attention_core(b, qk, (double)m->v_head, H, 1);
    quant(b, "attn.quant_o", t * H * (double)m->v_head, QUANT_KEPT); /* attn.o keeps it */
    gemm(b, (gemm_spec){.name = "attn.o", .m = t, .n = h, .k = H * (double)m->v_head, .part = FP8LAB_PART_ATTN_PROJ,
                        .saved = t * H * (double)m->v_head * b->eb});
    tp_exit(b);
    residual(b);
}

static void mlp_block(bld *b, const char *pfx, double ffn, int gated_in_norm) {
    char nm[40];
    double t = b->t, h = b->h, f = ffn / b->tp, up = b->m->gated_mlp ? 2 * f : f;
    if (gated_in_norm) {
        norm(b, "mlp.norm", h, b->ts);
        tp_enter(b);
        quant(b, "mlp.quant_x", t * h, QUANT_REBUILT);
    }
    /* MoE shared experts (no norm of their own) read the router's input: in a BF16 run the very tensor
       moe.router keeps, in an FP8 run its FP8 cast */
    double in = gated_in_norm || b->gp == FP8LAB_PREC_FP8 ? gathered_input(b, h, b->eb) : 0;
    snprintf(nm, sizeof nm, "%s.gate_up", pfx);
    gemm(b, (gemm_spec){.name = nm, .m = t, .n = up, .k = h, .part = FP8LAB_PART_MLP, .saved_recomputable = in,
                        .gathered = 1});
    if (gated_in_norm) tp_regather(b, h, b->eb);
    snprintf(nm, sizeof nm, "%s.act", pfx);
    act(b, nm, t, f, 0, 1);
    snprintf(nm, sizeof nm, "%s.quant_act", pfx);
    quant(b, nm, t * f, QUANT_REBUILT);
    snprintf(nm, sizeof nm, "%s.down", pfx);
    gemm(b, (gemm_spec){.name = nm, .m = t, .n = h, .k = f, .part = FP8LAB_PART_MLP,
                        .saved_recomputable = t * f * b->eb});
    if (gated_in_norm) {
        tp_exit(b);
        residual(b);
    }
}

static void moe_block(bld *b) {
    const fp8lab_model *m = b->m;
    const fp8lab_sched_opts *o = b->o;
    double t = b->t, h = b->h, E = (double)m->n_routed, k = (double)m->topk, ep = o->ep;
    norm(b, "moe.norm", h, b->ts);
    tp_enter(b);
    /* the gate stays in BF16/FP32 under FP8 training (DeepSeek-V3 sec. 3.3) */
    gemm(b, (gemm_spec){.name = "moe.router", .m = t, .n = E, .k = h, .part = FP8LAB_PART_ROUTER, .high = 1,
                        .gathered = 1, .saved_recomputable = gathered_input(b, h, ACT)});
    elt(b, (elt_spec){.name = "moe.router_topk", .bytes = t * E * 4 * 2, .bwd_bytes = t * E * 4 * 2, .saved = t * E * 4});
    quant(b, "moe.quant_x", t * h, QUANT_REBUILT);
    if (m->n_shared) mlp_block(b, "moe.shared", (double)(m->n_shared * m->moe_ffn), 0);
    /* the router's BF16 shard and, in an FP8 run, the shared experts' FP8 one, in one collective */
    tp_regather(b, h, ACT + (m->n_shared && b->gp == FP8LAB_PREC_FP8 ? b->eb : 0));
    /* dispatch in FP8 with 1x128 scales when training in FP8, combine in BF16 (DeepSeek-V3 sec. 3.3.4) */
    double disp = b->gp == FP8LAB_PREC_FP8 ? h * (1 + 4.0 / 128) : h * ACT;
    elt(b, (elt_spec){.name = "moe.permute", .bytes = 2 * t * k * disp, .bwd_bytes = 2 * t * k * h * ACT});
    comm(b, (comm_spec){.name = "moe.dispatch", .fwd = FP8LAB_COLL_ALLTOALL, .bwd = FP8LAB_COLL_ALLTOALL,
                        .group = FP8LAB_GROUP_EP, .bytes = t * disp, .bwd_bytes = t * h * ACT});
    /* node-limited routing: n_group groups of experts, tokens reach at most topk_group of them */
    int node_limit = m->n_group > 1 ? (int)m->topk_group : 0;
    if (b->fail) return;
    b->f->ops[b->f->n - 1].topk = (int)k;
    b->f->ops[b->f->n - 1].node_limit = node_limit;
    double local = E / ep, te = t * k / local; /* experts on this rank, tokens per local expert */
    double f = (double)m->moe_ffn / b->tp, up = m->gated_mlp ? 2 * f : f;
    gemm(b, (gemm_spec){.name = "moe.experts.gate_up", .m = te, .n = up, .k = h, .part = FP8LAB_PART_MLP,
                        .saved = te * h * b->eb * local, .moe = 1, .count = local});
    act(b, "moe.experts.act", te, f, 1, local);
    quant(b, "moe.experts.quant_act", te * f * local, QUANT_REBUILT);
    gemm(b, (gemm_spec){.name = "moe.experts.down", .m = te, .n = h, .k = f, .part = FP8LAB_PART_MLP,
                        .saved_recomputable = te * f * b->eb * local, .moe = 1, .count = local});
    comm(b, (comm_spec){.name = "moe.combine", .fwd = FP8LAB_COLL_ALLTOALL, .bwd = FP8LAB_COLL_ALLTOALL,
                        .group = FP8LAB_GROUP_EP, .bytes = t * h * ACT, .bwd_bytes = t * disp});
    if (b->fail) return;
    b->f->ops[b->f->n - 1].topk = (int)k;
    b->f->ops[b->f->n - 1].node_limit = node_limit;
    /* weighted sum of the top-k expert outputs. Only the gate weights are kept: the gate's gradient
       dL/dg_i = <dL/dy, W_down h_i> = <W_down^T dL/dy, h_i> comes from the down projection's Dgrad and its
       input h_i, which are at hand in the expert backward anyway, so the top-k outputs (t*k*h, 470 MB per
       DeepSeek-V3 layer and micro-batch) need not be stored. */
    elt(b, (elt_spec){.name = "moe.unpermute_combine", .bytes = t * k * h * ACT + t * h * ACT,
                      .bwd_bytes = 2 * t * k * h * ACT, .saved = t * k * 4});
    tp_exit(b);
    residual(b);
}

/* HBM bytes per logit (per vocabulary entry on this rank and token) of each cross-entropy implementation,
   read + written, forward and backward, and kept between them. */
typedef struct {
    double fwd, bwd, saved;
} loss_bytes;

static loss_bytes cross_entropy_bytes(fp8lab_loss loss) {
    switch (loss) {
    /* Megatron-LM's _VocabParallelCrossEntropy, the same passes in 2021 (megatron/mpu/cross_entropy.py) and in
       Megatron-Core r0.8 (core/tensor_parallel/cross_entropy.py) without --cross-entropy-loss-fusion: forward
       .float() r2 w4, max r4, in-place subtract r4 w4, exp r4 w4, sum r4, in-place divide r4 w4 (38);
       backward in-place multiply r4 w4, the cast's backward r4 w2 (14); the FP32 softmax is kept */
    case FP8LAB_LOSS_MEGATRON: return (loss_bytes){.fwd = 38, .bwd = 14, .saved = 4};
    /* F.cross_entropy(logits.float(), labels), torchtitan's loss: forward .float() r2 w4, log_softmax over a
       row too wide for shared memory r4 (max) r4 (sum) r4 w4 (22); backward nll_loss's zero-filled gradient w4,
       log_softmax's backward r4 (sum) r4 r4 w4, the cast's backward r4 w2 (26); the FP32 log-probabilities kept */
    case FP8LAB_LOSS_TORCH: return (loss_bytes){.fwd = 22, .bwd = 26, .saved = 4};
    /* fused softmax cross-entropy: read the logits, write their gradient; the logits kept for the backward */
    default: return (loss_bytes){.fwd = 2 * ACT, .bwd = 2 * ACT, .saved = ACT};
    }
}

static void head_block(bld *b) {
    double t = b->t, h = b->h, V = (double)b->m->vocab / b->tp;
    norm(b, "head.norm", h, b->ts);
    tp_enter(b);
    /* the output head stays in BF16/FP32 under FP8 training (DeepSeek-V3 sec. 3.3) */
    gemm(b, (gemm_spec){.name = "head.proj", .m = t, .n = V, .k = h, .part = FP8LAB_PART_HEAD, .high = 1,
                        .gathered = 1, .saved_recomputable = gathered_input(b, h, ACT)});
    tp_regather(b, h, ACT);
    loss_bytes lb = cross_entropy_bytes(b->o->loss);
    elt(b, (elt_spec){.name = "head.loss", .bytes = t * V * lb.fwd, .bwd_bytes = t * V * lb.bwd, .saved = t * V * lb.saved});
}

static void embed_block(bld *b) {
    double t = b->t, h = b->h;
    /* gather rows; backward scatter-adds into the FP32 gradient (read dy, read+write the grad rows) */
    elt(b, (elt_spec){.name = "embed.lookup", .bytes = 2 * t * h * ACT / b->tp, .bwd_bytes = t * h * (ACT + 8) / b->tp,
                      .saved = t * 4});
    if (b->m->learned_pos) elt(b, (elt_spec){.name = "embed.pos_add", .bytes = 3 * b->ts * b->h * ACT});
    tp_exit(b); /* vocab-parallel embedding: partial rows are summed across TP */
}

/* DeepSeek-V3 sec. 2.2: embed the next token (shared embedding), norm both streams, concatenate, project
   2h -> h, one transformer block, then the shared output head and its loss */
static void mtp_block(bld *b) {
    double t = b->t, h = b->h;
    b->part = FP8LAB_PART_MTP;
    elt(b, (elt_spec){.name = "mtp.embed", .bytes = 2 * t * h * ACT, .bwd_bytes = t * h * (ACT + 8), .saved = t * 4});
    norm(b, "mtp.enorm", h, b->ts);
    norm(b, "mtp.hnorm", h, b->ts);
    tp_enter(b);
    quant(b, "mtp.quant_cat", t * 2 * h, QUANT_KEPT); /* mtp.eh_proj keeps it */
    gemm(b, (gemm_spec){.name = "mtp.eh_proj", .m = t, .n = h / b->tp, .k = 2 * h, .part = FP8LAB_PART_MTP,
                        .gathered = 1, .saved = gathered_input(b, 2 * h, b->eb)});
    tp_regather(b, 2 * h, b->eb);
    tp_exit(b);
    if (b->m->mla) mla_block(b);
    else mha_block(b);
    if (b->m->n_routed) moe_block(b);
    else mlp_block(b, "mlp", (double)b->m->ffn, 1);
    head_block(b);
}

static fp8lab_op *copy_op(fp8lab_schedule *s, const fp8lab_op *src, fp8lab_pass pass, int *fail) {
    fp8lab_op *op = push(s, fail);
    if (!op) return NULL;
    *op = *src;
    op->pass = pass;
    op->saved = op->saved_recomputable = 0;
    return op;
}

static void forward_ops(bld *b, fp8lab_layer_kind kind) {
    const fp8lab_model *m = b->m;
    switch (kind) {
    case FP8LAB_LAYER_EMBED: embed_block(b); break;
    case FP8LAB_LAYER_DENSE:
    case FP8LAB_LAYER_MOE:
        if (m->mla) mla_block(b);
        else mha_block(b);
        if (kind == FP8LAB_LAYER_MOE && m->n_routed) moe_block(b);
        else mlp_block(b, "mlp", (double)m->ffn, 1);
        break;
    case FP8LAB_LAYER_HEAD: head_block(b); break;
    case FP8LAB_LAYER_MTP: mtp_block(b); break;
    default: break;
    }
}

/* A GEMM's backward: in an FP8 run the cast (and transpose) of dY first, then Dgrad dX[m][k] = dY[m][n] W[n][k]
   and Wgrad dW[n][k] = dY^T[n][m] X[m][k]. */
static void gemm_backward(fp8lab_schedule *s, const fp8lab_op *f, int *fail) {
    fp8lab_op *op;
    if (f->dtype == FP8LAB_PREC_FP8) {
        if (!(op = copy_op(s, f, FP8LAB_PASS_B, fail))) return;
        snprintf(op->name, sizeof op->name, "%.30s.quant_dy", f->name);
        op->kind = FP8LAB_OP_ELTWISE;
        op->bytes = f->m * f->n * (2 + 1 + 1 + 8.0 / 128) * f->count;
        op->flops = 0;
        op->part = FP8LAB_PART_OTHER;
    }
    if (!(op = copy_op(s, f, FP8LAB_PASS_B, fail))) return;
    snprintf(op->name, sizeof op->name, "%.32s.dgrad", f->name);
    op->m = f->m, op->n = f->k, op->k = f->n;
    if (!(op = copy_op(s, f, FP8LAB_PASS_W, fail))) return;
    snprintf(op->name, sizeof op->name, "%.32s.wgrad", f->name);
    op->m = f->n, op->n = f->k, op->k = f->m;
}

/* The backward of any other op: FlashAttention's (5 matmuls to the forward's 2), an element-wise op's backward
   bytes, a collective's conjugate; nothing where the op has no backward. */
static void other_backward(fp8lab_schedule *s, const fp8lab_op *f, int *fail) {
    if ((f->kind == FP8LAB_OP_ELTWISE && f->bwd_bytes <= 0) ||
        (f->kind == FP8LAB_OP_COMM && f->bwd_coll == FP8LAB_COLL_NONE))
        return;
    fp8lab_op *op = copy_op(s, f, FP8LAB_PASS_B, fail);
    if (!op) return;
    snprintf(op->name, sizeof op->name, "%.34s.bwd", f->name);
    if (f->kind == FP8LAB_OP_ATTN) op->flops = 2.5 * f->flops;
    else if (f->kind == FP8LAB_OP_ELTWISE) op->bytes = f->bwd_bytes;
    else op->coll = f->bwd_coll, op->bytes = f->bwd_bytes;
}

/* A layer's ops in order: the forward, what the recompute policy re-runs (inside the backward), then the
   backward of every forward op in reverse. */
int fp8lab_schedule_layer(fp8lab_schedule *s, const fp8lab_model *m, const fp8lab_sched_opts *o,
                          fp8lab_layer_kind kind) {
    fp8lab_schedule fwd = {0};
    bld b = {.f = &fwd, .m = m, .o = o, .h = (double)m->hidden, .tp = o->tp > 0 ? o->tp : 1, .gp = o->prec,
             .part = FP8LAB_NPARTS};
    b.t = (double)o->micro_batch * (double)o->seq;
    b.ts = o->sp && b.tp > 1 ? b.t / b.tp : b.t;
    b.eb = o->prec == FP8LAB_PREC_FP8 ? 1 : o->prec == FP8LAB_PREC_FP32 ? 4 : 2;
    forward_ops(&b, kind);
    int fail = b.fail;
    for (int i = 0; i < fwd.n && !fail; i++) {
        fp8lab_op *op = push(s, &fail);
        if (op) *op = fwd.ops[i];
    }
    if (o->recompute != FP8LAB_RECOMPUTE_NONE && kind != FP8LAB_LAYER_EMBED)
        for (int i = 0; i < fwd.n && !fail; i++)
            if (o->recompute == FP8LAB_RECOMPUTE_FULL || fwd.ops[i].cheap) copy_op(s, &fwd.ops[i], FP8LAB_PASS_R, &fail);
    for (int i = fwd.n - 1; i >= 0 && !fail; i--) {
        if (fwd.ops[i].kind == FP8LAB_OP_GEMM) gemm_backward(s, &fwd.ops[i], &fail);
        else other_backward(s, &fwd.ops[i], &fail);
    }
    free(fwd.ops);
    return fail ? -1 : 0;
}

void fp8lab_schedule_free(fp8lab_schedule *s) {
    free(s->ops);
    s->ops = NULL;
    s->n = s->cap = 0;
}

const char *fp8lab_layer_kind_name(fp8lab_layer_kind k) {
    static const char *n[] = {"embed", "dense", "moe", "head", "mtp"};
    return (unsigned)k < FP8LAB_NLAYER_KINDS ? n[k] : "?";
}

const char *fp8lab_pass_name(fp8lab_pass p) {
    static const char *n[] = {"F", "B", "W", "R"};
    return (unsigned)p < 4 ? n[p] : "?";
}

/* Activation memory per layer against Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
   Transformer Models", sec. 4), s = sequence, b = micro-batch, h = hidden, a = heads, t = TP degree, 2-byte
   activations. The paper's GPT layer keeps, with dropout and without FlashAttention:
     attention 11sbh + 5as^2b: QKV input 2, Q and K 4, softmax output 2as^2b, its dropout mask as^2b, the
       dropout output 2as^2b and V 2, output-projection input 2, dropout mask 1;
     MLP 19sbh: first-linear input 2, GeLU input 8, second-linear input 8, dropout mask 1;
     two LayerNorm inputs 4sbh;
   total sbh(34 + 5as/h). fp8lab's layer has no dropout (both sbh masks and the as^2b mask go) and uses
   FlashAttention, which keeps O and a log-sum-exp instead of the S^2 tensors (O is the output-projection input,
   counted once), so
     no parallelism            sbh * 32                        (+ 4sab bytes of FP32 log-sum-exp)
     TP t                      sbh * (8 + 24/t)                (LayerNorm inputs 4, QKV input 2, MLP input 2 stay
                                                                whole; Q, K, V, O, GeLU in/out split by t)
     TP t + sequence parallel  sbh * 32/t                      (sec. 4.2.2: the LayerNorm inputs are sequence-
                                                                split and the QKV and MLP inputs are kept as the
                                                                local shard and all-gathered again in backward)
   With FlashAttention the paper's selective recompute (the S^2 part only) recomputes nothing more, so its
   Table 2 row sbh(34/t) becomes sbh * 32/t. fp8lab's `selective` goes further (DeepSeek-V3 sec. 3.2.3): it
   also re-runs the norms and the activation function, dropping the QKV input 2, MLP input 2 and second-
   linear input 8: sbh * 20/t with SP. `full` keeps the layer input only, 2sbh (2sbh/t with SP).
   tests/test_sim_memory.c checks these rows. */
double fp8lab_schedule_saved_bytes(const fp8lab_schedule *s, const fp8lab_model *m, const fp8lab_sched_opts *o,
                                   fp8lab_layer_kind kind) {
    if (o->recompute == FP8LAB_RECOMPUTE_FULL && kind != FP8LAB_LAYER_EMBED) {
        /* only the layer input survives (Korthikanti et al. 2022, "full recomputation": 2sbh bytes) */
        double tokens = (double)o->micro_batch * (double)o->seq;
        if (o->sp && o->tp > 1) tokens /= o->tp;
        return tokens * (double)m->hidden * ACT * (kind == FP8LAB_LAYER_MTP ? 2 : 1);
    }
    double sum = 0;
    for (int i = 0; i < s->n; i++)
        if (s->ops[i].pass == FP8LAB_PASS_F)
            sum += s->ops[i].saved + (o->recompute == FP8LAB_RECOMPUTE_NONE ? s->ops[i].saved_recomputable : 0);
    return sum;
}
