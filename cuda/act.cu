/* Activations (layer_ops.h): GELU (tanh form) and SwiGLU, forward and backward. Elementwise, FP32, accurate
   expf/tanhf (no fast-math intrinsics), so results agree with the CPU to a few ulps.
   gelu:   grid-stride over n (256 threads, up to 8 blocks per SM).
   swiglu: 2-D grid, x over 256-column chunks of F, y over rows (row stride gridDim.y), so no division. */
#include "device_util.cuh"

namespace {

#define GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_K1 0.044715f

__global__ void gelu_fwd_kernel(float *out, const float *x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const float v = x[i];
        const float u = GELU_K0 * (v + GELU_K1 * v * v * v);
        out[i] = 0.5f * v * (1.0f + tanhf(u));
    }
}

/* d/dx 0.5 x (1 + tanh u) = 0.5 (1 + tanh u) + 0.5 x sech^2(u) du/dx, du/dx = k0 (1 + 3 k1 x^2) */
__global__ void gelu_bwd_kernel(float *dx, const float *dout, const float *x, long long n) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        const float v = x[i];
        const float u = GELU_K0 * (v + GELU_K1 * v * v * v);
        const float th = tanhf(u);
        const float sech2 = 1.0f - th * th; /* as the CPU reference computes it */
        const float grad = 0.5f * (1.0f + th) + 0.5f * v * sech2 * GELU_K0 * (1.0f + 3.0f * GELU_K1 * v * v);
        dx[i] = grad * dout[i];
    }
}

__device__ __forceinline__ float sigmoidf_(float g) { return 1.0f / (1.0f + expf(-g)); }

__global__ void swiglu_fwd_kernel(float *out, const float *gate_up, int N, int F) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    for (long long n = blockIdx.y; n < N; n += gridDim.y) {
        const float g = gate_up[n * 2 * F + f], u = gate_up[n * 2 * F + F + f];
        out[n * F + f] = g * sigmoidf_(g) * u;
    }
}

/* silu'(g) = s (1 + g (1 - s)), s = sigmoid(g): dgate = dout * up * silu'(gate); dup = dout * silu(gate) */
__global__ void swiglu_bwd_kernel(float *dgate_up, const float *dout,
                                  const float *gate_up, int N, int F) {
    const int f = blockIdx.x * blockDim.x + threadIdx.x;
    if (f >= F) return;
    for (long long n = blockIdx.y; n < N; n += gridDim.y) {
        const float g = gate_up[n * 2 * F + f], u = gate_up[n * 2 * F + F + f];
        const float d = dout[n * F + f];
        const float s = sigmoidf_(g);
        dgate_up[n * 2 * F + f] = d * u * (s * (1.0f + g * (1.0f - s)));
        dgate_up[n * 2 * F + F + f] = d * (g * s);
    }
}

} // namespace

int fp8lab_cuda_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    gelu_fwd_kernel<<<fp8lab_grid_stride_blocks(c, n, 256), 256, 0, c->stream>>>(out, x, n);
    CUDA_CHECK_LAUNCH("gelu_fwd_kernel");
    return 0;
}

int fp8lab_cuda_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    gelu_bwd_kernel<<<fp8lab_grid_stride_blocks(c, n, 256), 256, 0, c->stream>>>(dx, dout, x, n);
    CUDA_CHECK_LAUNCH("gelu_bwd_kernel");
    return 0;
}

int fp8lab_cuda_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const dim3 grid((unsigned)((F + 255) / 256), fp8lab_row_blocks_y(N));
    swiglu_fwd_kernel<<<grid, 256, 0, c->stream>>>(out, gate_up, N, F);
    CUDA_CHECK_LAUNCH("swiglu_fwd_kernel");
    return 0;
}

int fp8lab_cuda_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N,
                           int F) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const dim3 grid((unsigned)((F + 255) / 256), fp8lab_row_blocks_y(N));
    swiglu_bwd_kernel<<<grid, 256, 0, c->stream>>>(dgate_up, dout, gate_up, N, F);
    CUDA_CHECK_LAUNCH("swiglu_bwd_kernel");
    return 0;
}
