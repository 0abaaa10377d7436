/* Collective cost model: alpha-beta, with bandwidth terms written in the bus-bandwidth convention of
   nccl-tests (doc/PERFORMANCE.md): for n ranks and a buffer of S bytes,
     all-reduce       t = S · 2(n-1)/n / busbw      (S = the buffer each rank holds)
     reduce-scatter   t = S · (n-1)/n / busbw       (S = the full, unscattered buffer)
     all-gather       t = S · (n-1)/n / busbw       (S = the full, gathered buffer)
     all-to-all       t = S · (n-1)/n / busbw       (S = what each rank sends, its own share included)
   busbw is the link speed for a group inside one node (NVLink) or with one rank per node (the GPU's NIC).
   A group with g ranks in each of N > 1 nodes takes the faster of
     - a flat ring: busbw = min(NVLink, g · NIC), since NCCL runs g rings side by side, one NIC each;
     - the hierarchical form: intra-node reduce-scatter, inter-node collective on S/g, intra-node all-gather. */
#ifndef FP8LAB_SIM_COLLECTIVES_H
#define FP8LAB_SIM_COLLECTIVES_H

typedef enum { FP8LAB_COLL_NONE = 0, FP8LAB_COLL_ALLREDUCE, FP8LAB_COLL_REDUCESCATTER, FP8LAB_COLL_ALLGATHER,
               FP8LAB_COLL_ALLTOALL, FP8LAB_COLL_SENDRECV } fp8lab_coll;

typedef struct {
    double intra_gbps, inter_gbps; /* per GPU, one direction */
    double alpha_intra_s, alpha_inter_s; /* per algorithm step */
    double base_s;                 /* fixed cost per collective call */
} fp8lab_links;

/* Links of a cluster with latency constants of NCCL's tuning model (src/graph/tuning.cc: ~0.6 us per NVLink
   step, ~5 us per network step, a few us of launch/base latency). */
void fp8lab_links_init(fp8lab_links *l, double intra_gbps, double inter_gbps);

/* A communication group of n ranks, g of them in each node (g = n: one node). */
double fp8lab_coll_time(const fp8lab_links *l, fp8lab_coll c, double bytes, int n, int g);

/* Bus-bandwidth factor of nccl-tests: busbw = algbw · factor. */
double fp8lab_busbw_factor(fp8lab_coll c, int n);

/* MoE token dispatch (or combine) across an expert-parallel group of ep ranks, g per node: each of `tokens`
   tokens of `bytes_per_token` goes to topk experts spread uniformly. With node-limited routing (node_limit > 0,
   DeepSeek-V3 sec. 2.1.2 / 3.2.2) a token crosses InfiniBand once per distinct remote node (at most
   node_limit) and is forwarded over NVLink inside the node; without it, once per remote expert. The IB and
   NVLink legs run concurrently, so the slower one sets the time. */
double fp8lab_moe_a2a_time(const fp8lab_links *l, double tokens, double bytes_per_token, int topk, int ep, int g,
                           int node_limit);

#endif
