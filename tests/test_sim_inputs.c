/* Inputs the simulator must refuse or repair (issue 11, defect 8), below the CLI: the schedule's V through the
   strict parser, gpus sweeps snapped to layouts that exist, zero bandwidths in cluster files, the MoE
   imbalance floor, learned positions, and 0 SMs for communication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/plan_parse.h"
#include "sim/step.h"
#include "sim/sweep.h"
#include "test_util.h"

static char g_src[1024];

static void load_model(const char *name, fp8lab_model *m) {
    char p[1200];
    snprintf(p, sizeof p, "%s/configs/models/%s", g_src, name);
    assert_int_equal(fp8lab_model_load(p, m), 0);
}

static void load_cluster(const char *name, fp8lab_cluster *c) {
    char p[1200];
    snprintf(p, sizeof p, "%s/configs/clusters/%s", g_src, name);
    assert_int_equal(fp8lab_cluster_load(p, c), 0);
}

static void has(const char *frag) {
    if (!strstr(fp8lab_last_error(), frag)) fail_msg("no '%s' in: %s", frag, fp8lab_last_error());
}

/* interleaved:V reads V with the strict parser: no blanks, fractions or values past 64 */
static void schedule_chunks_strict(void **st) {
    (void)st;
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    assert_int_equal(fp8lab_parse_schedule("interleaved:4", &p), 0);
    assert_int_equal(p.vchunks, 4);
    const char *bad[] = {"interleaved: 2", "interleaved:2.5", "interleaved:65", "interleaved:0", "interleaved:",
                         "interleaved:2x", "interleaved:-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp8lab_clear_error();
        if (fp8lab_parse_schedule(bad[i], &p) != -1) fail_msg("'%s' was accepted", bad[i]);
        has("--schedule");
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    }
}

static fp8lab_sweep *sweep(const char *flag, const char *spec) {
    fp8lab_sweep *s = calloc(1, sizeof *s);
    assert_non_null(s);
    assert_int_equal(fp8lab_sweep_parse_flag(flag, spec, ".", 16, s), 0);
    return s;
}

/* The README's Llama curve: tp 8, gpus=64:16384 at the default 16 points (times 4 GPUs: 64 points). Unsnapped,
   13 of the 16 GPU counts (52 of the 64 points) do not split into tp 8; snapped, every value is a multiple of 8,
   ends kept, repeats dropped, and the sweep says how many moved. */
static void gpus_sweep_snapped(void **st) {
    (void)st;
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.tp = 8;
    fp8lab_sweep *s = sweep("--vary", "gpus=64:16384");
    assert_int_equal(s->n, 16);
    long unit = 0;
    assert_int_equal(fp8lab_sweep_gpu_unit(&p, NULL, &unit), 0);
    assert_int_equal(unit, 8);
    int moved = fp8lab_sweep_snap_gpus(s, unit);
    assert_true(moved == 13 && s->snapped == 13 && s->asked == 16 && s->snap_unit == 8);
    assert_true(s->num[0] == 64 && s->num[s->n - 1] == 16384);
    for (int i = 0; i < s->n; i++) {
        assert_true((long)s->num[i] % 8 == 0);
        assert_true(i == 0 || s->num[i] > s->num[i - 1]);
        assert_true(atol(s->label[i]) == (long)s->num[i]);
    }
    /* 3 goes up to one unit, not down to 0; 9 joins it; 1048575 goes to the largest multiple allowed */
    fp8lab_sweep *l = sweep("--vary", "gpus=3,9,1048575");
    assert_int_equal(fp8lab_sweep_snap_gpus(l, 8), 3);
    assert_int_equal(l->n, 2);
    assert_true(l->num[0] == 8 && l->num[1] == 1048576);
    free(s), free(l);
}

/* with tp, pp or ep swept alongside, the unit is the least common multiple of the swept values */
static void gpus_unit_with_layout_sweep(void **st) {
    (void)st;
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.pp = 3, p.ep = 2;
    long unit = 0;
    fp8lab_sweep *tp = sweep("--vary2", "tp=1,2,4,8");
    assert_int_equal(fp8lab_sweep_gpu_unit(&p, tp, &unit), 0);
    assert_int_equal(unit, 8 * 3 * 2);
    fp8lab_sweep *ep = sweep("--vary2", "ep=1024,1023");
    fp8lab_clear_error();
    assert_int_equal(fp8lab_sweep_gpu_unit(&p, ep, &unit), -1);
    has("--vary: gpus");
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    /* a sweep of anything but gpus is not touched */
    fp8lab_sweep *seq = sweep("--vary", "seq=100,1000");
    assert_int_equal(fp8lab_sweep_snap_gpus(seq, 8), 0);
    assert_true(seq->num[0] == 100 && seq->snap_unit == 0);
    free(tp), free(ep), free(seq);
}

/* zero bandwidths in a cluster file are refused with the key named (they used to give -nan rows) */
static void cluster_zero_bandwidth(void **st) {
    (void)st;
    const char *keys[] = {"intra_node_gbps", "inter_node_gbps_per_gpu"};
    for (int i = 0; i < 2; i++) {
        char js[1024];
        snprintf(js, sizeof js,
                 "{\"name\":\"x\",\"gpu\":{\"name\":\"g\",\"peak_tflops\":{\"bf16\":1,\"fp16\":1,\"fp8\":0,"
                 "\"fp32\":1},\"hbm_gb\":80,\"hbm_gbps\":1000,\"sms\":100},\"num_gpus\":8,\"gpus_per_node\":8,"
                 "\"intra_node_gbps\":%d,\"inter_node_gbps_per_gpu\":%d,\"price_per_gpu_hour\":1}",
                 i == 0 ? 0 : 100, i == 1 ? 0 : 50);
        cJSON *root = cJSON_Parse(js);
        assert_non_null(root);
        fp8lab_cluster c;
        fp8lab_clear_error();
        assert_int_equal(fp8lab_cluster_from_json(root, "x.json", &c), -1);
        has(keys[i]);
        cJSON_Delete(root);
    }
}

/* the plan's own check: imbalance below 1, sequence past learned positions; 0 communication SMs is allowed */
static void plan_limits(void **st) {
    (void)st;
    fp8lab_model gpt, llama;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    load_model("gpt2-124m.json", &gpt);
    load_model("llama-3-8b.json", &llama);
    load_cluster("h100-sxm.json", &c);
    fp8lab_kernel_model_default(&km);
    fp8lab_plan p;
    fp8lab_sim_result r;
    fp8lab_plan_default(&p);
    p.gpus = 8;
    p.moe_imbalance = 0.5;
    fp8lab_clear_error();
    assert_int_equal(fp8lab_simulate(&gpt, &c, &km, &p, &r), -1);
    has("--moe-imbalance: 0.5");
    p.moe_imbalance = 0;
    p.seq = 100000;
    fp8lab_clear_error();
    assert_int_equal(fp8lab_simulate(&gpt, &c, &km, &p, &r), -1);
    has("--seq: 100000");
    p.seq = 16384; /* rotary positions extrapolate */
    p.tp = 8;
    assert_int_equal(fp8lab_simulate(&llama, &c, &km, &p, &r), 0);
    p.seq = 0, p.tp = 1, p.comm_sms = 0;
    assert_int_equal(fp8lab_simulate(&gpt, &c, &km, &p, &r), 0);
    assert_true(r.tokens_per_gpu_hour > 0);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_src, sizeof g_src, "%s", d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schedule_chunks_strict), cmocka_unit_test(gpus_sweep_snapped),
        cmocka_unit_test(gpus_unit_with_layout_sweep), cmocka_unit_test(cluster_zero_bandwidth),
        cmocka_unit_test(plan_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
