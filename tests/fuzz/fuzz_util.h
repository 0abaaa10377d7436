/* Helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c): see README.md in this folder. */
#ifndef FP8LAB_FUZZ_UTIL_H
#define FP8LAB_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>

/* The entry point every target defines (libFuzzer's, or replay_main.c's in builds without libFuzzer). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An in-memory file (memfd_create) that the loaders open by path (/proc/self/fd/N); created on first use and
   rewritten by every call. Returns the path; aborts when no memfd can be made (the target cannot run). */
typedef struct {
    int fd; /* 0: not made yet */
    char path[64];
} fuzz_file;
const char *fuzz_file_set(fuzz_file *f, const void *data, size_t size);

/* Points the stdout and stderr FILE streams at /dev/null (the file descriptors stay: a sanitizer or libFuzzer
   report still reaches fd 2). FP8LAB_FUZZ_VERBOSE=1 in the environment keeps the output, to see what an input
   does. */
void fuzz_quiet_begin(void);
void fuzz_quiet_end(void);

/* Splits data into argv at every byte of `seps` ("\n" or "\n\0": pass the length, as "\n\0" holds a NUL): a
   NULL-terminated, malloc'ed array of strings; one trailing empty piece (input ending in a separator) is
   dropped. Returns argc (>= 0), or -1 out of memory. */
int fuzz_split(const uint8_t *data, size_t size, const char *seps, size_t nseps, char ***argv);
void fuzz_split_free(int argc, char **argv);

/* Finds the n-th (0-based) section of data separated by byte `sep`; returns 1 and sets *off, *len, or 0 when
   data has fewer sections. */
int fuzz_section(const uint8_t *data, size_t size, uint8_t sep, int n, size_t *off, size_t *len);

/* The configs/ folder of the source tree (FP8LAB_SOURCE_DIR/configs when that is set, else the one this target
   was built from): flag inputs name files there as "@models/gpt2-124m.json". */
const char *fuzz_configs_dir(void);

/* A private scratch folder (mkdtemp under $TMPDIR or /tmp), removed with its files at exit. */
const char *fuzz_scratch_dir(void);

#endif
