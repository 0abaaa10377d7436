#include "sim/profile.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/json.h"

static const char *const NAMES[FP8LAB_PF_N] = {"gemm_fp8_wgrad",  "gemm_fp8_experts_fwd_dgrad",
                                               "gemm_fp8_dense_fwd_dgrad", "gemm_bf16", "attention_fwd",
                                               "attention_bwd",   "other"};

const char *fp8lab_pf_family_name(int f) { return f >= 0 && f < FP8LAB_PF_N ? NAMES[f] : "?"; }

fp8lab_pf_family fp8lab_pf_family_of(const fp8lab_op *op) {
    if (op->kind == FP8LAB_OP_GEMM && op->dtype == FP8LAB_PREC_FP8)
        return op->pass == FP8LAB_PASS_W ? FP8LAB_PF_WGRAD : op->moe ? FP8LAB_PF_EXPERTS : FP8LAB_PF_DENSE;
    if (op->kind == FP8LAB_OP_GEMM) return FP8LAB_PF_BF16;
    if (op->kind == FP8LAB_OP_ATTN) return op->pass == FP8LAB_PASS_B ? FP8LAB_PF_ATTN_B : FP8LAB_PF_ATTN_F;
    return FP8LAB_PF_OTHER;
}

/* the measured side: layers, tokens, GEMM CTAs and each family's kernel time */
enum { MAX_CTAS = 1 << 20 };
typedef struct {
    long layers, tokens, ctas;
} shape_t;

static int read_measured(const char *f, const cJSON *root, shape_t *s, fp8lab_profile_cmp *o) {
    const fp8lab_range pos = FP8LAB_RANGE_POS(1e9);
    if (fp8lab_json_int(f, root, "", "layers", 0, FP8LAB_RANGE(1, 1024), &s->layers) ||
        fp8lab_json_int(f, root, "", "tokens", 0, FP8LAB_RANGE(1, 1L << 30), &s->tokens) ||
        fp8lab_json_num(f, root, "", "compute_busy_ms", 0, pos, &o->measured_compute_ms))
        return -1;
    /* the GEMMs' CTA counts (grid sizes): the largest is the SMs the GEMMs had */
    const cJSON *ctas = cJSON_GetObjectItemCaseSensitive(root, "gemm_ctas");
    s->ctas = 0;
    for (const cJSON *v = cJSON_IsArray(ctas) ? ctas->child : NULL; v; v = v->next) {
        if (!cJSON_IsNumber(v)) {
            FP8LAB_ERR("%s: key gemm_ctas: expected numbers (the GEMMs' CTA counts)", f);
            return -1;
        }
        const double x = v->valuedouble;
        if (!(x >= 1 && x <= MAX_CTAS) || x != (double)(long)x) {
            FP8LAB_ERR("%s: key gemm_ctas: %g is not a whole CTA count in [1, %d]", f, x, MAX_CTAS);
            return -1;
        }
        if (x > s->ctas) s->ctas = (long)x;
    }
    if (s->ctas <= 0) {
        FP8LAB_ERR("%s: key gemm_ctas: expected a non-empty array of the GEMMs' CTA counts", f);
        return -1;
    }
    const cJSON *fams = cJSON_GetObjectItemCaseSensitive(root, "families");
    if (!cJSON_IsObject(fams)) {
        FP8LAB_ERR("%s: key families: %s", f, fams ? "expected an object" : "missing");
        return -1;
    }
    for (int i = 0; i < FP8LAB_PF_N; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "families.%s.", NAMES[i]);
        const cJSON *fam = cJSON_GetObjectItemCaseSensitive(fams, NAMES[i]);
        if (!cJSON_IsObject(fam)) {
            FP8LAB_ERR("%s: key families.%s: %s", f, NAMES[i], fam ? "expected an object" : "missing");
            return -1;
        }
        if (fp8lab_json_num(f, fam, prefix, "ms", 0, FP8LAB_RANGE(0, 1e9), &o->measured_ms[i])) return -1;
    }
    return 0;
}

/* the simulated side: the plan's MoE-layer ops, one micro-batch, times the profile's layers */
static int simulate_chunk(const char *f, const shape_t *s, const fp8lab_model *m, const fp8lab_cluster *c,
                          const fp8lab_kernel_model *km, const fp8lab_plan *plan, fp8lab_profile_cmp *o) {
    fp8lab_sim_result r;
    fp8lab_trace tr = {0};
    if (fp8lab_simulate_trace(m, c, km, plan, &r, &tr)) {
        free(tr.ops);
        return -1;
    }
    if (r.seq * r.micro_batch != s->tokens || c->gpu.sms - plan->comm_sms != s->ctas) {
        free(tr.ops);
        FP8LAB_ERR("%s: the profile's micro-batch has %ld tokens on %ld SMs; the plan's has %ld on %d", f, s->tokens,
                   s->ctas, r.seq * r.micro_batch, c->gpu.sms - plan->comm_sms);
        return -1;
    }
    int found = 0;
    /* kernel time against kernel time: the profile's families sum kernel durations, without the boundaries
       between them that each simulated op carries */
    for (int i = 0; i < tr.n; i++)
        if (tr.ops[i].kind == FP8LAB_LAYER_MOE && tr.ops[i].op.kind != FP8LAB_OP_COMM) {
            o->simulated_ms[fp8lab_pf_family_of(&tr.ops[i].op)] +=
                (tr.ops[i].time_s - tr.ops[i].boundary_s) * 1e3 * (double)s->layers;
            found = 1;
        }
    free(tr.ops);
    if (!found) {
        FP8LAB_ERR("%s: the profile holds MoE layers; the model has none", f);
        return -1;
    }
    return 0;
}

int fp8lab_profile_compare(const char *path, const fp8lab_model *m, const fp8lab_cluster *c,
                           const fp8lab_kernel_model *km, const fp8lab_plan *plan, fp8lab_profile_cmp *out) {
    memset(out, 0, sizeof *out);
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    shape_t s;
    int rc = read_measured(path, root, &s, out) || simulate_chunk(path, &s, m, c, km, plan, out) ? -1 : 0;
    cJSON_Delete(root);
    if (rc) return -1;
    out->layers = (int)s.layers;
    for (int i = 0; i < FP8LAB_PF_N; i++) out->simulated_compute_ms += out->simulated_ms[i];
    out->factor = out->measured_compute_ms / out->simulated_compute_ms;
    return 0;
}
