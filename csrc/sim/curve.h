/* Cost curves: sweep one or two variables of a simulated run and tabulate cost per million tokens and tokens
   per GPU-hour (CSV), and chart them through gnuplot. */
#ifndef FP8LAB_SIM_CURVE_H
#define FP8LAB_SIM_CURVE_H
#include "sim/step.h"

typedef enum { FP8LAB_VAR_GPUS, FP8LAB_VAR_PRECISION, FP8LAB_VAR_GPU, FP8LAB_VAR_MFU, FP8LAB_VAR_GLOBAL_BATCH,
               FP8LAB_VAR_SEQ, FP8LAB_VAR_MICRO_BATCH, FP8LAB_VAR_TP, FP8LAB_VAR_PP, FP8LAB_VAR_EP,
               FP8LAB_VAR_COMM_SMS, FP8LAB_VAR_PRICE, FP8LAB_VAR_NVLINK, FP8LAB_VAR_IB, FP8LAB_VAR_HBM,
               FP8LAB_VAR_GEMM_EFF, FP8LAB_VAR_MOE_IMBALANCE, FP8LAB_VAR_SCHEDULE, FP8LAB_VAR_RECOMPUTE,
               FP8LAB_NVARS } fp8lab_var;

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
const char *fp8lab_sweep_names(void);

typedef struct {
    int i1, i2;         /* indices into the sweeps */
    int ok;             /* 0: the layout is impossible at this point (error in `why`) */
    char why[160];
    double step_time_s, tokens_per_gpu_hour, cost_per_mtok, mfu_bf16, mfu_fp8, tflops_per_gpu, memory_gb;
    double price;
    long gpus;
    int fits;
} fp8lab_curve_point;

/* Runs the sweep (s2 may be NULL). out has s1->n * (s2 ? s2->n : 1) entries, s1 varying fastest.
   price: USD per GPU-hour for every point, or < 0 for each point's cluster's own price.
   When gpus is swept the global batch keeps the base plan's sequences per data-parallel rank. Refuses both
   sweeps on one variable, and comm-sms values that leave the (unswept) GPU no SM. A point whose layout is
   impossible, or whose simulation gives no finite throughput, has ok = 0 and the reason in `why`. */
int fp8lab_curve_run(const fp8lab_model *m, const fp8lab_cluster *c, const fp8lab_kernel_model *km,
                     const fp8lab_plan *base, double price, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                     fp8lab_curve_point *out);

/* CSV text (caller frees). */
char *fp8lab_curve_csv(const fp8lab_sweep *s1, const fp8lab_sweep *s2, const fp8lab_curve_point *pts);
/* Two panels (cost per million tokens; tokens per GPU-hour) against sweep 1, one line per sweep-2 value. */
int fp8lab_curve_plot(const char *path, const char *title, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                      const fp8lab_curve_point *pts);

#endif
