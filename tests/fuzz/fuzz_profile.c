/* Fuzz target: DeepSeek's profile by kernel family (sim/profile.h, `fp8lab claim --profile FILE`) on any bytes,
   compared with the claim's chunk of DeepSeek-V3 on the H800 cluster (loaded once from configs/). An accepted
   input must give finite, non-negative measured and simulated times and a factor that is their ratio. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "fuzz_util.h"
#include "sim/claim.h"
#include "sim/kernel_model.h"
#include "sim/profile.h"

typedef struct {
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan plan;
} env_t;

static const env_t *env(void) {
    static env_t e;
    static int ready;
    if (ready) return &e;
    char p[1024];
    snprintf(p, sizeof p, "%s/models/deepseek-v3.json", fuzz_configs_dir());
    if (fp8lab_model_load(p, &e.m)) abort();
    snprintf(p, sizeof p, "%s/clusters/h800-2048.json", fuzz_configs_dir());
    if (fp8lab_cluster_load(p, &e.c)) abort();
    fp8lab_kernel_model_default(&e.km);
    /* the claim's layout, balanced routing as profiled */
    fp8lab_claim_plan(&e.plan);
    e.plan.moe_imbalance = 1.0;
    ready = 1;
    return &e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static fuzz_file file;
    const env_t *e = env();
    fp8lab_profile_cmp o;
    if (fp8lab_profile_compare(fuzz_file_set(&file, data, size), &e->m, &e->c, &e->km, &e->plan, &o) == 0) {
        double sum = 0;
        for (int f = 0; f < FP8LAB_PF_N; f++) {
            if (!(o.measured_ms[f] >= 0) || !isfinite(o.measured_ms[f]) || !(o.simulated_ms[f] >= 0)) abort();
            sum += o.simulated_ms[f];
        }
        if (!(o.simulated_compute_ms > 0) || fabs(sum - o.simulated_compute_ms) > 1e-9 * sum ||
            !(o.measured_compute_ms > 0) || fabs(o.factor * o.simulated_compute_ms - o.measured_compute_ms) >
                                                 1e-9 * o.measured_compute_ms)
            abort();
    }
    fp8lab_clear_error();
    return 0;
}
