#include "sim/pipeline.h"

#include <stddef.h>

double fp8lab_bubble_1f1b(int p, fp8lab_chunk_times t) { return p > 1 ? (p - 1) * (t.f + t.b + t.w) : 0; }

double fp8lab_bubble_interleaved(int p, int v, fp8lab_chunk_times t) {
    return p > 1 ? (p - 1) * (t.f + t.b + t.w) / (v > 0 ? v : 1) : 0;
}

double fp8lab_bubble_zb1(int p, fp8lab_chunk_times t) {
    double x = t.f + t.b - t.w;
    if (t.f > x) x = t.f;
    if (t.b > x) x = t.b;
    return p > 1 ? (p - 1) * x : 0;
}

double fp8lab_bubble_dualpipe(int p, fp8lab_chunk_times t, double f_and_b) {
    double x = (p / 2.0 - 1.0) * (f_and_b + (t.b + t.w) - 3.0 * t.w);
    return p > 2 && x > 0 ? x : 0;
}

/* greedy fill with capacity cap; leaves at least one unit for every chunk still to come */
static int fill(const double *cost, int n, int k, double cap, int *chunk_of) {
    int c = 0;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        int must_open = c < k - 1 && n - i <= k - 1 - c; /* remaining units just cover remaining chunks */
        if (sum > 0 && (sum + cost[i] > cap || must_open)) {
            if (c == k - 1) return 0;
            c++;
            sum = 0;
        }
        sum += cost[i];
        if (chunk_of) chunk_of[i] = c;
    }
    return c == k - 1;
}

double fp8lab_partition(const double *cost, int n, int k, int *chunk_of) {
    if (n < k || k < 1) return -1;
    double lo = 0, hi = 0;
    for (int i = 0; i < n; i++) {
        hi += cost[i];
        if (cost[i] > lo) lo = cost[i];
    }
    if (k == 1) {
        for (int i = 0; i < n; i++) chunk_of[i] = 0;
        return hi;
    }
    double top = hi;
    for (int it = 0; it < 60; it++) {
        double mid = 0.5 * (lo + hi);
        if (fill(cost, n, k, mid, NULL)) hi = mid;
        else lo = mid;
    }
    if (!fill(cost, n, k, hi, chunk_of)) fill(cost, n, k, top, chunk_of);
    double best = 0, s = 0;
    for (int i = 0; i < n; i++) {
        s = i && chunk_of[i] != chunk_of[i - 1] ? cost[i] : s + cost[i];
        if (s > best) best = s;
    }
    return best;
}

int fp8lab_rank_of_chunk(fp8lab_pp_schedule s, int c, int p, int *second_rank) {
    *second_rank = -1;
    if (s == FP8LAB_PP_INTERLEAVED) return c % p;
    if (s == FP8LAB_PP_DUALPIPE) *second_rank = p - 1 - c;
    return c;
}
