/* CPU backend, layers group: the readable reference of layer_ops.h, in FP32, one loop nest per op (in the
   spirit of llm.c). Rows are spread over OpenMP threads where each thread owns what it writes; parameter
   gradients, which sum over rows, are computed per column instead so no two threads add into the same element.
   The CUDA kernels (cuda/) must agree with these within FP32 rounding. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

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

static inline float dotf(const float *a, const float *b, int n) {
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* One (b, h) per iteration: for each query t, scores against keys 0..t, softmax, weighted sum of values. */
static int cpu_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                        fp8lab_attn_shape s) {
    (void)be;
    const int T = s.T, D = s.D, Hq = s.Hq, Hkv = s.Hkv, group = Hq / Hkv;
    const float scale = 1.0f / sqrtf((float)D);
    int oom = 0;
#pragma omp parallel reduction(| : oom)
    {
        float *p = malloc(sizeof(float) * (size_t)T);
        oom = !p;
#pragma omp for schedule(static)
        for (int bh = 0; bh < s.B * Hq; bh++) {
            if (!p) continue;
            const int b = bh / Hq, h = bh % Hq, hk = h / group;
            for (int t = 0; t < T; t++) {
                const float *qt = q + (((long)b * T + t) * Hq + h) * D;
                float mx = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    p[j] = dotf(qt, k + (((long)b * T + j) * Hkv + hk) * D, D) * scale;
                    mx = fmaxf(mx, p[j]);
                }
                float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
                for (int j = 0; j <= t; j++) {
                    p[j] = cpu_expf(p[j] - mx);
                    sum += p[j];
                }
                float *o = out + (((long)b * T + t) * Hq + h) * D;
                for (int d = 0; d < D; d++) o[d] = 0.0f;
                for (int j = 0; j <= t; j++) {
                    const float *vj = v + (((long)b * T + j) * Hkv + hk) * D;
                    const float pj = p[j] / sum;
#pragma omp simd
                    for (int d = 0; d < D; d++) o[d] += pj * vj[d];
                }
                lse[((long)b * Hq + h) * T + t] = mx + logf(sum);
            }
        }
        free(p);
    }
    if (oom) FP8LAB_ERR_RT("attn_fwd: out of host memory for a %d-element score row", T);
    return oom ? -1 : 0;
}

/* One (b, key/value head) per iteration, so the thread owns dk, dv of that head (summed over its group of query
   heads) and dq of the group. With P = exp(S - lse): dv_j += P_tj dout_t; dP_tj = dout_t . v_j;
   dS_tj = P_tj (dP_tj - dout_t . out_t); dq_t = scale sum_j dS_tj k_j; dk_j += scale dS_tj q_t. */
static int cpu_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                        const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s) {
    (void)be;
    const int T = s.T, D = s.D, Hq = s.Hq, Hkv = s.Hkv, group = Hq / Hkv;
    const float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for schedule(static)
    for (int bk = 0; bk < s.B * Hkv; bk++) {
        const int b = bk / Hkv, hk = bk % Hkv;
        for (int t = 0; t < T; t++) {
            float *dkt = dk + (((long)b * T + t) * Hkv + hk) * D, *dvt = dv + (((long)b * T + t) * Hkv + hk) * D;
            for (int d = 0; d < D; d++) dkt[d] = dvt[d] = 0.0f;
        }
        for (int h = hk * group; h < (hk + 1) * group; h++)
            for (int t = 0; t < T; t++) {
                const long row = ((long)b * T + t) * Hq + h;
                const float *qt = q + row * D, *dot = dout + row * D;
                const float l = lse[((long)b * Hq + h) * T + t], dsum = dotf(dot, out + row * D, D);
                float *dqt = dq + row * D;
                for (int d = 0; d < D; d++) dqt[d] = 0.0f;
                for (int j = 0; j <= t; j++) {
                    const long kv = (((long)b * T + j) * Hkv + hk) * D;
                    const float pj = cpu_expf(dotf(qt, k + kv, D) * scale - l);
                    const float ds = pj * (dotf(dot, v + kv, D) - dsum) * scale;
                    /* dv, dq and dk are distinct buffers: no element is read after another lane writes it */
#pragma omp simd
                    for (int d = 0; d < D; d++) {
                        dv[kv + d] += pj * dot[d];
                        dqt[d] += ds * k[kv + d];
                        dk[kv + d] += ds * qt[d];
                    }
                }
            }
    }
    return 0;
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
