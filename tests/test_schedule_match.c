/* One op schedule for the trainer and the simulator (sim/schedule.h): for a small GPT-2 and a small Llama (GQA)
   config, under the fp32, bf16, fp8-tensor, fp8-tensor-delayed and fp8-block recipes, one training step
   (zero_grad, forward, backward, AdamW) runs on the CPU backend through the recording backend
   (backend/record.h), and
   - the GEMMs it issues, as a multiset of (pass, m, n, k, precision), equal the GEMMs of the schedule the
     simulator builds for the same config, B, T, tp = ep = 1 and precision (embedding + layers x block + head,
     each op `count` times). Passes come from when a GEMM was called: forward F; in the backward, a GEMM whose
     inner dimension k is the token count is a Wgrad (W), one whose m is the token count a Dgrad (B); the token
     count (256) is none of the widths, so the two cannot be confused. A Wgrad's m and n are compared as an
     unordered pair (GPT-2 stores weights [in][out] and computes dW^T, the same GEMM with its operands swapped).
     Precision: the front called (matmul_f32 FP32, gemm_bf16 BF16, gemm_fp8_* FP8, and the FP8 ones all of the
     recipe's scaling); the output head BF16, FP32 under the fp32 recipe, on both sides;
   - attention: one attn_fwd per block in the forward and one attn_bwd in the backward, as the schedule's
     attn.core F and B ops, with the same FLOPs (the schedule's count from the model config, the recorded one
     from the shape the trainer passed);
   - the optimizer issues no GEMM;
   - the recorder's per-kind totals equal the sums over its log, and an op the inner backend lacks is reported
     as the fronts report it ("not implemented by backend cpu"). */
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
#include "backend/record.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/config.h"
#include "nn/model.h"
#include "model_fixture.h"
#include "sim/schedule.h"

enum { B = 2, T = 128, NTOK = B * T };
enum { PH_FWD = 1, PH_BWD = 2, PH_OPT = 3 };

/* widths multiples of 128 (fp8-block), none equal to the 256 tokens: GPT-2 128, 384 (qkv), 512 (MLP), vocab 384;
   Llama 384, 128 (k, v: 1 of 3 heads of 128), 1024 (gate_up), 512 (MLP), vocab 384 */
static const char GPT2[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 384, \"n_embd\": 128, \"n_layer\": 2, "
                           "\"n_head\": 2, \"n_positions\": 128}";
static const char LLAMA[] = "{\"model_type\": \"llama\", \"vocab_size\": 384, \"hidden_size\": 384, "
                            "\"intermediate_size\": 512, \"num_hidden_layers\": 2, \"num_attention_heads\": 3, "
                            "\"num_key_value_heads\": 1, \"max_position_embeddings\": 128, \"rope_theta\": 10000}";

/* one GEMM (or attention op: m = n = k = 0) and how many times it occurs */
typedef struct {
    int attn;
    fp8lab_pass pass;
    fp8lab_prec prec;
    long m, n, k;
    double count, flops;
} key;

typedef struct {
    key *k;
    int n, cap;
} keys;

static void push(keys *s, key k) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->k = realloc(s->k, sizeof *s->k * (size_t)s->cap);
        assert_non_null(s->k);
    }
    if (!k.attn && k.pass == FP8LAB_PASS_W && k.m < k.n) { /* the unordered pair */
        const long t = k.m;
        k.m = k.n;
        k.n = t;
    }
    s->k[s->n++] = k;
}

static int cmp_key(const void *a, const void *b) {
    const key *x = a, *y = b;
    const long dx[6] = {x->attn, x->pass, x->prec, x->m, x->n, x->k};
    const long dy[6] = {y->attn, y->pass, y->prec, y->m, y->n, y->k};
    for (int i = 0; i < 6; i++)
        if (dx[i] != dy[i]) return dx[i] < dy[i] ? -1 : 1;
    return 0;
}

/* sorts and merges equal keys (counts and FLOPs added) */
static void merge(keys *s) {
    qsort(s->k, (size_t)s->n, sizeof *s->k, cmp_key);
    int w = 0;
    for (int i = 0; i < s->n; i++) {
        if (w && !cmp_key(&s->k[w - 1], &s->k[i])) {
            s->k[w - 1].count += s->k[i].count;
            s->k[w - 1].flops += s->k[i].flops;
        } else {
            s->k[w++] = s->k[i];
        }
    }
    s->n = w;
}

static void print_key(const char *side, const key *k) {
    if (k->attn)
        printf("  %s: attention pass %s x %g (%.6g FLOPs)\n", side, fp8lab_pass_name(k->pass), k->count, k->flops);
    else
        printf("  %s: GEMM pass %s %s m %ld n %ld k %ld x %g\n", side, fp8lab_pass_name(k->pass),
               fp8lab_prec_name(k->prec), k->m, k->n, k->k, k->count);
}

/* ---- the two sides ---------------------------------------------------------------------------------------- */

static void schedule_side(const fp8lab_model *m, fp8lab_prec prec, keys *out) {
    const fp8lab_sched_opts o = {.micro_batch = B, .seq = T, .tp = 1, .ep = 1, .prec = prec,
                                 .recompute = FP8LAB_RECOMPUTE_NONE};
    const struct {
        fp8lab_layer_kind kind;
        long times;
    } units[] = {{FP8LAB_LAYER_EMBED, 1}, {FP8LAB_LAYER_DENSE, m->layers}, {FP8LAB_LAYER_HEAD, 1}};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        fp8lab_schedule s = {0};
        assert_int_equal(fp8lab_schedule_layer(&s, m, &o, units[u].kind), 0);
        for (int i = 0; i < s.n; i++) {
            const fp8lab_op *op = &s.ops[i];
            const double c = op->count * (double)units[u].times;
            if (op->kind == FP8LAB_OP_GEMM)
                push(out, (key){.pass = op->pass, .prec = op->dtype, .m = (long)op->m, .n = (long)op->n,
                                .k = (long)op->k, .count = c});
            else if (op->kind == FP8LAB_OP_ATTN)
                push(out, (key){.attn = 1, .pass = op->pass, .count = c, .flops = op->flops * c});
        }
        fp8lab_schedule_free(&s);
    }
}

static fp8lab_prec prec_of(fp8lab_rec_prec p) {
    return p == FP8LAB_REC_F32 ? FP8LAB_PREC_FP32 : p == FP8LAB_REC_BF16 ? FP8LAB_PREC_BF16 : FP8LAB_PREC_FP8;
}

/* the recorded calls; *fp8_kinds gets a bit per FP8 GEMM front seen (1 tensor, 2 block) */
static void trainer_side(const fp8lab_rec_op *ops, int n, keys *out, int *fp8_kinds) {
    *fp8_kinds = 0;
    for (int i = 0; i < n; i++) {
        const fp8lab_rec_op *op = &ops[i];
        if (op->kind == FP8LAB_REC_ATTN) {
            assert_true(op->phase == PH_FWD || op->phase == PH_BWD);
            assert_int_equal(!strcmp(op->name, "attn_bwd"), op->phase == PH_BWD);
            push(out, (key){.attn = 1, .pass = op->phase == PH_FWD ? FP8LAB_PASS_F : FP8LAB_PASS_B, .count = 1,
                            .flops = op->flops});
            continue;
        }
        if (op->kind != FP8LAB_REC_GEMM) continue;
        if (op->phase != PH_FWD && op->phase != PH_BWD) fail_msg("%s outside forward and backward", op->name);
        fp8lab_pass pass = FP8LAB_PASS_F;
        if (op->phase == PH_BWD) {
            if (op->k == NTOK) pass = FP8LAB_PASS_W;
            else if (op->m == NTOK) pass = FP8LAB_PASS_B;
            else fail_msg("backward GEMM %s %dx%dx%d is neither a Dgrad nor a Wgrad", op->name, op->m, op->n, op->k);
        } else if (op->m != NTOK) {
            fail_msg("forward GEMM %s %dx%dx%d: m is not the token count", op->name, op->m, op->n, op->k);
        }
        *fp8_kinds |= op->prec == FP8LAB_REC_FP8_TENSOR ? 1 : op->prec == FP8LAB_REC_FP8_BLOCK ? 2 : 0;
        push(out, (key){.pass = pass, .prec = prec_of(op->prec), .m = op->m, .n = op->n, .k = op->k, .count = 1});
    }
}

/* ---- one training step through the recorder ----------------------------------------------------------------- */

static void check_match(const char *json, fp8lab_recipe recipe) {
    const fp8lab_model m = fixture_model(json);
    fp8lab_backend *be = fp8lab_record_create(fp8lab_cpu_backend_create(), &(fp8lab_record_opts){.log = 1});
    assert_non_null(be);
    assert_string_equal(be->name, "cpu");
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, 11);
    if (!g || fp8lab_gpt_set_recipe(g, recipe)) fail_msg("model: %s", fp8lab_last_error());
    static int32_t tok[NTOK], tgt[NTOK];
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 3);
    for (int i = 0; i < NTOK; i++) {
        tok[i] = (int32_t)(fp8lab_rng_u32(&r) % (uint32_t)m.vocab);
        tgt[i] = (int32_t)(fp8lab_rng_u32(&r) % (uint32_t)m.vocab);
    }
    fp8lab_record_reset(be); /* model creation and initialisation are not part of the step */
    float loss = 0, norm = 0;
    fp8lab_record_set_phase(be, PH_FWD);
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    if (fp8lab_gpt_forward(g, tok, tgt, B, T, &loss)) fail_msg("forward: %s", fp8lab_last_error());
    fp8lab_record_set_phase(be, PH_BWD);
    if (fp8lab_gpt_backward(g)) fail_msg("backward: %s", fp8lab_last_error());
    fp8lab_record_set_phase(be, PH_OPT);
    const fp8lab_adamw_args a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                                 .step = 1, .grad_scale = 1, .moments = FP8LAB_MOMENTS_BF16};
    assert_int_equal(fp8lab_gpt_step(g, &a, 1.0f, &norm), 0);
    assert_true(isfinite(loss) && loss > 0 && isfinite(norm) && norm > 0);

    int n = 0;
    const fp8lab_rec_op *ops = fp8lab_record_log(be, &n);
    assert_non_null(ops);
    keys got = {0}, want = {0};
    int fp8_kinds = 0;
    trainer_side(ops, n, &got, &fp8_kinds);
    const fp8lab_prec prec = recipe == FP8LAB_RECIPE_FP32   ? FP8LAB_PREC_FP32
                             : recipe == FP8LAB_RECIPE_BF16 ? FP8LAB_PREC_BF16
                                                            : FP8LAB_PREC_FP8;
    schedule_side(&m, prec, &want);
    const int per_tensor = recipe == FP8LAB_RECIPE_FP8_TENSOR || recipe == FP8LAB_RECIPE_FP8_TENSOR_DELAYED;
    assert_int_equal(fp8_kinds, recipe == FP8LAB_RECIPE_FP8_BLOCK ? 2 : per_tensor ? 1 : 0);
    merge(&got);
    merge(&want);
    int bad = 0;
    for (int i = 0, k = 0; i < got.n || k < want.n;) {
        const int c = i == got.n ? 1 : k == want.n ? -1 : cmp_key(&got.k[i], &want.k[k]);
        if (c < 0) print_key("trainer only", &got.k[i++]), bad++;
        else if (c > 0) print_key("schedule only", &want.k[k++]), bad++;
        else {
            const key *x = &got.k[i++], *y = &want.k[k++];
            /* counts are small integers; attention FLOPs agree to rounding */
            if (x->count != y->count || fabs(x->flops - y->flops) > 1e-12 * fabs(y->flops)) {
                print_key("trainer", x);
                print_key("schedule", y);
                bad++;
            }
        }
    }
    if (bad)
        fail_msg("%s, recipe %s: %d differences between the GEMMs/attention of a training step and the schedule",
                 m.model_type, fp8lab_recipe_name(recipe), bad);
    /* three GEMMs per Linear (GPT-2: qkv, o, fc, proj = 4 a layer; Llama: q, k, v, o, gate_up, down = 6) and
       three for the head: an independent count of what was compared above */
    double gemms = 0;
    for (int i = 0; i < got.n; i++) gemms += got.k[i].attn ? 0 : got.k[i].count;
    const int per_layer = m.arch == FP8LAB_ARCH_GPT2 ? 4 : 6;
    assert_true(gemms == 3.0 * ((double)per_layer * (double)m.layers + 1));

    /* totals = sums over the log */
    fp8lab_rec_totals tot[FP8LAB_REC_NKINDS], sum[FP8LAB_REC_NKINDS];
    memset(sum, 0, sizeof sum);
    for (int i = 0; i < n; i++) {
        sum[ops[i].kind].calls++;
        sum[ops[i].kind].flops += ops[i].flops;
        sum[ops[i].kind].bytes += ops[i].bytes;
    }
    fp8lab_record_totals(be, tot);
    for (int k = 0; k < FP8LAB_REC_NKINDS; k++) {
        assert_int_equal(tot[k].calls, sum[k].calls);
        assert_true(tot[k].flops == sum[k].flops && tot[k].bytes == sum[k].bytes);
        assert_true(tot[k].seconds == 0); /* timing off */
    }
    assert_true(tot[FP8LAB_REC_OPTIM].calls >= 2); /* sumsq and AdamW */
    long norms = 0; /* 2 per block and the final one, forward and backward */
    for (int i = 0; i < n; i++) norms += strstr(ops[i].name, "norm_") != NULL && ops[i].kind == FP8LAB_REC_NORM_ACT;
    assert_int_equal(norms, 4 * m.layers + 2);
    assert_int_equal(tot[FP8LAB_REC_QUANT].calls > 0, recipe != FP8LAB_RECIPE_FP32);
    free(got.k);
    free(want.k);
    fp8lab_gpt_destroy(g);
    fp8lab_backend_destroy(be);
}

static void test_gpt2_fp32(void **st) { (void)st, check_match(GPT2, FP8LAB_RECIPE_FP32); }
static void test_gpt2_bf16(void **st) { (void)st, check_match(GPT2, FP8LAB_RECIPE_BF16); }
static void test_gpt2_fp8_tensor(void **st) { (void)st, check_match(GPT2, FP8LAB_RECIPE_FP8_TENSOR); }
static void test_gpt2_fp8_block(void **st) { (void)st, check_match(GPT2, FP8LAB_RECIPE_FP8_BLOCK); }
static void test_gpt2_fp8_delayed(void **st) { (void)st, check_match(GPT2, FP8LAB_RECIPE_FP8_TENSOR_DELAYED); }
static void test_llama_fp32(void **st) { (void)st, check_match(LLAMA, FP8LAB_RECIPE_FP32); }
static void test_llama_bf16(void **st) { (void)st, check_match(LLAMA, FP8LAB_RECIPE_BF16); }
static void test_llama_fp8_tensor(void **st) { (void)st, check_match(LLAMA, FP8LAB_RECIPE_FP8_TENSOR); }
static void test_llama_fp8_block(void **st) { (void)st, check_match(LLAMA, FP8LAB_RECIPE_FP8_BLOCK); }
static void test_llama_fp8_delayed(void **st) { (void)st, check_match(LLAMA, FP8LAB_RECIPE_FP8_TENSOR_DELAYED); }

/* an op the inner backend lacks: the same refusal as from the inner backend itself; the rest still forwards */
static void test_missing_op(void **st) {
    (void)st;
    fp8lab_backend *inner = fp8lab_cpu_backend_create();
    assert_non_null(inner);
    static fp8lab_gemm_ops partial;
    partial = *inner->gemm;
    partial.gemm_bf16 = NULL;
    inner->gemm = &partial;
    fp8lab_backend *be = fp8lab_record_create(inner, NULL);
    assert_non_null(be);
    assert_true(fp8lab_record_is(be) && !fp8lab_record_is(inner));
    float *x = fp8lab_alloc(be, 4 * 128 * sizeof(float));
    assert_non_null(x);
    assert_int_equal(fp8lab_gemm_bf16(be, (uint16_t *)x, (uint16_t *)x, 8, 8, 8, FP8LAB_F32, x), -1);
    assert_non_null(strstr(fp8lab_last_error(), "op gemm_bf16 is not implemented by backend cpu"));
    for (int i = 0; i < 4 * 128; i++) x[i] = 1.0f;
    /* [8][16] . [16][8]^T of ones: 16 everywhere */
    assert_int_equal(fp8lab_gemm_f32(be, x, x + 128, 8, 8, 16, x + 256), 0);
    assert_true(x[256] == 16.0f && x[256 + 63] == 16.0f);
    fp8lab_rec_totals tot[FP8LAB_REC_NKINDS];
    fp8lab_record_totals(be, tot);
    assert_int_equal(tot[FP8LAB_REC_GEMM].calls, 1); /* the refused call is not counted */
    assert_true(tot[FP8LAB_REC_GEMM].flops == 2.0 * 8 * 8 * 16);
    int n = -1;
    assert_null(fp8lab_record_log(be, &n)); /* no log asked for */
    assert_int_equal(n, 0);
    fp8lab_free(be, x);
    fp8lab_backend_destroy(be); /* destroys inner */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2_fp32),         cmocka_unit_test(test_gpt2_bf16),
        cmocka_unit_test(test_gpt2_fp8_tensor),   cmocka_unit_test(test_gpt2_fp8_block),
        cmocka_unit_test(test_gpt2_fp8_delayed),  cmocka_unit_test(test_llama_fp32),
        cmocka_unit_test(test_llama_bf16),        cmocka_unit_test(test_llama_fp8_tensor),
        cmocka_unit_test(test_llama_fp8_block),   cmocka_unit_test(test_llama_fp8_delayed),
        cmocka_unit_test(test_missing_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
