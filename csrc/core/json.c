#include "core/json.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* A config file's text while fp8lab_json_load reads it. */
typedef struct {
    const char *path;
    off_t size; /* at open */
    char *buf;  /* size + 1 bytes, NUL-terminated after the n read */
    size_t n;
} json_text;

/* The file as a stream, and its size; NULL with the error set unless it is a regular file. */
static FILE *open_regular_file(json_text *t) {
    /* O_NONBLOCK: opening a FIFO for reading must not wait for a writer */
    int fd = open(t->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        FP8LAB_ERR("%s: cannot read: %s", t->path, strerror(errno));
        return NULL;
    }
    struct stat st = {0};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int isdir = S_ISDIR(st.st_mode);
        close(fd);
        FP8LAB_ERR("%s: not a regular file (%s)", t->path, isdir ? "a directory" : "a device, FIFO or socket");
        return NULL;
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        FP8LAB_ERR_RT("%s: cannot read: %s", t->path, strerror(errno));
        return NULL;
    }
    t->size = st.st_size;
    return f;
}

/* Reads the whole file into t->buf and closes f. */
static int read_text(FILE *f, json_text *t) {
    /* config files are small; cap what we read so a wrong path to a huge file fails fast. The buffer is the
       file's size (it may still grow while we read: the cap and the EOF check below hold either way). */
    enum { CAP = 8 << 20 };
    if (t->size > CAP) {
        fclose(f);
        FP8LAB_ERR("%s: file larger than 8 MiB, not a config file", t->path);
        return -1;
    }
    size_t cap = (size_t)t->size;
    t->buf = malloc(cap + 1);
    if (!t->buf) {
        fclose(f);
        FP8LAB_ERR_RT("%s: out of memory", t->path);
        return -1;
    }
    t->n = fread(t->buf, 1, cap, f);
    int grew = fgetc(f) != EOF;
    fclose(f);
    if (grew) {
        free(t->buf);
        FP8LAB_ERR_RT("%s: the file changed while it was being read", t->path);
        return -1;
    }
    t->buf[t->n] = 0;
    return 0;
}

/* The line cJSON stopped at (1 when it does not say where). */
static int error_line(const json_text *t) {
    const char *at = cJSON_GetErrorPtr();
    long off = at ? (long)(at - t->buf) : 0;
    if (off < 0 || off > (long)t->n) off = 0;
    int line = 1;
    for (long i = 0; i < off; i++) line += t->buf[i] == '\n';
    return line;
}

/* The parsed text, or NULL with the error set; t->buf is freed either way. */
static cJSON *parse_text(json_text *t) {
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithOpts(t->buf, &endp, 1);
    if (!root) FP8LAB_ERR("%s: invalid JSON at line %d", t->path, error_line(t));
    free(t->buf);
    t->buf = NULL;
    return root;
}

cJSON *fp8lab_json_load(const char *path) {
    json_text t = {.path = path};
    FILE *f = open_regular_file(&t);
    if (!f || read_text(f, &t) != 0) return NULL;
    cJSON *root = parse_text(&t);
    if (root && !cJSON_IsObject(root)) {
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

static const char *json_type(const cJSON *it) {
    return cJSON_IsString(it) ? "a string" : cJSON_IsBool(it) ? "a boolean" : cJSON_IsArray(it) ? "an array"
           : cJSON_IsObject(it) ? "an object" : "not a number";
}

static int check_number(const char *file, const cJSON *it, const char *prefix, const char *key, fp8lab_range r,
                        int integer, double *out) {
    char rs[96];
    fp8lab_range_str(r, rs, sizeof rs);
    const char *what = integer ? "an integer" : "a number";
    if (!cJSON_IsNumber(it)) {
        FP8LAB_ERR("%s: key %s%s: expected %s in %s, got %s", file, prefix, key, what, rs, json_type(it));
        return -1;
    }
    double v = it->valuedouble; /* cJSON turns 1e999 into inf */
    if (!isfinite(v) || (integer && v != floor(v))) {
        FP8LAB_ERR("%s: key %s%s: expected %s in %s, got %.17g", file, prefix, key, what, rs, v);
        return -1;
    }
    if (!fp8lab_range_has(r, v)) {
        FP8LAB_ERR("%s: key %s%s: %.17g is not in %s", file, prefix, key, v, rs);
        return -1;
    }
    *out = v;
    return 0;
}

int fp8lab_json_num(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    fp8lab_range r, double *out) {
    int rc;
    const cJSON *it = get(file, obj, prefix, key, optional, &rc);
    if (!it) return rc;
    return check_number(file, it, prefix, key, r, 0, out);
}

int fp8lab_json_int(const char *file, const cJSON *obj, const char *prefix, const char *key, int optional,
                    fp8lab_range r, long *out) {
    int rc;
    const cJSON *it = get(file, obj, prefix, key, optional, &rc);
    if (!it) return rc;
    double v;
    if (check_number(file, it, prefix, key, r, 1, &v)) return -1;
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

void fp8lab_json_add_numbers(cJSON *o, const fp8lab_json_field *f, int n) {
    for (int i = 0; o && i < n; i++) cJSON_AddNumberToObject(o, f[i].key, f[i].value);
}

void fp8lab_json_add_exact(cJSON *o, const fp8lab_json_field *f, int n) {
    char text[32];
    for (int i = 0; o && i < n; i++) {
        if (!isfinite(f[i].value)) {
            cJSON_AddNullToObject(o, f[i].key);
            continue;
        }
        snprintf(text, sizeof text, "%.17g", f[i].value);
        cJSON_AddRawToObject(o, f[i].key, text);
    }
}
