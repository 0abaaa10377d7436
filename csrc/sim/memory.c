#include "sim/memory.h"

#include "sim/pipeline.h"

void fp8lab_memory_estimate(double pd, double pe, int dp, int edp, int zero, double act, double hbm,
                            fp8lab_memory *o) {
    double p = pd + pe;
    o->weights_gb = 2.0 * p / 1e9;
    o->grads_gb = 4.0 * p / 1e9;
    double opt = 8.0; /* FP32 master + BF16 m and v */
    o->optim_gb = zero >= 1 ? opt * (pd / (dp > 0 ? dp : 1) + pe / (edp > 0 ? edp : 1)) / 1e9 : opt * p / 1e9;
    o->act_gb = act / 1e9;
    o->total_gb = o->weights_gb + o->grads_gb + o->optim_gb + o->act_gb;
    o->hbm_gb = hbm;
    o->fits = o->total_gb <= hbm;
}

double fp8lab_inflight_microbatches(int s, int p, int v, long m) {
    double n;
    if (s == FP8LAB_PP_INTERLEAVED) n = p * (1.0 + (p - 1.0) / ((double)p * (v > 0 ? v : 1)));
    else if (s == FP8LAB_PP_DUALPIPE) n = p + 1.0;
    else n = p;
    return n < (double)m ? n : (double)m;
}
