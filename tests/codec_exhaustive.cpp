// Every one of the 2^32 float32 bit patterns through our E4M3, E5M2 and BF16 encoders and through CUDA's host
// conversions (cuda_fp8.h with __NV_SATFINITE, cuda_bf16.h). Prints mismatch counts per format and the time;
// exits 1 on any mismatch, 77 without CUDA headers. Run by scripts/codec_exhaustive.sh (not a ctest: it takes
// minutes on a small machine).
#include <cstdio>

#ifndef FP8LAB_HAVE_CUDA_HEADERS
int main() {
    std::printf("skipped: no CUDA headers\n");
    return 77;
}
#else

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "fp8/fp8.h"

namespace {

// std::thread rather than OpenMP: tests/CMakeLists.txt gives this C++ target only OpenMP's C flags.
struct Counts {
    long long bad[3] = {0, 0, 0};
    long long first[3] = {-1, -1, -1}; // the smallest mismatching input per format, to reproduce a failure
};

void scan(std::atomic<uint32_t> *next_chunk, Counts *c) {
    for (;;) {
        const uint32_t hi = next_chunk->fetch_add(1); // chunks of 2^16 inputs
        if (hi >= 65536) return;
        for (uint32_t lo = 0; lo < 65536; lo++) {
            const uint32_t u = hi << 16 | lo;
            float x;
            std::memcpy(&x, &u, sizeof x);
            const __nv_bfloat16_raw r = __float2bfloat16(x);
            const bool b[3] = {fp8_e4m3_from_f32(x) != __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3),
                               fp8_e5m2_from_f32(x) != __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2),
                               bf16_from_f32(x) != r.x};
            for (int f = 0; f < 3; f++)
                if (b[f] && c->bad[f]++ == 0) c->first[f] = u;
        }
    }
}

} // namespace

int main() {
    unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    if (const char *e = std::getenv("OMP_NUM_THREADS")) threads = std::max(1, std::atoi(e));
    std::vector<Counts> counts(threads);
    std::vector<std::thread> pool;
    std::atomic<uint32_t> next_chunk{0};
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned t = 0; t < threads; t++) pool.emplace_back(scan, &next_chunk, &counts[t]);
    for (auto &t : pool) t.join();
    long long bad[3] = {0, 0, 0}, first[3] = {-1, -1, -1};
    for (const Counts &c : counts)
        for (int f = 0; f < 3; f++) {
            bad[f] += c.bad[f];
            if (c.first[f] >= 0 && (first[f] < 0 || c.first[f] < first[f])) first[f] = c.first[f];
        }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const char *names[3] = {"e4m3", "e5m2", "bf16"};
    for (int f = 0; f < 3; f++) {
        std::printf("%s: %lld mismatches of 4294967296 inputs", names[f], bad[f]);
        if (bad[f]) std::printf(" (first at bits 0x%08llx)", first[f]);
        std::printf("\n");
    }
    std::printf("elapsed: %.1f s on %u thread(s)\n", secs, threads);
    return bad[0] || bad[1] || bad[2] ? 1 : 0;
}
#endif
