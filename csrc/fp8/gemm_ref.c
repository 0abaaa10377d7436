/* Reference block-scaled FP8 GEMM (E4M3 operands), written for clarity rather than speed.
   For each output D[m][n]:
     for each 128-wide K block kb:
       s        = sum of the 128 products qa*qb, in FP32, k ascending   (each product is exact in FP32)
       partial += s * (sa[m][kb] * sb[n/128][kb])                       (FP32)
       every promote_k elements: acc += partial; partial = 0            (FP32)
     D[m][n] = acc + partial   (promote_k == 0: one partial over all of K)
   This mirrors DeepSeek-V3's recipe: the tensor cores form the per-block sum, and the scaled result is
   promoted into FP32 on the CUDA cores; promote_k lets tests vary how often that promotion happens. */
#include "fp8/gemm_ref.h"

#include <stdlib.h>

#include "core/error.h"
#include "fp8/fp8.h"

#define BLOCK 128

static int validate(const uint8_t *qa, const float *sa, const uint8_t *qb, const float *sb, int M, int N, int K,
                    int promote_k, const float *D) {
    if (!qa || !sa || !qb || !sb || !D) {
        FP8LAB_ERR("fp8_gemm_block_ref: NULL %s",
                   !qa ? "qa" : !sa ? "sa" : !qb ? "qb" : !sb ? "sb" : "D");
        return -1;
    }
    if (M <= 0 || N <= 0 || K <= 0) {
        FP8LAB_ERR("fp8_gemm_block_ref: M, N, K must be positive (got M=%d N=%d K=%d)", M, N, K);
        return -1;
    }
    if (K % BLOCK) {
        FP8LAB_ERR("fp8_gemm_block_ref: K = %d is not a multiple of %d (the scaling block)", K, BLOCK);
        return -1;
    }
    if (N % BLOCK) {
        FP8LAB_ERR("fp8_gemm_block_ref: N = %d is not a multiple of %d (B is scaled in 128x128 blocks)", N, BLOCK);
        return -1;
    }
    if (promote_k < 0 || promote_k % BLOCK || (promote_k && K % promote_k)) {
        FP8LAB_ERR("fp8_gemm_block_ref: promote_k = %d must be 0 (never) or a multiple of %d that divides K = %d",
                   promote_k, BLOCK, K);
        return -1;
    }
    return 0;
}

int fp8_gemm_block_ref(const uint8_t *qa, const float *sa, const uint8_t *qb, const float *sb, int M, int N, int K,
                       int promote_k, float *D) {
    if (validate(qa, sa, qb, sb, M, N, K, promote_k, D)) return -1;
    const int KB = K / BLOCK;
    const int blocks_per_promote = promote_k ? promote_k / BLOCK : KB;

    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = fp8_e4m3_to_f32((uint8_t)v);
    /* B decoded once: every row of A streams over all of it. */
    float *fb = malloc((size_t)N * K * sizeof *fb);
    float *fa = malloc((size_t)M * K * sizeof *fa);
    if (!fb || !fa) {
        free(fb);
        free(fa);
        FP8LAB_ERR_RT("fp8_gemm_block_ref: out of memory decoding %dx%d and %dx%d operands", M, K, N, K);
        return -1;
    }
    for (size_t i = 0; i < (size_t)N * K; i++) fb[i] = lut[qb[i]];
    for (size_t i = 0; i < (size_t)M * K; i++) fa[i] = lut[qa[i]];

#pragma omp parallel for schedule(static)
    for (int m = 0; m < M; m++) {
        const float *a = fa + (size_t)m * K;
        for (int n = 0; n < N; n++) {
            const float *b = fb + (size_t)n * K;
            const float *sbn = sb + (size_t)(n / BLOCK) * KB;
            float acc = 0.0f, partial = 0.0f;
            for (int kb = 0; kb < KB; kb++) {
                float s = 0.0f;
                for (int k = kb * BLOCK; k < (kb + 1) * BLOCK; k++) s += a[k] * b[k];
                partial += s * (sa[(size_t)m * KB + kb] * sbn[kb]);
                if ((kb + 1) % blocks_per_promote == 0) {
                    acc += partial;
                    partial = 0.0f;
                }
            }
            D[(size_t)m * N + n] = acc + partial;
        }
    }
    free(fb);
    free(fa);
    return 0;
}
