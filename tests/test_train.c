/* train/: the learning-rate schedule, run files (unknown keys and bad values refused), checkpoints (a round trip
   restores every byte of the state; resuming is bit-exact: 2N steps == N steps + resume + N steps, compared as
   file bytes; a corrupt newest checkpoint is refused and the older one used), and a short run whose loss falls.
   Everything on the CPU backend with a tiny byte-level GPT-2 on shards built from a generated text. */
#define _GNU_SOURCE
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "data/build.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/loop.h"
#include "train/schedule.h"

#include "train_fixture.h"

static int write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(s, f);
    return fclose(f);
}

static int setup(void **st) {
    (void)st;
    return fixture_setup("fp8lab_train_", 60000, 12345);
}

static void tiny_cfg(fp8lab_train_cfg *c, const char *out, long steps) {
    fp8lab_train_cfg_default(c);
    c->model = fixture_at("tiny.json");
    c->data = fixture_at("data/data_train_*.bin");
    c->val_data = fixture_at("data/data_val_*.bin");
    c->device = "cpu";
    c->out = out;
    c->steps = steps;
    c->batch = 4;
    c->seq = 32;
    c->warmup = 2;
    c->lr = 3e-3;
    c->val_every = 0;
    c->val_batches = 4;
    c->sample_every = 0;
    c->checkpoint_every = 0;
}

static void *read_all(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)*n + 1);
    if (p && fread(p, 1, (size_t)*n, f) != (size_t)*n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void assert_same_file(const char *a, const char *b) {
    long na = 0, nb = 0;
    void *pa = read_all(a, &na), *pb = read_all(b, &nb);
    if (!pa || !pb) fail_msg("cannot read %s or %s", a, b);
    if (na != nb || memcmp(pa, pb, (size_t)na)) fail_msg("%s and %s differ (%ld and %ld bytes)", a, b, na, nb);
    free(pa);
    free(pb);
}

/* ---- schedule ---------------------------------------------------------------------------------------------------- */

static void lr_schedule(void **st) {
    (void)st;
    const fp8lab_lr_schedule s = {1.0, 0.1, 10, 110};
    assert_float_equal(fp8lab_lr_at(&s, 1), 0.1, 1e-12);
    assert_float_equal(fp8lab_lr_at(&s, 5), 0.5, 1e-12);
    assert_float_equal(fp8lab_lr_at(&s, 10), 1.0, 1e-12);
    assert_float_equal(fp8lab_lr_at(&s, 60), 0.55, 1e-12); /* halfway down the cosine */
    assert_float_equal(fp8lab_lr_at(&s, 35), 0.1 + 0.45 * (1 + cos(M_PI / 4)), 1e-12);
    assert_float_equal(fp8lab_lr_at(&s, 110), 0.1, 1e-12);
    assert_float_equal(fp8lab_lr_at(&s, 500), 0.1, 1e-12);
    for (long k = 11; k < 110; k++) assert_true(fp8lab_lr_at(&s, k + 1) < fp8lab_lr_at(&s, k));
    const fp8lab_lr_schedule nw = {2.0, 0.0, 0, 100};
    assert_float_equal(fp8lab_lr_at(&nw, 1), 2.0 * 0.5 * (1 + cos(M_PI * 0.01)), 1e-12);
    assert_float_equal(fp8lab_lr_at(&nw, 100), 0.0, 1e-12);
}

/* ---- run files ----------------------------------------------------------------------------------------------- */

static void run_file_keys(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    fp8lab_train_cfg_default(&c);
    write_text(fixture_at("run_ok.json"), "{\"description\": \"x\", \"steps\": 7, \"weight_decay\": 0.05, "
                                  "\"fp32_moments\": true, \"recipe\": \"fp32\", \"val_data\": null}");
    assert_int_equal(fp8lab_train_cfg_load(&c, fixture_at("run_ok.json")), 0);
    assert_int_equal(c.steps, 7);
    assert_float_equal(c.weight_decay, 0.05, 0);
    assert_int_equal(c.fp32_moments, 1);
    fp8lab_train_cfg_free(&c);
    write_text(fixture_at("run_bad.json"), "{\"steps\": 7, \"learning_rate\": 0.1}");
    assert_int_equal(fp8lab_train_cfg_load(&c, fixture_at("run_bad.json")), -1);
    assert_non_null(strstr(fp8lab_last_error(), "unknown key \"learning_rate\""));
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    write_text(fixture_at("run_range.json"), "{\"batch\": 0}");
    assert_int_equal(fp8lab_train_cfg_load(&c, fixture_at("run_range.json")), -1);
    assert_non_null(strstr(fp8lab_last_error(), "batch"));
    write_text(fixture_at("run_frac.json"), "{\"steps\": 1.5}");
    assert_int_equal(fp8lab_train_cfg_load(&c, fixture_at("run_frac.json")), -1);
    fp8lab_train_cfg_free(&c);
    /* the table and the JSON agree: to_json then from_json gives the same values */
    fp8lab_train_cfg a, b;
    fp8lab_train_cfg_default(&a);
    a.steps = 99;
    a.lr = 0.25;
    a.data = "x*.bin";
    cJSON *j = fp8lab_train_cfg_to_json(&a);
    fp8lab_train_cfg_default(&b);
    assert_int_equal(fp8lab_train_cfg_from_json(&b, j, "rt"), 0);
    assert_int_equal(b.steps, 99);
    assert_float_equal(b.lr, 0.25, 0);
    assert_string_equal(b.data, "x*.bin");
    cJSON_Delete(j);
    fp8lab_train_cfg_free(&b);
}

/* ---- checkpoints --------------------------------------------------------------------------------------------- */

static fp8lab_trainer *make(const fp8lab_train_cfg *c) {
    fp8lab_trainer *t = fp8lab_trainer_create(c);
    if (!t) fail_msg("trainer: %s", fp8lab_last_error());
    return t;
}

static void steps(fp8lab_trainer *t, int n) {
    for (int i = 0; i < n; i++)
        if (fp8lab_trainer_step(t, NULL)) fail_msg("step: %s", fp8lab_last_error());
}

static void checkpoint_round_trip(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    tiny_cfg(&c, fixture_at("rt"), 20);
    fp8lab_trainer *a = make(&c);
    steps(a, 3);
    char path[FP8LAB_TRAIN_PATH_MAX];
    if (fp8lab_checkpoint_save(a, path, sizeof path)) fail_msg("save: %s", fp8lab_last_error());
    assert_string_equal(path, fixture_at("rt/checkpoint-3"));
    static const char *files[] = {"model.safetensors", "config.json", "optimizer.safetensors",
                                  "trainer_state.json"};
    for (int i = 0; i < 4; i++) {
        char f[FP8LAB_TRAIN_PATH_MAX + 64];
        snprintf(f, sizeof f, "%s/%s", path, files[i]);
        assert_int_equal(access(f, R_OK), 0);
    }
    fp8lab_trainer *b = make(&c);
    if (fp8lab_checkpoint_load(b, path)) fail_msg("load: %s", fp8lab_last_error());
    assert_int_equal(b->step, 3);
    const size_t pb = sizeof(float) * (size_t)a->opt.floats, mb = fp8lab_optim_moment_bytes(&a->opt);
    assert_memory_equal(fp8lab_gpt_params(a->g), fp8lab_gpt_params(b->g), pb);
    assert_memory_equal(a->opt.m, b->opt.m, mb);
    assert_memory_equal(a->opt.v, b->opt.v, mb);
    assert_int_equal(a->train.pos.sample, b->train.pos.sample);
    assert_int_equal(a->train.pos.shard, b->train.pos.shard);
    assert_int_equal(a->sample_rng.s, b->sample_rng.s);
    /* and both continue identically */
    fp8lab_step_metrics ma, mbm;
    assert_int_equal(fp8lab_trainer_step(a, &ma), 0);
    assert_int_equal(fp8lab_trainer_step(b, &mbm), 0);
    assert_true(ma.loss == mbm.loss);
    assert_memory_equal(fp8lab_gpt_params(a->g), fp8lab_gpt_params(b->g), pb);
    /* the weights load alone, as --init-from does, into a fresh model */
    fp8lab_trainer *w = make(&c);
    assert_int_equal(fp8lab_load_weights(w->g, w->be, path), 0);
    fp8lab_gpt_tensor x, y;
    assert_int_equal(fp8lab_gpt_tensor_get(w->g, "transformer.h.1.mlp.c_fc.weight", &x), 0);
    assert_int_equal(fp8lab_gpt_tensor_get(b->g, "transformer.h.1.mlp.c_fc.weight", &y), 0);
    assert_int_not_equal(memcmp(x.param, y.param, sizeof(float) * (size_t)x.numel), 0); /* b stepped on */
    /* Hugging Face's own GPT-2 files name the tensors without "transformer." and carry extra buffers */
    {
        char mp[FP8LAB_TRAIN_PATH_MAX + 64];
        snprintf(mp, sizeof mp, "%s/model.safetensors", path);
        fp8lab_st *src = NULL;
        assert_int_equal(fp8lab_st_open(mp, &src), 0);
        const int n = fp8lab_st_count(src);
        fp8lab_st_entry *e = calloc((size_t)n + 1, sizeof *e);
        char(*names)[96] = calloc((size_t)n, sizeof *names);
        for (int i = 0; i < n; i++) {
            const fp8lab_st_tensor *t = fp8lab_st_at(src, i);
            snprintf(names[i], sizeof names[i], "%s", strncmp(t->name, "transformer.", 12) ? t->name : t->name + 12);
            e[i] = (fp8lab_st_entry){names[i], t->dtype, t->ndim, t->shape, t->data};
        }
        const int64_t bshape[2] = {2, 2};
        const float bias[4] = {1, 0, 1, 1};
        e[n] = (fp8lab_st_entry){"h.0.attn.bias", FP8LAB_ST_F32, 2, bshape, bias};
        mkdir(fixture_at("hf"), 0777);
        assert_int_equal(fp8lab_st_write(fixture_at("hf/model.safetensors"), e, n + 1, NULL, 0), 0);
        write_text(fixture_at("hf/config.json"), FIXTURE_TINY_MODEL);
        free(e);
        free(names);
        fp8lab_st_close(src);
        fp8lab_trainer *h = make(&c);
        if (fp8lab_load_weights(h->g, h->be, fixture_at("hf"))) fail_msg("hf weights: %s", fp8lab_last_error());
        assert_memory_equal(fp8lab_gpt_params(h->g), fp8lab_gpt_params(w->g), pb);
        fp8lab_trainer_destroy(h);
    }
    fp8lab_trainer_destroy(a);
    fp8lab_trainer_destroy(b);
    fp8lab_trainer_destroy(w);
    /* a model of other shapes is refused naming the tensor */
    write_text(fixture_at("wide.json"), "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_embd\": 64, \"n_layer\": 2, "
                                "\"n_head\": 2, \"n_positions\": 32}");
    fp8lab_train_cfg c2 = c;
    c2.model = fixture_at("wide.json");
    fp8lab_trainer *d = make(&c2);
    assert_int_equal(fp8lab_checkpoint_load(d, path), -1);
    assert_non_null(strstr(fp8lab_last_error(), "transformer.wte.weight"));
    fp8lab_trainer_destroy(d);
}

static void resume_is_bit_exact(void **st) {
    (void)st;
    const long N = 4;
    fp8lab_train_cfg c;
    fp8lab_run_result r;
    /* A: 2N steps in one go */
    tiny_cfg(&c, fixture_at("A"), 2 * N);
    c.checkpoint_every = (int)N;
    fp8lab_run_opts o = {.quiet = 1};
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run A: %s", fp8lab_last_error());
    assert_int_equal(r.step, 2 * N);
    /* B: N steps (stopped as if interrupted), then resumed to 2N */
    tiny_cfg(&c, fixture_at("B"), 2 * N);
    c.checkpoint_every = (int)N;
    o.stop_at = N;
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run B1: %s", fp8lab_last_error());
    assert_int_equal(r.step, N);
    assert_true(r.interrupted);
    o.stop_at = 0;
    /* a fresh run into a folder with checkpoints is refused */
    assert_int_equal(fp8lab_train_run(&c, &o, &r), -1);
    assert_non_null(strstr(fp8lab_last_error(), "--resume"));
    /* as if the run had died two steps past its checkpoint: those metrics lines are dropped on resume */
    FILE *mf = fopen(fixture_at("B/metrics.jsonl"), "a");
    assert_non_null(mf);
    fprintf(mf, "{\"step\":5,\"loss\":1}\n{\"step\":6,\"loss\":1}\n");
    fclose(mf);
    o.resume = 1;
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run B2: %s", fp8lab_last_error());
    assert_int_equal(r.resumed_from, N);
    assert_int_equal(r.step, 2 * N);
    assert_same_file(fixture_at("A/checkpoint-8/model.safetensors"), fixture_at("B/checkpoint-8/model.safetensors"));
    assert_same_file(fixture_at("A/checkpoint-8/optimizer.safetensors"), fixture_at("B/checkpoint-8/optimizer.safetensors"));
    assert_same_file(fixture_at("A/checkpoint-4/model.safetensors"), fixture_at("B/checkpoint-4/model.safetensors"));
    /* metrics: one line per step in both runs */
    long na = 0, nb = 0;
    char *ma = read_all(fixture_at("A/metrics.jsonl"), &na), *mb = read_all(fixture_at("B/metrics.jsonl"), &nb);
    assert_non_null(ma);
    assert_non_null(mb);
    int la = 0, lb = 0;
    for (long i = 0; i < na; i++) la += ma[i] == '\n';
    for (long i = 0; i < nb; i++) lb += mb[i] == '\n';
    assert_int_equal(la, 2 * N);
    assert_int_equal(lb, 2 * N);
    free(ma);
    free(mb);
}

static void corrupt_checkpoint_falls_back(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    tiny_cfg(&c, fixture_at("C"), 6);
    c.checkpoint_every = 3;
    fp8lab_run_opts o = {.quiet = 1};
    fp8lab_run_result r;
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run C: %s", fp8lab_last_error());
    /* flip one byte of the newest model's data */
    FILE *f = fopen(fixture_at("C/checkpoint-6/model.safetensors"), "r+b");
    assert_non_null(f);
    fseek(f, -100, SEEK_END);
    int ch = fgetc(f);
    fseek(f, -100, SEEK_END);
    fputc(ch ^ 0x40, f);
    fclose(f);
    fp8lab_trainer *t = make(&c);
    char path[FP8LAB_TRAIN_PATH_MAX];
    assert_int_equal(fp8lab_checkpoint_resume(t, path, sizeof path, 0), 1);
    assert_string_equal(path, fixture_at("C/checkpoint-3"));
    assert_int_equal(t->step, 3);
    /* the state file corrupt too: the same */
    write_text(fixture_at("C/checkpoint-3/trainer_state.json"), "{\"format\": \"fp8lab-trainer-state\"");
    assert_int_equal(fp8lab_checkpoint_resume(t, path, sizeof path, 0), -1);
    assert_non_null(strstr(fp8lab_last_error(), "model.safetensors"));
    fp8lab_trainer_destroy(t);
    /* a state whose checksum does not match its content */
    tiny_cfg(&c, fixture_at("D"), 2);
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run D: %s", fp8lab_last_error());
    long n = 0;
    char *s = read_all(fixture_at("D/checkpoint-2/trainer_state.json"), &n);
    assert_non_null(s);
    s[n] = 0;
    char *p = strstr(s, "\"skipped\"");
    assert_non_null(p);
    p = strchr(p, '0');
    assert_non_null(p);
    *p = '1';
    write_text(fixture_at("D/checkpoint-2/trainer_state.json"), s);
    free(s);
    t = make(&c);
    assert_int_equal(fp8lab_checkpoint_load(t, fixture_at("D/checkpoint-2")), -1);
    assert_non_null(strstr(fp8lab_last_error(), "CRC-32C"));
    fp8lab_trainer_destroy(t);
}

static void short_run_learns(void **st) {
    (void)st;
    fp8lab_train_cfg c;
    tiny_cfg(&c, fixture_at("L"), 60);
    c.batch = 8;
    c.lr = 1e-2;
    c.warmup = 5;
    c.val_every = 60;
    c.val_batches = 8;
    fp8lab_run_opts o = {.quiet = 1};
    fp8lab_run_result r;
    if (fp8lab_train_run(&c, &o, &r)) fail_msg("run: %s", fp8lab_last_error());
    printf("loss %.3f -> %.3f, val %.3f -> %.3f\n", r.first_loss, r.last_loss, r.first_val_loss, r.val_loss);
    assert_true(r.first_val_loss > 5.0 && r.first_val_loss < 6.0); /* ~ln 256 = 5.55 at initialisation */
    assert_true(r.val_loss < 3.3);
    assert_true(r.last_loss < r.first_loss - 2.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lr_schedule),
        cmocka_unit_test(run_file_keys),
        cmocka_unit_test(checkpoint_round_trip),
        cmocka_unit_test(resume_is_bit_exact),
        cmocka_unit_test(corrupt_checkpoint_falls_back),
        cmocka_unit_test(short_run_learns),
    };
    return cmocka_run_group_tests(tests, setup, fixture_teardown);
}
