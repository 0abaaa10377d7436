#include "sim/collectives.h"

#include <math.h>

#include "core/error.h"
#include "core/json.h"

void fp8lab_links_init(fp8lab_links *l, double intra_gbps, double inter_gbps) {
    l->intra_gbps = intra_gbps;
    l->inter_gbps = inter_gbps;
    l->alpha_intra_s = 0.6e-6;
    l->alpha_inter_s = 5e-6;
    l->base_s = 5e-6;
}

double fp8lab_busbw_factor(fp8lab_coll c, int n) {
    if (n <= 1) return 0;
    switch (c) {
    case FP8LAB_COLL_ALLREDUCE: return 2.0 * (n - 1) / n;
    case FP8LAB_COLL_REDUCESCATTER:
    case FP8LAB_COLL_ALLGATHER:
    case FP8LAB_COLL_ALLTOALL: return (double)(n - 1) / n;
    case FP8LAB_COLL_SENDRECV: return 1.0;
    default: return 0;
    }
}

/* one level: all n ranks behind links of bw GB/s with per-step latency a */
static double flat(fp8lab_coll c, double bytes, int n, double gbps, double a) {
    if (n <= 1 || bytes <= 0) return 0;
    double bw = bytes * fp8lab_busbw_factor(c, n) / (gbps * 1e9);
    double steps;
    switch (c) {
    case FP8LAB_COLL_ALLREDUCE: {
        /* ring 2(n-1) steps, tree 2 log2 n: NCCL picks the lower latency at small sizes */
        double ring = 2.0 * (n - 1), tree = 2.0 * ceil(log2((double)n));
        steps = ring < tree ? ring : tree;
        break;
    }
    case FP8LAB_COLL_SENDRECV: steps = 1; break;
    default: steps = n - 1;
    }
    return bw + steps * a;
}

double fp8lab_coll_time(const fp8lab_links *l, fp8lab_coll c, double bytes, int n, int g) {
    if (n <= 1 || bytes <= 0 || c == FP8LAB_COLL_NONE) return 0;
    if (g > n) g = n;
    if (g < 1) g = 1;
    if (c == FP8LAB_COLL_SENDRECV)
        return l->base_s + flat(c, bytes, 2, g > 1 ? l->intra_gbps : l->inter_gbps,
                                g > 1 ? l->alpha_intra_s : l->alpha_inter_s);
    if (g == n) return l->base_s + flat(c, bytes, n, l->intra_gbps, l->alpha_intra_s);
    int nodes = n / g;
    if (g == 1) return l->base_s + flat(c, bytes, n, l->inter_gbps, l->alpha_inter_s);
    if (c == FP8LAB_COLL_ALLTOALL) {
        /* (g-1)/n of the buffer stays in the node, (n-g)/n crosses IB; both legs at once */
        double t_nv = bytes * (g - 1) / n / (l->intra_gbps * 1e9);
        double t_ib = bytes * (double)(n - g) / n / (l->inter_gbps * 1e9);
        return l->base_s + (t_nv > t_ib ? t_nv : t_ib) + (nodes - 1) * l->alpha_inter_s + (g - 1) * l->alpha_intra_s;
    }
    double ring_bw = l->intra_gbps < g * l->inter_gbps ? l->intra_gbps : g * l->inter_gbps;
    double ring = flat(c, bytes, n, ring_bw, l->alpha_inter_s);
    double hier;
    if (c == FP8LAB_COLL_ALLREDUCE)
        hier = 2 * flat(FP8LAB_COLL_REDUCESCATTER, bytes, g, l->intra_gbps, l->alpha_intra_s) +
               flat(FP8LAB_COLL_ALLREDUCE, bytes / g, nodes, l->inter_gbps, l->alpha_inter_s);
    else /* reduce-scatter / all-gather: one intra-node and one inter-node stage */
        hier = flat(c, bytes, g, l->intra_gbps, l->alpha_intra_s) +
               flat(c, bytes / g, nodes, l->inter_gbps, l->alpha_inter_s);
    return l->base_s + (ring < hier ? ring : hier);
}

double fp8lab_moe_a2a_time(const fp8lab_links *l, const fp8lab_a2a *a) {
    const double tokens = a->tokens, bytes_per_token = a->bytes_per_token;
    const int topk = a->topk, ep = a->ep, node_limit = a->node_limit;
    if (ep <= 1 || tokens <= 0) return 0;
    const int g = a->g > ep ? ep : a->g;
    int nodes = ep / g;
    /* token-expert pairs landing on another GPU of this node or arriving from IB are written over NVLink */
    double nvl_bytes = tokens * topk * bytes_per_token * (double)(ep - 1) / ep;
    if (nodes <= 1) {
        /* device-limited routing inside one node (DeepSeek-V2, arXiv:2405.04434 sec. 2.2.2-2.2.3: the experts of
           a layer on D = 8 devices, each token's experts on at most M = 3 of them, "each device transmits at
           most MT hidden states"): a token goes once to each distinct remote rank its experts are on */
        if (node_limit > 0) {
            double d = ep * (1.0 - pow(1.0 - 1.0 / ep, topk));
            if (d > node_limit) d = node_limit;
            nvl_bytes = tokens * d * bytes_per_token * (double)(ep - 1) / ep;
        }
        return l->base_s + nvl_bytes / (l->intra_gbps * 1e9) + (g - 1) * l->alpha_intra_s;
    }
    double ib_copies;
    if (node_limit > 0) {
        /* distinct nodes hit by topk experts drawn uniformly from `nodes` nodes, capped by the node limit */
        double d = nodes * (1.0 - pow(1.0 - 1.0 / nodes, topk));
        if (d > node_limit) d = node_limit;
        ib_copies = d * (double)(nodes - 1) / nodes;
    } else {
        ib_copies = topk * (double)(ep - g) / ep;
    }
    double t_ib = tokens * ib_copies * bytes_per_token / (l->inter_gbps * 1e9);
    double t_nv = nvl_bytes / (l->intra_gbps * 1e9);
    return l->base_s + (t_ib > t_nv ? t_ib : t_nv) + (nodes - 1) * l->alpha_inter_s;
}

void fp8lab_comm_model_default(fp8lab_comm_model *cm) {
    cm->sm_scale = FP8LAB_COMM_SM_SCALE_DEFAULT;
    cm->overlap_gemm_slowdown = FP8LAB_OVERLAP_GEMM_SLOWDOWN_DEFAULT;
}

int fp8lab_comm_model_from_json(const cJSON *root, const char *name, fp8lab_comm_model *cm) {
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "comm");
    if (!o) return 0;
    if (!cJSON_IsObject(o)) {
        FP8LAB_ERR("%s: key comm: expected an object with sm_scale and/or overlap_gemm_slowdown", name);
        return -1;
    }
    fp8lab_comm_model t = *cm;
    if (fp8lab_json_num(name, o, "comm.", "sm_scale", 1, FP8LAB_RANGE_POS(1024), &t.sm_scale) < 0 ||
        fp8lab_json_num(name, o, "comm.", "overlap_gemm_slowdown", 1, FP8LAB_RANGE(1, 4), &t.overlap_gemm_slowdown) < 0)
        return -1;
    *cm = t;
    return 0;
}

double fp8lab_comm_bw_share(const fp8lab_comm_model *cm, int sms) {
    if (sms <= 0) return 1.0;
    const double s0 = cm->sm_scale > 0 ? cm->sm_scale : FP8LAB_COMM_SM_SCALE_DEFAULT;
    /* -expm1(-x) = 1 - e^-x without cancellation at small x */
    return -expm1(-(double)sms / s0);
}

void fp8lab_links_apply_sms(fp8lab_links *l, const fp8lab_comm_model *cm, int sms) {
    const double s = fp8lab_comm_bw_share(cm, sms);
    l->intra_gbps *= s;
    l->inter_gbps *= s;
}

double fp8lab_overlap_time(const fp8lab_comm_model *cm, double t_gemm, double t_rest, double t_comm) {
    if (t_gemm < 0) t_gemm = 0;
    if (t_rest < 0) t_rest = 0;
    if (t_comm < 0) t_comm = 0;
    const double comp = t_gemm + t_rest;
    if (comp <= 0 || t_comm <= 0) return comp > t_comm ? comp : t_comm;
    const double sd = cm->overlap_gemm_slowdown >= 1 ? cm->overlap_gemm_slowdown : 1.0;
    /* compute is a uniform mix of GEMMs and the rest: it runs sigma times slower while communication runs */
    const double sigma = (sd * t_gemm + t_rest) / comp;
    if (t_comm >= sigma * comp) return t_comm;
    /* communication ends at t_comm having covered t_comm / sigma of the compute; the rest runs at full speed */
    return t_comm + comp - t_comm / sigma;
}
