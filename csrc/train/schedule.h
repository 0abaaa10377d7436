/* The learning-rate schedule: linear warmup from lr/warmup to lr over steps 1..warmup, then a half cosine from
   lr down to lr * min_ratio at the last step (nanoGPT / llm.c). Steps are 1-based. */
#ifndef FP8LAB_TRAIN_SCHEDULE_H
#define FP8LAB_TRAIN_SCHEDULE_H

typedef struct {
    double lr, min_ratio;
    long warmup, steps;
} fp8lab_lr_schedule;

/* The rate of step `step` (1-based; steps beyond the last get the final rate). */
double fp8lab_lr_at(const fp8lab_lr_schedule *s, long step);

#endif
