/* `fp8lab sim --ops`: the traced per-op times account for the simulated step's compute exactly, each compute op
   with one kernel boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"
#include "test_util.h"

static char g_dir[1024];

static void load(fp8lab_model *m, fp8lab_cluster *c, const char *model, const char *cluster) {
    char p[1200];
    snprintf(p, sizeof p, "%s/configs/models/%s", g_dir, model);
    assert_int_equal(fp8lab_model_load(p, m), 0);
    snprintf(p, sizeof p, "%s/configs/clusters/%s", g_dir, cluster);
    assert_int_equal(fp8lab_cluster_load(p, c), 0);
}

/* What both tests run: GPT-2 124M on one H200, 4 micro-batches of 8 x 1024, the default kernel model */
typedef struct {
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
} env_t;

static void gpt2_one_gpu(env_t *e) {
    load(&e->m, &e->c, "gpt2-124m.json", "h200.json");
    fp8lab_kernel_model_default(&e->km);
    fp8lab_plan_default(&e->p);
    e->p.gpus = 1, e->p.micro_batch = 8, e->p.global_batch = 32;
}

/* One GPU, no parallelism: the step's compute is the micro-batches times the sum of every non-collective op
   of the embedding, the 12 blocks and the head; the trace must add up to it. */
static void trace_sums_to_compute(void **st) {
    (void)st;
    env_t e;
    gpt2_one_gpu(&e);
    fp8lab_sim_result r, r2;
    fp8lab_trace t = {0};
    assert_int_equal(fp8lab_simulate_trace(&e.m, &e.c, &e.km, &e.p, &r, &t), 0);
    assert_int_equal(fp8lab_simulate(&e.m, &e.c, &e.km, &e.p, &r2), 0);
    assert_true(r.step_time_s == r2.step_time_s); /* tracing changes nothing */
    double per_kind[FP8LAB_NLAYER_KINDS] = {0};
    int gemms = 0;
    for (int i = 0; i < t.n; i++) {
        if (t.ops[i].op.kind == FP8LAB_OP_COMM) continue;
        assert_true(t.ops[i].time_s > 0);
        per_kind[t.ops[i].kind] += t.ops[i].time_s;
        gemms += t.ops[i].op.kind == FP8LAB_OP_GEMM;
    }
    /* GPT-2 block: qkv, proj, fc, proj -> 4 forward, 4 dgrad, 4 wgrad; head: 1 + 1 + 1 */
    assert_int_equal(gemms, 15);
    double per_mb = per_kind[FP8LAB_LAYER_EMBED] + 12 * per_kind[FP8LAB_LAYER_DENSE] + per_kind[FP8LAB_LAYER_HEAD];
    assert_int_equal(r.microbatches, 4);
    assert_true(fabs(4 * per_mb - r.compute_s) <= 1e-9 * r.compute_s);
    free(t.ops);
}

/* Every compute op is at least one kernel: the step's compute grows by exactly one kernel boundary
   (kernel_gap_s) per compute op of every micro-batch, and with no boundary each op is its kernel time alone. */
static void one_boundary_per_op(void **st) {
    (void)st;
    env_t e;
    gpt2_one_gpu(&e);
    assert_true(e.km.kernel_gap_s == FP8LAB_KERNEL_GAP_S && e.km.kernel_gap_s > 0);
    fp8lab_sim_result r, r0;
    fp8lab_trace t = {0}, t0 = {0};
    assert_int_equal(fp8lab_simulate_trace(&e.m, &e.c, &e.km, &e.p, &r, &t), 0);
    e.km.kernel_gap_s = 0;
    assert_int_equal(fp8lab_simulate_trace(&e.m, &e.c, &e.km, &e.p, &r0, &t0), 0);
    assert_int_equal(t.n, t0.n);
    double per_mb = 0;
    for (int i = 0; i < t.n; i++) {
        if (t.ops[i].op.kind == FP8LAB_OP_COMM) continue;
        assert_true(fabs(t.ops[i].time_s - t0.ops[i].time_s - FP8LAB_KERNEL_GAP_S) <= 1e-12 * t.ops[i].time_s);
        per_mb += t.ops[i].kind == FP8LAB_LAYER_DENSE ? 12 : 1;
    }
    printf("GPT-2 124M, 4 micro-batches of 8 x 1024: %.0f compute ops per micro-batch, %.4f s of kernel boundaries "
           "in a %.4f s step\n",
           per_mb, r.compute_s - r0.compute_s, r.step_time_s);
    assert_true(fabs(r.compute_s - r0.compute_s - 4 * per_mb * FP8LAB_KERNEL_GAP_S) <= 1e-9 * r.compute_s);
    free(t.ops), free(t0.ops);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    const struct CMUnitTest tests[] = {cmocka_unit_test(trace_sums_to_compute), cmocka_unit_test(one_boundary_per_op)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
