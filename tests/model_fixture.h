/* Shared by the model tests: a model, or a model instance, from a test's inline config.json text. Header-only
   (each test is its own executable); include after cmocka.h. */
#ifndef FP8LAB_MODEL_FIXTURE_H
#define FP8LAB_MODEL_FIXTURE_H
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/error.h"
#include "model/config.h"
#include "nn/model.h"

/* A tiny Llama: grouped-query attention (4 heads, 2 KV heads), RMSNorm, RoPE, untied head. */
static const char LLAMA_TINY[] = "{\"model_type\": \"llama\", \"vocab_size\": 64, \"hidden_size\": 32, "
                                 "\"intermediate_size\": 48, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
                                 "\"num_key_value_heads\": 2, \"max_position_embeddings\": 16, "
                                 "\"rms_norm_eps\": 1e-5, \"rope_theta\": 10000}";

/* the model json describes; an unparsable or refused config fails the test with the error */
static inline fp8lab_model fixture_model(const char *json) {
    cJSON *j = cJSON_Parse(json);
    assert_non_null(j);
    fp8lab_model m;
    const int rc = fp8lab_model_from_json(j, "test-config", &m);
    cJSON_Delete(j);
    if (rc) fail_msg("config: %s", fp8lab_last_error());
    return m;
}

/* that model built on be with the given seed; a failure fails the test */
static inline fp8lab_gpt *fixture_gpt(fp8lab_backend *be, const char *json, uint64_t seed) {
    const fp8lab_model m = fixture_model(json);
    fp8lab_gpt *g = fp8lab_gpt_create(be, &m, seed);
    if (!g) fail_msg("create: %s", fp8lab_last_error());
    return g;
}

#endif
