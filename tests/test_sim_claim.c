/* The claim decomposition, cost curves, and the JSON the sim/claim/cost commands print. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "cli/commands.h"
#include "core/error.h"
#include "sim/claim.h"
#include "sim/curve.h"
#include "sim/plot.h"
#include "test_util.h"

static char g_dir[1024];

static void path(char *out, size_t cap, const char *rel) { snprintf(out, cap, "%s/%s", g_dir, rel); }

static void claim_decomposition(void **st) {
    (void)st;
    char mp[1200], h8[1200], h1[1200], h2[1200], a1[1200], pf[1200];
    fp8lab_claim_inputs in;
    fp8lab_claim_inputs_default(&in);
    path(mp, sizeof mp, "configs/models/deepseek-v3.json");
    path(h8, sizeof h8, "configs/clusters/h800-2048.json");
    path(h1, sizeof h1, "configs/clusters/h100-sxm.json");
    path(h2, sizeof h2, "configs/clusters/h200.json");
    path(a1, sizeof a1, "configs/clusters/a100-80gb.json");
    path(pf, sizeof pf, "configs/calibration/deepseek-v3-h800-profile.json");
    in.model = mp, in.h800 = h8, in.h100 = h1, in.h200 = h2, in.a100 = a1, in.profile = pf;
    fp8lab_claim *o = calloc(1, sizeof *o);
    assert_non_null(o);
    int rc = fp8lab_claim_run(&in, o);
    if (rc) fprintf(stderr, "%s\n", fp8lab_last_error());
    assert_int_equal(rc, 0);
    /* 14.8T / 2.664M = 5.556M tokens per GPU-hour */
    assert_true(fabs(o->claimed_tokens_per_gpu_hour - 5.5556e6) < 1e3);
    /* every modeled loss adds time; the last cumulative figure is the simulated one */
    for (int i = 1; i < o->nterms; i++) assert_true(o->terms[i].delta >= 0);
    assert_true(o->terms[o->nterms - 1].gpu_hours == o->simulated_gpu_hours);
    /* the effective-training-time term divides by 0.9 exactly */
    assert_true(fabs(o->terms[o->nterms - 1].gpu_hours * 0.9 - o->terms[o->nterms - 2].gpu_hours) < 1);
    /* a sane simulator lands within a factor 2 of a real run */
    assert_true(o->ratio > 0.5 && o->ratio < 2);
    /* what-ifs: BF16 is slower than FP8; H200's faster HBM never hurts against H100 */
    assert_true(o->whatif[0].gpu_hours > o->simulated_gpu_hours);
    assert_true(o->whatif[2].gpu_hours <= o->whatif[1].gpu_hours);
    /* the Megatron-LM 1T case: published 163 TFLOP/s -> 102.6 s per step; the simulator within 30 % */
    assert_true(fabs(o->megatron_pub_step_s - 102.6) < 0.1);
    assert_true(o->megatron_factor > 0.7 && o->megatron_factor < 1.3);
    /* sensitivity sorted by swing, and each input moves the result the expected way */
    for (int i = 1; i < o->nsens; i++)
        assert_true(fabs(o->sens[i].ratio_low - o->sens[i].ratio_high) <=
                    fabs(o->sens[i - 1].ratio_low - o->sens[i - 1].ratio_high) + 1e-12);
    for (int i = 0; i < o->nsens; i++)
        if (!strcmp(o->sens[i].name, "GEMM efficiency")) assert_true(o->sens[i].ratio_low > o->sens[i].ratio_high);
    /* DeepSeek's profile: measured compute slower than simulated, so the run at the measured speed needs more
       GPU-hours than the simulated one, by less than the factor itself (communication, optimizer and goodput do
       not scale with compute) */
    assert_true(o->has_profile && o->profile.factor > 1 && o->profile.factor < 2);
    assert_true(o->profile_gpu_hours > o->simulated_gpu_hours &&
                o->profile_gpu_hours < o->profile.factor * o->simulated_gpu_hours);
    assert_true(fabs(o->profile_ratio * FP8LAB_CLAIM_GPU_HOURS - o->profile_gpu_hours) < 1);
    /* the compute-time factor that lands on the claim lies on the same side of the profile's factor as the claim
       lies of the run at the profile's speed (GPU-hours rise with the factor) */
    assert_true(o->match_compute_scale > 1);
    if (o->profile_ratio > 1) assert_true(o->match_compute_scale < o->profile.factor);
    else assert_true(o->match_compute_scale > o->profile.factor);
    /* --profile none skips it and changes nothing else */
    fp8lab_claim *q = calloc(1, sizeof *q);
    assert_non_null(q);
    in.profile = "none", in.sensitivity = 0;
    assert_int_equal(fp8lab_claim_run(&in, q), 0);
    assert_true(!q->has_profile && q->simulated_gpu_hours == o->simulated_gpu_hours);
    free(q);
    free(o);
}

static void sweeps(void **st) {
    (void)st;
    fp8lab_sweep *s = calloc(1, sizeof *s);
    assert_int_equal(fp8lab_sweep_parse("gpus=64:16384:9", ".", 16, s), 0);
    /* geometric: 64 * 4^(i/... ) -> 64, 128, ..., 16384 */
    assert_int_equal(s->n, 9);
    assert_true(s->num[1] == 128 && s->num[8] == 16384);
    assert_int_equal(fp8lab_sweep_parse("mfu=0.2:0.6:5", ".", 16, s), 0);
    assert_true(fabs(s->num[1] - 0.3) < 1e-12);
    assert_int_equal(fp8lab_sweep_parse("precision=bf16,fp8", ".", 16, s), 0);
    assert_int_equal(s->n, 2);
    assert_int_equal(fp8lab_sweep_parse("precision=int4", ".", 16, s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "--vary"));
    assert_int_equal(fp8lab_sweep_parse("colour=red", ".", 16, s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "unknown variable 'colour'"));
    assert_int_equal(fp8lab_sweep_parse("gpus=100:10", ".", 16, s), -1);
    free(s);
}

static void curve_mfu_is_analytic(void **st) {
    (void)st;
    char mp[1200], cp[1200];
    path(mp, sizeof mp, "configs/models/llama-3-8b.json");
    path(cp, sizeof cp, "configs/clusters/h100-sxm.json");
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    assert_int_equal(fp8lab_model_load(mp, &m), 0);
    assert_int_equal(fp8lab_cluster_load(cp, &c), 0);
    fp8lab_kernel_model_default(&km);
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.gpus = 64, p.tp = 8, p.global_batch = 64;
    fp8lab_sweep *s = calloc(1, sizeof *s);
    assert_int_equal(fp8lab_sweep_parse("mfu=0.25:0.5:2", ".", 16, s), 0);
    fp8lab_curve_point pts[2];
    const fp8lab_curve_in in = {.m = &m, .c = &c, .km = &km, .base = &p, .price = 2.0, .s1 = s};
    assert_int_equal(fp8lab_curve_run(&in, pts), 0);
    /* Llama-3-8B at seq 4096: 45,027,950,592 + 32*3*32*256*4096 = 48,249,176,064 FLOP/token;
       at 25 % of 989 TFLOP/s: 247.25e12 / 48.249e9 = 5124.4 tokens/s = 18.448M per hour -> $0.1084 per M */
    assert_true(fabs(pts[0].tokens_per_gpu_hour - 0.25 * 989e12 * 3600 / 48249176064.0) < 1);
    assert_true(fabs(pts[0].cost_per_mtok - 2.0 / pts[0].tokens_per_gpu_hour * 1e6) < 1e-12);
    assert_true(fabs(pts[1].cost_per_mtok * 2 - pts[0].cost_per_mtok) < 1e-12);
    /* CSV: header plus one line per point */
    char *csv = fp8lab_curve_csv(s, NULL, pts);
    int lines = 0;
    for (char *q = csv; *q; q++) lines += *q == '\n';
    assert_int_equal(lines, 3);
    assert_non_null(strstr(csv, "cost_per_million_tokens_usd"));
    free(csv);
    free(s);
}

/* runs a command with stdout sent to a file; returns its exit code and the parsed JSON */
static int run_json(int (*cmd)(int, char **), int argc, char **argv, cJSON **out) {
    char tmp[] = "/tmp/fp8lab_outXXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    fflush(stdout);
    int saved = dup(1);
    dup2(fd, 1);
    int rc = cmd(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    static char buf[1 << 20];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unlink(tmp);
    buf[n > 0 ? n : 0] = 0;
    *out = cJSON_Parse(buf);
    return rc;
}

static void command_json(void **st) {
    (void)st;
    char mp[1200], cp[1200];
    path(mp, sizeof mp, "configs/models/deepseek-v3.json");
    path(cp, sizeof cp, "configs/clusters/h800-2048.json");
    char *argv[] = {"--model", mp, "--cluster", cp, "--pp", "16", "--ep", "64", "--schedule", "dualpipe",
                    "--precision", "fp8", "--global-batch", "15360", "--tokens", "14.8e12", "--json"};
    cJSON *j = NULL;
    assert_int_equal(run_json(cmd_sim, 17, argv, &j), 0);
    assert_non_null(j);
    const char *keys[] = {"step_time_s", "tokens_per_gpu_hour", "tflops_per_gpu", "mfu_bf16", "mfu_fp8",
                          "model_flops_per_token", "params_total", "params_activated", "memory_gb_per_gpu",
                          "gpu_hours", "days", "cost_usd", "breakdown"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (!cJSON_GetObjectItem(j, keys[i])) fprintf(stderr, "missing %s\n", keys[i]);
        assert_non_null(cJSON_GetObjectItem(j, keys[i]));
    }
    /* 14.8T tokens / tokens per GPU-hour = GPU-hours; cost at the file's $2 */
    double gh = cJSON_GetObjectItem(j, "gpu_hours")->valuedouble;
    assert_true(fabs(gh * cJSON_GetObjectItem(j, "tokens_per_gpu_hour")->valuedouble / 14.8e12 - 1) < 1e-9);
    assert_true(fabs(cJSON_GetObjectItem(j, "cost_usd")->valuedouble - 2 * gh) < 1e-6 * gh);
    cJSON_Delete(j);
    /* a bad flag value: exit 2 */
    char *bad[] = {"--model", mp, "--cluster", cp, "--schedule", "zigzag"};
    assert_int_equal(run_json(cmd_sim, 6, bad, &j), 2);
    cJSON_Delete(j);
    char *missing[] = {"--model", mp, "--cluster", "/nonexistent.json"};
    assert_int_equal(run_json(cmd_sim, 4, missing, &j), 2);
    cJSON_Delete(j);
}

static void claim_json_keys(void **st) {
    (void)st;
    if (chdir(g_dir)) fail();
    char *argv[] = {"--no-sensitivity", "--json"};
    cJSON *j = NULL;
    assert_int_equal(run_json(cmd_claim, 2, argv, &j), 0);
    assert_non_null(j);
    const char *keys[] = {"claimed_gpu_hours", "simulated_gpu_hours", "ratio", "tokens_per_gpu_hour", "mfu_bf16",
                          "mfu_fp8", "decomposition", "what_if", "verdict"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) assert_non_null(cJSON_GetObjectItem(j, keys[i]));
    assert_true(cJSON_GetObjectItem(j, "claimed_gpu_hours")->valuedouble == 2.664e6);
    double ratio = cJSON_GetObjectItem(j, "ratio")->valuedouble;
    assert_true(fabs(ratio - cJSON_GetObjectItem(j, "simulated_gpu_hours")->valuedouble / 2.664e6) < 1e-12);
    cJSON_Delete(j);
}

static void curve_plot(void **st) {
    (void)st;
    if (!fp8lab_gnuplot_available()) {
        skip();
        return;
    }
    char mp[1200], cp[1200];
    path(mp, sizeof mp, "configs/models/gpt2-124m.json");
    path(cp, sizeof cp, "configs/clusters/h100-sxm.json");
    char csv[] = "/tmp/fp8lab_curve_test.csv", png[] = "/tmp/fp8lab_curve_test.png";
    char *argv[] = {"curve", "--model", mp, "--cluster", cp, "--gpus", "8", "--vary", "precision=bf16,fp8",
                    "--vary2", "gpu=h100-sxm,h200", "--csv", csv, "--plot", png, "--json"};
    cJSON *j = NULL;
    assert_int_equal(run_json(cmd_cost, 16, argv, &j), 0);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "points")->valueint, 4);
    cJSON_Delete(j);
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char sig[8] = {0};
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_true(sig[0] == 0x89 && sig[1] == 'P' && sig[2] == 'N' && sig[3] == 'G');
    unlink(png);
    unlink(csv);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_dir, sizeof g_dir, "%s", d);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(claim_decomposition), cmocka_unit_test(sweeps),          cmocka_unit_test(curve_mfu_is_analytic),
        cmocka_unit_test(command_json),        cmocka_unit_test(claim_json_keys), cmocka_unit_test(curve_plot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
