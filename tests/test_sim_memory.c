/* Activation and weight memory of the simulator against Korthikanti et al. 2022 ("Reducing Activation
   Recomputation in Large Transformer Models"), without dropout and with FlashAttention; the derivation of
   each row is in sim/schedule.c above fp8lab_schedule_saved_bytes. Also: selective recompute does not re-run
   a cast whose FP8 output its GEMM keeps (issue 11, defect 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "model/config.h"
#include "sim/memory.h"
#include "core/error.h"
#include "sim/schedule.h"
#include "sim/step.h"

enum { S = 2048, B = 2, H = 1024, A = 16 };

/* A GPT layer as in the paper: h = a * head_dim, MLP 4h with GeLU */
static fp8lab_model gpt_layer(void) {
    return (fp8lab_model){.arch = FP8LAB_ARCH_GPT2, .model_type = "gpt2", .vocab = 50304, .hidden = H,
                          .layers = 24, .heads = A, .kv_heads = A, .head_dim = H / A, .ffn = 4 * H, .bias = 1,
                          .tied = 1, .max_pos = S, .learned_pos = 1, .norm_eps = 1e-5};
}

static double layer_bytes(const fp8lab_model *m, int tp, int sp, fp8lab_recompute rc, fp8lab_prec prec) {
    fp8lab_sched_opts o = {.micro_batch = B, .seq = S, .tp = tp, .sp = sp, .ep = 1, .prec = prec, .recompute = rc};
    fp8lab_schedule s = {0};
    assert_int_equal(fp8lab_schedule_layer(&s, m, &o, FP8LAB_LAYER_DENSE), 0);
    double v = fp8lab_schedule_saved_bytes(&s, m, &o, FP8LAB_LAYER_DENSE);
    fp8lab_schedule_free(&s);
    return v;
}

static const double SBH = (double)S * B * H;
/* FlashAttention's FP32 log-sum-exp, one per head and token: 4sab bytes, split by TP */
static double lse(int tp) { return 4.0 * S * B * A / tp; }

static void expect_sbh(double got, double sbh_units, int tp) {
    double want = SBH * sbh_units + lse(tp);
    if (fabs(got - want) > 1e-9 * want)
        fail_msg("activation bytes %.0f = %.4f sbh, want %.4f sbh", got, (got - lse(tp)) / SBH, sbh_units);
}

/* no parallelism: sbh * 32 (the paper's 34 less two dropout masks; O counted once) */
static void no_parallelism(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    expect_sbh(layer_bytes(&m, 1, 0, FP8LAB_RECOMPUTE_NONE, FP8LAB_PREC_BF16), 32, 1);
}

/* tensor parallel: sbh * (8 + 24/t) (the paper's 10 + 24/t less the two masks) */
static void tensor_parallel(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    for (int t = 2; t <= 8; t *= 2)
        expect_sbh(layer_bytes(&m, t, 0, FP8LAB_RECOMPUTE_NONE, FP8LAB_PREC_BF16), 8 + 24.0 / t, t);
}

/* tensor + sequence parallel: sbh * 32/t (the paper's 34/t); 4 sbh at t = 8 */
static void sequence_parallel(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    for (int t = 2; t <= 8; t *= 2)
        expect_sbh(layer_bytes(&m, t, 1, FP8LAB_RECOMPUTE_NONE, FP8LAB_PREC_BF16), 32.0 / t, t);
}

/* What sequence parallelism keeps is what its backward gathers again: for each input a tensor-parallel region
   gathered and its GEMMs kept only as this rank's shard (the QKV input, the MLP input; 2 sbh/t each in the rows
   above), one all-gather of the whole input (t times the shard, 2 B per element, 1 B in FP8) in the backward,
   before the Dgrad of a GEMM that reads it and after the region's forward collectives' backward; none without
   sequence parallelism. The same for a Llama layer, whose q, k and v read the input as three GEMMs. */
static int count_regathers(const fp8lab_model *m, int tp, int sp, fp8lab_prec prec, double elem_bytes) {
    fp8lab_sched_opts o = {.micro_batch = B, .seq = S, .tp = tp, .sp = sp, .ep = 1, .prec = prec};
    fp8lab_schedule s = {0};
    assert_int_equal(fp8lab_schedule_layer(&s, m, &o, FP8LAB_LAYER_DENSE), 0);
    int n = 0;
    for (int i = 0; i < s.n; i++) {
        const fp8lab_op *op = &s.ops[i];
        if (!op->beside_dgrad) continue;
        if (op->pass == FP8LAB_PASS_F) { /* its place in the forward list, where nothing moves */
            assert_int_equal(op->coll, FP8LAB_COLL_NONE);
            continue;
        }
        assert_int_equal(op->pass, FP8LAB_PASS_B);
        assert_int_equal(op->coll, FP8LAB_COLL_ALLGATHER);
        assert_int_equal(op->group, FP8LAB_GROUP_TP);
        assert_true(op->bytes == SBH * elem_bytes);
        int readers = 0, j = i + 1;
        for (; j < s.n && s.ops[j].kind != FP8LAB_OP_COMM; j++)
            readers += s.ops[j].kind == FP8LAB_OP_GEMM && s.ops[j].pass == FP8LAB_PASS_B && s.ops[j].reads_gathered;
        assert_true(readers >= 1);
        assert_true(j < s.n && s.ops[j].coll == FP8LAB_COLL_REDUCESCATTER); /* the forward all-gather's backward */
        n++;
    }
    fp8lab_schedule_free(&s);
    return n;
}

static void sequence_parallel_regathers(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    for (int t = 2; t <= 8; t *= 2) {
        assert_int_equal(count_regathers(&m, t, 1, FP8LAB_PREC_BF16, 2), 2);
        assert_int_equal(count_regathers(&m, t, 1, FP8LAB_PREC_FP8, 1), 2);
        assert_int_equal(count_regathers(&m, t, 0, FP8LAB_PREC_BF16, 2), 0);
    }
    fp8lab_model l = m;
    l.arch = FP8LAB_ARCH_LLAMA, l.kv_heads = A / 4, l.learned_pos = 0, l.bias = 0, l.gated_mlp = 1;
    assert_int_equal(count_regathers(&l, 8, 1, FP8LAB_PREC_BF16, 2), 2);
}

/* fp8lab's selective recompute re-runs the norms and GeLU: QKV input 2, MLP input 2 and second-linear input 8
   go, sbh * 20/t with SP; full recompute keeps the layer input, 2sbh/t with SP and 2sbh without */
static void recompute_rows(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    expect_sbh(layer_bytes(&m, 8, 1, FP8LAB_RECOMPUTE_SELECTIVE, FP8LAB_PREC_BF16), 20.0 / 8, 8);
    expect_sbh(layer_bytes(&m, 1, 0, FP8LAB_RECOMPUTE_SELECTIVE, FP8LAB_PREC_BF16), 20.0, 1);
    assert_true(layer_bytes(&m, 8, 1, FP8LAB_RECOMPUTE_FULL, FP8LAB_PREC_BF16) == 2 * SBH / 8);
    assert_true(layer_bytes(&m, 8, 0, FP8LAB_RECOMPUTE_FULL, FP8LAB_PREC_BF16) == 2 * SBH);
}

/* FP8: GEMM inputs kept in FP8 (1 B), the GeLU input in FP8 (DeepSeek-V3 sec. 3.3.4), and the attention output
   twice: BF16 for the FlashAttention backward, FP8 for the output projection's Wgrad.
   LN inputs 4 + QKV input 1 + Q, K, V 6 + O 2 + O in FP8 1 + MLP input 1 + GeLU input 4 + down input 4 = 23 */
static void fp8_layer(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    expect_sbh(layer_bytes(&m, 1, 0, FP8LAB_RECOMPUTE_NONE, FP8LAB_PREC_FP8), 23, 1);
}

static int recomputes(const fp8lab_schedule *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (s->ops[i].pass == FP8LAB_PASS_R && !strcmp(s->ops[i].name, name)) return 1;
    return 0;
}

/* attn.o keeps its FP8 input, so selective recompute has no reason to cast the attention output again; the
   QKV input, which attn.qkv drops, is cast again */
static void selective_skips_kept_casts(void **st) {
    (void)st;
    fp8lab_model m = gpt_layer();
    fp8lab_sched_opts o = {.micro_batch = B, .seq = S, .tp = 1, .ep = 1, .prec = FP8LAB_PREC_FP8,
                           .recompute = FP8LAB_RECOMPUTE_SELECTIVE};
    fp8lab_schedule s = {0};
    assert_int_equal(fp8lab_schedule_layer(&s, &m, &o, FP8LAB_LAYER_DENSE), 0);
    assert_false(recomputes(&s, "attn.quant_o"));
    assert_true(recomputes(&s, "attn.quant_x"));
    assert_true(recomputes(&s, "mlp.quant_act"));
    fp8lab_schedule_free(&s);
}

/* weights: 2 B BF16 + 2 B of FP8 casts per FP8-read parameter; gradients 4 B; optimizer 8 B (ZeRO-1 / dp) */
static void fp8_weight_copies(void **st) {
    (void)st;
    fp8lab_memory mm;
    fp8lab_memory_of(&(fp8lab_memory_in){.params_dense = 1e9, .params_expert = 2e9, .fp8_params = 2.5e9, .dp = 4,
                                         .edp = 2, .zero = 1, .act_bytes = 5e9, .hbm_gb = 80},
                     &mm);
    assert_true(mm.fp8_weights_gb == 5.0);
    assert_true(mm.weights_gb == 6.0 + 5.0);
    assert_true(mm.grads_gb == 12.0);
    assert_true(mm.optim_gb == 8.0 * (1e9 / 4 + 2e9 / 2) / 1e9);
    assert_true(mm.total_gb == mm.weights_gb + mm.grads_gb + mm.optim_gb + 5.0);
    assert_true(mm.fits == (mm.total_gb <= 80));
    /* without FP8 GEMMs no casts are kept */
    fp8lab_memory bf16;
    fp8lab_memory_of(&(fp8lab_memory_in){.params_dense = 1e9, .params_expert = 2e9, .dp = 4, .edp = 2, .zero = 1,
                                         .act_bytes = 5e9, .hbm_gb = 80},
                     &bf16);
    assert_true(bf16.fp8_weights_gb == 0 && bf16.weights_gb == 6.0);
}

/* ZeRO-3 / FSDP: weights, gradients and FP8 casts sharded like the optimizer (dense over dp, experts over edp),
   plus the gathered layers whole in BF16; stage 2 is refused */
static void zero3_shards(void **st) {
    (void)st;
    fp8lab_memory mm;
    fp8lab_memory_of(&(fp8lab_memory_in){.params_dense = 1e9, .params_expert = 2e9, .fp8_params = 3e9, .dp = 4,
                                         .edp = 2, .zero = 3, .gather_params = 0.5e9, .act_bytes = 5e9,
                                         .hbm_gb = 80},
                     &mm);
    const double shard = 1e9 / 4 + 2e9 / 2; /* 1.25e9 */
    assert_true(fabs(mm.grads_gb - 4 * shard / 1e9) < 1e-12);
    assert_true(fabs(mm.fp8_weights_gb - 2 * shard / 1e9) < 1e-12);
    assert_true(fabs(mm.weights_gb - (2 * (shard + 0.5e9) / 1e9 + mm.fp8_weights_gb)) < 1e-12);
    assert_true(fabs(mm.optim_gb - 8 * shard / 1e9) < 1e-12);
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.zero = 2;
    assert_int_equal(fp8lab_plan_check(&p), -1);
    assert_non_null(strstr(fp8lab_last_error(), "--zero: 2"));
    p.zero = 3;
    assert_int_equal(fp8lab_plan_check(&p), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_parallelism),      cmocka_unit_test(tensor_parallel),
        cmocka_unit_test(sequence_parallel),   cmocka_unit_test(sequence_parallel_regathers),
        cmocka_unit_test(recompute_rows),
        cmocka_unit_test(fp8_layer),           cmocka_unit_test(selective_skips_kept_casts),
        cmocka_unit_test(fp8_weight_copies),    cmocka_unit_test(zero3_shards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
