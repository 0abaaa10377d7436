#include "train/opt_shards.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "fp8/fp8.h"

#define MANIFEST_FORMAT "fp8lab-optimizer-shards"
#define MANIFEST_VERSION 1
#define PATH_CAP 4352

static size_t moment_size(fp8lab_moment_dtype d) { return d == FP8LAB_MOMENTS_BF16 ? 2 : 4; }
static const char *moment_name(fp8lab_moment_dtype d) { return d == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32"; }

int fp8lab_opt_part_write(const char *dir, const char *name, const fp8lab_opt_part *p) {
    char path[PATH_CAP], range[64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(range, sizeof range, "%lld,%lld", (long long)p->begin, (long long)p->end);
    const int64_t shape[1] = {p->end - p->begin};
    const fp8lab_st_dtype dt = p->dtype == FP8LAB_MOMENTS_BF16 ? FP8LAB_ST_BF16 : FP8LAB_ST_F32;
    const fp8lab_st_entry e[4] = {{"exp_avg", dt, 1, shape, p->m},
                                  {"exp_avg_sq", dt, 1, shape, p->v},
                                  {"step", FP8LAB_ST_I64, 0, NULL, &p->step},
                                  {"amax_history", FP8LAB_ST_F32, 2, p->amax_shape, p->amax}};
    const fp8lab_st_kv meta[] = {{"format", "pt"}, {"fp8lab", "adamw"}, {"range", range}};
    return fp8lab_st_write(path, e, p->amax ? 4 : 3, meta, 3);
}

static cJSON *shard_item(const char *file, int64_t begin, int64_t end) {
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "file", file);
        cJSON_AddNumberToObject(o, "begin", (double)begin);
        cJSON_AddNumberToObject(o, "end", (double)end);
    }
    return o;
}

int fp8lab_opt_manifest_write(const char *dir, const fp8lab_opt_shards *s) {
    cJSON *doc = cJSON_CreateObject(), *arr = doc ? cJSON_AddArrayToObject(doc, "shards") : NULL;
    int ok = arr != NULL;
    if (ok) {
        cJSON_AddStringToObject(doc, "format", MANIFEST_FORMAT);
        cJSON_AddNumberToObject(doc, "version", MANIFEST_VERSION);
        cJSON_AddNumberToObject(doc, "floats", (double)s->floats);
        cJSON_AddStringToObject(doc, "moments", moment_name(s->dtype));
        char f[64];
        for (int r = 0; ok && r < s->ranks; r++) {
            snprintf(f, sizeof f, FP8LAB_OPT_SHARD_FILE, r, s->ranks);
            cJSON *it = shard_item(f, r * s->count, (r + 1) * s->count);
            ok = it && cJSON_AddItemToArray(arr, it);
        }
        cJSON *it = ok ? shard_item(FP8LAB_OPT_SHARED_FILE, s->tail, s->floats) : NULL;
        ok = it && cJSON_AddItemToArray(arr, it);
    }
    char *text = ok ? cJSON_Print(doc) : NULL;
    cJSON_Delete(doc);
    if (!text) {
        FP8LAB_ERR_RT("checkpoint: out of memory for the optimizer manifest");
        return -1;
    }
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%s/%s", dir, FP8LAB_OPT_MANIFEST);
    const int rc = fp8lab_write_file_atomic(path, text, (long)strlen(text));
    free(text);
    return rc;
}

int fp8lab_opt_read_moment(const fp8lab_st *st, const char *name, fp8lab_moment_dtype dtype, int64_t begin,
                           int64_t end, void *dst) {
    const fp8lab_st_tensor *t = fp8lab_st_find(st, name);
    const fp8lab_st_dtype want = dtype == FP8LAB_MOMENTS_BF16 ? FP8LAB_ST_BF16 : FP8LAB_ST_F32;
    const int64_t n = end - begin;
    if (!t) {
        FP8LAB_ERR("%s: tensor %s is missing", fp8lab_st_path(st), name);
        return -1;
    }
    if (t->dtype != want || t->ndim != 1 || t->shape[0] != n) {
        FP8LAB_ERR("%s: %s is %s [%lld], this run needs %s [%lld] (--fp32-moments must match the run's)",
                   fp8lab_st_path(st), name, fp8lab_st_dtype_name(t->dtype), (long long)(t->ndim ? t->shape[0] : 0),
                   fp8lab_st_dtype_name(want), (long long)n);
        return -1;
    }
    memcpy(dst, t->data, t->nbytes);
    /* the weights are checked for non-finite values; the moments feed every later update the same way (and
       AdamW takes the square root of exp_avg_sq) */
    const int sq = !strcmp(name, "exp_avg_sq");
    for (int64_t i = 0; i < n; i++) {
        const float x = want == FP8LAB_ST_BF16 ? bf16_to_f32(((const uint16_t *)dst)[i]) : ((const float *)dst)[i];
        if (!isfinite(x) || (sq && x < 0)) {
            FP8LAB_ERR("%s: tensor %s holds %s value %g at %lld", fp8lab_st_path(st), name,
                       isfinite(x) ? "a negative" : "a non-finite", (double)x, (long long)(begin + i));
            return -1;
        }
    }
    return 0;
}

/* An optimizer file opened and checked: written by fp8lab, holding `step`. */
static int open_part(const char *path, int64_t step, fp8lab_st **out) {
    if (fp8lab_st_open(path, out)) return -1;
    const fp8lab_st_tensor *ts = fp8lab_st_find(*out, "step");
    int64_t s = -1;
    if (ts && ts->dtype == FP8LAB_ST_I64 && ts->ndim == 0) memcpy(&s, ts->data, 8);
    const char *why = !fp8lab_st_has_checksum(*out) ? "no fp8lab_crc32c: not written by fp8lab train"
                      : s != step                   ? "its step is not the checkpoint's"
                                                    : NULL;
    if (!why) return 0;
    FP8LAB_ERR("%s: %s (step %lld, trainer_state.json says %lld)", path, why, (long long)s, (long long)step);
    fp8lab_st_close(*out);
    *out = NULL;
    return -1;
}

/* shard i of the manifest: its file name (a plain name in dir) and range, which must start at *next */
static int shard_entry(const char *mpath, const cJSON *it, int i, int64_t floats, int64_t *next, char *file,
                       int64_t *begin, int64_t *end) {
    char pre[32];
    long b = 0, e = 0;
    snprintf(pre, sizeof pre, "shards[%d].", i);
    if (!cJSON_IsObject(it) || fp8lab_json_str(mpath, it, pre, "file", 0, file, 64) ||
        fp8lab_json_int(mpath, it, pre, "begin", 0, FP8LAB_RANGE(0, (double)floats), &b) ||
        fp8lab_json_int(mpath, it, pre, "end", 0, FP8LAB_RANGE(0, (double)floats), &e)) {
        if (!cJSON_IsObject(it)) FP8LAB_ERR("%s: %s is not an object", mpath, pre);
        return -1;
    }
    /* fp8lab_json_str cuts a longer name to 63 bytes: the file read would not be the one named */
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(it, "file");
    if (strlen(fn->valuestring) >= 64) {
        FP8LAB_ERR("%s: %sfile '%.40s...' is longer than 63 bytes (fp8lab names its shards in fewer)", mpath, pre,
                   fn->valuestring);
        return -1;
    }
    if (!file[0] || strchr(file, '/') || !strcmp(file, ".") || !strcmp(file, "..")) {
        FP8LAB_ERR("%s: %sfile '%s' is not a file name in the checkpoint folder", mpath, pre, file);
        return -1;
    }
    if (b != *next || e < b) {
        FP8LAB_ERR("%s: %s covers [%ld, %ld), the shards must tile the buffer in order (expected begin %lld)", mpath,
                   pre, b, e, (long long)*next);
        return -1;
    }
    *begin = b, *end = e, *next = e;
    return 0;
}

int fp8lab_opt_shards_read(const char *dir, fp8lab_moment_dtype dtype, int64_t floats, int64_t step, void *m, void *v,
                           fp8lab_st **shared, int64_t *shared_begin) {
    char mpath[PATH_CAP], path[PATH_CAP], file[64], mo[16];
    snprintf(mpath, sizeof mpath, "%s/%s", dir, FP8LAB_OPT_MANIFEST);
    struct stat sb;
    if (stat(mpath, &sb)) return errno == ENOENT ? 1 : (FP8LAB_ERR("%s: %s", mpath, strerror(errno)), -1);
    *shared = NULL;
    cJSON *doc = fp8lab_json_load(mpath);
    if (!doc) return -1;
    int rc = -1;
    long fl = 0, ver = 0;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(doc, "format"),
                *arr = cJSON_GetObjectItemCaseSensitive(doc, "shards");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, MANIFEST_FORMAT) || !cJSON_IsArray(arr) ||
        cJSON_GetArraySize(arr) < 1) {
        FP8LAB_ERR("%s: not an fp8lab optimizer manifest (format %s with a shards array)", mpath, MANIFEST_FORMAT);
        goto done;
    }
    if (fp8lab_json_int(mpath, doc, "", "version", 0, FP8LAB_RANGE(MANIFEST_VERSION, MANIFEST_VERSION), &ver) ||
        fp8lab_json_int(mpath, doc, "", "floats", 0, FP8LAB_RANGE((double)floats, (double)floats), &fl) ||
        fp8lab_json_str(mpath, doc, "", "moments", 0, mo, sizeof mo))
        goto done;
    if (strcmp(mo, moment_name(dtype))) {
        FP8LAB_ERR("%s: moments are %s, this run keeps %s (--fp32-moments must match the run's)", mpath, mo,
                   moment_name(dtype));
        goto done;
    }
    const int n = cJSON_GetArraySize(arr);
    const size_t es = moment_size(dtype);
    int64_t next = 0, b = 0, e = 0;
    for (int i = 0; i < n; i++) {
        if (shard_entry(mpath, cJSON_GetArrayItem(arr, i), i, floats, &next, file, &b, &e)) goto done;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        fp8lab_st *st = NULL;
        if (open_part(path, step, &st)) goto done;
        if (i == n - 1) { /* the shared part: the caller reads the rest of it */
            *shared = st;
            *shared_begin = b;
            break;
        }
        const int bad = fp8lab_opt_read_moment(st, "exp_avg", dtype, b, e, (char *)m + es * (size_t)b) ||
                        fp8lab_opt_read_moment(st, "exp_avg_sq", dtype, b, e, (char *)v + es * (size_t)b);
        fp8lab_st_close(st);
        if (bad) goto done;
    }
    if (next != floats) {
        FP8LAB_ERR("%s: the shards end at %lld, the buffer has %lld floats", mpath, (long long)next, (long long)floats);
        goto done;
    }
    rc = 0;
done:
    if (rc) {
        fp8lab_st_close(*shared);
        *shared = NULL;
    }
    cJSON_Delete(doc);
    return rc;
}
