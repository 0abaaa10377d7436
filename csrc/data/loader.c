#include "data/loader.h"

#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"

/* ---- deterministic permutations ------------------------------------------------------------------------ */

/* splitmix64's finalizer: turns (seed, what, epoch, shard) into independent generator seeds */
static uint64_t mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

enum { TAG_SHARDS = 0x5348, TAG_ROWS = 0x524f };

static void rng_for(fp8lab_rng *r, uint64_t seed, uint64_t tag, int64_t epoch, int64_t shard) {
    fp8lab_rng_seed(r, mix64(mix64(mix64(seed ^ tag << 48) ^ (uint64_t)epoch) ^ (uint64_t)shard));
}

/* uniform in [0, n), n >= 1, without modulo bias (rejection), identical on every machine */
static uint64_t bounded(fp8lab_rng *r, uint64_t n) {
    uint64_t limit = -n % n; /* 2^64 mod n: draws below it are rejected */
    for (;;) {
        uint64_t v = fp8lab_rng_u64(r);
        if (v >= limit) return v % n;
    }
}

static void shuffle_int(int *a, int64_t n, fp8lab_rng *r) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

static void shuffle_u32(uint32_t *a, int64_t n, fp8lab_rng *r) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)bounded(r, (uint64_t)i + 1);
        uint32_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

int64_t fp8lab_eval_rows(int64_t ntok, int T) { return T >= 1 && ntok > T ? (ntok - 1) / T : 0; }

static int64_t shard_rows(const fp8lab_loader *L, int s) { return fp8lab_eval_rows(L->shards[s].ntok, L->T); }

static void ensure_shard_order(fp8lab_loader *L) {
    if (L->order_epoch == L->pos.epoch) return;
    for (int i = 0; i < L->nshards; i++) L->shard_order[i] = i;
    if (L->shuffle) {
        fp8lab_rng r;
        rng_for(&r, L->seed, TAG_SHARDS, L->pos.epoch, 0);
        shuffle_int(L->shard_order, L->nshards, &r);
    }
    L->order_epoch = L->pos.epoch;
}

static int ensure_row_order(fp8lab_loader *L, int sid) {
    if (!L->shuffle || (L->row_epoch == L->pos.epoch && L->row_shard == sid)) return 0;
    int64_t n = shard_rows(L, sid);
    uint32_t *o = realloc(L->row_order, (size_t)n * sizeof *o);
    if (!o) {
        FP8LAB_ERR_RT("%s: out of memory for the order of %" PRId64 " rows", L->shards[sid].path, n);
        return -1;
    }
    L->row_order = o;
    for (int64_t i = 0; i < n; i++) o[i] = (uint32_t)i;
    fp8lab_rng r;
    rng_for(&r, L->seed, TAG_ROWS, L->pos.epoch, sid);
    shuffle_u32(o, n, &r);
    L->row_epoch = L->pos.epoch;
    L->row_shard = sid;
    return 0;
}

/* ---- opening ------------------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct {
    char **v;
    int n, cap;
} str_list;

static int list_add(str_list *l, const char *s) {
    if (l->n >= FP8LAB_LOADER_MAX_SHARDS) {
        FP8LAB_ERR("%s: more than %d shards in all", s, FP8LAB_LOADER_MAX_SHARDS);
        return -1;
    }
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) {
            FP8LAB_ERR_RT("out of memory listing shards");
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) {
        FP8LAB_ERR_RT("out of memory listing shards");
        return -1;
    }
    l->n++;
    return 0;
}

static void list_free(str_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* one entry: a glob pattern's matches sorted by bytes (not by locale), or the path itself */
static int expand(str_list *l, const char *entry) {
    struct stat st;
    if (!strpbrk(entry, "*?[") || stat(entry, &st) == 0) return list_add(l, entry);
    glob_t g;
    int rc = glob(entry, GLOB_NOSORT, NULL, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        if (rc == 0) globfree(&g);
        FP8LAB_ERR("%s: no file matches this pattern", entry);
        return -1;
    }
    if (rc != 0) {
        FP8LAB_ERR_RT("%s: cannot expand the pattern (%s)", entry, rc == GLOB_NOSPACE ? "out of memory" : "read error");
        return -1;
    }
    qsort(g.gl_pathv, g.gl_pathc, sizeof *g.gl_pathv, cmp_str);
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (list_add(l, g.gl_pathv[i])) {
            globfree(&g);
            return -1;
        }
    globfree(&g);
    return 0;
}

int fp8lab_loader_open(fp8lab_loader *L, const char *const *paths, int npaths, int B, int T, int64_t vocab,
                       uint64_t seed, int shuffle) {
    memset(L, 0, sizeof *L);
    if (B < 1 || B > FP8LAB_LOADER_MAX_B) {
        FP8LAB_ERR("loader: batch size B = %d is not in [1, %d]", B, FP8LAB_LOADER_MAX_B);
        return -1;
    }
    if (T < 1 || T > FP8LAB_LOADER_MAX_T) {
        FP8LAB_ERR("loader: sequence length T = %d is not in [1, %d]", T, FP8LAB_LOADER_MAX_T);
        return -1;
    }
    if ((double)seed > FP8LAB_LOADER_MAX_SEED) {
        FP8LAB_ERR("loader: seed %" PRIu64 " is not in [0, 2^53 - 1]", seed);
        return -1;
    }
    if (npaths < 1 || !paths) {
        FP8LAB_ERR("loader: no shard files or patterns given");
        return -1;
    }
    str_list list = {0};
    for (int i = 0; i < npaths; i++)
        if (expand(&list, paths[i])) {
            list_free(&list);
            return -1;
        }
    L->shards = calloc((size_t)list.n, sizeof *L->shards);
    L->shard_order = malloc((size_t)list.n * sizeof *L->shard_order);
    if (!L->shards || !L->shard_order) {
        list_free(&list);
        free(L->shards);
        free(L->shard_order);
        memset(L, 0, sizeof *L);
        FP8LAB_ERR_RT("out of memory opening %d shards", list.n);
        return -1;
    }
    L->B = B;
    L->T = T;
    L->seed = seed;
    L->shuffle = shuffle != 0;
    L->order_epoch = L->row_epoch = -1;
    L->row_shard = -1;
    for (int i = 0; i < list.n; i++) {
        if (fp8lab_shard_open(&L->shards[L->nshards], list.v[i], vocab)) goto fail;
        L->nshards++;
        const fp8lab_shard *s = &L->shards[i];
        if (s->ntok < (int64_t)T + 1) {
            FP8LAB_ERR("%s: header[2] (token count) = %" PRId64 ", fewer than T + 1 = %d tokens (one row of the "
                       "sequence length T = %d)",
                       s->path, s->ntok, T + 1, T);
            goto fail;
        }
        L->total_tokens += s->ntok;
        L->total_rows += shard_rows(L, i);
    }
    list_free(&list);
    return 0;
fail:
    list_free(&list);
    fp8lab_loader_close(L);
    return -1;
}

void fp8lab_loader_close(fp8lab_loader *L) {
    for (int i = 0; i < L->nshards; i++) fp8lab_shard_close(&L->shards[i]);
    free(L->shards);
    free(L->shard_order);
    free(L->row_order);
    memset(L, 0, sizeof *L);
}

/* ---- batches ------------------------------------------------------------------------------------------- */

void fp8lab_loader_reset(fp8lab_loader *L) { L->pos = (fp8lab_loader_pos){0, 0, 0}; }

/* The next row of the stream into inputs/targets (T each), or past it when they are NULL. */
static int next_row(fp8lab_loader *L, int32_t *inputs, int32_t *targets) {
    const int T = L->T;
    int sid;
    for (;;) { /* every shard has at least one row, so this ends within one epoch */
        if (L->pos.shard >= L->nshards) {
            L->pos.epoch++;
            L->pos.shard = 0;
            L->pos.sample = 0;
        }
        ensure_shard_order(L);
        sid = L->shard_order[L->pos.shard];
        if (L->pos.sample < shard_rows(L, sid)) break;
        L->pos.shard++;
        L->pos.sample = 0;
    }
    if (ensure_row_order(L, sid)) return -1;
    if (inputs) {
        const int64_t row = L->shuffle ? (int64_t)L->row_order[L->pos.sample] : L->pos.sample;
        const fp8lab_shard *s = &L->shards[sid];
        fp8lab_shard_read(s, row * T, T, inputs);
        fp8lab_shard_read(s, row * T + 1, T, targets);
    }
    L->pos.sample++;
    return 0;
}

int fp8lab_loader_next(fp8lab_loader *L, int32_t *inputs, int32_t *targets) {
    return fp8lab_loader_next_part(L, 0, 1, inputs, targets);
}

int fp8lab_loader_next_part(fp8lab_loader *L, int part, int parts, int32_t *inputs, int32_t *targets) {
    if (parts < 1 || part < 0 || part >= parts || L->B % parts) {
        FP8LAB_ERR_RT("loader: part %d of %d of a batch of %d rows (expected 0 <= part < parts, parts dividing the "
                      "batch)", part, parts, L->B);
        return -1;
    }
    const int rows = L->B / parts, first = part * rows;
    for (int b = 0; b < L->B; b++) {
        const int mine = b >= first && b < first + rows;
        const size_t at = (size_t)(b - first) * (size_t)L->T;
        if (next_row(L, mine ? inputs + at : NULL, mine ? targets + at : NULL)) return -1;
    }
    return 0;
}

/* ---- position ------------------------------------------------------------------------------------------ */

fp8lab_loader_pos fp8lab_loader_get_pos(const fp8lab_loader *L) { return L->pos; }

/* who: "loader position", or the file it came from */
static int set_pos(fp8lab_loader *L, fp8lab_loader_pos p, const char *who) {
    if (p.epoch < 0 || (double)p.epoch > FP8LAB_LOADER_MAX_SEED) {
        FP8LAB_ERR("%s: epoch %" PRId64 " is not in [0, 2^53 - 1]", who, p.epoch);
        return -1;
    }
    if (p.shard < 0 || p.shard >= L->nshards) {
        FP8LAB_ERR("%s: shard %" PRId64 " is not in [0, %d] (%d shards)", who, p.shard, L->nshards - 1, L->nshards);
        return -1;
    }
    fp8lab_loader_pos old = L->pos;
    L->pos = p;
    ensure_shard_order(L);
    int64_t rows = shard_rows(L, L->shard_order[p.shard]);
    if (p.sample < 0 || p.sample > rows) {
        FP8LAB_ERR("%s: sample %" PRId64 " is not in [0, %" PRId64 "] (the rows of shard %" PRId64 ", %s, at T = %d)",
                   who, p.sample, rows, p.shard, L->shards[L->shard_order[p.shard]].path, L->T);
        L->pos = old;
        return -1;
    }
    return 0;
}

int fp8lab_loader_set_pos(fp8lab_loader *L, fp8lab_loader_pos p) { return set_pos(L, p, "loader position"); }

cJSON *fp8lab_loader_pos_to_json(const fp8lab_loader *L) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    int ok = cJSON_AddNumberToObject(j, "epoch", (double)L->pos.epoch) &&
             cJSON_AddNumberToObject(j, "shard", (double)L->pos.shard) &&
             cJSON_AddNumberToObject(j, "sample", (double)L->pos.sample) &&
             cJSON_AddNumberToObject(j, "seed", (double)L->seed) && cJSON_AddNumberToObject(j, "T", L->T) &&
             cJSON_AddBoolToObject(j, "shuffle", L->shuffle) && cJSON_AddNumberToObject(j, "shards", L->nshards) &&
             cJSON_AddNumberToObject(j, "tokens", (double)L->total_tokens);
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* key must equal want: the position belongs to other data or settings otherwise */
static int json_same(const char *file, const cJSON *obj, const char *key, fp8lab_range r, long want,
                     const char *what) {
    long v = 0;
    if (fp8lab_json_int(file, obj, "", key, 0, r, &v)) return -1;
    if (v != want) {
        FP8LAB_ERR("%s: \"%s\" = %ld, but the loader has %ld (%s): this position was saved for other data or "
                   "settings",
                   file, key, v, want, what);
        return -1;
    }
    return 0;
}

int fp8lab_loader_pos_from_json(fp8lab_loader *L, const cJSON *obj, const char *file) {
    if (!cJSON_IsObject(obj)) {
        FP8LAB_ERR("%s: the loader position is not a JSON object", file);
        return -1;
    }
    const fp8lab_range big = FP8LAB_RANGE(0, FP8LAB_LOADER_MAX_SEED);
    if (json_same(file, obj, "seed", big, (long)L->seed, "the shuffling seed") ||
        json_same(file, obj, "T", FP8LAB_RANGE(1, FP8LAB_LOADER_MAX_T), L->T, "the sequence length") ||
        json_same(file, obj, "shards", FP8LAB_RANGE(1, FP8LAB_LOADER_MAX_SHARDS), L->nshards, "the number of shards") ||
        json_same(file, obj, "tokens", big, (long)L->total_tokens, "the tokens in all shards"))
        return -1;
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(obj, "shuffle");
    if (!cJSON_IsBool(sh)) {
        FP8LAB_ERR("%s: \"shuffle\" is %s, expected true or false", file, sh ? "not a boolean" : "missing");
        return -1;
    }
    if (cJSON_IsTrue(sh) != L->shuffle) {
        FP8LAB_ERR("%s: \"shuffle\" = %s, but the loader %s: this position was saved for another loader", file,
                   cJSON_IsTrue(sh) ? "true" : "false", L->shuffle ? "shuffles" : "reads in order");
        return -1;
    }
    long e = 0, s = 0, k = 0;
    if (fp8lab_json_int(file, obj, "", "epoch", 0, big, &e) ||
        fp8lab_json_int(file, obj, "", "shard", 0, FP8LAB_RANGE(0, L->nshards - 1), &s) ||
        fp8lab_json_int(file, obj, "", "sample", 0, FP8LAB_RANGE(0, FP8LAB_SHARD_MAX_TOKENS), &k))
        return -1;
    return set_pos(L, (fp8lab_loader_pos){e, s, k}, file);
}

/* ---- evaluation ---------------------------------------------------------------------------------------- */

int fp8lab_loader_eval_next(const fp8lab_loader *L, fp8lab_eval_pos *it, int32_t *inputs, int32_t *targets) {
    if (it->shard < 0 || it->row < 0) return 0;
    while (it->shard < L->nshards) {
        const fp8lab_shard *s = &L->shards[it->shard];
        if (it->row < fp8lab_eval_rows(s->ntok, L->T)) {
            if (inputs) {
                fp8lab_shard_read(s, it->row * L->T, L->T, inputs);
                fp8lab_shard_read(s, it->row * L->T + 1, L->T, targets);
            }
            it->row++;
            return 1;
        }
        it->shard++;
        it->row = 0;
    }
    return 0;
}

int fp8lab_loader_eval_batch(const fp8lab_loader *L, fp8lab_eval_pos *it, int32_t *inputs, int32_t *targets) {
    return fp8lab_loader_eval_part(L, it, 0, L->B, inputs, targets);
}

int fp8lab_loader_eval_part(const fp8lab_loader *L, fp8lab_eval_pos *it, int lo, int n, int32_t *inputs,
                            int32_t *targets) {
    int b = 0;
    for (; b < L->B; b++) {
        const int mine = b >= lo && b - lo < n;
        const size_t at = (size_t)(b - lo) * (size_t)L->T;
        if (!fp8lab_loader_eval_next(L, it, mine ? inputs + at : NULL, mine ? targets + at : NULL)) break;
    }
    return b;
}
