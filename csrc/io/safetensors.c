/* safetensors reader and writer: the format and every check are described in safetensors.h. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/num.h"
#include "fp8/fp8.h"
#include "io/crc32c.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data are little-endian; this reader maps them as they are"
#endif

#define META_KEY "__metadata__"
#define MAX_WHOLE 9007199254740992.0 /* 2^53: every integer up to here is exact in a double */

/* ---- dtypes ---------------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int size;
} g_dtypes[FP8LAB_ST_NDTYPES] = {
    [FP8LAB_ST_BOOL] = {"BOOL", 1},       [FP8LAB_ST_U8] = {"U8", 1},           [FP8LAB_ST_I8] = {"I8", 1},
    [FP8LAB_ST_F8_E4M3] = {"F8_E4M3", 1}, [FP8LAB_ST_F8_E5M2] = {"F8_E5M2", 1}, [FP8LAB_ST_F8_E8M0] = {"F8_E8M0", 1},
    [FP8LAB_ST_I16] = {"I16", 2},         [FP8LAB_ST_U16] = {"U16", 2},         [FP8LAB_ST_F16] = {"F16", 2},
    [FP8LAB_ST_BF16] = {"BF16", 2},       [FP8LAB_ST_I32] = {"I32", 4},         [FP8LAB_ST_U32] = {"U32", 4},
    [FP8LAB_ST_F32] = {"F32", 4},         [FP8LAB_ST_F64] = {"F64", 8},         [FP8LAB_ST_I64] = {"I64", 8},
    [FP8LAB_ST_U64] = {"U64", 8},         [FP8LAB_ST_C64] = {"C64", 8},
};

const char *fp8lab_st_dtype_name(fp8lab_st_dtype d) {
    return (unsigned)d < FP8LAB_ST_NDTYPES ? g_dtypes[d].name : "?";
}

int fp8lab_st_dtype_size(fp8lab_st_dtype d) { return (unsigned)d < FP8LAB_ST_NDTYPES ? g_dtypes[d].size : 0; }

int fp8lab_st_dtype_from_name(const char *name) {
    for (int i = 0; name && i < FP8LAB_ST_NDTYPES; i++)
        if (!strcmp(name, g_dtypes[i].name)) return i;
    return -1;
}

/* ---- text helpers ---------------------------------------------------------------------------------------- */

/* A name for a message: quoted, cut to 120 bytes, anything but printable ASCII as \xNN (names come from the
   file and must not put control sequences on a terminal). */
static const char *quote(const char *s, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '\'';
    for (size_t i = 0; s[i] && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= 120) {
            o += (size_t)snprintf(buf + o, cap - o, "...");
            break;
        }
        if (c >= 0x20 && c < 0x7F && c != '\'' && c != '\\') buf[o++] = (char)c;
        else o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
    }
    buf[o++] = '\'';
    buf[o] = 0;
    return buf;
}
#define Q(s) quote((s), (char[600]){0}, 600)

/* Checks UTF-8 (no overlong forms, surrogates or values past U+10FFFF). For the header also: no control
   character but JSON's whitespace, no \u0000 escape (it would cut a C string short). Returns the offset of the
   first bad byte, or -1; *why says what is wrong. */
static long check_text(const unsigned char *s, size_t n, int header, const char **why) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (header && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                *why = "a control character";
                return (long)i;
            }
            if (header && c == '\\' && i + 1 < n) {
                if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) {
                    *why = "the escape \\u0000";
                    return (long)i;
                }
                i += 2; /* the escaped character is ASCII in valid JSON; a non-ASCII one is checked anyway */
                if (i <= n && s[i - 1] >= 0x80) i--;
                continue;
            }
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            *why = "invalid UTF-8";
            return (long)i;
        }
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
            *why = "invalid UTF-8";
            return (long)i;
        }
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                *why = "invalid UTF-8";
                return (long)i;
            }
        i += len;
    }
    return -1;
}

static int is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* ---- reading --------------------------------------------------------------------------------------------- */

typedef struct {
    fp8lab_st_tensor t; /* first: the public view */
    uint64_t begin, end; /* in the data buffer */
    int index;           /* in the header, for a deterministic order of empty tensors */
} entry;

struct fp8lab_st {
    char *path;
    unsigned char *map;
    size_t size;
    cJSON *root;
    int n;
    entry *ents;                     /* offset order */
    const fp8lab_st_tensor **byname; /* name order */
    int nmeta;
    const char **mkey, **mval;
    int has_crc;
};

static int path_error(int e) {
    return e == ENOENT || e == ENOTDIR || e == EISDIR || e == ENAMETOOLONG || e == ELOOP || e == EACCES;
}

/* A whole number in [0, 2^53], or -1 with an error naming the file, tensor and field. */
static int whole(const char *path, const char *name, const char *field, int k, const cJSON *it, uint64_t *out) {
    if (!cJSON_IsNumber(it)) {
        FP8LAB_ERR("%s: tensor %s: \"%s\"[%d] is not a number", path, Q(name), field, k);
        return -1;
    }
    double v = it->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < 0 || v > MAX_WHOLE) {
        FP8LAB_ERR("%s: tensor %s: \"%s\"[%d] is %.17g, expected a whole number in [0, 2^53]", path, Q(name), field,
                   k, v);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* One tensor's entry {"dtype", "shape", "data_offsets"}: everything that can be checked on its own. */
static int parse_entry(const char *path, const cJSON *obj, uint64_t buflen, entry *e) {
    const char *name = obj->string;
    if (!cJSON_IsObject(obj)) {
        FP8LAB_ERR("%s: tensor %s: expected an object {\"dtype\", \"shape\", \"data_offsets\"}", path, Q(name));
        return -1;
    }
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *k = obj->child; k; k = k->next) {
        const cJSON **slot = !strcmp(k->string, "dtype") ? &dtype : !strcmp(k->string, "shape") ? &shape
                             : !strcmp(k->string, "data_offsets") ? &offs : NULL;
        if (!slot) {
            FP8LAB_ERR("%s: tensor %s: unknown key %s (expected dtype, shape, data_offsets)", path, Q(name),
                       Q(k->string));
            return -1;
        }
        if (*slot) {
            FP8LAB_ERR("%s: tensor %s: key \"%s\" given twice", path, Q(name), k->string);
            return -1;
        }
        *slot = k;
    }
    const char *missing = !dtype ? "dtype" : !shape ? "shape" : !offs ? "data_offsets" : NULL;
    if (missing) {
        FP8LAB_ERR("%s: tensor %s: key \"%s\" missing", path, Q(name), missing);
        return -1;
    }
    if (!cJSON_IsString(dtype)) {
        FP8LAB_ERR("%s: tensor %s: \"dtype\" is not a string", path, Q(name));
        return -1;
    }
    int d = fp8lab_st_dtype_from_name(dtype->valuestring);
    if (d < 0) {
        const char *s = dtype->valuestring;
        int subbyte = !strcmp(s, "F4") || !strcmp(s, "F6_E2M3") || !strcmp(s, "F6_E3M2");
        FP8LAB_ERR("%s: tensor %s: \"dtype\" %s %s", path, Q(name), Q(s),
                   subbyte ? "is a sub-byte type, not supported"
                           : "is unknown (BOOL, U8, I8, F8_E4M3, F8_E5M2, F8_E8M0, I16, U16, F16, BF16, I32, U32, "
                             "F32, F64, I64, U64, C64)");
        return -1;
    }
    if (!cJSON_IsArray(shape)) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" is not an array", path, Q(name));
        return -1;
    }
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > FP8LAB_ST_MAX_DIMS) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" has %d dimensions, at most %d supported", path, Q(name), ndim,
                   FP8LAB_ST_MAX_DIMS);
        return -1;
    }
    int64_t numel = 1;
    int k = 0, overflow = 0, zero = 0;
    for (const cJSON *it = shape->child; it; it = it->next, k++) {
        uint64_t v;
        if (whole(path, name, "shape", k, it, &v)) return -1;
        e->t.shape[k] = (int64_t)v;
        zero |= v == 0;
        if (!overflow && fp8lab_mul_i64(numel, (int64_t)v, &numel)) overflow = 1;
    }
    if (zero) numel = 0, overflow = 0; /* [2^40, 2^40, 0] holds nothing: no overflow */
    int64_t nbytes = 0;
    if (!overflow && fp8lab_mul_i64(numel, g_dtypes[d].size, &nbytes)) overflow = 1;
    if (overflow) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" has more elements than 2^63 bytes hold", path, Q(name));
        return -1;
    }
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" is not an array [begin, end]", path, Q(name));
        return -1;
    }
    uint64_t begin, end;
    if (whole(path, name, "data_offsets", 0, offs->child, &begin) ||
        whole(path, name, "data_offsets", 1, offs->child->next, &end))
        return -1;
    if (begin > end) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] end before begin", path, Q(name),
                   begin, end);
        return -1;
    }
    if (end > buflen) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] past the end of the data (%" PRIu64
                   " bytes): the file is truncated or the offsets are wrong",
                   path, Q(name), begin, end, buflen);
        return -1;
    }
    if ((uint64_t)nbytes != end - begin) {
        char sh[FP8LAB_ST_MAX_DIMS * 22 + 4];
        size_t o = 0;
        sh[o++] = '[';
        for (int i = 0; i < ndim; i++)
            o += (size_t)snprintf(sh + o, sizeof sh - o, "%s%" PRId64, i ? ", " : "", e->t.shape[i]);
        snprintf(sh + o, sizeof sh - o, "]");
        FP8LAB_ERR("%s: tensor %s: \"shape\" %s of %s is %" PRId64 " bytes, but \"data_offsets\" [%" PRIu64
                   ", %" PRIu64 "] hold %" PRIu64,
                   path, Q(name), sh, g_dtypes[d].name, nbytes, begin, end, end - begin);
        return -1;
    }
    e->t.name = name;
    e->t.dtype = (fp8lab_st_dtype)d;
    e->t.ndim = ndim;
    e->t.numel = numel;
    e->t.nbytes = (size_t)nbytes;
    e->begin = begin;
    e->end = end;
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->index - y->index;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const fp8lab_st_tensor *const *)a)->name, (*(const fp8lab_st_tensor *const *)b)->name);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int parse_meta(fp8lab_st *st, const cJSON *meta) {
    if (cJSON_IsNull(meta)) return 0;
    if (!cJSON_IsObject(meta)) {
        FP8LAB_ERR("%s: \"%s\" is not an object of strings", st->path, META_KEY);
        return -1;
    }
    int n = cJSON_GetArraySize(meta);
    st->mkey = calloc((size_t)n + 1, sizeof *st->mkey);
    st->mval = calloc((size_t)n + 1, sizeof *st->mval);
    const char **keys = calloc((size_t)n + 1, sizeof *keys);
    if (!st->mkey || !st->mval || !keys) {
        free(keys);
        FP8LAB_ERR_RT("%s: out of memory", st->path);
        return -1;
    }
    for (const cJSON *it = meta->child; it; it = it->next) {
        if (!cJSON_IsString(it)) {
            free(keys);
            FP8LAB_ERR("%s: \"%s\" key %s: the value is not a string", st->path, META_KEY, Q(it->string));
            return -1;
        }
        keys[st->nmeta] = st->mkey[st->nmeta] = it->string;
        st->mval[st->nmeta++] = it->valuestring;
    }
    qsort(keys, (size_t)st->nmeta, sizeof *keys, cmp_str);
    for (int i = 1; i < st->nmeta; i++)
        if (!strcmp(keys[i - 1], keys[i])) {
            FP8LAB_ERR("%s: \"%s\" key %s given twice", st->path, META_KEY, Q(keys[i]));
            free(keys);
            return -1;
        }
    free(keys);
    return 0;
}

/* "fp8lab_crc32c": 8 lowercase hex digits, compared with the CRC-32C of the data buffer. */
static int check_crc(fp8lab_st *st, const unsigned char *buf, uint64_t buflen) {
    const char *want = fp8lab_st_meta(st, FP8LAB_ST_CRC_KEY);
    if (!want) return 0;
    uint32_t w = 0;
    int ok = strlen(want) == 8;
    for (int i = 0; ok && i < 8; i++) {
        char c = want[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        w = w << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (!ok) {
        FP8LAB_ERR("%s: \"%s\" key \"%s\" is %s, expected 8 lowercase hex digits", st->path, META_KEY,
                   FP8LAB_ST_CRC_KEY, Q(want));
        return -1;
    }
    uint32_t got = fp8lab_crc32c(0, buf, (size_t)buflen);
    if (got != w) {
        FP8LAB_ERR("%s: checksum mismatch: the data (%" PRIu64 " bytes) have CRC-32C %08x, the header says %08x: "
                   "the file is corrupt",
                   st->path, buflen, got, w);
        return -1;
    }
    st->has_crc = 1;
    return 0;
}

/* Everything after the mapping: header text, JSON, entries, tiling, checksum. */
static int parse(fp8lab_st *st) {
    const char *path = st->path;
    if (st->size < 8) {
        FP8LAB_ERR("%s: %zu bytes, too short for a safetensors file (it starts with an 8-byte header length)", path,
                   st->size);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->map[i];
    if (hlen > FP8LAB_ST_MAX_HEADER) {
        FP8LAB_ERR("%s: header length %" PRIu64 " is over the limit of %llu bytes: not a safetensors file, or corrupt",
                   path, hlen, FP8LAB_ST_MAX_HEADER);
        return -1;
    }
    if (hlen > st->size - 8) {
        FP8LAB_ERR("%s: header length %" PRIu64 " runs past the end of the file (%zu bytes): truncated or not a "
                   "safetensors file",
                   path, hlen, st->size);
        return -1;
    }
    if (hlen < 2 || st->map[8] != '{') {
        FP8LAB_ERR("%s: the header does not start with '{': not a safetensors file", path);
        return -1;
    }
    const unsigned char *h = st->map + 8;
    const char *why = NULL;
    long bad = check_text(h, (size_t)hlen, 1, &why);
    if (bad >= 0) {
        FP8LAB_ERR("%s: header byte %ld: %s", path, bad, why);
        return -1;
    }
    /* a terminated copy: cJSON reads within it whatever the input, and the sanitizers see it */
    char *text = malloc((size_t)hlen + 1);
    if (!text) {
        FP8LAB_ERR_RT("%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
        return -1;
    }
    memcpy(text, h, (size_t)hlen);
    text[hlen] = 0;
    const char *end = NULL;
    st->root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    if (!st->root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + hlen ? (long)(at - text) : 0;
        free(text);
        FP8LAB_ERR("%s: the header is not valid JSON (near byte %ld of it)", path, off);
        return -1;
    }
    size_t used = end && end >= text && end <= text + hlen ? (size_t)(end - text) : (size_t)hlen;
    for (size_t i = used; i < hlen; i++)
        if (!is_json_space(text[i])) {
            free(text);
            FP8LAB_ERR("%s: header byte %zu: text after the JSON object (only spaces may pad it)", path, i);
            return -1;
        }
    free(text);
    if (!cJSON_IsObject(st->root)) {
        FP8LAB_ERR("%s: the header is not a JSON object", path);
        return -1;
    }
    const uint64_t buflen = st->size - 8 - hlen;
    const unsigned char *buf = st->map + 8 + hlen;

    int total = cJSON_GetArraySize(st->root);
    st->ents = calloc((size_t)total + 1, sizeof *st->ents);
    st->byname = calloc((size_t)total + 1, sizeof *st->byname);
    if (!st->ents || !st->byname) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    const cJSON *meta = NULL;
    for (const cJSON *it = st->root->child; it; it = it->next) {
        if (!strcmp(it->string, META_KEY)) {
            if (meta) {
                FP8LAB_ERR("%s: \"%s\" given twice", path, META_KEY);
                return -1;
            }
            meta = it;
            continue;
        }
        if (!it->string[0]) {
            FP8LAB_ERR("%s: a tensor with an empty name", path);
            return -1;
        }
        entry *e = &st->ents[st->n];
        if (parse_entry(path, it, buflen, e)) return -1;
        e->index = st->n;
        e->t.offset = (size_t)(8 + hlen + e->begin);
        e->t.data = buf + e->begin;
        st->byname[st->n] = &e->t;
        st->n++;
    }
    if (meta && parse_meta(st, meta)) return -1;

    qsort(st->byname, (size_t)st->n, sizeof *st->byname, cmp_name);
    for (int i = 1; i < st->n; i++)
        if (!strcmp(st->byname[i - 1]->name, st->byname[i]->name)) {
            FP8LAB_ERR("%s: tensor %s given twice", path, Q(st->byname[i]->name));
            return -1;
        }
    /* the entries move: the name index is rebuilt after sorting them by offset */
    qsort(st->ents, (size_t)st->n, sizeof *st->ents, cmp_offset);
    uint64_t at = 0;
    for (int i = 0; i < st->n; i++) {
        const entry *e = &st->ents[i];
        if (e->begin != at) {
            if (e->begin > at)
                FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] leave bytes [%" PRIu64
                           ", %" PRIu64 ") of the data unused (holes are not allowed)",
                           path, Q(e->t.name), e->begin, e->end, at, e->begin);
            else
                FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] overlap tensor %s, which ends "
                           "at %" PRIu64,
                           path, Q(e->t.name), e->begin, e->end, Q(st->ents[i - 1].t.name), at);
            return -1;
        }
        at = e->end;
    }
    if (at != buflen) {
        FP8LAB_ERR("%s: the tensors end at byte %" PRIu64 " of the data, but the file holds %" PRIu64 " bytes of "
                   "data (trailing bytes are not allowed)",
                   path, at, buflen);
        return -1;
    }
    for (int i = 0; i < st->n; i++) st->byname[i] = &st->ents[i].t;
    qsort(st->byname, (size_t)st->n, sizeof *st->byname, cmp_name);
    return check_crc(st, buf, buflen);
}

int fp8lab_st_open(const char *path, fp8lab_st **out) {
    *out = NULL;
    if (!path || !*path) {
        FP8LAB_ERR("safetensors: empty file name");
        return -1;
    }
    fp8lab_st *st = calloc(1, sizeof *st);
    if (st) st->path = strdup(path);
    if (!st || !st->path) {
        free(st);
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below) */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (path_error(errno)) FP8LAB_ERR("%s: cannot open: %s", path, strerror(errno));
        else FP8LAB_ERR_RT("%s: cannot open: %s", path, strerror(errno));
        fp8lab_st_close(st);
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int isdir = S_ISDIR(sb.st_mode);
        close(fd);
        FP8LAB_ERR("%s: not a regular file (%s)", path, isdir ? "a directory" : "a device, FIFO or socket");
        fp8lab_st_close(st);
        return -1;
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        FP8LAB_ERR("%s: %lld bytes, too large to map", path, (long long)sb.st_size);
        fp8lab_st_close(st);
        return -1;
    }
    st->size = (size_t)sb.st_size;
    if (st->size >= 8) {
        void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            FP8LAB_ERR_RT("%s: cannot map %zu bytes: %s", path, st->size, strerror(e));
            fp8lab_st_close(st);
            return -1;
        }
        st->map = m;
    }
    close(fd);
    if (parse(st)) {
        fp8lab_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void fp8lab_st_close(fp8lab_st *st) {
    if (!st) return;
    if (st->map) munmap(st->map, st->size);
    cJSON_Delete(st->root);
    free(st->ents);
    free(st->byname);
    free(st->mkey);
    free(st->mval);
    free(st->path);
    free(st);
}

const char *fp8lab_st_path(const fp8lab_st *st) { return st->path; }
int fp8lab_st_count(const fp8lab_st *st) { return st->n; }
int fp8lab_st_has_checksum(const fp8lab_st *st) { return st->has_crc; }
int fp8lab_st_meta_count(const fp8lab_st *st) { return st->nmeta; }

const fp8lab_st_tensor *fp8lab_st_at(const fp8lab_st *st, int i) {
    return i >= 0 && i < st->n ? &st->ents[i].t : NULL;
}

const fp8lab_st_tensor *fp8lab_st_find(const fp8lab_st *st, const char *name) {
    if (!name) return NULL;
    fp8lab_st_tensor key = {.name = name};
    const fp8lab_st_tensor *pk = &key;
    const fp8lab_st_tensor **hit = bsearch(&pk, st->byname, (size_t)st->n, sizeof *st->byname, cmp_name);
    return hit ? *hit : NULL;
}

const char *fp8lab_st_meta(const fp8lab_st *st, const char *key) {
    for (int i = 0; key && i < st->nmeta; i++)
        if (!strcmp(st->mkey[i], key)) return st->mval[i];
    return NULL;
}

void fp8lab_st_meta_at(const fp8lab_st *st, int i, const char **key, const char **value) {
    int ok = i >= 0 && i < st->nmeta;
    if (key) *key = ok ? st->mkey[i] : NULL;
    if (value) *value = ok ? st->mval[i] : NULL;
}

/* IEEE half: subnormals, infinities and NaN payloads kept. */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, bits;
    if (e == 0x1F) bits = sign | 0x7F800000u | (m << 13);
    else if (e == 0) {
        float f = (float)m * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    } else bits = sign | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    size_t o = 0;
    buf[o++] = '[';
    buf[o] = 0;
    for (int i = 0; i < ndim && o + 24 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%" PRId64, i ? ", " : "", shape[i]);
    snprintf(buf + o, cap - o, "]");
    return buf;
}

int fp8lab_st_read_f32(const fp8lab_st *st, const char *name, float *dst, int ndim, const int64_t *shape) {
    const fp8lab_st_tensor *t = fp8lab_st_find(st, name);
    if (!t) {
        FP8LAB_ERR("%s: no tensor %s", st->path, Q(name ? name : ""));
        return -1;
    }
    fp8lab_st_dtype d = t->dtype;
    if (d != FP8LAB_ST_F32 && d != FP8LAB_ST_BF16 && d != FP8LAB_ST_F16 && d != FP8LAB_ST_F8_E4M3 &&
        d != FP8LAB_ST_F8_E5M2) {
        FP8LAB_ERR("%s: tensor %s: dtype %s cannot be read as F32 (F32, BF16, F16, F8_E4M3, F8_E5M2 can)", st->path,
                   Q(name), g_dtypes[d].name);
        return -1;
    }
    if (ndim >= 0) {
        int same = ndim == t->ndim && (ndim == 0 || shape);
        for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
        if (!same) {
            char a[FP8LAB_ST_MAX_DIMS * 22 + 4], b[FP8LAB_ST_MAX_DIMS * 22 + 4];
            FP8LAB_ERR("%s: tensor %s: shape %s, expected %s", st->path, Q(name),
                       shape_str(t->ndim, t->shape, a, sizeof a),
                       shape ? shape_str(ndim > FP8LAB_ST_MAX_DIMS ? FP8LAB_ST_MAX_DIMS : ndim, shape, b, sizeof b)
                             : "(none given)");
            return -1;
        }
    }
    const unsigned char *p = t->data;
    size_t n = (size_t)t->numel;
    if (n && !dst) {
        FP8LAB_ERR("%s: tensor %s: no destination buffer", st->path, Q(name));
        return -1;
    }
    switch (d) {
    case FP8LAB_ST_F32:
        if (n) memcpy(dst, p, n * 4);
        break;
    case FP8LAB_ST_BF16:
    case FP8LAB_ST_F16:
        for (size_t i = 0; i < n; i++) {
            uint16_t v = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            dst[i] = d == FP8LAB_ST_BF16 ? bf16_to_f32(v) : f16_to_f32(v);
        }
        break;
    case FP8LAB_ST_F8_E4M3:
        for (size_t i = 0; i < n; i++) dst[i] = fp8_e4m3_to_f32(p[i]);
        break;
    default:
        for (size_t i = 0; i < n; i++) dst[i] = fp8_e5m2_to_f32(p[i]);
        break;
    }
    return 0;
}

/* ---- writing --------------------------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

static void putf(sbuf *b, const char *fmt, int64_t v) {
    char t[32];
    int n = snprintf(t, sizeof t, fmt, v);
    put(b, t, (size_t)n);
}

/* A JSON string: quotes, backslashes and control characters escaped, UTF-8 passed through (checked before). */
static void put_str(sbuf *b, const char *s) {
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(b, e, 2);
        } else if (c < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            put(b, e, 6);
        } else put(b, (const char *)&c, 1);
    }
    put(b, "\"", 1);
}

static int valid_utf8(const char *s) {
    const char *why;
    return check_text((const unsigned char *)s, strlen(s), 0, &why) < 0;
}

int fp8lab_st_write(const char *path, const fp8lab_st_entry *tensors, int n, const fp8lab_st_kv *meta, int nmeta) {
    const char *file = path ? path : "(null)";
    if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && !meta)) {
        FP8LAB_ERR("%s: safetensors writer: bad tensor or metadata list (%d, %d)", file, n, nmeta);
        return -1;
    }
    int rc = -1, has_format = 0;
    sbuf h = {0};
    char *img = NULL;
    const char **names = calloc((size_t)(n > nmeta ? n : nmeta) + 1, sizeof *names);
    size_t *nbytes = calloc((size_t)n + 1, sizeof *nbytes);
    if (!names || !nbytes) {
        FP8LAB_ERR_RT("%s: out of memory", file);
        goto out;
    }
    /* arguments */
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const fp8lab_st_entry *t = &tensors[i];
        if (!t->name || !t->name[0] || !valid_utf8(t->name) || !strcmp(t->name, META_KEY)) {
            FP8LAB_ERR("%s: tensor %d: name %s is empty, not UTF-8 or reserved", file, i, t->name ? Q(t->name) : "NULL");
            goto out;
        }
        int size = fp8lab_st_dtype_size(t->dtype);
        if (!size || t->ndim < 0 || t->ndim > FP8LAB_ST_MAX_DIMS || (t->ndim > 0 && !t->shape)) {
            FP8LAB_ERR("%s: tensor %s: bad dtype (%d) or shape (%d dimensions, at most %d)", file, Q(t->name),
                       (int)t->dtype, t->ndim, FP8LAB_ST_MAX_DIMS);
            goto out;
        }
        int64_t numel = 1;
        int bad = 0, overflow = 0, zero = 0;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0 || (double)t->shape[k] > MAX_WHOLE) bad = 1;
            zero |= t->shape[k] == 0;
            if (!overflow && fp8lab_mul_i64(numel, t->shape[k], &numel)) overflow = 1;
        }
        if (zero) numel = 0;
        else bad |= overflow;
        int64_t nb = 0;
        if (bad || fp8lab_mul_i64(numel, size, &nb) || fp8lab_add_i64(total, nb, &total)) {
            FP8LAB_ERR("%s: tensor %s: shape has a negative dimension or too many elements", file, Q(t->name));
            goto out;
        }
        if (nb && !t->data) {
            FP8LAB_ERR("%s: tensor %s: no data", file, Q(t->name));
            goto out;
        }
        nbytes[i] = (size_t)nb;
        names[i] = t->name;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) {
            FP8LAB_ERR("%s: tensor %s given twice", file, Q(names[i]));
            goto out;
        }
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value || !valid_utf8(meta[i].key) || !valid_utf8(meta[i].value) ||
            !strcmp(meta[i].key, FP8LAB_ST_CRC_KEY)) {
            FP8LAB_ERR("%s: metadata %d: key %s: missing, not UTF-8, or reserved (%s is written by fp8lab)", file, i,
                       meta[i].key ? Q(meta[i].key) : "NULL", FP8LAB_ST_CRC_KEY);
            goto out;
        }
        has_format |= !strcmp(meta[i].key, "format");
        names[i] = meta[i].key;
    }
    qsort(names, (size_t)nmeta, sizeof *names, cmp_str);
    for (int i = 1; i < nmeta; i++)
        if (!strcmp(names[i - 1], names[i])) {
            FP8LAB_ERR("%s: metadata key %s given twice", file, Q(names[i]));
            goto out;
        }
    if (!path || !*path) {
        FP8LAB_ERR("safetensors writer: empty file name");
        goto out;
    }

    /* the header */
    uint32_t crc = 0;
    for (int i = 0; i < n; i++) crc = fp8lab_crc32c(crc, tensors[i].data, nbytes[i]);
    char crc_hex[9];
    snprintf(crc_hex, sizeof crc_hex, "%08x", crc);
    puts_(&h, "{\"" META_KEY "\":{");
    for (int i = 0; i < nmeta; i++) {
        put_str(&h, meta[i].key);
        puts_(&h, ":");
        put_str(&h, meta[i].value);
        puts_(&h, ",");
    }
    if (!has_format) puts_(&h, "\"format\":\"pt\",");
    puts_(&h, "\"" FP8LAB_ST_CRC_KEY "\":\"");
    puts_(&h, crc_hex);
    puts_(&h, "\"}");
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const fp8lab_st_entry *t = &tensors[i];
        puts_(&h, ",");
        put_str(&h, t->name);
        puts_(&h, ":{\"dtype\":\"");
        puts_(&h, g_dtypes[t->dtype].name);
        puts_(&h, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) putf(&h, k ? ",%" PRId64 : "%" PRId64, t->shape[k]);
        putf(&h, "],\"data_offsets\":[%" PRId64, at);
        at += (int64_t)nbytes[i];
        putf(&h, ",%" PRId64 "]}", at);
    }
    puts_(&h, "}");
    while (h.len % 8) puts_(&h, " ");
    if (h.oom) {
        FP8LAB_ERR_RT("%s: out of memory", file);
        goto out;
    }
    if (h.len > FP8LAB_ST_MAX_HEADER) {
        FP8LAB_ERR("%s: the header would be %zu bytes, over the limit of %llu", file, h.len, FP8LAB_ST_MAX_HEADER);
        goto out;
    }
    int64_t len;
    if (fp8lab_add_i64(total, 8 + (int64_t)h.len, &len) || (uint64_t)len > (uint64_t)SIZE_MAX / 2 ||
        len > (int64_t)(~0ul >> 1)) {
        FP8LAB_ERR("%s: %" PRId64 " bytes of tensors are too many to write", file, total);
        goto out;
    }
    img = malloc((size_t)len);
    if (!img) {
        FP8LAB_ERR_RT("%s: out of memory for %" PRId64 " bytes", file, len);
        goto out;
    }
    uint64_t hl = h.len;
    for (int i = 0; i < 8; i++) img[i] = (char)(hl >> (8 * i) & 0xFF);
    memcpy(img + 8, h.p, h.len);
    size_t o = 8 + h.len;
    for (int i = 0; i < n; i++) {
        if (nbytes[i]) memcpy(img + o, tensors[i].data, nbytes[i]);
        o += nbytes[i];
    }
    rc = fp8lab_write_file_atomic(path, img, (long)len);
out:
    free(img);
    free(h.p);
    free(names);
    free(nbytes);
    return rc;
}
