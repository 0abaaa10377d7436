/* fp8lab train: train a GPT-2 or Llama model on llm.c shards (by default a byte-level GPT-2 on the built-in
   corpus, a few minutes on a laptop CPU). The flags are train/config.h's option table plus the few below; a run
   file (--config) is applied first and the flags override it. */
#include <cjson/cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/train_compare.h"
#include "cli/train_ranks.h"
#include "core/error.h"
#include "core/json.h"
#include "core/paths.h"
#include "train/config.h"
#include "train/loop.h"

#define USAGE "fp8lab train [--config configs/runs/NAME.json] [flags]"

static volatile sig_atomic_t g_interrupt = 0;

static void on_signal(int sig) {
    (void)sig;
    g_interrupt = 1;
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

static void print_json(cJSON *o) {
    char *s = cJSON_Print(o);
    if (s) puts(s);
    free(s);
    cJSON_Delete(o);
}

/* "profile": {"steps", "step_ms", "kinds": [{"kind", "calls_per_step", "ms_per_step", "pct_of_step", "tflops" or
   "gbps"}]} */
static void add_profile(cJSON *o, const fp8lab_profile *p) {
    cJSON *j = cJSON_AddObjectToObject(o, "profile");
    const double steps = p->steps > 0 ? (double)p->steps : NAN, step_ms = 1e3 * p->step_s / steps;
    cJSON_AddNumberToObject(j, "steps", (double)p->steps);
    add_num(j, "step_ms", step_ms);
    cJSON *a = cJSON_AddArrayToObject(j, "kinds");
    for (int k = 0; k < FP8LAB_REC_NKINDS; k++) {
        cJSON *e = cJSON_CreateObject();
        const char *unit;
        const double rate = fp8lab_profile_rate(p, (fp8lab_rec_kind)k, &unit), ms = 1e3 * p->kinds[k].seconds / steps;
        cJSON_AddStringToObject(e, "kind", fp8lab_rec_kind_name((fp8lab_rec_kind)k));
        add_num(e, "calls_per_step", (double)p->kinds[k].calls / steps);
        add_num(e, "ms_per_step", ms);
        add_num(e, "pct_of_step", 100 * ms / step_ms);
        add_num(e, unit[0] == 'T' ? "tflops" : "gbps", rate);
        cJSON_AddItemToArray(a, e);
    }
}

/* --compare takes the recipes from its list: a --recipe flag (not a run file's key) is refused with it. */
static int has_flag(int argc, char **argv, const char *flag) {
    const size_t n = strlen(flag);
    for (int i = 0; i < argc; i++)
        if (!strncmp(argv[i], flag, n) && (argv[i][n] == 0 || argv[i][n] == '=')) return 1;
    return 0;
}

static int dry_run(const fp8lab_train_cfg *cfg, int json) {
    fp8lab_model m;
    if (fp8lab_train_load_model(cfg, &m)) return -1;
    fp8lab_train_mem mem;
    if (fp8lab_train_memory(&m, cfg->batch, cfg->seq, cfg->fp32_moments, &mem)) return -1;
    const double G = 1024.0 * 1024.0 * 1024.0;
    const char *name = cfg->init_from ? cfg->init_from : cfg->model ? cfg->model : "default (gpt2-tiny-bytes)";
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", name);
        cJSON_AddStringToObject(o, "model_type", m.model_type);
        FP8LAB_JSON_ADD_NUMBERS(o, {"params", (double)mem.params}, {"batch", cfg->batch}, {"seq", cfg->seq});
        cJSON_AddStringToObject(o, "moments", cfg->fp32_moments ? "f32" : "bf16");
        FP8LAB_JSON_ADD_NUMBERS(cJSON_AddObjectToObject(o, "bytes_per_gpu"), {"params", mem.param_bytes},
                                {"grads", mem.grad_bytes}, {"moments", mem.moment_bytes},
                                {"activations", mem.activation_bytes}, {"total", mem.total_bytes});
        print_json(o);
        return 0;
    }
    printf("dry run (nothing allocated): %s, %s\n", name, m.model_type);
    printf("parameters:   %lld (%.3f B)\n", (long long)mem.params, (double)mem.params / 1e9);
    printf("memory per GPU for B = %d x T = %d (FP32 master weights and gradients, %s AdamW moments):\n",
           cfg->batch, cfg->seq, cfg->fp32_moments ? "FP32" : "BF16");
    printf("  params       %10.3f GiB\n", mem.param_bytes / G);
    printf("  grads        %10.3f GiB\n", mem.grad_bytes / G);
    printf("  moments      %10.3f GiB\n", mem.moment_bytes / G);
    printf("  activations  %10.3f GiB\n", mem.activation_bytes / G);
    printf("  total        %10.3f GiB\n", mem.total_bytes / G);
    return 0;
}

/* The run's result as one JSON object on stdout. */
static void print_result_json(const fp8lab_run_result *r, int profile) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "device", r->device);
    cJSON_AddNumberToObject(o, "ranks", r->ranks);
    cJSON_AddBoolToObject(o, "weights_identical_across_ranks", r->weights_identical);
    FP8LAB_JSON_ADD_NUMBERS(o, {"grad_buckets", r->grad_buckets}, {"grad_buckets_during_backward", r->grad_buckets_early},
                            {"params", (double)r->params}, {"step", (double)r->step}, {"steps", (double)r->steps});
    cJSON_AddBoolToObject(o, "interrupted", r->interrupted);
    if (r->resumed_from >= 0) cJSON_AddNumberToObject(o, "resumed_from", (double)r->resumed_from);
    else cJSON_AddNullToObject(o, "resumed_from");
    add_num(o, "first_loss", r->first_loss);
    add_num(o, "loss", r->last_loss);
    add_num(o, "first_val_loss", r->first_val_loss);
    add_num(o, "val_loss", r->val_loss);
    cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
    add_num(o, "wall_s", r->wall_s);
    add_num(o, "train_s", r->train_s);
    add_num(o, "tokens_per_s", r->tokens_per_s);
    add_num(o, "sim_step_ms", r->sim_step_ms);
    cJSON_AddStringToObject(o, "sim_note", r->sim_note);
    if (profile) add_profile(o, &r->profile);
    cJSON_AddStringToObject(o, "checkpoint", r->checkpoint);
    cJSON_AddStringToObject(o, "metrics", r->metrics);
    print_json(o);
}

/* SIGINT and SIGTERM set g_interrupt (the run stops at the next step with a checkpoint), or back to the default. */
static void catch_signals(int on) {
    if (!on) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C ends the process at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* What `fp8lab train` was asked for. */
typedef struct {
    int argc;
    char **argv;
    fp8lab_train_cfg cfg;
    const char *config, *compare; /* the run file, --compare's list */
    int resume, json, dry, profile, ranks;
    long stop_at;
    char cbuf[4200], mbuf[4200]; /* the run file's and --model's paths, resolved */
} train_args;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

/* The last error on stderr; the exit status it calls for. */
static int report_error(void) {
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    return fp8lab_last_error_exit();
}

/* The run file first, so that every flag overrides it. */
static int load_run_file(train_args *a) {
    for (int i = 0; i < a->argc; i++) {
        if (!strcmp(a->argv[i], "--config") && i + 1 < a->argc) a->config = a->argv[i + 1];
        else if (!strncmp(a->argv[i], "--config=", 9)) a->config = a->argv[i] + 9;
    }
    if (!a->config) return GO_ON;
    a->config = fp8lab_resolve_data(a->config, a->cbuf, sizeof a->cbuf);
    if (fp8lab_train_cfg_load(&a->cfg, a->config)) {
        fprintf(stderr, "error: --config: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_USAGE;
    }
    return GO_ON;
}

/* One of train/config.h's options as a flag that writes into cfg. */
static cli_flag opt_flag(const fp8lab_train_opt *o, fp8lab_train_cfg *cfg) {
    const cli_flag_kind k = o->kind == FP8LAB_OPT_INT      ? FLAG_INT
                            : o->kind == FP8LAB_OPT_LONG   ? FLAG_LONG
                            : o->kind == FP8LAB_OPT_DOUBLE ? FLAG_DOUBLE
                            : o->kind == FP8LAB_OPT_BOOL   ? FLAG_BOOL
                                                           : FLAG_STR;
    return (cli_flag){o->name, k, (char *)cfg + o->offset, o->help, o->range};
}

/* Writes the flag table (at most 64) to flags; returns its length. --config is there for --help: it was read first. */
static int train_flags(train_args *a, cli_flag *flags) {
    int nf = 0;
    flags[nf++] = (cli_flag){"config", FLAG_STR, &a->config, "run file (configs/runs/NAME.json): keys are these "
                                                             "flags with _ for -; flags override it"};
    for (int i = 0; i < FP8LAB_TRAIN_NOPTS; i++) flags[nf++] = opt_flag(&FP8LAB_TRAIN_OPTS[i], &a->cfg);
    flags[nf++] = (cli_flag){"resume", FLAG_BOOL, &a->resume,
                             "continue from the newest valid checkpoint in --out (same flags as the run)"};
    flags[nf++] = (cli_flag){"stop-at", FLAG_LONG, &a->stop_at,
                             "stop after this step with a checkpoint, as if interrupted; the schedule still runs to "
                             "--steps (0: no)",
                             FP8LAB_RANGE(0, 1e9)};
    flags[nf++] = (cli_flag){"profile", FLAG_BOOL, &a->profile,
                             "time every backend op of the training steps and print a table per op kind (GEMM, "
                             "quantize, attention, norm/activation, optimizer, other: calls, ms per step, % of the "
                             "step, TFLOP/s or GB/s); each op is synchronised before and after, which serialises "
                             "the GPU: profiled steps are slower"};
    flags[nf++] = (cli_flag){"dry-run", FLAG_BOOL, &a->dry,
                             "print the parameter count and memory per GPU for B x T; allocate nothing"};
    flags[nf++] = (cli_flag){"compare", FLAG_STR, &a->compare,
                             "RECIPE,RECIPE[,...]: train each recipe on the same seed and data in --out/RECIPE/, "
                             "then print the losses side by side, their relative difference to the first "
                             "recipe's, and chart them in --out/compare.png"};
    flags[nf++] = (cli_flag){"json", FLAG_BOOL, &a->json, "print one JSON object (progress goes to stderr)"};
    flags[nf++] = (cli_flag){"ranks", FLAG_INT, &a->ranks,
                             "data-parallel ranks on this machine: runs this command under `mpirun -np N` (Open "
                             "MPI; leave it out under mpirun or srun)",
                             FP8LAB_RANGE(1, 4096)};
    return nf;
}

static int parse_flags(train_args *a) {
    cli_flag flags[64];
    const int rc = cli_parse(USAGE, flags, train_flags(a, flags), a->argc, a->argv);
    if (rc) return rc == 1 ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
    return GO_ON;
}

static train_compare_opts compare_opts(const train_args *a) {
    return (train_compare_opts){
        .list = a->compare, .json = a->json, .recipe_flag = has_flag(a->argc, a->argv, "--recipe"), .resume = a->resume,
        .dry_run = a->dry, .stop_at = a->stop_at, .profile = a->profile, .interrupt = &g_interrupt};
}

/* The job's ranks (train/dp.h), held for the whole command: MPI starts once per process, and a communicator a run
   makes for itself (--compare's) shares it. NULL after printing the error. */
static fp8lab_comm *job_comm(const train_args *a) {
    fp8lab_comm *comm = fp8lab_comm_from_env();
    if (comm && !(a->compare && comm->size > 1)) return comm;
    if (comm) FP8LAB_ERR("--compare runs on one rank (this is rank %d of %d): start it without mpirun", comm->rank,
                         comm->size);
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    fp8lab_comm_destroy(comm);
    return NULL;
}

/* The whole configuration (its --model found wherever fp8lab runs from), then --compare against the flags. */
static int check_args(train_args *a) {
    if (a->cfg.model) a->cfg.model = fp8lab_resolve_data(a->cfg.model, a->mbuf, sizeof a->mbuf);
    if (fp8lab_train_cfg_check(&a->cfg)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_USAGE;
    }
    const train_compare_opts co = compare_opts(a);
    if (a->compare && train_compare_check(&co)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return FP8LAB_EXIT_USAGE;
    }
    return GO_ON;
}

/* --compare's runs, one after the other on this rank; takes comm. */
static int run_compare(const train_args *a, fp8lab_comm *comm) {
    const train_compare_opts co = compare_opts(a);
    catch_signals(1);
    const int rc = train_compare_run(&a->cfg, &co);
    catch_signals(0);
    fp8lab_comm_destroy(comm);
    return rc;
}

/* The run, on each rank of the job; takes comm. */
static int run_one(const train_args *a, fp8lab_comm *comm) {
    const fp8lab_run_opts ro = {.resume = a->resume, .stop_at = a->stop_at, .json = a->json, .profile = a->profile,
                                .interrupt = &g_interrupt, .comm = comm};
    fp8lab_run_result r;
    catch_signals(1);
    const int rc = fp8lab_train_run(&a->cfg, &ro, &r);
    catch_signals(0);
    if (rc) {
        fp8lab_comm_destroy(comm);
        return report_error();
    }
    if (a->json && r.rank == 0) print_result_json(&r, a->profile); /* under mpirun rank 0 speaks for the job */
    /* every rank leaves after rank 0 has spoken: mpirun ends the job as soon as one rank exits non-zero (the one a
       signal reached exits 130), which must not cut rank 0's report and checkpoint short */
    fflush(stdout);
    if (fp8lab_barrier(comm)) fprintf(stderr, "warning: %s\n", fp8lab_last_error());
    fp8lab_comm_destroy(comm);
    return g_interrupt ? 130 : FP8LAB_EXIT_OK;
}

/* The command's steps; an exit status. */
static int train(train_args *a) {
    int rc;
    if ((rc = load_run_file(a)) != GO_ON || (rc = parse_flags(a)) != GO_ON) return rc;
    if (a->ranks > 1) {
        train_launch_ranks(a->ranks, a->argc, a->argv); /* returns only on failure */
        return report_error();
    }
    if ((rc = check_args(a)) != GO_ON) return rc;
    if (a->dry) return dry_run(&a->cfg, a->json) ? report_error() : FP8LAB_EXIT_OK;
    fp8lab_comm *comm = job_comm(a);
    if (!comm) return fp8lab_last_error_exit();
    return a->compare ? run_compare(a, comm) : run_one(a, comm);
}

int cmd_train(int argc, char **argv) {
    train_args a = {.argc = argc, .argv = argv, .ranks = 1};
    fp8lab_train_cfg_default(&a.cfg);
    const int rc = train(&a);
    fp8lab_train_cfg_free(&a.cfg);
    return rc;
}
