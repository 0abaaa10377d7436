/* The training loop of `fp8lab train`: a GPT-2 or Llama model (nn/model.h) on one backend, trained with AdamW
   (fp8lab_gpt_step) on llm.c shards (data/loader.h) under warmup + cosine (train/schedule.h); metrics per step
   (train/metrics.h), validation loss and generated samples every N steps, checkpoints (train/checkpoint.h).

     fp8lab_trainer *t = fp8lab_trainer_create(&cfg);     // backend, data, model, optimizer
     fp8lab_checkpoint_resume(t, ...);                     // optional: the newest valid checkpoint in cfg.out
     while (t->step < cfg.steps) fp8lab_trainer_step(t, &m);
     fp8lab_checkpoint_save(t, ...);
     fp8lab_trainer_destroy(t);

   fp8lab_train_run does all of it with logging, as the command does, on every rank of the job's communicator
   (plain data parallelism, train/dp.h): the model is replicated; each optimizer step takes the next global batch
   of size x B rows of the training row stream, rank r trains on rows [rB, (r+1)B) of it, the gradients are summed
   over ranks and scaled by 1/size, so a run of N ranks at --batch B follows a 1-rank run at --batch N*B (the same
   rows, the same mean gradient, up to the rounding of the sums). Every rank reads the whole global batch and keeps
   its slice: N x the host token copies of its own share (8 bytes a token), nothing next to a step's compute, and
   the loader's position stays one number for the job. Rank 0 alone prints, writes metrics.jsonl and
   checkpoints.

   Every function returns 0, or -1 with fp8lab_last_error() set, unless it says otherwise. */
#ifndef FP8LAB_TRAIN_LOOP_H
#define FP8LAB_TRAIN_LOOP_H
#include <signal.h>
#include <stdint.h>

#include "backend/backend.h"
#include "core/rng.h"
#include "data/loader.h"
#include "dist/comm.h"
#include "model/config.h"
#include "nn/model.h"
#include "train/config.h"
#include "train/profile.h"
#include "train/schedule.h"
#include "train/zero.h"

#define FP8LAB_TRAIN_PATH_MAX 4200

/* The model's AdamW moments (fp8lab_gpt_moments), as checkpoints save and restore them. */
typedef struct fp8lab_optim {
    fp8lab_moment_dtype dtype;
    int64_t floats; /* the model's buffer size */
    void *m, *v;    /* device, floats x (2 | 4) bytes each */
} fp8lab_optim;

static inline size_t fp8lab_optim_moment_bytes(const fp8lab_optim *o) {
    return (o->dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4) * (size_t)o->floats;
}

typedef struct fp8lab_trainer {
    fp8lab_train_cfg cfg; /* a copy; strings borrowed from the caller */
    fp8lab_backend *be;
    fp8lab_device_info dev;
    char device[192];     /* "cpu (<model name>)" or the GPU's name: the device metrics are counted on */
    fp8lab_model model;
    fp8lab_gpt *g;
    fp8lab_recipe recipe;
    fp8lab_optim opt;
    fp8lab_lr_schedule sched;
    fp8lab_loader train;
    fp8lab_loader val;
    int has_val;
    char train_glob[FP8LAB_TRAIN_PATH_MAX], val_glob[FP8LAB_TRAIN_PATH_MAX];
    long step;            /* optimizer steps done */
    long skipped;         /* steps skipped for a non-finite gradient norm */
    fp8lab_rng sample_rng;
    fp8lab_comm *comm;    /* borrowed; NULL: one process */
    fp8lab_comm *dcomm;   /* for device buffers (gradients): NCCL on the CUDA backend, else comm */
    fp8lab_comm *dcomm_owned;
    int rank, size;       /* in comm (0 and 1 without one) */
    fp8lab_zero zero;     /* cfg.zero: ZeRO-1's block and masters (train/zero.h), set up before the first step */
    int zero_ready;
    int32_t *tok, *tgt;   /* host, the global batch: size*B*T (the loaders serve size*B rows) */
    double flops_per_token;
} fp8lab_trainer;

/* ZeRO-1's state (train/zero.h) from the current weights, once, when cfg.zero is set: after a checkpoint load,
   before the first step (fp8lab_trainer_step calls it too). */
int fp8lab_zero_setup(fp8lab_trainer *t);

/* One step's numbers. */
typedef struct {
    long step;
    double loss, lr, grad_norm, step_s;
    int skipped;
    int buckets, buckets_early; /* data parallel: gradient buckets all-reduced, and started during the backward */
} fp8lab_step_metrics;

/* Opens the backend (cfg->device), the data (cfg->data, or the built-in corpus built into the cache folder),
   the model (cfg->model / cfg->init_from / the default) and the optimizer. NULL on failure. */
fp8lab_trainer *fp8lab_trainer_create(const fp8lab_train_cfg *cfg);
void fp8lab_trainer_destroy(fp8lab_trainer *t);

/* The same on the ranks of comm (borrowed, must outlive the trainer; NULL: one process): the data-parallel
   trainer fp8lab_train_run uses. */
fp8lab_trainer *fp8lab_trainer_create_dp(const fp8lab_train_cfg *cfg, fp8lab_comm *comm);

/* One optimizer step on the next (global) batch; m->loss is the mean over ranks (collective with size > 1). With
   cfg.zero = 1 the step is ZeRO-1's (fp8lab_dp_zero_step, train/dp.h); the checkpoint saves of fp8lab_train_run
   all-gather the moments first. */
int fp8lab_trainer_step(fp8lab_trainer *t, fp8lab_step_metrics *m);
/* Mean loss over the first cfg.val_batches (size*B) x T batches of the validation split in order (all of it when
   0), each rank evaluating its slice of every batch, the sums reduced over ranks (collective with size > 1: every
   rank gets the same number); *tokens (may be NULL) gets the positions counted on all ranks. NAN without
   validation data. */
int fp8lab_trainer_val_loss(fp8lab_trainer *t, double *loss, int64_t *tokens);
/* Mean loss of g over every row of the shards L was opened on, B rows at a time (llm.c's evaluation); B must be
   L->B, the rows a batch of L holds. */
int fp8lab_eval_loss(fp8lab_gpt *g, const fp8lab_loader *L, int B, int max_batches, double *loss, int64_t *tokens);

/* Generation: n tokens after prompt[0..np), each drawn from softmax(logits / temperature) with rng (temperature
   0: greedy), the context cut to the last T tokens. out gets the n new tokens. */
int fp8lab_generate(fp8lab_gpt *g, fp8lab_backend *be, const int32_t *prompt, int np, int n, int T,
                    double temperature, fp8lab_rng *rng, int32_t *out);
/* Bytes as text: printable ASCII as is, \n \t \\ and \xHH for the rest, <ID> for ids above 255. out holds
   12 n + 1 bytes. */
void fp8lab_escape_bytes(const int32_t *tok, int n, char *out);

/* The whole run, as `fp8lab train` does it. */
typedef struct {
    int resume;      /* continue from the newest valid checkpoint in cfg.out */
    long stop_at;    /* stop after this step with a checkpoint, as if interrupted (0: run to cfg.steps) */
    int json;        /* console lines go to stderr; stdout is left for the caller's JSON */
    int quiet;       /* no console lines at all */
    int profile;     /* time every backend op of the training steps (backend/record.h) and print the table
                        (train/profile.h) at the end; serialises a GPU */
    volatile sig_atomic_t *interrupt; /* set (by a signal handler): checkpoint and stop between steps (on any
                                         rank: the ranks agree before every step) */
    fp8lab_comm *comm; /* the job's ranks; NULL: fp8lab_comm_from_env() for this run, destroyed at its end */
} fp8lab_run_opts;

typedef struct {
    long step, steps, tokens; /* tokens: of every rank */
    double first_loss, last_loss, first_val_loss, val_loss; /* NAN where none */
    double wall_s, train_s, tokens_per_s; /* tokens_per_s: of every rank (metrics.jsonl's rows: the same) */
    double sim_step_ms; /* the simulator's prediction of a step (GPU only), NAN otherwise */
    char sim_note[256];
    int interrupted;
    long resumed_from;  /* step of the checkpoint resumed from, -1 none */
    int64_t params;
    int rank, ranks;        /* this process's rank and the job's size */
    int weights_identical;  /* the parameters' CRC-32C agreed on every rank at the end (1 on one rank) */
    uint32_t weights_crc;   /* that CRC-32C on this rank (0 on one rank: not computed) */
    int grad_buckets, grad_buckets_early; /* the last step's (fp8lab_step_metrics) */
    char device[192];
    char checkpoint[FP8LAB_TRAIN_PATH_MAX]; /* the last one written */
    char metrics[FP8LAB_TRAIN_PATH_MAX];
    fp8lab_profile profile; /* opts.profile: the steps of this run (not validation, samples, checkpoints) */
} fp8lab_run_result;

int fp8lab_train_run(const fp8lab_train_cfg *cfg, const fp8lab_run_opts *o, fp8lab_run_result *r);

/* Memory one GPU holds to train cfg at B x T: parameters (FP32), gradients (FP32), AdamW moments (BF16 or
   FP32) and the activation arena (nn/model.h), in bytes, without allocating any of it. */
typedef struct {
    int64_t params;
    double param_bytes, grad_bytes, moment_bytes, activation_bytes, total_bytes;
} fp8lab_train_mem;
int fp8lab_train_memory(const fp8lab_model *m, int B, int T, int fp32_moments, fp8lab_train_mem *out);

/* The cache folder of the built-in corpus: $FP8LAB_CACHE_DIR, $XDG_CACHE_HOME/fp8lab or ~/.cache/fp8lab, plus
   "/builtin". */
int fp8lab_train_cache_dir(char *out, size_t cap);

#endif
