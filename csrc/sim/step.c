#include "sim/step.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"
#include "sim/collectives.h"
#include "sim/moe_load.h"
#include "sim/timeline.h"

void fp8lab_plan_default(fp8lab_plan *p) {
    memset(p, 0, sizeof *p);
    p->tp = p->pp = p->ep = 1;
    p->micro_batch = 1;
    p->prec = FP8LAB_PREC_BF16;
    p->schedule = FP8LAB_PP_1F1B;
    p->vchunks = 1;
    p->recompute = FP8LAB_RECOMPUTE_NONE;
    p->mtp = 1;
    p->goodput = 1;
    p->tp_overlap = FP8LAB_TP_OVERLAP_WGRAD;
}

/* what one layer (unit) costs per micro-batch on the rank that holds it */
typedef struct {
    double f, b, w;                 /* compute by pass; recomputation is part of b */
    double gemm, attn, elt, rec, moe_extra;
    double tp_f, tp_b, ep_f, ep_b;  /* exposed communication */
    double tp_hidden;               /* TP communication run beside a GEMM */
    double cost, exposed;           /* what the stage partition balances per micro-batch, and its exposed comm */
    double pd, pe;                  /* parameters held: dense, routed-expert */
    double act;                     /* activation bytes kept per micro-batch */
    int mtp;
} unit_t;

typedef struct {
    const fp8lab_model *m;
    const fp8lab_cluster *c;
    const fp8lab_kernel_model *km;
    fp8lab_links links;
    fp8lab_comm_model comm; /* links' speed from the SMs given to communication (collectives.h) */
    int sms, tp, g_tp, ep, g_ep;
    double imb, tokens;
    double gather_params; /* ZeRO-3: the largest layer's parameters on a GPU, gathered whole at a time */
    const fp8lab_plan *P;
} ctx_t;

/* Attention as Megatron-LM ran it before FlashAttention (plan.attn_impl FP8LAB_ATTN_UNFUSED; Megatron-LM's CoreAttention:
   baddbmm for Q K^T, the fused scale-mask-softmax kernel, dropout, bmm with V), as Korthikanti et al. 2022
   sec. 4.1 describe its tensors: the s^2 scores of every head go through HBM. Per micro-batch and rank, n = b
   a/t heads of s x s scores (the causal mask does not skip the masked half):
     forward   Q K^T [s x s x d] and P V [s x d x s] batched GEMMs (the GEMM model, count n), softmax (read 2,
               write 2 bytes per score) and dropout (read 2, write 2, mask 1): 9 bytes per score;
     backward  4 batched GEMMs (dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q), dropout backward (read 2,
               mask 1, write 2) and softmax backward (read the gradient and P, write: 6): 11 bytes per score.
   The GEMMs run in BF16/FP16 whatever the linear layers' precision. */
static double attn_unfused_time(const ctx_t *x, int bwd) {
    const fp8lab_model *m = x->m;
    const fp8lab_gpu *g = &x->c->gpu;
    const double S = (double)x->P->seq, n = (double)x->P->micro_batch * (double)m->heads / x->tp;
    const double dqk = m->mla ? (double)(m->qk_nope + m->qk_rope) : (double)m->head_dim;
    const double dv = m->mla ? (double)m->v_head : (double)m->head_dim;
    const fp8lab_prec p = FP8LAB_PREC_BF16;
#define BMM(mm, nn, kk) \
    fp8lab_gemm_time(x->km, g, &(fp8lab_gemm_call){.m = (mm), .n = (nn), .k = (kk), .prec = p, .sms = x->sms})
    if (!bwd) return n * (BMM(S, S, dqk) + BMM(S, dv, S)) + fp8lab_mem_time(x->km, g, 9 * n * S * S);
    return n * (BMM(S, dv, S) + BMM(S, S, dv) + 2 * BMM(S, dqk, S)) + fp8lab_mem_time(x->km, g, 11 * n * S * S);
#undef BMM
}

static int clampi(long v, long lo, long hi) { return (int)(v < lo ? lo : v > hi ? hi : v); }

/* The group limit of group-limited routing as fp8lab_moe_a2a_time reads it: across nodes, nodes (DeepSeek-V3's
   groups are nodes); inside one node, ranks, which holds only when every group lies on whole ranks, i.e. there are
   at least as many groups as EP ranks (DeepSeek-V2: 8 groups on its 8 EP devices). 0: no limit applied. */
static int routing_limit(const ctx_t *x, const fp8lab_op *op) {
    if (x->ep <= x->g_ep && x->m->n_group < x->ep) return 0;
    return op->node_limit;
}

/* Appends one timed op to the trace (when the caller asked for one); -1 when out of memory. */
static int trace_add(fp8lab_trace *tr, fp8lab_layer_kind kind, const fp8lab_op *op, double t, double boundary) {
    if (!tr) return 0;
    if (tr->n == tr->cap) {
        int cap = tr->cap ? 2 * tr->cap : 256;
        fp8lab_op_trace *o = realloc(tr->ops, sizeof *o * (size_t)cap);
        if (!o) return -1;
        tr->ops = o, tr->cap = cap;
    }
    tr->ops[tr->n++] = (fp8lab_op_trace){.kind = kind, .op = *op, .time_s = t, .boundary_s = boundary};
    return 0;
}

/* A communication op's time, added to the unit's TP or EP traffic of its pass; a backward TP collective beside
   GEMMs (`cover`, their time: overlap_cover; 0 where it runs alone) exposes only what outlasts them. Schedules that
   defer the Wgrad (ZB-H1, DualPipe) run the input-gradient reduction beside the next backward op instead; its cover
   is taken as the same. */
static double comm_time(const ctx_t *x, const fp8lab_op *op, unit_t *u, double cover) {
    const int fwd = op->pass == FP8LAB_PASS_F;
    if (op->group == FP8LAB_GROUP_EP) {
        /* the busiest rank of the EP group receives imb times the mean */
        const fp8lab_a2a a = {.tokens = x->tokens, .bytes_per_token = op->bytes / x->tokens, .topk = op->topk,
                              .ep = x->ep, .g = x->g_ep, .node_limit = routing_limit(x, op)};
        const double t = fp8lab_moe_a2a_time(&x->links, &a) * x->imb;
        *(fwd ? &u->ep_f : &u->ep_b) += t;
        return t;
    }
    const double t = fp8lab_coll_time(&x->links, op->coll, op->bytes, x->tp, x->g_tp);
    const double hidden = t < cover ? t : cover;
    *(fwd ? &u->tp_f : &u->tp_b) += t - hidden;
    u->tp_hidden += hidden;
    return t;
}

/* The attention core's time in the run's implementation. Megatron-LM's selective recompute re-runs exactly the
   unfused core attention in the backward (Korthikanti et al. 2022 sec. 4.3; its S^2 tensors are not kept): that
   re-run is charged to the unit and traced here. */
static int attn_time(const ctx_t *x, const fp8lab_op *op, unit_t *u, fp8lab_layer_kind kind, fp8lab_trace *tr,
                     double *t) {
    const int bwd = op->pass == FP8LAB_PASS_B;
    if (x->P->attn_impl != FP8LAB_ATTN_UNFUSED) {
        *t = fp8lab_attn_time(x->km, &x->c->gpu, x->sms, op->flops * op->count, bwd) * x->km->compute_scale;
        /* FlashAttention-2 and cuDNN's fused attention against FlashAttention-3 on the same H100 SXM5, head dim 128,
           causal, seq 4k (Shah et al. 2024, arXiv:2407.08608, Fig. 5 forward 319 and 518 vs 579 TFLOP/s, Fig. 6
           backward 310 and 499 vs 542): the kernel model's FlashAttention-3 time scaled by that ratio */
        if (x->P->attn_impl == FP8LAB_ATTN_FLASH2) *t *= bwd ? 542.0 / 310 : 579.0 / 319;
        if (x->P->attn_impl == FP8LAB_ATTN_CUDNN) *t *= bwd ? 542.0 / 499 : 579.0 / 518;
        return 0;
    }
    *t = attn_unfused_time(x, bwd) * x->km->compute_scale;
    if (op->pass != FP8LAB_PASS_F || x->P->recompute != FP8LAB_RECOMPUTE_SELECTIVE) return 0;
    const double rt = *t + x->km->kernel_gap_s;
    u->attn += rt, u->rec += rt, u->b += rt;
    fp8lab_op rop = *op;
    rop.pass = FP8LAB_PASS_R;
    snprintf(rop.name, sizeof rop.name, "%.28s.recompute", op->name);
    return trace_add(tr, kind, &rop, rt, x->km->kernel_gap_s);
}

/* Transformer Engine's userbuffer overlap (plan.tp_overlap FP8LAB_TP_OVERLAP_UB), as TE's initialize_ub sets it up
   by default (transformer_engine/pytorch/module/base.py at v1.8): "ring_exchange" for the all-gathers before
   qkv_fprop, fc1_fprop, proj_dgrad and fc2_dgrad, "pipeline" with 4 splits for the reduce-scatters after
   proj_fprop and fc2_fprop, 16 SMs for the communication kernels; the rest ("bulk": the input-gradient
   reduce-scatter beside the Wgrad) as FP8LAB_TP_OVERLAP_WGRAD. */
enum { UB_COMM_SMS = 16, UB_PIPELINE_SPLITS = 4 };

/* A GEMM of Transformer Engine's linear layers: the attention projections and the dense MLP (the output head is
   Megatron's own ColumnParallelLinear, the routed experts a grouped GEMM) */
static int ub_linear(const fp8lab_op *g, fp8lab_pass pass) {
    return g->kind == FP8LAB_OP_GEMM && g->pass == pass && !g->moe &&
           (g->part == FP8LAB_PART_ATTN_PROJ || g->part == FP8LAB_PART_MLP);
}

/* The GEMM a tensor-parallel collective overlaps under userbuffers, or -1: an all-gather with the forward or Dgrad
   GEMM after it, a forward reduce-scatter with the forward GEMM before it. */
static int ub_gemm_of(const ctx_t *x, const fp8lab_schedule *s, int i) {
    const fp8lab_op *op = &s->ops[i];
    if (x->P->tp_overlap != FP8LAB_TP_OVERLAP_UB || x->tp < 2 || op->kind != FP8LAB_OP_COMM ||
        op->group != FP8LAB_GROUP_TP || op->beside_dgrad)
        return -1;
    if (op->coll == FP8LAB_COLL_ALLGATHER && i + 1 < s->n &&
        (ub_linear(&s->ops[i + 1], FP8LAB_PASS_F) || ub_linear(&s->ops[i + 1], FP8LAB_PASS_B)))
        return i + 1;
    if (op->coll == FP8LAB_COLL_REDUCESCATTER && op->pass == FP8LAB_PASS_F && i > 0 &&
        ub_linear(&s->ops[i - 1], FP8LAB_PASS_F))
        return i - 1;
    return -1;
}

/* The collective a GEMM is overlapped with under userbuffers, or -1 */
static int ub_comm_of(const ctx_t *x, const fp8lab_schedule *s, int j) {
    if (j > 0 && ub_gemm_of(x, s, j - 1) == j) return j - 1;
    if (j + 1 < s->n && ub_gemm_of(x, s, j + 1) == j) return j + 1;
    return -1;
}

typedef struct {
    double comm;    /* the collective's time */
    double gemm;    /* the GEMM run as chunks */
    double exposed; /* the collective's time the chunks do not cover */
} ub_pair;

/* A ring exchange runs the GEMM as tp chunks of m/tp rows on every SM, each chunk beside the copy-engine transfer
   of the next (tp - 1 steps of C/(tp - 1)): g + (tp - 1) max(g, c). A pipelined reduce-scatter runs the GEMM as 4
   splits of m/4 rows on the SMs the communication kernels leave, each split's reduce-scatter (C/4) beside the next
   split: g + 3 max(g, r) + r. Each chunk is timed by the kernel model at its own shape, as every GEMM is: at tp 8
   a chunk's output is often less than one wave of tiles, where the model has no measured point and its wave term
   leaves the idle SMs idle (cuBLAS may split K there instead; gpu_check.sh's bench_gemm_small measures the chunk
   shapes of the Megatron-Core rows). */
static ub_pair ub_time(const ctx_t *x, const fp8lab_op *comm, const fp8lab_op *gemm) {
    const double C = fp8lab_coll_time(&x->links, comm->coll, comm->bytes, x->tp, x->g_tp);
    const int ring = comm->coll == FP8LAB_COLL_ALLGATHER;
    const double n = ring ? x->tp : UB_PIPELINE_SPLITS;
    const int sms = ring || x->sms <= UB_COMM_SMS ? x->sms : x->sms - UB_COMM_SMS;
    const fp8lab_gemm_call chunk = {.m = gemm->m / n, .n = gemm->n, .k = gemm->k, .prec = gemm->dtype, .sms = sms};
    const double g = fp8lab_gemm_time(x->km, &x->c->gpu, &chunk) * gemm->count * x->km->compute_scale;
    const double c = ring ? C / (x->tp - 1) : C / n;
    const double pair = ring ? g + (n - 1) * fmax(g, c) : g + (n - 1) * fmax(g, c) + c;
    return (ub_pair){.comm = C, .gemm = n * g, .exposed = fmin(C, pair - n * g)};
}

/* The pair of collective `c` and its GEMM, computed once for both ops (cache->at: the collective it is for) */
typedef struct {
    int at;
    ub_pair p;
} ub_cache;

static const ub_pair *ub_pair_of(const ctx_t *x, const fp8lab_schedule *s, int c, int g, ub_cache *cache) {
    if (cache->at != c) cache->at = c, cache->p = ub_time(x, &s->ops[c], &s->ops[g]);
    return &cache->p;
}

/* A collective overlapped under userbuffers: its time, the part its GEMM's chunks do not cover added to the unit */
static double ub_comm_time(const fp8lab_op *op, const ub_pair *p, unit_t *u) {
    *(op->pass == FP8LAB_PASS_F ? &u->tp_f : &u->tp_b) += p->exposed;
    u->tp_hidden += p->comm - p->exposed;
    return p->comm;
}

/* A GEMM op's time, all its instances at the mean expert load (under userbuffers the chunks of its pair) */
static double gemm_op_time(const ctx_t *x, const fp8lab_schedule *s, int i, ub_cache *ub) {
    const fp8lab_op *op = &s->ops[i];
    const int c = ub_comm_of(x, s, i);
    if (c >= 0) return ub_pair_of(x, s, c, i, ub)->gemm;
    const fp8lab_gemm_call call = {.m = op->m, .n = op->n, .k = op->k, .prec = op->dtype, .sms = x->sms,
                                   .wgrad = op->pass == FP8LAB_PASS_W};
    return fp8lab_gemm_time(x->km, &x->c->gpu, &call) * op->count * x->km->compute_scale;
}

/* The GEMM time a backward TP collective hides under (0 with plan.tp_overlap none): the input-gradient reduction
   beside the Wgrad just before it (last_w); the sequence-parallel re-gather beside the Dgrads of the GEMMs that
   read the gathered input, up to the region's next collective (a fused QKV's Dgrad where q, k and v are listed
   apart). */
static double overlap_cover(const ctx_t *x, const fp8lab_schedule *s, int i, double last_w, ub_cache *ub) {
    const fp8lab_op *op = &s->ops[i];
    if (op->pass != FP8LAB_PASS_B || x->P->tp_overlap == FP8LAB_TP_OVERLAP_NONE) return 0;
    if (op->beside_wgrad) return last_w;
    double cover = 0;
    for (int j = i + 1; op->beside_dgrad && j < s->n && s->ops[j].kind != FP8LAB_OP_COMM; j++)
        if (s->ops[j].kind == FP8LAB_OP_GEMM && s->ops[j].pass == FP8LAB_PASS_B && s->ops[j].reads_gathered)
            cover += gemm_op_time(x, s, j, ub) * (s->ops[j].moe ? x->imb : 1);
    return cover;
}

/* A compute op's time on the unit's pass totals (recomputation runs inside the backward). */
static void add_to_pass(unit_t *u, fp8lab_pass pass, double t) {
    switch (pass) {
    case FP8LAB_PASS_F: u->f += t; break;
    case FP8LAB_PASS_W: u->w += t; break;
    case FP8LAB_PASS_R:
        u->rec += t;
        u->b += t;
        break;
    case FP8LAB_PASS_B: u->b += t; break;
    }
}

/* Every op of a layer kind's schedule timed into its unit (MoE ops at the busiest expert's load), and traced. A
   compute op is at least one kernel: its time includes one kernel boundary (kernel_model.h kernel_gap_s). */
static int time_schedule(const ctx_t *x, const fp8lab_schedule *s, unit_t *u, fp8lab_layer_kind kind,
                         fp8lab_trace *tr) {
    const fp8lab_gpu *g = &x->c->gpu;
    double last_w = 0; /* the latest Wgrad GEMM's time */
    ub_cache ub = {.at = -1};
    for (int i = 0; i < s->n; i++) {
        const fp8lab_op *op = &s->ops[i];
        const double scale = op->moe ? x->imb : 1;
        double t = 0;
        switch (op->kind) {
        case FP8LAB_OP_COMM: {
            const int j = ub_gemm_of(x, s, i);
            t = j >= 0 ? ub_comm_time(op, ub_pair_of(x, s, i, j, &ub), u)
                       : comm_time(x, op, u, overlap_cover(x, s, i, last_w, &ub));
            if (trace_add(tr, kind, op, t, 0)) return -1;
            last_w = 0;
            continue;
        }
        case FP8LAB_OP_GEMM: {
            t = gemm_op_time(x, s, i, &ub);
            if (op->pass == FP8LAB_PASS_W) last_w = t * scale;
            break;
        }
        case FP8LAB_OP_ATTN:
            if (attn_time(x, op, u, kind, tr, &t)) return -1;
            break;
        case FP8LAB_OP_ELTWISE: t = fp8lab_mem_time(x->km, g, op->bytes) * x->km->compute_scale; break;
        }
        u->moe_extra += t * (scale - 1);
        t = t * scale + x->km->kernel_gap_s;
        *(op->kind == FP8LAB_OP_GEMM ? &u->gemm : op->kind == FP8LAB_OP_ATTN ? &u->attn : &u->elt) += t;
        if (trace_add(tr, kind, op, t, x->km->kernel_gap_s)) return -1;
        add_to_pass(u, op->pass, t);
    }
    return 0;
}

static int plan_error(const char *flag, const char *msg) {
    FP8LAB_ERR("%s: %s", flag, msg);
    return -1;
}

/* resolves defaults and rejects impossible layouts, naming the flag */
/* The default global batch, dp x micro-batch x (4 pp when pipelined), or -1 past the flag's range. */
static long default_global_batch(const fp8lab_plan *p) {
    int64_t v;
    if (fp8lab_mul_i64(p->dp, p->micro_batch, &v) || fp8lab_mul_i64(v, p->pp > 1 ? 4L * p->pp : 1, &v) ||
        v > FP8LAB_MAX_GLOBAL_BATCH)
        return -1;
    return (long)v;
}

/* dp from the GPU count (dp 0) and the check that tp x pp x dp is that count */
static int resolve_dp(fp8lab_plan *p) {
    const long tp_pp = (long)p->tp * p->pp; /* <= 2^22 by the plan's ranges */
    if (p->dp == 0) {
        if (p->gpus % tp_pp) {
            FP8LAB_ERR("--gpus: %ld GPUs do not split into tp %d x pp %d", p->gpus, p->tp, p->pp);
            return -1;
        }
        p->dp = (int)(p->gpus / tp_pp);
    }
    int64_t n;
    if (fp8lab_mul_i64(tp_pp, p->dp, &n) || n != p->gpus) {
        FP8LAB_ERR("--dp: tp %d x pp %d x dp %d is not the %ld GPUs", p->tp, p->pp, p->dp, p->gpus);
        return -1;
    }
    return 0;
}

/* DualPipe with one stage is plain data parallelism: the same as 1F1B (and one copy of the weights). With
   fewer than 2 pp micro-batches DualPipe cannot run (DeepSeek's reference implementation asserts
   num_chunks >= 2 num_ranks): refused, or run as 1F1B where the plan asks for that fallback. */
static int resolve_dualpipe(fp8lab_plan *p, long mb) {
    if (p->schedule != FP8LAB_PP_DUALPIPE) return 0;
    if (p->pp == 1) {
        p->schedule = FP8LAB_PP_1F1B;
        return 0;
    }
    if (p->pp % 2 || mb % 2) {
        FP8LAB_ERR("--schedule: dualpipe needs an even pp (%d) and an even number of micro-batches (%ld)", p->pp, mb);
        return -1;
    }
    long need = fp8lab_timeline_min_microbatches(FP8LAB_PP_DUALPIPE, p->pp);
    if (mb >= need) return 0;
    if (p->dualpipe_fallback) {
        p->schedule = FP8LAB_PP_1F1B;
        return 0;
    }
    FP8LAB_ERR("--schedule dualpipe: %ld micro-batches per step is fewer than 2 x pp = %ld (DualPipe feeds at least "
               "pp micro-batches from each end); raise --global-batch or use --schedule 1f1b",
               mb, need);
    return -1;
}

/* resolves defaults and rejects impossible layouts, naming the flag */
static int resolve(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_plan *in, fp8lab_plan *p) {
    *p = *in;
    if (fp8lab_plan_check(p)) return -1;
    if (p->gpus == 0) p->gpus = c->num_gpus;
    if (resolve_dp(p)) return -1;
    if (p->tp > c->gpus_per_node) {
        FP8LAB_ERR("--tp: %d is more than the cluster's %d GPUs per node (tensor parallelism beyond one node is "
                   "not modeled)",
                   p->tp, c->gpus_per_node);
        return -1;
    }
    if (m->heads % p->tp) {
        FP8LAB_ERR("--tp: %d does not divide the %ld attention heads", p->tp, m->heads);
        return -1;
    }
    if (p->tp_overlap == FP8LAB_TP_OVERLAP_UB && p->tp > 1 && !p->sp)
        return plan_error("--tp-overlap", "userbuffers overlap needs --sequence-parallel (as Megatron-Core's "
                                          "--tp-comm-overlap does)");
    if (p->ep > 1 && !m->n_routed) return plan_error("--ep", "the model has no experts");
    if (p->ep > 1 && (p->dp % p->ep || m->n_routed % p->ep)) {
        FP8LAB_ERR("--ep: %d must divide dp %d and the %ld routed experts", p->ep, p->dp, m->n_routed);
        return -1;
    }
    if (p->seq == 0) p->seq = m->max_pos < 4096 ? m->max_pos : 4096;
    /* learned position embeddings (GPT-2's wpe) end at n_positions; rotary ones (Llama, DeepSeek) extrapolate */
    if (m->learned_pos && p->seq > m->max_pos) {
        FP8LAB_ERR("--seq: %ld exceeds the model's n_positions %ld (learned position embeddings)", p->seq, m->max_pos);
        return -1;
    }
    if (p->global_batch == 0 && (p->global_batch = default_global_batch(p)) < 0) {
        FP8LAB_ERR("--global-batch: the default dp %d x micro-batch %ld x %d is more than %ld sequences; set "
                   "--global-batch",
                   p->dp, p->micro_batch, p->pp > 1 ? 4 * p->pp : 1, FP8LAB_MAX_GLOBAL_BATCH);
        return -1;
    }
    /* dp x micro-batch <= 2^40: no overflow */
    if (p->global_batch % ((long)p->dp * p->micro_batch)) {
        FP8LAB_ERR("--global-batch: %ld sequences do not split into dp %d x micro-batch %ld", p->global_batch, p->dp,
                   p->micro_batch);
        return -1;
    }
    long mb = p->global_batch / ((long)p->dp * p->micro_batch);
    if (p->schedule == FP8LAB_PP_INTERLEAVED) {
        if (p->pp > 1 && mb % p->pp) {
            FP8LAB_ERR("--global-batch: interleaved needs micro-batches per step (%ld) to be a multiple of pp %d", mb,
                       p->pp);
            return -1;
        }
    } else {
        p->vchunks = 1;
    }
    if (resolve_dualpipe(p, mb)) return -1;
    if (p->prec == FP8LAB_PREC_FP8 && c->gpu.peak_tflops[FP8LAB_PREC_FP8] <= 0) {
        FP8LAB_ERR("--precision: fp8 is not supported on %s (gpu.peak_tflops.fp8 is 0)", c->gpu.name);
        return -1;
    }
    if (p->comm_sms >= c->gpu.sms) {
        FP8LAB_ERR("--comm-sms: %d is not in [0, %d) (the GPU has %d SMs and compute needs one)", p->comm_sms,
                   c->gpu.sms, c->gpu.sms);
        return -1;
    }
    return 0;
}

int fp8lab_simulate(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                    const fp8lab_plan *plan_in, fp8lab_sim_result *r) {
    return fp8lab_simulate_trace(m, c, km, plan_in, r, NULL);
}

/* Times every layer kind's op schedule into kind_unit[]; -1 when out of memory. */
static int time_layer_kinds(const ctx_t *x, const fp8lab_plan *P, int nmtp, unit_t kind_unit[FP8LAB_NLAYER_KINDS],
                            fp8lab_trace *trace) {
    const fp8lab_model *m = x->m;
    fp8lab_sched_opts so = {.micro_batch = P->micro_batch, .seq = P->seq, .tp = P->tp, .sp = P->sp, .ep = P->ep,
                            .prec = P->prec, .recompute = P->recompute, .loss = P->loss};
    memset(kind_unit, 0, sizeof(unit_t) * FP8LAB_NLAYER_KINDS);
    long nmoe = fp8lab_model_moe_layers(m);
    for (int k = 0; k < FP8LAB_NLAYER_KINDS; k++) {
        if ((k == FP8LAB_LAYER_MOE && !nmoe) || (k == FP8LAB_LAYER_DENSE && nmoe == m->layers) ||
            (k == FP8LAB_LAYER_MTP && !nmtp))
            continue;
        fp8lab_schedule s = {0};
        if (fp8lab_schedule_layer(&s, m, &so, (fp8lab_layer_kind)k)) {
            fp8lab_schedule_free(&s);
            FP8LAB_ERR_RT("out of memory building the op schedule");
            return -1;
        }
        unit_t *u = &kind_unit[k];
        if (time_schedule(x, &s, u, (fp8lab_layer_kind)k, trace)) {
            fp8lab_schedule_free(&s);
            FP8LAB_ERR_RT("out of memory tracing the op schedule");
            return -1;
        }
        u->act = fp8lab_schedule_saved_bytes(&s, m, &so, (fp8lab_layer_kind)k);
        fp8lab_schedule_free(&s);
        /* the cost the stage partition balances: DualPipe hides a forward chunk's all-to-all under another
           micro-batch's backward chunk and vice versa (DeepSeek-V3 sec. 3.2.1); other schedules wait for the
           dispatch and combine. The timeline then charges each op what it really exposes. */
        /* no SMs reserved for communication: the all-to-alls run at full speed but in the compute's place */
        if (P->comm_sms == 0) u->tp_f += u->ep_f, u->tp_b += u->ep_b, u->ep_f = u->ep_b = 0;
        double ep = u->ep_f + u->ep_b, comp = u->f + u->b + u->w;
        u->exposed = u->tp_f + u->tp_b + (P->schedule == FP8LAB_PP_DUALPIPE ? (ep > comp ? ep - comp : 0) : ep);
        u->cost = comp + u->exposed;
    }
    return 0;
}

/* Parameters each layer kind holds on one GPU. */
static void unit_params(const fp8lab_model *m, const fp8lab_plan *P, const fp8lab_params *prm, int nmtp,
                        unit_t kind_unit[FP8LAB_NLAYER_KINDS]) {
    double tp = P->tp, nrm = m->bias ? 2.0 * m->hidden : (double)m->hidden;
    kind_unit[FP8LAB_LAYER_EMBED].pd = prm->embed / tp;
    kind_unit[FP8LAB_LAYER_DENSE].pd = (prm->attn_layer + prm->mlp_dense_layer + 2 * nrm) / tp;
    kind_unit[FP8LAB_LAYER_MOE].pd = (prm->attn_layer + 2 * nrm + prm->router_layer + prm->expert * m->n_shared) / tp;
    kind_unit[FP8LAB_LAYER_MOE].pe = prm->expert * (double)m->n_routed / (tp * P->ep);
    /* a tied head still needs its own copy of the embedding on the last stage when pp > 1 */
    double head = m->tied ? (P->pp > 1 ? (double)m->vocab * m->hidden : 0) : prm->head;
    kind_unit[FP8LAB_LAYER_HEAD].pd = (head + nrm) / tp;
    if (nmtp) {
        double routed = m->n_routed ? prm->expert * (double)m->n_routed : 0;
        kind_unit[FP8LAB_LAYER_MTP].pd = (prm->mtp / (double)m->mtp_layers - routed) / tp;
        kind_unit[FP8LAB_LAYER_MTP].pe = routed / (tp * P->ep);
        kind_unit[FP8LAB_LAYER_MTP].mtp = 1;
    }
}

/* One pipeline stage (model chunk): the sums of its layers per micro-batch. */
typedef struct {
    fp8lab_stage_cost t; /* what the timeline runs */
    double gemm, attn, elt, rec, moe_extra, mtp, tp_ep_comm;
    double pd, pe;
} stage_t;

static void add_unit(stage_t *s, const unit_t *u) {
    s->t.f += u->f, s->t.b += u->b, s->t.w += u->w;
    s->t.tp_f += u->tp_f, s->t.tp_b += u->tp_b, s->t.ep_f += u->ep_f, s->t.ep_b += u->ep_b;
    s->t.act += u->act;
    s->gemm += u->gemm, s->attn += u->attn, s->elt += u->elt, s->rec += u->rec, s->moe_extra += u->moe_extra;
    s->mtp += u->mtp ? u->f + u->b + u->w : 0;
    s->tp_ep_comm += u->tp_f + u->tp_b + u->ep_f + u->ep_b + u->tp_hidden;
    s->pd += u->pd, s->pe += u->pe;
}

/* The layer sequence (embedding, blocks, head, MTP modules on the last stage as DeepSeek-V3), split into
   nstages contiguous stages of balanced cost. Returns the stage array (free()), or NULL with an error. */
static stage_t *build_stages(const fp8lab_model *m, const unit_t kind_unit[FP8LAB_NLAYER_KINDS], int nmtp,
                             int nstages) {
    int n = (int)m->layers + 2 + nmtp;
    unit_t *units = calloc((size_t)n, sizeof *units);
    double *cost = calloc((size_t)n, sizeof *cost);
    int *stage_of = calloc((size_t)n, sizeof *stage_of);
    stage_t *st = calloc((size_t)nstages, sizeof *st);
    if (!units || !cost || !stage_of || !st) {
        free(units), free(cost), free(stage_of), free(st);
        FP8LAB_ERR_RT("out of memory");
        return NULL;
    }
    int u = 0;
    units[u++] = kind_unit[FP8LAB_LAYER_EMBED];
    for (long i = 0; i < m->layers; i++)
        units[u++] = kind_unit[fp8lab_model_is_moe_layer(m, i) ? FP8LAB_LAYER_MOE : FP8LAB_LAYER_DENSE];
    units[u++] = kind_unit[FP8LAB_LAYER_HEAD];
    for (int i = 0; i < nmtp; i++) units[u++] = kind_unit[FP8LAB_LAYER_MTP];
    for (int i = 0; i < n; i++) cost[i] = units[i].cost;
    if (fp8lab_partition(cost, n, nstages, stage_of) < 0) {
        FP8LAB_ERR("--pp: %d pipeline chunks for only %d layers (embedding and head included)", nstages, n);
        free(st);
        st = NULL;
    } else {
        for (int i = 0; i < n; i++) add_unit(&st[stage_of[i]], &units[i]);
    }
    free(units), free(cost), free(stage_of);
    return st;
}

/* What one pipeline rank holds and does per micro-batch, from its stages: weights of every stage it holds; a
   DualPipe rank runs each of its two stages for half of the micro-batches. */
typedef struct {
    double pd, pe; /* parameters */
    double f, bw;  /* forward, whole backward per micro-batch (what overlaps the data-parallel exchange) */
} rank_t;

static void rank_sums(const fp8lab_plan *P, const stage_t *st, rank_t *rk) {
    for (int j = 0; j < P->pp * P->vchunks; j++) {
        int second, r0 = fp8lab_rank_of_chunk(P->schedule, j, P->pp, &second);
        int ranks[2] = {r0, second};
        double wt = second >= 0 ? 0.5 : 1.0;
        for (int i = 0; i < 2; i++) {
            if (ranks[i] < 0) continue;
            rank_t *q = &rk[ranks[i]];
            q->pd += st[j].pd, q->pe += st[j].pe;
            q->f += wt * (st[j].t.f + st[j].t.tp_f + st[j].t.ep_f);
            q->bw += wt * (st[j].t.b + st[j].t.w + st[j].t.tp_b + st[j].t.ep_b);
        }
    }
}

/* After the last backward: the data-parallel gradient exchange's exposed part and the optimizer, per rank. */
typedef struct {
    double dp_comm, dp_exposed, opt;
} rank_tail;

/* How many GPUs of one data-parallel group share a node: of the dense parameters' group (dp ranks) and of the
   routed experts' group (dp / ep ranks). */
typedef struct {
    int dense, expert;
} dp_per_node;

/* One data-parallel collective over a rank's parameters, `bytes` per parameter: the dense ones across dp, the
   routed experts across their own data-parallel group (dp / ep). */
static double dp_coll(const ctx_t *x, const rank_t *q, fp8lab_coll c, double bytes, dp_per_node g) {
    const fp8lab_plan *P = x->P;
    return fp8lab_coll_time(&x->links, c, bytes * q->pd, P->dp, g.dense) +
           fp8lab_coll_time(&x->links, c, bytes * q->pe, P->dp / P->ep, g.expert);
}

/* ZeRO-3 / FSDP (Rajbhandari et al. 2020; PyTorch FSDP): every micro-batch gathers the parameters for its forward,
   again for its backward (freed after the forward), and reduce-scatters the gradients; prefetched layer by layer,
   each hides under its pass's compute and only the excess shows (the first layer's gather is not charged). */
static rank_tail tail_zero3(const ctx_t *x, const rank_t *q, long mb, dp_per_node g, double gb) {
    const fp8lab_plan *P = x->P;
    const int edp = P->dp / P->ep;
    const double t_ag = dp_coll(x, q, FP8LAB_COLL_ALLGATHER, 2, g);
    const double t_rs = dp_coll(x, q, FP8LAB_COLL_REDUCESCATTER, gb, g);
    const double ex_f = t_ag > q->f ? t_ag - q->f : 0, ex_b = t_ag + t_rs > q->bw ? t_ag + t_rs - q->bw : 0;
    const double local = q->pd / P->dp + q->pe / edp;
    /* AdamW on the shard (22 B), the shard's FP32 gradients zeroed (4 B); FP8 casts of the shard (2 in, 2 out) */
    const double obytes = 26.0 * local + (P->prec == FP8LAB_PREC_FP8 ? 4.0 * local : 0);
    return (rank_tail){.dp_comm = (double)mb * (2 * t_ag + t_rs), .dp_exposed = (double)mb * (ex_f + ex_b),
                       .opt = fp8lab_mem_time(x->km, &x->c->gpu, obytes)};
}

static rank_tail tail_of(const ctx_t *x, const rank_t *q, long mb) {
    const fp8lab_plan *P = x->P;
    const int gpn = x->c->gpus_per_node, edp = P->dp / P->ep;
    const dp_per_node g = {.dense = clampi(gpn / P->tp, 1, P->dp),
                           .expert = clampi(gpn / ((long)P->tp * P->ep), 1, edp)};
    fp8lab_coll grad_coll = P->zero ? FP8LAB_COLL_REDUCESCATTER : FP8LAB_COLL_ALLREDUCE;
    /* gradients travel in BF16 (FP32 where the plan says so), gathered parameters in BF16 */
    const double gb = P->grad_fp32 ? 4 : 2;
    if (P->zero >= 3) return tail_zero3(x, q, mb, g, gb);
    double t_grad = dp_coll(x, q, grad_coll, gb, g);
    double t_ag = P->zero ? dp_coll(x, q, FP8LAB_COLL_ALLGATHER, 2, g) : 0;
    /* bucketed reduction overlaps the last micro-batch's backward; the parameter all-gather overlaps the next
       step's first forward (Megatron-LM --overlap-grad-reduce / --overlap-param-gather). Megatron-LM's local DDP
       of 2021-22 (plan.grad_reduce_after) all-reduces the gradient buffer after the whole pipeline
       (megatron/training.py train_step -> optimizer.reduce_model_grads -> DistributedDataParallel.
       allreduce_gradients, after forward_backward_func): nothing hidden. */
    const double hide_b = P->grad_reduce_after ? 0 : q->bw, hide_f = P->grad_reduce_after ? 0 : q->f;
    double dp_exposed = (t_grad > hide_b ? t_grad - hide_b : 0) + (t_ag > hide_f ? t_ag - hide_f : 0);
    double pall = q->pd + q->pe;
    double local = P->zero ? q->pd / P->dp + q->pe / edp : pall;
    /* AdamW on the local shard: read grad 4, read+write master 4+4, m and v 2+2 each way, write BF16 weight 2 =
       22 B; zero the FP32 grads (4 B); under FP8, cast+transpose the weights (2 in, 2 out) */
    double obytes = 22.0 * local + 4.0 * pall + (P->prec == FP8LAB_PREC_FP8 ? 4.0 * pall : 0);
    return (rank_tail){.dp_comm = t_grad + t_ag, .dp_exposed = dp_exposed,
                       .opt = fp8lab_mem_time(x->km, &x->c->gpu, obytes)};
}

/* pipeline point-to-point: one activation (forward) or gradient (backward) across a stage boundary */
static double p2p_time(const ctx_t *x, const fp8lab_plan *P) {
    if (P->pp < 2) return 0;
    double bytes = (P->sp && P->tp > 1 ? x->tokens / P->tp : x->tokens) * (double)x->m->hidden * 2;
    int g_pp = (long)P->tp * P->dp < x->c->gpus_per_node ? 2 : 1;
    return fp8lab_coll_time(&x->links, FP8LAB_COLL_SENDRECV, bytes, 2, g_pp);
}

/* The step from the timeline: each rank ends after its last op, then exposes the rest of its gradient exchange
   and runs the optimizer; the step ends with the last rank (the critical one). Every term is >= 0:
     compute + exposed comm   the average rank's busy time (+ the critical rank's exposed tail)
     stage imbalance          the busiest rank's busy time - the average rank's
     bubble                   the pipeline's makespan - the busiest rank's busy time (its idle time) */
static void assemble(const fp8lab_plan *P, const fp8lab_timeline *tl, const rank_tail *tails, fp8lab_sim_result *r) {
    int p = P->pp, crit = 0;
    double avg_busy = 0, avg_comp = 0, max_busy = 0, step = -1;
    for (int q = 0; q < p; q++) {
        avg_busy += tl->busy_s[q] / p, avg_comp += tl->comp_s[q] / p;
        if (tl->busy_s[q] > max_busy) max_busy = tl->busy_s[q];
        double end = tl->finish_s[q] + tails[q].dp_exposed + tails[q].opt;
        if (end > step) step = end, crit = q;
        if (tails[q].dp_comm > r->dp_comm_s) r->dp_comm_s = tails[q].dp_comm;
    }
    double after = step - tl->makespan_s; /* >= 0: the rank ending last has a tail >= 0 */
    r->optimizer_s = tails[crit].opt < after ? tails[crit].opt : after;
    r->compute_s = avg_comp;
    r->exposed_comm_s = (avg_busy - avg_comp) + (after - r->optimizer_s);
    r->stage_imbalance_s = max_busy - avg_busy;
    r->bubble_s = tl->makespan_s - max_busy;
    r->step_time_s = r->compute_s + r->exposed_comm_s + r->stage_imbalance_s + r->bubble_s + r->optimizer_s;
    r->critical_rank = crit;
}

/* Memory of the fullest rank, each rank with the activations its own schedule keeps at its peak. */
static void fullest_rank_memory(const ctx_t *x, const rank_t *rk, const fp8lab_timeline *tl, fp8lab_sim_result *r) {
    const fp8lab_plan *P = x->P;
    r->mem.total_gb = -1;
    for (int q = 0; q < P->pp; q++) {
        fp8lab_memory mm;
        /* FP8 runs keep W and W^T of every parameter they read in FP8 (2 bytes), as the time model makes them */
        const double held = rk[q].pd + rk[q].pe;
        fp8lab_memory_of(&(fp8lab_memory_in){.params_dense = rk[q].pd, .params_expert = rk[q].pe,
                                             .fp8_params = P->prec == FP8LAB_PREC_FP8 ? held : 0, .dp = P->dp,
                                             .edp = P->dp / P->ep, .zero = P->zero, .act_bytes = tl->peak_act[q],
                                             .gather_params = 2 * x->gather_params, .hbm_gb = x->c->gpu.hbm_gb},
                         &mm);
        if (mm.total_gb <= r->mem.total_gb) continue;
        r->mem = mm, r->memory_rank = q, r->inflight_microbatches = tl->peak_inflight[q];
    }
}

static void throughput(const fp8lab_plan *P, const fp8lab_cluster *c, fp8lab_sim_result *r) {
    r->tokens_per_step = (double)P->global_batch * (double)P->seq;
    r->tokens_per_gpu_s = r->tokens_per_step / (r->step_time_s * (double)P->gpus);
    r->tokens_per_gpu_hour = r->tokens_per_gpu_s * 3600.0;
    r->model_flops_per_token = r->flops.total;
    r->tflops_per_gpu = r->flops.total * r->tokens_per_gpu_s / 1e12;
    r->mfu_bf16 = r->tflops_per_gpu / c->gpu.peak_tflops[FP8LAB_PREC_BF16];
    r->mfu_fp8 = c->gpu.peak_tflops[FP8LAB_PREC_FP8] > 0 ? r->tflops_per_gpu / c->gpu.peak_tflops[FP8LAB_PREC_FP8] : 0;
}

/* The timing context of a resolved plan: links at the SMs given to communication, the rank order's group
   sizes inside a node, and the busiest EP rank's load. */
static int make_ctx(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                    const fp8lab_plan *P, ctx_t *x, fp8lab_sim_result *r) {
    const int gpn = c->gpus_per_node;
    *x = (ctx_t){.m = m, .c = c, .km = km, .sms = c->gpu.sms - P->comm_sms, .tp = P->tp, .ep = P->ep, .P = P};
    fp8lab_links_init(&x->links, c->intra_node_gbps, c->inter_node_gbps_per_gpu);
    fp8lab_comm_model_default(&x->comm);
    fp8lab_links_apply_sms(&x->links, &x->comm, P->comm_sms);
    /* rank order: TP innermost, then data parallel (expert parallel inside it), then PP (Megatron-LM) */
    x->g_tp = clampi(gpn, 1, P->tp);
    x->g_ep = clampi(gpn / P->tp, 1, P->ep);
    x->tokens = (double)P->micro_batch * (double)P->seq;
    if (P->ep <= 1 || P->moe_imbalance > 0) {
        x->imb = P->moe_imbalance > 0 ? P->moe_imbalance : 1.0;
        return 0;
    }
    /* the busiest of the ep ranks, from the per-expert load distribution (sim/moe_load.h): the expected maximum
       over the EP group of the tokens routed to each rank's E/ep experts; skew 0 (a uniform router) is a floor,
       real routers are more skewed */
    fp8lab_moe_load ld;
    const fp8lab_moe_load_in li = {.tokens = x->tokens, .topk = (int)m->topk, .experts = m->n_routed, .ep = P->ep,
                                   .skew = P->moe_skew};
    if (fp8lab_moe_load_expected(&li, &ld)) return -1;
    x->imb = ld.rank_max;
    r->moe_expert_max = ld.expert_max;
    return 0;
}

/* The pipeline a step runs: its stages (pp x vchunks, each a run of layers with its costs), the micro-batches per
   step and the time of one point-to-point transfer between stages. */
typedef struct {
    const stage_t *st;
    int n;
    long mb;
    double t_p2p;
} pipe_t;

/* Where the average rank's compute and communication go (a DualPipe rank's two stages count half each: the
   average over ranks is the sum over stages / pp for every schedule). */
static void compute_shares(const fp8lab_plan *P, const pipe_t *pipe, fp8lab_sim_result *r) {
    const stage_t *st = pipe->st;
    const long mb = pipe->mb;
    double comm_all = 0;
    const double w = (double)mb / P->pp;
    for (int j = 0; j < pipe->n; j++) {
        r->gemm_s += w * st[j].gemm, r->attn_s += w * st[j].attn, r->eltwise_s += w * st[j].elt;
        r->recompute_s += w * st[j].rec, r->moe_imbalance_s += w * st[j].moe_extra, r->mtp_s += w * st[j].mtp;
        comm_all += w * st[j].tp_ep_comm;
    }
    r->pp_comm_s = (double)mb * 2.0 * P->vchunks * pipe->t_p2p;
    r->comm_total_s = comm_all + r->pp_comm_s + r->dp_comm_s;
    r->comm_hidden_s = r->comm_total_s - r->exposed_comm_s;
    if (r->comm_hidden_s < 0) r->comm_hidden_s = 0;
}

/* The resolved plan and the model's counts, as the result reports them. */
static void describe_plan(const ctx_t *x, const fp8lab_params *prm, int nmtp, long mb, fp8lab_sim_result *r) {
    const fp8lab_plan *P = x->P;
    r->mtp_flops_per_token = nmtp ? r->flops.mtp : 0;
    r->params_total = prm->total, r->params_activated = prm->activated, r->params_mtp = prm->mtp;
    r->gpus = P->gpus, r->seq = P->seq, r->global_batch = P->global_batch, r->micro_batch = P->micro_batch;
    r->microbatches = mb;
    r->tp = P->tp, r->pp = P->pp, r->dp = P->dp, r->ep = P->ep;
    r->moe_imbalance = x->imb, r->goodput = P->goodput;
    r->units = (int)x->m->layers + 2 + nmtp;
    r->schedule = P->schedule, r->vchunks = P->vchunks;
}

/* The stages' costs run through the schedule's timeline; the step, memory and shares read off it. */
static int run_timeline(const ctx_t *x, const pipe_t *pipe, fp8lab_sim_result *r) {
    const fp8lab_plan *P = x->P;
    fp8lab_stage_cost *costs = calloc((size_t)pipe->n, sizeof *costs);
    rank_t *rk = calloc((size_t)P->pp, sizeof *rk);
    rank_tail *tails = calloc((size_t)P->pp, sizeof *tails);
    fp8lab_timeline tl = {0};
    int rc = !costs || !rk || !tails ? -1 : 0;
    if (rc) FP8LAB_ERR_RT("out of memory");
    if (!rc) {
        for (int j = 0; j < pipe->n; j++) costs[j] = pipe->st[j].t;
        const fp8lab_timeline_in in = {.schedule = P->schedule, .p = P->pp, .v = P->vchunks, .m = pipe->mb,
                                       .p2p_s = pipe->t_p2p, .p2p_async = P->p2p_async, .stage = costs};
        rc = fp8lab_timeline_run(&in, &tl);
    }
    if (!rc) {
        rank_sums(P, pipe->st, rk);
        for (int q = 0; q < P->pp; q++) tails[q] = tail_of(x, &rk[q], pipe->mb);
        assemble(P, &tl, tails, r);
        fullest_rank_memory(x, rk, &tl, r);
        compute_shares(P, pipe, r);
    }
    fp8lab_timeline_free(&tl);
    free(costs), free(rk), free(tails);
    return rc;
}

int fp8lab_simulate_trace(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                          const fp8lab_plan *plan_in, fp8lab_sim_result *r, fp8lab_trace *trace) {
    fp8lab_plan P;
    ctx_t x;
    memset(r, 0, sizeof *r);
    if (resolve(m, c, plan_in, &P) || make_ctx(m, c, km, &P, &x, r)) return -1;
    r->schedule_fallback = P.schedule != plan_in->schedule && P.pp > 1;
    fp8lab_params prm;
    fp8lab_count_params(m, &prm);
    fp8lab_count_flops(m, P.seq, &r->flops);
    const int nmtp = P.mtp ? (int)m->mtp_layers : 0;
    unit_t kind_unit[FP8LAB_NLAYER_KINDS];
    if (time_layer_kinds(&x, &P, nmtp, kind_unit, trace)) return -1;
    unit_params(m, &P, &prm, nmtp, kind_unit);
    for (int k = 0; k < FP8LAB_NLAYER_KINDS; k++)
        if (kind_unit[k].pd + kind_unit[k].pe > x.gather_params) x.gather_params = kind_unit[k].pd + kind_unit[k].pe;
    const int nstages = P.pp * P.vchunks;
    stage_t *st = build_stages(m, kind_unit, nmtp, nstages);
    if (!st) return -1;
    const pipe_t pipe = {.st = st, .n = nstages, .mb = P.global_batch / ((long)P.dp * P.micro_batch),
                         .t_p2p = p2p_time(&x, &P)};
    const int rc = run_timeline(&x, &pipe, r);
    free(st);
    if (rc) return -1;
    throughput(&P, c, r);
    describe_plan(&x, &prm, nmtp, pipe.mb, r);
    return 0;
}

void fp8lab_sim_totals(const fp8lab_sim_result *r, double tokens, double price, double *gpu_hours, double *days,
                       double *cost) {
    double gh = tokens / (r->tokens_per_gpu_hour * (r->goodput > 0 ? r->goodput : 1));
    *gpu_hours = gh;
    *days = gh / (double)r->gpus / 24.0;
    *cost = gh * price;
}
