/* fp8lab_gpt_grad_sumsq and fp8lab_gpt_step_range (nn/model.h), the pieces ZeRO-1 (train/dp.h) runs on one
   rank's block of the buffer, on the CPU backend with a tiny Llama (norm vectors without weight decay between
   matrices with it):
     - pieces that tile the buffer, cut inside tensors and run out of order, with clipping active: the sums of
       squares add up to the whole one (1e-12 relative: FP64 partial sums), and the parameters and both moments
       come out bit-identical to one fp8lab_gpt_step (AdamW is elementwise);
     - weight decay per tensor against a reference: with zero gradients a range over the middle third of the
       buffer scales the matrices' floats in it by 1 - lr wd (1e-6 relative) and leaves the norms' floats, and
       every float outside it, unchanged;
     - ranges outside the buffer are refused; an empty range changes nothing. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/config.h"
#include "nn/model.h"
#include "model_fixture.h"

static fp8lab_backend *be;


static int setup(void **st) {
    (void)st;
    be = fp8lab_backend_create("cpu");
    return be ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    fp8lab_backend_destroy(be);
    return 0;
}

static fp8lab_gpt *create(uint64_t seed) { return fixture_gpt(be, LLAMA_TINY, seed); }

/* The same N(0, scale) gradients into every tensor of g (the CPU backend's buffers are host memory); the
   alignment padding stays zero. */
static void fill_grads(fp8lab_gpt *g, uint64_t seed, double scale) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    for (int i = 0; i < fp8lab_gpt_tensor_count(g); i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        for (int64_t k = 0; k < t.numel; k++) t.grad[k] = (float)(scale * fp8lab_rng_normal(&r));
    }
}

static const fp8lab_adamw_args ARGS = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                                       .weight_decay = 0.1f, .step = 1, .grad_scale = 0.5f,
                                       .moments = FP8LAB_MOMENTS_F32};

static void pieces_match_whole_step(void **st) {
    (void)st;
    fp8lab_gpt *g = create(5), *h = create(5);
    const int64_t F = fp8lab_gpt_buffer_floats(g);
    /* cuts inside tensors (not multiples of the 64-float alignment), pieces run last first */
    const int64_t cut[4] = {0, F / 3 + 5, 2 * F / 3 - 7, F};
    for (int s = 1; s <= 3; s++) {
        fill_grads(g, 100 + (uint64_t)s, 1.0);
        fill_grads(h, 100 + (uint64_t)s, 1.0);
        fp8lab_adamw_args a = ARGS;
        a.step = s;
        float norm = 0;
        const float clip = 0.5f; /* below the norm: the scale of clipping is in play */
        assert_int_equal(fp8lab_gpt_step(g, &a, clip, &norm), 0);
        double sumsq = 0;
        for (int p = 0; p < 3; p++) {
            double part = -1;
            assert_int_equal(fp8lab_gpt_grad_sumsq(h, cut[p], cut[p + 1], &part), 0);
            assert_true(part > 0);
            sumsq += part;
        }
        const double whole = sqrt(sumsq) * a.grad_scale;
        assert_true(whole > clip);
        assert_true(fabs(whole - norm) <= 1e-6 * whole); /* norm came back as a float */
        fp8lab_adamw_args b = a;
        b.grad_scale = (float)((double)a.grad_scale * (double)clip / whole);
        for (int p = 2; p >= 0; p--) assert_int_equal(fp8lab_gpt_step_range(h, &b, cut[p], cut[p + 1]), 0);
    }
    assert_memory_equal(fp8lab_gpt_params(g), fp8lab_gpt_params(h), sizeof(float) * (size_t)F);
    void *mg, *vg, *mh, *vh;
    assert_int_equal(fp8lab_gpt_moments(g, FP8LAB_MOMENTS_F32, &mg, &vg), 0);
    assert_int_equal(fp8lab_gpt_moments(h, FP8LAB_MOMENTS_F32, &mh, &vh), 0);
    assert_memory_equal(mg, mh, sizeof(float) * (size_t)F);
    assert_memory_equal(vg, vh, sizeof(float) * (size_t)F);
    fp8lab_gpt_destroy(g);
    fp8lab_gpt_destroy(h);
}

static void decay_per_tensor(void **st) {
    (void)st;
    fp8lab_gpt *g = create(9);
    const int64_t F = fp8lab_gpt_buffer_floats(g);
    float *p = fp8lab_gpt_params(g);
    float *before = malloc(sizeof(float) * (size_t)F);
    char *decay = calloc((size_t)F, 1); /* per float: its tensor's flag (padding: 0, and stays 0 either way) */
    assert_non_null(before);
    assert_non_null(decay);
    memcpy(before, p, sizeof(float) * (size_t)F);
    for (int i = 0; i < fp8lab_gpt_tensor_count(g); i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        memset(decay + (t.param - p), t.decay ? 1 : 0, (size_t)t.numel);
    }
    const int64_t lo = F / 3 + 5, hi = 2 * F / 3 - 7;
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    fp8lab_adamw_args a = ARGS;
    a.grad_scale = 1.0f;
    assert_int_equal(fp8lab_gpt_step_range(g, &a, lo, hi), 0);
    const double keep = 1.0 - (double)a.lr * (double)a.weight_decay;
    int64_t decayed = 0, kept = 0; /* nonzero floats in the range of each kind: the reference is not vacuous */
    for (int64_t k = 0; k < F; k++) {
        const int in = k >= lo && k < hi;
        const double want = in && decay[k] ? before[k] * keep : before[k];
        if (fabs(p[k] - want) > 1e-6 * fabs(want))
            fail_msg("float %lld: %.9g, want %.9g (range [%lld, %lld), decay %d)", (long long)k, (double)p[k], want,
                     (long long)lo, (long long)hi, decay[k]);
        decayed += in && decay[k] && before[k] != 0;
        kept += in && !decay[k] && before[k] != 0;
    }
    assert_true(decayed > 0);
    assert_true(kept > 0);
    free(before);
    free(decay);
    fp8lab_gpt_destroy(g);
}

static void ranges_checked(void **st) {
    (void)st;
    fp8lab_gpt *g = create(3);
    const int64_t F = fp8lab_gpt_buffer_floats(g);
    double s = 0;
    assert_int_equal(fp8lab_gpt_grad_sumsq(g, -1, 4, &s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "outside the buffer"));
    assert_int_equal(fp8lab_gpt_grad_sumsq(g, 0, F + 1, &s), -1);
    assert_int_equal(fp8lab_gpt_step_range(g, &ARGS, 8, 4), -1);
    assert_int_equal(fp8lab_gpt_step_range(g, &ARGS, F, F + 64), -1);
    float *copy = malloc(sizeof(float) * (size_t)F);
    assert_non_null(copy);
    memcpy(copy, fp8lab_gpt_params(g), sizeof(float) * (size_t)F);
    fill_grads(g, 7, 1.0);
    assert_int_equal(fp8lab_gpt_grad_sumsq(g, 10, 10, &s), 0);
    assert_true(s == 0);
    assert_int_equal(fp8lab_gpt_step_range(g, &ARGS, 10, 10), 0);
    assert_memory_equal(copy, fp8lab_gpt_params(g), sizeof(float) * (size_t)F);
    free(copy);
    fp8lab_gpt_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pieces_match_whole_step),
        cmocka_unit_test(decay_per_tensor),
        cmocka_unit_test(ranges_checked),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
