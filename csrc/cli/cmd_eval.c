/* fp8lab eval: the mean loss of a checkpoint (model.safetensors + config.json: fp8lab's or Hugging Face's GPT-2 /
   Llama) over llm.c shards, every row in order as llm.c's evaluation reads them (data/loader.h eval rows). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/bench_util.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/timer.h"
#include "data/loader.h"
#include "nn/model.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/loop.h"

#define USAGE "fp8lab eval --init-from DIR --data FILE|GLOB [--seq T] [--batch B] [--recipe R] [--json]"

/* What `fp8lab eval` was asked for. */
typedef struct {
    const char *init, *data, *recipe, *device;
    int T, B, json;
    long max_batches;
    fp8lab_recipe r; /* --recipe, parsed */
} eval_args;

/* What eval opens, closed by eval_close whatever was reached. */
typedef struct {
    fp8lab_model m;
    fp8lab_loader L;
    int opened; /* L */
    fp8lab_backend *be;
    fp8lab_gpt *g;
} eval_state;

typedef struct {
    double loss, seconds;
    int64_t tokens;
} eval_result;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

static int eval_parse(eval_args *a, int argc, char **argv) {
    const cli_flag flags[] = {
        {"init-from", FLAG_STR, &a->init, "checkpoint folder: model.safetensors + config.json"},
        {"data", FLAG_STR, &a->data, "llm.c shards to evaluate on (a path or glob)"},
        {"seq", FLAG_INT, &a->T, "tokens per row (T)", FP8LAB_RANGE(1, 1048576)},
        {"batch", FLAG_INT, &a->B, "rows per forward (B)", FP8LAB_RANGE(1, 65536)},
        {"max-batches", FLAG_LONG, &a->max_batches, "stop after this many batches (0: every row)",
         FP8LAB_RANGE(0, 1e9)},
        {"recipe", FLAG_STR, &a->recipe, "fp32 | bf16 | fp8-tensor | fp8-block"},
        {"device", FLAG_STR, &a->device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &a->json, "print one JSON object"},
    };
    const int rc = cli_parse(USAGE, flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    return GO_ON;
}

/* What the flag table cannot say: the required flags, the device and the recipe. */
static int eval_check(eval_args *a) {
    if (!a->init || !a->data) {
        fprintf(stderr, "error: %s is required\nusage: %s\n", !a->init ? "--init-from" : "--data", USAGE);
        return FP8LAB_EXIT_USAGE;
    }
    if (cli_check_device(a->device)) return FP8LAB_EXIT_USAGE;
    const int r = fp8lab_train_parse_recipe(a->recipe);
    if (r < 0) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_USAGE;
    }
    a->r = (fp8lab_recipe)r;
    return GO_ON;
}

/* The checkpoint's model, the shards read at its vocabulary, and the weights on the device; 0 or -1 (error
   recorded). */
static int eval_open(const eval_args *a, eval_state *s) {
    fp8lab_train_cfg cfg;
    fp8lab_train_cfg_default(&cfg);
    cfg.init_from = a->init;
    if (fp8lab_train_load_model(&cfg, &s->m)) return -1;
    if (s->m.learned_pos && a->T > s->m.max_pos) {
        FP8LAB_ERR("--seq %d exceeds the model's n_positions %ld", a->T, s->m.max_pos);
        return -1;
    }
    if (fp8lab_loader_open(&s->L, &a->data, 1, a->B, a->T, s->m.vocab, 0, 0)) return -1;
    s->opened = 1;
    s->be = fp8lab_backend_create(a->device);
    if (!s->be) return -1;
    s->g = fp8lab_gpt_create(s->be, &s->m, 0);
    return !s->g || fp8lab_gpt_set_recipe(s->g, a->r) || fp8lab_load_weights(s->g, s->be, a->init) ? -1 : 0;
}

/* The mean loss over the rows (--max-batches of them at most), timed; 0 or -1 (error recorded). */
static int eval_measure(const eval_args *a, eval_state *s, eval_result *res) {
    const double t0 = fp8lab_now();
    if (fp8lab_eval_loss(s->g, &s->L, a->B, (int)a->max_batches, &res->loss, &res->tokens)) return -1;
    res->seconds = fp8lab_now() - t0;
    return 0;
}

static void eval_report(const eval_args *a, const eval_state *s, const eval_result *res) {
    fp8lab_device_info di;
    fp8lab_backend_info(s->be, &di);
    if (!a->json) {
        printf("loss %.6f over %lld tokens (T = %d, %s, %s on %s, %.2f s)\n", res->loss, (long long)res->tokens, a->T,
               a->data, a->recipe, di.name, res->seconds);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    if (isfinite(res->loss)) cJSON_AddNumberToObject(o, "val_loss", res->loss);
    else cJSON_AddNullToObject(o, "val_loss");
    cJSON_AddNumberToObject(o, "tokens", (double)res->tokens);
    cJSON_AddNumberToObject(o, "seq", a->T);
    cJSON_AddStringToObject(o, "recipe", a->recipe);
    cJSON_AddStringToObject(o, "device", di.name);
    cJSON_AddNumberToObject(o, "seconds", res->seconds);
    char *str = cJSON_Print(o);
    if (str) puts(str);
    free(str);
    cJSON_Delete(o);
}

static void eval_close(eval_state *s) {
    fp8lab_gpt_destroy(s->g);
    fp8lab_backend_destroy(s->be);
    if (s->opened) fp8lab_loader_close(&s->L);
}

int cmd_eval(int argc, char **argv) {
    eval_args a = {.recipe = "fp32", .device = "auto", .T = 64, .B = 8};
    int rc = eval_parse(&a, argc, argv);
    if (rc == GO_ON) rc = eval_check(&a);
    if (rc != GO_ON) return rc;
    eval_state s;
    memset(&s, 0, sizeof s);
    eval_result res = {.loss = NAN, .tokens = 0};
    const int failed = eval_open(&a, &s) || eval_measure(&a, &s, &res);
    if (failed) fprintf(stderr, "error: %s\n", fp8lab_last_error());
    else eval_report(&a, &s, &res);
    eval_close(&s);
    return failed ? fp8lab_last_error_exit() : FP8LAB_EXIT_OK;
}
