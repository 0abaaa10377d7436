/* CPU backend, quantize group: BF16 casts, amax, and the quantizers of fp8/quant.c with their scales moved
   into the backend layouts (fp8/scale_layout.h). Results are bit-identical to the CUDA kernels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_internal.h"
#include "core/error.h"
#include "fp8/fp8.h"
#include "fp8/fp8_impl.h"
#include "fp8/quant.h"
#include "fp8/scale_layout.h"

static int cpu_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_from_f32_inline(x[i]);
    return 0;
}

static int cpu_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_to_f32_inline(x[i]);
    return 0;
}

static inline uint32_t abs_bits(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return u & 0x7fffffffu;
}

/* |x| reduced as IEEE bit patterns, as the CUDA kernel does: NaN propagates (its patterns sort above +Inf),
   where fmaxf would drop it, and the result is the same bits on both backends. */
static int cpu_amax(fp8lab_backend *be, const float *x, long n, float *amax) {
    (void)be;
    uint32_t m = 0;
#pragma omp parallel for reduction(max : m) schedule(static)
    for (long i = 0; i < n; i++) {
        const uint32_t b = abs_bits(x[i]);
        m = b > m ? b : m;
    }
    memcpy(amax, &m, sizeof m);
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
    const float s = *scale_inv;
    if (!(s > 0.0f) || !isfinite(s)) {
        FP8LAB_ERR("cast_fp8_scaled: scale_inv = %g is not a positive finite number (hint: a NaN or Inf amax "
                   "upstream gives one; amax propagates NaN)",
                   (double)s);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) q[i] = fp8_encode(fmt, x[i] / s);
    return 0;
}

/* fp8/quant.c writes 1x128 scales row-major [rows][cols/128]; the backend layout has rows contiguous. */
static void scales_1x128_to_backend(const float *core, int rows, int kb_n, float *s) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        for (int kb = 0; kb < kb_n; kb++) s[fp8lab_scale_1x128_tile(r, kb, rows)] = core[(size_t)r * kb_n + kb];
}

static int quantize_1x128_backend_layout(const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                                         float *s) {
    float *tmp = malloc(sizeof(float) * fp8lab_scale_1x128_count(rows, cols));
    if (!tmp) {
        FP8LAB_ERR_RT("out of host memory for %dx%d scales", rows, cols / FP8LAB_TILE);
        return -1;
    }
    const int rc = fp8_quantize_1x128(x, rows, cols, fmt, pow2, q, tmp);
    if (rc == 0) scales_1x128_to_backend(tmp, rows, cols / FP8LAB_TILE, s);
    free(tmp);
    return rc;
}

static int cpu_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                              uint8_t *q, float *s) {
    (void)be;
    return quantize_1x128_backend_layout(x, rows, cols, fmt, pow2, q, s);
}

/* Both orientations through the same quantizer: x, then x^T (materialized; the CUDA kernel fuses it). */
static int cpu_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                uint8_t *q, float *s, uint8_t *qt, float *st) {
    if (quantize_1x128_backend_layout(x, rows, cols, fmt, pow2, q, s)) return -1;
    float *xt = fp8lab_cpu_scratch(be, CPU_SCRATCH_T, sizeof(float) * (size_t)rows * (size_t)cols);
    if (!xt) return -1;
    fp8lab_cpu_transpose(x, rows, cols, xt);
    return quantize_1x128_backend_layout(xt, cols, rows, fmt, pow2, qt, st);
}

/* fp8/quant.c writes 128x128 scales [rows/128][cols/128]; the backend pads each row to ld with zeros. */
static int cpu_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                uint8_t *q, float *s) {
    (void)be;
    const int rb_n = rows / FP8LAB_TILE, kb_n = cols / FP8LAB_TILE, ld = fp8lab_blk_scale_ld(cols);
    float *tmp = malloc(sizeof(float) * (size_t)rb_n * (size_t)kb_n);
    if (!tmp) {
        FP8LAB_ERR_RT("out of host memory for %dx%d scales", rb_n, kb_n);
        return -1;
    }
    const int rc = fp8_quantize_128x128(x, rows, cols, fmt, pow2, q, tmp);
    if (rc == 0)
        for (int rb = 0; rb < rb_n; rb++)
            for (int kb = 0; kb < ld; kb++)
                s[fp8lab_scale_128x128_tile(rb, kb, ld)] = kb < kb_n ? tmp[(size_t)rb * kb_n + kb] : 0.0f;
    free(tmp);
    return rc;
}

const fp8lab_quant_ops fp8lab_cpu_quant_ops = {
    .cast_f32_to_bf16 = cpu_cast_f32_to_bf16,
    .cast_bf16_to_f32 = cpu_cast_bf16_to_f32,
    .amax = cpu_amax,
    .quantize_tensor = cpu_quantize_tensor,
    .cast_fp8_scaled = cpu_cast_fp8_scaled,
    .quantize_1x128 = cpu_quantize_1x128,
    .quantize_1x128_t = cpu_quantize_1x128_t,
    .quantize_128x128 = cpu_quantize_128x128,
};
