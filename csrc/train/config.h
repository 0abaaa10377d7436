/* The run configuration of `fp8lab train`: one table of options that both the flags (cli/cmd_train.c builds its
   flag table from it) and the run files (configs/runs/NAME.json, keys = flag names with '_' for '-') are read
   through, each option with its range. A run file is applied first, flags override it; a key the table does not
   know, or a value of the wrong type or out of range, is refused naming the file, the key and the range. */
#ifndef FP8LAB_TRAIN_CONFIG_H
#define FP8LAB_TRAIN_CONFIG_H
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/num.h"
#include "model/config.h"

typedef struct fp8lab_train_cfg {
    /* what to train on */
    const char *model;     /* HF config.json; NULL: the built-in byte-level GPT-2 (fp8lab_train_default_model) */
    const char *init_from; /* folder with model.safetensors + config.json (HF GPT-2 / Llama weights); NULL: none */
    const char *data;      /* training shards (glob); NULL: the built-in corpus (data/build.h) */
    const char *val_data;  /* validation shards; NULL: the built-in corpus' validation split, or none */
    const char *recipe;    /* fp32 | bf16 | fp8-tensor | fp8-block */
    const char *device;    /* cpu | cuda | auto */
    const char *out;       /* run folder: metrics.jsonl, checkpoint-STEP/ */
    /* optimisation */
    long steps, seed;
    int batch, seq, warmup;
    double lr, min_lr_ratio, weight_decay, clip, beta1, beta2, adam_eps;
    int fp32_moments;
    int zero;              /* ZeRO stage over the data-parallel ranks: 0 or 1 (train/zero.h) */
    const char *zero_gather; /* fp32 | bf16 | fp8: how ZeRO-1 all-gathers the updated weights (train/zero.h) */
    double bucket_mb;      /* data parallel: gradient bucket size in MiB (train/dp.h); 0: one bucket after the backward */
    const char *grad_sum;  /* exact | fast | auto: gradient sums (nn/grad_sink.h); auto: exact on the cpu backend */
    /* logging, evaluation, checkpoints */
    int val_every, val_batches, sample_every, sample_len, print_every, checkpoint_every;
    double price_per_gpu_hour;
    /* strings read from a run file (the fields above point into them) */
    char *owned[16];
    int nowned;
} fp8lab_train_cfg;

typedef enum { FP8LAB_OPT_INT, FP8LAB_OPT_LONG, FP8LAB_OPT_DOUBLE, FP8LAB_OPT_STR, FP8LAB_OPT_BOOL } fp8lab_opt_kind;

typedef struct fp8lab_train_opt {
    const char *name; /* flag name ("weight-decay"); the run-file key is the same with '_' ("weight_decay") */
    fp8lab_opt_kind kind;
    size_t offset;    /* into fp8lab_train_cfg */
    const char *help;
    fp8lab_range range;
} fp8lab_train_opt;

extern const fp8lab_train_opt FP8LAB_TRAIN_OPTS[];
extern const int FP8LAB_TRAIN_NOPTS;

void fp8lab_train_cfg_default(fp8lab_train_cfg *c);
void fp8lab_train_cfg_free(fp8lab_train_cfg *c); /* the owned strings */

/* Applies a run file's keys over c. 0, or -1 with an error naming the file and key (exit 2). */
int fp8lab_train_cfg_load(fp8lab_train_cfg *c, const char *path);
int fp8lab_train_cfg_from_json(fp8lab_train_cfg *c, const cJSON *root, const char *name);
/* Every option's current value (NULL strings as JSON null). NULL when out of memory. */
cJSON *fp8lab_train_cfg_to_json(const fp8lab_train_cfg *c);
/* Checks every numeric field against its range (flags and files are checked when read; this catches callers
   that fill the struct themselves) and the relations between them. 0, or -1 with an error. */
int fp8lab_train_cfg_check(const fp8lab_train_cfg *c);

/* "fp32" | "bf16" | "fp8-tensor" | "fp8-block" -> fp8lab_recipe (nn/linear.h), or -1 with an error. */
int fp8lab_train_parse_recipe(const char *s);

/* The default model: a byte-level GPT-2 (vocab 256, 4 layers, 128 wide, 4 heads, 256 positions), the same as
   configs/models/gpt2-tiny-bytes.json. */
extern const char FP8LAB_TRAIN_DEFAULT_MODEL_JSON[];
int fp8lab_train_default_model(fp8lab_model *m);
/* c->model when set (a config.json), else the default model. 0, or -1 with an error. */
int fp8lab_train_load_model(const fp8lab_train_cfg *c, fp8lab_model *m);

#endif
