/* fp8lab sim: one training step of a model on a modeled cluster. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/plan_args.h"
#include "core/error.h"
#include "sim/report.h"

static int print_error(void) {
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    return fp8lab_last_error_exit();
}

int cmd_sim(int argc, char **argv) {
    plan_args a;
    plan_args_init(&a);
    int json = 0, ops = 0;
    long tokens = 0;
    double price = -1, goodput = 1;
    cli_flag flags[PLAN_ARGS_NFLAGS + 5];
    plan_args_flags(&a, flags);
    int nf = PLAN_ARGS_NFLAGS;
    flags[nf++] = (cli_flag){"tokens", FLAG_LONG, &tokens, "training tokens: also print GPU-hours, days and cost", FP8LAB_RANGE(0, 1e18)};
    flags[nf++] = (cli_flag){"price", FLAG_DOUBLE, &price, "USD per GPU-hour (unset: the cluster file's price)", FP8LAB_RANGE(0, FP8LAB_MAX_PRICE)};
    flags[nf++] = (cli_flag){"goodput", FLAG_DOUBLE, &goodput,
                             "share of wall-clock time spent training, for --tokens totals", FP8LAB_RANGE_POS(1)};
    flags[nf++] = (cli_flag){"ops", FLAG_BOOL, &ops, "also list every op of each layer kind with its simulated time"};
    flags[nf++] = (cli_flag){"json", FLAG_BOOL, &json, "print one JSON object"};
    const char *usage = "fp8lab sim --model FILE --cluster FILE [flags]";
    int rc = cli_parse(usage, flags, nf, argc, argv);
    if (rc == 1) return FP8LAB_EXIT_OK;
    if (rc) return FP8LAB_EXIT_USAGE;
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
    if ((rc = plan_args_load(&a, usage, &m, &c, &km, &p))) return rc;
    p.goodput = goodput;
    fp8lab_sim_result r;
    fp8lab_trace trace = {0};
    if (fp8lab_simulate_trace(&m, &c, &km, &p, &r, ops ? &trace : NULL)) {
        free(trace.ops);
        return print_error();
    }
    const fp8lab_sim_report rep = {.r = &r, .m = &m, .c = &c, .p = &p, .km = &km, .tokens = (double)tokens,
                                   .price = price < 0 ? c.price_per_gpu_hour : price};
    if (json) {
        cJSON *o = fp8lab_sim_json(&rep);
        if (o && ops) cJSON_AddItemToObject(o, "ops", fp8lab_trace_json(&trace));
        free(trace.ops);
        return fp8lab_print_json(o);
    }
    fp8lab_sim_print(stdout, &rep);
    if (ops) fp8lab_trace_print(stdout, &trace, &c);
    free(trace.ops);
    return FP8LAB_EXIT_OK;
}
