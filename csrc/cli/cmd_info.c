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
   table, or as a JSON array of those rows. One shape and recipe: seconds and TFLOP/s. */
static double predicted(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const bench_shape *sh, int r,
                        double *tflops) {
    const double t = fp8lab_gemm_time_recipe(km, g, r, sh->m, sh->n, sh->k);
    *tflops = 2.0 * sh->m * sh->n * sh->k / t / 1e12;
    return t;
}

static void print_predictions(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const bench_shape *sh, int nsh) {
    printf("\npredicted on %s (%d SMs), plain GEMMs as `fp8lab bench gemm` times them:\n%20s %11s %9s %9s\n", g->name,
           g->sms, "M x N x K", "recipe", "ms", "TFLOP/s");
    for (int i = 0; i < nsh; i++)
        for (int r = 0; r < FP8LAB_NRECIPES; r++) {
            double tf;
            const double t = predicted(km, g, &sh[i], r, &tf);
            printf("%6d x %5d x %5d %11s %9.4f %9.1f\n", sh[i].m, sh[i].n, sh[i].k, fp8lab_km_recipe_name(r), 1e3 * t,
                   tf);
        }
}

static cJSON *predictions_json(const fp8lab_kernel_model *km, const fp8lab_gpu *g, const bench_shape *sh, int nsh) {
    cJSON *rows = cJSON_CreateArray();
    for (int i = 0; rows && i < nsh; i++)
        for (int r = 0; r < FP8LAB_NRECIPES; r++) {
            double tf;
            const double t = predicted(km, g, &sh[i], r, &tf);
            cJSON *row = cJSON_CreateObject();
            cJSON_AddItemToArray(rows, row);
            FP8LAB_JSON_ADD_EXACT(row, {"m", sh[i].m}, {"n", sh[i].n}, {"k", sh[i].k});
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
    cJSON_AddItemToObject(root, "predictions", predictions_json(km, g, sh, nsh));
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

/* What `fp8lab info` was asked for. */
typedef struct {
    const char *device, *calib, *cluster, *shapes, *card;
    int json, kernel_model;
    char card_path[1024]; /* --card's cluster file, resolved; cluster points here then */
} info_args;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

/* The kernel model the simulator uses: the defaults, refitted to --calibration when given (the rows taken as
   measured on the --cluster file's GPU, else on a 132-SM Hopper part as the defaults); with --shapes, its
   prediction for each shape on the --cluster file's GPU. */
static int print_kernel_model(const info_args *a) {
    fp8lab_kernel_model km;
    fp8lab_kernel_model_default(&km);
    fp8lab_cluster c;
    if (a->cluster && fp8lab_cluster_load(a->cluster, &c)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    if (a->calib && (a->cluster ? fp8lab_kernel_model_calibrate_gpu(&km, a->calib, &c.gpu)
                                : fp8lab_kernel_model_calibrate(&km, a->calib, km.fit_sms))) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    bench_shape sh[64];
    int nsh = a->shapes ? bench_parse_shapes("shapes", a->shapes, 3, 1, sh, 64) : 0;
    if (nsh < 0) return FP8LAB_EXIT_USAGE;
    if (nsh && a->json) {
        const int rc = print_predictions_json(&km, &c.gpu, sh, nsh);
        if (rc) return rc;
    } else {
        fp8lab_kernel_model_print(stdout, &km, a->json);
        if (nsh) print_predictions(&km, &c.gpu, sh, nsh);
    }
    return fflush(stdout) ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}

static int info_parse(info_args *a, int argc, char **argv) {
    const cli_flag flags[] = {
        {"device", FLAG_STR, &a->device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &a->json, "print one JSON object"},
        {"kernel-model", FLAG_BOOL, &a->kernel_model, "print the simulator's kernel-model fit instead (no device)"},
        {"calibration", FLAG_STR, &a->calib, "with --kernel-model: refit to this `fp8lab bench gemm --json` file"},
        {"cluster", FLAG_STR, &a->cluster,
         "with --calibration: the GPU the rows were measured on (its SMs, peaks); with --shapes: the GPU predicted"},
        {"card", FLAG_STR, &a->card,
         "with --kernel-model: the cluster file of a card by its device name, as fp8lab train picks it (\"NVIDIA "
         "H100 80GB HBM3\" -> configs/clusters/h100-sxm.json); instead of --cluster"},
        {"shapes", FLAG_STR, &a->shapes,
         "with --kernel-model and --cluster or --card: M,N,K[;M,N,K...] GEMMs to predict, every recipe"},
    };
    const int rc = cli_parse("fp8lab info [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    return GO_ON;
}

/* --card: the cluster file `fp8lab train` would pick for that device name, in place of --cluster. */
static int info_resolve_card(info_args *a) {
    const char *file, *calib_file;
    if (a->cluster) {
        fprintf(stderr, "error: --card: names the cluster file itself; leave out --cluster\n");
        return FP8LAB_EXIT_USAGE;
    }
    if (fp8lab_cluster_for_card(a->card, &file, &calib_file)) {
        fprintf(stderr, "error: --card: no cluster file models '%s' (a name holding H800, H200, H100 or A100)\n",
                a->card);
        return FP8LAB_EXIT_USAGE;
    }
    a->cluster = fp8lab_resolve_data(file, a->card_path, sizeof a->card_path);
    return GO_ON;
}

/* The kernel-model flags: only with --kernel-model, and --shapes only with a GPU to predict for. */
static int info_check(info_args *a) {
    if ((a->calib || a->cluster || a->shapes || a->card) && !a->kernel_model) {
        const char *flag = a->calib ? "calibration" : a->cluster ? "cluster" : a->shapes ? "shapes" : "card";
        fprintf(stderr, "error: --%s: only with --kernel-model\n", flag);
        return FP8LAB_EXIT_USAGE;
    }
    if (a->card) {
        const int rc = info_resolve_card(a);
        if (rc != GO_ON) return rc;
    }
    if (a->shapes && !a->cluster) {
        fprintf(stderr, "error: --shapes: needs --cluster FILE or --card NAME, the GPU to predict for\n");
        return FP8LAB_EXIT_USAGE;
    }
    return GO_ON;
}

/* The backend a run would use, and why there is no GPU when there is none. */
typedef struct {
    fp8lab_backend *be;
    int has_gpu;
    char gpu_err[512]; /* "" with a GPU */
    fp8lab_device_info di;
} info_device;

static int info_open_device(const char *device, info_device *d) {
    if (cli_check_device(device)) return FP8LAB_EXIT_USAGE;
    /* opened even for --device cpu: the report says whether this machine has a GPU */
    fp8lab_backend *gpu = fp8lab_cuda_backend_create(0);
    d->has_gpu = gpu != NULL;
    if (!gpu) snprintf(d->gpu_err, sizeof d->gpu_err, "%s", fp8lab_last_error());
    if (!strcmp(device, "cuda") && !gpu) {
        fprintf(stderr, "error: --device cuda: %s\n", d->gpu_err);
        return FP8LAB_EXIT_RUNTIME;
    }
    d->be = gpu && strcmp(device, "cpu") ? gpu : fp8lab_cpu_backend_create();
    if (d->be != gpu && gpu) fp8lab_backend_destroy(gpu);
    fp8lab_backend_info(d->be, &d->di);
    return GO_ON;
}

static void info_print_json(const info_device *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "backend", d->be->name);
    cJSON_AddStringToObject(o, "device", d->di.name);
    cJSON *pk = cJSON_AddObjectToObject(o, "peak_tflops");
    cJSON_AddNumberToObject(pk, "bf16", d->di.peak_tflops_bf16);
    cJSON_AddNumberToObject(pk, "fp8", d->di.peak_tflops_fp8);
    cJSON_AddNumberToObject(pk, "fp32", d->di.peak_tflops_fp32);
    cJSON_AddStringToObject(o, "libs", d->di.libs);
    cJSON_AddStringToObject(o, "cjson", cJSON_Version());
    if (!d->has_gpu) cJSON_AddStringToObject(o, "gpu", d->gpu_err);
    char *s = cJSON_Print(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

static void info_print_text(const info_device *d) {
    const fp8lab_device_info *di = &d->di;
    if (!d->has_gpu) printf("no GPU: CPU backend (%s)\n", d->gpu_err);
    printf("backend:  %s\ndevice:   %s\n", d->be->name, di->name);
    if (di->peak_tflops_fp8 > 0)
        printf("peaks:    BF16 %.0f, FP8 %.0f, FP32 %.0f TFLOP/s dense (datasheet)\n", di->peak_tflops_bf16,
               di->peak_tflops_fp8, di->peak_tflops_fp32);
    else
        printf("peaks:    unknown for this device (%%-of-peak is not reported)\n");
    printf("libs:     %s; cJSON %s\n", di->libs, cJSON_Version());
}

/* The device a run would use, its peaks and the library versions. */
static int info_report_device(const info_args *a) {
    info_device d = {.be = NULL, .gpu_err = ""};
    const int rc = info_open_device(a->device, &d);
    if (rc != GO_ON) return rc;
    if (a->json) info_print_json(&d);
    else info_print_text(&d);
    fp8lab_backend_destroy(d.be);
    return FP8LAB_EXIT_OK;
}

int cmd_info(int argc, char **argv) {
    info_args a = {.device = "auto"};
    int rc = info_parse(&a, argc, argv);
    if (rc == GO_ON) rc = info_check(&a);
    if (rc != GO_ON) return rc;
    if (a.kernel_model) return print_kernel_model(&a);
    return info_report_device(&a);
}
