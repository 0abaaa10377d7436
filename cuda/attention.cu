/* Causal (grouped-query) attention (layer_ops.h), FP32, without materialising the T x T scores.
   D = 64 and 128 (GPT-2, Llama) go to the TF32 tensor-core kernels of attention_tc.cu (FlashAttention-2 tiles,
   ~1e-3 relative error); the kernels below are the FP32 path for every other head size (and for unaligned
   tensors), and give the backward's dsum to both paths.
   q, out, dout, dq: [B][T][Hq][D]; k, v, dk, dv: [B][T][Hkv][D]; lse: [B][Hq][T]; query head h reads
   key/value head h / (Hq/Hkv); scale = 1/sqrt(D).

   One warp per output row, lanes across D (lane l holds d = l, l + 32, ...; every row read is coalesced), dot
   products by warp shuffle. Blocks of 4 warps take 4 consecutive rows of one head, so their key/value reads
   overlap in L1/L2. Heavy rows (long causal prefixes) are scheduled first.
   - fwd: warp per query row (b, h, t): one pass over keys 0..t with an online softmax (running max m, running
     sum l, accumulator rescaled when m grows); out = acc / l, lse = m + log l.
   - bwd, as in the CPU reference, with P_tj = exp(scale q_t.k_j - lse_t) recomputed, dsum_t = dout_t . out_t,
     dS_tj = P_tj (dout_t . v_j - dsum_t):
       dsum kernel: warp per query row -> scratch [B][Hq][T] (fp8lab_cuda_tmp);
       dq kernel:   warp per query row, dq_t = scale sum_{j<=t} dS_tj k_j;
       dkv kernel:  warp per key row (b, hk, j), over the query heads of its group and t >= j:
                    dv_j = sum P_tj dout_t, dk_j = scale sum dS_tj q_t (each dk/dv row owned by one warp: no
                    atomics, deterministic).
   Rows live in registers (DPL = ceil(D/32) floats per lane, D <= 256); larger heads run the same kernels with
   the rows read in place and the accumulators in the (warp-owned) output rows in global memory. */
#include "attention_tc.cuh"
#include "device_util.cuh"

namespace {

#define ATTN_WARPS 4

struct attn_dims {
    int B, T, Hq, Hkv, D, group;
    float scale;
};

/* ---- rows ------------------------------------------------------------------------------------------------
   A kernel reads some rows (q, k, v, dout) and accumulates into others (out, dq, dk, dv). Up to D = 32 DPL both
   live in registers, DPL floats per lane (in_regs, acc_regs); wider heads read rows where they lie and accumulate
   in the warp's own output row in global memory (in_global, acc_global). Each kernel is written once over a pair
   of these; lane l always touches d = l, l + 32, ..., so no two lanes share an element of a row in global memory. */
template <int DPL>
struct in_regs {
    float r[DPL];
    __device__ __forceinline__ in_regs(const float *p, int D, int lane) {
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            r[i] = d < D ? p[d] : 0.0f;
        }
    }
    /* this row . x, the whole warp's sum */
    __device__ __forceinline__ float dot(const float *x, int D, int lane) const {
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < D) s += r[i] * x[d];
        }
        return fp8lab_warp_sum(s);
    }
};

/* warp-wide dot product of two rows in global memory */
__device__ __forceinline__ float dot_global(const float *a, const float *b, int D, int lane) {
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += a[d] * b[d];
    return fp8lab_warp_sum(s);
}

struct in_global {
    const float *p;
    __device__ __forceinline__ in_global(const float *row, int, int) : p(row) {}
    __device__ __forceinline__ float dot(const float *x, int D, int lane) const { return dot_global(p, x, D, lane); }
};

template <int DPL>
struct acc_regs {
    float r[DPL];
    float *home; /* the output row */
    __device__ __forceinline__ acc_regs(float *row, int, int) : home(row) {
#pragma unroll
        for (int i = 0; i < DPL; i++) r[i] = 0.0f;
    }
    /* row = keep * row + w * x */
    __device__ __forceinline__ void update(float keep, float w, const float *x, int D, int lane) {
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            r[i] = r[i] * keep + (d < D ? w * x[d] : 0.0f);
        }
    }
    /* row += w * x */
    __device__ __forceinline__ void add(float w, const float *x, int D, int lane) {
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < D) r[i] += w * x[d];
        }
    }
    /* the output row = mul * row */
    __device__ __forceinline__ void finish(float mul, int D, int lane) {
#pragma unroll
        for (int i = 0; i < DPL; i++) {
            const int d = lane + 32 * i;
            if (d < D) home[d] = r[i] * mul;
        }
    }
};

struct acc_global {
    float *home;
    __device__ __forceinline__ acc_global(float *row, int D, int lane) : home(row) {
        for (int d = lane; d < D; d += 32) home[d] = 0.0f;
    }
    __device__ __forceinline__ void update(float keep, float w, const float *x, int D, int lane) {
        for (int d = lane; d < D; d += 32) home[d] = home[d] * keep + w * x[d];
    }
    __device__ __forceinline__ void add(float w, const float *x, int D, int lane) {
        for (int d = lane; d < D; d += 32) home[d] += w * x[d];
    }
    __device__ __forceinline__ void finish(float mul, int D, int lane) {
        if (mul != 1.0f)
            for (int d = lane; d < D; d += 32) home[d] *= mul;
    }
};

/* Query row index w in [0, B*Hq*T): (b, h) outer, t reversed (longest prefixes first). */
__device__ __forceinline__ void query_row(long long w, const attn_dims &a, int &b, int &h, int &t) {
    t = a.T - 1 - (int)(w % a.T);
    const long long bh = w / a.T;
    h = (int)(bh % a.Hq);
    b = (int)(bh / a.Hq);
}

__device__ __forceinline__ long long q_off(const attn_dims &a, int b, int t, int h) {
    return (((long long)b * a.T + t) * a.Hq + h) * a.D;
}
__device__ __forceinline__ long long kv_off(const attn_dims &a, int b, int t, int hk) {
    return (((long long)b * a.T + t) * a.Hkv + hk) * a.D;
}
__device__ __forceinline__ long long lse_off(const attn_dims &a, int b, int h, int t) {
    return ((long long)b * a.Hq + h) * a.T + t;
}

/* ---- forward ---------------------------------------------------------------------------------------------- */
template <class In, class Acc>
__global__ void __launch_bounds__(32 * ATTN_WARPS) attn_fwd_kernel(float *__restrict__ out, float *__restrict__ lse,
                                                                   const float *__restrict__ q,
                                                                   const float *__restrict__ k,
                                                                   const float *__restrict__ v, attn_dims a) {
    const long long w = (long long)blockIdx.x * ATTN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long long)a.B * a.Hq * a.T) return; /* whole warps only: no block-level barriers below */
    int b, h, t;
    query_row(w, a, b, h, t);
    const int hk = h / a.group;
    const long long kv_stride = (long long)a.Hkv * a.D;
    const float *kp = k + kv_off(a, b, 0, hk), *vp = v + kv_off(a, b, 0, hk);
    const In qr(q + q_off(a, b, t, h), a.D, lane);
    Acc acc(out + q_off(a, b, t, h), a.D, lane);
    float m = -INFINITY, l = 0.0f;
    for (int j = 0; j <= t; j++, kp += kv_stride, vp += kv_stride) {
        const float s = qr.dot(kp, a.D, lane) * a.scale;
        const float m_new = fmaxf(m, s);
        const float corr = expf(m - m_new); /* 0 on the first key (m = -inf) */
        const float p = expf(s - m_new);
        l = l * corr + p;
        acc.update(corr, p, vp, a.D, lane);
        m = m_new;
    }
    acc.finish(1.0f / l, a.D, lane);
    if (lane == 0) lse[lse_off(a, b, h, t)] = m + logf(l);
}

/* ---- backward --------------------------------------------------------------------------------------------- */
/* dsum[b][h][t] = dout_t . out_t */
__global__ void __launch_bounds__(32 * ATTN_WARPS) attn_dsum_kernel(float *__restrict__ dsum,
                                                                    const float *__restrict__ dout,
                                                                    const float *__restrict__ out, attn_dims a) {
    const long long w = (long long)blockIdx.x * ATTN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long long)a.B * a.Hq * a.T) return;
    int b, h, t;
    query_row(w, a, b, h, t);
    const long long o = q_off(a, b, t, h);
    const float s = dot_global(dout + o, out + o, a.D, lane);
    if (lane == 0) dsum[lse_off(a, b, h, t)] = s;
}

template <class In, class Acc>
__global__ void __launch_bounds__(32 * ATTN_WARPS) attn_dq_kernel(float *__restrict__ dq, const float *__restrict__ dout,
                                                                  const float *__restrict__ lse,
                                                                  const float *__restrict__ dsum,
                                                                  const float *__restrict__ q,
                                                                  const float *__restrict__ k,
                                                                  const float *__restrict__ v, attn_dims a) {
    const long long w = (long long)blockIdx.x * ATTN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long long)a.B * a.Hq * a.T) return;
    int b, h, t;
    query_row(w, a, b, h, t);
    const int hk = h / a.group;
    const long long kv_stride = (long long)a.Hkv * a.D;
    const float *kp = k + kv_off(a, b, 0, hk), *vp = v + kv_off(a, b, 0, hk);
    const In qr(q + q_off(a, b, t, h), a.D, lane), dr(dout + q_off(a, b, t, h), a.D, lane);
    Acc acc(dq + q_off(a, b, t, h), a.D, lane);
    const float L = lse[lse_off(a, b, h, t)], ds0 = dsum[lse_off(a, b, h, t)];
    for (int j = 0; j <= t; j++, kp += kv_stride, vp += kv_stride) {
        const float p = expf(qr.dot(kp, a.D, lane) * a.scale - L);
        const float ds = p * (dr.dot(vp, a.D, lane) - ds0);
        acc.add(ds, kp, a.D, lane);
    }
    acc.finish(a.scale, a.D, lane);
}

/* Key row index w in [0, B*Hkv*T): (b, hk) outer, j ascending (longest suffixes first). */
__device__ __forceinline__ void key_row(long long w, const attn_dims &a, int &b, int &hk, int &j) {
    j = (int)(w % a.T);
    const long long bh = w / a.T;
    hk = (int)(bh % a.Hkv);
    b = (int)(bh / a.Hkv);
}

template <class In, class Acc>
__global__ void __launch_bounds__(32 * ATTN_WARPS) attn_dkv_kernel(float *__restrict__ dk, float *__restrict__ dv,
                                                                   const float *__restrict__ dout,
                                                                   const float *__restrict__ lse,
                                                                   const float *__restrict__ dsum,
                                                                   const float *__restrict__ q,
                                                                   const float *__restrict__ k,
                                                                   const float *__restrict__ v, attn_dims a) {
    const long long w = (long long)blockIdx.x * ATTN_WARPS + (threadIdx.x >> 5);
    const int lane = threadIdx.x & 31;
    if (w >= (long long)a.B * a.Hkv * a.T) return;
    int b, hk, j;
    key_row(w, a, b, hk, j);
    const In kr(k + kv_off(a, b, j, hk), a.D, lane), vr(v + kv_off(a, b, j, hk), a.D, lane);
    Acc dka(dk + kv_off(a, b, j, hk), a.D, lane), dva(dv + kv_off(a, b, j, hk), a.D, lane);
    const long long q_stride = (long long)a.Hq * a.D;
    for (int h = hk * a.group; h < (hk + 1) * a.group; h++) {
        const float *qp = q + q_off(a, b, j, h), *dp = dout + q_off(a, b, j, h);
        const float *Lp = lse + lse_off(a, b, h, 0), *Sp = dsum + lse_off(a, b, h, 0);
        for (int t = j; t < a.T; t++, qp += q_stride, dp += q_stride) {
            const float p = expf(kr.dot(qp, a.D, lane) * a.scale - Lp[t]);
            const float ds = p * (vr.dot(dp, a.D, lane) - Sp[t]);
            dva.add(p, dp, a.D, lane);
            dka.add(ds, qp, a.D, lane);
        }
    }
    dka.finish(a.scale, a.D, lane);
    dva.finish(1.0f, a.D, lane);
}

attn_dims dims_of(const fp8lab_attn_shape &s) {
    attn_dims a;
    a.B = s.B;
    a.T = s.T;
    a.Hq = s.Hq;
    a.Hkv = s.Hkv;
    a.D = s.D;
    a.group = s.Hq / s.Hkv;
    a.scale = 1.0f / sqrtf((float)s.D);
    return a;
}

unsigned warp_blocks(long long rows) { return (unsigned)((rows + ATTN_WARPS - 1) / ATTN_WARPS); }

/* Picks the register variant for D (DPL = 1, 2, 4, 8 floats per lane) or the wide one. */
#define ATTN_DISPATCH(KERNEL, grid, c, ...)                                                                    \
    do {                                                                                                      \
        const dim3 block_(32 * ATTN_WARPS);                                                                   \
        if (a.D <= 32) KERNEL<in_regs<1>, acc_regs<1>><<<grid, block_, 0, (c)->stream>>>(__VA_ARGS__);        \
        else if (a.D <= 64) KERNEL<in_regs<2>, acc_regs<2>><<<grid, block_, 0, (c)->stream>>>(__VA_ARGS__);   \
        else if (a.D <= 128) KERNEL<in_regs<4>, acc_regs<4>><<<grid, block_, 0, (c)->stream>>>(__VA_ARGS__);  \
        else if (a.D <= 256) KERNEL<in_regs<8>, acc_regs<8>><<<grid, block_, 0, (c)->stream>>>(__VA_ARGS__);  \
        else KERNEL<in_global, acc_global><<<grid, block_, 0, (c)->stream>>>(__VA_ARGS__);                    \
        CUDA_CHECK_LAUNCH(#KERNEL);                                                                           \
    } while (0)

} // namespace

int fp8lab_cuda_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                         fp8lab_attn_shape s) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const float *const ptrs[] = {out, q, k, v};
    if (fp8lab_attn_tc_usable(s, ptrs, 4)) return fp8lab_attn_tc_fwd(c, out, lse, q, k, v, s);
    const attn_dims a = dims_of(s);
    const unsigned grid = warp_blocks((long long)a.B * a.Hq * a.T);
    ATTN_DISPATCH(attn_fwd_kernel, grid, c, out, lse, q, k, v, a);
    return 0;
}

int fp8lab_cuda_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                         const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s) {
    fp8lab_cuda_ctx *c = fp8lab_cuda_ctx_of(be);
    CUDA_USE_DEVICE(c);
    const attn_dims a = dims_of(s);
    const long long qrows = (long long)a.B * a.Hq * a.T, krows = (long long)a.B * a.Hkv * a.T;
    void *tmp = NULL;
    if (fp8lab_cuda_tmp(c, sizeof(float) * (size_t)qrows, &tmp)) return -1;
    float *dsum = (float *)tmp;
    attn_dsum_kernel<<<warp_blocks(qrows), 32 * ATTN_WARPS, 0, c->stream>>>(dsum, dout, out, a);
    CUDA_CHECK_LAUNCH("attn_dsum_kernel");
    const float *const ptrs[] = {dq, dk, dv, dout, q, k, v};
    if (fp8lab_attn_tc_usable(s, ptrs, 7)) return fp8lab_attn_tc_bwd(c, dq, dk, dv, dout, lse, dsum, q, k, v, s);
    ATTN_DISPATCH(attn_dq_kernel, warp_blocks(qrows), c, dq, dout, lse, dsum, q, k, v, a);
    ATTN_DISPATCH(attn_dkv_kernel, warp_blocks(krows), c, dk, dv, dout, lse, dsum, q, k, v, a);
    return 0;
}
