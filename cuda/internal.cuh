/* Private to the CUDA backend: the context behind fp8lab_backend.ctx and what each .cu file provides: the op
   tables (mem.cu, quantize.cu with cast.cu, gemm_lt.cu) and their helpers. The ops trust their arguments: the
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
enum { FP8LAB_GEMM_F32 = 0, FP8LAB_GEMM_BF16 = 1, FP8LAB_GEMM_FP8_TENSOR = 2, FP8LAB_GEMM_FP8_BLOCK = 3 };
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
} fp8lab_cuda_ctx;

static inline fp8lab_cuda_ctx *fp8lab_cuda_ctx_of(fp8lab_backend *be) { return (fp8lab_cuda_ctx *)be->ctx; }

/* Make the backend's device current for this host thread (cheap; needed when one process drives several). */
#define CUDA_USE_DEVICE(c) CUDA_CHECK(cudaSetDevice((c)->device))

/* ---- the op tables ---------------------------------------------------------------------------------------- */
extern const fp8lab_mem_ops fp8lab_cuda_mem_ops;     /* mem.cu */
extern const fp8lab_quant_ops fp8lab_cuda_quant_ops; /* quantize.cu */
extern const fp8lab_gemm_ops fp8lab_cuda_gemm_ops;   /* gemm_lt.cu */

/* ---- cast.cu (entries of the quant table) ----------------------------------------------------------------- */
int fp8lab_cuda_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y);
int fp8lab_cuda_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y);

/* ---- set-up and tear-down --------------------------------------------------------------------------------- */
int fp8lab_cuda_quant_init(fp8lab_cuda_ctx *c); /* quantize.cu: per-device kernel attributes (opt-in smem) */
void fp8lab_cuda_gemm_cache_clear(fp8lab_cuda_ctx *c); /* gemm_lt.cu */

/* ---- helpers ---------------------------------------------------------------------------------------------- */
static inline int fp8lab_is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

#endif
