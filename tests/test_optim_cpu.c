/* CPU backend, optimizer group (optim_ops.h): AdamW against an FP64 reference over several steps with FP32 and
   BF16 moments, the bias correction at step 1, weight decay, grad_scale; the FP64 sum of squares; the non-finite
   count; the argument checks. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "test_util.h"

static fp8lab_backend *be;

enum { NP = 4096, STEPS = 5 };

/* gradients over magnitudes 2^-12 .. 2^3, so eps and the sqrt(v) term both matter somewhere */
static void make_grad(float *g, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    for (int i = 0; i < NP; i++) g[i] = (float)(ldexp(1.0, (int)(i % 16) - 12) * fp8lab_rng_normal(&r));
}

static void make_param(float *p) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 7);
    for (int i = 0; i < NP; i++) p[i] = (float)fp8lab_rng_normal(&r);
}

/* One AdamW step in FP64. The update uses this step's moments before they are stored; with bf16 they are then
   stored rounded to BF16 (through float: the FP64 value rounded to FP32 first, a double rounding that differs
   from the backend's FP32 value only within ~1e-7 of a BF16 tie). */
static void ref_adamw(double *p, double *m, double *v, const float *grad, const fp8lab_adamw_args *a, int bf16) {
    const double b1 = a->beta1, b2 = a->beta2;
    const double bc1 = 1 - pow(b1, a->step), bc2 = 1 - pow(b2, a->step);
    for (int i = 0; i < NP; i++) {
        const double g = (double)grad[i] * a->grad_scale;
        const double mt = b1 * m[i] + (1 - b1) * g, vt = b2 * v[i] + (1 - b2) * g * g;
        p[i] -= (double)a->lr * (mt / bc1 / (sqrt(vt / bc2) + a->eps) + (double)a->weight_decay * p[i]);
        m[i] = bf16 ? bf16_to_f32(bf16_from_f32((float)mt)) : mt;
        v[i] = bf16 ? bf16_to_f32(bf16_from_f32((float)vt)) : vt;
    }
}

static double moment_at(const void *m, int i, int bf16) {
    return bf16 ? bf16_to_f32(((const uint16_t *)m)[i]) : ((const float *)m)[i];
}

/* STEPS steps of the backend and of the reference from the same start; returns the number of parameters outside
   the tight tolerance 1e-6 (1 + |p|) and asserts every one is inside the loose one (BF16 only, below). */
static int run_adamw(fp8lab_adamw_args a, int bf16, float grad_scale_fold, float *p_out) {
    float *p = malloc(sizeof(float) * NP), *g = malloc(sizeof(float) * NP);
    void *m = calloc(NP, sizeof(float)), *v = calloc(NP, sizeof(float));
    double *pr = malloc(sizeof(double) * NP), *mr = calloc(NP, sizeof(double)), *vr = calloc(NP, sizeof(double));
    make_param(p);
    for (int i = 0; i < NP; i++) pr[i] = p[i];
    a.moments = bf16 ? FP8LAB_MOMENTS_BF16 : FP8LAB_MOMENTS_F32;
    int loose = 0, moment_ulps = 0;
    for (int s = 1; s <= STEPS; s++) {
        a.step = s;
        make_grad(g, 100 + (uint64_t)s);
        ref_adamw(pr, mr, vr, g, &a, bf16);
        /* grad_scale_fold != 1: the backend gets the scale folded into the gradient (powers of two: exact) */
        if (grad_scale_fold != 1.0f) {
            for (int i = 0; i < NP; i++) g[i] *= grad_scale_fold;
            a.grad_scale /= grad_scale_fold;
        }
        assert_int_equal(fp8lab_adamw(be, p, g, m, v, NP, &a), 0);
        if (grad_scale_fold != 1.0f) a.grad_scale *= grad_scale_fold;
        /* moments: FP32 within 1e-5 of the largest (FP32 rounding over a few steps); BF16 the reference's bits or
           one BF16 ulp away (a double-rounding tie, rare) */
        double mmax = 0, vmax = 0, me = 0, ve = 0;
        for (int i = 0; i < NP; i++) {
            mmax = fmax(mmax, fabs(mr[i]));
            vmax = fmax(vmax, fabs(vr[i]));
            me = fmax(me, fabs(moment_at(m, i, bf16) - mr[i]));
            ve = fmax(ve, fabs(moment_at(v, i, bf16) - vr[i]));
            if (bf16) {
                const uint16_t *mh = m, *vh = v;
                const int dm = abs((int)mh[i] - (int)bf16_from_f32((float)mr[i]));
                const int dv = abs((int)vh[i] - (int)bf16_from_f32((float)vr[i]));
                assert_true(dm <= 1 && dv <= 1);
                moment_ulps += dm + dv;
            }
        }
        if (!bf16) assert_true(me <= 1e-5 * mmax && ve <= 1e-5 * vmax);
    }
    /* parameters: tight 1e-6 (1 + |p|) (FP32 rounding of p and of the update over STEPS steps); with BF16 moments
       an element whose moment rounded the other way may be off by up to lr * STEPS * 2^-7 */
    double emax = 0;
    for (int i = 0; i < NP; i++) {
        const double e = fabs(p[i] - pr[i]);
        emax = fmax(emax, e);
        if (e > 1e-6 * (1 + fabs(pr[i]))) {
            loose++;
            assert_true(bf16 && e <= 1e-6 * (1 + fabs(pr[i])) + a.lr * STEPS * 0x1p-7);
        }
    }
    printf("adamw %s moments, wd %g, grad_scale %g: max |p - ref| %.2e, %d outside 1e-6, %d moment ulps off\n",
           bf16 ? "bf16" : "f32", (double)a.weight_decay, (double)a.grad_scale, emax, loose, moment_ulps);
    assert_true(moment_ulps <= NP / 100);
    if (p_out) memcpy(p_out, p, sizeof(float) * NP);
    free(p), free(g), free(m), free(v), free(pr), free(mr), free(vr);
    return loose;
}

static const fp8lab_adamw_args BASE = {
    .lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .step = 1, .grad_scale = 1.0f};

static void test_adamw_vs_fp64(void **state) {
    (void)state;
    for (int bf16 = 0; bf16 < 2; bf16++) {
        fp8lab_adamw_args a = BASE;
        int loose = run_adamw(a, bf16, 1.0f, NULL);
        assert_true(loose <= NP / 100);
        a.weight_decay = 0.0f;
        assert_true(run_adamw(a, bf16, 1.0f, NULL) <= NP / 100);
        a.grad_scale = 0.3f;
        assert_true(run_adamw(a, bf16, 1.0f, NULL) <= NP / 100);
    }
}

/* grad_scale multiplies the gradient first: scale 0.25 on g gives the same bits as scale 1 on g * 0.25 */
static void test_adamw_grad_scale(void **state) {
    (void)state;
    float *p1 = malloc(sizeof(float) * NP), *p2 = malloc(sizeof(float) * NP);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        fp8lab_adamw_args a = BASE;
        a.grad_scale = 0.25f;
        run_adamw(a, bf16, 1.0f, p1);
        run_adamw(a, bf16, 0.25f, p2); /* the backend sees g * 0.25 with grad_scale 1 */
        assert_memory_equal(p1, p2, sizeof(float) * NP);
    }
    free(p1), free(p2);
}

/* Step 1 from zero moments: mhat = g, vhat = g^2, so p1 = p0 - lr (g / (|g| + eps) + wd p0), about p0 -
   lr (sign(g) + wd p0): without the bias corrections the step would be 0.1/sqrt(0.05) = 0.45 times that. Weight
   decay is the only change when wd goes from 0 to 0.1; lr = 0 changes nothing. */
static void test_adamw_step1(void **state) {
    (void)state;
    float *p = malloc(sizeof(float) * NP), *p0 = malloc(sizeof(float) * NP), *pw = malloc(sizeof(float) * NP);
    float *g = malloc(sizeof(float) * NP);
    make_grad(g, 1);
    for (int bf16 = 0; bf16 < 2; bf16++) {
        const size_t msz = bf16 ? 2 : 4;
        void *m = calloc(NP, msz), *v = calloc(NP, msz);
        fp8lab_adamw_args a = BASE;
        a.moments = bf16 ? FP8LAB_MOMENTS_BF16 : FP8LAB_MOMENTS_F32;
        a.weight_decay = 0.0f;
        make_param(p0);
        memcpy(p, p0, sizeof(float) * NP);
        assert_int_equal(fp8lab_adamw(be, p, g, m, v, NP, &a), 0);
        for (int i = 0; i < NP; i++) {
            const double want = p0[i] - (double)a.lr * (g[i] / (fabs(g[i]) + a.eps));
            assert_true(fabs(p[i] - want) <= 1e-6 * (1 + fabs(want)));
            /* the stored moments: (1 - b1) g and (1 - b2) g^2, rounded to BF16 when asked */
            const float mf = (1.0f - a.beta1) * g[i], vf = (1.0f - a.beta2) * g[i] * g[i];
            if (bf16) {
                assert_true(((uint16_t *)m)[i] == bf16_from_f32(mf));
                assert_true(((uint16_t *)v)[i] == bf16_from_f32(vf));
            } else {
                assert_true(((float *)m)[i] == mf && ((float *)v)[i] == vf);
            }
        }
        /* weight decay: the same step with wd = 0.1 differs by lr * wd * p0 */
        memset(m, 0, NP * msz), memset(v, 0, NP * msz);
        memcpy(pw, p0, sizeof(float) * NP);
        a.weight_decay = 0.1f;
        assert_int_equal(fp8lab_adamw(be, pw, g, m, v, NP, &a), 0);
        for (int i = 0; i < NP; i++)
            assert_true(fabs((double)(p[i] - pw[i]) - 1e-2 * 0.1 * p0[i]) <= 1e-6 * (1 + fabs(p0[i])));
        /* lr = 0: no change at all, decay included */
        a.lr = 0.0f;
        memcpy(pw, p0, sizeof(float) * NP);
        assert_int_equal(fp8lab_adamw(be, pw, g, m, v, NP, &a), 0);
        assert_memory_equal(pw, p0, sizeof(float) * NP);
        free(m), free(v);
    }
    free(p), free(p0), free(pw), free(g);
}

/* sumsq accumulates into the double it is given, in FP64: 3M values near 0.1, whose FP32 running sum would be off
   by ~1e-4 (relative; ~1e-7 even from per-thread FP32 partials), must agree with an FP64 sum to 1e-9 (the bound
   on two FP64 sums of n = 3e6 terms in different orders: n * 2^-53 = 3.3e-10 each). */
static void test_sumsq(void **state) {
    (void)state;
    const long n = 3000001;
    float *x = malloc(sizeof(float) * (size_t)n);
    double want = 0;
    for (long i = 0; i < n; i++) {
        x[i] = (i % 3 ? 0.1f : -0.3f) * (1 + (float)(i % 7) / 64);
        want += (double)x[i] * x[i];
    }
    double s = 1.5;
    assert_int_equal(fp8lab_sumsq(be, x, n, &s), 0);
    printf("sumsq: %.17g, fp64 %.17g, rel %.2e\n", s, 1.5 + want, fabs(s - 1.5 - want) / want);
    assert_true(fabs(s - (1.5 + want)) <= 1e-9 * want);
    assert_int_equal(fp8lab_sumsq(be, x, n, &s), 0);
    assert_true(fabs(s - (1.5 + 2 * want)) <= 1e-9 * want);
    /* one element */
    double s1 = 0;
    assert_int_equal(fp8lab_sumsq(be, x + 1, 1, &s1), 0);
    assert_true(s1 == (double)x[1] * x[1]);
    free(x);
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* count_nonfinite adds the number of NaN, +Inf, -Inf entries; FLT_MAX, subnormals, -0 are finite */
static void test_count_nonfinite(void **state) {
    (void)state;
    const long n = 100003;
    float *x = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = (float)(i % 101) - 50.0f;
    int64_t c = 5;
    assert_int_equal(fp8lab_count_nonfinite(be, x, n, &c), 0);
    assert_true(c == 5);
    x[0] = NAN, x[17] = INFINITY, x[n / 2] = -INFINITY, x[n - 1] = from_bits(0xffc00001u) /* -NaN */;
    x[9] = from_bits(0x7f800001u); /* a signaling NaN pattern */
    x[10] = FLT_MAX, x[11] = -FLT_MAX, x[12] = from_bits(1u), x[13] = -0.0f;
    assert_int_equal(fp8lab_count_nonfinite(be, x, n, &c), 0);
    assert_true(c == 5 + 5);
    assert_int_equal(fp8lab_count_nonfinite(be, x + 17, 1, &c), 0);
    assert_true(c == 11);
    free(x);
}

static void expect_fail(int rc, const char *msg, int exit_code) {
    printf("refused: %s\n", fp8lab_last_error());
    assert_int_equal(rc, -1);
    assert_non_null(strstr(fp8lab_last_error(), msg));
    assert_int_equal(fp8lab_last_error_exit(), exit_code);
    fp8lab_clear_error();
}

static void test_argument_checks(void **state) {
    (void)state;
    float p[8] = {0}, g[8] = {0}, m[8] = {0}, v[8] = {0};
    const int E = FP8LAB_EXIT_USAGE;
    struct {
        fp8lab_adamw_args a;
        const char *expect;
    } rows[] = {
        {{.lr = -1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 1}, "adamw: lr = -0.001 must be finite and >= 0"},
        {{.lr = NAN, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 1}, "adamw: lr = nan"},
        {{.lr = 1e-3f, .beta1 = 1.0f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 1}, "adamw: beta1 = 1 must be in [0, 1)"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = -0.5f, .eps = 1e-8f, .step = 1, .grad_scale = 1}, "adamw: beta2 = -0.5 must be in [0, 1)"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = NAN, .eps = 1e-8f, .step = 1, .grad_scale = 1}, "adamw: beta2 = nan must be in [0, 1)"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 0.0f, .step = 1, .grad_scale = 1}, "adamw: eps = 0 must be positive"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = -0.1f, .step = 1, .grad_scale = 1}, "adamw: weight_decay = -0.1"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 0, .grad_scale = 1}, "adamw: step = 0 must be positive"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 0}, "adamw: grad_scale = 0 must be positive"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = INFINITY}, "adamw: grad_scale = inf must be positive"},
        {{.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 1, .moments = (fp8lab_moment_dtype)7}, "adamw: unknown moments dtype 7"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        expect_fail(fp8lab_adamw(be, p, g, m, v, 8, &rows[i].a), rows[i].expect, E);
        for (int j = 0; j < 8; j++) assert_true(p[j] == 0.0f); /* nothing ran */
    }
    fp8lab_adamw_args ok = BASE;
    expect_fail(fp8lab_adamw(be, p, g, m, v, 8, NULL), "adamw: args is NULL", E);
    expect_fail(fp8lab_adamw(be, p, g, m, v, 0, &ok), "adamw: n = 0 must be positive", E);
    expect_fail(fp8lab_adamw(be, p, g, NULL, v, 8, &ok), "adamw: m is NULL", E);
    expect_fail(fp8lab_adamw(be, p, g, (char *)m + 1, v, 8, &ok), "adamw: m = ", E); /* BF16: 2-byte aligned */
    ok.moments = FP8LAB_MOMENTS_F32;
    expect_fail(fp8lab_adamw(be, p, g, m, (char *)v + 2, 8, &ok), "adamw: v = ", E); /* FP32: 4-byte aligned */
    ok.moments = FP8LAB_MOMENTS_BF16;
    assert_int_equal(fp8lab_adamw(be, p, g, (char *)m + 2, v, 4, &ok), 0);           /* BF16 at 2 bytes is fine */
    expect_fail(fp8lab_sumsq(be, p, 8, NULL), "sumsq: sumsq_dev is NULL", E);
    expect_fail(fp8lab_sumsq(be, p, -1, (double *)m), "sumsq: n = -1 must be positive", E);
    expect_fail(fp8lab_count_nonfinite(be, NULL, 8, (int64_t *)m), "count_nonfinite: x is NULL", E);
    fp8lab_backend fake = {.name = "fake"};
    expect_fail(fp8lab_adamw(&fake, p, g, m, v, 8, &ok), "op adamw is not implemented by backend fake",
                FP8LAB_EXIT_RUNTIME);
}

int main(void) {
    be = fp8lab_cpu_backend_create();
    if (!be) FP8LAB_SKIP("cpu backend: %s", fp8lab_last_error());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_vs_fp64), cmocka_unit_test(test_adamw_grad_scale),
        cmocka_unit_test(test_adamw_step1),   cmocka_unit_test(test_sumsq),
        cmocka_unit_test(test_count_nonfinite), cmocka_unit_test(test_argument_checks),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_backend_destroy(be);
    return rc;
}
