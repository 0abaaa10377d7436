/* Checkpoints: DIR/checkpoint-STEP/ holding
     model.safetensors      every parameter under its Hugging Face name and shape, F32, metadata format=pt
     config.json            the Hugging Face config (GPT2LMHeadModel / LlamaForCausalLM)
     optimizer.safetensors  AdamW moments exp_avg, exp_avg_sq over the parameter buffer (BF16 or F32), step (I64);
                            under fp8-tensor-delayed also amax_history (nn/linear.h records, one row per 2-D tensor);
                            from a ZeRO-1 run instead one shard per rank, a shared part and a manifest
                            (train/opt_shards.h), read back by any number of ranks
     trainer_state.json     step, seed, loader position (in the row stream every rank reads), sampling RNG, run
                            config, ranks and global batch (informational); CRC-32C of its "state"
   Both safetensors files carry fp8lab_crc32c (io/safetensors.h). The folder is written as DIR/.checkpoint-STEP.tmp-*
   and renamed into place, then DIR is fsynced: a checkpoint folder is whole or absent. */
#ifndef FP8LAB_TRAIN_CHECKPOINT_H
#define FP8LAB_TRAIN_CHECKPOINT_H
#include <stddef.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "train/loop.h"
#include "train/opt_shards.h"

/* Writes t's state at t->step into t->cfg.out/checkpoint-STEP (replacing one of the same step); path (may be
   NULL) gets the folder. */
int fp8lab_checkpoint_save(fp8lab_trainer *t, char *path, size_t cap);
/* The same from every rank of a ZeRO-1 run (collective; t->comm's ranks share the run folder's filesystem): rank 0
   makes the temporary folder and names it to the others, each rank writes its block of the moments
   (train/opt_shards.h), then rank 0 the model, the shared part, the manifest and the rest, and renames the folder
   into place. The working weights must be the FP32 masters (fp8lab_zero_masters_out). path: rank 0's. */
int fp8lab_checkpoint_save_shards(fp8lab_trainer *t, const fp8lab_opt_shards *sh, char *path, size_t cap);
/* Restores t from a checkpoint folder: everything is read and checked before anything of t changes. */
int fp8lab_checkpoint_load(fp8lab_trainer *t, const char *dir);
/* The newest checkpoint of t->cfg.out that loads; a refused one is reported on stderr (naming the file and the
   reason) when verbose, and the next older one tried. Returns 1 with path set after loading, 0 when there is no
   checkpoint folder, -1 when there are some and none loads (error: the newest one's reason). */
int fp8lab_checkpoint_resume(fp8lab_trainer *t, char *path, size_t cap, int verbose);
/* Steps of the checkpoint-STEP folders in dir, newest first (at most max, the newest ones); -1 when dir cannot be
   read. */
int fp8lab_checkpoint_list(const char *dir, long *steps, int max);
/* Clears what a save killed half-way leaves in the run folder out (call it with the folder locked: nobody else is
   saving there): temporary checkpoint folders (.checkpoint-STEP.tmp-*) and metrics.jsonl temporaries are
   removed; a checkpoint moved aside to be replaced (.checkpoint-STEP.old-*) is moved back when its replacement
   never arrived, removed otherwise. Each action is reported on log (may be NULL). Returns how many. */
int fp8lab_checkpoint_tidy(const char *out, FILE *log);

/* Weights from DIR/model.safetensors into g (F32/BF16/F16 converted): every tensor of g must be there with its
   shape; GPT-2 files without the "transformer." prefix (as openai-community/gpt2 has them) are accepted, and a
   stored lm_head.weight of a tied model ignored. */
int fp8lab_load_weights(fp8lab_gpt *g, fp8lab_backend *be, const char *dir);

/* The Hugging Face config.json of m. */
cJSON *fp8lab_hf_config(const fp8lab_model *m);

#endif
