/* Front functions of the layers group: the contract in layer_ops.h, checked once for every backend. Token ids
   and targets live in device memory, so their range ([0, V)) is checked by the backends, not here. */
#include "backend/layer_ops.h"

#include <limits.h>

#include "backend/check.h"
#include "core/error.h"

/* a float (or int32) tensor: not NULL, 4-byte aligned */
static int check_f(const char *op, const char *name, const void *p) { return fp8lab_check_align(op, name, p, 4); }
/* an optional one: NULL allowed */
static int check_opt_f(const char *op, const char *name, const void *p) { return p ? check_f(op, name, p) : 0; }

/* B, T >= 1 and N = B*T rows representable as an int (the row index of every [N][C] activation) */
static int check_bt(const char *op, int B, int T) {
    if (fp8lab_check_dim(op, "B", B, 1) || fp8lab_check_dim(op, "T", T, 1)) return -1;
    if ((long long)B * T <= INT_MAX) return 0;
    FP8LAB_ERR("%s: B*T = %d*%d rows exceeds INT_MAX", op, B, T);
    return -1;
}

static int check_nc(const char *op, int N, int C) {
    return fp8lab_check_dim(op, "N", N, 1) || fp8lab_check_dim(op, "C", C, 1);
}

int fp8lab_embed_fwd(fp8lab_backend *be, float *out, const int32_t *tok, const float *wte, const float *wpe, int B,
                     int T, int C, int V) {
    static const char op[] = "embed_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, embed_fwd)) || check_bt(op, B, T) ||
        fp8lab_check_dim(op, "C", C, 1) || fp8lab_check_dim(op, "V", V, 1) || check_f(op, "out", out) ||
        check_f(op, "tok", tok) || check_f(op, "wte", wte) || check_opt_f(op, "wpe", wpe))
        return -1;
    return be->layers->embed_fwd(be, out, tok, wte, wpe, B, T, C, V);
}

int fp8lab_embed_bwd(fp8lab_backend *be, float *dwte, float *dwpe, const float *dout, const int32_t *tok, int B,
                     int T, int C, int V) {
    static const char op[] = "embed_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, embed_bwd)) || check_bt(op, B, T) ||
        fp8lab_check_dim(op, "C", C, 1) || fp8lab_check_dim(op, "V", V, 1) || check_f(op, "dwte", dwte) ||
        check_opt_f(op, "dwpe", dwpe) || check_f(op, "dout", dout) || check_f(op, "tok", tok))
        return -1;
    return be->layers->embed_bwd(be, dwte, dwpe, dout, tok, B, T, C, V);
}

int fp8lab_layernorm_fwd(fp8lab_backend *be, float *out, float *mean, float *rstd, const float *x, const float *w,
                         const float *b, int N, int C, float eps) {
    static const char op[] = "layernorm_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, layernorm_fwd)) || check_nc(op, N, C) ||
        fp8lab_check_positive(op, "eps", eps) || check_f(op, "out", out) || check_f(op, "mean", mean) ||
        check_f(op, "rstd", rstd) || check_f(op, "x", x) || check_f(op, "w", w) || check_opt_f(op, "b", b))
        return -1;
    return be->layers->layernorm_fwd(be, out, mean, rstd, x, w, b, N, C, eps);
}

int fp8lab_layernorm_bwd(fp8lab_backend *be, float *dx, float *dw, float *db, const float *dout, const float *x,
                         const float *w, const float *mean, const float *rstd, int N, int C) {
    static const char op[] = "layernorm_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, layernorm_bwd)) || check_nc(op, N, C) ||
        check_f(op, "dx", dx) || check_f(op, "dw", dw) || check_opt_f(op, "db", db) || check_f(op, "dout", dout) ||
        check_f(op, "x", x) || check_f(op, "w", w) || check_f(op, "mean", mean) || check_f(op, "rstd", rstd))
        return -1;
    return be->layers->layernorm_bwd(be, dx, dw, db, dout, x, w, mean, rstd, N, C);
}

int fp8lab_rmsnorm_fwd(fp8lab_backend *be, float *out, float *rstd, const float *x, const float *w, int N, int C,
                       float eps) {
    static const char op[] = "rmsnorm_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, rmsnorm_fwd)) || check_nc(op, N, C) ||
        fp8lab_check_positive(op, "eps", eps) || check_f(op, "out", out) || check_f(op, "rstd", rstd) ||
        check_f(op, "x", x) || check_f(op, "w", w))
        return -1;
    return be->layers->rmsnorm_fwd(be, out, rstd, x, w, N, C, eps);
}

int fp8lab_rmsnorm_bwd(fp8lab_backend *be, float *dx, float *dw, const float *dout, const float *x, const float *w,
                       const float *rstd, int N, int C) {
    static const char op[] = "rmsnorm_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, rmsnorm_bwd)) || check_nc(op, N, C) ||
        check_f(op, "dx", dx) || check_f(op, "dw", dw) || check_f(op, "dout", dout) || check_f(op, "x", x) ||
        check_f(op, "w", w) || check_f(op, "rstd", rstd))
        return -1;
    return be->layers->rmsnorm_bwd(be, dx, dw, dout, x, w, rstd, N, C);
}

int fp8lab_gelu_fwd(fp8lab_backend *be, float *out, const float *x, long n) {
    static const char op[] = "gelu_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, gelu_fwd)) || fp8lab_check_count(op, n) ||
        check_f(op, "out", out) || check_f(op, "x", x))
        return -1;
    return be->layers->gelu_fwd(be, out, x, n);
}

int fp8lab_gelu_bwd(fp8lab_backend *be, float *dx, const float *dout, const float *x, long n) {
    static const char op[] = "gelu_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, gelu_bwd)) || fp8lab_check_count(op, n) ||
        check_f(op, "dx", dx) || check_f(op, "dout", dout) || check_f(op, "x", x))
        return -1;
    return be->layers->gelu_bwd(be, dx, dout, x, n);
}

int fp8lab_swiglu_fwd(fp8lab_backend *be, float *out, const float *gate_up, int N, int F) {
    static const char op[] = "swiglu_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, swiglu_fwd)) || fp8lab_check_dim(op, "N", N, 1) ||
        fp8lab_check_dim(op, "F", F, 1) || check_f(op, "out", out) || check_f(op, "gate_up", gate_up))
        return -1;
    return be->layers->swiglu_fwd(be, out, gate_up, N, F);
}

int fp8lab_swiglu_bwd(fp8lab_backend *be, float *dgate_up, const float *dout, const float *gate_up, int N, int F) {
    static const char op[] = "swiglu_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, swiglu_bwd)) || fp8lab_check_dim(op, "N", N, 1) ||
        fp8lab_check_dim(op, "F", F, 1) || check_f(op, "dgate_up", dgate_up) || check_f(op, "dout", dout) ||
        check_f(op, "gate_up", gate_up))
        return -1;
    return be->layers->swiglu_bwd(be, dgate_up, dout, gate_up, N, F);
}

/* RoPE pairs (i, i + D/2): D even */
static int check_rope(const char *op, const char *name, const float *x, int B, int T, int H, int D, float theta) {
    return check_bt(op, B, T) || fp8lab_check_dim(op, "H", H, 1) || fp8lab_check_dim(op, "D", D, 2) ||
           fp8lab_check_positive(op, "theta", theta) || check_f(op, name, x);
}

int fp8lab_rope_fwd(fp8lab_backend *be, float *x, int B, int T, int H, int D, float theta) {
    static const char op[] = "rope_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, rope_fwd)) || check_rope(op, "x", x, B, T, H, D, theta))
        return -1;
    return be->layers->rope_fwd(be, x, B, T, H, D, theta);
}

int fp8lab_rope_bwd(fp8lab_backend *be, float *dx, int B, int T, int H, int D, float theta) {
    static const char op[] = "rope_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, rope_bwd)) ||
        check_rope(op, "dx", dx, B, T, H, D, theta))
        return -1;
    return be->layers->rope_bwd(be, dx, B, T, H, D, theta);
}

/* every dimension >= 1, Hkv divides Hq */
static int check_attn_shape(const char *op, fp8lab_attn_shape s) {
    if (check_bt(op, s.B, s.T) || fp8lab_check_dim(op, "Hq", s.Hq, 1) || fp8lab_check_dim(op, "Hkv", s.Hkv, 1) ||
        fp8lab_check_dim(op, "D", s.D, 1))
        return -1;
    if (s.Hq % s.Hkv == 0) return 0;
    FP8LAB_ERR("%s: Hkv = %d must divide Hq = %d (grouped-query attention)", op, s.Hkv, s.Hq);
    return -1;
}

int fp8lab_attn_fwd(fp8lab_backend *be, float *out, float *lse, const float *q, const float *k, const float *v,
                    fp8lab_attn_shape s) {
    static const char op[] = "attn_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, attn_fwd)) || check_attn_shape(op, s) ||
        check_f(op, "out", out) || check_f(op, "lse", lse) || check_f(op, "q", q) || check_f(op, "k", k) ||
        check_f(op, "v", v))
        return -1;
    return be->layers->attn_fwd(be, out, lse, q, k, v, s);
}

int fp8lab_attn_bwd(fp8lab_backend *be, float *dq, float *dk, float *dv, const float *dout, const float *out,
                    const float *lse, const float *q, const float *k, const float *v, fp8lab_attn_shape s) {
    static const char op[] = "attn_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, attn_bwd)) || check_attn_shape(op, s) ||
        check_f(op, "dq", dq) || check_f(op, "dk", dk) || check_f(op, "dv", dv) || check_f(op, "dout", dout) ||
        check_f(op, "out", out) || check_f(op, "lse", lse) || check_f(op, "q", q) || check_f(op, "k", k) ||
        check_f(op, "v", v))
        return -1;
    return be->layers->attn_bwd(be, dq, dk, dv, dout, out, lse, q, k, v, s);
}

int fp8lab_xent_fwd(fp8lab_backend *be, float *loss, const float *logits, const int32_t *targets, int N, int V) {
    static const char op[] = "xent_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, xent_fwd)) || fp8lab_check_dim(op, "N", N, 1) ||
        fp8lab_check_dim(op, "V", V, 1) || check_f(op, "loss", loss) || check_f(op, "logits", logits) ||
        check_f(op, "targets", targets))
        return -1;
    return be->layers->xent_fwd(be, loss, logits, targets, N, V);
}

int fp8lab_xent_bwd(fp8lab_backend *be, float *dlogits, const float *logits, const int32_t *targets, int N, int V,
                    float dloss) {
    static const char op[] = "xent_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, xent_bwd)) || fp8lab_check_dim(op, "N", N, 1) ||
        fp8lab_check_dim(op, "V", V, 1) || fp8lab_check_finite(op, "dloss", dloss) ||
        check_f(op, "dlogits", dlogits) || check_f(op, "logits", logits) || check_f(op, "targets", targets))
        return -1;
    return be->layers->xent_bwd(be, dlogits, logits, targets, N, V, dloss);
}

int fp8lab_add(fp8lab_backend *be, float *out, const float *a, const float *b, long n) {
    static const char op[] = "add";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, add)) || fp8lab_check_count(op, n) ||
        check_f(op, "out", out) || check_f(op, "a", a) || check_f(op, "b", b))
        return -1;
    return be->layers->add(be, out, a, b, n);
}

int fp8lab_bias_fwd(fp8lab_backend *be, float *out, const float *bias, int N, int C) {
    static const char op[] = "bias_fwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, bias_fwd)) || check_nc(op, N, C) ||
        check_f(op, "out", out) || check_f(op, "bias", bias))
        return -1;
    return be->layers->bias_fwd(be, out, bias, N, C);
}

int fp8lab_bias_bwd(fp8lab_backend *be, float *dbias, const float *dout, int N, int C) {
    static const char op[] = "bias_bwd";
    if (fp8lab_check_op(be, op, FP8LAB_HAS_OP(be, layers, bias_bwd)) || check_nc(op, N, C) ||
        check_f(op, "dbias", dbias) || check_f(op, "dout", dout))
        return -1;
    return be->layers->bias_bwd(be, dbias, dout, N, C);
}
