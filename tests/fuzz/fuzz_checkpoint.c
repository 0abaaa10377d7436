/* Fuzz target: a checkpoint folder as fp8lab train reads it (train/checkpoint.h, train/config.h):
   --resume (fp8lab_checkpoint_load into the fuzz trainer, fuzz_trainer.h) and --init-from (the model from
   DIR/config.json, fp8lab_train_load_model, then fp8lab_load_weights from DIR/model.safetensors). The input is
   the folder's files, config.json, model.safetensors, optimizer.safetensors, trainer_state.json, in that order,
   separated by the line "--8<--" (SEP below; a missing piece is a missing file). Each input is tried as given,
   then again with the checksums made right (the safetensors files' fp8lab_crc32c, trainer_state.json's crc32c)
   when they were not. A refused --resume must name the folder and leave the trainer as it was; a refused
   --init-from must name the folder. */
#define _GNU_SOURCE /* memmem */
#include "fuzz_trainer.h"

#include "model/config.h"
#include "nn/model.h"

#define SEP "\n--8<--\n"
#define MAX_INIT_PARAMS 65536 /* --init-from builds the config's model: bounded, as the seeds' are tiny */

static const char *const FILES[4] = {"config.json", "model.safetensors", "optimizer.safetensors",
                                     "trainer_state.json"};

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
    uint8_t *piece[4] = {0};
    size_t len[4] = {0};
    int n = 0;
    const size_t sl = strlen(SEP);
    for (size_t at = 0; n < 4 && at <= size; n++) {
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
    for (int i = 0; i < 4; i++) fuzz_tr_put(dir, FILES[i], piece[i], i < n ? len[i] : (size_t)-1);
    fuzz_tr_load(t, dir);
    int fixed = 0;
    for (int i = 1; i <= 2 && i < n; i++)
        if (fuzz_fix_st_crc(piece[i], len[i])) {
            fuzz_tr_put(dir, FILES[i], piece[i], len[i]);
            fixed = 1;
        }
    char *st = n == 4 ? fuzz_fix_state_crc(piece[3], len[3]) : NULL;
    if (st) {
        fuzz_tr_put(dir, FILES[3], st, strlen(st));
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
