#include "train/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"
#include "nn/linear.h"
#include "train/zero.h"

#define OFF(f) offsetof(fp8lab_train_cfg, f)
#define BIG 1e9

const fp8lab_train_opt FP8LAB_TRAIN_OPTS[] = {
    {"model", FP8LAB_OPT_STR, OFF(model), "Hugging Face config.json of the model (default: byte-level GPT-2, "
                                          "4 layers x 128)"},
    {"init-from", FP8LAB_OPT_STR, OFF(init_from), "start from the weights in DIR/model.safetensors (+ DIR/config.json)"},
    {"data", FP8LAB_OPT_STR, OFF(data), "training shards, llm.c format (glob; default: the built-in corpus)"},
    {"val-data", FP8LAB_OPT_STR, OFF(val_data), "validation shards (glob; default: the built-in corpus' split)"},
    {"recipe", FP8LAB_OPT_STR, OFF(recipe), "fp32 | bf16 | fp8-tensor | fp8-tensor-delayed | fp8-block"},
    {"device", FP8LAB_OPT_STR, OFF(device), "cpu | cuda | auto"},
    {"out", FP8LAB_OPT_STR, OFF(out), "run folder: metrics.jsonl and checkpoint-STEP/"},
    {"steps", FP8LAB_OPT_LONG, OFF(steps), "optimizer steps", FP8LAB_RANGE(1, BIG)},
    {"seed", FP8LAB_OPT_LONG, OFF(seed), "seed of the initialisation, data order and sampling",
     FP8LAB_RANGE(0, 9007199254740991.0)},
    {"batch", FP8LAB_OPT_INT, OFF(batch), "sequences per step (B)", FP8LAB_RANGE(1, 65536)},
    {"seq", FP8LAB_OPT_INT, OFF(seq), "tokens per sequence (T)", FP8LAB_RANGE(1, 1048576)},
    {"lr", FP8LAB_OPT_DOUBLE, OFF(lr), "peak learning rate", FP8LAB_RANGE_POS(10)},
    {"min-lr-ratio", FP8LAB_OPT_DOUBLE, OFF(min_lr_ratio), "cosine decays to this fraction of --lr",
     FP8LAB_RANGE(0, 1)},
    {"warmup", FP8LAB_OPT_INT, OFF(warmup), "linear warmup steps", FP8LAB_RANGE(0, BIG)},
    {"weight-decay", FP8LAB_OPT_DOUBLE, OFF(weight_decay), "AdamW decoupled weight decay (matrices only)",
     FP8LAB_RANGE(0, 10)},
    {"clip", FP8LAB_OPT_DOUBLE, OFF(clip), "clip the global gradient norm to this (0: no clipping)",
     FP8LAB_RANGE(0, 1e6)},
    {"beta1", FP8LAB_OPT_DOUBLE, OFF(beta1), "AdamW beta1", FP8LAB_RANGE(0, 0.999999)},
    {"beta2", FP8LAB_OPT_DOUBLE, OFF(beta2), "AdamW beta2", FP8LAB_RANGE(0, 0.999999)},
    {"adam-eps", FP8LAB_OPT_DOUBLE, OFF(adam_eps), "AdamW epsilon", FP8LAB_RANGE_POS(1)},
    {"fp32-moments", FP8LAB_OPT_BOOL, OFF(fp32_moments), "keep the AdamW moments in FP32 (default BF16)"},
    {"zero", FP8LAB_OPT_INT, OFF(zero), "ZeRO stage over data-parallel ranks: 0 (replicated optimizer) | 1 (the "
                                        "AdamW update sharded, FP32 weights all-gathered)", FP8LAB_RANGE(0, 1)},
    {"zero-gather", FP8LAB_OPT_STR, OFF(zero_gather), "ZeRO-1's weight all-gather: fp32 | bf16 | fp8 (E4M3, a "
                                                       "scale per 128; FP32 masters stay sharded)"},
    {"bucket-mb", FP8LAB_OPT_DOUBLE, OFF(bucket_mb), "data parallel: gradient all-reduce buckets of this many MiB, "
                                                     "started during the backward (0: one, after it)",
     FP8LAB_RANGE(0, 1e6)},
    {"grad-sum", FP8LAB_OPT_STR, OFF(grad_sum), "exact (split-invariant: N ranks give 1 rank's bits; cpu only) | "
                                                 "fast | auto (exact on the cpu backend)"},
    {"val-every", FP8LAB_OPT_INT, OFF(val_every), "validation loss every N steps and at the end (0: never)",
     FP8LAB_RANGE(0, BIG)},
    {"val-batches", FP8LAB_OPT_INT, OFF(val_batches), "validation batches of B x T (0: the whole split)",
     FP8LAB_RANGE(0, BIG)},
    {"sample-every", FP8LAB_OPT_INT, OFF(sample_every), "print a generated sample every N steps (0: never)",
     FP8LAB_RANGE(0, BIG)},
    {"sample-len", FP8LAB_OPT_INT, OFF(sample_len), "tokens generated per sample", FP8LAB_RANGE(1, 4096)},
    {"print-every", FP8LAB_OPT_INT, OFF(print_every), "console line every N steps (not a terminal)",
     FP8LAB_RANGE(1, BIG)},
    {"checkpoint-every", FP8LAB_OPT_INT, OFF(checkpoint_every),
     "checkpoint every N steps (0: only at the end and on Ctrl-C)", FP8LAB_RANGE(0, BIG)},
    {"price-per-gpu-hour", FP8LAB_OPT_DOUBLE, OFF(price_per_gpu_hour), "USD per device-hour for usd_per_mtok",
     FP8LAB_RANGE(0, 1e4)},
};
const int FP8LAB_TRAIN_NOPTS = (int)(sizeof FP8LAB_TRAIN_OPTS / sizeof FP8LAB_TRAIN_OPTS[0]);

const char FP8LAB_TRAIN_DEFAULT_MODEL_JSON[] =
    "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 128, "
    "\"n_layer\": 4, \"n_head\": 4, \"n_positions\": 256, \"layer_norm_epsilon\": 1e-5, "
    "\"tie_word_embeddings\": true}";

void fp8lab_train_cfg_default(fp8lab_train_cfg *c) {
    memset(c, 0, sizeof *c);
    c->recipe = "fp8-block"; /* DeepSeek-V3's recipe (nn/linear.h) */
    c->device = "auto";
    c->grad_sum = "auto";
    c->bucket_mb = 25; /* PyTorch DDP's bucket_cap_mb */
    c->zero_gather = "fp32";
    c->out = "out";
    c->steps = 1000;
    c->seed = 1337;
    c->batch = 12;
    c->seq = 64;
    c->warmup = 50;
    c->lr = 4e-3;
    c->min_lr_ratio = 0.1;
    c->weight_decay = 0.1;
    c->clip = 1.0;
    c->beta1 = 0.9;
    c->beta2 = 0.95;
    c->adam_eps = 1e-8;
    c->val_every = 200;
    c->val_batches = 20;
    c->sample_every = 250;
    c->sample_len = 64;
    c->print_every = 10;
    c->checkpoint_every = 500;
    c->price_per_gpu_hour = 2.0;
}

void fp8lab_train_cfg_free(fp8lab_train_cfg *c) {
    for (int i = 0; i < c->nowned; i++) free(c->owned[i]);
    c->nowned = 0;
}

static void file_key(const char *name, char *key, size_t cap) {
    snprintf(key, cap, "%s", name);
    for (char *p = key; *p; p++)
        if (*p == '-') *p = '_';
}

/* The option whose run-file key is `key`, or NULL. */
static const fp8lab_train_opt *find_opt(const char *key) {
    char name[64];
    for (int i = 0; key && i < FP8LAB_TRAIN_NOPTS; i++) {
        file_key(FP8LAB_TRAIN_OPTS[i].name, name, sizeof name);
        if (!strcmp(key, name)) return &FP8LAB_TRAIN_OPTS[i];
    }
    return NULL;
}

static int is_note(const char *key) { return key && (!strcmp(key, "description") || !strcmp(key, "comment")); }

/* One member of a run file being applied to c. */
typedef struct {
    fp8lab_train_cfg *c;
    const cJSON *root;
    const char *name; /* the file, for errors */
    const cJSON *it;
    const fp8lab_train_opt *o;
} run_key;

static char *field(const run_key *k) { return (char *)k->c + k->o->offset; }

static int apply_number(const run_key *k) {
    if (k->o->kind == FP8LAB_OPT_DOUBLE)
        return fp8lab_json_num(k->name, k->root, "", k->it->string, 0, k->o->range, (double *)field(k)) ? -1 : 0;
    long v = 0;
    if (fp8lab_json_int(k->name, k->root, "", k->it->string, 0, k->o->range, &v)) return -1;
    if (k->o->kind == FP8LAB_OPT_INT) *(int *)field(k) = (int)v;
    else *(long *)field(k) = v;
    return 0;
}

static int apply_bool(const run_key *k) {
    if (!cJSON_IsBool(k->it)) {
        FP8LAB_ERR("%s: %s must be true or false", k->name, k->it->string);
        return -1;
    }
    *(int *)field(k) = cJSON_IsTrue(k->it);
    return 0;
}

/* A copy the config owns (the cJSON tree is freed after loading); null sets the option to NULL. */
static int apply_string(const run_key *k) {
    const cJSON *it = k->it;
    fp8lab_train_cfg *c = k->c;
    if (cJSON_IsNull(it)) {
        *(const char **)field(k) = NULL;
        return 0;
    }
    if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > 4095) {
        FP8LAB_ERR("%s: %s must be a non-empty string of at most 4095 bytes (or null)", k->name, it->string);
        return -1;
    }
    if (c->nowned >= (int)(sizeof c->owned / sizeof c->owned[0])) {
        FP8LAB_ERR("%s: too many strings", k->name);
        return -1;
    }
    char *s = strdup(it->valuestring);
    if (!s) {
        FP8LAB_ERR_RT("%s: out of memory", k->name);
        return -1;
    }
    c->owned[c->nowned++] = s;
    *(const char **)field(k) = s;
    return 0;
}

static int apply_key(const run_key *k) {
    switch (k->o->kind) {
    case FP8LAB_OPT_INT:
    case FP8LAB_OPT_LONG:
    case FP8LAB_OPT_DOUBLE: return apply_number(k);
    case FP8LAB_OPT_BOOL: return apply_bool(k);
    case FP8LAB_OPT_STR: return apply_string(k);
    }
    return 0;
}

int fp8lab_train_cfg_from_json(fp8lab_train_cfg *c, const cJSON *root, const char *name) {
    if (!cJSON_IsObject(root)) {
        FP8LAB_ERR("%s: a run file is one JSON object", name);
        return -1;
    }
    char seen[sizeof FP8LAB_TRAIN_OPTS / sizeof FP8LAB_TRAIN_OPTS[0]] = {0};
    for (const cJSON *it = root->child; it; it = it->next) {
        const fp8lab_train_opt *o = find_opt(it->string);
        if (!o && is_note(it->string)) continue;
        if (!o) {
            FP8LAB_ERR("%s: unknown key \"%s\" (keys are the flags of fp8lab train --help, with _ for -; "
                       "\"description\" for a note)",
                       name, it->string ? it->string : "");
            return -1;
        }
        /* a key given twice: the numbers are looked up by key (the first one), the rest read in place (the
           last one); neither is what the file's author can be assumed to mean */
        if (seen[o - FP8LAB_TRAIN_OPTS]++) {
            FP8LAB_ERR("%s: key \"%s\" appears twice", name, it->string);
            return -1;
        }
        if (apply_key(&(run_key){.c = c, .root = root, .name = name, .it = it, .o = o})) return -1;
    }
    return 0;
}

int fp8lab_train_cfg_load(fp8lab_train_cfg *c, const char *path) {
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    int rc = fp8lab_train_cfg_from_json(c, root, path);
    cJSON_Delete(root);
    return rc;
}

cJSON *fp8lab_train_cfg_to_json(const fp8lab_train_cfg *c) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    for (int i = 0; i < FP8LAB_TRAIN_NOPTS; i++) {
        const fp8lab_train_opt *op = &FP8LAB_TRAIN_OPTS[i];
        const char *src = (const char *)c + op->offset;
        char key[64];
        file_key(op->name, key, sizeof key);
        cJSON *v = NULL;
        switch (op->kind) {
        case FP8LAB_OPT_INT: v = cJSON_CreateNumber(*(const int *)src); break;
        case FP8LAB_OPT_LONG: v = cJSON_CreateNumber((double)*(const long *)src); break;
        case FP8LAB_OPT_DOUBLE: v = cJSON_CreateNumber(*(const double *)src); break;
        case FP8LAB_OPT_BOOL: v = cJSON_CreateBool(*(const int *)src); break;
        case FP8LAB_OPT_STR: {
            const char *s = *(const char *const *)src;
            v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            break;
        }
        }
        if (!v || !cJSON_AddItemToObject(o, key, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int fp8lab_train_parse_recipe(const char *s) {
    fp8lab_recipe r;
    if (fp8lab_recipe_parse(s, &r)) return -1; /* one list of names: nn/linear.h */
    return (int)r;
}

int fp8lab_train_cfg_check(const fp8lab_train_cfg *c) {
    for (int i = 0; i < FP8LAB_TRAIN_NOPTS; i++) {
        const fp8lab_train_opt *o = &FP8LAB_TRAIN_OPTS[i];
        const char *src = (const char *)c + o->offset;
        double v;
        if (o->kind == FP8LAB_OPT_INT) v = *(const int *)src;
        else if (o->kind == FP8LAB_OPT_LONG) v = (double)*(const long *)src;
        else if (o->kind == FP8LAB_OPT_DOUBLE) v = *(const double *)src;
        else continue;
        if (!fp8lab_range_has(o->range, v)) {
            char rs[96];
            FP8LAB_ERR("--%s: %g is not in %s", o->name, v, fp8lab_range_str(o->range, rs, sizeof rs));
            return -1;
        }
    }
    if (!c->out || !c->out[0]) {
        FP8LAB_ERR("--out: an output folder is needed");
        return -1;
    }
    if (!c->device || (strcmp(c->device, "cpu") && strcmp(c->device, "cuda") && strcmp(c->device, "auto"))) {
        FP8LAB_ERR("--device: '%s' is not one of cpu | cuda | auto", c->device ? c->device : "(null)");
        return -1;
    }
    if (fp8lab_train_parse_recipe(c->recipe) < 0) return -1;
    if (!c->grad_sum || (strcmp(c->grad_sum, "exact") && strcmp(c->grad_sum, "fast") && strcmp(c->grad_sum, "auto"))) {
        FP8LAB_ERR("--grad-sum: '%s' is not one of exact | fast | auto", c->grad_sum ? c->grad_sum : "(null)");
        return -1;
    }
    fp8lab_zero_gather zg;
    if (fp8lab_zero_gather_parse(c->zero_gather, &zg)) return -1;
    if (c->init_from && c->model) {
        FP8LAB_ERR("--init-from and --model: give one (the model comes from DIR/config.json with --init-from)");
        return -1;
    }
    return 0;
}

int fp8lab_train_default_model(fp8lab_model *m) {
    cJSON *r = cJSON_Parse(FP8LAB_TRAIN_DEFAULT_MODEL_JSON);
    if (!r) {
        FP8LAB_ERR_RT("default model: out of memory");
        return -1;
    }
    int rc = fp8lab_model_from_json(r, "default model (gpt2-tiny-bytes)", m);
    cJSON_Delete(r);
    return rc;
}

int fp8lab_train_load_model(const fp8lab_train_cfg *c, fp8lab_model *m) {
    if (c->init_from) {
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", c->init_from);
        return fp8lab_model_load(path, m);
    }
    return c->model ? fp8lab_model_load(c->model, m) : fp8lab_train_default_model(m);
}
