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
    /* Llama 3 report (arXiv:2407.21783) sec. 3.3.4: "higher than 90% effective training time" on 16K H100s,
       counting restarts after failures and checkpointing */
    in->goodput = 0.90;
    in->sensitivity = 1;
}

/* DeepSeek-V3 report sec. 3.2: the published layout */
static void published_plan(fp8lab_plan *p) {
    fp8lab_plan_default(p);
    p->gpus = 2048, p->tp = 1, p->pp = 16, p->ep = 64, p->zero = 1;
    p->schedule = FP8LAB_PP_DUALPIPE;
    p->prec = FP8LAB_PREC_FP8;
    p->seq = 4096, p->micro_batch = 1, p->global_batch = RAMP_TO;
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

int fp8lab_claim_run(const fp8lab_claim_inputs *in, fp8lab_claim *o) {
    memset(o, 0, sizeof *o);
    fp8lab_model m;
    fp8lab_cluster cl[4];
    fp8lab_kernel_model km;
    if (load_inputs(in, &m, cl)) return -1;
    const fp8lab_cluster h800 = cl[0], h100 = cl[1], h200 = cl[2], a100 = cl[3];
    fp8lab_kernel_model_default(&km);
    if (in->calibration && fp8lab_kernel_model_calibrate_gpu(&km, in->calibration, &h800.gpu)) return -1;
    double goodput = in->goodput > 0 && in->goodput <= 1 ? in->goodput : 1;
    env_t e = {&m, &h800, &km};
    snprintf(o->cluster_name, sizeof o->cluster_name, "%s", h800.name);
    snprintf(o->gpu_name, sizeof o->gpu_name, "%s", h800.gpu.name);
    snprintf(o->kernel_source, sizeof o->kernel_source, "%s", km.source);

    fp8lab_plan p;
    published_plan(&p);
    /* the published 20 communication SMs are part of the ideal: without SMs of their own the all-to-alls could not
       run under the compute at all (sim/collectives.h), so "0 SMs" is no ideal to start from */
    p.comm_sms = 20, p.recompute = FP8LAB_RECOMPUTE_NONE, p.mtp = 0, p.moe_imbalance = 1.0;
    double h;
    if (hours_for(&e, &p, 0, 1, &h, NULL)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, "ideal: 112 SMs compute, 20 communicate; DualPipe timeline; batch 15360",
             "configs/calibration GEMM table; NVLink 160 / IB 50 GB/s at 20 SMs (DeepSeek-V3 sec. 3.2.2, DeepEP)", h);
    p.recompute = FP8LAB_RECOMPUTE_SELECTIVE;
    if (hours_for(&e, &p, 0, 1, &h, NULL)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, "recompute RMSNorm, SwiGLU and MLA up-projections", "DeepSeek-V3 sec. 3.2.3, 3.3.4", h);
    p.mtp = 1;
    if (hours_for(&e, &p, 0, 1, &h, NULL)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, "multi-token prediction module (depth 1)", "DeepSeek-V3 sec. 2.2, config num_nextn_predict_layers",
             h);
    p.moe_imbalance = in->moe_imbalance;
    if (hours_for(&e, &p, 0, 1, &h, NULL)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, in->moe_imbalance > 0 ? "MoE load imbalance (--moe-imbalance)"
                                      : "MoE load imbalance (statistical floor, EP64)",
             "balls-in-bins maximum over the EP group; aux-loss-free balancing (sec. 2.1.2) is not perfect", h);
    if (hours_for(&e, &p, 1, 1, &h, NULL)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, "batch ramp 3072 -> 15360 sequences over the first 469B tokens", "DeepSeek-V3 sec. 4.2", h);
    if (hours_for(&e, &p, 1, goodput, &h, &o->steady)) return blame("--cluster", in->h800, LAYOUT);
    add_term(o, "effective training time (restarts, checkpoints, failures)",
             "Llama 3 report sec. 3.3.4: > 90 % effective training time", h);
    o->plan = p;

    const fp8lab_sim_result *st = &o->steady;
    o->tokens = FP8LAB_CLAIM_TOKENS;
    o->claimed_gpu_hours = FP8LAB_CLAIM_GPU_HOURS;
    o->claimed_tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / FP8LAB_CLAIM_GPU_HOURS;
    double fpt = st->model_flops_per_token;
    o->claimed_mfu_bf16 = fpt * o->claimed_tokens_per_gpu_hour / 3600 / (h800.gpu.peak_tflops[FP8LAB_PREC_BF16] * 1e12);
    o->claimed_mfu_fp8 = fpt * o->claimed_tokens_per_gpu_hour / 3600 / (h800.gpu.peak_tflops[FP8LAB_PREC_FP8] * 1e12);
    o->claimed_days = FP8LAB_CLAIM_GPU_HOURS / 2048 / 24;
    o->claimed_cost = FP8LAB_CLAIM_GPU_HOURS * FP8LAB_CLAIM_PRICE;
    o->simulated_gpu_hours = h;
    o->ratio = h / FP8LAB_CLAIM_GPU_HOURS;
    o->tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / h;
    o->mfu_bf16 = fpt * o->tokens_per_gpu_hour / 3600 / (h800.gpu.peak_tflops[FP8LAB_PREC_BF16] * 1e12);
    o->mfu_fp8 = fpt * o->tokens_per_gpu_hour / 3600 / (h800.gpu.peak_tflops[FP8LAB_PREC_FP8] * 1e12);
    o->days = h / 2048 / 24;
    o->cost = h * FP8LAB_CLAIM_PRICE;

    /* what-ifs: the same run, every loss included */
    struct {
        const char *name;
        const fp8lab_cluster *c;
        fp8lab_prec prec;
        const char *flag, *file;
    } wi[3] = {{"same run in BF16 (H800)", &h800, FP8LAB_PREC_BF16, "--cluster", in->h800},
               {"on H100 SXM (FP8)", &h100, FP8LAB_PREC_FP8, "--h100", in->h100},
               {"on H200 (FP8)", &h200, FP8LAB_PREC_FP8, "--h200", in->h200}};
    for (int i = 0; i < 3; i++) {
        env_t ew = {&m, wi[i].c, &km};
        fp8lab_plan pw = p;
        pw.prec = wi[i].prec;
        fp8lab_sim_result rw;
        double hw;
        if (full_run(&ew, &pw, goodput, &hw, &rw))
            return blame(wi[i].flag, wi[i].file, "the what-if (the published layout) does not run on this cluster");
        fp8lab_claim_whatif *w = &o->whatif[i];
        w->name = wi[i].name;
        w->gpu_hours = hw;
        w->days = hw / 2048 / 24;
        w->cost_claim_price = hw * FP8LAB_CLAIM_PRICE;
        w->cost_list_price = hw * wi[i].c->price_per_gpu_hour;
        w->tokens_per_gpu_hour = FP8LAB_CLAIM_TOKENS / hw;
        w->mfu_bf16 = fpt * w->tokens_per_gpu_hour / 3600 / (wi[i].c->gpu.peak_tflops[FP8LAB_PREC_BF16] * 1e12);
        w->mfu_fp8 = fpt * w->tokens_per_gpu_hour / 3600 / (wi[i].c->gpu.peak_tflops[FP8LAB_PREC_FP8] * 1e12);
        w->memory_gb = rw.mem.total_gb;
        w->fits = rw.mem.fits;
    }

    if (megatron(&a100, &km, o))
        return blame("--a100", in->a100, "the Megatron-LM run (3072 GPUs, TP8 PP64 DP6) does not run on this cluster");
    o->calibrated_gpu_hours = h * o->megatron_factor;
    o->calibrated_ratio = o->calibrated_gpu_hours / FP8LAB_CLAIM_GPU_HOURS;

    /* what it would take to land on the claim: bisection on one input, the others at their defaults */
    o->match_goodput = goodput * o->ratio < 1 ? goodput * o->ratio : 0;
    for (int which = 0; which < 2; which++) {
        double lo = which ? 1.0 : 0.3, hi = which ? 4.0 : 1.5, found = 0;
        for (int it = 0; it < 30; it++) {
            double mid = 0.5 * (lo + hi), hs;
            fp8lab_kernel_model kk = km;
            fp8lab_plan pp = p;
            if (which) pp.moe_imbalance = mid;
            else kk.gemm_eff_scale = mid;
            env_t es = {&m, &h800, &kk};
            if (full_run(&es, &pp, goodput, &hs, NULL)) return blame("--cluster", in->h800, LAYOUT);
            /* GPU-hours fall with GEMM efficiency and rise with imbalance */
            int above = hs > FP8LAB_CLAIM_GPU_HOURS;
            if (which ? above : !above) hi = mid;
            else lo = mid;
            found = mid;
        }
        if (found <= (which ? 1.0001 : 0.3001) || found >= (which ? 3.999 : 1.499)) found = 0;
        if (which) o->match_moe_imbalance = found;
        else o->match_gemm_scale = found;
    }

    if (in->sensitivity) {
        /* one input at a time, both ways; ratio = simulated / claimed */
        enum { S_GEMM, S_ATTN, S_MOE, S_GOOD, S_NVL, S_IB, S_SMS, S_HBM, S_RECOMP, S_N };
        static const char *names[S_N][3] = {
            {"GEMM efficiency", "x0.8", "x1.2"},
            {"attention efficiency", "x0.8", "x1.2"},
            {"MoE load imbalance", "1.30", "floor"},
            {"effective training time", "80 %", "95 %"},
            {"NVLink bandwidth", "x0.5", "x2"},
            {"InfiniBand bandwidth", "x0.5", "x2"},
            {"SMs for communication", "32", "10"},
            {"HBM bandwidth", "x0.8", "x1.2"},
            {"recompute", "full", "none"},
        };
        for (int s = 0; s < S_N; s++) {
            double r2[2];
            for (int side = 0; side < 2; side++) {
                fp8lab_cluster cc = h800;
                fp8lab_kernel_model kk = km;
                fp8lab_plan pp = p;
                double gp = goodput;
                switch (s) {
                case S_GEMM: kk.gemm_eff_scale = side ? 1.2 : 0.8; break;
                case S_ATTN:
                    kk.attn_fwd_eff *= side ? 1.2 : 0.8;
                    kk.attn_bwd_eff *= side ? 1.2 : 0.8;
                    break;
                case S_MOE: pp.moe_imbalance = side ? 0 : 1.3; break;
                case S_GOOD: gp = side ? 0.95 : 0.80; break;
                case S_NVL: cc.intra_node_gbps *= side ? 2 : 0.5; break;
                case S_IB: cc.inter_node_gbps_per_gpu *= side ? 2 : 0.5; break;
                case S_SMS: pp.comm_sms = side ? 10 : 32; break;
                case S_HBM: cc.gpu.hbm_gbps *= side ? 1.2 : 0.8; break;
                case S_RECOMP: pp.recompute = side ? FP8LAB_RECOMPUTE_NONE : FP8LAB_RECOMPUTE_FULL; break;
                }
                env_t es = {&m, &cc, &kk};
                double hs;
                if (full_run(&es, &pp, gp, &hs, NULL)) return blame("--cluster", in->h800, LAYOUT);
                r2[side] = hs / FP8LAB_CLAIM_GPU_HOURS;
            }
            fp8lab_claim_sens *z = &o->sens[o->nsens++];
            z->name = names[s][0], z->low_label = names[s][1], z->high_label = names[s][2];
            z->ratio_low = r2[0], z->ratio_high = r2[1];
        }
        /* largest swing first */
        for (int i = 0; i < o->nsens; i++)
            for (int j = i + 1; j < o->nsens; j++)
                if (fabs(o->sens[j].ratio_low - o->sens[j].ratio_high) >
                    fabs(o->sens[i].ratio_low - o->sens[i].ratio_high)) {
                    fp8lab_claim_sens t = o->sens[i];
                    o->sens[i] = o->sens[j];
                    o->sens[j] = t;
                }
    }
    return 0;
}
