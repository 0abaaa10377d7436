/* Small deterministic RNG (xorshift64*), so tests and benchmarks are reproducible across machines. */
#ifndef FP8LAB_RNG_H
#define FP8LAB_RNG_H
#include <math.h>
#include <stdint.h>

typedef struct { uint64_t s; } fp8lab_rng;

static inline void fp8lab_rng_seed(fp8lab_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }
static inline uint64_t fp8lab_rng_u64(fp8lab_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
static inline uint32_t fp8lab_rng_u32(fp8lab_rng *r) { return (uint32_t)(fp8lab_rng_u64(r) >> 32); }
/* uniform in [0,1) */
static inline double fp8lab_rng_uniform(fp8lab_rng *r) { return (double)(fp8lab_rng_u64(r) >> 11) * 0x1.0p-53; }
static inline double fp8lab_rng_normal(fp8lab_rng *r) {
    double u1 = fp8lab_rng_uniform(r), u2 = fp8lab_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
#endif
