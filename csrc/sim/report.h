/* Printing and JSON for simulation results (shared by sim, claim and cost). Every figure is labeled as
   simulated, with the cluster it was simulated on. */
#ifndef FP8LAB_SIM_REPORT_H
#define FP8LAB_SIM_REPORT_H
#include <stdio.h>

#include <cjson/cJSON.h>

#include "sim/step.h"

/* A simulation's result and what it was simulated from; tokens > 0 adds the run's totals (GPU-hours, days, cost
   at price USD per GPU-hour). */
typedef struct {
    const fp8lab_sim_result *r;
    const fp8lab_model *m;
    const fp8lab_cluster *c;
    const fp8lab_plan *p;
    const fp8lab_kernel_model *km;
    double tokens, price;
} fp8lab_sim_report;

/* Returns a new object, or NULL when out of memory. */
cJSON *fp8lab_sim_json(const fp8lab_sim_report *s);
void fp8lab_sim_print(FILE *f, const fp8lab_sim_report *s);
/* `fp8lab sim --ops`: the traced op schedule as a table per layer kind, or as a JSON array. */
void fp8lab_trace_print(FILE *f, const fp8lab_trace *t, const fp8lab_cluster *c);
cJSON *fp8lab_trace_json(const fp8lab_trace *t);
/* Prints a cJSON object on stdout (one line of JSON + newline), frees it; returns 0 or 1 on failure. */
int fp8lab_print_json(cJSON *o);

#endif
