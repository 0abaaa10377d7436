#include "sim/claim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/error.h"

/* DeepSeek-V3 report sec. 4.2: the batch size grows from 3072 to 15360 over the first 469B tokens */
#define RAMP_TOKENS 469e9
#define RAMP_FROM 3072
#define RAMP_TO 15360
#define RAMP_SEGMENTS 8

static const char LAYOUT[] = "the published layout (2048 GPUs, PP16 DualPipe, EP64) does not run on this cluster";

typedef struct {
    const fp8lab_model *m;
    const fp8lab_cluster *c;
    const fp8lab_kernel_model *km;
} env_t;

void fp8lab_claim_inputs_default(fp8lab_claim_inputs *in) {
    memset(in, 0, sizeof *in);
    in->model = "configs/models/deepseek-v3.json";
    in->h800 = "configs/clusters/h800-2048.json";
    in->h100 = "configs/clusters/h100-sxm.json";
    in->h200 = "configs/clusters/h200.json";
    in->a100 = "configs/clusters/a100-80gb.json";
    in->profile = "configs/calibration/deepseek-v3-h800-profile.json";
    /* Llama 3 report (arXiv:2407.21783) sec. 3.3.4: "higher than 90% effective training time" on 16K H100s,
       counting restarts after failures and checkpointing */
    in->goodput = 0.90;
    in->sensitivity = 1;
}

void fp8lab_claim_plan(fp8lab_plan *p) {
    fp8lab_plan_default(p);
    p->gpus = 2048, p->tp = 1, p->pp = 16, p->ep = 64, p->zero = 1;
    p->schedule = FP8LAB_PP_DUALPIPE;
    p->prec = FP8LAB_PREC_FP8;
    p->seq = 4096, p->micro_batch = 1, p->global_batch = RAMP_TO;
    p->comm_sms = 20, p->recompute = FP8LAB_RECOMPUTE_SELECTIVE;
    p->dualpipe_fallback = 1; /* ramp segments below 2 x pp micro-batches per pipeline run as 1F1B (DualPipe cannot) */
}

/* GPU-hours for the claim's 14.8T tokens; with ramp, the first 469B tokens run at growing batch sizes */
static int hours_for(const env_t *e, const fp8lab_plan *p0, int ramp, double goodput, double *hours,
                     fp8lab_sim_result *steady) {
    fp8lab_plan p = *p0;
    fp8lab_sim_result r;
    if (fp8lab_simulate(e->m, e->c, e->km, &p, &r)) return -1;
    if (steady) *steady = r;
    double h = (FP8LAB_CLAIM_TOKENS - (ramp ? RAMP_TOKENS : 0)) / r.tokens_per_gpu_hour;
    if (ramp) {
        long unit = (long)r.dp * p.micro_batch * 2; /* DualPipe: an even number of micro-batches per rank */
        for (int i = 0; i < RAMP_SEGMENTS; i++) {
            double b = RAMP_FROM + (RAMP_TO - RAMP_FROM) * (i + 0.5) / RAMP_SEGMENTS;
            p.global_batch = (long)(b / unit + 0.5) * unit;
            fp8lab_sim_result ri;
            if (fp8lab_simulate(e->m, e->c, e->km, &p, &ri)) return -1;
            h += RAMP_TOKENS / RAMP_SEGMENTS / ri.tokens_per_gpu_hour;
        }
    }
    *hours = h / goodput;
    return 0;
}

static void add_term(fp8lab_claim *o, const char *label, const char *source, double hours) {
    fp8lab_claim_term *t = &o->terms[o->nterms];
    t->label = label, t->source = source, t->gpu_hours = hours;
    t->delta = o->nterms ? hours - o->terms[o->nterms - 1].gpu_hours : hours;
    o->nterms++;
}

/* the full modeled run: published plan, every loss, ramp and goodput */
static int full_run(const env_t *e, const fp8lab_plan *p, double goodput, double *hours, fp8lab_sim_result *st) {
    return hours_for(e, p, 1, goodput, hours, st);
}

/* Megatron-LM 1T GPT (Narayanan et al. 2021, arXiv:2104.04473, Table 1): 128 layers, h 25600, 160 heads,
   seq 2048, vocab 51200, 3072 A100-80GB, TP8 PP64 DP6, batch 3072, 163 TFLOP/s per GPU counted with their
   formula 96 B s l h^2 (1 + s/6h + V/16lh), which includes the recomputed forward pass. */
static int megatron(const fp8lab_cluster *c, const fp8lab_kernel_model *km, fp8lab_claim *o) {
    const char *cfg = "{\"model_type\":\"gpt2\",\"vocab_size\":51200,\"n_embd\":25600,\"n_layer\":128,"
                      "\"n_head\":160,\"n_positions\":2048,\"tie_word_embeddings\":true}";
    cJSON *j = cJSON_Parse(cfg);
    fp8lab_model m;
    int rc = fp8lab_model_from_json(j, "megatron-1t", &m);
    cJSON_Delete(j);
    if (rc) return -1;
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.gpus = 3072, p.tp = 8, p.pp = 64, p.dp = 6, p.global_batch = 3072, p.micro_batch = 1, p.seq = 2048;
    p.prec = FP8LAB_PREC_FP16, p.recompute = FP8LAB_RECOMPUTE_FULL, p.schedule = FP8LAB_PP_1F1B;
    fp8lab_sim_result r;
    if (fp8lab_simulate(&m, c, km, &p, &r)) return -1;
    double B = 3072, s = 2048, l = 128, h = 25600, V = 51200;
    double flops = 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h));
    o->megatron_pub_step_s = flops / (163e12 * 3072);
    o->megatron_sim_step_s = r.step_time_s;
    o->megatron_sim_tflops = flops / (r.step_time_s * 3072) / 1e12;
    o->megatron_factor = o->megatron_pub_step_s / o->megatron_sim_step_s;
    return 0;
}

/* An error from inside the simulator (which names plan flags such as --tp that claim does not have), restated
   in terms of the claim's own flag and file. */
static int blame(const char *flag, const char *file, const char *what) {
    char inner[768];
    snprintf(inner, sizeof inner, "%s", fp8lab_last_error());
    fp8lab_set_error(__FILE__, __LINE__, fp8lab_last_error_exit(), "%s %s: %s: %s", flag, file, what, inner);
    return -1;
}

/* The claim's run and the H100/H200 what-ifs are FP8: a GPU without FP8 tensor cores cannot stand in. */
static int needs_fp8(const char *flag, const char *file, const fp8lab_cluster *c, const char *what) {
    if (c->gpu.peak_tflops[FP8LAB_PREC_FP8] > 0) return 0;
    FP8LAB_ERR("%s %s: gpu '%s' has no FP8 peak (gpu.peak_tflops.fp8 is 0); %s needs an FP8-capable cluster", flag,
               file, c->gpu.name, what);
    return -1;
}

static int load_inputs(const fp8lab_claim_inputs *in, fp8lab_model *m, fp8lab_cluster c[4]) {
    if (fp8lab_model_load(in->model, m) || fp8lab_cluster_load(in->h800, &c[0]) ||
        fp8lab_cluster_load(in->h100, &c[1]) || fp8lab_cluster_load(in->h200, &c[2]) ||
        fp8lab_cluster_load(in->a100, &c[3]))
        return -1;
    if (m->arch != FP8LAB_ARCH_DSV3) {
        FP8LAB_ERR("%s: the claim is about DeepSeek-V3; this file has model_type %s", in->model, m->model_type);
        return -1;
    }
    return needs_fp8("--cluster", in->h800, &c[0], "the claim's FP8 run") ||
           needs_fp8("--h100", in->h100, &c[1], "the what-if") || needs_fp8("--h200", in->h200, &c[2], "the what-if");
}

/* What the claim's steps share: the inputs, the loaded model and clusters, the kernel model, the goodput and the
   full plan (every loss) once the decomposition has built it. */
typedef struct {
    const fp8lab_claim_inputs *in;
    fp8lab_model m;
    fp8lab_cluster h800, h100, h200, a100;
    fp8lab_kernel_model km;
    double goodput;
    fp8lab_plan plan;
} claim_ctx;

static int load_ctx(const fp8lab_claim_inputs *in, claim_ctx *c) {
    fp8lab_cluster cl[4];
    *c = (claim_ctx){.in = in, .goodput = in->goodput > 0 && in->goodput <= 1 ? in->goodput : 1};
    if (load_inputs(in, &c->m, cl)) return -1;
    c->h800 = cl[0], c->h100 = cl[1], c->h200 = cl[2], c->a100 = cl[3];
    fp8lab_kernel_model_default(&c->km);
    return in->calibration ? fp8lab_kernel_model_calibrate_gpu(&c->km, in->calibration, &c->h800.gpu) : 0;
}

/* One term of the decomposition: what it adds and where that comes from; the plan as it then stands is timed on
   the H800 cluster with the batch ramp or without, at a goodput or none, and its steady state kept where asked. */
typedef struct {
    const char *label, *source;
    int ramp;                  /* 1: the first 469B tokens at the ramp's batch sizes */
    double goodput;            /* share of wall-clock time spent training; 0: 1 */
    fp8lab_sim_result *steady; /* NULL: not kept */
} term_spec;

static int term(const claim_ctx *c, fp8lab_claim *o, term_spec t, double *hours) {
    const env_t e = {&c->m, &c->h800, &c->km};
    if (hours_for(&e, &c->plan, t.ramp, t.goodput > 0 ? t.goodput : 1, hours, t.steady))
        return blame("--cluster", c->in->h800, LAYOUT);
    add_term(o, t.label, t.source, *hours);
    return 0;
}

/* From the ideal run to the modeled one, one loss at a time; leaves the full plan in c->plan and returns its
   GPU-hours. */
static int decompose(claim_ctx *c, fp8lab_claim *o, double *h) {
    fp8lab_plan *p = &c->plan;
    fp8lab_claim_plan(p);
    /* the published 20 communication SMs are part of the ideal: without SMs of their own the all-to-alls could not
       run under the compute at all (sim/collectives.h), so "0 SMs" is no ideal to start from */
    p->comm_sms = 20, p->recompute = FP8LAB_RECOMPUTE_NONE, p->mtp = 0, p->moe_imbalance = 1.0;
    if (term(c, o,
             (term_spec){.label = "ideal: 112 SMs compute, 20 communicate; DualPipe timeline; batch 15360",
                         .source = "configs/calibration GEMM table; NVLink 160 / IB 50 GB/s at 20 SMs (DeepSeek-V3 "
                                   "sec. 3.2.2, DeepEP)"},
             h))
        return -1;
    p->recompute = FP8LAB_RECOMPUTE_SELECTIVE;
    if (term(c, o,
             (term_spec){.label = "recompute RMSNorm, SwiGLU and MLA up-projections",
                         .source = "DeepSeek-V3 sec. 3.2.3, 3.3.4"},
             h))
        return -1;
    p->mtp = 1;
    if (term(c, o,
             (term_spec){.label = "multi-token prediction module (depth 1)",
                         .source = "DeepSeek-V3 sec. 2.2, config num_nextn_predict_layers"},
             h))
        return -1;
    p->moe_imbalance = c->in->moe_imbalance;
    if (term(c, o,
             (term_spec){.label = c->in->moe_imbalance > 0 ? "MoE load imbalance (--moe-imbalance)"
                                                           : "MoE load imbalance (statistical floor, EP64)",
                         .source = "balls-in-bins maximum over the EP group; aux-loss-free balancing (sec. 2.1.2) is "
                                   "not perfect"},
             h))
        return -1;
    if (term(c, o,
             (term_spec){.label = "batch ramp 3072 -> 15360 sequences over the first 469B tokens",
                         .source = "DeepSeek-V3 sec. 4.2", .ramp = 1},
             h))
        return -1;
    if (term(c, o,
             (term_spec){.label = "effective training time (restarts, checkpoints, failures)",
                         .source = "Llama 3 report sec. 3.3.4: > 90 % effective training time", .ramp = 1,
                         .goodput = c->goodput, .steady = &o->steady},
             h))
        return -1;
    o->plan = *p;
    return 0;
}

/* Model FLOPs utilisation at a token rate, against one dense peak. */
static double mfu(double flops_per_token, double tokens_per_gpu_hour, const fp8lab_gpu *g, fp8lab_prec prec) {
    return flops_per_token * tokens_per_gpu_hour / 3600 / (g->peak_tflops[prec] * 1e12);
}

/* The claimed and the simulated run side by side. */
static void totals(const claim_ctx *c, fp8lab_claim *o, double h) {
    const fp8lab_gpu *g = &c->h800.gpu;
    const double fpt = o->steady.model_flops_per_token;
    o->tokens = FP8LAB_CLAIM_TOKENS;
    o->claimed_gpu_hours = FP8LAB_CLAIM_GPU_HOURS;
    o->claimed_tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / FP8LAB_CLAIM_GPU_HOURS;
    o->claimed_mfu_bf16 = mfu(fpt, o->claimed_tokens_per_gpu_hour, g, FP8LAB_PREC_BF16);
    o->claimed_mfu_fp8 = mfu(fpt, o->claimed_tokens_per_gpu_hour, g, FP8LAB_PREC_FP8);
    o->claimed_days = FP8LAB_CLAIM_GPU_HOURS / 2048 / 24;
    o->claimed_cost = FP8LAB_CLAIM_GPU_HOURS * FP8LAB_CLAIM_PRICE;
    o->simulated_gpu_hours = h;
    o->ratio = h / FP8LAB_CLAIM_GPU_HOURS;
    o->tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / h;
    o->mfu_bf16 = mfu(fpt, o->tokens_per_gpu_hour, g, FP8LAB_PREC_BF16);
    o->mfu_fp8 = mfu(fpt, o->tokens_per_gpu_hour, g, FP8LAB_PREC_FP8);
    o->days = h / 2048 / 24;
    o->cost = h * FP8LAB_CLAIM_PRICE;
}

/* The same run, every loss included, in BF16 and on H100 and H200. */
static int whatifs(const claim_ctx *c, fp8lab_claim *o) {
    const struct {
        const char *name;
        const fp8lab_cluster *c;
        fp8lab_prec prec;
        const char *flag, *file;
    } wi[3] = {{"same run in BF16 (H800)", &c->h800, FP8LAB_PREC_BF16, "--cluster", c->in->h800},
               {"on H100 SXM (FP8)", &c->h100, FP8LAB_PREC_FP8, "--h100", c->in->h100},
               {"on H200 (FP8)", &c->h200, FP8LAB_PREC_FP8, "--h200", c->in->h200}};
    const double fpt = o->steady.model_flops_per_token;
    for (int i = 0; i < 3; i++) {
        const env_t ew = {&c->m, wi[i].c, &c->km};
        fp8lab_plan pw = c->plan;
        pw.prec = wi[i].prec;
        fp8lab_sim_result rw;
        double hw;
        if (full_run(&ew, &pw, c->goodput, &hw, &rw))
            return blame(wi[i].flag, wi[i].file, "the what-if (the published layout) does not run on this cluster");
        fp8lab_claim_whatif *w = &o->whatif[i];
        *w = (fp8lab_claim_whatif){.name = wi[i].name,
                                   .gpu_hours = hw,
                                   .days = hw / 2048 / 24,
                                   .cost_claim_price = hw * FP8LAB_CLAIM_PRICE,
                                   .cost_list_price = hw * wi[i].c->price_per_gpu_hour,
                                   .tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / hw,
                                   .memory_gb = rw.mem.total_gb,
                                   .fits = rw.mem.fits};
        w->mfu_bf16 = mfu(fpt, w->tokens_per_gpu_hour, &wi[i].c->gpu, FP8LAB_PREC_BF16);
        w->mfu_fp8 = mfu(fpt, w->tokens_per_gpu_hour, &wi[i].c->gpu, FP8LAB_PREC_FP8);
    }
    return 0;
}

/* The inputs bisect_to_claim can move, each with the range it searches and whether GPU-hours rise with it. */
typedef enum { M_GEMM, M_IMBALANCE, M_COMPUTE } match_input;
static const struct {
    double lo, hi;
    int rising;
} MATCH[] = {[M_GEMM] = {0.3, 1.5, 0}, [M_IMBALANCE] = {1.0, 4.0, 1}, [M_COMPUTE] = {0.5, 3.0, 1}};

/* The value of one input (GEMM efficiency scale, MoE imbalance, or the time of every compute op) at which the
   full run lands on the claimed GPU-hours, by bisection with the others at their defaults; 0 when it lies outside
   the searched range. */
static int bisect_to_claim(const claim_ctx *c, match_input in, double *found) {
    double lo = MATCH[in].lo, hi = MATCH[in].hi, mid = 0;
    /* within this of either end the search ran into it: no answer inside */
    const double edge = 1e-3 * (hi - lo), edge_lo = lo + edge, edge_hi = hi - edge;
    for (int it = 0; it < 30; it++) {
        mid = 0.5 * (lo + hi);
        fp8lab_kernel_model kk = c->km;
        fp8lab_plan pp = c->plan;
        if (in == M_IMBALANCE) pp.moe_imbalance = mid;
        else if (in == M_COMPUTE) kk.compute_scale = mid;
        else kk.gemm_eff_scale = mid;
        const env_t es = {&c->m, &c->h800, &kk};
        double hs;
        if (full_run(&es, &pp, c->goodput, &hs, NULL)) return blame("--cluster", c->in->h800, LAYOUT);
        const int above = hs > FP8LAB_CLAIM_GPU_HOURS;
        if (MATCH[in].rising ? above : !above) hi = mid;
        else lo = mid;
    }
    *found = mid <= edge_lo || mid >= edge_hi ? 0 : mid;
    return 0;
}

/* The sensitivity sweep's inputs, each moved one way and the other (side 0, side 1). */
enum { S_GEMM, S_ATTN, S_MOE, S_GOOD, S_NVL, S_IB, S_SMS, S_HBM, S_RECOMP, S_N };
static const char *const SENS_NAMES[S_N][3] = {
    {"GEMM efficiency", "x0.8", "x1.2"},       {"attention efficiency", "x0.8", "x1.2"},
    {"MoE load imbalance", "1.30", "floor"},   {"effective training time", "80 %", "95 %"},
    {"NVLink bandwidth", "x0.5", "x2"},        {"InfiniBand bandwidth", "x0.5", "x2"},
    {"SMs for communication", "32", "10"},     {"HBM bandwidth", "x0.8", "x1.2"},
    {"recompute", "full", "none"},
};

typedef struct {
    fp8lab_cluster cluster;
    fp8lab_kernel_model km;
    fp8lab_plan plan;
    double goodput;
} sens_case;

static sens_case perturb(const claim_ctx *c, int s, int side) {
    sens_case k = {.cluster = c->h800, .km = c->km, .plan = c->plan, .goodput = c->goodput};
    switch (s) {
    case S_GEMM: k.km.gemm_eff_scale = side ? 1.2 : 0.8; break;
    case S_ATTN:
        k.km.attn_fwd_eff *= side ? 1.2 : 0.8;
        k.km.attn_bwd_eff *= side ? 1.2 : 0.8;
        break;
    case S_MOE: k.plan.moe_imbalance = side ? 0 : 1.3; break;
    case S_GOOD: k.goodput = side ? 0.95 : 0.80; break;
    case S_NVL: k.cluster.intra_node_gbps *= side ? 2 : 0.5; break;
    case S_IB: k.cluster.inter_node_gbps_per_gpu *= side ? 2 : 0.5; break;
    case S_SMS: k.plan.comm_sms = side ? 10 : 32; break;
    case S_HBM: k.cluster.gpu.hbm_gbps *= side ? 1.2 : 0.8; break;
    case S_RECOMP: k.plan.recompute = side ? FP8LAB_RECOMPUTE_NONE : FP8LAB_RECOMPUTE_FULL; break;
    }
    return k;
}

static double swing(const fp8lab_claim_sens *z) { return fabs(z->ratio_low - z->ratio_high); }

/* One input at a time, both ways; ratio = simulated / claimed; largest swing first. */
static int sensitivity(const claim_ctx *c, fp8lab_claim *o) {
    for (int s = 0; s < S_N; s++) {
        double r2[2];
        for (int side = 0; side < 2; side++) {
            const sens_case k = perturb(c, s, side);
            const env_t es = {&c->m, &k.cluster, &k.km};
            double hs;
            if (full_run(&es, &k.plan, k.goodput, &hs, NULL)) return blame("--cluster", c->in->h800, LAYOUT);
            r2[side] = hs / FP8LAB_CLAIM_GPU_HOURS;
        }
        o->sens[o->nsens++] = (fp8lab_claim_sens){.name = SENS_NAMES[s][0], .low_label = SENS_NAMES[s][1],
                                                  .high_label = SENS_NAMES[s][2], .ratio_low = r2[0],
                                                  .ratio_high = r2[1]};
    }
    for (int i = 0; i < o->nsens; i++)
        for (int j = i + 1; j < o->nsens; j++)
            if (swing(&o->sens[j]) > swing(&o->sens[i])) {
                const fp8lab_claim_sens t = o->sens[i];
                o->sens[i] = o->sens[j];
                o->sens[j] = t;
            }
    return 0;
}

/* DeepSeek's own measured kernels: the simulated chunk of its H800 training profile (balanced routing, as
   profiled) against the measured one, then the full run with every compute op slowed or sped by that factor. */
static int profile_check(const claim_ctx *c, fp8lab_claim *o) {
    if (!c->in->profile || !strcmp(c->in->profile, "none")) return 0;
    fp8lab_plan p = c->plan;
    p.moe_imbalance = 1.0;
    if (fp8lab_profile_compare(c->in->profile, &c->m, &c->h800, &c->km, &p, &o->profile))
        return blame("--profile", c->in->profile, "cannot compare it with the claim's chunk (--profile none skips it)");
    fp8lab_kernel_model kk = c->km;
    kk.compute_scale = o->profile.factor;
    const env_t e = {&c->m, &c->h800, &kk};
    if (full_run(&e, &c->plan, c->goodput, &o->profile_gpu_hours, NULL))
        return blame("--cluster", c->in->h800, LAYOUT);
    o->profile_ratio = o->profile_gpu_hours / FP8LAB_CLAIM_GPU_HOURS;
    o->has_profile = 1;
    return 0;
}

int fp8lab_claim_run(const fp8lab_claim_inputs *in, fp8lab_claim *o) {
    memset(o, 0, sizeof *o);
    claim_ctx c;
    double h;
    if (load_ctx(in, &c)) return -1;
    snprintf(o->cluster_name, sizeof o->cluster_name, "%s", c.h800.name);
    snprintf(o->gpu_name, sizeof o->gpu_name, "%s", c.h800.gpu.name);
    snprintf(o->kernel_source, sizeof o->kernel_source, "%s", c.km.source);
    if (decompose(&c, o, &h)) return -1;
    totals(&c, o, h);
    if (whatifs(&c, o)) return -1;
    if (megatron(&c.a100, &c.km, o))
        return blame("--a100", in->a100, "the Megatron-LM run (3072 GPUs, TP8 PP64 DP6) does not run on this cluster");
    o->calibrated_gpu_hours = h * o->megatron_factor;
    o->calibrated_ratio = o->calibrated_gpu_hours / FP8LAB_CLAIM_GPU_HOURS;
    if (profile_check(&c, o)) return -1;
    /* what it would take to land on the claim */
    o->match_goodput = c.goodput * o->ratio < 1 ? c.goodput * o->ratio : 0;
    if (bisect_to_claim(&c, M_GEMM, &o->match_gemm_scale) ||
        bisect_to_claim(&c, M_IMBALANCE, &o->match_moe_imbalance) ||
        bisect_to_claim(&c, M_COMPUTE, &o->match_compute_scale))
        return -1;
    return in->sensitivity ? sensitivity(&c, o) : 0;
}
