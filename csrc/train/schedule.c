#include "train/schedule.h"

#include <math.h>

double fp8lab_lr_at(const fp8lab_lr_schedule *s, long step) {
    if (step < 1) step = 1;
    if (s->warmup > 0 && step <= s->warmup) return s->lr * (double)step / (double)s->warmup;
    const double lo = s->lr * s->min_ratio;
    const long span = s->steps - s->warmup;
    if (span <= 0 || step >= s->steps) return step >= s->steps && span > 0 ? lo : s->lr;
    const double p = (double)(step - s->warmup) / (double)span; /* (0, 1) */
    return lo + 0.5 * (s->lr - lo) * (1.0 + cos(3.14159265358979323846 * p));
}
