/* The recording backend (record.h): op tables whose entries forward to the inner backend, each call noted
   (and optionally timed) on the way. An op the inner backend lacks is reported as the fronts report it for the
   inner backend itself ("op X is not implemented by backend Y"). */
#include "backend/record.h"

#include <stdlib.h>
#include <string.h>

#include "backend/check.h"
#include "core/error.h"
#include "core/timer.h"

typedef struct rec {
    fp8lab_backend self;
    fp8lab_backend *inner;
    fp8lab_record_opts opts;
    int enabled, phase;
    fp8lab_rec_op *log;
    int n, cap;
    fp8lab_rec_totals totals[FP8LAB_REC_NKINDS];
} rec;

static rec *R(fp8lab_backend *be) { return (rec *)be->ctx; }

/* ---- recording ------------------------------------------------------------------------------------------- */

/* Before an op: with timing, wait for the work queued so far, so the interval holds this op alone. */
static int begin(rec *r, double *t0) {
    if (r->enabled && r->opts.timing && fp8lab_sync(r->inner)) return -1;
    *t0 = fp8lab_now();
    return 0;
}

/* After an op that returned rc: with timing, wait for it; then note it. */
static int end(rec *r, int rc, double t0, fp8lab_rec_op op) {
    if (rc || !r->enabled) return rc;
    if (r->opts.timing) {
        if (fp8lab_sync(r->inner)) return -1;
        op.seconds = fp8lab_now() - t0;
    }
    op.phase = r->phase;
    fp8lab_rec_totals *t = &r->totals[op.kind];
    t->calls++;
    t->seconds += op.seconds;
    t->flops += op.flops;
    t->bytes += op.bytes;
    if (!r->opts.log) return 0;
    if (r->n == r->cap) {
        const int cap = r->cap ? 2 * r->cap : 1024;
        fp8lab_rec_op *p = realloc(r->log, sizeof *p * (size_t)cap);
        if (!p) {
            FP8LAB_ERR_RT("recording backend: out of host memory for the call log (%d calls)", r->n);
            return -1;
        }
        r->log = p;
        r->cap = cap;
    }
    r->log[r->n++] = op;
    return 0;
}

static fp8lab_rec_op plain(const char *name, fp8lab_rec_kind kind, double bytes) {
    return (fp8lab_rec_op){.name = name, .kind = kind, .bytes = bytes};
}

/* ea, eb, ed: bytes per element of A, B and D; C read too when beta is not 0 (matmul_f32) */
static fp8lab_rec_op gemm_op(const char *name, fp8lab_rec_prec p, int M, int N, int K, int ta, int tb, double ea,
                             double eb, double ed, int reads_c) {
    const double m = M, n = N, k = K;
    return (fp8lab_rec_op){.name = name, .kind = FP8LAB_REC_GEMM, .prec = p, .m = M, .n = N, .k = K, .ta = ta,
                           .tb = tb, .flops = 2 * m * n * k,
                           .bytes = ea * m * k + eb * k * n + ed * m * n * (reads_c ? 2 : 1)};
}

#define IN(r) ((r)->inner)
/* r->inner's entry fn of table group, called on the inner backend */
#define CALL(r, group, fn, ...) IN(r)->group->fn(IN(r), __VA_ARGS__)
/* the body of a forwarding entry: time and note `op` around the inner call */
#define FORWARD(be, op, group, fn, ...)                                                                              \
    do {                                                                                                             \
        rec *r_ = R(be);                                                                                             \
        double t0_;                                                                                                  \
        if (fp8lab_check_op(IN(r_), #fn, FP8LAB_HAS_OP(IN(r_), group, fn)) || begin(r_, &t0_)) return -1;          \
        return end(r_, CALL(r_, group, fn, __VA_ARGS__), t0_, op);                                                   \
    } while (0)

/* ---- mem --------------------------------------------------------------------------------------------------- */

static void *w_alloc(fp8lab_backend *be, size_t bytes) { return fp8lab_alloc(IN(R(be)), bytes); }
static void w_free(fp8lab_backend *be, void *p) { fp8lab_free(IN(R(be)), p); }
static int w_sync(fp8lab_backend *be) { return fp8lab_sync(IN(R(be))); }

static int w_copy_h2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    FORWARD(be, plain("copy_h2d", FP8LAB_REC_OTHER, (double)bytes), mem, copy_h2d, dst, src, bytes);
}
static int w_copy_d2h(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    FORWARD(be, plain("copy_d2h", FP8LAB_REC_OTHER, (double)bytes), mem, copy_d2h, dst, src, bytes);
}
static int w_copy_d2d(fp8lab_backend *be, void *dst, const void *src, size_t bytes) {
    FORWARD(be, plain("copy_d2d", FP8LAB_REC_OTHER, 2.0 * (double)bytes), mem, copy_d2d, dst, src, bytes);
}
static int w_copy_2d(fp8lab_backend *be, void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                     size_t rows) {
    FORWARD(be, plain("copy_2d", FP8LAB_REC_OTHER, 2.0 * (double)width * (double)rows), mem, copy_2d, dst, dpitch,
            src, spitch, width, rows);
}
static int w_memset0(fp8lab_backend *be, void *dst, size_t bytes) {
    FORWARD(be, plain("memset0", FP8LAB_REC_OTHER, (double)bytes), mem, memset0, dst, bytes);
}
static int w_transpose_f32(fp8lab_backend *be, const float *x, int rows, int cols, float *y) {
    FORWARD(be, plain("transpose_f32", FP8LAB_REC_OTHER, 8.0 * rows * cols), mem, transpose_f32, x, rows, cols, y);
}

/* ---- quant: FP32 in, the narrow type out, FP32 scales -------------------------------------------------------- */

static int w_cast_f32_to_bf16(fp8lab_backend *be, const float *x, long n, uint16_t *y) {
    FORWARD(be, plain("cast_f32_to_bf16", FP8LAB_REC_QUANT, 6.0 * n), quant, cast_f32_to_bf16, x, n, y);
}
static int w_cast_bf16_to_f32(fp8lab_backend *be, const uint16_t *x, long n, float *y) {
    FORWARD(be, plain("cast_bf16_to_f32", FP8LAB_REC_QUANT, 6.0 * n), quant, cast_bf16_to_f32, x, n, y);
}
static int w_amax(fp8lab_backend *be, const float *x, long n, float *amax_dev) {
    FORWARD(be, plain("amax", FP8LAB_REC_QUANT, 4.0 * n + 4), quant, amax, x, n, amax_dev);
}
static int w_quantize_tensor(fp8lab_backend *be, const float *x, long n, int fmt, int pow2, uint8_t *q, float *s) {
    FORWARD(be, plain("quantize_tensor", FP8LAB_REC_QUANT, 5.0 * n + 4), quant, quantize_tensor, x, n, fmt, pow2, q,
            s);
}
static int w_cast_fp8_scaled(fp8lab_backend *be, const float *x, long n, int fmt, const float *s, uint8_t *q) {
    FORWARD(be, plain("cast_fp8_scaled", FP8LAB_REC_QUANT, 5.0 * n + 4), quant, cast_fp8_scaled, x, n, fmt, s, q);
}
static int w_quantize_1x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                            float *s) {
    const double n = (double)rows * cols;
    FORWARD(be, plain("quantize_1x128", FP8LAB_REC_QUANT, 5 * n + 4 * n / 128), quant, quantize_1x128, x, rows, cols,
            fmt, pow2, q, s);
}
static int w_quantize_1x128_t(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q,
                              float *s, uint8_t *qt, float *st) {
    const double n = (double)rows * cols;
    FORWARD(be, plain("quantize_1x128_t", FP8LAB_REC_QUANT, 6 * n + 8 * n / 128), quant, quantize_1x128_t, x, rows,
            cols, fmt, pow2, q, s, qt, st);
}
static int w_quantize_128x128(fp8lab_backend *be, const float *x, int rows, int cols, int fmt, int pow2,
                              uint8_t *q, float *s) {
    const double n = (double)rows * cols;
    FORWARD(be, plain("quantize_128x128", FP8LAB_REC_QUANT, 5 * n + 4 * n / 16384), quant, quantize_128x128, x, rows,
            cols, fmt, pow2, q, s);
}

/* ---- gemm -------------------------------------------------------------------------------------------------- */

static int w_matmul_f32(fp8lab_backend *be, fp8lab_op_t ta, fp8lab_op_t tb, int M, int N, int K, float alpha,
                        const float *a, const float *b, float beta, float *c) {
    FORWARD(be,
            gemm_op("matmul_f32", FP8LAB_REC_F32, M, N, K, ta == FP8LAB_OP_T, tb == FP8LAB_OP_T, 4, 4, 4, beta != 0),
            gemm, matmul_f32, ta, tb, M, N, K, alpha, a, b, beta, c);
}
static int w_matmul_f32_exact(fp8lab_backend *be, int M, int N, int K, int block, const float *a, const float *b,
                              double *hi, double *lo) {
    FORWARD(be, gemm_op("matmul_f32_exact", FP8LAB_REC_F32, M, N, K, 1, 0, 4, 4, 16, 1), gemm, matmul_f32_exact, M,
            N, K, block, a, b, hi, lo);
}
static int w_gemm_f32(fp8lab_backend *be, const float *a, const float *b, int M, int N, int K, float *d) {
    FORWARD(be, gemm_op("gemm_f32", FP8LAB_REC_F32, M, N, K, 0, 1, 4, 4, 4, 0), gemm, gemm_f32, a, b, M, N, K, d);
}
static double out_bytes(fp8lab_out_dtype out) { return out == FP8LAB_F32 ? 4 : 2; }
static int w_gemm_bf16(fp8lab_backend *be, const uint16_t *a, const uint16_t *b, int M, int N, int K,
                       fp8lab_out_dtype out, void *d) {
    FORWARD(be, gemm_op("gemm_bf16", FP8LAB_REC_BF16, M, N, K, 0, 1, 2, 2, out_bytes(out), 0), gemm, gemm_bf16, a, b,
            M, N, K, out, d);
}
static int w_gemm_fp8_tensor(fp8lab_backend *be, const uint8_t *qa, int fmt_a, const float *sa, const uint8_t *qb,
                             int fmt_b, const float *sb, int M, int N, int K, fp8lab_out_dtype out, void *d) {
    FORWARD(be, gemm_op("gemm_fp8_tensor", FP8LAB_REC_FP8_TENSOR, M, N, K, 0, 1, 1, 1, out_bytes(out), 0), gemm,
            gemm_fp8_tensor, qa, fmt_a, sa, qb, fmt_b, sb, M, N, K, out, d);
}
static int w_gemm_fp8_block(fp8lab_backend *be, const uint8_t *qa, const float *sa, const uint8_t *qb,
                            const float *sb, fp8lab_b_scaling bscal, int M, int N, int K, fp8lab_out_dtype out,
                            void *d) {
    /* one FP32 scale per 128 elements of A (and of B, counted alike: 1x128 is the larger of B's two) */
    FORWARD(be, gemm_op("gemm_fp8_block", FP8LAB_REC_FP8_BLOCK, M, N, K, 0, 1, 1 + 4.0 / 128, 1 + 4.0 / 128,
                        out_bytes(out), 0),
            gemm, gemm_fp8_block, qa, sa, qb, sb, bscal, M, N, K, out, d);
}

/* ---- layers: FP32 activations ------------------------------------------------------------------------------ */

static int w_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe, int B,
                       int T, int C, int V) {
    const double n = (double)B * T, c = C;
    /* token ids, the gathered rows (plus positions) and the output */
    FORWARD(be, plain("embed_fwd", FP8LAB_REC_OTHER, 4 * n + 4 * n * c * (wpe ? 3 : 2)), layers, embed_fwd, out, tok,
            wte, wpe, B, T, C, V);
}
static int w_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                       int T, int C, int V) {
    const double n = (double)B * T, c = C;
    /* read dout and the ids; read and write the gradient rows it hits (and dwpe's T rows) */
    FORWARD(be, plain("embed_bwd", FP8LAB_REC_OTHER, 4 * n + 12 * n * c + (dwpe ? 8.0 * T * c : 0)), layers,
            embed_bwd, dwte, dwpe, dout, tok, B, T, C, V);
}
static int w_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x, const float *w,
                           const float *b, int N, int C, float eps) {
    FORWARD(be, plain("layernorm_fwd", FP8LAB_REC_NORM_ACT, 8.0 * N * C + 8.0 * N + 8.0 * C), layers, layernorm_fwd,
            out, mean, rstd, x, w, b, N, C, eps);
}
static int w_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout, const float *x,
                           const float *w, const float *mean, const float *rstd, int N, int C) {
    FORWARD(be, plain("layernorm_bwd", FP8LAB_REC_NORM_ACT, 12.0 * N * C + 8.0 * N + 20.0 * C), layers,
            layernorm_bwd, dx, dw, db, dout, x, w, mean, rstd, N, C);
}
static int w_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N, int C,
                         float eps) {
    FORWARD(be, plain("rmsnorm_fwd", FP8LAB_REC_NORM_ACT, 8.0 * N * C + 4.0 * N + 4.0 * C), layers, rmsnorm_fwd, out,
            rstd, x, w, N, C, eps);
}
static int w_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x, const float *w,
                         const float *rstd, int N, int C) {
    FORWARD(be, plain("rmsnorm_bwd", FP8LAB_REC_NORM_ACT, 12.0 * N * C + 4.0 * N + 12.0 * C), layers, rmsnorm_bwd, dx,
            dw, dout, x, w, rstd, N, C);
}
static int w_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n) {
    FORWARD(be, plain("gelu_fwd", FP8LAB_REC_NORM_ACT, 8.0 * n), layers, gelu_fwd, out, x, n);
}
static int w_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n) {
    FORWARD(be, plain("gelu_bwd", FP8LAB_REC_NORM_ACT, 12.0 * n), layers, gelu_bwd, dx, dout, x, n);
}
static int w_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F) {
    FORWARD(be, plain("swiglu_fwd", FP8LAB_REC_NORM_ACT, 12.0 * N * F), layers, swiglu_fwd, out, gate_up, N, F);
}
static int w_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N, int F) {
    FORWARD(be, plain("swiglu_bwd", FP8LAB_REC_NORM_ACT, 20.0 * N * F), layers, swiglu_bwd, dgate_up, dout, gate_up,
            N, F);
}
static int w_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta) {
    FORWARD(be, plain("rope_fwd", FP8LAB_REC_NORM_ACT, 8.0 * B * T * H * D), layers, rope_fwd, x, B, T, H, D, theta);
}
static int w_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta) {
    FORWARD(be, plain("rope_bwd", FP8LAB_REC_NORM_ACT, 8.0 * B * T * H * D), layers, rope_bwd, dx, B, T, H, D, theta);
}

/* As the simulator counts attention (sim/schedule.c): causal, T^2/2 query-key pairs per head, 2 FLOPs each for
   q.k and for p.v; the backward 2.5 times the forward. Bytes: q, k, v, the output and the log-sum-exp. */
static fp8lab_rec_op attn_op(const char *name, fp8lab_attn_shape s, int bwd) {
    const double q = (double)s.B * s.T * s.Hq * s.D, kv = (double)s.B * s.T * s.Hkv * s.D;
    const double lse = (double)s.B * s.Hq * s.T;
    const double f = (double)s.B * s.Hq * (double)s.T * s.T * 2.0 * s.D;
    return (fp8lab_rec_op){.name = name, .kind = FP8LAB_REC_ATTN, .flops = bwd ? 2.5 * f : f,
                           .bytes = bwd ? 4 * (4 * q + 4 * kv + lse) : 4 * (2 * q + 2 * kv + lse)};
}
static int w_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                      fp8lab_attn_shape s) {
    FORWARD(be, attn_op("attn_fwd", s, 0), layers, attn_fwd, out, lse, q, k, v, s);
}
static int w_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                      const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s) {
    FORWARD(be, attn_op("attn_bwd", s, 1), layers, attn_bwd, dq, dk, dv, dout, out, lse, q, k, v, s);
}
static int w_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V) {
    FORWARD(be, plain("xent_fwd", FP8LAB_REC_OTHER, 4.0 * N * V + 8.0 * N), layers, xent_fwd, loss, logits, targets, N,
            V);
}
static int w_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                      float dloss) {
    FORWARD(be, plain("xent_bwd", FP8LAB_REC_OTHER, 8.0 * N * V + 4.0 * N), layers, xent_bwd, dlogits, logits, targets,
            N, V, dloss);
}
static int w_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n) {
    FORWARD(be, plain("add", FP8LAB_REC_OTHER, 12.0 * n), layers, add, out, a, b, n);
}
static int w_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C) {
    FORWARD(be, plain("bias_fwd", FP8LAB_REC_OTHER, 8.0 * N * C + 4.0 * C), layers, bias_fwd, out, bias, N, C);
}
static int w_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C) {
    FORWARD(be, plain("bias_bwd", FP8LAB_REC_OTHER, 4.0 * N * C + 8.0 * C), layers, bias_bwd, dbias, dout, N, C);
}

/* ---- optim ------------------------------------------------------------------------------------------------- */

static int w_adamw(fp8lab_backend *be, float *param, const float *grad, void *m, void *v, long n,
                   const fp8lab_adamw_args *a) {
    /* param read and written, grad read, both moments read and written */
    const double mb = a->moments == FP8LAB_MOMENTS_BF16 ? 2 : 4;
    FORWARD(be, plain("adamw", FP8LAB_REC_OPTIM, (12.0 + 4 * mb) * n), optim, adamw, param, grad, m, v, n, a);
}
static int w_sumsq(fp8lab_backend *be, const float *x, long n, double *sumsq_dev) {
    FORWARD(be, plain("sumsq", FP8LAB_REC_OPTIM, 4.0 * n), optim, sumsq, x, n, sumsq_dev);
}
static int w_count_nonfinite(fp8lab_backend *be, const float *x, long n, int64_t *count_dev) {
    FORWARD(be, plain("count_nonfinite", FP8LAB_REC_OPTIM, 4.0 * n), optim, count_nonfinite, x, n, count_dev);
}

/* ---- the backend ------------------------------------------------------------------------------------------- */

static const fp8lab_mem_ops MEM = {.alloc = w_alloc,     .free = w_free,         .copy_h2d = w_copy_h2d,
                                   .copy_d2h = w_copy_d2h, .copy_d2d = w_copy_d2d, .copy_2d = w_copy_2d,
                                   .memset0 = w_memset0,   .sync = w_sync,         .transpose_f32 = w_transpose_f32};
static const fp8lab_quant_ops QUANT = {
    .cast_f32_to_bf16 = w_cast_f32_to_bf16, .cast_bf16_to_f32 = w_cast_bf16_to_f32, .amax = w_amax,
    .quantize_tensor = w_quantize_tensor,   .cast_fp8_scaled = w_cast_fp8_scaled,   .quantize_1x128 = w_quantize_1x128,
    .quantize_1x128_t = w_quantize_1x128_t, .quantize_128x128 = w_quantize_128x128};
static const fp8lab_gemm_ops GEMM = {.matmul_f32 = w_matmul_f32, .gemm_f32 = w_gemm_f32, .gemm_bf16 = w_gemm_bf16,
                                     .gemm_fp8_tensor = w_gemm_fp8_tensor, .gemm_fp8_block = w_gemm_fp8_block,
                                     .matmul_f32_exact = w_matmul_f32_exact};
static const fp8lab_layer_ops LAYERS = {
    .embed_fwd = w_embed_fwd,         .embed_bwd = w_embed_bwd,         .layernorm_fwd = w_layernorm_fwd,
    .layernorm_bwd = w_layernorm_bwd, .rmsnorm_fwd = w_rmsnorm_fwd,     .rmsnorm_bwd = w_rmsnorm_bwd,
    .gelu_fwd = w_gelu_fwd,           .gelu_bwd = w_gelu_bwd,           .swiglu_fwd = w_swiglu_fwd,
    .swiglu_bwd = w_swiglu_bwd,       .rope_fwd = w_rope_fwd,           .rope_bwd = w_rope_bwd,
    .attn_fwd = w_attn_fwd,           .attn_bwd = w_attn_bwd,           .xent_fwd = w_xent_fwd,
    .xent_bwd = w_xent_bwd,           .add = w_add,                     .bias_fwd = w_bias_fwd,
    .bias_bwd = w_bias_bwd};
static const fp8lab_optim_ops OPTIM = {.adamw = w_adamw, .sumsq = w_sumsq, .count_nonfinite = w_count_nonfinite};

static void w_destroy(fp8lab_backend *be) {
    rec *r = R(be);
    fp8lab_backend_destroy(r->inner);
    free(r->log);
    free(r);
}

static int w_info(fp8lab_backend *be, fp8lab_device_info *out) { return fp8lab_backend_info(IN(R(be)), out); }

fp8lab_backend *fp8lab_record_create(fp8lab_backend *inner, const fp8lab_record_opts *opts) {
    if (!inner) return NULL;
    rec *r = calloc(1, sizeof *r);
    if (!r) {
        FP8LAB_ERR_RT("recording backend: out of host memory");
        return NULL;
    }
    r->inner = inner;
    r->opts = opts ? *opts : (fp8lab_record_opts){0};
    r->enabled = 1;
    r->self = (fp8lab_backend){.name = inner->name, .ctx = r, .destroy = w_destroy, .info = w_info, .mem = &MEM,
                               .quant = &QUANT, .gemm = &GEMM, .layers = &LAYERS, .optim = &OPTIM};
    return &r->self;
}

int fp8lab_record_is(const fp8lab_backend *be) { return be && be->destroy == w_destroy; }

void fp8lab_record_enable(fp8lab_backend *be, int on) {
    if (fp8lab_record_is(be)) R(be)->enabled = on != 0;
}

void fp8lab_record_set_phase(fp8lab_backend *be, int phase) {
    if (fp8lab_record_is(be)) R(be)->phase = phase;
}

const fp8lab_rec_op *fp8lab_record_log(const fp8lab_backend *be, int *n) {
    const rec *r = fp8lab_record_is(be) ? (const rec *)be->ctx : NULL;
    *n = r ? r->n : 0;
    return r && r->n ? r->log : NULL;
}

void fp8lab_record_totals(const fp8lab_backend *be, fp8lab_rec_totals out[FP8LAB_REC_NKINDS]) {
    memset(out, 0, sizeof(fp8lab_rec_totals) * FP8LAB_REC_NKINDS);
    if (fp8lab_record_is(be))
        memcpy(out, ((const rec *)be->ctx)->totals, sizeof(fp8lab_rec_totals) * FP8LAB_REC_NKINDS);
}

void fp8lab_record_reset(fp8lab_backend *be) {
    if (!fp8lab_record_is(be)) return;
    rec *r = R(be);
    r->n = 0;
    memset(r->totals, 0, sizeof r->totals);
}

const char *fp8lab_rec_kind_name(fp8lab_rec_kind k) {
    static const char *const n[FP8LAB_REC_NKINDS] = {"GEMM", "quantize", "attention", "norm/activation", "optimizer",
                                                     "other"};
    return (unsigned)k < FP8LAB_REC_NKINDS ? n[k] : "?";
}

const char *fp8lab_rec_prec_name(fp8lab_rec_prec p) {
    static const char *const n[] = {"-", "fp32", "bf16", "fp8-tensor", "fp8-block"};
    return (unsigned)p < sizeof n / sizeof n[0] ? n[p] : "?";
}
