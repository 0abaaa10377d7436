/* CPU backend: the numerics of the CUDA backend on the host. FP32 GEMMs go through OpenBLAS; FP8 block GEMMs
   run sgemm on 128-wide K panels of the (unscaled) FP8 values and scale each panel's FP32 partial sums into an
   FP32 accumulator, the semantics of fp8_gemm_block_ref with promote_k = 128. BF16 is emulated by rounding. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "core/error.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"

/* Rows per panel block: keeps the panel's partial sums (MB x N floats) in cache while they are scaled. */
enum { CPU_GEMM_MB = 128 };

static void *cpu_alloc(fp8lab_backend *be, size_t bytes) {
    (void)be;
    void *p = NULL;
    if (posix_memalign(&p, 256, bytes ? bytes : 1)) {
        FP8LAB_ERR_RT("out of host memory allocating %zu bytes", bytes);
        return NULL;
    }
    return p;
}

static void cpu_free(fp8lab_backend *be, void *p) {
    (void)be;
    free(p);
}

static int cpu_copy(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    (void)be;
    memset(dst, 0, bytes);
    return 0;
}

static int cpu_sync(fp8lab_backend *be) {
    (void)be;
    return 0;
}

static void cpu_destroy(fp8lab_backend *be) { free(be); }

static int cpu_info(fp8lab_backend *be, fp8lab_device_info *out) {
    (void)be;
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *colon = strchr(line, ':');
            if (!strncmp(line, "model name", 10) && colon) {
                colon += 2;
                colon[strcspn(colon, "\n")] = 0;
                snprintf(out->name, sizeof out->name, "CPU: %s", colon);
                break;
            }
        }
        fclose(f);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t len = strlen(out->name);
    snprintf(out->name + len, sizeof out->name - len, " (%ld cores)", ncpu);
    /* no dependable dense peak for a CPU: pct-of-peak is reported as unknown */
    snprintf(out->libs, sizeof out->libs, "OpenBLAS %s", openblas_get_config());
    return 0;
}

static int cpu_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_from_f32(x[i]);
    return 0;
}

static int cpu_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_to_f32(x[i]);
    return 0;
}

static int cpu_amax(fp8lab_backend *be, const float *x, long n, float *amax) {
    (void)be;
    float m = 0.0f;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (long i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    *amax = m;
    return 0;
}

static int cpu_quantize_tensor(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q,
                               float *scale_inv) {
    (void)be;
    return fp8_quantize_tensor(x, n, fmt, pow2, q, scale_inv);
}

static int cpu_cast_fp8_scaled(fp8lab_backend *be, const float *x, long n, int fmt, const float *scale_inv,
                               uint8_t *q) {
    (void)be;
    if (fmt != FP8_E4M3 && fmt != FP8_E5M2) {
        FP8LAB_ERR("cast_fp8_scaled: bad format %d (expected FP8_E4M3=0 or FP8_E5M2=1)", fmt);
        return -1;
    }
    const float s = *scale_inv;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) q[i] = fp8_encode(fmt, x[i] / s);
    return 0;
}

/* fp8/quant.c writes 1x128 scales [rows][cols/128]; the backend layout is [cols/128][rows]. */
static void transpose_f32(const float *src, int rows, int cols, float *dst) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

static int quantize_1x128_backend_layout(const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                                         float *s) {
    float *tmp = malloc(sizeof(float) * (size_t)rows * (size_t)(cols / 128 > 0 ? cols / 128 : 1));
    if (!tmp) {
        FP8LAB_ERR_RT("out of host memory for %dx%d scales", rows, cols / 128);
        return -1;
    }
    int rc = fp8_quantize_1x128(x, rows, cols, fmt, pow2, q, tmp);
    if (rc == 0) transpose_f32(tmp, rows, cols / 128, s);
    free(tmp);
    return rc;
}

static int cpu_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                              uint8_t *q, float *s) {
    (void)be;
    return quantize_1x128_backend_layout(x, rows, cols, fmt, pow2, q, s);
}

static int cpu_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                uint8_t *q, float *s, uint8_t *qt, float *st) {
    (void)be;
    if (rows % 128 || cols % 128) {
        FP8LAB_ERR("quantize_1x128_t: %s = %d is not a multiple of 128 (both orientations are tiled)",
                   rows % 128 ? "rows" : "cols", rows % 128 ? rows : cols);
        return -1;
    }
    if (quantize_1x128_backend_layout(x, rows, cols, fmt, pow2, q, s)) return -1;
    float *xt = malloc(sizeof(float) * (size_t)rows * (size_t)cols);
    if (!xt) {
        FP8LAB_ERR_RT("out of host memory for a %dx%d transpose", cols, rows);
        return -1;
    }
    transpose_f32(x, rows, cols, xt);
    int rc = quantize_1x128_backend_layout(xt, cols, rows, fmt, pow2, qt, st);
    free(xt);
    return rc;
}

static int cpu_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                uint8_t *q, float *s) {
    (void)be;
    if (rows % 128 || cols % 128) /* let quant.c word the error */
        return fp8_quantize_128x128(x, rows, cols, fmt, pow2, q, s);
    const int kb = cols / 128, ld = fp8lab_blk_scale_ld(cols);
    float *tmp = malloc(sizeof(float) * (size_t)(rows / 128) * (size_t)kb);
    if (!tmp) {
        FP8LAB_ERR_RT("out of host memory for %dx%d scales", rows / 128, kb);
        return -1;
    }
    int rc = fp8_quantize_128x128(x, rows, cols, fmt, pow2, q, tmp);
    if (rc == 0)
        for (int r = 0; r < rows / 128; r++)
            for (int c = 0; c < ld; c++) s[(size_t)r * ld + c] = c < kb ? tmp[(size_t)r * kb + c] : 0.0f;
    free(tmp);
    return rc;
}

static int check_gemm_dims(const char *op, int M, int N, int K, int mult) {
    if (M <= 0 || N <= 0 || K <= 0 || M % mult || N % mult || K % mult) {
        const char *d = (M <= 0 || M % mult) ? "M" : (N <= 0 || N % mult) ? "N" : "K";
        int v = d[0] == 'M' ? M : d[0] == 'N' ? N : K;
        FP8LAB_ERR("%s: %s = %d must be a positive multiple of %d", op, d, v, mult);
        return -1;
    }
    return 0;
}

static int cpu_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d) {
    (void)be;
    if (check_gemm_dims("gemm_f32", M, N, K, 1)) return -1;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, d, N);
    return 0;
}

static void store_out(const float *acc, long n, fp8lab_out_dtype out, void *d) {
    if (out == FP8LAB_F32) {
        if ((const void *)acc != d) memcpy(d, acc, sizeof(float) * (size_t)n);
        return;
    }
    uint16_t *y = d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_from_f32(acc[i]);
}

/* Runs sgemm into the float output directly when out is FP32, else into a temporary then rounds. */
static float *out_accumulator(fp8lab_out_dtype out, void *d, long n) {
    if (out == FP8LAB_F32) return d;
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) FP8LAB_ERR_RT("out of host memory for a %ld-element accumulator", n);
    return t;
}

static float *decode_all(const void *src, long n, int kind /* 0 bf16, 1 e4m3, 2 e5m2 */) {
    float *f = malloc(sizeof(float) * (size_t)n);
    if (!f) {
        FP8LAB_ERR_RT("out of host memory decoding %ld elements", n);
        return NULL;
    }
    float lut[256];
    if (kind) for (int i = 0; i < 256; i++) lut[i] = kind == 1 ? fp8_e4m3_to_f32((uint8_t)i) : fp8_e5m2_to_f32((uint8_t)i);
    if (kind == 0) {
        const uint16_t *h = src;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) f[i] = bf16_to_f32(h[i]);
    } else {
        const uint8_t *q = src;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) f[i] = lut[q[i]];
    }
    return f;
}

/* sgemm over operands decoded to FP32 (kind: 0 bf16, 1 e4m3, 2 e5m2); alpha carries per-tensor scales, applied
   once after the FP32 sums as cuBLASLt does. */
static int gemm_decoded(const char *op, const void *a, int kind_a, const void *b, int kind_b, float alpha, int M,
                        int N, int K, fp8lab_out_dtype out, void *d) {
    if (check_gemm_dims(op, M, N, K, 1)) return -1;
    float *fa = decode_all(a, (long)M * K, kind_a), *fb = decode_all(b, (long)N * K, kind_b);
    float *acc = out_accumulator(out, d, (long)M * N);
    int rc = -1;
    if (fa && fb && acc) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, alpha, fa, K, fb, K, 0.0f, acc, N);
        store_out(acc, (long)M * N, out, d);
        rc = 0;
    }
    free(fa);
    free(fb);
    if (acc != d) free(acc);
    return rc;
}

static int cpu_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                         fp8lab_out_dtype out, void *d) {
    (void)be;
    return gemm_decoded("gemm_bf16", a, 0, b, 0, 1.0f, M, N, K, out, d);
}

static int cpu_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa, const uint8_t *qb,
                               int fmt_b, const float *sb, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    (void)be;
    if ((fmt_a != FP8_E4M3 && fmt_a != FP8_E5M2) || (fmt_b != FP8_E4M3 && fmt_b != FP8_E5M2)) {
        FP8LAB_ERR("gemm_fp8_tensor: bad operand format (%d, %d)", fmt_a, fmt_b);
        return -1;
    }
    return gemm_decoded("gemm_fp8_tensor", qa, 1 + fmt_a, qb, 1 + fmt_b, (*sa) * (*sb), M, N, K, out, d);
}

/* Adds one row of a panel's FP32 partial sums into the accumulator, scaled by sa * sb as the reference does
   (the first panel initializes it). */
static void scale_panel_row(const float *p, float *o, int N, int kb, float a_s, const float *sb,
                            fp8lab_b_scaling bscal, int ld) {
    for (int n0 = 0; n0 < N; n0 += 128) {
        float c[128];
        if (bscal == FP8LAB_B_128x128)
            for (int j = 0; j < 128; j++) c[j] = a_s * sb[(size_t)(n0 / 128) * ld + kb];
        else
            for (int j = 0; j < 128; j++) c[j] = a_s * sb[(size_t)kb * N + n0 + j];
        if (kb == 0)
            for (int j = 0; j < 128; j++) o[n0 + j] = p[n0 + j] * c[j];
        else
            for (int j = 0; j < 128; j++) o[n0 + j] += p[n0 + j] * c[j];
    }
}

static int cpu_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                              const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                              void *d) {
    (void)be;
    if (check_gemm_dims("gemm_fp8_block", M, N, K, 128)) return -1;
    if (bscal != FP8LAB_B_128x128 && bscal != FP8LAB_B_1x128) {
        FP8LAB_ERR("gemm_fp8_block: bad B scaling %d", (int)bscal);
        return -1;
    }
    const int KB = K / 128, ld = fp8lab_blk_scale_ld(K);
    float *fa = decode_all(qa, (long)M * K, 1), *fb = decode_all(qb, (long)N * K, 1);
    float *acc = out_accumulator(out, d, (long)M * N);
    int rc = -1, oom = 0;
    if (fa && fb && acc) {
        /* One OpenMP thread per row block, each calling single-threaded sgemm: OpenBLAS's own pool and
           libgomp's would otherwise spin against each other on the same cores for every small panel. */
        const int blas_threads = openblas_get_num_threads();
        openblas_set_num_threads(1);
#pragma omp parallel reduction(| : oom)
        {
            float *panel = malloc(sizeof(float) * (size_t)CPU_GEMM_MB * (size_t)N);
            oom = !panel;
#pragma omp for schedule(dynamic)
            for (int m0 = 0; m0 < M; m0 += CPU_GEMM_MB) {
                if (!panel) continue;
                const int mb = M - m0 < CPU_GEMM_MB ? M - m0 : CPU_GEMM_MB;
                for (int kb = 0; kb < KB; kb++) {
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mb, N, 128, 1.0f,
                                fa + (size_t)m0 * K + kb * 128, K, fb + (size_t)kb * 128, K, 0.0f, panel, N);
                    for (int i = 0; i < mb; i++)
                        scale_panel_row(panel + (size_t)i * N, acc + (size_t)(m0 + i) * N, N, kb,
                                        sa[(size_t)kb * M + m0 + i], sb, bscal, ld);
                }
            }
            free(panel);
        }
        openblas_set_num_threads(blas_threads);
        if (oom) FP8LAB_ERR_RT("out of host memory for %dx%d panels", CPU_GEMM_MB, N);
        else {
            store_out(acc, (long)M * N, out, d);
            rc = 0;
        }
    }
    free(fa);
    free(fb);
    if (acc != d) free(acc);
    return rc;
}

fp8lab_backend *fp8lab_cpu_backend_create(void) {
    fp8lab_backend *be = calloc(1, sizeof *be);
    if (!be) {
        FP8LAB_ERR_RT("out of host memory");
        return NULL;
    }
    be->name = "cpu";
    be->destroy = cpu_destroy;
    be->info = cpu_info;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->copy_h2d = cpu_copy;
    be->copy_d2h = cpu_copy;
    be->copy_d2d = cpu_copy;
    be->memset0 = cpu_memset0;
    be->sync = cpu_sync;
    be->cast_f32_to_bf16 = cpu_cast_f32_to_bf16;
    be->cast_bf16_to_f32 = cpu_cast_bf16_to_f32;
    be->amax = cpu_amax;
    be->quantize_tensor = cpu_quantize_tensor;
    be->cast_fp8_scaled = cpu_cast_fp8_scaled;
    be->quantize_1x128 = cpu_quantize_1x128;
    be->quantize_1x128_t = cpu_quantize_1x128_t;
    be->quantize_128x128 = cpu_quantize_128x128;
    be->gemm_f32 = cpu_gemm_f32;
    be->gemm_bf16 = cpu_gemm_bf16;
    be->gemm_fp8_tensor = cpu_gemm_fp8_tensor;
    be->gemm_fp8_block = cpu_gemm_fp8_block;
    return be;
}
