/* FP32 <-> BF16 casts. f32 -> bf16 rounds to nearest even (__float2bfloat16_rn / __float22bfloat162_rn, the
   cvt.rn.bf16x2.f32 instruction), identical to bf16_from_f32 in csrc/fp8; bf16 -> f32 is exact (a shift).
   Vectorized path: 4 elements per thread per iteration (float4 <-> 8 bytes of bf16) when the pointers allow,
   grid-stride loop, scalar tail. */
#include <cuda_bf16.h>

#include "internal.cuh"

namespace {

template <bool VEC>
__global__ void __launch_bounds__(256) f32_to_bf16_kernel(const float *__restrict__ x, long long n,
                                                          uint16_t *__restrict__ y) {
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long head = 0;
    if (VEC) {
        const long long n4 = n >> 2;
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        uint2 *y4 = reinterpret_cast<uint2 *>(y);
        for (long long i = tid; i < n4; i += stride) {
            const float4 v = __ldg(x4 + i);
            const __nv_bfloat162 lo = __float22bfloat162_rn(make_float2(v.x, v.y)); /* .x in the low half */
            const __nv_bfloat162 hi = __float22bfloat162_rn(make_float2(v.z, v.w));
            uint2 o;
            o.x = *reinterpret_cast<const uint32_t *>(&lo);
            o.y = *reinterpret_cast<const uint32_t *>(&hi);
            y4[i] = o;
        }
        head = n4 << 2;
    }
    for (long long i = head + tid; i < n; i += stride) {
        const __nv_bfloat16 b = __float2bfloat16_rn(__ldg(x + i));
        y[i] = *reinterpret_cast<const uint16_t *>(&b);
    }
}

template <bool VEC>
__global__ void __launch_bounds__(256) bf16_to_f32_kernel(const uint16_t *__restrict__ x, long long n,
                                                          float *__restrict__ y) {
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long head = 0;
    if (VEC) {
        const long long n4 = n >> 2;
        const uint2 *x4 = reinterpret_cast<const uint2 *>(x);
        float4 *y4 = reinterpret_cast<float4 *>(y);
        for (long long i = tid; i < n4; i += stride) {
            const uint2 w = __ldg(x4 + i);
            y4[i] = make_float4(__uint_as_float(w.x << 16), __uint_as_float(w.x & 0xffff0000u),
                                __uint_as_float(w.y << 16), __uint_as_float(w.y & 0xffff0000u));
        }
        head = n4 << 2;
    }
    for (long long i = head + tid; i < n; i += stride) y[i] = __uint_as_float((unsigned)__ldg(x + i) << 16);
}

unsigned grid_for(const fp8lab_cuda_ctx *c, long long items) {
    long long b = (items + 255) / 256;
    const long long cap = (long long)c->sm_count * 8;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

} // namespace

int fp8lab_cuda_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const bool vec = fp8lab_is_aligned(x, 16) && fp8lab_is_aligned(y, 8);
    const unsigned grid = grid_for(c, vec ? (n + 3) / 4 : n);
    if (vec) f32_to_bf16_kernel<true><<<grid, 256, 0, c->stream>>>(x, n, y);
    else f32_to_bf16_kernel<false><<<grid, 256, 0, c->stream>>>(x, n, y);
    CUDA_CHECK_LAUNCH("f32_to_bf16_kernel");
    return 0;
}

int fp8lab_cuda_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const bool vec = fp8lab_is_aligned(x, 8) && fp8lab_is_aligned(y, 16);
    const unsigned grid = grid_for(c, vec ? (n + 3) / 4 : n);
    if (vec) bf16_to_f32_kernel<true><<<grid, 256, 0, c->stream>>>(x, n, y);
    else bf16_to_f32_kernel<false><<<grid, 256, 0, c->stream>>>(x, n, y);
    CUDA_CHECK_LAUNCH("bf16_to_f32_kernel");
    return 0;
}
