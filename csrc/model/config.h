/* Model architecture read from a Hugging Face config.json (model_type gpt2, llama or deepseek_v3).
   The keys the FLOP, memory and schedule models need, and those the trainer (csrc/nn/) needs to run the model:
   norm epsilon, RoPE base, an explicit head_dim. Everything is in elements, not bytes. */
#ifndef FP8LAB_MODEL_CONFIG_H
#define FP8LAB_MODEL_CONFIG_H

typedef enum { FP8LAB_ARCH_GPT2 = 0, FP8LAB_ARCH_LLAMA = 1, FP8LAB_ARCH_DSV3 = 2 } fp8lab_arch;

typedef struct {
    fp8lab_arch arch;
    char model_type[32];
    long vocab, hidden, layers, heads, kv_heads;
    long head_dim;     /* hidden / heads, or Llama's explicit head_dim (then heads * head_dim may differ from
                          hidden) */
    long ffn;          /* dense MLP intermediate size */
    int gated_mlp;     /* SwiGLU (three matrices) instead of GELU (two) */
    int bias;          /* GPT-2 linear layers and LayerNorms carry biases */
    int tied;          /* output head shares the embedding matrix */
    long max_pos;      /* n_positions / max_position_embeddings: the default sequence length */
    int learned_pos;   /* GPT-2's wpe table */
    /* Multi-head latent attention (DeepSeek-V2/V3); q_lora_rank 0 means a plain q projection */
    int mla;
    long q_lora_rank, kv_lora_rank, qk_nope, qk_rope, v_head;
    /* Mixture of experts; n_routed 0 means a dense model */
    long moe_ffn, n_routed, n_shared, topk, first_dense, moe_freq, n_group, topk_group;
    long mtp_layers;   /* DeepSeek-V3 multi-token-prediction modules (num_nextn_predict_layers) */
    /* What the trainer needs beyond the shapes */
    double norm_eps;   /* GPT-2 layer_norm_epsilon (default 1e-5); Llama/DeepSeek rms_norm_eps (default 1e-6) */
    double rope_theta; /* Llama/DeepSeek rope_theta (default 10000); 0 for GPT-2 (learned positions) */
} fp8lab_model;

/* Returns 0, or -1 with an error naming the file and key. */
int fp8lab_model_load(const char *path, fp8lab_model *m);
/* The same from an already parsed object; `name` is used in error messages. */
struct cJSON;
int fp8lab_model_from_json(const struct cJSON *root, const char *name, fp8lab_model *m);

/* 1 when layer i (0-based, main model) is a MoE layer. */
int fp8lab_model_is_moe_layer(const fp8lab_model *m, long i);
long fp8lab_model_moe_layers(const fp8lab_model *m);
/* q·k head dimension (nope + rope for MLA) and the value head dimension. */
long fp8lab_model_qk_dim(const fp8lab_model *m);
long fp8lab_model_v_dim(const fp8lab_model *m);

#endif
