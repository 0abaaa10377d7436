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
   NVLink legs run concurrently, so the slower one sets the time. Inside one node (ep <= g) node_limit caps the
   distinct ranks a token reaches (device-limited routing, DeepSeek-V2 sec. 2.2.2: the caller passes it only
   where each expert group lies on whole ranks) and a token goes once per distinct remote rank. */
typedef struct {
    double tokens, bytes_per_token;
    int topk;       /* experts per token */
    int ep, g;      /* the expert-parallel group and how many of its ranks share a node */
    int node_limit; /* 0: none */
} fp8lab_a2a;

double fp8lab_moe_a2a_time(const fp8lab_links *l, const fp8lab_a2a *a);

/* Communication that depends on its SMs.

   Communication kernels (DeepEP's dispatch/combine, NCCL's rings) move data with the SMs they run on, so the
   bandwidth they reach grows with the SMs given to them and saturates at the link's speed:
       share(s) = 1 - exp(-s / sm_scale)          (s >= 1 reserved SMs; share of intra_gbps / inter_gbps reached)
   sm_scale (SMs) is fitted to the published H800 points (log-space least squares on 1 - share):
     - DeepEP V1 normal kernels, H800, intranode EP8, 24 SMs (the README's Buffer.set_num_sms(24)): dispatch
       153 GB/s, combine 158 GB/s of the ~160 GB/s NVLink maximum (github.com/deepseek-ai/DeepEP, docs/legacy.md,
       "Normal kernels with NVLink and RDMA forwarding" table) -> 0.956 and 0.988;
     - DeepSeek-V3 technical report (arXiv:2412.19437) sec. 3.2.2: "only 20 SMs" suffice to fully utilize the IB
       and NVLink bandwidths -> share(20) >= 0.95.
   The fit gives sm_scale = 6.4 SMs: share(20) = 0.956, share(24) = 0.976 (within 3 % of both DeepEP points).
   A faster link needs more SMs: DeepEP V2 on B200 (README table, EP8 NVLink: 643 GB/s at 24 SMs, 726 GB/s at 64)
   is 0.886 of its 64-SM figure at 24 SMs, i.e. sm_scale ~ 11; set it per cluster (key comm.sm_scale).

   sms <= 0 means no SMs are reserved: the kernels time-share the compute SMs and reach the full link speed
   (share 1), which is what the model assumed before; such communication cannot overlap computation.

   GEMMs that run while communication is in flight slow down by overlap_gemm_slowdown (>= 1) beyond the SMs
   they lose. Default 1.0: "Characterizing Compute-Communication Overlap in GPU-Accelerated Distributed Deep
   Learning: Performance and Power Implications" (2025, arXiv:2507.03114, abstract) measures an 18.9 % mean
   (40 % max) compute slowdown under overlap on A100/H100/MI250/MI210 with the collective's kernels resident on
   the same SMs; the share of SMs such kernels take (e.g. an ncclAllGather of 24 CTAs on an H100's 132 SMs, as
   profiled in the NVIDIA developer forum thread "Compute-Communication Overlap Causes Severe GEMM Performance
   Degradation because of Tail Effect": 132/108 = 1.22) already accounts for the mean, and the simulator charges
   reserved SMs separately. Raise it (up to 1.4, their max) for a pessimistic what-if. */
typedef struct {
    double sm_scale;              /* SMs; share(s) = 1 - exp(-s / sm_scale) */
    double overlap_gemm_slowdown; /* >= 1: GEMM time factor while communication runs beside it */
} fp8lab_comm_model;

#define FP8LAB_COMM_SM_SCALE_DEFAULT 6.4
#define FP8LAB_OVERLAP_GEMM_SLOWDOWN_DEFAULT 1.0

void fp8lab_comm_model_default(fp8lab_comm_model *cm);
/* Reads the optional object "comm": {"sm_scale": (0, 1024], "overlap_gemm_slowdown": [1, 4]} of a cluster or
   calibration file (absent keys keep *cm). 0, or -1 with an error naming the file, key, value and range. */
struct cJSON;
int fp8lab_comm_model_from_json(const struct cJSON *root, const char *name, fp8lab_comm_model *cm);
/* Share of the link bandwidth reached with `sms` SMs reserved for communication kernels: in (0, 1) for sms >= 1,
   non-decreasing in sms, -> 1; 1 for sms <= 0 (nothing reserved; see above). */
double fp8lab_comm_bw_share(const fp8lab_comm_model *cm, int sms);
/* Scales both link speeds of l by fp8lab_comm_bw_share(cm, sms). */
void fp8lab_links_apply_sms(fp8lab_links *l, const fp8lab_comm_model *cm, int sms);
/* Wall time of compute (t_gemm of GEMMs plus t_rest of other kernels) overlapped with t_comm of communication:
   while communication runs, GEMMs run overlap_gemm_slowdown times slower; the result is >= max(compute, t_comm)
   and equals t_gemm + t_rest + t_comm - (hidden part). With slowdown 1 it is max(t_gemm + t_rest, t_comm). */
double fp8lab_overlap_time(const fp8lab_comm_model *cm, double t_gemm, double t_rest, double t_comm);

#endif
