#include "train/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void fp8lab_metrics_derive(fp8lab_metrics_row *r, double tokens_per_step, double flops_per_token,
                           const fp8lab_device_info *dev, double price_per_hour) {
    r->tokens_per_s = r->step_s > 0 ? tokens_per_step / r->step_s : NAN;
    r->tokens_per_gpu_hour = r->tokens_per_s * 3600.0;
    const double flops = r->tokens_per_s * flops_per_token;
    r->mfu_bf16 = dev->peak_tflops_bf16 > 0 ? flops / (dev->peak_tflops_bf16 * 1e12) : NAN;
    r->mfu_fp8 = dev->peak_tflops_fp8 > 0 ? flops / (dev->peak_tflops_fp8 * 1e12) : NAN;
    r->usd_per_mtok = r->tokens_per_gpu_hour > 0 ? price_per_hour / (r->tokens_per_gpu_hour / 1e6) : NAN;
}

static void add_num(cJSON *o, const char *k, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

int fp8lab_metrics_write(FILE *f, const char *path, const fp8lab_metrics_row *r) {
    cJSON *o = cJSON_CreateObject();
    if (!o) goto oom;
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    add_num(o, "loss", r->loss);
    add_num(o, "lr", r->lr);
    add_num(o, "grad_norm", r->grad_norm);
    add_num(o, "step_ms", r->step_s * 1e3);
    add_num(o, "tokens_per_s", r->tokens_per_s);
    add_num(o, "tokens_per_gpu_hour", r->tokens_per_gpu_hour);
    add_num(o, "mfu_bf16", r->mfu_bf16);
    add_num(o, "mfu_fp8", r->mfu_fp8);
    add_num(o, "usd_per_mtok", r->usd_per_mtok);
    cJSON_AddStringToObject(o, "device", r->device ? r->device : "");
    if (isfinite(r->val_loss)) cJSON_AddNumberToObject(o, "val_loss", r->val_loss);
    if (r->skipped) cJSON_AddBoolToObject(o, "skipped", 1);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) goto oom;
    int bad = fprintf(f, "%s\n", s) < 0 || fflush(f);
    free(s);
    if (bad) {
        FP8LAB_ERR_RT("%s: write failed", path);
        return -1;
    }
    return 0;
oom:
    FP8LAB_ERR_RT("%s: out of memory", path);
    return -1;
}

static void si(double v, char *buf, size_t n) {
    if (!isfinite(v)) snprintf(buf, n, "-");
    else if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1fk", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

void fp8lab_metrics_print(FILE *f, const fp8lab_metrics_row *r) {
    char tps[32], tph[32], mfu[64];
    si(r->tokens_per_s, tps, sizeof tps);
    si(r->tokens_per_gpu_hour, tph, sizeof tph);
    if (isfinite(r->mfu_bf16))
        snprintf(mfu, sizeof mfu, " | MFU %.1f%% bf16, %.1f%% fp8", 100 * r->mfu_bf16,
                 isfinite(r->mfu_fp8) ? 100 * r->mfu_fp8 : NAN);
    else
        mfu[0] = 0;
    fprintf(f, "step %5ld/%ld | loss %.4f | lr %.2e | norm %.3f | %.1f ms | %s tok/s | %s tok/device-hour | "
               "$%.3f/Mtok%s%s\n",
            r->step, r->steps, r->loss, r->lr, r->grad_norm, r->step_s * 1e3, tps, tph, r->usd_per_mtok, mfu,
            r->skipped ? " | SKIPPED (non-finite gradient)" : "");
    fflush(f);
}

void fp8lab_metrics_bar(FILE *f, const fp8lab_metrics_row *r, double last_val, double eta_s) {
    const int W = 24;
    int fill = r->steps > 0 ? (int)((double)W * (double)r->step / (double)r->steps) : W;
    if (fill > W) fill = W;
    char bar[32];
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
    bar[W] = 0;
    char tps[32], val[32] = "";
    si(r->tokens_per_s, tps, sizeof tps);
    if (isfinite(last_val)) snprintf(val, sizeof val, " val %.4f", last_val);
    const long e = isfinite(eta_s) && eta_s > 0 ? (long)eta_s : 0;
    fprintf(f, "\r[%s] %ld/%ld loss %.4f%s | %s tok/s | eta %ldm%02lds\033[K", bar, r->step, r->steps, r->loss, val,
            tps, e / 60, e % 60);
    fflush(f);
}
