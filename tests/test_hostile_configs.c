/* Regression tests for the security review of the loaders and the simulator (issue 7): numbers are parsed
   strictly, config values outside their documented ranges are refused with a message naming the file, key,
   value and range (never truncated to int, never looped over for hours), and plans from any source are checked
   before the simulator's arithmetic sees them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/num.h"
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"

/* ---- the strict number parser ---------------------------------------------------------------------------- */

static void expect_int(const char *s, int want_rc, int64_t want) {
    int64_t v = 12345;
    int rc = fp8lab_parse_int(s, FP8LAB_RANGE(-1e15, 1e15), &v);
    if (rc != want_rc) fprintf(stderr, "parse_int('%s') = %d, wanted %d\n", s, rc, want_rc);
    assert_int_equal(rc, want_rc);
    if (want_rc == FP8LAB_NUM_OK) assert_true(v == want);
}

static void parse_int_strict(void **st) {
    (void)st;
    expect_int("8", FP8LAB_NUM_OK, 8);
    expect_int("+8", FP8LAB_NUM_OK, 8);
    expect_int("-8", FP8LAB_NUM_OK, -8);
    expect_int("007", FP8LAB_NUM_OK, 7);
    expect_int("14.8e12", FP8LAB_NUM_OK, 14800000000000LL); /* README's --tokens */
    expect_int("1e9", FP8LAB_NUM_OK, 1000000000LL);
    expect_int("10e-1", FP8LAB_NUM_OK, 1);
    expect_int("2.50e1", FP8LAB_NUM_OK, 25);
    expect_int("1.5", FP8LAB_NUM_SYNTAX, 0);        /* was read as 1 */
    expect_int("1e-1", FP8LAB_NUM_SYNTAX, 0);
    expect_int("0x10", FP8LAB_NUM_SYNTAX, 0);       /* was read as 0 or 16 */
    expect_int("", FP8LAB_NUM_SYNTAX, 0);
    expect_int(" 1", FP8LAB_NUM_SYNTAX, 0);
    expect_int("1 ", FP8LAB_NUM_SYNTAX, 0);
    expect_int("1e", FP8LAB_NUM_SYNTAX, 0);
    expect_int(".", FP8LAB_NUM_SYNTAX, 0);
    expect_int("inf", FP8LAB_NUM_SYNTAX, 0);
    expect_int("nan", FP8LAB_NUM_SYNTAX, 0);
    expect_int("9223372036854775808", FP8LAB_NUM_RANGE, 0); /* 2^63: overflow, not wrap */
    expect_int("9.2e18", FP8LAB_NUM_RANGE, 0);
    expect_int("1e99999", FP8LAB_NUM_RANGE, 0);
    expect_int("1e999999", FP8LAB_NUM_SYNTAX, 0); /* exponent too long to be a size */
    expect_int("2e15", FP8LAB_NUM_RANGE, 0);
    expect_int("0e99999", FP8LAB_NUM_OK, 0);
    int64_t v;
    assert_int_equal(fp8lab_parse_int("0", FP8LAB_RANGE_POS(5), &v), FP8LAB_NUM_RANGE); /* (0, 5] */
    assert_int_equal(fp8lab_parse_int("5", FP8LAB_RANGE_POS(5), &v), FP8LAB_NUM_OK);
}

static void parse_real_strict(void **st) {
    (void)st;
    fp8lab_range r = FP8LAB_RANGE(-1e300, 1e300);
    double v;
    assert_int_equal(fp8lab_parse_real("0.25", r, &v), FP8LAB_NUM_OK);
    assert_true(v == 0.25);
    assert_int_equal(fp8lab_parse_real("-1.5e3", r, &v), FP8LAB_NUM_OK);
    assert_true(v == -1500);
    assert_int_equal(fp8lab_parse_real("1e-300", r, &v), FP8LAB_NUM_OK);
    assert_int_equal(fp8lab_parse_real("inf", r, &v), FP8LAB_NUM_SYNTAX);
    assert_int_equal(fp8lab_parse_real("-infinity", r, &v), FP8LAB_NUM_SYNTAX);
    assert_int_equal(fp8lab_parse_real("nan", r, &v), FP8LAB_NUM_SYNTAX);
    assert_int_equal(fp8lab_parse_real("0x1p3", r, &v), FP8LAB_NUM_SYNTAX);
    assert_int_equal(fp8lab_parse_real("1e999", r, &v), FP8LAB_NUM_RANGE);
    assert_int_equal(fp8lab_parse_real("2", FP8LAB_RANGE_POS(1), &v), FP8LAB_NUM_RANGE);
    assert_int_equal(fp8lab_parse_real("0", FP8LAB_RANGE_POS(1), &v), FP8LAB_NUM_RANGE);
    char buf[64];
    assert_string_equal(fp8lab_range_str(FP8LAB_RANGE_POS(1), buf, sizeof buf), "(0, 1]");
    assert_string_equal(fp8lab_range_str(FP8LAB_RANGE(1, 1048576), buf, sizeof buf), "[1, 1048576]");
    int64_t p;
    assert_int_equal(fp8lab_mul_i64(INT64_MAX / 2 + 1, 2, &p), -1);
    assert_int_equal(fp8lab_mul_i64(1L << 31, 1L << 31, &p), 0);
    assert_true(p == (int64_t)1 << 62);
}

/* ---- config files ---------------------------------------------------------------------------------------- */

static char g_dir[] = "/tmp/fp8lab_hostileXXXXXX";

static const char *write_tmp(const char *name, const char *text) {
    static char path[2048];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* the load fails and the message carries every needle */
static void expect_refused(int is_model, const char *text, const char *n1, const char *n2) {
    const char *path = write_tmp(is_model ? "model.json" : "cluster.json", text);
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_clear_error();
    int rc = is_model ? fp8lab_model_load(path, &m) : fp8lab_cluster_load(path, &c);
    const char *e = fp8lab_last_error();
    if (rc != -1 || !strstr(e, path) || !strstr(e, n1) || (n2 && !strstr(e, n2)))
        fprintf(stderr, "rc %d, message '%s', wanted '%s' and '%s'\n", rc, e, n1, n2 ? n2 : "");
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e, path));
    assert_non_null(strstr(e, n1));
    if (n2) assert_non_null(strstr(e, n2));
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
}

static char *gpt2(const char *layers) {
    static char b[512];
    snprintf(b, sizeof b,
             "{\"model_type\": \"gpt2\", \"vocab_size\": 50257, \"n_embd\": 768, \"n_layer\": %s, \"n_head\": 12}",
             layers);
    return b;
}

static char *cluster(const char *sms, const char *num_gpus, const char *gpn) {
    static char b[1024];
    snprintf(b, sizeof b,
             "{\"name\": \"c\", \"gpu\": {\"name\": \"g\", \"peak_tflops\": {\"bf16\": 989, \"fp16\": 989, "
             "\"fp8\": 1979, \"fp32\": 67}, \"hbm_gb\": 80, \"hbm_gbps\": 3350, \"sms\": %s}, \"num_gpus\": %s, "
             "\"gpus_per_node\": %s, \"intra_node_gbps\": 360, \"inter_node_gbps_per_gpu\": 50, "
             "\"price_per_gpu_hour\": 2}",
             sms, num_gpus, gpn);
    return b;
}

static char *dsv3(const char *key, const char *value) {
    static char b[2048];
    snprintf(b, sizeof b,
             "{\"model_type\": \"deepseek_v3\", \"vocab_size\": 129280, \"hidden_size\": 7168, "
             "\"num_hidden_layers\": 61, \"num_attention_heads\": 128, \"intermediate_size\": 18432, "
             "\"q_lora_rank\": 1536, \"kv_lora_rank\": 512, \"qk_nope_head_dim\": 128, \"qk_rope_head_dim\": 64, "
             "\"v_head_dim\": 128, \"n_routed_experts\": 256, \"moe_intermediate_size\": 2048, "
             "\"num_experts_per_tok\": 8, \"first_k_dense_replace\": 3, \"%s\": %s}",
             key, value);
    return b;
}

static void configs_out_of_range(void **st) {
    (void)st;
    /* n_layer 2^32+1 was truncated to 1 in an int and overflowed the layer array in sim/step.c */
    expect_refused(1, gpt2("4294967297"), "key n_layer: 4294967297 is not in [1, 4096]", NULL);
    /* n_layer 1e15 passed validation and then looped over every layer */
    expect_refused(1, gpt2("1e15"), "key n_layer", "[1, 4096]");
    expect_refused(1, gpt2("12.5"), "key n_layer: expected an integer in [1, 4096], got 12.5", NULL);
    expect_refused(1, gpt2("\"12\""), "key n_layer: expected an integer in [1, 4096], got a string", NULL);
    expect_refused(1, gpt2("0"), "key n_layer: 0 is not in [1, 4096]", NULL);
    expect_refused(1, dsv3("n_shared_experts", "9e15"), "key n_shared_experts", "[0, 1024]");
    expect_refused(1, dsv3("num_nextn_predict_layers", "2147483648"), "key num_nextn_predict_layers", "[0, 64]");
    /* gpus_per_node 2^32 divided by zero; 2^32+8 silently meant 8; 2^31 blamed --tp */
    expect_refused(0, cluster("132", "2048", "4294967296"), "key gpus_per_node: 4294967296 is not in [1, 1024]",
                   NULL);
    expect_refused(0, cluster("132", "2048", "4294967304"), "key gpus_per_node", "[1, 1024]");
    expect_refused(0, cluster("132", "2048", "2147483648"), "key gpus_per_node", "[1, 1024]");
    /* sms 2^32 became 0 and the error blamed --comm-sms */
    expect_refused(0, cluster("4294967296", "2048", "8"), "key gpu.sms: 4294967296 is not in [1, 1024]", NULL);
    expect_refused(0, cluster("4294967304", "2048", "8"), "key gpu.sms", NULL);
    /* num_gpus 9e15 gave a negative dp */
    expect_refused(0, cluster("132", "9e15", "8"), "key num_gpus", "[1, 1048576]");
}

static void config_not_a_file(void **st) {
    (void)st;
    fp8lab_model m;
    /* a directory used to say "invalid JSON at line 1" */
    assert_int_equal(fp8lab_model_load(g_dir, &m), -1);
    assert_non_null(strstr(fp8lab_last_error(), "not a regular file (a directory)"));
    /* a FIFO must not block waiting for a writer */
    char fifo[2048];
    snprintf(fifo, sizeof fifo, "%s/fifo.json", g_dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(fp8lab_model_load(fifo, &m), -1);
    assert_non_null(strstr(fp8lab_last_error(), "not a regular file"));
    unlink(fifo);
}

/* ---- plans from any source ------------------------------------------------------------------------------- */

static void load_pair(fp8lab_model *m, fp8lab_cluster *c) {
    const char *src = getenv("FP8LAB_SOURCE_DIR");
    char path[2048];
    snprintf(path, sizeof path, "%s/configs/models/gpt2-124m.json", src ? src : "..");
    assert_int_equal(fp8lab_model_load(path, m), 0);
    snprintf(path, sizeof path, "%s/configs/clusters/h100-sxm.json", src ? src : "..");
    assert_int_equal(fp8lab_cluster_load(path, c), 0);
}

typedef struct {
    void (*set)(fp8lab_plan *p);
    const char *needle;
} plan_case;

static void neg_gpus(fp8lab_plan *p) { p->gpus = -8; }
static void neg_seq(fp8lab_plan *p) { p->seq = -5; }
static void neg_batch(fp8lab_plan *p) { p->global_batch = -7; }
static void huge_micro(fp8lab_plan *p) { p->micro_batch = 9200000000000000000L; }
static void inf_imbalance(fp8lab_plan *p) { p->moe_imbalance = INFINITY; }
static void half_imbalance(fp8lab_plan *p) { p->moe_imbalance = 0.5; }
static void neg_imbalance(fp8lab_plan *p) { p->moe_imbalance = -1; }
static void nan_goodput(fp8lab_plan *p) { p->goodput = NAN; }
static void bad_schedule(fp8lab_plan *p) { p->schedule = (fp8lab_pp_schedule)7; }
static void comm_sms_all(fp8lab_plan *p) { p->comm_sms = 132; }
static void default_batch_overflow(fp8lab_plan *p) {
    p->gpus = 1024, p->pp = 1024, p->micro_batch = 1L << 20; /* dp 1 x 2^20 x 4096 */
}

static void plans_out_of_range(void **st) {
    (void)st;
    fp8lab_model m;
    fp8lab_cluster c;
    load_pair(&m, &c);
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    const plan_case cases[] = {
        {neg_gpus, "--gpus: -8 is not in [0, 1048576]"},   /* simulated the cluster's default */
        {neg_seq, "--seq: -5 is not in"},                  /* fell back to the default */
        {neg_batch, "--global-batch: -7 is not in"},       /* fell back to the default */
        {huge_micro, "--micro-batch: 9.2e+18 is not in"},  /* overflowed into negative tokens */
        {inf_imbalance, "--moe-imbalance: inf is neither 0"}, /* printed -nan */
        {half_imbalance, "--moe-imbalance: 0.5 is neither 0"},
        {neg_imbalance, "--moe-imbalance: -1 is neither 0"},
        {nan_goodput, "--goodput: nan is not in (0, 1]"},
        {bad_schedule, "--schedule: 7 is not in"},
        {comm_sms_all, "--comm-sms: 132 is not in [0, 132) (the GPU has 132 SMs"},
        {default_batch_overflow, "--global-batch: the default"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp8lab_plan p;
        fp8lab_plan_default(&p);
        p.gpus = 8;
        cases[i].set(&p);
        fp8lab_sim_result r;
        fp8lab_clear_error();
        int rc = fp8lab_simulate(&m, &c, &km, &p, &r);
        if (rc != -1 || !strstr(fp8lab_last_error(), cases[i].needle))
            fprintf(stderr, "case %zu: rc %d, '%s', wanted '%s'\n", i, rc, fp8lab_last_error(), cases[i].needle);
        assert_int_equal(rc, -1);
        assert_non_null(strstr(fp8lab_last_error(), cases[i].needle));
    }
    /* and a sane plan still simulates */
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.gpus = 8;
    fp8lab_sim_result r;
    assert_int_equal(fp8lab_simulate(&m, &c, &km, &p, &r), 0);
    assert_true(r.step_time_s > 0 && isfinite(r.tokens_per_gpu_hour));
}

static int setup(void **st) {
    (void)st;
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char path[2048];
    snprintf(path, sizeof path, "%s/model.json", g_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/cluster.json", g_dir);
    unlink(path);
    return rmdir(g_dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_int_strict),     cmocka_unit_test(parse_real_strict),
        cmocka_unit_test(configs_out_of_range), cmocka_unit_test(config_not_a_file),
        cmocka_unit_test(plans_out_of_range),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
