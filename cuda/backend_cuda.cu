/* The CUDA backend: construction, device info, memory, synchronisation, and the function table.
   Kernels live in cast.cu and quantize.cu, cuBLASLt glue in gemm_lt.cu. All work is issued on one stream per
   backend; ops are asynchronous and errors from running kernels surface at sync/copy_d2h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.cuh"

namespace {

/* ---- peaks ------------------------------------------------------------------------------------------------
   Dense (no sparsity) tensor-core peaks in TFLOP/s, FP32-accumulate, from NVIDIA datasheets/whitepapers;
   first match of the substring wins, so more specific names come first ("H100 PCIe" before "H100",
   "H200" before "H20", "L40S" before "L40" before "L4"). */
struct peak_row {
    const char *match;
    double bf16, fp8, fp32;
};
const peak_row kPeaks[] = {
    {"H100 PCIe", 756, 1513, 51.2},  {"H100 NVL", 835, 1671, 60},       {"H800 PCIe", 756, 1513, 51.2},
    {"H200 NVL", 835, 1671, 60},     {"H100", 989, 1979, 67},           {"H800", 989, 1979, 67},
    {"H200", 989, 1979, 67}, /* also GH200 */
    {"H20", 148, 296, 44},           {"L40S", 362, 733, 91.6},          {"L40", 181, 362, 90.5},
    {"RTX 6000 Ada", 364, 728, 91.1}, {"4090", 165, 330, 82.6},         {"L4", 121, 242, 30.3},
};

const peak_row *find_peaks(const char *name) {
    for (size_t i = 0; i < sizeof kPeaks / sizeof kPeaks[0]; i++)
        if (strstr(name, kPeaks[i].match)) return &kPeaks[i];
    return NULL;
}

/* ---- status word ------------------------------------------------------------------------------------------ */
const char *status_op(unsigned code) {
    switch (code) {
    case FP8LAB_STATUS_NONFINITE_TENSOR: return "quantize_tensor";
    case FP8LAB_STATUS_NONFINITE_1x128: return "quantize_1x128";
    case FP8LAB_STATUS_NONFINITE_1x128_T: return "quantize_1x128_t";
    case FP8LAB_STATUS_NONFINITE_128x128: return "quantize_128x128";
    default: return "a quantizer";
    }
}

/* Waits for the stream, then reports (and clears) a status recorded by the kernels. */
int sync_and_check(fp8lab_cuda_ctx *c) {
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    volatile unsigned *st = c->status_host;
    const unsigned code = *st;
    if (code != FP8LAB_STATUS_OK) {
        *st = 0; /* the stream is idle: no kernel can be writing it */
        FP8LAB_ERR("non-finite value (NaN or Inf) in the input of %s, detected on the device: its scales and FP8 "
                   "outputs are invalid (hint: check the producer of that tensor for overflow; the CPU backend "
                   "names the element)",
                   status_op(code));
        return -1;
    }
    return 0;
}

/* ---- table entries --------------------------------------------------------------------------------------- */
void cuda_destroy(fp8lab_backend *be) {
    if (!be) return;
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (c) {
        /* best effort: errors here cannot be reported */
        cudaSetDevice(c->device);
        if (c->stream) cudaStreamSynchronize(c->stream);
        fp8lab_cuda_gemm_cache_clear(c);
        if (c->lt) cublasLtDestroy(c->lt);
        if (c->workspace) cudaFree(c->workspace);
        if (c->scratch) cudaFree(c->scratch);
        if (c->status_host) cudaFreeHost(c->status_host);
        if (c->stream) cudaStreamDestroy(c->stream);
        free(c);
    }
    free(be);
}

int cuda_info(fp8lab_backend *be, fp8lab_device_info *out) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    memset(out, 0, sizeof *out);
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, c->device));
    snprintf(out->name, sizeof out->name, "%.*s", (int)sizeof out->name - 1, prop.name);
    const peak_row *pk = find_peaks(prop.name);
    if (pk) {
        out->peak_tflops_bf16 = pk->bf16;
        out->peak_tflops_fp8 = pk->fp8;
        out->peak_tflops_fp32 = pk->fp32;
    } else {
        /* unknown part: tensor peaks unknown (0); FP32 = SMs x 128 lanes x 2 FLOP x boost clock, which holds for
           sm_89 and sm_90 (the only architectures this build runs on) */
        int khz = 0;
        if (cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, c->device) == cudaSuccess && khz > 0)
            out->peak_tflops_fp32 = (double)c->sm_count * 128.0 * 2.0 * (double)khz * 1e3 / 1e12;
    }
    int rt = 0, drv = 0;
    CUDA_CHECK(cudaRuntimeGetVersion(&rt));
    CUDA_CHECK(cudaDriverGetVersion(&drv));
    const size_t lt = cublasLtGetVersion();
    snprintf(out->libs, sizeof out->libs, "cuBLASLt %zu.%zu.%zu, CUDA runtime %d.%d, driver %d.%d, sm_%d%d, %d SMs",
             lt / 10000, (lt / 100) % 100, lt % 100, rt / 1000, (rt % 1000) / 10, drv / 1000, (drv % 1000) / 10,
             c->cc_major, c->cc_minor, c->sm_count);
    return 0;
}

void *cuda_alloc(fp8lab_backend *be, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_CHECK_RET(cudaSetDevice(c->device), NULL);
    void *p = NULL;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1); /* cudaMalloc is 256-byte aligned */
    if (e != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        cudaGetLastError(); /* clear a non-sticky OOM so later launches do not report it */
        FP8LAB_ERR_RT("cudaMalloc(%zu bytes = %.1f MiB) failed: %s: %s (%.1f of %.1f MiB free on device %d) (hint: %s)",
                   bytes, (double)bytes / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e),
                   (double)free_b / 1048576.0, (double)total_b / 1048576.0, c->device, fp8lab_cuda_hint(e));
        return NULL;
    }
    return p;
}

void cuda_free(fp8lab_backend *be, void *p) {
    if (!p) return;
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    cudaSetDevice(c->device);
    const cudaError_t e = cudaFree(p);
    if (e != cudaSuccess)
        FP8LAB_ERR_RT("cudaFree(%p) failed: %s: %s (hint: %s)", p, cudaGetErrorName(e), cudaGetErrorString(e),
                   fp8lab_cuda_hint(e));
}

/* h2d from pageable memory returns once the source has been staged, so the caller may reuse it at once;
   from pinned memory the copy is asynchronous (keep the buffer until sync). */
int cuda_copy_h2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (!bytes) return 0;
    CUDA_USE_DEVICE(c);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    return 0;
}

int cuda_copy_d2h(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    if (bytes) CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    return sync_and_check(c);
}

int cuda_copy_d2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (!bytes) return 0;
    CUDA_USE_DEVICE(c);
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return 0;
}

int cuda_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (!bytes) return 0;
    CUDA_USE_DEVICE(c);
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, c->stream));
    return 0;
}

int cuda_sync(fp8lab_backend *be) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    return sync_and_check(c);
}

int init_ctx(fp8lab_cuda_ctx *c, int device) {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        FP8LAB_ERR_RT("no GPU: cudaGetDeviceCount failed: %s: %s (hint: %s)", cudaGetErrorName(e),
                   cudaGetErrorString(e), fp8lab_cuda_hint(e));
        return -1;
    }
    if (count == 0) {
        FP8LAB_ERR_RT("no GPU: cudaGetDeviceCount reports 0 devices (hint: %s)", fp8lab_cuda_hint(cudaErrorNoDevice));
        return -1;
    }
    if (device < 0 || device >= count) {
        FP8LAB_ERR_RT("no GPU: device %d requested but %d visible (hint: %s)", device, count,
                   fp8lab_cuda_hint(cudaErrorInvalidDevice));
        return -1;
    }
    c->device = device;
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_major, cudaDevAttrComputeCapabilityMajor, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&c->cc_minor, cudaDevAttrComputeCapabilityMinor, device));
    const int cc = c->cc_major * 10 + c->cc_minor;
    if (cc != 89 && cc != 90) {
        char name[256] = "?";
        cudaDeviceProp prop;
        if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) snprintf(name, sizeof name, "%s", prop.name);
        FP8LAB_ERR("unsupported GPU: device %d (%s) is sm_%d; this build has kernels for sm_89 and sm_90a only "
                   "(hint: add a -gencode for it in CMakeLists.txt)",
                   device, name, cc);
        return -1;
    }
    CUDA_CHECK(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(cublasLtCreate(&c->lt));
    c->workspace_bytes = FP8LAB_CUDA_WORKSPACE_BYTES;
    CUDA_CHECK(cudaMalloc(&c->workspace, c->workspace_bytes));
    CUDA_CHECK(cudaMalloc(&c->scratch, 256));
    CUDA_CHECK(cudaMemset(c->scratch, 0, 256));
    CUDA_CHECK(cudaHostAlloc(&c->status_host, sizeof(unsigned), cudaHostAllocMapped));
    *c->status_host = 0;
    CUDA_CHECK(cudaHostGetDevicePointer(&c->status_dev, c->status_host, 0));
    if (fp8lab_cuda_quant_init(c)) return -1;
    CUDA_CHECK(cudaDeviceSynchronize());
    return 0;
}

} // namespace

extern "C" fp8lab_backend *fp8lab_cuda_backend_create(int device) {
    fp8lab_backend *be = (fp8lab_backend *)calloc(1, sizeof *be);
    fp8lab_cuda_ctx *c = (fp8lab_cuda_ctx *)calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        FP8LAB_ERR_RT("out of host memory creating the CUDA backend");
        return NULL;
    }
    be->name = "cuda";
    be->ctx = c;
    c->device = device;
    if (init_ctx(c, device)) {
        /* keep the error from init_ctx; release whatever was created */
        if (c->stream || c->lt || c->workspace || c->scratch || c->status_host) {
            cuda_destroy(be);
        } else {
            free(c);
            free(be);
        }
        return NULL;
    }
    be->destroy = cuda_destroy;
    be->info = cuda_info;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->copy_h2d = cuda_copy_h2d;
    be->copy_d2h = cuda_copy_d2h;
    be->copy_d2d = cuda_copy_d2d;
    be->memset0 = cuda_memset0;
    be->sync = cuda_sync;
    be->cast_f32_to_bf16 = fp8lab_cuda_cast_f32_to_bf16;
    be->cast_bf16_to_f32 = fp8lab_cuda_cast_bf16_to_f32;
    be->amax = fp8lab_cuda_amax;
    be->quantize_tensor = fp8lab_cuda_quantize_tensor;
    be->cast_fp8_scaled = fp8lab_cuda_cast_fp8_scaled;
    be->quantize_1x128 = fp8lab_cuda_quantize_1x128;
    be->quantize_1x128_t = fp8lab_cuda_quantize_1x128_t;
    be->quantize_128x128 = fp8lab_cuda_quantize_128x128;
    be->gemm_f32 = fp8lab_cuda_gemm_f32;
    be->gemm_bf16 = fp8lab_cuda_gemm_bf16;
    be->gemm_fp8_tensor = fp8lab_cuda_gemm_fp8_tensor;
    be->gemm_fp8_block = fp8lab_cuda_gemm_fp8_block;
    return be;
}
