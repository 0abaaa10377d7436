/* Fuzz target: a checkpoint folder as fp8lab train reads it (train/checkpoint.h, train/config.h, train/opt_shards.h):
   --resume (fp8lab_checkpoint_load into the fuzz trainer, fuzz_trainer.h) and --init-from (the model from
   DIR/config.json, fp8lab_train_load_model, then fp8lab_load_weights from DIR/model.safetensors). The input is
   the folder's files in the order of FILES below, separated by the line "--8<--" (SEP below; a missing piece is a
   missing file): config.json, model.safetensors, optimizer.safetensors, trainer_state.json, then the files of a
   ZeRO-1 checkpoint, which the one-rank fuzz trainer resumes by reading every shard the manifest names:
   optimizer.manifest.json, optimizer-shared.safetensors and the rank shards of a run on 2 and on 3 ranks (3 ranks
   leave a remainder of the buffer to the shared file; 2 do not). Inputs of the first four pieces are the older
   format, unchanged. Each input is tried as given, then again with the checksums made right (the safetensors
   files' fp8lab_crc32c, trainer_state.json's crc32c) when they were not. A refused --resume must name the folder
   and leave the trainer as it was; a refused --init-from must name the folder. */
#define _GNU_SOURCE /* memmem */
#include "fuzz_trainer.h"

#include "model/config.h"
#include "nn/model.h"

#define SEP "\n--8<--\n"
#define MAX_INIT_PARAMS 65536 /* --init-from builds the config's model: bounded, as the seeds' are tiny */

#define NFILES 11
#define STATE 3 /* trainer_state.json */
static const char *const FILES[NFILES] = {"config.json",
                                          "model.safetensors",
                                          "optimizer.safetensors",
                                          "trainer_state.json",
                                          "optimizer.manifest.json",
                                          "optimizer-shared.safetensors",
                                          "optimizer-0-of-2.safetensors",
                                          "optimizer-1-of-2.safetensors",
                                          "optimizer-0-of-3.safetensors",
                                          "optimizer-1-of-3.safetensors",
                                          "optimizer-2-of-3.safetensors"};
/* pieces with an fp8lab_crc32c to make right: the .safetensors files */
static int is_st(int i) { return strstr(FILES[i], ".safetensors") != NULL; }

/* --init-from dir */
static void init_from(fp8lab_backend *be, const char *dir) {
    fp8lab_train_cfg c;
    fp8lab_train_cfg_default(&c);
    c.init_from = dir;
    fp8lab_model m;
    if (fp8lab_train_load_model(&c, &m)) {
        if (!strstr(fp8lab_last_error(), dir)) abort();
        fp8lab_clear_error();
        return;
    }
    const int64_t n = fp8lab_gpt_param_count(&m);
    if (n < 0 || n > MAX_INIT_PARAMS) {
        fp8lab_clear_error();
        return;
    }
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, 1);
    const int rc = g ? fp8lab_load_weights(g, be, dir) : -1;
    fprintf(stderr, "--init-from: %s\n", rc ? fp8lab_last_error() : "ok"); /* shown with FP8LAB_FUZZ_VERBOSE=1 */
    if (g && rc && !strstr(fp8lab_last_error(), dir)) {
        fuzz_quiet_end();
        fprintf(stderr, "fuzz: refused --init-from: %s\n", fp8lab_last_error());
        abort();
    }
    fp8lab_gpt_destroy(g);
    fp8lab_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *dir;
    fp8lab_trainer *t = fuzz_trainer(NULL);
    if (!dir) dir = fuzz_tr_dir("ck2");
    /* the pieces, copied (the checksum fixes write into them) */
    uint8_t *piece[NFILES] = {0};
    size_t len[NFILES] = {0};
    int n = 0;
    const size_t sl = strlen(SEP);
    for (size_t at = 0; n < NFILES && at <= size; n++) {
        const uint8_t *end = size - at >= sl ? memmem(data + at, size - at, SEP, sl) : NULL;
        len[n] = end ? (size_t)(end - (data + at)) : size - at;
        piece[n] = malloc(len[n] + 1);
        if (!piece[n]) abort();
        if (len[n]) memcpy(piece[n], data + at, len[n]);
        if (!end) {
            n++;
            break;
        }
        at += len[n] + sl;
    }
    fuzz_quiet_begin();
    for (int i = 0; i < NFILES; i++) fuzz_tr_put(dir, FILES[i], piece[i], i < n ? len[i] : (size_t)-1);
    fuzz_tr_load(t, dir);
    int fixed = 0;
    for (int i = 0; i < n; i++)
        if (is_st(i) && fuzz_fix_st_crc(piece[i], len[i])) {
            fuzz_tr_put(dir, FILES[i], piece[i], len[i]);
            fixed = 1;
        }
    char *st = n > STATE ? fuzz_fix_state_crc(piece[STATE], len[STATE]) : NULL;
    if (st) {
        fuzz_tr_put(dir, FILES[STATE], st, strlen(st));
        free(st);
        fixed = 1;
    }
    if (fixed) fuzz_tr_load(t, dir);
    init_from(t->be, dir);
    for (int i = 0; i < n; i++) free(piece[i]);
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
