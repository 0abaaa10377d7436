/* fp8lab bench quant: GB/s of the cast and quantize kernels against a device-to-device copy measured in the same
   process. Bytes are the minimum each op must move (read the FP32 input once, write its outputs once), so the
   ratio to the copy says how close a kernel is to the memory system's limit. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/bench.h"
#include "cli/bench_util.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/timer.h"
#include "fp8/quant.h"

typedef enum { Q_COPY, Q_BF16, Q_TENSOR, Q_1x128, Q_1x128_T, Q_128x128, Q_COUNT } quant_op;
static const char *QOP[Q_COUNT] = {"copy", "cast-bf16", "quant-tensor", "quant-1x128", "quant-1x128-t",
                                   "quant-128x128"};

static const char *CUDA_SHAPES = "4096,7168;16384,7168;4096,18432";
static const char *CPU_SHAPES = "1024,1024;4096,1024";

typedef struct {
    float *x;
    float *y; /* copy destination */
    uint8_t *q, *qt;
    float *s, *st;
} quant_bufs;

static double op_bytes(quant_op op, double n) {
    switch (op) {
    case Q_COPY: return 8 * n;
    case Q_BF16: return 6 * n;
    case Q_TENSOR: return 5 * n;
    case Q_1x128: return 5 * n + 4 * n / 128;
    case Q_1x128_T: return 6 * n + 8 * n / 128;
    case Q_128x128: return 5 * n + 4 * n / (128 * 128);
    default: return 0;
    }
}

static int op_run(fp8lab_backend *be, quant_op op, quant_bufs *b, int rows, int cols) {
    const long n = (long)rows * cols;
    switch (op) {
    case Q_COPY: return fp8lab_copy_d2d(be, b->y, b->x, (size_t)n * 4);
    case Q_BF16: return fp8lab_cast_f32_to_bf16(be, b->x, n, (uint16_t *)b->y);
    case Q_TENSOR: return fp8lab_quantize_tensor(be, b->x, n, FP8_E4M3, 0, b->q, b->s);
    case Q_1x128: return fp8lab_quantize_1x128(be, b->x, rows, cols, FP8_E4M3, 0, b->q, b->s);
    case Q_1x128_T: return fp8lab_quantize_1x128_t(be, b->x, rows, cols, FP8_E4M3, 0, b->q, b->s, b->qt, b->st);
    case Q_128x128: return fp8lab_quantize_128x128(be, b->x, rows, cols, FP8_E4M3, 0, b->q, b->s);
    default: return -1;
    }
}

static void bufs_free(fp8lab_backend *be, quant_bufs *b) {
    void *p[] = {b->x, b->y, b->q, b->qt, b->s, b->st};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) fp8lab_free(be, p[i]);
    *b = (quant_bufs){0};
}

/* Device buffers for one rows x cols shape; 0, or 1 with the backend's error (naming the bytes) set. s holds
   the 1x128 or the 128x128 scales of x, st the 1x128 scales of x^T. */
static int bufs_alloc(fp8lab_backend *be, quant_bufs *b, int rows, int cols) {
    const size_t n = (size_t)rows * cols, s1 = fp8lab_scale_1x128_count(rows, cols),
                 s128 = fp8lab_scale_128x128_count(rows, cols);
    return !(b->x = fp8lab_alloc(be, n * 4)) || !(b->y = fp8lab_alloc(be, n * 4)) || !(b->q = fp8lab_alloc(be, n)) ||
           !(b->qt = fp8lab_alloc(be, n)) || !(b->s = fp8lab_alloc(be, sizeof(float) * (s1 > s128 ? s1 : s128))) ||
           !(b->st = fp8lab_alloc(be, sizeof(float) * fp8lab_scale_1x128_count(cols, rows)));
}

/* Host bytes of one shape: the FP32 input staged on the host, plus, when the device is the host (CPU backend),
   the buffers above and the fused transpose's temporary. */
static double shape_host_bytes(double n, int is_cpu) {
    return 4 * n + (is_cpu ? 4 * n + 4 * n + 2 * n + n / 16 + 4 * n : 0);
}

/* Every op's minimum traffic over every run the command would make: a typo in --iters or --shapes is refused
   instead of running for days. The default CUDA set moves ~2e11 bytes. */
#define QUANT_MAX_BYTES 1e15

static int check_total_traffic(const bench_shape *sh, int nsh, int warmup, int iters) {
    double bytes = 0;
    for (int i = 0; i < nsh; i++)
        for (int op = 0; op < Q_COUNT; op++) bytes += op_bytes((quant_op)op, (double)sh[i].m * sh[i].n);
    bytes *= (double)(warmup + iters);
    if (bytes <= QUANT_MAX_BYTES) return 0;
    fprintf(stderr, "error: --shapes/--iters/--warmup: total traffic %.3g bytes (%d ops x %d runs x shapes) is over "
                    "the limit of %.0e bytes; lower --iters or the shapes\n", bytes, Q_COUNT, warmup + iters,
            QUANT_MAX_BYTES);
    return -1;
}

/* Times every op on one shape, printing or appending its rows. 0, or 1 after printing an error. */
static int run_shape(fp8lab_backend *be, bench_shape sh, int warmup, int iters, double *t, int json, cJSON *arr) {
    const int rows = sh.m, cols = sh.n;
    const size_t n = (size_t)rows * cols; /* <= BENCH_MAX_ELEMS (bench_parse_shapes) */
    char what[64];
    snprintf(what, sizeof what, "bench quant %dx%d", rows, cols);
    if (bench_host_mem_check(what, shape_host_bytes((double)n, !strcmp(be->name, "cpu")))) return 1;
    quant_bufs b = {0};
    float *h = bench_malloc(what, "the input", n * 4);
    int status = h ? bufs_alloc(be, &b, rows, cols) : 1;
    if (h && !status) {
        fp8lab_rng rng;
        fp8lab_rng_seed(&rng, 7);
        for (size_t j = 0; j < n; j++) h[j] = (float)fp8lab_rng_normal(&rng);
        status = fp8lab_copy_h2d(be, b.x, h, n * 4) != 0;
    }
    double copy_gbs = 0;
    for (int op = 0; op < Q_COUNT && !status; op++) {
        /* warmup + iters <= 110000: the flags' ranges */
        for (int it = 0; it < warmup + iters && !status; it++) {
            fp8lab_sync(be);
            double t0 = fp8lab_now();
            status = op_run(be, (quant_op)op, &b, rows, cols) || fp8lab_sync(be);
            if (it >= warmup) t[it - warmup] = fp8lab_now() - t0;
        }
        if (status) break;
        double ms = 1e3 * bench_median(t, iters), gbs = op_bytes((quant_op)op, (double)n) / (ms * 1e-3) / 1e9;
        if (op == Q_COPY) copy_gbs = gbs;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "rows", rows);
            cJSON_AddNumberToObject(o, "cols", cols);
            cJSON_AddStringToObject(o, "op", QOP[op]);
            cJSON_AddNumberToObject(o, "ms", ms);
            cJSON_AddNumberToObject(o, "gbps", gbs);
            cJSON_AddNumberToObject(o, "vs_copy", gbs / copy_gbs);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%6d %6d  %-14s %9.4f %9.1f %7.0f%%\n", rows, cols, QOP[op], ms, gbs, 100 * gbs / copy_gbs);
        }
    }
    /* a host allocation failure printed its own message; the rest left theirs with the library */
    if (status && h) fprintf(stderr, "error: %s: %s\n", what, fp8lab_last_error());
    bufs_free(be, &b);
    free(h);
    return status;
}

int bench_quant(int argc, char **argv) {
    const char *device = "auto", *shapes = NULL;
    int iters = 20, warmup = 3, json = 0;
    const cli_flag flags[] = {
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"shapes", FLAG_STR, &shapes, "ROWS,COLS[;...]: up to 32 shapes, each value a multiple of 128 in [128, "
                                      "1048576], ROWS*COLS at most 2^32"},
        {"iters", FLAG_INT, &iters, "timed runs per case (median reported; the bytes every op moves x (warmup + "
                                    "iters), summed over the shapes, must stay <= 1e15)", FP8LAB_RANGE(1, 100000)},
        {"warmup", FLAG_INT, &warmup, "untimed runs first", FP8LAB_RANGE(0, 10000)},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    int rc = cli_parse("fp8lab bench quant [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    if (cli_check_device(device)) return FP8LAB_EXIT_USAGE;
    fp8lab_backend *be = fp8lab_backend_create(device);
    if (!be) {
        fprintf(stderr, "error: --device %s: %s\n", device, fp8lab_last_error());
        return FP8LAB_EXIT_RUNTIME;
    }
    bench_shape sh[32];
    int nsh = bench_parse_shapes("shapes", shapes ? shapes : strcmp(be->name, "cpu") ? CUDA_SHAPES : CPU_SHAPES, 2,
                                 128, sh, 32);
    if (nsh < 0 || check_total_traffic(sh, nsh, warmup, iters)) {
        fp8lab_backend_destroy(be);
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_device_info di;
    fp8lab_backend_info(be, &di);
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    cJSON_AddStringToObject(root, "device", di.name);
    cJSON_AddStringToObject(root, "backend", be->name);
    cJSON_AddBoolToObject(root, "measured", 1);
    arr = cJSON_AddArrayToObject(root, "results");
    if (!json) {
        printf("fp8lab bench quant: measured on %s (backend %s), median of %d runs\n", di.name, be->name, iters);
        printf("%6s %6s  %-14s %9s %9s %8s\n", "rows", "cols", "op", "ms", "GB/s", "vs copy");
    }
    double *t = bench_malloc("bench quant", "timings", sizeof(double) * (size_t)iters);
    int status = !t || !root || !arr;
    for (int i = 0; i < nsh && !status; i++) status = run_shape(be, sh[i], warmup, iters, t, json, arr);
    if (!status && json) {
        char *s = cJSON_Print(root);
        puts(s);
        free(s);
    }
    if (!json && !status) printf("bytes: FP32 input read once + outputs written once; copy counts read + write\n");
    cJSON_Delete(root);
    free(t);
    fp8lab_backend_destroy(be);
    return status ? FP8LAB_EXIT_RUNTIME : FP8LAB_EXIT_OK;
}
