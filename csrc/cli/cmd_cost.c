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

static int cost_curve(int argc, char **argv) {
    plan_args a;
    plan_args_init(&a);
    const char *vary = NULL, *vary2 = NULL, *title = NULL;
    const char *csv_path = "cost_curve.csv", *plot_path = "cost_curve.png";
    int json = 0, points = 16;
    double price = -1;
    cli_flag flags[PLAN_ARGS_NFLAGS + 8];
    plan_args_flags(&a, flags);
    for (int i = 0; i < PLAN_ARGS_NFLAGS; i++) /* what the sweep changes about two shared flags */
        if (!strcmp(flags[i].name, "cluster")) flags[i].help = "base cluster spec JSON (gpu=NAME values are looked up next to it)";
        else if (!strcmp(flags[i].name, "global-batch")) flags[i].help = "sequences per step (swept gpus keep the sequences per DP rank)";
    int nf = PLAN_ARGS_NFLAGS;
    flags[nf++] = (cli_flag){"vary", FLAG_STR, &vary, "NAME=FROM:TO[:POINTS] or NAME=V1,V2,...: the x axis"};
    flags[nf++] = (cli_flag){"vary2", FLAG_STR, &vary2, "optional second variable: one line per value (at most 4096 points in all)"};
    flags[nf++] = (cli_flag){"points", FLAG_INT, &points, "points for FROM:TO ranges without :POINTS", FP8LAB_RANGE(2, FP8LAB_SWEEP_MAX)};
    flags[nf++] = (cli_flag){"csv", FLAG_STR, &csv_path, "CSV output file"};
    flags[nf++] = (cli_flag){"plot", FLAG_STR, &plot_path, "chart file (.png or .svg), or 'none'"};
    flags[nf++] = (cli_flag){"title", FLAG_STR, &title, "chart title"};
    flags[nf++] = (cli_flag){"price", FLAG_DOUBLE, &price, "USD per GPU-hour (unset: the cluster file's price)", FP8LAB_RANGE(0, FP8LAB_MAX_PRICE)};
    flags[nf++] = (cli_flag){"json", FLAG_BOOL, &json, "print one JSON object"};
    const char *usage = "fp8lab cost curve --model FILE --cluster FILE --vary NAME=VALUES [flags]";
    int rc = cli_parse(usage, flags, nf, argc, argv);
    if (rc == 1) {
        printf("\nvariables (--vary NAME=FROM:TO[:POINTS] or NAME=V1,V2,...):\n");
        fp8lab_sweep_print_vars(stdout);
        return FP8LAB_EXIT_OK;
    }
    if (rc) return FP8LAB_EXIT_USAGE;
    if (!vary) {
        fprintf(stderr, "error: --vary is required\nusage: %s (see --help)\n", usage);
        return FP8LAB_EXIT_USAGE;
    }
    if (points < 2 || points > FP8LAB_SWEEP_MAX) {
        fprintf(stderr, "error: --points: %d is not in [2, %d]\n", points, FP8LAB_SWEEP_MAX);
        return FP8LAB_EXIT_USAGE;
    }
    if (check_outputs(csv_path, plot_path)) return FP8LAB_EXIT_USAGE;
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
    if ((rc = plan_args_load(&a, usage, &m, &c, &km, &p))) return rc;
    char dirbuf[1024];
    snprintf(dirbuf, sizeof dirbuf, "%s", a.cluster);
    const char *cdir = dirname(dirbuf);
    fp8lab_sweep *s1 = calloc(1, sizeof *s1), *s2 = vary2 ? calloc(1, sizeof *s2) : NULL;
    fp8lab_curve_point *pts = NULL;
    rc = FP8LAB_EXIT_RUNTIME;
    if (!s1 || (vary2 && !s2)) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }
    if (fp8lab_sweep_parse_flag("--vary", vary, cdir, points, s1) ||
        (s2 && fp8lab_sweep_parse_flag("--vary2", vary2, cdir, points, s2))) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        rc = fp8lab_last_error_exit();
        goto out;
    }
    int snap_rc;
    const fp8lab_sweep *snapped = snap_gpus(&p, s1, s2, &snap_rc);
    if (snap_rc) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        rc = fp8lab_last_error_exit();
        goto out;
    }
    rc = FP8LAB_EXIT_USAGE;
    int n = s1->n * (s2 ? s2->n : 1);
    if (n > FP8LAB_CURVE_MAX_POINTS) {
        fprintf(stderr, "error: --vary/--vary2: %d points, more than %d\n", n, FP8LAB_CURVE_MAX_POINTS);
        goto out;
    }
    pts = calloc((size_t)n, sizeof *pts);
    if (!pts) {
        fprintf(stderr, "error: out of memory\n");
        rc = FP8LAB_EXIT_RUNTIME;
        goto out;
    }
    /* unset (< 0): each point's cluster's own price */
    if (fp8lab_curve_run(&m, &c, &km, &p, price, s1, s2, pts)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        rc = fp8lab_last_error_exit();
        goto out;
    }
    int nok = 0;
    for (int i = 0; i < n; i++) nok += pts[i].ok;
    if (!nok) {
        fprintf(stderr, "error: --vary: no point of the sweep is a possible layout; first: %s\n", pts[0].why);
        goto out;
    }
    curve_out res = {.c = &c, .km = &km, .s1 = s1, .s2 = s2, .snapped = snapped, .pts = pts, .n = n, .nok = nok,
                     .csv_path = csv_path, .plot_path = plot_path};
    if ((rc = curve_write(&res, &m, title))) goto out;
    if (json) {
        rc = curve_print_json(&res);
        goto out;
    }
    curve_print_table(&res);
    rc = FP8LAB_EXIT_OK;
out:
    free(pts);
    fp8lab_sweep_free(s1);
    fp8lab_sweep_free(s2);
    free(s1);
    free(s2);
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
