/* The backend interface: one table of function pointers per device kind. The CPU backend (csrc/backend) and
   the CUDA backend (cuda/) fill it in; callers never see CUDA types. Pointers passed to ops are "device"
   pointers from be->alloc (host memory for the CPU backend). Every op returns 0, or -1 with fp8lab_last_error()
   set (file:line and a hint). Ops are stream-ordered: results are visible to the host after copy_d2h/sync.

   Layouts (chosen to be what cuBLASLt consumes, so the CUDA path needs no reshuffling):
   - matrices are row-major; GEMMs are "NT": D[M][N] = A[M][K] . B[N][K]^T, both operands K-contiguous.
   - 1x128 scales of x[rows][cols]:   [cols/128][rows]   (rows contiguous; cuBLASLt VEC128_32F).
   - 128x128 scales of x[rows][cols]: [rows/128][ld]     ld = fp8lab_blk_scale_ld(cols) = roundup(cols/128, 4)
                                                         (cuBLASLt BLK128x128_32F; padding entries are 0).
   - per-tensor scales: one float in device memory. All scales are dequantization factors (scale_inv). */
#ifndef FP8LAB_BACKEND_H
#define FP8LAB_BACKEND_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { FP8LAB_F32 = 0, FP8LAB_BF16 = 1 } fp8lab_out_dtype;
/* scaling granularity of GEMM operand B in gemm_fp8_block (A is always 1x128) */
typedef enum { FP8LAB_B_128x128 = 0, FP8LAB_B_1x128 = 1 } fp8lab_b_scaling;

static inline int fp8lab_blk_scale_ld(int cols) { return ((cols / 128) + 3) / 4 * 4; }

typedef struct fp8lab_device_info {
    char name[128];           /* "NVIDIA H100 80GB HBM3", or the CPU model */
    double peak_tflops_bf16;  /* dense peak used for pct-of-peak; 0 when unknown */
    double peak_tflops_fp8;
    double peak_tflops_fp32;
    char libs[256];           /* library versions, human readable */
} fp8lab_device_info;

typedef struct fp8lab_backend fp8lab_backend;
struct fp8lab_backend {
    const char *name; /* "cpu" or "cuda" */
    void *ctx;

    void (*destroy)(fp8lab_backend *be);
    int (*info)(fp8lab_backend *be, fp8lab_device_info *out);

    /* memory */
    void *(*alloc)(fp8lab_backend *be, size_t bytes); /* NULL + error on failure; 256-byte aligned */
    void (*free)(fp8lab_backend *be, void *p);
    int (*copy_h2d)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    int (*copy_d2h)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    int (*copy_d2d)(fp8lab_backend *be, void *dst, const void *src, size_t bytes);
    int (*memset0)(fp8lab_backend *be, void *dst, size_t bytes);
    int (*sync)(fp8lab_backend *be);

    /* conversions */
    int (*cast_f32_to_bf16)(fp8lab_backend *be, const float *x, long n, uint16_t *y);
    int (*cast_bf16_to_f32)(fp8lab_backend *be, const uint16_t *x, long n, float *y);

    /* quantization (fmt: FP8_E4M3 / FP8_E5M2 from fp8/quant.h; pow2 rounds scales up to powers of two) */
    int (*amax)(fp8lab_backend *be, const float *x, long n, float *amax_dev /*[1]*/);
    /* current scaling: amax + cast in one call; scale_inv written to device memory */
    int (*quantize_tensor)(fp8lab_backend *be, const float *x, long n, int fmt, int pow2,
                           uint8_t *q, float *scale_inv_dev);
    /* delayed scaling: cast with a given device-resident scale_inv (values saturate) */
    int (*cast_fp8_scaled)(fp8lab_backend *be, const float *x, long n, int fmt,
                           const float *scale_inv_dev, uint8_t *q);
    int (*quantize_1x128)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                          uint8_t *q, float *s /*[cols/128][rows]*/);
    /* fused: q/s as quantize_1x128 of x, and qt/st = quantize_1x128 of x^T ([cols][rows], tiles along rows) */
    int (*quantize_1x128_t)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                            uint8_t *q, float *s /*[cols/128][rows]*/,
                            uint8_t *qt, float *st /*[rows/128][cols]*/);
    int (*quantize_128x128)(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                            uint8_t *q, float *s /*[rows/128][ld]*/);

    /* GEMMs, D[M][N] = A[M][K] . B[N][K]^T; D is float or bf16 per out_dtype */
    int (*gemm_f32)(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d);
    int (*gemm_bf16)(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                     fp8lab_out_dtype out, void *d);
    int (*gemm_fp8_tensor)(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa_dev,
                           const uint8_t *qb, int fmt_b, const float *sb_dev, int M, int N, int K,
                           fp8lab_out_dtype out, void *d);
    /* E4M3 operands; A 1x128, B 128x128 or 1x128 (bscal); M, N, K multiples of 128 */
    int (*gemm_fp8_block)(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                          const float *sb, fp8lab_b_scaling bscal, int M, int N, int K,
                          fp8lab_out_dtype out, void *d);

    /* layer ops (norms, activations, attention, AdamW) are added below by later issues */
};

/* Constructors. Each returns NULL with fp8lab_last_error() set when the backend is unavailable
   ("no GPU", "built without CUDA"). */
fp8lab_backend *fp8lab_cpu_backend_create(void);
fp8lab_backend *fp8lab_cuda_backend_create(int device);
/* "cpu", "cuda", or "auto" (cuda when available, else cpu) */
fp8lab_backend *fp8lab_backend_create(const char *kind);

#ifdef __cplusplus
}
#endif
#endif
