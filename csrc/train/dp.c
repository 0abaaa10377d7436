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
