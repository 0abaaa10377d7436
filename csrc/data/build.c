#define _GNU_SOURCE /* O_CLOEXEC, fstatat, unlinkat */
#include "data/build.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "data/shard.h"

#define MAX_SHARDS_PER_SPLIT 999999 /* six digits in the file name */

/* ---- reading text -------------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    int64_t n, cap;
} byte_buf;

static int append_file(byte_buf *b, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR || e == ENAMETOOLONG || e == ELOOP)
            FP8LAB_ERR("%s: cannot open: %s", path, strerror(e));
        else FP8LAB_ERR_RT("%s: cannot open: %s", path, strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        FP8LAB_ERR_RT("%s: cannot stat: %s", path, strerror(e));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        FP8LAB_ERR("%s: is a directory, expected a text file", path);
        return -1;
    }
    for (;;) {
        if (b->n == b->cap) { /* grow; a regular file's whole size at once (+1 to see its end) */
            int64_t cap = b->cap ? b->cap * 2 : 1 << 20;
            if (S_ISREG(st.st_mode) && b->n + (int64_t)st.st_size + 1 > cap) cap = b->n + (int64_t)st.st_size + 1;
            if (cap > FP8LAB_DATA_MAX_TEXT + 1) cap = FP8LAB_DATA_MAX_TEXT + 1; /* n reaches MAX + 1: too much */
            uint8_t *p = realloc(b->p, (size_t)cap);
            if (!p) {
                close(fd);
                FP8LAB_ERR_RT("%s: out of memory reading text (%" PRId64 " bytes so far)", path, b->n);
                return -1;
            }
            b->p = p;
            b->cap = cap;
        }
        ssize_t r = read(fd, b->p + b->n, (size_t)(b->cap - b->n));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            FP8LAB_ERR_RT("%s: read error: %s", path, strerror(e));
            return -1;
        }
        if (r == 0) break;
        b->n += r;
        if (b->n > FP8LAB_DATA_MAX_TEXT) {
            close(fd);
            FP8LAB_ERR("%s: more than %lld bytes of text in all (the most one build reads)", path,
                       FP8LAB_DATA_MAX_TEXT);
            return -1;
        }
    }
    close(fd);
    return 0;
}

/* ---- the output folder --------------------------------------------------------------------------------- */

static int mkdir_p(const char *dir) {
    char buf[4096];
    if (!*dir) {
        FP8LAB_ERR("output folder: empty name");
        return -1;
    }
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
        FP8LAB_ERR("%.64s...: output folder name longer than %zu bytes", dir, sizeof buf - 1);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                if (e == ENOTDIR || e == ENOENT || e == ENAMETOOLONG || e == ELOOP)
                    FP8LAB_ERR("%s: cannot create the folder %s: %s", dir, buf, strerror(e));
                else FP8LAB_ERR_RT("%s: cannot create the folder %s: %s", dir, buf, strerror(e));
                return -1;
            }
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        FP8LAB_ERR("%s: exists and is not a folder", dir);
        return -1;
    }
    return 0;
}

static int join(char *out, size_t cap, const char *dir, const char *name) {
    if (snprintf(out, cap, "%s/%s", dir, name) >= (int)cap) {
        FP8LAB_ERR("%s: path too long", dir);
        return -1;
    }
    return 0;
}

/* "data_<split>_NNNNNN.bin" -> NNNNNN, or -1 for any other name */
static long shard_index(const char *name, const char *split) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "data_%s_", split);
    size_t lp = strlen(prefix);
    if (strncmp(name, prefix, lp) != 0 || strlen(name) != lp + 10 || strcmp(name + lp + 6, ".bin") != 0) return -1;
    long v = 0;
    for (size_t i = lp; i < lp + 6; i++) {
        if (name[i] < '0' || name[i] > '9') return -1;
        v = v * 10 + (name[i] - '0');
    }
    return v;
}

static int remove_stale(const char *dir, int ntrain, int nval, int *removed) {
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        FP8LAB_ERR_RT("%s: cannot list the folder: %s", dir, strerror(e));
        return -1;
    }
    int rc = 0;
    for (struct dirent *e; (e = readdir(d));) {
        long ti = shard_index(e->d_name, "train"), vi = shard_index(e->d_name, "val");
        if (!((ti >= 0 && ti >= ntrain) || (vi >= 0 && vi >= nval))) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) != 0) {
            int err = errno;
            FP8LAB_ERR_RT("%s/%s: cannot remove a shard of an earlier build: %s", dir, e->d_name, strerror(err));
            rc = -1;
            break;
        }
        (*removed)++;
    }
    closedir(d);
    return rc;
}

/* ---- building ------------------------------------------------------------------------------------------ */

/* shards for n tokens: ceil(n / shard_tokens), each at least seq_len + 1 tokens */
static int plan_split(const char *what, int64_t n, int64_t shard_tokens, int seq_len, int *k) {
    int64_t shards = (n + shard_tokens - 1) / shard_tokens;
    if (shards > MAX_SHARDS_PER_SPLIT) {
        FP8LAB_ERR("the %s split (%" PRId64 " tokens) would need %" PRId64 " shards of at most shard_tokens = %" PRId64
                   " tokens, more than %d: use a larger --shard-tokens",
                   what, n, shards, shard_tokens, MAX_SHARDS_PER_SPLIT);
        return -1;
    }
    if (n / shards < (int64_t)seq_len + 1) {
        if (shards == 1)
            FP8LAB_ERR("the %s split holds %" PRId64 " tokens, fewer than seq_len + 1 = %d (one sequence of "
                       "--seq-len %d and its target): give more text, %sor a smaller --seq-len",
                       what, n, seq_len + 1, seq_len, !strcmp(what, "validation") ? "a larger --val-fraction " : "");
        else
            FP8LAB_ERR("the %s split (%" PRId64 " tokens) in %" PRId64 " shards of at most --shard-tokens %" PRId64
                       " gives shards of %" PRId64 " tokens, fewer than --seq-len + 1 = %d: use a larger "
                       "--shard-tokens",
                       what, n, shards, shard_tokens, n / shards, seq_len + 1);
        return -1;
    }
    *k = (int)shards;
    return 0;
}

static int write_split(const char *dir, const char *split, const uint8_t *tok, int64_t n, int k) {
    int64_t base = n / k, extra = n % k, off = 0;
    for (int i = 0; i < k; i++) {
        int64_t len = base + (i < extra);
        char name[64], path[4200];
        snprintf(name, sizeof name, "data_%s_%06d.bin", split, i);
        if (join(path, sizeof path, dir, name) || fp8lab_shard_write_bytes(path, tok + off, len)) return -1;
        off += len;
    }
    return 0;
}

int fp8lab_data_build_bytes(const uint8_t *text, int64_t n, const char *out_dir, double val_fraction,
                            int64_t shard_tokens, int seq_len, fp8lab_data_build_info *info) {
    if (!(val_fraction > 0 && val_fraction <= FP8LAB_DATA_MAX_VAL_FRACTION)) {
        FP8LAB_ERR("val_fraction %g is not in (0, %g]", val_fraction, FP8LAB_DATA_MAX_VAL_FRACTION);
        return -1;
    }
    if (shard_tokens < FP8LAB_SHARD_MIN_TOKENS || shard_tokens > FP8LAB_SHARD_MAX_TOKENS) {
        FP8LAB_ERR("shard_tokens %" PRId64 " is not in [%d, %lld]", shard_tokens, FP8LAB_SHARD_MIN_TOKENS,
                   FP8LAB_SHARD_MAX_TOKENS);
        return -1;
    }
    if (seq_len < 1 || seq_len > FP8LAB_DATA_MAX_SEQ) {
        FP8LAB_ERR("seq_len %d is not in [1, %d]", seq_len, FP8LAB_DATA_MAX_SEQ);
        return -1;
    }
    if (n <= 0) {
        FP8LAB_ERR("no text: the input files are empty");
        return -1;
    }
    int64_t nval = (int64_t)ceil(val_fraction * (double)n);
    if (nval > n) nval = n;
    int64_t ntrain = n - nval;
    int ktrain = 0, kval = 0;
    if (plan_split("validation", nval, shard_tokens, seq_len, &kval) ||
        plan_split("training", ntrain, shard_tokens, seq_len, &ktrain))
        return -1;
    if (mkdir_p(out_dir)) return -1;
    int removed = 0;
    if (write_split(out_dir, "train", text, ntrain, ktrain) || write_split(out_dir, "val", text + ntrain, nval, kval) ||
        remove_stale(out_dir, ktrain, kval, &removed))
        return -1;
    if (info) {
        info->text_bytes = n;
        info->train_tokens = ntrain;
        info->val_tokens = nval;
        info->train_shards = ktrain;
        info->val_shards = kval;
        info->removed = removed;
    }
    return 0;
}

int fp8lab_data_build(const char *const *files, int nfiles, const char *out_dir, double val_fraction,
                      int64_t shard_tokens, int seq_len, fp8lab_data_build_info *info) {
    if (nfiles < 1) {
        FP8LAB_ERR("no text files given");
        return -1;
    }
    byte_buf b = {0};
    for (int i = 0; i < nfiles; i++)
        if (append_file(&b, files[i])) {
            free(b.p);
            return -1;
        }
    int rc = fp8lab_data_build_bytes(b.p, b.n, out_dir, val_fraction, shard_tokens, seq_len, info);
    free(b.p);
    return rc;
}

/* ---- the built-in corpus ------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* pattern = escaped dir + "/" + name: glob's special characters in dir stand for themselves */
static int glob_path(char *out, size_t cap, const char *dir, const char *name) {
    size_t k = 0;
    for (const char *p = dir; *p; p++) {
        if (strchr("*?[]\\", *p)) {
            if (k + 1 >= cap) goto long_;
            out[k++] = '\\';
        }
        if (k + 1 >= cap) goto long_;
        out[k++] = *p;
    }
    if (snprintf(out + k, cap - k, "/%s", name) >= (int)(cap - k)) goto long_;
    return 0;
long_:
    FP8LAB_ERR("%s: cache folder name too long for the shard patterns (%zu bytes)", dir, cap);
    return -1;
}

static int is_file(const char *dir, const char *name) {
    char path[4200];
    struct stat st;
    return snprintf(path, sizeof path, "%s/%s", dir, name) < (int)sizeof path && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

static int write_stamp(const char *cache_dir, const char *src, int nfiles, const fp8lab_data_build_info *bi) {
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    int rc = -1;
    if (j && cJSON_AddStringToObject(j, "package", FP8LAB_BUILTIN_PACKAGE) &&
        cJSON_AddStringToObject(j, "source", src) &&
        cJSON_AddNumberToObject(j, "files", nfiles) && cJSON_AddNumberToObject(j, "bytes", (double)bi->text_bytes) &&
        cJSON_AddNumberToObject(j, "vocab", FP8LAB_DATA_VOCAB) &&
        cJSON_AddNumberToObject(j, "train_tokens", (double)bi->train_tokens) &&
        cJSON_AddNumberToObject(j, "val_tokens", (double)bi->val_tokens) &&
        cJSON_AddNumberToObject(j, "train_shards", bi->train_shards) &&
        cJSON_AddNumberToObject(j, "val_shards", bi->val_shards) && (text = cJSON_Print(j))) {
        char path[4200];
        if (!join(path, sizeof path, cache_dir, FP8LAB_BUILTIN_STAMP))
            rc = fp8lab_write_file_atomic(path, text, (long)strlen(text));
    } else {
        FP8LAB_ERR_RT("out of memory");
    }
    free(text);
    cJSON_Delete(j);
    return rc;
}

int fp8lab_data_builtin(const char *cache_dir, const char *src_dir, char *train_glob, char *val_glob, size_t cap,
                        int *built) {
    const char *src = src_dir ? src_dir : FP8LAB_BUILTIN_DIR;
    if (built) *built = 0;
    if (!cache_dir || !*cache_dir) {
        FP8LAB_ERR("built-in corpus: empty cache folder name");
        return -1;
    }
    if (glob_path(train_glob, cap, cache_dir, "data_train_*.bin") ||
        glob_path(val_glob, cap, cache_dir, "data_val_*.bin"))
        return -1;
    if (is_file(cache_dir, FP8LAB_BUILTIN_STAMP) && is_file(cache_dir, "data_train_000000.bin") &&
        is_file(cache_dir, "data_val_000000.bin"))
        return 0;
    DIR *d = opendir(src);
    if (!d) {
        int e = errno;
        FP8LAB_ERR("built-in corpus: %s: %s: install the Debian package '%s' (apt-get install %s) or give text "
                   "files to `fp8lab data build`",
                   src, strerror(e), FP8LAB_BUILTIN_PACKAGE, FP8LAB_BUILTIN_PACKAGE);
        return -1;
    }
    char **names = NULL;
    int n = 0, cap_names = 0, rc = -1;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || (len >= 4 && !strcmp(e->d_name + len - 4, ".dat")) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (n == cap_names) {
            cap_names = cap_names ? 2 * cap_names : 64;
            char **v = realloc(names, (size_t)cap_names * sizeof *v);
            if (!v) goto oom;
            names = v;
        }
        char path[4200];
        if (snprintf(path, sizeof path, "%s/%s", src, e->d_name) >= (int)sizeof path) continue;
        if (!(names[n] = strdup(path))) goto oom;
        n++;
    }
    closedir(d);
    d = NULL;
    if (n == 0) {
        FP8LAB_ERR("built-in corpus: %s holds no text files: reinstall the Debian package '%s' (apt-get install "
                   "--reinstall %s)",
                   src, FP8LAB_BUILTIN_PACKAGE, FP8LAB_BUILTIN_PACKAGE);
        goto done;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    fp8lab_data_build_info bi;
    if (fp8lab_data_build((const char *const *)names, n, cache_dir, FP8LAB_BUILTIN_VAL_FRACTION,
                          FP8LAB_BUILTIN_SHARD_TOKENS, 1024, &bi) ||
        write_stamp(cache_dir, src, n, &bi))
        goto done;
    if (built) *built = 1;
    rc = 0;
    goto done;
oom:
    FP8LAB_ERR_RT("out of memory listing %s", src);
done:
    if (d) closedir(d);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}
