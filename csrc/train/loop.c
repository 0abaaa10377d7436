#define _GNU_SOURCE
#include "train/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/record.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/paths.h"
#include "core/timer.h"
#include "data/build.h"
#include "dist/comm_deferred.h"
#include "dist/comm_nccl_host.h"
#include "dist/launch.h"
#include "nn/params.h"
#include "sim/flops.h"
#include "train/checkpoint.h"
#include "train/dp.h"
#include "train/metrics.h"
#include "train/predict.h"

#define SAMPLE_PROMPT 16
#define SAMPLE_TEMPERATURE 0.8

/* ---- setup ----------------------------------------------------------------------------------------------------- */

static int mkdir_p(const char *path) {
    char buf[FP8LAB_TRAIN_PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        FP8LAB_ERR("%s: path too long", path);
        return -1;
    }
    for (char *p = buf + 1;; p++) {
        const char c = *p;
        if (c == '/' || c == 0) {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST) {
                FP8LAB_ERR_RT("%s: cannot create the folder: %s", buf, strerror(errno));
                return -1;
            }
            *p = c;
        }
        if (!c) break;
    }
    struct stat sb;
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode)) {
        FP8LAB_ERR("%s: not a folder", path);
        return -1;
    }
    return 0;
}

int fp8lab_train_cache_dir(char *out, size_t cap) {
    const char *d = getenv("FP8LAB_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int n;
    if (d && d[0]) n = snprintf(out, cap, "%s/builtin", d);
    else if (x && x[0] == '/') n = snprintf(out, cap, "%s/fp8lab/builtin", x);
    else if (h && h[0]) n = snprintf(out, cap, "%s/.cache/fp8lab/builtin", h);
    else {
        FP8LAB_ERR("the built-in corpus needs a cache folder: set FP8LAB_CACHE_DIR, XDG_CACHE_HOME or HOME, or "
                   "give --data");
        return -1;
    }
    if (n < 0 || (size_t)n >= cap) {
        FP8LAB_ERR("cache folder path too long");
        return -1;
    }
    return 0;
}

void fp8lab_trainer_destroy(fp8lab_trainer *t) {
    if (!t) return;
    fp8lab_zero_free(&t->zero);
    fp8lab_gpt_destroy(t->g);
    fp8lab_comm_destroy(t->dcomm_owned); /* before its backend */
    fp8lab_loader_close(&t->train);
    if (t->has_val) fp8lab_loader_close(&t->val);
    fp8lab_backend_destroy(t->be);
    free(t->tok);
    free(t->tgt);
    free(t);
}

/* The device: cfg->device's backend, wrapped in a timing recorder when profiling (recording off until the
   steps: setup, validation and checkpoints are not profiled). */
static fp8lab_backend *open_backend(const char *device, int profile, int local_rank) {
    /* one GPU per rank on a node: the local rank's */
    fp8lab_backend *be = local_rank > 0 && strcmp(device, "cpu") ? fp8lab_cuda_backend_create(local_rank) : NULL;
    if (!be) be = fp8lab_backend_create(local_rank > 0 && !strcmp(device, "auto") ? "cpu" : device);
    if (!be || !profile) return be;
    fp8lab_backend *rec = fp8lab_record_create(be, &(fp8lab_record_opts){.timing = 1});
    if (!rec) fp8lab_backend_destroy(be);
    else fp8lab_record_enable(rec, 0);
    return rec;
}

/* The communicator for device buffers (the gradients): NCCL on the CUDA backend when the job has several ranks,
   or when FP8LAB_COMM=nccl asks for it on one (a check of the NCCL path); else the job's own. A job started
   without MPI gets its host collectives staged through NCCL (dist/comm_deferred.h). */
static int open_device_comm(fp8lab_trainer *t, const fp8lab_launch *l) {
    t->dcomm = t->comm;
    const char *want = getenv("FP8LAB_COMM");
    const int nccl = !strcmp(t->be->name, "cuda") && (t->size > 1 || (want && !strcmp(want, "nccl")));
    if (!nccl) {
        if (!fp8lab_comm_is_deferred(t->comm)) return 0;
        FP8LAB_ERR("--device %s on %d ranks started by %s without MPI: such a job's collectives run on NCCL, which "
                   "needs --device cuda (CPU ranks: mpirun, or srun --mpi=pmix)", t->cfg.device, t->size,
                   !strcmp(l->launcher, "env") ? "FP8LAB_RANK/FP8LAB_WORLD_SIZE" : l->launcher);
        return -1;
    }
    fp8lab_launch one = *l;
    if (t->size == 1) one = (fp8lab_launch){.rank = 0, .size = 1, .local_rank = 0, .launcher = "none"};
    t->dcomm_owned = fp8lab_comm_nccl(t->be, &one, fp8lab_comm_is_deferred(t->comm) ? NULL : t->comm);
    if (!t->dcomm_owned) return -1;
    t->dcomm = t->dcomm_owned;
    return fp8lab_comm_is_deferred(t->comm) ? fp8lab_comm_attach(t->comm, t->dcomm, t->be) : 0;
}

/* --grad-sum (train/config.h): exact sums where asked, or by default on the cpu backend */
static int set_grad_sum(fp8lab_trainer *t, const char *mode) {
    if (!strcmp(mode, "fast") || (!strcmp(mode, "auto") && strcmp(t->be->name, "cpu"))) return 0;
    return fp8lab_gpt_set_exact_grads(t->g, 1);
}

/* A trainer holding its copy of cfg and its place among the ranks, nothing opened yet. */
static fp8lab_trainer *trainer_alloc(const fp8lab_train_cfg *cfg, fp8lab_comm *comm) {
    fp8lab_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        FP8LAB_ERR_RT("trainer: out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->cfg.nowned = 0; /* the caller keeps ownership */
    t->recipe = (fp8lab_recipe)fp8lab_train_parse_recipe(cfg->recipe);
    t->comm = comm;
    t->rank = fp8lab_dp_rank(comm);
    t->size = fp8lab_dp_size(comm);
    return t;
}

/* The model, once the global batch is known to fit the loader; its T and activations within its limits. */
static int trainer_load_model(fp8lab_trainer *t) {
    const fp8lab_train_cfg *cfg = &t->cfg;
    const int B = cfg->batch, T = cfg->seq;
    if ((int64_t)B * t->size > FP8LAB_LOADER_MAX_B) {
        FP8LAB_ERR("--batch %d on %d ranks: a global batch of %lld rows exceeds %d", B, t->size,
                   (long long)B * t->size, FP8LAB_LOADER_MAX_B);
        return -1;
    }
    if (fp8lab_train_load_model(cfg, &t->model)) return -1;
    if (t->model.learned_pos && T > t->model.max_pos) {
        FP8LAB_ERR("--seq %d exceeds the model's n_positions %ld", T, t->model.max_pos);
        return -1;
    }
    return fp8lab_gpt_activation_bytes(&t->model, B, T) < 0 ? -1 : 0;
}

/* The shards' globs: --data, or the built-in corpus (built into the cache folder on first use), whose validation
   split is used unless --val-data names other shards. */
static int trainer_find_shards(fp8lab_trainer *t) {
    const fp8lab_train_cfg *cfg = &t->cfg;
    if (cfg->data) {
        snprintf(t->train_glob, sizeof t->train_glob, "%s", cfg->data);
    } else {
        char cache[FP8LAB_TRAIN_PATH_MAX - 64];
        int built = 0;
        if (fp8lab_train_cache_dir(cache, sizeof cache) || mkdir_p(cache) ||
            fp8lab_data_builtin(cache, NULL, t->train_glob, t->val_glob, sizeof t->train_glob, &built))
            return -1;
    }
    if (cfg->val_data) snprintf(t->val_glob, sizeof t->val_glob, "%s", cfg->val_data);
    t->has_val = !cfg->data || cfg->val_data;
    return 0;
}

static int trainer_open_loaders(fp8lab_trainer *t) {
    const fp8lab_train_cfg *cfg = &t->cfg;
    const int BG = cfg->batch * t->size; /* the global batch: the loader moves past it, each rank reads its own rows */
    const char *tg = t->train_glob, *vg = t->val_glob;
    if (fp8lab_loader_open(&t->train, &tg, 1, BG, cfg->seq, t->model.vocab, (uint64_t)cfg->seed, 1)) return -1;
    if (t->has_val && fp8lab_loader_open(&t->val, &vg, 1, BG, cfg->seq, t->model.vocab, (uint64_t)cfg->seed, 0)) {
        t->has_val = 0; /* nothing for fp8lab_trainer_destroy to close */
        return -1;
    }
    return 0;
}

/* The backend, the communicator for device buffers, and the device's name as the metrics report it. */
static int trainer_open_device(fp8lab_trainer *t, int profile) {
    fp8lab_launch launch;
    if (fp8lab_launch_from_env(&launch)) return -1;
    t->be = open_backend(t->cfg.device, profile, t->size > 1 ? launch.local_rank : 0);
    if (!t->be || open_device_comm(t, &launch)) return -1;
    fp8lab_backend_info(t->be, &t->dev);
    const char *name = t->dev.name;
    if (!strcmp(t->be->name, "cpu"))
        snprintf(t->device, sizeof t->device, "cpu (%s)", strncmp(name, "CPU: ", 5) ? name : name + 5);
    else snprintf(t->device, sizeof t->device, "%s", name);
    return 0;
}

/* The model on the device (recipe, gradient sums, --init-from's weights) and its AdamW moments. */
static int trainer_build_model(fp8lab_trainer *t) {
    const fp8lab_train_cfg *cfg = &t->cfg;
    t->g = fp8lab_gpt_create(t->be, &t->model, (uint64_t)cfg->seed);
    if (!t->g || fp8lab_gpt_set_recipe(t->g, t->recipe) || set_grad_sum(t, cfg->grad_sum)) return -1;
    if (cfg->init_from && fp8lab_load_weights(t->g, t->be, cfg->init_from)) return -1;
    t->opt = (fp8lab_optim){.dtype = cfg->fp32_moments ? FP8LAB_MOMENTS_F32 : FP8LAB_MOMENTS_BF16,
                            .floats = fp8lab_gpt_buffer_floats(t->g)};
    return fp8lab_gpt_moments(t->g, t->opt.dtype, &t->opt.m, &t->opt.v) ? -1 : 0;
}

/* The schedule, the sampling RNG, the host batch buffers and the FLOPs per token. */
static int trainer_init_run_state(fp8lab_trainer *t) {
    const fp8lab_train_cfg *cfg = &t->cfg;
    const int B = cfg->batch, T = cfg->seq;
    t->sched = (fp8lab_lr_schedule){cfg->lr, cfg->min_lr_ratio, cfg->warmup, cfg->steps};
    fp8lab_rng_seed(&t->sample_rng, (uint64_t)cfg->seed ^ 0x5a4d504c45ull);
    t->tok = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
    t->tgt = malloc(sizeof(int32_t) * (size_t)B * (size_t)T);
    if (!t->tok || !t->tgt) {
        FP8LAB_ERR_RT("trainer: out of host memory for a %d x %d batch", B, T);
        return -1;
    }
    fp8lab_flops fl;
    fp8lab_count_flops(&t->model, T, &fl);
    t->flops_per_token = fl.total;
    return 0;
}

static fp8lab_trainer *trainer_create(const fp8lab_train_cfg *cfg, int profile, fp8lab_comm *comm) {
    if (fp8lab_train_cfg_check(cfg)) return NULL;
    fp8lab_trainer *t = trainer_alloc(cfg, comm);
    if (!t) return NULL;
    if (trainer_load_model(t) || trainer_find_shards(t) || trainer_open_loaders(t) || trainer_open_device(t, profile) ||
        trainer_build_model(t) || trainer_init_run_state(t)) {
        fp8lab_trainer_destroy(t);
        return NULL;
    }
    return t;
}

fp8lab_trainer *fp8lab_trainer_create(const fp8lab_train_cfg *cfg) { return trainer_create(cfg, 0, NULL); }

fp8lab_trainer *fp8lab_trainer_create_dp(const fp8lab_train_cfg *cfg, fp8lab_comm *comm) {
    return trainer_create(cfg, 0, comm);
}

/* ---- steps ----------------------------------------------------------------------------------------------------- */

int fp8lab_zero_setup(fp8lab_trainer *t) {
    if (!t->cfg.zero || t->zero_ready) return 0;
    fp8lab_zero_gather gather;
    if (fp8lab_zero_gather_parse(t->cfg.zero_gather, &gather) ||
        fp8lab_zero_init(&t->zero, t->comm, t->g, t->be, gather))
        return -1;
    t->zero_ready = 1;
    return 0;
}

int fp8lab_trainer_step(fp8lab_trainer *t, fp8lab_step_metrics *m) {
    const double t0 = fp8lab_now();
    const long step = t->step + 1;
    const int B = t->cfg.batch, T = t->cfg.seq;
    float loss = 0, norm = 0;
    if (fp8lab_zero_setup(t) || fp8lab_loader_next_part(&t->train, t->rank, t->size, t->tok, t->tgt) ||
        fp8lab_gpt_zero_grad(t->g) || fp8lab_gpt_forward(t->g, t->tok, t->tgt, B, T, &loss))
        return -1;
    /* the loss and the positions it is a mean over, summed over the ranks: the backward divides by the global
       count, so the summed gradients are the global batch's mean gradient (and ranks with fewer targets weigh
       less) */
    double sums[2] = {fp8lab_gpt_loss_sum(t->g), (double)fp8lab_gpt_counted(t->g)};
    /* plain data parallel: the gradients all-reduced in buckets that start during the backward (train/dp.h) */
    fp8lab_dp_buckets bk = {0};
    const int64_t cap = (int64_t)(t->cfg.bucket_mb * (1 << 20) / sizeof(float));
    if (fp8lab_dp_sum(t->comm, sums, 2) || (!t->cfg.zero && fp8lab_dp_buckets_begin(&bk, t->dcomm, t->g, t->be, cap)))
        return -1;
    const int brc = fp8lab_gpt_backward_over(t->g, (int64_t)sums[1]);
    if ((!t->cfg.zero && fp8lab_dp_buckets_finish(&bk)) || brc) return -1;
    /* rounded as the model rounds its own mean: one rank and N ranks print the same loss */
    const double loss_mean = sums[1] > 0 ? (float)(sums[0] / sums[1]) : 0;
    const double lr = fp8lab_lr_at(&t->sched, step);
    const fp8lab_adamw_args a = {.lr = (float)lr,
                                 .beta1 = (float)t->cfg.beta1,
                                 .beta2 = (float)t->cfg.beta2,
                                 .eps = (float)t->cfg.adam_eps,
                                 .weight_decay = (float)t->cfg.weight_decay,
                                 .step = (int)step,
                                 .grad_scale = 1.0f,
                                 .moments = t->opt.dtype};
    /* the model's step also marks its weights changed: evaluation and samples requantize them. The ranks hold the
       same summed gradients (or, with ZeRO-1, the same all-reduced norm), so they skip (or not) together. */
    const int rc = t->cfg.zero ? fp8lab_zero_step(&t->zero, &a, (float)t->cfg.clip, &norm)
                               : fp8lab_gpt_step(t->g, &a, (float)t->cfg.clip, &norm);
    if (rc < 0 || fp8lab_sync(t->be)) return -1;
    t->skipped += rc == 1;
    t->step = step;
    if (m)
        *m = (fp8lab_step_metrics){
            .step = step, .loss = loss_mean, .lr = lr, .grad_norm = norm, .step_s = fp8lab_now() - t0,
            .skipped = rc == 1, .buckets = t->cfg.zero ? 0 : bk.n, .buckets_early = t->cfg.zero ? 0 : bk.early};
    return 0;
}

/* Rows [lo, lo + n) of each of L's evaluation batches (L->B rows; the last one may be short): the sum of the
   per-position losses into *sum, the positions into *count. */
static int eval_sum(fp8lab_gpt *g, const fp8lab_loader *L, int lo, int n, int max_batches, double *sum,
                    int64_t *count) {
    const int T = L->T;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)n * (size_t)T), *tg = malloc(sizeof(int32_t) * (size_t)n * (size_t)T);
    if (!in || !tg) {
        free(in);
        free(tg);
        FP8LAB_ERR_RT("eval: out of host memory");
        return -1;
    }
    fp8lab_eval_pos it = {0, 0};
    *sum = 0;
    *count = 0;
    int rc = 0;
    for (int b = 0; max_batches <= 0 || b < max_batches; b++) {
        const int rows = fp8lab_loader_eval_part(L, &it, lo, n, in, tg); /* this rank's rows of the batch */
        if (rows <= 0) break;
        const int hi = lo + n < rows ? lo + n : rows, k = hi - lo; /* a short last batch may leave us none */
        if (k <= 0) continue;
        float l = 0;
        if (fp8lab_gpt_forward(g, in, tg, k, T, &l)) {
            rc = -1;
            break;
        }
        *sum += (double)l * k * T;
        *count += (int64_t)k * T;
    }
    free(in);
    free(tg);
    return rc;
}

int fp8lab_eval_loss(fp8lab_gpt *g, const fp8lab_loader *L, int B, int max_batches, double *loss, int64_t *tokens) {
    if (B != L->B) {
        FP8LAB_ERR("eval: batch %d, the loader was opened for %d", B, L->B);
        return -1;
    }
    double sum = 0;
    int64_t count = 0;
    if (eval_sum(g, L, 0, B, max_batches, &sum, &count)) return -1;
    *loss = count ? sum / (double)count : NAN;
    if (tokens) *tokens = count;
    return 0;
}

int fp8lab_trainer_val_loss(fp8lab_trainer *t, double *loss, int64_t *tokens) {
    if (!t->has_val) {
        *loss = NAN;
        if (tokens) *tokens = 0;
        return 0;
    }
    const int B = t->cfg.batch;
    double v[2] = {0, 0}; /* the loss sum and the positions, reduced over ranks */
    int64_t count = 0;
    if (eval_sum(t->g, &t->val, t->rank * B, B, t->cfg.val_batches, &v[0], &count)) return -1;
    v[1] = (double)count;
    if (fp8lab_dp_sum(t->comm, v, 2)) return -1;
    *loss = v[1] > 0 ? v[0] / v[1] : NAN;
    if (tokens) *tokens = (int64_t)v[1];
    return 0;
}

/* ---- memory (dry run) ------------------------------------------------------------------------------------------ */

int fp8lab_train_memory(const fp8lab_model *m, int B, int T, int fp32_moments, fp8lab_train_mem *out) {
    memset(out, 0, sizeof *out);
    fp8lab_param_layout L;
    if (fp8lab_param_layout_build(m, &L)) return -1;
    out->params = L.count;
    const double floats = (double)L.floats;
    fp8lab_param_layout_free(&L);
    const int64_t act = fp8lab_gpt_activation_bytes(m, B, T);
    if (act < 0) return -1;
    out->param_bytes = 4 * floats;
    out->grad_bytes = 4 * floats;
    out->moment_bytes = (fp32_moments ? 8 : 4) * floats;
    out->activation_bytes = (double)act;
    out->total_bytes = out->param_bytes + out->grad_bytes + out->moment_bytes + out->activation_bytes;
    return 0;
}

/* ---- the run --------------------------------------------------------------------------------------------------- */

/* One run per folder: two runs on the same --out would interleave their metrics lines and checkpoints, and
   fp8lab_checkpoint_tidy would clear the other's save in progress. The lock goes with the process (kill -9
   included). Returns the descriptor to close at the end, or -1 with an error. */
static int lock_run_folder(const char *out) {
    char p[FP8LAB_TRAIN_PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/.fp8lab-train.lock", out);
    const int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0) {
        FP8LAB_ERR_RT("%s: cannot open the run folder's lock file: %s", p, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) && errno == EWOULDBLOCK) {
        close(fd);
        FP8LAB_ERR("--out %s: another fp8lab train is running in this folder (%s is locked)", out, p);
        return -1;
    } /* other failures (a file system without locks): the run goes on unlocked */
    return fd;
}

static int has_checkpoints(const char *out) {
    long s[1];
    return fp8lab_checkpoint_list(out, s, 1) > 0;
}

/* On resume: drop the metrics lines of steps after the checkpoint (a run that died past its last checkpoint
   redoes them), so every step appears once. */
static int trim_metrics(const char *path, long step) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0; /* nothing yet */
    char *keep = NULL, *line = NULL;
    size_t kn = 0, cap = 0;
    FILE *k = open_memstream(&keep, &kn);
    int dropped = 0;
    while (k && getline(&line, &cap, f) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *s = o ? cJSON_GetObjectItemCaseSensitive(o, "step") : NULL;
        if (cJSON_IsNumber(s) && s->valuedouble <= (double)step) fputs(line, k);
        else dropped = 1;
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (!k) {
        FP8LAB_ERR_RT("%s: out of memory", path);
        return -1;
    }
    fclose(k);
    const int rc = dropped ? fp8lab_write_file_atomic(path, keep, (long)kn) : 0;
    free(keep);
    return rc;
}

static void print_sample(fp8lab_trainer *t, FILE *con, long step) {
    const int T = t->cfg.seq, n = t->cfg.sample_len;
    const int np = SAMPLE_PROMPT < T ? SAMPLE_PROMPT : T;
    /* the prompt: the start of the validation split (else of the first training shard) */
    const fp8lab_loader *L = t->has_val ? &t->val : &t->train;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)T), *tg = malloc(sizeof(int32_t) * (size_t)T),
            *gen = malloc(sizeof(int32_t) * (size_t)n);
    char *a = malloc(12 * (size_t)np + 1), *b = malloc(12 * (size_t)n + 1);
    fp8lab_eval_pos it = {0, 0};
    if (!in || !tg || !gen || !a || !b || fp8lab_loader_eval_next(L, &it, in, tg) != 1) goto done;
    if (fp8lab_generate(t->g, t->be, in, np, n, T, SAMPLE_TEMPERATURE, &t->sample_rng, gen)) {
        if (con) fprintf(con, "sample at step %ld failed: %s\n", step, fp8lab_last_error());
        goto done;
    }
    fp8lab_escape_bytes(in, np, a);
    fp8lab_escape_bytes(gen, n, b);
    if (con) {
        fprintf(con, "sample at step %ld (temperature %.1f): \"%s\" -> \"%s\"\n", step, SAMPLE_TEMPERATURE, a, b);
        fflush(con);
    }
done:
    free(in);
    free(tg);
    free(gen);
    free(a);
    free(b);
}

/* Whether what one rank did (rc: 0 ok) failed on any rank; a rank that did not fail gets an error naming what
   failed elsewhere, so every rank leaves the run at the same point instead of waiting in the next collective. */
static int any_failed(fp8lab_trainer *t, int rc, const char *what) {
    const int any = fp8lab_dp_any(t->comm, rc != 0);
    if (any < 0) return -1;
    if (any && !rc) FP8LAB_ERR_RT("rank %d of %d: %s failed on another rank", t->rank, t->size, what);
    return any ? -1 : 0;
}

/* Rank 0's checkpoint of the replicated model, the outcome shared. */
static int save_checkpoint(fp8lab_trainer *t, fp8lab_run_result *r) {
    if (!t->cfg.zero || t->size == 1) {
        const int rc = t->rank == 0 ? fp8lab_checkpoint_save(t, r->checkpoint, sizeof r->checkpoint) : 0;
        return any_failed(t, rc, "saving the checkpoint (rank 0)");
    }
    /* ZeRO-1: each rank writes its block of the moments; the model file gets the FP32 masters, and the working
       weights go back to their gathered rounding after */
    if (fp8lab_zero_setup(t) || fp8lab_zero_masters_out(&t->zero)) return -1;
    const fp8lab_zero *z = &t->zero;
    const fp8lab_opt_shards sh = {.ranks = t->size, .count = z->count, .tail = z->tail, .floats = z->floats,
                                  .dtype = t->opt.dtype};
    const int rc = fp8lab_checkpoint_save_shards(t, &sh, r->checkpoint, sizeof r->checkpoint);
    return any_failed(t, rc || fp8lab_zero_round(&t->zero), "saving the checkpoint");
}

/* The run folder, on rank 0: created, locked, tidied, and refused when it holds another run. */
static int open_run_folder(fp8lab_trainer *t, const fp8lab_run_opts *o, int *lock) {
    const char *out = t->cfg.out;
    if (mkdir_p(out) || (*lock = lock_run_folder(out)) < 0) return -1;
    fp8lab_checkpoint_tidy(out, o->quiet ? NULL : stderr); /* a run killed while saving */
    if (!o->resume && has_checkpoints(out)) {
        FP8LAB_ERR("--out %s holds checkpoints of an earlier run: --resume continues it, or choose another --out", out);
        return -1;
    }
    return 0;
}

/* One run's state across train_run's steps. */
typedef struct {
    const fp8lab_train_cfg *cfg;
    const fp8lab_run_opts *o;
    fp8lab_run_result *r;
    fp8lab_comm *comm;
    fp8lab_trainer *t;
    int rank, size;
    FILE *con;    /* where rank 0 speaks; NULL on the other ranks and with --quiet */
    int tty;      /* con is a terminal: a progress bar instead of lines */
    int bar_open; /* the progress bar is the terminal's current line */
    FILE *mf;     /* metrics.jsonl, rank 0 */
    int lock;     /* the run folder's lock, rank 0 */
    long start_step, last_ckpt;
    /* metrics rows count one device (tokens per GPU-hour, MFU, USD per Mtok stay per device); tokens/s is
       multiplied by the ranks */
    double tokens_per_step, job_tokens_per_step;
} run_t;

/* The trainer on every rank, or on none: a rank that cannot build it leaves, and the others learn it here rather
   than in the first step. */
static int create_everywhere(run_t *u) {
    u->t = trainer_create(u->cfg, u->o->profile, u->comm);
    /* without a trainer a deferred communicator has no NCCL under it, and every rank failed alike */
    if (!u->t && fp8lab_comm_is_deferred(u->comm)) return -1;
    if (u->size > 1) {
        const int any = fp8lab_dp_any(u->comm, !u->t);
        if (any && u->t) FP8LAB_ERR_RT("rank %d of %d: setting up the trainer failed on another rank", u->rank, u->size);
        if (any) {
            fp8lab_trainer_destroy(u->t);
            u->t = NULL;
            return -1;
        }
    }
    return u->t ? 0 : -1;
}

/* The run folder (rank 0), the checkpoint to resume from, ZeRO-1's masters and metrics.jsonl (rank 0). */
static int open_outputs(run_t *u) {
    fp8lab_trainer *t = u->t;
    fp8lab_run_result *r = u->r;
    if (any_failed(t, u->rank == 0 ? open_run_folder(t, u->o, &u->lock) : 0, "opening the run folder (rank 0)"))
        return -1;
    /* rank 0 has tidied the folder: every rank now reads the same checkpoints */
    if (u->o->resume) {
        const int k = fp8lab_checkpoint_resume(t, r->checkpoint, sizeof r->checkpoint, u->rank == 0);
        if (any_failed(t, k < 0, "loading the checkpoint")) return -1;
        if (k == 0 && u->con) fprintf(u->con, "--resume: no checkpoint in %s, starting at step 0\n", u->cfg->out);
        if (k == 1) {
            r->resumed_from = t->step;
            if (u->con) fprintf(u->con, "resumed from %s (step %ld)\n", r->checkpoint, t->step);
        }
    }
    /* ZeRO-1 takes the weights as they now are (initial or loaded) as its FP32 masters */
    if (fp8lab_zero_setup(t)) return -1;
    snprintf(r->metrics, sizeof r->metrics, "%s/metrics.jsonl", u->cfg->out);
    int mrc = 0;
    if (u->rank == 0) {
        mrc = r->resumed_from >= 0 ? trim_metrics(r->metrics, r->resumed_from) : 0;
        if (!mrc && !(u->mf = fopen(r->metrics, r->resumed_from >= 0 ? "a" : "w"))) {
            FP8LAB_ERR_RT("%s: cannot open: %s", r->metrics, strerror(errno));
            mrc = -1;
        }
    }
    return any_failed(t, mrc, "opening metrics.jsonl (rank 0)") ? -1 : 0;
}

/* The simulator's step-time prediction, and what the run is, on the console. */
static void describe_run(run_t *u) {
    const fp8lab_train_cfg *cfg = u->cfg;
    const fp8lab_trainer *t = u->t;
    fp8lab_run_result *r = u->r;
    const int B = cfg->batch, T = cfg->seq, size = u->size;
    char note[256];
    const char *prec = t->recipe == FP8LAB_RECIPE_FP32 ? "fp32" : t->recipe == FP8LAB_RECIPE_BF16 ? "bf16" : "fp8";
    const fp8lab_predict_in pin = {.model = &t->model, .backend = t->be->name, .device = t->dev.name, .batch = B,
                                   .seq = T, .prec = prec};
    r->sim_step_ms = fp8lab_train_predict_step_ms(&pin, note, sizeof note);
    snprintf(r->sim_note, sizeof r->sim_note, "%s", note);
    FILE *con = u->con;
    if (!con) return;
    fprintf(con, "device: %s (%s backend)\n", t->device, t->be->name);
    fprintf(con, "model: %s, %lld parameters, %ld layers x %ld wide, vocab %ld; %.3g training FLOPs/token\n",
            t->model.model_type, (long long)r->params, t->model.layers, t->model.hidden, t->model.vocab,
            t->flops_per_token);
    if (size > 1)
        fprintf(con, "ranks: %d (%s communicator), data parallel: a global batch of %d x %d rows, %d per rank%s%s%s; "
                     "gradient sums %s\n",
                size, u->comm->name, size, B, B,
                cfg->zero ? "; ZeRO-1: AdamW sharded over the ranks, weights all-gathered in " : "",
                cfg->zero ? fp8lab_zero_gather_name(t->zero.gather) : "",
                cfg->zero && t->zero.gather != FP8LAB_ZERO_GATHER_F32 ? " (FP32 masters sharded)" : "",
                fp8lab_gpt_exact_planes(t->g, NULL, NULL) ? "exact (split-invariant)" : "in FP32");
    fprintf(con, "run: %ld steps of %d x %d tokens%s, recipe %s, AdamW lr %g (warmup %d, cosine to %g), "
                 "weight decay %g, clip %g, %s moments\n",
            cfg->steps, B, T, size > 1 ? " per rank" : "", cfg->recipe, cfg->lr, cfg->warmup,
            cfg->lr * cfg->min_lr_ratio, cfg->weight_decay, cfg->clip, cfg->fp32_moments ? "FP32" : "BF16");
    fprintf(con, "data: %s (%lld tokens)%s%s%s\n", t->train_glob, (long long)t->train.total_tokens,
            t->has_val ? "; validation " : "; no validation data", t->has_val ? t->val_glob : "",
            t->dev.peak_tflops_bf16 > 0 ? "" : "; MFU: null (peaks unknown for this device)");
    if (isfinite(r->sim_step_ms)) fprintf(con, "predicted step time: %.2f ms (%s)\n", r->sim_step_ms, note);
    else fprintf(con, "predicted step time: none (%s)\n", note);
    fflush(con);
}

/* The step's row on the console: a progress bar on a terminal, else a line every print_every steps. */
static void print_step(run_t *u, const fp8lab_metrics_row *row, int val_now) {
    FILE *con = u->con;
    const long s = row->step;
    if (!con) return;
    if (u->tty) {
        const double per = u->r->train_s / (double)(s - u->start_step);
        fp8lab_metrics_bar(con, row, u->r->val_loss, per * (double)(u->cfg->steps - s));
        u->bar_open = 1;
        if (val_now) {
            fprintf(con, "\nstep %5ld | val loss %.4f\n", s, row->val_loss);
            u->bar_open = 0;
        }
        return;
    }
    if (s % u->cfg->print_every == 0 || s == 1 || s == u->cfg->steps || row->skipped) fp8lab_metrics_print(con, row);
    if (val_now) fprintf(con, "step %5ld | val loss %.4f\n", s, row->val_loss);
}

/* After a step: a sample of text (rank 0) and a checkpoint when they are due. */
static int after_step(run_t *u, long s) {
    const fp8lab_train_cfg *cfg = u->cfg;
    if (u->rank == 0 && cfg->sample_every > 0 && (s % cfg->sample_every == 0 || s == cfg->steps)) {
        if (u->bar_open) fprintf(u->con, "\n");
        u->bar_open = 0;
        print_sample(u->t, u->con, s);
    }
    if (cfg->checkpoint_every > 0 && s % cfg->checkpoint_every == 0 && s != cfg->steps) {
        if (save_checkpoint(u->t, u->r)) return -1;
        u->last_ckpt = s;
        if (u->con) fprintf(u->con, "%scheckpoint: %s\n", u->bar_open ? "\n" : "", u->r->checkpoint);
        u->bar_open = 0;
    }
    return 0;
}

/* One training step with its metrics row, validation, console line, sample and checkpoint. */
static int one_step(run_t *u) {
    const fp8lab_train_cfg *cfg = u->cfg;
    fp8lab_trainer *t = u->t;
    fp8lab_run_result *r = u->r;
    fp8lab_step_metrics sm;
    fp8lab_record_enable(t->be, 1); /* a no-op unless profiling */
    const int step_rc = fp8lab_trainer_step(t, &sm);
    fp8lab_record_enable(t->be, 0);
    if (step_rc) return -1;
    if (u->o->profile) {
        r->profile.steps++;
        r->profile.step_s += sm.step_s;
    }
    const long s = sm.step;
    fp8lab_metrics_row row = {.step = s, .steps = cfg->steps, .loss = sm.loss, .lr = sm.lr, .grad_norm = sm.grad_norm,
                              .step_s = sm.step_s, .val_loss = NAN, .skipped = sm.skipped, .device = t->device};
    fp8lab_metrics_derive(&row, u->tokens_per_step, t->flops_per_token, &t->dev, cfg->price_per_gpu_hour);
    row.tokens_per_s *= u->size;
    r->tokens += (long)u->job_tokens_per_step;
    r->train_s += sm.step_s;
    r->grad_buckets = sm.buckets, r->grad_buckets_early = sm.buckets_early;
    if (!isfinite(r->first_loss)) r->first_loss = sm.loss;
    r->last_loss = sm.loss;
    const int val_now = t->has_val && cfg->val_every > 0 && (s % cfg->val_every == 0 || s == cfg->steps);
    if (val_now) {
        if (fp8lab_trainer_val_loss(t, &row.val_loss, NULL)) return -1;
        r->val_loss = row.val_loss;
        if (!isfinite(r->first_val_loss)) r->first_val_loss = row.val_loss;
    }
    if (any_failed(t, u->mf ? fp8lab_metrics_write(u->mf, r->metrics, &row) : 0, "writing metrics.jsonl (rank 0)"))
        return -1;
    print_step(u, &row, val_now);
    return after_step(u, s);
}

/* Steps until cfg->steps, a signal on any rank, or --stop-at. */
static int run_steps(run_t *u) {
    while (u->t->step < u->cfg->steps) {
        /* a signal reaches the ranks at different moments: they stop together if it reached any of them */
        const int stop = fp8lab_dp_any(u->comm, u->o->interrupt && *u->o->interrupt);
        if (stop < 0) return -1;
        if (stop || (u->o->stop_at > 0 && u->t->step >= u->o->stop_at)) {
            u->r->interrupted = 1;
            return 0;
        }
        if (one_step(u)) return -1;
    }
    return 0;
}

/* The last checkpoint, and whether the ranks' weights agree. */
static int finish(run_t *u) {
    fp8lab_trainer *t = u->t;
    fp8lab_run_result *r = u->r;
    if (u->bar_open) fprintf(u->con, "\n");
    u->bar_open = 0;
    if (u->last_ckpt != t->step) {
        if (save_checkpoint(t, r)) return -1;
        if (u->con) fprintf(u->con, "checkpoint: %s\n", r->checkpoint);
    }
    /* one rank: nothing to compare, and no copy of the weights off the device */
    r->weights_identical = 1;
    if (u->size > 1 && fp8lab_dp_weights_identical(u->comm, t->g, t->be, &r->weights_identical, &r->weights_crc))
        return -1;
    if (!r->weights_identical && u->rank == 0)
        fprintf(stderr, "warning: the weights differ across the %d ranks at step %ld (CRC-32C of rank 0: %08x)\n",
                u->size, t->step, r->weights_crc);
    r->step = t->step;
    r->tokens_per_s = r->train_s > 0 ? (double)r->tokens / r->train_s : NAN;
    return 0;
}

static void print_summary(const run_t *u) {
    const fp8lab_trainer *t = u->t;
    const fp8lab_run_result *r = u->r;
    FILE *con = u->con;
    const int size = u->size;
    char where[224];
    if (size > 1) snprintf(where, sizeof where, "%d ranks of %s", size, t->device);
    else snprintf(where, sizeof where, "%s", t->device);
    fprintf(con, "%s at step %ld in %.1f s (%.1f s training): %ld tokens, %.0f tokens/s on %s",
            r->interrupted ? "stopped" : "done", t->step, r->wall_s, r->train_s, r->tokens, r->tokens_per_s, where);
    if (isfinite(r->val_loss)) fprintf(con, "; val loss %.4f (from %.4f)", r->val_loss, r->first_val_loss);
    fprintf(con, "\n");
    if (size > 1)
        fprintf(con, "weights %s across %d ranks (CRC-32C %08x on rank 0)\n",
                r->weights_identical ? "identical" : "DIFFER", size, r->weights_crc);
    if (size > 1 && !u->cfg->zero)
        fprintf(con, "gradients all-reduced in %d bucket%s a step, %d of them started during the backward\n",
                r->grad_buckets, r->grad_buckets == 1 ? "" : "s", r->grad_buckets_early);
    if (r->tokens > 0) {
        const double ms = 1e3 * r->train_s / (double)(t->step - u->start_step);
        if (isfinite(r->sim_step_ms))
            fprintf(con, "step time: measured %.2f ms on %s, simulated %.2f ms (%s): ratio %.2f\n", ms, t->device,
                    r->sim_step_ms, r->sim_note, ms / r->sim_step_ms);
        else
            fprintf(con, "step time: measured %.2f ms on %s (%s)\n", ms, t->device, r->sim_note);
    }
}

static int train_run(const fp8lab_train_cfg *cfg, const fp8lab_run_opts *o, fp8lab_run_result *r, fp8lab_comm *comm) {
    const double t_start = fp8lab_now();
    run_t u = {.cfg = cfg, .o = o, .r = r, .comm = comm, .rank = fp8lab_dp_rank(comm), .size = fp8lab_dp_size(comm),
               .lock = -1, .tokens_per_step = (double)cfg->batch * cfg->seq};
    u.job_tokens_per_step = u.tokens_per_step * u.size;
    if (create_everywhere(&u)) return -1;
    fp8lab_trainer *t = u.t;
    u.con = o->quiet || u.rank != 0 ? NULL : o->json ? stderr : stdout; /* rank 0 alone speaks */
    u.tty = u.con && isatty(fileno(u.con));
    snprintf(r->device, sizeof r->device, "%s", t->device);
    r->params = fp8lab_gpt_param_count(&t->model);
    int rc = -1;
    if (open_outputs(&u)) goto done;
    describe_run(&u);
    if (t->has_val && cfg->val_every > 0 && r->resumed_from < 0) {
        if (fp8lab_trainer_val_loss(t, &r->first_val_loss, NULL)) goto done;
        r->val_loss = r->first_val_loss;
        if (u.con) fprintf(u.con, "step     0 | val loss %.4f\n", r->first_val_loss);
    }
    u.last_ckpt = r->resumed_from;
    u.start_step = t->step;
    if (run_steps(&u) || finish(&u)) goto done;
    r->wall_s = fp8lab_now() - t_start;
    if (u.con) print_summary(&u);
    if (o->profile) fp8lab_record_totals(t->be, r->profile.kinds);
    if (u.con) {
        if (o->profile) fp8lab_profile_print(u.con, &r->profile, t->device);
        fflush(u.con);
    }
    rc = 0;
done:
    if (u.mf) fclose(u.mf);
    if (u.lock >= 0) close(u.lock);
    if (rc && u.bar_open) fprintf(u.con, "\n");
    fp8lab_trainer_destroy(t);
    return rc;
}

int fp8lab_train_run(const fp8lab_train_cfg *cfg, const fp8lab_run_opts *o, fp8lab_run_result *r) {
    memset(r, 0, sizeof *r);
    r->first_loss = r->last_loss = r->first_val_loss = r->val_loss = r->sim_step_ms = NAN;
    r->resumed_from = -1;
    r->steps = cfg->steps;
    r->ranks = 1;
    fp8lab_comm *comm = o->comm ? o->comm : fp8lab_comm_from_env();
    if (!comm) return -1;
    r->rank = comm->rank;
    r->ranks = comm->size;
    const int rc = train_run(cfg, o, r, comm);
    if (!o->comm) fp8lab_comm_destroy(comm);
    return rc;
}
