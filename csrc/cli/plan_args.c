#include "cli/plan_args.h"

#include <stdio.h>

#include "core/error.h"
#include "sim/plan_limits.h"
#include "sim/plan_parse.h"

void plan_args_init(plan_args *a) {
    *a = (plan_args){.precision = "bf16", .schedule = "1f1b", .recompute = "none", .attention = "flash3", .loss = "fused",
                     .tp_overlap = "wgrad", .tp = 1, .pp = 1, .ep = 1,
                     .mbatch = 1, .compute_scale = 1};
}

void plan_args_flags(plan_args *a, cli_flag *out) {
    const cli_flag f[PLAN_ARGS_NFLAGS] = {
        {"model", FLAG_STR, &a->model, "Hugging Face config.json (gpt2, llama, deepseek_v3)"},
        {"cluster", FLAG_STR, &a->cluster, "cluster spec JSON (configs/clusters/)"},
        {"gpus", FLAG_LONG, &a->gpus, "GPUs to use (0: the cluster's num_gpus)", FP8LAB_RANGE(0, FP8LAB_MAX_GPUS)},
        {"tp", FLAG_INT, &a->tp, "tensor-parallel degree (inside a node)", FP8LAB_RANGE(1, FP8LAB_MAX_TP)},
        {"pp", FLAG_INT, &a->pp, "pipeline-parallel degree", FP8LAB_RANGE(1, FP8LAB_MAX_PP)},
        {"dp", FLAG_INT, &a->dp, "data-parallel degree (0: gpus / (tp pp))", FP8LAB_RANGE(0, FP8LAB_MAX_GPUS)},
        {"ep", FLAG_INT, &a->ep, "expert-parallel degree (divides dp)", FP8LAB_RANGE(1, FP8LAB_MAX_EP)},
        {"sequence-parallel", FLAG_BOOL, &a->sp, "sequence parallelism with TP (all-gather/reduce-scatter)"},
        {"seq", FLAG_LONG, &a->seq, "sequence length (0: min(model max positions, 4096))", FP8LAB_RANGE(0, FP8LAB_MAX_SEQ)},
        {"global-batch", FLAG_LONG, &a->gbatch, "sequences per step (0: dp x micro-batch x 4 pp)", FP8LAB_RANGE(0, FP8LAB_MAX_GLOBAL_BATCH)},
        {"micro-batch", FLAG_LONG, &a->mbatch, "sequences per micro-batch", FP8LAB_RANGE(1, FP8LAB_MAX_MICRO_BATCH)},
        {"precision", FLAG_STR, &a->precision, "GEMM precision: bf16 | fp16 | fp8 | fp32"},
        {"schedule", FLAG_STR, &a->schedule, "pipeline schedule: 1f1b | interleaved:V | dualpipe | zb-h1"},
        {"recompute", FLAG_STR, &a->recompute, "activation recompute: none | selective | full"},
        {"zero", FLAG_INT, &a->zero,
         "ZeRO stage: 0 | 1 (optimizer states sharded) | 3 (FSDP: weights and gradients too)", FP8LAB_RANGE(0, 3)},
        {"comm-sms", FLAG_INT, &a->comm_sms, "SMs reserved for communication kernels", FP8LAB_RANGE(0, FP8LAB_MAX_COMM_SMS)},
        {"moe-imbalance", FLAG_DOUBLE, &a->moe_imb, "busiest/mean expert load in an EP group, >= 1 (0: the statistical floor)", FP8LAB_RANGE(0, FP8LAB_MAX_MOE_IMBALANCE)},
        {"no-mtp", FLAG_BOOL, &a->no_mtp, "leave out the multi-token-prediction modules"},
        {"calibration", FLAG_STR, &a->calib, "GEMM efficiency points from `fp8lab bench gemm --json`"},
        /* a what-if, not a model: how far a run's kernels may be from the benchmarked ones (fp8lab claim prints
           what DeepSeek's own H800 profile measures) */
        {"compute-scale", FLAG_DOUBLE, &a->compute_scale,
         "what-if: every compute op (GEMM, attention, element-wise) takes N times its modeled kernel time",
         FP8LAB_RANGE_POS(FP8LAB_MAX_COMPUTE_SCALE)},
        /* the software of a run, so that a published run of another time can be simulated as it ran */
        {"attention", FLAG_STR, &a->attention,
         "attention kernel: flash3 | flash2 | cudnn (Transformer Engine's choice on Hopper) | unfused (Megatron-LM "
         "before FlashAttention)"},
        {"tp-overlap", FLAG_STR, &a->tp_overlap,
         "TP input-gradient reduction beside the Wgrad GEMM (wgrad), and TE userbuffers' chunked GEMMs "
         "(userbuffers), or exposed (none)"},
        {"loss", FLAG_STR, &a->loss,
         "cross-entropy kernels: fused | megatron (Megatron-LM's FP32 vocab-parallel passes) | torch (F.cross_entropy "
         "on FP32 logits)"},
        {"grad-reduce-after", FLAG_BOOL, &a->grad_reduce_after,
         "data-parallel gradient all-reduce after the whole pipeline, not overlapped"},
        {"grad-fp32", FLAG_BOOL, &a->grad_fp32, "data-parallel gradients reduced in FP32 (default BF16)"},
        {"p2p-async", FLAG_BOOL, &a->p2p_async, "asynchronous pipeline sends (1F1B and interleaved block the sender)"},
    };
    for (int i = 0; i < PLAN_ARGS_NFLAGS; i++) out[i] = f[i];
}

int plan_args_load(const plan_args *a, const char *usage, fp8lab_model *m, fp8lab_cluster *c,
                   fp8lab_kernel_model *km, fp8lab_plan *p) {
    if (!a->model || !a->cluster) {
        fprintf(stderr, "error: --%s is required\nusage: %s (see --help)\n", a->model ? "cluster" : "model", usage);
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_plan_default(p);
    p->gpus = a->gpus, p->tp = a->tp, p->pp = a->pp, p->dp = a->dp, p->ep = a->ep, p->sp = a->sp;
    p->seq = a->seq, p->global_batch = a->gbatch, p->micro_batch = a->mbatch;
    p->zero = a->zero, p->comm_sms = a->comm_sms, p->moe_imbalance = a->moe_imb, p->mtp = !a->no_mtp;
    p->grad_reduce_after = a->grad_reduce_after, p->grad_fp32 = a->grad_fp32, p->p2p_async = a->p2p_async;
    fp8lab_kernel_model_default(km);
    if (fp8lab_model_load(a->model, m) || fp8lab_cluster_load(a->cluster, c) ||
        (a->calib && fp8lab_kernel_model_calibrate_gpu(km, a->calib, &c->gpu)) ||
        fp8lab_parse_precision(a->precision, p) || fp8lab_parse_schedule(a->schedule, p) ||
        fp8lab_parse_recompute(a->recompute, p) || fp8lab_parse_attention(a->attention, p) ||
        fp8lab_parse_tp_overlap(a->tp_overlap, p) || fp8lab_parse_loss(a->loss, p)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    km->compute_scale = a->compute_scale;
    return 0;
}
