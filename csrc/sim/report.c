#include "sim/report.h"

#include <stdlib.h>

#include "core/json.h"
#include "sim/plan_parse.h"

/* The run's totals for s->tokens (null without tokens) */
static void json_totals(cJSON *o, const fp8lab_sim_report *s) {
    if (s->tokens > 0) {
        double gh, days, cost;
        fp8lab_sim_totals(s->r, s->tokens, s->price, &gh, &days, &cost);
        FP8LAB_JSON_ADD_NUMBERS(o, {"tokens", s->tokens}, {"gpu_hours", gh}, {"days", days}, {"cost_usd", cost},
                                {"price_per_gpu_hour", s->price});
        return;
    }
    cJSON_AddNullToObject(o, "gpu_hours");
    cJSON_AddNullToObject(o, "days");
    cJSON_AddNullToObject(o, "cost_usd");
}

/* The resolved layout and the software simulated */
static void json_plan(cJSON *pl, const fp8lab_sim_result *r, const fp8lab_plan *p) {
    char sch[32];
    if (!pl) return;
    FP8LAB_JSON_ADD_NUMBERS(pl, {"tp", r->tp}, {"pp", r->pp}, {"dp", r->dp}, {"ep", r->ep}, {"seq", (double)r->seq},
                            {"global_batch", (double)r->global_batch}, {"micro_batch", (double)r->micro_batch},
                            {"microbatches", (double)r->microbatches}, {"zero", p->zero}, {"comm_sms", p->comm_sms},
                            {"moe_imbalance", r->moe_imbalance}, {"goodput", r->goodput});
    cJSON_AddStringToObject(pl, "precision", fp8lab_prec_name(p->prec));
    cJSON_AddStringToObject(pl, "schedule", fp8lab_schedule_name(p, sch, sizeof sch));
    cJSON_AddStringToObject(pl, "recompute", fp8lab_recompute_name(p->recompute));
    cJSON_AddStringToObject(pl, "attention", fp8lab_attention_name(p->attn_impl));
    cJSON_AddStringToObject(pl, "tp_overlap", fp8lab_tp_overlap_name(p->tp_overlap));
    cJSON_AddStringToObject(pl, "loss", fp8lab_loss_name(p->loss));
    cJSON_AddBoolToObject(pl, "sequence_parallel", p->sp);
    cJSON_AddBoolToObject(pl, "grad_reduce_after", p->grad_reduce_after);
    cJSON_AddBoolToObject(pl, "grad_fp32", p->grad_fp32);
    cJSON_AddBoolToObject(pl, "p2p_async", p->p2p_async);
}

cJSON *fp8lab_sim_json(const fp8lab_sim_report *s) {
    const fp8lab_sim_result *r = s->r;
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "simulated_on", s->c->name);
    cJSON_AddStringToObject(o, "gpu", s->c->gpu.name);
    cJSON_AddStringToObject(o, "kernel_model", s->km->source);
    cJSON_AddNumberToObject(o, "compute_scale", s->km->compute_scale);
    FP8LAB_JSON_ADD_NUMBERS(o, {"gpus", (double)r->gpus}, {"step_time_s", r->step_time_s},
                            {"tokens_per_step", r->tokens_per_step}, {"tokens_per_gpu_s", r->tokens_per_gpu_s},
                            {"tokens_per_gpu_hour", r->tokens_per_gpu_hour}, {"tflops_per_gpu", r->tflops_per_gpu},
                            {"mfu_bf16", r->mfu_bf16}, {"mfu_fp8", r->mfu_fp8},
                            {"model_flops_per_token", r->model_flops_per_token},
                            {"mtp_flops_per_token", r->mtp_flops_per_token}, {"params_total", r->params_total},
                            {"params_activated", r->params_activated}, {"params_mtp", r->params_mtp},
                            {"memory_gb_per_gpu", r->mem.total_gb});
    cJSON_AddBoolToObject(o, "fits_in_hbm", r->mem.fits);
    json_totals(o, s);
    FP8LAB_JSON_ADD_NUMBERS(cJSON_AddObjectToObject(o, "breakdown"), {"compute_s", r->compute_s},
                            {"exposed_comm_s", r->exposed_comm_s}, {"bubble_s", r->bubble_s},
                            {"stage_imbalance_s", r->stage_imbalance_s}, {"optimizer_s", r->optimizer_s},
                            {"gemm_s", r->gemm_s}, {"attention_s", r->attn_s}, {"eltwise_s", r->eltwise_s},
                            {"recompute_s", r->recompute_s}, {"moe_imbalance_s", r->moe_imbalance_s},
                            {"mtp_s", r->mtp_s}, {"comm_total_s", r->comm_total_s},
                            {"comm_hidden_s", r->comm_hidden_s});
    FP8LAB_JSON_ADD_NUMBERS(cJSON_AddObjectToObject(o, "memory"), {"weights_gb", r->mem.weights_gb},
                            {"grads_gb", r->mem.grads_gb}, {"optimizer_gb", r->mem.optim_gb},
                            {"activations_gb", r->mem.act_gb}, {"hbm_gb", r->mem.hbm_gb});
    json_plan(cJSON_AddObjectToObject(o, "plan"), r, s->p);
    return o;
}

static double pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0; }

/* Where the figures come from: the cluster, the kernel model, the model, the plan and its software. */
static void print_setup(FILE *f, const fp8lab_sim_report *s) {
    const fp8lab_sim_result *r = s->r;
    const fp8lab_plan *p = s->p;
    char sch[32];
    fprintf(f, "SIMULATED on %s: %ld x %s (not measured)\n", s->c->name, r->gpus, s->c->gpu.name);
    fprintf(f, "kernel model: %s\n", s->km->source);
    if (s->km->compute_scale != 1.0)
        fprintf(f, "what-if: every compute op's kernel time x%g (--compute-scale)\n", s->km->compute_scale);
    fprintf(f, "model %s: %.2fB parameters (%.2fB activated per token)%s, %.1f GFLOP/token training at seq %ld",
            s->m->model_type, r->params_total / 1e9, r->params_activated / 1e9,
            r->params_mtp > 0 ? " + MTP" : "", r->model_flops_per_token / 1e9, r->seq);
    if (r->mtp_flops_per_token > 0) fprintf(f, " (+%.1f GFLOP in the MTP module)", r->mtp_flops_per_token / 1e9);
    fprintf(f, "\nplan: tp %d, pp %d, dp %d, ep %d%s; %s; %ld micro-batches of %ld x %ld tokens per step; %s; "
               "recompute %s; ZeRO-%d; %d SMs for communication; MoE load imbalance %.3f\n",
            r->tp, r->pp, r->dp, r->ep, p->sp ? " (sequence parallel)" : "", fp8lab_schedule_name(p, sch, sizeof sch),
            r->microbatches, r->micro_batch, r->seq, fp8lab_prec_name(p->prec), fp8lab_recompute_name(p->recompute),
            p->zero, p->comm_sms, r->moe_imbalance);
    fprintf(f, "software: %s attention; %s cross-entropy; TP input-gradient reduction %s; DP gradients in %s, %s; "
               "pipeline sends %s\n",
            fp8lab_attention_name(p->attn_impl), fp8lab_loss_name(p->loss),
            p->tp_overlap == FP8LAB_TP_OVERLAP_UB      ? "beside the Wgrad GEMM, userbuffers"
            : p->tp_overlap == FP8LAB_TP_OVERLAP_WGRAD ? "beside the Wgrad GEMM"
                                                       : "exposed",
            p->grad_fp32 ? "FP32" : "BF16", p->grad_reduce_after ? "reduced after the pipeline" : "overlapped",
            p->p2p_async ? "asynchronous" : "blocking");
}

/* The step and its terms, each with its share. */
static void print_step(FILE *f, const fp8lab_sim_result *r) {
    const double st = r->step_time_s;
    fprintf(f, "\n%-40s %10.3f s\n", "step time (simulated)", st);
    fprintf(f, "  %-38s %10.3f s  %5.1f %%   (GEMM %.3f, attention %.3f, element-wise %.3f)\n", "compute",
            r->compute_s, pct(r->compute_s, st), r->gemm_s, r->attn_s, r->eltwise_s);
    fprintf(f, "    %-36s %10.3f s  %5.1f %%\n", "of which recompute", r->recompute_s, pct(r->recompute_s, st));
    fprintf(f, "    %-36s %10.3f s  %5.1f %%\n", "of which MoE load imbalance", r->moe_imbalance_s,
            pct(r->moe_imbalance_s, st));
    fprintf(f, "    %-36s %10.3f s  %5.1f %%\n", "of which MTP module", r->mtp_s, pct(r->mtp_s, st));
    fprintf(f, "  %-38s %10.3f s  %5.1f %%   (%.3f s of communication in all, %.3f s hidden)\n",
            "exposed communication", r->exposed_comm_s, pct(r->exposed_comm_s, st), r->comm_total_s,
            r->comm_hidden_s);
    fprintf(f, "  %-38s %10.3f s  %5.1f %%\n", "pipeline bubble", r->bubble_s, pct(r->bubble_s, st));
    fprintf(f, "  %-38s %10.3f s  %5.1f %%\n", "pipeline stage imbalance", r->stage_imbalance_s,
            pct(r->stage_imbalance_s, st));
    fprintf(f, "  %-38s %10.3f s  %5.1f %%\n", "optimizer", r->optimizer_s, pct(r->optimizer_s, st));
}

/* Throughput, utilization and memory; with tokens, the run's GPU-hours, days and cost. */
static void print_rates(FILE *f, const fp8lab_sim_report *s) {
    const fp8lab_sim_result *r = s->r;
    const fp8lab_gpu *g = &s->c->gpu;
    fprintf(f, "%-40s %12.0f\n", "tokens per GPU-second (simulated)", r->tokens_per_gpu_s);
    fprintf(f, "%-40s %12.4g\n", "tokens per GPU-hour (simulated)", r->tokens_per_gpu_hour);
    fprintf(f, "%-40s %12.1f\n", "model TFLOP/s per GPU (simulated)", r->tflops_per_gpu);
    fprintf(f, "%-40s %11.1f %%  (of %.0f TFLOP/s)\n", "MFU vs BF16 peak (simulated)", 100 * r->mfu_bf16,
            g->peak_tflops[FP8LAB_PREC_BF16]);
    if (g->peak_tflops[FP8LAB_PREC_FP8] > 0)
        fprintf(f, "%-40s %11.1f %%  (of %.0f TFLOP/s)\n", "MFU vs FP8 peak (simulated)", 100 * r->mfu_fp8,
                g->peak_tflops[FP8LAB_PREC_FP8]);
    fprintf(f, "%-40s %10.1f GB of %.0f: weights %.1f, gradients %.1f, optimizer %.1f, activations %.1f%s\n",
            "memory per GPU (simulated, fullest rank)", r->mem.total_gb, r->mem.hbm_gb, r->mem.weights_gb,
            r->mem.grads_gb, r->mem.optim_gb, r->mem.act_gb, r->mem.fits ? "" : "  -- DOES NOT FIT in HBM");
    if (s->tokens > 0) {
        double gh, days, cost;
        fp8lab_sim_totals(r, s->tokens, s->price, &gh, &days, &cost);
        fprintf(f, "\nfor %.4g tokens (simulated, goodput %.0f %%): %.4g GPU-hours, %.1f days on %ld GPUs, $%.4g at "
                   "$%.2f/GPU-hour\n",
                s->tokens, 100 * r->goodput, gh, days, r->gpus, cost, s->price);
    }
}

void fp8lab_sim_print(FILE *f, const fp8lab_sim_report *s) {
    print_setup(f, s);
    print_step(f, s->r);
    print_rates(f, s);
}

int fp8lab_print_json(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "error: out of memory building JSON\n");
        return 1;
    }
    printf("%s\n", s);
    free(s);
    return 0;
}
