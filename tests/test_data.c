/* data/: llm.c token shards (round trips, every refused header field with its message, uint32 shards), the
   deterministic loader (same seed = same batches, different seed = different order, resume from a saved position,
   evaluation rows), text -> byte-level shards, and the built-in corpus from a stand-in source folder. */
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
#include "data/build.h"
#include "data/loader.h"
#include "data/shard.h"

static char g_dir[256];

static const char *at(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/fp8lab_data_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *s, int flag, struct FTW *ftw) {
    (void)s, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **st) {
    (void)st;
    return nftw(g_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void put_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* a raw shard: header fields as given, then nbody bytes of tokens (id k at token k for uint16) */
static void raw_shard(const char *path, int32_t magic, int32_t version, int32_t count, size_t nbody, int reserved_at) {
    size_t n = FP8LAB_SHARD_HEADER_BYTES + nbody;
    uint8_t *b = calloc(1, n);
    assert_non_null(b);
    le32(b, (uint32_t)magic);
    le32(b + 4, (uint32_t)version);
    le32(b + 8, (uint32_t)count);
    if (reserved_at) le32(b + 4 * reserved_at, 7);
    for (size_t i = 0; i + 1 < nbody; i += 2) b[FP8LAB_SHARD_HEADER_BYTES + i] = (uint8_t)(i / 2);
    put_bytes(path, b, n);
    free(b);
}

/* opening path fails with exit 2 and a message holding every one of the strings (NULL-terminated) */
static void refused(const char *path, int64_t vocab, ...) {
    fp8lab_shard s;
    fp8lab_clear_error();
    assert_int_equal(fp8lab_shard_open(&s, path, vocab), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    const char *msg = fp8lab_last_error();
    va_list ap;
    va_start(ap, vocab);
    for (const char *want; (want = va_arg(ap, const char *));)
        if (!strstr(msg, want)) fail_msg("'%s' lacks '%s'", msg, want);
    va_end(ap);
    assert_null(s.map);
}

/* ---- shards ---------------------------------------------------------------------------------------------- */

static void round_trip_u16(void **st) {
    (void)st;
    uint32_t tok[1000];
    for (int i = 0; i < 1000; i++) tok[i] = (uint32_t)(i * 37 % 50257);
    const char *p = at("rt16.bin");
    assert_int_equal(fp8lab_shard_write(p, tok, 1000, FP8LAB_SHARD_U16), 0);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 1024 + 2000);
    fp8lab_shard s;
    assert_int_equal(fp8lab_shard_open(&s, p, 50257), 0);
    assert_int_equal(s.magic, 20240520);
    assert_int_equal(s.version, 1);
    assert_int_equal(s.width, 2);
    assert_int_equal(s.ntok, 1000);
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(fp8lab_shard_token(&s, i), tok[i]);
        lo = tok[i] < lo ? tok[i] : lo;
        hi = tok[i] > hi ? tok[i] : hi;
    }
    assert_int_equal(s.min_tok, lo);
    assert_int_equal(s.max_tok, hi);
    int32_t out[10];
    fp8lab_shard_read(&s, 990, 10, out);
    for (int i = 0; i < 10; i++) assert_int_equal(out[i], (int32_t)tok[990 + i]);
    /* byte-exact layout: header ints little-endian, reserved zero, tokens little-endian uint16 */
    FILE *f = fopen(p, "rb");
    uint8_t h[1030];
    assert_int_equal(fread(h, 1, sizeof h, f), sizeof h);
    fclose(f);
    assert_int_equal(h[0] | h[1] << 8 | h[2] << 16 | h[3] << 24, 20240520);
    for (int i = 12; i < 1024; i++) assert_int_equal(h[i], 0);
    assert_int_equal(h[1024 + 2] | h[1024 + 3] << 8, tok[1]);
    fp8lab_shard_close(&s);
    /* the same data is refused for a smaller vocabulary, naming the first largest id */
    refused(p, 30000, "rt16.bin", "token 811 = 30007", "expected a token id < 30000", NULL);
    /* bytes */
    uint8_t text[300];
    for (int i = 0; i < 300; i++) text[i] = (uint8_t)(255 - i % 256);
    assert_int_equal(fp8lab_shard_write_bytes(at("b.bin"), text, 300), 0);
    assert_int_equal(fp8lab_shard_open(&s, at("b.bin"), 256), 0);
    for (int i = 0; i < 300; i++) assert_int_equal(fp8lab_shard_token(&s, i), text[i]);
    assert_int_equal(s.min_tok, 0);
    assert_int_equal(s.max_tok, 255);
    fp8lab_shard_close(&s);
}

static void round_trip_u32(void **st) {
    (void)st;
    uint32_t tok[64];
    for (int i = 0; i < 64; i++) tok[i] = 100000u + (uint32_t)i * 1000u; /* past uint16 */
    tok[5] = 0;
    const char *p = at("rt32.bin");
    assert_int_equal(fp8lab_shard_write(p, tok, 64, FP8LAB_SHARD_U32), 0);
    fp8lab_shard s;
    assert_int_equal(fp8lab_shard_open(&s, p, 200000), 0);
    assert_int_equal(s.magic, 20240801);
    assert_int_equal(s.version, 7);
    assert_int_equal(s.width, 4);
    assert_int_equal(s.ntok, 64);
    assert_int_equal(s.min_tok, 0);
    assert_int_equal(s.max_tok, 163000);
    for (int i = 0; i < 64; i++) assert_int_equal(fp8lab_shard_token(&s, i), tok[i]);
    fp8lab_shard_close(&s);
    refused(p, 128256, "rt32.bin", "token 29 = 129000", "< 128256", NULL); /* llama-3's vocabulary */
    /* a uint16 shard cannot hold them */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_shard_write(at("no16.bin"), tok, 64, FP8LAB_SHARD_U16), -1);
    assert_non_null(strstr(fp8lab_last_error(), "does not fit a uint16 shard"));
    assert_int_equal(access(at("no16.bin"), F_OK), -1);
    /* and a count outside [2, 2^31 - 1] is not written */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_shard_write(at("one.bin"), tok, 1, FP8LAB_SHARD_U32), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
}

static void bad_headers_refused(void **st) {
    (void)st;
    /* a good one first, so each case below differs from it in one field */
    raw_shard(at("good.bin"), 20240520, 1, 10, 20, 0);
    fp8lab_shard s;
    assert_int_equal(fp8lab_shard_open(&s, at("good.bin"), 256), 0);
    fp8lab_shard_close(&s);

    raw_shard(at("magic.bin"), 20240521, 1, 10, 20, 0);
    refused(at("magic.bin"), 256, "magic.bin", "header[0] (magic) = 20240521", "expected 20240520", NULL);
    raw_shard(at("version.bin"), 20240520, 2, 10, 20, 0);
    refused(at("version.bin"), 256, "version.bin", "header[1] (version) = 2", "expected 1 with magic 20240520", NULL);
    raw_shard(at("version7.bin"), 20240520, 7, 10, 20, 0);
    refused(at("version7.bin"), 256, "header[1] (version) = 7", "expected 1", NULL);
    raw_shard(at("version32.bin"), 20240801, 1, 10, 40, 0);
    refused(at("version32.bin"), 256, "header[1] (version) = 1", "expected 7 with magic 20240801", NULL);
    raw_shard(at("larger.bin"), 20240520, 1, 11, 20, 0);
    refused(at("larger.bin"), 256, "larger.bin", "header[2] (token count) = 11", "holds 20 bytes of tokens",
            "expected 1046 bytes", NULL);
    raw_shard(at("smaller.bin"), 20240520, 1, 9, 20, 0);
    refused(at("smaller.bin"), 256, "header[2] (token count) = 9", "holds 20 bytes", "expected 1042 bytes", NULL);
    raw_shard(at("odd.bin"), 20240520, 1, 10, 21, 0);
    refused(at("odd.bin"), 256, "header[2] (token count) = 10", "and a partial one", NULL);
    raw_shard(at("huge.bin"), 20240520, 1, 2147483647, 20, 0); /* nothing is sized from the header */
    refused(at("huge.bin"), 256, "header[2] (token count) = 2147483647", NULL);
    raw_shard(at("count1.bin"), 20240520, 1, 1, 2, 0);
    refused(at("count1.bin"), 256, "header[2] (token count) = 1", "expected at least 2", NULL);
    raw_shard(at("count0.bin"), 20240520, 1, 0, 0, 0);
    refused(at("count0.bin"), 256, "header[2] (token count) = 0", NULL);
    raw_shard(at("negative.bin"), 20240520, 1, -5, 20, 0);
    refused(at("negative.bin"), 256, "header[2] (token count) = -5", NULL);
    raw_shard(at("reserved.bin"), 20240520, 1, 10, 20, 255);
    refused(at("reserved.bin"), 256, "header[255] = 7", "expected 0 (reserved)", NULL);
    raw_shard(at("vocab.bin"), 20240520, 1, 10, 20, 0); /* ids 0..9 */
    refused(at("vocab.bin"), 9, "vocab.bin", "token 9 = 9", "expected a token id < 9", NULL);

    /* truncated: the header itself cut short, or the tokens */
    uint8_t h[600] = {0};
    le32(h, 20240520);
    le32(h + 4, 1);
    le32(h + 8, 10);
    put_bytes(at("short.bin"), h, sizeof h);
    refused(at("short.bin"), 256, "short.bin", "600 bytes, shorter than the 1024-byte", NULL);
    raw_shard(at("cut.bin"), 20240520, 1, 10, 15, 0);
    refused(at("cut.bin"), 256, "cut.bin", "holds 15 bytes", NULL);
    put_bytes(at("empty.bin"), "", 0);
    refused(at("empty.bin"), 256, "empty.bin", "empty file", NULL);
    refused(at("missing.bin"), 256, "missing.bin", "cannot open", NULL);
    refused(g_dir, 256, "not a regular file", NULL);
    /* a bad vocab argument */
    refused(at("good.bin"), -1, "vocab -1", NULL);
}

/* ---- the loader ------------------------------------------------------------------------------------------ */

/* shards with unique ids: shard k holds ids base_k .. base_k + n_k - 1 (uint32), so a row shows where it came from */
static void make_shards(const char *prefix, int nshards, const int64_t *sizes) {
    uint32_t base = 0;
    for (int k = 0; k < nshards; k++) {
        uint32_t *t = malloc((size_t)sizes[k] * sizeof *t);
        assert_non_null(t);
        for (int64_t i = 0; i < sizes[k]; i++) t[i] = base + (uint32_t)i;
        char name[128];
        snprintf(name, sizeof name, "%s_%06d.bin", prefix, k);
        assert_int_equal(fp8lab_shard_write(at(name), t, sizes[k], FP8LAB_SHARD_U32), 0);
        base += (uint32_t)sizes[k];
        free(t);
    }
}

static const int64_t SIZES[4] = {101, 57, 230, 33};

static void open_loader(fp8lab_loader *L, int B, int T, uint64_t seed, int shuffle) {
    char pat[600];
    snprintf(pat, sizeof pat, "%s/ld_*.bin", g_dir);
    const char *paths[] = {pat};
    fp8lab_clear_error();
    if (fp8lab_loader_open(L, paths, 1, B, T, 1 << 20, seed, shuffle)) fail_msg("%s", fp8lab_last_error());
}

/* n batches into a fresh buffer (inputs then targets, 2*B*T per batch) */
static int32_t *batches(fp8lab_loader *L, int n) {
    size_t bt = (size_t)L->B * L->T;
    int32_t *buf = malloc(2 * bt * (size_t)n * sizeof *buf);
    assert_non_null(buf);
    for (int i = 0; i < n; i++) assert_int_equal(fp8lab_loader_next(L, buf + 2 * bt * i, buf + 2 * bt * i + bt), 0);
    return buf;
}

static void loader_rows_are_llmc_rows(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    const int B = 3, T = 8;
    fp8lab_loader L;
    open_loader(&L, B, T, 0, 0);
    assert_int_equal(L.nshards, 4);
    assert_int_equal(L.total_tokens, 101 + 57 + 230 + 33);
    int64_t rows = 100 / 8 + 56 / 8 + 229 / 8 + 32 / 8;
    assert_int_equal(L.total_rows, rows);
    /* in order: the first batch is llm.c's first B x T block of shard 0, targets shifted by one */
    int32_t in[24], tg[24];
    assert_int_equal(fp8lab_loader_next(&L, in, tg), 0);
    for (int i = 0; i < B * T; i++) {
        assert_int_equal(in[i], i);
        assert_int_equal(tg[i], i + 1);
    }
    /* the whole stream in order: every row once per epoch, rows in file order, then epoch 1 starts over */
    fp8lab_loader_reset(&L);
    int64_t expect_shard = 0, expect_row = 0;
    const uint32_t base[4] = {0, 101, 158, 388};
    for (int64_t r = 0; r < rows; r += B) {
        assert_int_equal(fp8lab_loader_next(&L, in, tg), 0);
        for (int b = 0; b < B && r + b < rows; b++) {
            if (expect_row >= (SIZES[expect_shard] - 1) / T) expect_shard++, expect_row = 0;
            int32_t want = (int32_t)(base[expect_shard] + expect_row * T);
            for (int t = 0; t < T; t++) {
                assert_int_equal(in[b * T + t], want + t);
                assert_int_equal(tg[b * T + t], want + t + 1);
            }
            expect_row++;
        }
    }
    assert_true(L.pos.epoch == 0 || (L.pos.epoch == 1 && rows % B));
    fp8lab_loader_close(&L);
}

/* Data-parallel parts: over 40 shuffled batches (several epochs), part r of 4 of each batch is rows [r B/4,
   (r+1) B/4) of the whole batch, and every part's loader ends at the whole loader's position; a part that does
   not divide the batch, or is out of range, is refused. */
static void loader_parts_are_slices(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    enum { B = 8, T = 8, PARTS = 4, N = 40 };
    fp8lab_loader whole, part[PARTS];
    open_loader(&whole, B, T, 99, 1);
    for (int r = 0; r < PARTS; r++) open_loader(&part[r], B, T, 99, 1);
    int32_t in[B * T], tg[B * T], pin[B * T / PARTS], ptg[B * T / PARTS];
    for (int i = 0; i < N; i++) {
        assert_int_equal(fp8lab_loader_next(&whole, in, tg), 0);
        for (int r = 0; r < PARTS; r++) {
            assert_int_equal(fp8lab_loader_next_part(&part[r], r, PARTS, pin, ptg), 0);
            assert_memory_equal(pin, in + r * (B / PARTS) * T, sizeof pin);
            assert_memory_equal(ptg, tg + r * (B / PARTS) * T, sizeof ptg);
            assert_memory_equal(&part[r].pos, &whole.pos, sizeof whole.pos);
        }
    }
    assert_true(whole.pos.epoch >= 1);
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_next_part(&whole, 0, 3, pin, ptg), -1);
    assert_non_null(strstr(fp8lab_last_error(), "part 0 of 3"));
    assert_int_equal(fp8lab_loader_next_part(&whole, 4, 4, pin, ptg), -1);
    fp8lab_clear_error();
    fp8lab_loader_close(&whole);
    for (int r = 0; r < PARTS; r++) fp8lab_loader_close(&part[r]);
}

/* one epoch of the shuffled stream visits each row exactly once */
static void loader_shuffle_covers_each_row_once(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    const int T = 8;
    fp8lab_loader L;
    open_loader(&L, 1, T, 1234, 1);
    int64_t rows = L.total_rows;
    int seen[421] = {0};
    int32_t in[8], tg[8];
    for (int64_t r = 0; r < rows; r++) {
        assert_int_equal(fp8lab_loader_next(&L, in, tg), 0);
        assert_int_equal(L.pos.epoch, 0);
        assert_true(in[0] >= 0 && in[0] < 421);
        seen[in[0]]++;
        for (int t = 0; t < T; t++) assert_int_equal(tg[t], in[t] + 1); /* rows never straddle shards */
    }
    int distinct = 0;
    for (int i = 0; i < 421; i++) {
        assert_true(seen[i] <= 1);
        distinct += seen[i];
    }
    assert_int_equal(distinct, rows);
    fp8lab_loader_close(&L);
}

static void loader_deterministic(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    const int B = 4, T = 5, N = 200; /* several epochs */
    fp8lab_loader a, b, c;
    open_loader(&a, B, T, 42, 1);
    open_loader(&b, B, T, 42, 1);
    open_loader(&c, B, T, 43, 1);
    int32_t *x = batches(&a, N), *y = batches(&b, N), *z = batches(&c, N);
    size_t n = 2 * (size_t)B * T * N;
    assert_memory_equal(x, y, n * sizeof *x);
    assert_memory_not_equal(x, z, n * sizeof *x);
    /* shuffled is not the in-order stream, and epochs differ from each other */
    fp8lab_loader d;
    open_loader(&d, B, T, 42, 0);
    int32_t *w = batches(&d, N);
    assert_memory_not_equal(x, w, n * sizeof *x);
    assert_true(a.pos.epoch >= 2);
    /* epochs differ: the row order of epoch 0 against epoch 1 */
    fp8lab_loader e;
    open_loader(&e, 1, T, 42, 1);
    int32_t first[512], second[512];
    int64_t rows = e.total_rows;
    int32_t in[5], tg[5];
    for (int64_t r = 0; r < rows; r++) {
        fp8lab_loader_next(&e, in, tg);
        first[r] = in[0];
    }
    for (int64_t r = 0; r < rows; r++) {
        fp8lab_loader_next(&e, in, tg);
        second[r] = in[0];
    }
    assert_memory_not_equal(first, second, (size_t)rows * sizeof *first);
    /* a known value pins the generator and the mixing: the same on every machine */
    fp8lab_loader_reset(&e);
    fp8lab_loader_next(&e, in, tg);
    int32_t pinned = in[0];
    fp8lab_loader_close(&e);
    open_loader(&e, 1, T, 42, 1);
    fp8lab_loader_next(&e, in, tg);
    assert_int_equal(in[0], pinned);
    printf("seed 42, T 5: first row starts at token %d\n", pinned);
    free(x), free(y), free(z), free(w);
    fp8lab_loader_close(&a), fp8lab_loader_close(&b), fp8lab_loader_close(&c), fp8lab_loader_close(&d);
    fp8lab_loader_close(&e);
}

static void loader_resume(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    const int B = 3, T = 6;
    for (int shuffle = 0; shuffle <= 1; shuffle++)
        for (int k = 0; k < 90; k += 7) { /* stops mid-shard, at shard ends, across epochs */
            fp8lab_loader a, b;
            open_loader(&a, B, T, 77, shuffle);
            free(batches(&a, k));
            cJSON *j = fp8lab_loader_pos_to_json(&a);
            assert_non_null(j);
            char *text = cJSON_PrintUnformatted(j);
            cJSON_Delete(j);
            cJSON *back = cJSON_Parse(text);
            free(text);
            open_loader(&b, B, T, 77, shuffle);
            fp8lab_clear_error();
            if (fp8lab_loader_pos_from_json(&b, back, "pos.json")) fail_msg("%s", fp8lab_last_error());
            cJSON_Delete(back);
            int32_t *x = batches(&a, 40), *y = batches(&b, 40);
            assert_memory_equal(x, y, 2 * (size_t)B * T * 40 * sizeof *x);
            free(x), free(y);
            /* the struct round trip too, into a loader with another batch size (the row stream is the same) */
            fp8lab_loader_pos p = fp8lab_loader_get_pos(&a);
            fp8lab_loader c;
            open_loader(&c, 1, T, 77, shuffle);
            assert_int_equal(fp8lab_loader_set_pos(&c, p), 0);
            int32_t ia[18], ta[18], ic[6], tc[6];
            assert_int_equal(fp8lab_loader_next(&a, ia, ta), 0);
            for (int r = 0; r < 3; r++) {
                assert_int_equal(fp8lab_loader_next(&c, ic, tc), 0);
                assert_memory_equal(ia + r * T, ic, sizeof ic);
                assert_memory_equal(ta + r * T, tc, sizeof tc);
            }
            fp8lab_loader_close(&a), fp8lab_loader_close(&b), fp8lab_loader_close(&c);
        }
}

static void loader_position_checked(void **st) {
    (void)st;
    make_shards("ld", 4, SIZES);
    fp8lab_loader a, b;
    open_loader(&a, 2, 6, 5, 1);
    free(batches(&a, 3));
    cJSON *j = fp8lab_loader_pos_to_json(&a);
    /* another seed, T, shuffle setting or data: refused, naming the key */
    struct {
        int T;
        uint64_t seed;
        int shuffle;
        const char *msg;
    } cases[] = {{6, 6, 1, "\"seed\" = 5"}, {7, 5, 1, "\"T\" = 6"}, {6, 5, 0, "\"shuffle\" = true"}};
    for (int i = 0; i < 3; i++) {
        open_loader(&b, 2, cases[i].T, cases[i].seed, cases[i].shuffle);
        fp8lab_clear_error();
        assert_int_equal(fp8lab_loader_pos_from_json(&b, j, "pos.json"), -1);
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
        if (!strstr(fp8lab_last_error(), cases[i].msg) || !strstr(fp8lab_last_error(), "pos.json"))
            fail_msg("%s", fp8lab_last_error());
        fp8lab_loader_close(&b);
    }
    /* out of range values */
    open_loader(&b, 2, 6, 5, 1);
    cJSON_ReplaceItemInObject(j, "shard", cJSON_CreateNumber(4));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_pos_from_json(&b, j, "pos.json"), -1);
    assert_non_null(strstr(fp8lab_last_error(), "shard"));
    cJSON_ReplaceItemInObject(j, "shard", cJSON_CreateNumber(0));
    cJSON_ReplaceItemInObject(j, "sample", cJSON_CreateNumber(1000));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_pos_from_json(&b, j, "pos.json"), -1);
    assert_non_null(strstr(fp8lab_last_error(), "sample 1000 is not in [0, "));
    cJSON_ReplaceItemInObject(j, "sample", cJSON_CreateNumber(1.5));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_pos_from_json(&b, j, "pos.json"), -1);
    assert_int_equal(fp8lab_loader_set_pos(&b, (fp8lab_loader_pos){-1, 0, 0}), -1);
    assert_int_equal(fp8lab_loader_set_pos(&b, (fp8lab_loader_pos){0, 0, 0}), 0);
    cJSON_Delete(j);
    fp8lab_loader_close(&a), fp8lab_loader_close(&b);
    /* opening: T too large for a shard, a pattern with no match, bad B/T/seed */
    char pat[600];
    snprintf(pat, sizeof pat, "%s/ld_*.bin", g_dir);
    const char *paths[] = {pat};
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 1, 40, 1 << 20, 0, 1), -1);
    assert_non_null(strstr(fp8lab_last_error(), "ld_000003.bin: header[2] (token count) = 33, fewer than T + 1 = 41"));
    snprintf(pat, sizeof pat, "%s/nothing_*.bin", g_dir);
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 1, 4, 1 << 20, 0, 1), -1);
    assert_non_null(strstr(fp8lab_last_error(), "no file matches this pattern"));
    snprintf(pat, sizeof pat, "%s/ld_*.bin", g_dir);
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 0, 4, 1 << 20, 0, 1), -1);
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 1, 0, 1 << 20, 0, 1), -1);
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 1, 4, 1 << 20, 1ull << 60, 1), -1);
    fp8lab_clear_error();
    assert_int_equal(fp8lab_loader_open(&a, paths, 1, 1, 4, 400, 0, 1), -1); /* ids reach 420 */
    assert_non_null(strstr(fp8lab_last_error(), "ld_000003.bin: token 12 = 400, expected a token id < 400"));
    /* explicit paths, in the order given */
    const char *two[] = {at("ld_000002.bin"), at("ld_000000.bin")};
    assert_int_equal(fp8lab_loader_open(&a, two, 2, 1, 4, 1 << 20, 0, 0), 0);
    int32_t in[4], tg[4];
    assert_int_equal(fp8lab_loader_next(&a, in, tg), 0);
    assert_int_equal(in[0], 158);
    fp8lab_loader_close(&a);
}

static void eval_rows(void **st) {
    (void)st;
    make_shards("ev", 2, (const int64_t[]){33, 17}); /* T = 8: rows (33-1)/8 = 4 and (17-1)/8 = 2 */
    const char *paths[] = {at("ev_000000.bin"), at("ev_000001.bin")};
    fp8lab_loader L;
    assert_int_equal(fp8lab_loader_open(&L, paths, 2, 4, 8, 0, 9, 1), 0);
    assert_int_equal(fp8lab_eval_rows(33, 8), 4);
    assert_int_equal(fp8lab_eval_rows(32, 8), 3); /* (i+1)*T + 1 <= n */
    assert_int_equal(fp8lab_eval_rows(8, 8), 0);
    fp8lab_eval_pos it = {0, 0};
    int32_t in[8], tg[8];
    const int32_t starts[] = {0, 8, 16, 24, 33, 41};
    int n = 0;
    while (fp8lab_loader_eval_next(&L, &it, in, tg)) {
        assert_true(n < 6);
        for (int t = 0; t < 8; t++) {
            assert_int_equal(in[t], starts[n] + t);
            assert_int_equal(tg[t], starts[n] + t + 1);
        }
        n++;
    }
    assert_int_equal(n, 6);
    assert_int_equal(fp8lab_loader_eval_next(&L, &it, in, tg), 0);
    /* batches of B = 4: 4 rows, then 2, then none; the shuffled training position is untouched */
    int32_t bi[32], bt[32];
    it = (fp8lab_eval_pos){0, 0};
    assert_int_equal(fp8lab_loader_eval_batch(&L, &it, bi, bt), 4);
    assert_int_equal(bi[31], 31);
    assert_int_equal(fp8lab_loader_eval_batch(&L, &it, bi, bt), 2);
    assert_int_equal(bi[0], 33);
    assert_int_equal(bt[15], 49);
    assert_int_equal(fp8lab_loader_eval_batch(&L, &it, bi, bt), 0);
    assert_int_equal(L.pos.epoch, 0);
    assert_int_equal(L.pos.sample, 0);
    /* a data-parallel rank's part of each batch (rows 2 and 3): the whole batch's rows 2..3, then none of the
       short second batch, whose 2 rows it still moves past */
    int32_t pi[16] = {0}, pt[16] = {0};
    it = (fp8lab_eval_pos){0, 0};
    assert_int_equal(fp8lab_loader_eval_part(&L, &it, 2, 2, pi, pt), 4);
    for (int i = 0; i < 16; i++) assert_true(pi[i] == 16 + i && pt[i] == 17 + i);
    pi[0] = -1;
    assert_int_equal(fp8lab_loader_eval_part(&L, &it, 2, 2, pi, pt), 2);
    assert_int_equal(pi[0], -1);
    assert_int_equal(fp8lab_loader_eval_part(&L, &it, 2, 2, pi, pt), 0);
    fp8lab_loader_close(&L);
}

/* ---- building ---------------------------------------------------------------------------------------------- */

static uint8_t *read_split(const char *dir, const char *split, int64_t *n) {
    char pat[700];
    snprintf(pat, sizeof pat, "%s/data_%s_*.bin", dir, split);
    const char *paths[] = {pat};
    fp8lab_loader L;
    fp8lab_clear_error();
    if (fp8lab_loader_open(&L, paths, 1, 1, 1, 256, 0, 0)) fail_msg("%s", fp8lab_last_error());
    uint8_t *out = malloc((size_t)L.total_tokens);
    *n = 0;
    for (int k = 0; k < L.nshards; k++) {
        assert_int_equal(L.shards[k].magic, 20240520);
        assert_int_equal(L.shards[k].version, 1);
        for (int64_t i = 0; i < L.shards[k].ntok; i++) out[(*n)++] = (uint8_t)fp8lab_shard_token(&L.shards[k], i);
    }
    fp8lab_loader_close(&L);
    return out;
}

static void build_text(void **st) {
    (void)st;
    uint8_t text[5000];
    for (int i = 0; i < 5000; i++) text[i] = (uint8_t)((i * 7919) % 251 + (i % 3));
    put_bytes(at("a.txt"), text, 3000);
    put_bytes(at("b.txt"), text + 3000, 2000);
    const char *files[] = {at("a.txt"), at("b.txt")};
    fp8lab_data_build_info bi;
    const char *out = at("built/nested");
    assert_int_equal(fp8lab_data_build(files, 2, out, 0.1, 1000, 16, &bi), 0);
    assert_int_equal(bi.text_bytes, 5000);
    assert_int_equal(bi.val_tokens, 500);
    assert_int_equal(bi.train_tokens, 4500);
    assert_int_equal(bi.train_shards, 5);
    assert_int_equal(bi.val_shards, 1);
    int64_t nt, nv;
    uint8_t *tr = read_split(out, "train", &nt), *va = read_split(out, "val", &nv);
    assert_int_equal(nt, 4500);
    assert_int_equal(nv, 500);
    assert_memory_equal(tr, text, 4500);
    assert_memory_equal(va, text + 4500, 500);
    free(tr), free(va);
    /* rebuilt with fewer shards: the old higher-numbered ones go */
    assert_int_equal(fp8lab_data_build(files, 2, out, 0.25, 3000, 16, &bi), 0);
    assert_int_equal(bi.train_shards, 2);
    assert_int_equal(bi.val_shards, 1);
    assert_int_equal(bi.removed, 3);
    assert_int_equal(access(at("built/nested/data_train_000002.bin"), F_OK), -1);
    tr = read_split(out, "train", &nt);
    assert_int_equal(nt, 3750);
    assert_memory_equal(tr, text, 3750);
    free(tr);
    /* a split shorter than seq_len + 1 */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(files, 2, out, 0.01, 1000, 64, &bi), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), "the validation split holds 50 tokens, fewer than seq_len + 1 = 65"));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(files, 2, out, 0.5, 40, 39, &bi), -1);
    assert_non_null(strstr(fp8lab_last_error(), "use a larger --shard-tokens"));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(files, 2, out, 0.6, 1000, 16, &bi), -1);
    assert_non_null(strstr(fp8lab_last_error(), "val_fraction 0.6 is not in (0, 0.5]"));
    /* inputs that cannot be read, an output that is not a folder, no text */
    const char *missing[] = {at("nope.txt")};
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(missing, 1, out, 0.1, 1000, 16, &bi), -1);
    assert_non_null(strstr(fp8lab_last_error(), "nope.txt: cannot open"));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(files, 2, at("a.txt"), 0.1, 1000, 16, &bi), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    put_bytes(at("empty.txt"), "", 0);
    const char *empty[] = {at("empty.txt")};
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_build(empty, 1, out, 0.1, 1000, 16, &bi), -1);
    assert_non_null(strstr(fp8lab_last_error(), "no text"));
}

static void builtin_corpus(void **st) {
    (void)st;
    /* a stand-in for /usr/share/games/fortunes: text files, a .dat index and a symbolic link (both skipped) */
    const char *src = at("fortunes");
    assert_int_equal(mkdir(src, 0755), 0);
    static char text[12000];
    for (int i = 0; i < 12000; i++) text[i] = (char)('a' + i % 26);
    put_bytes(at("fortunes/b"), text, 12000);
    put_bytes(at("fortunes/a"), "%\nA fortune.\n%\n", 15);
    put_bytes(at("fortunes/a.dat"), "\x01\x02\xff", 3);
    assert_int_equal(symlink("a", at("fortunes/a.u8")), 0);
    char train[1024], val[1024];
    int built = -1;
    const char *cache = at("cache [1]"); /* glob characters in the folder name */
    fp8lab_clear_error();
    if (fp8lab_data_builtin(cache, src, train, val, sizeof train, &built)) fail_msg("%s", fp8lab_last_error());
    assert_int_equal(built, 1);
    assert_non_null(strstr(train, "cache \\[1\\]/data_train_*.bin"));
    const char *paths[] = {train};
    fp8lab_loader L;
    assert_int_equal(fp8lab_loader_open(&L, paths, 1, 1, 64, 256, 0, 0), 0);
    assert_int_equal(L.total_tokens, 12015 - 1202); /* "a" then "b": 10 % (rounded up) for validation */
    assert_int_equal(fp8lab_shard_token(&L.shards[0], 0), '%');
    fp8lab_loader_close(&L);
    paths[0] = val;
    assert_int_equal(fp8lab_loader_open(&L, paths, 1, 1, 64, 256, 0, 0), 0);
    assert_int_equal(L.total_tokens, 1202);
    fp8lab_loader_close(&L);
    /* cached the second time, even without the source */
    assert_int_equal(fp8lab_data_builtin(cache, at("gone"), train, val, sizeof train, &built), 0);
    assert_int_equal(built, 0);
    /* no source: the message names the package */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_data_builtin(at("cache2"), at("gone"), train, val, sizeof train, &built), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), "apt-get install fortunes"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_u16),
        cmocka_unit_test(round_trip_u32),
        cmocka_unit_test(bad_headers_refused),
        cmocka_unit_test(loader_rows_are_llmc_rows),
        cmocka_unit_test(loader_shuffle_covers_each_row_once),
        cmocka_unit_test(loader_parts_are_slices),
        cmocka_unit_test(loader_deterministic),
        cmocka_unit_test(loader_resume),
        cmocka_unit_test(loader_position_checked),
        cmocka_unit_test(eval_rows),
        cmocka_unit_test(build_text),
        cmocka_unit_test(builtin_corpus),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
