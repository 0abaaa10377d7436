/* Hostile calibration files (`--calibration FILE`, the JSON of `fp8lab bench gemm --json`): every bad row is
   refused with a message naming the file, the row, the key, the value and the range, the model is left as it
   was, and a file as large as the JSON loader accepts loads in O(n log n). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "test_util.h"

#define HEAD "{\"device\": \"test GPU\", \"peak_tflops\": {\"bf16\": 989, \"fp8\": 1979, \"fp32\": 67}, \"results\": ["
#define ROW(m, n, k, recipe, tflops)                                                                          \
    "{\"m\":" #m ",\"n\":" #n ",\"k\":" #k ",\"recipe\":\"" recipe "\",\"tflops\":" #tflops "}"

/* Writes text to a fresh temporary file; the caller unlinks path. */
static void write_temp(char *path, const char *text) {
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Expects the file to be refused as bad input (exit 2) with an error that names it and holds every needle, and
   the model to be untouched. gpu: also check rows against that GPU's peaks (NULL: the file's own only). */
static void expect_refused(const char *text, const fp8lab_gpu *gpu, const char *needle1, const char *needle2) {
    char path[] = "/tmp/fp8lab_calib_inXXXXXX";
    write_temp(path, text);
    fp8lab_kernel_model km, before;
    fp8lab_kernel_model_default(&km);
    memcpy(&before, &km, sizeof km);
    fp8lab_clear_error();
    const int rc =
        gpu ? fp8lab_kernel_model_calibrate_gpu(&km, path, gpu) : fp8lab_kernel_model_calibrate(&km, path, 132);
    const char *err = fp8lab_last_error();
    if (rc != -1 || !strstr(err, path) || !strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("file %s: rc %d, error '%s' (wanted -1 naming the file, '%s' and '%s')", text, rc, err, needle1,
                 needle2 ? needle2 : "");
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_memory_equal(&km, &before, sizeof km);
    unlink(path);
}

static void accepts_a_good_file(void **st) {
    (void)st;
    char path[] = "/tmp/fp8lab_calib_inXXXXXX";
    write_temp(path, HEAD ROW(8192, 8192, 8192, "bf16", 797) "," ROW(4096, 7168, 2048, "bf16", 718) ","
                          ROW(8192, 8192, 8192, "fp8-block", 1288) "," ROW(8192, 8192, 8192, "fp8-linear", 900) "]}");
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    assert_int_equal(fp8lab_kernel_model_calibrate(&km, path, 132), 0);
    assert_int_equal(km.npoints[FP8LAB_RECIPE_BF16], 2);
    assert_int_equal(km.npoints[FP8LAB_RECIPE_FP8_BLOCK], 1);
    assert_non_null(strstr(km.source, "3 points"));
    const fp8lab_gpu h200 = {"H200", {989, 989, 1979, 67}, 141, 4800, 132};
    assert_int_equal(fp8lab_kernel_model_calibrate_gpu(&km, path, &h200), 0);
    unlink(path);
}

/* m = 1e-300 gave a 1e296 s step; fractions, zero, negatives and absurd sizes are not measured GEMMs */
static void refuses_bad_dims(void **st) {
    (void)st;
    expect_refused(HEAD ROW(1e-300, 128, 128, "bf16", 100) "]}", NULL, "key results[0].m", "e-300");
    expect_refused(HEAD ROW(1e-300, 128, 128, "bf16", 100) "]}", NULL, "[1, 1048576]", NULL);
    expect_refused(HEAD ROW(128, 128, 128, "bf16", 100) "," ROW(128, 1.5, 128, "bf16", 100) "]}", NULL,
                   "key results[1].n", "1.5");
    expect_refused(HEAD ROW(128, 128, 0, "bf16", 100) "]}", NULL, "key results[0].k", "[1, 1048576]");
    expect_refused(HEAD ROW(-128, 128, 128, "bf16", 100) "]}", NULL, "key results[0].m", "-128");
    expect_refused(HEAD ROW(1e9, 128, 128, "bf16", 100) "]}", NULL, "key results[0].m", "1000000000");
    expect_refused(HEAD "{\"m\":128,\"n\":128,\"recipe\":\"bf16\",\"tflops\":1}]}", NULL, "key results[0].k",
                   "missing");
    expect_refused(HEAD "{\"m\":\"128\",\"n\":128,\"k\":128,\"recipe\":\"bf16\",\"tflops\":1}]}", NULL,
                   "key results[0].m", "a string");
}

/* a row faster than the peak the file states (or than the cluster's GPU) is not a measurement */
static void refuses_rows_above_peak(void **st) {
    (void)st;
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", 797) "," ROW(4096, 4096, 4096, "bf16", 5000) "]}", NULL,
                   "key results[1].tflops: 5000", "(0, 989]");
    expect_refused(HEAD ROW(8192, 8192, 8192, "fp8-tensor", 1e300) "]}", NULL, "key results[0].tflops", "(0, 1979]");
    expect_refused(HEAD ROW(8192, 8192, 8192, "fp32", 68) "]}", NULL, "key results[0].tflops: 68", "(0, 67]");
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", 0) "]}", NULL, "key results[0].tflops", "(0, 989]");
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", -5) "]}", NULL, "key results[0].tflops", "-5");
    /* fp8-linear rows are not fitted, but a row above the peak still says the file is wrong */
    expect_refused(HEAD ROW(8192, 8192, 8192, "fp8-linear", 3000) "]}", NULL, "key results[0].tflops", "(0, 1979]");
    /* the cluster's GPU: an A100-like part (312 BF16) cannot be calibrated from 797 TFLOP/s rows */
    const fp8lab_gpu a100 = {"A100", {312, 312, 0, 19.5}, 80, 2039, 108};
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", 797) "]}", &a100, "key results[0].tflops: 797",
                   "A100 peak 312");
    /* an absurd stated peak is refused itself */
    expect_refused("{\"device\": \"x\", \"peak_tflops\": {\"bf16\": 1e300}, \"results\": ["
                   ROW(128, 128, 128, "bf16", 1e299) "]}", NULL, "key peak_tflops.bf16", "e+300");
}

static void refuses_bad_rows(void **st) {
    (void)st;
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", 797) "," ROW(4096, 4096, 4096, "bf16", 700) ","
                        ROW(8192, 8192, 8192, "bf16", 790) "]}", NULL, "results[0] and results[2]", "duplicate");
    expect_refused(HEAD ROW(8192, 8192, 8192, "fp4", 797) "]}", NULL, "key results[0].recipe", "unknown recipe 'fp4'");
    /* fp8-linear (a per-row scaled GEMM) has no fit; fp8-1x128 rows are fitted (the Wgrad recipe) */
    expect_refused(HEAD ROW(8192, 8192, 8192, "fp8-linear", 900) "]}", NULL, "no usable row",
                   "bf16, fp8-tensor, fp8-block, fp32, fp8-1x128");
    expect_refused(HEAD "]}", NULL, "key results", "non-empty array");
    expect_refused(HEAD "7]}", NULL, "key results[0]", "expected an object");
    const fp8lab_gpu no_sms = {"broken", {989, 989, 1979, 67}, 80, 3350, 0};
    expect_refused(HEAD ROW(8192, 8192, 8192, "bf16", 797) "]}", &no_sms, "SM count 0", NULL);
}

/* ~158k rows, just under the loader's 8 MiB cap: walking the array by index was quadratic (minutes), and the
   fit kept only the first 256 points of a recipe. Completing is the check; ctest's timeout catches a hang. */
static void loads_the_largest_file(void **st) {
    (void)st;
    enum { NROWS = 158000, SIDE = 54 };
    size_t cap = 8u << 20, len = 0;
    char *text = malloc(cap + 1);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "{\"device\":\"t\",\"peak_tflops\":{\"bf16\":989,\"fp32\":67},\"results\":[");
    int nb = 0;
    for (int i = 0; i < NROWS; i++) {
        /* distinct (m, n, k) per recipe; two-digit sizes keep the file under the cap */
        const int fp32 = i & 1, j = i >> 1;
        nb += !fp32;
        len += (size_t)snprintf(text + len, cap - len, "%s{\"m\":%d,\"n\":%d,\"k\":%d,\"recipe\":\"%s\",\"tflops\":%d}",
                                i ? "," : "", 10 + j % SIDE, 10 + j / SIDE % SIDE, 10 + j / (SIDE * SIDE),
                                fp32 ? "fp32" : "bf16", fp32 ? 30 : 500);
        assert_true(len < cap - 8);
    }
    len += (size_t)snprintf(text + len, cap - len, "]}");
    assert_true(len < cap);
    char path[] = "/tmp/fp8lab_calib_bigXXXXXX";
    write_temp(path, text);
    free(text);
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    if (fp8lab_kernel_model_calibrate(&km, path, 132)) fail_msg("%s", fp8lab_last_error());
    assert_int_equal(km.npoints[FP8LAB_RECIPE_BF16], nb);
    assert_int_equal(km.npoints[FP8LAB_RECIPE_FP32], NROWS - nb);
    assert_true(km.e_max[FP8LAB_RECIPE_BF16] > 0 && km.e_max[FP8LAB_RECIPE_BF16] <= 1);
    assert_true(isfinite(km.rms_log_err[FP8LAB_RECIPE_FP32]));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_a_good_file),     cmocka_unit_test(refuses_bad_dims),
        cmocka_unit_test(refuses_rows_above_peak), cmocka_unit_test(refuses_bad_rows),
        cmocka_unit_test(loads_the_largest_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
