/* The model (csrc/nn/) against PyTorch + Hugging Face transformers, with no Python at test time: for each of
   tests/data/ref_gpt2/ and tests/data/ref_llama/ (written by scripts/make_reference.py: a tiny random
   GPT2LMHeadModel with a tied head and a LlamaForCausalLM with grouped-query attention and an untied head, saved
   by save_pretrained, and PyTorch's float64 logits, loss and gradients on their float32 weights), load the
   folder as `fp8lab eval --init-from` does (config.json, model.safetensors), run the CPU backend's FP32 forward
   and backward on the stored tokens and compare:
     logits     max |ours - ref| / max |ref| over the whole tensor     <= 1e-5
     loss       |ours - ref| / |ref|                                   <= 1e-5
     gradients  ||ours - ref||_F / ||ref||_F per tensor                <= 1e-4
   Every parameter of the model must have a reference gradient of the same shape and every reference gradient
   a parameter (GPT-2's transformer.wte.weight gradient holds both its uses: embedding and output head). The
   reference is float64 on the saved values, so the differences are our FP32 rounding (~1e-7 relative per op,
   a few ops deep), far under the bounds; a wrong formula (GELU variant, RoPE pairing, norm epsilon, GQA head
   mapping, a missed tied-head term) is 1e-3 or more (transformers 5's rope_parameters.rope_theta, not read before,
   gave 7e-2 on the logits). Per-tensor errors are printed. Also: a file with a weight the model does not have
   is refused.
   The data are found under $FP8LAB_SOURCE_DIR/tests/data (ctest sets it), else next to this source file. */
#define _GNU_SOURCE /* mkdtemp */
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

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "nn/model.h"
#include "train/checkpoint.h"

#define LOGITS_TOL 1e-5
#define LOSS_TOL 1e-5
#define GRAD_TOL 1e-4
#define GRAD_PREFIX "grad."

static fp8lab_backend *be;

/* The folder tests/data/NAME: under FP8LAB_SOURCE_DIR, else beside this file (a build run outside ctest). */
static void data_dir(const char *name, char *out, size_t cap) {
    const char *src = getenv("FP8LAB_SOURCE_DIR");
    if (src && *src) {
        snprintf(out, cap, "%s/tests/data/%s", src, name);
        return;
    }
    char here[1024];
    snprintf(here, sizeof here, "%s", __FILE__);
    char *slash = strrchr(here, '/');
    if (slash) *slash = 0;
    else snprintf(here, sizeof here, ".");
    snprintf(out, cap, "%s/data/%s", here, name);
}

static float *host_floats(int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    assert_non_null(p);
    return p;
}

/* max |a - b| / max |ref| */
static double max_rel(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    return den > 0 ? num / den : num;
}

/* ||a - b||_F / ||ref||_F */
static double frob_rel(const float *a, const float *ref, int64_t n) {
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

typedef struct {
    const fp8lab_st_tensor *t;
    int B, T;
    int32_t *tok, *tgt; /* [B*T] each */
} ref_tokens;

/* tokens int32 [B][T+1] -> inputs tok[:, :T], targets tok[:, 1:] */
static void read_tokens(const fp8lab_st *st, ref_tokens *r) {
    r->t = fp8lab_st_find(st, "tokens");
    assert_non_null(r->t);
    assert_int_equal(r->t->dtype, FP8LAB_ST_I32);
    assert_int_equal(r->t->ndim, 2);
    r->B = (int)r->t->shape[0];
    r->T = (int)r->t->shape[1] - 1;
    assert_true(r->B >= 1 && r->T >= 1);
    const int W = r->T + 1;
    int32_t *all = malloc(sizeof(int32_t) * (size_t)r->B * W);
    r->tok = malloc(sizeof(int32_t) * (size_t)r->B * r->T);
    r->tgt = malloc(sizeof(int32_t) * (size_t)r->B * r->T);
    assert_true(all && r->tok && r->tgt);
    memcpy(all, r->t->data, r->t->nbytes); /* the mapping need not be aligned for int32 */
    for (int b = 0; b < r->B; b++)
        for (int t = 0; t < r->T; t++) {
            r->tok[b * r->T + t] = all[b * W + t];
            r->tgt[b * r->T + t] = all[b * W + t + 1];
        }
    free(all);
}

static void check_folder(const char *name) {
    char dir[4096], path[4200];
    data_dir(name, dir, sizeof dir);
    struct stat sb;
    if (stat(dir, &sb)) fail_msg("%s: missing (scripts/make_reference.py writes it)", dir);
    /* the model, as `fp8lab eval --init-from DIR` builds it */
    snprintf(path, sizeof path, "%s/config.json", dir);
    fp8lab_model m;
    if (fp8lab_model_load(path, &m)) fail_msg("%s", fp8lab_last_error());
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, 0);
    if (!g) fail_msg("create: %s", fp8lab_last_error());
    if (fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP32) || fp8lab_load_weights(g, be, dir))
        fail_msg("%s: %s", dir, fp8lab_last_error());
    fp8lab_gpt_weights_changed(g);

    snprintf(path, sizeof path, "%s/reference.safetensors", dir);
    fp8lab_st *st = NULL;
    if (fp8lab_st_open(path, &st)) fail_msg("%s", fp8lab_last_error());
    ref_tokens rt;
    read_tokens(st, &rt);
    const int B = rt.B, T = rt.T, V = (int)m.vocab;
    const int64_t NV = (int64_t)B * T * V;
    printf("%s: %s, %ld layers, hidden %ld, heads %ld/%ld, vocab %d, %s head; B = %d, T = %d\n", name,
           m.model_type, m.layers, m.hidden, m.heads, m.kv_heads, V, m.tied ? "tied" : "untied", B, T);

    /* forward */
    float loss = 0;
    if (fp8lab_gpt_zero_grad(g) || fp8lab_gpt_forward(g, rt.tok, rt.tgt, B, T, &loss))
        fail_msg("forward: %s", fp8lab_last_error());
    float *logits = host_floats(NV), *ref = host_floats(NV);
    assert_int_equal(fp8lab_copy_d2h(be, logits, fp8lab_gpt_logits(g), sizeof(float) * (size_t)NV), 0);
    const int64_t lshape[3] = {B, T, V};
    if (fp8lab_st_read_f32(st, "logits", ref, 3, lshape)) fail_msg("%s", fp8lab_last_error());
    const double e_logits = max_rel(logits, ref, NV);
    float ref_loss = 0;
    if (fp8lab_st_read_f32(st, "loss", &ref_loss, 0, NULL)) fail_msg("%s", fp8lab_last_error());
    const double e_loss = fabs((double)loss - ref_loss) / fabs((double)ref_loss);
    char lname[48];
    snprintf(lname, sizeof lname, "[%dx%dx%d]", B, T, V);
    printf("  %-48s %-12s %.3e (max abs / max |ref|, tolerance %.0e)\n", "logits", lname, e_logits, LOGITS_TOL);
    printf("  %-48s %-12s %.3e (ours %.7f, PyTorch %.7f, tolerance %.0e)\n", "loss", "[]", e_loss, (double)loss,
           (double)ref_loss, LOSS_TOL);
    free(logits);
    free(ref);

    /* backward: every parameter against its reference gradient */
    if (fp8lab_gpt_backward(g)) fail_msg("backward: %s", fp8lab_last_error());
    const int n = fp8lab_gpt_tensor_count(g);
    int refs = 0, bad = 0;
    for (int i = 0; i < fp8lab_st_count(st); i++)
        refs += !strncmp(fp8lab_st_at(st, i)->name, GRAD_PREFIX, strlen(GRAD_PREFIX));
    double worst = 0;
    for (int i = 0; i < n; i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        char key[256];
        snprintf(key, sizeof key, GRAD_PREFIX "%s", t.name);
        float *ours = host_floats(t.numel), *want = host_floats(t.numel);
        assert_int_equal(fp8lab_copy_d2h(be, ours, t.grad, sizeof(float) * (size_t)t.numel), 0);
        if (fp8lab_st_read_f32(st, key, want, t.ndim, t.shape)) fail_msg("%s", fp8lab_last_error());
        const double e = frob_rel(ours, want, t.numel);
        char shape[32];
        if (t.ndim == 2) snprintf(shape, sizeof shape, "[%lldx%lld]", (long long)t.shape[0], (long long)t.shape[1]);
        else snprintf(shape, sizeof shape, "[%lld]", (long long)t.shape[0]);
        printf("  d %-46s %-12s %.3e%s\n", t.name, shape, e, e <= GRAD_TOL ? "" : "  <-- over tolerance");
        worst = fmax(worst, e);
        bad += !(e <= GRAD_TOL);
        free(ours);
        free(want);
    }
    printf("  %d gradients, worst %.3e (Frobenius relative, tolerance %.0e)\n", n, worst, GRAD_TOL);
    fflush(stdout);
    assert_int_equal(refs, n); /* no reference gradient without a parameter of ours */
    assert_true(e_logits <= LOGITS_TOL);
    assert_true(e_loss <= LOSS_TOL);
    assert_int_equal(bad, 0);
    free(rt.tok);
    free(rt.tgt);
    fp8lab_st_close(st);
    fp8lab_gpt_destroy(g);
}

static void test_gpt2(void **state) {
    (void)state;
    check_folder("ref_gpt2");
}

static void test_llama(void **state) {
    (void)state;
    check_folder("ref_llama");
}

/* A weight the model does not have (here a q_proj bias, as a Llama with attention_bias would carry) is refused
   naming it, not dropped: fp8lab would otherwise run a different model than the checkpoint's. */
static void test_extra_tensor_refused(void **state) {
    (void)state;
    char dir[4096], src[4200];
    data_dir("ref_llama", dir, sizeof dir);
    snprintf(src, sizeof src, "%s/model.safetensors", dir);
    fp8lab_st *st = NULL;
    if (fp8lab_st_open(src, &st)) fail_msg("%s", fp8lab_last_error());
    const int n = fp8lab_st_count(st);
    fp8lab_st_entry *e = calloc((size_t)n + 1, sizeof *e);
    assert_non_null(e);
    for (int i = 0; i < n; i++) {
        const fp8lab_st_tensor *t = fp8lab_st_at(st, i);
        e[i] = (fp8lab_st_entry){t->name, t->dtype, t->ndim, t->shape, t->data};
    }
    const fp8lab_st_tensor *q = fp8lab_st_find(st, "model.layers.0.self_attn.q_proj.weight");
    assert_non_null(q);
    float *bias = calloc((size_t)q->shape[0], sizeof *bias);
    assert_non_null(bias);
    e[n] = (fp8lab_st_entry){"model.layers.0.self_attn.q_proj.bias", FP8LAB_ST_F32, 1, q->shape, bias};
    char tmp[] = "/tmp/fp8lab-test-reference-XXXXXX", path[128];
    assert_non_null(mkdtemp(tmp));
    snprintf(path, sizeof path, "%s/model.safetensors", tmp);
    assert_int_equal(fp8lab_st_write(path, e, n + 1, NULL, 0), 0);
    fp8lab_model m;
    snprintf(src, sizeof src, "%s/config.json", dir);
    if (fp8lab_model_load(src, &m)) fail_msg("%s", fp8lab_last_error());
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, 0);
    assert_non_null(g);
    assert_int_equal(fp8lab_load_weights(g, be, tmp), -1);
    printf("refused: %s\n", fp8lab_last_error());
    assert_non_null(strstr(fp8lab_last_error(), "model.layers.0.self_attn.q_proj.bias"));
    /* the same file without the extra tensor loads */
    assert_int_equal(fp8lab_st_write(path, e, n, NULL, 0), 0);
    assert_int_equal(fp8lab_load_weights(g, be, tmp), 0);
    unlink(path);
    rmdir(tmp);
    fp8lab_gpt_destroy(g);
    free(bias);
    free(e);
    fp8lab_st_close(st);
}

/* rope_theta where transformers 5 writes it (rope_parameters), where 4.x did (top level), both (must agree). */
static void test_rope_theta_keys(void **state) {
    (void)state;
    static const char *const cfgs[] = {
        "{\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 50000.0}}",
        "{\"rope_theta\": 50000}",
        "{\"rope_theta\": 50000, \"rope_parameters\": {\"rope_theta\": 50000, \"rope_type\": \"default\"}}",
        "{\"rope_parameters\": null}",
        "{\"rope_theta\": 50000, \"rope_parameters\": {\"rope_theta\": 10000}}",
        "{\"rope_parameters\": {\"rope_theta\": 0.5}}",
        "{\"rope_parameters\": 7}",
    };
    static const double want[] = {50000, 50000, 50000, 10000, -1, -1, -1}; /* -1: refused */
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        cJSON *r = cJSON_Parse(cfgs[i]);
        assert_non_null(r);
        cJSON_AddStringToObject(r, "model_type", "llama");
        cJSON_AddNumberToObject(r, "vocab_size", 97);
        cJSON_AddNumberToObject(r, "hidden_size", 32);
        cJSON_AddNumberToObject(r, "intermediate_size", 86);
        cJSON_AddNumberToObject(r, "num_hidden_layers", 2);
        cJSON_AddNumberToObject(r, "num_attention_heads", 4);
        fp8lab_model m;
        const int rc = fp8lab_model_from_json(r, "rope.json", &m);
        cJSON_Delete(r);
        printf("%-90s -> %s\n", cfgs[i], rc ? fp8lab_last_error() : "read");
        if (want[i] < 0) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(fp8lab_last_error(), "rope_"));
        } else {
            assert_int_equal(rc, 0);
            assert_true(m.rope_theta == want[i]);
        }
    }
}

static int setup(void **state) {
    (void)state;
    be = fp8lab_cpu_backend_create();
    return be ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    fp8lab_backend_destroy(be);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_gpt2), cmocka_unit_test(test_llama),
                                       cmocka_unit_test(test_extra_tensor_refused),
                                       cmocka_unit_test(test_rope_theta_keys)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
