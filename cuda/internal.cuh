/* Private to the CUDA backend: the context behind fp8lab_backend.ctx and what each .cu file provides: the op
   tables (mem.cu, quantize.cu with cast.cu, gemm_lt.cu; the layer and optimizer tables in backend_cuda.cu,
   their entries in embed.cu, norm.cu, act.cu, rope.cu, attention.cu, xent.cu, eltwise.cu, reduce.cu, adamw.cu)
   and their helpers. The ops trust their arguments: the
   front functions in csrc/backend have checked the contract (quant_ops.h, gemm_ops.h); only limits of one
   launch are checked here. One backend = one device, one stream, one cuBLASLt handle; not thread-safe (use
   one backend per thread). */
#ifndef FP8LAB_CUDA_INTERNAL_CUH
#define FP8LAB_CUDA_INTERNAL_CUH

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "check.cuh"
#include "fp8/scale_layout.h"

/* ---- cuBLASLt plan cache ---------------------------------------------------------------------------------- */
enum {
    FP8LAB_GEMM_F32 = 0,
    FP8LAB_GEMM_BF16 = 1,
    FP8LAB_GEMM_FP8_TENSOR = 2,
    FP8LAB_GEMM_FP8_BLOCK = 3,
    FP8LAB_GEMM_MATMUL_F32 = 4, /* matmul_f32: transposes ta/tb, alpha/beta, C read when beta != 0 */
};
#define FP8LAB_GEMM_CACHE_SIZE 64
#define FP8LAB_CUDA_WORKSPACE_BYTES ((size_t)32 << 20) /* 32 MiB: what cuBLASLt recommends on Hopper */

typedef struct {
    int kind;      /* FP8LAB_GEMM_* */
    int M, N, K;   /* our (row-major, NT) problem */
    int fmt_a;     /* FP8 formats of our A / B (FP8_E4M3/FP8_E5M2), -1 for non-FP8 GEMMs */
    int fmt_b;
    int out;       /* fp8lab_out_dtype */
    int bscal;     /* fp8lab_b_scaling for FP8_BLOCK, else -1 */
    int align;     /* smallest power-of-two alignment (<= 256 bytes) of the A, B, D pointers */
    int ta, tb;    /* fp8lab_op_t of our A / B for MATMUL_F32, else 0 */
} fp8lab_gemm_key;

typedef struct {
    fp8lab_gemm_key key;
    int used;
    unsigned long long stamp; /* last use, for LRU eviction */
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, ld; /* cuBLAS A (= our B), cuBLAS B (= our A), C and D */
    cublasLtMatmulAlgo_t algo;
} fp8lab_gemm_plan;

/* ---- device status word ----------------------------------------------------------------------------------
   The quantizers cannot return an error for non-finite input without a host sync, so they record the first
   offending op here (a store of the op code into mapped pinned host memory, so reading it costs no copy);
   sync() and copy_d2h() check it after the stream has drained, report it and clear it. */
enum {
    FP8LAB_STATUS_OK = 0,
    FP8LAB_STATUS_NONFINITE_TENSOR = 1,
    FP8LAB_STATUS_NONFINITE_1x128 = 2,
    FP8LAB_STATUS_NONFINITE_1x128_T = 3,
    FP8LAB_STATUS_NONFINITE_128x128 = 4,
    FP8LAB_STATUS_BAD_SCALE = 5, /* cast_fp8_scaled: scale_inv not a positive finite number */
    /* token ids outside [0, V): the kernels read nothing out of bounds (embed_fwd writes a zero row, embed_bwd
       and xent_bwd skip / zero the row, xent_fwd writes loss 0) and record the op here */
    FP8LAB_STATUS_BAD_TOKEN_EMBED_FWD = 6,
    FP8LAB_STATUS_BAD_TOKEN_EMBED_BWD = 7,
    FP8LAB_STATUS_BAD_TARGET_XENT_FWD = 8,
    FP8LAB_STATUS_BAD_TARGET_XENT_BWD = 9,
};

typedef struct fp8lab_cuda_ctx {
    int device;
    int sm_count;
    int cc_major, cc_minor;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
    unsigned *scratch;     /* device: [0] amax bits for quantize_tensor */
    unsigned *status_host; /* status word: mapped pinned host memory ... */
    unsigned *status_dev;  /* ... and its device address */
    fp8lab_gemm_plan plans[FP8LAB_GEMM_CACHE_SIZE];
    unsigned long long clock;
    void *tmp;        /* stream-ordered scratch grown on demand (fp8lab_cuda_tmp): attention backward */
    size_t tmp_bytes;
} fp8lab_cuda_ctx;

static inline fp8lab_cuda_ctx *fp8lab_cuda_ctx_of(fp8lab_backend *be) { return (fp8lab_cuda_ctx *)be->ctx; }

/* Make the backend's device current for this host thread (cheap; needed when one process drives several). */
#define CUDA_USE_DEVICE(c) CUDA_CHECK(cudaSetDevice((c)->device))

/* ---- the op tables ---------------------------------------------------------------------------------------- */
extern const fp8lab_mem_ops fp8lab_cuda_mem_ops;     /* mem.cu */
extern const fp8lab_quant_ops fp8lab_cuda_quant_ops; /* quantize.cu */
extern const fp8lab_gemm_ops fp8lab_cuda_gemm_ops;   /* gemm_lt.cu */
extern const fp8lab_layer_ops fp8lab_cuda_layer_ops; /* backend_cuda.cu, entries below */
extern const fp8lab_optim_ops fp8lab_cuda_optim_ops; /* backend_cuda.cu, entries below */

/* ---- layer ops (layer_ops.h), one file per family ---------------------------------------------------------- */
/* embed.cu */
int fp8lab_cuda_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe,
                          int B, int T, int C, int V);
int fp8lab_cuda_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                          int T, int C, int V);
/* norm.cu */
int fp8lab_cuda_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, int N, int C, float eps);
int fp8lab_cuda_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout,
                              const float *x, const float *w, const float *mean, const float *rstd, int N, int C);
int fp8lab_cuda_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N,
                            int C, float eps);
int fp8lab_cuda_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x,
                            const float *w, const float *rstd, int N, int C);
/* act.cu */
int fp8lab_cuda_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n);
int fp8lab_cuda_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n);
int fp8lab_cuda_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F);
int fp8lab_cuda_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N,
                           int F);
/* rope.cu */
int fp8lab_cuda_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta);
int fp8lab_cuda_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta);
/* attention.cu */
int fp8lab_cuda_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                         fp8lab_attn_shape s);
int fp8lab_cuda_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                         const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s);
/* xent.cu */
int fp8lab_cuda_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V);
int fp8lab_cuda_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N,
                         int V, float dloss);
/* eltwise.cu */
int fp8lab_cuda_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n);
int fp8lab_cuda_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C);
int fp8lab_cuda_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C);

/* reduce.cu: column sums over the rows of [N][C] tensors, ADDED into acc1 (and acc2), shared by the backward
   of bias, layernorm and rmsnorm:
     FP8LAB_COLSUM_PLAIN:     acc1 += sum_n dout
     FP8LAB_COLSUM_LAYERNORM: acc1 += sum_n dout * (x - mean[n]) * rstd[n]; acc2 (may be NULL) += sum_n dout
     FP8LAB_COLSUM_RMSNORM:   acc1 += sum_n dout * x * rstd[n] */
enum { FP8LAB_COLSUM_PLAIN = 0, FP8LAB_COLSUM_LAYERNORM = 1, FP8LAB_COLSUM_RMSNORM = 2 };
int fp8lab_cuda_colsum(fp8lab_cuda_ctx *c, int mode, float *acc1, float *acc2, const float *dout, const float *x,
                       const float *mean, const float *rstd, int N, int C);

/* ---- optimizer ops (optim_ops.h): adamw.cu --------------------------------------------------------------- */
int fp8lab_cuda_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                      const fp8lab_adamw_args *a);
int fp8lab_cuda_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq_dev);
int fp8lab_cuda_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count_dev);

/* ---- scratch ------------------------------------------------------------------------------------------------
   mem.cu: *out = device scratch of at least `bytes`, valid until the next call (stream-ordered: grown with
   cudaFreeAsync/cudaMallocAsync on the backend's stream, so work already queued on the old buffer is safe). */
int fp8lab_cuda_tmp(fp8lab_cuda_ctx *c, size_t bytes, void **out);

/* ---- cast.cu (entries of the quant table) ----------------------------------------------------------------- */
int fp8lab_cuda_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y);
int fp8lab_cuda_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y);

/* ---- set-up and tear-down --------------------------------------------------------------------------------- */
int fp8lab_cuda_quant_init(fp8lab_cuda_ctx *c); /* quantize.cu: per-device kernel attributes (opt-in smem) */
void fp8lab_cuda_gemm_cache_clear(fp8lab_cuda_ctx *c); /* gemm_lt.cu */

/* ---- helpers ---------------------------------------------------------------------------------------------- */
static inline int fp8lab_is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

#endif
