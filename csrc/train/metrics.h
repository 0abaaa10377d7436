/* What the trainer reports per step: <out>/metrics.jsonl (one JSON object per step with the keys step, loss,
   lr, grad_norm, step_ms, tokens_per_s, tokens_per_gpu_hour, mfu_bf16, mfu_fp8, usd_per_mtok, device, plus
   val_loss on validation steps) and the console (a progress bar on a terminal, plain lines otherwise).
   tokens_per_s counts every rank's tokens; tokens per GPU-hour, MFU and USD per Mtok are per device, the one named
   in "device" ("cpu (<model>)" on the CPU backend);
   MFU divides the model FLOPs (sim/flops.h: 6N + attention) by the device's dense BF16 and FP8 peaks and is
   null where they are unknown (CPUs). */
#ifndef FP8LAB_TRAIN_METRICS_H
#define FP8LAB_TRAIN_METRICS_H
#include <stdio.h>

#include "backend/backend.h"

typedef struct {
    long step, steps;
    double loss, lr, grad_norm, step_s;
    double tokens_per_s, tokens_per_gpu_hour, mfu_bf16, mfu_fp8, usd_per_mtok; /* NAN: unknown (null) */
    double val_loss;                                                           /* NAN: not a validation step */
    int skipped;
    const char *device;
} fp8lab_metrics_row;

/* The derived numbers from step_s: tokens per step, model FLOPs per token, the device's peaks, USD/hour. */
void fp8lab_metrics_derive(fp8lab_metrics_row *r, double tokens_per_step, double flops_per_token,
                           const fp8lab_device_info *dev, double price_per_hour);
/* One JSON line (flushed). 0, or -1 with an error. */
int fp8lab_metrics_write(FILE *f, const char *path, const fp8lab_metrics_row *r);
/* A plain console line. */
void fp8lab_metrics_print(FILE *f, const fp8lab_metrics_row *r);
/* A progress bar line redrawn in place (\r), for terminals. */
void fp8lab_metrics_bar(FILE *f, const fp8lab_metrics_row *r, double last_val, double eta_s);

#endif
