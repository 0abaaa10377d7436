#include "model/config.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

/* The sizes fp8lab accepts. They are generous (several times the largest published models) and keep every
   product the simulator forms (layers x tokens x hidden x ffn ...) far inside 64 bits and exact in a double;
   they also bound the per-layer loops, so no config makes a command run for hours. */
static const struct {
    const char *key;
    long lo, hi;
} RANGES[] = {
    {"vocab_size", 1, 1L << 24},        {"n_embd", 1, 1L << 17},
    {"hidden_size", 1, 1L << 17},       {"n_layer", 1, 4096},
    {"num_hidden_layers", 1, 4096},     {"n_head", 1, 4096},
    {"num_attention_heads", 1, 4096},   {"num_key_value_heads", 1, 4096},
    {"n_inner", 1, 1L << 20},           {"intermediate_size", 1, 1L << 20},
    {"n_positions", 1, 1L << 24},       {"max_position_embeddings", 1, 1L << 24},
    {"q_lora_rank", 0, 1L << 17},       {"kv_lora_rank", 1, 1L << 17},
    {"qk_nope_head_dim", 1, 4096},      {"qk_rope_head_dim", 1, 4096},
    {"v_head_dim", 1, 4096},            {"n_routed_experts", 0, 1L << 16},
    {"moe_intermediate_size", 1, 1L << 20}, {"num_experts_per_tok", 1, 1024},
    {"n_shared_experts", 0, 1024},      {"first_k_dense_replace", 0, 4096},
    {"moe_layer_freq", 1, 4096},        {"n_group", 1, 1L << 16},
    {"topk_group", 1, 1L << 16},        {"num_nextn_predict_layers", 0, 64},
    {"head_dim", 1, 4096},
};

/* Real-valued keys: (lo, hi] when lo_open. */
static const struct {
    const char *key;
    double lo, hi;
    int lo_open;
} REAL_RANGES[] = {
    {"layer_norm_epsilon", 0, 1, 1},
    {"rms_norm_eps", 0, 1, 1},
    {"rope_theta", 1, 1e9, 0},
};

static fp8lab_range key_range(const char *key) {
    for (size_t i = 0; i < sizeof RANGES / sizeof RANGES[0]; i++)
        if (!strcmp(RANGES[i].key, key)) return FP8LAB_RANGE(RANGES[i].lo, RANGES[i].hi);
    return FP8LAB_RANGE(1, 0); /* invalid: a key without a range is refused */
}

static int read_int(const cJSON *root, const char *name, const char *key, int optional, long *dst) {
    fp8lab_range r = key_range(key);
    if (!fp8lab_range_valid(r)) {
        FP8LAB_ERR("%s: key %s: internal: no range for this key", name, key);
        return -1;
    }
    return fp8lab_json_int(name, root, "", key, optional, r, dst);
}
static int read_real(const cJSON *root, const char *name, const char *key, double *dst) {
    for (size_t i = 0; i < sizeof REAL_RANGES / sizeof REAL_RANGES[0]; i++)
        if (!strcmp(REAL_RANGES[i].key, key)) {
            fp8lab_range r = {REAL_RANGES[i].lo, REAL_RANGES[i].hi, REAL_RANGES[i].lo_open};
            return fp8lab_json_num(name, root, "", key, 1, r, dst);
        }
    FP8LAB_ERR("%s: key %s: internal: no range for this key", name, key);
    return -1;
}

#define NUM(key, dst) read_int(root, name, key, 0, dst)
#define OPT(key, dst) read_int(root, name, key, 1, dst)
#define OPT0(key, dst) read_int(root, name, key, 1, dst)

static int tied_flag(const cJSON *root, const char *name, int dflt, int *out) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (!t) {
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsBool(t)) {
        FP8LAB_ERR("%s: key tie_word_embeddings: expected true or false", name);
        return -1;
    }
    *out = cJSON_IsTrue(t);
    return 0;
}

static int load_gpt2(const cJSON *root, const char *name, fp8lab_model *m) {
    if (NUM("vocab_size", &m->vocab) || NUM("n_embd", &m->hidden) || NUM("n_layer", &m->layers) ||
        NUM("n_head", &m->heads))
        return -1;
    m->max_pos = 1024;
    if (OPT("n_positions", &m->max_pos) < 0) return -1;
    m->ffn = 4 * m->hidden;
    if (OPT("n_inner", &m->ffn) < 0) return -1;
    m->kv_heads = m->heads;
    m->bias = 1;
    m->learned_pos = 1;
    m->norm_eps = 1e-5;
    if (read_real(root, name, "layer_norm_epsilon", &m->norm_eps) < 0) return -1;
    return tied_flag(root, name, 1, &m->tied);
}

/* rope_theta: top-level as transformers 4.x writes it, or inside "rope_parameters" as transformers 5 writes it
   ({"rope_type": "default", "rope_theta": ...}); both present and different is refused rather than guessed. */
static int read_rope_theta(const cJSON *root, const char *name, fp8lab_model *m) {
    double top = 0, nested = 0;
    const int top_rc = read_real(root, name, "rope_theta", &top); /* 0 read, 1 absent, -1 bad */
    if (top_rc < 0) return -1;
    if (top_rc == 0) m->rope_theta = top;
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!p || cJSON_IsNull(p)) return 0;
    if (!cJSON_IsObject(p)) {
        FP8LAB_ERR("%s: key rope_parameters: expected an object or null", name);
        return -1;
    }
    const int nested_rc =
        fp8lab_json_num(name, p, "rope_parameters.", "rope_theta", 1, FP8LAB_RANGE(1, 1e9), &nested);
    if (nested_rc) return nested_rc < 0 ? -1 : 0;
    if (top_rc == 0 && top != nested) {
        FP8LAB_ERR("%s: key rope_parameters.rope_theta: %g differs from the top-level rope_theta %g", name, nested,
                   top);
        return -1;
    }
    m->rope_theta = nested;
    return 0;
}

static int load_llama(const cJSON *root, const char *name, fp8lab_model *m) {
    if (NUM("vocab_size", &m->vocab) || NUM("hidden_size", &m->hidden) ||
        NUM("num_hidden_layers", &m->layers) || NUM("num_attention_heads", &m->heads) ||
        NUM("intermediate_size", &m->ffn))
        return -1;
    m->kv_heads = m->heads;
    if (OPT("num_key_value_heads", &m->kv_heads) < 0) return -1;
    m->max_pos = 4096;
    if (OPT("max_position_embeddings", &m->max_pos) < 0) return -1;
    m->gated_mlp = 1;
    m->norm_eps = 1e-6;
    m->rope_theta = 10000;
    if (read_real(root, name, "rms_norm_eps", &m->norm_eps) < 0 || read_rope_theta(root, name, m)) return -1;
    m->head_dim = 0; /* 0: hidden / heads (set by the caller) */
    if (OPT("head_dim", &m->head_dim) < 0) return -1;
    return tied_flag(root, name, 0, &m->tied);
}

static int load_dsv3(const cJSON *root, const char *name, fp8lab_model *m) {
    if (load_llama(root, name, m)) return -1;
    m->mla = 1;
    m->q_lora_rank = 0;
    if (OPT0("q_lora_rank", &m->q_lora_rank) < 0) return -1;
    if (NUM("kv_lora_rank", &m->kv_lora_rank) || NUM("qk_nope_head_dim", &m->qk_nope) ||
        NUM("qk_rope_head_dim", &m->qk_rope) || NUM("v_head_dim", &m->v_head))
        return -1;
    m->n_routed = 0;
    if (OPT0("n_routed_experts", &m->n_routed) < 0) return -1;
    if (m->n_routed) {
        m->moe_freq = 1;
        m->n_shared = 0;
        m->first_dense = 0;
        if (NUM("moe_intermediate_size", &m->moe_ffn) || NUM("num_experts_per_tok", &m->topk) ||
            OPT0("n_shared_experts", &m->n_shared) < 0 || OPT0("first_k_dense_replace", &m->first_dense) < 0 ||
            OPT("moe_layer_freq", &m->moe_freq) < 0)
            return -1;
        m->n_group = 1;
        m->topk_group = 1;
        if (OPT("n_group", &m->n_group) < 0 || OPT("topk_group", &m->topk_group) < 0) return -1;
        if (m->topk > m->n_routed) {
            FP8LAB_ERR("%s: key num_experts_per_tok: %ld exceeds n_routed_experts %ld", name, m->topk,
                       m->n_routed);
            return -1;
        }
        if (m->n_routed % m->n_group || m->topk_group > m->n_group) {
            FP8LAB_ERR("%s: key n_group/topk_group: n_group must divide n_routed_experts and topk_group <= "
                       "n_group",
                       name);
            return -1;
        }
    }
    if (OPT0("num_nextn_predict_layers", &m->mtp_layers) < 0) return -1;
    return 0;
}

int fp8lab_model_from_json(const cJSON *root, const char *name, fp8lab_model *m) {
    memset(m, 0, sizeof *m);
    if (fp8lab_json_str(name, root, "", "model_type", 0, m->model_type, sizeof m->model_type)) return -1;
    int rc;
    if (!strcmp(m->model_type, "gpt2")) {
        m->arch = FP8LAB_ARCH_GPT2;
        rc = load_gpt2(root, name, m);
    } else if (!strcmp(m->model_type, "llama")) {
        m->arch = FP8LAB_ARCH_LLAMA;
        rc = load_llama(root, name, m);
    } else if (!strcmp(m->model_type, "deepseek_v3")) {
        m->arch = FP8LAB_ARCH_DSV3;
        rc = load_dsv3(root, name, m);
    } else {
        FP8LAB_ERR("%s: key model_type: unsupported value '%s' (supported: gpt2, llama, deepseek_v3)", name,
                   m->model_type);
        return -1;
    }
    if (rc) return -1;
    /* an explicit head_dim (Llama) decouples heads x head_dim from the hidden size; MLA uses its own dims */
    const long explicit_hd = m->mla ? 0 : m->head_dim;
    if (m->hidden % m->heads && !m->mla && !explicit_hd) {
        FP8LAB_ERR("%s: key num_attention_heads: %ld does not divide the hidden size %ld", name, m->heads,
                   m->hidden);
        return -1;
    }
    if (m->heads % m->kv_heads) {
        FP8LAB_ERR("%s: key num_key_value_heads: %ld does not divide num_attention_heads %ld", name, m->kv_heads,
                   m->heads);
        return -1;
    }
    m->head_dim = explicit_hd ? explicit_hd : m->hidden / m->heads;
    return 0;
}

int fp8lab_model_load(const char *path, fp8lab_model *m) {
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    int rc = fp8lab_model_from_json(root, path, m);
    cJSON_Delete(root);
    return rc;
}

int fp8lab_model_is_moe_layer(const fp8lab_model *m, long i) {
    return m->n_routed > 0 && i >= m->first_dense && i % m->moe_freq == 0;
}

long fp8lab_model_moe_layers(const fp8lab_model *m) {
    long n = 0;
    for (long i = 0; i < m->layers; i++) n += fp8lab_model_is_moe_layer(m, i);
    return n;
}

long fp8lab_model_qk_dim(const fp8lab_model *m) { return m->mla ? m->qk_nope + m->qk_rope : m->head_dim; }
long fp8lab_model_v_dim(const fp8lab_model *m) { return m->mla ? m->v_head : m->head_dim; }
