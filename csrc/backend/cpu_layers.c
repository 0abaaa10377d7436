/* CPU backend, layers group: the readable reference of layer_ops.h, in FP32, one loop nest per op (in the
   spirit of llm.c). Rows are spread over OpenMP threads where each thread owns what it writes; parameter
   gradients, which sum over rows, are computed per column instead so no two threads add into the same element.
   The CUDA kernels (cuda/) must agree with these within FP32 rounding. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu_internal.h"
#include "backend/cpu_math.h"
#include "core/error.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* ---- embedding ------------------------------------------------------------------------------------------- */

/* Token ids index a table: one out of [0, V) would read or write outside it. The first bad one is reported. */
static int check_tokens(const char *op, const char *name, const int32_t *tok, long n, int V, int allow_negative) {
    for (long i = 0; i < n; i++) {
        if (tok[i] < V && (tok[i] >= 0 || allow_negative)) continue;
        if (allow_negative)
            FP8LAB_ERR("%s: %s[%ld] = %d is out of range [0, V = %d) (negative: no loss at that position)", op, name,
                       i, (int)tok[i], V);
        else
            FP8LAB_ERR("%s: %s[%ld] = %d is out of range [0, V = %d)", op, name, i, (int)tok[i], V);
        return -1;
    }
    return 0;
}

static int cpu_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe,
                         int B, int T, int C, int V) {
    (void)be;
    const long N = (long)B * T;
    if (check_tokens("embed_fwd", "tok", tok, N, V, 0)) return -1;
#pragma omp parallel for schedule(static)
    for (long bt = 0; bt < N; bt++) {
        const int t = (int)(bt % T);
        float *o = out + bt * C;
        const float *e = wte + (long)tok[bt] * C;
        for (int c = 0; c < C; c++) o[c] = e[c] + (wpe ? wpe[(long)t * C + c] : 0.0f);
    }
    return 0;
}

static int cpu_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                         int T, int C, int V) {
    (void)be;
    const long N = (long)B * T;
    if (check_tokens("embed_bwd", "tok", tok, N, V, 0)) return -1;
    /* a token may repeat: rows are added in order, by one thread (B*T*C adds: cheap) */
    for (long bt = 0; bt < N; bt++) {
        float *g = dwte + (long)tok[bt] * C;
        const float *d = dout + bt * C;
        for (int c = 0; c < C; c++) g[c] += d[c];
    }
    if (dwpe) {
#pragma omp parallel for schedule(static)
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                const float *d = dout + ((long)b * T + t) * C;
                for (int c = 0; c < C; c++) dwpe[(long)t * C + c] += d[c];
            }
    }
    return 0;
}

/* ---- column sums (parameter gradients of norms and biases) ----------------------------------------------- */

/* acc[c] += sum over rows n of a[n][c] * ((b[n][c] - mean[n]) * rstd[n]) (b NULL: of a[n][c]; mean NULL: 0).
   Rows are split over the threads, each summing into its own partial row (contiguous, vectorized), and the
   partials are added in thread order: deterministic for a given thread count. (Summing down a column per thread
   read the rows with a stride of C and took most of a norm's backward.) */
static int col_sums(const float *a, const float *b, const float *mean, const float *rstd, int N, int C, float *acc) {
    const int nt = omp_get_max_threads();
    float *part = calloc((size_t)nt * (size_t)C, sizeof(float));
    if (!part) {
        FP8LAB_ERR_RT("out of host memory for %d x %d column partial sums", nt, C);
        return -1;
    }
#pragma omp parallel num_threads(nt)
    {
        float *p = part + (size_t)omp_get_thread_num() * (size_t)C;
#pragma omp for schedule(static)
        for (int n = 0; n < N; n++) {
            const float *ar = a + (long)n * C;
            if (!b) {
#pragma omp simd
                for (int c = 0; c < C; c++) p[c] += ar[c];
                continue;
            }
            const float *br = b + (long)n * C, m = mean ? mean[n] : 0.0f, s = rstd[n];
#pragma omp simd
            for (int c = 0; c < C; c++) p[c] += ar[c] * ((br[c] - m) * s);
        }
    }
    /* the whole sum first, then one add into acc: accumulating a result twice adds exactly twice it */
    for (int t = 1; t < nt; t++)
        for (int c = 0; c < C; c++) part[c] += part[(size_t)t * (size_t)C + c];
    for (int c = 0; c < C; c++) acc[c] += part[c];
    free(part);
    return 0;
}

/* ---- norms ----------------------------------------------------------------------------------------------- */

static int cpu_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x,
                             const float *w, const float *b, int N, int C, float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * C;
        float m = 0.0f;
#pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) m += xr[c];
        m /= C;
        float var = 0.0f;
#pragma omp simd reduction(+ : var)
        for (int c = 0; c < C; c++) var += (xr[c] - m) * (xr[c] - m);
        var /= C;
        const float s = 1.0f / sqrtf(var + eps);
        float *o = out + (long)n * C;
        for (int c = 0; c < C; c++) o[c] = (xr[c] - m) * s * w[c] + (b ? b[c] : 0.0f);
        mean[n] = m;
        rstd[n] = s;
    }
    return 0;
}

static int cpu_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout, const float *x,
                             const float *w, const float *mean, const float *rstd, int N, int C) {
    (void)be;
    /* parameter gradients first (so dx may even alias dout) */
    if (col_sums(dout, x, mean, rstd, N, C, dw) || (db && col_sums(dout, NULL, NULL, NULL, N, C, db))) return -1;
    /* dx = rstd (dnorm - mean(dnorm) - norm mean(dnorm norm)), dnorm = dout w */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * C, *d = dout + (long)n * C;
        const float m = mean[n], s = rstd[n];
        float dmean = 0.0f, dnorm_mean = 0.0f;
#pragma omp simd reduction(+ : dmean, dnorm_mean)
        for (int c = 0; c < C; c++) {
            const float dnorm = d[c] * w[c];
            dmean += dnorm;
            dnorm_mean += dnorm * (xr[c] - m) * s;
        }
        dmean /= C;
        dnorm_mean /= C;
        float *g = dx + (long)n * C;
        for (int c = 0; c < C; c++) {
            const float norm = (xr[c] - m) * s;
            g[c] = (d[c] * w[c] - dmean - norm * dnorm_mean) * s;
        }
    }
    return 0;
}

static int cpu_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N, int C,
                           float eps) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * C;
        float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
        for (int c = 0; c < C; c++) ss += xr[c] * xr[c];
        const float s = 1.0f / sqrtf(ss / C + eps);
        float *o = out + (long)n * C;
        for (int c = 0; c < C; c++) o[c] = xr[c] * s * w[c];
        rstd[n] = s;
    }
    return 0;
}

static int cpu_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x, const float *w,
                           const float *rstd, int N, int C) {
    (void)be;
    if (col_sums(dout, x, NULL, rstd, N, C, dw)) return -1;
    /* y = x rstd: dx = rstd (dy - y mean(dy y)), dy = dout w */
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *xr = x + (long)n * C, *d = dout + (long)n * C;
        const float s = rstd[n];
        float dyy = 0.0f;
#pragma omp simd reduction(+ : dyy)
        for (int c = 0; c < C; c++) dyy += d[c] * w[c] * xr[c] * s;
        dyy /= C;
        float *g = dx + (long)n * C;
        for (int c = 0; c < C; c++) g[c] = (d[c] * w[c] - xr[c] * s * dyy) * s;
    }
    return 0;
}

/* ---- pointwise ------------------------------------------------------------------------------------------- */

static int cpu_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        const float v = x[i];
        out[i] = 0.5f * v * (1.0f + cpu_tanhf(GELU_SCALE * (v + 0.044715f * v * v * v)));
    }
    return 0;
}

static int cpu_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        const float v = x[i];
        const float th = cpu_tanhf(GELU_SCALE * (v + 0.044715f * v * v * v));
        const float sech2 = 1.0f - th * th;
        const float local = 0.5f * (1.0f + th) + 0.5f * v * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * v * v);
        dx[i] = local * dout[i];
    }
    return 0;
}

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

static int cpu_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gate_up + (long)n * 2 * F, *u = g + F;
        float *o = out + (long)n * F;
        for (int f = 0; f < F; f++) o[f] = g[f] * sigmoidf(g[f]) * u[f];
    }
    return 0;
}

static int cpu_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N, int F) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = gate_up + (long)n * 2 * F, *u = g + F, *d = dout + (long)n * F;
        float *dg = dgate_up + (long)n * 2 * F, *du = dg + F;
        for (int f = 0; f < F; f++) {
            const float s = sigmoidf(g[f]), gf = g[f], uf = u[f], df = d[f];
            /* d silu(g) / dg = s (1 + g (1 - s)) */
            dg[f] = df * uf * s * (1.0f + gf * (1.0f - s));
            du[f] = df * gf * s;
        }
    }
    return 0;
}

/* ---- rotary embedding ------------------------------------------------------------------------------------ */

/* Rotates every head of x[B][T][H][D] by angle sign * t * theta^(-2i/D) on the pairs (i, i + D/2). The angles'
   cosines and sines are computed once per (t, i), in double (so the reference is exact to FP32 for long
   sequences, where t * freq is large), and rounded to float. */
static int rope_rotate(const char *op, float *x, int B, int T, int H, int D, float theta, float sign) {
    const int half = D / 2;
    float *cs = malloc(sizeof(float) * 2 * (size_t)T * (size_t)half);
    if (!cs) {
        FP8LAB_ERR_RT("%s: out of host memory for a %dx%d angle table", op, T, half);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            const double ang = t * pow((double)theta, -2.0 * i / D);
            cs[((size_t)t * half + i) * 2] = (float)cos(ang);
            cs[((size_t)t * half + i) * 2 + 1] = sign * (float)sin(ang);
        }
    const long rows = (long)B * T * H;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        const int t = (int)((r / H) % T);
        float *xr = x + r * D;
        for (int i = 0; i < half; i++) {
            const float c = cs[((size_t)t * half + i) * 2], s = cs[((size_t)t * half + i) * 2 + 1];
            const float x1 = xr[i], x2 = xr[i + half];
            xr[i] = x1 * c - x2 * s;
            xr[i + half] = x2 * c + x1 * s;
        }
    }
    free(cs);
    return 0;
}

static int cpu_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta) {
    (void)be;
    return rope_rotate("rope_fwd", x, B, T, H, D, theta, 1.0f);
}

static int cpu_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta) {
    (void)be;
    return rope_rotate("rope_bwd", dx, B, T, H, D, theta, -1.0f);
}

/* ---- causal attention ------------------------------------------------------------------------------------ */

/* Per (batch, head), in blocks of ATTN_QB query rows: the block's scores against the keys up to its last row
   are one sgemm (single-threaded: cpu_gemm.c says why), the causal softmax runs on them in place, and the
   products with V (and in the backward with dO, K and Q) are sgemms too. A head's rows are strided (row t of
   q at q + t*Hq*D), which sgemm's leading dimensions take as they are. Scratch: two ATTN_QB x T blocks per
   thread. */
enum { ATTN_QB = 128 };

typedef struct {
    int T, D, Hq, Hkv, group;
    long ldq, ldk; /* floats between consecutive rows of one head: Hq*D, Hkv*D */
    float scale;
} attn_dims;

static attn_dims attn_dims_of(fp8lab_attn_shape s) {
    return (attn_dims){.T = s.T, .D = s.D, .Hq = s.Hq, .Hkv = s.Hkv, .group = s.Hq / s.Hkv,
                       .ldq = (long)s.Hq * s.D, .ldk = (long)s.Hkv * s.D, .scale = 1.0f / sqrtf((float)s.D)};
}

/* P[r][j] = exp(S[r][j] - l_r) for key j <= query t0 + r, 0 beyond (S already scaled); ld = kt */
static void causal_probs(float *P, int rows, int kt, int t0, const float *l) {
    for (int r = 0; r < rows; r++) {
        float *p = P + (long)r * kt;
        const int last = t0 + r;
        const float lr = l[r];
#pragma omp simd
        for (int j = 0; j < kt; j++) p[j] = j <= last ? cpu_expf(p[j] - lr) : 0.0f;
    }
}

static int cpu_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                        fp8lab_attn_shape s) {
    (void)be;
    const attn_dims d = attn_dims_of(s);
    int oom = 0;
#pragma omp parallel reduction(| : oom)
    {
        float *S = malloc(sizeof(float) * ATTN_QB * (size_t)d.T), *l = malloc(sizeof(float) * ATTN_QB);
        oom = !S || !l;
#pragma omp for schedule(static)
        for (int bh = 0; bh < s.B * d.Hq; bh++) {
            if (!S || !l) continue;
            const int b = bh / d.Hq, h = bh % d.Hq, hk = h / d.group;
            const float *Q = q + (long)b * d.T * d.ldq + (long)h * d.D;
            const float *K = k + (long)b * d.T * d.ldk + (long)hk * d.D, *V = v + (K - k);
            float *O = out + (Q - q), *L = lse + ((long)b * d.Hq + h) * d.T;
            for (int t0 = 0; t0 < d.T; t0 += ATTN_QB) {
                const int rows = d.T - t0 < ATTN_QB ? d.T - t0 : ATTN_QB, kt = t0 + rows;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kt, d.D, d.scale, Q + t0 * d.ldq,
                            (int)d.ldq, K, (int)d.ldk, 0.0f, S, kt);
                for (int r = 0; r < rows; r++) {
                    const float *sr = S + (long)r * kt;
                    float mx = -INFINITY, sum = 0.0f;
                    for (int j = 0; j <= t0 + r; j++) mx = fmaxf(mx, sr[j]);
#pragma omp simd reduction(+ : sum)
                    for (int j = 0; j <= t0 + r; j++) sum += cpu_expf(sr[j] - mx);
                    l[r] = L[t0 + r] = mx + logf(sum);
                }
                causal_probs(S, rows, kt, t0, l);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d.D, kt, 1.0f, S, kt, V, (int)d.ldk,
                            0.0f, O + t0 * d.ldq, (int)d.ldq);
            }
        }
        free(S);
        free(l);
    }
    if (oom) FP8LAB_ERR_RT("attn_fwd: out of host memory for a %d x %d score block", ATTN_QB, s.T);
    return oom ? -1 : 0;
}

/* One (b, key/value head) per iteration, so the thread owns dk, dv of that head (summed over its group of query
   heads) and dq of the group. With P = exp(S - lse): dV += P^T dO; dP = dO V^T; dS = P (dP - rowsum(dO O))
   scale; dQ = dS K; dK += dS^T Q. */
static int cpu_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s) {
    (void)be;
    const attn_dims d = attn_dims_of(s);
    int oom = 0;
#pragma omp parallel reduction(| : oom)
    {
        float *P = malloc(sizeof(float) * ATTN_QB * (size_t)d.T), *dP = malloc(sizeof(float) * ATTN_QB * (size_t)d.T);
        oom = !P || !dP;
#pragma omp for schedule(static)
        for (int bk = 0; bk < s.B * d.Hkv; bk++) {
            if (!P || !dP) continue;
            const int b = bk / d.Hkv, hk = bk % d.Hkv;
            const long kv0 = (long)b * d.T * d.ldk + (long)hk * d.D;
            const float *K = k + kv0, *V = v + kv0;
            float *dK = dk + kv0, *dV = dv + kv0;
            for (int t = 0; t < d.T; t++) {
                memset(dK + t * d.ldk, 0, sizeof(float) * (size_t)d.D);
                memset(dV + t * d.ldk, 0, sizeof(float) * (size_t)d.D);
            }
            for (int h = hk * d.group; h < (hk + 1) * d.group; h++) {
                const long q0 = (long)b * d.T * d.ldq + (long)h * d.D;
                const float *Q = q + q0, *dO = dout + q0, *O = out + q0, *L = lse + ((long)b * d.Hq + h) * d.T;
                float *dQ = dq + q0;
                for (int t0 = 0; t0 < d.T; t0 += ATTN_QB) {
                    const int rows = d.T - t0 < ATTN_QB ? d.T - t0 : ATTN_QB, kt = t0 + rows;
                    const float *Qb = Q + t0 * d.ldq, *dOb = dO + t0 * d.ldq;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kt, d.D, d.scale, Qb, (int)d.ldq, K,
                                (int)d.ldk, 0.0f, P, kt);
                    causal_probs(P, rows, kt, t0, L + t0);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kt, d.D, 1.0f, dOb, (int)d.ldq, V,
                                (int)d.ldk, 0.0f, dP, kt);
                    for (int r = 0; r < rows; r++) {
                        const float *dor = dOb + r * d.ldq, *orow = O + (t0 + r) * d.ldq;
                        float dsum = 0.0f;
#pragma omp simd reduction(+ : dsum)
                        for (int e = 0; e < d.D; e++) dsum += dor[e] * orow[e];
                        const float *pr = P + (long)r * kt;
                        float *ds = dP + (long)r * kt;
#pragma omp simd
                        for (int j = 0; j < kt; j++) ds[j] = pr[j] * (ds[j] - dsum) * d.scale;
                    }
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kt, d.D, rows, 1.0f, P, kt, dOb, (int)d.ldq,
                                1.0f, dV, (int)d.ldk);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, d.D, kt, 1.0f, dP, kt, K,
                                (int)d.ldk, 0.0f, dQ + t0 * d.ldq, (int)d.ldq);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kt, d.D, rows, 1.0f, dP, kt, Qb, (int)d.ldq,
                                1.0f, dK, (int)d.ldk);
                }
            }
        }
        free(P);
        free(dP);
    }
    if (oom) FP8LAB_ERR_RT("attn_bwd: out of host memory for two %d x %d score blocks", ATTN_QB, s.T);
    return oom ? -1 : 0;
}

/* ---- cross-entropy --------------------------------------------------------------------------------------- */

static float row_logsumexp(const float *x, int V) {
    float mx = -INFINITY;
    for (int i = 0; i < V; i++) mx = fmaxf(mx, x[i]);
    float sum = 0.0f;
    for (int i = 0; i < V; i++) sum += expf(x[i] - mx);
    return mx + logf(sum);
}

static int cpu_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V) {
    (void)be;
    if (check_tokens("xent_fwd", "targets", targets, N, V, 1)) return -1;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (long)n * V;
        loss[n] = targets[n] < 0 ? 0.0f : row_logsumexp(x, V) - x[targets[n]];
    }
    return 0;
}

/* in place when dlogits == logits: each row's log-sum-exp is taken before the row is overwritten, and every
   element is read before it is written */
static int cpu_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                        float dloss) {
    (void)be;
    if (check_tokens("xent_bwd", "targets", targets, N, V, 1)) return -1;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (long)n * V;
        float *g = dlogits + (long)n * V;
        const int tgt = targets[n];
        if (tgt < 0) {
            for (int i = 0; i < V; i++) g[i] = 0.0f;
            continue;
        }
        const float l = row_logsumexp(x, V);
        for (int i = 0; i < V; i++) g[i] = (expf(x[i] - l) - (i == tgt ? 1.0f : 0.0f)) * dloss;
    }
    return 0;
}

/* ---- residual add and bias ------------------------------------------------------------------------------- */

static int cpu_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) out[i] = a[i] + b[i];
    return 0;
}

static int cpu_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C) {
    (void)be;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) out[(long)n * C + c] += bias[c];
    return 0;
}

static int cpu_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C) {
    (void)be;
    return col_sums(dout, NULL, NULL, NULL, N, C, dbias);
}

const fp8lab_layer_ops fp8lab_cpu_layer_ops = {
    .embed_fwd = cpu_embed_fwd,
    .embed_bwd = cpu_embed_bwd,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .rmsnorm_fwd = cpu_rmsnorm_fwd,
    .rmsnorm_bwd = cpu_rmsnorm_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .swiglu_fwd = cpu_swiglu_fwd,
    .swiglu_bwd = cpu_swiglu_bwd,
    .rope_fwd = cpu_rope_fwd,
    .rope_bwd = cpu_rope_bwd,
    .attn_fwd = cpu_attn_fwd,
    .attn_bwd = cpu_attn_bwd,
    .xent_fwd = cpu_xent_fwd,
    .xent_bwd = cpu_xent_bwd,
    .add = cpu_add,
    .bias_fwd = cpu_bias_fwd,
    .bias_bwd = cpu_bias_bwd,
};
