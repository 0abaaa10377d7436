/* Fuzz target: `fp8lab sim` end to end. The input holds up to four parts separated by NUL bytes:
     model config JSON \0 cluster spec JSON \0 flags, one per line \0 calibration JSON (optional)
   The JSON parts become in-memory files; cmd_sim runs on
     --model MODEL --cluster CLUSTER [--calibration CALIB] FLAGS...
   with its output silenced (FP8LAB_FUZZ_VERBOSE=1 shows it). An input with fewer than two parts does nothing.
   tests/fuzz/README.md shows how to make and read such an input. */
#include <stdlib.h>

#include "cli/commands.h"
#include "core/error.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file model, cluster, calib;
    size_t off[4], len[4];
    int parts = 0;
    while (parts < 4 && fuzz_section(data, size, 0, parts, &off[parts], &len[parts])) parts++;
    if (parts < 2) return 0;
    if (parts == 4) len[3] = size - off[3]; /* the calibration is the rest, NUL bytes and all */
    char **flags = NULL;
    int nflags = parts >= 3 ? fuzz_split(data + off[2], len[2], "\n", 1, &flags) : 0;
    if (nflags < 0) return 0;
    char **argv = calloc((size_t)nflags + 7, sizeof *argv);
    if (!argv) {
        fuzz_split_free(nflags, flags);
        return 0;
    }
    int argc = 0;
    argv[argc++] = "--model";
    argv[argc++] = (char *)fuzz_file_set(&model, data + off[0], len[0]);
    argv[argc++] = "--cluster";
    argv[argc++] = (char *)fuzz_file_set(&cluster, data + off[1], len[1]);
    if (parts == 4) {
        argv[argc++] = "--calibration";
        argv[argc++] = (char *)fuzz_file_set(&calib, data + off[3], len[3]);
    }
    for (int i = 0; i < nflags; i++) argv[argc++] = flags[i];
    fuzz_quiet_begin();
    cmd_sim(argc, argv);
    fuzz_quiet_end();
    fp8lab_clear_error();
    free(argv);
    fuzz_split_free(nflags, flags);
    return 0;
}
