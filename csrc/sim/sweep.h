/* Sweep specs of `cost curve --vary/--vary2`: which variable, which values (each checked against the range the
   simulator accepts for it), their labels, and how one value changes what a point simulates. */
#ifndef FP8LAB_SIM_SWEEP_H
#define FP8LAB_SIM_SWEEP_H
#include <stdio.h>
#include "sim/step.h"

typedef enum { FP8LAB_VAR_GPUS, FP8LAB_VAR_PRECISION, FP8LAB_VAR_GPU, FP8LAB_VAR_MFU, FP8LAB_VAR_GLOBAL_BATCH,
               FP8LAB_VAR_SEQ, FP8LAB_VAR_MICRO_BATCH, FP8LAB_VAR_TP, FP8LAB_VAR_PP, FP8LAB_VAR_EP,
               FP8LAB_VAR_COMM_SMS, FP8LAB_VAR_PRICE, FP8LAB_VAR_NVLINK, FP8LAB_VAR_IB, FP8LAB_VAR_HBM,
               FP8LAB_VAR_GEMM_EFF, FP8LAB_VAR_MOE_IMBALANCE, FP8LAB_VAR_SCHEDULE, FP8LAB_VAR_RECOMPUTE,
               FP8LAB_VAR_COMPUTE_SCALE, FP8LAB_NVARS } fp8lab_var;

#define FP8LAB_SWEEP_MAX 4096

typedef struct {
    fp8lab_var var;
    char flag[8];                       /* --vary or --vary2, for messages */
    char name[24];
    int n;
    int categorical;                    /* precision, gpu, schedule, recompute: values are labels */
    double num[FP8LAB_SWEEP_MAX];
    char label[FP8LAB_SWEEP_MAX][48];   /* the value simulated, printable ASCII */
    fp8lab_cluster *clusters;           /* gpu: one loaded cluster per value */
    long snap_unit;                     /* gpus: the multiple the values were snapped to (0: not snapped) */
    int snapped, asked;                 /* gpus: how many of the values asked for were moved, of how many */
} fp8lab_sweep;

/* "gpus=64:16384" (n points, geometric for gpus and global-batch, linear otherwise; default_points when no
   ":n"), "precision=bf16,fp8", "gpu=h800-2048,h100-sxm" (files in cluster_dir, or paths ending in .json),
   "mfu=0.2:0.6:9". Every value is checked against its variable's range when it is parsed:
     gpus [1, FP8LAB_MAX_GPUS], global-batch, seq, micro-batch, tp, pp, ep, comm-sms: whole numbers in the
     ranges of their flags (sim/plan_limits.h; global-batch and seq from 1: the sweep has no "default");
     mfu (0, 1]; gemm-eff (0, 4] (a multiplier on the measured efficiency, which is capped at 1);
     nvlink, ib, hbm (0, 1e6] GB/s; price [0, FP8LAB_MAX_PRICE]; moe-imbalance 0 (the statistical floor) or
     [1, 100]; precision, schedule, recompute: the flags' names.
   FROM:TO needs FROM < TO and 2 <= POINTS <= FP8LAB_SWEEP_MAX; interior points of real ranges are rounded to
   4 significant digits, whole-number points to integers (repeats dropped). Labels print the value simulated.
   Returns 0, or -1 with an error naming --vary, the variable, the value and the range. */
int fp8lab_sweep_parse(const char *spec, const char *cluster_dir, int default_points, fp8lab_sweep *s);
/* The same for the flag `flag` (--vary2). */
int fp8lab_sweep_parse_flag(const char *flag, const char *spec, const char *cluster_dir, int default_points,
                            fp8lab_sweep *s);
void fp8lab_sweep_free(fp8lab_sweep *s);
/* names accepted after --vary, comma separated (for --help) */
/* One line per variable with the values it takes (for --help). */
void fp8lab_sweep_print_vars(FILE *f);
const char *fp8lab_sweep_names(void);

/* The GPU count a layout needs a multiple of: tp x pp x ep of the base plan (dp must be a whole number and a
   multiple of ep), with the least common multiple of the swept values in place of a swept tp, pp or ep (other
   may be NULL). Returns 0, or -1 with an error naming the flag when that count exceeds FP8LAB_MAX_GPUS. */
int fp8lab_sweep_gpu_unit(const fp8lab_plan *base, const fp8lab_sweep *other, long *unit);
/* Moves every value of a gpus sweep to the nearest multiple of unit (at least one unit, at most
   FP8LAB_MAX_GPUS), drops the repeats this makes and records unit and the count of moved values in s; a sweep
   of anything else is left alone. Returns that count. */
int fp8lab_sweep_snap_gpus(fp8lab_sweep *s, long unit);

/* What one point of a curve simulates; starts as the base run, then each sweep's value is applied. */
typedef struct {
    fp8lab_plan plan;
    fp8lab_cluster cluster;
    fp8lab_kernel_model km;
    double price;     /* USD per GPU-hour */
    int price_set;    /* price is fixed (--price, or a price sweep): a swept gpu keeps it */
    double mfu;       /* > 0: an assumed MFU replaces the simulated throughput */
    long seqs_per_dp; /* > 0: a gpus sweep keeps this many sequences per data-parallel rank */
} fp8lab_sweep_env;

/* Applies value i of s1 and value j of s2 (s2 may be NULL) to e, in the order that keeps both: a swept gpu
   first (it replaces the whole cluster), a swept gpus last (its global batch reads tp and pp). */
void fp8lab_sweep_apply(const fp8lab_sweep *s1, int i, const fp8lab_sweep *s2, int j, fp8lab_sweep_env *e);

#endif
