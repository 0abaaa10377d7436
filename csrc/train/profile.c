/* The --profile table (profile.h). */
#include "train/profile.h"

#include <math.h>

static int counts_flops(fp8lab_rec_kind k) { return k == FP8LAB_REC_GEMM || k == FP8LAB_REC_ATTN; }

double fp8lab_profile_rate(const fp8lab_profile *p, fp8lab_rec_kind k, const char **unit) {
    const fp8lab_rec_totals *t = &p->kinds[k];
    *unit = counts_flops(k) ? "TFLOP/s" : "GB/s";
    if (!(t->seconds > 0)) return NAN;
    return counts_flops(k) ? t->flops / t->seconds / 1e12 : t->bytes / t->seconds / 1e9;
}

void fp8lab_profile_print(FILE *f, const fp8lab_profile *p, const char *device) {
    if (!f) return;
    if (p->steps <= 0) {
        fprintf(f, "profile: no step was run\n");
        return;
    }
    const double steps = (double)p->steps, step_ms = 1e3 * p->step_s / steps;
    fprintf(f, "profile: %ld step%s on %s, measured; each backend op timed between two synchronisations of the "
               "device (serialised: a profiled step is slower than a plain one)\n",
            p->steps, p->steps == 1 ? "" : "s", device);
    fprintf(f, "%-16s %11s %10s %10s %16s\n", "op kind", "calls/step", "ms/step", "% of step", "achieved");
    double ops_ms = 0;
    for (int k = 0; k < FP8LAB_REC_NKINDS; k++) {
        const fp8lab_rec_totals *t = &p->kinds[k];
        const double ms = 1e3 * t->seconds / steps;
        const char *unit;
        const double rate = fp8lab_profile_rate(p, (fp8lab_rec_kind)k, &unit);
        ops_ms += ms;
        char rs[32];
        if (isfinite(rate)) snprintf(rs, sizeof rs, "%.3g %s", rate, unit);
        else snprintf(rs, sizeof rs, "-");
        fprintf(f, "%-16s %11.1f %10.3f %9.1f%% %16s\n", fp8lab_rec_kind_name((fp8lab_rec_kind)k),
                (double)t->calls / steps, ms, step_ms > 0 ? 100 * ms / step_ms : 0.0, rs);
    }
    /* negative only by clock jitter on a step that is all ops */
    const double rest = step_ms - ops_ms;
    fprintf(f, "%-16s %11s %10.3f %9.1f%% %16s\n", "outside the ops", "-", rest,
            step_ms > 0 ? 100 * rest / step_ms : 0.0, "-");
    fprintf(f, "%-16s %11s %10.3f %9.1f%%\n", "step", "", step_ms, 100.0);
}
