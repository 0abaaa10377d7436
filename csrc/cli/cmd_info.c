/* fp8lab info: which device a run would use, the dense peaks that %-of-peak figures divide by, and the
   library versions. With --kernel-model: the simulator's kernel-model fit (per-recipe GEMM e_max and k0, HBM and
   attention efficiencies) and the file it was fitted from, the defaults or a --calibration file; no device is
   opened. */
#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"

/* The kernel model the simulator uses: the defaults, refitted to --calibration when given (the rows taken as
   measured on the --cluster file's GPU, else on a 132-SM Hopper part as the defaults). */
static int print_kernel_model(const char *calib, const char *cluster, int json) {
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    fp8lab_cluster c;
    if (cluster && fp8lab_cluster_load(cluster, &c)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    if (calib && (cluster ? fp8lab_kernel_model_calibrate_gpu(&km, calib, &c.gpu)
                          : fp8lab_kernel_model_calibrate(&km, calib, km.fit_sms))) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    fp8lab_kernel_model_print(stdout, &km, json);
    return fflush(stdout) ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}

int cmd_info(int argc, char **argv) {
    const char *device = "auto", *calib = NULL, *cluster = NULL;
    int json = 0, kernel_model = 0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
        {"kernel-model", FLAG_BOOL, &kernel_model, "print the simulator's kernel-model fit instead (no device)"},
        {"calibration", FLAG_STR, &calib, "with --kernel-model: refit to this `fp8lab bench gemm --json` file"},
        {"cluster", FLAG_STR, &cluster, "with --calibration: the GPU the rows were measured on (its SMs, peaks)"},
    };
    int rc = cli_parse("fp8lab info [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    if ((calib || cluster) && !kernel_model) {
        fprintf(stderr, "error: --%s: only with --kernel-model\n", calib ? "calibration" : "cluster");
        return FP8LAB_EXIT_USAGE;
    }
    if (kernel_model) return print_kernel_model(calib, cluster, json);
    if (cli_check_device(device)) return FP8LAB_EXIT_USAGE;
    fp8lab_backend *gpu = fp8lab_cuda_backend_create(0);
    char gpu_err[512] = "";
    if (!gpu) snprintf(gpu_err, sizeof gpu_err, "%s", fp8lab_last_error());
    if (!strcmp(device, "cuda") && !gpu) {
        fprintf(stderr, "error: --device cuda: %s\n", gpu_err);
        return FP8LAB_EXIT_RUNTIME;
    }
    fp8lab_backend *be = gpu && strcmp(device, "cpu") ? gpu : fp8lab_cpu_backend_create();
    if (be != gpu && gpu) fp8lab_backend_destroy(gpu);
    fp8lab_device_info di;
    fp8lab_backend_info(be, &di);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "backend", be->name);
        cJSON_AddStringToObject(o, "device", di.name);
        cJSON *pk = cJSON_AddObjectToObject(o, "peak_tflops");
        cJSON_AddNumberToObject(pk, "bf16", di.peak_tflops_bf16);
        cJSON_AddNumberToObject(pk, "fp8", di.peak_tflops_fp8);
        cJSON_AddNumberToObject(pk, "fp32", di.peak_tflops_fp32);
        cJSON_AddStringToObject(o, "libs", di.libs);
        cJSON_AddStringToObject(o, "cjson", cJSON_Version());
        if (!gpu) cJSON_AddStringToObject(o, "gpu", gpu_err);
        char *s = cJSON_Print(o);
        puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        if (!gpu) printf("no GPU: CPU backend (%s)\n", gpu_err);
        printf("backend:  %s\ndevice:   %s\n", be->name, di.name);
        if (di.peak_tflops_fp8 > 0)
            printf("peaks:    BF16 %.0f, FP8 %.0f, FP32 %.0f TFLOP/s dense (datasheet)\n", di.peak_tflops_bf16,
                   di.peak_tflops_fp8, di.peak_tflops_fp32);
        else
            printf("peaks:    unknown for this device (%%-of-peak is not reported)\n");
        printf("libs:     %s; cJSON %s\n", di.libs, cJSON_Version());
    }
    fp8lab_backend_destroy(be);
    return FP8LAB_EXIT_OK;
}
