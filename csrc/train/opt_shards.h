/* The optimizer's files in a checkpoint folder (train/checkpoint.h). Either one file, optimizer.safetensors, with
   the AdamW moments over the whole parameter buffer, or, from a ZeRO-1 run (train/zero.h), one shard per rank
   with that rank's block of the moments, written by the rank itself, a shared part (the remainder every rank
   owns, the step and the fp8-tensor-delayed amax histories), and a manifest naming each file and its range of
   the buffer:
     optimizer-R-of-N.safetensors   exp_avg, exp_avg_sq over [R x count, (R + 1) x count), step
     optimizer-shared.safetensors   exp_avg, exp_avg_sq over [N x count, floats), step, amax_history
     optimizer.manifest.json        {"format": "fp8lab-optimizer-shards", "version": 1, "floats": F,
                                     "moments": "bf16"|"f32", "shards": [{"file", "begin", "end"}, ...]}
   A reader assembles the whole buffer from the shards, whatever the number of ranks that reads it (a run saved on
   4 ranks resumes on 2 or 1, and the reverse). Every file carries fp8lab_crc32c (io/safetensors.h). */
#ifndef FP8LAB_TRAIN_OPT_SHARDS_H
#define FP8LAB_TRAIN_OPT_SHARDS_H
#include <stddef.h>
#include <stdint.h>

#include "io/safetensors.h"
#include "nn/model.h"

#define FP8LAB_OPT_SHARD_FILE "optimizer-%d-of-%d.safetensors"
#define FP8LAB_OPT_SHARED_FILE "optimizer-shared.safetensors"
#define FP8LAB_OPT_MANIFEST "optimizer.manifest.json"

/* How a ZeRO-1 run cut the buffer: ranks blocks of count floats, then [tail, floats) shared. */
typedef struct {
    int ranks;
    int64_t count, tail, floats;
    fp8lab_moment_dtype dtype;
} fp8lab_opt_shards;

/* One optimizer file's contents: the moments of floats [begin, end) (m, v point at begin's element), the step,
   and (amax non-NULL) the amax histories [amax_shape[0]][amax_shape[1]]. */
typedef struct {
    const void *m, *v;
    fp8lab_moment_dtype dtype;
    int64_t begin, end, step;
    const float *amax;
    int64_t amax_shape[2];
} fp8lab_opt_part;

int fp8lab_opt_part_write(const char *dir, const char *name, const fp8lab_opt_part *p);
int fp8lab_opt_manifest_write(const char *dir, const fp8lab_opt_shards *s);

/* Tensor `name` (exp_avg or exp_avg_sq) of an open optimizer file into dst: dtype as `dtype`, shape [end - begin],
   finite values (exp_avg_sq also >= 0); errors name the file and the tensor (exit 2). */
int fp8lab_opt_read_moment(const fp8lab_st *st, const char *name, fp8lab_moment_dtype dtype, int64_t begin,
                           int64_t end, void *dst);
/* dir's manifest read and checked (the shards tile [0, floats) in order, the last is the shared file), each rank
   shard's moments read into m, v (floats elements each, at their offsets) and checked to hold `step`; *shared
   gets the shared file opened (the caller reads its moments over [*shared_begin, floats), amax_history and step,
   and closes it). Returns 1 when dir has no manifest (nothing read), 0 when read, -1 with an error. */
int fp8lab_opt_shards_read(const char *dir, fp8lab_moment_dtype dtype, int64_t floats, int64_t step, void *m, void *v,
                           fp8lab_st **shared, int64_t *shared_begin);

#endif
