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

/* What the steps of parse_entry share: the names its messages give, the entry's three values, and what the shape
   holds (int64_t until it is checked against data_offsets, so that no size_t cast can make it match). */
typedef struct {
    const char *path, *name;
    uint64_t buflen;
    const cJSON *dtype, *shape, *offs;
    int64_t nbytes;
} entry_src;

/* Exactly the keys dtype, shape and data_offsets, each once. */
static int entry_keys(entry_src *s, const cJSON *obj) {
    for (const cJSON *k = obj->child; k; k = k->next) {
        const cJSON **slot = !strcmp(k->string, "dtype") ? &s->dtype : !strcmp(k->string, "shape") ? &s->shape
                             : !strcmp(k->string, "data_offsets") ? &s->offs : NULL;
        if (!slot) {
            FP8LAB_ERR("%s: tensor %s: unknown key %s (expected dtype, shape, data_offsets)", s->path, Q(s->name),
                       Q(k->string));
            return -1;
        }
        if (*slot) {
            FP8LAB_ERR("%s: tensor %s: key \"%s\" given twice", s->path, Q(s->name), k->string);
            return -1;
        }
        *slot = k;
    }
    const char *missing = !s->dtype ? "dtype" : !s->shape ? "shape" : !s->offs ? "data_offsets" : NULL;
    if (missing) {
        FP8LAB_ERR("%s: tensor %s: key \"%s\" missing", s->path, Q(s->name), missing);
        return -1;
    }
    return 0;
}

static int entry_dtype(const entry_src *s, entry *e) {
    if (!cJSON_IsString(s->dtype)) {
        FP8LAB_ERR("%s: tensor %s: \"dtype\" is not a string", s->path, Q(s->name));
        return -1;
    }
    int d = fp8lab_st_dtype_from_name(s->dtype->valuestring);
    if (d < 0) {
        const char *v = s->dtype->valuestring;
        int subbyte = !strcmp(v, "F4") || !strcmp(v, "F6_E2M3") || !strcmp(v, "F6_E3M2");
        FP8LAB_ERR("%s: tensor %s: \"dtype\" %s %s", s->path, Q(s->name), Q(v),
                   subbyte ? "is a sub-byte type, not supported"
                           : "is unknown (BOOL, U8, I8, F8_E4M3, F8_E5M2, F8_E8M0, I16, U16, F16, BF16, I32, U32, "
                             "F32, F64, I64, U64, C64)");
        return -1;
    }
    e->t.dtype = (fp8lab_st_dtype)d;
    return 0;
}

/* The dimensions into e, and the bytes they hold (of e's dtype) into s->nbytes. */
static int entry_shape(entry_src *s, entry *e) {
    if (!cJSON_IsArray(s->shape)) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" is not an array", s->path, Q(s->name));
        return -1;
    }
    int ndim = cJSON_GetArraySize(s->shape);
    if (ndim > FP8LAB_ST_MAX_DIMS) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" has %d dimensions, at most %d supported", s->path, Q(s->name), ndim,
                   FP8LAB_ST_MAX_DIMS);
        return -1;
    }
    int64_t numel = 1;
    int k = 0, overflow = 0, zero = 0;
    for (const cJSON *it = s->shape->child; it; it = it->next, k++) {
        uint64_t v;
        if (whole(s->path, s->name, "shape", k, it, &v)) return -1;
        e->t.shape[k] = (int64_t)v;
        zero |= v == 0;
        if (!overflow && fp8lab_mul_i64(numel, (int64_t)v, &numel)) overflow = 1;
    }
    if (zero) numel = 0, overflow = 0; /* [2^40, 2^40, 0] holds nothing: no overflow */
    int64_t nbytes = 0;
    if (!overflow && fp8lab_mul_i64(numel, g_dtypes[e->t.dtype].size, &nbytes)) overflow = 1;
    if (overflow) {
        FP8LAB_ERR("%s: tensor %s: \"shape\" has more elements than 2^63 bytes hold", s->path, Q(s->name));
        return -1;
    }
    e->t.ndim = ndim;
    e->t.numel = numel;
    s->nbytes = nbytes;
    return 0;
}

/* "data_offsets" [begin, end] into e: in order and within the data buffer. */
static int entry_offsets(const entry_src *s, entry *e) {
    if (!cJSON_IsArray(s->offs) || cJSON_GetArraySize(s->offs) != 2) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" is not an array [begin, end]", s->path, Q(s->name));
        return -1;
    }
    uint64_t begin, end;
    if (whole(s->path, s->name, "data_offsets", 0, s->offs->child, &begin) ||
        whole(s->path, s->name, "data_offsets", 1, s->offs->child->next, &end))
        return -1;
    if (begin > end) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] end before begin", s->path,
                   Q(s->name), begin, end);
        return -1;
    }
    if (end > s->buflen) {
        FP8LAB_ERR("%s: tensor %s: \"data_offsets\" [%" PRIu64 ", %" PRIu64 "] past the end of the data (%" PRIu64
                   " bytes): the file is truncated or the offsets are wrong",
                   s->path, Q(s->name), begin, end, s->buflen);
        return -1;
    }
    e->begin = begin;
    e->end = end;
    return 0;
}

/* The shape's bytes must be exactly the span data_offsets give it. */
static int entry_sizes_agree(const entry_src *s, const entry *e) {
    if ((uint64_t)s->nbytes == e->end - e->begin) return 0;
    char sh[FP8LAB_ST_MAX_DIMS * 22 + 4];
    size_t o = 0;
    sh[o++] = '[';
    for (int i = 0; i < e->t.ndim; i++)
        o += (size_t)snprintf(sh + o, sizeof sh - o, "%s%" PRId64, i ? ", " : "", e->t.shape[i]);
    snprintf(sh + o, sizeof sh - o, "]");
    FP8LAB_ERR("%s: tensor %s: \"shape\" %s of %s is %" PRId64 " bytes, but \"data_offsets\" [%" PRIu64 ", %" PRIu64
               "] hold %" PRIu64,
               s->path, Q(s->name), sh, g_dtypes[e->t.dtype].name, s->nbytes, e->begin, e->end, e->end - e->begin);
    return -1;
}

/* One tensor's entry {"dtype", "shape", "data_offsets"}: everything that can be checked on its own. On failure e is
   partly filled (the caller drops it with the whole file). */
static int parse_entry(const char *path, const cJSON *obj, uint64_t buflen, entry *e) {
    entry_src s = {.path = path, .name = obj->string, .buflen = buflen};
    if (!cJSON_IsObject(obj)) {
        FP8LAB_ERR("%s: tensor %s: expected an object {\"dtype\", \"shape\", \"data_offsets\"}", path, Q(s.name));
        return -1;
    }
    if (entry_keys(&s, obj) || entry_dtype(&s, e) || entry_shape(&s, e) || entry_offsets(&s, e) ||
        entry_sizes_agree(&s, e))
        return -1;
    e->t.name = s.name;
    e->t.nbytes = (size_t)s.nbytes;
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

/* Where the parts of the mapped file lie: the header text after the 8-byte length, then the data buffer. */
typedef struct {
    const unsigned char *header, *buf;
    uint64_t hlen, buflen;
} st_layout;

/* The 8-byte little-endian header length: within the limit and the file, and the header starting with '{'. */
static int read_header_len(const fp8lab_st *st, st_layout *lay) {
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
    *lay = (st_layout){.header = st->map + 8, .hlen = hlen, .buf = st->map + 8 + hlen, .buflen = st->size - 8 - hlen};
    return 0;
}

static int check_header_text(const fp8lab_st *st, const st_layout *lay) {
    const char *why = NULL;
    long bad = check_text(lay->header, (size_t)lay->hlen, 1, &why);
    if (bad >= 0) {
        FP8LAB_ERR("%s: header byte %ld: %s", st->path, bad, why);
        return -1;
    }
    return 0;
}

/* The header into st->root: one JSON object, padded with nothing but spaces. */
static int parse_header_json(fp8lab_st *st, const st_layout *lay) {
    const char *path = st->path;
    const uint64_t hlen = lay->hlen;
    /* a terminated copy: cJSON reads within it whatever the input, and the sanitizers see it */
    char *text = malloc((size_t)hlen + 1);
    if (!text) {
        FP8LAB_ERR_RT("%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
        return -1;
    }
    memcpy(text, lay->header, (size_t)hlen);
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
    return 0;
}

/* The root's members: each tensor's entry into st->ents (header order) and st->byname, then "__metadata__". */
static int parse_members(fp8lab_st *st, const st_layout *lay) {
    const char *path = st->path;
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
        if (parse_entry(path, it, lay->buflen, e)) return -1;
        e->index = st->n;
        e->t.offset = (size_t)(8 + lay->hlen + e->begin);
        e->t.data = lay->buf + e->begin;
        st->byname[st->n] = &e->t;
        st->n++;
    }
    return meta ? parse_meta(st, meta) : 0;
}

static int check_unique_names(fp8lab_st *st) {
    qsort(st->byname, (size_t)st->n, sizeof *st->byname, cmp_name);
    for (int i = 1; i < st->n; i++)
        if (!strcmp(st->byname[i - 1]->name, st->byname[i]->name)) {
            FP8LAB_ERR("%s: tensor %s given twice", st->path, Q(st->byname[i]->name));
            return -1;
        }
    return 0;
}

/* Sorts st->ents by offset (st->byname is stale after it) and checks they tile the data buffer: no hole, no
   overlap, nothing after the last. */
static int check_tiling(fp8lab_st *st, const st_layout *lay) {
    const char *path = st->path;
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
    if (at != lay->buflen) {
        FP8LAB_ERR("%s: the tensors end at byte %" PRIu64 " of the data, but the file holds %" PRIu64 " bytes of "
                   "data (trailing bytes are not allowed)",
                   path, at, lay->buflen);
        return -1;
    }
    return 0;
}

static void index_by_name(fp8lab_st *st) {
    for (int i = 0; i < st->n; i++) st->byname[i] = &st->ents[i].t;
    qsort(st->byname, (size_t)st->n, sizeof *st->byname, cmp_name);
}

/* Everything after the mapping: header text, JSON, entries, tiling, checksum. */
static int parse(fp8lab_st *st) {
    st_layout lay;
    if (read_header_len(st, &lay) || check_header_text(st, &lay) || parse_header_json(st, &lay) ||
        parse_members(st, &lay) || check_unique_names(st))
        return -1;
    /* the entries move: the name index is rebuilt after sorting them by offset */
    if (check_tiling(st, &lay)) return -1;
    index_by_name(st);
    return check_crc(st, lay.buf, lay.buflen);
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

/* What the steps of fp8lab_st_write share: its arguments, and what the checks found. */
typedef struct {
    const char *file; /* the path for messages */
    const fp8lab_st_entry *tensors;
    int n;
    const fp8lab_st_kv *meta;
    int nmeta;
    const char **names; /* room for n or nmeta names: the duplicate checks sort them */
    size_t *nbytes;     /* each tensor's data */
    int64_t total;      /* all tensors' data */
    int has_format;
} st_writer;

/* Sorts names; the first one given twice, or NULL. */
static const char *first_duplicate(const char **names, int n) {
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 1; i < n; i++)
        if (!strcmp(names[i - 1], names[i])) return names[i];
    return NULL;
}

/* Bytes of t's data (dtype size `size`), or -1 when a dimension is negative or past 2^53, or the count overflows
   (with a zero dimension it holds nothing, whatever the others). */
static int64_t tensor_nbytes(const fp8lab_st_entry *t, int size) {
    int64_t numel = 1;
    int bad = 0, overflow = 0, zero = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (t->shape[k] < 0 || t->shape[k] > (int64_t)MAX_WHOLE) bad = 1; /* as integers: 2^53 + 1 is no double */
        zero |= t->shape[k] == 0;
        if (!overflow && fp8lab_mul_i64(numel, t->shape[k], &numel)) overflow = 1;
    }
    if (zero) numel = 0;
    else bad |= overflow;
    int64_t nb = 0;
    if (bad || fp8lab_mul_i64(numel, size, &nb)) return -1;
    return nb;
}

/* Tensor i: a usable name, dtype and shape, data where it holds bytes; its size into w->nbytes and w->total. */
static int check_tensor(st_writer *w, int i) {
    const fp8lab_st_entry *t = &w->tensors[i];
    if (!t->name || !t->name[0] || !valid_utf8(t->name) || !strcmp(t->name, META_KEY)) {
        FP8LAB_ERR("%s: tensor %d: name %s is empty, not UTF-8 or reserved", w->file, i, t->name ? Q(t->name) : "NULL");
        return -1;
    }
    int size = fp8lab_st_dtype_size(t->dtype);
    if (!size || t->ndim < 0 || t->ndim > FP8LAB_ST_MAX_DIMS || (t->ndim > 0 && !t->shape)) {
        FP8LAB_ERR("%s: tensor %s: bad dtype (%d) or shape (%d dimensions, at most %d)", w->file, Q(t->name),
                   (int)t->dtype, t->ndim, FP8LAB_ST_MAX_DIMS);
        return -1;
    }
    int64_t nb = tensor_nbytes(t, size);
    if (nb < 0 || fp8lab_add_i64(w->total, nb, &w->total)) {
        FP8LAB_ERR("%s: tensor %s: shape has a negative dimension or too many elements", w->file, Q(t->name));
        return -1;
    }
    if (nb && !t->data) {
        FP8LAB_ERR("%s: tensor %s: no data", w->file, Q(t->name));
        return -1;
    }
    w->nbytes[i] = (size_t)nb;
    return 0;
}

static int check_tensors(st_writer *w) {
    for (int i = 0; i < w->n; i++) {
        if (check_tensor(w, i)) return -1;
        w->names[i] = w->tensors[i].name;
    }
    const char *dup = first_duplicate(w->names, w->n);
    if (dup) {
        FP8LAB_ERR("%s: tensor %s given twice", w->file, Q(dup));
        return -1;
    }
    return 0;
}

/* Keys and values UTF-8, the checksum's key left to us, no key twice; notes whether "format" is given. */
static int check_meta(st_writer *w) {
    for (int i = 0; i < w->nmeta; i++) {
        const fp8lab_st_kv *kv = &w->meta[i];
        if (!kv->key || !kv->value || !valid_utf8(kv->key) || !valid_utf8(kv->value) ||
            !strcmp(kv->key, FP8LAB_ST_CRC_KEY)) {
            FP8LAB_ERR("%s: metadata %d: key %s: missing, not UTF-8, or reserved (%s is written by fp8lab)", w->file,
                       i, kv->key ? Q(kv->key) : "NULL", FP8LAB_ST_CRC_KEY);
            return -1;
        }
        w->has_format |= !strcmp(kv->key, "format");
        w->names[i] = kv->key;
    }
    const char *dup = first_duplicate(w->names, w->nmeta);
    if (dup) {
        FP8LAB_ERR("%s: metadata key %s given twice", w->file, Q(dup));
        return -1;
    }
    return 0;
}

/* The header's opening {"__metadata__":{...}: the caller's pairs, "format" (pt unless given), the data's CRC-32C. */
static void put_meta_json(const st_writer *w, sbuf *h) {
    uint32_t crc = 0;
    for (int i = 0; i < w->n; i++) crc = fp8lab_crc32c(crc, w->tensors[i].data, w->nbytes[i]);
    char crc_hex[9];
    snprintf(crc_hex, sizeof crc_hex, "%08x", crc);
    puts_(h, "{\"" META_KEY "\":{");
    for (int i = 0; i < w->nmeta; i++) {
        put_str(h, w->meta[i].key);
        puts_(h, ":");
        put_str(h, w->meta[i].value);
        puts_(h, ",");
    }
    if (!w->has_format) puts_(h, "\"format\":\"pt\",");
    puts_(h, "\"" FP8LAB_ST_CRC_KEY "\":\"");
    puts_(h, crc_hex);
    puts_(h, "\"}");
}

/* ,"name":{"dtype", "shape", "data_offsets"} for each tensor, their data laid end to end in argument order */
static void put_tensors_json(const st_writer *w, sbuf *h) {
    int64_t at = 0;
    for (int i = 0; i < w->n; i++) {
        const fp8lab_st_entry *t = &w->tensors[i];
        puts_(h, ",");
        put_str(h, t->name);
        puts_(h, ":{\"dtype\":\"");
        puts_(h, g_dtypes[t->dtype].name);
        puts_(h, "\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) putf(h, k ? ",%" PRId64 : "%" PRId64, t->shape[k]);
        putf(h, "],\"data_offsets\":[%" PRId64, at);
        at += (int64_t)w->nbytes[i];
        putf(h, ",%" PRId64 "]}", at);
    }
}

/* The JSON header, padded with spaces to a multiple of 8 bytes (the data then start 8-byte aligned). */
static int build_header(const st_writer *w, sbuf *h) {
    put_meta_json(w, h);
    put_tensors_json(w, h);
    puts_(h, "}");
    while (h->len % 8) puts_(h, " ");
    if (h->oom) {
        FP8LAB_ERR_RT("%s: out of memory", w->file);
        return -1;
    }
    if (h->len > FP8LAB_ST_MAX_HEADER) {
        FP8LAB_ERR("%s: the header would be %zu bytes, over the limit of %llu", w->file, h->len, FP8LAB_ST_MAX_HEADER);
        return -1;
    }
    return 0;
}

/* The whole file in memory (*len bytes): the header's length (8 bytes, little-endian), the header, the data. */
static char *build_image(const st_writer *w, const sbuf *h, int64_t *len) {
    if (fp8lab_add_i64(w->total, 8 + (int64_t)h->len, len) || (uint64_t)*len > (uint64_t)SIZE_MAX / 2 ||
        *len > (int64_t)(~0ul >> 1)) {
        FP8LAB_ERR("%s: %" PRId64 " bytes of tensors are too many to write", w->file, w->total);
        return NULL;
    }
    char *img = malloc((size_t)*len);
    if (!img) {
        FP8LAB_ERR_RT("%s: out of memory for %" PRId64 " bytes", w->file, *len);
        return NULL;
    }
    uint64_t hl = h->len;
    for (int i = 0; i < 8; i++) img[i] = (char)(hl >> (8 * i) & 0xFF);
    memcpy(img + 8, h->p, h->len);
    size_t o = 8 + h->len;
    for (int i = 0; i < w->n; i++) {
        if (w->nbytes[i]) memcpy(img + o, w->tensors[i].data, w->nbytes[i]);
        o += w->nbytes[i];
    }
    return img;
}

int fp8lab_st_write(const char *path, const fp8lab_st_entry *tensors, int n, const fp8lab_st_kv *meta, int nmeta) {
    st_writer w = {.file = path ? path : "(null)", .tensors = tensors, .n = n, .meta = meta, .nmeta = nmeta};
    if (n < 0 || nmeta < 0 || (n > 0 && !tensors) || (nmeta > 0 && !meta)) {
        FP8LAB_ERR("%s: safetensors writer: bad tensor or metadata list (%d, %d)", w.file, n, nmeta);
        return -1;
    }
    int rc = -1;
    sbuf h = {0};
    char *img = NULL;
    int64_t len;
    w.names = calloc((size_t)(n > nmeta ? n : nmeta) + 1, sizeof *w.names);
    w.nbytes = calloc((size_t)n + 1, sizeof *w.nbytes);
    if (!w.names || !w.nbytes) {
        FP8LAB_ERR_RT("%s: out of memory", w.file);
        goto out;
    }
    if (check_tensors(&w) || check_meta(&w)) goto out;
    if (!path || !*path) {
        FP8LAB_ERR("safetensors writer: empty file name");
        goto out;
    }
    if (build_header(&w, &h) || !(img = build_image(&w, &h, &len))) goto out;
    rc = fp8lab_write_file_atomic(path, img, (long)len);
out:
    free(img);
    free(h.p);
    free(w.names);
    free(w.nbytes);
    return rc;
}
