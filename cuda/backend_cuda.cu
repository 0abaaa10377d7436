/* The CUDA backend: construction, device info, and the library's one exported symbol (backend/cuda_module.h).
   The op tables live with their code: memory in mem.cu, kernels in cast.cu and quantize.cu, cuBLASLt glue in
   gemm_lt.cu; the layer and optimizer tables are wired here (end of file) from one .cu file per family. All work is issued on one stream per backend; ops are asynchronous and errors from running
   kernels surface at sync/copy_d2h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_api.cuh"
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

/* ---- lifetime and device info ----------------------------------------------------------------------------- */
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
        if (c->tmp && c->stream) { /* from cudaMallocAsync on the stream: freed the same way */
            cudaFreeAsync(c->tmp, c->stream);
            cudaStreamSynchronize(c->stream);
        }
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

fp8lab_backend *create(int device) {
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
    be->mem = &fp8lab_cuda_mem_ops;
    be->quant = &fp8lab_cuda_quant_ops;
    be->gemm = &fp8lab_cuda_gemm_ops;
    be->layers = &fp8lab_cuda_layer_ops;
    be->optim = &fp8lab_cuda_optim_ops;
    return be;
}

} // namespace

const fp8lab_layer_ops fp8lab_cuda_layer_ops = {
    .embed_fwd = fp8lab_cuda_embed_fwd,         /* embed.cu */
    .embed_bwd = fp8lab_cuda_embed_bwd,
    .layernorm_fwd = fp8lab_cuda_layernorm_fwd, /* norm.cu */
    .layernorm_bwd = fp8lab_cuda_layernorm_bwd,
    .rmsnorm_fwd = fp8lab_cuda_rmsnorm_fwd,
    .rmsnorm_bwd = fp8lab_cuda_rmsnorm_bwd,
    .gelu_fwd = fp8lab_cuda_gelu_fwd,           /* act.cu */
    .gelu_bwd = fp8lab_cuda_gelu_bwd,
    .swiglu_fwd = fp8lab_cuda_swiglu_fwd,
    .swiglu_bwd = fp8lab_cuda_swiglu_bwd,
    .rope_fwd = fp8lab_cuda_rope_fwd,           /* rope.cu */
    .rope_bwd = fp8lab_cuda_rope_bwd,
    .attn_fwd = fp8lab_cuda_attn_fwd,           /* attention.cu */
    .attn_bwd = fp8lab_cuda_attn_bwd,
    .xent_fwd = fp8lab_cuda_xent_fwd,           /* xent.cu */
    .xent_bwd = fp8lab_cuda_xent_bwd,
    .add = fp8lab_cuda_add,                     /* eltwise.cu */
    .bias_fwd = fp8lab_cuda_bias_fwd,
    .bias_bwd = fp8lab_cuda_bias_bwd,
};

const fp8lab_optim_ops fp8lab_cuda_optim_ops = {
    .adamw = fp8lab_cuda_adamw, /* adamw.cu */
    .sumsq = fp8lab_cuda_sumsq,
    .count_nonfinite = fp8lab_cuda_count_nonfinite,
};

/* The library's one exported symbol (FP8LAB_CUDA_ENTRY); everything else is hidden. */
extern "C" __attribute__((visibility("default"))) fp8lab_backend *
fp8lab_cuda_backend_entry(int abi, const fp8lab_host_api *host, int device) {
    if (!host || !host->set_error) return NULL;
    fp8lab_cuda_set_host(host);
    if (abi != FP8LAB_BACKEND_ABI) {
        FP8LAB_ERR_RT("no GPU: %s was built for backend ABI %d, this fp8lab uses %d (hint: rebuild them together; "
                      "a stale copy may sit next to the executable or in FP8LAB_CUDA_LIB)",
                      FP8LAB_CUDA_LIB_NAME, FP8LAB_BACKEND_ABI, abi);
        return NULL;
    }
    return create(device);
}
