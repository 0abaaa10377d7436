#define _GNU_SOURCE
#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/json.h"
#include "fp8/fp8.h"
#include "io/crc32c.h"
#include "io/safetensors.h"
#include "train/dp.h"
#include "train/opt_shards.h"

#define STATE_FORMAT "fp8lab-trainer-state"
#define STATE_VERSION 1

/* ---- the Hugging Face config ------------------------------------------------------------------------------- */

cJSON *fp8lab_hf_config(const fp8lab_model *m) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const int gpt2 = m->arch == FP8LAB_ARCH_GPT2;
    cJSON *arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString(gpt2 ? "GPT2LMHeadModel" : "LlamaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", gpt2 ? "gpt2" : "llama");
    cJSON_AddNumberToObject(o, "vocab_size", (double)m->vocab);
    if (gpt2) {
        cJSON_AddNumberToObject(o, "n_embd", (double)m->hidden);
        cJSON_AddNumberToObject(o, "n_layer", (double)m->layers);
        cJSON_AddNumberToObject(o, "n_head", (double)m->heads);
        cJSON_AddNumberToObject(o, "n_inner", (double)m->ffn);
        cJSON_AddNumberToObject(o, "n_positions", (double)m->max_pos);
        cJSON_AddNumberToObject(o, "n_ctx", (double)m->max_pos);
        cJSON_AddNumberToObject(o, "layer_norm_epsilon", m->norm_eps > 0 ? m->norm_eps : 1e-5);
        cJSON_AddStringToObject(o, "activation_function", "gelu_new");
    } else {
        cJSON_AddNumberToObject(o, "hidden_size", (double)m->hidden);
        cJSON_AddNumberToObject(o, "intermediate_size", (double)m->ffn);
        cJSON_AddNumberToObject(o, "num_hidden_layers", (double)m->layers);
        cJSON_AddNumberToObject(o, "num_attention_heads", (double)m->heads);
        cJSON_AddNumberToObject(o, "num_key_value_heads", (double)m->kv_heads);
        cJSON_AddNumberToObject(o, "head_dim", (double)m->head_dim);
        cJSON_AddNumberToObject(o, "max_position_embeddings", (double)m->max_pos);
        cJSON_AddNumberToObject(o, "rms_norm_eps", m->norm_eps > 0 ? m->norm_eps : 1e-6);
        cJSON_AddNumberToObject(o, "rope_theta", m->rope_theta > 0 ? m->rope_theta : 10000.0);
        cJSON_AddStringToObject(o, "hidden_act", "silu");
    }
    cJSON_AddBoolToObject(o, "tie_word_embeddings", m->tied);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    return o;
}

/* ---- small file helpers -------------------------------------------------------------------------------------- */

static int write_json(const char *path, const cJSON *o) {
    char *s = cJSON_Print(o);
    if (!s) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    int rc = fp8lab_write_file_atomic(path, t, (long)n + 1);
    free(t);
    return rc;
}

static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        FP8LAB_ERR_RT("%s: cannot open the folder to fsync it: %s", dir, strerror(errno));
        return -1;
    }
    int rc = fsync(fd);
    close(fd);
    if (rc) {
        FP8LAB_ERR_RT("%s: fsync: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Removes a folder holding only files (our temp and replaced checkpoint folders). */
static void remove_flat_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char p[FP8LAB_TRAIN_PATH_MAX + 300];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016" PRIx64, v); }

static int parse_hex64(const char *s, uint64_t *v) {
    if (!s || strlen(s) != 16) return -1;
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        const char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return 0;
}

/* ---- save ---------------------------------------------------------------------------------------------------- */

static int save_model(fp8lab_trainer *t, const char *path, const float *host) {
    const int n = fp8lab_gpt_tensor_count(t->g);
    fp8lab_st_entry *e = calloc((size_t)n, sizeof *e);
    if (!e) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    const float *base = fp8lab_gpt_params(t->g);
    fp8lab_gpt_tensor *ts = calloc((size_t)n, sizeof *ts);
    if (!ts) {
        free(e);
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        rc = fp8lab_gpt_tensor_at(t->g, i, &ts[i]);
        e[i] = (fp8lab_st_entry){ts[i].name, FP8LAB_ST_F32, ts[i].ndim, ts[i].shape, host + (ts[i].param - base)};
    }
    const fp8lab_st_kv meta[] = {{"format", "pt"}, {"fp8lab", "model"}};
    if (!rc) rc = fp8lab_st_write(path, e, n, meta, 2);
    free(ts);
    free(e);
    return rc;
}

/* fp8-tensor-delayed: the amax histories (nn/linear.h records), one row per 2-D tensor in tensor order, saved
   as optimizer.safetensors' "amax_history" so that a resumed run scales as the uninterrupted one. rec NULL under
   the other recipes (nothing to save). */
typedef struct {
    float *rec;
    int64_t shape[2]; /* [2-D tensors][record floats] */
} amax_rows;

static int amax_rows_alloc(const fp8lab_trainer *t, amax_rows *a) {
    *a = (amax_rows){0};
    if (t->recipe != FP8LAB_RECIPE_FP8_TENSOR_DELAYED) return 0;
    fp8lab_gpt_tensor ts;
    for (int i = 0; i < fp8lab_gpt_tensor_count(t->g); i++)
        if (!fp8lab_gpt_tensor_at(t->g, i, &ts) && ts.ndim == 2) a->shape[0]++;
    a->shape[1] = (int64_t)fp8lab_linear_ctx_history_floats(fp8lab_gpt_linear_ctx(t->g));
    if (!(a->rec = calloc((size_t)(a->shape[0] * a->shape[1]), sizeof(float)))) {
        FP8LAB_ERR_RT("checkpoint: out of host memory for the amax histories");
        return -1;
    }
    return 0;
}

/* calls fn on each 2-D tensor's row; stops at the first error */
static int amax_rows_each(fp8lab_trainer *t, amax_rows *a, const char *path,
                          int (*fn)(fp8lab_linear_ctx *, const fp8lab_gpt_tensor *, float *, const char *)) {
    fp8lab_gpt_tensor ts;
    char name[FP8LAB_TRAIN_PATH_MAX + 160];
    for (int i = 0, row = 0; i < fp8lab_gpt_tensor_count(t->g); i++) {
        if (fp8lab_gpt_tensor_at(t->g, i, &ts) || ts.ndim != 2) continue;
        snprintf(name, sizeof name, "%s: amax_history row %d (%s)", path, row, ts.name);
        if (fn(fp8lab_gpt_linear_ctx(t->g), &ts, a->rec + (size_t)row++ * (size_t)a->shape[1], name)) return -1;
    }
    return 0;
}

static int row_get(fp8lab_linear_ctx *c, const fp8lab_gpt_tensor *ts, float *rec, const char *name) {
    (void)name;
    return fp8lab_linear_ctx_history_get(c, ts->param, rec);
}
static int row_check(fp8lab_linear_ctx *c, const fp8lab_gpt_tensor *ts, float *rec, const char *name) {
    (void)ts;
    return fp8lab_linear_ctx_history_check(c, rec, name);
}
static int row_set(fp8lab_linear_ctx *c, const fp8lab_gpt_tensor *ts, float *rec, const char *name) {
    return fp8lab_linear_ctx_history_set(c, ts->param, rec, name);
}

static cJSON *state_json(fp8lab_trainer *t) {
    cJSON *s = cJSON_CreateObject();
    if (!s) return NULL;
    cJSON_AddNumberToObject(s, "step", (double)t->step);
    cJSON_AddNumberToObject(s, "seed", (double)t->cfg.seed);
    cJSON_AddNumberToObject(s, "skipped", (double)t->skipped);
    cJSON_AddStringToObject(s, "moments", t->opt.dtype == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32");
    cJSON_AddStringToObject(s, "recipe", fp8lab_recipe_name(t->recipe));
    cJSON_AddNumberToObject(s, "params", (double)fp8lab_gpt_param_count(&t->model));
    cJSON_AddNumberToObject(s, "buffer_floats", (double)t->opt.floats);
    /* the loader's position is in the row stream every rank reads (each step takes ranks x batch rows of it), so
       it holds for any number of ranks: these two only say how the run was split (not checked on resume) */
    cJSON_AddNumberToObject(s, "ranks", (double)t->size);
    cJSON_AddNumberToObject(s, "global_batch", (double)t->size * t->cfg.batch);
    cJSON *lp = fp8lab_loader_pos_to_json(&t->train);
    if (lp) cJSON_AddItemToObject(s, "loader", lp);
    char h[17];
    hex64(t->sample_rng.s, h);
    cJSON *rng = cJSON_AddObjectToObject(s, "rng");
    cJSON_AddStringToObject(rng, "sample", h);
    cJSON *c = fp8lab_train_cfg_to_json(&t->cfg);
    if (c) cJSON_AddItemToObject(s, "config", c);
    if (!lp || !c || !cJSON_GetObjectItem(s, "rng")) {
        cJSON_Delete(s);
        return NULL;
    }
    return s;
}

/* The temporary folder a save writes into, DIR/.checkpoint-STEP.tmp-XXXXXX. */
static int make_tmp(fp8lab_trainer *t, char *tmp, size_t cap) {
    const char *out = t->cfg.out;
    if (mkdir(out, 0777) && errno != EEXIST) {
        FP8LAB_ERR_RT("%s: cannot create the run folder: %s", out, strerror(errno));
        return -1;
    }
    snprintf(tmp, cap, "%s/.checkpoint-%ld.tmp-XXXXXX", out, t->step);
    if (!mkdtemp(tmp)) {
        FP8LAB_ERR_RT("%s: cannot create a temporary checkpoint folder: %s", out, strerror(errno));
        tmp[0] = 0;
        return -1;
    }
    return 0;
}

/* trainer_state.json: the state and its CRC-32C */
static int save_state(fp8lab_trainer *t, const char *tmp) {
    char f[FP8LAB_TRAIN_PATH_MAX + 64];
    cJSON *state = state_json(t), *doc = cJSON_CreateObject();
    char *st = state ? cJSON_PrintUnformatted(state) : NULL;
    int rc = -1;
    if (!st || !doc) {
        FP8LAB_ERR_RT("checkpoint: out of memory");
    } else {
        char crc[9];
        snprintf(crc, sizeof crc, "%08x", fp8lab_crc32c(0, st, strlen(st)));
        cJSON_AddStringToObject(doc, "format", STATE_FORMAT);
        cJSON_AddNumberToObject(doc, "version", STATE_VERSION);
        cJSON_AddItemToObject(doc, "state", state);
        state = NULL;
        cJSON_AddStringToObject(doc, "crc32c", crc);
        snprintf(f, sizeof f, "%s/trainer_state.json", tmp);
        rc = write_json(f, doc);
    }
    free(st);
    cJSON_Delete(state);
    cJSON_Delete(doc);
    return rc;
}

/* Everything but the optimizer shards into tmp: the model, its config, the optimizer (whole, or the part every
   rank shares plus the manifest of the ranks' shards when shards is set), the trainer state. */
static int save_into(fp8lab_trainer *t, const char *tmp, const fp8lab_opt_shards *shards) {
    char f[FP8LAB_TRAIN_PATH_MAX + 64];
    const size_t pbytes = sizeof(float) * (size_t)t->opt.floats, mbytes = fp8lab_optim_moment_bytes(&t->opt);
    float *hp = malloc(pbytes);
    void *hm = malloc(mbytes), *hv = malloc(mbytes);
    cJSON *cfg = NULL;
    int rc = -1;
    if (!hp || !hm || !hv) {
        FP8LAB_ERR_RT("checkpoint: out of host memory (%zu bytes)", pbytes + 2 * mbytes);
        goto done;
    }
    if (fp8lab_copy_d2h(t->be, hp, fp8lab_gpt_params(t->g), pbytes) ||
        fp8lab_copy_d2h(t->be, hm, t->opt.m, mbytes) || fp8lab_copy_d2h(t->be, hv, t->opt.v, mbytes))
        goto done;
    snprintf(f, sizeof f, "%s/model.safetensors", tmp);
    if (save_model(t, f, hp)) goto done;
    amax_rows a;
    if (amax_rows_alloc(t, &a)) goto done;
    if (a.rec && amax_rows_each(t, &a, f, row_get)) {
        free(a.rec);
        goto done;
    }
    const fp8lab_opt_part whole = {.m = hm, .v = hv, .dtype = t->opt.dtype, .begin = 0, .end = t->opt.floats,
                                   .step = t->step, .amax = a.rec, .amax_shape = {a.shape[0], a.shape[1]}};
    if (shards) {
        fp8lab_opt_part shared = whole;
        const size_t es = t->opt.dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4;
        shared.begin = shards->tail;
        shared.m = (const char *)hm + es * (size_t)shards->tail;
        shared.v = (const char *)hv + es * (size_t)shards->tail;
        rc = fp8lab_opt_part_write(tmp, FP8LAB_OPT_SHARED_FILE, &shared) || fp8lab_opt_manifest_write(tmp, shards);
    } else {
        rc = fp8lab_opt_part_write(tmp, "optimizer.safetensors", &whole);
    }
    free(a.rec);
    if (rc) goto done;
    rc = -1;
    cfg = fp8lab_hf_config(&t->model);
    snprintf(f, sizeof f, "%s/config.json", tmp);
    if (!cfg || write_json(f, cfg) || save_state(t, tmp) || fsync_dir(tmp)) goto done;
    rc = 0;
done:
    free(hp);
    free(hm);
    free(hv);
    cJSON_Delete(cfg);
    return rc;
}

/* tmp renamed to checkpoint-STEP; a checkpoint of the same step (a resumed run saving again) is moved aside first */
static int publish(fp8lab_trainer *t, char *tmp, char *path, size_t cap) {
    const char *out = t->cfg.out;
    char final[FP8LAB_TRAIN_PATH_MAX], old[FP8LAB_TRAIN_PATH_MAX];
    snprintf(final, sizeof final, "%s/checkpoint-%ld", out, t->step);
    struct stat sb;
    old[0] = 0;
    if (lstat(final, &sb) == 0) {
        snprintf(old, sizeof old, "%s/.checkpoint-%ld.old-XXXXXX", out, t->step);
        if (!mkdtemp(old) || rename(final, old)) {
            FP8LAB_ERR_RT("%s: cannot move the previous checkpoint aside: %s", final, strerror(errno));
            if (old[0]) rmdir(old);
            return -1;
        }
    }
    if (rename(tmp, final)) {
        FP8LAB_ERR_RT("%s: cannot rename %s into place: %s", final, tmp, strerror(errno));
        return -1;
    }
    tmp[0] = 0;
    if (fsync_dir(out)) return -1;
    if (old[0]) remove_flat_dir(old);
    if (path) snprintf(path, cap, "%s", final);
    return 0;
}

int fp8lab_checkpoint_save(fp8lab_trainer *t, char *path, size_t cap) {
    char tmp[FP8LAB_TRAIN_PATH_MAX];
    if (make_tmp(t, tmp, sizeof tmp)) return -1;
    const int rc = save_into(t, tmp, NULL) || publish(t, tmp, path, cap) ? -1 : 0;
    if (tmp[0] && rc) remove_flat_dir(tmp);
    return rc;
}

int fp8lab_checkpoint_save_shards(fp8lab_trainer *t, const fp8lab_opt_shards *sh, char *path, size_t cap) {
    char tmp[FP8LAB_TRAIN_PATH_MAX] = "";
    /* rank 0 makes the folder and names it to the others (an empty name: it failed) */
    int rc = t->rank == 0 ? make_tmp(t, tmp, sizeof tmp) : 0;
    if (fp8lab_broadcast(t->comm, tmp, sizeof tmp, FP8LAB_CDT_U8, 0)) return -1;
    if (!tmp[0]) {
        if (t->rank) FP8LAB_ERR_RT("checkpoint: rank 0 could not create the temporary folder");
        return -1;
    }
    /* each rank its block of the moments */
    const size_t es = t->opt.dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4, bytes = es * (size_t)sh->count;
    void *hm = malloc(bytes ? bytes : 1), *hv = malloc(bytes ? bytes : 1);
    const int64_t begin = (int64_t)t->rank * sh->count;
    char name[64];
    snprintf(name, sizeof name, FP8LAB_OPT_SHARD_FILE, t->rank, t->size);
    if (!rc) {
        const fp8lab_opt_part part = {.m = hm, .v = hv, .dtype = t->opt.dtype, .begin = begin,
                                      .end = begin + sh->count, .step = t->step};
        rc = !hm || !hv || fp8lab_copy_d2h(t->be, hm, (char *)t->opt.m + es * (size_t)begin, bytes) ||
                     fp8lab_copy_d2h(t->be, hv, (char *)t->opt.v + es * (size_t)begin, bytes) ||
                     fp8lab_opt_part_write(tmp, name, &part)
                 ? -1
                 : 0;
    }
    free(hm);
    free(hv);
    /* every shard written (or none kept), then rank 0 the rest and the rename */
    const int any = fp8lab_dp_any(t->comm, rc != 0);
    if (any) {
        if (!rc) FP8LAB_ERR_RT("checkpoint: another rank could not write its optimizer shard");
        if (t->rank == 0) remove_flat_dir(tmp);
        return -1;
    }
    if (t->rank) return 0;
    rc = save_into(t, tmp, sh) || publish(t, tmp, path, cap) ? -1 : 0;
    if (tmp[0] && rc) remove_flat_dir(tmp);
    return rc;
}

/* ---- load ---------------------------------------------------------------------------------------------------- */

/* Every tensor of the file must be one of g's: a weight the model does not have (Llama's attention_bias or
   mlp_bias, another architecture under the same model_type) would otherwise be dropped and a different model
   run without a word. Allowed besides: a tied model's stored lm_head.weight, and the buffers older
   checkpoints carry (GPT-2's causal-mask attn.bias / attn.masked_bias, Llama's rotary_emb.inv_freq). */
static int suffix(const char *s, const char *suf) {
    const size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

static int check_no_extra(const fp8lab_gpt *g, const fp8lab_st *st, int allow_prefixless) {
    fp8lab_gpt_tensor t;
    for (int i = 0; i < fp8lab_st_count(st); i++) {
        const char *name = fp8lab_st_at(st, i)->name;
        char full[FP8LAB_PARAM_NAME_MAX + 16];
        const int fits = snprintf(full, sizeof full, "transformer.%s", name) < (int)sizeof full;
        if (fp8lab_gpt_tensor_get(g, name, &t) == 0 ||
            (allow_prefixless && fits && fp8lab_gpt_tensor_get(g, full, &t) == 0))
            continue;
        if ((fp8lab_gpt_config(g)->tied && !strcmp(name, "lm_head.weight")) || suffix(name, ".attn.bias") ||
            suffix(name, ".attn.masked_bias") || suffix(name, ".rotary_emb.inv_freq"))
            continue;
        FP8LAB_ERR("%s: tensor %s is not a weight of the model config.json describes (model_type %s: a bias or "
                   "layer fp8lab does not implement?)",
                   fp8lab_st_path(st), name, fp8lab_gpt_config(g)->model_type);
        return -1;
    }
    return 0;
}

/* Reads every tensor of g from st into host (the parameter buffer's layout). */
static int read_params(fp8lab_gpt *g, const fp8lab_st *st, float *host, int allow_prefixless) {
    const int n = fp8lab_gpt_tensor_count(g);
    const float *base = fp8lab_gpt_params(g);
    for (int i = 0; i < n; i++) {
        fp8lab_gpt_tensor t;
        if (fp8lab_gpt_tensor_at(g, i, &t)) return -1;
        const char *name = t.name;
        if (!fp8lab_st_find(st, name) && allow_prefixless && !strncmp(name, "transformer.", 12) &&
            fp8lab_st_find(st, name + 12))
            name += 12;
        if (!fp8lab_st_find(st, name)) {
            FP8LAB_ERR("%s: tensor %s is missing", fp8lab_st_path(st), t.name);
            return -1;
        }
        if (fp8lab_st_read_f32(st, name, host + (t.param - base), t.ndim, t.shape)) return -1;
        for (int64_t j = 0; j < t.numel; j++)
            if (!isfinite(host[(t.param - base) + j])) {
                FP8LAB_ERR("%s: tensor %s holds a non-finite value at %lld", fp8lab_st_path(st), name,
                           (long long)j);
                return -1;
            }
    }
    return check_no_extra(g, st, allow_prefixless);
}

int fp8lab_load_weights(fp8lab_gpt *g, fp8lab_backend *be, const char *dir) {
    char path[FP8LAB_TRAIN_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    fp8lab_st *st = NULL;
    if (fp8lab_st_open(path, &st)) return -1;
    const size_t bytes = sizeof(float) * (size_t)fp8lab_gpt_buffer_floats(g);
    float *host = calloc(1, bytes);
    int rc = -1;
    if (!host) FP8LAB_ERR_RT("%s: out of host memory (%zu bytes)", path, bytes);
    else if (!read_params(g, st, host, 1)) rc = fp8lab_copy_h2d(be, fp8lab_gpt_params(g), host, bytes);
    free(host);
    fp8lab_st_close(st);
    return rc;
}

/* What the steps of fp8lab_checkpoint_load share: everything read (into host memory) before anything of the trainer
   changes, and what has to be freed at the end. */
typedef struct {
    const char *dir;
    char path[FP8LAB_TRAIN_PATH_MAX + 64]; /* the file being read, for messages */
    size_t pbytes, mbytes;
    float *hp;                             /* the parameters */
    void *hm, *hv;                         /* the moments */
    fp8lab_st *ms, *os;                    /* model.safetensors, the optimizer file */
    amax_rows amax;
    cJSON *doc;                            /* trainer_state.json: state and loader point into it */
    const cJSON *state, *loader;
    long step, skipped;
    uint64_t rng_s;
} ckpt_load;

/* trainer_state.json: format and version, and the CRC-32C of its "state" (which ck->state then points to). */
static int read_state_doc(ckpt_load *ck) {
    snprintf(ck->path, sizeof ck->path, "%s/trainer_state.json", ck->dir);
    if (!(ck->doc = fp8lab_json_load(ck->path))) return -1;
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(ck->doc, "format"),
                *ver = cJSON_GetObjectItemCaseSensitive(ck->doc, "version"),
                *state = cJSON_GetObjectItemCaseSensitive(ck->doc, "state"),
                *crc = cJSON_GetObjectItemCaseSensitive(ck->doc, "crc32c");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, STATE_FORMAT) || !cJSON_IsNumber(ver) ||
        ver->valuedouble != STATE_VERSION || !cJSON_IsObject(state) || !cJSON_IsString(crc)) {
        FP8LAB_ERR("%s: not an fp8lab trainer state (format %s version %d, with state and crc32c)", ck->path,
                   STATE_FORMAT, STATE_VERSION);
        return -1;
    }
    char *st_text = cJSON_PrintUnformatted(state);
    char want[9];
    snprintf(want, sizeof want, "%08x", st_text ? fp8lab_crc32c(0, st_text, strlen(st_text)) : 0u);
    const int bad = !st_text || strcmp(want, crc->valuestring);
    free(st_text);
    if (bad) {
        FP8LAB_ERR("%s: CRC-32C of the state is %s, the file says %s: the file is corrupt", ck->path, want,
                   crc->valuestring);
        return -1;
    }
    ck->state = state;
    return 0;
}

/* state.step, state.skipped and state.seed: in range, consistent, and the seed this run's. */
static int read_state_counts(const fp8lab_trainer *t, ckpt_load *ck) {
    long seed = 0;
    if (fp8lab_json_int(ck->path, ck->state, "state.", "step", 0, FP8LAB_RANGE(0, 1e9), &ck->step) ||
        fp8lab_json_int(ck->path, ck->state, "state.", "skipped", 0, FP8LAB_RANGE(0, 1e9), &ck->skipped) ||
        fp8lab_json_int(ck->path, ck->state, "state.", "seed", 0, FP8LAB_RANGE(0, 9007199254740991.0), &seed))
        return -1;
    if (ck->skipped > ck->step) {
        FP8LAB_ERR("%s: state.skipped is %ld, more than state.step %ld", ck->path, ck->skipped, ck->step);
        return -1;
    }
    if (seed != t->cfg.seed) {
        FP8LAB_ERR("%s: the checkpoint was trained with --seed %ld, this run has %ld", ck->path, seed, t->cfg.seed);
        return -1;
    }
    return 0;
}

/* state.moments (this run's moment dtype), state.rng.sample and state.loader (checked when applied). */
static int read_state_run(const fp8lab_trainer *t, ckpt_load *ck) {
    const cJSON *mo = cJSON_GetObjectItemCaseSensitive(ck->state, "moments");
    const char *mine = t->opt.dtype == FP8LAB_MOMENTS_BF16 ? "bf16" : "f32";
    if (!cJSON_IsString(mo) || strcmp(mo->valuestring, mine)) {
        FP8LAB_ERR("%s: state.moments is %s, this run keeps %s moments (--fp32-moments must match)", ck->path,
                   cJSON_IsString(mo) ? mo->valuestring : "missing", mine);
        return -1;
    }
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(ck->state, "rng");
    const cJSON *rs = cJSON_IsObject(rng) ? cJSON_GetObjectItemCaseSensitive(rng, "sample") : NULL;
    if (!cJSON_IsString(rs) || parse_hex64(rs->valuestring, &ck->rng_s) || !ck->rng_s) {
        /* 0 is the one state xorshift64* never leaves (and never reaches) */
        FP8LAB_ERR("%s: state.rng.sample: expected 16 lowercase hex digits, not all zero", ck->path);
        return -1;
    }
    ck->loader = cJSON_GetObjectItemCaseSensitive(ck->state, "loader");
    if (!cJSON_IsObject(ck->loader)) {
        FP8LAB_ERR("%s: state.loader: missing", ck->path);
        return -1;
    }
    return 0;
}

static int read_model(fp8lab_trainer *t, ckpt_load *ck) {
    snprintf(ck->path, sizeof ck->path, "%s/model.safetensors", ck->dir);
    if (fp8lab_st_open(ck->path, &ck->ms)) return -1;
    if (!fp8lab_st_has_checksum(ck->ms)) {
        FP8LAB_ERR("%s: no fp8lab_crc32c: not written by fp8lab train (use --init-from for other weights)", ck->path);
        return -1;
    }
    return read_params(t->g, ck->ms, ck->hp, 0);
}

/* The optimizer file's amax_history (fp8-tensor-delayed only) and its step, which must be trainer_state.json's. */
static int read_opt_amax_step(fp8lab_trainer *t, ckpt_load *ck) {
    if (amax_rows_alloc(t, &ck->amax)) return -1;
    if (ck->amax.rec && (fp8lab_st_read_f32(ck->os, "amax_history", ck->amax.rec, 2, ck->amax.shape) ||
                         amax_rows_each(t, &ck->amax, ck->path, row_check)))
        return -1;
    const fp8lab_st_tensor *ts = fp8lab_st_find(ck->os, "step");
    int64_t ostep = -1;
    if (ts && ts->dtype == FP8LAB_ST_I64 && ts->ndim == 0) memcpy(&ostep, ts->data, 8);
    if (ostep != ck->step) {
        FP8LAB_ERR("%s: step is %lld, trainer_state.json says %ld", ck->path, (long long)ostep, ck->step);
        return -1;
    }
    return 0;
}

/* The optimizer: a ZeRO-1 run's shards and their manifest, or optimizer.safetensors. */
static int read_optimizer(fp8lab_trainer *t, ckpt_load *ck) {
    int64_t from = 0; /* the moments the shards did not hold start here, in the shared file or the whole one */
    const int no_manifest =
        fp8lab_opt_shards_read(ck->dir, t->opt.dtype, t->opt.floats, ck->step, ck->hm, ck->hv, &ck->os, &from);
    if (no_manifest < 0) return -1;
    if (no_manifest) {
        snprintf(ck->path, sizeof ck->path, "%s/optimizer.safetensors", ck->dir);
        if (fp8lab_st_open(ck->path, &ck->os)) return -1;
        if (!fp8lab_st_has_checksum(ck->os)) {
            FP8LAB_ERR("%s: no fp8lab_crc32c: not written by fp8lab train", ck->path);
            return -1;
        }
    } else snprintf(ck->path, sizeof ck->path, "%s/%s", ck->dir, FP8LAB_OPT_SHARED_FILE);
    const size_t es = t->opt.dtype == FP8LAB_MOMENTS_BF16 ? 2 : 4;
    char *m = (char *)ck->hm + es * (size_t)from, *v = (char *)ck->hv + es * (size_t)from;
    if (fp8lab_opt_read_moment(ck->os, "exp_avg", t->opt.dtype, from, t->opt.floats, m) ||
        fp8lab_opt_read_moment(ck->os, "exp_avg_sq", t->opt.dtype, from, t->opt.floats, v))
        return -1;
    return read_opt_amax_step(t, ck);
}

/* Everything read: the loader position (checked against the data), then the device buffers, then the counters. */
static int apply_checkpoint(fp8lab_trainer *t, ckpt_load *ck) {
    snprintf(ck->path, sizeof ck->path, "%s/trainer_state.json", ck->dir);
    if (fp8lab_loader_pos_from_json(&t->train, ck->loader, ck->path)) return -1;
    if (fp8lab_copy_h2d(t->be, fp8lab_gpt_params(t->g), ck->hp, ck->pbytes) ||
        fp8lab_copy_h2d(t->be, t->opt.m, ck->hm, ck->mbytes) || fp8lab_copy_h2d(t->be, t->opt.v, ck->hv, ck->mbytes) ||
        (ck->amax.rec && amax_rows_each(t, &ck->amax, ck->path, row_set)))
        return -1;
    t->step = ck->step;
    t->skipped = ck->skipped;
    t->sample_rng.s = ck->rng_s;
    return 0;
}

int fp8lab_checkpoint_load(fp8lab_trainer *t, const char *dir) {
    ckpt_load ck = {.dir = dir, .pbytes = sizeof(float) * (size_t)t->opt.floats,
                    .mbytes = fp8lab_optim_moment_bytes(&t->opt)};
    ck.hp = calloc(1, ck.pbytes);
    ck.hm = malloc(ck.mbytes);
    ck.hv = malloc(ck.mbytes);
    int rc = -1;
    if (!ck.hp || !ck.hm || !ck.hv) FP8LAB_ERR_RT("checkpoint: out of host memory");
    else if (!read_state_doc(&ck) && !read_state_counts(t, &ck) && !read_state_run(t, &ck) && !read_model(t, &ck) &&
             !read_optimizer(t, &ck) && !apply_checkpoint(t, &ck))
        rc = 0;
    free(ck.amax.rec);
    fp8lab_st_close(ck.ms);
    fp8lab_st_close(ck.os);
    cJSON_Delete(ck.doc);
    free(ck.hp);
    free(ck.hm);
    free(ck.hv);
    return rc;
}

static int cmp_desc(const void *a, const void *b) {
    const long x = *(const long *)a, y = *(const long *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* STEP of a name "<prefix>STEP<rest>" (STEP: 1 to 9 digits, no leading zero); -1 when it is not one. */
static long name_step(const char *name, const char *prefix, const char *rest) {
    const size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl)) return -1;
    const char *s = name + pl;
    const size_t len = strspn(s, "0123456789");
    if (!len || len > 9 || (len > 1 && s[0] == '0') || strncmp(s + len, rest, strlen(rest))) return -1;
    return strtol(s, NULL, 10);
}

int fp8lab_checkpoint_list(const char *dir, long *steps, int max) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    /* all of them, then the newest max: readdir's order is arbitrary, and a long run can hold more than max */
    long *all = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const long s = name_step(e->d_name, "checkpoint-", "");
        if (s < 0 || strlen(e->d_name) != 11 + strspn(e->d_name + 11, "0123456789")) continue;
        if (n == cap) {
            long *a = realloc(all, (cap = cap ? 2 * cap : 64) * sizeof *a);
            if (!a) {
                free(all);
                closedir(d);
                return -1;
            }
            all = a;
        }
        all[n++] = s;
    }
    closedir(d);
    if (n) qsort(all, n, sizeof *all, cmp_desc);
    const int k = n < (size_t)max ? (int)n : max;
    if (k > 0) memcpy(steps, all, (size_t)k * sizeof *steps);
    free(all);
    return k;
}

int fp8lab_checkpoint_tidy(const char *out, FILE *log) {
    DIR *d = opendir(out);
    if (!d) return 0;
    char (*names)[256] = NULL; /* collected first: the folder changes under readdir otherwise */
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        const int ckpt = name_step(s, ".checkpoint-", ".tmp-") >= 0 || name_step(s, ".checkpoint-", ".old-") >= 0;
        /* core/atomic_file.c's temporary of metrics.jsonl: ".metrics.jsonl.<16 hex digits>.tmp" */
        const int mtmp = !strncmp(s, ".metrics.jsonl.", 15) && strlen(s) == 35 &&
                         strspn(s + 15, "0123456789abcdef") == 16 && !strcmp(s + 31, ".tmp");
        if ((!ckpt && !mtmp) || strlen(s) >= sizeof names[0]) continue;
        if (n == cap) {
            void *a = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof names[0]);
            if (!a) break; /* the rest waits for the next run */
            names = a;
        }
        snprintf(names[n++], sizeof names[0], "%s", s);
    }
    closedir(d);
    int done = 0;
    for (size_t i = 0; i < n; i++) {
        char p[FP8LAB_TRAIN_PATH_MAX + 300], final[FP8LAB_TRAIN_PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", out, names[i]);
        struct stat sb;
        if (lstat(p, &sb)) continue;
        if (names[i][1] == 'm') {
            if (S_ISREG(sb.st_mode) && !unlink(p)) {
                if (log) fprintf(log, "%s: removed (left by an interrupted rewrite of metrics.jsonl)\n", p);
                done++;
            }
            continue;
        }
        if (!S_ISDIR(sb.st_mode)) continue; /* never follow a link planted under such a name */
        const long step = name_step(names[i], ".checkpoint-", ".old-");
        if (step >= 0) {
            /* moved aside to be replaced by a new checkpoint of the same step: when the new one never arrived,
               it is still the checkpoint of that step, whole */
            snprintf(final, sizeof final, "%s/checkpoint-%ld", out, step);
            if (lstat(final, &sb) && errno == ENOENT && !rename(p, final)) {
                if (log) fprintf(log, "%s: restored from %s (a checkpoint save was interrupted)\n", final, p);
                done++;
                continue;
            }
        }
        remove_flat_dir(p);
        if (log) fprintf(log, "%s: removed (left by an interrupted checkpoint save)\n", p);
        done++;
    }
    free(names);
    if (done) fsync_dir(out);
    return done;
}

int fp8lab_checkpoint_resume(fp8lab_trainer *t, char *path, size_t cap, int verbose) {
    long steps[4096];
    const int n = fp8lab_checkpoint_list(t->cfg.out, steps, 4096);
    if (n <= 0) return 0;
    char first_err[1024] = "";
    for (int i = 0; i < n; i++) {
        char dir[FP8LAB_TRAIN_PATH_MAX + 32];
        snprintf(dir, sizeof dir, "%s/checkpoint-%ld", t->cfg.out, steps[i]);
        if (fp8lab_checkpoint_load(t, dir) == 0) {
            if (path) snprintf(path, cap, "%s", dir);
            return 1;
        }
        if (!first_err[0]) snprintf(first_err, sizeof first_err, "%s", fp8lab_last_error());
        if (verbose)
            fprintf(stderr, "warning: checkpoint %s refused: %s%s\n", dir, fp8lab_last_error(),
                    i + 1 < n ? "; trying the older one" : "");
    }
    FP8LAB_ERR("--resume: no checkpoint in %s loads (newest: %s)", t->cfg.out, first_err);
    return -1;
}
