/* Column sums over the rows of [N][C] tensors, added into parameter gradients (internal.cuh,
   fp8lab_cuda_colsum): bias_bwd, and dw/db of layernorm_bwd and rmsnorm_bwd.

   Launch: blocks of 32 x 8 threads; block (bx, by) owns columns [32 bx, 32 bx + 32) (threadIdx.x: one column,
   so each row's 32 loads are one 128-byte transaction) and a slab of rows (threadIdx.y strides the slab by 8);
   the 8 partial sums of a column are added in shared memory. When one slab covers all rows (gridDim.y == 1) the
   result is added with a plain read-modify-write (deterministic); otherwise each slab atomicAdds its partial.
   The slab count is chosen to give about 2 blocks per SM. */
#include "device_util.cuh"

namespace {

template <int MODE>
__global__ void __launch_bounds__(256) colsum_kernel(float *__restrict__ acc1, float *__restrict__ acc2,
                                                     const float *__restrict__ dout, const float *__restrict__ x,
                                                     const float *__restrict__ mean, const float *__restrict__ rstd,
                                                     int N, int C, int rows_per_slab) {
    __shared__ float s1[8][33], s2[8][33];
    const int c = blockIdx.x * 32 + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_slab;
    const int r1 = min(N, r0 + rows_per_slab);
    float a1 = 0.0f, a2 = 0.0f;
    if (c < C) {
        for (int n = r0 + threadIdx.y; n < r1; n += 8) {
            const long long i = (long long)n * C + c;
            const float g = dout[i];
            if (MODE == FP8LAB_COLSUM_PLAIN) {
                a1 += g;
            } else if (MODE == FP8LAB_COLSUM_LAYERNORM) {
                a1 += g * ((x[i] - mean[n]) * rstd[n]);
                a2 += g;
            } else {
                a1 += g * (x[i] * rstd[n]);
            }
        }
    }
    s1[threadIdx.y][threadIdx.x] = a1;
    s2[threadIdx.y][threadIdx.x] = a2;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t1 = 0.0f, t2 = 0.0f;
        for (int k = 0; k < 8; k++) {
            t1 += s1[k][threadIdx.x];
            t2 += s2[k][threadIdx.x];
        }
        if (gridDim.y == 1) {
            acc1[c] += t1;
            if (MODE == FP8LAB_COLSUM_LAYERNORM && acc2) acc2[c] += t2;
        } else {
            atomicAdd(acc1 + c, t1);
            if (MODE == FP8LAB_COLSUM_LAYERNORM && acc2) atomicAdd(acc2 + c, t2);
        }
    }
}

} // namespace

int fp8lab_cuda_colsum(fp8lab_cuda_ctx *c, int mode, float *acc1, float *acc2, const float *dout, const float *x,
                       const float *mean, const float *rstd, int N, int C) {
    const int gx = (C + 31) / 32;
    /* slabs: about 2 blocks per SM in all, each at least 64 rows, at most 65535 of them */
    long long want = ((long long)c->sm_count * 2 + gx - 1) / gx;
    const long long max_slabs = ((long long)N + 63) / 64;
    if (want > max_slabs) want = max_slabs;
    if (want > 65535) want = 65535;
    if (want < 1) want = 1;
    const int rows_per_slab = (int)(((long long)N + want - 1) / want);
    const unsigned gy = (unsigned)(((long long)N + rows_per_slab - 1) / rows_per_slab);
    const dim3 grid((unsigned)gx, gy), block(32, 8);
    switch (mode) {
    case FP8LAB_COLSUM_PLAIN:
        colsum_kernel<FP8LAB_COLSUM_PLAIN><<<grid, block, 0, c->stream>>>(acc1, acc2, dout, x, mean, rstd, N, C,
                                                                          rows_per_slab);
        CUDA_CHECK_LAUNCH("colsum_kernel<plain>");
        break;
    case FP8LAB_COLSUM_LAYERNORM:
        colsum_kernel<FP8LAB_COLSUM_LAYERNORM><<<grid, block, 0, c->stream>>>(acc1, acc2, dout, x, mean, rstd, N, C,
                                                                              rows_per_slab);
        CUDA_CHECK_LAUNCH("colsum_kernel<layernorm>");
        break;
    default:
        colsum_kernel<FP8LAB_COLSUM_RMSNORM><<<grid, block, 0, c->stream>>>(acc1, acc2, dout, x, mean, rstd, N, C,
                                                                            rows_per_slab);
        CUDA_CHECK_LAUNCH("colsum_kernel<rmsnorm>");
        break;
    }
    return 0;
}
