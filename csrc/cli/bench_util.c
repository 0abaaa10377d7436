#include "cli/bench_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp8/fp8.h"
#include "fp8/quant.h"

int cli_check_device(const char *device) {
    if (!strcmp(device, "auto") || !strcmp(device, "cpu") || !strcmp(device, "cuda")) return 0;
    fprintf(stderr, "error: --device: unknown device '%s' (expected cpu, cuda or auto)\n", device);
    return -1;
}

int bench_parse_shapes(const char *flag, const char *s, int want, int mult, bench_shape *out, int max) {
    int count = 0;
    const char *p = s;
    while (*p) {
        long v[3] = {0, 0, 0};
        for (int i = 0; i < want; i++) {
            char *end;
            errno = 0;
            v[i] = strtol(p, &end, 10);
            const char *dim = want == 3 ? (const char *[]){"M", "N", "K"}[i] : (const char *[]){"rows", "cols"}[i];
            if (end == p || errno || v[i] <= 0 || v[i] > (1L << 20)) {
                fprintf(stderr, "error: --%s '%s': bad %s near '%.12s' (expected %s)\n", flag, s, dim, p,
                        want == 3 ? "M,N,K[;M,N,K...]" : "ROWS,COLS[;ROWS,COLS...]");
                return -1;
            }
            if (v[i] % mult) {
                fprintf(stderr, "error: --%s '%s': %s = %ld is not a multiple of %d (block scaling tiles are %d wide)\n",
                        flag, s, dim, v[i], mult, mult);
                return -1;
            }
            p = end;
            if (i + 1 < want) {
                if (*p != ',') {
                    fprintf(stderr, "error: --%s '%s': expected ',' after %ld\n", flag, s, v[i]);
                    return -1;
                }
                p++;
            }
        }
        if (count == max) {
            fprintf(stderr, "error: --%s: more than %d shapes\n", flag, max);
            return -1;
        }
        out[count++] = (bench_shape){(int)v[0], (int)v[1], want == 3 ? (int)v[2] : 0};
        if (*p == ';') p++;
        else if (*p) {
            fprintf(stderr, "error: --%s '%s': unexpected '%c' (shapes are separated by ';')\n", flag, s, *p);
            return -1;
        }
    }
    if (!count) fprintf(stderr, "error: --%s: no shapes given\n", flag);
    return count ? count : -1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

void bench_dequant(const uint8_t *q, const float *s, char scaling, int fmt, int rows, int cols, float *out) {
    const int ld = fp8lab_blk_scale_ld(cols);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float sc = scaling == 't' ? s[0]
                       : scaling == 'r' ? s[(size_t)(c / 128) * rows + r]
                                        : s[(size_t)(r / 128) * ld + c / 128];
            out[(size_t)r * cols + c] = fp8_decode(fmt, q[(size_t)r * cols + c]) * sc;
        }
}

double bench_rel_err_sampled(const float *A, const float *B, const float *D, int M, int N, int K) {
    /* enough entries for a stable Frobenius ratio; bounded so a 16384x18432x7168 check stays ~1 s */
    const int rs = M < 64 ? M : 64, cs = N < 512 ? N : 512;
    double num = 0, den = 0;
#pragma omp parallel for reduction(+ : num, den) schedule(dynamic)
    for (int i = 0; i < rs; i++) {
        const int m = (int)((long)i * M / rs);
        for (int j = 0; j < cs; j++) {
            const int n = (int)((long)j * N / cs);
            double ref = 0;
            for (int k = 0; k < K; k++) ref += (double)A[(size_t)m * K + k] * (double)B[(size_t)n * K + k];
            double e = (double)D[(size_t)m * N + n] - ref;
            num += e * e;
            den += ref * ref;
        }
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}
