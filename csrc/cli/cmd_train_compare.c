/* fp8lab train --compare: one run per recipe on the same configuration, compared (cli/train_compare.h).
   The curves are read back from each run's metrics.jsonl, so what is compared is exactly what was logged. */
#define _GNU_SOURCE /* open_memstream */
#include "cli/train_compare.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "nn/linear.h"
#include "sim/plot.h"
#include "train/loop.h"

#define MAX_LIST 256 /* five recipe names and their commas fit many times over */

/* DeepSeek-V3's technical report: its FP8 run's loss stays within this of the BF16 baseline's. */
#define DEEPSEEK_V3_REL_DIFF 0.0025

typedef struct {
    long step;
    double loss, val_loss; /* val_loss NAN on steps without validation */
} curve_pt;

typedef struct {
    fp8lab_recipe recipe;
    const char *name;
    char out[FP8LAB_TRAIN_PATH_MAX];
    fp8lab_run_result r;
    curve_pt *pts;
    long n;
} compare_run;

typedef struct {
    fp8lab_recipe recipe[FP8LAB_RECIPE_COUNT];
    int n;
} recipe_list;

static int parse_list(const char *s, recipe_list *out) {
    char buf[MAX_LIST];
    if (!s || snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf) {
        FP8LAB_ERR("--compare: the list is longer than %d characters", MAX_LIST - 1);
        return -1;
    }
    out->n = 0;
    char *comma = NULL;
    /* strtok_r would skip empty names silently; walk the commas ourselves so "bf16,,fp8-block" is refused */
    for (char *p = buf;; p = comma + 1) {
        comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p) {
            FP8LAB_ERR("--compare '%s': an empty recipe name (give names separated by commas, e.g. bf16,fp8-block)",
                       s);
            return -1;
        }
        fp8lab_recipe r;
        if (fp8lab_recipe_parse(p, &r)) {
            /* the parser's message without its file:line, which the new error adds again */
            const char *e = fp8lab_last_error(), *after = strstr(e, ": ");
            char why[256];
            snprintf(why, sizeof why, "%s", after ? after + 2 : e);
            FP8LAB_ERR("--compare: %s", why);
            return -1;
        }
        for (int i = 0; i < out->n; i++)
            if (out->recipe[i] == r) {
                FP8LAB_ERR("--compare '%s': recipe %s is listed twice", s, p);
                return -1;
            }
        out->recipe[out->n++] = r; /* no duplicates, so at most FP8LAB_RECIPE_COUNT */
        if (!comma) break;
    }
    if (out->n < 2) {
        FP8LAB_ERR("--compare '%s': give at least two recipes to compare, e.g. bf16,fp8-block", s);
        return -1;
    }
    return 0;
}

int train_compare_check(const train_compare_opts *o) {
    const char *other = o->recipe_flag ? "--recipe (the recipes come from the list)"
                        : o->resume    ? "--resume (each run starts afresh in its own sub-folder)"
                        : o->dry_run   ? "--dry-run (run it with --recipe for one recipe)"
                        : o->stop_at   ? "--stop-at"
                                       : NULL;
    if (other) {
        FP8LAB_ERR("--compare cannot be combined with %s", other);
        return -1;
    }
    recipe_list l = {0};
    return parse_list(o->list, &l);
}

/* Each run refuses a folder with checkpoints of an earlier run; finding one before training any recipe saves
   the user a wasted first run. */
static int has_checkpoints(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) found = !strncmp(e->d_name, "checkpoint-", 11);
    closedir(d);
    return found;
}

static int setup_runs(const fp8lab_train_cfg *cfg, const recipe_list *l, compare_run *runs) {
    for (int i = 0; i < l->n; i++) {
        compare_run *c = &runs[i];
        c->recipe = l->recipe[i];
        c->name = fp8lab_recipe_name(c->recipe);
        if (snprintf(c->out, sizeof c->out, "%s/%s", cfg->out, c->name) >= (int)sizeof c->out) {
            FP8LAB_ERR("--out %s: path too long", cfg->out);
            return -1;
        }
        if (has_checkpoints(c->out)) {
            FP8LAB_ERR("--out %s holds checkpoints of an earlier run (in %s): choose another --out", cfg->out,
                       c->out);
            return -1;
        }
    }
    return 0;
}

static double json_num_or_nan(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The run's metrics.jsonl as (step, loss, val_loss) points. */
static int read_curve(compare_run *c) {
    FILE *f = fopen(c->r.metrics, "r");
    if (!f) {
        FP8LAB_ERR_RT("%s: cannot open", c->r.metrics);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0, room = 0;
    int rc = 0;
    while (!rc && getline(&line, &cap, f) > 0) {
        lineno++;
        cJSON *o = cJSON_Parse(line);
        const cJSON *step = cJSON_GetObjectItemCaseSensitive(o, "step");
        if (!cJSON_IsNumber(step)) {
            FP8LAB_ERR_RT("%s:%ld: not a metrics line with a step", c->r.metrics, lineno);
            rc = -1;
        } else if (c->n == room) {
            room = room ? 2 * room : 64;
            curve_pt *p = realloc(c->pts, (size_t)room * sizeof *p);
            if (!p) {
                FP8LAB_ERR_RT("%s: out of memory", c->r.metrics);
                rc = -1;
            } else {
                c->pts = p;
            }
        }
        if (!rc)
            c->pts[c->n++] = (curve_pt){.step = (long)step->valuedouble,
                                        .loss = json_num_or_nan(o, "loss"),
                                        .val_loss = json_num_or_nan(o, "val_loss")};
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return rc;
}

/* |x - ref| / ref: how far a recipe's loss lies from the first recipe's, as a fraction. */
static double rel_diff(double x, double ref) { return fabs(x - ref) / ref; }

/* The point of run c at the step another run logged at index i (all runs log the same steps unless one
   skipped a line, which they do not; looked up by step to stay right if that changes). */
static const curve_pt *point_at(const compare_run *c, long i, long step) {
    if (i < c->n && c->pts[i].step == step) return &c->pts[i];
    for (long k = 0; k < c->n; k++)
        if (c->pts[k].step == step) return &c->pts[k];
    return NULL;
}

static int col_width(const compare_run *runs, int n) {
    int w = 10;
    for (int i = 0; i < n; i++)
        if ((int)strlen(runs[i].name) + 2 > w) w = (int)strlen(runs[i].name) + 2;
    return w;
}

static void print_cell(FILE *f, int w, double v) {
    if (isfinite(v)) fprintf(f, "%*.4f", w, v);
    else fprintf(f, "%*s", w, "-");
}

static void print_table(FILE *f, const fp8lab_train_cfg *cfg, const compare_run *runs, int n) {
    const int w = col_width(runs, n);
    fprintf(f, "\ntraining loss every %d steps (\"val\" rows: validation loss), same seed %ld and data:\n",
            cfg->print_every, cfg->seed);
    fprintf(f, "  step    ");
    for (int j = 0; j < n; j++) fprintf(f, "%*s", w, runs[j].name);
    fprintf(f, "\n");
    if (isfinite(runs[0].r.first_val_loss)) {
        fprintf(f, "%6d val", 0);
        for (int j = 0; j < n; j++) print_cell(f, w, runs[j].r.first_val_loss);
        fprintf(f, "\n");
    }
    const compare_run *a = &runs[0];
    for (long i = 0; i < a->n; i++) {
        const long s = a->pts[i].step;
        const int last = i == a->n - 1;
        if (s % cfg->print_every == 0 || s == 1 || last) {
            fprintf(f, "%6ld    ", s);
            for (int j = 0; j < n; j++) {
                const curve_pt *p = point_at(&runs[j], i, s);
                print_cell(f, w, p ? p->loss : NAN);
            }
            fprintf(f, "\n");
        }
        if (isfinite(a->pts[i].val_loss)) {
            fprintf(f, "%6ld val", s);
            for (int j = 0; j < n; j++) {
                const curve_pt *p = point_at(&runs[j], i, s);
                print_cell(f, w, p ? p->val_loss : NAN);
            }
            fprintf(f, "\n");
        }
    }
}

static void print_rel(FILE *f, double x, double ref) {
    if (isfinite(x) && isfinite(ref) && ref > 0) fprintf(f, "%13.3f %%", 100 * rel_diff(x, ref));
    else fprintf(f, "%15s", "-");
}

static void print_summary(FILE *f, const compare_run *runs, int n) {
    const compare_run *a = &runs[0];
    fprintf(f, "\nfinal losses; rel diff = |x - %s| / %s (the first recipe's loss):\n", a->name, a->name);
    fprintf(f, "  %-20s %10s %15s %10s %15s %12s\n", "recipe", "train loss", "rel diff", "val loss", "rel diff",
            "tokens/s");
    for (int j = 0; j < n; j++) {
        const compare_run *c = &runs[j];
        fprintf(f, "  %-20s ", c->name);
        print_cell(f, 10, c->r.last_loss);
        if (j) print_rel(f, c->r.last_loss, a->r.last_loss);
        else fprintf(f, "%15s", "(reference)");
        fprintf(f, " ");
        print_cell(f, 10, c->r.val_loss);
        if (j) print_rel(f, c->r.val_loss, a->r.val_loss);
        else fprintf(f, "%15s", "(reference)");
        fprintf(f, " %12.0f\n", c->r.tokens_per_s);
    }
    fprintf(f, "DeepSeek-V3 reports its FP8 training loss within %.2f %% of BF16's (over trillions of tokens; a short "
               "run shows the early curves only)\n",
            100 * DEEPSEEK_V3_REL_DIFF);
}

/* Training loss against step, one line per recipe, validation losses as points of the same colour. */
static int plot_curves(const char *path, const compare_run *runs, int n) {
    char *body = NULL;
    size_t len = 0;
    FILE *s = open_memstream(&body, &len);
    if (!s) {
        FP8LAB_ERR_RT("out of memory for the chart");
        return -1;
    }
    for (int j = 0; j < n; j++) {
        const compare_run *c = &runs[j];
        fprintf(s, "$t%d << EOD\n", j);
        for (long i = 0; i < c->n; i++)
            if (isfinite(c->pts[i].loss)) fprintf(s, "%ld %.9g\n", c->pts[i].step, c->pts[i].loss);
        fprintf(s, "EOD\n$v%d << EOD\n", j);
        if (isfinite(c->r.first_val_loss)) fprintf(s, "0 %.9g\n", c->r.first_val_loss);
        for (long i = 0; i < c->n; i++)
            if (isfinite(c->pts[i].val_loss)) fprintf(s, "%ld %.9g\n", c->pts[i].step, c->pts[i].val_loss);
        fprintf(s, "EOD\n");
    }
    /* curves that agree lie on top of each other: dashes and point shapes keep each one visible */
    static const int point_type[FP8LAB_RECIPE_COUNT] = {7, 5, 9, 11, 13};
    char q[128];
    fprintf(s, "set title 'training loss by recipe (same seed and data)'\nset xlabel 'step'\nset ylabel 'loss'\n"
               "set grid\nset key top right\nplot ");
    for (int j = 0; j < n; j++) {
        char title[96];
        snprintf(title, sizeof title, "%s train", runs[j].name);
        fprintf(s, "%s$t%d using 1:2 with lines lw 2 dt %d lc %d title %s", j ? ", " : "", j, j + 1, j + 1,
                fp8lab_gnuplot_str(q, sizeof q, title));
        snprintf(title, sizeof title, "%s val", runs[j].name);
        fprintf(s, ", $v%d using 1:2 with points pt %d ps %.1f lc %d title %s", j, point_type[j], 1.6 - 0.3 * j,
                j + 1, fp8lab_gnuplot_str(q, sizeof q, title));
    }
    fprintf(s, "\n");
    const int bad = ferror(s);
    if (fclose(s) || bad) {
        free(body);
        FP8LAB_ERR_RT("out of memory for the chart");
        return -1;
    }
    const int rc = fp8lab_gnuplot(path, 900, 540, body);
    free(body);
    return rc;
}

/* The chart, or a note why there is none; a chart that fails is a warning, not a lost comparison. Returns
   1 when written. */
static int draw_plot(FILE *con, const char *path, const compare_run *runs, int n) {
    if (!fp8lab_gnuplot_available()) {
        fprintf(con, "note: gnuplot is not installed: no chart (%s not written)\n", path);
        return 0;
    }
    if (plot_curves(path, runs, n)) {
        fprintf(con, "warning: chart %s: %s\n", path, fp8lab_last_error());
        return 0;
    }
    fprintf(con, "chart: %s\n", path);
    return 1;
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static double rel_or_nan(double x, double ref) {
    return isfinite(x) && isfinite(ref) && ref > 0 ? rel_diff(x, ref) : NAN;
}

/* The largest rel diff of any recipe against the first (with two recipes, the one there is). */
static double max_rel(const compare_run *runs, int n, int val) {
    double m = NAN;
    for (int j = 1; j < n; j++) {
        const double d = val ? rel_or_nan(runs[j].r.val_loss, runs[0].r.val_loss)
                             : rel_or_nan(runs[j].r.last_loss, runs[0].r.last_loss);
        if (!isfinite(d)) return NAN;
        if (!(d <= m)) m = d;
    }
    return m;
}

static int print_json(const fp8lab_train_cfg *cfg, const compare_run *runs, int n, const char *plot) {
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "recipes");
    for (int j = 0; arr && j < n; j++) {
        const compare_run *c = &runs[j];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "recipe", c->name);
        cJSON_AddStringToObject(e, "out", c->out);
        cJSON_AddNumberToObject(e, "step", (double)c->r.step);
        add_num(e, "first_loss", c->r.first_loss);
        add_num(e, "loss", c->r.last_loss);
        add_num(e, "first_val_loss", c->r.first_val_loss);
        add_num(e, "val_loss", c->r.val_loss);
        add_num(e, "loss_rel_diff", j ? rel_or_nan(c->r.last_loss, runs[0].r.last_loss) : NAN);
        add_num(e, "val_loss_rel_diff", j ? rel_or_nan(c->r.val_loss, runs[0].r.val_loss) : NAN);
        add_num(e, "tokens_per_s", c->r.tokens_per_s);
        add_num(e, "wall_s", c->r.wall_s);
        cJSON_AddStringToObject(e, "device", c->r.device);
        cJSON_AddStringToObject(e, "checkpoint", c->r.checkpoint);
        cJSON_AddStringToObject(e, "metrics", c->r.metrics);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(o, "seed", (double)cfg->seed);
    cJSON_AddStringToObject(o, "reference", runs[0].name);
    cJSON_AddStringToObject(o, "rel_diff", "|x - reference| / reference; the largest over the other recipes");
    add_num(o, "final_val_loss_rel_diff", max_rel(runs, n, 1));
    add_num(o, "final_loss_rel_diff", max_rel(runs, n, 0));
    if (plot) cJSON_AddStringToObject(o, "plot", plot);
    else cJSON_AddNullToObject(o, "plot");
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, "error: out of memory for the JSON output\n");
        return FP8LAB_EXIT_RUNTIME;
    }
    puts(s);
    free(s);
    return FP8LAB_EXIT_OK;
}

/* Trains every recipe in turn; the runs' own console lines show the progress. */
static int train_all(const fp8lab_train_cfg *cfg, const train_compare_opts *o, compare_run *runs, int n,
                     FILE *con) {
    for (int j = 0; j < n; j++) {
        compare_run *c = &runs[j];
        fp8lab_train_cfg rc = *cfg; /* a shallow copy: the strings stay the caller's */
        rc.recipe = c->name;
        rc.out = c->out;
        fprintf(con, "%s== recipe %s (%d of %d): %s ==\n", j ? "\n" : "", c->name, j + 1, n, c->out);
        fflush(con);
        const fp8lab_run_opts ro = {.json = o->json, .profile = o->profile, .interrupt = o->interrupt};
        if (fp8lab_train_run(&rc, &ro, &c->r)) {
            fprintf(stderr, "error: --compare, recipe %s: %s\n", c->name, fp8lab_last_error());
            return fp8lab_last_error_exit();
        }
        if (c->r.interrupted) {
            fprintf(stderr, "interrupted during recipe %s at step %ld (checkpoint %s): no comparison\n", c->name,
                    c->r.step, c->r.checkpoint);
            return 130;
        }
        if (read_curve(c)) {
            fprintf(stderr, "error: --compare, recipe %s: %s\n", c->name, fp8lab_last_error());
            return fp8lab_last_error_exit();
        }
    }
    return FP8LAB_EXIT_OK;
}

int train_compare_run(const fp8lab_train_cfg *cfg, const train_compare_opts *o) {
    recipe_list l = {0};
    compare_run *runs = NULL;
    int rc = FP8LAB_EXIT_USAGE;
    if (train_compare_check(o) || parse_list(o->list, &l)) goto err;
    runs = calloc((size_t)l.n, sizeof *runs);
    if (!runs) {
        FP8LAB_ERR_RT("out of memory");
        goto err;
    }
    if (setup_runs(cfg, &l, runs)) goto err;
    FILE *con = o->json ? stderr : stdout;
    rc = train_all(cfg, o, runs, l.n, con);
    if (rc) goto out;
    print_table(con, cfg, runs, l.n);
    print_summary(con, runs, l.n);
    char plot[FP8LAB_TRAIN_PATH_MAX + 16];
    snprintf(plot, sizeof plot, "%s/compare.png", cfg->out);
    const int plotted = draw_plot(con, plot, runs, l.n);
    fflush(con);
    if (o->json) rc = print_json(cfg, runs, l.n, plotted ? plot : NULL);
    goto out;
err:
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    rc = fp8lab_last_error_exit();
out:
    for (int j = 0; runs && j < l.n; j++) free(runs[j].pts);
    free(runs);
    return rc;
}
