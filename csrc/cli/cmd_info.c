/* fp8lab info: which device a run would use, the dense peaks that %-of-peak figures divide by, and the
   library versions. */
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

int cmd_info(int argc, char **argv) {
    const char *device = "auto";
    int json = 0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    int rc = cli_parse("fp8lab info [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
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
