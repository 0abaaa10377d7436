/* The Linear's recipes (linear.h): FP32 through matmul_f32, BF16 and FP8 through the NT GEMMs of gemm_ops.h,
   with the weight operands cached per step in a context. */
#include "nn/linear.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fp8/quant.h"

static const char *const RECIPE_NAMES[FP8LAB_RECIPE_COUNT] = {
    [FP8LAB_RECIPE_FP32] = "fp32",
    [FP8LAB_RECIPE_BF16] = "bf16",
    [FP8LAB_RECIPE_FP8_TENSOR] = "fp8-tensor",
    [FP8LAB_RECIPE_FP8_BLOCK] = "fp8-block",
    [FP8LAB_RECIPE_FP8_TENSOR_DELAYED] = "fp8-tensor-delayed",
};

const char *fp8lab_recipe_name(fp8lab_recipe r) {
    return (unsigned)r < FP8LAB_RECIPE_COUNT ? RECIPE_NAMES[r] : "unknown";
}

int fp8lab_recipe_parse(const char *s, fp8lab_recipe *out) {
    for (int i = 0; s && i < FP8LAB_RECIPE_COUNT; i++)
        if (!strcmp(s, RECIPE_NAMES[i])) {
            *out = (fp8lab_recipe)i;
            return 0;
        }
    FP8LAB_ERR("recipe '%s': expected fp32, bf16, fp8-tensor, fp8-tensor-delayed or fp8-block", s ? s : "(null)");
    return -1;
}

static int per_tensor(fp8lab_recipe r) {
    return r == FP8LAB_RECIPE_FP8_TENSOR || r == FP8LAB_RECIPE_FP8_TENSOR_DELAYED;
}

int fp8lab_recipe_pad_multiple(fp8lab_recipe r) {
    return r == FP8LAB_RECIPE_FP8_BLOCK ? FP8LAB_TILE : per_tensor(r) ? 16 : 1;
}

static int check_known(fp8lab_recipe r) {
    if ((unsigned)r < FP8LAB_RECIPE_COUNT) return 0;
    FP8LAB_ERR("linear: unknown recipe %d", (int)r);
    return -1;
}

/* Any positive size; the padded size must still be an int (the backend's GEMM dimensions). */
static int check_dim(fp8lab_recipe r, const char *name, const char *dim, long v) {
    if (v >= 1 && v <= INT_MAX - FP8LAB_TILE) return 0;
    FP8LAB_ERR("%s: %s = %ld must be in [1, %d] (recipe %s)", name, dim, v, INT_MAX - FP8LAB_TILE,
               fp8lab_recipe_name(r));
    return -1;
}

int fp8lab_linear_check(const fp8lab_linear *l, const char *name) {
    if (check_known(l->recipe)) return -1;
    if (l->layout != FP8LAB_W_OUT_IN && l->layout != FP8LAB_W_IN_OUT) {
        FP8LAB_ERR("%s: unknown weight layout %d", name, (int)l->layout);
        return -1;
    }
    return check_dim(l->recipe, name, "in", l->in) || check_dim(l->recipe, name, "out", l->out);
}

static int round_up(int v, int m) { return (v + m - 1) / m * m; }

/* A call's sizes and what the recipe pads each to (linear.h): tokens N, in I, out O. */
typedef struct {
    int N, I, O;
    int Np, Ip, Op;
} lin_dims;

static lin_dims dims_of(const fp8lab_linear *l, int N) {
    const int m = fp8lab_recipe_pad_multiple(l->recipe);
    return (lin_dims){.N = N, .I = l->in, .O = l->out, .Np = round_up(N, m), .Ip = round_up(l->in, m),
                      .Op = round_up(l->out, m)};
}

/* ---- the context ----------------------------------------------------------------------------------------- */

/* Scratch slots, each grown on demand (one Linear runs at a time). */
enum {
    S_T0,    /* f32 transposes: a weight, x^T */
    S_T1,    /* f32 transpose dy^T */
    S_QA,    /* first GEMM operand of Fprop/Dgrad (FP8 or BF16); the discarded half of quantize_1x128_t(x); a
                padded per-tensor weight before its copy into place */
    S_SA,    /* its scales */
    S_QB,    /* Wgrad: x^T */
    S_SB,
    S_QC,    /* Wgrad: dy^T */
    S_SC,
    S_ACC,   /* f32 GEMM output to be added (Wgrad, accumulated Dgrad), or padded */
    S_OUT,   /* BF16 GEMM output */
    S_AMAX,  /* delayed scaling: one device float */
    S_UNPAD, /* a GEMM output with padded columns, cut back to its columns */
    S_BA,    /* Wgrad through a sink: one 128-token block of A (dy^T or x^T) */
    S_BB,    /* ... and of B */
    /* zero-padded copies, written only by padded() (their zeros are kept between calls): */
    S_PW,    /* fp8-block: an f32 weight orientation before quantize_128x128 */
    S_PX,    /* x: fp8-block f32 [Np][Ip]; fp8-tensor* FP8 [N][Ip] */
    S_PD,    /* dy: fp8-block f32 [Np][Op]; fp8-tensor* FP8 [N][Op] */
    S_PB,    /* fp8-tensor*: FP8 x^T, Wgrad */
    S_PC,    /* fp8-tensor*: FP8 dy^T, Wgrad */
    S_NSLOT
};

/* What a padded() slot holds: [rows][cols] of es-byte elements inside [rows_p][cols_p], zeros elsewhere
   (all 0: nothing known). */
typedef struct {
    int rows, cols, rows_p, cols_p;
    size_t es;
} pad_geom;

/* device floats of a per-tensor entry */
enum { T_X, T_W, T_DY, T_NT };

typedef struct wentry {
    const float *w;
    int in, out;
    int in_p, out_p; /* padded (linear.h); the operands are [out_p][in_p] and [in_p][out_p], zeros around */
    fp8lab_wlayout layout;
    fp8lab_recipe recipe;
    /* [0]: Wo ([out][in], Fprop's B), [1]: Wi ([in][out], Dgrad's B) */
    void *q[2];
    float *s[2];               /* 128x128 scales (fp8-block) */
    unsigned long gen[2];      /* context generation each was made in (0: never) */
    float *tscale;             /* device [T_NT]: per-tensor scale_inv of x, W, dy */
    float host_scale[T_NT];    /* the same on the host (delayed: what was used; current: 0) */
    float *hist[T_NT];         /* delayed: host rings of amax_history */
    int hist_n[T_NT], hist_pos[T_NT];
    unsigned long w_scaled_gen; /* delayed: the generation W's history was updated in */
    float *restore;             /* delayed: a checkpoint's histories, installed when the entry is made */
} wentry;

struct fp8lab_linear_ctx {
    fp8lab_backend *be;
    fp8lab_linear_opts opts;
    unsigned long gen;
    wentry *e;
    int n, cap;
    void *slot[S_NSLOT];
    size_t slot_bytes[S_NSLOT];
    pad_geom geom[S_NSLOT];
    fp8lab_linear_stats stats;
};

static _Thread_local fp8lab_linear_ctx *g_bound;

fp8lab_linear_ctx *fp8lab_linear_ctx_bind(fp8lab_linear_ctx *c) {
    fp8lab_linear_ctx *prev = g_bound;
    g_bound = c;
    return prev;
}

fp8lab_linear_ctx *fp8lab_linear_ctx_create(fp8lab_backend *be, const fp8lab_linear_opts *opts) {
    fp8lab_linear_opts o = opts ? *opts : (fp8lab_linear_opts){0};
    if (!o.amax_history) o.amax_history = FP8LAB_AMAX_HISTORY_DEFAULT;
    if (!be || o.amax_history < 1 || o.amax_history > FP8LAB_AMAX_HISTORY_MAX) {
        FP8LAB_ERR("linear context: %s (amax history %d must be in [1, %d])", be ? "bad options" : "NULL backend",
                   o.amax_history, FP8LAB_AMAX_HISTORY_MAX);
        return NULL;
    }
    fp8lab_linear_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        FP8LAB_ERR_RT("linear context: out of host memory");
        return NULL;
    }
    c->be = be;
    c->opts = o;
    c->gen = 1;
    return c;
}

static void entry_free_buffers(fp8lab_backend *be, wentry *e) {
    for (int k = 0; k < 2; k++) {
        fp8lab_free(be, e->q[k]);
        fp8lab_free(be, e->s[k]);
        e->q[k] = NULL;
        e->s[k] = NULL;
        e->gen[k] = 0;
    }
    fp8lab_free(be, e->tscale);
    e->tscale = NULL;
    for (int t = 0; t < T_NT; t++) {
        free(e->hist[t]);
        e->hist[t] = NULL;
        e->hist_n[t] = e->hist_pos[t] = 0;
        e->host_scale[t] = 0;
    }
    e->w_scaled_gen = 0;
}

void fp8lab_linear_ctx_destroy(fp8lab_linear_ctx *c) {
    if (!c) return;
    if (g_bound == c) g_bound = NULL;
    for (int i = 0; i < c->n; i++) {
        entry_free_buffers(c->be, &c->e[i]);
        free(c->e[i].restore);
    }
    free(c->e);
    for (int i = 0; i < S_NSLOT; i++) fp8lab_free(c->be, c->slot[i]);
    free(c);
}

void fp8lab_linear_ctx_invalidate(fp8lab_linear_ctx *c) {
    if (c) c->gen++;
}

void fp8lab_linear_ctx_stats(const fp8lab_linear_ctx *c, fp8lab_linear_stats *out) {
    *out = c ? c->stats : (fp8lab_linear_stats){0};
}

static wentry *find_entry(const fp8lab_linear_ctx *c, const float *w) {
    for (int i = 0; i < c->n; i++)
        if (c->e[i].w == w) return &c->e[i];
    return NULL;
}

int fp8lab_linear_ctx_scales(const fp8lab_linear_ctx *c, const float *w, float *sx, float *sw, float *sdy) {
    const wentry *e = c ? find_entry(c, w) : NULL;
    if (!e) {
        FP8LAB_ERR("linear context: no entry for weight %p", (const void *)w);
        return -1;
    }
    float s[T_NT] = {0};
    if (e->tscale && fp8lab_copy_d2h(c->be, s, e->tscale, sizeof s)) return -1;
    *sx = s[T_X];
    *sw = s[T_W];
    *sdy = s[T_DY];
    return 0;
}

static void *scratch(fp8lab_linear_ctx *c, int slot, size_t bytes) {
    if (bytes > c->slot_bytes[slot]) {
        fp8lab_free(c->be, c->slot[slot]);
        c->slot_bytes[slot] = 0;
        c->geom[slot] = (pad_geom){0};
        bytes += bytes / 4; /* headroom against regrowing for a slightly larger layer */
        if (!(c->slot[slot] = fp8lab_alloc(c->be, bytes))) return NULL;
        c->slot_bytes[slot] = bytes;
    }
    return c->slot[slot];
}

static int same_geom(const pad_geom *a, const pad_geom *b) {
    return a->rows == b->rows && a->cols == b->cols && a->rows_p == b->rows_p && a->cols_p == b->cols_p &&
           a->es == b->es;
}

/* src[rows][cols] (es-byte elements) as [rows_p][cols_p] with zeros around it, in padded slot `slot`; src itself
   when nothing needs padding. A slot keeps its zeros: a copy of the geometry it holds writes only the interior
   the last one wrote, so the pad is zero-filled only when the geometry changes (or the slot regrows). */
static const void *padded(fp8lab_linear_ctx *c, int slot, const void *src, int rows, int cols, int rows_p,
                          int cols_p, size_t es) {
    if (rows == rows_p && cols == cols_p) return src;
    const size_t row = es * (size_t)cols, bytes = es * (size_t)rows_p * (size_t)cols_p;
    char *p = scratch(c, slot, bytes);
    if (!p) return NULL;
    const pad_geom g = {rows, cols, rows_p, cols_p, es};
    const int keep = same_geom(&c->geom[slot], &g);
    c->geom[slot] = (pad_geom){0}; /* unknown until every write below has succeeded */
    long wrote = (long)(row * (size_t)rows);
    int rc;
    if (cols == cols_p) { /* rows only: one contiguous copy, then the zero rows */
        rc = fp8lab_copy_d2d(c->be, p, src, row * (size_t)rows) ||
             (!keep && fp8lab_memset0(c->be, p + row * (size_t)rows, bytes - row * (size_t)rows));
        wrote += keep ? 0 : (long)(bytes - row * (size_t)rows);
    } else {
        rc = (!keep && fp8lab_memset0(c->be, p, bytes)) ||
             fp8lab_copy_2d(c->be, p, es * (size_t)cols_p, src, row, row, (size_t)rows);
        wrote += keep ? 0 : (long)bytes;
    }
    if (rc) return NULL;
    c->geom[slot] = g;
    c->stats.pad_bytes += wrote;
    return p;
}

/* A new, empty entry for weight w. */
static wentry *append_entry(fp8lab_linear_ctx *c, const float *w) {
    if (c->n == c->cap) {
        const int cap = c->cap ? 2 * c->cap : 32;
        wentry *ne = realloc(c->e, sizeof *ne * (size_t)cap);
        if (!ne) {
            FP8LAB_ERR_RT("linear context: out of host memory");
            return NULL;
        }
        c->e = ne;
        c->cap = cap;
    }
    wentry *e = &c->e[c->n++];
    memset(e, 0, sizeof *e);
    e->w = w;
    return e;
}

/* ---- amax histories in checkpoints -------------------------------------------------------------------------- */

size_t fp8lab_linear_ctx_history_floats(const fp8lab_linear_ctx *c) {
    return (size_t)T_NT * (size_t)(1 + c->opts.amax_history);
}

/* rec: per tensor (x, W, dy) its count n, then n amaxes oldest first, then zeros; the ring restarts at n (the
   next amax overwrites the oldest once full, as it would have), so a resumed run scales as the saved one. */
static void install_history(const fp8lab_linear_ctx *c, wentry *e, const float *rec) {
    const int L = c->opts.amax_history;
    for (int t = 0; t < T_NT; t++) {
        const float *r = rec + (size_t)t * (size_t)(1 + L);
        const int n = (int)r[0];
        memcpy(e->hist[t], r + 1, sizeof(float) * (size_t)n);
        e->hist_n[t] = n;
        e->hist_pos[t] = n % L;
    }
}

int fp8lab_linear_ctx_history_get(const fp8lab_linear_ctx *c, const float *w, float *rec) {
    const size_t nf = fp8lab_linear_ctx_history_floats(c);
    memset(rec, 0, sizeof(float) * nf);
    const wentry *e = find_entry(c, w);
    if (e && e->restore) memcpy(rec, e->restore, sizeof(float) * nf); /* not yet used since it was set */
    if (!e || !e->hist[0]) return 0;
    const int L = c->opts.amax_history;
    for (int t = 0; t < T_NT; t++) {
        float *r = rec + (size_t)t * (size_t)(1 + L);
        const int n = e->hist_n[t], oldest = (e->hist_pos[t] - n + L) % L;
        r[0] = (float)n;
        for (int i = 0; i < n; i++) r[1 + i] = e->hist[t][(oldest + i) % L];
    }
    return 0;
}

int fp8lab_linear_ctx_history_check(const fp8lab_linear_ctx *c, const float *rec, const char *name) {
    const int L = c->opts.amax_history;
    for (int t = 0; t < T_NT; t++) {
        const float *r = rec + (size_t)t * (size_t)(1 + L);
        if (!(r[0] >= 0 && r[0] <= (float)L && r[0] == floorf(r[0]))) {
            FP8LAB_ERR("%s: amax history count %g is not a whole number in [0, %d]", name, (double)r[0], L);
            return -1;
        }
        for (int i = 1; i <= L; i++)
            if (!(isfinite(r[i]) && r[i] >= 0) || (i > (int)r[0] && r[i] != 0)) {
                FP8LAB_ERR("%s: amax history value %g at %d is not a finite amax (or a zero past the count %g)",
                           name, (double)r[i], i, (double)r[0]);
                return -1;
            }
    }
    return 0;
}

int fp8lab_linear_ctx_history_set(fp8lab_linear_ctx *c, const float *w, const float *rec, const char *name) {
    if (fp8lab_linear_ctx_history_check(c, rec, name)) return -1;
    wentry *e = find_entry(c, w);
    if (e && e->hist[0]) {
        install_history(c, e, rec);
        return 0;
    }
    if (!e) { /* an empty entry that the first use makes (get_entry: its recipe matches no Linear's) */
        if (!(e = append_entry(c, w))) return -1;
        e->recipe = (fp8lab_recipe)-1;
    }
    const size_t bytes = sizeof(float) * fp8lab_linear_ctx_history_floats(c);
    if (!e->restore && !(e->restore = malloc(bytes))) {
        FP8LAB_ERR_RT("linear context: out of host memory");
        return -1;
    }
    memcpy(e->restore, rec, bytes);
    return 0;
}

/* The entry of weight w for Linear l (created, or remade when the Linear's shape or recipe changed). */
static wentry *get_entry(fp8lab_linear_ctx *c, const fp8lab_linear *l, const float *w) {
    wentry *e = find_entry(c, w);
    if (e && (e->in != l->in || e->out != l->out || e->layout != l->layout || e->recipe != l->recipe)) {
        entry_free_buffers(c->be, e);
        const float *kw = e->w;
        float *restore = e->restore;
        memset(e, 0, sizeof *e);
        e->w = kw;
        e->restore = restore;
    } else if (e) {
        return e;
    } else if (!(e = append_entry(c, w))) {
        return NULL;
    }
    const lin_dims d = dims_of(l, 1);
    e->in = l->in;
    e->out = l->out;
    e->in_p = d.Ip;
    e->out_p = d.Op;
    e->layout = l->layout;
    e->recipe = l->recipe;
    const size_t n = (size_t)d.Ip * (size_t)d.Op, es = l->recipe == FP8LAB_RECIPE_BF16 ? 2 : 1;
    const int pad = d.Ip != d.I || d.Op != d.O;
    for (int k = 0; k < 2; k++) {
        const int rows = k == 0 ? d.Op : d.Ip, cols = k == 0 ? d.Ip : d.Op;
        if (!(e->q[k] = fp8lab_alloc(c->be, es * n))) goto fail;
        /* per-tensor operands are copied into place inside their padding: zeroed once, here */
        if (pad && per_tensor(l->recipe)) {
            if (fp8lab_memset0(c->be, e->q[k], es * n)) goto fail;
            c->stats.pad_bytes += (long)(es * n);
        }
        if (l->recipe == FP8LAB_RECIPE_FP8_BLOCK &&
            !(e->s[k] = fp8lab_alloc(c->be, sizeof(float) * fp8lab_scale_128x128_count((size_t)rows, cols))))
            goto fail;
    }
    if (per_tensor(l->recipe)) {
        if (!(e->tscale = fp8lab_alloc(c->be, sizeof(float) * T_NT)) ||
            fp8lab_memset0(c->be, e->tscale, sizeof(float) * T_NT))
            goto fail;
        if (l->recipe == FP8LAB_RECIPE_FP8_TENSOR_DELAYED)
            for (int t = 0; t < T_NT; t++)
                if (!(e->hist[t] = calloc((size_t)c->opts.amax_history, sizeof(float)))) {
                    FP8LAB_ERR_RT("linear context: out of host memory");
                    goto fail;
                }
    }
    if (e->hist[0] && e->restore) {
        install_history(c, e, e->restore);
        free(e->restore);
        e->restore = NULL;
    }
    return e;
fail:
    entry_free_buffers(c->be, e);
    e->recipe = (fp8lab_recipe)-1; /* remade on the next use */
    return NULL;
}

/* ---- per-tensor scaling ------------------------------------------------------------------------------------ */

/* Delayed scaling of tensor t of entry e: the scale_inv from the history (the current amax when the history
   is empty), written to e->tscale[t]; then the current amax joins the history. */
static int delayed_scale(fp8lab_linear_ctx *c, wentry *e, int t, const float *x, long n, int fmt) {
    float *amax_dev = scratch(c, S_AMAX, sizeof(float)), amax = 0;
    if (!amax_dev || fp8lab_amax(c->be, x, n, amax_dev) || fp8lab_copy_d2h(c->be, &amax, amax_dev, sizeof amax))
        return -1;
    if (!isfinite(amax)) {
        FP8LAB_ERR("linear %dx%d (fp8-tensor-delayed): the %s has a non-finite value (amax %g)", e->in, e->out,
                   t == T_X ? "input x" : t == T_W ? "weight" : "output gradient dy", (double)amax);
        return -1;
    }
    float h = 0;
    for (int i = 0; i < e->hist_n[t]; i++) h = fmaxf(h, e->hist[t][i]);
    const float s = fp8_scale_inv_from_amax(e->hist_n[t] ? h : amax, fmt, 0);
    e->hist[t][e->hist_pos[t]] = amax;
    e->hist_pos[t] = (e->hist_pos[t] + 1) % c->opts.amax_history;
    if (e->hist_n[t] < c->opts.amax_history) e->hist_n[t]++;
    e->host_scale[t] = s;
    return fp8lab_copy_h2d(c->be, e->tscale + t, &s, sizeof s);
}

/* x[n] to FP8 with tensor t's scale: current scaling (quantize_tensor), or delayed (update_history: take a new
   scale from the history, else reuse the one set last). */
static int quant_tensor(fp8lab_linear_ctx *c, wentry *e, int t, const float *x, long n, int fmt, int update_history,
                        uint8_t *q) {
    if (e->recipe == FP8LAB_RECIPE_FP8_TENSOR) return fp8lab_quantize_tensor(c->be, x, n, fmt, 0, q, e->tscale + t);
    if (update_history && delayed_scale(c, e, t, x, n, fmt)) return -1;
    return fp8lab_cast_fp8_scaled(c->be, x, n, fmt, e->tscale + t, q);
}

/* ---- weight operands, once per context generation ---------------------------------------------------------- */

/* Makes e->q[k] (k 0: Wo [out][in], 1: Wi [in][out]; padded as the entry says) from the FP32 weight, unless it
   is current. */
static int weight_operand(fp8lab_linear_ctx *c, wentry *e, int k) {
    if (e->gen[k] == c->gen) {
        c->stats.weight_reuses++;
        return 0;
    }
    fp8lab_backend *be = c->be;
    const int rows = k == 0 ? e->out : e->in, cols = k == 0 ? e->in : e->out;
    const int rows_p = k == 0 ? e->out_p : e->in_p, cols_p = k == 0 ? e->in_p : e->out_p;
    const long n = (long)rows * cols;
    const int stored = e->layout == FP8LAB_W_OUT_IN ? 0 : 1, pad = rows != rows_p || cols != cols_p;
    const float *src = e->w;
    if (k != stored) { /* the other orientation: transpose the FP32 weight (its stored [cols][rows]) */
        float *t = scratch(c, S_T0, sizeof(float) * (size_t)n);
        if (!t || fp8lab_transpose_f32(be, e->w, cols, rows, t)) return -1;
        src = t;
    }
    int rc;
    switch (e->recipe) {
    case FP8LAB_RECIPE_BF16: rc = fp8lab_cast_f32_to_bf16(be, src, n, e->q[k]); break;
    case FP8LAB_RECIPE_FP8_BLOCK: {
        /* 128x128 blocks need both sides padded before quantizing (a block's amax ignores the zeros) */
        const float *sp = padded(c, S_PW, src, rows, cols, rows_p, cols_p, sizeof(float));
        rc = !sp || fp8lab_quantize_128x128(be, sp, rows_p, cols_p, FP8_E4M3, 0, e->q[k], e->s[k]);
        break;
    }
    case FP8LAB_RECIPE_FP8_TENSOR:
    case FP8LAB_RECIPE_FP8_TENSOR_DELAYED: {
        /* both orientations share one scale: the history takes W's amax once per generation. Padded: quantized
           densely, then its bytes copied into the operand's zeroed padding (FP8 0x00 is +0). */
        const int update = e->w_scaled_gen != c->gen;
        uint8_t *q = pad ? scratch(c, S_QA, (size_t)n) : e->q[k];
        rc = !q || quant_tensor(c, e, T_W, src, n, FP8_E4M3, update, q) ||
             (pad && fp8lab_copy_2d(be, e->q[k], (size_t)cols_p, q, (size_t)cols, (size_t)cols, (size_t)rows));
        if (!rc && pad) c->stats.pad_bytes += n;
        if (!rc) e->w_scaled_gen = c->gen;
        break;
    }
    default: rc = -1; FP8LAB_ERR("linear: recipe %s has no weight operand", fp8lab_recipe_name(e->recipe));
    }
    if (rc) return -1;
    e->gen[k] = c->gen;
    c->stats.weight_quants++;
    return 0;
}

/* ---- GEMM output ------------------------------------------------------------------------------------------- */

/* Where a GEMM writes: [rows_p][cols_p] of dt in buf (dst itself when F32, unpadded and not accumulated, else a
   scratch), and what finish_out makes of it: dst[rows][cols] = or += its top-left corner. */
typedef struct {
    float *dst;
    int rows, cols, rows_p, cols_p;
    int accumulate;
    fp8lab_out_dtype dt;
    void *buf;
    fp8lab_grad_sink *sink; /* accumulate through it (F32 only) */
} gemm_out;

static int start_out(fp8lab_linear_ctx *c, gemm_out *o, float *dst, int rows, int cols, int rows_p, int cols_p,
                     int accumulate, fp8lab_out_dtype dt) {
    *o = (gemm_out){.dst = dst, .rows = rows, .cols = cols, .rows_p = rows_p, .cols_p = cols_p,
                    .accumulate = accumulate, .dt = dt};
    const size_t np = (size_t)rows_p * (size_t)cols_p;
    if (dt == FP8LAB_BF16) o->buf = scratch(c, S_OUT, sizeof(uint16_t) * np);
    else o->buf = accumulate || rows_p != rows || cols_p != cols ? scratch(c, S_ACC, sizeof(float) * np) : dst;
    return o->buf ? 0 : -1;
}

static int finish_out(fp8lab_linear_ctx *c, const gemm_out *o) {
    fp8lab_backend *be = c->be;
    const long n = (long)o->rows * o->cols;
    const size_t es = o->dt == FP8LAB_BF16 ? sizeof(uint16_t) : sizeof(float);
    const void *res = o->buf; /* the result, dense [rows][cols] */
    if (o->cols_p != o->cols) {
        /* padded columns: the rows cut back to their width (F32 not accumulated: straight into dst) */
        void *u = o->dt == FP8LAB_F32 && !o->accumulate ? (void *)o->dst : scratch(c, S_UNPAD, es * (size_t)n);
        if (!u || fp8lab_copy_2d(be, u, es * (size_t)o->cols, o->buf, es * (size_t)o->cols_p, es * (size_t)o->cols,
                                 (size_t)o->rows))
            return -1;
        c->stats.pad_bytes += (long)es * n;
        if (u == o->dst) return 0;
        res = u;
    } /* padded rows alone: the first rows are the result */
    if (o->dt == FP8LAB_F32) {
        if (o->accumulate) return fp8lab_grad_add(be, o->sink, o->dst, res, n);
        if (res == o->dst) return 0;
        c->stats.pad_bytes += (long)es * n;
        return fp8lab_copy_d2d(be, o->dst, res, es * (size_t)n);
    }
    if (!o->accumulate) return fp8lab_cast_bf16_to_f32(be, res, n, o->dst);
    /* BF16 accumulated: res is S_OUT or S_UNPAD, so S_ACC is free */
    float *t = scratch(c, S_ACC, sizeof(float) * (size_t)n);
    return !t || fp8lab_cast_bf16_to_f32(be, res, n, t) || fp8lab_add(be, o->dst, o->dst, t, n);
}

/* ---- the Linear -------------------------------------------------------------------------------------------- */

static fp8lab_linear_ctx *ctx_of(const fp8lab_linear *l) {
    fp8lab_linear_ctx *c = l->ctx ? l->ctx : g_bound;
    if (!c)
        FP8LAB_ERR("linear %dx%d: recipe %s needs a linear context (fp8lab_linear_ctx_create, and the Linear's "
                   "ctx or fp8lab_linear_ctx_bind; the model binds its own)",
                   l->in, l->out, fp8lab_recipe_name(l->recipe));
    return c;
}

/* The checks of both directions; the context and entry for non-fp32 recipes. */
static int prepare(fp8lab_backend *be, const fp8lab_linear *l, const float *w, int N, fp8lab_linear_ctx **c,
                   wentry **e) {
    char name[64];
    snprintf(name, sizeof name, "linear %dx%d", l->in, l->out);
    if (fp8lab_linear_check(l, name) || check_dim(l->recipe, name, "N (tokens: B*T)", N)) return -1;
    if (l->recipe == FP8LAB_RECIPE_FP32) return 0;
    if (!(*c = ctx_of(l))) return -1;
    if ((*c)->be != be) {
        FP8LAB_ERR("%s: its linear context belongs to another backend", name);
        return -1;
    }
    if (!w) {
        FP8LAB_ERR("%s: NULL weight", name);
        return -1;
    }
    return (*e = get_entry(*c, l, w)) ? 0 : -1;
}

/* BF16 operand: x[n] cast into a scratch slot */
static uint16_t *to_bf16(fp8lab_linear_ctx *c, int slot, const float *x, long n) {
    uint16_t *h = scratch(c, slot, sizeof(uint16_t) * (size_t)n);
    return h && !fp8lab_cast_f32_to_bf16(c->be, x, n, h) ? h : NULL;
}

/* fp8-tensor*: x[rows][cols] to FP8 with tensor t's scale, as [rows][cols_p] (padded slot pslot when cols_p
   differs: the bytes are padded after quantizing, a quarter of what padding the FP32 would move). */
static const uint8_t *quant_tensor_padded(fp8lab_linear_ctx *c, wentry *e, int t, const float *x, int rows,
                                          int cols, int rows_p, int cols_p, int fmt, int update_history, int qslot,
                                          int pslot) {
    uint8_t *q = scratch(c, qslot, (size_t)rows * (size_t)cols);
    if (!q || quant_tensor(c, e, t, x, (long)rows * cols, fmt, update_history, q)) return NULL;
    return padded(c, pslot, q, rows, cols, rows_p, cols_p, 1);
}

/* What the GEMMs write: FP32, or BF16 (the context's option) */
static fp8lab_out_dtype out_dtype(const fp8lab_linear_ctx *c) { return c->opts.out_f32 ? FP8LAB_F32 : FP8LAB_BF16; }

int fp8lab_linear_fwd(fp8lab_backend *be, const fp8lab_linear *l, float *y, const float *x, const float *w,
                      const float *b, int N) {
    fp8lab_linear_ctx *c = NULL;
    wentry *e = NULL;
    if (prepare(be, l, w, N, &c, &e)) return -1;
    const int I = l->in, O = l->out;
    if (l->recipe == FP8LAB_RECIPE_FP32) {
        /* y[N][out] = x[N][in] . op(W)[in][out]: W[out][in] is read transposed, W[in][out] as is */
        const fp8lab_op_t tw = l->layout == FP8LAB_W_OUT_IN ? FP8LAB_OP_T : FP8LAB_OP_N;
        if (fp8lab_matmul_f32(be, FP8LAB_OP_N, tw, N, O, I, 1.0f, x, w, 0.0f, y)) return -1;
        return b ? fp8lab_bias_fwd(be, y, b, N, O) : 0;
    }
    /* y[N][O] = x[N][I] . Wo[O][I]^T, at [M][Op] = [M][Ip] . [Op][Ip]^T (M: N, padded for fp8-block) */
    const lin_dims d = dims_of(l, N);
    const int M = l->recipe == FP8LAB_RECIPE_FP8_BLOCK ? d.Np : N;
    gemm_out o;
    if (weight_operand(c, e, 0) || start_out(c, &o, y, N, O, M, d.Op, 0, out_dtype(c))) return -1;
    int rc = -1;
    switch (l->recipe) {
    case FP8LAB_RECIPE_BF16: {
        const uint16_t *xa = to_bf16(c, S_QA, x, (long)N * I);
        rc = !xa || fp8lab_gemm_bf16(be, xa, e->q[0], N, O, I, o.dt, o.buf);
        break;
    }
    case FP8LAB_RECIPE_FP8_TENSOR:
    case FP8LAB_RECIPE_FP8_TENSOR_DELAYED: {
        const uint8_t *qa = quant_tensor_padded(c, e, T_X, x, N, I, N, d.Ip, FP8_E4M3, 1, S_QA, S_PX);
        rc = !qa || fp8lab_gemm_fp8_tensor(be, qa, FP8_E4M3, e->tscale + T_X, e->q[0], FP8_E4M3, e->tscale + T_W,
                                           N, d.Op, d.Ip, o.dt, o.buf);
        break;
    }
    case FP8LAB_RECIPE_FP8_BLOCK: {
        /* 1x128 tiles along in; the rows padded too (the GEMM's M, and the scales' layout [Ip/128][Np]) */
        const float *xp = padded(c, S_PX, x, N, I, d.Np, d.Ip, sizeof(float));
        uint8_t *qa = scratch(c, S_QA, (size_t)d.Np * (size_t)d.Ip);
        float *sa = scratch(c, S_SA, sizeof(float) * fp8lab_scale_1x128_count((size_t)d.Np, (size_t)d.Ip));
        rc = !xp || !qa || !sa || fp8lab_quantize_1x128(be, xp, d.Np, d.Ip, FP8_E4M3, 0, qa, sa) ||
             fp8lab_gemm_fp8_block(be, qa, sa, e->q[0], e->s[0], FP8LAB_B_128x128, d.Np, d.Op, d.Ip, o.dt, o.buf);
        break;
    }
    default: break;
    }
    if (rc || finish_out(c, &o)) return -1;
    return b ? fp8lab_bias_fwd(be, y, b, N, O) : 0;
}

/* A Wgrad operand as the recipe made it: [rows_p][K] (K the token count, padded as the recipe needs). */
typedef struct {
    const void *q;
    const float *s; /* scales: fp8-block 1x128 along K; fp8-tensor* the device scale_inv; bf16 NULL */
    int fmt;
    int rows_p;
} wg_operand;

/* Wgrad of the non-fp32 recipes: dW += A . B^T through an FP32 scratch. W[out][in] takes (A, B) = (dy^T, x^T),
   W[in][out] (x^T, dy^T); only the rows of B (the GEMM's N) and K need be padded for the per-tensor GEMM, all
   three for fp8-block. */
static int wgrad_add(fp8lab_linear_ctx *c, const fp8lab_linear *l, float *dw, int K, const wg_operand *dyt,
                     const wg_operand *xt) {
    const int oi = l->layout == FP8LAB_W_OUT_IN, M = oi ? l->out : l->in, Nn = oi ? l->in : l->out;
    const wg_operand *A = oi ? dyt : xt, *B = oi ? xt : dyt;
    gemm_out o;
    if (start_out(c, &o, dw, M, Nn, A->rows_p, B->rows_p, 1, FP8LAB_F32)) return -1;
    o.sink = l->sink;
    int rc;
    switch (l->recipe) {
    case FP8LAB_RECIPE_BF16: rc = fp8lab_gemm_bf16(c->be, A->q, B->q, M, Nn, K, FP8LAB_F32, o.buf); break;
    case FP8LAB_RECIPE_FP8_BLOCK:
        rc = fp8lab_gemm_fp8_block(c->be, A->q, A->s, B->q, B->s, FP8LAB_B_1x128, A->rows_p, B->rows_p, K,
                                   FP8LAB_F32, o.buf);
        break;
    default:
        rc = fp8lab_gemm_fp8_tensor(c->be, A->q, A->fmt, A->s, B->q, B->fmt, B->s, A->rows_p, B->rows_p, K,
                                    FP8LAB_F32, o.buf);
    }
    return rc || finish_out(c, &o);
}

/* Wgrad over K tokens: one GEMM, or through the sink one 128-token block at a time (grad_sink.h): block b's
   columns of both operands ([rows_p][K], es-byte elements) copied out to [rows_p][<=128], its 1x128 scales a
   contiguous slice of the [K/128][rows_p] layout (the per-tensor scale for every block alike). */
static int wgrad(fp8lab_linear_ctx *c, const fp8lab_linear *l, float *dw, int K, size_t es, const wg_operand *dyt,
                 const wg_operand *xt) {
    if (!l->sink) return wgrad_add(c, l, dw, K, dyt, xt);
    const int block = l->recipe == FP8LAB_RECIPE_FP8_BLOCK;
    for (int b = 0; b < fp8lab_grad_blocks(K); b++) {
        const int k = fp8lab_grad_block_rows(K, b);
        const size_t col = es * (size_t)b * FP8LAB_GRAD_BLOCK, pitch = es * (size_t)K, w = es * (size_t)k;
        void *qa = scratch(c, S_BA, w * (size_t)dyt->rows_p), *qb = scratch(c, S_BB, w * (size_t)xt->rows_p);
        if (!qa || !qb || fp8lab_copy_2d(c->be, qa, w, (const char *)dyt->q + col, pitch, w, (size_t)dyt->rows_p) ||
            fp8lab_copy_2d(c->be, qb, w, (const char *)xt->q + col, pitch, w, (size_t)xt->rows_p))
            return -1;
        const wg_operand a = {qa, block ? dyt->s + (size_t)b * (size_t)dyt->rows_p : dyt->s, dyt->fmt, dyt->rows_p},
                         bb = {qb, block ? xt->s + (size_t)b * (size_t)xt->rows_p : xt->s, xt->fmt, xt->rows_p};
        if (wgrad_add(c, l, dw, k, &a, &bb)) return -1;
    }
    return 0;
}

/* db += column sums of dy[N][O]; through the sink one block of rows at a time, the leaves side by side and added
   once, in block order */
static int bias_grad(fp8lab_backend *be, const fp8lab_linear *l, float *db, const float *dy, int N, int O) {
    if (!db) return 0;
    if (!l->sink) return fp8lab_bias_bwd(be, db, dy, N, O);
    const int nb = fp8lab_grad_blocks(N);
    float *leaves = fp8lab_grad_sink_leaf(l->sink, (size_t)O * (size_t)nb, 1);
    if (!leaves) return -1;
    for (int b = 0; b < nb; b++)
        if (fp8lab_bias_bwd(be, leaves + (size_t)b * (size_t)O, dy + (size_t)b * FP8LAB_GRAD_BLOCK * (size_t)O,
                            fp8lab_grad_block_rows(N, b), O))
            return -1;
    return fp8lab_sync(be) || fp8lab_grad_sink_add_many(l->sink, db, leaves, O, nb, O);
}

/* FP32 Wgrad through the sink, one leaf per block of rows: dW[out][in] = dy^T . x or dW[in][out] = x^T . dy */
static int wgrad_f32_blocks(const fp8lab_linear *l, float *dw, const float *dy, const float *x, int N) {
    const int I = l->in, O = l->out;
    return l->layout == FP8LAB_W_OUT_IN ? fp8lab_grad_sink_matmul(l->sink, dw, O, I, N, dy, x)
                                        : fp8lab_grad_sink_matmul(l->sink, dw, I, O, N, x, dy);
}

/* One backward call: the layer with its context and cached weight entry, the gradients asked for (dx may be NULL;
   dw is accumulated into) and the forward's inputs. */
typedef struct {
    fp8lab_backend *be;
    const fp8lab_linear *l;
    fp8lab_linear_ctx *c;
    wentry *e;
    float *dx, *dw;
    int dx_accumulate;
    const float *dy, *x, *w;
    int N;
} bwd_t;

static int bwd_fp32(const bwd_t *b) {
    const fp8lab_linear *l = b->l;
    const int I = l->in, O = l->out, N = b->N, oi = l->layout == FP8LAB_W_OUT_IN;
    /* Dgrad: dx[N][in] = dy[N][out] . op(W)[out][in]; W[out][in] as is, W[in][out] transposed */
    if (b->dx && fp8lab_matmul_f32(b->be, FP8LAB_OP_N, oi ? FP8LAB_OP_N : FP8LAB_OP_T, N, I, O, 1.0f, b->dy, b->w,
                                   b->dx_accumulate ? 1.0f : 0.0f, b->dx))
        return -1;
    /* Wgrad, accumulated: dW[out][in] += dy^T . x, or dW[in][out] += x^T . dy */
    return l->sink ? wgrad_f32_blocks(l, b->dw, b->dy, b->x, N)
           : oi    ? fp8lab_matmul_f32(b->be, FP8LAB_OP_T, FP8LAB_OP_N, O, I, N, 1.0f, b->dy, b->x, 1.0f, b->dw)
                   : fp8lab_matmul_f32(b->be, FP8LAB_OP_T, FP8LAB_OP_N, I, O, N, 1.0f, b->x, b->dy, 1.0f, b->dw);
}

/* dy^T and x^T in FP32, the Wgrad GEMM's operands before their cast */
static int transposed_inputs(const bwd_t *b, float **dyt, float **xt) {
    const int N = b->N, I = b->l->in, O = b->l->out;
    *dyt = scratch(b->c, S_T1, sizeof(float) * (size_t)N * O);
    *xt = scratch(b->c, S_T0, sizeof(float) * (size_t)N * I);
    return !*dyt || !*xt || fp8lab_transpose_f32(b->be, b->dy, N, O, *dyt) ||
                   fp8lab_transpose_f32(b->be, b->x, N, I, *xt)
               ? -1
               : 0;
}

static int bwd_bf16(const bwd_t *b) {
    fp8lab_linear_ctx *c = b->c;
    const int I = b->l->in, O = b->l->out, N = b->N;
    const long ndy = (long)N * O, nx = (long)N * I;
    /* Dgrad dx[N][I] = dy[N][O] . Wi[I][O]^T */
    if (b->dx) {
        gemm_out o = {0};
        const uint16_t *da = to_bf16(c, S_QA, b->dy, ndy);
        if (!da || start_out(c, &o, b->dx, N, I, N, I, b->dx_accumulate, out_dtype(c)) ||
            fp8lab_gemm_bf16(b->be, da, b->e->q[1], N, I, O, o.dt, o.buf) || finish_out(c, &o))
            return -1;
    }
    float *dyt, *xt;
    if (transposed_inputs(b, &dyt, &xt)) return -1;
    const uint16_t *hdyt = to_bf16(c, S_QC, dyt, ndy), *hxt = hdyt ? to_bf16(c, S_QB, xt, nx) : NULL;
    if (!hxt) return -1;
    const wg_operand gd = {hdyt, NULL, 0, O}, gx = {hxt, NULL, 0, I};
    return wgrad(c, b->l, b->dw, N, sizeof(uint16_t), &gd, &gx);
}

/* Gradients in E5M2; dy's scale is taken once here (history updated once per backward) and serves dy^T too (a
   transpose keeps the amax); x^T reuses the forward's scale of x under delayed scaling */
static int bwd_fp8_tensor(const bwd_t *b) {
    fp8lab_linear_ctx *c = b->c;
    wentry *e = b->e;
    const int I = b->l->in, O = b->l->out, N = b->N, oi = b->l->layout == FP8LAB_W_OUT_IN;
    const lin_dims d = dims_of(b->l, N);
    const uint8_t *qdy = quant_tensor_padded(c, e, T_DY, b->dy, N, O, N, d.Op, FP8_E5M2, 1, S_QA, S_PD);
    if (!qdy) return -1;
    /* Dgrad dx[N][I] = dy[N][O] . Wi[I][O]^T, at [N][Ip] = [N][Op] . [Ip][Op]^T */
    gemm_out o = {0};
    if (b->dx && (start_out(c, &o, b->dx, N, I, N, d.Ip, b->dx_accumulate, out_dtype(c)) ||
                  fp8lab_gemm_fp8_tensor(b->be, qdy, FP8_E5M2, e->tscale + T_DY, e->q[1], FP8_E4M3, e->tscale + T_W,
                                         N, d.Ip, d.Op, o.dt, o.buf) ||
                  finish_out(c, &o)))
        return -1;
    /* Wgrad: K = N padded; B's rows (the GEMM's N) padded, A's (its M) not */
    float *dyt, *xt;
    if (transposed_inputs(b, &dyt, &xt)) return -1;
    const int dy_rows = oi ? O : d.Op, x_rows = oi ? d.Ip : I;
    const uint8_t *qdyt = quant_tensor_padded(c, e, T_DY, dyt, O, N, dy_rows, d.Np, FP8_E5M2, 0, S_QC, S_PC),
                  *qxt = qdyt ? quant_tensor_padded(c, e, T_X, xt, I, N, x_rows, d.Np, FP8_E4M3, 0, S_QB, S_PB)
                              : NULL;
    if (!qxt) return -1;
    const wg_operand gd = {qdyt, e->tscale + T_DY, FP8_E5M2, dy_rows}, gx = {qxt, e->tscale + T_X, FP8_E4M3, x_rows};
    return wgrad(c, b->l, b->dw, d.Np, 1, &gd, &gx);
}

/* Everything at [Np], [Ip], [Op]. dy once through the fused quantizer: 1x128 along Op for Dgrad, dy^T 1x128
   along Np for Wgrad */
static int bwd_fp8_block(const bwd_t *b) {
    fp8lab_linear_ctx *c = b->c;
    wentry *e = b->e;
    const int I = b->l->in, O = b->l->out, N = b->N;
    const lin_dims d = dims_of(b->l, N);
    const size_t Np = (size_t)d.Np, Ip = (size_t)d.Ip, Op = (size_t)d.Op, IOp = Ip > Op ? Ip : Op;
    const float *dyp = padded(c, S_PD, b->dy, N, O, d.Np, d.Op, sizeof(float));
    uint8_t *qdy = scratch(c, S_QA, Np * IOp), *qdyt = scratch(c, S_QC, Np * Op), *qxt = scratch(c, S_QB, Np * Ip);
    float *sdy = scratch(c, S_SA, sizeof(float) * fp8lab_scale_1x128_count(Np, IOp)),
          *sdyt = scratch(c, S_SC, sizeof(float) * fp8lab_scale_1x128_count(Op, Np)),
          *sxt = scratch(c, S_SB, sizeof(float) * fp8lab_scale_1x128_count(Ip, Np));
    if (!dyp || !qdy || !qdyt || !qxt || !sdy || !sdyt || !sxt ||
        fp8lab_quantize_1x128_t(b->be, dyp, d.Np, d.Op, FP8_E4M3, 0, qdy, sdy, qdyt, sdyt))
        return -1;
    /* Dgrad dx[N][I] = dy[N][O] . Wi[I][O]^T, at [Np][Ip] = [Np][Op] . [Ip][Op]^T */
    gemm_out o = {0};
    if (b->dx && (start_out(c, &o, b->dx, N, I, d.Np, d.Ip, b->dx_accumulate, out_dtype(c)) ||
                  fp8lab_gemm_fp8_block(b->be, qdy, sdy, e->q[1], e->s[1], FP8LAB_B_128x128, d.Np, d.Ip, d.Op, o.dt,
                                        o.buf) ||
                  finish_out(c, &o)))
        return -1;
    /* x^T [Ip][Np] 1x128 along Np (the fused quantizer's transposed half; its plain half lands in S_QA/S_SA) */
    const float *xp = padded(c, S_PX, b->x, N, I, d.Np, d.Ip, sizeof(float));
    if (!xp || fp8lab_quantize_1x128_t(b->be, xp, d.Np, d.Ip, FP8_E4M3, 0, qdy, sdy, qxt, sxt)) return -1;
    const wg_operand gd = {qdyt, sdyt, FP8_E4M3, d.Op}, gx = {qxt, sxt, FP8_E4M3, d.Ip};
    return wgrad(c, b->l, b->dw, d.Np, 1, &gd, &gx);
}

int fp8lab_linear_bwd(fp8lab_backend *be, const fp8lab_linear *l, float *dx, int dx_accumulate, float *dw,
                      float *db, const float *dy, const float *x, const float *w, int N) {
    fp8lab_linear_ctx *c = NULL;
    wentry *e = NULL;
    if (prepare(be, l, w, N, &c, &e)) return -1;
    const bwd_t b = {.be = be, .l = l, .c = c, .e = e, .dx = dx, .dw = dw, .dx_accumulate = dx_accumulate,
                     .dy = dy, .x = x, .w = w, .N = N};
    /* the lower-precision recipes read the weight's Dgrad-side operand (W^T cast) */
    if (l->recipe != FP8LAB_RECIPE_FP32 && dx && weight_operand(c, e, 1)) return -1;
    int rc;
    switch (l->recipe) {
    case FP8LAB_RECIPE_FP32: rc = bwd_fp32(&b); break;
    case FP8LAB_RECIPE_BF16: rc = bwd_bf16(&b); break;
    case FP8LAB_RECIPE_FP8_TENSOR:
    case FP8LAB_RECIPE_FP8_TENSOR_DELAYED: rc = bwd_fp8_tensor(&b); break;
    case FP8LAB_RECIPE_FP8_BLOCK: rc = bwd_fp8_block(&b); break;
    default: return -1;
    }
    return rc ? -1 : bias_grad(be, l, db, dy, N, l->out);
}
