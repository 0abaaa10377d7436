/* Quantizers: per tensor, 1x128 (activations, DeepSeek-V3 style) and 128x128 (weights).

   The contract every implementation (these CPU ones and the CUDA kernels) follows bit for bit:
     amax      = max |x| over the tile (all inputs must be finite)
     scale_inv = amax / fmtmax, one IEEE float division (fmtmax 448 for E4M3, 57344 for E5M2);
                 amax == 0 -> 1; pow2 -> rounded up to the next power of two (unchanged if already one)
     q         = encode(x / scale_inv), an IEEE float division, round-to-nearest, then the SATFINITE codec.
   We divide by scale_inv rather than multiply by a reciprocal scale (fmtmax/amax): a reciprocal adds a second
   rounding, and CPU and GPU would then agree only if both computed it the same way. With a correctly rounded
   division (CUDA's default '/' for float, i.e. no --use_fast_math, or __fdiv_rn) there is one answer.
   Subnormal scale_inv (amax below 448 * 2^-126, about 5e-36) loses precision in the division; such tiles are
   effectively zero for training and we do not special-case them.
   On error the contents of q and scale_inv are unspecified. */
#include "fp8/quant.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>

#include "core/error.h"
#include "fp8/fp8.h"
#include "fp8/fp8_impl.h"

#define BLOCK 128

float fp8_fmt_max(int fmt) { return fmt == FP8_E5M2 ? FP8_E5M2_MAX : FP8_E4M3_MAX; }

uint8_t fp8_encode(int fmt, float x) { return fmt == FP8_E5M2 ? fp8_e5m2_from_f32(x) : fp8_e4m3_from_f32(x); }

float fp8_decode(int fmt, uint8_t v) { return fmt == FP8_E5M2 ? fp8_e5m2_to_f32(v) : fp8_e4m3_to_f32(v); }

float fp8_scale_inv_from_amax(float amax, int fmt, int pow2) {
    if (amax == 0.0f) return 1.0f;
    float s = amax / fp8_fmt_max(fmt);
    if (pow2) {
        int e;
        float m = frexpf(s, &e); /* s = m * 2^e, m in [0.5, 1); exact for subnormals too */
        if (m != 0.5f) s = ldexpf(1.0f, e);
    }
    return s;
}

static int check_fmt(const char *fn, int fmt) {
    if (fmt != FP8_E4M3 && fmt != FP8_E5M2) {
        FP8LAB_ERR("%s: unknown fp8 format %d (expected FP8_E4M3=0 or FP8_E5M2=1)", fn, fmt);
        return -1;
    }
    return 0;
}

static int check_ptrs(const char *fn, const void *x, const void *q, const void *s) {
    if (!x || !q || !s) {
        FP8LAB_ERR("%s: NULL %s", fn, !x ? "input x" : !q ? "output q" : "output scale_inv");
        return -1;
    }
    return 0;
}

static int check_dim(const char *fn, const char *name, int v, int need_block) {
    if (v <= 0) {
        FP8LAB_ERR("%s: %s = %d must be positive", fn, name, v);
        return -1;
    }
    if (need_block && v % BLOCK) {
        FP8LAB_ERR("%s: %s = %d is not a multiple of %d (the block size)", fn, name, v, BLOCK);
        return -1;
    }
    return 0;
}

/* Only on the error path: the first non-finite element in row-major order, so the message is deterministic
   regardless of which thread saw a bad value first. */
static long first_nonfinite(const float *x, long n) {
    for (long i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return -1;
}

/* max |x| over n floats as IEEE bit patterns: non-negative floats order as their bits, and any NaN or Inf
   gives a result >= 0x7F800000 (the caller's "not finite" test). Integer max vectorizes, fmaxf does not. */
static inline uint32_t amax_bits(const float *x, long n) {
    uint32_t m = 0;
#pragma omp simd reduction(max : m)
    for (long i = 0; i < n; i++) {
        const uint32_t b = f32_bits(x[i]) & 0x7FFFFFFFu;
        m = b > m ? b : m;
    }
    return m;
}
#define BITS_NONFINITE 0x7F800000u

/* the format test is hoisted out of the loop so each loop inlines one encoder */
static inline void quantize_run(const float *x, long n, int fmt, float scale_inv, uint8_t *q) {
    if (fmt == FP8_E5M2) {
#pragma omp simd
        for (long i = 0; i < n; i++) q[i] = fp8_e5m2_from_f32_inline(x[i] / scale_inv);
    } else {
#pragma omp simd
        for (long i = 0; i < n; i++) q[i] = fp8_e4m3_from_f32_inline(x[i] / scale_inv);
    }
}

int fp8_quantize_tensor(const float *x, long n, int fmt, int pow2, uint8_t *q, float *scale_inv) {
    static const char *fn = "fp8_quantize_tensor";
    if (check_ptrs(fn, x, q, scale_inv) || check_fmt(fn, fmt)) return -1;
    if (n <= 0) {
        FP8LAB_ERR("%s: n = %ld must be positive", fn, n);
        return -1;
    }
    float amax = 0.0f;
    int bad = 0;
#pragma omp parallel for reduction(max : amax) reduction(| : bad) schedule(static)
    for (long i = 0; i < n; i++) {
        bad |= !isfinite(x[i]);
        amax = fmaxf(amax, fabsf(x[i]));
    }
    if (bad) {
        FP8LAB_ERR("%s: non-finite value at index %ld", fn, first_nonfinite(x, n));
        return -1;
    }
    const float s = fp8_scale_inv_from_amax(amax, fmt, pow2);
    *scale_inv = s;
#pragma omp parallel
    {
        /* contiguous chunk per thread */
        const int nt = omp_get_num_threads(), id = omp_get_thread_num();
        const long lo = n * id / nt, hi = n * (id + 1) / nt;
        quantize_run(x + lo, hi - lo, fmt, s, q + lo);
    }
    return 0;
}

int fp8_quantize_1x128(const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q, float *scale_inv) {
    static const char *fn = "fp8_quantize_1x128";
    if (check_ptrs(fn, x, q, scale_inv) || check_fmt(fn, fmt)) return -1;
    if (check_dim(fn, "rows", rows, 0) || check_dim(fn, "cols", cols, 1)) return -1;
    const int nb = cols / BLOCK;
    int bad = 0;
#pragma omp parallel for reduction(| : bad) schedule(static)
    for (int r = 0; r < rows; r++) {
        for (int b = 0; b < nb; b++) {
            const float *t = x + (size_t)r * cols + (size_t)b * BLOCK;
            const uint32_t m = amax_bits(t, BLOCK);
            if (m >= BITS_NONFINITE) {
                bad = 1;
                continue;
            }
            const float s = fp8_scale_inv_from_amax(f32_from_bits(m), fmt, pow2);
            scale_inv[(size_t)r * nb + b] = s;
            quantize_run(t, BLOCK, fmt, s, q + (size_t)r * cols + (size_t)b * BLOCK);
        }
    }
    if (bad) {
        const long i = first_nonfinite(x, (long)rows * cols);
        const int r = (int)(i / cols), c = (int)(i % cols);
        FP8LAB_ERR("%s: non-finite value at row %d col %d (tile row %d, col-block %d)", fn, r, c, r, c / BLOCK);
        return -1;
    }
    return 0;
}

int fp8_quantize_128x128(const float *x, int rows, int cols, int fmt, int pow2, uint8_t *q, float *scale_inv) {
    static const char *fn = "fp8_quantize_128x128";
    if (check_ptrs(fn, x, q, scale_inv) || check_fmt(fn, fmt)) return -1;
    if (check_dim(fn, "rows", rows, 1) || check_dim(fn, "cols", cols, 1)) return -1;
    const int rb_n = rows / BLOCK, cb_n = cols / BLOCK;
    int bad = 0;
    /* One tile per iteration: enough parallelism for any useful size, and each tile is read twice while
       it is still in cache. */
#pragma omp parallel for reduction(| : bad) schedule(static)
    for (int t = 0; t < rb_n * cb_n; t++) {
        const int rb = t / cb_n, cb = t % cb_n;
        const float *x0 = x + (size_t)rb * BLOCK * cols + (size_t)cb * BLOCK;
        uint32_t m = 0;
        for (int r = 0; r < BLOCK; r++) {
            const uint32_t mr = amax_bits(x0 + (size_t)r * cols, BLOCK);
            m = mr > m ? mr : m;
        }
        if (m >= BITS_NONFINITE) {
            bad = 1;
            continue;
        }
        const float s = fp8_scale_inv_from_amax(f32_from_bits(m), fmt, pow2);
        scale_inv[t] = s; /* [rows/128][cols/128] */
        uint8_t *q0 = q + (size_t)rb * BLOCK * cols + (size_t)cb * BLOCK;
        for (int r = 0; r < BLOCK; r++) quantize_run(x0 + (size_t)r * cols, BLOCK, fmt, s, q0 + (size_t)r * cols);
    }
    if (bad) {
        const long i = first_nonfinite(x, (long)rows * cols);
        const int r = (int)(i / cols), c = (int)(i % cols);
        FP8LAB_ERR("%s: non-finite value at row %d col %d (tile row-block %d, col-block %d)", fn, r, c, r / BLOCK,
                   c / BLOCK);
        return -1;
    }
    return 0;
}
