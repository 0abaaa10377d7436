#include "sim/step.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"
#include "sim/collectives.h"

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
}

/* what one layer (unit) costs per micro-batch on the rank that holds it */
typedef struct {
    double f, b, w;                 /* compute by pass; recomputation is part of b */
    double gemm, attn, elt, rec, moe_extra;
    double tp_f, tp_b, ep_f, ep_b;  /* communication */
    double cost, exposed;           /* per micro-batch on the critical path, and its exposed-comm part */
    double pd, pe;                  /* parameters held: dense, routed-expert */
    double act;                     /* activation bytes kept per micro-batch */
    int mtp;
} unit_t;

typedef struct {
    const fp8lab_model *m;
    const fp8lab_cluster *c;
    const fp8lab_kernel_model *km;
    fp8lab_links links;
    int sms, tp, g_tp, ep, g_ep;
    double imb, tokens;
} ctx_t;

static int clampi(long v, long lo, long hi) { return (int)(v < lo ? lo : v > hi ? hi : v); }

/* Appends one timed op to the trace (when the caller asked for one); -1 when out of memory. */
static int trace_add(fp8lab_trace *tr, fp8lab_layer_kind kind, const fp8lab_op *op, double t) {
    if (!tr) return 0;
    if (tr->n == tr->cap) {
        int cap = tr->cap ? 2 * tr->cap : 256;
        fp8lab_op_trace *o = realloc(tr->ops, sizeof *o * (size_t)cap);
        if (!o) return -1;
        tr->ops = o, tr->cap = cap;
    }
    tr->ops[tr->n++] = (fp8lab_op_trace){.kind = kind, .op = *op, .time_s = t};
    return 0;
}

static int time_schedule(const ctx_t *x, const fp8lab_schedule *s, unit_t *u, fp8lab_layer_kind kind,
                         fp8lab_trace *tr) {
    const fp8lab_gpu *g = &x->c->gpu;
    for (int i = 0; i < s->n; i++) {
        const fp8lab_op *op = &s->ops[i];
        double t = 0, scale = op->moe ? x->imb : 1;
        int is_comm = 0;
        switch (op->kind) {
        case FP8LAB_OP_GEMM:
            t = fp8lab_gemm_time(x->km, g, x->sms, op->dtype, op->m, op->n, op->k) * op->count;
            u->gemm += t * scale;
            break;
        case FP8LAB_OP_ATTN:
            t = fp8lab_attn_time(x->km, g, x->sms, op->flops * op->count, op->pass == FP8LAB_PASS_B);
            u->attn += t;
            break;
        case FP8LAB_OP_ELTWISE:
            t = fp8lab_mem_time(x->km, g, op->bytes);
            u->elt += t * scale;
            break;
        case FP8LAB_OP_COMM:
            is_comm = 1;
            if (op->group == FP8LAB_GROUP_EP) {
                /* the busiest rank of the EP group receives imb times the mean */
                t = fp8lab_moe_a2a_time(&x->links, x->tokens, op->bytes / x->tokens, op->topk, x->ep, x->g_ep,
                                        op->node_limit) * x->imb;
                if (op->pass == FP8LAB_PASS_F) u->ep_f += t;
                else u->ep_b += t;
            } else {
                t = fp8lab_coll_time(&x->links, op->coll, op->bytes, x->tp, x->g_tp);
                if (op->pass == FP8LAB_PASS_F) u->tp_f += t;
                else u->tp_b += t;
            }
            break;
        }
        if (is_comm) {
            if (trace_add(tr, kind, op, t)) return -1;
            continue;
        }
        u->moe_extra += t * (scale - 1);
        t *= scale;
        if (trace_add(tr, kind, op, t)) return -1;
        switch (op->pass) {
        case FP8LAB_PASS_F: u->f += t; break;
        case FP8LAB_PASS_W: u->w += t; break;
        case FP8LAB_PASS_R: /* recomputation runs inside the backward */
            u->rec += t;
            u->b += t;
            break;
        case FP8LAB_PASS_B: u->b += t; break;
        }
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
    if (p->schedule == FP8LAB_PP_DUALPIPE && p->pp > 1 && (p->pp % 2 || mb % 2)) {
        FP8LAB_ERR("--schedule: dualpipe needs an even pp (%d) and an even number of micro-batches (%ld)", p->pp, mb);
        return -1;
    }
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

int fp8lab_simulate_trace(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                          const fp8lab_plan *plan_in, fp8lab_sim_result *r, fp8lab_trace *trace) {
    fp8lab_plan P;
    memset(r, 0, sizeof *r);
    if (resolve(m, c, plan_in, &P)) return -1;
    const int gpn = c->gpus_per_node;
    ctx_t x = {.m = m, .c = c, .km = km, .sms = c->gpu.sms - P.comm_sms, .tp = P.tp, .ep = P.ep};
    fp8lab_links_init(&x.links, c->intra_node_gbps, c->inter_node_gbps_per_gpu);
    /* rank order: TP innermost, then data parallel (expert parallel inside it), then PP (Megatron-LM) */
    x.g_tp = clampi(gpn, 1, P.tp);
    x.g_ep = clampi(gpn / P.tp, 1, P.ep);
    x.tokens = (double)P.micro_batch * (double)P.seq;
    if (P.ep > 1 && P.moe_imbalance <= 0) {
        /* busiest of ep ranks under uniform random routing: mean + sqrt(2 ln ep) standard deviations of a
           Poisson load of tokens*topk assignments: a floor, real routers are more skewed */
        x.imb = 1.0 + sqrt(2.0 * log((double)P.ep) / (x.tokens * (double)m->topk));
    } else {
        x.imb = P.moe_imbalance > 0 ? P.moe_imbalance : 1.0;
    }

    fp8lab_params prm;
    fp8lab_count_params(m, &prm);
    fp8lab_count_flops(m, P.seq, &r->flops);

    /* one schedule per layer kind */
    fp8lab_sched_opts so = {.micro_batch = P.micro_batch, .seq = P.seq, .tp = P.tp, .sp = P.sp, .ep = P.ep,
                            .prec = P.prec, .recompute = P.recompute};
    unit_t kind_unit[FP8LAB_NLAYER_KINDS];
    memset(kind_unit, 0, sizeof kind_unit);
    long nmoe = fp8lab_model_moe_layers(m);
    int nmtp = P.mtp ? (int)m->mtp_layers : 0;
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
        if (time_schedule(&x, &s, u, (fp8lab_layer_kind)k, trace)) {
            fp8lab_schedule_free(&s);
            FP8LAB_ERR_RT("out of memory tracing the op schedule");
            return -1;
        }
        u->act = fp8lab_schedule_saved_bytes(&s, m, &so, (fp8lab_layer_kind)k);
        fp8lab_schedule_free(&s);
        u->exposed = u->tp_f + u->tp_b;
        double ep = u->ep_f + u->ep_b, comp = u->f + u->b + u->w;
        /* DualPipe overlaps a forward chunk's all-to-all with another micro-batch's backward chunk and vice
           versa (DeepSeek-V3 sec. 3.2.1); other schedules wait for the dispatch and combine */
        u->exposed += P.schedule == FP8LAB_PP_DUALPIPE ? (ep > comp ? ep - comp : 0) : ep;
        u->cost = comp + u->exposed;
    }
    /* parameters each unit holds on its GPU */
    double tp = P.tp, nrm = m->bias ? 2.0 * m->hidden : (double)m->hidden;
    kind_unit[FP8LAB_LAYER_EMBED].pd = prm.embed / tp;
    kind_unit[FP8LAB_LAYER_DENSE].pd = (prm.attn_layer + prm.mlp_dense_layer + 2 * nrm) / tp;
    kind_unit[FP8LAB_LAYER_MOE].pd = (prm.attn_layer + 2 * nrm + prm.router_layer + prm.expert * m->n_shared) / tp;
    kind_unit[FP8LAB_LAYER_MOE].pe = prm.expert * (double)m->n_routed / (tp * P.ep);
    /* a tied head still needs its own copy of the embedding on the last stage when pp > 1 */
    kind_unit[FP8LAB_LAYER_HEAD].pd =
        ((m->tied ? (P.pp > 1 ? (double)m->vocab * m->hidden : 0) : prm.head) + nrm) / tp;
    if (nmtp) {
        double routed = m->n_routed ? prm.expert * (double)m->n_routed : 0;
        kind_unit[FP8LAB_LAYER_MTP].pd = (prm.mtp / (double)m->mtp_layers - routed) / tp;
        kind_unit[FP8LAB_LAYER_MTP].pe = routed / (tp * P.ep);
        kind_unit[FP8LAB_LAYER_MTP].mtp = 1;
    }

    /* the layer sequence: embedding, blocks, head, MTP modules (on the last stage, as DeepSeek-V3) */
    int n = (int)m->layers + 2 + nmtp;
    unit_t *units = calloc((size_t)n, sizeof *units);
    double *cost = calloc((size_t)n, sizeof *cost);
    int *chunk_of = calloc((size_t)n, sizeof *chunk_of);
    int nchunks = P.pp * P.vchunks;
    double *rk = calloc((size_t)P.pp * 16, sizeof *rk);
    if (!units || !cost || !chunk_of || !rk) {
        free(units), free(cost), free(chunk_of), free(rk);
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    int u = 0;
    units[u++] = kind_unit[FP8LAB_LAYER_EMBED];
    for (long i = 0; i < m->layers; i++)
        units[u++] = kind_unit[fp8lab_model_is_moe_layer(m, i) ? FP8LAB_LAYER_MOE : FP8LAB_LAYER_DENSE];
    units[u++] = kind_unit[FP8LAB_LAYER_HEAD];
    for (int i = 0; i < nmtp; i++) units[u++] = kind_unit[FP8LAB_LAYER_MTP];
    for (int i = 0; i < n; i++) cost[i] = units[i].cost;
    if (fp8lab_partition(cost, n, nchunks, chunk_of) < 0) {
        free(units), free(cost), free(chunk_of), free(rk);
        FP8LAB_ERR("--pp: %d pipeline chunks for only %d layers (embedding and head included)", nchunks, n);
        return -1;
    }
    /* per-rank sums, 16 fields per rank */
    enum { R_LOAD, R_COMP, R_F, R_B, R_W, R_EXP, R_GEMM, R_ATTN, R_ELT, R_REC, R_MOE, R_MTP, R_PD, R_PE, R_ACT, R_N };
    for (int i = 0; i < n; i++) {
        int second, r0 = fp8lab_rank_of_chunk(P.schedule, chunk_of[i], P.pp, &second);
        int ranks[2] = {r0, second};
        for (int j = 0; j < 2; j++) {
            if (ranks[j] < 0) continue;
            double wt = second >= 0 ? 0.5 : 1.0; /* DualPipe: each stage serves half of the micro-batches */
            double *q = rk + ranks[j] * 16;
            const unit_t *x_ = &units[i];
            q[R_LOAD] += wt * x_->cost;
            q[R_COMP] += wt * (x_->f + x_->b + x_->w);
            q[R_F] += wt * x_->f, q[R_B] += wt * x_->b, q[R_W] += wt * x_->w;
            q[R_EXP] += wt * x_->exposed;
            q[R_GEMM] += wt * x_->gemm, q[R_ATTN] += wt * x_->attn, q[R_ELT] += wt * x_->elt;
            q[R_REC] += wt * x_->rec, q[R_MOE] += wt * x_->moe_extra;
            q[R_MTP] += x_->mtp ? wt * x_->cost : 0;
            q[R_PD] += x_->pd, q[R_PE] += x_->pe; /* a DualPipe rank holds both of its stages' weights */
            q[R_ACT] += wt * x_->act;
        }
    }
    const double mb = (double)(P.global_batch / ((long)P.dp * P.micro_batch));
    /* pipeline point-to-point: one activation forward and one gradient backward per chunk boundary */
    double t_p2p = 0, p2p_per_mb = 0;
    if (P.pp > 1) {
        double bytes = (P.sp && P.tp > 1 ? x.tokens / P.tp : x.tokens) * (double)m->hidden * 2;
        int g_pp = (long)P.tp * P.dp < gpn ? 2 : 1;
        t_p2p = fp8lab_coll_time(&x.links, FP8LAB_COLL_SENDRECV, bytes, 2, g_pp);
        /* DualPipe hides PP communication under computation as well (DeepSeek-V3 sec. 3.2.1) */
        p2p_per_mb = P.schedule == FP8LAB_PP_DUALPIPE ? 0 : 2.0 * P.vchunks * t_p2p;
    }
    /* data-parallel gradient exchange and the optimizer, per rank */
    int edp = P.dp / P.ep;
    int g_dp = clampi(gpn / P.tp, 1, P.dp), g_edp = clampi(gpn / ((long)P.tp * P.ep), 1, edp);
    double avg[R_N] = {0}, best_end = -1, crit_tail_comm = 0, crit_opt = 0, crit_dp = 0;
    int crit = 0;
    for (int rr = 0; rr < P.pp; rr++) {
        double *q = rk + rr * 16;
        q[R_LOAD] += p2p_per_mb;
        q[R_EXP] += p2p_per_mb;
        for (int f = 0; f < R_N; f++) avg[f] += q[f] / P.pp;
        fp8lab_coll grad_coll = P.zero ? FP8LAB_COLL_REDUCESCATTER : FP8LAB_COLL_ALLREDUCE;
        /* gradients and gathered parameters travel in BF16 */
        double t_grad = fp8lab_coll_time(&x.links, grad_coll, 2 * q[R_PD], P.dp, g_dp) +
                        fp8lab_coll_time(&x.links, grad_coll, 2 * q[R_PE], edp, g_edp);
        double t_ag = P.zero ? fp8lab_coll_time(&x.links, FP8LAB_COLL_ALLGATHER, 2 * q[R_PD], P.dp, g_dp) +
                                   fp8lab_coll_time(&x.links, FP8LAB_COLL_ALLGATHER, 2 * q[R_PE], edp, g_edp)
                             : 0;
        /* bucketed reduction overlaps the last micro-batch's backward; the parameter all-gather overlaps the
           next step's first forward (Megatron-LM --overlap-grad-reduce / --overlap-param-gather) */
        double wb = q[R_B] + q[R_W], wf = q[R_F];
        double dp_exposed = (t_grad > wb ? t_grad - wb : 0) + (t_ag > wf ? t_ag - wf : 0);
        double pall = q[R_PD] + q[R_PE];
        double local = P.zero ? q[R_PD] / P.dp + q[R_PE] / edp : pall;
        /* AdamW on the local shard: read grad 4, read+write master 4+4, m and v 2+2 each way, write BF16
           weight 2 = 22 B; zero the FP32 grads (4 B); under FP8, cast+transpose the weights (2 in, 2 out) */
        double obytes = 22.0 * local + 4.0 * pall + (P.prec == FP8LAB_PREC_FP8 ? 4.0 * pall : 0);
        double t_opt = fp8lab_mem_time(km, &c->gpu, obytes);
        double end = mb * q[R_LOAD] + dp_exposed + t_opt;
        r->dp_comm_s = r->dp_comm_s > t_grad + t_ag ? r->dp_comm_s : t_grad + t_ag;
        if (end > best_end) {
            best_end = end, crit = rr, crit_tail_comm = dp_exposed, crit_opt = t_opt, crit_dp = t_grad + t_ag;
        }
    }
    (void)crit_dp;
    const double *qc = rk + crit * 16;
    double bubble = 0;
    if (P.schedule == FP8LAB_PP_1F1B) bubble = fp8lab_bubble_1f1b(P.pp, qc[R_F] + qc[R_EXP], qc[R_B], qc[R_W]);
    else if (P.schedule == FP8LAB_PP_INTERLEAVED)
        bubble = fp8lab_bubble_interleaved(P.pp, P.vchunks, qc[R_F] + qc[R_EXP], qc[R_B], qc[R_W]);
    else bubble = fp8lab_bubble_dualpipe(P.pp, qc[R_F] + qc[R_B] + qc[R_EXP], qc[R_B], qc[R_W]);

    r->compute_s = mb * avg[R_COMP];
    r->exposed_comm_s = mb * avg[R_EXP] + crit_tail_comm;
    r->stage_imbalance_s = mb * (qc[R_LOAD] - avg[R_LOAD]);
    r->bubble_s = bubble;
    r->optimizer_s = crit_opt;
    r->step_time_s = r->compute_s + r->exposed_comm_s + r->stage_imbalance_s + r->bubble_s + r->optimizer_s;
    r->gemm_s = mb * avg[R_GEMM], r->attn_s = mb * avg[R_ATTN], r->eltwise_s = mb * avg[R_ELT];
    r->recompute_s = mb * avg[R_REC], r->moe_imbalance_s = mb * avg[R_MOE], r->mtp_s = mb * avg[R_MTP];
    r->pp_comm_s = mb * 2.0 * P.vchunks * t_p2p;
    double comm_all = 0;
    for (int i = 0; i < n; i++) {
        double w = 1.0 / P.pp; /* average rank */
        comm_all += w * (units[i].tp_f + units[i].tp_b + units[i].ep_f + units[i].ep_b);
    }
    r->comm_total_s = mb * comm_all + r->pp_comm_s + r->dp_comm_s;
    r->comm_hidden_s = r->comm_total_s - r->exposed_comm_s;
    if (r->comm_hidden_s < 0) r->comm_hidden_s = 0;

    r->tokens_per_step = (double)P.global_batch * (double)P.seq;
    r->tokens_per_gpu_s = r->tokens_per_step / (r->step_time_s * (double)P.gpus);
    r->tokens_per_gpu_hour = r->tokens_per_gpu_s * 3600.0;
    r->model_flops_per_token = r->flops.total;
    r->mtp_flops_per_token = nmtp ? r->flops.mtp : 0;
    r->tflops_per_gpu = r->flops.total * r->tokens_per_gpu_s / 1e12;
    r->mfu_bf16 = r->tflops_per_gpu / c->gpu.peak_tflops[FP8LAB_PREC_BF16];
    r->mfu_fp8 = c->gpu.peak_tflops[FP8LAB_PREC_FP8] > 0 ? r->tflops_per_gpu / c->gpu.peak_tflops[FP8LAB_PREC_FP8] : 0;
    r->params_total = prm.total, r->params_activated = prm.activated, r->params_mtp = prm.mtp;

    /* memory of the fullest rank */
    double inflight = fp8lab_inflight_microbatches(P.schedule, P.pp, P.vchunks, (long)mb);
    r->mem.total_gb = -1;
    for (int rr = 0; rr < P.pp; rr++) {
        const double *q = rk + rr * 16;
        fp8lab_memory mm;
        fp8lab_memory_estimate(q[R_PD], q[R_PE], P.dp, edp, P.zero, q[R_ACT] * inflight, c->gpu.hbm_gb, &mm);
        if (mm.total_gb > r->mem.total_gb) r->mem = mm;
    }
    r->gpus = P.gpus, r->seq = P.seq, r->global_batch = P.global_batch, r->micro_batch = P.micro_batch;
    r->microbatches = (long)mb;
    r->tp = P.tp, r->pp = P.pp, r->dp = P.dp, r->ep = P.ep;
    r->moe_imbalance = x.imb, r->goodput = P.goodput;
    r->critical_rank = crit, r->units = n;
    free(units), free(cost), free(chunk_of), free(rk);
    return 0;
}

void fp8lab_sim_totals(const fp8lab_sim_result *r, double tokens, double price, double *gpu_hours, double *days,
                       double *cost) {
    double gh = tokens / (r->tokens_per_gpu_hour * (r->goodput > 0 ? r->goodput : 1));
    *gpu_hours = gh;
    *days = gh / (double)r->gpus / 24.0;
    *cost = gh * price;
}
