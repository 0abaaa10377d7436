#include "train/dp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/exact_sum.h"
#include "backend/mem_ops.h"
#include "io/crc32c.h"

/* The MPI communicator takes host buffers; the backward's kernels may still be writing on an asynchronous device. */
static int ready_for_collectives(fp8lab_comm *c, fp8lab_backend *be) {
    if (strcmp(be->name, "cpu") && !strcmp(c->name, "mpi")) {
        FP8LAB_ERR("data parallel training: the %s communicator takes host buffers, the %s backend's gradients "
                   "live on the device (use --device cpu)",
                   c->name, be->name);
        return -1;
    }
    return fp8lab_sync(be);
}

/* Exact planes (nn/model.h): floats [begin, end) of both summed over the ranks (doubles whose sums are exact, so
   the order the ranks meet in does not matter), then the gradients made from them. reduce: all-reduce, or
   reduce-scatter of `count` per rank landing at begin (ZeRO-1's blocks). */
static int sum_planes(fp8lab_comm *c, fp8lab_gpt *g, int64_t begin, int64_t count, int scatter) {
    double *p[2];
    fp8lab_gpt_exact_planes(g, &p[0], &p[1]);
    for (int i = 0; i < 2; i++) {
        const int rc = scatter ? fp8lab_reduce_scatter(c, p[i], p[i] + begin, (size_t)count, FP8LAB_CDT_F64,
                                                       FP8LAB_RED_SUM)
                               : fp8lab_all_reduce(c, p[i] + begin, p[i] + begin, (size_t)count, FP8LAB_CDT_F64,
                                                   FP8LAB_RED_SUM);
        if (rc) return -1;
    }
    fp8lab_exact_get(fp8lab_gpt_grads(g) + begin, p[0] + begin, p[1] + begin, (size_t)count);
    return 0;
}

int fp8lab_dp_sum_grads(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be) {
    if (fp8lab_dp_size(c) <= 1) return 0;
    if (ready_for_collectives(c, be)) return -1;
    if (fp8lab_gpt_exact_planes(g, NULL, NULL)) return sum_planes(c, g, 0, fp8lab_gpt_buffer_floats(g), 0);
    return fp8lab_all_reduce(c, fp8lab_gpt_grads(g), fp8lab_gpt_grads(g), (size_t)fp8lab_gpt_buffer_floats(g),
                             FP8LAB_CDT_F32, FP8LAB_RED_SUM);
}

int fp8lab_dp_sum(fp8lab_comm *c, double *v, int n) {
    if (fp8lab_dp_size(c) <= 1 || n <= 0) return 0;
    return fp8lab_all_reduce(c, v, v, (size_t)n, FP8LAB_CDT_F64, FP8LAB_RED_SUM);
}

int fp8lab_dp_any(fp8lab_comm *c, int flag) {
    if (fp8lab_dp_size(c) <= 1) return flag != 0;
    int64_t v = flag != 0;
    if (fp8lab_all_reduce(c, &v, &v, 1, FP8LAB_CDT_I64, FP8LAB_RED_MAX)) return -1;
    return v != 0;
}

int fp8lab_dp_weights_identical(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, int *identical, uint32_t *crc) {
    const size_t bytes = sizeof(float) * (size_t)fp8lab_gpt_buffer_floats(g);
    float *h = malloc(bytes ? bytes : 1);
    if (!h) {
        FP8LAB_ERR_RT("weights check: out of host memory for %zu bytes", bytes);
        return -1;
    }
    const int rc = fp8lab_sync(be) || fp8lab_copy_d2h(be, h, fp8lab_gpt_params(g), bytes);
    const uint32_t mine = rc ? 0 : fp8lab_crc32c(0, h, bytes);
    free(h);
    if (rc) return -1;
    if (crc) *crc = mine;
    /* the interface reduces with SUM and MAX only: MIN(x) = -MAX(-x) */
    int64_t v[2] = {(int64_t)mine, -(int64_t)mine};
    if (fp8lab_dp_size(c) > 1 && fp8lab_all_reduce(c, v, v, 2, FP8LAB_CDT_I64, FP8LAB_RED_MAX)) return -1;
    *identical = v[0] == -v[1];
    return 0;
}

/* ---- ZeRO-1 ------------------------------------------------------------------------------------------------- */

/* The blocks: count floats per rank, then a remainder [size x count, buffer_floats) every rank owns. */
typedef struct {
    int64_t count, begin, end, tail, floats;
} zero_shard;

static zero_shard shard_of(const fp8lab_comm *c, const fp8lab_gpt *g) {
    const int64_t floats = fp8lab_gpt_buffer_floats(g), count = floats / c->size;
    return (zero_shard){.count = count, .begin = c->rank * count, .end = (c->rank + 1) * count,
                        .tail = c->size * count, .floats = floats};
}

int fp8lab_dp_zero_step(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, const fp8lab_adamw_args *a, float clip,
                        float *grad_norm) {
    if (fp8lab_dp_size(c) <= 1) return fp8lab_gpt_step(g, a, clip, grad_norm);
    if (!a || !(clip >= 0) || !isfinite(clip)) {
        FP8LAB_ERR("ZeRO-1 step: NULL args or clip = %g (must be finite and >= 0; 0: no clipping)", (double)clip);
        return -1;
    }
    if (ready_for_collectives(c, be)) return -1;
    const zero_shard s = shard_of(c, g);
    float *grads = fp8lab_gpt_grads(g), *params = fp8lab_gpt_params(g);
    /* in place: rank r's block of the send buffer is where its sum lands (dist/comm.h) */
    if (fp8lab_gpt_exact_planes(g, NULL, NULL)
            ? sum_planes(c, g, s.begin, s.count, 1) || sum_planes(c, g, s.tail, s.floats - s.tail, 0)
            : fp8lab_reduce_scatter(c, grads, grads + s.begin, (size_t)s.count, FP8LAB_CDT_F32, FP8LAB_RED_SUM) ||
                  fp8lab_all_reduce(c, grads + s.tail, grads + s.tail, (size_t)(s.floats - s.tail), FP8LAB_CDT_F32,
                                    FP8LAB_RED_SUM))
        return -1;
    double sumsq = 0, tail_sumsq = 0;
    if (fp8lab_gpt_grad_sumsq(g, s.begin, s.end, &sumsq) || fp8lab_dp_sum(c, &sumsq, 1) ||
        fp8lab_gpt_grad_sumsq(g, s.tail, s.floats, &tail_sumsq))
        return -1;
    /* the same double on every rank: the ranks clip and skip together */
    const double norm = sqrt(sumsq + tail_sumsq) * (double)a->grad_scale;
    if (grad_norm) *grad_norm = (float)norm;
    if (!isfinite(norm)) return 1;
    fp8lab_adamw_args st = *a;
    if (clip > 0 && norm > clip) st.grad_scale = (float)((double)a->grad_scale * (double)clip / norm);
    if (fp8lab_gpt_step_range(g, &st, s.begin, s.end) || fp8lab_gpt_step_range(g, &st, s.tail, s.floats) ||
        fp8lab_sync(be) || fp8lab_all_gather(c, params + s.begin, params, (size_t)s.count, FP8LAB_CDT_F32))
        return -1;
    fp8lab_gpt_weights_changed(g); /* the other ranks' blocks arrived after the step */
    return 0;
}

int fp8lab_dp_zero_gather_moments(fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be, fp8lab_moment_dtype dtype) {
    if (fp8lab_dp_size(c) <= 1) return 0;
    void *m, *v;
    if (ready_for_collectives(c, be) || fp8lab_gpt_moments(g, dtype, &m, &v)) return -1;
    const zero_shard s = shard_of(c, g);
    const fp8lab_comm_dtype dt = dtype == FP8LAB_MOMENTS_BF16 ? FP8LAB_CDT_BF16 : FP8LAB_CDT_F32;
    const size_t es = fp8lab_comm_dtype_size(dt), off = es * (size_t)s.begin;
    return fp8lab_all_gather(c, (char *)m + off, m, (size_t)s.count, dt) ||
                   fp8lab_all_gather(c, (char *)v + off, v, (size_t)s.count, dt)
               ? -1
               : 0;
}
