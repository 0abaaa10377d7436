/* Token + position embedding (layer_ops.h), forward and backward.
   fwd:  one block per row b*T+t (threads over C): out = wte[tok] + wpe[t].
   bwd:  dwte: one block per row, atomicAdd of dout into dwte[tok] (tokens repeat; order of the adds is not
         fixed, so dwte may differ from the CPU in the last bits); dwpe: one thread per (t, c), summing over b
         in order (deterministic, coalesced over c), no atomics.
   A token outside [0, V) is never dereferenced: its row is written as zeros (fwd) or skipped (bwd), and the
   op is recorded in the status word, reported at the next sync/copy_d2h. */
#include "device_util.cuh"

namespace {

__global__ void embed_fwd_kernel(float *__restrict__ out, const int32_t *__restrict__ tok,
                                 const float *__restrict__ wte, const float *__restrict__ wpe, int T, int C, int V,
                                 unsigned *status) {
    const long long row = blockIdx.x;
    const int t = (int)(row % T);
    const int id = tok[row];
    float *o = out + row * C;
    if (id < 0 || id >= V) {
        if (threadIdx.x == 0) fp8lab_flag(status, FP8LAB_STATUS_BAD_TOKEN_EMBED_FWD);
        for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = 0.0f;
        return;
    }
    const float *e = wte + (long long)id * C;
    if (wpe) {
        const float *p = wpe + (long long)t * C;
        for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = e[c] + p[c];
    } else {
        for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = e[c];
    }
}

__global__ void embed_bwd_wte_kernel(float *__restrict__ dwte, const float *__restrict__ dout,
                                     const int32_t *__restrict__ tok, int C, int V, unsigned *status) {
    const long long row = blockIdx.x;
    const int id = tok[row];
    if (id < 0 || id >= V) {
        if (threadIdx.x == 0) fp8lab_flag(status, FP8LAB_STATUS_BAD_TOKEN_EMBED_BWD);
        return;
    }
    const float *d = dout + row * C;
    float *w = dwte + (long long)id * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(w + c, d[c]);
}

/* dwpe[t][c] += sum over b of dout[b*T+t][c]; one thread per element of dwpe, grid-stride */
__global__ void embed_bwd_wpe_kernel(float *__restrict__ dwpe, const float *__restrict__ dout, int B, int T, int C) {
    const long long n = (long long)T * C;
    const long long bstride = (long long)T * C;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += dout[b * bstride + i];
        dwpe[i] += s;
    }
}

int embed_threads(int C) {
    int t = (C + 31) / 32 * 32;
    return t < 32 ? 32 : t > 256 ? 256 : t;
}

} // namespace

int fp8lab_cuda_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe,
                          int B, int T, int C, int V) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const long long rows = (long long)B * T;
    embed_fwd_kernel<<<(unsigned)rows, embed_threads(C), 0, c->stream>>>(out, tok, wte, wpe, T, C, V, c->status_dev);
    CUDA_CHECK_LAUNCH("embed_fwd_kernel");
    return 0;
}

int fp8lab_cuda_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                          int T, int C, int V) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const long long rows = (long long)B * T;
    embed_bwd_wte_kernel<<<(unsigned)rows, embed_threads(C), 0, c->stream>>>(dwte, dout, tok, C, V, c->status_dev);
    CUDA_CHECK_LAUNCH("embed_bwd_wte_kernel");
    if (dwpe) {
        const unsigned grid = fp8lab_grid_stride_blocks(c, (long long)T * C, 256);
        embed_bwd_wpe_kernel<<<grid, 256, 0, c->stream>>>(dwpe, dout, B, T, C);
        CUDA_CHECK_LAUNCH("embed_bwd_wpe_kernel");
    }
    return 0;
}
