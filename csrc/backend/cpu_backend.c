/* CPU backend: the numerics of the CUDA backend on the host (cpu_quant.c, cpu_gemm.c, cpu_layers.c,
   cpu_optim.c), memory in host RAM (cpu_mem.c). This file builds the backend and describes the machine. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu_internal.h"
#include "core/error.h"

static void cpu_destroy(fp8lab_backend *be) { free(be); }

/* "CPU: <model name> (<n> cores)" from /proc/cpuinfo */
static void cpu_name(char *name, size_t n) {
    snprintf(name, n, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && colon) {
                colon += 2;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(name, n, "CPU: %s", colon);
                break;
            }
        }
        fclose(f);
    }
    const size_t len = strlen(name);
    snprintf(name + len, n - len, " (%ld cores)", sysconf(_SC_NPROCESSORS_ONLN));
}

static int cpu_info(fp8lab_backend *be, fp8lab_device_info *out) {
    (void)be;
    memset(out, 0, sizeof *out);
    cpu_name(out->name, sizeof out->name);
    /* no dependable dense peak for a CPU: pct-of-peak is reported as unknown */
    snprintf(out->libs, sizeof out->libs, "OpenBLAS %s", openblas_get_config());
    return 0;
}

fp8lab_backend *fp8lab_cpu_backend_create(void) {
    fp8lab_backend *be = malloc(sizeof *be);
    if (!be) {
        FP8LAB_ERR_RT("out of host memory");
        return NULL;
    }
    openblas_set_num_threads(1); /* the backend's threads are OpenMP's: cpu_gemm.c (par_sgemm) says why */
    *be = (fp8lab_backend){
        .name = "cpu",
        .destroy = cpu_destroy,
        .info = cpu_info,
        .mem = &fp8lab_cpu_mem_ops,
        .quant = &fp8lab_cpu_quant_ops,
        .gemm = &fp8lab_cpu_gemm_ops,
        .layers = &fp8lab_cpu_layer_ops,
        .optim = &fp8lab_cpu_optim_ops,
    };
    return be;
}
