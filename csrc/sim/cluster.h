/* Hardware and cluster specs (configs/clusters/ JSON files). Units: TFLOP/s dense (no sparsity), GB/s in one
   direction per GPU, GB = 1e9 bytes. */
#ifndef FP8LAB_SIM_CLUSTER_H
#define FP8LAB_SIM_CLUSTER_H

typedef enum { FP8LAB_PREC_BF16 = 0, FP8LAB_PREC_FP16 = 1, FP8LAB_PREC_FP8 = 2, FP8LAB_PREC_FP32 = 3 } fp8lab_prec;

typedef struct {
    char name[64];
    double peak_tflops[4]; /* indexed by fp8lab_prec; fp8 0 = not supported (A100) */
    double hbm_gb, hbm_gbps;
    int sms;
} fp8lab_gpu;

typedef struct {
    char name[64];
    fp8lab_gpu gpu;
    long num_gpus;
    int gpus_per_node;
    double intra_node_gbps, inter_node_gbps_per_gpu;
    double price_per_gpu_hour;
} fp8lab_cluster;

/* Bounds shared by the cluster file and the flags that override it (--gpus, --price, --vary gpus=...). */
#define FP8LAB_MAX_GPUS 1048576L
#define FP8LAB_MAX_PRICE 1e4 /* USD per GPU-hour */

int fp8lab_cluster_load(const char *path, fp8lab_cluster *c);
/* The repository's cluster file and GEMM calibration file for a card, matched by its device name ("NVIDIA H100
   80GB HBM3" -> configs/clusters/h100-sxm.json, configs/calibration/h100-sxm.json), paths relative to the source
   tree; 0, or -1 when no file models that card (the calibration file need not exist yet). */
int fp8lab_cluster_for_card(const char *device_name, const char **cluster_file, const char **calib_file);
struct cJSON;
int fp8lab_cluster_from_json(const struct cJSON *root, const char *name, fp8lab_cluster *c);

const char *fp8lab_prec_name(fp8lab_prec p);
/* "bf16" | "fp16" | "fp8" | "fp32"; returns -1 for anything else */
int fp8lab_prec_parse(const char *s);

#endif
