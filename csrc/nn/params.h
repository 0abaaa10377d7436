/* The parameter table of a GPT-2 or Llama model: every tensor with its Hugging Face name, shape and place in
   ONE float buffer (the gradients mirror it in a second buffer of the same layout). Built from the config alone
   (a few hundred bytes per layer), so parameter counts need no weights.

   Names and shapes, exactly as the checkpoints store them:
     gpt2  (GPT2LMHeadModel, Conv1D weights [in][out]):
       transformer.wte.weight [V][C], transformer.wpe.weight [P][C],
       transformer.h.N.{ln_1,ln_2}.{weight,bias} [C], .attn.c_attn.weight [C][3C], .attn.c_attn.bias [3C],
       .attn.c_proj.weight [C][C], .attn.c_proj.bias [C], .mlp.c_fc.weight [C][F], .mlp.c_fc.bias [F],
       .mlp.c_proj.weight [F][C], .mlp.c_proj.bias [C], transformer.ln_f.{weight,bias} [C],
       lm_head.weight [V][C] only when untied
     llama (LlamaForCausalLM, nn.Linear weights [out][in]; no biases):
       model.embed_tokens.weight [V][C], model.layers.N.input_layernorm.weight [C],
       .self_attn.q_proj.weight [Hq*D][C], .self_attn.{k,v}_proj.weight [Hkv*D][C], .self_attn.o_proj.weight
       [C][Hq*D], .post_attention_layernorm.weight [C], .mlp.{gate,up}_proj.weight [F][C],
       .mlp.down_proj.weight [C][F], model.norm.weight [C], lm_head.weight [V][C] unless tie_word_embeddings
   Tensors start at multiples of FP8LAB_PARAM_ALIGN floats (padding is zero and stays zero), except up_proj,
   which directly follows gate_proj: together they are one [2F][C] matrix, so a single GEMM writes SwiGLU's
   gate_up[N][2F] input (gate first) and a single Wgrad GEMM both gradients. */
#ifndef FP8LAB_NN_PARAMS_H
#define FP8LAB_NN_PARAMS_H
#include <stdint.h>

#include "model/config.h"

#define FP8LAB_PARAM_ALIGN 64 /* floats: 256 bytes */
#define FP8LAB_PARAM_NAME_MAX 64

/* What a tensor is to the model code (names are for checkpoints). */
typedef enum {
    FP8LAB_T_WTE, FP8LAB_T_WPE, FP8LAB_T_LNF_W, FP8LAB_T_LNF_B, FP8LAB_T_HEAD,
    /* per layer */
    FP8LAB_T_LN1_W, FP8LAB_T_LN1_B, FP8LAB_T_QKV_W, FP8LAB_T_QKV_B, FP8LAB_T_Q_W, FP8LAB_T_K_W, FP8LAB_T_V_W,
    FP8LAB_T_O_W, FP8LAB_T_O_B, FP8LAB_T_LN2_W, FP8LAB_T_LN2_B, FP8LAB_T_FC_W, FP8LAB_T_FC_B, FP8LAB_T_GATE_W,
    FP8LAB_T_UP_W, FP8LAB_T_PROJ_W, FP8LAB_T_PROJ_B,
    FP8LAB_T_COUNT
} fp8lab_tensor_role;

typedef struct fp8lab_tensor_info {
    char name[FP8LAB_PARAM_NAME_MAX];
    int ndim;        /* 1 or 2 */
    int64_t shape[2];
    int64_t numel;
    int64_t offset;  /* in floats, from the start of the buffer */
    fp8lab_tensor_role role;
    int layer;       /* -1 outside the blocks */
    int decay;       /* AdamW weight decay applies: every 2-D tensor, embeddings included (nanoGPT/llm.c) */
    int residual;    /* output projection into the residual stream: init std scaled by 1/sqrt(2 n_layer) */
} fp8lab_tensor_info;

typedef struct fp8lab_param_layout {
    fp8lab_tensor_info *t;
    int n;
    int64_t count;   /* sum of numel: the model's parameter count */
    int64_t floats;  /* buffer size, padding included */
} fp8lab_param_layout;

/* 0, or -1 with an error (an architecture the trainer does not run: deepseek_v3; sizes that overflow). */
int fp8lab_param_layout_build(const fp8lab_model *m, fp8lab_param_layout *out);
void fp8lab_param_layout_free(fp8lab_param_layout *l);
/* index of the tensor named `name`, or -1 */
int fp8lab_param_layout_find(const fp8lab_param_layout *l, const char *name);
/* The parameter count of the model the trainer would build (equals sim/flops' total for gpt2 and llama), or -1
   with an error. Allocates only the table. */
int64_t fp8lab_param_count(const fp8lab_model *m);

#endif
