/* fp8lab claim: DeepSeek-V3's 2.664M H800 GPU-hour pre-training claim, decomposed on the simulator. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/json.h"
#include "core/paths.h"
#include "sim/claim.h"
#include "sim/plan_limits.h"
#include "sim/plot.h"
#include "sim/report.h"

/* the verdict's closing clause: the run at DeepSeek's own measured kernel speed, where the profile was read */
static void at_profile(const fp8lab_claim *o, char *buf, size_t cap) {
    if (o->has_profile)
        snprintf(buf, cap,
                 "; with compute at the speed DeepSeek's own H800 profile measures (x%.2f) it needs %.2fM (%+.0f %%)",
                 o->profile.factor, o->profile_gpu_hours / 1e6, 100 * (o->profile_ratio - 1));
    else
        buf[0] = 0;
}

static void verdict(const fp8lab_claim *o, char *buf, size_t cap) {
    double d = 100 * (o->ratio - 1);
    char tail[200];
    at_profile(o, tail, sizeof tail);
    if (fabs(o->ratio - 1) <= 0.15)
        snprintf(buf, cap,
                 "CONSISTENT: the simulated run needs %.2fM GPU-hours, %+.0f %% from the claimed 2.664M (within 15 %%)%s",
                 o->simulated_gpu_hours / 1e6, d, tail);
    else if (o->ratio < 1)
        snprintf(buf, cap,
                 "CONSISTENT (achievable): the modeled hardware does it in %.2fM GPU-hours, %.0f %% under the claim; "
                 "with the simulator's optimism measured on Megatron-LM's public run (x%.2f) it needs %.2fM (%+.0f %%)%s",
                 o->simulated_gpu_hours / 1e6, -d, o->megatron_factor, o->calibrated_gpu_hours / 1e6,
                 100 * (o->calibrated_ratio - 1), tail);
    else
        snprintf(buf, cap,
                 "NOT CONSISTENT: even the model needs %.2fM GPU-hours, %.0f %% more than claimed: the claimed "
                 "throughput exceeds what the modeled hardware delivers%s",
                 o->simulated_gpu_hours / 1e6, d, tail);
}

static int plot_claim(const fp8lab_claim *o, const char *path) {
    /* waterfall: each term's increment stacked on the previous total, then the final and claimed bars */
    char *body = malloc(16384);
    if (!body) {
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    int n = 0;
    n += snprintf(body + n, 16384 - n, "$d << EOD\n");
    double prev = 0;
    /* in the order sim/claim.c adds its terms */
    static const char *short_label[] = {"ideal", "recompute", "MTP", "MoE imbalance", "batch ramp", "eff. time"};
    const int nl = (int)(sizeof short_label / sizeof short_label[0]);
    for (int i = 0; i < o->nterms; i++) {
        n += snprintf(body + n, 16384 - n, "%d \"%s\" %.4f %.4f %d\n", i, i < nl ? short_label[i] : "?", prev / 1e6,
                      o->terms[i].gpu_hours / 1e6, i == 0 ? 1 : 2);
        prev = o->terms[i].gpu_hours;
    }
    n += snprintf(body + n, 16384 - n, "%d \"simulated\" 0 %.4f 3\n", o->nterms, o->simulated_gpu_hours / 1e6);
    n += snprintf(body + n, 16384 - n, "%d \"x Megatron\\ncalibration\" 0 %.4f 5\n", o->nterms + 1,
                  o->calibrated_gpu_hours / 1e6);
    int bars = o->nterms + 2;
    if (o->has_profile)
        n += snprintf(body + n, 16384 - n, "%d \"x DeepSeek\\nprofile\" 0 %.4f 5\n", bars++,
                      o->profile_gpu_hours / 1e6);
    n += snprintf(body + n, 16384 - n, "%d \"claimed\" 0 %.4f 4\nEOD\n", bars, o->claimed_gpu_hours / 1e6);
    n += snprintf(
        body + n, 16384 - n,
        "set title \"DeepSeek-V3 pre-training, 14.8T tokens on 2048 H800: SIMULATED GPU-hours vs the claim\"\n"
        "set ylabel \"million H800 GPU-hours\"\nset yrange [0:%.3f]\nset grid ytics\nset style fill solid 0.85 border -1\n"
        "set boxwidth 0.7\nset xtics rotate by -30 nomirror\nunset key\n"
        "set palette defined (1 '#4477aa', 2 '#ee6677', 3 '#228833', 4 '#ccbb44', 5 '#66ccee')\nunset colorbox\n"
        "set cbrange [1:5]\n"
        "set xrange [-0.6:%d.6]\n"
        "plot $d using 1:(($3+$4)/2):($1-0.35):($1+0.35):3:4:5:xtic(2) with boxxyerror fc palette, "
        "$d using 1:4:(sprintf('%%.2f', $4)) with labels offset 0,0.7\n",
        fmax(fmax(o->calibrated_gpu_hours, o->claimed_gpu_hours), o->profile_gpu_hours) / 1e6 * 1.15, bars);
    int rc = fp8lab_gnuplot(path, 1000, 560, body);
    free(body);
    return rc;
}

/* "deepseek_profile": DeepSeek's measured kernel families against the simulated ones, and the claim at their factor */
static void json_add_profile(cJSON *j, const fp8lab_claim *o) {
    cJSON *pf = cJSON_AddObjectToObject(j, "deepseek_profile");
    cJSON *fam = cJSON_AddObjectToObject(pf, "families");
    for (int i = 0; fam && i < FP8LAB_PF_N; i++)
        FP8LAB_JSON_ADD_NUMBERS(cJSON_AddObjectToObject(fam, fp8lab_pf_family_name(i)),
                                {"measured_ms", o->profile.measured_ms[i]},
                                {"simulated_ms", o->profile.simulated_ms[i]});
    FP8LAB_JSON_ADD_NUMBERS(pf, {"measured_compute_ms", o->profile.measured_compute_ms},
                            {"simulated_compute_ms", o->profile.simulated_compute_ms}, {"factor", o->profile.factor},
                            {"gpu_hours", o->profile_gpu_hours}, {"ratio", o->profile_ratio});
}

static void json_add_terms(cJSON *j, const fp8lab_claim *o) {
    cJSON *terms = cJSON_AddArrayToObject(j, "decomposition");
    for (int i = 0; terms && i < o->nterms; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "term", o->terms[i].label);
        cJSON_AddStringToObject(t, "source", o->terms[i].source);
        FP8LAB_JSON_ADD_NUMBERS(t, {"gpu_hours", o->terms[i].gpu_hours}, {"added_gpu_hours", o->terms[i].delta});
        cJSON_AddItemToArray(terms, t);
    }
}

static void json_add_whatifs(cJSON *j, const fp8lab_claim *o) {
    cJSON *w = cJSON_AddArrayToObject(j, "what_if");
    for (int i = 0; w && i < 3; i++) {
        const fp8lab_claim_whatif *x = &o->whatif[i];
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "case", x->name);
        FP8LAB_JSON_ADD_NUMBERS(t, {"gpu_hours", x->gpu_hours}, {"days", x->days},
                                {"cost_usd_at_2", x->cost_claim_price}, {"cost_usd_list_price", x->cost_list_price},
                                {"tokens_per_gpu_hour", x->tokens_per_gpu_hour}, {"mfu_bf16", x->mfu_bf16},
                                {"mfu_fp8", x->mfu_fp8}, {"memory_gb_per_gpu", x->memory_gb});
        cJSON_AddItemToArray(w, t);
    }
}

static void json_add_sensitivity(cJSON *j, const fp8lab_claim *o) {
    cJSON *s = cJSON_AddArrayToObject(j, "sensitivity");
    for (int i = 0; s && i < o->nsens; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "input", o->sens[i].name);
        cJSON_AddStringToObject(t, "low", o->sens[i].low_label);
        cJSON_AddStringToObject(t, "high", o->sens[i].high_label);
        FP8LAB_JSON_ADD_NUMBERS(t, {"ratio_low", o->sens[i].ratio_low}, {"ratio_high", o->sens[i].ratio_high});
        cJSON_AddItemToArray(s, t);
    }
}

static cJSON *claim_json(const fp8lab_claim *o, const char *v) {
    cJSON *j = cJSON_CreateObject();
    if (!j) return NULL;
    cJSON_AddStringToObject(j, "simulated_on", o->cluster_name);
    cJSON_AddStringToObject(j, "gpu", o->gpu_name);
    cJSON_AddStringToObject(j, "kernel_model", o->kernel_source);
    FP8LAB_JSON_ADD_NUMBERS(j, {"tokens", o->tokens}, {"claimed_gpu_hours", o->claimed_gpu_hours},
                            {"simulated_gpu_hours", o->simulated_gpu_hours}, {"ratio", o->ratio},
                            {"tokens_per_gpu_hour", o->tokens_per_gpu_hour},
                            {"claimed_tokens_per_gpu_hour", o->claimed_tokens_per_gpu_hour}, {"mfu_bf16", o->mfu_bf16},
                            {"mfu_fp8", o->mfu_fp8}, {"claimed_mfu_bf16", o->claimed_mfu_bf16},
                            {"claimed_mfu_fp8", o->claimed_mfu_fp8}, {"days", o->days},
                            {"claimed_days", o->claimed_days}, {"cost_usd", o->cost},
                            {"claimed_cost_usd", o->claimed_cost},
                            {"model_flops_per_token", o->steady.model_flops_per_token},
                            {"step_time_s", o->steady.step_time_s}, {"memory_gb_per_gpu", o->steady.mem.total_gb},
                            {"megatron_sim_step_s", o->megatron_sim_step_s},
                            {"megatron_published_step_s", o->megatron_pub_step_s},
                            {"megatron_factor", o->megatron_factor}, {"calibrated_gpu_hours", o->calibrated_gpu_hours},
                            {"calibrated_ratio", o->calibrated_ratio});
    cJSON_AddBoolToObject(j, "fits_in_hbm", o->steady.mem.fits);
    if (o->has_profile) json_add_profile(j, o);
    cJSON_AddStringToObject(j, "verdict", v);
    FP8LAB_JSON_ADD_NUMBERS(j, {"match_gemm_scale", o->match_gemm_scale},
                            {"match_moe_imbalance", o->match_moe_imbalance},
                            {"match_compute_scale", o->match_compute_scale}, {"match_goodput", o->match_goodput});
    json_add_terms(j, o);
    json_add_whatifs(j, o);
    json_add_sensitivity(j, o);
    return j;
}

/* The claimed and simulated run side by side. */
static void print_headline(const fp8lab_claim *o) {
    printf("DeepSeek-V3 pre-training claim vs SIMULATED %s (%s x 2048; kernel model: %s)\n", o->cluster_name,
           o->gpu_name, o->kernel_source);
    printf("layout: PP16 DualPipe, EP64, ZeRO-1 DP128, no TP, seq 4096, batch ramp 3072 -> 15360, FP8; "
           "%.1f GFLOP/token\n\n",
           o->steady.model_flops_per_token / 1e9);
    printf("%-34s %14s %14s\n", "", "claimed", "simulated");
    printf("%-34s %13.3fM %13.3fM\n", "pre-training GPU-hours", o->claimed_gpu_hours / 1e6,
           o->simulated_gpu_hours / 1e6);
    printf("%-34s %13.3fM %13.3fM\n", "tokens per GPU-hour", o->claimed_tokens_per_gpu_hour / 1e6,
           o->tokens_per_gpu_hour / 1e6);
    printf("%-34s %13.1f%% %13.1f%%\n", "MFU vs BF16 peak (wall clock)", 100 * o->claimed_mfu_bf16, 100 * o->mfu_bf16);
    printf("%-34s %13.1f%% %13.1f%%\n", "MFU vs FP8 peak (wall clock)", 100 * o->claimed_mfu_fp8, 100 * o->mfu_fp8);
    printf("%-34s %14.1f %14.1f\n", "days on 2048 GPUs", o->claimed_days, o->days);
    printf("%-34s %13.3fM %13.3fM\n", "cost at $2/GPU-hour (USD)", o->claimed_cost / 1e6, o->cost / 1e6);
    printf("%-34s %14s %14.3f\n", "ratio simulated / claimed", "", o->ratio);
}

/* Each modeled loss as it adds up, the steady state it ends in, and the Megatron-LM check of the simulator. */
static void print_decomposition(const fp8lab_claim *o) {
    const fp8lab_sim_result *st = &o->steady;
    printf("\nwhere the simulated GPU-hours come from (each term added to the ones above it):\n");
    for (int i = 0; i < o->nterms; i++)
        printf("  %s%-66s %8.3fM  %+7.3fM (%+5.1f %%)  [%s]\n", i ? "+ " : "  ", o->terms[i].label,
               o->terms[i].gpu_hours / 1e6, i ? o->terms[i].delta / 1e6 : 0.0,
               i ? 100 * o->terms[i].delta / o->terms[i - 1].gpu_hours : 0.0, o->terms[i].source);
    printf("  = simulated %.3fM GPU-hours; claimed %.3fM\n", o->simulated_gpu_hours / 1e6, o->claimed_gpu_hours / 1e6);
    printf("\nsteady state at batch 15360 (simulated): step %.2f s = compute %.2f + exposed comm %.2f + bubble %.2f + "
           "stage imbalance %.2f + optimizer %.2f; memory %.1f GB per GPU%s\n",
           st->step_time_s, st->compute_s, st->exposed_comm_s, st->bubble_s, st->stage_imbalance_s, st->optimizer_s,
           st->mem.total_gb,
           st->mem.fits ? "" : " (over the 80 GB: the memory model lacks some of DeepSeek's unpublished savings)");
    printf("\nsimulator vs a public end-to-end run, Megatron-LM 1T GPT on 3072 A100 (Narayanan et al. 2021):\n"
           "  published 163 TFLOP/s per GPU = %.1f s per step; simulated %.1f s (%.0f TFLOP/s, same FLOP formula);\n"
           "  real/simulated time x%.2f -> the claim case at that factor: %.3fM GPU-hours (ratio %.3f)\n",
           o->megatron_pub_step_s, o->megatron_sim_step_s, o->megatron_sim_tflops, o->megatron_factor,
           o->calibrated_gpu_hours / 1e6, o->calibrated_ratio);
}

static void print_profile(const fp8lab_claim *o) {
    const fp8lab_profile_cmp *pf = &o->profile;
    printf("\nsimulator vs DeepSeek's own H800 training profile (github.com/deepseek-ai/profile-data: one DualPipe "
           "forward and\n  one backward chunk of %d MoE layers, balanced routing; the all-to-all on its own SMs "
           "left out):\n  %-34s %11s %12s %8s\n",
           pf->layers, "kernels", "measured ms", "simulated ms", "ratio");
    for (int i = 0; i < FP8LAB_PF_N; i++)
        printf("  %-34s %11.1f %12.1f %8.2f\n", fp8lab_pf_family_name(i), pf->measured_ms[i], pf->simulated_ms[i],
               pf->measured_ms[i] / pf->simulated_ms[i]);
    printf("  %-34s %11.1f %12.1f %8.2f\n", "compute (streams merged)", pf->measured_compute_ms,
           pf->simulated_compute_ms, pf->factor);
    printf("  real/simulated compute x%.2f -> the claim case with every compute op at that factor: %.3fM GPU-hours "
           "(ratio %.3f)\n",
           pf->factor, o->profile_gpu_hours / 1e6, o->profile_ratio);
}

/* The same run on other GPUs, then the inputs it is most sensitive to (none with --no-sensitivity). */
static void print_whatifs(const fp8lab_claim *o) {
    printf("\nwhat-ifs (simulated, every loss above included):\n");
    printf("  %-28s %12s %8s %14s %16s %8s\n", "case", "GPU-hours", "days", "cost at $2/h", "cost list price",
           "MFU bf16");
    for (int i = 0; i < 3; i++) {
        const fp8lab_claim_whatif *x = &o->whatif[i];
        printf("  %-28s %11.3fM %8.1f %13.2fM %15.2fM %7.1f%%\n", x->name, x->gpu_hours / 1e6, x->days,
               x->cost_claim_price / 1e6, x->cost_list_price / 1e6, 100 * x->mfu_bf16);
    }
    if (!o->nsens) return;
    printf("\ninputs that move the result most (ratio simulated/claimed; base %.3f):\n", o->ratio);
    for (int i = 0; i < o->nsens; i++)
        printf("  %-26s %6s -> %.3f   %6s -> %.3f\n", o->sens[i].name, o->sens[i].low_label, o->sens[i].ratio_low,
               o->sens[i].high_label, o->sens[i].ratio_high);
}

/* The value of each input that alone lands the simulation on the claim (0: none found); goodput is --goodput. */
static void print_matches(const fp8lab_claim *o, double goodput) {
    printf("\nwhat would land the simulation on the claim, one input at a time:\n");
    if (o->match_gemm_scale > 0)
        printf("  GEMM efficiency x%.2f of the measured cuBLASLt table\n", o->match_gemm_scale);
    if (o->match_moe_imbalance > 0)
        printf("  MoE load imbalance %.2f (busiest / mean expert load in the EP group)\n", o->match_moe_imbalance);
    if (o->match_compute_scale > 0) {
        printf("  every compute op (GEMM, attention, element-wise) x%.2f the simulated time", o->match_compute_scale);
        if (o->has_profile) printf(" (DeepSeek's own profile measures x%.2f)", o->profile.factor);
        printf("\n");
    }
    if (o->match_goodput > 0)
        printf("  effective training time %.0f %% instead of %.0f %%\n", 100 * o->match_goodput, 100 * goodput);
}

/* What `fp8lab claim` was asked for. */
typedef struct {
    fp8lab_claim_inputs in; /* its file names point into paths once resolved */
    int json, no_sens;
    const char *plot;
    char paths[6][4096];
} claim_args;

/* What a step returns when the command goes on (every other value is the exit status). */
enum { GO_ON = -1 };

static int claim_parse(claim_args *a, int argc, char **argv) {
    fp8lab_claim_inputs *in = &a->in;
    const cli_flag flags[] = {
        {"model", FLAG_STR, &in->model, "DeepSeek-V3 config.json"},
        {"cluster", FLAG_STR, &in->h800, "the H800 cluster spec"},
        {"h100", FLAG_STR, &in->h100, "H100 cluster spec for the what-if"},
        {"h200", FLAG_STR, &in->h200, "H200 cluster spec for the what-if"},
        {"a100", FLAG_STR, &in->a100, "A100 cluster spec for the Megatron-LM calibration run"},
        {"calibration", FLAG_STR, &in->calibration, "GEMM efficiency points from `fp8lab bench gemm --json`"},
        {"profile", FLAG_STR, &in->profile, "DeepSeek's H800 training profile by kernel family (none: skip)"},
        {"goodput", FLAG_DOUBLE, &in->goodput, "effective-training-time share (Llama 3 report: > 90 %)",
         FP8LAB_RANGE_POS(1)},
        {"moe-imbalance", FLAG_DOUBLE, &in->moe_imbalance, "busiest/mean expert load, >= 1 (0: statistical floor)",
         FP8LAB_RANGE(0, FP8LAB_MAX_MOE_IMBALANCE)},
        {"no-sensitivity", FLAG_BOOL, &a->no_sens, "skip the one-input-at-a-time sensitivity sweep"},
        {"plot", FLAG_STR, &a->plot, "also draw the decomposition (.png or .svg) with gnuplot"},
        {"json", FLAG_BOOL, &a->json, "print one JSON object"},
    };
    int rc = cli_parse("fp8lab claim [flags]", flags, CLI_NFLAGS(flags), argc, argv);
    if (rc == 1) return FP8LAB_EXIT_OK;
    return rc ? FP8LAB_EXIT_USAGE : GO_ON;
}

/* What the flag table's ranges cannot say. */
static int claim_check(claim_args *a) {
    const fp8lab_claim_inputs *in = &a->in;
    if (in->goodput <= 0 || in->goodput > 1) {
        fprintf(stderr, "error: --goodput: %g is not in (0, 1]\n", in->goodput);
        return FP8LAB_EXIT_USAGE;
    }
    /* the busiest expert carries at least the mean load: below 1 the imbalance term would be a saving */
    if (in->moe_imbalance != 0 && in->moe_imbalance < 1) {
        fprintf(stderr, "error: --moe-imbalance: %g is neither 0 (the statistical floor) nor in [1, %g]\n",
                in->moe_imbalance, FP8LAB_MAX_MOE_IMBALANCE);
        return FP8LAB_EXIT_USAGE;
    }
    a->in.sensitivity = !a->no_sens;
    /* a chart name that cannot work fails now, not after the simulation */
    if (a->plot && (!*a->plot || fp8lab_plot_path_check(a->plot))) {
        fprintf(stderr, "error: --plot: %s\n", *a->plot ? fp8lab_last_error() : "empty file name");
        return FP8LAB_EXIT_USAGE;
    }
    return GO_ON;
}

static void claim_resolve_files(claim_args *a) {
    fp8lab_claim_inputs *in = &a->in;
    in->model = fp8lab_resolve_data(in->model, a->paths[0], sizeof a->paths[0]);
    in->h800 = fp8lab_resolve_data(in->h800, a->paths[1], sizeof a->paths[1]);
    in->h100 = fp8lab_resolve_data(in->h100, a->paths[2], sizeof a->paths[2]);
    in->h200 = fp8lab_resolve_data(in->h200, a->paths[3], sizeof a->paths[3]);
    in->a100 = fp8lab_resolve_data(in->a100, a->paths[4], sizeof a->paths[4]);
    /* "none" is the keyword that skips the profile, not a file name */
    if (strcmp(in->profile, "none")) in->profile = fp8lab_resolve_data(in->profile, a->paths[5], sizeof a->paths[5]);
}

/* Simulates the claim into o, then draws it (--plot) and prints it; an exit status. */
static int claim_run_and_report(const claim_args *a, fp8lab_claim *o) {
    if (fp8lab_claim_run(&a->in, o)) {
        fprintf(stderr, "error: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    char v[512];
    verdict(o, v, sizeof v);
    if (a->plot && plot_claim(o, a->plot)) {
        fprintf(stderr, "error: --plot: %s\n", fp8lab_last_error());
        return fp8lab_last_error_exit();
    }
    if (a->json) return fp8lab_print_json(claim_json(o, v));
    print_headline(o);
    print_decomposition(o);
    if (o->has_profile) print_profile(o);
    print_whatifs(o);
    print_matches(o, a->in.goodput);
    printf("\nverdict: %s\n", v);
    return FP8LAB_EXIT_OK;
}

int cmd_claim(int argc, char **argv) {
    claim_args a = {.json = 0, .no_sens = 0, .plot = NULL};
    fp8lab_claim_inputs_default(&a.in);
    int rc = claim_parse(&a, argc, argv);
    if (rc == GO_ON) rc = claim_check(&a);
    if (rc != GO_ON) return rc;
    claim_resolve_files(&a);
    fp8lab_claim *o = calloc(1, sizeof *o);
    if (!o) return FP8LAB_EXIT_RUNTIME;
    rc = claim_run_and_report(&a, o);
    free(o);
    return rc;
}
