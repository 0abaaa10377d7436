/* The run-layout flags that `fp8lab sim` and `fp8lab cost curve` share, and the loading both then do. */
#ifndef FP8LAB_PLAN_ARGS_H
#define FP8LAB_PLAN_ARGS_H

#include "cli/flags.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"

typedef struct {
    const char *model, *cluster, *calib, *precision, *schedule, *recompute, *attention, *tp_overlap, *loss;
    int tp, pp, dp, ep, sp, zero, comm_sms, no_mtp, grad_reduce_after, grad_fp32, p2p_async;
    long gpus, seq, gbatch, mbatch;
    double moe_imb, compute_scale;
} plan_args;

enum { PLAN_ARGS_NFLAGS = 26 };

void plan_args_init(plan_args *a);
/* Writes the shared flags (pointing into a) to out[0 .. PLAN_ARGS_NFLAGS). */
void plan_args_flags(plan_args *a, cli_flag *out);
/* --model and --cluster are required. Loads them and --calibration (with --compute-scale into the kernel model),
   and fills the plan from the flags.
   Returns 0, or prints an error naming the flag, file or key and returns its exit status (2 bad input,
   1 runtime failure). */
int plan_args_load(const plan_args *a, const char *usage, fp8lab_model *m, fp8lab_cluster *c,
                   fp8lab_kernel_model *km, fp8lab_plan *p);

#endif
