/* fp8lab cost curve: sweep one or two variables of a simulated run; CSV plus a gnuplot chart. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/plan_args.h"
#include "core/error.h"
#include "core/atomic_file.h"
#include "sim/curve.h"
#include "sim/plot.h"
#include "sim/report.h"
#include "sim/sweep.h"

/* Output names that cannot work are refused before the sweep runs, not after the CSV is written. */
static int check_outputs(const char *csv_path, const char *plot_path) {
    const char *empty = !*csv_path ? "--csv" : !*plot_path ? "--plot" : NULL;
    if (empty) {
        fprintf(stderr, "error: %s: empty file name\n", empty);
        return -1;
    }
    if (strcmp(plot_path, "none") && fp8lab_plot_path_check(plot_path)) {
        fprintf(stderr, "error: --plot: %s\n", fp8lab_last_error());
        return -1;
    }
    return 0;
}

/* A gpus sweep lands on layouts that exist: multiples of tp x pp x ep (geometric spans rarely are). */
static fp8lab_sweep *snap_gpus(const fp8lab_plan *p, fp8lab_sweep *s1, fp8lab_sweep *s2, int *rc) {
    fp8lab_sweep *g = s1->var == FP8LAB_VAR_GPUS ? s1 : s2 && s2->var == FP8LAB_VAR_GPUS ? s2 : NULL;
    long unit;
    *rc = 0;
    if (!g) return NULL;
    if (fp8lab_sweep_gpu_unit(p, g == s1 ? s2 : s1, &unit)) {
        *rc = -1;
        return NULL;
    }
    return fp8lab_sweep_snap_gpus(g, unit) ? g : NULL;
}

static void print_snap_note(FILE *f, const fp8lab_sweep *g) {
    if (g)
        fprintf(f, "note: %s gpus: %d of the %d values asked for were snapped to the nearest multiple of %ld GPUs "
                   "(tp x pp x ep), so every point is a possible layout\n",
                g->flag, g->snapped, g->asked, g->snap_unit);
}

/* What cost curve computed, for its two reports. */
typedef struct {
    const fp8lab_cluster *c;
    const fp8lab_kernel_model *km;
    const fp8lab_sweep *s1, *s2, *snapped;
    const fp8lab_curve_point *pts;
    int n, nok, plotted;
    const char *csv_path, *plot_path;
} curve_out;

static int curve_print_json(const curve_out *r) {
    const fp8lab_sweep *s1 = r->s1, *s2 = r->s2;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "simulated_on", r->c->name);
    cJSON_AddStringToObject(j, "kernel_model", r->km->source);
    cJSON_AddNumberToObject(j, "compute_scale", r->km->compute_scale);
    cJSON_AddStringToObject(j, "vary", s1->name);
    if (s2) cJSON_AddStringToObject(j, "vary2", s2->name);
    cJSON_AddStringToObject(j, "csv", r->csv_path);
    if (r->plotted) cJSON_AddStringToObject(j, "plot", r->plot_path);
    else cJSON_AddNullToObject(j, "plot");
    cJSON_AddNumberToObject(j, "points", r->n);
    cJSON_AddNumberToObject(j, "impossible_points", r->n - r->nok);
    if (r->snapped) {
        cJSON_AddNumberToObject(j, "gpus_snapped", r->snapped->snapped);
        cJSON_AddNumberToObject(j, "gpus_multiple_of", (double)r->snapped->snap_unit);
    }
    cJSON *arr = cJSON_AddArrayToObject(j, "curve");
    for (int i = 0; arr && i < r->n; i++) {
        const fp8lab_curve_point *q = &r->pts[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, s1->name, s1->label[q->i1]);
        if (s2) cJSON_AddStringToObject(o, s2->name, s2->label[q->i2]);
        if (q->ok) {
            cJSON_AddNumberToObject(o, "tokens_per_gpu_hour", q->tokens_per_gpu_hour);
            cJSON_AddNumberToObject(o, "cost_per_million_tokens_usd", q->cost_per_mtok);
            cJSON_AddNumberToObject(o, "step_time_s", q->step_time_s);
            cJSON_AddNumberToObject(o, "mfu_bf16", q->mfu_bf16);
        } else {
            cJSON_AddStringToObject(o, "impossible", q->why);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return fp8lab_print_json(j);
}

/* The table, its middle elided past 40 rows (the CSV has them all). */
static void curve_print_table(const curve_out *r) {
    const fp8lab_sweep *s1 = r->s1, *s2 = r->s2;
    const int n = r->n;
    printf("cost curve, SIMULATED on %s (base %s): %d points (%d impossible layouts skipped)\n", r->c->name,
           r->c->gpu.name, n, n - r->nok);
    print_snap_note(stdout, r->snapped);
    if (r->km->compute_scale != 1.0)
        printf("what-if: every compute op's kernel time x%g (--compute-scale)\n", r->km->compute_scale);
    printf("%-16s %-14s %14s %16s %9s\n", s1->name, s2 ? s2->name : "", "tokens/GPU-h", "USD per M tokens", "MFU bf16");
    for (int i = 0; i < n; i++) {
        if (n > 40 && i == 20) {
            printf("  ... (%d more rows in %s)\n", n - 30, r->csv_path);
            i = n - 10;
        }
        const fp8lab_curve_point *q = &r->pts[i];
        if (!q->ok) {
            printf("%-16s %-14s %s\n", s1->label[q->i1], s2 ? s2->label[q->i2] : "", "impossible layout");
            continue;
        }
        printf("%-16s %-14s %14.4g %16.4f %8.1f%%\n", s1->label[q->i1], s2 ? s2->label[q->i2] : "",
               q->tokens_per_gpu_hour, q->cost_per_mtok, 100 * q->mfu_bf16);
    }
    printf("wrote %s%s%s\n", r->csv_path, r->plotted ? " and " : "", r->plotted ? r->plot_path : "");
}

/* The CSV, and the chart unless --plot none; an exit status. */
static int curve_write(curve_out *r, const fp8lab_model *m, const char *title) {
    char *csv = fp8lab_curve_csv(r->s1, r->s2, r->pts);
    if (!csv) {
        fprintf(stderr, "error: out of memory\n");
        return FP8LAB_EXIT_RUNTIME;
    }
    const int wrc = fp8lab_write_file_atomic(r->csv_path, csv, (long)strlen(csv));
    free(csv);
    if (wrc) {
        fprintf(stderr, "error: --csv: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    char ttl[512];
    snprintf(ttl, sizeof ttl, "%s", title ? title : "");
    if (!title)
        snprintf(ttl, sizeof ttl, "%s on %s: SIMULATED cost and throughput vs %s", m->model_type, r->c->name,
                 r->s1->name);
    if (!strcmp(r->plot_path, "none")) return FP8LAB_EXIT_OK;
    if (fp8lab_curve_plot(r->plot_path, ttl, r->s1, r->s2, r->pts)) {
        fprintf(stderr, "error: --plot: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    r->plotted = 1;
    return FP8LAB_EXIT_OK;
}

static const char CURVE_USAGE[] = "fp8lab cost curve --model FILE --cluster FILE --vary NAME=VALUES [flags]";

/* What `fp8lab cost curve` was asked for. */
typedef struct {
    plan_args plan; /* the base run's layout, as `fp8lab sim` takes it */
    const char *vary, *vary2, *title, *csv_path, *plot_path;
    int json, points;
    double price;
} curve_args;

/* The files and layout the sweep starts from. */
typedef struct {
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
} curve_base;

/* The swept variables and the points simulated over them; curve_sweep_free releases them. */
typedef struct {
    fp8lab_sweep *s1, *s2;
    const fp8lab_sweep *snapped; /* the gpus sweep whose values were snapped, or NULL */
    fp8lab_curve_point *pts;
    int n, nok;
} curve_sweep;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

/* The last error on stderr; the exit status it calls for. */
static int report_error(void) {
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    return fp8lab_last_error_exit();
}

/* Writes the flag table (PLAN_ARGS_NFLAGS + 8) to flags; returns its length. */
static int curve_flags(curve_args *a, cli_flag *flags) {
    plan_args_flags(&a->plan, flags);
    for (int i = 0; i < PLAN_ARGS_NFLAGS; i++) { /* what the sweep changes about two shared flags */
        if (!strcmp(flags[i].name, "cluster"))
            flags[i].help = "base cluster spec JSON (gpu=NAME values are looked up next to it)";
        else if (!strcmp(flags[i].name, "global-batch"))
            flags[i].help = "sequences per step (swept gpus keep the sequences per DP rank)";
    }
    int nf = PLAN_ARGS_NFLAGS;
    flags[nf++] = (cli_flag){"vary", FLAG_STR, &a->vary, "NAME=FROM:TO[:POINTS] or NAME=V1,V2,...: the x axis"};
    flags[nf++] = (cli_flag){"vary2", FLAG_STR, &a->vary2,
                             "optional second variable: one line per value (at most 4096 points in all)"};
    flags[nf++] = (cli_flag){"points", FLAG_INT, &a->points, "points for FROM:TO ranges without :POINTS",
                             FP8LAB_RANGE(2, FP8LAB_SWEEP_MAX)};
    flags[nf++] = (cli_flag){"csv", FLAG_STR, &a->csv_path, "CSV output file"};
    flags[nf++] = (cli_flag){"plot", FLAG_STR, &a->plot_path, "chart file (.png or .svg), or 'none'"};
    flags[nf++] = (cli_flag){"title", FLAG_STR, &a->title, "chart title"};
    flags[nf++] = (cli_flag){"price", FLAG_DOUBLE, &a->price, "USD per GPU-hour (unset: the cluster file's price)",
                             FP8LAB_RANGE(0, FP8LAB_MAX_PRICE)};
    flags[nf++] = (cli_flag){"json", FLAG_BOOL, &a->json, "print one JSON object"};
    return nf;
}

static int curve_parse(curve_args *a, int argc, char **argv) {
    cli_flag flags[PLAN_ARGS_NFLAGS + 8];
    const int rc = cli_parse(CURVE_USAGE, flags, curve_flags(a, flags), argc, argv);
    if (rc == 1) {
        printf("\nvariables (--vary NAME=FROM:TO[:POINTS] or NAME=V1,V2,...):\n");
        fp8lab_sweep_print_vars(stdout);
        return FP8LAB_EXIT_OK;
    }
    if (rc) return FP8LAB_EXIT_USAGE;
    if (!a->vary) {
        fprintf(stderr, "error: --vary is required\nusage: %s (see --help)\n", CURVE_USAGE);
        return FP8LAB_EXIT_USAGE;
    }
    if (a->points < 2 || a->points > FP8LAB_SWEEP_MAX) {
        fprintf(stderr, "error: --points: %d is not in [2, %d]\n", a->points, FP8LAB_SWEEP_MAX);
        return FP8LAB_EXIT_USAGE;
    }
    return check_outputs(a->csv_path, a->plot_path) ? FP8LAB_EXIT_USAGE : GO_ON;
}

/* --vary and --vary2 (gpu=NAME values are cluster files next to --cluster), a gpus sweep snapped to the plan. */
static int curve_sweeps(const curve_args *a, const fp8lab_plan *p, curve_sweep *sw) {
    char dirbuf[1024];
    snprintf(dirbuf, sizeof dirbuf, "%s", a->plan.cluster);
    const char *cdir = dirname(dirbuf);
    sw->s1 = calloc(1, sizeof *sw->s1);
    sw->s2 = a->vary2 ? calloc(1, sizeof *sw->s2) : NULL;
    if (!sw->s1 || (a->vary2 && !sw->s2)) {
        fprintf(stderr, "error: out of memory\n");
        return FP8LAB_EXIT_RUNTIME;
    }
    if (fp8lab_sweep_parse_flag("--vary", a->vary, cdir, a->points, sw->s1) ||
        (sw->s2 && fp8lab_sweep_parse_flag("--vary2", a->vary2, cdir, a->points, sw->s2)))
        return report_error();
    int snap_rc;
    sw->snapped = snap_gpus(p, sw->s1, sw->s2, &snap_rc);
    return snap_rc ? report_error() : GO_ON;
}

/* Every point of the sweep, simulated; the command goes on when at least one is a possible layout. */
static int curve_simulate(const curve_args *a, const curve_base *b, curve_sweep *sw) {
    sw->n = sw->s1->n * (sw->s2 ? sw->s2->n : 1);
    if (sw->n > FP8LAB_CURVE_MAX_POINTS) {
        fprintf(stderr, "error: --vary/--vary2: %d points, more than %d\n", sw->n, FP8LAB_CURVE_MAX_POINTS);
        return FP8LAB_EXIT_USAGE;
    }
    sw->pts = calloc((size_t)sw->n, sizeof *sw->pts);
    if (!sw->pts) {
        fprintf(stderr, "error: out of memory\n");
        return FP8LAB_EXIT_RUNTIME;
    }
    /* unset (< 0): each point's cluster's own price */
    const fp8lab_curve_in in = {.m = &b->m, .c = &b->c, .km = &b->km, .base = &b->p, .price = a->price, .s1 = sw->s1,
                                .s2 = sw->s2};
    if (fp8lab_curve_run(&in, sw->pts)) return report_error();
    for (int i = 0; i < sw->n; i++) sw->nok += sw->pts[i].ok;
    if (!sw->nok) {
        fprintf(stderr, "error: --vary: no point of the sweep is a possible layout; first: %s\n", sw->pts[0].why);
        return FP8LAB_EXIT_USAGE;
    }
    return GO_ON;
}

/* The CSV and the chart, then the table or the JSON object; an exit status. */
static int curve_report(const curve_args *a, const curve_base *b, const curve_sweep *sw) {
    curve_out res = {.c = &b->c, .km = &b->km, .s1 = sw->s1, .s2 = sw->s2, .snapped = sw->snapped, .pts = sw->pts,
                     .n = sw->n, .nok = sw->nok, .csv_path = a->csv_path, .plot_path = a->plot_path};
    const int rc = curve_write(&res, &b->m, a->title);
    if (rc) return rc;
    if (a->json) return curve_print_json(&res);
    curve_print_table(&res);
    return FP8LAB_EXIT_OK;
}

static void curve_sweep_free(curve_sweep *sw) {
    free(sw->pts);
    fp8lab_sweep_free(sw->s1);
    fp8lab_sweep_free(sw->s2);
    free(sw->s1);
    free(sw->s2);
}

static int cost_curve(int argc, char **argv) {
    curve_args a = {.csv_path = "cost_curve.csv", .plot_path = "cost_curve.png", .points = 16, .price = -1};
    plan_args_init(&a.plan);
    int rc = curve_parse(&a, argc, argv);
    if (rc != GO_ON) return rc;
    curve_base b;
    if ((rc = plan_args_load(&a.plan, CURVE_USAGE, &b.m, &b.c, &b.km, &b.p))) return rc;
    curve_sweep sw = {.s1 = NULL};
    rc = curve_sweeps(&a, &b.p, &sw);
    if (rc == GO_ON) rc = curve_simulate(&a, &b, &sw);
    if (rc == GO_ON) rc = curve_report(&a, &b, &sw);
    curve_sweep_free(&sw);
    return rc;
}

int cmd_cost(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "curve")) return cost_curve(argc - 1, argv + 1);
    int help = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"));
    FILE *f = help ? stdout : stderr;
    if (argc >= 1 && !help) fprintf(f, "error: unknown cost command '%s'\n", argv[0]);
    fprintf(f, "usage: fp8lab cost curve --model FILE --cluster FILE --vary NAME=VALUES [flags]\n"
               "  curve  sweep one or two variables: CSV and a chart of cost per million tokens and tokens per "
               "GPU-hour\n");
    return help ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
}
