/* Residual add and bias (layer_ops.h).
   add:      grid-stride over n, 256 threads (out may alias a or b: no __restrict__).
   bias_fwd: out[N][C] += bias[C]; 2-D grid, x over 256-column chunks, y over rows (row stride gridDim.y).
   bias_bwd: dbias[C] += column sums of dout: reduce.cu. */
#include "device_util.cuh"

namespace {

__global__ void add_kernel(float *out, const float *a, const float *b, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        out[i] = a[i] + b[i];
}

__global__ void bias_fwd_kernel(float *__restrict__ out, const float *__restrict__ bias, int N, int C) {
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= C) return;
    const float bv = bias[col];
    for (long long n = blockIdx.y; n < N; n += gridDim.y) out[n * C + col] += bv;
}

} // namespace

int fp8lab_cuda_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    add_kernel<<<fp8lab_grid_stride_blocks(c, n, 256), 256, 0, c->stream>>>(out, a, b, n);
    CUDA_CHECK_LAUNCH("add_kernel");
    return 0;
}

int fp8lab_cuda_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const dim3 grid((unsigned)((C + 255) / 256), fp8lab_row_blocks_y(N));
    bias_fwd_kernel<<<grid, 256, 0, c->stream>>>(out, bias, N, C);
    CUDA_CHECK_LAUNCH("bias_fwd_kernel");
    return 0;
}

int fp8lab_cuda_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    return fp8lab_cuda_colsum(c, FP8LAB_COLSUM_PLAIN, dbias, NULL, dout, NULL, NULL, NULL, N, C);
}
