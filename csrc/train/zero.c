#include "train/zero.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/mem_ops.h"
#include "core/error.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"
#include "fp8/scale_layout.h"
#include "train/dp.h"

static const char *const GATHER_NAMES[] = {
    [FP8LAB_ZERO_GATHER_F32] = "fp32", [FP8LAB_ZERO_GATHER_BF16] = "bf16", [FP8LAB_ZERO_GATHER_FP8] = "fp8"};

int fp8lab_zero_gather_parse(const char *s, fp8lab_zero_gather *out) {
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, GATHER_NAMES[i])) {
            *out = (fp8lab_zero_gather)i;
            return 0;
        }
    FP8LAB_ERR("--zero-gather: '%s' is not one of fp32 | bf16 | fp8", s ? s : "(null)");
    return -1;
}

const char *fp8lab_zero_gather_name(fp8lab_zero_gather g) {
    return (unsigned)g < 3 ? GATHER_NAMES[g] : "unknown";
}

static int alone(const fp8lab_zero *z) { return fp8lab_dp_size(z->c) <= 1; }
static int rounded(const fp8lab_zero *z) { return !alone(z) && z->gather != FP8LAB_ZERO_GATHER_F32; }

int fp8lab_zero_init(fp8lab_zero *z, fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, fp8lab_zero_gather gather) {
    *z = (fp8lab_zero){.c = c, .g = g, .be = be, .gather = gather};
    if (alone(z)) return 0;
    if (strcmp(be->name, "cpu")) {
        FP8LAB_ERR("--zero 1 runs on the cpu backend (its block rounding and masters are host code), not on %s: drop "
                   "--zero or use --device cpu", be->name);
        return -1;
    }
    if (fp8lab_dp_ready(c, be)) return -1;
    const int64_t floats = fp8lab_gpt_buffer_floats(g);
    int64_t count = floats / c->size;
    if (gather == FP8LAB_ZERO_GATHER_FP8) count = count / FP8LAB_TILE * FP8LAB_TILE; /* whole scaling tiles */
    z->count = count, z->begin = c->rank * count, z->end = z->begin + count, z->tail = c->size * count;
    z->floats = floats;
    if (!rounded(z)) return 0;
    const size_t n = (size_t)c->size * (size_t)count;
    z->master = malloc(sizeof(float) * (size_t)(count ? count : 1));
    z->wire = malloc((gather == FP8LAB_ZERO_GATHER_BF16 ? sizeof(uint16_t) : 1) * (n ? n : 1));
    z->scales = gather == FP8LAB_ZERO_GATHER_FP8 ? malloc(sizeof(float) * (n / FP8LAB_TILE + 1)) : NULL;
    if (!z->master || !z->wire || (gather == FP8LAB_ZERO_GATHER_FP8 && !z->scales)) {
        fp8lab_zero_free(z);
        FP8LAB_ERR_RT("ZeRO-1: out of host memory for a block of %lld floats", (long long)count);
        return -1;
    }
    memcpy(z->master, fp8lab_gpt_params(g) + z->begin, sizeof(float) * (size_t)count);
    return fp8lab_zero_round(z);
}

void fp8lab_zero_free(fp8lab_zero *z) {
    free(z->master);
    free(z->wire);
    free(z->scales);
    z->master = NULL, z->wire = NULL, z->scales = NULL;
}

/* The block's FP32 values (the working weights at [begin, end)) rounded, all-gathered and decoded into every
   block's working weights. The remainder is every rank's own and stays FP32: nobody sends it. */
static int gather_rounded(fp8lab_zero *z) {
    float *w = fp8lab_gpt_params(z->g);
    const int64_t n = z->tail;
    if (z->gather == FP8LAB_ZERO_GATHER_BF16) {
        uint16_t *b = z->wire;
        for (int64_t i = z->begin; i < z->end; i++) b[i] = bf16_from_f32(w[i]);
        if (fp8lab_all_gather(z->c, b + z->begin, b, (size_t)z->count, FP8LAB_CDT_BF16)) return -1;
        for (int64_t i = 0; i < n; i++) w[i] = bf16_to_f32(b[i]);
    } else {
        uint8_t *q = z->wire;
        const int64_t tiles = z->count / FP8LAB_TILE, t0 = z->begin / FP8LAB_TILE;
        if ((tiles && fp8_quantize_1x128(w + z->begin, (int)tiles, FP8LAB_TILE, FP8_E4M3, 0, q + z->begin,
                                         z->scales + t0)) ||
            fp8lab_all_gather(z->c, q + z->begin, q, (size_t)z->count, FP8LAB_CDT_U8) ||
            fp8lab_all_gather(z->c, z->scales + t0, z->scales, (size_t)tiles, FP8LAB_CDT_F32))
            return -1;
        for (int64_t i = 0; i < n; i++) w[i] = fp8_e4m3_to_f32(q[i]) * z->scales[i / FP8LAB_TILE];
    }
    fp8lab_gpt_weights_changed(z->g);
    return 0;
}

static void masters_in(fp8lab_zero *z) {
    memcpy(fp8lab_gpt_params(z->g) + z->begin, z->master, sizeof(float) * (size_t)z->count);
}

int fp8lab_zero_round(fp8lab_zero *z) {
    if (!rounded(z)) return 0;
    masters_in(z);
    return gather_rounded(z);
}

int fp8lab_zero_masters_out(fp8lab_zero *z) {
    if (!rounded(z)) return 0;
    masters_in(z);
    float *w = fp8lab_gpt_params(z->g);
    if (fp8lab_all_gather(z->c, w + z->begin, w, (size_t)z->count, FP8LAB_CDT_F32)) return -1;
    fp8lab_gpt_weights_changed(z->g);
    return 0;
}

/* The block's and the remainder's gradients summed over the ranks: the exact planes, or the floats. */
static int reduce_grads(fp8lab_zero *z) {
    if (fp8lab_gpt_exact_planes(z->g, NULL, NULL))
        return fp8lab_dp_sum_planes(z->c, z->g, z->begin, z->count, 1) ||
                       fp8lab_dp_sum_planes(z->c, z->g, z->tail, z->floats - z->tail, 0)
                   ? -1
                   : 0;
    float *grads = fp8lab_gpt_grads(z->g);
    /* in place: rank r's block of the send buffer is where its sum lands (dist/comm.h) */
    return fp8lab_reduce_scatter(z->c, grads, grads + z->begin, (size_t)z->count, FP8LAB_CDT_F32, FP8LAB_RED_SUM) ||
                   fp8lab_all_reduce(z->c, grads + z->tail, grads + z->tail, (size_t)(z->floats - z->tail),
                                     FP8LAB_CDT_F32, FP8LAB_RED_SUM)
               ? -1
               : 0;
}

/* The global norm: the blocks' sums of squares all-reduced, plus the remainder's (the same double on every rank,
   so the ranks clip and skip together). */
static int global_norm(fp8lab_zero *z, double grad_scale, double *norm) {
    double sumsq = 0, tail_sumsq = 0;
    if (fp8lab_gpt_grad_sumsq(z->g, z->begin, z->end, &sumsq) || fp8lab_dp_sum(z->c, &sumsq, 1) ||
        fp8lab_gpt_grad_sumsq(z->g, z->tail, z->floats, &tail_sumsq))
        return -1;
    *norm = sqrt(sumsq + tail_sumsq) * grad_scale;
    return 0;
}

int fp8lab_zero_step(fp8lab_zero *z, const fp8lab_adamw_args *a, float clip, float *grad_norm) {
    if (alone(z)) return fp8lab_gpt_step(z->g, a, clip, grad_norm);
    if (!a || !(clip >= 0) || !isfinite(clip)) {
        FP8LAB_ERR("ZeRO-1 step: NULL args or clip = %g (must be finite and >= 0; 0: no clipping)", (double)clip);
        return -1;
    }
    double norm = 0;
    if (fp8lab_dp_ready(z->c, z->be) || reduce_grads(z) || global_norm(z, (double)a->grad_scale, &norm)) return -1;
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return 1;
    fp8lab_adamw_args st = *a;
    if (clip > 0 && norm > clip) st.grad_scale = (float)((double)a->grad_scale * (double)clip / norm);
    if (rounded(z)) masters_in(z); /* AdamW updates the FP32 masters, in the working weights' place */
    if (fp8lab_gpt_step_range(z->g, &st, z->begin, z->end) || fp8lab_gpt_step_range(z->g, &st, z->tail, z->floats) ||
        fp8lab_sync(z->be))
        return -1;
    if (!rounded(z)) {
        float *w = fp8lab_gpt_params(z->g);
        if (fp8lab_all_gather(z->c, w + z->begin, w, (size_t)z->count, FP8LAB_CDT_F32)) return -1;
        fp8lab_gpt_weights_changed(z->g); /* the other ranks' blocks arrived after the step */
        return 0;
    }
    memcpy(z->master, fp8lab_gpt_params(z->g) + z->begin, sizeof(float) * (size_t)z->count);
    return gather_rounded(z);
}
