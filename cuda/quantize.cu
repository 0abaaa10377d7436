/* FP8 quantization kernels: amax, per-tensor (current and delayed scaling), 1x128, fused 1x128 cast+transpose,
   128x128.

   The numerics contract (csrc/fp8/quant.c, followed bit for bit so CPU and GPU results are identical):
     amax      = max |x| over the tile
     scale_inv = amax / fmtmax (one IEEE division); amax == 0 -> 1; pow2 -> next power of two (kept if one)
     q         = satfinite_cvt_rn(x / scale_inv)  (IEEE division: this file must not be built with
                                                   --use_fast_math / -prec-div=false)
   Absolute values are reduced as their IEEE bit patterns (unsigned): for non-negative floats the integer order
   is the float order, NaN patterns sort above +Inf, so a non-finite input always shows up in amax; the
   quantizers then record it in the device status word (reported by sync/copy_d2h, as the CPU quantizers
   report it as an error).

   Scale layouts (fp8/scale_layout.h): 1x128 of x[rows][cols] -> s[cols/128][rows]; 128x128 -> s[rows/128][ld],
   ld = roundup(cols/128, 4), padding zeroed.

   Arguments were checked by the front functions (backend/quant_ops.h: shapes, formats, alignment); the host
   side here checks only what one launch can cover. */
#include <cuda_fp8.h>

#include "fp8/fp8.h"
#include "fp8/quant.h"
#include "internal.cuh"

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr unsigned kInfBits = 0x7f800000u;
constexpr int kTile = 128;

inline float host_fmt_max(int fmt) { return fmt == FP8_E5M2 ? FP8_E5M2_MAX : FP8_E4M3_MAX; }

__device__ __forceinline__ unsigned abs_bits(float v) { return __float_as_uint(v) & 0x7fffffffu; }

__device__ __forceinline__ unsigned amax4_bits(float4 v) {
    return max(max(abs_bits(v.x), abs_bits(v.y)), max(abs_bits(v.z), abs_bits(v.w)));
}

/* fp8_scale_inv_from_amax, on the device. The power-of-two rounding works on the bit pattern: the smallest
   power of two >= s, which is what frexpf/ldexpf give on the host, subnormal s included. */
__device__ __forceinline__ float scale_inv_from_amax(float amax, float fmax, int pow2) {
    if (amax == 0.0f) return 1.0f;
    float s = __fdiv_rn(amax, fmax);
    if (pow2) {
        unsigned b = __float_as_uint(s); /* s > 0 (or NaN/Inf: left alone, the status word reports it) */
        if (b < kInfBits) {
            if (b >= 0x00800000u) { /* normal: clear the mantissa, bump the exponent unless it was exact */
                if (b & 0x007fffffu) b = (b & 0xff800000u) + 0x00800000u;
            } else if (b == 0u) { /* amax/fmtmax underflowed to 0: the host's frexpf/ldexpf path gives 1 */
                b = 0x3f800000u;
            } else if (b & (b - 1u)) { /* subnormal, not a power of two: next power of two of the bits */
                b = 1u << (32 - __clz(b));
            }
            s = __uint_as_float(b);
        }
    }
    return s;
}

/* x / s, correctly rounded (what the CPU computes). When s is a normal power of two (exponent field 1..253)
   its reciprocal 2^-e is exact and normal, and x * (1/s) is the same real number as x / s rounded once, so a
   multiply replaces the IEEE division bit-exactly: the common case with pow2 scales. Otherwise __fdiv_rn. The
   choice is uniform per tile (warp/block), so it does not diverge. */
struct Divider {
    float s, r;
    bool mul;
};

__device__ __forceinline__ Divider make_divider(float s) {
    const unsigned b = __float_as_uint(s), e = (b >> 23) & 0xffu;
    Divider d;
    d.s = s;
    d.mul = (b & 0x007fffffu) == 0u && e >= 1u && e <= 253u;
    d.r = __uint_as_float((b & 0x80000000u) | ((254u - e) << 23)); /* 2^(127-(e-127)); only used when mul */
    return d;
}

__device__ __forceinline__ float divide(float x, const Divider &d) { return d.mul ? x * d.r : __fdiv_rn(x, d.s); }

/* Four floats divided by s and converted with RN + SATFINITE, packed little-endian (v.x in the low byte). */
template <__nv_fp8_interpretation_t I>
__device__ __forceinline__ uint32_t cvt4(float4 v, const Divider &d) {
    const __nv_fp8x2_storage_t lo =
        __nv_cvt_float2_to_fp8x2(make_float2(divide(v.x, d), divide(v.y, d)), __NV_SATFINITE, I);
    const __nv_fp8x2_storage_t hi =
        __nv_cvt_float2_to_fp8x2(make_float2(divide(v.z, d), divide(v.w, d)), __NV_SATFINITE, I);
    return (uint32_t)lo | ((uint32_t)hi << 16);
}

template <__nv_fp8_interpretation_t I>
__device__ __forceinline__ uint8_t cvt1(float v, const Divider &d) {
    return (uint8_t)__nv_cvt_float_to_fp8(divide(v, d), __NV_SATFINITE, I);
}

/* The status word lives in mapped pinned host memory: a plain store (rare: error path only), read by the host
   after the stream has drained. Concurrent writers all write a non-zero code; any one of them is kept. */
__device__ __forceinline__ void flag_status(unsigned *status, unsigned code) {
    *reinterpret_cast<volatile unsigned *>(status) = code;
}

/* Block-wide max of unsigned values; every thread gets the result. blockDim.x a multiple of 32, <= 1024. */
__device__ __forceinline__ unsigned block_max_u32(unsigned v) {
    __shared__ unsigned warp_max[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    v = __reduce_max_sync(kFull, v);
    if (lane == 0) warp_max[warp] = v;
    __syncthreads();
    unsigned m = lane < nwarps ? warp_max[lane] : 0u;
    m = __reduce_max_sync(kFull, m);
    __syncthreads(); /* warp_max may be reused by a later call */
    return m;
}

/* ---- amax over n floats: grid-stride, block reduce, one atomicMax per block on the float bits ----------- */
template <bool VEC>
__global__ void __launch_bounds__(256) amax_kernel(const float *__restrict__ x, long long n,
                                                   unsigned *__restrict__ amax_bits) {
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    unsigned m = 0;
    long long head = 0;
    if (VEC) {
        const long long n4 = n >> 2;
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        for (long long i = tid; i < n4; i += stride) m = max(m, amax4_bits(__ldg(x4 + i)));
        head = n4 << 2;
    }
    for (long long i = head + tid; i < n; i += stride) m = max(m, abs_bits(__ldg(x + i)));
    m = block_max_u32(m);
    if (threadIdx.x == 0 && m) atomicMax(amax_bits, m);
}

/* ---- per-tensor cast: q = cvt(x / s) with s read from the device ----------------------------------------
   src_is_amax: s = scale_inv_from_amax(*src) and block 0 stores it to scale_out (current scaling); a
   non-finite amax is recorded in the status word. Otherwise s = *src (delayed scaling), and an s that is not
   a positive finite number is recorded (the CPU backend refuses it). */
template <__nv_fp8_interpretation_t I, bool VEC>
__global__ void __launch_bounds__(256) cast_fp8_kernel(const float *__restrict__ x, long long n,
                                                       const float *__restrict__ src, int src_is_amax, float fmax,
                                                       int pow2, uint8_t *__restrict__ q,
                                                       float *__restrict__ scale_out, unsigned *status) {
    float s;
    if (src_is_amax) {
        const float amax = *src;
        s = scale_inv_from_amax(amax, fmax, pow2);
        if (blockIdx.x == 0 && threadIdx.x == 0) {
            *scale_out = s;
            if (__float_as_uint(amax) >= kInfBits) flag_status(status, FP8LAB_STATUS_NONFINITE_TENSOR);
        }
    } else {
        s = *src;
        if (blockIdx.x == 0 && threadIdx.x == 0 && !(s > 0.0f && __float_as_uint(s) < kInfBits))
            flag_status(status, FP8LAB_STATUS_BAD_SCALE);
    }
    const Divider dv = make_divider(s);
    const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    const long long stride = (long long)gridDim.x * blockDim.x;
    long long head = 0;
    if (VEC) {
        const long long n4 = n >> 2;
        const float4 *x4 = reinterpret_cast<const float4 *>(x);
        uint32_t *q4 = reinterpret_cast<uint32_t *>(q);
        for (long long i = tid; i < n4; i += stride) q4[i] = cvt4<I>(__ldg(x4 + i), dv);
        head = n4 << 2;
    }
    for (long long i = head + tid; i < n; i += stride) q[i] = cvt1<I>(__ldg(x + i), dv);
}

/* ---- 1x128: one warp per 128-element tile (4 floats per lane), kTilesPerWarp tiles per warp ---------------
   Tile t -> (tile column tc = t / rows, row r = t % rows), so the warps of a block write neighbouring scale
   entries s[tc][r]. Each warp reads 512 contiguous bytes and writes 128 contiguous bytes per tile. */
constexpr int kTilesPerWarp = 2;

template <__nv_fp8_interpretation_t I>
__global__ void __launch_bounds__(256) quant_1x128_kernel(const float *__restrict__ x, int rows, int cols,
                                                          float fmax, int pow2, uint8_t *__restrict__ q,
                                                          float *__restrict__ s, unsigned *status) {
    const int lane = threadIdx.x & 31;
    /* the host guarantees rows * (cols / 128) < 2^31, so tile indices fit 32 bits (cheap division) */
    const int warp = (int)(blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5));
    const int ntiles = rows * (cols / kTile);
    float4 v[kTilesPerWarp];
    long long off[kTilesPerWarp];
    size_t s_at[kTilesPerWarp] = {};
#pragma unroll
    for (int j = 0; j < kTilesPerWarp; j++) {
        const int t = warp * kTilesPerWarp + j;
        off[j] = -1;
        if (t < ntiles) {
            const int tc = t / rows, r = t - tc * rows;
            off[j] = (long long)r * cols + (long long)tc * kTile;
            s_at[j] = fp8lab_scale_1x128_tile(r, tc, rows); /* == t: neighbouring warps, neighbouring scales */
            v[j] = __ldg(reinterpret_cast<const float4 *>(x + off[j]) + lane);
        }
    }
    unsigned bad = 0;
#pragma unroll
    for (int j = 0; j < kTilesPerWarp; j++) {
        if (off[j] < 0) break; /* warp-uniform */
        const unsigned m = __reduce_max_sync(kFull, amax4_bits(v[j]));
        const float sc = scale_inv_from_amax(__uint_as_float(m), fmax, pow2);
        bad |= m >= kInfBits;
        reinterpret_cast<uint32_t *>(q + off[j])[lane] = cvt4<I>(v[j], make_divider(sc));
        if (lane == 0) s[s_at[j]] = sc;
    }
    if (bad && lane == 0) flag_status(status, FP8LAB_STATUS_NONFINITE_1x128);
}

/* ---- fused 1x128 cast + transpose: one 256-thread block per 128x128 tile (bi = tile row, bj = tile column).
   Phase 1 (rows): warp w streams rows w, w+8, ..., 4 rows in flight; each row is reduced with one warp
   reduction, quantized from registers into q (128 B per warp store), and stashed in shared memory.
   Phase 2 (columns): warp w takes 4-column chunks k = w, w+8, w+16, w+24; lane l holds rows 4l..4l+3 of the
   4 columns, so it can pack the 4 bytes of qt[c][4l..4l+3] into one 32-bit store (128 B per warp store).
   Shared memory: 128 rows x 32 float4 chunks, chunk k of row r stored at chunk k ^ ((r >> 2) & 7). 128-bit
   shared accesses are served 8 lanes at a time; phase 1 (row r fixed, lanes = chunks) and phase 2 (chunk
   fixed, lanes = rows 4l+i) then both touch 8 distinct 16-byte bank groups per 8 lanes: conflict-free
   without padding. */
constexpr int kTThreads = 256;
constexpr size_t kTSmemBytes = (size_t)kTile * kTile * sizeof(float); /* 64 KiB, dynamic (opt-in) */

__device__ __forceinline__ int swz(int r, int k) { return r * 32 + (k ^ ((r >> 2) & 7)); }

template <__nv_fp8_interpretation_t I>
__global__ void __launch_bounds__(kTThreads) quant_1x128_t_kernel(const float *__restrict__ x, int rows, int cols,
                                                                  float fmax, int pow2, uint8_t *__restrict__ q,
                                                                  float *__restrict__ s, uint8_t *__restrict__ qt,
                                                                  float *__restrict__ st, unsigned *status) {
    extern __shared__ float4 tile[]; /* [128][32] float4, swizzled */
    __shared__ __align__(16) float row_scale[kTile];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int bj = blockIdx.x, bi = blockIdx.y;
    const size_t r0 = (size_t)bi * kTile, c0 = (size_t)bj * kTile;
    const float *xt = x + r0 * cols + c0;
    unsigned bad = 0;

    /* phase 1: 16 rows per warp, 4 loads in flight */
#pragma unroll
    for (int tb = 0; tb < 16; tb += 4) {
        float4 v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = warp + 8 * (tb + j);
            v[j] = __ldg(reinterpret_cast<const float4 *>(xt + (size_t)r * cols) + lane);
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int r = warp + 8 * (tb + j);
            tile[swz(r, lane)] = v[j];
            const unsigned m = __reduce_max_sync(kFull, amax4_bits(v[j]));
            const float sc = scale_inv_from_amax(__uint_as_float(m), fmax, pow2);
            bad |= m >= kInfBits;
            reinterpret_cast<uint32_t *>(q + (r0 + r) * cols + c0)[lane] = cvt4<I>(v[j], make_divider(sc));
            if (lane == 0) row_scale[r] = sc;
        }
    }
    __syncthreads();
    /* the 128 row tiles' scales are contiguous in s: rows r0 .. r0+127 of column block bj */
    if (warp == 0)
        reinterpret_cast<float4 *>(s + fp8lab_scale_1x128_tile(r0, bj, rows))[lane] =
            reinterpret_cast<const float4 *>(row_scale)[lane];

    /* phase 2: columns */
#pragma unroll
    for (int p = 0; p < 4; p++) {
        const int k = warp + 8 * p; /* columns 4k .. 4k+3 of the tile */
        float4 v[4];
#pragma unroll
        for (int i = 0; i < 4; i++) v[i] = tile[swz(4 * lane + i, k)];
        unsigned m0 = max(max(abs_bits(v[0].x), abs_bits(v[1].x)), max(abs_bits(v[2].x), abs_bits(v[3].x)));
        unsigned m1 = max(max(abs_bits(v[0].y), abs_bits(v[1].y)), max(abs_bits(v[2].y), abs_bits(v[3].y)));
        unsigned m2 = max(max(abs_bits(v[0].z), abs_bits(v[1].z)), max(abs_bits(v[2].z), abs_bits(v[3].z)));
        unsigned m3 = max(max(abs_bits(v[0].w), abs_bits(v[1].w)), max(abs_bits(v[2].w), abs_bits(v[3].w)));
        m0 = __reduce_max_sync(kFull, m0);
        m1 = __reduce_max_sync(kFull, m1);
        m2 = __reduce_max_sync(kFull, m2);
        m3 = __reduce_max_sync(kFull, m3);
        bad |= max(max(m0, m1), max(m2, m3)) >= kInfBits;
        const float s0 = scale_inv_from_amax(__uint_as_float(m0), fmax, pow2);
        const float s1 = scale_inv_from_amax(__uint_as_float(m1), fmax, pow2);
        const float s2 = scale_inv_from_amax(__uint_as_float(m2), fmax, pow2);
        const float s3 = scale_inv_from_amax(__uint_as_float(m3), fmax, pow2);
        const Divider d0 = make_divider(s0), d1 = make_divider(s1), d2 = make_divider(s2), d3 = make_divider(s3);
        /* x^T is [cols][rows], tiled along rows: its rows c0+4k .. c0+4k+3 in column block bi */
        if (lane == 0)
            reinterpret_cast<float4 *>(st + fp8lab_scale_1x128_tile(c0, bi, cols))[k] = make_float4(s0, s1, s2, s3);
        /* qt[bj*128 + 4k + j][bi*128 + 4*lane .. +3] */
        uint8_t *qrow = qt + (c0 + 4 * (size_t)k) * rows + r0;
        reinterpret_cast<uint32_t *>(qrow)[lane] = cvt4<I>(make_float4(v[0].x, v[1].x, v[2].x, v[3].x), d0);
        reinterpret_cast<uint32_t *>(qrow + (size_t)rows)[lane] =
            cvt4<I>(make_float4(v[0].y, v[1].y, v[2].y, v[3].y), d1);
        reinterpret_cast<uint32_t *>(qrow + 2 * (size_t)rows)[lane] =
            cvt4<I>(make_float4(v[0].z, v[1].z, v[2].z, v[3].z), d2);
        reinterpret_cast<uint32_t *>(qrow + 3 * (size_t)rows)[lane] =
            cvt4<I>(make_float4(v[0].w, v[1].w, v[2].w, v[3].w), d3);
    }
    if (bad && lane == 0) flag_status(status, FP8LAB_STATUS_NONFINITE_1x128_T);
}

/* ---- 128x128: one 512-thread block per tile; warp w holds rows w, w+16, ... (8 float4 per lane) in
   registers, block-wide amax, then quantizes from registers. */
constexpr int kBThreads = 512;

template <__nv_fp8_interpretation_t I>
__global__ void __launch_bounds__(kBThreads) quant_128x128_kernel(const float *__restrict__ x, int rows, int cols,
                                                                  float fmax, int pow2, uint8_t *__restrict__ q,
                                                                  float *__restrict__ s, int ld,
                                                                  unsigned *status) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int bj = blockIdx.x, bi = blockIdx.y;
    const size_t r0 = (size_t)bi * kTile, c0 = (size_t)bj * kTile;
    float4 v[8];
    unsigned m = 0;
#pragma unroll
    for (int t = 0; t < 8; t++) {
        const int r = warp + 16 * t;
        v[t] = __ldg(reinterpret_cast<const float4 *>(x + (r0 + r) * cols + c0) + lane);
    }
#pragma unroll
    for (int t = 0; t < 8; t++) m = max(m, amax4_bits(v[t]));
    m = block_max_u32(m);
    const float sc = scale_inv_from_amax(__uint_as_float(m), fmax, pow2);
    const Divider dv = make_divider(sc);
#pragma unroll
    for (int t = 0; t < 8; t++) {
        const int r = warp + 16 * t;
        reinterpret_cast<uint32_t *>(q + (r0 + r) * cols + c0)[lane] = cvt4<I>(v[t], dv);
    }
    if (threadIdx.x == 0) {
        s[fp8lab_scale_128x128_tile(bi, bj, ld)] = sc;
        if (bj == (int)gridDim.x - 1)
            for (int j = bj + 1; j < ld; j++) s[fp8lab_scale_128x128_tile(bi, j, ld)] = 0.0f; /* padding */
        if (m >= kInfBits) flag_status(status, FP8LAB_STATUS_NONFINITE_128x128);
    }
}

/* ---- host side ------------------------------------------------------------------------------------------ */
/* Grid for the grid-stride kernels: enough blocks to fill the device, at least one. */
unsigned grid_for(const fp8lab_cuda_ctx *c, long long work_items, int threads) {
    long long b = (work_items + threads - 1) / threads;
    const long long cap = (long long)c->sm_count * 8;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

int launch_cast_fp8(fp8lab_cuda_ctx *c, const float *x, long n, int fmt, const float *src, int src_is_amax,
                    int pow2, uint8_t *q, float *scale_out) {
    const bool vec = fp8lab_is_aligned(x, 16) && fp8lab_is_aligned(q, 4);
    const unsigned grid = grid_for(c, vec ? (n + 3) / 4 : n, 256);
    const float fmax = host_fmt_max(fmt);
    unsigned *status = c->status_dev;
#define FP8LAB_LAUNCH_CAST(I, V)                                                                              \
    cast_fp8_kernel<I, V><<<grid, 256, 0, c->stream>>>(x, n, src, src_is_amax, fmax, pow2, q, scale_out, status)
    if (fmt == FP8_E4M3) {
        if (vec) FP8LAB_LAUNCH_CAST(__NV_E4M3, true);
        else FP8LAB_LAUNCH_CAST(__NV_E4M3, false);
    } else {
        if (vec) FP8LAB_LAUNCH_CAST(__NV_E5M2, true);
        else FP8LAB_LAUNCH_CAST(__NV_E5M2, false);
    }
#undef FP8LAB_LAUNCH_CAST
    CUDA_CHECK_LAUNCH("cast_fp8_kernel");
    return 0;
}

int launch_amax(fp8lab_cuda_ctx *c, const float *x, long n, unsigned *amax_bits) {
    CUDA_CHECK(cudaMemsetAsync(amax_bits, 0, sizeof(unsigned), c->stream));
    const bool vec = fp8lab_is_aligned(x, 16);
    const unsigned grid = grid_for(c, vec ? (n + 3) / 4 : n, 256);
    if (vec) amax_kernel<true><<<grid, 256, 0, c->stream>>>(x, n, amax_bits);
    else amax_kernel<false><<<grid, 256, 0, c->stream>>>(x, n, amax_bits);
    CUDA_CHECK_LAUNCH("amax_kernel");
    return 0;
}

} // namespace

int fp8lab_cuda_quant_init(fp8lab_cuda_ctx *c) {
    int optin = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, c->device));
    if ((size_t)optin < kTSmemBytes + kTile * sizeof(float)) {
        FP8LAB_ERR_RT("device %d allows %d bytes of shared memory per block; the fused cast+transpose kernel needs "
                   "%zu (hint: sm_89/sm_90 devices allow at least 99 KiB)",
                   c->device, optin, kTSmemBytes + kTile * sizeof(float));
        return -1;
    }
    CUDA_CHECK(cudaFuncSetAttribute(quant_1x128_t_kernel<__NV_E4M3>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)kTSmemBytes));
    CUDA_CHECK(cudaFuncSetAttribute(quant_1x128_t_kernel<__NV_E5M2>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    (int)kTSmemBytes));
    return 0;
}

namespace {

int cuda_amax(fp8lab_backend *be, const float *x, long n, float *amax_dev) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    return launch_amax(c, x, n, reinterpret_cast<unsigned *>(amax_dev));
}

int cuda_quantize_tensor(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q,
                                float *scale_inv_dev) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    unsigned *amax_bits = c->scratch; /* stream-ordered: safe to reuse across calls */
    if (launch_amax(c, x, n, amax_bits)) return -1;
    return launch_cast_fp8(c, x, n, fmt, reinterpret_cast<const float *>(amax_bits), 1, pow2, q, scale_inv_dev);
}

int cuda_cast_fp8_scaled(fp8lab_backend *be, const float *x, long n, int fmt, const float *scale_inv_dev,
                                uint8_t *q) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    return launch_cast_fp8(c, x, n, fmt, scale_inv_dev, 0, 0, q, nullptr);
}

int cuda_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                               uint8_t *q, float *s) {
    static const char *op = "quantize_1x128";
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const long long ntiles = (long long)rows * (cols / kTile);
    const long long warps = (ntiles + kTilesPerWarp - 1) / kTilesPerWarp;
    const long long blocks = (warps + 7) / 8; /* 8 warps per 256-thread block */
    if (ntiles + 16 * kTilesPerWarp >= 0x7fffffffLL) { /* 32-bit tile and thread indices in the kernel */
        FP8LAB_ERR("%s: %dx%d is too large for one launch", op, rows, cols);
        return -1;
    }
    const float fmax = host_fmt_max(fmt);
    if (fmt == FP8_E4M3)
        quant_1x128_kernel<__NV_E4M3><<<(unsigned)blocks, 256, 0, c->stream>>>(x, rows, cols, fmax, pow2, q, s,
                                                                               c->status_dev);
    else
        quant_1x128_kernel<__NV_E5M2><<<(unsigned)blocks, 256, 0, c->stream>>>(x, rows, cols, fmax, pow2, q, s,
                                                                               c->status_dev);
    CUDA_CHECK_LAUNCH("quant_1x128_kernel");
    return 0;
}

int cuda_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                 uint8_t *q, float *s, uint8_t *qt, float *st) {
    static const char *op = "quantize_1x128_t";
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (rows / kTile > 65535) {
        FP8LAB_ERR("%s: rows = %d exceeds the %d rows one launch handles", op, rows, 65535 * kTile);
        return -1;
    }
    CUDA_USE_DEVICE(c);
    const dim3 grid((unsigned)(cols / kTile), (unsigned)(rows / kTile));
    const float fmax = host_fmt_max(fmt);
    if (fmt == FP8_E4M3)
        quant_1x128_t_kernel<__NV_E4M3><<<grid, kTThreads, kTSmemBytes, c->stream>>>(x, rows, cols, fmax, pow2, q,
                                                                                     s, qt, st, c->status_dev);
    else
        quant_1x128_t_kernel<__NV_E5M2><<<grid, kTThreads, kTSmemBytes, c->stream>>>(x, rows, cols, fmax, pow2, q,
                                                                                     s, qt, st, c->status_dev);
    CUDA_CHECK_LAUNCH("quant_1x128_t_kernel");
    return 0;
}

int cuda_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                                 uint8_t *q, float *s) {
    static const char *op = "quantize_128x128";
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    if (rows / kTile > 65535) {
        FP8LAB_ERR("%s: rows = %d exceeds the %d rows one launch handles", op, rows, 65535 * kTile);
        return -1;
    }
    CUDA_USE_DEVICE(c);
    const dim3 grid((unsigned)(cols / kTile), (unsigned)(rows / kTile));
    const int ld = fp8lab_blk_scale_ld(cols);
    const float fmax = host_fmt_max(fmt);
    if (fmt == FP8_E4M3)
        quant_128x128_kernel<__NV_E4M3><<<grid, kBThreads, 0, c->stream>>>(x, rows, cols, fmax, pow2, q, s, ld,
                                                                          c->status_dev);
    else
        quant_128x128_kernel<__NV_E5M2><<<grid, kBThreads, 0, c->stream>>>(x, rows, cols, fmax, pow2, q, s, ld,
                                                                          c->status_dev);
    CUDA_CHECK_LAUNCH("quant_128x128_kernel");
    return 0;
}

} // namespace

const fp8lab_quant_ops fp8lab_cuda_quant_ops = {
    .cast_f32_to_bf16 = fp8lab_cuda_cast_f32_to_bf16,
    .cast_bf16_to_f32 = fp8lab_cuda_cast_bf16_to_f32,
    .amax = cuda_amax,
    .quantize_tensor = cuda_quantize_tensor,
    .cast_fp8_scaled = cuda_cast_fp8_scaled,
    .quantize_1x128 = cuda_quantize_1x128,
    .quantize_1x128_t = cuda_quantize_1x128_t,
    .quantize_128x128 = cuda_quantize_128x128,
};
