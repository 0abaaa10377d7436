#include "sim/moe_load.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

/* log Phi(x), accurate in both tails */
static double log_phi(double x) {
    return x < 0 ? log(0.5 * erfc(-x / sqrt(2.0))) : log1p(-0.5 * erfc(x / sqrt(2.0)));
}

/* E[max of n iid N(0,1)] = integral over x > 0 of (1 - Phi^n) minus integral over x < 0 of Phi^n (integration
   by parts of E[X] for the CDF Phi^n), each by Simpson's rule on its own half line (the integrand jumps by 1 at
   0); Phi^n through log Phi so that large n keep their precision. */
static double expected_max_normal(long n) {
    const int N = 4096; /* even */
    const double lo = 9, hi = 9 + sqrt(2 * log((double)n)), hl = lo / N, hh = hi / N;
    double sl = 0, sh = 0;
    for (int i = 0; i <= N; i++) {
        const double w = i == 0 || i == N ? 1 : i % 2 ? 4 : 2;
        sl += w * exp((double)n * log_phi(-i * hl));
        sh += w * -expm1((double)n * log_phi(i * hh));
    }
    return sh * hh / 3 - sl * hl / 3;
}

/* The integral costs ~16K exp/erfc; a sweep simulates thousands of points with the same few n (the EP size, the
   expert count), so the last few values are kept (per thread). */
double fp8lab_expected_max_normal(long n) {
    if (n <= 1) return 0;
    enum { SLOTS = 8 };
    static _Thread_local struct {
        long n;
        double v;
    } cache[SLOTS];
    static _Thread_local int next;
    for (int i = 0; i < SLOTS; i++)
        if (cache[i].n == n) return cache[i].v;
    const double v = expected_max_normal(n);
    cache[next].n = n, cache[next].v = v;
    next = (next + 1) % SLOTS;
    return v;
}

static int check_in(const fp8lab_moe_load_in *in) {
    if (!(in->tokens > 0) || in->topk < 1 || in->experts < in->topk || in->ep < 1 || in->experts % in->ep ||
        !(in->skew >= 0) || !isfinite(in->skew) || !isfinite(in->tokens)) {
        FP8LAB_ERR("MoE load: tokens %g, topk %d, experts %ld, ep %d, skew %g (expected tokens > 0, 1 <= topk <= "
                   "experts, ep dividing experts, skew >= 0)",
                   in->tokens, in->topk, in->experts, in->ep, in->skew);
        return -1;
    }
    return 0;
}

int fp8lab_moe_load_expected(const fp8lab_moe_load_in *in, fp8lab_moe_load *out) {
    if (check_in(in)) return -1;
    const double E = (double)in->experts, k = in->topk, T = in->tokens, ep = in->ep, cv2 = in->skew * in->skew;
    const double wr = E > 1 ? (E - k) / (E - 1) : 0; /* top-k without replacement */
    const double s_rank = sqrt(cv2 * ep / E + wr / (T * k));
    const double s_exp = sqrt(cv2 + E * wr / (ep * T * k));
    out->rank_max = in->ep > 1 ? 1 + s_rank * fp8lab_expected_max_normal(in->ep) : 1;
    out->expert_max = 1 + s_exp * fp8lab_expected_max_normal(in->experts);
    return 0;
}

/* splitmix64: a fixed, portable stream */
static unsigned long long next_u64(unsigned long long *s) {
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double unif(unsigned long long *s) { return ((double)(next_u64(s) >> 11) + 0.5) / 9007199254740992.0; }
static double gauss(unsigned long long *s) {
    return sqrt(-2 * log(unif(s))) * cos(6.283185307179586 * unif(s));
}

int fp8lab_moe_load_simulate(const fp8lab_moe_load_in *in, int trials, unsigned long long seed, fp8lab_moe_load *out) {
    if (check_in(in)) return -1;
    if (trials < 1 || in->tokens * in->ep * in->topk * (double)in->experts * trials > 1e11) {
        FP8LAB_ERR("MoE load simulation: %d trials of this size is too many (a brute-force reference for small "
                   "cases)", trials);
        return -1;
    }
    const long E = in->experts, per = E / in->ep, n_tok = (long)ceil(in->tokens) * in->ep;
    double *pop = malloc(sizeof(double) * (size_t)E * 2);
    long *cnt = calloc((size_t)E, sizeof(long));
    if (!pop || !cnt) {
        free(pop), free(cnt);
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    double *w = pop + E;
    unsigned long long st = seed;
    double sum_rank = 0, sum_exp = 0;
    for (int t = 0; t < trials; t++) {
        double tot = 0;
        for (long i = 0; i < E; i++) {
            double p = 1 + in->skew * (in->skew > 0 ? gauss(&st) : 0);
            pop[i] = p > 1e-6 ? p : 1e-6;
            tot += pop[i];
        }
        memset(cnt, 0, sizeof(long) * (size_t)E);
        for (long tok = 0; tok < n_tok; tok++) {
            double left = tot;
            memcpy(w, pop, sizeof(double) * (size_t)E);
            for (int j = 0; j < in->topk; j++) {
                double u = unif(&st) * left, acc = 0;
                long pick = -1;
                for (long i = 0; i < E; i++) {
                    if (w[i] <= 0) continue;
                    acc += w[i];
                    pick = i;
                    if (u < acc) break;
                }
                cnt[pick]++;
                left -= w[pick];
                w[pick] = 0;
            }
        }
        long mr = 0, me = 0;
        for (long r = 0; r < in->ep; r++) {
            long s = 0;
            for (long i = r * per; i < (r + 1) * per; i++) {
                s += cnt[i];
                if (cnt[i] > me) me = cnt[i];
            }
            if (s > mr) mr = s;
        }
        const double assigned = (double)n_tok * in->topk;
        sum_rank += mr / (assigned / in->ep);
        sum_exp += me / (assigned / (double)E);
    }
    free(pop), free(cnt);
    out->rank_max = sum_rank / trials;
    out->expert_max = sum_exp / trials;
    return 0;
}
