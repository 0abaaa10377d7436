#include "sim/plan_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/plan_limits.h"

int fp8lab_parse_schedule(const char *s, fp8lab_plan *p) {
    if (!strcmp(s, "1f1b")) {
        p->schedule = FP8LAB_PP_1F1B;
        p->vchunks = 1;
        return 0;
    }
    if (!strcmp(s, "dualpipe")) {
        p->schedule = FP8LAB_PP_DUALPIPE;
        p->vchunks = 1;
        return 0;
    }
    if (!strcmp(s, "zb-h1")) {
        p->schedule = FP8LAB_PP_ZB1;
        p->vchunks = 1;
        return 0;
    }
    if (!strncmp(s, "interleaved:", 12)) {
        int64_t v; /* the strict parser: no "+2", " 2" or "2.5" */
        if (fp8lab_parse_int(s + 12, FP8LAB_RANGE(1, FP8LAB_MAX_VCHUNKS), &v) == FP8LAB_NUM_OK) {
            p->schedule = FP8LAB_PP_INTERLEAVED;
            p->vchunks = (int)v;
            return 0;
        }
    }
    FP8LAB_ERR("--schedule: bad value '%s' (expected 1f1b, interleaved:V with V in 1..64, dualpipe or zb-h1)", s);
    return -1;
}

/* Each name table's length, so that parsing and printing a value read the same table */
#define NNAMES(names) ((int)(sizeof names / sizeof names[0]))

/* The index of s in names[0 .. n), or -1 with an error naming the flag, the value and what it takes. */
static int pick(const char *flag, const char *s, const char *const *names, int n, const char *expected) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    FP8LAB_ERR("%s: bad value '%s' (expected %s)", flag, s, expected);
    return -1;
}

/* names[i], or "?" outside the table */
static const char *name_of(const char *const *names, int n, int i) { return i >= 0 && i < n ? names[i] : "?"; }

static const char *const recompute_names[] = {"none", "selective", "full"};

int fp8lab_parse_recompute(const char *s, fp8lab_plan *p) {
    int i = pick("--recompute", s, recompute_names, NNAMES(recompute_names), "none, selective or full");
    if (i < 0) return -1;
    p->recompute = (fp8lab_recompute)i;
    return 0;
}

int fp8lab_parse_precision(const char *s, fp8lab_plan *p) {
    int v = fp8lab_prec_parse(s);
    if (v < 0) {
        FP8LAB_ERR("--precision: bad value '%s' (expected bf16, fp16, fp8 or fp32)", s);
        return -1;
    }
    p->prec = (fp8lab_prec)v;
    return 0;
}

static const char *const attn_names[] = {"flash3", "flash2", "unfused", "cudnn"};
static const char *const tp_overlap_names[] = {"none", "wgrad", "userbuffers"};
static const char *const loss_names[] = {"fused", "megatron", "torch"};

int fp8lab_parse_attention(const char *s, fp8lab_plan *p) {
    int i = pick("--attention", s, attn_names, NNAMES(attn_names), "flash3, flash2, cudnn or unfused");
    if (i < 0) return -1;
    p->attn_impl = i;
    return 0;
}

int fp8lab_parse_tp_overlap(const char *s, fp8lab_plan *p) {
    int i = pick("--tp-overlap", s, tp_overlap_names, NNAMES(tp_overlap_names), "wgrad, userbuffers or none");
    if (i < 0) return -1;
    p->tp_overlap = i;
    return 0;
}

int fp8lab_parse_loss(const char *s, fp8lab_plan *p) {
    int i = pick("--loss", s, loss_names, NNAMES(loss_names), "fused, megatron or torch");
    if (i < 0) return -1;
    p->loss = (fp8lab_loss)i;
    return 0;
}

const char *fp8lab_loss_name(fp8lab_loss loss) { return name_of(loss_names, NNAMES(loss_names), (int)loss); }

const char *fp8lab_attention_name(int attn_impl) { return name_of(attn_names, NNAMES(attn_names), attn_impl); }

const char *fp8lab_tp_overlap_name(int tp_overlap) {
    return name_of(tp_overlap_names, NNAMES(tp_overlap_names), tp_overlap);
}

const char *fp8lab_schedule_name(const fp8lab_plan *p, char *buf, int cap) {
    if (p->schedule == FP8LAB_PP_DUALPIPE) snprintf(buf, (size_t)cap, "dualpipe");
    else if (p->schedule == FP8LAB_PP_INTERLEAVED) snprintf(buf, (size_t)cap, "interleaved:%d", p->vchunks);
    else if (p->schedule == FP8LAB_PP_ZB1) snprintf(buf, (size_t)cap, "zb-h1");
    else snprintf(buf, (size_t)cap, "1f1b");
    return buf;
}

const char *fp8lab_recompute_name(fp8lab_recompute r) {
    return name_of(recompute_names, NNAMES(recompute_names), (int)r);
}
