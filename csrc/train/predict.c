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

double fp8lab_train_predict_step_ms(const fp8lab_model *m, const char *backend, const char *device_name, int B,
                                    int T, const char *prec, char *note, size_t cap) {
    if (strcmp(backend, "cuda")) {
        snprintf(note, cap, "the simulator has no model of a CPU: no prediction");
        return NAN;
    }
    /* calib: `fp8lab bench gemm --json` measured on that card (scripts/gpu_check.sh), used when it exists */
    const char *file = NULL, *calib = NULL;
    if (fp8lab_cluster_for_card(device_name, &file, &calib)) {
        snprintf(note, cap, "no cluster file for %s: no prediction", device_name);
        return NAN;
    }
    char buf[1024];
    const char *path = fp8lab_resolve_data(file, buf, sizeof buf);
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
    fp8lab_sim_result r;
    if (fp8lab_cluster_load(path, &c)) {
        snprintf(note, cap, "%s: %s", path, fp8lab_last_error());
        return NAN;
    }
    const int pr = fp8lab_prec_parse(prec);
    fp8lab_kernel_model_default(&km);
    char cbuf[1024];
    const char *cpath = fp8lab_resolve_data(calib, cbuf, sizeof cbuf);
    const int calibrated = access(cpath, R_OK) == 0;
    if (calibrated && fp8lab_kernel_model_calibrate_gpu(&km, cpath, &c.gpu)) {
        snprintf(note, cap, "%s: %s", cpath, fp8lab_last_error());
        return NAN;
    }
    fp8lab_plan_default(&p);
    p.gpus = 1;
    p.tp = p.pp = p.dp = p.ep = 1;
    p.seq = T;
    p.micro_batch = B;
    p.global_batch = B;
    p.prec = pr < 0 ? FP8LAB_PREC_BF16 : (fp8lab_prec)pr;
    if (fp8lab_simulate(m, &c, &km, &p, &r)) {
        snprintf(note, cap, "simulation refused: %s", fp8lab_last_error());
        return NAN;
    }
    snprintf(note, cap, "simulated: %s, 1 GPU, %s GEMMs, %s%s", path, fp8lab_prec_name(p.prec),
             calibrated ? "calibrated by " : "GEMM efficiencies of gpu-facts.md (no calibration file for this card)",
             calibrated ? cpath : "");
    return r.step_time_s * 1e3;
}
