// Our FP8/BF16 codecs (csrc/fp8/fp8.c) against CUDA's own host conversions, bit for bit: the quantizers on
// the CPU and the GPU must produce identical bytes. Targeted cases (every exponent, every rounding tie and its
// neighbours, subnormals, saturation, zeros, Inf, NaN payloads), every fp8 and bf16 decode, and 12M random
// bit patterns. tests/codec_exhaustive.cpp covers all 2^32 inputs outside ctest.
#include "test_util.h"

#ifndef FP8LAB_HAVE_CUDA_HEADERS
int main(void) { FP8LAB_SKIP("no CUDA headers"); }
#else

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
extern "C" { // cmocka 1.1 declares print_error without C linkage
#include <cmocka.h>
}

#include "core/rng.h"
#include "fp8/fp8.h"

namespace {

uint32_t bits(float x) {
    uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
float from_bits(uint32_t u) {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

uint8_t cuda_e4m3(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3); }
uint8_t cuda_e5m2(float x) { return __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2); }
uint16_t cuda_bf16(float x) {
    __nv_bfloat16_raw r = __float2bfloat16(x);
    return r.x;
}
float cuda_fp8_to_f32(uint8_t v, __nv_fp8_interpretation_t fmt) {
    return __half2float(__half(__nv_cvt_fp8_to_halfraw(v, fmt)));
}
float cuda_bf16_to_f32(uint16_t v) {
    __nv_bfloat16_raw r;
    r.x = v;
    return __bfloat162float(__nv_bfloat16(r));
}

// Counts encode mismatches over a set of inputs, printing the first few so a failure is diagnosable.
struct Checker {
    long checked = 0, bad = 0;
    void enc(float x) {
        check("e4m3", x, fp8_e4m3_from_f32(x), cuda_e4m3(x));
        check("e5m2", x, fp8_e5m2_from_f32(x), cuda_e5m2(x));
        check("bf16", x, bf16_from_f32(x), cuda_bf16(x));
    }
    void enc_pm(float x) {
        enc(x);
        enc(-x);
    }
    void check(const char *what, float x, unsigned ours, unsigned cuda) {
        checked++;
        if (ours != cuda && ++bad <= 10)
            print_error("%s(%a = 0x%08x): ours 0x%x, CUDA 0x%x\n", what, (double)x, bits(x), ours, cuda);
    }
};

void test_all_fp8_decodes(void **) {
    long bad = 0;
    for (int v = 0; v < 256; v++) {
        uint32_t ours = bits(fp8_e4m3_to_f32((uint8_t)v)), cuda = bits(cuda_fp8_to_f32((uint8_t)v, __NV_E4M3));
        if (ours != cuda && ++bad <= 10) print_error("e4m3 decode 0x%02x: ours 0x%08x CUDA 0x%08x\n", v, ours, cuda);
        ours = bits(fp8_e5m2_to_f32((uint8_t)v));
        cuda = bits(cuda_fp8_to_f32((uint8_t)v, __NV_E5M2));
        if (ours != cuda && ++bad <= 10) print_error("e5m2 decode 0x%02x: ours 0x%08x CUDA 0x%08x\n", v, ours, cuda);
    }
    assert_int_equal(bad, 0);
    // anchors that do not depend on CUDA
    assert_true(fp8_e4m3_to_f32(0x7E) == 448.0f);
    assert_true(fp8_e5m2_to_f32(0x7B) == 57344.0f);
    assert_true(fp8_e4m3_to_f32(0x01) == 0x1p-9f);
    assert_true(fp8_e5m2_to_f32(0x01) == 0x1p-16f);
    assert_true(std::isinf(fp8_e5m2_to_f32(0xFC)) && fp8_e5m2_to_f32(0xFC) < 0);
}

void test_all_bf16_decodes(void **) {
    long bad = 0;
    for (uint32_t v = 0; v < 65536; v++) {
        uint32_t ours = bits(bf16_to_f32((uint16_t)v)), cuda = bits(cuda_bf16_to_f32((uint16_t)v));
        if (ours != cuda && ++bad <= 10) print_error("bf16 decode 0x%04x: ours 0x%08x CUDA 0x%08x\n", v, ours, cuda);
    }
    assert_int_equal(bad, 0);
}

// Every fp32 exponent (subnormal, normal, Inf/NaN field) with edge and random mantissas, both signs.
void test_every_exponent(void **) {
    Checker c;
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 1);
    const uint32_t mants[] = {0, 1, 2, 0x7FFFF, 0x80000, 0x80001, 0xFFFFF, 0x100000, 0x100001, 0x1FFFFF,
                              0x200000, 0x3FFFFF, 0x400000, 0x400001, 0x7FFFFE, 0x7FFFFF, 0x8000, 0x7FFF, 0x8001};
    for (uint32_t e = 0; e < 256; e++) {
        for (uint32_t m : mants) c.enc_pm(from_bits(e << 23 | m));
        for (int i = 0; i < 64; i++) c.enc_pm(from_bits(e << 23 | (fp8lab_rng_u32(&r) & 0x7FFFFF)));
    }
    assert_int_equal(c.bad, 0);
}

// Exact midpoints between adjacent representable values, and one fp32 ulp either side: where rounding-to-
// nearest-even is decided. Includes 0..min-subnormal and max..(would-be next value), i.e. underflow and
// saturation thresholds.
void midpoints_for(Checker &c, float (*dec)(uint8_t), uint8_t maxcode) {
    for (unsigned v = 0; v < maxcode; v++) {
        const float lo = dec((uint8_t)v), hi = dec((uint8_t)(v + 1));
        const float mid = (lo + hi) / 2; // exact: fp8 values have few bits
        c.enc_pm(mid);
        c.enc_pm(std::nextafter(mid, 0.0f));
        c.enc_pm(std::nextafter(mid, INFINITY));
        c.enc_pm(lo);
        c.enc_pm(std::nextafter(lo, 0.0f));
        c.enc_pm(std::nextafter(lo, INFINITY));
    }
    // above max: the next binade's spacing continues; the midpoint to the first unrepresentable value
    const float mx = dec(maxcode), ulp = mx - dec((uint8_t)(maxcode - 1));
    for (float x : {mx, mx + ulp / 2, mx + ulp, mx + ulp * 3 / 2, mx * 2, mx * 4}) {
        c.enc_pm(x);
        c.enc_pm(std::nextafter(x, 0.0f));
        c.enc_pm(std::nextafter(x, INFINITY));
    }
}

void test_fp8_rounding_ties(void **) {
    Checker c;
    midpoints_for(c, fp8_e4m3_to_f32, 0x7E);
    midpoints_for(c, fp8_e5m2_to_f32, 0x7B);
    assert_int_equal(c.bad, 0);
    // RNE spot checks independent of CUDA: 464 is the tie between 448 (even) and the NaN slot -> 448
    assert_int_equal(fp8_e4m3_from_f32(464.0f), 0x7E);
    assert_int_equal(fp8_e4m3_from_f32(0x1p-10f), 0x00); // tie between 0 and 2^-9 -> 0 (even)
    assert_int_equal(fp8_e4m3_from_f32(std::nextafter(0x1p-10f, 1.0f)), 0x01);
    assert_int_equal(fp8_e4m3_from_f32(3 * 0x1p-10f), 0x02); // tie between 1 and 2 subnormal units -> 2
    assert_int_equal(fp8_e4m3_from_f32(1.0625f), 0x38);      // tie 1.0 / 1.125 -> 1.0 (even)
    assert_int_equal(fp8_e4m3_from_f32(1.1875f), 0x3A);      // tie 1.125 / 1.25 -> 1.25 (even)
}

void test_bf16_rounding_ties(void **) {
    Checker c;
    for (uint32_t h = 0; h < 0x7F80; h++) { // every finite positive bf16 and its successor
        const uint32_t mid = h << 16 | 0x8000;
        for (uint32_t u : {mid, mid - 1, mid + 1, h << 16}) c.enc_pm(from_bits(u));
    }
    assert_int_equal(c.bad, 0);
}

void test_fp32_subnormals(void **) {
    Checker c;
    for (uint32_t m = 1; m < 0x800000; m += 997) c.enc_pm(from_bits(m));
    for (uint32_t m : {1u, 2u, 0x400000u, 0x7FFFFFu, 0x7FFFFEu}) c.enc_pm(from_bits(m));
    assert_int_equal(c.bad, 0);
}

void test_saturation(void **) {
    Checker c;
    const float xs[] = {448.0f, 464.0f, 472.0f, 480.0f, 512.0f, 57344.0f, 61440.0f, 65536.0f, 1e30f, FLT_MAX,
                        INFINITY, 0x1.fefffep127f, 0x1.ff0000p127f};
    for (float x : xs) {
        c.enc_pm(x);
        c.enc_pm(std::nextafter(x, 0.0f));
        c.enc_pm(std::nextafter(x, INFINITY));
    }
    assert_int_equal(c.bad, 0);
    assert_int_equal(fp8_e4m3_from_f32(INFINITY), 0x7E);
    assert_int_equal(fp8_e4m3_from_f32(-INFINITY), 0xFE);
    assert_int_equal(fp8_e5m2_from_f32(INFINITY), 0x7B);
    assert_int_equal(fp8_e5m2_from_f32(-1e9f), 0xFB);
    assert_int_equal(bf16_from_f32(FLT_MAX), 0x7F80); // bf16 has Inf and does not saturate
}

void test_zero_inf_nan(void **) {
    Checker c;
    c.enc_pm(0.0f);
    c.enc_pm(INFINITY);
    const uint32_t payloads[] = {0x400000, 0x000001, 0x7FFFFF, 0x200000, 0x400001, 0x0F0F0F, 0x100000};
    for (uint32_t p : payloads) c.enc_pm(from_bits(0x7F800000u | p));
    assert_int_equal(c.bad, 0);
    assert_int_equal(fp8_e4m3_from_f32(-0.0f), 0x80);
    assert_int_equal(fp8_e5m2_from_f32(-0.0f), 0x80);
    assert_int_equal(bf16_from_f32(-0.0f), 0x8000);
    assert_int_equal(fp8_e4m3_from_f32(-NAN), 0x7F); // CUDA drops the NaN's sign
    assert_int_equal(bf16_from_f32(-NAN), 0x7FFF);
}

void test_random_bit_patterns(void **) {
    Checker c;
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 20240520);
    for (long i = 0; i < 10000000; i++) c.enc(from_bits(fp8lab_rng_u32(&r)));
    // most random patterns saturate or flush; also draw 2M with exponents inside the fp8 ranges
    for (long i = 0; i < 2000000; i++) {
        const uint32_t u = fp8lab_rng_u32(&r);
        const uint32_t e = 127 - 20 + (u >> 23) % 40; // 2^-20 .. 2^19
        c.enc(from_bits((u & 0x807FFFFFu) | e << 23));
    }
    assert_int_equal(c.bad, 0);
}

} // namespace

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fp8_decodes),  cmocka_unit_test(test_all_bf16_decodes),
        cmocka_unit_test(test_every_exponent),   cmocka_unit_test(test_fp8_rounding_ties),
        cmocka_unit_test(test_bf16_rounding_ties), cmocka_unit_test(test_fp32_subnormals),
        cmocka_unit_test(test_saturation),       cmocka_unit_test(test_zero_inf_nan),
        cmocka_unit_test(test_random_bit_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
#endif
