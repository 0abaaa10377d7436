/* The deterministic token loader over llm.c shards (data/shard.h).

   The data is a list of shards (glob patterns such as DIR/data_train_*.bin, or plain paths; each pattern's matches
   sorted by name). A shard of n tokens holds R = (n - 1) / T rows: row r is tokens [rT, rT + T], i.e. inputs
   tok[rT .. rT+T-1] and targets tok[rT+1 .. rT+T], as llm.c reads them. A batch is B consecutive rows of the row
   stream, so without shuffling a batch inside one shard is exactly llm.c's B x T block (inputs B*T tokens from
   offset kBT, targets shifted by one); a batch may continue into the next shard.

   Shuffling (training): each epoch visits the shards in a permutation of their list, and each shard's rows in a
   permutation of its rows; both are functions of (seed, epoch) and (seed, epoch, shard), drawn with core/rng.h
   (xorshift64*, integer arithmetic only), so every machine sees the same batches for the same seed. Without
   shuffling (validation) shards and rows go in order. After the last row of the last shard the next epoch begins.

   The position (epoch, shard index in the epoch's order, row index in the shard's order) is all the state there is:
   saving it after a batch and restoring it into a loader opened on the same shards with the same seed and T
   continues with exactly the batches the first loader would have produced (B may differ: the row stream is the
   same). */
#ifndef FP8LAB_DATA_LOADER_H
#define FP8LAB_DATA_LOADER_H
#include <stdint.h>

#include <cjson/cJSON.h>

#include "data/shard.h"

#define FP8LAB_LOADER_MAX_B 65536
#define FP8LAB_LOADER_MAX_T 1048576
#define FP8LAB_LOADER_MAX_SHARDS 65536
#define FP8LAB_LOADER_MAX_SEED 9007199254740991.0 /* 2^53 - 1: exact in JSON */

typedef struct {
    int64_t epoch;  /* epochs completed before the current one */
    int64_t shard;  /* index into the epoch's shard order */
    int64_t sample; /* index into the current shard's row order: the next row served */
} fp8lab_loader_pos;

typedef struct {
    int nshards;
    fp8lab_shard *shards; /* in list order (patterns in the order given, each one's matches sorted) */
    int B, T;
    int shuffle;
    uint64_t seed;
    int64_t total_tokens;
    int64_t total_rows;
    fp8lab_loader_pos pos;
    /* derived from pos, recomputed when it moves to another epoch or shard */
    int *shard_order;       /* nshards, for order_epoch */
    int64_t order_epoch;    /* -1: none */
    uint32_t *row_order;    /* rows of shard row_shard in epoch row_epoch (shuffle only) */
    int64_t row_epoch;
    int row_shard;          /* -1: none */
} fp8lab_loader;

/* Opens every shard of every entry of paths[0..npaths) (an entry with * ? or [ is a glob pattern and must match at
   least one file; otherwise a path), validating each against vocab (data/shard.h); every shard must hold at least
   T + 1 tokens. B in [1, 65536], T in [1, 2^20], seed in [0, 2^53). 0, or -1 with the error set (loader zeroed). */
int fp8lab_loader_open(fp8lab_loader *L, const char *const *paths, int npaths, int B, int T, int64_t vocab,
                       uint64_t seed, int shuffle);
void fp8lab_loader_close(fp8lab_loader *L);

/* The next batch: inputs and targets, B*T int32 each (row b at [bT, bT+T)). 0, or -1 out of memory. */
int fp8lab_loader_next(fp8lab_loader *L, int32_t *inputs, int32_t *targets);
/* The next batch as `parts` data-parallel ranks share it: the loader moves past all B rows, and only part's
   B/parts consecutive rows (rows part*B/parts ..) are read, into inputs and targets of (B/parts)*T int32 each.
   parts must divide B. */
int fp8lab_loader_next_part(fp8lab_loader *L, int part, int parts, int32_t *inputs, int32_t *targets);
/* Back to epoch 0, shard 0, row 0. */
void fp8lab_loader_reset(fp8lab_loader *L);

/* Position: read it after a batch; set it on a loader opened on the same data (checked: 0, or -1 with an error
   naming the field, value and range). */
fp8lab_loader_pos fp8lab_loader_get_pos(const fp8lab_loader *L);
int fp8lab_loader_set_pos(fp8lab_loader *L, fp8lab_loader_pos pos);
/* {"epoch","shard","sample","seed","T","shuffle","shards","tokens"}: the position plus what it is only valid for.
   NULL when out of memory. */
cJSON *fp8lab_loader_pos_to_json(const fp8lab_loader *L);
/* Restores from such an object; `file` names it in errors. Refuses (exit 2) a position saved for other data
   (shard count, token count), another seed, T or shuffle setting, or one out of range. */
int fp8lab_loader_pos_from_json(fp8lab_loader *L, const cJSON *obj, const char *file);

/* Evaluation reads every shard in list order, rows i = 0, 1, ... while (i + 1) * T + 1 <= n: inputs
   tok[iT .. iT+T-1], targets tok[iT+1 .. iT+T], as llm.c's evaluation does. Start with it = {0, 0}. */
typedef struct {
    int shard;
    int64_t row;
} fp8lab_eval_pos;
/* Rows of a shard of ntok tokens: (ntok - 1) / T. */
int64_t fp8lab_eval_rows(int64_t ntok, int T);
/* One row into inputs[T], targets[T] (past it when inputs is NULL); returns 1, or 0 when every shard has been
   read. */
int fp8lab_loader_eval_next(const fp8lab_loader *L, fp8lab_eval_pos *it, int32_t *inputs, int32_t *targets);
/* Up to B rows (a B x T batch, the rest left untouched): how many were written, 0 at the end. */
int fp8lab_loader_eval_batch(const fp8lab_loader *L, fp8lab_eval_pos *it, int32_t *inputs, int32_t *targets);
/* The same batch as a data-parallel rank reads it: the position moves past the batch, and only its rows lo ..
   lo + n - 1 that exist are written, into inputs and targets of n x T (row lo first). Returns the batch's rows. */
int fp8lab_loader_eval_part(const fp8lab_loader *L, fp8lab_eval_pos *it, int lo, int n, int32_t *inputs,
                            int32_t *targets);

#endif
