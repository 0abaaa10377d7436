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

int cmd_eval(int argc, char **argv) {
    const char *init = NULL, *data = NULL, *recipe = "fp32", *device = "auto";
    int T = 64, B = 8, json = 0;
    long max_batches = 0;
    const cli_flag flags[] = {
        {"init-from", FLAG_STR, &init, "checkpoint folder: model.safetensors + config.json"},
        {"data", FLAG_STR, &data, "llm.c shards to evaluate on (a path or glob)"},
        {"seq", FLAG_INT, &T, "tokens per row (T)", FP8LAB_RANGE(1, 1048576)},
        {"batch", FLAG_INT, &B, "rows per forward (B)", FP8LAB_RANGE(1, 65536)},
        {"max-batches", FLAG_LONG, &max_batches, "stop after this many batches (0: every row)", FP8LAB_RANGE(0, 1e9)},
        {"recipe", FLAG_STR, &recipe, "fp32 | bf16 | fp8-tensor | fp8-block"},
        {"device", FLAG_STR, &device, "cpu | cuda | auto"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    int rc = cli_parse(USAGE, flags, CLI_NFLAGS(flags), argc, argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    if (!init || !data) {
        fprintf(stderr, "error: %s is required\nusage: %s\n", !init ? "--init-from" : "--data", USAGE);
        return FP8LAB_EXIT_USAGE;
    }
    if (cli_check_device(device)) return FP8LAB_EXIT_USAGE;
    const int r = fp8lab_train_parse_recipe(recipe);
    if (r < 0) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_train_cfg cfg;
    fp8lab_train_cfg_default(&cfg);
    cfg.init_from = init;
    fp8lab_model m;
    fp8lab_loader L;
    memset(&L, 0, sizeof L);
    fp8lab_backend *be = NULL;
    fp8lab_gpt *g = NULL;
    int opened = 0;
    rc = -1;
    if (fp8lab_train_load_model(&cfg, &m)) goto done;
    if (m.learned_pos && T > m.max_pos) {
        FP8LAB_ERR("--seq %d exceeds the model's n_positions %ld", T, m.max_pos);
        goto done;
    }
    if (fp8lab_loader_open(&L, &data, 1, B, T, m.vocab, 0, 0)) goto done;
    opened = 1;
    be = fp8lab_backend_create(device);
    if (!be) goto done;
    g = fp8lab_gpt_create(be, &m, 0);
    if (!g || fp8lab_gpt_set_recipe(g, (fp8lab_recipe)r) || fp8lab_load_weights(g, be, init)) goto done;
    const double t0 = fp8lab_now();
    double loss = NAN;
    int64_t tokens = 0;
    if (fp8lab_eval_loss(g, &L, B, (int)max_batches, &loss, &tokens)) goto done;
    const double dt = fp8lab_now() - t0;
    fp8lab_device_info di;
    fp8lab_backend_info(be, &di);
    if (json) {
        cJSON *o = cJSON_CreateObject();
        if (isfinite(loss)) cJSON_AddNumberToObject(o, "val_loss", loss);
        else cJSON_AddNullToObject(o, "val_loss");
        cJSON_AddNumberToObject(o, "tokens", (double)tokens);
        cJSON_AddNumberToObject(o, "seq", T);
        cJSON_AddStringToObject(o, "recipe", recipe);
        cJSON_AddStringToObject(o, "device", di.name);
        cJSON_AddNumberToObject(o, "seconds", dt);
        char *s = cJSON_Print(o);
        if (s) puts(s);
        free(s);
        cJSON_Delete(o);
    } else {
        printf("loss %.6f over %lld tokens (T = %d, %s, %s on %s, %.2f s)\n", loss, (long long)tokens, T, data,
               recipe, di.name, dt);
    }
    rc = 0;
done:
    if (rc) fprintf(stderr, "error: %s\n", fp8lab_last_error());
    fp8lab_gpt_destroy(g);
    fp8lab_backend_destroy(be);
    if (opened) fp8lab_loader_close(&L);
    return rc ? fp8lab_last_error_exit() : FP8LAB_EXIT_OK;
}
