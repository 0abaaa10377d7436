/* Fused softmax + cross-entropy over logits[N][V] (layer_ops.h).
   One block per row (fp8lab_row_threads(V) threads, 1024 for GPT-2's 50257), two block reductions: the row
   max, then sum exp(x - max); lse = max + log(sum).
   fwd: loss = lse - x[target] (0 where target < 0).
   bwd: dlogits = (exp(x - lse) - [i == target]) * dloss, 0 rows where target < 0. dlogits may alias logits:
        every read of the row (both reductions) finishes at the block barriers inside the reductions before the
        first write, and each element is then read and written by the same thread.
   A target >= V is never dereferenced: the row gets loss 0 / zero gradient and the status word records it. */
#include "device_util.cuh"

namespace {

/* log-sum-exp of one row; every thread of the block gets it */
__device__ float row_lse(const float *x, int V, float *sh) {
    float m = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) m = fmaxf(m, x[i]);
    m = fp8lab_block_max(m, sh);
    float s = 0.0f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(x[i] - m);
    s = fp8lab_block_sum(s, sh);
    return m + logf(s);
}

__global__ void xent_fwd_kernel(float *__restrict__ loss, const float *__restrict__ logits,
                                const int32_t *__restrict__ targets, int V, unsigned *status) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const int tgt = targets[row];
    if (tgt < 0 || tgt >= V) { /* uniform over the block: no thread reaches a barrier */
        if (threadIdx.x == 0) {
            loss[row] = 0.0f;
            if (tgt >= V) fp8lab_flag(status, FP8LAB_STATUS_BAD_TARGET_XENT_FWD);
        }
        return;
    }
    const float *x = logits + row * V;
    const float l = row_lse(x, V, sh);
    if (threadIdx.x == 0) loss[row] = l - x[tgt];
}

__global__ void xent_bwd_kernel(float *dlogits, const float *logits, const int32_t *__restrict__ targets, int V,
                                float dloss, unsigned *status) {
    __shared__ float sh[32];
    const long long row = blockIdx.x;
    const int tgt = targets[row];
    float *g = dlogits + row * V;
    if (tgt < 0 || tgt >= V) {
        if (tgt >= V && threadIdx.x == 0) fp8lab_flag(status, FP8LAB_STATUS_BAD_TARGET_XENT_BWD);
        for (int i = threadIdx.x; i < V; i += blockDim.x) g[i] = 0.0f;
        return;
    }
    const float *x = logits + row * V;
    const float l = row_lse(x, V, sh);
    for (int i = threadIdx.x; i < V; i += blockDim.x) g[i] = (expf(x[i] - l) - (i == tgt ? 1.0f : 0.0f)) * dloss;
}

} // namespace

int fp8lab_cuda_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    xent_fwd_kernel<<<(unsigned)N, fp8lab_row_threads(V), 0, c->stream>>>(loss, logits, targets, V, c->status_dev);
    CUDA_CHECK_LAUNCH("xent_fwd_kernel");
    return 0;
}

int fp8lab_cuda_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N,
                         int V, float dloss) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    xent_bwd_kernel<<<(unsigned)N, fp8lab_row_threads(V), 0, c->stream>>>(dlogits, logits, targets, V, dloss,
                                                                          c->status_dev);
    CUDA_CHECK_LAUNCH("xent_bwd_kernel");
    return 0;
}
