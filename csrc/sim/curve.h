/* Cost curves: sweep one or two variables of a simulated run and tabulate cost per million tokens and tokens
   per GPU-hour (CSV), and chart them through gnuplot. */
#ifndef FP8LAB_SIM_CURVE_H
#define FP8LAB_SIM_CURVE_H
#include "sim/step.h"
#include "sim/sweep.h"

/* Points of one curve (sweep 1 x sweep 2): a chart shows no more, and DeepSeek-V3 on its DualPipe timeline
   simulates this many in about 0.4 s (10 s under the sanitizers, the fuzzers' limit: 11904 points took 14 s). */
#define FP8LAB_CURVE_MAX_POINTS 4096

typedef struct {
    int i1, i2;         /* indices into the sweeps */
    int ok;             /* 0: the layout is impossible at this point (error in `why`) */
    char why[160];
    double step_time_s, tokens_per_gpu_hour, cost_per_mtok, mfu_bf16, mfu_fp8, tflops_per_gpu, memory_gb;
    double price;
    long gpus;
    int fits;
} fp8lab_curve_point;

/* A sweep of the base run: one variable (s1), or two (s2; NULL: one). */
typedef struct {
    const fp8lab_model *m;
    const fp8lab_cluster *c;
    const fp8lab_kernel_model *km;
    const fp8lab_plan *base;
    double price; /* USD per GPU-hour for every point, or < 0 for each point's cluster's own price */
    const fp8lab_sweep *s1, *s2;
} fp8lab_curve_in;

/* Runs the sweep. out has s1->n * (s2 ? s2->n : 1) entries, s1 varying fastest.
   When gpus is swept the global batch keeps the base plan's sequences per data-parallel rank. Refuses both
   sweeps on one variable, and comm-sms values that leave the (unswept) GPU no SM. A point whose layout is
   impossible, or whose simulation gives no finite throughput, has ok = 0 and the reason in `why`. */
int fp8lab_curve_run(const fp8lab_curve_in *in, fp8lab_curve_point *out);

/* CSV text (caller frees). Text labels (gpu, precision, schedule, recompute) that a spreadsheet would take
   for a formula start with a single quote. */
char *fp8lab_curve_csv(const fp8lab_sweep *s1, const fp8lab_sweep *s2, const fp8lab_curve_point *pts);
/* Two panels (cost per million tokens; tokens per GPU-hour) against sweep 1, one line per sweep-2 value. */
int fp8lab_curve_plot(const char *path, const char *title, const fp8lab_sweep *s1, const fp8lab_sweep *s2,
                      const fp8lab_curve_point *pts);

#endif
