#include "sim/memory.h"

#include "sim/pipeline.h"

/* Bytes per parameter: BF16 working weight 2, FP32 gradient 4, optimizer 8 (FP32 master + BF16 m and v),
   FP8 casts 2 (W and W^T, 1 B each). */
void fp8lab_memory_of(const fp8lab_memory_in *in, fp8lab_memory *o) {
    double pd = in->params_dense, pe = in->params_expert, p = pd + pe;
    int dp = in->dp > 0 ? in->dp : 1, edp = in->edp > 0 ? in->edp : 1;
    double opt = 8.0;
    const double shard = pd / dp + pe / edp, held = in->zero >= 3 ? shard : p;
    const double fp8_held = p > 0 ? in->fp8_params * held / p : 0;
    *o = (fp8lab_memory){
        .fp8_weights_gb = 2.0 * fp8_held / 1e9,
        .grads_gb = 4.0 * held / 1e9,
        .optim_gb = in->zero >= 1 ? opt * shard / 1e9 : opt * p / 1e9,
        .act_gb = in->act_bytes / 1e9,
        .hbm_gb = in->hbm_gb,
    };
    /* ZeRO-3: the gathered layers in BF16 beside the shard */
    o->weights_gb = 2.0 * (held + (in->zero >= 3 ? in->gather_params : 0)) / 1e9 + o->fp8_weights_gb;
    o->total_gb = o->weights_gb + o->grads_gb + o->optim_gb + o->act_gb;
    o->fits = o->total_gb <= in->hbm_gb;
}

double fp8lab_inflight_microbatches(int s, int p, int v, long m) {
    double n;
    if (s == FP8LAB_PP_INTERLEAVED) n = p * (1.0 + (p - 1.0) / ((double)p * (v > 0 ? v : 1)));
    else if (s == FP8LAB_PP_DUALPIPE) n = p + 1.0;
    else n = p;
    return n < (double)m ? n : (double)m;
}
