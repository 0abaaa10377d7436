/* cuBLASLt GEMMs: D[M][N] = A[M][K] . B[N][K]^T, all row-major (backend/gemm_ops.h "NT"). Arguments were
   checked by the front functions (gemm_ops.h: what cuBLASLt accepts), so failures here are the library's.

   Mapping (the TN form FP8 requires on Hopper, used for every dtype so there is one code path): cuBLAS is
   column-major, so our row-major B[N][K] is a column-major K x N matrix with ld K, and our A[M][K] a
   column-major K x M one. With
       cuBLAS-A = our B (K x N, transa = T)   cuBLAS-B = our A (K x M, transb = N)
   cuBLAS computes D = op(A) . op(B) = B . A^T  ->  column-major N x M with ld N  ==  row-major D[M][N].
   Every per-operand attribute follows the swap: our B's scale goes to A_SCALE_*, our A's to B_SCALE_*.

   Block scaling (gpu-facts.md "Scale-tensor layouts"): our A (activations) is 1x128 scaled, stored
   [K/128][M] = VEC128_32F on cuBLAS-B; our B (weights) is 128x128 scaled, stored [N/128][roundup(K/128,4)] =
   BLK128x128_32F on cuBLAS-A (or VEC128_32F [K/128][N] when bscal == FP8LAB_B_1x128, the Wgrad case).
   No fast accumulation for FP8 (cuBLASLt then promotes partial sums to FP32 periodically).

   matmul_f32 (gemm_ops.h: row-major C[M][N] = alpha op(A) op(B) + beta C) uses the same swap with its own
   transposes: column-major, C^T (N x M, ld N) = op(B)^T . op(A)^T, so
       cuBLAS-A = our B: tb N -> B[K][N] is column-major N x K, ld N, transa N;
                         tb T -> B[N][K] is column-major K x N, ld K, transa T
       cuBLAS-B = our A: ta N -> A[M][K] is column-major K x M, ld K, transb N;
                         ta T -> A[K][M] is column-major M x K, ld M, transb T
   and C is read (as D's layout) when beta != 0.

   Plans (matmul descriptor, the three layouts, the heuristic's algorithm) are cached per
   (kind, M, N, K, formats, out dtype, B scaling, pointer alignment) in a small LRU table in the context; the
   per-call scale pointers are set on the cached descriptor before each launch. */
#include <stdio.h>
#include <string.h>

#include "fp8/quant.h"
#include "internal.cuh"

namespace {

const char *kind_name(int kind) {
    switch (kind) {
    case FP8LAB_GEMM_F32: return "f32";
    case FP8LAB_GEMM_BF16: return "bf16";
    case FP8LAB_GEMM_FP8_TENSOR: return "fp8 per-tensor";
    case FP8LAB_GEMM_MATMUL_F32: return "matmul_f32";
    default: return "fp8 block";
    }
}

const char *fmt_name(int fmt) { return fmt == FP8_E5M2 ? "e5m2" : "e4m3"; }

/* "fp8 block (A 1x128 E4M3, B 128x128 E4M3) M=.. N=.. K=.. -> bf16" for error messages */
void describe(const fp8lab_gemm_key *k, char *buf, size_t n) {
    const char *out = k->out == FP8LAB_BF16 ? "bf16" : "f32";
    if (k->kind == FP8LAB_GEMM_FP8_TENSOR)
        snprintf(buf, n, "%s GEMM (A %s, B %s) M=%d N=%d K=%d -> %s", kind_name(k->kind), fmt_name(k->fmt_a),
                 fmt_name(k->fmt_b), k->M, k->N, k->K, out);
    else if (k->kind == FP8LAB_GEMM_FP8_BLOCK)
        snprintf(buf, n, "%s GEMM (A 1x128 e4m3, B %s e4m3) M=%d N=%d K=%d -> %s", kind_name(k->kind),
                 k->bscal == FP8LAB_B_1x128 ? "1x128" : "128x128", k->M, k->N, k->K, out);
    else if (k->kind == FP8LAB_GEMM_MATMUL_F32)
        snprintf(buf, n, "%s (%s, %s) M=%d N=%d K=%d", kind_name(k->kind), k->ta ? "T" : "N", k->tb ? "T" : "N", k->M,
                 k->N, k->K);
    else
        snprintf(buf, n, "%s GEMM M=%d N=%d K=%d -> %s", kind_name(k->kind), k->M, k->N, k->K, out);
}

cudaDataType_t fp8_type(int fmt) { return fmt == FP8_E5M2 ? CUDA_R_8F_E5M2 : CUDA_R_8F_E4M3; }

void plan_release(fp8lab_gemm_plan *p) {
    if (p->ld) cublasLtMatrixLayoutDestroy(p->ld);
    if (p->lb) cublasLtMatrixLayoutDestroy(p->lb);
    if (p->la) cublasLtMatrixLayoutDestroy(p->la);
    if (p->op) cublasLtMatmulDescDestroy(p->op);
    memset(p, 0, sizeof *p);
}

int key_equal(const fp8lab_gemm_key *a, const fp8lab_gemm_key *b) {
    return a->kind == b->kind && a->M == b->M && a->N == b->N && a->K == b->K && a->fmt_a == b->fmt_a &&
           a->fmt_b == b->fmt_b && a->out == b->out && a->bscal == b->bscal && a->align == b->align &&
           a->ta == b->ta && a->tb == b->tb;
}

/* Largest power of two (<= 256) dividing every pointer: the alignment the algorithm may assume. */
int pointer_alignment(const void *a, const void *b, const void *d) {
    const uintptr_t u = (uintptr_t)a | (uintptr_t)b | (uintptr_t)d | (uintptr_t)256;
    return (int)(u & (~u + 1));
}

#define SET_DESC(p, attr, val)                                                                                \
    do {                                                                                                      \
        const auto v_ = (val);                                                                                \
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute((p)->op, attr, &v_, sizeof v_));                          \
    } while (0)

/* Creates the descriptors of a new plan (scale pointers are set by the caller before the heuristic). */
int plan_build(fp8lab_cuda_ctx *c, fp8lab_gemm_plan *p, const fp8lab_gemm_key *k) {
    cudaDataType_t ta, tb; /* cuBLAS-A (our B), cuBLAS-B (our A) */
    switch (k->kind) {
    case FP8LAB_GEMM_F32:
    case FP8LAB_GEMM_MATMUL_F32: ta = tb = CUDA_R_32F; break;
    case FP8LAB_GEMM_BF16: ta = tb = CUDA_R_16BF; break;
    case FP8LAB_GEMM_FP8_TENSOR: ta = fp8_type(k->fmt_b); tb = fp8_type(k->fmt_a); break;
    default: ta = tb = CUDA_R_8F_E4M3; break;
    }
    const cudaDataType_t td = k->out == FP8LAB_BF16 ? CUDA_R_16BF : CUDA_R_32F; /* C has D's type */
    /* CUBLAS_COMPUTE_32F (not ..._FAST_TF32): FP32 inputs are multiplied in full FP32, no TF32. */
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    if (k->kind == FP8LAB_GEMM_MATMUL_F32) {
        /* see the mapping at the top: cuBLAS-A = our B, cuBLAS-B = our A, D = C^T column-major N x M */
        SET_DESC(p, CUBLASLT_MATMUL_DESC_TRANSA, (int32_t)(k->tb ? CUBLAS_OP_T : CUBLAS_OP_N));
        SET_DESC(p, CUBLASLT_MATMUL_DESC_TRANSB, (int32_t)(k->ta ? CUBLAS_OP_T : CUBLAS_OP_N));
        if (k->tb) CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ta, (uint64_t)k->K, (uint64_t)k->N, (int64_t)k->K));
        else CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ta, (uint64_t)k->N, (uint64_t)k->K, (int64_t)k->N));
        if (k->ta) CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, tb, (uint64_t)k->M, (uint64_t)k->K, (int64_t)k->M));
        else CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, tb, (uint64_t)k->K, (uint64_t)k->M, (int64_t)k->K));
        CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, td, (uint64_t)k->N, (uint64_t)k->M, (int64_t)k->N));
        return 0;
    }
    SET_DESC(p, CUBLASLT_MATMUL_DESC_TRANSA, (int32_t)CUBLAS_OP_T);
    SET_DESC(p, CUBLASLT_MATMUL_DESC_TRANSB, (int32_t)CUBLAS_OP_N);
    if (k->kind == FP8LAB_GEMM_FP8_TENSOR || k->kind == FP8LAB_GEMM_FP8_BLOCK)
        SET_DESC(p, CUBLASLT_MATMUL_DESC_FAST_ACCUM, (int8_t)0);
    if (k->kind == FP8LAB_GEMM_FP8_BLOCK) {
        SET_DESC(p, CUBLASLT_MATMUL_DESC_A_SCALE_MODE,
                 (int32_t)(k->bscal == FP8LAB_B_1x128 ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F
                                                      : CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F));
        SET_DESC(p, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, (int32_t)CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F);
    }
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ta, (uint64_t)k->K, (uint64_t)k->N, (int64_t)k->K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, tb, (uint64_t)k->K, (uint64_t)k->M, (int64_t)k->K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, td, (uint64_t)k->N, (uint64_t)k->M, (int64_t)k->N));
    (void)c;
    return 0;
}

int plan_heuristic(fp8lab_cuda_ctx *c, fp8lab_gemm_plan *p, const fp8lab_gemm_key *k) {
    cublasLtMatmulPreference_t pref = NULL;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const uint64_t ws = c->workspace_bytes;
    const uint32_t al = (uint32_t)k->align;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                                             sizeof ws);
    const cublasLtMatmulPreferenceAttributes_t al_attrs[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
        st = cublasLtMatmulPreferenceSetAttribute(pref, al_attrs[i], &al, sizeof al);
    cublasLtMatmulHeuristicResult_t res;
    memset(&res, 0, sizeof res);
    int n = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(c->lt, p->op, p->la, p->lb, p->ld, p->ld, pref, 1, &res, &n);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || n < 1) {
        char what[192];
        describe(k, what, sizeof what);
        FP8LAB_ERR_RT("cuBLASLt has no algorithm for the %s (pointer alignment %d B): %s (hint: %s)", what, k->align,
                   st != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusString(st) : "the heuristic returned 0 results",
                   k->kind == FP8LAB_GEMM_FP8_BLOCK
                       ? "block-scaled FP8 needs an sm_90 GPU, cuBLASLt >= 12.9, M, N, K multiples of 128"
                       : k->kind == FP8LAB_GEMM_FP8_TENSOR
                             ? "FP8 needs sm_89+, K and N multiples of 16, 16-byte aligned pointers, not both E5M2"
                             : "check the dimensions and pointer alignment");
        return -1;
    }
    p->algo = res.algo;
    return 0;
}

/* Cached plan for k (built on a miss, evicting the least recently used entry when the table is full).
   scale_a/scale_b: cuBLAS-A / cuBLAS-B scale pointers, set before the heuristic so it sees the final
   descriptor; the caller sets them again on hits. */
fp8lab_gemm_plan *plan_get(fp8lab_cuda_ctx *c, const fp8lab_gemm_key *k, const void *scale_a, const void *scale_b) {
    fp8lab_gemm_plan *victim = &c->plans[0];
    for (int i = 0; i < FP8LAB_GEMM_CACHE_SIZE; i++) {
        fp8lab_gemm_plan *p = &c->plans[i];
        if (p->used && key_equal(&p->key, k)) {
            p->stamp = ++c->clock;
            return p;
        }
        if (!p->used) {
            if (victim->used) victim = p;
        } else if (victim->used && p->stamp < victim->stamp) {
            victim = p;
        }
    }
    if (victim->used) plan_release(victim);
    if (plan_build(c, victim, k)) {
        plan_release(victim);
        return NULL;
    }
    if (scale_a || scale_b) {
        if (cublasLtMatmulDescSetAttribute(victim->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_a,
                                           sizeof scale_a) != CUBLAS_STATUS_SUCCESS ||
            cublasLtMatmulDescSetAttribute(victim->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_b,
                                           sizeof scale_b) != CUBLAS_STATUS_SUCCESS) {
            FP8LAB_ERR_RT("cublasLtMatmulDescSetAttribute(A/B_SCALE_POINTER) failed");
            plan_release(victim);
            return NULL;
        }
    }
    if (plan_heuristic(c, victim, k)) {
        plan_release(victim);
        return NULL;
    }
    victim->key = *k;
    victim->used = 1;
    victim->stamp = ++c->clock;
    return victim;
}

int run_plan(fp8lab_cuda_ctx *c, fp8lab_gemm_plan *p, const void *a, const void *b, void *d, const void *scale_a,
             const void *scale_b) {
    if (scale_a || scale_b) {
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &scale_a,
                                                    sizeof scale_a));
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &scale_b,
                                                    sizeof scale_b));
    }
    const float alpha = 1.0f, beta = 0.0f;
    /* cuBLAS-A = our B, cuBLAS-B = our A; C = D with beta = 0 (never read) */
    CUBLAS_CHECK(cublasLtMatmul(c->lt, p->op, &alpha, b, p->la, a, p->lb, &beta, d, p->ld, d, p->ld, &p->algo,
                                c->workspace, c->workspace_bytes, c->stream));
    return 0;
}

fp8lab_gemm_key make_key(int kind, int M, int N, int K, int fmt_a, int fmt_b, int out, int bscal, const void *a,
                         const void *b, const void *d) {
    fp8lab_gemm_key k;
    memset(&k, 0, sizeof k);
    k.kind = kind;
    k.M = M;
    k.N = N;
    k.K = K;
    k.fmt_a = fmt_a;
    k.fmt_b = fmt_b;
    k.out = out;
    k.bscal = bscal;
    k.align = pointer_alignment(a, b, d);
    return k;
}

int cuda_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const fp8lab_gemm_key k = make_key(FP8LAB_GEMM_F32, M, N, K, -1, -1, FP8LAB_F32, -1, a, b, d);
    fp8lab_gemm_plan *p = plan_get(c, &k, NULL, NULL);
    if (!p) return -1;
    return run_plan(c, p, a, b, d, NULL, NULL);
}

/* C[M][N] = alpha op(A) op(B) + beta C (gemm_ops.h); the plan's layouts carry the transposes. */
int cuda_matmul_f32(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                    const float *a, const float *b, float beta, float *cm) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    fp8lab_gemm_key k = make_key(FP8LAB_GEMM_MATMUL_F32, M, N, K, -1, -1, FP8LAB_F32, -1, a, b, cm);
    k.ta = ta == FP8LAB_OP_T;
    k.tb = tb == FP8LAB_OP_T;
    fp8lab_gemm_plan *p = plan_get(c, &k, NULL, NULL);
    if (!p) return -1;
    /* cuBLAS-A = our B, cuBLAS-B = our A; C and D are both our C (in place; beta == 0: C is not read) */
    CUBLAS_CHECK(cublasLtMatmul(c->lt, p->op, &alpha, b, p->la, a, p->lb, &beta, cm, p->ld, cm, p->ld, &p->algo,
                                c->workspace, c->workspace_bytes, c->stream));
    return 0;
}

int cuda_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K, fp8lab_out_dtype out,
                   void *d) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const fp8lab_gemm_key k = make_key(FP8LAB_GEMM_BF16, M, N, K, -1, -1, out, -1, a, b, d);
    fp8lab_gemm_plan *p = plan_get(c, &k, NULL, NULL);
    if (!p) return -1;
    return run_plan(c, p, a, b, d, NULL, NULL);
}

int cuda_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa_dev, const uint8_t *qb,
                         int fmt_b, const float *sb_dev, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const fp8lab_gemm_key k = make_key(FP8LAB_GEMM_FP8_TENSOR, M, N, K, fmt_a, fmt_b, out, -1, qa, qb, d);
    /* cuBLAS-A is our B: sb -> A_SCALE_POINTER, sa -> B_SCALE_POINTER */
    fp8lab_gemm_plan *p = plan_get(c, &k, sb_dev, sa_dev);
    if (!p) return -1;
    return run_plan(c, p, qa, qb, d, sb_dev, sa_dev);
}

int cuda_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb, const float *sb,
                        fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const fp8lab_gemm_key k = make_key(FP8LAB_GEMM_FP8_BLOCK, M, N, K, FP8_E4M3, FP8_E4M3, out, (int)bscal, qa, qb, d);
    /* cuBLAS-A = our B (weights, sb), cuBLAS-B = our A (activations, sa) */
    fp8lab_gemm_plan *p = plan_get(c, &k, sb, sa);
    if (!p) return -1;
    return run_plan(c, p, qa, qb, d, sb, sa);
}

} // namespace

void fp8lab_cuda_gemm_cache_clear(fp8lab_cuda_ctx *c) {
    for (int i = 0; i < FP8LAB_GEMM_CACHE_SIZE; i++)
        if (c->plans[i].used || c->plans[i].op) plan_release(&c->plans[i]);
}

const fp8lab_gemm_ops fp8lab_cuda_gemm_ops = {
    .matmul_f32 = cuda_matmul_f32,
    .gemm_f32 = cuda_gemm_f32,
    .gemm_bf16 = cuda_gemm_bf16,
    .gemm_fp8_tensor = cuda_gemm_fp8_tensor,
    .gemm_fp8_block = cuda_gemm_fp8_block,
    .matmul_f32_exact = nullptr, /* exact planes are host memory: the CPU backend's alone */
};
