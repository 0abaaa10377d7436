/* io/safetensors: round trips through our writer and reader; a file assembled here byte by byte from the spec
   (so compatibility does not rest on our own writer); every corruption refused with a message naming the file,
   the tensor and the field; CRC-32C against its standard check value. */
#define _GNU_SOURCE
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "fp8/fp8.h"
#include "io/crc32c.h"
#include "io/safetensors.h"

static char g_dir[256];

static const char *at(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void put_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

/* the whole file; *n its size */
static unsigned char *get_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* 8-byte little-endian header length, the header as given (no padding), then the data */
static void put_st(const char *path, const char *header, const void *data, size_t dlen) {
    size_t hl = strlen(header);
    unsigned char *b = malloc(8 + hl + dlen + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    put_bytes(path, b, 8 + hl + dlen);
    free(b);
}

static int setup(void **s) {
    (void)s;
    snprintf(g_dir, sizeof g_dir, "/tmp/fp8lab_st_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **s) {
    (void)s;
    return nftw(g_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* The file must be refused with exit status 2 and a message holding the path and every fragment given. */
static void expect_refused_(const char *path, int line, const char *frag1, const char *frag2) {
    fp8lab_clear_error();
    fp8lab_st *st = (fp8lab_st *)0x1;
    int rc = fp8lab_st_open(path, &st);
    const char *msg = fp8lab_last_error();
    if (getenv("FP8LAB_TEST_VERBOSE")) fprintf(stderr, "line %d: %s\n", line, msg);
    if (rc != -1 || st || fp8lab_last_error_exit() != FP8LAB_EXIT_USAGE || !strstr(msg, path) ||
        (frag1 && !strstr(msg, frag1)) || (frag2 && !strstr(msg, frag2))) {
        fprintf(stderr, "line %d: rc %d, exit %d, message: %s\n  expected: %s / %s\n", line, rc,
                fp8lab_last_error_exit(), msg, frag1 ? frag1 : "", frag2 ? frag2 : "");
        fp8lab_st_close(st == (fp8lab_st *)0x1 ? NULL : st);
        fail();
    }
}
#define expect_refused(path, f1, f2) expect_refused_((path), __LINE__, (f1), (f2))

static fp8lab_st *open_ok(const char *path) {
    fp8lab_clear_error();
    fp8lab_st *st = NULL;
    if (fp8lab_st_open(path, &st) != 0) {
        fprintf(stderr, "open %s: %s\n", path, fp8lab_last_error());
        fail();
    }
    assert_non_null(st);
    return st;
}

/* ---- CRC-32C ---------------------------------------------------------------------------------------------- */

static void test_crc32c(void **s) {
    (void)s;
    assert_int_equal(fp8lab_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fp8lab_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(fp8lab_crc32c(0, "", 0), 0);
    /* 32 zero bytes: RFC 3720 B.4 */
    unsigned char z[32] = {0};
    assert_int_equal(fp8lab_crc32c(0, z, 32), 0x8A9136AAu);
    /* every alignment and length against the portable path, and chaining */
    unsigned char buf[300];
    for (int i = 0; i < 300; i++) buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= 300; n += 7) {
            uint32_t a = fp8lab_crc32c(0, buf + off, n), b = fp8lab_crc32c_sw(0, buf + off, n);
            assert_int_equal(a, b);
            size_t h = n / 3;
            assert_int_equal(fp8lab_crc32c(fp8lab_crc32c(0, buf + off, h), buf + off + h, n - h), a);
        }
}

/* ---- round trip ------------------------------------------------------------------------------------------- */

static void test_round_trip(void **s) {
    (void)s;
    float w[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-3f};
    int64_t wshape[2] = {2, 3};
    float bf_src[5] = {1.0f, -3.5f, 65280.0f, 1e-20f, 0.15625f};
    uint16_t bf[5];
    for (int i = 0; i < 5; i++) bf[i] = bf16_from_f32(bf_src[i]);
    int64_t bshape[1] = {5};
    uint16_t h16[4] = {0x3C00, 0xC000, 0x0001, 0x7C00}; /* 1, -2, 2^-24, inf */
    int64_t hshape[1] = {4};
    unsigned char u8[3] = {1, 2, 3}; /* odd length: the F32 scalar after it is unaligned in the file */
    int64_t ushape[1] = {3};
    float scalar = 42.0f;
    int64_t eshape[2] = {0, 7};
    int64_t i64[2] = {-1, INT64_MAX};
    int64_t ishape[1] = {2};
    fp8lab_st_entry t[] = {
        {"model.w", FP8LAB_ST_F32, 2, wshape, w},    {"model.bf", FP8LAB_ST_BF16, 1, bshape, bf},
        {"half", FP8LAB_ST_F16, 1, hshape, h16},     {"bytes", FP8LAB_ST_U8, 1, ushape, u8},
        {"scalar", FP8LAB_ST_F32, 0, NULL, &scalar}, {"empty", FP8LAB_ST_F32, 2, eshape, NULL},
        {"ids", FP8LAB_ST_I64, 1, ishape, i64},
    };
    fp8lab_st_kv meta[] = {{"step", "100"}, {"note", "quote \" backslash \\ newline \n utf8 \xc3\xa9"}};
    const char *path = at("model.safetensors");
    fp8lab_clear_error();
    assert_int_equal(fp8lab_st_write(path, t, 7, meta, 2), 0);

    /* header length aligned to 8, padded with spaces */
    size_t n;
    unsigned char *b = get_bytes(path, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    assert_int_equal(hl % 8, 0);
    assert_int_equal(n, 8 + hl + 24 + 10 + 8 + 3 + 4 + 0 + 16);
    assert_int_equal(b[8], '{');
    free(b);

    fp8lab_st *st = open_ok(path);
    assert_int_equal(fp8lab_st_count(st), 7);
    for (int i = 0; i < 7; i++) assert_string_equal(fp8lab_st_at(st, i)->name, t[i].name); /* order given */
    assert_null(fp8lab_st_at(st, 7));
    assert_string_equal(fp8lab_st_meta(st, "step"), "100");
    assert_string_equal(fp8lab_st_meta(st, "note"), meta[1].value);
    assert_string_equal(fp8lab_st_meta(st, "format"), "pt"); /* added: transformers wants it */
    assert_non_null(fp8lab_st_meta(st, FP8LAB_ST_CRC_KEY));
    assert_null(fp8lab_st_meta(st, "missing"));
    assert_int_equal(fp8lab_st_meta_count(st), 4);
    assert_true(fp8lab_st_has_checksum(st));

    const fp8lab_st_tensor *v = fp8lab_st_find(st, "model.w");
    assert_non_null(v);
    assert_int_equal(v->dtype, FP8LAB_ST_F32);
    assert_int_equal(v->ndim, 2);
    assert_int_equal(v->shape[0], 2);
    assert_int_equal(v->shape[1], 3);
    assert_int_equal(v->numel, 6);
    assert_int_equal(v->nbytes, 24);
    assert_memory_equal(v->data, w, 24);
    assert_int_equal(v->offset, 8 + hl);
    assert_null(fp8lab_st_find(st, "model"));
    assert_null(fp8lab_st_find(st, ""));

    float out[8];
    assert_int_equal(fp8lab_st_read_f32(st, "model.w", out, 2, wshape), 0);
    assert_memory_equal(out, w, sizeof w);
    assert_int_equal(fp8lab_st_read_f32(st, "model.bf", out, 1, bshape), 0);
    for (int i = 0; i < 5; i++) assert_true(out[i] == bf16_to_f32(bf[i]));
    assert_true(out[0] == 1.0f && out[1] == -3.5f && out[2] == 65280.0f);
    assert_int_equal(fp8lab_st_read_f32(st, "half", out, -1, NULL), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-24f && out[3] > 3e38f);
    assert_int_equal(fp8lab_st_read_f32(st, "scalar", out, 0, NULL), 0);
    assert_true(out[0] == 42.0f);
    assert_int_equal(fp8lab_st_read_f32(st, "empty", NULL, 2, eshape), 0);
    v = fp8lab_st_find(st, "bytes");
    assert_memory_equal(v->data, u8, 3);
    v = fp8lab_st_find(st, "ids");
    assert_memory_equal(v->data, i64, 16);

    /* read errors: missing, wrong shape, not convertible; exit 2 and named */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_st_read_f32(st, "nope", out, -1, NULL), -1);
    assert_non_null(strstr(fp8lab_last_error(), "no tensor 'nope'"));
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    int64_t wrong[2] = {3, 2};
    assert_int_equal(fp8lab_st_read_f32(st, "model.w", out, 2, wrong), -1);
    assert_non_null(strstr(fp8lab_last_error(), "'model.w': shape [2, 3], expected [3, 2]"));
    assert_int_equal(fp8lab_st_read_f32(st, "model.w", out, 1, wrong), -1);
    assert_int_equal(fp8lab_st_read_f32(st, "ids", out, -1, NULL), -1);
    assert_non_null(strstr(fp8lab_last_error(), "'ids': dtype I64 cannot be read as F32"));
    fp8lab_st_close(st);

    /* the caller's "format" is kept; a file with no tensors is valid */
    fp8lab_st_kv fmt[] = {{"format", "np"}};
    assert_int_equal(fp8lab_st_write(at("empty.safetensors"), NULL, 0, fmt, 1), 0);
    st = open_ok(at("empty.safetensors"));
    assert_int_equal(fp8lab_st_count(st), 0);
    assert_string_equal(fp8lab_st_meta(st, "format"), "np");
    fp8lab_st_close(st);
}

/* ---- the spec, byte for byte ------------------------------------------------------------------------------ */

/* Written here by hand from the format description, not by our writer: {"a": float32 [2], "b": bfloat16 [1, 2]}
   with metadata {"format": "pt"}, compact JSON, spaces padding the header to a multiple of 8 (the same text,
   byte for byte, as the reference library's safetensors 0.8 `save` gives for these shapes). */
static void test_spec_bytes(void **s) {
    (void)s;
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}";
    char padded[256];
    size_t hl = strlen(hdr);
    memcpy(padded, hdr, hl);
    while (hl % 8) padded[hl++] = ' ';
    padded[hl] = 0;
    /* a = [1.0, -2.0] little-endian F32; b = [[1.0, 0.5]] BF16 */
    const unsigned char data[12] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x80, 0x3f, 0x00, 0x3f};
    const char *path = at("spec.safetensors");
    put_st(path, padded, data, sizeof data);
    fp8lab_st *st = open_ok(path);
    assert_int_equal(fp8lab_st_count(st), 2);
    assert_false(fp8lab_st_has_checksum(st)); /* files from elsewhere carry none */
    float out[2];
    int64_t sa[1] = {2}, sb[2] = {1, 2};
    assert_int_equal(fp8lab_st_read_f32(st, "a", out, 1, sa), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f);
    assert_int_equal(fp8lab_st_read_f32(st, "b", out, 2, sb), 0);
    assert_true(out[0] == 1.0f && out[1] == 0.5f);
    const fp8lab_st_tensor *b = fp8lab_st_find(st, "b");
    assert_int_equal(b->offset, 8 + hl + 8);
    fp8lab_st_close(st);

    /* our writer, same tensors: the same layout, the checksum entry added to the metadata */
    float a[2] = {1.0f, -2.0f};
    uint16_t bb[2] = {0x3f80, 0x3f00};
    fp8lab_st_entry t[] = {{"a", FP8LAB_ST_F32, 1, sa, a}, {"b", FP8LAB_ST_BF16, 2, sb, bb}};
    fp8lab_st_kv meta[] = {{"format", "pt"}};
    const char *ours = at("ours.safetensors");
    assert_int_equal(fp8lab_st_write(ours, t, 2, meta, 1), 0);
    char want[512];
    snprintf(want, sizeof want,
             "{\"__metadata__\":{\"format\":\"pt\",\"fp8lab_crc32c\":\"%08x\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
             "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[8,12]}}",
             fp8lab_crc32c(0, data, sizeof data));
    size_t wl = strlen(want);
    while (wl % 8) want[wl++] = ' ';
    size_t n;
    unsigned char *got = get_bytes(ours, &n);
    assert_int_equal(n, 8 + wl + 12);
    for (int i = 0; i < 8; i++) assert_int_equal(got[i], (wl >> (8 * i)) & 0xFF);
    assert_memory_equal(got + 8, want, wl);
    assert_memory_equal(got + 8 + wl, data, 12);
    free(got);
}

/* Files from the seed corpus made outside fp8lab: one by scripts/make_safetensors_seed.py (standard-library
   Python, its own CRC-32C), one by the reference library (safetensors 0.8, numpy save_file: sorted by dtype and
   name). */
static void test_reference_files(void **s) {
    (void)s;
    const char *src = getenv("FP8LAB_SOURCE_DIR");
    if (!src) src = ".";
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/safetensors/model-checksum.safetensors", src);
    fp8lab_st *st = open_ok(path);
    assert_true(fp8lab_st_has_checksum(st));
    float out[6];
    int64_t es[2] = {2, 3};
    assert_int_equal(fp8lab_st_read_f32(st, "model.embed.weight", out, 2, es), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 3.5f && out[4] == 0.25f && out[5] == -1e-3f);
    assert_int_equal(fp8lab_st_read_f32(st, "model.norm.weight", out, -1, NULL), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0.5f && out[3] == 65280.0f);
    assert_int_equal(fp8lab_st_find(st, "step")->ndim, 0);
    fp8lab_st_close(st);

    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/safetensors/written-by-safetensors-0.8.safetensors", src);
    st = open_ok(path);
    assert_int_equal(fp8lab_st_count(st), 7);
    assert_string_equal(fp8lab_st_meta(st, "format"), "pt");
    assert_false(fp8lab_st_has_checksum(st));
    assert_string_equal(fp8lab_st_at(st, 0)->name, "c.ids");
    assert_int_equal(fp8lab_st_read_f32(st, "b.weight", out, 2, es), 0);
    for (int i = 0; i < 6; i++) assert_true(out[i] == ((float)i - 2.5f) / 4);
    assert_int_equal(fp8lab_st_read_f32(st, "a.half", out, -1, NULL), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f && out[2] == 0x1p-14f && out[3] == 65504.0f);
    assert_int_equal(fp8lab_st_read_f32(st, "f.scalar", out, 0, NULL), 0);
    assert_true(out[0] == 3.5f);
    const fp8lab_st_tensor *m = fp8lab_st_find(st, "d.mask");
    assert_int_equal(m->dtype, FP8LAB_ST_BOOL);
    assert_memory_equal(m->data, "\1\0", 2);
    int64_t ids[4];
    memcpy(ids, fp8lab_st_find(st, "c.ids")->data, sizeof ids);
    for (int i = 0; i < 4; i++) assert_int_equal(ids[i], i);
    fp8lab_st_close(st);
}

/* ---- corruptions ------------------------------------------------------------------------------------------ */

static const unsigned char D16[16] = {0};

static void refused_hdr(const char *header, size_t dlen, const char *f1, const char *f2, int line) {
    const char *path = at("bad.safetensors");
    put_st(path, header, D16, dlen);
    expect_refused_(path, line, f1, f2);
}
#define REFUSED(h, dlen, f1, f2) refused_hdr((h), (dlen), (f1), (f2), __LINE__)

#define T(name, dt, shape, offs) "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" offs "}"

static void test_refused_structure(void **s) {
    (void)s;
    const char *path = at("bad.safetensors");
    /* shorter than the length field */
    put_bytes(path, "\x02\0\0", 3);
    expect_refused(path, "too short", NULL);
    /* header length past the end of the file */
    put_bytes(path, "\x40\0\0\0\0\0\0\0{}", 10);
    expect_refused(path, "header length 64 runs past the end of the file (10 bytes)", NULL);
    /* header length over 100 MB (the file need not be that large for this check) */
    put_bytes(path, "\0\0\0\0\1\0\0\0{}", 10);
    expect_refused(path, "over the limit", NULL);
    put_bytes(path, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    expect_refused(path, "over the limit", NULL);
    /* not JSON, not an object, junk after it */
    REFUSED("{\"a\":", 0, "not valid JSON", NULL);
    REFUSED("[1,2]   ", 0, "does not start with '{'", NULL);
    REFUSED("{} x", 0, "text after the JSON object", NULL);
    REFUSED("{\"a\xff\":1}", 0, "invalid UTF-8", NULL);
    REFUSED("{\"a\xc0\xaf\":1}", 0, "invalid UTF-8", NULL); /* overlong '/' */
    REFUSED("{\"a\x01\":1}", 0, "control character", NULL);
    REFUSED("{\"a\\u0000b\":{}}", 0, "\\u0000", NULL);
    REFUSED("{\"\":{}}", 0, "empty name", NULL);
}

static void test_whitespace_ok(void **s) {
    (void)s;
    const char *path = at("ws.safetensors");
    put_st(path, "{ \"x\" : {\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]} }\n\t  ", D16, 2);
    fp8lab_st *st = open_ok(path);
    assert_int_equal(fp8lab_st_count(st), 1);
    fp8lab_st_close(st);
}

static void test_refused_entries(void **s) {
    (void)s;
    REFUSED("{" T("w", "F33", "[2]", "[0,8]") "}", 8, "tensor 'w': \"dtype\" 'F33' is unknown", NULL);
    REFUSED("{" T("w", "F4", "[2]", "[0,1]") "}", 1, "sub-byte", NULL);
    REFUSED("{\"w\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'w': \"dtype\" is not a string", NULL);
    REFUSED("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'w': key \"dtype\" missing", NULL);
    REFUSED("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "'w': unknown key 'x'",
            NULL);
    REFUSED("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
            "'w': key \"dtype\" given twice", NULL);
    REFUSED("{\"w\":[1]}", 0, "tensor 'w': expected an object", NULL);
    REFUSED("{" T("w", "F32", "2", "[0,8]") "}", 8, "'w': \"shape\" is not an array", NULL);
    REFUSED("{" T("w", "F32", "[1.5]", "[0,6]") "}", 6, "'w': \"shape\"[0] is 1.5", NULL);
    REFUSED("{" T("w", "F32", "[2,-1]", "[0,8]") "}", 8, "'w': \"shape\"[1] is -1", NULL);
    REFUSED("{" T("w", "F32", "[\"2\"]", "[0,8]") "}", 8, "'w': \"shape\"[0] is not a number", NULL);
    REFUSED("{" T("w", "F32", "[1e999]", "[0,8]") "}", 8, "'w': \"shape\"[0]", "whole number");
    REFUSED("{" T("w", "U8", "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, "17 dimensions", NULL);
    /* shape and offsets disagree */
    REFUSED("{" T("w", "F32", "[2,2]", "[0,8]") "}", 8,
            "'w': \"shape\" [2, 2] of F32 is 16 bytes, but \"data_offsets\" [0, 8] hold 8", NULL);
    /* huge declared shapes: an overflow or a mismatch, never an allocation */
    REFUSED("{" T("w", "F32", "[1099511627776,1099511627776]", "[0,4]") "}", 4, "'w': \"shape\" has more elements",
            NULL);
    REFUSED("{" T("w", "F32", "[1073741824,1073741824]", "[0,4]") "}", 4, "is 4611686018427387904 bytes", NULL);
    REFUSED("{" T("w", "F32", "[1e16]", "[0,4]") "}", 4, "whole number in [0, 2^53]", NULL);
    /* offsets */
    REFUSED("{" T("w", "U8", "[2]", "[0]") "}", 2, "'w': \"data_offsets\" is not an array [begin, end]", NULL);
    REFUSED("{" T("w", "U8", "[2]", "[0,2,4]") "}", 2, "not an array [begin, end]", NULL);
    REFUSED("{" T("w", "U8", "[0]", "[4,2]") "}", 4, "'w': \"data_offsets\" [4, 2] end before begin", NULL);
    REFUSED("{" T("w", "U8", "[2]", "[-2,0]") "}", 2, "\"data_offsets\"[0] is -2", NULL);
    REFUSED("{" T("w", "U8", "[16]", "[8,24]") "}", 16, "'w': \"data_offsets\" [8, 24] past the end of the data (16",
            NULL);
    REFUSED("{" T("w", "U8", "[2]", "[0,2]") "," T("v", "U8", "[3]", "[1,4]") "}", 4,
            "'v': \"data_offsets\" [1, 4] overlap tensor 'w', which ends at 2", NULL);
    REFUSED("{" T("w", "U8", "[2]", "[0,2]") "," T("v", "U8", "[2]", "[4,6]") "}", 6,
            "'v': \"data_offsets\" [4, 6] leave bytes [2, 4) of the data unused", NULL);
    REFUSED("{" T("w", "U8", "[2]", "[2,4]") "}", 4, "'w'", "leave bytes [0, 2)");
    REFUSED("{" T("w", "U8", "[2]", "[0,2]") "}", 5, "the tensors end at byte 2 of the data, but the file holds 5",
            NULL);
    /* the same offsets twice is an overlap, however the two are named */
    REFUSED("{" T("w", "U8", "[2]", "[0,2]") "," T("v", "U8", "[2]", "[0,2]") "}", 2, "overlap", NULL);
    /* names and metadata */
    REFUSED("{" T("w", "U8", "[2]", "[0,2]") "," T("w", "U8", "[2]", "[2,4]") "}", 4, "tensor 'w' given twice", NULL);
    REFUSED("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" given twice", NULL);
    REFUSED("{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object", NULL);
    REFUSED("{\"__metadata__\":{\"step\":100}}", 0, "key 'step': the value is not a string", NULL);
    REFUSED("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "key 'a' given twice", NULL);
    REFUSED("{\"__metadata__\":{\"fp8lab_crc32c\":\"E3069283\"}}", 0, "expected 8 lowercase hex digits", NULL);
    REFUSED("{\"__metadata__\":{\"fp8lab_crc32c\":\"0\"}}", 0, "expected 8 lowercase hex digits", NULL);
    /* names in messages are escaped, not printed raw */
    REFUSED("{" T("a\\u001b[31m", "X", "[2]", "[0,2]") "}", 2, "tensor 'a\\x1b[31m'", NULL);
    /* zero-sized tensors may share an offset; a null __metadata__ is none */
    const char *ok = at("ok.safetensors");
    put_st(ok,
           "{\"__metadata__\":null," T("e", "F32", "[0,1099511627776,1099511627776]", "[0,0]") "," T(
               "f", "F32", "[0]", "[0,0]") "," T("w", "U8", "[2]", "[0,2]") "}",
           D16, 2);
    fp8lab_st *st = open_ok(ok);
    assert_int_equal(fp8lab_st_count(st), 3);
    assert_int_equal(fp8lab_st_find(st, "e")->numel, 0);
    assert_int_equal(fp8lab_st_meta_count(st), 0);
    fp8lab_st_close(st);
}

/* A file we wrote, damaged afterwards: the checksum or the tiling catches it. */
static void test_refused_damage(void **s) {
    (void)s;
    float w[64];
    for (int i = 0; i < 64; i++) w[i] = (float)i * 0.25f;
    int64_t shape[2] = {8, 8};
    fp8lab_st_entry t[] = {{"w", FP8LAB_ST_F32, 2, shape, w}};
    const char *path = at("ckpt.safetensors");
    assert_int_equal(fp8lab_st_write(path, t, 1, NULL, 0), 0);
    size_t n;
    unsigned char *b = get_bytes(path, &n);
    const char *bad = at("damaged.safetensors");
    /* one bit flipped in the data */
    b[n - 7] ^= 0x10;
    put_bytes(bad, b, n);
    expect_refused(bad, "checksum mismatch", "the file is corrupt");
    b[n - 7] ^= 0x10;
    put_bytes(bad, b, n);
    fp8lab_st_close(open_ok(bad));
    /* truncated: every length short of the whole is refused */
    for (size_t len = 0; len < n; len += (len < 64 ? 1 : 13)) {
        put_bytes(bad, b, len);
        expect_refused(bad, NULL, NULL);
    }
    put_bytes(bad, b, n - 4);
    expect_refused(bad, "'w': \"data_offsets\" [0, 256] past the end of the data (252 bytes)", "truncated");
    /* a byte appended */
    unsigned char *c = malloc(n + 1);
    memcpy(c, b, n);
    c[n] = 0;
    put_bytes(bad, c, n + 1);
    expect_refused(bad, "trailing bytes", NULL);
    free(c);
    free(b);
    /* not a file */
    expect_refused(g_dir, "not a regular file", NULL);
    expect_refused(at("missing.safetensors"), "cannot open", NULL);
}

static void test_write_refused(void **s) {
    (void)s;
    float x[2] = {0};
    int64_t sh[1] = {2}, neg[1] = {-1}, big[3] = {1 << 30, 1 << 30, 1 << 30};
    int64_t past53[2] = {0, ((int64_t)1 << 53) + 1}; /* no elements, but a dimension the header cannot hold */
    fp8lab_st_entry dup[] = {{"x", FP8LAB_ST_F32, 1, sh, x}, {"x", FP8LAB_ST_F32, 1, sh, x}};
    fp8lab_st_entry empty[] = {{"", FP8LAB_ST_F32, 1, sh, x}};
    fp8lab_st_entry reserved[] = {{"__metadata__", FP8LAB_ST_F32, 1, sh, x}};
    fp8lab_st_entry negs[] = {{"x", FP8LAB_ST_F32, 1, neg, x}};
    fp8lab_st_entry bigs[] = {{"x", FP8LAB_ST_F32, 3, big, x}};
    fp8lab_st_entry past53s[] = {{"x", FP8LAB_ST_F32, 2, past53, x}};
    fp8lab_st_entry nodata[] = {{"x", FP8LAB_ST_F32, 1, sh, NULL}};
    fp8lab_st_entry baddt[] = {{"x", (fp8lab_st_dtype)99, 1, sh, x}};
    fp8lab_st_entry badutf[] = {{"x\xff", FP8LAB_ST_F32, 1, sh, x}};
    fp8lab_st_kv crc[] = {{FP8LAB_ST_CRC_KEY, "00000000"}};
    fp8lab_st_kv twice[] = {{"a", "1"}, {"a", "2"}};
    const char *path = at("w.safetensors");
    struct {
        const fp8lab_st_entry *t;
        int n;
        const fp8lab_st_kv *m;
        int nm;
        const char *frag;
    } cases[] = {
        {dup, 2, NULL, 0, "tensor 'x' given twice"}, {empty, 1, NULL, 0, "empty"},
        {reserved, 1, NULL, 0, "reserved"},          {negs, 1, NULL, 0, "negative dimension"},
        {bigs, 1, NULL, 0, "too many elements"},     {nodata, 1, NULL, 0, "no data"},
        {baddt, 1, NULL, 0, "bad dtype"},            {badutf, 1, NULL, 0, "not UTF-8"},
        {dup, 1, crc, 1, "reserved"},                {dup, 1, twice, 2, "key 'a' given twice"},
        {past53s, 1, NULL, 0, "too many elements"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fp8lab_clear_error();
        assert_int_equal(fp8lab_st_write(path, cases[i].t, cases[i].n, cases[i].m, cases[i].nm), -1);
        if (!strstr(fp8lab_last_error(), cases[i].frag)) {
            fprintf(stderr, "case %zu: %s\n", i, fp8lab_last_error());
            fail();
        }
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
        assert_int_equal(access(path, F_OK), -1); /* nothing written */
    }
    /* a directory is not replaced */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_st_write(g_dir, dup, 1, NULL, 0), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_spec_bytes),
        cmocka_unit_test(test_reference_files),
        cmocka_unit_test(test_refused_structure),
        cmocka_unit_test(test_whitespace_ok),
        cmocka_unit_test(test_refused_entries),
        cmocka_unit_test(test_refused_damage),
        cmocka_unit_test(test_write_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
