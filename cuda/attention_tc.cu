/* Causal (grouped-query) attention on TF32 tensor cores, FlashAttention-2 style, for D = 64 and 128.
   Layouts as in attention.cu: q, out, dout, dq [B][T][Hq][D]; k, v, dk, dv [B][T][Hkv][D]; lse, dsum [B][Hq][T].

   Tensors stay FP32 in memory. Tiles are staged in shared memory already rounded to TF32 (cvt.rna, once per
   element rather than once per use), rows padded to D + 4 floats so that every fragment load below is free of
   bank conflicts. Products use mma.sync m16n8k8 (TF32 in, FP32 accumulate); softmax statistics are FP32, in
   base 2 (scores pre-multiplied by scale * log2 e, lse converted back to natural log on the way out).

   Fragments (PTX ISA, m16n8k8 .tf32; g = lane / 4, t = lane % 4):
     A 16x8: a0 (g, t)  a1 (g+8, t)  a2 (g, t+4)  a3 (g+8, t+4)
     B 8x8:  b0 (k=t, n=g)  b1 (k=t+4, n=g)
     C 16x8: c0 (g, 2t)  c1 (g, 2t+1)  c2 (g+8, 2t)  c3 (g+8, 2t+1)
   A product whose left operand is a C fragment (P V, P^T dO, dS K, dS^T Q) uses it as A without shuffles by
   permuting the summed index within each group of 8: A column k=t holds C column 2t, k=t+4 holds 2t+1, so the
   B operand reads rows 2t and 2t+1 of the tile (mma_regs_tile).

   Kernels, 4 warps per block, each warp owning 16 MT rows of the block's 64 MT (MT = 1 or 2, tc_cfg):
     fwd: block (b, h, 64 MT queries), key tiles of BC up to the diagonal; S = Q K^T, causal mask on the tiles that
          cross the diagonal, online softmax (running max m, per-thread partial sums l), O += P V; out = O / l,
          lse = m ln 2 + ln l.
     dq:  block (b, h, 64 MT queries), the same key loop; P = exp(S - lse), dP = dO V^T, dS = P (dP - dsum),
          dQ += dS K. A separate pass instead of atomics: dq is deterministic, at the cost of recomputing S and dP.
     dkv: block (b, kv head, 64 MT keys), over the query heads of its group and the query tiles (BQ) from the
          diagonal on: S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q. Each dk/dv row is owned by one
          block: no atomics.
   Rows past T are loaded as zeros (scores stay finite) and never stored. Shared memory per block is at most
   99 KB (sm_89's opt-in limit). The lane-level emulation these kernels were written against (same tiles, masks,
   fragment layouts, TF32 rounding and summation order, checked against fp64) is described in the test's
   TOL_ATTN_TF32 comment. */
#include "attention_tc.cuh"
#include "device_util.cuh"

namespace {

constexpr int TC_WARPS = 4, TC_THREADS = 32 * TC_WARPS;
constexpr float TC_LOG2E = 1.4426950408889634f;
constexpr float TC_LN2 = 0.6931471805599453f;

struct tc_dims {
    int T, Hq, Hkv, group;
    float scale;
};

__device__ __forceinline__ uint32_t to_tf32(float x) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
}

/* c += A B, one m16n8k8 TF32 product */
__device__ __forceinline__ void mma_tf32(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* ROWS rows t0 .. t0+ROWS-1 of one head into sm[ROWS][D+4] as TF32; g points at (b, t = 0, head, d = 0) and
   consecutive t are row_stride floats apart. Rows at or past T are zeros. */
template <int D, int ROWS>
__device__ __forceinline__ void load_tile(uint32_t *__restrict__ sm, const float *__restrict__ g, long long row_stride,
                                          int t0, int T) {
    constexpr int C4 = D / 4, DP = D + 4;
#pragma unroll 4
    for (int i = threadIdx.x; i < ROWS * C4; i += TC_THREADS) {
        const int r = i / C4, c = i % C4, t = t0 + r;
        float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (t < T) x = __ldg(reinterpret_cast<const float4 *>(g + (long long)t * row_stride) + c);
        *reinterpret_cast<uint4 *>(sm + r * DP + 4 * c) =
            make_uint4(to_tf32(x.x), to_tf32(x.y), to_tf32(x.z), to_tf32(x.w));
    }
}

/* c[mt][nb] (16 MT x 8 NB) += A B^T: A = the warp's 16 MT rows of a tile (As points at its first row), B = the
   rows of Bs, summed over d < D. Each B fragment serves the MT row blocks (shared-memory traffic / MT). */
template <int D, int MT, int NB>
__device__ __forceinline__ void mma_rows_rows(float (&c)[MT][NB][4], const uint32_t *__restrict__ As,
                                              const uint32_t *__restrict__ Bs, int g, int t) {
    constexpr int DP = D + 4;
#pragma unroll
    for (int kk = 0; kk < D / 8; kk++) {
        uint32_t af[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            const uint32_t *ap = As + (16 * mt + g) * DP + kk * 8 + t;
            af[mt][0] = ap[0];
            af[mt][1] = ap[8 * DP];
            af[mt][2] = ap[4];
            af[mt][3] = ap[8 * DP + 4];
        }
#pragma unroll
        for (int nb = 0; nb < NB; nb++) {
            const uint32_t *bp = Bs + (nb * 8 + g) * DP + kk * 8 + t;
            const uint32_t b0 = bp[0], b1 = bp[4];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) mma_tf32(c[mt][nb], af[mt][0], af[mt][1], af[mt][2], af[mt][3], b0, b1);
        }
    }
}

/* acc[mt] (16 MT x D) += P Bs: P = 16 MT x 8 NB in C fragments (registers), Bs = 8 NB rows of D; the summed
   index is permuted within each group of 8 (header). */
template <int D, int MT, int NB>
__device__ __forceinline__ void mma_regs_tile(float (&acc)[MT][D / 8][4], const float (&p)[MT][NB][4],
                                              const uint32_t *__restrict__ Bs, int g, int t) {
    constexpr int DP = D + 4;
#pragma unroll
    for (int kb = 0; kb < NB; kb++) {
        uint32_t af[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            af[mt][0] = to_tf32(p[mt][kb][0]);
            af[mt][1] = to_tf32(p[mt][kb][2]);
            af[mt][2] = to_tf32(p[mt][kb][1]);
            af[mt][3] = to_tf32(p[mt][kb][3]);
        }
        const uint32_t *bp = Bs + (kb * 8 + 2 * t) * DP + g;
#pragma unroll
        for (int nd = 0; nd < D / 8; nd++) {
            const uint32_t b0 = bp[nd * 8], b1 = bp[DP + nd * 8];
#pragma unroll
            for (int mt = 0; mt < MT; mt++) mma_tf32(acc[mt][nd], af[mt][0], af[mt][1], af[mt][2], af[mt][3], b0, b1);
        }
    }
}

template <int MT, int N> __device__ __forceinline__ void zero(float (&x)[MT][N][4]) {
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int n = 0; n < N; n++) x[mt][n][0] = x[mt][n][1] = x[mt][n][2] = x[mt][n][3] = 0.0f;
}

__device__ __forceinline__ float quad_max(float x) {
    x = fmaxf(x, __shfl_xor_sync(FP8LAB_FULL_MASK, x, 1));
    return fmaxf(x, __shfl_xor_sync(FP8LAB_FULL_MASK, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
    x += __shfl_xor_sync(FP8LAB_FULL_MASK, x, 1);
    return x + __shfl_xor_sync(FP8LAB_FULL_MASK, x, 2);
}

/* ---- forward ---------------------------------------------------------------------------------------------- */
/* grid (ceil(T / (64 MT)), B * Hq): the tiles of one head run together (its K, V stay in L2), the longest
   prefixes first */
template <int D, int MT, int BC>
__global__ void __launch_bounds__(TC_THREADS) attn_tc_fwd_kernel(float *__restrict__ out, float *__restrict__ lse,
                                                                 const float *__restrict__ q,
                                                                 const float *__restrict__ k,
                                                                 const float *__restrict__ v, tc_dims a) {
    constexpr int DP = D + 4, NB = BC / 8, ND = D / 8, ROWS = TC_WARPS * 16 * MT;
    extern __shared__ __align__(16) uint32_t tc_smem[];
    uint32_t *Qs = tc_smem, *Ks = Qs + ROWS * DP, *Vs = Ks + BC * DP;
    const int b = blockIdx.y / a.Hq, h = blockIdx.y % a.Hq, hk = h / a.group;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ROWS;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, rw = (threadIdx.x >> 5) * 16 * MT;
    const long long qstride = (long long)a.Hq * D, kstride = (long long)a.Hkv * D;
    const float *qb = q + ((long long)b * a.T * a.Hq + h) * D;
    const float *kb = k + ((long long)b * a.T * a.Hkv + hk) * D, *vb = v + ((long long)b * a.T * a.Hkv + hk) * D;
    load_tile<D, ROWS>(Qs, qb, qstride, q0, a.T);

    const float sl2 = a.scale * TC_LOG2E;
    float o[MT][ND][4], m[MT][2], l[MT][2];
    zero(o);
#pragma unroll
    for (int mt = 0; mt < MT; mt++) {
        m[mt][0] = m[mt][1] = -INFINITY;
        l[mt][0] = l[mt][1] = 0.0f;
    }
    const int k_end = min(q0 + ROWS, a.T);
    for (int k0 = 0; k0 < k_end; k0 += BC) {
        __syncthreads(); /* everyone is done with the previous K/V tile */
        load_tile<D, BC>(Ks, kb, kstride, k0, a.T);
        load_tile<D, BC>(Vs, vb, kstride, k0, a.T);
        __syncthreads();
        if (k0 > q0 + rw + 16 * MT - 1) continue; /* the whole tile lies above this warp's rows: all masked */
        float s[MT][NB][4];
        zero(s);
        mma_rows_rows<D, MT, NB>(s, Qs + rw * DP, Ks, g, t);

        /* Every row has key 0 unmasked in the first tile, so m is finite from then on: no inf - inf. */
        const bool diag = k0 + BC - 1 > q0;
#pragma unroll
        for (int mt = 0; mt < MT; mt++) {
            float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
            for (int nb = 0; nb < NB; nb++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    float x = s[mt][nb][r] * sl2;
                    if (diag && k0 + nb * 8 + 2 * t + (r & 1) > q0 + rw + 16 * mt + g + 8 * (r >> 1)) x = -INFINITY;
                    s[mt][nb][r] = x;
                    mx[r >> 1] = fmaxf(mx[r >> 1], x);
                }
            float corr[2];
#pragma unroll
            for (int i = 0; i < 2; i++) {
                const float mn = fmaxf(m[mt][i], quad_max(mx[i]));
                corr[i] = exp2f(m[mt][i] - mn); /* 0 on the first tile (m = -inf) */
                m[mt][i] = mn;
            }
            float ls[2] = {0.0f, 0.0f};
#pragma unroll
            for (int nb = 0; nb < NB; nb++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    const float p = exp2f(s[mt][nb][r] - m[mt][r >> 1]);
                    s[mt][nb][r] = p;
                    ls[r >> 1] += p;
                }
            l[mt][0] = l[mt][0] * corr[0] + ls[0];
            l[mt][1] = l[mt][1] * corr[1] + ls[1];
#pragma unroll
            for (int nd = 0; nd < ND; nd++) {
                o[mt][nd][0] *= corr[0];
                o[mt][nd][1] *= corr[0];
                o[mt][nd][2] *= corr[1];
                o[mt][nd][3] *= corr[1];
            }
        }
        mma_regs_tile<D, MT, NB>(o, s, Vs, g, t);
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const float lsum = quad_sum(l[mt][i]); /* every lane, before any of them skips a row */
            const int row = q0 + rw + 16 * mt + g + 8 * i;
            if (row >= a.T) continue;
            const float inv = 1.0f / lsum;
            float *op = out + (((long long)b * a.T + row) * a.Hq + h) * D + 2 * t;
#pragma unroll
            for (int nd = 0; nd < ND; nd++)
                *reinterpret_cast<float2 *>(op + nd * 8) =
                    make_float2(o[mt][nd][2 * i] * inv, o[mt][nd][2 * i + 1] * inv);
            if (t == 0) lse[((long long)b * a.Hq + h) * a.T + row] = m[mt][i] * TC_LN2 + logf(lsum);
        }
}

/* ---- backward: dq ----------------------------------------------------------------------------------------- */
/* grid (ceil(T / (64 MT)), B * Hq), ordered as the forward's */
template <int D, int MT, int BC>
__global__ void __launch_bounds__(TC_THREADS) attn_tc_dq_kernel(float *__restrict__ dq, const float *__restrict__ dout,
                                                                const float *__restrict__ lse,
                                                                const float *__restrict__ dsum,
                                                                const float *__restrict__ q,
                                                                const float *__restrict__ k,
                                                                const float *__restrict__ v, tc_dims a) {
    constexpr int DP = D + 4, NB = BC / 8, ND = D / 8, ROWS = TC_WARPS * 16 * MT;
    extern __shared__ __align__(16) uint32_t tc_smem[];
    uint32_t *Qs = tc_smem, *dOs = Qs + ROWS * DP, *Ks = dOs + ROWS * DP, *Vs = Ks + BC * DP;
    const int b = blockIdx.y / a.Hq, h = blockIdx.y % a.Hq, hk = h / a.group;
    const int q0 = (gridDim.x - 1 - blockIdx.x) * ROWS;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, rw = (threadIdx.x >> 5) * 16 * MT;
    const long long qstride = (long long)a.Hq * D, kstride = (long long)a.Hkv * D;
    const long long qhead = ((long long)b * a.T * a.Hq + h) * D, khead = ((long long)b * a.T * a.Hkv + hk) * D;
    load_tile<D, ROWS>(Qs, q + qhead, qstride, q0, a.T);
    load_tile<D, ROWS>(dOs, dout + qhead, qstride, q0, a.T);

    const float sl2 = a.scale * TC_LOG2E;
    const float *Lh = lse + ((long long)b * a.Hq + h) * a.T, *Dh = dsum + ((long long)b * a.Hq + h) * a.T;
    float L2[MT][2], dl[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int row = q0 + rw + 16 * mt + g + 8 * i;
            L2[mt][i] = row < a.T ? Lh[row] * TC_LOG2E : 0.0f;
            dl[mt][i] = row < a.T ? Dh[row] : 0.0f;
        }
    float acc[MT][ND][4];
    zero(acc);
    const int k_end = min(q0 + ROWS, a.T);
    for (int k0 = 0; k0 < k_end; k0 += BC) {
        __syncthreads();
        load_tile<D, BC>(Ks, k + khead, kstride, k0, a.T);
        load_tile<D, BC>(Vs, v + khead, kstride, k0, a.T);
        __syncthreads();
        if (k0 > q0 + rw + 16 * MT - 1) continue; /* all masked for this warp */
        float s[MT][NB][4], dp[MT][NB][4];
        zero(s);
        zero(dp);
        mma_rows_rows<D, MT, NB>(s, Qs + rw * DP, Ks, g, t);
        mma_rows_rows<D, MT, NB>(dp, dOs + rw * DP, Vs, g, t);
        const bool diag = k0 + BC - 1 > q0;
#pragma unroll
        for (int mt = 0; mt < MT; mt++)
#pragma unroll
            for (int nb = 0; nb < NB; nb++)
#pragma unroll
                for (int r = 0; r < 4; r++) {
                    float p = exp2f(s[mt][nb][r] * sl2 - L2[mt][r >> 1]);
                    if (diag && k0 + nb * 8 + 2 * t + (r & 1) > q0 + rw + 16 * mt + g + 8 * (r >> 1)) p = 0.0f;
                    s[mt][nb][r] = p * (dp[mt][nb][r] - dl[mt][r >> 1]); /* dS */
                }
        mma_regs_tile<D, MT, NB>(acc, s, Ks, g, t);
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int row = q0 + rw + 16 * mt + g + 8 * i;
            if (row >= a.T) continue;
            float *dqp = dq + (((long long)b * a.T + row) * a.Hq + h) * D + 2 * t;
#pragma unroll
            for (int nd = 0; nd < ND; nd++)
                *reinterpret_cast<float2 *>(dqp + nd * 8) =
                    make_float2(acc[mt][nd][2 * i] * a.scale, acc[mt][nd][2 * i + 1] * a.scale);
        }
}

/* ---- backward: dk, dv ------------------------------------------------------------------------------------- */
/* grid (ceil(T / (64 MT)), B * Hkv): the key tiles of one kv head run together (its group's Q, dO stay in L2),
   the longest suffixes (first key tiles) first */
template <int D, int MT, int BQ>
__global__ void __launch_bounds__(TC_THREADS) attn_tc_dkv_kernel(float *__restrict__ dk, float *__restrict__ dv,
                                                                 const float *__restrict__ dout,
                                                                 const float *__restrict__ lse,
                                                                 const float *__restrict__ dsum,
                                                                 const float *__restrict__ q,
                                                                 const float *__restrict__ k,
                                                                 const float *__restrict__ v, tc_dims a) {
    constexpr int DP = D + 4, NB = BQ / 8, ND = D / 8, ROWS = TC_WARPS * 16 * MT;
    extern __shared__ __align__(16) uint32_t tc_smem[];
    uint32_t *Ks = tc_smem, *Vs = Ks + ROWS * DP, *Qs = Vs + ROWS * DP, *dOs = Qs + BQ * DP;
    const int b = blockIdx.y / a.Hkv, hk = blockIdx.y % a.Hkv;
    const int k0 = blockIdx.x * ROWS;
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3, rw = (threadIdx.x >> 5) * 16 * MT;
    const long long qstride = (long long)a.Hq * D, kstride = (long long)a.Hkv * D;
    const long long khead = ((long long)b * a.T * a.Hkv + hk) * D;
    load_tile<D, ROWS>(Ks, k + khead, kstride, k0, a.T);
    load_tile<D, ROWS>(Vs, v + khead, kstride, k0, a.T);

    const float sl2 = a.scale * TC_LOG2E;
    float dka[MT][ND][4], dva[MT][ND][4];
    zero(dka);
    zero(dva);
    for (int h = hk * a.group; h < (hk + 1) * a.group; h++) {
        const long long qhead = ((long long)b * a.T * a.Hq + h) * D;
        const float *Lh = lse + ((long long)b * a.Hq + h) * a.T, *Dh = dsum + ((long long)b * a.Hq + h) * a.T;
        for (int q0 = k0; q0 < a.T; q0 += BQ) {
            __syncthreads();
            load_tile<D, BQ>(Qs, q + qhead, qstride, q0, a.T);
            load_tile<D, BQ>(dOs, dout + qhead, qstride, q0, a.T);
            __syncthreads();
            if (q0 + BQ - 1 < k0 + rw) continue; /* every query of the tile precedes this warp's keys */
            float st[MT][NB][4], dpt[MT][NB][4]; /* S^T, dP^T: rows = the warp's keys, columns = queries */
            zero(st);
            zero(dpt);
            mma_rows_rows<D, MT, NB>(st, Ks + rw * DP, Qs, g, t);
            mma_rows_rows<D, MT, NB>(dpt, Vs + rw * DP, dOs, g, t);
            const bool edge = q0 < k0 + ROWS || q0 + BQ > a.T; /* crosses the diagonal or the end */
#pragma unroll
            for (int nb = 0; nb < NB; nb++)
#pragma unroll
                for (int c = 0; c < 2; c++) {
                    const int qi = q0 + nb * 8 + 2 * t + c;
                    const float L2 = qi < a.T ? Lh[qi] * TC_LOG2E : 0.0f, dl = qi < a.T ? Dh[qi] : 0.0f;
#pragma unroll
                    for (int mt = 0; mt < MT; mt++)
#pragma unroll
                        for (int i = 0; i < 2; i++) {
                            const int r = 2 * i + c;
                            float p = exp2f(st[mt][nb][r] * sl2 - L2);
                            if (edge && (qi < k0 + rw + 16 * mt + g + 8 * i || qi >= a.T)) p = 0.0f;
                            st[mt][nb][r] = p;
                            dpt[mt][nb][r] = p * (dpt[mt][nb][r] - dl); /* dS^T */
                        }
                }
            mma_regs_tile<D, MT, NB>(dva, st, dOs, g, t);
            mma_regs_tile<D, MT, NB>(dka, dpt, Qs, g, t);
        }
    }

#pragma unroll
    for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int i = 0; i < 2; i++) {
            const int key = k0 + rw + 16 * mt + g + 8 * i;
            if (key >= a.T) continue;
            const long long o = (((long long)b * a.T + key) * a.Hkv + hk) * D + 2 * t;
#pragma unroll
            for (int nd = 0; nd < ND; nd++) {
                *reinterpret_cast<float2 *>(dk + o + nd * 8) =
                    make_float2(dka[mt][nd][2 * i] * a.scale, dka[mt][nd][2 * i + 1] * a.scale);
                *reinterpret_cast<float2 *>(dv + o + nd * 8) = make_float2(dva[mt][nd][2 * i], dva[mt][nd][2 * i + 1]);
            }
        }
}

/* ---- tile choices and launches ---------------------------------------------------------------------------- */
/* Per kernel: MT (16-row blocks per warp; the block owns 64 MT rows) and the tile it loops over (fwd, dq: BC
   keys; dkv: BQ queries). MT = 2 halves the shared-memory reads per product; D = 128 stays at MT = 1 (registers)
   with the looped tile halved where shared memory would pass 99 KB (sm_89's opt-in limit per block). */
template <int D> struct tc_cfg;
template <> struct tc_cfg<64> {
    static constexpr int fwd_mt = 2, fwd_bc = 64, dq_mt = 2, dq_bc = 32, dkv_mt = 2, dkv_bq = 32;
};
template <> struct tc_cfg<128> {
    static constexpr int fwd_mt = 1, fwd_bc = 64, dq_mt = 1, dq_bc = 32, dkv_mt = 1, dkv_bq = 32;
};

constexpr size_t tile_bytes(int D, int rows) { return sizeof(uint32_t) * (size_t)rows * (size_t)(D + 4); }
constexpr int block_rows(int mt) { return TC_WARPS * 16 * mt; }
template <int D> constexpr size_t fwd_smem() {
    return tile_bytes(D, block_rows(tc_cfg<D>::fwd_mt)) + 2 * tile_bytes(D, tc_cfg<D>::fwd_bc);
}
template <int D> constexpr size_t dq_smem() {
    return 2 * tile_bytes(D, block_rows(tc_cfg<D>::dq_mt)) + 2 * tile_bytes(D, tc_cfg<D>::dq_bc);
}
template <int D> constexpr size_t dkv_smem() {
    return 2 * tile_bytes(D, block_rows(tc_cfg<D>::dkv_mt)) + 2 * tile_bytes(D, tc_cfg<D>::dkv_bq);
}
static_assert(fwd_smem<64>() <= 99 * 1024 && dq_smem<64>() <= 99 * 1024 && dkv_smem<64>() <= 99 * 1024, "smem");
static_assert(fwd_smem<128>() <= 99 * 1024 && dq_smem<128>() <= 99 * 1024 && dkv_smem<128>() <= 99 * 1024, "smem");

tc_dims tc_dims_of(const fp8lab_attn_shape &s) {
    return tc_dims{.T = s.T, .Hq = s.Hq, .Hkv = s.Hkv, .group = s.Hq / s.Hkv, .scale = 1.0f / sqrtf((float)s.D)};
}

unsigned row_tiles(int T, int rows) { return (unsigned)((T + rows - 1) / rows); }

template <typename K> int set_smem(K kernel, size_t bytes) {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return 0;
}

template <int D>
int tc_fwd(fp8lab_cuda_ctx *c, float *out, float *lse, const float *q, const float *k, const float *v,
           const fp8lab_attn_shape &s) {
    constexpr int MT = tc_cfg<D>::fwd_mt, BC = tc_cfg<D>::fwd_bc;
    constexpr size_t smem = fwd_smem<D>();
    if (set_smem(attn_tc_fwd_kernel<D, MT, BC>, smem)) return -1;
    const dim3 grid(row_tiles(s.T, block_rows(MT)), (unsigned)(s.B * s.Hq));
    attn_tc_fwd_kernel<D, MT, BC><<<grid, TC_THREADS, smem, c->stream>>>(out, lse, q, k, v, tc_dims_of(s));
    CUDA_CHECK_LAUNCH("attn_tc_fwd_kernel");
    return 0;
}

template <int D>
int tc_bwd(fp8lab_cuda_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *lse,
           const float *dsum, const float *q, const float *k, const float *v, const fp8lab_attn_shape &s) {
    constexpr int QMT = tc_cfg<D>::dq_mt, BC = tc_cfg<D>::dq_bc, KMT = tc_cfg<D>::dkv_mt, BQ = tc_cfg<D>::dkv_bq;
    constexpr size_t smem_dq = dq_smem<D>(), smem_dkv = dkv_smem<D>();
    const tc_dims a = tc_dims_of(s);
    if (set_smem(attn_tc_dq_kernel<D, QMT, BC>, smem_dq) || set_smem(attn_tc_dkv_kernel<D, KMT, BQ>, smem_dkv))
        return -1;
    const dim3 grid_q(row_tiles(s.T, block_rows(QMT)), (unsigned)(s.B * s.Hq));
    const dim3 grid_kv(row_tiles(s.T, block_rows(KMT)), (unsigned)(s.B * s.Hkv));
    attn_tc_dq_kernel<D, QMT, BC><<<grid_q, TC_THREADS, smem_dq, c->stream>>>(dq, dout, lse, dsum, q, k, v, a);
    CUDA_CHECK_LAUNCH("attn_tc_dq_kernel");
    attn_tc_dkv_kernel<D, KMT, BQ><<<grid_kv, TC_THREADS, smem_dkv, c->stream>>>(dk, dv, dout, lse, dsum, q, k, v, a);
    CUDA_CHECK_LAUNCH("attn_tc_dkv_kernel");
    return 0;
}

} // namespace

int fp8lab_attn_tc_usable(const fp8lab_attn_shape &s, const float *const *ptrs, int nptrs) {
    if (s.D != 64 && s.D != 128) return 0;
    if (s.T < 1 || (long long)s.B * s.Hq > 65535) return 0; /* gridDim.y */
    for (int i = 0; i < nptrs; i++)
        if (!fp8lab_is_aligned(ptrs[i], 16)) return 0;
    return 1;
}

int fp8lab_attn_tc_fwd(fp8lab_cuda_ctx *c, float *out, float *lse, const float *q, const float *k, const float *v,
                       const fp8lab_attn_shape &s) {
    return s.D == 64 ? tc_fwd<64>(c, out, lse, q, k, v, s) : tc_fwd<128>(c, out, lse, q, k, v, s);
}

int fp8lab_attn_tc_bwd(fp8lab_cuda_ctx *c, float *dq, float *dk, float *dv, const float *dout, const float *lse,
                       const float *dsum, const float *q, const float *k, const float *v, const fp8lab_attn_shape &s) {
    return s.D == 64 ? tc_bwd<64>(c, dq, dk, dv, dout, lse, dsum, q, k, v, s)
                     : tc_bwd<128>(c, dq, dk, dv, dout, lse, dsum, q, k, v, s);
}
