#include "sim/report.h"

#include <stdlib.h>

#include "sim/plan_parse.h"

cJSON *fp8lab_sim_json(const fp8lab_sim_result *r, const fp8lab_cluster *c, const fp8lab_plan *p,
                       const fp8lab_kernel_model *km, double tokens, double price) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char sch[32];
    cJSON_AddStringToObject(o, "simulated_on", c->name);
    cJSON_AddStringToObject(o, "gpu", c->gpu.name);
    cJSON_AddNumberToObject(o, "gpus", (double)r->gpus);
    cJSON_AddStringToObject(o, "kernel_model", km->source);
    cJSON_AddNumberToObject(o, "step_time_s", r->step_time_s);
    cJSON_AddNumberToObject(o, "tokens_per_step", r->tokens_per_step);
    cJSON_AddNumberToObject(o, "tokens_per_gpu_s", r->tokens_per_gpu_s);
    cJSON_AddNumberToObject(o, "tokens_per_gpu_hour", r->tokens_per_gpu_hour);
    cJSON_AddNumberToObject(o, "tflops_per_gpu", r->tflops_per_gpu);
    cJSON_AddNumberToObject(o, "mfu_bf16", r->mfu_bf16);
    cJSON_AddNumberToObject(o, "mfu_fp8", r->mfu_fp8);
    cJSON_AddNumberToObject(o, "model_flops_per_token", r->model_flops_per_token);
    cJSON_AddNumberToObject(o, "mtp_flops_per_token", r->mtp_flops_per_token);
    cJSON_AddNumberToObject(o, "params_total", r->params_total);
    cJSON_AddNumberToObject(o, "params_activated", r->params_activated);
    cJSON_AddNumberToObject(o, "params_mtp", r->params_mtp);
    cJSON_AddNumberToObject(o, "memory_gb_per_gpu", r->mem.total_gb);
    cJSON_AddBoolToObject(o, "fits_in_hbm", r->mem.fits);
    if (tokens > 0) {
        double gh, days, cost;
        fp8lab_sim_totals(r, tokens, price, &gh, &days, &cost);
        cJSON_AddNumberToObject(o, "tokens", tokens);
        cJSON_AddNumberToObject(o, "gpu_hours", gh);
        cJSON_AddNumberToObject(o, "days", days);
        cJSON_AddNumberToObject(o, "cost_usd", cost);
        cJSON_AddNumberToObject(o, "price_per_gpu_hour", price);
    } else {
        cJSON_AddNullToObject(o, "gpu_hours");
        cJSON_AddNullToObject(o, "days");
        cJSON_AddNullToObject(o, "cost_usd");
    }
    cJSON *b = cJSON_AddObjectToObject(o, "breakdown");
    if (b) {
        cJSON_AddNumberToObject(b, "compute_s", r->compute_s);
        cJSON_AddNumberToObject(b, "exposed_comm_s", r->exposed_comm_s);
        cJSON_AddNumberToObject(b, "bubble_s", r->bubble_s);
        cJSON_AddNumberToObject(b, "stage_imbalance_s", r->stage_imbalance_s);
        cJSON_AddNumberToObject(b, "optimizer_s", r->optimizer_s);
        cJSON_AddNumberToObject(b, "gemm_s", r->gemm_s);
        cJSON_AddNumberToObject(b, "attention_s", r->attn_s);
        cJSON_AddNumberToObject(b, "eltwise_s", r->eltwise_s);
        cJSON_AddNumberToObject(b, "recompute_s", r->recompute_s);
        cJSON_AddNumberToObject(b, "moe_imbalance_s", r->moe_imbalance_s);
        cJSON_AddNumberToObject(b, "mtp_s", r->mtp_s);
        cJSON_AddNumberToObject(b, "comm_total_s", r->comm_total_s);
        cJSON_AddNumberToObject(b, "comm_hidden_s", r->comm_hidden_s);
    }
    cJSON *mem = cJSON_AddObjectToObject(o, "memory");
    if (mem) {
        cJSON_AddNumberToObject(mem, "weights_gb", r->mem.weights_gb);
        cJSON_AddNumberToObject(mem, "grads_gb", r->mem.grads_gb);
        cJSON_AddNumberToObject(mem, "optimizer_gb", r->mem.optim_gb);
        cJSON_AddNumberToObject(mem, "activations_gb", r->mem.act_gb);
        cJSON_AddNumberToObject(mem, "hbm_gb", r->mem.hbm_gb);
    }
    cJSON *pl = cJSON_AddObjectToObject(o, "plan");
    if (pl) {
        cJSON_AddNumberToObject(pl, "tp", r->tp);
        cJSON_AddNumberToObject(pl, "pp", r->pp);
        cJSON_AddNumberToObject(pl, "dp", r->dp);
        cJSON_AddNumberToObject(pl, "ep", r->ep);
        cJSON_AddBoolToObject(pl, "sequence_parallel", p->sp);
        cJSON_AddNumberToObject(pl, "seq", (double)r->seq);
        cJSON_AddNumberToObject(pl, "global_batch", (double)r->global_batch);
        cJSON_AddNumberToObject(pl, "micro_batch", (double)r->micro_batch);
        cJSON_AddNumberToObject(pl, "microbatches", (double)r->microbatches);
        cJSON_AddStringToObject(pl, "precision", fp8lab_prec_name(p->prec));
        cJSON_AddStringToObject(pl, "schedule", fp8lab_schedule_name(p, sch, sizeof sch));
        cJSON_AddStringToObject(pl, "recompute", fp8lab_recompute_name(p->recompute));
        cJSON_AddNumberToObject(pl, "zero", p->zero);
        cJSON_AddNumberToObject(pl, "comm_sms", p->comm_sms);
        cJSON_AddNumberToObject(pl, "moe_imbalance", r->moe_imbalance);
        cJSON_AddNumberToObject(pl, "goodput", r->goodput);
        cJSON_AddStringToObject(pl, "attention", fp8lab_attention_name(p->attn_impl));
        cJSON_AddStringToObject(pl, "tp_overlap", fp8lab_tp_overlap_name(p->tp_overlap));
        cJSON_AddBoolToObject(pl, "grad_reduce_after", p->grad_reduce_after);
        cJSON_AddBoolToObject(pl, "grad_fp32", p->grad_fp32);
        cJSON_AddBoolToObject(pl, "p2p_async", p->p2p_async);
    }
    return o;
}

static double pct(double a, double b) { return b > 0 ? 100.0 * a / b : 0; }

void fp8lab_sim_print(FILE *f, const fp8lab_sim_result *r, const fp8lab_model *m, const fp8lab_cluster *c,
                      const fp8lab_plan *p, const fp8lab_kernel_model *km, double tokens, double price) {
    char sch[32];
    double st = r->step_time_s;
    fprintf(f, "SIMULATED on %s: %ld x %s (not measured)\n", c->name, r->gpus, c->gpu.name);
    fprintf(f, "kernel model: %s\n", km->source);
    fprintf(f, "model %s: %.2fB parameters (%.2fB activated per token)%s, %.1f GFLOP/token training at seq %ld",
            m->model_type, r->params_total / 1e9, r->params_activated / 1e9,
            r->params_mtp > 0 ? " + MTP" : "", r->model_flops_per_token / 1e9, r->seq);
    if (r->mtp_flops_per_token > 0) fprintf(f, " (+%.1f GFLOP in the MTP module)", r->mtp_flops_per_token / 1e9);
    fprintf(f, "\nplan: tp %d, pp %d, dp %d, ep %d%s; %s; %ld micro-batches of %ld x %ld tokens per step; %s; "
               "recompute %s; ZeRO-%d; %d SMs for communication; MoE load imbalance %.3f\n",
            r->tp, r->pp, r->dp, r->ep, p->sp ? " (sequence parallel)" : "", fp8lab_schedule_name(p, sch, sizeof sch),
            r->microbatches, r->micro_batch, r->seq, fp8lab_prec_name(p->prec), fp8lab_recompute_name(p->recompute),
            p->zero, p->comm_sms, r->moe_imbalance);
    fprintf(f, "software: %s attention; TP input-gradient reduction %s; DP gradients in %s, %s; pipeline sends %s\n",
            fp8lab_attention_name(p->attn_impl), p->tp_overlap ? "beside the Wgrad GEMM" : "exposed",
            p->grad_fp32 ? "FP32" : "BF16", p->grad_reduce_after ? "reduced after the pipeline" : "overlapped",
            p->p2p_async ? "asynchronous" : "blocking");
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
    fprintf(f, "%-40s %12.0f\n", "tokens per GPU-second (simulated)", r->tokens_per_gpu_s);
    fprintf(f, "%-40s %12.4g\n", "tokens per GPU-hour (simulated)", r->tokens_per_gpu_hour);
    fprintf(f, "%-40s %12.1f\n", "model TFLOP/s per GPU (simulated)", r->tflops_per_gpu);
    fprintf(f, "%-40s %11.1f %%  (of %.0f TFLOP/s)\n", "MFU vs BF16 peak (simulated)", 100 * r->mfu_bf16,
            c->gpu.peak_tflops[FP8LAB_PREC_BF16]);
    if (c->gpu.peak_tflops[FP8LAB_PREC_FP8] > 0)
        fprintf(f, "%-40s %11.1f %%  (of %.0f TFLOP/s)\n", "MFU vs FP8 peak (simulated)", 100 * r->mfu_fp8,
                c->gpu.peak_tflops[FP8LAB_PREC_FP8]);
    fprintf(f, "%-40s %10.1f GB of %.0f: weights %.1f, gradients %.1f, optimizer %.1f, activations %.1f%s\n",
            "memory per GPU (simulated, fullest rank)", r->mem.total_gb, r->mem.hbm_gb, r->mem.weights_gb,
            r->mem.grads_gb, r->mem.optim_gb, r->mem.act_gb, r->mem.fits ? "" : "  -- DOES NOT FIT in HBM");
    if (tokens > 0) {
        double gh, days, cost;
        fp8lab_sim_totals(r, tokens, price, &gh, &days, &cost);
        fprintf(f, "\nfor %.4g tokens (simulated, goodput %.0f %%): %.4g GPU-hours, %.1f days on %ld GPUs, $%.4g at "
                   "$%.2f/GPU-hour\n",
                tokens, 100 * r->goodput, gh, days, r->gpus, cost, price);
    }
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
