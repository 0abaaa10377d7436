/* The simulator's prediction of one training step on the GPU the trainer runs on (sim/step.h: one GPU, no
   parallelism, micro-batch = global batch = B sequences of T), so the measured step time can be printed beside
   it. Kept apart from the nn/ headers (sim/kernel_model.h names its own recipe enumerators). */
#ifndef FP8LAB_TRAIN_PREDICT_H
#define FP8LAB_TRAIN_PREDICT_H
#include <stddef.h>

#include "model/config.h"

/* prec: "fp32" | "bf16" | "fp8" (the recipe's GEMM precision). backend "cpu": no prediction. Returns the step
   time in ms, or NAN with note saying why there is none; note also names the cluster file used. */
double fp8lab_train_predict_step_ms(const fp8lab_model *m, const char *backend, const char *device_name, int B,
                                    int T, const char *prec, char *note, size_t cap);

#endif
