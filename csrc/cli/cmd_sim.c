/* fp8lab sim: one training step of a model on a modeled cluster. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "sim/plan_parse.h"
#include "sim/report.h"

static int usage_err(void) {
    fprintf(stderr, "error: %s\n", fp8lab_last_error());
    return FP8LAB_EXIT_USAGE;
}

int cmd_sim(int argc, char **argv) {
    const char *model_path = NULL, *cluster_path = NULL, *calib = NULL;
    const char *precision = "bf16", *schedule = "1f1b", *recompute = "none";
    int tp = 1, pp = 1, dp = 0, ep = 1, sp = 0, zero = 0, comm_sms = 0, json = 0, no_mtp = 0;
    long gpus = 0, seq = 0, gbatch = 0, mbatch = 1, tokens = 0;
    double price = -1, moe_imb = 0, goodput = 1;
    const cli_flag flags[] = {
        {"model", FLAG_STR, &model_path, "Hugging Face config.json (gpt2, llama, deepseek_v3)"},
        {"cluster", FLAG_STR, &cluster_path, "cluster spec JSON (configs/clusters/)"},
        {"gpus", FLAG_LONG, &gpus, "GPUs to use (0: the cluster's num_gpus)"},
        {"tp", FLAG_INT, &tp, "tensor-parallel degree (inside a node)"},
        {"pp", FLAG_INT, &pp, "pipeline-parallel degree"},
        {"dp", FLAG_INT, &dp, "data-parallel degree (0: gpus / (tp pp))"},
        {"ep", FLAG_INT, &ep, "expert-parallel degree (divides dp)"},
        {"sequence-parallel", FLAG_BOOL, &sp, "sequence parallelism with TP (all-gather/reduce-scatter)"},
        {"seq", FLAG_LONG, &seq, "sequence length (0: min(model max positions, 4096))"},
        {"global-batch", FLAG_LONG, &gbatch, "sequences per step (0: dp x micro-batch x 4 pp)"},
        {"micro-batch", FLAG_LONG, &mbatch, "sequences per micro-batch"},
        {"precision", FLAG_STR, &precision, "GEMM precision: bf16 | fp16 | fp8 | fp32"},
        {"schedule", FLAG_STR, &schedule, "pipeline schedule: 1f1b | interleaved:V | dualpipe"},
        {"recompute", FLAG_STR, &recompute, "activation recompute: none | selective | full"},
        {"zero", FLAG_INT, &zero, "ZeRO stage for the optimizer states: 0 | 1"},
        {"comm-sms", FLAG_INT, &comm_sms, "SMs reserved for communication kernels"},
        {"moe-imbalance", FLAG_DOUBLE, &moe_imb, "busiest/mean expert load in an EP group (0: statistical floor)"},
        {"no-mtp", FLAG_BOOL, &no_mtp, "leave out the multi-token-prediction modules"},
        {"calibration", FLAG_STR, &calib, "GEMM efficiency points from `fp8lab bench gemm --json`"},
        {"tokens", FLAG_LONG, &tokens, "training tokens: also print GPU-hours, days and cost"},
        {"price", FLAG_DOUBLE, &price, "USD per GPU-hour (negative: the cluster file's price)"},
        {"goodput", FLAG_DOUBLE, &goodput, "share of wall-clock time spent training, for --tokens totals"},
        {"json", FLAG_BOOL, &json, "print one JSON object"},
    };
    const char *usage = "fp8lab sim --model FILE --cluster FILE [flags]";
    int rc = cli_parse(usage, flags, CLI_NFLAGS(flags), argc, argv);
    if (rc == 1) return FP8LAB_EXIT_OK;
    if (rc) return FP8LAB_EXIT_USAGE;
    if (!model_path || !cluster_path) {
        fprintf(stderr, "error: --%s is required\nusage: %s (see --help)\n", model_path ? "cluster" : "model", usage);
        return FP8LAB_EXIT_USAGE;
    }
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    fp8lab_plan p;
    if (fp8lab_model_load(model_path, &m) || fp8lab_cluster_load(cluster_path, &c)) return usage_err();
    fp8lab_kernel_model_default(&km);
    if (calib && fp8lab_kernel_model_calibrate(&km, calib, c.gpu.sms)) return usage_err();
    fp8lab_plan_default(&p);
    p.gpus = gpus, p.tp = tp, p.pp = pp, p.dp = dp, p.ep = ep, p.sp = sp;
    p.seq = seq, p.global_batch = gbatch, p.micro_batch = mbatch;
    p.zero = zero, p.comm_sms = comm_sms, p.moe_imbalance = moe_imb, p.mtp = !no_mtp;
    if (goodput <= 0 || goodput > 1) {
        fprintf(stderr, "error: --goodput: %g is not in (0, 1]\n", goodput);
        return FP8LAB_EXIT_USAGE;
    }
    if (tokens < 0) {
        fprintf(stderr, "error: --tokens: must be >= 0\n");
        return FP8LAB_EXIT_USAGE;
    }
    p.goodput = goodput;
    if (fp8lab_parse_precision(precision, &p) || fp8lab_parse_schedule(schedule, &p) ||
        fp8lab_parse_recompute(recompute, &p))
        return usage_err();
    fp8lab_sim_result r;
    if (fp8lab_simulate(&m, &c, &km, &p, &r)) return usage_err();
    if (price < 0) price = c.price_per_gpu_hour;
    if (json) return fp8lab_print_json(fp8lab_sim_json(&r, &c, &p, &km, (double)tokens, price));
    fp8lab_sim_print(stdout, &r, &m, &c, &p, &km, (double)tokens, price);
    return FP8LAB_EXIT_OK;
}
