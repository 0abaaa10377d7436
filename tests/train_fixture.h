/* Shared by the trainer tests (test_train.c, test_train_dp.c): a private folder with byte-level shards of a
   generated text (a few sentences in a seeded order: structure to learn) and a tiny GPT-2 config, both under
   fixture_at(). Header-only: each test is its own executable. Needs _GNU_SOURCE before the first include (nftw). */
#ifndef FP8LAB_TRAIN_FIXTURE_H
#define FP8LAB_TRAIN_FIXTURE_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "data/build.h"

static char fixture_dir[256];

static const char FIXTURE_TINY_MODEL[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 32, "
                                         "\"n_layer\": 2, \"n_head\": 2, \"n_positions\": 32}";

/* fixture_dir/name, in one of 16 rotating buffers (enough for the arguments of one call) */
static const char *fixture_at(const char *name) {
    static char buf[16][512];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fixture_dir, name);
    return buf[k];
}

/* Creates /tmp/<prefix>XXXXXX with data/ (shards of `bytes` bytes of text, 10 % validation, 20000-token
   shards, rows of 32) and tiny.json (GPT-2, vocab 256, 2 layers x 32, 2 heads, 32 positions). 0 or -1. */
static int fixture_setup(const char *prefix, int bytes, unsigned seed) {
    snprintf(fixture_dir, sizeof fixture_dir, "/tmp/%sXXXXXX", prefix);
    if (!mkdtemp(fixture_dir)) return -1;
    static const char *S[] = {"the quick brown fox jumps over the lazy dog. ", "a stitch in time saves nine. ",
                              "all that glitters is not gold. ", "to be or not to be, that is the question.\n"};
    char *text = malloc((size_t)bytes + 64);
    if (!text) return -1;
    int len = 0;
    unsigned x = seed;
    while (len < bytes) {
        x = x * 1103515245u + 12345u;
        const char *s = S[(x >> 16) % 4];
        memcpy(text + len, s, strlen(s));
        len += (int)strlen(s);
    }
    const int rc = fp8lab_data_build_bytes((const uint8_t *)text, len, fixture_at("data"), 0.1, 20000, 32, NULL);
    free(text);
    if (rc) {
        fprintf(stderr, "data build: %s\n", fp8lab_last_error());
        return -1;
    }
    FILE *f = fopen(fixture_at("tiny.json"), "w");
    if (!f) return -1;
    fputs(FIXTURE_TINY_MODEL, f);
    return fclose(f);
}

static int fixture_remove_entry(const char *path, const struct stat *s, int flag, struct FTW *ftw) {
    (void)s, (void)flag, (void)ftw;
    return remove(path);
}

static int fixture_teardown(void **st) {
    (void)st;
    return nftw(fixture_dir, fixture_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
