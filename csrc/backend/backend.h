/* The backend interface. A backend is one device: a context and const tables of ops, grouped as
     mem    (mem_ops.h)    allocations, copies, sync
     quant  (quant_ops.h)  BF16 casts, amax, FP8 quantizers
     gemm   (gemm_ops.h)   FP32, BF16, FP8 per-tensor and block-scaled GEMMs
     layers (layer_ops.h)  embedding, norms, GELU/SwiGLU, RoPE, attention, cross-entropy, forward and backward
     optim  (optim_ops.h)  AdamW, gradient norm, non-finite check
   The CPU backend (csrc/backend/cpu_*.c) and the CUDA backend (cuda/, a shared library loaded on first use:
   cuda_module.h) fill them in; callers never see CUDA types.

   Callers use the front functions (fp8lab_alloc, fp8lab_quantize_1x128, fp8lab_gemm_fp8_block, ...), never the
   tables: the fronts check arguments once, with the same messages for every backend, and report an op a
   backend lacks. Every op returns 0, or -1 with fp8lab_last_error() set (file:line and a hint; exit status 2
   for bad arguments, 1 for device failures). Ops are stream-ordered: results are visible to the host after
   fp8lab_copy_d2h/fp8lab_sync.

   Layouts (chosen to be what cuBLASLt consumes, so the CUDA path needs no reshuffling):
   - matrices are row-major; GEMMs are "NT": D[M][N] = A[M][K] . B[N][K]^T, both operands K-contiguous.
   - 1x128 scales of x[rows][cols]:   [cols/128][rows]; 128x128 scales: [rows/128][roundup(cols/128, 4)],
     padding 0. Index arithmetic: fp8/scale_layout.h.
   - per-tensor scales: one float in device memory. All scales are dequantization factors (scale_inv). */
#ifndef FP8LAB_BACKEND_H
#define FP8LAB_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#include "backend/backend_types.h"
#include "backend/gemm_ops.h"
#include "backend/layer_ops.h"
#include "backend/mem_ops.h"
#include "backend/optim_ops.h"
#include "backend/quant_ops.h"
#include "fp8/scale_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA backend is built separately (libfp8lab_cuda.so) and must agree with this struct and its tables:
   bump this whenever either changes, and the loader refuses a library built from other headers. */
#define FP8LAB_BACKEND_ABI 5

struct fp8lab_backend {
    const char *name; /* "cpu" or "cuda" */
    void *ctx;
    void (*destroy)(fp8lab_backend *be);
    int (*info)(fp8lab_backend *be, fp8lab_device_info *out);
    const fp8lab_mem_ops *mem;
    const fp8lab_quant_ops *quant;
    const fp8lab_gemm_ops *gemm;
    const fp8lab_layer_ops *layers;
    const fp8lab_optim_ops *optim;
};

/* Constructors. Each returns NULL with fp8lab_last_error() set (exit status 1) when the backend is unavailable
   ("no GPU: ...", "built without CUDA"). */
fp8lab_backend *fp8lab_cpu_backend_create(void);
fp8lab_backend *fp8lab_cuda_backend_create(int device); /* loads libfp8lab_cuda.so on first use */
/* "cpu", "cuda", or "auto" (cuda when available, else cpu) */
fp8lab_backend *fp8lab_backend_create(const char *kind);

void fp8lab_backend_destroy(fp8lab_backend *be); /* NULL: nothing */
int fp8lab_backend_info(fp8lab_backend *be, fp8lab_device_info *out);

#ifdef __cplusplus
}
#endif
#endif
