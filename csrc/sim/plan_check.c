/* Every field of a plan against its documented range, whoever built the plan (flags, sweeps, the claim, a
   fuzzer): the simulator's arithmetic relies on these bounds. */
#include <math.h>
#include <stdio.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"
#include "sim/step.h"

typedef struct {
    const char *flag;
    double value;
    fp8lab_range range;
    const char *note; /* what a value outside the range means to the user, or NULL */
} plan_field;

static int check_field(const plan_field *f) {
    if (fp8lab_range_has(f->range, f->value)) return 0;
    char rs[96];
    FP8LAB_ERR("%s: %.17g is not in %s%s%s", f->flag, f->value, fp8lab_range_str(f->range, rs, sizeof rs),
               f->note ? " " : "", f->note ? f->note : "");
    return -1;
}

int fp8lab_plan_check(const fp8lab_plan *p) {
    const plan_field fields[] = {
        {"--gpus", (double)p->gpus, FP8LAB_RANGE(0, FP8LAB_MAX_GPUS), "(0: the cluster's num_gpus)"},
        {"--tp", p->tp, FP8LAB_RANGE(1, FP8LAB_MAX_TP)},
        {"--pp", p->pp, FP8LAB_RANGE(1, FP8LAB_MAX_PP)},
        {"--dp", p->dp, FP8LAB_RANGE(0, FP8LAB_MAX_GPUS), "(0: gpus / (tp pp))"},
        {"--ep", p->ep, FP8LAB_RANGE(1, FP8LAB_MAX_EP)},
        {"--sequence-parallel", p->sp, FP8LAB_RANGE(0, 1)},
        {"--seq", (double)p->seq, FP8LAB_RANGE(0, FP8LAB_MAX_SEQ), "(0: the model's default)"},
        {"--global-batch", (double)p->global_batch, FP8LAB_RANGE(0, FP8LAB_MAX_GLOBAL_BATCH), "(0: the default)"},
        {"--micro-batch", (double)p->micro_batch, FP8LAB_RANGE(1, FP8LAB_MAX_MICRO_BATCH)},
        {"--precision", p->prec, FP8LAB_RANGE(0, 3)},
        {"--schedule", p->schedule, FP8LAB_RANGE(FP8LAB_PP_1F1B, FP8LAB_PP_ZB1)},
        {"--schedule interleaved:V", p->vchunks, FP8LAB_RANGE(1, FP8LAB_MAX_VCHUNKS)},
        {"--recompute", p->recompute, FP8LAB_RANGE(FP8LAB_RECOMPUTE_NONE, FP8LAB_RECOMPUTE_FULL)},
        {"--zero", p->zero, FP8LAB_RANGE(0, 3)},
        {"--comm-sms", p->comm_sms, FP8LAB_RANGE(0, FP8LAB_MAX_COMM_SMS)},
        {"--no-mtp", p->mtp, FP8LAB_RANGE(0, 1)},
        {"--goodput", p->goodput, FP8LAB_RANGE_POS(1)},
        {"attn_impl", p->attn_impl, FP8LAB_RANGE(FP8LAB_ATTN_FLASH3, FP8LAB_ATTN_CUDNN)},
        {"tp_overlap", p->tp_overlap, FP8LAB_RANGE(FP8LAB_TP_OVERLAP_NONE, FP8LAB_TP_OVERLAP_UB)},
        {"loss", p->loss, FP8LAB_RANGE(FP8LAB_LOSS_FUSED, FP8LAB_LOSS_TORCH)},
        {"grad_fp32", p->grad_fp32, FP8LAB_RANGE(0, 1)},
        {"grad_reduce_after", p->grad_reduce_after, FP8LAB_RANGE(0, 1)},
        {"p2p_async", p->p2p_async, FP8LAB_RANGE(0, 1)},
        {"moe_skew", p->moe_skew, FP8LAB_RANGE(0, FP8LAB_MAX_MOE_SKEW), "(expert-popularity coefficient of variation)"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (check_field(&fields[i])) return -1;
    if (p->zero == 2) {
        FP8LAB_ERR("--zero: 2 is not simulated (0, 1: optimizer states sharded, or 3: FSDP)");
        return -1;
    }
    /* 0 asks for the statistical floor; otherwise the busiest expert carries at least the mean load */
    double imb = p->moe_imbalance;
    if (imb != 0 && !(imb >= 1 && imb <= FP8LAB_MAX_MOE_IMBALANCE)) {
        FP8LAB_ERR("--moe-imbalance: %.17g is neither 0 (the statistical floor) nor in [1, %g]", imb,
                   FP8LAB_MAX_MOE_IMBALANCE);
        return -1;
    }
    return 0;
}
