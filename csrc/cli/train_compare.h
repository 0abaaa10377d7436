/* `fp8lab train --compare bf16,fp8-block[,...]`: the same run (seed, data, schedule) once per recipe, each in
   its own sub-folder of --out (<out>/<recipe>/metrics.jsonl, checkpoint-STEP/), then the training-loss curves
   side by side, the final losses relative to the first recipe's, and a chart (<out>/compare.png, when gnuplot
   is installed). */
#ifndef FP8LAB_CLI_TRAIN_COMPARE_H
#define FP8LAB_CLI_TRAIN_COMPARE_H
#include <signal.h>

#include "train/config.h"

typedef struct {
    const char *list;       /* the --compare value */
    int json;               /* one JSON object on stdout; the runs' console lines and the table go to stderr */
    int recipe_flag;        /* --recipe was given on the command line */
    int resume, dry_run;    /* the flags of the same names */
    long stop_at;           /* --stop-at */
    int profile;            /* --profile: each run profiles its steps */
    volatile sig_atomic_t *interrupt;
} train_compare_opts;

/* The list holds at least two known recipes, none twice, and no flag it cannot go with was given. 0, or -1
   with a usage error naming the flag or the recipe. */
int train_compare_check(const train_compare_opts *o);
/* Runs the comparison for cfg (its recipe and out are replaced per run) and prints it. Returns the exit
   status: 0, 1 or 2 after printing the error, 130 when interrupted. */
int train_compare_run(const fp8lab_train_cfg *cfg, const train_compare_opts *o);

#endif
