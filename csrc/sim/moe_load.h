/* Per-expert MoE load as a distribution (issue 11): the tokens an EP rank's grouped GEMM runs are the sum of
   what the router sends to each of its E/ep experts, a random quantity; the EP group moves at the pace of its
   busiest rank (the all-to-all that follows waits for it), so the step pays E[max over ranks] / mean.

   Routing model: each of the ep ranks routes `tokens` tokens per micro-batch; each token picks `topk` distinct
   experts out of E, with probability proportional to the experts' popularity (sequential sampling without
   replacement); the popularity of expert i is (1 + skew g_i) / E, g_i iid standard normal, drawn afresh for
   each layer and micro-batch (skew = 0: a uniform router, the statistical floor). Expert i sits on rank
   floor(i / (E/ep)).

   Analytic form (fp8lab_moe_load_expected): the loads of the n = ep ranks (or n = E experts) sum to a constant,
   and their covariance is that of W_j - mean(W) for iid normal W (multinomial / hypergeometric counts: equal
   variances, correlation -1/(n-1)), so E[max] = mean + sigma M(n) exactly in the normal approximation, with
   M(n) = E[max of n iid N(0,1)] by quadrature and, relative to the mean,
     ranks:   sigma^2 = skew^2 ep/E + (E-k) / ((E-1) T k)
     experts: sigma^2 = skew^2 + E (E-k) / ((E-1) ep T k)
   (T = tokens per rank, k = topk; the (E-k)/(E-1) factor is the without-replacement correction of top-k).
   The step model (sim/step.c) scales a rank's routed-expert GEMMs, element-wise ops and all-to-alls by
   rank_max: a grouped GEMM spreads the tiles of all its local experts over the SMs, so its time follows the
   rank's total tokens (the per-expert tile padding is in the GEMM model's shape of the mean expert), and the
   EP group waits for its busiest rank; expert_max is reported beside it (sim result moe_expert_max).
   fp8lab_moe_load_simulate is the brute-force reference: the routing above, played token by token with a fixed
   seed (tests/test_sim_moe_load.c checks one against the other). */
#ifndef FP8LAB_SIM_MOE_LOAD_H
#define FP8LAB_SIM_MOE_LOAD_H

typedef struct {
    double tokens; /* tokens each EP rank routes per micro-batch, > 0 */
    int topk;      /* distinct experts per token, 1..experts */
    long experts;  /* routed experts E, a multiple of ep */
    int ep;        /* expert-parallel ranks */
    double skew;   /* coefficient of variation of the experts' popularity, >= 0 (0: uniform router) */
} fp8lab_moe_load_in;

typedef struct {
    double rank_max;   /* E[busiest rank's tokens] / mean rank tokens: what the step pays */
    double expert_max; /* E[busiest expert's tokens] / mean expert tokens */
} fp8lab_moe_load;

/* E[max of n iid standard normals] (0 for n <= 1), by quadrature; relative error < 1e-6. */
double fp8lab_expected_max_normal(long n);
/* The analytic expectation above; out->rank_max = 1 when ep <= 1. 0, or -1 with an error for bad inputs. */
int fp8lab_moe_load_expected(const fp8lab_moe_load_in *in, fp8lab_moe_load *out);
/* Brute force: `trials` independent micro-batches routed token by token from seed (deterministic); the mean over
   trials of the busiest rank's and busiest expert's load over the means. Cost O(trials ep T k E): small cases. */
int fp8lab_moe_load_simulate(const fp8lab_moe_load_in *in, int trials, unsigned long long seed, fp8lab_moe_load *out);

#endif
