/* Pipeline-parallel bubble formulas and stage partitioning.
   Times are per micro-batch on one pipeline rank: F forward, B input-gradient backward, W weight-gradient
   backward (B + W is the whole backward). */
#ifndef FP8LAB_SIM_PIPELINE_H
#define FP8LAB_SIM_PIPELINE_H

typedef enum { FP8LAB_PP_1F1B = 0, FP8LAB_PP_INTERLEAVED = 1, FP8LAB_PP_DUALPIPE = 2 } fp8lab_pp_schedule;

/* 1F1B (PipeDream-Flush; Narayanan et al. 2021 sec. 2.2.1): (p-1)(F+B+W); bubble fraction (p-1)/m. */
double fp8lab_bubble_1f1b(int p, double f, double b, double w);
/* Interleaved 1F1B with v model chunks per rank (Narayanan et al. 2021 sec. 2.2.2): (p-1)(F+B+W)/v, where
   F, B, W are a rank's times over all its chunks. */
double fp8lab_bubble_interleaved(int p, int v, double f, double b, double w);
/* DualPipe (DeepSeek-V3 report Table 2): (p/2 - 1)(F&B + B - 3W), F&B the time of a forward chunk overlapped
   with a backward chunk; chunk = one pipeline stage. Never negative. */
double fp8lab_bubble_dualpipe(int p, double f_and_b, double b, double w);

/* Splits n unit costs, in order, into k non-empty contiguous chunks minimising the largest chunk (binary
   search on the capacity, greedy fill). Writes each unit's chunk index to chunk_of[n]. Returns the largest
   chunk sum, or -1 when n < k. */
double fp8lab_partition(const double *cost, int n, int k, int *chunk_of);

/* Pipeline rank that runs chunk c of k: 1F1B: c; interleaved (k = p v): c mod p; DualPipe (k = p): rank r
   holds stages r and p-1-r, each for half of the micro-batches, so it counts each with weight 1/2. */
int fp8lab_rank_of_chunk(fp8lab_pp_schedule s, int c, int p, int *second_rank);

#endif
