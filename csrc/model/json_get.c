#include "model/json_get.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"

cJSON *fp8lab_json_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        FP8LAB_ERR("%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    /* config files are small; cap what we read so a wrong path to a huge file fails fast */
    enum { CAP = 8 << 20 };
    char *buf = malloc(CAP + 1);
    if (!buf) {
        fclose(f);
        FP8LAB_ERR("%s: out of memory", path);
        return NULL;
    }
    size_t n = fread(buf, 1, CAP, f);
    int big = n == CAP && fgetc(f) != EOF;
    fclose(f);
    if (big) {
        free(buf);
        FP8LAB_ERR("%s: file larger than 8 MiB, not a config file", path);
        return NULL;
    }
    buf[n] = 0;
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &endp, 1);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at ? (long)(at - buf) : 0;
        if (off < 0 || off > (long)n) off = 0;
        int line = 1;
        for (long i = 0; i < off; i++) line += buf[i] == '\n';
        FP8LAB_ERR("%s: invalid JSON at line %d", path, line);
        free(buf);
        return NULL;
    }
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        FP8LAB_ERR("%s: expected a JSON object at the top level", path);
        return NULL;
    }
    return root;
}

static const cJSON *get(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                        int *rc) {
    const cJSON *it = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!it || cJSON_IsNull(it)) {
        *rc = optional ? 1 : -1;
        if (!optional) FP8LAB_ERR("%s: key %s%s: %s", file, prefix, key, it ? "null, expected a value" : "missing");
        return NULL;
    }
    *rc = 0;
    return it;
}

int fp8lab_json_num(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    double min_excl, double *out) {
    int rc;
    const cJSON *it = get(file, obj, prefix, key, optional, &rc);
    if (!it) return rc;
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !isfinite(v) || !(v > min_excl)) {
        FP8LAB_ERR("%s: key %s%s: expected a %s number", file, prefix, key,
                   min_excl == 0 ? "positive" : min_excl < 0 && min_excl > -1e-9 ? "non-negative" : "finite");
        return -1;
    }
    *out = v;
    return 0;
}

int fp8lab_json_long(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                     long min_excl, long *out) {
    int rc;
    const cJSON *it = get(file, obj, prefix, key, optional, &rc);
    if (!it) return rc;
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !isfinite(v) || v != floor(v) || v > 9e15 || !(v > (double)min_excl)) {
        FP8LAB_ERR("%s: key %s%s: expected an integer > %ld", file, prefix, key, min_excl);
        return -1;
    }
    *out = (long)v;
    return 0;
}

int fp8lab_json_str(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    char *out, int cap) {
    int rc;
    const cJSON *it = get(file, obj, prefix, key, optional, &rc);
    if (!it) return rc;
    if (!cJSON_IsString(it) || !it->valuestring[0]) {
        FP8LAB_ERR("%s: key %s%s: expected a non-empty string", file, prefix, key);
        return -1;
    }
    snprintf(out, (size_t)cap, "%s", it->valuestring);
    return 0;
}

int fp8lab_write_file_atomic(const char *path, const char *data, long len) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) {
        FP8LAB_ERR("%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        FP8LAB_ERR("%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    long off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, (size_t)(len - off));
        if (w < 0) {
            if (errno == EINTR) continue;
            FP8LAB_ERR("%s: write failed: %s", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            free(tmp);
            return -1;
        }
        off += w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        FP8LAB_ERR("%s: fsync/close failed: %s", tmp, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        FP8LAB_ERR("%s: rename to %s failed: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
