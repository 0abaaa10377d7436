/* Split-invariant gradients (nn/grad_sink.h, core/exact_sum.h), on the CPU backend:
     - the fused FP32 Wgrad (fp8lab_matmul_f32_exact) equals a GEMM and an exact add per block, to the bit;
     - exact sums: 20000 floats over 50 binades, both signs, added one by one forwards, backwards and as four
       groups whose planes are then added (as ranks' planes are) give the same two doubles and the same float,
       which is the long-double sum rounded once (within 1 float ulp of it: the planes drop bits below 2^-60);
     - a model's gradient of a 256- or 512-token batch, made in one backward, equals to the bit the planes of the
       same rows cut into whole 128-token blocks (two halves; one block and three) with each part's backward
       dividing by the whole batch's positions, then added: fp32, bf16 and fp8-block recipes, GPT-2 (tied head,
       learned positions, LayerNorm, biases) and Llama (grouped-query attention, RMSNorm, untied head);
     - exact sums compute the same gradient as the plain accumulation (1e-5 relative on the norm of the
       difference, fp32: the plain sums round at every step);
     - every backward reports layers + 2 segments to fp8lab_gpt_set_grad_ready, in decreasing order, tiling the
       buffer, with or without exact sums and also when no position has a target;
     - fp8-tensor takes one amax over the whole local batch, so there a split changes the gradient (documented,
       not asserted to the bit): the parts still sum to within 15 % of the whole (E5M2 gradients carry 2 mantissa
       bits: measured 6.5 %). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "backend/gemm_ops.h"
#include "core/error.h"
#include "core/exact_sum.h"
#include "core/rng.h"
#include "model/config.h"
#include "nn/model.h"
#include "model_fixture.h"

static fp8lab_backend *be;

static const char GPT2_TINY[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 96, \"n_embd\": 64, \"n_layer\": 2, "
                                "\"n_head\": 4, \"n_positions\": 64, \"layer_norm_epsilon\": 1e-5, "
                                "\"tie_word_embeddings\": true}";

static int setup(void **st) {
    (void)st;
    be = fp8lab_backend_create("cpu");
    return be ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    fp8lab_backend_destroy(be);
    return 0;
}

/* ---- exact sums ----------------------------------------------------------------------------------------------- */

enum { NV = 20000 };

static void exact_sums_ignore_order(void **st) {
    (void)st;
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 7);
    float *x = malloc(sizeof(float) * NV);
    long double ref = 0;
    for (int i = 0; i < NV; i++) {
        const double mag = pow(2.0, -40.0 + 50.0 * fp8lab_rng_uniform(&r)); /* 2^-40 .. 2^10 */
        x[i] = (float)(fp8lab_rng_uniform(&r) < 0.5 ? -mag : mag);
        ref += x[i];
    }
    double fh = 0, fl = 0, bh = 0, bl = 0, gh[4] = {0}, gl[4] = {0};
    for (int i = 0; i < NV; i++) fp8lab_exact_add(&fh, &fl, &x[i], 1);
    for (int i = NV - 1; i >= 0; i--) fp8lab_exact_add(&bh, &bl, &x[i], 1);
    for (int i = 0; i < NV; i++) fp8lab_exact_add(&gh[i % 4], &gl[i % 4], &x[i], 1);
    const double ghs = (gh[3] + gh[1]) + (gh[0] + gh[2]), gls = (gl[2] + gl[3]) + (gl[1] + gl[0]);
    assert_true(fh == bh && fl == bl);
    assert_true(fh == ghs && fl == gls);
    assert_true(fp8lab_exact_check(&fh, 1));
    float f;
    fp8lab_exact_get(&f, &fh, &fl, 1);
    const float want = (float)ref;
    printf("exact sum of %d floats: %.9g, long double %.9Lg\n", NV, (double)f, ref);
    assert_true(fabsf(f - want) <= ldexpf(1.0f, ilogbf(want) - 23));
    /* vector form: planes of a batch of rows, added row by row, equal the planes added at once */
    double h2[8] = {0}, l2[8] = {0}, h3[8] = {0}, l3[8] = {0};
    for (int i = 0; i + 8 <= 64; i += 8) fp8lab_exact_add(h2, l2, x + i, 8);
    for (int i = 56; i >= 0; i -= 8) fp8lab_exact_add(h3, l3, x + i, 8);
    assert_memory_equal(h2, h3, sizeof h2);
    assert_memory_equal(l2, l3, sizeof l2);
    free(x);
}

/* The fused Wgrad of the sink (fp8lab_matmul_f32_exact): the planes equal, to the bit, one matmul_f32 per 128-row
   block followed by an exact add (the form it replaces); their float is within 1e-5 relative (Frobenius) of the
   fp64 product; the serial many-leaf add equals one add per leaf, above and below the parallel threshold. Shapes
   with partial tiles (200 = 128 + 72 rows, 300 = 256 + 44 columns) and a partial last block (300 = 2 x 128 + 44). */
static void exact_matmul_blocks(void **st) {
    (void)st;
    enum { M = 200, N = 300, K = 300, BLK = 128 };
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 3);
    float *a = malloc(sizeof(float) * K * M), *b = malloc(sizeof(float) * K * N), *leaf = malloc(sizeof(float) * M * N);
    double *p[4];
    for (int i = 0; i < 4; i++) p[i] = calloc((size_t)M * N, sizeof(double));
    for (int i = 0; i < K * M; i++) a[i] = (float)(fp8lab_rng_uniform(&r) - 0.5);
    for (int i = 0; i < K * N; i++) b[i] = (float)(fp8lab_rng_uniform(&r) - 0.5);
    if (fp8lab_matmul_f32_exact(be, M, N, K, BLK, a, b, p[0], p[1])) fail_msg("%s", fp8lab_last_error());
    for (int k0 = 0; k0 < K; k0 += BLK) {
        const int kb = K - k0 < BLK ? K - k0 : BLK;
        assert_int_equal(fp8lab_matmul_f32(be, FP8LAB_OP_T, FP8LAB_OP_N, M, N, kb, 1.0f, a + (size_t)k0 * M,
                                           b + (size_t)k0 * N, 0.0f, leaf), 0);
        fp8lab_exact_add(p[2], p[3], leaf, (size_t)M * N);
    }
    assert_memory_equal(p[0], p[2], sizeof(double) * M * N);
    assert_memory_equal(p[1], p[3], sizeof(double) * M * N);
    double err = 0, norm = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0;
            for (int k = 0; k < K; k++) ref += (double)a[(size_t)k * M + i] * b[(size_t)k * N + j];
            const double got = p[0][(size_t)i * N + j] + p[1][(size_t)i * N + j];
            err += (got - ref) * (got - ref), norm += ref * ref;
        }
    printf("matmul_f32_exact %dx%dx%d in blocks of %d: relative error %.2e against fp64\n", M, N, K, BLK,
           sqrt(err / norm));
    assert_true(sqrt(err / norm) <= 1e-5);
    /* many leaves at once, serial, against one parallel add per leaf (M * N = 60000 floats: above 2^14) */
    memset(p[0], 0, sizeof(double) * M * N), memset(p[1], 0, sizeof(double) * M * N);
    memset(p[2], 0, sizeof(double) * M * N), memset(p[3], 0, sizeof(double) * M * N);
    fp8lab_exact_add_many(p[0], p[1], a, (size_t)M * N, K * M / (M * N), (size_t)M * N);
    for (int j = 0; j < K * M / (M * N); j++) fp8lab_exact_add(p[2], p[3], a + (size_t)j * M * N, (size_t)M * N);
    assert_memory_equal(p[0], p[2], sizeof(double) * M * N);
    assert_memory_equal(p[1], p[3], sizeof(double) * M * N);
    /* a backend without the op says so */
    fp8lab_clear_error();
    assert_int_equal(fp8lab_matmul_f32_exact(NULL, M, N, K, BLK, a, b, p[0], p[1]), -1);
    assert_non_null(strstr(fp8lab_last_error(), "matmul_f32_exact"));
    fp8lab_clear_error();
    assert_int_equal(fp8lab_matmul_f32_exact(be, M, N, K, 0, a, b, p[0], p[1]), -1);
    assert_non_null(strstr(fp8lab_last_error(), "block"));
    fp8lab_clear_error();
    for (int i = 0; i < 4; i++) free(p[i]);
    free(a), free(b), free(leaf);
}

/* ---- split batches ----------------------------------------------------------------------------------------------- */

static fp8lab_gpt *create(const char *json, fp8lab_recipe rec, int exact) {
    fp8lab_gpt *g = fixture_gpt(be, json, 11);
    if (fp8lab_gpt_set_recipe(g, rec) || fp8lab_gpt_set_exact_grads(g, exact)) fail_msg("model: %s", fp8lab_last_error());
    return g;
}

typedef struct {
    const char *json;
    int V, T, B; /* B x T tokens in all */
} case_t;

static void batch(const case_t *c, int32_t *tok, int32_t *tgt) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 3);
    for (int i = 0; i < c->B * c->T; i++) {
        tok[i] = (int32_t)(fp8lab_rng_u64(&r) % (uint64_t)c->V);
        tgt[i] = (int32_t)(fp8lab_rng_u64(&r) % (uint64_t)c->V);
    }
}

static void one_backward(fp8lab_gpt *g, const int32_t *tok, const int32_t *tgt, int B, int T, int64_t positions) {
    float loss;
    if (fp8lab_gpt_forward(g, tok, tgt, B, T, &loss) || fp8lab_gpt_backward_over(g, positions))
        fail_msg("forward/backward: %s", fp8lab_last_error());
}

/* The gradient of the whole batch against its parts' planes added: floats that differ */
static long split_differs(const case_t *c, fp8lab_recipe rec, const int *parts, int nparts, double *rel) {
    const int N = c->B * c->T;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)N), *tgt = malloc(sizeof(int32_t) * (size_t)N);
    batch(c, tok, tgt);
    fp8lab_gpt *whole = create(c->json, rec, 1), *part = create(c->json, rec, 1);
    const int64_t F = fp8lab_gpt_buffer_floats(whole);
    assert_int_equal(fp8lab_gpt_zero_grad(whole), 0);
    one_backward(whole, tok, tgt, c->B, c->T, 0);
    double *hs = calloc((size_t)F, sizeof(double)), *ls = calloc((size_t)F, sizeof(double)), *h, *l;
    int row = 0;
    for (int p = 0; p < nparts; p++) { /* parts[p] sequences each */
        assert_int_equal(fp8lab_gpt_zero_grad(part), 0);
        one_backward(part, tok + (size_t)row * c->T, tgt + (size_t)row * c->T, parts[p], c->T, N);
        assert_int_equal(fp8lab_gpt_exact_planes(part, &h, &l), 1);
        for (int64_t i = 0; i < F; i++) hs[i] += h[i], ls[i] += l[i];
        row += parts[p];
    }
    assert_int_equal(row, c->B);
    float *gs = malloc(sizeof(float) * (size_t)F);
    fp8lab_exact_get(gs, hs, ls, (size_t)F);
    const float *g = fp8lab_gpt_grads(whole);
    long bad = 0;
    double d2 = 0, n2 = 0;
    for (int64_t i = 0; i < F; i++) {
        bad += memcmp(&g[i], &gs[i], sizeof(float)) != 0;
        d2 += ((double)g[i] - gs[i]) * ((double)g[i] - gs[i]);
        n2 += (double)g[i] * g[i];
    }
    *rel = sqrt(d2 / n2);
    fp8lab_gpt_destroy(whole);
    fp8lab_gpt_destroy(part);
    free(tok), free(tgt), free(hs), free(ls), free(gs);
    return bad;
}

static const case_t GPT2 = {GPT2_TINY, 96, 32, 16}, LLAMA = {LLAMA_TINY, 64, 16, 32};

static void split_bits(const case_t *c, const char *name) {
    const fp8lab_recipe recs[] = {FP8LAB_RECIPE_FP32, FP8LAB_RECIPE_BF16, FP8LAB_RECIPE_FP8_BLOCK};
    const int tpb = 128 / c->T; /* sequences per 128-token block */
    const int halves[] = {c->B / 2, c->B / 2}, uneven[] = {tpb, c->B - tpb};
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++) {
        double rel;
        const long a = split_differs(c, recs[i], halves, 2, &rel), b = split_differs(c, recs[i], uneven, 2, &rel);
        printf("%s %s: %d tokens split in halves: %ld floats differ; as 1 + %d blocks: %ld\n", name,
               fp8lab_recipe_name(recs[i]), c->B * c->T, a, c->B / tpb - 1, b);
        assert_int_equal(a, 0);
        assert_int_equal(b, 0);
    }
}

static void gpt2_split_invariant(void **st) {
    (void)st;
    split_bits(&GPT2, "gpt2");
}

static void llama_split_invariant(void **st) {
    (void)st;
    split_bits(&LLAMA, "llama");
}

static void exact_equals_plain(void **st) {
    (void)st;
    const case_t *c = &GPT2;
    const int N = c->B * c->T;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)N), *tgt = malloc(sizeof(int32_t) * (size_t)N);
    batch(c, tok, tgt);
    fp8lab_gpt *x = create(c->json, FP8LAB_RECIPE_FP32, 1), *p = create(c->json, FP8LAB_RECIPE_FP32, 0);
    assert_int_equal(fp8lab_gpt_exact_planes(p, NULL, NULL), 0);
    for (int rep = 0; rep < 2; rep++) { /* micro-batches accumulate in both */
        one_backward(x, tok, tgt, c->B, c->T, 0);
        one_backward(p, tok, tgt, c->B, c->T, 0);
    }
    const float *a = fp8lab_gpt_grads(x), *b = fp8lab_gpt_grads(p);
    double d2 = 0, n2 = 0;
    for (int64_t i = 0; i < fp8lab_gpt_buffer_floats(x); i++) {
        d2 += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        n2 += (double)b[i] * b[i];
    }
    printf("exact against plain accumulation (fp32, 2 micro-batches): %.3g relative\n", sqrt(d2 / n2));
    assert_true(sqrt(d2 / n2) < 1e-5);
    fp8lab_gpt_destroy(x);
    fp8lab_gpt_destroy(p);
    free(tok), free(tgt);
}

static void fp8_tensor_split_close(void **st) {
    (void)st;
    const int halves[] = {GPT2.B / 2, GPT2.B / 2};
    double rel;
    const long bad = split_differs(&GPT2, FP8LAB_RECIPE_FP8_TENSOR, halves, 2, &rel);
    printf("gpt2 fp8-tensor split in halves: %ld floats differ, %.3g relative (one amax per part)\n", bad, rel);
    assert_true(rel < 0.15);
}

/* The segments a backward reports (fp8lab_gpt_set_grad_ready: train/dp.h starts its buckets there): layers + 2 of
   them, in decreasing order, tiling the buffer; also when no position has a target (every rank must start the same
   all-reduces) */
typedef struct {
    int n;
    int64_t lo, hi;
    int ordered;
} seg_log;

static int on_segment(void *ctx, int64_t begin, int64_t end) {
    seg_log *l = ctx;
    l->ordered &= l->n == 0 ? 1 : end == l->lo;
    if (l->n == 0) l->hi = end;
    l->lo = begin, l->n++;
    return 0;
}

static void segments_tile_the_buffer(void **st) {
    (void)st;
    const case_t *c = &GPT2;
    const int N = c->B * c->T;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)N), *tgt = malloc(sizeof(int32_t) * (size_t)N);
    for (int exact = 0; exact <= 1; exact++)
        for (int none = 0; none <= 1; none++) {
            fp8lab_gpt *g = create(c->json, FP8LAB_RECIPE_FP32, exact);
            seg_log l = {.ordered = 1};
            fp8lab_gpt_set_grad_ready(g, on_segment, &l);
            batch(c, tok, tgt);
            if (none)
                for (int i = 0; i < N; i++) tgt[i] = -1;
            one_backward(g, tok, tgt, c->B, c->T, 0);
            assert_int_equal(l.n, fp8lab_gpt_config(g)->layers + 2);
            assert_true(l.ordered);
            assert_int_equal(l.lo, 0);
            assert_int_equal(l.hi, fp8lab_gpt_buffer_floats(g));
            fp8lab_gpt_destroy(g);
        }
    free(tok), free(tgt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_sums_ignore_order),
        cmocka_unit_test(exact_matmul_blocks),
        cmocka_unit_test(gpt2_split_invariant),
        cmocka_unit_test(llama_split_invariant),
        cmocka_unit_test(exact_equals_plain),
        cmocka_unit_test(fp8_tensor_split_close),
        cmocka_unit_test(segments_tile_the_buffer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
