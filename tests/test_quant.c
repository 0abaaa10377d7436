/* Quantizers: round-trip error within the bounds the formats allow, scale rules (zero tiles, amax -> max code,
   pow2), scale layouts, and errors that name the dimension or the tile. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rng.h"
#include "fp8/fp8.h"
#include "fp8/quant.h"

static float *alloc_f(size_t n) {
    float *p = calloc(n, sizeof *p);
    assert_non_null(p);
    return p;
}
static uint8_t *alloc_q(size_t n) {
    uint8_t *p = calloc(n, 1);
    assert_non_null(p);
    return p;
}

/* Normal values whose magnitude changes per 128-wide block, from 2^-12 to 2^12, with a few exact zeros. */
static void fill_random(float *x, size_t n, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        const double mag = ldexp(1.0, (int)((i / 128 * 7) % 25) - 12);
        x[i] = (fp8lab_rng_u32(&r) % 97 == 0) ? 0.0f : (float)(mag * fp8lab_rng_normal(&r));
    }
}

/* With round-to-nearest, an fp8 value y in the normal range is off by at most half an ulp: 2^-(mbits+1)|y|
   (2^-4 for E4M3, 2^-3 for E5M2); below the smallest normal the absolute error is at most half the smallest
   subnormal, times the scale. The x / scale_inv division adds one fp32 rounding (2^-24 relative), covered
   by the 2^-22 slack. */
static void check_roundtrip(const float *x, const uint8_t *q, float s, int n, int fmt) {
    const double rel = fmt == FP8_E4M3 ? 0x1p-4 : 0x1p-3;
    const double minnorm = fmt == FP8_E4M3 ? 0x1p-6 : 0x1p-14;
    const double half_sub = fmt == FP8_E4M3 ? 0x1p-10 : 0x1p-17;
    for (int i = 0; i < n; i++) {
        const double deq = (double)fp8_decode(fmt, q[i]) * s;
        const double err = fabs(deq - x[i]), ax = fabs((double)x[i]);
        const double bound = (ax / s >= minnorm ? rel * ax : half_sub * s) + 0x1p-22 * ax;
        if (err > bound) fail_msg("x=%a deq=%a err=%g bound=%g scale_inv=%a", (double)x[i], deq, err, bound, (double)s);
    }
}

static void roundtrip_1x128(int fmt, int pow2) {
    const int rows = 8, cols = 1024, nb = cols / 128;
    float *x = alloc_f((size_t)rows * cols), *s = alloc_f((size_t)rows * nb);
    uint8_t *q = alloc_q((size_t)rows * cols);
    fill_random(x, (size_t)rows * cols, 7 + (uint64_t)fmt);
    assert_int_equal(fp8_quantize_1x128(x, rows, cols, fmt, pow2, q, s), 0);
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < nb; b++) {
            const size_t o = (size_t)r * cols + (size_t)b * 128;
            check_roundtrip(x + o, q + o, s[r * nb + b], 128, fmt);
        }
    free(x);
    free(s);
    free(q);
}

static void test_roundtrip_e4m3(void **st) {
    (void)st;
    roundtrip_1x128(FP8_E4M3, 0);
    roundtrip_1x128(FP8_E4M3, 1);
}

static void test_roundtrip_e5m2(void **st) {
    (void)st;
    roundtrip_1x128(FP8_E5M2, 0);
    roundtrip_1x128(FP8_E5M2, 1);
}

static void test_roundtrip_128x128_and_tensor(void **st) {
    (void)st;
    const int rows = 256, cols = 384;
    const size_t n = (size_t)rows * cols;
    float *x = alloc_f(n), *s = alloc_f(6);
    uint8_t *q = alloc_q(n);
    fill_random(x, n, 99);
    for (int fmt = 0; fmt < 2; fmt++) {
        assert_int_equal(fp8_quantize_128x128(x, rows, cols, fmt, 0, q, s), 0);
        for (int rb = 0; rb < 2; rb++)
            for (int cb = 0; cb < 3; cb++)
                for (int r = rb * 128; r < rb * 128 + 128; r++) {
                    const size_t o = (size_t)r * cols + (size_t)cb * 128;
                    check_roundtrip(x + o, q + o, s[rb * 3 + cb], 128, fmt);
                }
        float st1;
        assert_int_equal(fp8_quantize_tensor(x, (long)n, fmt, 0, q, &st1), 0);
        check_roundtrip(x, q, st1, (int)n, fmt);
    }
    free(x);
    free(s);
    free(q);
}

static void test_zero_and_constant_tiles(void **st) {
    (void)st;
    float x[2 * 256], s[4];
    uint8_t q[2 * 256];
    for (int i = 0; i < 512; i++) x[i] = 0.0f;
    for (int i = 128; i < 256; i++) x[i] = -3.25f;        /* row 0, block 1: constant */
    for (int i = 256 + 128; i < 512; i++) x[i] = 1e-30f; /* row 1, block 1: tiny constant */
    for (int fmt = 0; fmt < 2; fmt++) {
        assert_int_equal(fp8_quantize_1x128(x, 2, 256, fmt, 0, q, s), 0);
        assert_true(s[0] == 1.0f && s[2] == 1.0f);
        for (int i = 0; i < 128; i++) assert_true(fp8_decode(fmt, q[i]) == 0.0f && fp8_decode(fmt, q[256 + i]) == 0.0f);
        const uint8_t maxcode = fmt == FP8_E4M3 ? 0x7E : 0x7B;
        for (int i = 128; i < 256; i++) {
            assert_int_equal(q[i], 0x80 | maxcode);
            assert_int_equal(q[256 + i], maxcode);
        }
        assert_true(fabsf(fp8_decode(fmt, q[128]) * s[1] + 3.25f) <= 3.25f * 0x1p-22f);
        assert_true(fabsf(fp8_decode(fmt, q[384]) * s[3] - 1e-30f) <= 1e-30f * 0x1p-22f);
    }
    float stensor;
    assert_int_equal(fp8_quantize_tensor(x, 128, FP8_E4M3, 1, q, &stensor), 0);
    assert_true(stensor == 1.0f);
}

/* The tile's amax lands exactly on the largest code (sign kept), so the whole fp8 range is used. */
static void test_amax_maps_to_max(void **st) {
    (void)st;
    const int rows = 4, cols = 512;
    float *x = alloc_f((size_t)rows * cols), s[16];
    uint8_t *q = alloc_q((size_t)rows * cols);
    fill_random(x, (size_t)rows * cols, 3);
    for (int fmt = 0; fmt < 2; fmt++) {
        assert_int_equal(fp8_quantize_1x128(x, rows, cols, fmt, 0, q, s), 0);
        for (int t = 0; t < rows * cols / 128; t++) {
            int arg = t * 128;
            for (int i = t * 128; i < t * 128 + 128; i++)
                if (fabsf(x[i]) > fabsf(x[arg])) arg = i;
            assert_true(s[t] == fabsf(x[arg]) / fp8_fmt_max(fmt));
            assert_true(fp8_decode(fmt, q[arg]) == copysignf(fp8_fmt_max(fmt), x[arg]));
        }
    }
    free(x);
    free(q);
}

static int is_pow2(float v) {
    int e;
    return v > 0 && frexpf(v, &e) == 0.5f;
}

static void test_pow2_scales(void **st) {
    (void)st;
    const int rows = 16, cols = 1024, nb = 8;
    float *x = alloc_f((size_t)rows * cols), *s = alloc_f((size_t)rows * nb);
    uint8_t *q = alloc_q((size_t)rows * cols);
    fill_random(x, (size_t)rows * cols, 11);
    for (int fmt = 0; fmt < 2; fmt++) {
        assert_int_equal(fp8_quantize_1x128(x, rows, cols, fmt, 1, q, s), 0);
        for (int t = 0; t < rows * nb; t++) {
            float amax = 0;
            for (int i = t * 128; i < t * 128 + 128; i++) amax = fmaxf(amax, fabsf(x[i]));
            const float exact = amax / fp8_fmt_max(fmt);
            assert_true(is_pow2(s[t]));
            assert_true(s[t] >= exact && s[t] < 2 * exact);
        }
    }
    /* an exact power of two stays; amax 0 -> 1 */
    assert_true(fp8_scale_inv_from_amax(448.0f * 0.25f, FP8_E4M3, 1) == 0.25f);
    assert_true(fp8_scale_inv_from_amax(448.0f * 0.3f, FP8_E4M3, 1) == 0.5f);
    assert_true(fp8_scale_inv_from_amax(0.0f, FP8_E5M2, 1) == 1.0f);
    assert_true(fp8_scale_inv_from_amax(57344.0f, FP8_E5M2, 0) == 1.0f);
    free(x);
    free(s);
    free(q);
}

/* 1x128: [rows][cols/128]; 128x128: [rows/128][cols/128]. Each tile gets a distinct amax. */
static void test_scale_layouts(void **st) {
    (void)st;
    const int rows = 256, cols = 384, nb = 3;
    float *x = alloc_f((size_t)rows * cols), *s = alloc_f((size_t)rows * nb);
    uint8_t *q = alloc_q((size_t)rows * cols);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) x[(size_t)r * cols + c] = (c % 128 == 5) ? (float)(r * nb + c / 128 + 1) : 0.5f;
    assert_int_equal(fp8_quantize_1x128(x, rows, cols, FP8_E4M3, 0, q, s), 0);
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < nb; b++) assert_true(s[r * nb + b] == (float)(r * nb + b + 1) / 448.0f);
    assert_int_equal(fp8_quantize_128x128(x, rows, cols, FP8_E4M3, 0, q, s), 0);
    for (int rb = 0; rb < 2; rb++)
        for (int b = 0; b < nb; b++) /* the tile's largest is its last row */
            assert_true(s[rb * nb + b] == (float)((rb * 128 + 127) * nb + b + 1) / 448.0f);
    free(x);
    free(s);
    free(q);
}

static void expect_error(int rc, const char *a, const char *b) {
    assert_int_equal(rc, -1);
    const char *msg = fp8lab_last_error();
    if (!strstr(msg, a) || (b && !strstr(msg, b))) fail_msg("message '%s' lacks '%s'/'%s'", msg, a, b ? b : "");
}

static void test_bad_input(void **st) {
    (void)st;
    const int rows = 256, cols = 256;
    float *x = alloc_f((size_t)rows * cols), s[4 * 256];
    uint8_t *q = alloc_q((size_t)rows * cols);
    expect_error(fp8_quantize_1x128(x, 2, 130, FP8_E4M3, 0, q, s), "cols = 130", "multiple of 128");
    expect_error(fp8_quantize_128x128(x, 200, 128, FP8_E4M3, 0, q, s), "rows = 200", "multiple of 128");
    expect_error(fp8_quantize_128x128(x, 128, 0, FP8_E4M3, 0, q, s), "cols = 0", NULL);
    expect_error(fp8_quantize_1x128(x, 2, 256, 7, 0, q, s), "format 7", NULL);
    expect_error(fp8_quantize_1x128(NULL, 2, 256, FP8_E4M3, 0, q, s), "NULL", NULL);
    expect_error(fp8_quantize_tensor(x, 0, FP8_E4M3, 0, q, s), "n = 0", NULL);
    x[5 * cols + 130] = NAN;
    x[9 * cols + 3] = INFINITY; /* later in row order: the message names the first */
    expect_error(fp8_quantize_1x128(x, rows, cols, FP8_E4M3, 0, q, s), "row 5 col 130", "tile row 5, col-block 1");
    expect_error(fp8_quantize_128x128(x, rows, cols, FP8_E5M2, 0, q, s), "row 5 col 130",
                 "row-block 0, col-block 1");
    expect_error(fp8_quantize_tensor(x, (long)rows * cols, FP8_E4M3, 0, q, s), "index 1410", NULL);
    x[5 * cols + 130] = 0;
    expect_error(fp8_quantize_1x128(x, rows, cols, FP8_E4M3, 0, q, s), "row 9 col 3", "col-block 0");
    free(x);
    free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_e4m3),        cmocka_unit_test(test_roundtrip_e5m2),
        cmocka_unit_test(test_roundtrip_128x128_and_tensor), cmocka_unit_test(test_zero_and_constant_tiles),
        cmocka_unit_test(test_amax_maps_to_max),      cmocka_unit_test(test_pow2_scales),
        cmocka_unit_test(test_scale_layouts),         cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
