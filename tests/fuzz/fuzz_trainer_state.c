/* Fuzz target: trainer_state.json as fp8lab train --resume reads it (train/checkpoint.h fp8lab_checkpoint_load),
   in a checkpoint folder whose other files are a valid checkpoint of the fuzz trainer (fuzz_trainer.h) at step 2.
   Each input is tried as given, then, when its "crc32c" does not match its "state", again with the checksum made
   right, so that the fields behind it are reached. A refusal must name the folder (and so the file) and leave
   the trainer as it was; a load that succeeds must be of step 2, the optimizer file's. */
#include "fuzz_trainer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *ck;
    const char *base = NULL;
    fp8lab_trainer *t = fuzz_trainer(&base);
    if (!ck) {
        ck = fuzz_tr_dir("ck");
        static const char *const files[] = {"config.json", "model.safetensors", "optimizer.safetensors"};
        for (int i = 0; i < 3; i++) {
            char p[4400];
            size_t n;
            snprintf(p, sizeof p, "%s/%s", base, files[i]);
            uint8_t *b = fuzz_tr_read(p, &n);
            fuzz_tr_put(ck, files[i], b, n);
            free(b);
        }
    }
    fuzz_quiet_begin();
    fuzz_tr_put(ck, "trainer_state.json", data, size);
    if (fuzz_tr_load(t, ck) == 0 && t->step != 2) abort();
    char *fixed = fuzz_fix_state_crc(data, size);
    if (fixed) {
        fuzz_tr_put(ck, "trainer_state.json", fixed, strlen(fixed));
        if (fuzz_tr_load(t, ck) == 0 && t->step != 2) abort();
        free(fixed);
    }
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
