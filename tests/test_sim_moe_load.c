/* Per-expert MoE load as a distribution (issue 11): the expected busiest rank / expert of an EP group
   (sim/moe_load.h) against a brute-force routing simulation on small cases, its limits (one expert per rank and a
   uniform router tend to 1 as tokens grow; top-k = E is exactly balanced), monotone in the EP size, skew and
   tokens, the step model's use of it and the --moe-imbalance override, and the 100 ms budget of a 2048-GPU
   DeepSeek-V3 simulation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/error.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/moe_load.h"
#include "sim/step.h"
#include "sim_fixture.h"
#include "test_util.h"

static char g_dir[1024];

static void expected_max_normal(void **st) {
    (void)st;
    /* known values of E[max of n iid N(0,1)] (e.g. Harter 1961's tables) */
    assert_true(fp8lab_expected_max_normal(1) == 0);
    assert_true(fabs(fp8lab_expected_max_normal(2) - 1 / sqrt(M_PI)) < 1e-6);
    assert_true(fabs(fp8lab_expected_max_normal(3) - 1.5 / sqrt(M_PI)) < 1e-6);
    assert_true(fabs(fp8lab_expected_max_normal(10) - 1.538752) < 1e-5);
    assert_true(fabs(fp8lab_expected_max_normal(100) - 2.507594) < 1e-5);
    double prev = 0;
    for (long n = 2; n <= 65536; n *= 2) {
        double v = fp8lab_expected_max_normal(n);
        assert_true(v > prev && v < sqrt(2 * log((double)n)));
        prev = v;
    }
}

/* the analytic expectation against the brute-force routing, small cases */
static void against_brute_force(void **st) {
    (void)st;
    static const fp8lab_moe_load_in CASES[] = {
        {.tokens = 256, .topk = 2, .experts = 8, .ep = 4},  {.tokens = 128, .topk = 1, .experts = 16, .ep = 8},
        {.tokens = 64, .topk = 4, .experts = 32, .ep = 8},  {.tokens = 512, .topk = 2, .experts = 4, .ep = 4},
        {.tokens = 256, .topk = 6, .experts = 64, .ep = 16}, {.tokens = 256, .topk = 2, .experts = 16, .ep = 4, .skew = 0.3},
        {.tokens = 128, .topk = 4, .experts = 32, .ep = 8, .skew = 0.2},
    };
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        fp8lab_moe_load a, b;
        assert_int_equal(fp8lab_moe_load_expected(&CASES[i], &a), 0);
        assert_int_equal(fp8lab_moe_load_simulate(&CASES[i], 400, 12345 + i, &b), 0);
        printf("T %4.0f k %d E %3ld ep %2d skew %.1f: busiest rank %.4f (brute force %.4f), busiest expert %.4f "
               "(%.4f)\n",
               CASES[i].tokens, CASES[i].topk, CASES[i].experts, CASES[i].ep, CASES[i].skew, a.rank_max, b.rank_max,
               a.expert_max, b.expert_max);
        /* the excess over 1 within 12 % (normal approximation of counts >= ~64, and 400 trials' noise) */
        assert_true(fabs((a.rank_max - 1) - (b.rank_max - 1)) <= 0.12 * (b.rank_max - 1) + 1e-3);
        assert_true(fabs((a.expert_max - 1) - (b.expert_max - 1)) <= 0.12 * (b.expert_max - 1) + 1e-3);
    }
    /* the simulation is deterministic for a seed */
    fp8lab_moe_load b1, b2;
    assert_int_equal(fp8lab_moe_load_simulate(&CASES[0], 50, 7, &b1), 0);
    assert_int_equal(fp8lab_moe_load_simulate(&CASES[0], 50, 7, &b2), 0);
    assert_true(b1.rank_max == b2.rank_max && b1.expert_max == b2.expert_max);
}

static void limits_and_monotonicity(void **st) {
    (void)st;
    fp8lab_moe_load a;
    /* one expert per rank, uniform routing: -> 1 as tokens -> infinity, ~ 1/sqrt(tokens) */
    double prev = INFINITY;
    for (double T = 64; T <= 64 * 1024 * 1024.0; T *= 4) {
        assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){T, 2, 64, 64, 0}, &a), 0);
        assert_true(a.rank_max > 1 && a.rank_max < prev);
        prev = a.rank_max;
    }
    assert_true(prev - 1 < 1e-3);
    /* every expert chosen by every token: exactly balanced */
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){100, 8, 8, 4, 0}, &a), 0);
    assert_true(a.rank_max == 1 && a.expert_max == 1);
    /* ep 1: nothing to wait for */
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){100, 2, 8, 1, 0}, &a), 0);
    assert_true(a.rank_max == 1);
    /* monotone in the EP size (DeepSeek-V3's 256 experts, top-8, 4096 tokens), with and without skew */
    for (int s = 0; s < 2; s++) {
        prev = 1;
        for (int ep = 2; ep <= 256; ep *= 2) {
            assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){4096, 8, 256, ep, 0.2 * s}, &a), 0);
            assert_true(a.rank_max > prev);
            prev = a.rank_max;
        }
    }
    /* monotone in the skew */
    prev = 1;
    for (double sk = 0; sk <= 1; sk += 0.25) {
        assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){4096, 8, 256, 64, sk}, &a), 0);
        assert_true(a.rank_max > prev);
        prev = a.rank_max;
    }
    /* bad inputs are refused */
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){0, 2, 8, 4, 0}, &a), -1);
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){10, 9, 8, 4, 0}, &a), -1);
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){10, 2, 8, 3, 0}, &a), -1);
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){10, 2, 8, 4, -1}, &a), -1);
}

static void load(fp8lab_model *m, fp8lab_cluster *c) {
    sim_fixture_load(g_dir, "deepseek-v3.json", m, "h800-2048.json", c);
}

/* the step model: the default is the distribution's expected busiest rank; skew raises it; --moe-imbalance X
   overrides it (X = busiest/mean); and a 2048-GPU DeepSeek-V3 simulation stays under 100 ms */
static void step_model(void **st) {
    (void)st;
    fp8lab_model m;
    fp8lab_cluster c;
    load(&m, &c);
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    fp8lab_plan p;
    sim_fixture_dsv3_plan(&p);
    fp8lab_sim_result r0, r1, r2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (fp8lab_simulate(&m, &c, &km, &p, &r0)) fail_msg("%s", fp8lab_last_error());
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    fp8lab_moe_load a;
    assert_int_equal(fp8lab_moe_load_expected(&(fp8lab_moe_load_in){(double)r0.seq, (int)m.topk, m.n_routed, 64, 0},
                                              &a), 0);
    printf("DeepSeek-V3, 2048 H800, ep 64: busiest rank %.4f x mean (busiest expert %.4f); sim %.2f ms\n",
           r0.moe_imbalance, r0.moe_expert_max, ms);
    assert_true(r0.moe_imbalance == a.rank_max && r0.moe_expert_max == a.expert_max);
    assert_true(ms < 100);
    p.moe_skew = 0.3;
    if (fp8lab_simulate(&m, &c, &km, &p, &r1)) fail_msg("%s", fp8lab_last_error());
    assert_true(r1.moe_imbalance > r0.moe_imbalance && r1.step_time_s > r0.step_time_s);
    p.moe_imbalance = 1.25;
    if (fp8lab_simulate(&m, &c, &km, &p, &r2)) fail_msg("%s", fp8lab_last_error());
    assert_true(r2.moe_imbalance == 1.25 && r2.moe_expert_max == 0);
    p.moe_imbalance = 0, p.moe_skew = -0.1;
    assert_int_equal(fp8lab_simulate(&m, &c, &km, &p, &r2), -1);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    const struct CMUnitTest tests[] = {cmocka_unit_test(expected_max_normal), cmocka_unit_test(against_brute_force),
                                       cmocka_unit_test(limits_and_monotonicity), cmocka_unit_test(step_model)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
