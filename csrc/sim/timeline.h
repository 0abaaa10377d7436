/* Pipeline timelines by event simulation: every forward (F), input-gradient backward (B) and weight-gradient
   backward (W) of every micro-batch on every pipeline stage, in the order each schedule runs them on each rank,
   with the point-to-point sends between ranks. The bubble, the critical rank and the activations each rank holds
   at its peak come out of the timeline; the closed forms in sim/pipeline.h are what it reduces to for uniform
   stages (tests/test_sim_pipeline.c). Cost: O(stages x micro-batches). */
#ifndef FP8LAB_SIM_TIMELINE_H
#define FP8LAB_SIM_TIMELINE_H

#include "sim/pipeline.h"

/* One pipeline stage (model chunk) per micro-batch, seconds. */
typedef struct {
    double f, b, w;     /* compute: forward, input-gradient backward (recomputation included), weight gradient */
    double tp_f, tp_b;  /* tensor-parallel collectives of each pass: on the critical path */
    double ep_f, ep_b;  /* MoE all-to-all of each pass: exposed, except inside DualPipe's overlapped F&B chunks */
    double act;         /* activation bytes kept from the forward until the input-gradient backward has run (a
                           deferred W keeps only its GEMM operands, not counted) */
} fp8lab_stage_cost;

typedef struct {
    fp8lab_pp_schedule schedule;
    int p;                          /* pipeline ranks */
    int v;                          /* interleaved: model chunks per rank; 1 otherwise */
    long m;                         /* micro-batches per step (DualPipe: both directions together) */
    double p2p_s;                   /* one activation or gradient transfer between neighbouring ranks */
    int p2p_async;                  /* 1F1B / interleaved: sends are asynchronous (the sender goes on; the receiver
                                       waits p2p_s after the producer ends); 0: Megatron-LM's blocking sends */
    const fp8lab_stage_cost *stage; /* p v stages in model order (stage i runs on rank i mod p; DualPipe: p) */
} fp8lab_timeline_in;

/* Per rank (arrays of p; free with fp8lab_timeline_free). */
typedef struct {
    double makespan_s; /* the last op's end, over all ranks */
    double *finish_s;  /* end of the rank's last op */
    double *busy_s;    /* time the rank computes or waits on its own exposed communication */
    double *comp_s;    /* the compute part of busy_s */
    double *peak_act;  /* activation bytes held at the rank's peak */
    double *peak_inflight; /* micro-batch stages whose activations the rank holds at its peak (a DualPipe or
                              interleaved rank counts each of its stages; interleaved: in units of whole
                              ranks' worth, i.e. chunks / v) */
    int p;
} fp8lab_timeline;

/* The fewest micro-batches a schedule runs with p ranks: DualPipe needs 2p (DeepSeek's reference DualPipe
   asserts num_chunks >= 2 num_ranks: each direction feeds at least p micro-batches before the steady phase). */
long fp8lab_timeline_min_microbatches(fp8lab_pp_schedule s, int p);

/* Runs the timeline; 0, or -1 with an error (out of memory, or a schedule the simulator cannot run). Above a few
   thousand micro-batches the steady phase is extrapolated from two shorter runs, which is exact for a periodic
   steady state and keeps the cost bounded. */
int fp8lab_timeline_run(const fp8lab_timeline_in *in, fp8lab_timeline *out);
void fp8lab_timeline_free(fp8lab_timeline *t);

#endif
