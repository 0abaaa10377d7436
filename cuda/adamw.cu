/* Optimizer group (optim_ops.h): AdamW, the sum of squares for the global gradient norm, the non-finite count.
   adamw:           grid-stride over n, 256 threads; the same per-element formula as the CPU reference
                    (cpu_optim.c), bias corrections computed on the host in double and rounded to float; BF16
                    moments are widened, updated in FP32 and stored rounded to nearest even.
   sumsq:           grid-stride, FP32 partial per thread, FP32 block sum, one FP64 atomicAdd per block.
   count_nonfinite: grid-stride, per-thread count, warp sums, one 64-bit atomicAdd per warp with a hit. */
#include <math.h>

#include <cuda_bf16.h>

#include "device_util.cuh"

namespace {

struct adamw_params {
    float lr, beta1, beta2, eps, wd, grad_scale, bc1, bc2;
};

__device__ __forceinline__ float bf16_load(const uint16_t *p) { return __uint_as_float((unsigned)*p << 16); }
__device__ __forceinline__ void bf16_store(uint16_t *p, float v) {
    const __nv_bfloat16 b = __float2bfloat16_rn(v);
    *p = *reinterpret_cast<const uint16_t *>(&b);
}

template <bool BF16>
__global__ void __launch_bounds__(256) adamw_kernel(float *__restrict__ param, const float *__restrict__ grad,
                                                    void *__restrict__ mv, void *__restrict__ vv, long long n,
                                                    adamw_params a) {
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float m, v;
        if (BF16) {
            m = bf16_load((const uint16_t *)mv + i);
            v = bf16_load((const uint16_t *)vv + i);
        } else {
            m = ((const float *)mv)[i];
            v = ((const float *)vv)[i];
        }
        const float p = param[i];
        const float g = grad[i] * a.grad_scale;
        m = a.beta1 * m + (1.0f - a.beta1) * g;
        v = a.beta2 * v + (1.0f - a.beta2) * g * g;
        const float mhat = m / a.bc1, vhat = v / a.bc2;
        float upd = mhat / (sqrtf(vhat) + a.eps);
        if (a.wd > 0.0f) upd += a.wd * p;
        param[i] = p - a.lr * upd;
        if (BF16) {
            bf16_store((uint16_t *)mv + i, m);
            bf16_store((uint16_t *)vv + i, v);
        } else {
            ((float *)mv)[i] = m;
            ((float *)vv)[i] = v;
        }
    }
}

__global__ void __launch_bounds__(256) sumsq_kernel(const float *__restrict__ x, long long n, double *out) {
    __shared__ float sh[32];
    float s = 0.0f;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        s += x[i] * x[i];
    s = fp8lab_block_sum(s, sh);
    if (threadIdx.x == 0) atomicAdd(out, (double)s);
}

__global__ void __launch_bounds__(256) count_nonfinite_kernel(const float *__restrict__ x, long long n,
                                                              unsigned long long *out) {
    unsigned long long cnt = 0;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
        cnt += (__float_as_uint(x[i]) & 0x7f800000u) == 0x7f800000u;
    for (int o = 16; o > 0; o >>= 1) cnt += __shfl_xor_sync(FP8LAB_FULL_MASK, cnt, o);
    if ((threadIdx.x & 31) == 0 && cnt) atomicAdd(out, cnt);
}

} // namespace

int fp8lab_cuda_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                      const fp8lab_adamw_args *a) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    adamw_params p;
    p.lr = a->lr;
    p.beta1 = a->beta1;
    p.beta2 = a->beta2;
    p.eps = a->eps;
    p.wd = a->weight_decay;
    p.grad_scale = a->grad_scale;
    p.bc1 = (float)(1.0 - pow(a->beta1, a->step)); /* as cpu_optim.c */
    p.bc2 = (float)(1.0 - pow(a->beta2, a->step));
    const unsigned grid = fp8lab_grid_stride_blocks(c, n, 256);
    if (a->moments == FP8LAB_MOMENTS_BF16) adamw_kernel<true><<<grid, 256, 0, c->stream>>>(param, grad, m, v, n, p);
    else adamw_kernel<false><<<grid, 256, 0, c->stream>>>(param, grad, m, v, n, p);
    CUDA_CHECK_LAUNCH("adamw_kernel");
    return 0;
}

int fp8lab_cuda_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq_dev) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    sumsq_kernel<<<fp8lab_grid_stride_blocks(c, n, 256), 256, 0, c->stream>>>(x, n, sumsq_dev);
    CUDA_CHECK_LAUNCH("sumsq_kernel");
    return 0;
}

int fp8lab_cuda_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count_dev) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    /* two's complement: adding as unsigned 64-bit is adding the int64 */
    count_nonfinite_kernel<<<fp8lab_grid_stride_blocks(c, n, 256), 256, 0, c->stream>>>(
        x, n, reinterpret_cast<unsigned long long *>(count_dev));
    CUDA_CHECK_LAUNCH("count_nonfinite_kernel");
    return 0;
}
