/* Device helpers shared by the layer and optimizer kernels (embed.cu, norm.cu, act.cu, rope.cu, attention.cu,
   xent.cu, eltwise.cu, reduce.cu, adamw.cu): warp and block reductions, the status-word store, launch shapes.
   Reductions assume blockDim.x is a multiple of 32 and at most 1024, and every thread of the block calls them. */
#ifndef FP8LAB_CUDA_DEVICE_UTIL_CUH
#define FP8LAB_CUDA_DEVICE_UTIL_CUH

#include <math.h>

#include "internal.cuh"

#define FP8LAB_FULL_MASK 0xffffffffu

static __device__ __forceinline__ float fp8lab_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FP8LAB_FULL_MASK, v, o);
    return v;
}

static __device__ __forceinline__ float fp8lab_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FP8LAB_FULL_MASK, v, o));
    return v;
}

/* Block-wide sum; every thread gets the result. sh: 32 floats of shared memory (may be reused by the next
   call: the leading barrier protects it). */
static __device__ __forceinline__ float fp8lab_block_sum(float v, float *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = fp8lab_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : 0.0f;
    return fp8lab_warp_sum(v);
}

static __device__ __forceinline__ float fp8lab_block_max(float v, float *sh) {
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = fp8lab_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    v = lane < nw ? sh[lane] : -INFINITY;
    return fp8lab_warp_max(v);
}

/* The status word (internal.cuh) lives in mapped pinned host memory: a plain volatile store, error path only;
   the host reads it after the stream has drained (mem.cu). */
static __device__ __forceinline__ void fp8lab_flag(unsigned *status, unsigned code) {
    *reinterpret_cast<volatile unsigned *>(status) = code;
}

/* Threads for one block per row of `cols` elements: about 4 elements per thread, a multiple of 32 in
   [32, 1024]. */
static inline int fp8lab_row_threads(long cols) {
    long t = (cols + 3) / 4;
    t = (t + 31) / 32 * 32;
    if (t < 32) t = 32;
    if (t > 1024) t = 1024;
    return (int)t;
}

/* Blocks of `threads` for a grid-stride loop over `items`: enough to fill the device, at most 8 per SM. */
static inline unsigned fp8lab_grid_stride_blocks(const fp8lab_cuda_ctx *c, long long items, int threads) {
    long long b = (items + threads - 1) / threads;
    const long long cap = (long long)c->sm_count * 8;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

/* Rows handled by one grid dimension: gridDim.y is limited to 65535, so kernels loop rows with this stride. */
static inline unsigned fp8lab_row_blocks_y(long long rows) {
    return (unsigned)(rows < 65535 ? (rows < 1 ? 1 : rows) : 65535);
}

#endif
