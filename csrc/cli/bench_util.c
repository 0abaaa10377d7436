#include "cli/bench_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/num.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"

int cli_check_device(const char *device) {
    if (!strcmp(device, "auto") || !strcmp(device, "cpu") || !strcmp(device, "cuda")) return 0;
    fprintf(stderr, "error: --device: unknown device '%s' (expected cpu, cuda or auto)\n", device);
    return -1;
}

/* A value as messages show it: whole when short, else its head marked as cut (the parse itself never cuts). */
typedef struct { char s[132]; } shown;

static shown show(const char *p, size_t len) {
    shown o;
    if (len < sizeof o.s - 4) snprintf(o.s, sizeof o.s, "%.*s", (int)len, p);
    else snprintf(o.s, sizeof o.s, "%.*s...", (int)sizeof o.s - 4, p);
    return o;
}

typedef struct {
    const char *flag, *all; /* flag name and its whole value, for messages */
    int want, mult, index;  /* values per shape, multiple required, 1-based shape number */
    const char *item;       /* this shape's text and length */
    size_t item_len;
} shape_ctx;

static const char *shape_syntax(int want) { return want == 3 ? "M,N,K[;M,N,K...]" : "ROWS,COLS[;ROWS,COLS...]"; }

static const char *dim_name(int want, int i) {
    static const char *const mnk[3] = {"M", "N", "K"}, *const rc[2] = {"rows", "cols"};
    return want == 3 ? mnk[i] : rc[i];
}

static void shape_error(const shape_ctx *c, const char *what) {
    fprintf(stderr, "error: --%s '%s': shape %d '%s': %s\n", c->flag, show(c->all, strlen(c->all)).s, c->index,
            show(c->item, c->item_len).s, what);
}

/* One value [p, p+len) of a shape: a whole decimal number in [1, BENCH_MAX_DIM], a multiple of c->mult. */
static int parse_dim(const shape_ctx *c, int i, const char *p, size_t len, int *out) {
    char buf[72], rs[48];
    const fp8lab_range r = FP8LAB_RANGE(1, BENCH_MAX_DIM);
    fp8lab_range_str(r, rs, sizeof rs);
    const char *dim = dim_name(c->want, i);
    int64_t v = 0;
    /* longer than any number the strict parser takes: refused whole below, never cut to a prefix */
    const int rc = len < sizeof buf ? (snprintf(buf, sizeof buf, "%.*s", (int)len, p), fp8lab_parse_int(buf, r, &v))
                                    : FP8LAB_NUM_SYNTAX;
    if (rc == FP8LAB_NUM_SYNTAX) {
        char what[256];
        snprintf(what, sizeof what, "bad %s '%s' (expected a whole decimal number in %s)", dim, show(p, len).s, rs);
        shape_error(c, what);
        return -1;
    }
    if (rc == FP8LAB_NUM_RANGE) {
        char what[256];
        snprintf(what, sizeof what, "%s = %s is not in %s", dim, show(p, len).s, rs);
        shape_error(c, what);
        return -1;
    }
    if (v % c->mult) {
        char what[256];
        snprintf(what, sizeof what, "%s = %lld is not a multiple of %d (block scaling tiles are %d wide)", dim,
                 (long long)v, c->mult, c->mult);
        shape_error(c, what);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* Every matrix the shape makes must stay within BENCH_MAX_ELEMS (products of values <= 2^20 fit int64). */
static int check_elems(const shape_ctx *c, const bench_shape *sh) {
    const struct { const char *name; long long n; } mats[3] = {
        {c->want == 3 ? "M*K" : "rows*cols", (long long)sh->m * (c->want == 3 ? sh->k : sh->n)},
        {"N*K", (long long)sh->n * sh->k},
        {"M*N", (long long)sh->m * sh->n},
    };
    for (int i = 0; i < (c->want == 3 ? 3 : 1); i++)
        if (mats[i].n > BENCH_MAX_ELEMS) {
            char what[256];
            snprintf(what, sizeof what, "%s = %lld elements is over the limit of %lld per matrix (16 GiB in FP32)",
                     mats[i].name, mats[i].n, BENCH_MAX_ELEMS);
            shape_error(c, what);
            return -1;
        }
    return 0;
}

/* One shape [c->item, +c->item_len): exactly c->want comma-separated values. */
static int parse_shape(const shape_ctx *c, bench_shape *out) {
    int v[3] = {0, 0, 0}, nv = 0;
    const char *p = c->item, *end = c->item + c->item_len;
    for (const char *q = p; q <= end; q++) {
        if (q < end && *q != ',') continue;
        if (nv < c->want && parse_dim(c, nv, p, (size_t)(q - p), &v[nv])) return -1;
        nv++;
        p = q + 1;
    }
    if (nv != c->want) {
        char what[256];
        snprintf(what, sizeof what, "%d value%s, expected %d values (%s)", nv, nv == 1 ? "" : "s", c->want,
                 c->want == 3 ? "M,N,K" : "ROWS,COLS");
        shape_error(c, what);
        return -1;
    }
    *out = (bench_shape){v[0], v[1], c->want == 3 ? v[2] : 0};
    return check_elems(c, out);
}

int bench_parse_shapes(const char *flag, const char *s, int want, int mult, bench_shape *out, int max) {
    if (!*s) {
        fprintf(stderr, "error: --%s '': no shapes given (expected %s)\n", flag, shape_syntax(want));
        return -1;
    }
    int count = 0;
    const char *p = s;
    for (;;) {
        const size_t len = strcspn(p, ";");
        shape_ctx c = {.flag = flag, .all = s, .want = want, .mult = mult, .index = count + 1, .item = p,
                       .item_len = len};
        if (!len) {
            fprintf(stderr, "error: --%s '%s': empty shape %d (expected %s, shapes separated by one ';')\n", flag,
                    show(s, strlen(s)).s, count + 1, shape_syntax(want));
            return -1;
        }
        if (count == max) {
            fprintf(stderr, "error: --%s: more than %d shapes (the limit of one run)\n", flag, max);
            return -1;
        }
        if (parse_shape(&c, &out[count])) return -1;
        count++;
        if (!p[len]) return count;
        p += len + 1;
    }
}

int bench_host_mem_check(const char *what, double bytes) {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    const double have = pages > 0 && page > 0 ? (double)pages * (double)page : INFINITY;
    if (bytes <= have) return 0;
    fprintf(stderr, "error: %s: out of host memory: needs %.0f bytes (%.1f GiB), the machine has %.0f bytes "
                    "(%.1f GiB)\n", what, bytes, bytes / 1073741824.0, have, have / 1073741824.0);
    return -1;
}

void *bench_malloc(const char *what, const char *name, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) fprintf(stderr, "error: %s: out of host memory allocating %zu bytes for %s\n", what, bytes, name);
    return p;
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
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float sc = scaling == 't'   ? s[0]
                       : scaling == 'r' ? s[fp8lab_scale_1x128_at(r, c, rows)]
                                        : s[fp8lab_scale_128x128_at(r, c, cols)];
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
