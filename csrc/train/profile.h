/* `fp8lab train --profile`: where the training steps' time went, per op kind (backend/record.h: GEMM, quantize,
   attention, norm/activation, optimizer, other), with calls and milliseconds per step, the share of the
   measured step, and the rate achieved: TFLOP/s for GEMMs and attention (FLOPs counted from their shapes),
   GB/s for the rest (the bytes each op must read and write at least). The time outside every op (host work:
   batches, the loss's copy to the host, bookkeeping; and the synchronisations themselves) is its own row. */
#ifndef FP8LAB_TRAIN_PROFILE_H
#define FP8LAB_TRAIN_PROFILE_H
#include <stdio.h>

#include "backend/record.h"

typedef struct fp8lab_profile {
    fp8lab_rec_totals kinds[FP8LAB_REC_NKINDS]; /* summed over the profiled steps */
    long steps;
    double step_s; /* the profiled steps' measured time, summed */
} fp8lab_profile;

/* A kind's rate: TFLOP/s (GEMM, attention; *unit "TFLOP/s") or GB/s (*unit "GB/s"); NAN when it took no time. */
double fp8lab_profile_rate(const fp8lab_profile *p, fp8lab_rec_kind k, const char **unit);
/* The table, headed by what was measured on which device. */
void fp8lab_profile_print(FILE *f, const fp8lab_profile *p, const char *device);

#endif
