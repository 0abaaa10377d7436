/* The simulator against published training throughput (configs/calibration/public-runs.json): dense and MoE
   runs on A100, H100 and H800 from five sources (Narayanan et al. 2021, Korthikanti et al. 2022, Llama 3 2024,
   NVIDIA Megatron-Bridge's performance summary, DeepSeek-V2 2024). Each row is simulated with the layout the
   source gives (assumptions listed in the file), compared in tokens per GPU per second, and the table
   "run | published | simulated | error %" is printed with the mean absolute error.

   Issue 11's acceptance is a mean absolute error <= 10 % over all points and no point worse than 20 %: NOT met
   yet (measured: mean 20.0 %, worst 43.7 %; the simulator is optimistic on 10 of 12 rows). This test asserts what
   holds today as a guard against getting worse (mean <= 25 %, worst <= 50 %) and prints the target
   beside the result. No constant of the simulator is fitted to these rows: they are a check, not a calibration
   set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/json.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/plan_parse.h"
#include "sim/step.h"
#include "test_util.h"

#define MAX_MEAN_ABS_ERR 0.25 /* the target: 0.10 */
#define MAX_ABS_ERR 0.50      /* the target: 0.20 */

static char g_dir[1024];

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(v));
    return v->valuestring;
}

static double num(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

typedef struct {
    int n, dense, moe, a100, hopper;
    double sum_abs, worst;
} tally;

/* Simulates one row; returns simulated / published - 1. */
static double run_row(const cJSON *row, const fp8lab_kernel_model *km, double *sim_tps) {
    char p[1200];
    fp8lab_model m;
    fp8lab_cluster c;
    snprintf(p, sizeof p, "%s/%s", g_dir, str(row, "model"));
    if (fp8lab_model_load(p, &m)) fail_msg("%s", fp8lab_last_error());
    snprintf(p, sizeof p, "%s/%s", g_dir, str(row, "cluster"));
    if (fp8lab_cluster_load(p, &c)) fail_msg("%s", fp8lab_last_error());
    fp8lab_plan plan;
    fp8lab_plan_default(&plan);
    plan.gpus = (long)num(row, "gpus");
    plan.tp = (int)num(row, "tp"), plan.pp = (int)num(row, "pp"), plan.dp = (int)num(row, "dp");
    plan.ep = (int)num(row, "ep"), plan.sp = (int)num(row, "sp");
    plan.seq = (long)num(row, "seq"), plan.global_batch = (long)num(row, "global_batch");
    plan.micro_batch = (long)num(row, "micro_batch"), plan.zero = (int)num(row, "zero");
    plan.comm_sms = (int)num(row, "comm_sms"), plan.moe_imbalance = num(row, "moe_imbalance");
    plan.mtp = (int)num(row, "mtp");
    if (fp8lab_parse_precision(str(row, "precision"), &plan) || fp8lab_parse_schedule(str(row, "schedule"), &plan) ||
        fp8lab_parse_recompute(str(row, "recompute"), &plan))
        fail_msg("%s", fp8lab_last_error());
    fp8lab_sim_result r;
    if (fp8lab_simulate(&m, &c, km, &plan, &r)) fail_msg("%s: %s", str(row, "run"), fp8lab_last_error());
    *sim_tps = r.tokens_per_gpu_s;
    return r.tokens_per_gpu_s / num(row, "published_tokens_per_gpu_s") - 1.0;
}

static void public_runs(void **st) {
    (void)st;
    char path[1200];
    snprintf(path, sizeof path, "%s/configs/calibration/public-runs.json", g_dir);
    cJSON *root = fp8lab_json_load(path);
    if (!root) fail_msg("%s", fp8lab_last_error());
    const cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    assert_true(cJSON_IsArray(runs));
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    tally t = {0};
    int worst_i = -1, sources = 0;
    const char *seen[32];
    printf("| run | published tokens/GPU/s | simulated | error %% |\n|---|---:|---:|---:|\n");
    const cJSON *row;
    cJSON_ArrayForEach(row, runs) {
        double sim = 0, e = run_row(row, &km, &sim);
        printf("| %s | %.1f | %.1f | %+.1f |\n", str(row, "run"), num(row, "published_tokens_per_gpu_s"), sim,
               100 * e);
        t.sum_abs += fabs(e);
        if (fabs(e) > t.worst) t.worst = fabs(e), worst_i = t.n;
        t.n++;
        if (!strcmp(str(row, "kind"), "moe")) t.moe++;
        else t.dense++;
        if (!strncmp(str(row, "gpu"), "A100", 4)) t.a100++;
        else t.hopper++;
        /* distinct sources, by paper */
        const char *paper = str(cJSON_GetObjectItemCaseSensitive(row, "source"), "paper");
        int k = 0;
        while (k < sources && strcmp(seen[k], paper)) k++;
        if (k == sources && sources < 32) seen[sources++] = paper;
        /* every row says where its number comes from and what was assumed */
        assert_true(strlen(str(cJSON_GetObjectItemCaseSensitive(row, "source"), "url")) > 8);
        assert_true(strlen(str(row, "derivation")) > 8 && strlen(str(row, "assumptions")) > 8);
    }
    const double mae = t.sum_abs / (t.n ? t.n : 1);
    printf("\nmean absolute error %.1f %% over %d runs (%d dense, %d MoE; %d A100, %d H100/H800; %d sources); worst "
           "%.1f %% (row %d)\n",
           100 * mae, t.n, t.dense, t.moe, t.a100, t.hopper, sources, 100 * t.worst, worst_i + 1);
    printf("asserted (no worse than today): mean <= %.0f %%, every row <= %.0f %%; issue 11's target: mean <= 10 %%, "
           "every row <= 20 %% (%s)\n",
           100 * MAX_MEAN_ABS_ERR, 100 * MAX_ABS_ERR, mae <= 0.10 && t.worst <= 0.20 ? "met" : "NOT met");
    fflush(stdout);
    /* the table's coverage (issue 11): >= 8 runs, >= 4 sources besides Megatron-LM 1T, dense and MoE, A100 and
       Hopper */
    assert_true(t.n >= 8 && sources >= 4 && t.dense > 0 && t.moe > 0 && t.a100 > 0 && t.hopper > 0);
    cJSON_Delete(root);
    assert_true(mae <= MAX_MEAN_ABS_ERR);
    assert_true(t.worst <= MAX_ABS_ERR);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    const struct CMUnitTest tests[] = {cmocka_unit_test(public_runs)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
