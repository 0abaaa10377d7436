/* The values a run layout may take, shared by the flags that set them (cli/plan_args.c), the sweeps of
   `cost curve` and the simulator's own check of every plan it is given (fp8lab_plan_check). Generous bounds
   that keep every product the simulator forms inside 64 bits and every loop short. */
#ifndef FP8LAB_SIM_PLAN_LIMITS_H
#define FP8LAB_SIM_PLAN_LIMITS_H
#include "sim/cluster.h" /* FP8LAB_MAX_GPUS, FP8LAB_MAX_PRICE */

#define FP8LAB_MAX_TP 1024L
#define FP8LAB_MAX_PP 4096L
#define FP8LAB_MAX_EP 65536L
#define FP8LAB_MAX_SEQ (1L << 24)
#define FP8LAB_MAX_GLOBAL_BATCH (1L << 30)
#define FP8LAB_MAX_MICRO_BATCH (1L << 20)
#define FP8LAB_MAX_COMM_SMS 1024L
#define FP8LAB_MAX_MOE_IMBALANCE 100.0
#define FP8LAB_MAX_VCHUNKS 64
#define FP8LAB_MAX_MOE_SKEW 10.0
#define FP8LAB_MAX_COMPUTE_SCALE 100.0 /* --compute-scale, the kernel model's what-if */

#endif
