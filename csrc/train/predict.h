/* The simulator's prediction of one training step on the GPU the trainer runs on (sim/step.h: one GPU, no
   parallelism, micro-batch = global batch = B sequences of T), so the measured step time can be printed beside
   it. Kept apart from the nn/ headers (sim/kernel_model.h names its own recipe enumerators). */
#ifndef FP8LAB_TRAIN_PREDICT_H
#define FP8LAB_TRAIN_PREDICT_H
#include <stddef.h>

#include "model/config.h"

/* The run the trainer makes: its model, backend and device name, B sequences of T tokens per step, and its
   recipe's GEMM precision. */
typedef struct {
    const fp8lab_model *model;
    const char *backend; /* "cpu": no prediction */
    const char *device;  /* the card's name, as the backend reports it */
    int batch, seq;
    const char *prec;    /* "fp32" | "bf16" | "fp8" */
} fp8lab_predict_in;

/* Returns the step time in ms, or NAN with note saying why there is none; note also names the cluster file and
   the calibration used. */
double fp8lab_train_predict_step_ms(const fp8lab_predict_in *in, char *note, size_t cap);

#endif
