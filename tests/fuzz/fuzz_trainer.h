/* What the checkpoint targets (fuzz_trainer_state.c, fuzz_checkpoint.c) load into: a trainer as `fp8lab train`
   makes it, on the CPU, for a GPT-2 small enough to keep seed files at a few KB (1 layer, 4 wide, vocab 8,
   8 positions), over a generated shard of 256 tokens, B = 2, T = 8, seed 1337, BF16 moments; made once, trained
   two steps and saved as a checkpoint (the base the trainer_state target puts its input into). The seeds were
   written by `fp8lab train` with this model on an identical shard (README.md), so they load. Header-only: each
   target is one source file. */
#ifndef FP8LAB_FUZZ_TRAINER_H
#define FP8LAB_FUZZ_TRAINER_H
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "data/shard.h"
#include "io/crc32c.h"
#include "fuzz_util.h"
#include "train/checkpoint.h"
#include "train/loop.h"

#include <cjson/cJSON.h>

#define FUZZ_MODEL_JSON                                                                                            \
    "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"vocab_size\": 8, \"n_embd\": 4, "     \
    "\"n_layer\": 1, \"n_head\": 1, \"n_inner\": 8, \"n_positions\": 8, \"tie_word_embeddings\": true}\n"
#define FUZZ_SHARD_TOKENS 256
/* the shard's tokens: any fixed sequence below the vocabulary */
#define FUZZ_SHARD_TOKEN(i) ((uint32_t)(((i) * 5 + (i) / 7) % 8))

static char fuzz_tr_dirs[4][4400]; /* folders made under the scratch folder, removed at exit (deepest first) */
static int fuzz_tr_ndirs;

static inline void fuzz_tr_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[8600];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(dir);
}

static inline void fuzz_tr_cleanup(void) {
    for (int i = fuzz_tr_ndirs - 1; i >= 0; i--) fuzz_tr_rmdir(fuzz_tr_dirs[i]);
}

/* scratch/NAME, made now and removed at exit (call once per name) */
static inline const char *fuzz_tr_dir(const char *name) {
    if (fuzz_tr_ndirs == 4) abort();
    char *d = fuzz_tr_dirs[fuzz_tr_ndirs];
    snprintf(d, sizeof fuzz_tr_dirs[0], "%s/%s", fuzz_scratch_dir(), name);
    if (mkdir(d, 0700)) abort();
    if (!fuzz_tr_ndirs) atexit(fuzz_tr_cleanup); /* after fuzz_util's: runs before it removes the scratch folder */
    fuzz_tr_ndirs++;
    return d;
}

/* path of dir/name, written with data[0..n) (n == (size_t)-1: removed instead) */
static inline void fuzz_tr_put(const char *dir, const char *name, const void *data, size_t n) {
    char p[8600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (n == (size_t)-1) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f)) abort();
}

/* The trainer; its base checkpoint folder goes to *base. Aborts when it cannot be made (the target cannot run). */
static inline fp8lab_trainer *fuzz_trainer(const char **base) {
    static fp8lab_trainer *t;
    static char model[4200], shard[4200], out[4200], ckpt[4300];
    if (!t) {
        const char *s = fuzz_scratch_dir();
        snprintf(model, sizeof model, "%s/fuzz-model.json", s);
        snprintf(shard, sizeof shard, "%s/fuzz-train.bin", s);
        fuzz_tr_put(s, "fuzz-model.json", FUZZ_MODEL_JSON, strlen(FUZZ_MODEL_JSON));
        uint32_t tok[FUZZ_SHARD_TOKENS];
        for (int i = 0; i < FUZZ_SHARD_TOKENS; i++) tok[i] = FUZZ_SHARD_TOKEN(i);
        if (fp8lab_shard_write(shard, tok, FUZZ_SHARD_TOKENS, FP8LAB_SHARD_U16)) abort();
        snprintf(out, sizeof out, "%s", fuzz_tr_dir("run"));
        fp8lab_train_cfg c;
        fp8lab_train_cfg_default(&c);
        c.model = model;
        c.data = shard;
        c.device = "cpu";
        c.out = out;
        c.batch = 2;
        c.seq = 8;
        c.steps = 4;
        c.warmup = 1;
        t = fp8lab_trainer_create(&c);
        if (!t) {
            fprintf(stderr, "fuzz: trainer: %s\n", fp8lab_last_error());
            abort();
        }
        char done[4300];
        if (fp8lab_trainer_step(t, NULL) || fp8lab_trainer_step(t, NULL) ||
            fp8lab_checkpoint_save(t, done, sizeof done)) {
            fprintf(stderr, "fuzz: base checkpoint: %s\n", fp8lab_last_error());
            abort();
        }
        /* registered for removal: the checkpoint folder (made by the save) after nothing else */
        snprintf(ckpt, sizeof ckpt, "%s", done);
        if (fuzz_tr_ndirs == 4) abort();
        snprintf(fuzz_tr_dirs[fuzz_tr_ndirs++], sizeof fuzz_tr_dirs[0], "%s", ckpt);
    }
    if (base) *base = ckpt;
    return t;
}

/* A whole file (malloc'ed; *n its size), or abort. */
static inline uint8_t *fuzz_tr_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END)) abort();
    const long len = ftell(f);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (len < 0 || !b || fseek(f, 0, SEEK_SET) || fread(b, 1, (size_t)len, f) != (size_t)len) abort();
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* The checksums a mutation breaks, made right again so that what they guard is fuzzed too. A safetensors file's
   fp8lab_crc32c (8 hex digits in the header, over the data buffer): rewritten in place; 1 when it changed. */
static inline int fuzz_fix_st_crc(uint8_t *b, size_t n) {
    if (n < 8) return 0;
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = hn << 8 | b[i];
    if (hn > n - 8) return 0;
    const size_t hend = 8 + (size_t)hn;
    static const char key[] = "\"fp8lab_crc32c\"";
    for (size_t i = 8; i + sizeof key - 1 < hend; i++) {
        if (memcmp(b + i, key, sizeof key - 1)) continue;
        size_t j = i + sizeof key - 1;
        while (j < hend && (b[j] == ' ' || b[j] == ':')) j++;
        if (j + 10 > hend || b[j] != '"' || b[j + 9] != '"') return 0;
        char hex[9];
        snprintf(hex, sizeof hex, "%08x", fp8lab_crc32c(0, b + hend, n - hend));
        if (!memcmp(b + j + 1, hex, 8)) return 0;
        memcpy(b + j + 1, hex, 8);
        return 1;
    }
    return 0;
}

/* A trainer_state.json with its "crc32c" made to match its "state" (as checkpoint.c computes it): malloc'ed text,
   or NULL when the input is no such object or already matches. */
static inline char *fuzz_fix_state_crc(const uint8_t *data, size_t n) {
    cJSON *doc = cJSON_ParseWithLength((const char *)data, n);
    const cJSON *st = cJSON_IsObject(doc) ? cJSON_GetObjectItemCaseSensitive(doc, "state") : NULL;
    char *text = st ? cJSON_PrintUnformatted(st) : NULL, *out = NULL;
    if (text) {
        char hex[9];
        snprintf(hex, sizeof hex, "%08x", fp8lab_crc32c(0, text, strlen(text)));
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "crc32c");
        if (!cJSON_IsString(c) || strcmp(c->valuestring, hex)) {
            cJSON_DeleteItemFromObjectCaseSensitive(doc, "crc32c");
            cJSON_AddStringToObject(doc, "crc32c", hex);
            out = cJSON_Print(doc);
        }
    }
    free(text);
    cJSON_Delete(doc);
    return out;
}

/* What a refused load must leave alone: the trainer as it was. */
typedef struct {
    long step, skipped;
    uint64_t rng;
    fp8lab_loader_pos pos;
    uint8_t *buf; /* parameters, then both moments (host copies) */
    size_t pbytes, mbytes;
} fuzz_tr_snap;

static inline void fuzz_tr_snap_take(fp8lab_trainer *t, fuzz_tr_snap *s) {
    s->step = t->step;
    s->skipped = t->skipped;
    s->rng = t->sample_rng.s;
    s->pos = t->train.pos;
    s->pbytes = sizeof(float) * (size_t)t->opt.floats;
    s->mbytes = fp8lab_optim_moment_bytes(&t->opt);
    s->buf = malloc(s->pbytes + 2 * s->mbytes);
    if (!s->buf || fp8lab_copy_d2h(t->be, s->buf, fp8lab_gpt_params(t->g), s->pbytes) ||
        fp8lab_copy_d2h(t->be, s->buf + s->pbytes, t->opt.m, s->mbytes) ||
        fp8lab_copy_d2h(t->be, s->buf + s->pbytes + s->mbytes, t->opt.v, s->mbytes))
        abort();
}

/* 1 when t is as s saw it */
static inline int fuzz_tr_snap_same(fp8lab_trainer *t, const fuzz_tr_snap *s) {
    fuzz_tr_snap now;
    fuzz_tr_snap_take(t, &now);
    const int same = now.step == s->step && now.skipped == s->skipped && now.rng == s->rng &&
                     !memcmp(&now.pos, &s->pos, sizeof now.pos) &&
                     !memcmp(now.buf, s->buf, s->pbytes + 2 * s->mbytes);
    free(now.buf);
    return same;
}

/* fp8lab_checkpoint_load(t, dir) with its promises checked: a refusal names dir and changes nothing of t; a
   load sets the step the files agree on. Returns its status. */
static inline int fuzz_tr_load(fp8lab_trainer *t, const char *dir) {
    fuzz_tr_snap s;
    fuzz_tr_snap_take(t, &s);
    const int rc = fp8lab_checkpoint_load(t, dir);
    fprintf(stderr, "load: %s\n", rc ? fp8lab_last_error() : "ok"); /* shown with FP8LAB_FUZZ_VERBOSE=1 */
    if (rc) {
        if (!strstr(fp8lab_last_error(), dir) || !fuzz_tr_snap_same(t, &s)) {
            fuzz_quiet_end();
            fprintf(stderr, "fuzz: refused load: %s\n", fp8lab_last_error());
            abort();
        }
    } else {
        /* what a load promises the steps after it: a consistent count, a live sampling generator, moments
           AdamW can use (finite, exp_avg_sq >= 0) */
        if (t->step < 0 || t->skipped < 0 || t->skipped > t->step || !t->sample_rng.s) abort();
        fuzz_tr_snap now;
        fuzz_tr_snap_take(t, &now);
        const uint8_t *m = now.buf + now.pbytes;
        for (int64_t i = 0; i < 2 * t->opt.floats; i++) {
            float x;
            if (t->opt.dtype == FP8LAB_MOMENTS_BF16) {
                const uint32_t bits = (uint32_t)(m[2 * i] | m[2 * i + 1] << 8) << 16;
                memcpy(&x, &bits, 4);
            } else {
                memcpy(&x, m + 4 * i, 4);
            }
            if (!isfinite(x) || (i >= t->opt.floats && x < 0)) abort();
        }
        free(now.buf);
    }
    free(s.buf);
    fp8lab_clear_error();
    return rc;
}

#endif
