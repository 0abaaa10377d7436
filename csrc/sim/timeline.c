#include "sim/timeline.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* Where one op sits: direction d (DualPipe feeds micro-batches from both ends; 0 otherwise), position j along
   that direction's pipeline (= the model stage it runs), micro-batch k within the direction. */
typedef struct {
    int d, j;
    long k;
} ref_t;

typedef enum {
    OP_F,  /* forward */
    OP_B,  /* input-gradient backward; its W is deferred (zero-bubble) and runs as a later OP_W */
    OP_BW, /* the whole backward, B and W together */
    OP_W,  /* a deferred weight-gradient backward */
    OP_FB  /* DualPipe: a forward (a) and a whole backward (b) of the other direction, overlapped */
} op_kind;

typedef struct {
    op_kind kind;
    ref_t a, b;      /* a: the F part (OP_F, OP_FB) or the backward (others); b: OP_FB's backward */
    double dur, comp;
    double act_in, act_out; /* activation bytes taken at the op's start, released at its end */
} op_t;

typedef struct {
    const fp8lab_timeline_in *in;
    int S;      /* positions per direction: p v, or p for DualPipe */
    long M;     /* micro-batches per direction */
    int dual;
    double lat; /* transfer time a dependent op waits for (DualPipe's sends are asynchronous) */
    op_t *ops;  /* rank r's ops at ops[r * cap ...] */
    int *nops;
    long cap;
    double *fdone, *bdone; /* end of F / of B (input gradient) per (d, j, k); -1 until it ran */
} sim_t;

static long slot(const sim_t *s, ref_t r) { return ((long)r.d * s->S + r.j) * s->M + r.k; }

/* ---- op durations: what the op keeps its rank busy for ---- */

/* Megatron-LM's 1F1B and interleaved schedules send activations and gradients with blocking send/recv pairs
   between compute ops, so a send occupies the sending rank. With asynchronous sends (in.p2p_async: Llama 3,
   arXiv:2407.21783 sec. 3.3.2, "we adopt asynchronous point-to-point communication in PP") the sender goes on
   and only the receiver waits for the transfer (sim_t.lat). */
static double blocking_send(const sim_t *s, int has_peer) {
    return !s->dual && !s->in->p2p_async && has_peer && s->in->p > 1 ? s->in->p2p_s : 0;
}

static op_t make_f(const sim_t *s, ref_t a) {
    const fp8lab_stage_cost *c = &s->in->stage[a.j];
    double comp = c->f;
    return (op_t){.kind = OP_F, .a = a, .comp = comp, .act_in = c->act,
                  .dur = comp + c->tp_f + c->ep_f + blocking_send(s, a.j < s->S - 1)};
}

static op_t make_b(const sim_t *s, ref_t a, int whole) {
    const fp8lab_stage_cost *c = &s->in->stage[a.j];
    double comp = c->b + (whole ? c->w : 0);
    return (op_t){.kind = whole ? OP_BW : OP_B, .a = a, .comp = comp, .act_out = c->act,
                  .dur = comp + c->tp_b + c->ep_b + blocking_send(s, a.j > 0)};
}

static op_t make_w(const sim_t *s, ref_t a) {
    double w = s->in->stage[a.j].w;
    return (op_t){.kind = OP_W, .a = a, .comp = w, .dur = w};
}

/* DualPipe's overlapped chunk: one micro-batch's forward and another's backward run together, each one's
   all-to-all hidden under the other's compute (DeepSeek-V3 report sec. 3.2.1, Figure 4); what the compute cannot
   cover stays exposed. */
static op_t make_fb(const sim_t *s, ref_t f, ref_t b) {
    const fp8lab_stage_cost *cf = &s->in->stage[f.j], *cb = &s->in->stage[b.j];
    double comp = cf->f + cb->b + cb->w, ep = cf->ep_f + cb->ep_b;
    return (op_t){.kind = OP_FB, .a = f, .b = b, .comp = comp, .act_in = cf->act, .act_out = cb->act,
                  .dur = comp + cf->tp_f + cb->tp_b + (ep > comp ? ep - comp : 0)};
}

static void push(sim_t *s, int r, op_t op) { s->ops[r * s->cap + s->nops[r]++] = op; }

/* ---- 1F1B and interleaved 1F1B: Megatron-LM's order (Narayanan et al. 2021 sec. 2.2; megatron/core/pipeline_
   parallel/schedules.py: warm-up forwards, then one forward and one backward in turn, then the cool-down
   backwards; interleaved ranks walk their model chunks in groups of p micro-batches) ---- */

static ref_t megatron_ref(const sim_t *s, int r, long k, int backward) {
    int p = s->in->p, v = s->in->v;
    long group = (long)p * v;
    int c = (int)((k % group) / p);
    if (backward) c = v - 1 - c;
    return (ref_t){.d = 0, .j = c * p + r, .k = (k / group) * p + k % p};
}

static long megatron_warmup(const sim_t *s, int r) {
    int p = s->in->p, v = s->in->v;
    long total = s->M * v, w;
    if (v == 1) w = p - r - 1;
    else if (s->M == p) w = total; /* Megatron runs every forward first when m == p */
    else w = 2L * (p - r - 1) + (long)(v - 1) * p;
    return w < total ? w : total;
}

static void build_megatron(sim_t *s, int r) {
    long total = s->M * s->in->v, warm = megatron_warmup(s, r);
    for (long k = 0; k < warm; k++) push(s, r, make_f(s, megatron_ref(s, r, k, 0)));
    for (long i = 0; i < total - warm; i++) {
        push(s, r, make_f(s, megatron_ref(s, r, warm + i, 0)));
        push(s, r, make_b(s, megatron_ref(s, r, i, 1), 1));
    }
    for (long i = total - warm; i < total; i++) push(s, r, make_b(s, megatron_ref(s, r, i, 1), 1));
}

/* ---- ZB-H1 (Qi et al. 2024, "Zero Bubble (Almost) Pipeline Parallelism", arXiv:2401.10241 sec. 2.1): 1F1B's
   order of forwards and input-gradient backwards, with each weight gradient split off its backward. Rank r defers
   r of them, so that every rank has p micro-batches in flight counting its deferred W's (1F1B's first rank's
   count: the peak memory stays 1F1B's), and the deferred W's fill the cool-down, where 1F1B's ranks wait. ---- */

static void build_zb1(sim_t *s, int r) {
    long total = s->M, warm = megatron_warmup(s, r), w = 0;
    for (long k = 0; k < warm; k++) push(s, r, make_f(s, megatron_ref(s, r, k, 0)));
    for (long i = 0; i < total; i++) {
        if (warm + i < total) push(s, r, make_f(s, megatron_ref(s, r, warm + i, 0)));
        push(s, r, make_b(s, megatron_ref(s, r, i, 1), 0));
        if (i >= r) push(s, r, make_w(s, megatron_ref(s, r, w++, 1)));
    }
    while (w < total) push(s, r, make_w(s, megatron_ref(s, r, w++, 1)));
}

/* ---- DualPipe: the eight steps of DeepSeek's public reference implementation (github.com/deepseek-ai/DualPipe,
   dualpipe/dualpipe.py, DualPipe.step), re-expressed here; see the DeepSeek-V3 report sec. 3.2.1 and Figure 5.
   Rank r holds stage r of the direction fed at rank 0 and stage p-1-r of the direction fed at rank p-1. A rank's
   "phase 0" is the direction whose first stage is nearer to it; ranks r and p-1-r run mirrored programs. A
   backward "with zero bubble" defers its weight gradient to a FIFO that later W ops pop. ---- */

typedef struct {
    sim_t *s;
    int r, second_half;
    long fk[2], bk[2]; /* next micro-batch per direction */
    ref_t *wq;         /* deferred weight gradients, FIFO */
    long wh, wt;
    int underflow; /* a W with none deferred: the program is wrong */
} dp_rank;

static ref_t dp_next(dp_rank *q, int phase, long *counter) {
    int d = phase ^ q->second_half, p = q->s->in->p;
    return (ref_t){.d = d, .j = d == 0 ? q->r : p - 1 - q->r, .k = counter[d]++};
}
static void dp_f(dp_rank *q, int phase) { push(q->s, q->r, make_f(q->s, dp_next(q, phase, q->fk))); }
static void dp_b(dp_rank *q, int phase, int zero_bubble) {
    ref_t b = dp_next(q, phase, q->bk);
    push(q->s, q->r, make_b(q->s, b, !zero_bubble));
    if (zero_bubble) q->wq[q->wt++] = b;
}
static void dp_w(dp_rank *q) {
    if (q->wh == q->wt) {
        q->underflow = 1;
        return;
    }
    push(q->s, q->r, make_w(q->s, q->wq[q->wh++]));
}
static void dp_fb(dp_rank *q, int f_phase, int b_phase) {
    ref_t f = dp_next(q, f_phase, q->fk), b = dp_next(q, b_phase, q->bk);
    push(q->s, q->r, make_fb(q->s, f, b));
}

static int build_dualpipe(sim_t *s, int r, ref_t *wq) {
    int p = s->in->p, half_ranks = p / 2, hr = r < p - 1 - r ? r : p - 1 - r;
    int middle = r == half_ranks - 1 || r == half_ranks;
    long half_chunks = s->M;
    dp_rank q = {.s = s, .r = r, .second_half = r >= half_ranks, .wq = wq};
    for (int i = 0; i < 2 * (half_ranks - hr - 1); i++) dp_f(&q, 0);      /* 1: warm-up forwards */
    for (int i = 0; i < hr + 1; i++) dp_f(&q, 0), dp_f(&q, 1);            /* 2: forwards of both directions */
    for (int i = 0; i < half_ranks - hr - 1; i++) {                       /* 3: B1 W1 F1, zero bubble */
        dp_b(&q, 1, 1);
        dp_w(&q);
        dp_f(&q, 1);
    }
    for (long i = 0; i < half_chunks - p + hr + 1; i++) {                 /* 4: main loop, F0B1 F1B0 */
        if (i == 0 && middle) dp_f(&q, 0), dp_b(&q, 1, 0); /* the reference leaves these two unoverlapped */
        else dp_fb(&q, 0, 1);
        dp_fb(&q, 1, 0);
    }
    for (int i = 0; i < half_ranks - hr - 1; i++) dp_b(&q, 1, 0), dp_fb(&q, 1, 0); /* 5: B1 F1B0 */
    int zb = 0, s6 = hr + 1;                                              /* 6: B1 B0, second half zero bubble */
    for (int i = 0; i < s6; i++) {
        if (i == s6 / 2 && hr % 2 == 1) zb = 1;
        dp_b(&q, 1, zb);
        if (i == s6 / 2 && hr % 2 == 0) zb = 1;
        dp_b(&q, 0, zb);
    }
    for (int i = 0; i < half_ranks - hr - 1; i++) dp_w(&q), dp_b(&q, 0, 1); /* 7: W B0 */
    for (int i = 0; i < hr + 1; i++) dp_w(&q);                             /* 8: the remaining W */
    /* every micro-batch ran once in each pass and no deferred W is left */
    int all_ran = q.fk[0] == s->M && q.fk[1] == s->M && q.bk[0] == s->M && q.bk[1] == s->M;
    return all_ran && q.wh == q.wt && !q.underflow ? 0 : -1;
}

/* ---- the event loop ---- */

static double done_or_wait(const sim_t *s, const double *done, ref_t r, double lat, double t) {
    if (t < 0) return t;
    double e = done[slot(s, r)];
    if (e < 0) return -1;
    return e + lat > t ? e + lat : t;
}

/* the time a forward may start (-1: its input has not arrived) */
static double f_ready(const sim_t *s, ref_t a) {
    if (a.j == 0) return 0;
    return done_or_wait(s, s->fdone, (ref_t){a.d, a.j - 1, a.k}, s->lat, 0);
}

/* a backward needs its own forward and the gradient from the next stage (the loss on the last one) */
static double b_ready(const sim_t *s, ref_t a) {
    double t = done_or_wait(s, s->fdone, a, 0, 0);
    if (a.j < s->S - 1) t = done_or_wait(s, s->bdone, (ref_t){a.d, a.j + 1, a.k}, s->lat, t);
    return t;
}

static double ready(const sim_t *s, const op_t *op) {
    switch (op->kind) {
    case OP_F: return f_ready(s, op->a);
    case OP_B:
    case OP_BW: return b_ready(s, op->a);
    case OP_W: return done_or_wait(s, s->bdone, op->a, 0, 0);
    case OP_FB: {
        double t = f_ready(s, op->a), u = b_ready(s, op->b);
        return t < 0 || u < 0 ? -1 : t > u ? t : u;
    }
    }
    return -1;
}

static void finish(sim_t *s, const op_t *op, double end) {
    if (op->kind == OP_F || op->kind == OP_FB) s->fdone[slot(s, op->a)] = end;
    if (op->kind == OP_B || op->kind == OP_BW) s->bdone[slot(s, op->a)] = end;
    if (op->kind == OP_FB) s->bdone[slot(s, op->b)] = end;
}

typedef struct {
    double free_at, cur_act, cur_n;
    long next;
} rank_state;

/* Runs every rank's ops in order, each as soon as its rank is free and its inputs have arrived. A rank that
   waits is woken when a neighbour finishes an op (dependencies only cross to adjacent ranks, and from the last
   rank back to the first between interleaved chunks). */
static int run_events(sim_t *s, fp8lab_timeline *o) {
    int p = s->in->p;
    double unit = 1.0 / s->in->v;
    rank_state *st = calloc((size_t)p, sizeof *st);
    int *stack = malloc(sizeof *stack * ((size_t)p * 4 + 4));
    char *queued = calloc((size_t)p, 1);
    if (!st || !stack || !queued) {
        free(st), free(stack), free(queued);
        return -1;
    }
    int top = 0;
    for (int r = p - 1; r >= 0; r--) stack[top++] = r, queued[r] = 1;
    long left = 0;
    for (int r = 0; r < p; r++) left += s->nops[r];
    while (top > 0) {
        int r = stack[--top];
        queued[r] = 0;
        rank_state *q = &st[r];
        int progressed = 0;
        while (q->next < s->nops[r]) {
            const op_t *op = &s->ops[r * s->cap + q->next];
            double t = ready(s, op);
            if (t < 0) break;
            double start = t > q->free_at ? t : q->free_at, end = start + op->dur;
            q->cur_act += op->act_in;
            q->cur_n += op->kind == OP_F || op->kind == OP_FB ? unit : 0;
            if (q->cur_act > o->peak_act[r]) o->peak_act[r] = q->cur_act;
            if (q->cur_n > o->peak_inflight[r]) o->peak_inflight[r] = q->cur_n;
            q->cur_act -= op->act_out;
            q->cur_n -= op->kind == OP_B || op->kind == OP_BW || op->kind == OP_FB ? unit : 0;
            o->busy_s[r] += op->dur, o->comp_s[r] += op->comp;
            q->free_at = o->finish_s[r] = end;
            finish(s, op, end);
            q->next++, left--, progressed = 1;
        }
        if (!progressed) continue;
        int nb[2] = {(r + 1) % p, (r + p - 1) % p};
        for (int i = 0; i < 2; i++)
            if (!queued[nb[i]]) stack[top++] = nb[i], queued[nb[i]] = 1;
    }
    free(st), free(stack), free(queued);
    return left == 0 ? 0 : -2;
}

static int alloc_out(fp8lab_timeline *o, int p) {
    memset(o, 0, sizeof *o);
    o->p = p;
    double **a[] = {&o->finish_s, &o->busy_s, &o->comp_s, &o->peak_act, &o->peak_inflight};
    for (int i = 0; i < 5; i++)
        if (!(*a[i] = calloc((size_t)p, sizeof(double)))) return -1;
    return 0;
}

void fp8lab_timeline_free(fp8lab_timeline *t) {
    free(t->finish_s), free(t->busy_s), free(t->comp_s), free(t->peak_act), free(t->peak_inflight);
    memset(t, 0, sizeof *t);
}

long fp8lab_timeline_min_microbatches(fp8lab_pp_schedule s, int p) {
    return s == FP8LAB_PP_DUALPIPE && p > 1 ? 2L * p : 1;
}

/* one timeline of exactly in->m micro-batches */
static int run_exact(const fp8lab_timeline_in *in, fp8lab_timeline *o) {
    int p = in->p, dual = in->schedule == FP8LAB_PP_DUALPIPE && p > 1;
    sim_t s = {.in = in, .dual = dual, .S = dual ? p : p * in->v, .M = dual ? in->m / 2 : in->m,
               .lat = dual || in->p2p_async ? in->p2p_s : 0};
    s.cap = 3 * s.M * (dual ? 2 : in->v) + 4;
    long nslot = (dual ? 2L : 1L) * s.S * s.M;
    s.ops = malloc(sizeof *s.ops * (size_t)(s.cap * p));
    s.nops = calloc((size_t)p, sizeof *s.nops);
    s.fdone = malloc(sizeof *s.fdone * (size_t)nslot);
    s.bdone = malloc(sizeof *s.bdone * (size_t)nslot);
    ref_t *wq = malloc(sizeof *wq * (size_t)(2 * s.M + 1));
    int rc = !s.ops || !s.nops || !s.fdone || !s.bdone || !wq || alloc_out(o, p) ? -1 : 0;
    if (!rc) {
        for (long i = 0; i < nslot; i++) s.fdone[i] = s.bdone[i] = -1;
        for (int r = 0; r < p && !rc; r++) {
            if (dual) rc = build_dualpipe(&s, r, wq) ? -2 : 0;
            else if (in->schedule == FP8LAB_PP_ZB1) build_zb1(&s, r);
            else build_megatron(&s, r);
        }
    }
    if (!rc) rc = run_events(&s, o);
    free(s.ops), free(s.nops), free(s.fdone), free(s.bdone), free(wq);
    if (rc == -1) FP8LAB_ERR_RT("out of memory simulating the pipeline timeline");
    else if (rc)
        FP8LAB_ERR_RT("internal: the pipeline timeline of %d ranks and %ld micro-batches deadlocks", p, in->m);
    for (int r = 0; !rc && r < p; r++)
        if (o->finish_s[r] > o->makespan_s) o->makespan_s = o->finish_s[r];
    return rc ? -1 : 0;
}

/* x(m) from runs at m1 < m2: a periodic steady state adds the same per micro-batch */
static double extrapolate(double x1, double x2, long m1, long m2, long m) {
    return x2 + (x2 - x1) * (double)(m - m2) / (double)(m2 - m1);
}

int fp8lab_timeline_run(const fp8lab_timeline_in *in, fp8lab_timeline *o) {
    memset(o, 0, sizeof *o);
    if (in->p < 1 || in->v < 1 || in->m < fp8lab_timeline_min_microbatches(in->schedule, in->p)) {
        FP8LAB_ERR("--schedule: %ld micro-batches are too few for this schedule on %d ranks", in->m, in->p);
        return -1;
    }
    /* the unit every micro-batch count of the schedule is a multiple of, and where extrapolation starts */
    long unit = in->schedule == FP8LAB_PP_DUALPIPE ? 2 : in->v > 1 ? in->p : 1;
    long cap = 8L * in->p > 512 ? 8L * in->p : 512;
    cap = (cap + unit - 1) / unit * unit;
    if (in->m <= cap + unit) return run_exact(in, o);
    fp8lab_timeline_in a = *in, b = *in;
    a.m = cap, b.m = cap + (cap / 2 + unit - 1) / unit * unit;
    fp8lab_timeline t1, t2;
    if (run_exact(&a, &t1)) return -1;
    if (run_exact(&b, &t2)) {
        fp8lab_timeline_free(&t1);
        return -1;
    }
    *o = t2;
    o->makespan_s = 0;
    for (int r = 0; r < in->p; r++) {
        o->finish_s[r] = extrapolate(t1.finish_s[r], t2.finish_s[r], a.m, b.m, in->m);
        o->busy_s[r] = extrapolate(t1.busy_s[r], t2.busy_s[r], a.m, b.m, in->m);
        o->comp_s[r] = extrapolate(t1.comp_s[r], t2.comp_s[r], a.m, b.m, in->m);
        if (o->finish_s[r] > o->makespan_s) o->makespan_s = o->finish_s[r];
    }
    fp8lab_timeline_free(&t1);
    return 0;
}
