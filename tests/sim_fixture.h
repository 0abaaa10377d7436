/* Shared by the simulator tests: the repository's model and cluster files, and the DeepSeek-V3 claim's layout.
   Header-only (each test is its own executable); the includer defines the repository root, FP8LAB_SOURCE_DIR
   from ctest, before calling. */
#ifndef FP8LAB_SIM_FIXTURE_H
#define FP8LAB_SIM_FIXTURE_H
#include <stdio.h>

#include "core/error.h"
#include "model/config.h"
#include "sim/claim.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"
#include "sim/step.h"

/* configs/models/<model> and configs/clusters/<cluster> under root; a load error fails the test, naming it */
static inline void sim_fixture_load(const char *root, const char *model, fp8lab_model *m, const char *cluster,
                                    fp8lab_cluster *c) {
    char p[1200];
    snprintf(p, sizeof p, "%s/configs/models/%s", root, model);
    if (fp8lab_model_load(p, m)) fail_msg("%s", fp8lab_last_error());
    snprintf(p, sizeof p, "%s/configs/clusters/%s", root, cluster);
    if (fp8lab_cluster_load(p, c)) fail_msg("%s", fp8lab_last_error());
}

/* What a simulator test starts from: the repository's model and cluster files, the default kernel model and plan */
typedef struct {
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
} sim_fixture_env;

static inline void sim_fixture_setup(const char *root, const char *model, const char *cluster, sim_fixture_env *e) {
    sim_fixture_load(root, model, &e->m, cluster, &e->c);
    fp8lab_kernel_model_default(&e->km);
    fp8lab_plan_default(&e->p);
}

/* DeepSeek-V3's published layout as fp8lab claim simulates it (sec. 3.2): PP16 DualPipe, EP64, ZeRO-1, FP8,
   20 communication SMs, selective recompute, the full batch of 15360 sequences */
static inline void sim_fixture_dsv3_plan(fp8lab_plan *p) { fp8lab_claim_plan(p); }

#endif
