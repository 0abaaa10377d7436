/* The model (csrc/nn/) on the CPU backend, FP32 recipe:
   - whole-model backward against central finite differences of the mean loss, for tiny GPT-2, Llama (GQA) and
     Llama with an explicit head_dim: two parameters per tensor (the entry with the largest |gradient| and a
     random one), every tensor of the model. The parameters are first perturbed by N(0, 0.05) so no path is
     degenerate (nonzero biases, norm weights away from 1). FP32 forward, h = 1e-3; tolerance
     |g - fd| <= 2e-2 |fd| + 2e-3 max|fd| (the FP32 rounding of the loss, ~1e-7, divided by 2h, is ~1e-4; the
     truncation h^2 f''' is ~1e-6);
   - the loss at initialization is within 0.1 of ln(V);
   - 40 AdamW steps on one fixed batch take the loss below a quarter of its initial value (it reaches ~0.003);
   - tensor names, shapes and order against the Hugging Face lists, tied and untied heads;
   - parameter counts: gpt2-124m 124,439,808 and llama-3-8b 8,030,261,248 from configs/models/ (nothing
     allocated), the same as sim/flops' count;
   - config keys (layer_norm_epsilon, rms_norm_eps, rope_theta, head_dim) and their ranges; refusals. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "core/error.h"
#include "core/rng.h"
#include "model/config.h"
#include "nn/model.h"
#include "model_fixture.h"
#include "sim/flops.h"
#include "test_util.h"

static fp8lab_backend *be;

#define FD_H 1e-3
#define FD_RTOL 2e-2
#define FD_ATOL 2e-3 /* times the largest |fd| of the model's sample */

static const char GPT2_TINY[] = "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, "
                                "\"n_head\": 4, \"n_positions\": 16}";
/* heads x head_dim (4 x 6 = 24) != hidden (32) */
static const char LLAMA_HD[] = "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, "
                               "\"intermediate_size\": 40, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                               "\"num_key_value_heads\": 1, \"head_dim\": 6, \"rope_theta\": 500000, "
                               "\"tie_word_embeddings\": true}";

static int cfg_from(const char *json, fp8lab_model *m) {
    cJSON *r = cJSON_Parse(json);
    assert_non_null(r);
    int rc = fp8lab_model_from_json(r, "test-config", m);
    cJSON_Delete(r);
    return rc;
}

static void load_cfg(const char *json, fp8lab_model *m) { *m = fixture_model(json); }

static fp8lab_gpt *create(const char *json, uint64_t seed) {
    fp8lab_model m;
    load_cfg(json, &m);
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, seed);
    if (!g) fail_msg("create: %s", fp8lab_last_error());
    return g;
}

static void random_batch(int32_t *tok, int32_t *tgt, int N, int V, uint64_t seed) {
    fp8lab_rng r;
    fp8lab_rng_seed(&r, seed);
    for (int i = 0; i < N; i++) {
        tok[i] = (int32_t)(fp8lab_rng_u32(&r) % (uint32_t)V);
        tgt[i] = (int32_t)(fp8lab_rng_u32(&r) % (uint32_t)V);
    }
}

static float loss_of(fp8lab_gpt *g, const int32_t *tok, const int32_t *tgt, int B, int T) {
    float loss = NAN;
    if (fp8lab_gpt_forward(g, tok, tgt, B, T, &loss)) fail_msg("forward: %s", fp8lab_last_error());
    return loss;
}

/* ---- (1) backward against finite differences -------------------------------------------------------------- */

static void check_grads(const char *json, const char *what) {
    enum { B = 2, T = 8, N = B * T };
    fp8lab_gpt *g = create(json, 7);
    const int V = (int)fp8lab_gpt_config(g)->vocab;
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 99);
    /* CPU backend: device pointers are host memory */
    const int nt = fp8lab_gpt_tensor_count(g);
    for (int i = 0; i < nt; i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        for (int64_t j = 0; j < t.numel; j++) t.param[j] += (float)(0.05 * fp8lab_rng_normal(&r));
    }
    int32_t tok[N], tgt[N];
    random_batch(tok, tgt, N, V, 5);
    tgt[3] = -1; /* positions without a target */
    tgt[N - 1] = -1;
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    loss_of(g, tok, tgt, B, T);
    assert_int_equal(fp8lab_gpt_backward(g), 0);

    enum { MAXS = 128 };
    double gs[MAXS], fds[MAXS];
    const char *names[MAXS];
    int ns = 0;
    double fdmax = 0;
    for (int i = 0; i < nt; i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        int64_t imax = 0;
        for (int64_t j = 1; j < t.numel; j++)
            if (fabsf(t.grad[j]) > fabsf(t.grad[imax])) imax = j;
        const int64_t pick[2] = {imax, (int64_t)(fp8lab_rng_u64(&r) % (uint64_t)t.numel)};
        for (int k = 0; k < 2 && ns < MAXS; k++) {
            float *w = &t.param[pick[k]];
            const float w0 = *w;
            *w = w0 + (float)FD_H;
            const double lp = loss_of(g, tok, tgt, B, T);
            *w = w0 - (float)FD_H;
            const double lm = loss_of(g, tok, tgt, B, T);
            *w = w0;
            /* the step actually taken in FP32 */
            const double h2 = (double)(w0 + (float)FD_H) - (double)(w0 - (float)FD_H);
            names[ns] = t.name;
            gs[ns] = t.grad[pick[k]];
            fds[ns] = (lp - lm) / h2;
            fdmax = fmax(fdmax, fabs(fds[ns]));
            ns++;
        }
    }
    assert_true(fdmax > 0);
    double worst = 0;
    int bad = 0;
    for (int s = 0; s < ns; s++) {
        const double err = fabs(gs[s] - fds[s]), tol = FD_RTOL * fabs(fds[s]) + FD_ATOL * fdmax;
        worst = fmax(worst, err / tol);
        if (err > tol) {
            printf("  %s %-45s grad %+.6e fd %+.6e\n", what, names[s], gs[s], fds[s]);
            bad++;
        }
    }
    printf("%-8s %d tensors, %d samples, max |fd| %.3e, worst err/tol %.3f\n", what, nt, ns, fdmax, worst);
    assert_int_equal(bad, 0);
    fp8lab_gpt_destroy(g);
}

static void test_grad_gpt2(void **st) { (void)st; check_grads(GPT2_TINY, "gpt2"); }
static void test_grad_llama(void **st) { (void)st; check_grads(LLAMA_TINY, "llama"); }
static void test_grad_llama_head_dim(void **st) { (void)st; check_grads(LLAMA_HD, "llama-hd"); }

/* the gradients of two micro-batches accumulate; zero_grad clears them */
static void test_grad_accumulates(void **st) {
    (void)st;
    enum { B = 2, T = 8, N = B * T };
    fp8lab_gpt *g = create(GPT2_TINY, 3);
    int32_t tok[N], tgt[N];
    random_batch(tok, tgt, N, 64, 11);
    const int64_t nf = fp8lab_gpt_buffer_floats(g);
    float *once = malloc(sizeof(float) * (size_t)nf);
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    loss_of(g, tok, tgt, B, T);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    memcpy(once, fp8lab_gpt_grads(g), sizeof(float) * (size_t)nf);
    loss_of(g, tok, tgt, B, T);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    const float *twice = fp8lab_gpt_grads(g);
    for (int64_t i = 0; i < nf; i++) assert_true(fabsf(twice[i] - 2 * once[i]) <= 1e-6f + 1e-5f * fabsf(once[i]));
    /* a second backward of the same forward is refused */
    assert_int_equal(fp8lab_gpt_backward(g), -1);
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    for (int64_t i = 0; i < nf; i++) assert_true(twice[i] == 0.0f);
    free(once);
    fp8lab_gpt_destroy(g);
}

/* ---- (2) loss at init, (3) overfitting one batch ------------------------------------------------------------ */

static void init_and_overfit(const char *json, const char *what, fp8lab_moment_dtype mdt) {
    enum { B = 2, T = 8, N = B * T, STEPS = 40 };
    fp8lab_gpt *g = create(json, 1234);
    const int V = (int)fp8lab_gpt_config(g)->vocab;
    int32_t tok[N], tgt[N];
    random_batch(tok, tgt, N, V, 21);
    const float l0 = loss_of(g, tok, tgt, B, T);
    printf("%-8s loss at init %.4f, ln V %.4f\n", what, (double)l0, log((double)V));
    assert_true(fabs(l0 - log((double)V)) < 0.1);
    fp8lab_adamw_args a = {.lr = 1e-2f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                           .grad_scale = 1.0f, .moments = mdt};
    float loss = l0, norm = 0;
    for (int s = 1; s <= STEPS; s++) {
        assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
        loss = loss_of(g, tok, tgt, B, T);
        assert_int_equal(fp8lab_gpt_backward(g), 0);
        a.step = s;
        assert_int_equal(fp8lab_gpt_step(g, &a, 1.0f, &norm), 0);
        assert_true(isfinite(norm) && norm > 0);
    }
    loss = loss_of(g, tok, tgt, B, T);
    printf("%-8s loss after %d AdamW steps %.4f (last grad norm %.3f)\n", what, STEPS, (double)loss, (double)norm);
    assert_true(loss < 0.25f * l0);
    /* padding between tensors stays zero through the steps */
    for (int i = 0; i + 1 < fp8lab_gpt_tensor_count(g); i++) {
        fp8lab_gpt_tensor t, u;
        fp8lab_gpt_tensor_at(g, i, &t);
        fp8lab_gpt_tensor_at(g, i + 1, &u);
        for (const float *q = t.param + t.numel; q < u.param; q++) assert_true(*q == 0.0f);
    }
    fp8lab_gpt_destroy(g);
}

static void test_overfit_gpt2(void **st) { (void)st; init_and_overfit(GPT2_TINY, "gpt2", FP8LAB_MOMENTS_F32); }
static void test_overfit_llama(void **st) { (void)st; init_and_overfit(LLAMA_TINY, "llama", FP8LAB_MOMENTS_BF16); }

/* the initialization: std 0.02, residual projections 0.02 / sqrt(2L), norms 1, biases 0; same seed, same model */
static void test_init(void **st) {
    (void)st;
    fp8lab_model m;
    load_cfg("{\"model_type\": \"gpt2\", \"vocab_size\": 512, \"n_embd\": 64, \"n_layer\": 8, \"n_head\": 4, "
             "\"n_positions\": 64}",
             &m);
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, 42), *h = fp8lab_gpt_create(be, &m, 42);
    assert_non_null(g);
    assert_non_null(h);
    assert_memory_equal(fp8lab_gpt_params(g), fp8lab_gpt_params(h),
                        sizeof(float) * (size_t)fp8lab_gpt_buffer_floats(g));
    for (int i = 0; i < fp8lab_gpt_tensor_count(g); i++) {
        fp8lab_gpt_tensor t;
        fp8lab_gpt_tensor_at(g, i, &t);
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < t.numel; j++) s += t.param[j], s2 += (double)t.param[j] * t.param[j];
        const double mean = s / (double)t.numel, sd = sqrt(s2 / (double)t.numel - mean * mean);
        if (t.ndim == 2) {
            const int resid = strstr(t.name, "c_proj.weight") != NULL;
            const double want = resid ? 0.02 / 4.0 : 0.02; /* sqrt(2 * 8) = 4 */
            assert_true(fabs(sd - want) < 0.1 * want);
            assert_true(t.decay);
        } else {
            assert_false(t.decay);
            const double want = strstr(t.name, "bias") ? 0.0 : 1.0;
            assert_true(mean == want && sd == 0);
        }
    }
    fp8lab_gpt_destroy(g);
    fp8lab_gpt_destroy(h);
}

/* ---- (4) names and shapes ------------------------------------------------------------------------------- */

typedef struct {
    char name[80];
    int64_t d0, d1;
} want_t;

static int push(want_t *w, int n, int64_t d0, int64_t d1, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int push(want_t *w, int n, int64_t d0, int64_t d1, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w[n].name, sizeof w[n].name, fmt, ap);
    va_end(ap);
    w[n].d0 = d0;
    w[n].d1 = d1;
    return n + 1;
}

static void check_names(const char *json, const want_t *w, int n) {
    fp8lab_gpt *g = create(json, 1);
    assert_int_equal(fp8lab_gpt_tensor_count(g), n);
    for (int i = 0; i < n; i++) {
        fp8lab_gpt_tensor t;
        assert_int_equal(fp8lab_gpt_tensor_at(g, i, &t), 0);
        assert_string_equal(t.name, w[i].name);
        assert_int_equal(t.ndim, w[i].d1 ? 2 : 1);
        assert_int_equal(t.shape[0], w[i].d0);
        assert_int_equal(t.shape[1], w[i].d1);
        fp8lab_gpt_tensor u;
        assert_int_equal(fp8lab_gpt_tensor_get(g, w[i].name, &u), 0);
        assert_ptr_equal(u.param, t.param);
        assert_int_equal((uintptr_t)t.param % 4, 0);
        assert_ptr_equal((char *)t.grad - (char *)fp8lab_gpt_grads(g), (char *)t.param - (char *)fp8lab_gpt_params(g));
    }
    fp8lab_gpt_tensor u;
    assert_int_equal(fp8lab_gpt_tensor_get(g, "no.such.tensor", &u), -1);
    fp8lab_gpt_destroy(g);
}

static int gpt2_names(want_t *w, int tied) {
    const int64_t C = 32, V = 64, P = 16, F = 128;
    int n = 0;
    n = push(w, n, V, C, "transformer.wte.weight");
    n = push(w, n, P, C, "transformer.wpe.weight");
    for (int l = 0; l < 2; l++) {
        n = push(w, n, C, 0, "transformer.h.%d.ln_1.weight", l);
        n = push(w, n, C, 0, "transformer.h.%d.ln_1.bias", l);
        n = push(w, n, C, 3 * C, "transformer.h.%d.attn.c_attn.weight", l);
        n = push(w, n, 3 * C, 0, "transformer.h.%d.attn.c_attn.bias", l);
        n = push(w, n, C, C, "transformer.h.%d.attn.c_proj.weight", l);
        n = push(w, n, C, 0, "transformer.h.%d.attn.c_proj.bias", l);
        n = push(w, n, C, 0, "transformer.h.%d.ln_2.weight", l);
        n = push(w, n, C, 0, "transformer.h.%d.ln_2.bias", l);
        n = push(w, n, C, F, "transformer.h.%d.mlp.c_fc.weight", l);
        n = push(w, n, F, 0, "transformer.h.%d.mlp.c_fc.bias", l);
        n = push(w, n, F, C, "transformer.h.%d.mlp.c_proj.weight", l);
        n = push(w, n, C, 0, "transformer.h.%d.mlp.c_proj.bias", l);
    }
    n = push(w, n, C, 0, "transformer.ln_f.weight");
    n = push(w, n, C, 0, "transformer.ln_f.bias");
    if (!tied) n = push(w, n, V, C, "lm_head.weight");
    return n;
}

static int llama_names(want_t *w, int tied) {
    const int64_t C = 32, V = 64, F = 48, QD = 32, KD = 16;
    int n = 0;
    n = push(w, n, V, C, "model.embed_tokens.weight");
    for (int l = 0; l < 2; l++) {
        n = push(w, n, C, 0, "model.layers.%d.input_layernorm.weight", l);
        n = push(w, n, QD, C, "model.layers.%d.self_attn.q_proj.weight", l);
        n = push(w, n, KD, C, "model.layers.%d.self_attn.k_proj.weight", l);
        n = push(w, n, KD, C, "model.layers.%d.self_attn.v_proj.weight", l);
        n = push(w, n, C, QD, "model.layers.%d.self_attn.o_proj.weight", l);
        n = push(w, n, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
        n = push(w, n, F, C, "model.layers.%d.mlp.gate_proj.weight", l);
        n = push(w, n, F, C, "model.layers.%d.mlp.up_proj.weight", l);
        n = push(w, n, C, F, "model.layers.%d.mlp.down_proj.weight", l);
    }
    n = push(w, n, C, 0, "model.norm.weight");
    if (!tied) n = push(w, n, V, C, "lm_head.weight");
    return n;
}

static void test_names(void **st) {
    (void)st;
    want_t w[64];
    check_names(GPT2_TINY, w, gpt2_names(w, 1));
    check_names("{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, "
                "\"n_positions\": 16, \"tie_word_embeddings\": false}",
                w, gpt2_names(w, 0));
    check_names(LLAMA_TINY, w, llama_names(w, 0));
    check_names("{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, "
                "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
                "\"tie_word_embeddings\": true}",
                w, llama_names(w, 1));
    /* gate_proj and up_proj form one [2F][C] matrix */
    fp8lab_gpt *g = create(LLAMA_TINY, 1);
    fp8lab_gpt_tensor gate, up;
    assert_int_equal(fp8lab_gpt_tensor_get(g, "model.layers.1.mlp.gate_proj.weight", &gate), 0);
    assert_int_equal(fp8lab_gpt_tensor_get(g, "model.layers.1.mlp.up_proj.weight", &up), 0);
    assert_ptr_equal(gate.param + gate.numel, up.param);
    fp8lab_gpt_destroy(g);
}

/* ---- (5) parameter counts ----------------------------------------------------------------------------------- */

static void count_file(const char *rel, int64_t want) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", d, rel);
    fp8lab_model m;
    if (fp8lab_model_load(path, &m)) fail_msg("%s", fp8lab_last_error());
    const int64_t n = fp8lab_gpt_param_count(&m);
    fp8lab_params p;
    fp8lab_count_params(&m, &p);
    printf("%-32s %lld parameters (sim/flops: %.0f)\n", rel, (long long)n, p.total);
    assert_int_equal(n, want);
    assert_true((double)n == p.total);
    /* the activation arena's size comes without allocating it */
    assert_true(fp8lab_gpt_activation_bytes(&m, 1, 64) > 0);
}

static void test_counts(void **st) {
    (void)st;
    if (!getenv("FP8LAB_SOURCE_DIR")) skip();
    count_file("configs/models/gpt2-124m.json", 124439808);
    count_file("configs/models/llama-3-8b.json", 8030261248);
    count_file("configs/models/gpt2-1558m.json", 1557611200);
    fp8lab_model m;
    char path[4096];
    snprintf(path, sizeof path, "%s/configs/models/deepseek-v3.json", getenv("FP8LAB_SOURCE_DIR"));
    assert_int_equal(fp8lab_model_load(path, &m), 0);
    assert_int_equal(fp8lab_gpt_param_count(&m), -1); /* not a model the trainer runs */
    assert_null(fp8lab_gpt_create(be, &m, 1));
}

/* ---- config keys, refusals --------------------------------------------------------------------------------- */

static void test_config_keys(void **st) {
    (void)st;
    fp8lab_model m;
    load_cfg(GPT2_TINY, &m);
    assert_true(m.norm_eps == 1e-5 && m.rope_theta == 0 && m.head_dim == 8);
    load_cfg("{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, \"n_head\": 4, "
             "\"layer_norm_epsilon\": 1e-6}",
             &m);
    assert_true(m.norm_eps == 1e-6);
    load_cfg("{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4}",
             &m);
    assert_true(m.norm_eps == 1e-6 && m.rope_theta == 10000 && m.head_dim == 8);
    load_cfg(LLAMA_HD, &m);
    assert_true(m.rope_theta == 500000 && m.head_dim == 6 && m.kv_heads == 1);
    /* hidden not divisible by heads is fine with an explicit head_dim, refused without */
    static const char base[] = "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 30, "
                               "\"intermediate_size\": 48, \"num_hidden_layers\": 2, \"num_attention_heads\": 4%s}";
    char js[512];
    snprintf(js, sizeof js, base, ", \"head_dim\": 8");
    assert_int_equal(cfg_from(js, &m), 0);
    assert_int_equal(m.head_dim, 8);
    snprintf(js, sizeof js, base, "");
    assert_int_equal(cfg_from(js, &m), -1);
    static const char *bad[] = {", \"rms_norm_eps\": 0", ", \"rms_norm_eps\": 2", ", \"rope_theta\": 0",
                                ", \"rope_theta\": 1e10", ", \"rope_theta\": \"x\"", ", \"head_dim\": 0",
                                ", \"head_dim\": 1.5", ", \"head_dim\": 5000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(js, sizeof js, base, bad[i]);
        assert_int_equal(cfg_from(js, &m), -1);
        printf("refused %-24s %s\n", bad[i] + 2, fp8lab_last_error());
        assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    }
    snprintf(js, sizeof js, "%s", "{\"model_type\": \"gpt2\", \"vocab_size\": 64, \"n_embd\": 32, \"n_layer\": 2, "
                                  "\"n_head\": 4, \"layer_norm_epsilon\": -1}");
    assert_int_equal(cfg_from(js, &m), -1);
    assert_non_null(strstr(fp8lab_last_error(), "layer_norm_epsilon"));
}

static void test_refusals(void **st) {
    (void)st;
    enum { B = 2, T = 8, N = B * T };
    fp8lab_gpt *g = create(GPT2_TINY, 1);
    int32_t tok[N], tgt[N];
    random_batch(tok, tgt, N, 64, 2);
    float loss;
    assert_int_equal(fp8lab_gpt_backward(g), -1); /* no forward yet */
    tok[5] = 64;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, B, T, &loss), -1);
    tok[5] = -1;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, B, T, &loss), -1);
    tok[5] = 0;
    tgt[2] = 64;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, B, T, &loss), -1);
    tgt[2] = 1;
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, 1, 17, &loss), -1); /* T > n_positions */
    /* logits only: no backward */
    assert_int_equal(fp8lab_gpt_forward(g, tok, NULL, B, T, &loss), 0);
    assert_int_equal(fp8lab_gpt_backward(g), -1);
    /* no targets at all: loss 0, zero gradients */
    for (int i = 0; i < N; i++) tgt[i] = -1;
    assert_int_equal(fp8lab_gpt_zero_grad(g), 0);
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, B, T, &loss), 0);
    assert_true(loss == 0.0f);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    /* block scaling pads every Linear to multiples of 128 (nn/linear.h): this tiny model (C 32, 16 tokens) takes
       it, forward and backward; then back to fp32 */
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP8_BLOCK), 0);
    assert_int_equal(fp8lab_gpt_forward(g, tok, tgt, B, T, &loss), 0);
    assert_int_equal(fp8lab_gpt_backward(g), 0);
    assert_int_equal(fp8lab_gpt_set_recipe(g, FP8LAB_RECIPE_FP32), 0);
    const fp8lab_linear lin = {4, 4, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_BF16};
    float x[16] = {0}, w[16] = {0}, y[16];
    assert_int_equal(fp8lab_linear_fwd(be, &lin, y, x, w, NULL, 4), -1);
    /* a step with non-finite gradients is skipped */
    fp8lab_gpt_tensor t;
    assert_int_equal(fp8lab_gpt_tensor_get(g, "transformer.ln_f.weight", &t), 0);
    t.grad[0] = NAN;
    fp8lab_adamw_args a = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .step = 1, .grad_scale = 1};
    float norm;
    const float before = t.param[0];
    assert_int_equal(fp8lab_gpt_step(g, &a, 1.0f, &norm), 1);
    assert_false(isfinite(norm));
    assert_true(t.param[0] == before);
    fp8lab_gpt_destroy(g);
}

/* the Linear's two layouts agree: the same weights stored [out][in] and [in][out] give the same results */
static void test_linear_layouts(void **st) {
    (void)st;
    enum { N = 5, I = 7, O = 3 };
    fp8lab_rng r;
    fp8lab_rng_seed(&r, 4);
    float x[N * I], w_oi[O * I], w_io[I * O], b[O], dy[N * O];
    for (int i = 0; i < N * I; i++) x[i] = (float)fp8lab_rng_normal(&r);
    for (int o = 0; o < O; o++)
        for (int i = 0; i < I; i++) w_oi[o * I + i] = w_io[i * O + o] = (float)fp8lab_rng_normal(&r);
    for (int i = 0; i < O; i++) b[i] = (float)fp8lab_rng_normal(&r);
    for (int i = 0; i < N * O; i++) dy[i] = (float)fp8lab_rng_normal(&r);
    const fp8lab_linear oi = {I, O, FP8LAB_W_OUT_IN, FP8LAB_RECIPE_FP32},
                        io = {I, O, FP8LAB_W_IN_OUT, FP8LAB_RECIPE_FP32};
    float y1[N * O], y2[N * O], dx1[N * I], dx2[N * I], dw1[O * I] = {0}, dw2[I * O] = {0}, db1[O] = {0}, db2[O] = {0};
    assert_int_equal(fp8lab_linear_fwd(be, &oi, y1, x, w_oi, b, N), 0);
    assert_int_equal(fp8lab_linear_fwd(be, &io, y2, x, w_io, b, N), 0);
    assert_int_equal(fp8lab_linear_bwd(be, &oi, dx1, 0, dw1, db1, dy, x, w_oi, N), 0);
    assert_int_equal(fp8lab_linear_bwd(be, &io, dx2, 0, dw2, db2, dy, x, w_io, N), 0);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double ref = b[o];
            for (int i = 0; i < I; i++) ref += (double)x[n * I + i] * w_oi[o * I + i];
            assert_true(fabs(y1[n * O + o] - ref) < 1e-5 && fabs(y2[n * O + o] - ref) < 1e-5);
        }
    for (int i = 0; i < N * I; i++) assert_true(fabsf(dx1[i] - dx2[i]) < 1e-5f);
    for (int o = 0; o < O; o++) {
        assert_true(fabsf(db1[o] - db2[o]) < 1e-5f);
        for (int i = 0; i < I; i++) {
            double ref = 0;
            for (int n = 0; n < N; n++) ref += (double)dy[n * O + o] * x[n * I + i];
            assert_true(fabs(dw1[o * I + i] - ref) < 1e-5 && fabs(dw2[i * O + o] - ref) < 1e-5);
        }
    }
}

static int setup(void **st) {
    (void)st;
    be = fp8lab_cpu_backend_create();
    return be ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    fp8lab_backend_destroy(be);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_layouts),  cmocka_unit_test(test_grad_gpt2),
        cmocka_unit_test(test_grad_llama),      cmocka_unit_test(test_grad_llama_head_dim),
        cmocka_unit_test(test_grad_accumulates), cmocka_unit_test(test_init),
        cmocka_unit_test(test_overfit_gpt2),    cmocka_unit_test(test_overfit_llama),
        cmocka_unit_test(test_names),           cmocka_unit_test(test_counts),
        cmocka_unit_test(test_config_keys),     cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
