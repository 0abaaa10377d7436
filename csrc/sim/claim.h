/* DeepSeek-V3's pre-training claim on the simulator: 14.8T tokens in 2.664M H800 GPU-hours (DeepSeek-V3
   technical report, arXiv:2412.19437, Table 1), with the published layout: 2048 H800, PP16 DualPipe, EP64,
   ZeRO-1 DP, no TP, seq 4096, batch ramp 3072 -> 15360 sequences over the first 469B tokens, FP8. */
#ifndef FP8LAB_SIM_CLAIM_H
#define FP8LAB_SIM_CLAIM_H
#include "sim/profile.h"
#include "sim/step.h"

#define FP8LAB_CLAIM_GPU_HOURS 2.664e6
#define FP8LAB_CLAIM_TOKENS 14.8e12
#define FP8LAB_CLAIM_PRICE 2.0

typedef struct {
    const char *label;
    const char *source;
    double gpu_hours;  /* cumulative, after this term */
    double delta;      /* what this term adds */
} fp8lab_claim_term;

typedef struct {
    const char *name;
    double gpu_hours, days, cost_claim_price, cost_list_price, tokens_per_gpu_hour, mfu_bf16, mfu_fp8, memory_gb;
    int fits;
} fp8lab_claim_whatif;

typedef struct {
    const char *name;
    const char *low_label, *high_label;
    double ratio_low, ratio_high;
} fp8lab_claim_sens;

typedef struct {
    /* paths (configs/...) */
    const char *model, *h800, *h100, *h200, *a100;
    const char *calibration; /* optional bench gemm JSON */
    const char *profile;     /* DeepSeek's H800 training profile by kernel family (sim/profile.h); "none": skip */
    double goodput;          /* effective-training-time share (Llama 3: > 90 %) */
    double moe_imbalance;    /* <= 0: statistical floor */
    int sensitivity;         /* run the sensitivity sweep */
} fp8lab_claim_inputs;

typedef struct {
    fp8lab_claim_term terms[10];
    int nterms;
    double claimed_gpu_hours, tokens, claimed_tokens_per_gpu_hour, claimed_mfu_bf16, claimed_mfu_fp8;
    double simulated_gpu_hours, ratio, tokens_per_gpu_hour, mfu_bf16, mfu_fp8, days, cost;
    double claimed_days, claimed_cost;
    fp8lab_sim_result steady;    /* the full plan at the final batch size */
    fp8lab_plan plan;
    fp8lab_claim_whatif whatif[3];
    fp8lab_claim_sens sens[12];
    int nsens;
    /* Megatron-LM 1T on 3072 A100 (Narayanan et al. 2021): the simulator against a published end-to-end run */
    double megatron_sim_step_s, megatron_pub_step_s, megatron_sim_tflops, megatron_factor;
    double calibrated_gpu_hours, calibrated_ratio;
    /* DeepSeek's own H800 training profile against the simulated chunk (has_profile 0: skipped), and the claim's
       run with every compute op at the measured / simulated factor */
    int has_profile;
    fp8lab_profile_cmp profile;
    double profile_gpu_hours, profile_ratio;
    /* one input at a time, the value that would make the simulation land on the claim (0: none in range) */
    double match_gemm_scale, match_moe_imbalance, match_goodput, match_compute_scale;
    char cluster_name[64], gpu_name[64], kernel_source[160];
} fp8lab_claim;

void fp8lab_claim_inputs_default(fp8lab_claim_inputs *in);
/* The published layout at its final batch (report sec. 3.2-3.3): 2048 GPUs, PP16 DualPipe, EP64, ZeRO-1, no TP,
   seq 4096, batch 15360, FP8, 20 SMs for communication, selective recompute (RMSNorm, SwiGLU, MLA up-projections),
   its MTP module; MoE load at the statistical floor. DualPipe plans short of 2 x pp micro-batches (the batch ramp's
   first segments) run as 1F1B. */
void fp8lab_claim_plan(fp8lab_plan *p);
int fp8lab_claim_run(const fp8lab_claim_inputs *in, fp8lab_claim *out);

#endif
