/* CUDA backend against the CPU backend, op by op (in the style of ggml's test-backend-ops), through the front
   functions: one table of {op, shape, formats, pow2, output dtype, tolerance}; each row runs on both backends
   from the same random inputs and the results are compared. Casts, amax (NaN and Inf included) and all
   quantizers must be bit-identical (q bytes and scales); GEMMs must agree to a stated relative Frobenius
   error. A second table covers the layer ops (layer_ops.h), the optimizer ops (optim_ops.h) and matmul_f32
   in its four transpose combinations, each output compared by relative Frobenius error (integers exactly). The CUDA backend is libfp8lab_cuda.so, loaded as fp8lab loads it (a link beside this binary).
   Without a GPU (or in a build without CUDA) the CUDA backend cannot be created: the test prints
   "skipped: no GPU (<reason>)" and exits 77. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"
#include "test_util.h"

/* ---- tolerances ------------------------------------------------------------------------------------------
   All GEMM tolerances are relative Frobenius errors ||gpu - cpu|| / ||cpu||. */
/* Casts, amax and quantizers implement one integer/IEEE recipe (csrc/fp8/quant.c): any difference is a bug. */
#define TOL_EXACT 0.0
/* FP32 GEMM: both sides accumulate in FP32 (cuBLASLt with CUBLAS_COMPUTE_32F, no TF32), only the summation
   order differs: ~sqrt(K) * 2^-24 ~ 2e-6 at K = 1024. TF32 would show up as ~1e-3. */
#define TOL_GEMM_F32 1e-5
/* BF16 inputs are exact in FP32 and both sides accumulate in FP32; cuBLASLt kernels may split K, so allow
   more than pure reordering, still far below one BF16 ulp (2^-8). */
#define TOL_GEMM_BF16_F32OUT 1e-3
/* Any GEMM with BF16 output: both results are rounded to 8 significant bits; where the FP32 sums differ
   across a rounding boundary the outputs differ by one BF16 ulp (relative <= 2^-8 = 3.9e-3), and such
   elements are a small fraction, so 8e-3 bounds the Frobenius error with margin. */
#define TOL_GEMM_BF16OUT 8e-3
/* FP8 GEMMs with FP32 output: FP8 products are exact in FP32, but Hopper's FP8 tensor cores accumulate with
   a narrower adder between cuBLASLt's FP32 promotions while the CPU sums in FP32 (per 128-wide K panel for
   block scaling): expected ~1e-4, 1e-3 allowed. */
#define TOL_GEMM_FP8_F32OUT 1e-3
#define TOL_GEMM_FP8_BF16OUT 8e-3

typedef enum {
    OP_CAST_F32_BF16,
    OP_CAST_BF16_F32,
    OP_AMAX,
    OP_QUANT_TENSOR,
    OP_CAST_FP8_SCALED,
    OP_QUANT_1x128,
    OP_QUANT_1x128_T,
    OP_QUANT_128x128,
    OP_GEMM_F32,
    OP_GEMM_BF16,
    OP_GEMM_FP8_TENSOR,
    OP_GEMM_FP8_BLOCK,
} op_t;

static const char *op_name(op_t op) {
    static const char *names[] = {"cast_f32_to_bf16", "cast_bf16_to_f32", "amax",      "quantize_tensor",
                                  "cast_fp8_scaled",  "quantize_1x128",   "quantize_1x128_t", "quantize_128x128",
                                  "gemm_f32",         "gemm_bf16",        "gemm_fp8_tensor",  "gemm_fp8_block"};
    return names[op];
}

enum { GROUP_CAST, GROUP_QUANT, GROUP_GEMM };

typedef struct {
    op_t op;
    long n;       /* element count (casts, amax, per-tensor ops) */
    int M, N, K;  /* GEMMs; quantizers use M = rows, K = cols */
    int fmt_a;    /* FP8 format (quantizers; GEMM operand A) */
    int fmt_b;    /* GEMM operand B */
    int pow2;
    fp8lab_out_dtype out;
    fp8lab_b_scaling bscal;
    double tol;
    int nonfinite; /* amax rows: NF_* values planted in the input */
} row_t;

/* Non-finite inputs of amax, which propagates NaN (backend/quant_ops.h): both backends must return the same
   bits, the largest |x| bit pattern. */
enum { NF_NONE, NF_INF, NF_NAN_AND_INF, NF_NAN_PAYLOADS };

#define E4 FP8_E4M3
#define E5 FP8_E5M2
#define ELT(op_, n_, fmt_, pow2_) {op_, n_, 0, 0, 0, fmt_, 0, pow2_, FP8LAB_F32, FP8LAB_B_128x128, TOL_EXACT}
#define QNT(op_, r_, c_, fmt_, pow2_) {op_, 0, r_, 0, c_, fmt_, 0, pow2_, FP8LAB_F32, FP8LAB_B_128x128, TOL_EXACT}
#define GEMM(op_, m_, n_, k_, fa_, fb_, out_, bs_, tol_) {op_, 0, m_, n_, k_, fa_, fb_, 0, out_, bs_, tol_}
#define AMAX_NF(n_, nf_) {OP_AMAX, n_, 0, 0, 0, 0, 0, 0, FP8LAB_F32, FP8LAB_B_128x128, TOL_EXACT, nf_}

static const row_t ROWS[] = {
    /* conversions and reductions */
    ELT(OP_CAST_F32_BF16, 1000003, 0, 0),
    ELT(OP_CAST_F32_BF16, 5, 0, 0),
    ELT(OP_CAST_BF16_F32, 65536 + 7, 0, 0), /* every bf16 bit pattern, then a ragged tail */
    ELT(OP_AMAX, 1, 0, 0),
    ELT(OP_AMAX, 1000003, 0, 0),
    ELT(OP_AMAX, 1 << 22, 0, 0),
    AMAX_NF(1000003, NF_INF),
    AMAX_NF(1000003, NF_NAN_AND_INF),
    AMAX_NF(4099, NF_NAN_PAYLOADS),
    AMAX_NF(1, NF_NAN_PAYLOADS),
    /* per-tensor quantization: current (amax) and delayed (given scale, values saturate) */
    ELT(OP_QUANT_TENSOR, 1000003, E4, 0),
    ELT(OP_QUANT_TENSOR, 1000003, E4, 1),
    ELT(OP_QUANT_TENSOR, 4096, E5, 0),
    ELT(OP_QUANT_TENSOR, 7, E5, 1),
    ELT(OP_CAST_FP8_SCALED, 1000003, E4, 0),
    ELT(OP_CAST_FP8_SCALED, 4099, E5, 0),
    /* block quantizers */
    QNT(OP_QUANT_1x128, 128, 128, E4, 0),
    QNT(OP_QUANT_1x128, 256, 640, E4, 1),
    QNT(OP_QUANT_1x128, 384, 256, E5, 0),
    QNT(OP_QUANT_1x128, 3, 384, E4, 0), /* rows need not be a multiple of 128 */
    QNT(OP_QUANT_1x128, 1024, 1024, E4, 0),
    QNT(OP_QUANT_1x128_T, 128, 128, E4, 0),
    QNT(OP_QUANT_1x128_T, 256, 640, E4, 1),
    QNT(OP_QUANT_1x128_T, 384, 256, E5, 0),
    QNT(OP_QUANT_1x128_T, 1024, 1024, E4, 0),
    QNT(OP_QUANT_1x128_T, 512, 1024, E5, 1),
    QNT(OP_QUANT_128x128, 128, 128, E4, 0),
    QNT(OP_QUANT_128x128, 256, 640, E4, 0), /* 5 column blocks: scale ld 8, 3 padding entries per row */
    QNT(OP_QUANT_128x128, 384, 256, E5, 1),
    QNT(OP_QUANT_128x128, 1024, 1024, E4, 1),
    /* GEMMs: D[M][N] = A[M][K] . B[N][K]^T */
    GEMM(OP_GEMM_F32, 128, 128, 128, 0, 0, FP8LAB_F32, 0, TOL_GEMM_F32),
    GEMM(OP_GEMM_F32, 256, 384, 512, 0, 0, FP8LAB_F32, 0, TOL_GEMM_F32),
    GEMM(OP_GEMM_F32, 100, 60, 72, 0, 0, FP8LAB_F32, 0, TOL_GEMM_F32),
    GEMM(OP_GEMM_F32, 1024, 1024, 1024, 0, 0, FP8LAB_F32, 0, TOL_GEMM_F32),
    GEMM(OP_GEMM_BF16, 128, 128, 128, 0, 0, FP8LAB_F32, 0, TOL_GEMM_BF16_F32OUT),
    GEMM(OP_GEMM_BF16, 256, 384, 512, 0, 0, FP8LAB_BF16, 0, TOL_GEMM_BF16OUT),
    GEMM(OP_GEMM_BF16, 384, 256, 640, 0, 0, FP8LAB_F32, 0, TOL_GEMM_BF16_F32OUT),
    GEMM(OP_GEMM_BF16, 1024, 1024, 1024, 0, 0, FP8LAB_BF16, 0, TOL_GEMM_BF16OUT),
    GEMM(OP_GEMM_FP8_TENSOR, 128, 128, 128, E4, E4, FP8LAB_F32, 0, TOL_GEMM_FP8_F32OUT),
    GEMM(OP_GEMM_FP8_TENSOR, 256, 384, 512, E4, E5, FP8LAB_BF16, 0, TOL_GEMM_FP8_BF16OUT),
    GEMM(OP_GEMM_FP8_TENSOR, 384, 256, 640, E5, E4, FP8LAB_F32, 0, TOL_GEMM_FP8_F32OUT),
    GEMM(OP_GEMM_FP8_TENSOR, 1024, 1024, 1024, E4, E4, FP8LAB_BF16, 0, TOL_GEMM_FP8_BF16OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 128, 128, 128, E4, E4, FP8LAB_F32, FP8LAB_B_128x128, TOL_GEMM_FP8_F32OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 256, 384, 512, E4, E4, FP8LAB_BF16, FP8LAB_B_128x128, TOL_GEMM_FP8_BF16OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 384, 256, 640, E4, E4, FP8LAB_F32, FP8LAB_B_128x128, TOL_GEMM_FP8_F32OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 256, 384, 640, E4, E4, FP8LAB_F32, FP8LAB_B_1x128, TOL_GEMM_FP8_F32OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 512, 256, 1024, E4, E4, FP8LAB_BF16, FP8LAB_B_1x128, TOL_GEMM_FP8_BF16OUT),
    GEMM(OP_GEMM_FP8_BLOCK, 1024, 1024, 1024, E4, E4, FP8LAB_BF16, FP8LAB_B_128x128, TOL_GEMM_FP8_BF16OUT),
};
#define NROWS ((int)(sizeof ROWS / sizeof ROWS[0]))

static int row_group(const row_t *r) {
    if (r->op <= OP_AMAX) return GROUP_CAST;
    if (r->op <= OP_QUANT_128x128) return GROUP_QUANT;
    return GROUP_GEMM;
}

static fp8lab_backend *g_cpu, *g_cuda;

/* ---- host-side data ---------------------------------------------------------------------------------------- */
typedef struct {
    float *x;          /* f32 input (casts, amax, quantizers) or GEMM A */
    uint16_t *xh;      /* bf16 input (cast_bf16_to_f32, GEMM A) */
    float *b;          /* GEMM B (f32) */
    uint16_t *bh;      /* GEMM B (bf16) */
    uint8_t *qa, *qb;  /* FP8 GEMM operands */
    float *sa, *sb;    /* their scales, backend layout */
    size_t sa_n, sb_n;
    float scale;       /* cast_fp8_scaled */
} inputs_t;

typedef struct {
    void *y;  /* main output: bf16, f32, q bytes or D */
    size_t y_bytes;
    float *s; /* scales */
    size_t s_n;
    uint8_t *qt; /* quantize_1x128_t second orientation */
    float *st;
    size_t qt_bytes, st_n;
} outputs_t;

static void *xmalloc(size_t n) {
    void *p = calloc(1, n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of host memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void inputs_free(inputs_t *in) {
    free(in->x);
    free(in->xh);
    free(in->b);
    free(in->bh);
    free(in->qa);
    free(in->qb);
    free(in->sa);
    free(in->sb);
    memset(in, 0, sizeof *in);
}

static void outputs_free(outputs_t *o) {
    free(o->y);
    free(o->s);
    free(o->qt);
    free(o->st);
    memset(o, 0, sizeof *o);
}

/* x[r][c] ~ N(0,1) * 2^(er(r) + ec(c)): magnitudes vary between rows and between 128-column blocks, so both
   the row-wise and the column-wise (transposed) tiles get different scales. One 128x128 tile is zeroed (when
   there is more than one) to exercise scale_inv = 1. */
static float *gen_matrix(int rows, int cols, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = xmalloc(sizeof(float) * (size_t)rows * cols);
    for (int i = 0; i < rows; i++) {
        const int er = (int)((unsigned)(i * 5 + (int)seed) % 9u) - 4;
        for (int j = 0; j < cols; j++) {
            const int ec = (int)((unsigned)((j / 128) * 3 + (j % 7)) % 7u) - 3;
            x[(size_t)i * cols + j] = (float)ldexp(fp8lab_rng_normal(&r), er + ec);
        }
    }
    if ((long)rows * cols > 128L * 128 && rows >= 128)
        for (int i = rows - 128; i < rows; i++) memset(x + (size_t)i * cols + cols - 128, 0, 128 * sizeof(float));
    return x;
}

/* 1-D data: normal values whose magnitude changes every 1000 elements, a negative extreme in the middle. */
static float *gen_vector(long n, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = (float)ldexp(fp8lab_rng_normal(&r), (int)((i / 1000) % 9) - 4);
    if (n > 2) x[n / 2] = -1000.5f;
    return x;
}

/* For cast_f32_to_bf16: random bit patterns of finite floats mixed with rounding ties, infinities, NaN,
   subnormals and values that round up to infinity. */
static float *gen_cast_input(long n, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    float *x = xmalloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) {
        uint32_t u = fp8lab_rng_u32(&r);
        switch (i % 8) {
        case 0: u = (u & 0xffff0000u) | 0x8000u; break; /* exact tie */
        case 1: u &= 0x807fffffu; break;                /* subnormal */
        default:
            if ((u & 0x7f800000u) == 0x7f800000u) u ^= 0x40000000u; /* keep it finite */
            break;
        }
        memcpy(&x[i], &u, sizeof u);
    }
    const uint32_t specials[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f7fffffu, 0x7f7f8000u,
                                 0x00000001u, 0x80000000u};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0] && (long)k < n; k++)
        memcpy(&x[k], &specials[k], sizeof(uint32_t));
    return x;
}

static uint16_t *to_bf16(const float *x, long n) {
    uint16_t *h = xmalloc(sizeof(uint16_t) * (size_t)n);
    for (long i = 0; i < n; i++) h[i] = bf16_from_f32(x[i]);
    return h;
}

static void plant_bits(float *x, long i, uint32_t bits) { memcpy(&x[i], &bits, sizeof bits); }

/* Non-finite values at the ends and in the middle (so several threads and blocks see one), for amax rows. */
static void plant_nonfinite(float *x, long n, int nf) {
    switch (nf) {
    case NF_INF: plant_bits(x, n / 2, 0xff800000u); break; /* -Inf */
    case NF_NAN_AND_INF:
        plant_bits(x, 0, 0x7f800000u);
        plant_bits(x, n / 2, 0x7fc00000u);
        break;
    case NF_NAN_PAYLOADS: /* |x| bits: 0x7fc00000 < 0x7fc00123, whatever the sign */
        plant_bits(x, n - 1, 0xffc00123u);
        plant_bits(x, n / 3, 0x7fc00000u);
        break;
    default: break;
    }
}

/* Builds the inputs of a row. FP8 GEMM operands are quantized by the CPU backend (its output is in the
   backend layouts), then given to both backends, so the GEMMs see identical operands. Returns 0 or -1. */
static int make_inputs(const row_t *rw, uint64_t seed, inputs_t *in) {
    memset(in, 0, sizeof *in);
    switch (rw->op) {
    case OP_CAST_F32_BF16: in->x = gen_cast_input(rw->n, seed); return 0;
    case OP_CAST_BF16_F32:
        in->xh = xmalloc(sizeof(uint16_t) * (size_t)rw->n);
        for (long i = 0; i < rw->n; i++) in->xh[i] = (uint16_t)(i < 65536 ? i : i * 40503u);
        return 0;
    case OP_AMAX:
    case OP_QUANT_TENSOR:
    case OP_CAST_FP8_SCALED: {
        in->x = gen_vector(rw->n, seed);
        float amax = 0;
        for (long i = 0; i < rw->n; i++) amax = fmaxf(amax, fabsf(in->x[i]));
        /* a quarter of the current-scaling scale: the larger values saturate */
        in->scale = fp8_scale_inv_from_amax(amax, rw->fmt_a, 0) * 0.25f;
        plant_nonfinite(in->x, rw->n, rw->nonfinite);
        return 0;
    }
    case OP_QUANT_1x128:
    case OP_QUANT_1x128_T:
    case OP_QUANT_128x128: in->x = gen_matrix(rw->M, rw->K, seed); return 0;
    case OP_GEMM_F32:
    case OP_GEMM_BF16:
        in->x = gen_matrix(rw->M, rw->K, seed);
        in->b = gen_matrix(rw->N, rw->K, seed + 1000);
        if (rw->op == OP_GEMM_BF16) {
            in->xh = to_bf16(in->x, (long)rw->M * rw->K);
            in->bh = to_bf16(in->b, (long)rw->N * rw->K);
        }
        return 0;
    case OP_GEMM_FP8_TENSOR:
    case OP_GEMM_FP8_BLOCK: {
        const int M = rw->M, N = rw->N, K = rw->K;
        in->x = gen_matrix(M, K, seed);
        in->b = gen_matrix(N, K, seed + 1000);
        in->qa = xmalloc((size_t)M * K);
        in->qb = xmalloc((size_t)N * K);
        if (rw->op == OP_GEMM_FP8_TENSOR) {
            in->sa_n = in->sb_n = 1;
            in->sa = xmalloc(sizeof(float));
            in->sb = xmalloc(sizeof(float));
            if (fp8lab_quantize_tensor(g_cpu, in->x, (long)M * K, rw->fmt_a, 0, in->qa, in->sa) ||
                fp8lab_quantize_tensor(g_cpu, in->b, (long)N * K, rw->fmt_b, 0, in->qb, in->sb))
                return -1;
            return 0;
        }
        in->sa_n = fp8lab_scale_1x128_count(M, K);
        in->sa = xmalloc(sizeof(float) * in->sa_n);
        if (fp8lab_quantize_1x128(g_cpu, in->x, M, K, FP8_E4M3, 0, in->qa, in->sa)) return -1;
        if (rw->bscal == FP8LAB_B_128x128) {
            in->sb_n = fp8lab_scale_128x128_count(N, K);
            in->sb = xmalloc(sizeof(float) * in->sb_n);
            if (fp8lab_quantize_128x128(g_cpu, in->b, N, K, FP8_E4M3, 0, in->qb, in->sb)) return -1;
        } else {
            in->sb_n = fp8lab_scale_1x128_count(N, K);
            in->sb = xmalloc(sizeof(float) * in->sb_n);
            if (fp8lab_quantize_1x128(g_cpu, in->b, N, K, FP8_E4M3, 0, in->qb, in->sb)) return -1;
        }
        return 0;
    }
    }
    return -1;
}

/* ---- running an op on one backend: upload, run, download ------------------------------------------------- */
#define MAX_DEV 8
typedef struct {
    fp8lab_backend *be;
    void *p[MAX_DEV];
    int n;
} devmem_t;

static void *dev_alloc(devmem_t *dm, size_t bytes) {
    void *p = fp8lab_alloc(dm->be, bytes);
    if (p && dm->n < MAX_DEV) dm->p[dm->n++] = p;
    return p;
}

static void *dev_upload(devmem_t *dm, const void *host, size_t bytes) {
    void *p = dev_alloc(dm, bytes);
    if (!p) return NULL;
    if (fp8lab_copy_h2d(dm->be, p, host, bytes)) return NULL;
    return p;
}

static void dev_free_all(devmem_t *dm) {
    for (int i = 0; i < dm->n; i++) fp8lab_free(dm->be, dm->p[i]);
    dm->n = 0;
}

/* Sizes the outputs of a row (host buffers, zeroed). */
static void alloc_outputs(const row_t *rw, outputs_t *o) {
    memset(o, 0, sizeof *o);
    const size_t mk = (size_t)rw->M * rw->K, outsz = rw->out == FP8LAB_BF16 ? 2 : 4;
    switch (rw->op) {
    case OP_CAST_F32_BF16: o->y_bytes = sizeof(uint16_t) * (size_t)rw->n; break;
    case OP_CAST_BF16_F32: o->y_bytes = sizeof(float) * (size_t)rw->n; break;
    case OP_AMAX: o->y_bytes = sizeof(float); break;
    case OP_QUANT_TENSOR: o->y_bytes = (size_t)rw->n; o->s_n = 1; break;
    case OP_CAST_FP8_SCALED: o->y_bytes = (size_t)rw->n; break;
    case OP_QUANT_1x128: o->y_bytes = mk; o->s_n = fp8lab_scale_1x128_count(rw->M, rw->K); break;
    case OP_QUANT_1x128_T:
        o->y_bytes = mk;
        o->s_n = fp8lab_scale_1x128_count(rw->M, rw->K);
        o->qt_bytes = mk;
        o->st_n = fp8lab_scale_1x128_count(rw->K, rw->M); /* x^T is [cols][rows] */
        break;
    case OP_QUANT_128x128: o->y_bytes = mk; o->s_n = fp8lab_scale_128x128_count(rw->M, rw->K); break;
    case OP_GEMM_F32: o->y_bytes = sizeof(float) * (size_t)rw->M * rw->N; break;
    default: o->y_bytes = outsz * (size_t)rw->M * rw->N; break;
    }
    o->y = xmalloc(o->y_bytes);
    if (o->s_n) o->s = xmalloc(sizeof(float) * o->s_n);
    if (o->qt_bytes) o->qt = xmalloc(o->qt_bytes);
    if (o->st_n) o->st = xmalloc(sizeof(float) * o->st_n);
}

static int run_op(fp8lab_backend *be, const row_t *rw, const inputs_t *in, outputs_t *o) {
    devmem_t dm = {be, {0}, 0};
    int rc = -1;
    const size_t mk = (size_t)rw->M * rw->K, nk = (size_t)rw->N * rw->K;
    void *y = dev_alloc(&dm, o->y_bytes);
    float *s = o->s_n ? dev_alloc(&dm, sizeof(float) * o->s_n) : NULL;
    uint8_t *qt = o->qt_bytes ? dev_alloc(&dm, o->qt_bytes) : NULL;
    float *st = o->st_n ? dev_alloc(&dm, sizeof(float) * o->st_n) : NULL;
    if (!y || (o->s_n && !s) || (o->qt_bytes && !qt) || (o->st_n && !st)) goto done;
    switch (rw->op) {
    case OP_CAST_F32_BF16: {
        const float *x = dev_upload(&dm, in->x, sizeof(float) * (size_t)rw->n);
        if (!x || fp8lab_cast_f32_to_bf16(be, x, rw->n, y)) goto done;
        break;
    }
    case OP_CAST_BF16_F32: {
        const uint16_t *x = dev_upload(&dm, in->xh, sizeof(uint16_t) * (size_t)rw->n);
        if (!x || fp8lab_cast_bf16_to_f32(be, x, rw->n, y)) goto done;
        break;
    }
    case OP_AMAX: {
        const float *x = dev_upload(&dm, in->x, sizeof(float) * (size_t)rw->n);
        if (!x || fp8lab_amax(be, x, rw->n, y)) goto done;
        break;
    }
    case OP_QUANT_TENSOR: {
        const float *x = dev_upload(&dm, in->x, sizeof(float) * (size_t)rw->n);
        if (!x || fp8lab_quantize_tensor(be, x, rw->n, rw->fmt_a, rw->pow2, y, s)) goto done;
        break;
    }
    case OP_CAST_FP8_SCALED: {
        const float *x = dev_upload(&dm, in->x, sizeof(float) * (size_t)rw->n);
        const float *sc = dev_upload(&dm, &in->scale, sizeof(float));
        if (!x || !sc || fp8lab_cast_fp8_scaled(be, x, rw->n, rw->fmt_a, sc, y)) goto done;
        break;
    }
    case OP_QUANT_1x128:
    case OP_QUANT_1x128_T:
    case OP_QUANT_128x128: {
        const float *x = dev_upload(&dm, in->x, sizeof(float) * mk);
        if (!x) goto done;
        if (rw->op == OP_QUANT_1x128 && fp8lab_quantize_1x128(be, x, rw->M, rw->K, rw->fmt_a, rw->pow2, y, s))
            goto done;
        if (rw->op == OP_QUANT_1x128_T &&
            fp8lab_quantize_1x128_t(be, x, rw->M, rw->K, rw->fmt_a, rw->pow2, y, s, qt, st))
            goto done;
        if (rw->op == OP_QUANT_128x128 && fp8lab_quantize_128x128(be, x, rw->M, rw->K, rw->fmt_a, rw->pow2, y, s))
            goto done;
        break;
    }
    case OP_GEMM_F32: {
        const float *a = dev_upload(&dm, in->x, sizeof(float) * mk);
        const float *b = dev_upload(&dm, in->b, sizeof(float) * nk);
        if (!a || !b || fp8lab_gemm_f32(be, a, b, rw->M, rw->N, rw->K, y)) goto done;
        break;
    }
    case OP_GEMM_BF16: {
        const uint16_t *a = dev_upload(&dm, in->xh, sizeof(uint16_t) * mk);
        const uint16_t *b = dev_upload(&dm, in->bh, sizeof(uint16_t) * nk);
        if (!a || !b || fp8lab_gemm_bf16(be, a, b, rw->M, rw->N, rw->K, rw->out, y)) goto done;
        break;
    }
    case OP_GEMM_FP8_TENSOR:
    case OP_GEMM_FP8_BLOCK: {
        const uint8_t *qa = dev_upload(&dm, in->qa, mk);
        const uint8_t *qb = dev_upload(&dm, in->qb, nk);
        const float *sa = dev_upload(&dm, in->sa, sizeof(float) * in->sa_n);
        const float *sb = dev_upload(&dm, in->sb, sizeof(float) * in->sb_n);
        if (!qa || !qb || !sa || !sb) goto done;
        if (rw->op == OP_GEMM_FP8_TENSOR
                ? fp8lab_gemm_fp8_tensor(be, qa, rw->fmt_a, sa, qb, rw->fmt_b, sb, rw->M, rw->N, rw->K, rw->out, y)
                : fp8lab_gemm_fp8_block(be, qa, sa, qb, sb, rw->bscal, rw->M, rw->N, rw->K, rw->out, y))
            goto done;
        break;
    }
    }
    if (fp8lab_copy_d2h(be, o->y, y, o->y_bytes)) goto done;
    if (o->s_n && fp8lab_copy_d2h(be, o->s, s, sizeof(float) * o->s_n)) goto done;
    if (o->qt_bytes && fp8lab_copy_d2h(be, o->qt, qt, o->qt_bytes)) goto done;
    if (o->st_n && fp8lab_copy_d2h(be, o->st, st, sizeof(float) * o->st_n)) goto done;
    if (fp8lab_sync(be)) goto done;
    rc = 0;
done:
    dev_free_all(&dm);
    return rc;
}

/* ---- comparison ------------------------------------------------------------------------------------------ */
typedef struct {
    double max_abs, rel;
    long mismatches; /* differing bytes/elements (exact ops) */
} cmp_t;

static void cmp_bits(cmp_t *c, const void *a, const void *b, size_t elems, size_t elem_size) {
    const uint8_t *pa = a, *pb = b;
    for (size_t i = 0; i < elems; i++)
        if (memcmp(pa + i * elem_size, pb + i * elem_size, elem_size)) c->mismatches++;
}

static float out_at(const void *y, fp8lab_out_dtype out, size_t i) {
    return out == FP8LAB_BF16 ? bf16_to_f32(((const uint16_t *)y)[i]) : ((const float *)y)[i];
}

/* Dequantized value of element i under each op's layout (for the printed differences of exact ops). */
static double dequant(const row_t *rw, const outputs_t *o, int second, size_t i) {
    const int rows = rw->M, cols = rw->K, fmt = rw->fmt_a;
    if (rw->op == OP_QUANT_TENSOR) return (double)fp8_decode(fmt, ((const uint8_t *)o->y)[i]) * o->s[0];
    const size_t r = i / (size_t)(second ? rows : cols), c = i % (size_t)(second ? rows : cols);
    if (second) /* element (r, c) of x^T, which is [cols][rows] */
        return (double)fp8_decode(fmt, o->qt[i]) * o->st[fp8lab_scale_1x128_at(r, c, cols)];
    const uint8_t q = ((const uint8_t *)o->y)[i];
    if (rw->op == OP_QUANT_128x128) return (double)fp8_decode(fmt, q) * o->s[fp8lab_scale_128x128_at(r, c, cols)];
    return (double)fp8_decode(fmt, q) * o->s[fp8lab_scale_1x128_at(r, c, rows)];
}

static void cmp_values(cmp_t *c, const double *g, const double *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs(g[i] - ref[i]);
        if (d > c->max_abs || d != d) c->max_abs = d;
        num += d * d;
        den += ref[i] * ref[i];
    }
    c->rel = den > 0 ? sqrt(num / den) : sqrt(num);
}

static cmp_t compare(const row_t *rw, const outputs_t *g, const outputs_t *ref) {
    cmp_t c = {0, 0, 0};
    size_t n = 0;
    double *vg = NULL, *vr = NULL;
    switch (rw->op) {
    case OP_CAST_F32_BF16:
    case OP_CAST_BF16_F32:
    case OP_AMAX: {
        const int bf = rw->op == OP_CAST_F32_BF16;
        n = g->y_bytes / (bf ? 2 : 4);
        cmp_bits(&c, g->y, ref->y, n, bf ? 2 : 4);
        vg = xmalloc(sizeof(double) * n);
        vr = xmalloc(sizeof(double) * n);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            const double a = bf ? bf16_to_f32(((uint16_t *)g->y)[i]) : ((float *)g->y)[i];
            const double b = bf ? bf16_to_f32(((uint16_t *)ref->y)[i]) : ((float *)ref->y)[i];
            if (isfinite(a) && isfinite(b)) { /* the bit comparison covers the specials */
                vg[m] = a;
                vr[m++] = b;
            }
        }
        cmp_values(&c, vg, vr, m);
        break;
    }
    case OP_CAST_FP8_SCALED:
        n = g->y_bytes;
        cmp_bits(&c, g->y, ref->y, n, 1);
        vg = xmalloc(sizeof(double) * n);
        vr = xmalloc(sizeof(double) * n);
        for (size_t i = 0; i < n; i++) {
            vg[i] = fp8_decode(rw->fmt_a, ((uint8_t *)g->y)[i]);
            vr[i] = fp8_decode(rw->fmt_a, ((uint8_t *)ref->y)[i]);
        }
        cmp_values(&c, vg, vr, n);
        break;
    case OP_QUANT_TENSOR:
    case OP_QUANT_1x128:
    case OP_QUANT_1x128_T:
    case OP_QUANT_128x128: {
        cmp_bits(&c, g->y, ref->y, g->y_bytes, 1);
        cmp_bits(&c, g->s, ref->s, g->s_n, sizeof(float));
        if (g->qt_bytes) {
            cmp_bits(&c, g->qt, ref->qt, g->qt_bytes, 1);
            cmp_bits(&c, g->st, ref->st, g->st_n, sizeof(float));
        }
        n = g->y_bytes + g->qt_bytes;
        vg = xmalloc(sizeof(double) * n);
        vr = xmalloc(sizeof(double) * n);
        for (size_t i = 0; i < g->y_bytes; i++) {
            vg[i] = dequant(rw, g, 0, i);
            vr[i] = dequant(rw, ref, 0, i);
        }
        for (size_t i = 0; i < g->qt_bytes; i++) {
            vg[g->y_bytes + i] = dequant(rw, g, 1, i);
            vr[g->y_bytes + i] = dequant(rw, ref, 1, i);
        }
        cmp_values(&c, vg, vr, n);
        break;
    }
    default: /* GEMMs */
        n = (size_t)rw->M * rw->N;
        vg = xmalloc(sizeof(double) * n);
        vr = xmalloc(sizeof(double) * n);
        for (size_t i = 0; i < n; i++) {
            const fp8lab_out_dtype od = rw->op == OP_GEMM_F32 ? FP8LAB_F32 : rw->out;
            vg[i] = out_at(g->y, od, i);
            vr[i] = out_at(ref->y, od, i);
        }
        cmp_values(&c, vg, vr, n);
        break;
    }
    free(vg);
    free(vr);
    return c;
}

static void shape_str(const row_t *rw, char *buf, size_t n) {
    static const char *fmts[] = {"e4m3", "e5m2"};
    const char *out = rw->out == FP8LAB_BF16 ? "bf16" : "f32";
    switch (row_group(rw)) {
    case GROUP_CAST:
        if (rw->op == OP_AMAX || rw->op <= OP_CAST_BF16_F32) {
            static const char *nf[] = {"", " -inf", " nan+inf", " nans"};
            snprintf(buf, n, "n=%ld%s", rw->n, nf[rw->nonfinite]);
            return;
        }
        break;
    case GROUP_GEMM:
        if (rw->op == OP_GEMM_FP8_TENSOR)
            snprintf(buf, n, "%dx%dx%d %sx%s->%s", rw->M, rw->N, rw->K, fmts[rw->fmt_a], fmts[rw->fmt_b], out);
        else if (rw->op == OP_GEMM_FP8_BLOCK)
            snprintf(buf, n, "%dx%dx%d B%s->%s", rw->M, rw->N, rw->K,
                     rw->bscal == FP8LAB_B_1x128 ? "1x128" : "128x128", out);
        else
            snprintf(buf, n, "%dx%dx%d ->%s", rw->M, rw->N, rw->K, rw->op == OP_GEMM_F32 ? "f32" : out);
        return;
    default: break;
    }
    if (rw->op == OP_QUANT_TENSOR || rw->op == OP_CAST_FP8_SCALED)
        snprintf(buf, n, "n=%ld %s%s", rw->n, fmts[rw->fmt_a], rw->pow2 ? " pow2" : "");
    else
        snprintf(buf, n, "%dx%d %s%s", rw->M, rw->K, fmts[rw->fmt_a], rw->pow2 ? " pow2" : "");
}

/* Runs one row on both backends; prints its line; returns 1 on PASS. */
static int run_row(int idx) {
    const row_t *rw = &ROWS[idx];
    char shape[96];
    shape_str(rw, shape, sizeof shape);
    inputs_t in;
    outputs_t o_cpu, o_gpu;
    int pass = 0;
    alloc_outputs(rw, &o_cpu);
    alloc_outputs(rw, &o_gpu);
    if (make_inputs(rw, 1000 + (uint64_t)idx, &in)) {
        printf("%-18s %-31s FAIL (making inputs: %s)\n", op_name(rw->op), shape, fp8lab_last_error());
    } else if (run_op(g_cpu, rw, &in, &o_cpu)) {
        printf("%-18s %-31s FAIL (cpu: %s)\n", op_name(rw->op), shape, fp8lab_last_error());
    } else if (run_op(g_cuda, rw, &in, &o_gpu)) {
        printf("%-18s %-31s FAIL (cuda: %s)\n", op_name(rw->op), shape, fp8lab_last_error());
    } else {
        const cmp_t c = compare(rw, &o_gpu, &o_cpu);
        pass = rw->tol == TOL_EXACT ? c.mismatches == 0 : (c.rel <= rw->tol && isfinite(c.rel));
        if (rw->tol == TOL_EXACT)
            printf("%-18s %-31s max|d|=%.3e rel=%.3e mismatches=%ld (bit-exact) %s\n", op_name(rw->op), shape,
                   c.max_abs, c.rel, c.mismatches, pass ? "PASS" : "FAIL");
        else
            printf("%-18s %-31s max|d|=%.3e rel=%.3e (tol %.0e) %s\n", op_name(rw->op), shape, c.max_abs, c.rel,
                   rw->tol, pass ? "PASS" : "FAIL");
    }
    fflush(stdout);
    inputs_free(&in);
    outputs_free(&o_cpu);
    outputs_free(&o_gpu);
    return pass;
}

static void run_group(int group) {
    int failed = 0;
    for (int i = 0; i < NROWS; i++)
        if (row_group(&ROWS[i]) == group && !run_row(i)) failed++;
    assert_int_equal(failed, 0);
}

static void test_casts_and_amax(void **state) {
    (void)state;
    run_group(GROUP_CAST);
}

static void test_quantizers(void **state) {
    (void)state;
    run_group(GROUP_QUANT);
}

static void test_gemms(void **state) {
    (void)state;
    run_group(GROUP_GEMM);
}

/* ---- layers, optimizer, matmul_f32 ------------------------------------------------------------------------
   Tolerances: relative Frobenius error ||cuda - cpu|| / ||cpu|| of every output (parameter gradients included:
   they start from random values, so "+=" is checked too). */
/* Elementwise ops, embedding, RoPE (cos/sin in double on both sides): same FP32 formula, differences are FMA
   contraction and the last ulp of expf/tanhf (~1e-7). */
#define TOL_POINTWISE 1e-6
/* Row reductions (norms, softmax) and column sums in another order: ~sqrt(C) * 2^-24 plus cancellation. */
#define TOL_REDUCE 1e-5
/* Attention forward: online vs two-pass softmax, warp-tree dot products. */
#define TOL_ATTN_FWD 1e-5
/* Attention backward: dS = P (dP - dsum) cancels, sums over up to T keys/queries. */
#define TOL_ATTN_BWD 1e-4
/* D = 64 and 128 take the tensor-core path (cuda/attention_tc.cu): q, k, v, dout and the probabilities enter
   the products rounded to TF32 (10-bit mantissa, relative rounding error up to 2^-11 ~ 4.9e-4 per operand), FP32
   accumulation. A lane-level host emulation of those kernels (TF32 rounding, same tiles, fragments and order)
   against fp64 gave relative errors of 2e-4..4e-4 (out), 5e-4..6.3e-4 (dq, dk, dv), <= 5e-4 (lse) on N(0,1)
   inputs, T from 17 to 1024 (30 seeds at T = 17); 2e-3 leaves a margin of ~3. Very short rows are worse: at
   T = 2 dq and dk nearly cancel (up to 1.4e-3), at T = 1 they are 0 up to rounding, so no row goes there. */
#define TOL_ATTN_TF32 2e-3
/* AdamW with FP32 moments: one formula, FMA contraction only. */
#define TOL_ADAMW_F32 1e-6
/* BF16 moments: an ulp of FP32 difference before rounding flips a BF16 rounding (2^-8 relative) on rare
   elements. */
#define TOL_ADAMW_BF16 1e-4
/* Sum of squares: FP32 partials (CUDA) vs FP64 (CPU), n ~ 1e6. */
#define TOL_SUMSQ 1e-5

typedef enum {
    L_EMBED_FWD, L_EMBED_BWD, L_LN_FWD, L_LN_BWD, L_RMS_FWD, L_RMS_BWD, L_GELU_FWD, L_GELU_BWD, L_SWIGLU_FWD,
    L_SWIGLU_BWD, L_ROPE_FWD, L_ROPE_BWD, L_ATTN_FWD, L_ATTN_BWD, L_XENT_FWD, L_XENT_BWD, L_ADD, L_BIAS_FWD,
    L_BIAS_BWD, L_ADAMW, L_SUMSQ, L_NONFINITE, L_MATMUL, L_TRANSPOSE, L_COPY_2D,
} lop_t;

static const char *lop_name(lop_t op) {
    static const char *names[] = {"embed_fwd",   "embed_bwd",  "layernorm_fwd", "layernorm_bwd", "rmsnorm_fwd",
                                  "rmsnorm_bwd", "gelu_fwd",   "gelu_bwd",      "swiglu_fwd",    "swiglu_bwd",
                                  "rope_fwd",    "rope_bwd",   "attn_fwd",      "attn_bwd",      "xent_fwd",
                                  "xent_bwd",    "add",        "bias_fwd",      "bias_bwd",      "adamw",
                                  "sumsq",       "count_nonfinite", "matmul_f32", "transpose_f32", "copy_2d"};
    return names[op];
}

/* Shape fields per op:
   embed: a=B b=T c=C d=V, flag: learned positions (wpe)      layernorm/rmsnorm: a=N b=C, flag: bias (layernorm)
   gelu/add/sumsq/count_nonfinite: a=n (add flag: out aliases a)   swiglu: a=N b=F     bias: a=N b=C
   rope: a=B b=T c=H d=D        attn: a=B b=T c=Hq d=Hkv e=D      xent: a=N b=V, flag: dlogits aliases logits
   adamw: a=n b=step, flag: FP8LAB_MOMENTS_*, e: weight decay on   matmul: a=M b=N c=K d=ta e=tb, flag: beta != 0
   copy_2d: a=rows b=width c=src pitch d=dst pitch (floats) */
typedef struct {
    lop_t op;
    int a, b, c, d, e;
    int flag;
    double tol;
} lrow_t;

#define LR(op_, a_, b_, c_, d_, e_, flag_, tol_) {op_, a_, b_, c_, d_, e_, flag_, tol_}

static const lrow_t LROWS[] = {
    LR(L_EMBED_FWD, 4, 64, 96, 500, 0, 1, TOL_POINTWISE),
    LR(L_EMBED_FWD, 3, 17, 33, 50, 0, 0, TOL_POINTWISE),
    LR(L_EMBED_BWD, 4, 64, 96, 40, 0, 1, TOL_POINTWISE), /* V = 40: tokens repeat, atomics collide */
    LR(L_EMBED_BWD, 2, 9, 130, 7, 0, 0, TOL_POINTWISE),
    LR(L_LN_FWD, 256, 768, 0, 0, 0, 1, TOL_REDUCE),
    LR(L_LN_FWD, 7, 33, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_LN_FWD, 3, 5000, 0, 0, 0, 1, TOL_REDUCE),
    LR(L_LN_BWD, 256, 768, 0, 0, 0, 1, TOL_REDUCE),
    LR(L_LN_BWD, 2000, 40, 0, 0, 0, 0, TOL_REDUCE), /* several row slabs: atomic column sums */
    LR(L_LN_BWD, 5, 3001, 0, 0, 0, 1, TOL_REDUCE),
    LR(L_RMS_FWD, 256, 1024, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_RMS_FWD, 9, 31, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_RMS_BWD, 256, 1024, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_RMS_BWD, 3000, 65, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_GELU_FWD, 1000003, 0, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_GELU_BWD, 1000003, 0, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_SWIGLU_FWD, 128, 688, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_SWIGLU_FWD, 5, 7, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_SWIGLU_BWD, 128, 688, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_SWIGLU_BWD, 3, 300, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_ROPE_FWD, 2, 1024, 4, 128, 0, 0, TOL_POINTWISE),
    LR(L_ROPE_FWD, 3, 37, 5, 6, 0, 0, TOL_POINTWISE),
    LR(L_ROPE_BWD, 2, 1024, 4, 128, 0, 0, TOL_POINTWISE),
    LR(L_ROPE_BWD, 1, 5, 3, 66, 0, 0, TOL_POINTWISE),
    /* D = 64 and 128: the TF32 tensor-core path (32- to 128-row tiles: ragged T ends mid-tile) */
    LR(L_ATTN_FWD, 2, 128, 4, 4, 64, 0, TOL_ATTN_TF32),
    LR(L_ATTN_FWD, 2, 77, 8, 2, 128, 0, TOL_ATTN_TF32),  /* grouped-query, ragged T */
    LR(L_ATTN_FWD, 2, 1024, 12, 12, 64, 0, TOL_ATTN_TF32), /* GPT-2 124M's heads */
    LR(L_ATTN_FWD, 1, 512, 8, 2, 128, 0, TOL_ATTN_TF32), /* Llama-style: D 128, 4 query heads per kv head */
    LR(L_ATTN_FWD, 1, 300, 5, 5, 64, 0, TOL_ATTN_TF32),
    LR(L_ATTN_FWD, 1, 300, 6, 2, 64, 0, TOL_ATTN_TF32),  /* grouped-query, D 64 */
    LR(L_ATTN_FWD, 3, 1, 4, 2, 64, 0, TOL_ATTN_TF32),    /* one token: a single, mostly empty tile */
    /* other D: the FP32 CUDA-core kernels */
    LR(L_ATTN_FWD, 1, 33, 3, 1, 20, 0, TOL_ATTN_FWD),    /* D < 32, multi-query */
    LR(L_ATTN_FWD, 1, 40, 2, 2, 300, 0, TOL_ATTN_FWD),   /* D > 256: the wide kernels */
    LR(L_ATTN_FWD, 1, 300, 2, 1, 256, 0, TOL_ATTN_FWD),
    LR(L_ATTN_FWD, 1, 77, 2, 2, 96, 0, TOL_ATTN_FWD),    /* D 65..128 and 33..64 in registers */
    LR(L_ATTN_FWD, 1, 50, 3, 3, 48, 0, TOL_ATTN_FWD),
    LR(L_ATTN_BWD, 2, 128, 4, 4, 64, 0, TOL_ATTN_TF32),
    LR(L_ATTN_BWD, 2, 77, 8, 2, 128, 0, TOL_ATTN_TF32),
    LR(L_ATTN_BWD, 2, 1024, 12, 12, 64, 0, TOL_ATTN_TF32),
    LR(L_ATTN_BWD, 1, 512, 8, 2, 128, 0, TOL_ATTN_TF32),
    LR(L_ATTN_BWD, 1, 300, 6, 2, 64, 0, TOL_ATTN_TF32),  /* grouped-query, D 64, ragged T */
    LR(L_ATTN_BWD, 3, 17, 4, 2, 64, 0, TOL_ATTN_TF32),   /* one partial tile (T <= 5: dq, dk cancel to ~0) */
    LR(L_ATTN_BWD, 1, 33, 3, 1, 20, 0, TOL_ATTN_BWD),
    LR(L_ATTN_BWD, 1, 40, 2, 2, 300, 0, TOL_ATTN_BWD),
    LR(L_ATTN_BWD, 1, 300, 2, 1, 256, 0, TOL_ATTN_BWD),
    LR(L_ATTN_BWD, 1, 77, 2, 2, 96, 0, TOL_ATTN_BWD),
    LR(L_ATTN_BWD, 1, 50, 3, 3, 48, 0, TOL_ATTN_BWD),
    LR(L_XENT_FWD, 64, 50257, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_XENT_FWD, 7, 10, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_XENT_BWD, 64, 50257, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_XENT_BWD, 64, 5000, 0, 0, 0, 1, TOL_REDUCE), /* in place */
    LR(L_XENT_BWD, 7, 10, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_ADD, 1000003, 0, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_ADD, 4097, 0, 0, 0, 0, 1, TOL_POINTWISE), /* out aliases a */
    LR(L_BIAS_FWD, 300, 770, 0, 0, 0, 0, TOL_POINTWISE),
    LR(L_BIAS_BWD, 300, 770, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_BIAS_BWD, 5000, 33, 0, 0, 0, 0, TOL_REDUCE),
    LR(L_ADAMW, 1000003, 1, 0, 0, 1, FP8LAB_MOMENTS_F32, TOL_ADAMW_F32),
    LR(L_ADAMW, 100003, 1000, 0, 0, 0, FP8LAB_MOMENTS_F32, TOL_ADAMW_F32),
    LR(L_ADAMW, 1000003, 7, 0, 0, 1, FP8LAB_MOMENTS_BF16, TOL_ADAMW_BF16),
    LR(L_ADAMW, 33, 1, 0, 0, 0, FP8LAB_MOMENTS_BF16, TOL_ADAMW_BF16),
    LR(L_SUMSQ, 1000003, 0, 0, 0, 0, 0, TOL_SUMSQ),
    LR(L_SUMSQ, 5, 0, 0, 0, 0, 0, TOL_SUMSQ),
    LR(L_NONFINITE, 1000003, 0, 0, 0, 0, 0, TOL_EXACT),
    LR(L_NONFINITE, 3, 0, 0, 0, 0, 0, TOL_EXACT),
    /* matmul_f32: C[M][N] = alpha op(A) op(B) + beta C, all four transpose combinations, beta 0 and 1 */
    LR(L_MATMUL, 256, 384, 512, FP8LAB_OP_N, FP8LAB_OP_T, 0, TOL_GEMM_F32), /* fprop x W^T */
    LR(L_MATMUL, 256, 384, 512, FP8LAB_OP_N, FP8LAB_OP_N, 0, TOL_GEMM_F32), /* dgrad dY W */
    LR(L_MATMUL, 384, 512, 256, FP8LAB_OP_T, FP8LAB_OP_N, 1, TOL_GEMM_F32), /* wgrad dW += dY^T x */
    LR(L_MATMUL, 256, 384, 512, FP8LAB_OP_T, FP8LAB_OP_T, 1, TOL_GEMM_F32),
    LR(L_MATMUL, 100, 60, 72, FP8LAB_OP_N, FP8LAB_OP_T, 1, TOL_GEMM_F32),
    LR(L_MATMUL, 37, 19, 5, FP8LAB_OP_N, FP8LAB_OP_N, 1, TOL_GEMM_F32),
    LR(L_MATMUL, 3, 129, 65, FP8LAB_OP_T, FP8LAB_OP_N, 0, TOL_GEMM_F32),
    LR(L_MATMUL, 65, 3, 129, FP8LAB_OP_T, FP8LAB_OP_T, 0, TOL_GEMM_F32),
    /* transpose_f32: a=rows b=cols; exact */
    LR(L_TRANSPOSE, 384, 256, 0, 0, 0, 0, TOL_EXACT),
    LR(L_TRANSPOSE, 37, 1001, 0, 0, 0, 0, TOL_EXACT),
    LR(L_TRANSPOSE, 70000, 3, 0, 0, 0, 0, TOL_EXACT), /* more row tiles than one grid dimension takes */
    LR(L_TRANSPOSE, 1, 1, 0, 0, 0, 0, TOL_EXACT),
    /* copy_2d: GPT-2's q, k, v column blocks out of [N][3C] and back; exact, the gaps in dst untouched */
    LR(L_COPY_2D, 4096, 768, 2304, 768, 0, 0, TOL_EXACT),
    LR(L_COPY_2D, 4096, 768, 768, 2304, 0, 0, TOL_EXACT),
    LR(L_COPY_2D, 37, 5, 11, 7, 0, 0, TOL_EXACT),
    LR(L_COPY_2D, 1, 3, 3, 3, 0, 0, TOL_EXACT),
};
#define NLROWS ((int)(sizeof LROWS / sizeof LROWS[0]))

/* A case is a list of buffers, uploaded to each backend from the same host data (outputs too: parameter
   gradients and in-place tensors have meaningful initial values); the op's outputs are downloaded and
   compared. */
enum { BT_F32, BT_I32, BT_BF16, BT_F64, BT_I64 };
#define MAX_LBUF 10
typedef struct {
    int type;
    size_t n;
    void *host; /* initial contents (NULL: an absent optional pointer) */
    int out;    /* compared after the op */
    const char *name;
} lbuf_t;
typedef struct {
    lbuf_t b[MAX_LBUF];
    int nb;
} lcase_t;

static size_t lbuf_elem(int type) {
    switch (type) {
    case BT_BF16: return 2;
    case BT_F64:
    case BT_I64: return 8;
    default: return 4;
    }
}

static void *lc_add(lcase_t *lc, int type, size_t n, int out, const char *name) {
    lbuf_t *b = &lc->b[lc->nb++];
    b->type = type;
    b->n = n;
    b->out = out;
    b->name = name;
    b->host = xmalloc(lbuf_elem(type) * (n ? n : 1));
    return b->host;
}

static void lc_add_null(lcase_t *lc, const char *name) {
    lbuf_t *b = &lc->b[lc->nb++];
    memset(b, 0, sizeof *b);
    b->name = name;
}

static void lcase_free(lcase_t *lc) {
    for (int i = 0; i < lc->nb; i++) free(lc->b[i].host);
    memset(lc, 0, sizeof *lc);
}

static void fill_normal(float *x, size_t n, double sd, double mean, fp8lab_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mean + sd * fp8lab_rng_normal(r));
}

static void fill_tokens(int32_t *t, size_t n, int V, int allow_negative, fp8lab_rng *r) {
    for (size_t i = 0; i < n; i++)
        t[i] = allow_negative && i % 5 == 3 ? -1 : (int32_t)(fp8lab_rng_u32(r) % (uint32_t)V);
}

static fp8lab_attn_shape lrow_attn(const lrow_t *rw) {
    fp8lab_attn_shape s = {rw->a, rw->b, rw->c, rw->d, rw->e};
    return s;
}

static fp8lab_adamw_args lrow_adamw(const lrow_t *rw) {
    fp8lab_adamw_args a = {1e-3f, 0.9f, 0.95f, 1e-8f, rw->e ? 0.1f : 0.0f, rw->b, 0.7f,
                           (fp8lab_moment_dtype)rw->flag};
    return a;
}

/* Builds a row's buffers in the order lrun_op passes them. Returns 0, or -1 (the CPU forward failed). */
static int lmake(const lrow_t *rw, uint64_t seed, lcase_t *lc) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    memset(lc, 0, sizeof *lc);
    const size_t A = (size_t)rw->a, B = (size_t)rw->b;
    switch (rw->op) {
    case L_EMBED_FWD:
    case L_EMBED_BWD: {
        const size_t N = A * B, C = (size_t)rw->c, V = (size_t)rw->d;
        const int fwd = rw->op == L_EMBED_FWD;
        if (fwd) {
            lc_add(lc, BT_F32, N * C, 1, "out");
            fill_tokens(lc_add(lc, BT_I32, N, 0, "tok"), N, (int)V, 0, &r);
            fill_normal(lc_add(lc, BT_F32, V * C, 0, "wte"), V * C, 1, 0, &r);
            if (rw->flag) fill_normal(lc_add(lc, BT_F32, B * C, 0, "wpe"), B * C, 0.5, 0, &r);
            else lc_add_null(lc, "wpe");
        } else {
            fill_normal(lc_add(lc, BT_F32, V * C, 1, "dwte"), V * C, 1, 0, &r);
            if (rw->flag) fill_normal(lc_add(lc, BT_F32, B * C, 1, "dwpe"), B * C, 1, 0, &r);
            else lc_add_null(lc, "dwpe");
            fill_normal(lc_add(lc, BT_F32, N * C, 0, "dout"), N * C, 1, 0, &r);
            fill_tokens(lc_add(lc, BT_I32, N, 0, "tok"), N, (int)V, 0, &r);
        }
        return 0;
    }
    case L_LN_FWD:
    case L_RMS_FWD: {
        const int ln = rw->op == L_LN_FWD;
        lc_add(lc, BT_F32, A * B, 1, "out");
        if (ln) lc_add(lc, BT_F32, A, 1, "mean");
        lc_add(lc, BT_F32, A, 1, "rstd");
        fill_normal(lc_add(lc, BT_F32, A * B, 0, "x"), A * B, 2, 0.5, &r);
        fill_normal(lc_add(lc, BT_F32, B, 0, "w"), B, 0.2, 1, &r);
        if (ln) {
            if (rw->flag) fill_normal(lc_add(lc, BT_F32, B, 0, "b"), B, 0.2, 0, &r);
            else lc_add_null(lc, "b");
        }
        return 0;
    }
    case L_LN_BWD:
    case L_RMS_BWD: {
        const int ln = rw->op == L_LN_BWD;
        const int N = rw->a, C = rw->b;
        lc_add(lc, BT_F32, A * B, 1, "dx");
        fill_normal(lc_add(lc, BT_F32, B, 1, "dw"), B, 1, 0, &r);
        if (ln) {
            if (rw->flag) fill_normal(lc_add(lc, BT_F32, B, 1, "db"), B, 1, 0, &r);
            else lc_add_null(lc, "db");
        }
        fill_normal(lc_add(lc, BT_F32, A * B, 0, "dout"), A * B, 1, 0, &r);
        float *x = lc_add(lc, BT_F32, A * B, 0, "x");
        fill_normal(x, A * B, 2, 0.5, &r);
        float *w = lc_add(lc, BT_F32, B, 0, "w");
        fill_normal(w, B, 0.2, 1, &r);
        float *y = xmalloc(sizeof(float) * A * B);
        int rc;
        if (ln) {
            float *mean = lc_add(lc, BT_F32, A, 0, "mean"), *rstd = lc_add(lc, BT_F32, A, 0, "rstd");
            rc = fp8lab_layernorm_fwd(g_cpu, y, mean, rstd, x, w, NULL, N, C, 1e-5f);
        } else {
            rc = fp8lab_rmsnorm_fwd(g_cpu, y, lc_add(lc, BT_F32, A, 0, "rstd"), x, w, N, C, 1e-5f);
        }
        free(y);
        return rc;
    }
    case L_GELU_FWD:
    case L_GELU_BWD:
        lc_add(lc, BT_F32, A, 1, rw->op == L_GELU_FWD ? "out" : "dx");
        if (rw->op == L_GELU_BWD) fill_normal(lc_add(lc, BT_F32, A, 0, "dout"), A, 1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, A, 0, "x"), A, 3, 0, &r);
        return 0;
    case L_SWIGLU_FWD:
    case L_SWIGLU_BWD:
        lc_add(lc, BT_F32, rw->op == L_SWIGLU_FWD ? A * B : A * 2 * B, 1,
               rw->op == L_SWIGLU_FWD ? "out" : "dgate_up");
        if (rw->op == L_SWIGLU_BWD) fill_normal(lc_add(lc, BT_F32, A * B, 0, "dout"), A * B, 1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, A * 2 * B, 0, "gate_up"), A * 2 * B, 3, 0, &r);
        return 0;
    case L_ROPE_FWD:
    case L_ROPE_BWD: {
        const size_t n = A * B * (size_t)rw->c * (size_t)rw->d;
        fill_normal(lc_add(lc, BT_F32, n, 1, "x"), n, 1, 0, &r);
        return 0;
    }
    case L_ATTN_FWD:
    case L_ATTN_BWD: {
        const fp8lab_attn_shape s = lrow_attn(rw);
        const size_t nq = (size_t)s.B * s.T * s.Hq * s.D, nkv = (size_t)s.B * s.T * s.Hkv * s.D;
        const size_t nl = (size_t)s.B * s.Hq * s.T;
        if (rw->op == L_ATTN_FWD) {
            lc_add(lc, BT_F32, nq, 1, "out");
            lc_add(lc, BT_F32, nl, 1, "lse");
            fill_normal(lc_add(lc, BT_F32, nq, 0, "q"), nq, 1, 0, &r);
            fill_normal(lc_add(lc, BT_F32, nkv, 0, "k"), nkv, 1, 0, &r);
            fill_normal(lc_add(lc, BT_F32, nkv, 0, "v"), nkv, 1, 0, &r);
            return 0;
        }
        lc_add(lc, BT_F32, nq, 1, "dq");
        lc_add(lc, BT_F32, nkv, 1, "dk");
        lc_add(lc, BT_F32, nkv, 1, "dv");
        fill_normal(lc_add(lc, BT_F32, nq, 0, "dout"), nq, 1, 0, &r);
        float *out = lc_add(lc, BT_F32, nq, 0, "out"), *lse = lc_add(lc, BT_F32, nl, 0, "lse");
        float *q = lc_add(lc, BT_F32, nq, 0, "q"), *k = lc_add(lc, BT_F32, nkv, 0, "k");
        float *v = lc_add(lc, BT_F32, nkv, 0, "v");
        fill_normal(q, nq, 1, 0, &r);
        fill_normal(k, nkv, 1, 0, &r);
        fill_normal(v, nkv, 1, 0, &r);
        return fp8lab_attn_fwd(g_cpu, out, lse, q, k, v, s);
    }
    case L_XENT_FWD:
    case L_XENT_BWD: {
        if (rw->op == L_XENT_FWD) lc_add(lc, BT_F32, A, 1, "loss");
        else if (!rw->flag) lc_add(lc, BT_F32, A * B, 1, "dlogits");
        fill_normal(lc_add(lc, BT_F32, A * B, rw->flag, "logits"), A * B, 3, 0, &r);
        fill_tokens(lc_add(lc, BT_I32, A, 0, "targets"), A, rw->b, 1, &r);
        return 0;
    }
    case L_ADD:
        if (!rw->flag) lc_add(lc, BT_F32, A, 1, "out");
        fill_normal(lc_add(lc, BT_F32, A, rw->flag, "a"), A, 1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, A, 0, "b"), A, 1, 0, &r);
        return 0;
    case L_BIAS_FWD:
    case L_BIAS_BWD:
        if (rw->op == L_BIAS_FWD) {
            fill_normal(lc_add(lc, BT_F32, A * B, 1, "out"), A * B, 1, 0, &r);
            fill_normal(lc_add(lc, BT_F32, B, 0, "bias"), B, 1, 0, &r);
        } else {
            fill_normal(lc_add(lc, BT_F32, B, 1, "dbias"), B, 1, 0, &r);
            fill_normal(lc_add(lc, BT_F32, A * B, 0, "dout"), A * B, 1, 0, &r);
        }
        return 0;
    case L_ADAMW: {
        fill_normal(lc_add(lc, BT_F32, A, 1, "param"), A, 0.1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, A, 0, "grad"), A, 0.01, 0, &r);
        const int bf = rw->flag == FP8LAB_MOMENTS_BF16;
        float *m = xmalloc(sizeof(float) * A), *v = xmalloc(sizeof(float) * A);
        fill_normal(m, A, 0.005, 0, &r);
        for (size_t i = 0; i < A; i++) v[i] = m[i] * m[i] * (float)(0.5 + fp8lab_rng_uniform(&r));
        if (bf) {
            uint16_t *mh = lc_add(lc, BT_BF16, A, 1, "m"), *vh = lc_add(lc, BT_BF16, A, 1, "v");
            for (size_t i = 0; i < A; i++) {
                mh[i] = bf16_from_f32(m[i]);
                vh[i] = bf16_from_f32(v[i]);
            }
        } else {
            memcpy(lc_add(lc, BT_F32, A, 1, "m"), m, sizeof(float) * A);
            memcpy(lc_add(lc, BT_F32, A, 1, "v"), v, sizeof(float) * A);
        }
        free(m);
        free(v);
        return 0;
    }
    case L_SUMSQ:
    case L_NONFINITE: {
        float *x = lc_add(lc, BT_F32, A, 0, "x");
        fill_normal(x, A, 2, 0, &r);
        if (rw->op == L_SUMSQ) {
            *(double *)lc_add(lc, BT_F64, 1, 1, "sumsq") = 12.5; /* accumulates */
        } else {
            const uint32_t bad[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00123u};
            for (size_t i = 0; i < A; i += 997) memcpy(&x[i], &bad[(i / 997) % 4], sizeof(uint32_t));
            *(int64_t *)lc_add(lc, BT_I64, 1, 1, "count") = 3; /* accumulates */
        }
        return 0;
    }
    case L_TRANSPOSE: {
        fill_normal(lc_add(lc, BT_F32, A * B, 0, "x"), A * B, 1, 0, &r);
        float *y = lc_add(lc, BT_F32, A * B, 1, "y");
        for (size_t i = 0; i < A * B; i++) y[i] = NAN; /* every element must be written */
        return 0;
    }
    case L_COPY_2D: {
        fill_normal(lc_add(lc, BT_F32, A * (size_t)rw->c, 0, "src"), A * (size_t)rw->c, 1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, A * (size_t)rw->d, 1, "dst"), A * (size_t)rw->d, 1, 0, &r);
        return 0;
    }
    case L_MATMUL: {
        const size_t M = A, N = B, K = (size_t)rw->c;
        fill_normal(lc_add(lc, BT_F32, M * K, 0, "a"), M * K, 1, 0, &r);
        fill_normal(lc_add(lc, BT_F32, K * N, 0, "b"), K * N, 1, 0, &r);
        float *cm = lc_add(lc, BT_F32, M * N, 1, "c");
        if (rw->flag) fill_normal(cm, M * N, 1, 0, &r);
        else for (size_t i = 0; i < M * N; i++) cm[i] = NAN; /* beta 0: C must not be read */
        return 0;
    }
    }
    return -1;
}

/* Runs a row's op with the buffers' device copies p[i] (in lmake's order). */
static int lcall(fp8lab_backend *be, const lrow_t *rw, void **p) {
#define F(i) ((float *)p[i])
#define I(i) ((const int32_t *)p[i])
    switch (rw->op) {
    case L_EMBED_FWD: return fp8lab_embed_fwd(be, F(0), I(1), F(2), F(3), rw->a, rw->b, rw->c, rw->d);
    case L_EMBED_BWD: return fp8lab_embed_bwd(be, F(0), F(1), F(2), I(3), rw->a, rw->b, rw->c, rw->d);
    case L_LN_FWD: return fp8lab_layernorm_fwd(be, F(0), F(1), F(2), F(3), F(4), F(5), rw->a, rw->b, 1e-5f);
    case L_LN_BWD: return fp8lab_layernorm_bwd(be, F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), rw->a, rw->b);
    case L_RMS_FWD: return fp8lab_rmsnorm_fwd(be, F(0), F(1), F(2), F(3), rw->a, rw->b, 1e-5f);
    case L_RMS_BWD: return fp8lab_rmsnorm_bwd(be, F(0), F(1), F(2), F(3), F(4), F(5), rw->a, rw->b);
    case L_GELU_FWD: return fp8lab_gelu_fwd(be, F(0), F(1), rw->a);
    case L_GELU_BWD: return fp8lab_gelu_bwd(be, F(0), F(1), F(2), rw->a);
    case L_SWIGLU_FWD: return fp8lab_swiglu_fwd(be, F(0), F(1), rw->a, rw->b);
    case L_SWIGLU_BWD: return fp8lab_swiglu_bwd(be, F(0), F(1), F(2), rw->a, rw->b);
    case L_ROPE_FWD: return fp8lab_rope_fwd(be, F(0), rw->a, rw->b, rw->c, rw->d, 10000.0f);
    case L_ROPE_BWD: return fp8lab_rope_bwd(be, F(0), rw->a, rw->b, rw->c, rw->d, 500000.0f);
    case L_ATTN_FWD: return fp8lab_attn_fwd(be, F(0), F(1), F(2), F(3), F(4), lrow_attn(rw));
    case L_ATTN_BWD:
        return fp8lab_attn_bwd(be, F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), lrow_attn(rw));
    case L_XENT_FWD: return fp8lab_xent_fwd(be, F(0), F(1), I(2), rw->a, rw->b);
    case L_XENT_BWD:
        return rw->flag ? fp8lab_xent_bwd(be, F(0), F(0), I(1), rw->a, rw->b, 1.0f / 51)
                        : fp8lab_xent_bwd(be, F(0), F(1), I(2), rw->a, rw->b, 1.0f / 51);
    case L_ADD: return rw->flag ? fp8lab_add(be, F(0), F(0), F(1), rw->a) : fp8lab_add(be, F(0), F(1), F(2), rw->a);
    case L_BIAS_FWD: return fp8lab_bias_fwd(be, F(0), F(1), rw->a, rw->b);
    case L_BIAS_BWD: return fp8lab_bias_bwd(be, F(0), F(1), rw->a, rw->b);
    case L_ADAMW: {
        const fp8lab_adamw_args a = lrow_adamw(rw);
        return fp8lab_adamw(be, F(0), F(1), p[2], p[3], rw->a, &a);
    }
    case L_SUMSQ: return fp8lab_sumsq(be, F(0), rw->a, (double *)p[1]);
    case L_TRANSPOSE: return fp8lab_transpose_f32(be, F(0), rw->a, rw->b, F(1));
    case L_COPY_2D:
        return fp8lab_copy_2d(be, F(1), sizeof(float) * rw->d, F(0), sizeof(float) * rw->c, sizeof(float) * rw->b,
                              rw->a);
    case L_NONFINITE: return fp8lab_count_nonfinite(be, F(0), rw->a, (int64_t *)p[1]);
    case L_MATMUL:
        return fp8lab_matmul_f32(be, (fp8lab_op_t)rw->d, (fp8lab_op_t)rw->e, rw->a, rw->b, rw->c, 0.75f, F(0), F(1),
                                 rw->flag ? 1.0f : 0.0f, F(2));
    }
#undef F
#undef I
    return -1;
}

/* Uploads the case, runs the op, downloads the outputs into res[i] (host buffers allocated here). */
static int lrun(fp8lab_backend *be, const lrow_t *rw, const lcase_t *lc, void **res) {
    void *p[MAX_LBUF] = {0};
    int rc = -1;
    for (int i = 0; i < lc->nb; i++) {
        const lbuf_t *b = &lc->b[i];
        if (!b->host) continue;
        const size_t bytes = lbuf_elem(b->type) * b->n;
        if (!(p[i] = fp8lab_alloc(be, bytes)) || fp8lab_copy_h2d(be, p[i], b->host, bytes)) goto done;
    }
    if (lcall(be, rw, p)) goto done;
    for (int i = 0; i < lc->nb; i++) {
        const lbuf_t *b = &lc->b[i];
        if (!b->out) continue;
        res[i] = xmalloc(lbuf_elem(b->type) * b->n);
        if (fp8lab_copy_d2h(be, res[i], p[i], lbuf_elem(b->type) * b->n)) goto done;
    }
    rc = fp8lab_sync(be);
done:
    for (int i = 0; i < lc->nb; i++)
        if (p[i]) fp8lab_free(be, p[i]);
    return rc;
}

static double lvalue(const lbuf_t *b, const void *data, size_t i) {
    switch (b->type) {
    case BT_BF16: return bf16_to_f32(((const uint16_t *)data)[i]);
    case BT_F64: return ((const double *)data)[i];
    case BT_I64: return (double)((const int64_t *)data)[i];
    case BT_I32: return ((const int32_t *)data)[i];
    default: return ((const float *)data)[i];
    }
}

static void lshape_str(const lrow_t *rw, char *buf, size_t n) {
    switch (rw->op) {
    case L_EMBED_FWD:
    case L_EMBED_BWD: snprintf(buf, n, "B%d T%d C%d V%d%s", rw->a, rw->b, rw->c, rw->d, rw->flag ? " wpe" : ""); break;
    case L_LN_FWD:
    case L_LN_BWD: snprintf(buf, n, "N%d C%d%s", rw->a, rw->b, rw->flag ? " bias" : ""); break;
    case L_ROPE_FWD:
    case L_ROPE_BWD: snprintf(buf, n, "B%d T%d H%d D%d", rw->a, rw->b, rw->c, rw->d); break;
    case L_ATTN_FWD:
    case L_ATTN_BWD: snprintf(buf, n, "B%d T%d Hq%d Hkv%d D%d", rw->a, rw->b, rw->c, rw->d, rw->e); break;
    case L_XENT_FWD:
    case L_XENT_BWD: snprintf(buf, n, "N%d V%d%s", rw->a, rw->b, rw->flag ? " in-place" : ""); break;
    case L_GELU_FWD:
    case L_GELU_BWD:
    case L_SUMSQ:
    case L_NONFINITE: snprintf(buf, n, "n=%d", rw->a); break;
    case L_ADD: snprintf(buf, n, "n=%d%s", rw->a, rw->flag ? " in-place" : ""); break;
    case L_ADAMW:
        snprintf(buf, n, "n=%d step %d %s%s", rw->a, rw->b, rw->flag == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32",
                 rw->e ? " wd" : "");
        break;
    case L_MATMUL:
        snprintf(buf, n, "%dx%dx%d (%s,%s)%s", rw->a, rw->b, rw->c, rw->d ? "T" : "N", rw->e ? "T" : "N",
                 rw->flag ? " beta 1" : "");
        break;
    default: snprintf(buf, n, "%dx%d", rw->a, rw->b); break;
    }
}

static int run_lrow(int idx) {
    const lrow_t *rw = &LROWS[idx];
    char shape[96];
    lshape_str(rw, shape, sizeof shape);
    lcase_t lc;
    void *rc_cpu[MAX_LBUF] = {0}, *rc_gpu[MAX_LBUF] = {0};
    int pass = 0;
    if (lmake(rw, 5000 + (uint64_t)idx, &lc)) {
        printf("%-18s %-31s FAIL (making inputs: %s)\n", lop_name(rw->op), shape, fp8lab_last_error());
    } else if (lrun(g_cpu, rw, &lc, rc_cpu)) {
        printf("%-18s %-31s FAIL (cpu: %s)\n", lop_name(rw->op), shape, fp8lab_last_error());
    } else if (lrun(g_cuda, rw, &lc, rc_gpu)) {
        printf("%-18s %-31s FAIL (cuda: %s)\n", lop_name(rw->op), shape, fp8lab_last_error());
    } else {
        pass = 1;
        for (int i = 0; i < lc.nb; i++) {
            const lbuf_t *b = &lc.b[i];
            if (!b->out) continue;
            double num = 0, den = 0, max_abs = 0;
            long mismatches = 0;
            for (size_t j = 0; j < b->n; j++) {
                const double g = lvalue(b, rc_gpu[i], j), c = lvalue(b, rc_cpu[i], j);
                const double d = fabs(g - c);
                if (d > max_abs || d != d) max_abs = d;
                if (!(g == c) && !(g != g && c != c)) mismatches++;
                num += d * d;
                den += c * c;
            }
            const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
            const int ok = rw->tol == TOL_EXACT ? mismatches == 0 : (rel <= rw->tol && isfinite(rel));
            printf("%-18s %-31s %-8s max|d|=%.3e rel=%.3e (tol %.0e) %s\n", lop_name(rw->op), shape, b->name, max_abs,
                   rel, rw->tol, ok ? "PASS" : "FAIL");
            pass &= ok;
        }
    }
    fflush(stdout);
    for (int i = 0; i < MAX_LBUF; i++) {
        free(rc_cpu[i]);
        free(rc_gpu[i]);
    }
    lcase_free(&lc);
    return pass;
}

static void test_layers_optim_matmul(void **state) {
    (void)state;
    int failed = 0;
    for (int i = 0; i < NLROWS; i++)
        if (!run_lrow(i)) failed++;
    assert_int_equal(failed, 0);
}

/* Token ids out of [0, V): the CPU backend refuses them at once; the CUDA kernels cannot return an error
   without a host sync, so they skip the row (reading nothing out of bounds) and the next sync/copy_d2h
   reports the op; the sync after is clean. */
static void test_bad_tokens_reported(void **state) {
    (void)state;
    const int B = 2, T = 8, C = 16, V = 10, N = B * T;
    int32_t tok[16];
    for (int i = 0; i < N; i++) tok[i] = i % V;
    tok[5] = V; /* one past the end */
    float *wte = fp8lab_alloc(g_cuda, sizeof(float) * V * C), *out = fp8lab_alloc(g_cuda, sizeof(float) * N * C);
    float *logits = fp8lab_alloc(g_cuda, sizeof(float) * N * V), *loss = fp8lab_alloc(g_cuda, sizeof(float) * N);
    int32_t *dtok = fp8lab_alloc(g_cuda, sizeof tok);
    assert_true(wte && out && logits && loss && dtok);
    assert_int_equal(fp8lab_memset0(g_cuda, wte, sizeof(float) * V * C), 0);
    assert_int_equal(fp8lab_memset0(g_cuda, logits, sizeof(float) * N * V), 0);
    assert_int_equal(fp8lab_copy_h2d(g_cuda, dtok, tok, sizeof tok), 0);
    struct {
        const char *op;
        int which;
    } cases[] = {{"embed_fwd", 0}, {"embed_bwd", 1}, {"xent_fwd", 2}, {"xent_bwd", 3}};
    for (int k = 0; k < 4; k++) {
        int rc = 0;
        switch (cases[k].which) {
        case 0: rc = fp8lab_embed_fwd(g_cuda, out, dtok, wte, NULL, B, T, C, V); break;
        case 1: rc = fp8lab_embed_bwd(g_cuda, wte, NULL, out, dtok, B, T, C, V); break;
        case 2: rc = fp8lab_xent_fwd(g_cuda, loss, logits, dtok, N, V); break;
        default: rc = fp8lab_xent_bwd(g_cuda, logits, logits, dtok, N, V, 1.0f); break;
        }
        assert_int_equal(rc ? rc : fp8lab_sync(g_cuda), -1);
        printf("cuda: %s\n", fp8lab_last_error());
        assert_non_null(strstr(fp8lab_last_error(), cases[k].op));
        assert_non_null(strstr(fp8lab_last_error(), "out of [0, V)"));
        assert_int_equal(fp8lab_sync(g_cuda), 0);
    }
    /* the CPU backend reports the position at once */
    float *hw = xmalloc(sizeof(float) * V * C), *ho = xmalloc(sizeof(float) * N * C);
    assert_int_equal(fp8lab_embed_fwd(g_cpu, ho, tok, hw, NULL, B, T, C, V), -1);
    printf("cpu:  %s\n", fp8lab_last_error());
    free(hw);
    free(ho);
    fp8lab_free(g_cuda, wte);
    fp8lab_free(g_cuda, out);
    fp8lab_free(g_cuda, logits);
    fp8lab_free(g_cuda, loss);
    fp8lab_free(g_cuda, dtok);
}

/* Non-finite input: the CPU quantizer fails at once; the CUDA one cannot without a host sync, so it records the
   offending op on the device and the next sync/copy_d2h reports it (and clears it: the sync after is clean).
   The message names the op either way. */
static void test_nonfinite_reported(void **state) {
    (void)state;
    const int rows = 128, cols = 256;
    float *x = gen_matrix(rows, cols, 77);
    x[(size_t)5 * cols + 200] = NAN;
    uint8_t *q = xmalloc((size_t)rows * cols);
    float *s = xmalloc(sizeof(float) * (size_t)rows * (cols / 128));
    assert_int_equal(fp8lab_quantize_1x128(g_cpu, x, rows, cols, FP8_E4M3, 0, q, s), -1);
    printf("cpu:  %s\n", fp8lab_last_error());
    float *dx = fp8lab_alloc(g_cuda, sizeof(float) * (size_t)rows * cols);
    uint8_t *dq = fp8lab_alloc(g_cuda, (size_t)rows * cols);
    float *ds = fp8lab_alloc(g_cuda, sizeof(float) * (size_t)rows * (cols / 128));
    assert_non_null(dx);
    assert_non_null(dq);
    assert_non_null(ds);
    assert_int_equal(fp8lab_copy_h2d(g_cuda, dx, x, sizeof(float) * (size_t)rows * cols), 0);
    /* ops are stream-ordered: the error may come from the op or from the next sync, but it must come */
    const int rc_op = fp8lab_quantize_1x128(g_cuda, dx, rows, cols, FP8_E4M3, 0, dq, ds);
    assert_int_equal(rc_op ? rc_op : fp8lab_sync(g_cuda), -1);
    printf("cuda: %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "non-finite"));
    assert_non_null(strstr(fp8lab_last_error(), "quantize_1x128"));
    assert_int_equal(fp8lab_sync(g_cuda), 0);
    /* the same through copy_d2h, for the per-tensor quantizer */
    const int rc_op2 = fp8lab_quantize_tensor(g_cuda, dx, (long)rows * cols, FP8_E4M3, 0, dq, ds);
    assert_int_equal(rc_op2 ? rc_op2 : fp8lab_copy_d2h(g_cuda, s, ds, sizeof(float)), -1);
    assert_non_null(strstr(fp8lab_last_error(), "quantize_tensor"));
    assert_int_equal(fp8lab_sync(g_cuda), 0);
    /* delayed scaling with the scale a NaN amax gives: refused by both, naming cast_fp8_scaled */
    const float nan_scale = NAN;
    assert_int_equal(fp8lab_cast_fp8_scaled(g_cpu, x, 1000, FP8_E4M3, &nan_scale, q), -1);
    printf("cpu:  %s\n", fp8lab_last_error());
    assert_int_equal(fp8lab_amax(g_cuda, dx, (long)rows * cols, ds), 0);
    assert_int_equal(fp8lab_copy_d2h(g_cuda, s, ds, sizeof(float)), 0);
    assert_true(isnan(s[0])); /* amax propagates the NaN */
    const int rc_op3 = fp8lab_cast_fp8_scaled(g_cuda, dx, 1000, FP8_E4M3, ds, dq);
    assert_int_equal(rc_op3 ? rc_op3 : fp8lab_sync(g_cuda), -1);
    printf("cuda: %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "cast_fp8_scaled: scale_inv is not a positive finite number"));
    assert_int_equal(fp8lab_sync(g_cuda), 0);
    fp8lab_free(g_cuda, dx);
    fp8lab_free(g_cuda, dq);
    fp8lab_free(g_cuda, ds);
    free(x);
    free(q);
    free(s);
}

/* Bad arguments are refused by the front functions before either backend sees them: the same message (and
   file:line) from both. Calls whose messages print a pointer are left to test_backend_cpu's table. */
static void test_same_validation(void **state) {
    (void)state;
    float *x = fp8lab_alloc(g_cuda, 4 * 128 * 128), *s = fp8lab_alloc(g_cuda, 4 * 128 * 128);
    uint8_t *q = fp8lab_alloc(g_cuda, 128 * 128);
    assert_true(x && s && q);
    char msg[2][1024];
    for (int k = 0; k < 8; k++) {
        for (int b = 0; b < 2; b++) {
            fp8lab_backend *be = b ? g_cuda : g_cpu;
            fp8lab_clear_error();
            int rc = 0;
            switch (k) {
            case 0: rc = fp8lab_amax(be, x, 0, s); break;
            case 1: rc = fp8lab_quantize_tensor(be, x, 100, 2, 0, q, s); break;
            case 2: rc = fp8lab_quantize_1x128(be, x, 128, 100, FP8_E4M3, 0, q, s); break;
            case 3: rc = fp8lab_quantize_1x128_t(be, x, 64, 128, FP8_E4M3, 0, q, s, NULL, s); break;
            case 4: rc = fp8lab_gemm_bf16(be, (uint16_t *)q, (uint16_t *)q, 8, 8, 8, (fp8lab_out_dtype)5, x); break;
            case 5: rc = fp8lab_gemm_fp8_tensor(be, q, FP8_E5M2, s, q, FP8_E5M2, s, 16, 16, 16, FP8LAB_F32, x); break;
            case 6: rc = fp8lab_gemm_fp8_block(be, q, s, q, s, FP8LAB_B_128x128, 128, 100, 128, FP8LAB_F32, x); break;
            default: rc = fp8lab_cast_bf16_to_f32(be, NULL, 10, x); break;
            }
            assert_int_equal(rc, -1);
            snprintf(msg[b], sizeof msg[b], "%s", fp8lab_last_error());
        }
        printf("both: %s\n", msg[0]);
        assert_string_equal(msg[0], msg[1]);
    }
    fp8lab_free(g_cuda, x);
    fp8lab_free(g_cuda, s);
    fp8lab_free(g_cuda, q);
}

int main(void) {
    g_cpu = fp8lab_cpu_backend_create();
    if (!g_cpu) {
        fprintf(stderr, "cannot create the cpu backend: %s\n", fp8lab_last_error());
        return 1;
    }
    g_cuda = fp8lab_cuda_backend_create(0);
    if (!g_cuda) {
        const char *why = fp8lab_last_error();
        fp8lab_backend_destroy(g_cpu);
        FP8LAB_SKIP("no GPU (%s)", why);
    }
    fp8lab_device_info info;
    if (fp8lab_backend_info(g_cuda, &info) == 0)
        printf("cuda device: %s (bf16 %.0f / fp8 %.0f / fp32 %.1f TFLOP/s dense; %s)\n", info.name,
               info.peak_tflops_bf16, info.peak_tflops_fp8, info.peak_tflops_fp32, info.libs);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_casts_and_amax),
        cmocka_unit_test(test_quantizers),
        cmocka_unit_test(test_gemms),
        cmocka_unit_test(test_layers_optim_matmul),
        cmocka_unit_test(test_bad_tokens_reported),
        cmocka_unit_test(test_nonfinite_reported),
        cmocka_unit_test(test_same_validation),
    };
    const int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(g_cuda);
    fp8lab_backend_destroy(g_cpu);
    return rc;
}
