/* The step time `fp8lab train` prints beside the measured one on a GPU (train/predict.h): which card's cluster and
   calibration files it reads, and that its figure is the simulator's for one GPU running the trainer's batch. It
   reads only the device's name, so it is checked here without a GPU, against the simulator called directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/config.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"
#include "train/predict.h"

static fp8lab_model g_gpt2;

/* The simulator on its own: the cluster file, the kernel model (refitted from calib when given), one GPU with
   micro-batch = global batch = B sequences of T. */
static double simulated_ms(const char *cluster, const char *calib, fp8lab_prec prec, int B, int T) {
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    assert_int_equal(fp8lab_cluster_load(cluster, &c), 0);
    fp8lab_kernel_model_default(&km);
    if (calib) assert_int_equal(fp8lab_kernel_model_calibrate_gpu(&km, calib, &c.gpu), 0);
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.gpus = 1, p.seq = T, p.micro_batch = B, p.global_batch = B, p.prec = prec;
    fp8lab_sim_result r;
    assert_int_equal(fp8lab_simulate(&g_gpt2, &c, &km, &p, &r), 0);
    return r.step_time_s * 1e3;
}

static double predict(const char *backend, const char *device, int B, int T, const char *prec, char *note,
                      size_t cap) {
    const fp8lab_predict_in in = {.model = &g_gpt2, .backend = backend, .device = device, .batch = B, .seq = T,
                                  .prec = prec};
    return fp8lab_train_predict_step_ms(&in, note, cap);
}

/* A card with its own measured GEMMs (configs/calibration/h100-sxm.json) is simulated with them. */
static void calibrated_card(void **st) {
    (void)st;
    char note[512];
    const double ms = predict("cuda", "NVIDIA H100 80GB HBM3", 8, 1024, "fp8", note, sizeof note);
    const double want = simulated_ms("configs/clusters/h100-sxm.json", "configs/calibration/h100-sxm.json",
                                     FP8LAB_PREC_FP8, 8, 1024);
    assert_true(isfinite(ms) && ms > 0);
    assert_true(fabs(ms - want) <= 1e-12 * want);
    assert_non_null(strstr(note, "calibrated by configs/calibration/h100-sxm.json"));
    assert_non_null(strstr(note, "fp8 GEMMs"));
    /* the recipe's precision reaches the simulation: BF16 is another one (for GPT-2 124M not a slower one: at 768
       wide the FP8 casts cost more than the faster GEMMs save) */
    const double bf16 = predict("cuda", "NVIDIA H100 80GB HBM3", 8, 1024, "bf16", note, sizeof note);
    assert_true(fabs(bf16 - simulated_ms("configs/clusters/h100-sxm.json", "configs/calibration/h100-sxm.json",
                                         FP8LAB_PREC_BF16, 8, 1024)) <= 1e-12 * bf16);
    assert_true(bf16 != ms);
    assert_non_null(strstr(note, "bf16 GEMMs"));
}

/* A card without a calibration file gets the defaults (fitted to the H200 table), and says so. */
static void uncalibrated_card(void **st) {
    (void)st;
    char note[512];
    assert_int_not_equal(access("configs/calibration/h200.json", R_OK), 0);
    const double ms = predict("cuda", "NVIDIA H200", 4, 512, "bf16", note, sizeof note);
    const double want = simulated_ms("configs/clusters/h200.json", NULL, FP8LAB_PREC_BF16, 4, 512);
    assert_true(fabs(ms - want) <= 1e-12 * want);
    assert_non_null(strstr(note, "no calibration file for this card"));
    assert_non_null(strstr(note, "configs/clusters/h200.json"));
}

/* No prediction, and why: the CPU backend, a card the simulator has no cluster file for */
static void no_prediction(void **st) {
    (void)st;
    char note[512];
    assert_true(isnan(predict("cpu", "x86-64 CPU", 4, 64, "fp32", note, sizeof note)));
    assert_non_null(strstr(note, "no model of a CPU"));
    assert_true(isnan(predict("cuda", "Tesla V100-SXM2-32GB", 4, 64, "bf16", note, sizeof note)));
    assert_non_null(strstr(note, "no cluster file for Tesla V100-SXM2-32GB"));
}

int main(void) {
    /* the card files are named relative to the repository root */
    const char *src = getenv("FP8LAB_SOURCE_DIR");
    if (!src || chdir(src)) {
        fprintf(stderr, "FP8LAB_SOURCE_DIR not set or not a directory (run through ctest)\n");
        return 1;
    }
    if (fp8lab_model_load("configs/models/gpt2-124m.json", &g_gpt2)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(calibrated_card),
        cmocka_unit_test(uncalibrated_card),
        cmocka_unit_test(no_prediction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
