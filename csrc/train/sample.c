/* Generation for the samples the trainer prints (loop.h: fp8lab_generate, fp8lab_escape_bytes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "train/loop.h"

int fp8lab_generate(fp8lab_gpt *g, fp8lab_backend *be, const int32_t *prompt, int np, int n, int T,
                    double temperature, fp8lab_rng *rng, int32_t *out) {
    const fp8lab_model *m = fp8lab_gpt_config(g);
    if (np < 1 || n < 0 || T < 1 || !(temperature >= 0)) {
        FP8LAB_ERR("generate: needs a prompt of at least one token, n >= 0, T >= 1, temperature >= 0");
        return -1;
    }
    if (m->learned_pos && T > m->max_pos) T = (int)m->max_pos;
    const int V = (int)m->vocab;
    int32_t *ctx = malloc(sizeof(int32_t) * (size_t)(np + n));
    int32_t *rows = malloc(sizeof(int32_t) * (size_t)T);
    float *logits = malloc(sizeof(float) * (size_t)V);
    double *p = malloc(sizeof(double) * (size_t)V);
    int rc = -1;
    if (!ctx || !rows || !logits || !p) {
        FP8LAB_ERR_RT("generate: out of host memory");
        goto done;
    }
    memcpy(ctx, prompt, sizeof(int32_t) * (size_t)np);
    int len = np;
    for (int i = 0; i < n; i++) {
        const int w = len < T ? len : T;
        const int32_t *win = ctx + (len - w);
        memcpy(rows, win, sizeof(int32_t) * (size_t)w);
        if (fp8lab_gpt_forward(g, rows, NULL, 1, w, NULL) ||
            fp8lab_copy_d2h(be, logits, fp8lab_gpt_logits(g) + (size_t)(w - 1) * (size_t)V, sizeof(float) * (size_t)V))
            goto done;
        int best = 0;
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = v;
        int pick = best;
        if (temperature > 0) {
            double sum = 0;
            for (int v = 0; v < V; v++) sum += p[v] = exp((double)(logits[v] - logits[best]) / temperature);
            double u = fp8lab_rng_uniform(rng) * sum, acc = 0;
            pick = V - 1;
            for (int v = 0; v < V; v++) {
                acc += p[v];
                if (u < acc) {
                    pick = v;
                    break;
                }
            }
        }
        ctx[len++] = pick;
        out[i] = pick;
    }
    rc = 0;
done:
    free(ctx);
    free(rows);
    free(logits);
    free(p);
    return rc;
}

void fp8lab_escape_bytes(const int32_t *tok, int n, char *out) {
    char *o = out;
    for (int i = 0; i < n; i++) {
        const int c = tok[i];
        if (c == '\n') o += sprintf(o, "\\n");
        else if (c == '\t') o += sprintf(o, "\\t");
        else if (c == '\\') o += sprintf(o, "\\\\");
        else if (c >= 32 && c < 127) *o++ = (char)c;
        else if (c >= 0 && c < 256) o += sprintf(o, "\\x%02x", (unsigned)c);
        else o += sprintf(o, "<%d>", (int)c);
    }
    *o = 0;
}
