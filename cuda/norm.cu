/* LayerNorm and RMSNorm (layer_ops.h), forward and backward.
   One block per row (fp8lab_row_threads(C) threads, ~4 columns each), block reductions in FP32; the row is
   read once per pass (two passes for the statistics, one for the output: the re-reads hit L2/L1).
   fwd  layernorm: mean = sum x / C; var = sum (x - mean)^2 / C; rstd = 1 / sqrt(var + eps);
                   out = (x - mean) * rstd * w + b
        rmsnorm:   rstd = 1 / sqrt(sum x^2 / C + eps); out = x * rstd * w
   bwd  dx (overwrite), per row, with g = dout * w and xhat the normalized input:
        layernorm: dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
        rmsnorm:   dx = rstd * (g - xhat * mean(g * xhat)),  xhat = x * rstd
        dw (and db) += column sums over the rows: reduce.cu (fp8lab_cuda_colsum), launched before dx, so dx may
        alias dout as on the CPU (the dx kernels read each element of a row before writing it, thread by thread). */
#include "device_util.cuh"

namespace {

__global__ void layernorm_fwd_kernel(float *__restrict__ out, float *__restrict__ mean_out,
                                     float *__restrict__ rstd_out, const float *__restrict__ x,
                                     const float *__restrict__ w, const float *__restrict__ b, int C, float eps) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const float *xr = x + row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
    const float mean = fp8lab_block_sum(s, sh) / (float)C;
    float v = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float d = xr[c] - mean;
        v += d * d;
    }
    const float var = fp8lab_block_sum(v, sh) / (float)C;
    const float rstd = 1.0f / sqrtf(var + eps);
    float *o = out + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float n = (xr[c] - mean) * rstd;
        o[c] = b ? n * w[c] + b[c] : n * w[c];
    }
    if (threadIdx.x == 0) {
        mean_out[row] = mean;
        rstd_out[row] = rstd;
    }
}

__global__ void layernorm_bwd_dx_kernel(float *dx, const float *dout,
                                        const float *__restrict__ x, const float *__restrict__ w,
                                        const float *__restrict__ mean, const float *__restrict__ rstd, int C) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const float *xr = x + row * C, *dr = dout + row * C;
    const float mu = mean[row], rs = rstd[row];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float g = dr[c] * w[c];
        sg += g;
        sgx += g * ((xr[c] - mu) * rs);
    }
    const float mg = fp8lab_block_sum(sg, sh) / (float)C;
    const float mgx = fp8lab_block_sum(sgx, sh) / (float)C;
    float *o = dx + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        const float g = dr[c] * w[c];
        const float xhat = (xr[c] - mu) * rs;
        o[c] = rs * (g - mg - xhat * mgx);
    }
}

__global__ void rmsnorm_fwd_kernel(float *__restrict__ out, float *__restrict__ rstd_out, const float *__restrict__ x,
                                   const float *__restrict__ w, int C, float eps) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const float *xr = x + row * C;
    float s = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c] * xr[c];
    const float ms = fp8lab_block_sum(s, sh) / (float)C;
    const float rstd = 1.0f / sqrtf(ms + eps);
    float *o = out + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = xr[c] * rstd * w[c];
    if (threadIdx.x == 0) rstd_out[row] = rstd;
}

__global__ void rmsnorm_bwd_dx_kernel(float *dx, const float *dout,
                                      const float *__restrict__ x, const float *__restrict__ w,
                                      const float *__restrict__ rstd, int C) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const float *xr = x + row * C, *dr = dout + row * C;
    const float rs = rstd[row];
    float sgx = 0.0f;
    for (int c = threadIdx.x; c < C; c += blockDim.x) sgx += dr[c] * w[c] * (xr[c] * rs);
    const float mgx = fp8lab_block_sum(sgx, sh) / (float)C;
    float *o = dx + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = rs * (dr[c] * w[c] - xr[c] * rs * mgx);
}

} // namespace

int fp8lab_cuda_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x,
                              const float *w, const float *b, int N, int C, float eps) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    layernorm_fwd_kernel<<<(unsigned)N, fp8lab_row_threads(C), 0, c->stream>>>(out, mean, rstd, x, w, b, C, eps);
    CUDA_CHECK_LAUNCH("layernorm_fwd_kernel");
    return 0;
}

int fp8lab_cuda_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout,
                              const float *x, const float *w, const float *mean, const float *rstd, int N, int C) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    if (fp8lab_cuda_colsum(c, FP8LAB_COLSUM_LAYERNORM, dw, db, dout, x, mean, rstd, N, C)) return -1;
    layernorm_bwd_dx_kernel<<<(unsigned)N, fp8lab_row_threads(C), 0, c->stream>>>(dx, dout, x, w, mean, rstd, C);
    CUDA_CHECK_LAUNCH("layernorm_bwd_dx_kernel");
    return 0;
}

int fp8lab_cuda_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N,
                            int C, float eps) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    rmsnorm_fwd_kernel<<<(unsigned)N, fp8lab_row_threads(C), 0, c->stream>>>(out, rstd, x, w, C, eps);
    CUDA_CHECK_LAUNCH("rmsnorm_fwd_kernel");
    return 0;
}

int fp8lab_cuda_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x,
                            const float *w, const float *rstd, int N, int C) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    if (fp8lab_cuda_colsum(c, FP8LAB_COLSUM_RMSNORM, dw, NULL, dout, x, NULL, rstd, N, C)) return -1;
    rmsnorm_bwd_dx_kernel<<<(unsigned)N, fp8lab_row_threads(C), 0, c->stream>>>(dx, dout, x, w, rstd, C);
    CUDA_CHECK_LAUNCH("rmsnorm_bwd_dx_kernel");
    return 0;
}
