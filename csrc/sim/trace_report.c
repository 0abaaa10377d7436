/* `fp8lab sim --ops`: the op schedule the simulator played, one line per op with its simulated time, so a
   step's time can be traced to individual GEMMs, kernels and collectives. */
#include <stdio.h>

#include "sim/report.h"

static const char *kind_name(fp8lab_op_kind k) {
    static const char *n[] = {"gemm", "attn", "eltwise", "comm"};
    return (unsigned)k < 4 ? n[k] : "?";
}

static const char *coll_name(fp8lab_coll c) {
    static const char *n[] = {"-", "all-reduce", "reduce-scatter", "all-gather", "all-to-all", "send-recv"};
    return (unsigned)c < sizeof n / sizeof n[0] ? n[c] : "?";
}

static void shape(const fp8lab_op *op, char *buf, size_t n) {
    if (op->kind == FP8LAB_OP_GEMM)
        snprintf(buf, n, "%.0fx%.0fx%.0f", op->m, op->n, op->k);
    else if (op->kind == FP8LAB_OP_COMM)
        snprintf(buf, n, "%s", coll_name(op->coll));
    else
        snprintf(buf, n, "-");
}

void fp8lab_trace_print(FILE *f, const fp8lab_trace *t, const fp8lab_cluster *c) {
    fprintf(f, "\nop schedule, one micro-batch on one rank, SIMULATED on %s (collectives before overlap)\n",
            c->name);
    int kind = -1;
    double sum = 0;
    for (int i = 0; i <= t->n; i++) {
        if (i == t->n || (int)t->ops[i].kind != kind) {
            if (kind >= 0) fprintf(f, "  %-44s %52s %10.1f us\n", "total", "", sum * 1e6);
            if (i == t->n) break;
            kind = (int)t->ops[i].kind;
            sum = 0;
            fprintf(f, "\nlayer kind %s\n  %-4s %-30s %-7s %-5s %18s %6s %10s %10s %10s\n",
                    fp8lab_layer_kind_name(t->ops[i].kind), "pass", "op", "kind", "dtype", "M x N x K / coll",
                    "count", "GFLOP", "MB", "time");
        }
        const fp8lab_op *op = &t->ops[i].op;
        char shp[64];
        shape(op, shp, sizeof shp);
        double gflop = op->kind == FP8LAB_OP_GEMM ? 2 * op->m * op->n * op->k * op->count / 1e9
                       : op->kind == FP8LAB_OP_ATTN ? op->flops * op->count / 1e9 : 0;
        fprintf(f, "  %-4s %-30.30s %-7s %-5s %18s %6.0f %10.2f %10.2f %10.1f us\n", fp8lab_pass_name(op->pass),
                op->name, kind_name(op->kind), fp8lab_prec_name(op->dtype), shp, op->count, gflop, op->bytes / 1e6,
                t->ops[i].time_s * 1e6);
        sum += t->ops[i].time_s;
    }
}

cJSON *fp8lab_trace_json(const fp8lab_trace *t) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < t->n; i++) {
        const fp8lab_op *op = &t->ops[i].op;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "layer", fp8lab_layer_kind_name(t->ops[i].kind));
        cJSON_AddStringToObject(o, "pass", fp8lab_pass_name(op->pass));
        cJSON_AddStringToObject(o, "name", op->name);
        cJSON_AddStringToObject(o, "kind", kind_name(op->kind));
        cJSON_AddStringToObject(o, "dtype", fp8lab_prec_name(op->dtype));
        if (op->kind == FP8LAB_OP_GEMM) {
            cJSON_AddNumberToObject(o, "m", op->m);
            cJSON_AddNumberToObject(o, "n", op->n);
            cJSON_AddNumberToObject(o, "k", op->k);
        }
        if (op->kind == FP8LAB_OP_COMM) cJSON_AddStringToObject(o, "collective", coll_name(op->coll));
        cJSON_AddNumberToObject(o, "count", op->count);
        cJSON_AddNumberToObject(o, "bytes", op->bytes);
        cJSON_AddNumberToObject(o, "time_s", t->ops[i].time_s);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}
