/* Parameter and FLOP counts against hand-computed values (arithmetic in the comments). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>

#include <cmocka.h>

#include "core/error.h"
#include "model/config.h"
#include "sim/flops.h"
#include "sim/schedule.h"
#include "test_util.h"

static char g_dir[1024];

static void load(const char *name, fp8lab_model *m) {
    char p[1200];
    snprintf(p, sizeof p, "%s/configs/models/%s", g_dir, name);
    int rc = fp8lab_model_load(p, m);
    if (rc) fprintf(stderr, "%s\n", fp8lab_last_error());
    assert_int_equal(rc, 0);
}

static void gpt2_124m(void **st) {
    (void)st;
    fp8lab_model m;
    fp8lab_params p;
    fp8lab_flops f;
    load("gpt2-124m.json", &m);
    fp8lab_count_params(&m, &p);
    /* wte 50257*768 = 38,597,376; wpe 1024*768 = 786,432;
       per layer: ln1 1536 + c_attn 768*2304+2304 = 1,771,776 + c_proj 589,824+768 = 590,592 + ln2 1536
                  + c_fc 768*3072+3072 = 2,362,368 + c_proj 3072*768+768 = 2,360,064 -> 7,087,872; x12 = 85,054,464
       ln_f 1536; tied head. Total 124,439,808 (the published GPT-2 small count). */
    assert_true(p.total == 124439808.0);
    assert_true(p.activated == p.total);
    fp8lab_count_flops(&m, 1024, &f);
    /* matmul weights: 12 layers x 12*768^2 = 84,934,656, head 768*50257 = 38,597,376 -> x6 = 741,192,192;
       attention scores, causal once: per layer fwd 12 heads * (64+64) * 1024 = 1,572,864, x3 x12 = 56,623,104.
       Total 797,815,296 (gpu-facts.md's 6N+6LCT gives 0.80 G). */
    assert_true(f.total == 797815296.0);
    assert_true(f.attn_scores == 56623104.0);
}

static void llama3_8b(void **st) {
    (void)st;
    fp8lab_model m;
    fp8lab_params p;
    fp8lab_flops f;
    load("llama-3-8b.json", &m);
    fp8lab_count_params(&m, &p);
    /* embed 128256*4096 = 525,336,576 (and the same untied head);
       per layer: q 4096^2 = 16,777,216, k and v 4096*1024 = 4,194,304 each, o 16,777,216 -> 41,943,040;
       MLP 3*4096*14336 = 176,160,768; 2 RMSNorms 8192 -> 218,112,000; x32 = 6,979,584,000; final norm 4096.
       Total 8,030,261,248 (Meta's "8B"). */
    assert_true(p.total == 8030261248.0);
    fp8lab_count_flops(&m, 8192, &f);
    /* 6 x (32 x (41,943,040 + 176,160,768) + 525,336,576) = 6 x 7,504,658,432 = 45,027,950,592;
       scores: 32 heads * 256 * 8192 = 67,108,864 per layer fwd, x3 x32 = 6,442,450,944; total 51,470,401,536 */
    assert_true(f.total == 51470401536.0);
}

static void deepseek_v3(void **st) {
    (void)st;
    fp8lab_model m;
    fp8lab_params p;
    fp8lab_flops f;
    load("deepseek-v3.json", &m);
    assert_int_equal(fp8lab_model_moe_layers(&m), 58);
    fp8lab_count_params(&m, &p);
    /* MLA per layer: q_a 7168*1536 = 11,010,048; q_b 1536*128*192 = 37,748,736; kv_a 7168*576 = 4,128,768;
       kv_b 512*128*256 = 16,777,216; o 16384*7168 = 117,440,512; latent norms 1536+512 -> 187,107,328.
       Dense MLP 3*7168*18432 = 396,361,728. Expert 3*7168*2048 = 44,040,192.
       Dense layer 187,107,328 + 396,361,728 + 14,336 (norms) = 583,483,392; x3 = 1,750,450,176.
       MoE layer 187,107,328 + 257 experts 11,318,329,344 + gate 1,835,008 + bias 256 + 14,336 = 11,507,286,272;
       x58 = 667,422,603,776. Embedding and head 926,679,040 each, final norm 7,168.
       Total 671,026,419,200 = 671.0B (the published 671B). */
    assert_true(p.total == 671026419200.0);
    /* activated: MoE layer with 8 routed + 1 shared = 396,361,728 -> 585,318,656 per layer; x58 =
       33,948,482,048; + dense 1,750,450,176 + embedding/head 1,853,358,080 + 7,168 = 37,552,297,472 */
    assert_true(p.activated == 37552297472.0);
    assert_true(p.activated > 37e9 * 0.97 && p.activated < 37e9 * 1.03);
    /* MTP module: MoE block 11,507,286,272 + enorm/hnorm/head norm 21,504 + eh_proj 2*7168^2 = 102,760,448 */
    assert_true(p.mtp == 11610068224.0);
    fp8lab_count_flops(&m, 4096, &f);
    /* attn proj 6 x 61 x 187,105,280 = 68,480,532,480; MLP 6 x 61 x 396,361,728 = 145,068,392,448;
       router 6 x 58 x 1,835,008 = 638,582,784; head 6 x 926,679,040 = 5,560,074,240;
       scores 3 x 61 x 128*(192+128)*4096 = 30,702,305,280. Total 250,449,887,232 (DeepSeek: ~250 G). */
    assert_true(f.total == 250449887232.0);
    assert_true(f.total > 250e9 * 0.95 && f.total < 250e9 * 1.05);
}

/* The op schedule multiplies exactly the FLOPs the counter counts: GEMM F+B+W and 3x attention forward. */
static void schedule_matches_counts(void **st) {
    (void)st;
    const char *names[] = {"gpt2-124m.json", "llama-3-8b.json", "deepseek-v3.json"};
    for (int i = 0; i < 3; i++) {
        fp8lab_model m;
        load(names[i], &m);
        long seq = 1024;
        fp8lab_flops f;
        fp8lab_count_flops(&m, seq, &f);
        fp8lab_sched_opts o = {.micro_batch = 2, .seq = seq, .tp = 1, .ep = 1, .prec = FP8LAB_PREC_FP8};
        double total = 0;
        for (int k = FP8LAB_LAYER_DENSE; k <= FP8LAB_LAYER_HEAD; k++) {
            if (k == FP8LAB_LAYER_MOE && !m.n_routed) continue;
            fp8lab_schedule s = {0};
            assert_int_equal(fp8lab_schedule_layer(&s, &m, &o, (fp8lab_layer_kind)k), 0);
            double layers = k == FP8LAB_LAYER_HEAD ? 1
                            : k == FP8LAB_LAYER_MOE ? (double)fp8lab_model_moe_layers(&m)
                                                    : (double)(m.layers - fp8lab_model_moe_layers(&m));
            for (int j = 0; j < s.n; j++) {
                const fp8lab_op *op = &s.ops[j];
                if (op->kind == FP8LAB_OP_GEMM) total += layers * op->flops * op->count;
                if (op->kind == FP8LAB_OP_ATTN && op->pass == FP8LAB_PASS_F) total += layers * 3 * op->flops;
            }
            fp8lab_schedule_free(&s);
        }
        double tokens = 2.0 * seq;
        assert_true(fabs(total / tokens - f.total) < 1e-9 * f.total);
    }
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gpt2_124m),
        cmocka_unit_test(llama3_8b),
        cmocka_unit_test(deepseek_v3),
        cmocka_unit_test(schedule_matches_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
