/* The CUDA backend's memory group: cudaMalloc'd device memory, copies and memsets on the backend's stream, and
   the synchronisation points (sync, copy_d2h) that report what the kernels recorded in the status word. */
#include "internal.cuh"

namespace {

const char *status_op(unsigned code) {
    switch (code) {
    case FP8LAB_STATUS_NONFINITE_TENSOR: return "quantize_tensor";
    case FP8LAB_STATUS_NONFINITE_1x128: return "quantize_1x128";
    case FP8LAB_STATUS_NONFINITE_1x128_T: return "quantize_1x128_t";
    case FP8LAB_STATUS_NONFINITE_128x128: return "quantize_128x128";
    case FP8LAB_STATUS_BAD_SCALE: return "cast_fp8_scaled";
    case FP8LAB_STATUS_BAD_TOKEN_EMBED_FWD: return "embed_fwd";
    case FP8LAB_STATUS_BAD_TOKEN_EMBED_BWD: return "embed_bwd";
    case FP8LAB_STATUS_BAD_TARGET_XENT_FWD: return "xent_fwd";
    case FP8LAB_STATUS_BAD_TARGET_XENT_BWD: return "xent_bwd";
    default: return "a quantizer";
    }
}

/* Waits for the stream, then reports (and clears) a status recorded by the kernels. */
int sync_and_check(fp8lab_cuda_ctx *c) {
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
    volatile unsigned *st = c->status_host;
    const unsigned code = *st;
    if (code == FP8LAB_STATUS_OK) return 0;
    *st = 0; /* the stream is idle: no kernel can be writing it */
    if (code >= FP8LAB_STATUS_BAD_TOKEN_EMBED_FWD && code <= FP8LAB_STATUS_BAD_TARGET_XENT_BWD)
        FP8LAB_ERR("%s: a token id is out of [0, V) (a %s), detected on the device: the affected rows were %s "
                   "(hint: check the data against the model's vocab_size; the CPU backend names the position)",
                   status_op(code), code <= FP8LAB_STATUS_BAD_TOKEN_EMBED_BWD ? "token" : "target >= V",
                   code == FP8LAB_STATUS_BAD_TOKEN_EMBED_FWD   ? "written as zeros"
                   : code == FP8LAB_STATUS_BAD_TOKEN_EMBED_BWD ? "not accumulated"
                   : code == FP8LAB_STATUS_BAD_TARGET_XENT_FWD ? "given loss 0"
                                                               : "given zero gradients");
    else if (code == FP8LAB_STATUS_BAD_SCALE)
        FP8LAB_ERR("cast_fp8_scaled: scale_inv is not a positive finite number, detected on the device: its FP8 "
                   "outputs are invalid (hint: a NaN or Inf amax upstream gives one; amax propagates NaN)");
    else
        FP8LAB_ERR("non-finite value (NaN or Inf) in the input of %s, detected on the device: its scales and FP8 "
                   "outputs are invalid (hint: check the producer of that tensor for overflow; the CPU backend "
                   "names the element)",
                   status_op(code));
    return -1;
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
        FP8LAB_ERR_RT("cudaMalloc(%zu bytes = %.1f MiB) failed: %s: %s (%.1f of %.1f MiB free on device %d) "
                      "(hint: %s)",
                      bytes, (double)bytes / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e),
                      (double)free_b / 1048576.0, (double)total_b / 1048576.0, c->device, fp8lab_cuda_hint(e));
        return NULL;
    }
    return p;
}

void cuda_free(fp8lab_backend *be, void *p) {
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

static int cuda_copy_2d(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                        size_t rows) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, cudaMemcpyDeviceToDevice, c->stream));
    return 0;
}

int cuda_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (!bytes) return 0;
    CUDA_USE_DEVICE(c);
    CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, c->stream));
    return 0;
}

/* 32x32 tiles through shared memory (padded against bank conflicts), 32x8 threads; y tiles grid-strided. */
__global__ void transpose_f32_kernel(const float *__restrict__ x, int rows, int cols, float *__restrict__ y) {
    __shared__ float tile[32][33];
    const int tiles_y = (rows + 31) / 32;
    const int c0 = blockIdx.x * 32;
    for (int by = blockIdx.y; by < tiles_y; by += gridDim.y) {
        const int r0 = by * 32;
        for (int i = threadIdx.y; i < 32; i += 8) {
            const int r = r0 + i, c = c0 + threadIdx.x;
            if (r < rows && c < cols) tile[i][threadIdx.x] = x[(size_t)r * cols + c];
        }
        __syncthreads();
        for (int i = threadIdx.y; i < 32; i += 8) {
            const int c = c0 + i, r = r0 + threadIdx.x;
            if (r < rows && c < cols) y[(size_t)c * rows + r] = tile[threadIdx.x][i];
        }
        __syncthreads();
    }
}

int cuda_transpose_f32(fp8lab_backend *be, const float *x, int rows, int cols, float *y) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const int tiles_x = (cols + 31) / 32, tiles_y = (rows + 31) / 32;
    const dim3 grid((unsigned)tiles_x, (unsigned)(tiles_y < 65535 ? tiles_y : 65535));
    transpose_f32_kernel<<<grid, dim3(32, 8), 0, c->stream>>>(x, rows, cols, y);
    CUDA_CHECK_LAUNCH("transpose_f32_kernel");
    return 0;
}

int cuda_sync(fp8lab_backend *be) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    return sync_and_check(c);
}

} // namespace

int fp8lab_cuda_tmp(fp8lab_cuda_ctx *c, size_t bytes, void **out) {
    if (bytes > c->tmp_bytes) {
        if (c->tmp) CUDA_CHECK(cudaFreeAsync(c->tmp, c->stream));
        c->tmp = NULL;
        c->tmp_bytes = 0;
        const cudaError_t e = cudaMallocAsync(&c->tmp, bytes, c->stream);
        if (e != cudaSuccess) {
            c->tmp = NULL;
            cudaGetLastError(); /* clear a non-sticky OOM */
            FP8LAB_ERR_RT("cudaMallocAsync(%zu bytes = %.1f MiB) of scratch failed: %s: %s (hint: %s)", bytes,
                          (double)bytes / 1048576.0, cudaGetErrorName(e), cudaGetErrorString(e), fp8lab_cuda_hint(e));
            return -1;
        }
        c->tmp_bytes = bytes;
    }
    *out = c->tmp;
    return 0;
}

const fp8lab_mem_ops fp8lab_cuda_mem_ops = {
    .alloc = cuda_alloc,
    .free = cuda_free,
    .copy_h2d = cuda_copy_h2d,
    .copy_d2h = cuda_copy_d2h,
    .copy_d2d = cuda_copy_d2d,
    .copy_2d = cuda_copy_2d,
    .memset0 = cuda_memset0,
    .sync = cuda_sync,
    .transpose_f32 = cuda_transpose_f32,
};
