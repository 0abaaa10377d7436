/* CPU backend: the numerics of the CUDA backend on the host (cpu_quant.c, cpu_gemm.c, cpu_layers.c,
   cpu_optim.c), memory in host RAM (cpu_mem.c). This file builds the backend and describes the machine. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/cpu_internal.h"
#include "core/error.h"

typedef struct {
    void *p[CPU_SCRATCH_N];
    size_t cap[CPU_SCRATCH_N];
} cpu_ctx;

void *fp8lab_cpu_scratch(fp8lab_backend *be, fp8lab_cpu_slot slot, size_t bytes) {
    cpu_ctx *c = be->ctx;
    if (bytes == 0) bytes = 1; /* a buffer, however small: NULL means out of memory */
    if (bytes <= c->cap[slot]) return c->p[slot];
    free(c->p[slot]);
    c->p[slot] = malloc(bytes);
    c->cap[slot] = c->p[slot] ? bytes : 0;
    if (!c->p[slot]) FP8LAB_ERR_RT("out of host memory for a %zu-byte buffer", bytes);
    return c->p[slot];
}

static void cpu_destroy(fp8lab_backend *be) {
    cpu_ctx *c = be->ctx;
    for (int i = 0; i < CPU_SCRATCH_N; i++) free(c->p[i]);
    free(c);
    free(be);
}

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
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!be || !ctx) {
        free(be), free(ctx);
        FP8LAB_ERR_RT("out of host memory");
        return NULL;
    }
    openblas_set_num_threads(1); /* the backend's threads are OpenMP's: cpu_gemm.c (par_sgemm) says why */
    *be = (fp8lab_backend){
        .name = "cpu",
        .ctx = ctx,
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
