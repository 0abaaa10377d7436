/* CPU backend, memory group: "device" memory is host memory, and every op is done when it returns. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_internal.h"
#include "core/error.h"

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

static int cpu_copy_2d(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                       size_t rows) {
    (void)be;
    for (size_t r = 0; r < rows; r++) memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    return 0;
}

static int cpu_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    (void)be;
    if (bytes) memset(dst, 0, bytes);
    return 0;
}

static int cpu_sync(fp8lab_backend *be) {
    (void)be;
    return 0;
}

/* 32x32 tiles: both the reads and the writes stay within a few cache lines per tile. */
void fp8lab_cpu_transpose(const float *x, int rows, int cols, float *y) {
    enum { TB = 32 };
    const long R = rows, C = cols;
#pragma omp parallel for schedule(static) collapse(2)
    for (long r0 = 0; r0 < R; r0 += TB)
        for (long c0 = 0; c0 < C; c0 += TB) {
            const long r1 = r0 + TB < R ? r0 + TB : R, c1 = c0 + TB < C ? c0 + TB : C;
            for (long c = c0; c < c1; c++)
                for (long r = r0; r < r1; r++) y[c * R + r] = x[r * C + c];
        }
}

static int cpu_transpose_f32(fp8lab_backend *be, const float *x, int rows, int cols, float *y) {
    (void)be;
    fp8lab_cpu_transpose(x, rows, cols, y);
    return 0;
}

const fp8lab_mem_ops fp8lab_cpu_mem_ops = {
    .alloc = cpu_alloc,
    .free = cpu_free,
    .copy_h2d = cpu_copy,
    .copy_d2h = cpu_copy,
    .copy_d2d = cpu_copy,
    .copy_2d = cpu_copy_2d,
    .memset0 = cpu_memset0,
    .sync = cpu_sync,
    .transpose_f32 = cpu_transpose_f32,
};
