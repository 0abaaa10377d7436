/* Per-GPU memory: weights, gradients, optimizer states, activations. Mixed-precision bookkeeping (DeepSeek-V3
   sec. 3.3 and fp8lab's AdamW, DESIGN.md): BF16 working weights (2 B/param), FP32 gradient accumulation
   (4 B), FP32 master weights (4 B) and BF16 Adam moments (2 + 2 B). ZeRO-1 (Rajbhandari et al. 2020) shards the
   master weights and moments over the data-parallel group; ZeRO-3 / FSDP also the working weights and gradients,
   holding whole only the layers being gathered (gather_params: the current one and the one prefetched). An FP8 run also keeps, for the whole step, the FP8
   casts of the weights its FP8 GEMMs read: W for the forward and Dgrad-side W^T, 1 B each (Transformer Engine
   caches them across the micro-batches of a step; the simulator's optimizer time writes the same 2 B). */
#ifndef FP8LAB_SIM_MEMORY_H
#define FP8LAB_SIM_MEMORY_H

typedef struct {
    double weights_gb;     /* BF16 working weights plus fp8_weights_gb */
    double fp8_weights_gb; /* of which: the FP8 casts (W and W^T) an FP8 run keeps */
    double grads_gb, optim_gb, act_gb, total_gb;
    double hbm_gb;
    int fits;
} fp8lab_memory;

typedef struct {
    double params_dense, params_expert; /* held by this GPU (after TP/PP/EP splitting) */
    double fp8_params;                  /* of those, the ones FP8 GEMMs read (0 outside FP8 runs) */
    int dp, edp;                        /* data-parallel group sizes for dense and expert parameters */
    int zero;                           /* ZeRO stage: 0, 1 (optimizer states sharded) or 3 (also weights, grads) */
    double gather_params;               /* ZeRO-3: parameters gathered whole at a time */
    double act_bytes;                   /* activations kept at the peak */
    double hbm_gb;
} fp8lab_memory_in;

void fp8lab_memory_of(const fp8lab_memory_in *in, fp8lab_memory *out);

/* Micro-batches whose activations a rank holds at the peak, in units of one stage's activations:
   1F1B p; interleaved p (1 + (p-1)/(p v)) (Narayanan et al. 2021); DualPipe p + 1 (DeepSeek-V3 Table 2). */
double fp8lab_inflight_microbatches(int schedule, int p, int v, long m);

#endif
