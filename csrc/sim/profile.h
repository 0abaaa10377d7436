/* The simulator against DeepSeek's own measured kernels: its published H800 training profile
   (github.com/deepseek-ai/profile-data train.json: one DualPipe forward chunk and one backward chunk of another
   micro-batch, overlapped, 4 MoE layers each, EP64, TP1, one 4096-token sequence, balanced routing), summed by
   kernel family into configs/calibration/deepseek-v3-h800-profile.json by scripts/profile_families.py. The same
   chunk is simulated (a plan's MoE-layer ops, all-to-all excluded: the profile runs it on its own SMs) and summed
   by the same families. */
#ifndef FP8LAB_SIM_PROFILE_H
#define FP8LAB_SIM_PROFILE_H
#include "sim/step.h"

typedef enum {
    FP8LAB_PF_WGRAD,   /* FP8 weight-gradient GEMMs (DeepSeek's "_acc" kernels, FP32 accumulation) */
    FP8LAB_PF_EXPERTS, /* FP8 routed-expert GEMMs, forward and input gradient (grouped) */
    FP8LAB_PF_DENSE,   /* every other FP8 GEMM, forward, recompute and input gradient */
    FP8LAB_PF_BF16,    /* BF16 GEMMs (the router) */
    FP8LAB_PF_ATTN_F,  /* attention forward (and its recompute) */
    FP8LAB_PF_ATTN_B,  /* attention backward */
    FP8LAB_PF_OTHER,   /* element-wise, casts, norms, routing */
    FP8LAB_PF_N
} fp8lab_pf_family;

typedef struct {
    double measured_ms[FP8LAB_PF_N], simulated_ms[FP8LAB_PF_N];
    double measured_compute_ms;  /* every kernel but the all-to-all, their streams merged */
    double simulated_compute_ms; /* the sum of the simulated families */
    double factor;               /* measured / simulated compute */
    int layers;
} fp8lab_profile_cmp;

/* The file's key for a family ("gemm_fp8_wgrad", ...). */
const char *fp8lab_pf_family_name(int f);
/* The family a simulated op is summed into. */
fp8lab_pf_family fp8lab_pf_family_of(const fp8lab_op *op);

/* Reads the profile at path and simulates its chunk with plan (its tokens per micro-batch and SMs left for
   compute must be the profile's, its model DeepSeek-V3-like: MoE layers). 0, or -1 with an error naming the file
   and key, or the plan's mismatch. */
int fp8lab_profile_compare(const char *path, const fp8lab_model *m, const fp8lab_cluster *c,
                           const fp8lab_kernel_model *km, const fp8lab_plan *plan, fp8lab_profile_cmp *out);

#endif
