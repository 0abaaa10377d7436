/* CPU backend, GEMM group. FP32 GEMMs go through OpenBLAS; BF16 and per-tensor FP8 operands are decoded to FP32
   first (alpha carries the per-tensor scales, applied after the FP32 sums as cuBLASLt does). FP8 block GEMMs
   run sgemm on 128-wide K panels of the (unscaled) FP8 values and scale each panel's FP32 partial sums into an
   FP32 accumulator: the semantics of fp8_gemm_block_ref with promote_k = 128. BF16 output is rounded. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_internal.h"
#include "core/error.h"
#include "core/exact_sum.h"
#include "fp8/fp8.h"
#include "fp8/fp8_impl.h"
#include "fp8/quant.h"
#include "fp8/scale_layout.h"

/* Rows per panel block: keeps the panel's partial sums (MB x N floats) in cache while they are scaled. */
enum { CPU_GEMM_MB = 128, CPU_GEMM_NB = 256 };

typedef enum { DEC_BF16, DEC_E4M3, DEC_E5M2 } decode_kind;

/* C[M][N] = alpha op(A) op(B) + beta C, row-major, in tiles of CPU_GEMM_MB rows x CPU_GEMM_NB columns spread over
   the OpenMP threads, each calling OpenBLAS single-threaded (the backend sets one OpenBLAS thread: cpu_backend.c).
   One thread pool, not two: OpenBLAS's pthreads and libgomp's spinning workers otherwise fight over the same cores
   after every parallel region (a 2-core step took twice as long). Fixed tiles, not one block per thread:
   OpenBLAS's sums for an element depend on the shape of the call, so an element gets the same bits whether the
   batch around it has 128 rows or 4096, and whatever the thread count (the split-invariant gradients of
   nn/grad_sink.h rest on it); columns are tiled too, so that a 128-row GEMM still spreads over the cores. A tile
   of op(A) starts m0 rows down when A is stored [M][K], m0 columns across when stored [K][M]; of op(B), n0
   columns across when B is stored [K][N], n0 rows down when stored [N][K]. */
static void par_sgemm(fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha, const float *a, int lda,
                      const float *b, int ldb, float beta, float *c) {
    const CBLAS_TRANSPOSE cta = ta == FP8LAB_OP_T ? CblasTrans : CblasNoTrans,
                          ctb = tb == FP8LAB_OP_T ? CblasTrans : CblasNoTrans;
    const long work = (long)M * N * K;
    const int mt = (M + CPU_GEMM_MB - 1) / CPU_GEMM_MB, nt = (N + CPU_GEMM_NB - 1) / CPU_GEMM_NB;
#pragma omp parallel for schedule(dynamic) if (mt * nt > 1 && work >= (1L << 18))
    for (int t = 0; t < mt * nt; t++) {
        const int m0 = t / nt * CPU_GEMM_MB, n0 = t % nt * CPU_GEMM_NB;
        const int mb = M - m0 < CPU_GEMM_MB ? M - m0 : CPU_GEMM_MB, nb = N - n0 < CPU_GEMM_NB ? N - n0 : CPU_GEMM_NB;
        cblas_sgemm(CblasRowMajor, cta, ctb, mb, nb, K, alpha,
                    a + (ta == FP8LAB_OP_T ? (size_t)m0 : (size_t)m0 * (size_t)lda), lda,
                    b + (tb == FP8LAB_OP_T ? (size_t)n0 * (size_t)ldb : (size_t)n0), ldb, beta,
                    c + (size_t)m0 * (size_t)N + (size_t)n0, N);
    }
}

/* Leaves computed per pass of cpu_matmul_f32_exact: bounds its scratch (32 MiB) whatever M, N and K. */
enum { EXACT_PASS_FLOATS = 1 << 23 };

/* Tile t of par_sgemm's grid of block j's product, into that block's leaf [M][N]: the call par_sgemm makes for the
   block alone (same shape, alpha 1, beta 0), so the bits are those of a GEMM per block. */
static void exact_leaf_tile(int t, int nt, int M, int N, int k0, int kb, const float *a, const float *b,
                            float *leaf) {
    const int m0 = t / nt * CPU_GEMM_MB, n0 = t % nt * CPU_GEMM_NB;
    const int mb = M - m0 < CPU_GEMM_MB ? M - m0 : CPU_GEMM_MB, nb = N - n0 < CPU_GEMM_NB ? N - n0 : CPU_GEMM_NB;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, mb, nb, kb, 1.0f, a + (size_t)k0 * (size_t)M + (size_t)m0, M,
                b + (size_t)k0 * (size_t)N + (size_t)n0, N, 0.0f, leaf + (size_t)m0 * (size_t)N + (size_t)n0, N);
}

/* Each pass computes up to `group` blocks' leaves, the threads sharing out (block, tile) pairs, then adds them into
   the planes row by row, blocks in order (fp8lab_exact_add_many): the same sums as one GEMM and one exact add
   per block, with every core busy even when a product has a single tile, and the planes read once per pass. */
static int cpu_matmul_f32_exact(fp8lab_backend *be, int M, int N, int K, int block, const float *a, const float *b,
                                double *hi, double *lo) {
    (void)be;
    const int nt = (N + CPU_GEMM_NB - 1) / CPU_GEMM_NB, tiles = (M + CPU_GEMM_MB - 1) / CPU_GEMM_MB * nt;
    const int nblk = (K + block - 1) / block;
    const size_t mn = (size_t)M * (size_t)N;
    const int group = mn >= EXACT_PASS_FLOATS ? 1 : nblk < (int)(EXACT_PASS_FLOATS / mn) ? nblk
                                                                                         : (int)(EXACT_PASS_FLOATS / mn);
    float *leaves = malloc(sizeof(float) * mn * (size_t)group);
    if (!leaves) {
        FP8LAB_ERR_RT("matmul_f32_exact: out of host memory for %d leaves of %dx%d floats", group, M, N);
        return -1;
    }
    for (int j0 = 0; j0 < nblk; j0 += group) {
        const int g = nblk - j0 < group ? nblk - j0 : group;
#pragma omp parallel if ((long)M * N * K >= (1L << 18))
        {
#pragma omp for schedule(dynamic)
            for (int p = 0; p < g * tiles; p++) {
                const int k0 = (j0 + p / tiles) * block;
                exact_leaf_tile(p % tiles, nt, M, N, k0, K - k0 < block ? K - k0 : block, a, b,
                                leaves + (size_t)(p / tiles) * mn);
            }
#pragma omp for schedule(static)
            for (int i = 0; i < M; i++) {
                const size_t at = (size_t)i * (size_t)N;
                fp8lab_exact_add_many(hi + at, lo + at, leaves + at, (size_t)N, g, mn);
            }
        }
    }
    free(leaves);
    return 0;
}

static int cpu_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d) {
    (void)be;
    par_sgemm(FP8LAB_OP_N, FP8LAB_OP_T, M, N, K, 1.0f, a, K, b, K, 0.0f, d);
    return 0;
}

/* C = alpha op(A) op(B) + beta C, row-major, with the leading dimensions of the stored operands (A [M][K] or
   [K][M], B [K][N] or [N][K]). With beta = 0, C is not read (BLAS semantics). */
static int cpu_matmul_f32(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                          const float *a, const float *b, float beta, float *c) {
    (void)be;
    const int lda = ta == FP8LAB_OP_T ? M : K, ldb = tb == FP8LAB_OP_T ? K : N;
    par_sgemm(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c);
    return 0;
}

static void store_out(const float *acc, long n, fp8lab_out_dtype out, void *d) {
    if (out == FP8LAB_F32) {
        if ((const void *)acc != d) memcpy(d, acc, sizeof(float) * (size_t)n);
        return;
    }
    uint16_t *y = d;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = bf16_from_f32_inline(acc[i]);
}

/* sgemm writes into the float output directly when out is FP32, else into a temporary that is then rounded. */
static float *out_accumulator(fp8lab_backend *be, fp8lab_out_dtype out, void *d, long n) {
    if (out == FP8LAB_F32) return d;
    return fp8lab_cpu_scratch(be, CPU_SCRATCH_ACC, sizeof(float) * (size_t)n);
}

static float *decode_all(fp8lab_backend *be, fp8lab_cpu_slot slot, const void *src, long n, decode_kind kind) {
    float *f = fp8lab_cpu_scratch(be, slot, sizeof(float) * (size_t)n);
    if (!f) return NULL;
    if (kind == DEC_BF16) {
        const uint16_t *h = src;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) f[i] = bf16_to_f32_inline(h[i]);
        return f;
    }
    float lut[256];
    for (int i = 0; i < 256; i++)
        lut[i] = kind == DEC_E4M3 ? fp8_e4m3_to_f32((uint8_t)i) : fp8_e5m2_to_f32((uint8_t)i);
    const uint8_t *q = src;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) f[i] = lut[q[i]];
    return f;
}

static int gemm_decoded(fp8lab_backend *be, const void *a, decode_kind kind_a, const void *b, decode_kind kind_b,
                        float alpha, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    float *fa = decode_all(be, CPU_SCRATCH_A, a, (long)M * K, kind_a);
    float *fb = fa ? decode_all(be, CPU_SCRATCH_B, b, (long)N * K, kind_b) : NULL;
    float *acc = fb ? out_accumulator(be, out, d, (long)M * N) : NULL;
    if (!acc) return -1;
    par_sgemm(FP8LAB_OP_N, FP8LAB_OP_T, M, N, K, alpha, fa, K, fb, K, 0.0f, acc);
    store_out(acc, (long)M * N, out, d);
    return 0;
}

static int cpu_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                         fp8lab_out_dtype out, void *d) {
    return gemm_decoded(be, a, DEC_BF16, b, DEC_BF16, 1.0f, M, N, K, out, d);
}

static decode_kind fp8_kind(int fmt) { return fmt == FP8_E5M2 ? DEC_E5M2 : DEC_E4M3; }

static int cpu_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa, const uint8_t *qb,
                               int fmt_b, const float *sb, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    return gemm_decoded(be, qa, fp8_kind(fmt_a), qb, fp8_kind(fmt_b), (*sa) * (*sb), M, N, K, out, d);
}

/* Adds one row of a panel's FP32 partial sums into the accumulator, scaled by sa * sb as the reference does
   (the first panel initializes it). */
static void scale_panel_row(const float *p, float *o, int N, int kb, float a_s, const float *sb,
                            fp8lab_b_scaling bscal, int ld) {
    for (int n0 = 0; n0 < N; n0 += FP8LAB_TILE) {
        float c[FP8LAB_TILE];
        if (bscal == FP8LAB_B_128x128) {
            const float cb = a_s * sb[fp8lab_scale_128x128_tile(n0 / FP8LAB_TILE, kb, ld)];
            for (int j = 0; j < FP8LAB_TILE; j++) c[j] = cb;
        } else {
            for (int j = 0; j < FP8LAB_TILE; j++) c[j] = a_s * sb[fp8lab_scale_1x128_tile(n0 + j, kb, N)];
        }
        if (kb == 0)
            for (int j = 0; j < FP8LAB_TILE; j++) o[n0 + j] = p[n0 + j] * c[j];
        else
            for (int j = 0; j < FP8LAB_TILE; j++) o[n0 + j] += p[n0 + j] * c[j];
    }
}

/* The panel loop over decoded operands; 0, or -1 when a thread could not get its panel buffer. */
static int block_panels(const float *fa, const float *sa, const float *fb, const float *sb, fp8lab_b_scaling bscal,
                        int M, int N, int K, float *acc) {
    const int KB = K / FP8LAB_TILE, ld = fp8lab_blk_scale_ld(K);
    int oom = 0;
    /* one OpenMP thread per row block, each calling single-threaded sgemm (par_sgemm says why) */
#pragma omp parallel reduction(| : oom)
    {
        float *panel = malloc(sizeof(float) * (size_t)CPU_GEMM_MB * (size_t)N);
        oom = !panel;
#pragma omp for schedule(dynamic)
        for (int m0 = 0; m0 < M; m0 += CPU_GEMM_MB) {
            if (!panel) continue;
            const int mb = M - m0 < CPU_GEMM_MB ? M - m0 : CPU_GEMM_MB;
            for (int kb = 0; kb < KB; kb++) {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, mb, N, FP8LAB_TILE, 1.0f,
                            fa + (size_t)m0 * K + (size_t)kb * FP8LAB_TILE, K, fb + (size_t)kb * FP8LAB_TILE, K,
                            0.0f, panel, N);
                for (int i = 0; i < mb; i++)
                    scale_panel_row(panel + (size_t)i * N, acc + (size_t)(m0 + i) * N, N, kb,
                                    sa[fp8lab_scale_1x128_tile(m0 + i, kb, M)], sb, bscal, ld);
            }
        }
        free(panel);
    }
    if (oom) FP8LAB_ERR_RT("out of host memory for %dx%d panels", CPU_GEMM_MB, N);
    return oom ? -1 : 0;
}

static int cpu_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                              const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                              void *d) {
    float *fa = decode_all(be, CPU_SCRATCH_A, qa, (long)M * K, DEC_E4M3);
    float *fb = fa ? decode_all(be, CPU_SCRATCH_B, qb, (long)N * K, DEC_E4M3) : NULL;
    float *acc = fb ? out_accumulator(be, out, d, (long)M * N) : NULL;
    if (!acc || block_panels(fa, sa, fb, sb, bscal, M, N, K, acc)) return -1;
    store_out(acc, (long)M * N, out, d);
    return 0;
}

const fp8lab_gemm_ops fp8lab_cpu_gemm_ops = {
    .matmul_f32 = cpu_matmul_f32,
    .gemm_f32 = cpu_gemm_f32,
    .gemm_bf16 = cpu_gemm_bf16,
    .gemm_fp8_tensor = cpu_gemm_fp8_tensor,
    .gemm_fp8_block = cpu_gemm_fp8_block,
    .matmul_f32_exact = cpu_matmul_f32_exact,
};
