/* Pipeline-parallel bubble closed forms and stage partitioning. The step model takes its bubble from the event-
   simulated timeline (sim/timeline.h); these closed forms are what that timeline reduces to where their
   assumptions hold, and the tests hold it to them. */
#ifndef FP8LAB_SIM_PIPELINE_H
#define FP8LAB_SIM_PIPELINE_H

typedef enum {
    FP8LAB_PP_1F1B = 0,
    FP8LAB_PP_INTERLEAVED = 1,
    FP8LAB_PP_DUALPIPE = 2,
    FP8LAB_PP_ZB1 = 3 /* ZB-H1: 1F1B with the weight gradients deferred into the bubbles */
} fp8lab_pp_schedule;

/* Times per micro-batch on one pipeline rank (or one stage): forward, input-gradient backward, weight-gradient
   backward. The whole backward is b + w. */
typedef struct {
    double f, b, w;
} fp8lab_chunk_times;

/* 1F1B (PipeDream-Flush; Narayanan et al. 2021 sec. 2.2.1), uniform stages: (p-1)(F + B + W). */
double fp8lab_bubble_1f1b(int p, fp8lab_chunk_times t);
/* Interleaved 1F1B with v model chunks per rank (Narayanan et al. 2021 sec. 2.2.2): (p-1)(F + B + W)/v, where
   F, B, W are a rank's times over all its chunks. */
double fp8lab_bubble_interleaved(int p, int v, fp8lab_chunk_times t);
/* ZB-H1 (Qi et al. 2024, arXiv:2401.10241 sec. 2.1), uniform stages: (p-1)(F + B - W), the paper's figure
   (one third of 1F1B's at F = B = W), where W <= min(F, B); a longer W delays the forwards and backwards queued
   behind it, and the timeline's order gives (p-1) max(F + B - W, F, B). */
double fp8lab_bubble_zb1(int p, fp8lab_chunk_times t);
/* DualPipe (DeepSeek-V3 report Table 2): (p/2 - 1)(F&B + B_whole - 3W), with B_whole = t.b + t.w the whole
   backward chunk and f_and_b the time of a forward chunk and a whole backward chunk run overlapped (t.f + t.b +
   t.w when nothing is gained by the overlap). The table's Figure 5 draws F and the input-gradient B of one length;
   the timeline matches the formula there. Never negative. */
double fp8lab_bubble_dualpipe(int p, fp8lab_chunk_times t, double f_and_b);

/* Splits n unit costs, in order, into k non-empty contiguous chunks minimising the largest chunk (binary
   search on the capacity, greedy fill). Writes each unit's chunk index to chunk_of[n]. Returns the largest
   chunk sum, or -1 when n < k. */
double fp8lab_partition(const double *cost, int n, int k, int *chunk_of);

/* Pipeline rank that runs chunk c of k: 1F1B: c; interleaved (k = p v): c mod p; DualPipe (k = p): rank r
   holds stages r and p-1-r (DeepSeek-V3 sec. 3.2.1: two copies of the parameters), each for half of the
   micro-batches. */
int fp8lab_rank_of_chunk(fp8lab_pp_schedule s, int c, int p, int *second_rank);

#endif
