/* Fuzz target: the file: rendezvous (dist/rendezvous.h) as a rank other than 0 reads it. The input is the
   rendezvous file's contents; rank 1 of 2 of job "fuzz-job" (FP8LAB_JOB_ID) reads it through
   fp8lab_rendezvous_at, the real reader, with a timeout of 1 us so that a file it waits past (garbled, another
   job's) is refused at the first read instead of after 60 s. A refusal must name the file, carry exit status 1
   or 2 and leave the blob alone. A file taken must say "size 2" (not a number that wraps to 2), must be refused
   by a rank of a 3-rank world (a mismatched world size, exit status 2), and its blob must survive the way back:
   written by rank 0 (the real writer) and read again by rank 1. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "dist/rendezvous.h"
#include "fuzz_util.h"

enum { B = FP8LAB_RDV_BLOB_BYTES };

static void fail(const char *what) {
    fuzz_quiet_end();
    fprintf(stderr, "fuzz: %s (error: %s)\n", what, fp8lab_last_error());
    abort();
}

/* rank of size reads spec into blob (pre-filled with a canary); a refusal is checked to name `path` */
static int take(const char *spec, const char *path, int rank, int size, unsigned char *blob) {
    const fp8lab_launch l = {.rank = rank, .size = size, .local_rank = rank, .launcher = "env"};
    unsigned char canary[B];
    memset(canary, 0xa5, B);
    memcpy(blob, canary, B);
    const int rc = fp8lab_rendezvous_at(spec, &l, blob);
    fprintf(stderr, "rank %d/%d: %s\n", rank, size, rc ? fp8lab_last_error() : "ok"); /* FP8LAB_FUZZ_VERBOSE=1 */
    if (rc) {
        const int ex = fp8lab_last_error_exit();
        if (rc != -1 || !strstr(fp8lab_last_error(), path)) fail("a refusal does not name the file");
        if (ex != FP8LAB_EXIT_RUNTIME && ex != FP8LAB_EXIT_USAGE) fail("a refusal without an exit status");
        if (memcmp(blob, canary, B)) fail("a refusal changed the blob");
    }
    fp8lab_clear_error();
    return rc;
}

/* The number after the first "size" of the file as the reader sees it (its first 1023 bytes, up to a NUL): in a
   file taken, the world size line (the job before it is "fuzz-job"). 0 when it is no number a long long holds. */
static long long stated_size(const uint8_t *data, size_t size) {
    char text[1024];
    const size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    const char *p = strstr(text, "size");
    if (!p) return 0;
    errno = 0;
    const long long v = strtoll(p + 4, NULL, 10);
    return errno ? 0 : v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    static char spec[128], back[4200], back_spec[4300];
    if (!back[0]) {
        unsetenv("SLURM_JOB_ID");
        unsetenv("SLURM_STEP_ID");
        setenv("FP8LAB_JOB_ID", "fuzz-job", 1);
        setenv("FP8LAB_RENDEZVOUS_TIMEOUT", "1e-6", 1);
        snprintf(back, sizeof back, "%s/rendezvous", fuzz_scratch_dir());
        snprintf(back_spec, sizeof back_spec, "file:%s", back);
    }
    fuzz_quiet_begin();
    const char *path = fuzz_file_set(&file, data, size);
    snprintf(spec, sizeof spec, "file:%s", path);
    unsigned char blob[B], again[B];
    if (take(spec, path, 1, 2, blob) == 0) {
        if (stated_size(data, size) != 2) fail("a file for another world size taken by a rank of 2");
        /* this job's file for 2 ranks: refused at once by a world of 3 */
        const fp8lab_launch three = {.rank = 1, .size = 3, .local_rank = 1, .launcher = "env"};
        if (fp8lab_rendezvous_at(spec, &three, again) == 0) fail("a file for 2 ranks taken by a rank of 3");
        if (!strstr(fp8lab_last_error(), "mismatched world size") || !strstr(fp8lab_last_error(), path) ||
            fp8lab_last_error_exit() != FP8LAB_EXIT_USAGE)
            fail("a file for 2 ranks refused by a rank of 3 for another reason");
        fp8lab_clear_error();
        /* the way back: rank 0 writes the blob taken, rank 1 reads the same bytes */
        const fp8lab_launch zero = {.rank = 0, .size = 2, .local_rank = 0, .launcher = "env"};
        if (fp8lab_rendezvous_at(back_spec, &zero, blob)) fail("rank 0 cannot write its file");
        if (take(back_spec, back, 1, 2, again) || memcmp(blob, again, B))
            fail("the blob did not survive rank 0's file");
    }
    fuzz_quiet_end();
    fp8lab_clear_error();
    return 0;
}
