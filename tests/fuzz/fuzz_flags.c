/* Fuzz target: the flag parser (cli/flags.h) against real flag tables, and the `sim` and `cost` commands whole.
   The input is a command line, one argument per line (NUL bytes also separate):
     first argument "sim":  the rest goes to cmd_sim;
     first argument "cost": the rest goes to cmd_cost, with "--csv SCRATCH/curve.csv --plot none" appended (the
                            last value of a flag wins, so no input writes outside a private scratch folder or
                            runs gnuplot);
     anything else:         the whole line goes to cli_parse with the run-layout table of cli/plan_args.h, then
                            the precision, schedule, recompute, attention, tp-overlap and loss parsers (sim/plan_parse.h).
   An argument "@PATH" (or "--flag=@PATH") names configs/PATH of the source tree, e.g. "@models/gpt2-124m.json".
   Output is silenced (FP8LAB_FUZZ_VERBOSE=1 shows it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/plan_args.h"
#include "core/error.h"
#include "fuzz_util.h"
#include "sim/plan_parse.h"

/* "@x" -> "CONFIGS/x", "--f=@x" -> "--f=CONFIGS/x"; a new string, or NULL when a stays as it is */
static char *expand(const char *a) {
    const char *at = a[0] == '@' ? a : NULL;
    if (!at && !strncmp(a, "--", 2)) {
        const char *eq = strchr(a, '=');
        if (eq && eq[1] == '@') at = eq + 1;
    }
    if (!at) return NULL;
    const char *dir = fuzz_configs_dir();
    size_t n = (size_t)(at - a) + strlen(dir) + 1 + strlen(at + 1) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%.*s%s/%s", (int)(at - a), a, dir, at + 1);
    return s;
}

static void parse_only(int argc, char **argv) {
    plan_args a;
    plan_args_init(&a);
    cli_flag flags[PLAN_ARGS_NFLAGS];
    plan_args_flags(&a, flags);
    if (cli_parse("fuzz [flags]", flags, PLAN_ARGS_NFLAGS, argc, argv) != 0) return;
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    char buf[64];
    if (!fp8lab_parse_precision(a.precision, &p) && !fp8lab_parse_schedule(a.schedule, &p) &&
        !fp8lab_parse_recompute(a.recompute, &p) && !fp8lab_parse_attention(a.attention, &p) &&
        !fp8lab_parse_tp_overlap(a.tp_overlap, &p) && !fp8lab_parse_loss(a.loss, &p)) {
        (void)fp8lab_schedule_name(&p, buf, sizeof buf);
        (void)fp8lab_recompute_name(p.recompute);
        (void)fp8lab_attention_name(p.attn_impl);
        (void)fp8lab_tp_overlap_name(p.tp_overlap);
        (void)fp8lab_loss_name(p.loss);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char **in;
    int n = fuzz_split(data, size, "\n", 2, &in); /* "\n" and its terminating NUL */
    if (n < 0) return 0;
    /* room for the forced cost flags and a NULL */
    char **argv = calloc((size_t)n + 5, sizeof *argv), **owned = calloc((size_t)n + 1, sizeof *owned);
    if (!argv || !owned) {
        free(argv);
        free(owned);
        fuzz_split_free(n, in);
        return 0;
    }
    int argc = 0;
    for (int i = 0; i < n; i++) {
        char *e = expand(in[i]);
        argv[argc++] = e ? (owned[i] = e) : in[i];
    }
    char csv[4200];
    fuzz_quiet_begin();
    if (argc >= 1 && !strcmp(argv[0], "sim")) {
        cmd_sim(argc - 1, argv + 1);
    } else if (argc >= 1 && !strcmp(argv[0], "cost")) {
        snprintf(csv, sizeof csv, "%s/curve.csv", fuzz_scratch_dir());
        argv[argc++] = "--csv";
        argv[argc++] = csv;
        argv[argc++] = "--plot";
        argv[argc++] = "none";
        cmd_cost(argc - 1, argv + 1);
    } else {
        parse_only(argc, argv);
    }
    fuzz_quiet_end();
    fp8lab_clear_error();
    for (int i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(argv);
    fuzz_split_free(n, in);
    return 0;
}
