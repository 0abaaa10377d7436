#include "train/dp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/exact_sum.h"
#include "backend/mem_ops.h"
#include "io/crc32c.h"

int fp8lab_dp_ready(fp8lab_comm *c, fp8lab_backend *be) {
    if (strcmp(be->name, "cpu") && !strcmp(c->name, "mpi")) {
        FP8LAB_ERR("data parallel training: the %s communicator takes host buffers, the %s backend's gradients "
                   "live on the device (use --device cpu)",
                   c->name, be->name);
        return -1;
    }
    return fp8lab_sync(be);
}

int fp8lab_dp_sum_planes(fp8lab_comm *c, fp8lab_gpt *g, int64_t begin, int64_t count, int scatter) {
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
    if (fp8lab_dp_ready(c, be)) return -1;
    if (fp8lab_gpt_exact_planes(g, NULL, NULL)) return fp8lab_dp_sum_planes(c, g, 0, fp8lab_gpt_buffer_floats(g), 0);
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

/* ---- gradient buckets ---------------------------------------------------------------------------------------- */


/* floats [lo, hi) of the buffer, all-reduced without waiting: the exact planes' two, or the floats */
static int start_bucket(fp8lab_dp_buckets *b, int64_t lo, int64_t hi) {
    double *p[2];
    fp8lab_comm_req **r = &b->req[2 * b->n];
    const size_t n = (size_t)(hi - lo);
    const int rc = fp8lab_gpt_exact_planes(b->g, &p[0], &p[1])
                       ? fp8lab_all_reduce_start(b->c, p[0] + lo, p[0] + lo, n, FP8LAB_CDT_F64, FP8LAB_RED_SUM, &r[0]) ||
                             fp8lab_all_reduce_start(b->c, p[1] + lo, p[1] + lo, n, FP8LAB_CDT_F64, FP8LAB_RED_SUM,
                                                     &r[1])
                       : fp8lab_all_reduce_start(b->c, fp8lab_gpt_grads(b->g) + lo, fp8lab_gpt_grads(b->g) + lo, n,
                                                 FP8LAB_CDT_F32, FP8LAB_RED_SUM, &r[0]);
    b->begin[b->n] = lo, b->end[b->n] = hi;
    b->n++;
    return rc;
}

/* the buckets in flight moved along (Open MPI progresses them only inside MPI calls) */
static int progress(fp8lab_dp_buckets *b) {
    for (int i = 0; i < 2 * b->n; i++) {
        int done = 0;
        if (b->req[i] && fp8lab_comm_test(b->c, b->req[i], &done)) return -1;
    }
    return 0;
}

static int on_ready(void *ctx, int64_t begin, int64_t end) {
    fp8lab_dp_buckets *b = ctx;
    if (b->hi == b->lo) b->hi = end; /* segments come in decreasing order: the pending range grows down */
    b->lo = begin;
    if (progress(b)) return -1;
    /* the last slot is kept for what finish sends */
    if (!b->cap || b->hi - b->lo < b->cap || b->n == FP8LAB_DP_MAX_BUCKETS - 1) return 0;
    const int rc = start_bucket(b, b->lo, b->hi);
    b->early++;
    b->hi = b->lo;
    return rc;
}

/* one rank has nothing to sum, except through NCCL, whose one-rank all-reduces check that path (FP8LAB_COMM=nccl) */
static int nothing_to_sum(const fp8lab_comm *c) { return fp8lab_dp_size(c) <= 1 && (!c || strcmp(c->name, "nccl")); }

int fp8lab_dp_buckets_begin(fp8lab_dp_buckets *b, fp8lab_comm *c, fp8lab_gpt *g, fp8lab_backend *be,
                            int64_t cap_floats) {
    *b = (fp8lab_dp_buckets){.c = c, .g = g, .cap = cap_floats < 0 ? 0 : cap_floats};
    if (nothing_to_sum(c)) return 0;
    if (fp8lab_dp_ready(c, be)) return -1;
    fp8lab_gpt_set_grad_ready(g, on_ready, b);
    return 0;
}

int fp8lab_dp_buckets_finish(fp8lab_dp_buckets *b) {
    if (nothing_to_sum(b->c)) return 0;
    fp8lab_gpt_set_grad_ready(b->g, NULL, NULL);
    int rc = b->hi > b->lo ? start_bucket(b, b->lo, b->hi) : 0;
    for (int i = 0; i < 2 * b->n; i++) { /* every request completed and freed, also after a failure */
        if (fp8lab_comm_wait(b->c, b->req[i])) rc = -1;
        b->req[i] = NULL;
    }
    double *hi, *lo;
    if (!rc && fp8lab_gpt_exact_planes(b->g, &hi, &lo))
        for (int i = 0; i < b->n; i++)
            fp8lab_exact_get(fp8lab_gpt_grads(b->g) + b->begin[i], hi + b->begin[i], lo + b->begin[i],
                             (size_t)(b->end[i] - b->begin[i]));
    return rc;
}
