/* One training step on a modeled cluster: builds the op schedule of every layer kind, times each op on the
   kernel and collective models, places layers on pipeline stages, runs the pipeline schedule's timeline by
   event simulation (sim/timeline.h: bubble, critical rank, per-rank activations), and adds the data-parallel
   gradient exchange and the optimizer. */
#ifndef FP8LAB_SIM_STEP_H
#define FP8LAB_SIM_STEP_H
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/flops.h"
#include "sim/kernel_model.h"
#include "sim/memory.h"
#include "sim/pipeline.h"
#include "sim/schedule.h"

enum { FP8LAB_ATTN_FLASH3 = 0, FP8LAB_ATTN_FLASH2 = 1, FP8LAB_ATTN_UNFUSED = 2, FP8LAB_ATTN_CUDNN = 3 };
/* How tensor-parallel collectives overlap GEMMs: none (Megatron-LM before September 2021: every one exposed),
   the backward's input-gradient reduction beside the Wgrad GEMM and, with sequence parallelism, the input gathered
   again for the Wgrad beside the Dgrad (Megatron-LM since then, with sequence parallelism since March 2022; the
   default), or that and Transformer Engine's userbuffers besides (Megatron-Core
   --tp-comm-overlap, sequence parallel only): each all-gather feeds the GEMM after it chunk by chunk, each forward
   reduce-scatter drains the GEMM before it split by split (step.c) */
enum { FP8LAB_TP_OVERLAP_NONE = 0, FP8LAB_TP_OVERLAP_WGRAD = 1, FP8LAB_TP_OVERLAP_UB = 2 };

typedef struct {
    long gpus;            /* 0: the cluster's num_gpus */
    int tp, pp, dp, ep;   /* dp 0: gpus / (tp pp) */
    int sp;               /* sequence parallelism with TP */
    long seq;             /* 0: min(model max positions, 4096) */
    long global_batch;    /* sequences per step; 0: dp * micro_batch * (pp > 1 ? 4 pp : 1) */
    long micro_batch;     /* sequences per micro-batch */
    fp8lab_prec prec;
    fp8lab_pp_schedule schedule;
    int vchunks;          /* interleaved: model chunks per rank */
    fp8lab_recompute recompute;
    int zero;             /* 0 or 1 */
    int comm_sms;         /* SMs kept by communication kernels: compute gets the rest */
    double moe_imbalance; /* busiest/mean rank load in the EP group (an override, X = busiest/mean); <= 0: the
                             expected maximum of the per-expert load distribution (sim/moe_load.h) */
    double moe_skew;      /* that distribution's expert-popularity coefficient of variation (0: uniform router) */
    int mtp;              /* simulate the MTP modules the config declares (1) or leave them out (0) */
    double goodput;       /* share of wall-clock time spent training (restarts, checkpoints), in (0, 1] */
    int attn_impl;        /* FP8LAB_ATTN_FLASH3 (the kernel model's FlashAttention-3 efficiencies), _FLASH2, or
                             _UNFUSED (pre-FlashAttention Megatron-LM: the s^2 scores through HBM); see step.c */
    int tp_overlap;       /* FP8LAB_TP_OVERLAP_* */
    fp8lab_loss loss;     /* the cross-entropy's kernels (sim/schedule.h) */
    int grad_fp32;        /* 1: data-parallel gradients reduced in FP32 (4 bytes; Llama 3 sec. 3.3.2), 0: BF16 */
    int grad_reduce_after; /* 1: the data-parallel gradient all-reduce runs after the last backward, not
                              overlapped (Megatron-LM's local DDP of 2021-22); 0: overlapped (bucketed) */
    int p2p_async;        /* 1: pipeline sends are asynchronous (Llama 3 sec. 3.3.2); 0: blocking (Megatron-LM's
                             1F1B and interleaved schedules). DualPipe's sends are asynchronous either way */
    int dualpipe_fallback; /* 1: DualPipe with fewer than 2 pp micro-batches per step runs as 1F1B (the result's
                              schedule_fallback says so); 0: such a plan is refused */
} fp8lab_plan;

typedef struct {
    /* the step, seconds; step_time_s = compute + exposed_comm + bubble + stage_imbalance + optimizer */
    double step_time_s, compute_s, exposed_comm_s, bubble_s, stage_imbalance_s, optimizer_s;
    /* inside compute_s (and spread over the other terms): where the time goes */
    double gemm_s, attn_s, eltwise_s, recompute_s, moe_imbalance_s, mtp_s;
    double comm_total_s, comm_hidden_s, dp_comm_s, pp_comm_s;
    /* throughput */
    double tokens_per_step, tokens_per_gpu_s, tokens_per_gpu_hour, tflops_per_gpu, mfu_bf16, mfu_fp8;
    double model_flops_per_token, mtp_flops_per_token;
    double params_total, params_activated, params_mtp;
    fp8lab_memory mem;
    /* the plan as resolved */
    long gpus, seq, global_batch, micro_batch, microbatches;
    int tp, pp, dp, ep;
    double moe_imbalance, goodput;
    double moe_expert_max; /* E[busiest expert] / mean expert load (0 when moe_imbalance was given) */
    int critical_rank, units;
    fp8lab_pp_schedule schedule; /* as simulated: DualPipe with pp 1 is 1F1B, and see schedule_fallback */
    int vchunks;
    int schedule_fallback;       /* the plan's DualPipe ran as 1F1B (too few micro-batches; plan.dualpipe_fallback) */
    int memory_rank;             /* the pipeline rank whose memory mem reports (the fullest) */
    double inflight_microbatches; /* micro-batch stages whose activations that rank holds at its peak */
    fp8lab_flops flops;
} fp8lab_sim_result;

void fp8lab_plan_default(fp8lab_plan *p);
/* Every field against its range (sim/plan_limits.h); 0, or -1 with an error naming the flag, the value and
   the range. fp8lab_simulate calls it first. */
int fp8lab_plan_check(const fp8lab_plan *p);
/* Returns 0, or -1 with an error naming the flag (--tp, --global-batch, ...) that makes the plan impossible. */
int fp8lab_simulate(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                    const fp8lab_plan *plan, fp8lab_sim_result *r);

/* The per-op view of a simulation: every op of each layer kind's schedule (one micro-batch on one rank) with
   its simulated time, MoE load imbalance included; collectives are timed before any overlap. */
typedef struct {
    fp8lab_layer_kind kind;
    fp8lab_op op;
    double time_s;
    double boundary_s; /* of time_s, the kernel boundary a compute op pays (kernel_gap_s); 0 for a collective */
} fp8lab_op_trace;
typedef struct {
    fp8lab_op_trace *ops; /* free() when done */
    int n, cap;
} fp8lab_trace;
/* fp8lab_simulate, also filling trace (which starts zeroed). */
int fp8lab_simulate_trace(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                          const fp8lab_plan *plan, fp8lab_sim_result *r, fp8lab_trace *trace);

/* GPU-hours, days on the plan's GPUs and cost for `tokens` training tokens (goodput applied). */
void fp8lab_sim_totals(const fp8lab_sim_result *r, double tokens, double price, double *gpu_hours, double *days,
                       double *cost);

#endif
