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
#include "core/json.h"
#include "core/paths.h"
#include "sim/cluster.h"
#include "sim/kernel_model.h"

/* What the kernel model predicts for each --shapes GEMM and recipe on the cluster's GPU, in the shape of
   `fp8lab bench gemm`'s rows (m, n, k, recipe, ms, tflops), so that a measured file can be set beside it: as a
   table, or (json) as an array of those rows. */
static cJSON *predictions(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const bench_shape *sh, int nsh,
                          int json) {
    cJSON *rows = json ? cJSON_CreateArray() : NULL;
    if (!json) printf("\npredicted on %s (%d SMs), plain GEMMs as `fp8lab bench gemm` times them:\n%20s %11s %9s %9s\n",
                      g->name, g->sms, "M x N x K", "recipe", "ms", "TFLOP/s");
    for (int i = 0; i < nsh; i++)
        for (int r = 0; r < FP8LAB_NRECIPES; r++) {
            const double m = sh[i].m, n = sh[i].n, k = sh[i].k;
            const double t = fp8lab_gemm_time_recipe(km, g, r, m, n, k), tf = 2 * m * n * k / t / 1e12;
            if (!json) {
                printf("%6d x %5d x %5d %11s %9.4f %9.1f\n", sh[i].m, sh[i].n, sh[i].k, fp8lab_km_recipe_name(r),
                       1e3 * t, tf);
                continue;
            }
            cJSON *row = cJSON_CreateObject();
            cJSON_AddItemToArray(rows, row);
            FP8LAB_JSON_ADD_EXACT(row, {"m", m}, {"n", n}, {"k", k});
            cJSON_AddStringToObject(row, "recipe", fp8lab_km_recipe_name(r));
            FP8LAB_JSON_ADD_EXACT(row, {"ms", 1e3 * t}, {"tflops", tf});
        }
    return rows;
}

/* --shapes --json: one object, the fit, the GPU predicted for and the predictions */
static int print_predictions_json(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const bench_shape *sh,
                                  int nsh) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "kernel_model", fp8lab_kernel_model_json(km));
    cJSON_AddStringToObject(root, "gpu", g->name);
    cJSON_AddItemToObject(root, "predictions", predictions(km, g, sh, nsh, 1));
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "error: out of memory\n");
        return FP8LAB_EXIT_RUNTIME;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return FP8LAB_EXIT_OK;
}

/* The kernel model the simulator uses: the defaults, refitted to --calibration when given (the rows taken as
   measured on the --cluster file's GPU, else on a 132-SM Hopper part as the defaults); with --shapes, its
   prediction for each shape on the --cluster file's GPU. */
static int print_kernel_model(const char *calib, const char *cluster, const char *shapes, int json) {
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
    bench_shape sh[64];
    int nsh = shapes ? bench_parse_shapes("shapes", shapes, 3, 1, sh, 64) : 0;
    if (nsh < 0) return FP8LAB_EXIT_USAGE;
    if (nsh && json) {
        const int rc = print_predictions_json(&km, &c.gpu, sh, nsh);
        if (rc) return rc;
    } else {
        fp8lab_kernel_model_print(stdout, &km, json);
        if (nsh) predictions(&km, &c.gpu, sh, nsh, 0);
    }
    return fflush(stdout) ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}

int cmd_info(int argc, char **argv) {
    const char *device = "auto", *calib = NULL, *cluster = NULL, *shapes = NULL, *card = NULL;
    int json = 0, kernel_model = 0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
        {"kernel-model", FLAG_BOOL, &kernel_model, "print the simulator's kernel-model fit instead (no device)"},
        {"calibration", FLAG_STR, &calib, "with --kernel-model: refit to this `fp8lab bench gemm --json` file"},
        {"cluster", FLAG_STR, &cluster,
         "with --calibration: the GPU the rows were measured on (its SMs, peaks); with --shapes: the GPU predicted"},
        {"card", FLAG_STR, &card,
         "with --kernel-model: the cluster file of a card by its device name, as fp8lab train picks it (\"NVIDIA "
         "H100 80GB HBM3\" -> configs/clusters/h100-sxm.json); instead of --cluster"},
        {"shapes", FLAG_STR, &shapes,
         "with --kernel-model and --cluster or --card: M,N,K[;M,N,K...] GEMMs to predict, every recipe"},
    };
    int rc = cli_parse("fp8lab info [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    if ((calib || cluster || shapes || card) && !kernel_model) {
        const char *flag = calib ? "calibration" : cluster ? "cluster" : shapes ? "shapes" : "card";
        fprintf(stderr, "error: --%s: only with --kernel-model\n", flag);
        return FP8LAB_EXIT_USAGE;
    }
    char card_path[1024];
    if (card) {
        const char *file, *calib_file;
        if (cluster) {
            fprintf(stderr, "error: --card: names the cluster file itself; leave out --cluster\n");
            return FP8LAB_EXIT_USAGE;
        }
        if (fp8lab_cluster_for_card(card, &file, &calib_file)) {
            fprintf(stderr, "error: --card: no cluster file models '%s' (a name holding H800, H200, H100 or A100)\n",
                    card);
            return FP8LAB_EXIT_USAGE;
        }
        cluster = fp8lab_resolve_data(file, card_path, sizeof card_path);
    }
    if (shapes && !cluster) {
        fprintf(stderr, "error: --shapes: needs --cluster FILE or --card NAME, the GPU to predict for\n");
        return FP8LAB_EXIT_USAGE;
    }
    if (kernel_model) return print_kernel_model(calib, cluster, shapes, json);
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
