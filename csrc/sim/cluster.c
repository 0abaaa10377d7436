#include "sim/cluster.h"

#include <string.h>

#include "core/error.h"
#include "core/json.h"

/* What a cluster file may say: wide enough for any GPU, small enough that nothing downstream overflows. */
enum { MAX_SMS = 1024, MAX_GPUS_PER_NODE = 1024 };
#define MAX_TFLOPS 1e6
#define MAX_HBM_GB 1e5
#define MAX_GBPS 1e6

static const char *PREC[4] = {"bf16", "fp16", "fp8", "fp32"};

const char *fp8lab_prec_name(fp8lab_prec p) { return (unsigned)p < 4 ? PREC[p] : "?"; }

int fp8lab_prec_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, PREC[i])) return i;
    return -1;
}

int fp8lab_cluster_from_json(const cJSON *root, const char *f, fp8lab_cluster *c) {
    memset(c, 0, sizeof *c);
    if (fp8lab_json_str(f, root, "", "name", 0, c->name, sizeof c->name)) return -1;
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(root, "gpu");
    if (!cJSON_IsObject(g)) {
        FP8LAB_ERR("%s: key gpu: %s", f, g ? "expected an object" : "missing");
        return -1;
    }
    if (fp8lab_json_str(f, g, "gpu.", "name", 0, c->gpu.name, sizeof c->gpu.name)) return -1;
    const cJSON *pk = cJSON_GetObjectItemCaseSensitive(g, "peak_tflops");
    if (!cJSON_IsObject(pk)) {
        FP8LAB_ERR("%s: key gpu.peak_tflops: %s", f, pk ? "expected an object" : "missing");
        return -1;
    }
    for (int i = 0; i < 4; i++)
        /* fp8 may be 0: GPUs before Hopper/Ada have no FP8 tensor cores */
        if (fp8lab_json_num(f, pk, "gpu.peak_tflops.", PREC[i], 0,
                            i == FP8LAB_PREC_FP8 ? FP8LAB_RANGE(0, MAX_TFLOPS) : FP8LAB_RANGE_POS(MAX_TFLOPS),
                            &c->gpu.peak_tflops[i]))
            return -1;
    long sms = 0;
    if (fp8lab_json_num(f, g, "gpu.", "hbm_gb", 0, FP8LAB_RANGE_POS(MAX_HBM_GB), &c->gpu.hbm_gb) ||
        fp8lab_json_num(f, g, "gpu.", "hbm_gbps", 0, FP8LAB_RANGE_POS(MAX_GBPS), &c->gpu.hbm_gbps) ||
        fp8lab_json_int(f, g, "gpu.", "sms", 0, FP8LAB_RANGE(1, MAX_SMS), &sms))
        return -1;
    c->gpu.sms = (int)sms;
    long gpn = 0;
    if (fp8lab_json_int(f, root, "", "num_gpus", 0, FP8LAB_RANGE(1, FP8LAB_MAX_GPUS), &c->num_gpus) ||
        fp8lab_json_int(f, root, "", "gpus_per_node", 0, FP8LAB_RANGE(1, MAX_GPUS_PER_NODE), &gpn) ||
        fp8lab_json_num(f, root, "", "intra_node_gbps", 0, FP8LAB_RANGE_POS(MAX_GBPS), &c->intra_node_gbps) ||
        fp8lab_json_num(f, root, "", "inter_node_gbps_per_gpu", 0, FP8LAB_RANGE_POS(MAX_GBPS),
                        &c->inter_node_gbps_per_gpu) ||
        fp8lab_json_num(f, root, "", "price_per_gpu_hour", 0, FP8LAB_RANGE(0, FP8LAB_MAX_PRICE),
                        &c->price_per_gpu_hour))
        return -1;
    c->gpus_per_node = (int)gpn;
    if (c->num_gpus % c->gpus_per_node && c->num_gpus > c->gpus_per_node) {
        FP8LAB_ERR("%s: key num_gpus: %ld is not a multiple of gpus_per_node %d", f, c->num_gpus, c->gpus_per_node);
        return -1;
    }
    return 0;
}

int fp8lab_cluster_load(const char *path, fp8lab_cluster *c) {
    cJSON *root = fp8lab_json_load(path);
    if (!root) return -1;
    int rc = fp8lab_cluster_from_json(root, path, c);
    cJSON_Delete(root);
    return rc;
}

int fp8lab_cluster_for_card(const char *device_name, const char **cluster_file, const char **calib_file) {
    /* H800 before H100: no name holds both */
    static const struct {
        const char *match, *cluster, *calib;
    } CARDS[] = {{"H800", "configs/clusters/h800-2048.json", "configs/calibration/h800.json"},
                 {"H200", "configs/clusters/h200.json", "configs/calibration/h200.json"},
                 {"H100", "configs/clusters/h100-sxm.json", "configs/calibration/h100-sxm.json"},
                 {"A100", "configs/clusters/a100-80gb.json", "configs/calibration/a100-80gb.json"}};
    for (size_t i = 0; i < sizeof CARDS / sizeof CARDS[0]; i++)
        if (device_name && strstr(device_name, CARDS[i].match)) {
            *cluster_file = CARDS[i].cluster, *calib_file = CARDS[i].calib;
            return 0;
        }
    return -1;
}
