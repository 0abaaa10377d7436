/* The op schedule: for one layer and one micro-batch on one rank, the list of ops a training step runs —
   GEMMs (forward, dgrad, wgrad), FP8 quantization, norms and other element-wise ops, attention, and the
   collectives of tensor and expert parallelism — with their shapes and dtypes. The simulator plays this list
   on a hardware model (sim/step.c).

   It is a model of fp8lab's trainer (csrc/nn/), and for GEMMs and attention an exact one at tp = ep = 1: the
   GEMMs one training step of a GPT-2 or Llama model issues through the backend (pass, m/n/k, precision, count)
   are those listed here, each layer kind's list taken once per layer of that kind (embedding, blocks, head),
   under recompute none and
   prec = the recipe's GEMM precision (fp32, bf16; fp8 for fp8-tensor*, fp8-block; the output head in BF16,
   FP32 in an FP32 run), and one attention forward and one backward per block (tests/test_schedule_match.c checks both, through a
   recording backend). One difference of form: for a weight stored [in][out] (GPT-2's Conv1D) the trainer
   computes dW^T = x^T dY, the listed Wgrad with its operands swapped (m and n exchanged). Quantization and
   element-wise ops are a model of a fused GPU implementation (a cast+transpose per GEMM input, BF16
   activations), not a list of the trainer's kernels: the trainer quantizes each Linear's input itself and keeps
   FP32 activations. The trainer does not execute this list; it runs the same model code on every backend.

   Order: the forward ops of the layer, then (backward) the recomputed forward ops the recompute mode asks for,
   then for each forward op in reverse order its backward ops: dY quantization, dgrad (pass B) and wgrad
   (pass W) for GEMMs, the backward kernel for attention and element-wise ops, the conjugate collective. */
#ifndef FP8LAB_SIM_SCHEDULE_H
#define FP8LAB_SIM_SCHEDULE_H
#include "model/config.h"
#include "sim/cluster.h"
#include "sim/collectives.h"

typedef enum { FP8LAB_OP_GEMM, FP8LAB_OP_ATTN, FP8LAB_OP_ELTWISE, FP8LAB_OP_COMM } fp8lab_op_kind;
/* F = forward, B = input gradient, W = weight gradient (the split zero-bubble and DualPipe schedules use),
   R = recomputed forward */
typedef enum { FP8LAB_PASS_F, FP8LAB_PASS_B, FP8LAB_PASS_W, FP8LAB_PASS_R } fp8lab_pass;
typedef enum { FP8LAB_GROUP_TP, FP8LAB_GROUP_EP, FP8LAB_GROUP_PP, FP8LAB_GROUP_DP, FP8LAB_GROUP_EDP } fp8lab_group;
/* model-FLOP accounting parts (sim/flops.h) */
typedef enum { FP8LAB_PART_ATTN_PROJ, FP8LAB_PART_ATTN_SCORES, FP8LAB_PART_MLP, FP8LAB_PART_ROUTER,
               FP8LAB_PART_HEAD, FP8LAB_PART_MTP, FP8LAB_PART_OTHER, FP8LAB_NPARTS } fp8lab_part;
typedef enum { FP8LAB_LAYER_EMBED, FP8LAB_LAYER_DENSE, FP8LAB_LAYER_MOE, FP8LAB_LAYER_HEAD, FP8LAB_LAYER_MTP,
               FP8LAB_NLAYER_KINDS } fp8lab_layer_kind;
typedef enum { FP8LAB_RECOMPUTE_NONE, FP8LAB_RECOMPUTE_SELECTIVE, FP8LAB_RECOMPUTE_FULL } fp8lab_recompute;
/* How the softmax cross-entropy over the vocabulary runs: one fused kernel each way (fp8lab's trainer), or the
   separate FP32 passes of Megatron-LM's vocab-parallel cross entropy or of PyTorch's F.cross_entropy on
   .float() logits (schedule.c counts each one's HBM bytes per logit) */
typedef enum { FP8LAB_LOSS_FUSED, FP8LAB_LOSS_MEGATRON, FP8LAB_LOSS_TORCH } fp8lab_loss;

typedef struct {
    char name[40];
    fp8lab_op_kind kind;
    fp8lab_pass pass;
    fp8lab_prec dtype;   /* GEMM operands / collective payload */
    double m, n, k;      /* GEMM: [m][k] x [k][n]; m counts tokens in forward */
    double count;        /* identical instances (e.g. the experts on this rank) */
    double flops;        /* per instance, as executed (attention backward: 2.5x forward) */
    double bytes;        /* element-wise: HBM bytes read + written; comm: nccl-tests size per rank */
    fp8lab_coll coll;    /* comm */
    fp8lab_group group;  /* comm */
    int topk, node_limit;/* MoE dispatch/combine: copies per token, node-limited routing (0 = none) */
    fp8lab_part part;
    int moe;             /* routed-expert work: scaled by the MoE load imbalance */
    int beside_wgrad;    /* comm, backward: runs beside the Wgrad GEMM just before it in the list (Megatron-LM's
                            asynchronous input-gradient reduction; plan.tp_overlap) */
    int beside_dgrad;    /* comm, backward: the sequence-parallel input gathered again for the Wgrad GEMMs that
                            read it, beside their Dgrad GEMMs (reads_gathered) after it in the list; plan.tp_overlap */
    int reads_gathered;  /* GEMM: its input is the tensor-parallel region's gathered input */
    int cheap;           /* recomputed under selective recompute: norms, activations, MLA up-projections, and
                            the FP8 casts whose output the consuming GEMM does not keep (attn.quant_o is not) */
    double saved;        /* forward: activation bytes kept for the backward, per op (all instances) */
    double saved_recomputable; /* more kept bytes, dropped under selective recompute (rebuilt from `saved`) */
    /* forward ops only: what their backward does */
    double bwd_bytes;    /* element-wise backward bytes */
    fp8lab_coll bwd_coll;
    fp8lab_prec bwd_dtype;
} fp8lab_op;

typedef struct {
    fp8lab_op *ops;
    int n, cap;
} fp8lab_schedule;

typedef struct {
    long micro_batch, seq;   /* tokens on this rank per micro-batch = micro_batch * seq */
    int tp, sp, ep;          /* tensor parallel (sp: sequence parallel), expert parallel */
    fp8lab_prec prec;        /* GEMM precision; output head and MoE router stay BF16 (FP32 when prec is) */
    fp8lab_recompute recompute;
    fp8lab_loss loss;
} fp8lab_sched_opts;

/* Appends the ops of one layer of kind `kind` to s. Returns 0 or -1 (out of memory). */
int fp8lab_schedule_layer(fp8lab_schedule *s, const fp8lab_model *m, const fp8lab_sched_opts *o,
                          fp8lab_layer_kind kind);
void fp8lab_schedule_free(fp8lab_schedule *s);
const char *fp8lab_layer_kind_name(fp8lab_layer_kind k);
const char *fp8lab_pass_name(fp8lab_pass p);

/* Activation bytes one layer keeps per micro-batch under the schedule's recompute mode. */
double fp8lab_schedule_saved_bytes(const fp8lab_schedule *s, const fp8lab_model *m, const fp8lab_sched_opts *o,
                                   fp8lab_layer_kind kind);

#endif
