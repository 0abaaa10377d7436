#include "train/predict.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/paths.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"

/* The card's cluster file and kernel model: refitted from the card's `fp8lab bench gemm --json` file
   (scripts/gpu_check.sh) where there is one. Returns 0, or -1 with note saying why not. */
typedef struct {
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    char path[1024], calib[1024];
    int calibrated;
} card_t;

static int load_card(const char *device, card_t *cd, char *note, size_t cap) {
    const char *file = NULL, *calib = NULL;
    if (fp8lab_cluster_for_card(device, &file, &calib)) {
        snprintf(note, cap, "no cluster file for %s: no prediction", device);
        return -1;
    }
    char buf[1024];
    snprintf(cd->path, sizeof cd->path, "%s", fp8lab_resolve_data(file, buf, sizeof buf));
    snprintf(cd->calib, sizeof cd->calib, "%s", fp8lab_resolve_data(calib, buf, sizeof buf));
    if (fp8lab_cluster_load(cd->path, &cd->c)) {
        snprintf(note, cap, "%s: %s", cd->path, fp8lab_last_error());
        return -1;
    }
    fp8lab_kernel_model_default(&cd->km);
    cd->calibrated = access(cd->calib, R_OK) == 0;
    if (cd->calibrated && fp8lab_kernel_model_calibrate_gpu(&cd->km, cd->calib, &cd->c.gpu)) {
        snprintf(note, cap, "%s: %s", cd->calib, fp8lab_last_error());
        return -1;
    }
    return 0;
}

/* One GPU, no parallelism: micro-batch = global batch = the trainer's B sequences of T */
static void one_gpu_plan(const fp8lab_predict_in *in, fp8lab_plan *p) {
    const int pr = fp8lab_prec_parse(in->prec);
    fp8lab_plan_default(p);
    p->gpus = 1;
    p->tp = p->pp = p->dp = p->ep = 1;
    p->seq = in->seq;
    p->micro_batch = p->global_batch = in->batch;
    p->prec = pr < 0 ? FP8LAB_PREC_BF16 : (fp8lab_prec)pr;
}

double fp8lab_train_predict_step_ms(const fp8lab_predict_in *in, char *note, size_t cap) {
    if (strcmp(in->backend, "cuda")) {
        snprintf(note, cap, "the simulator has no model of a CPU: no prediction");
        return NAN;
    }
    card_t cd;
    if (load_card(in->device, &cd, note, cap)) return NAN;
    fp8lab_plan p;
    one_gpu_plan(in, &p);
    fp8lab_sim_result r;
    if (fp8lab_simulate(in->model, &cd.c, &cd.km, &p, &r)) {
        snprintf(note, cap, "simulation refused: %s", fp8lab_last_error());
        return NAN;
    }
    snprintf(note, cap, "simulated: %s, 1 GPU, %s GEMMs, %s%s", cd.path, fp8lab_prec_name(p.prec),
             cd.calibrated ? "calibrated by " : "GEMM efficiencies of gpu-facts.md (no calibration file for this card)",
             cd.calibrated ? cd.calib : "");
    return r.step_time_s * 1e3;
}
