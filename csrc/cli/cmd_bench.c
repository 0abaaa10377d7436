/* fp8lab bench <gemm|quant|accum|comm>: dispatch to one file per benchmark. */
#include <stdio.h>
#include <string.h>

#include "cli/bench.h"
#include "cli/commands.h"
#include "core/error.h"

int cmd_bench(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(int, char **);
        const char *help;
    } B[] = {
        {"gemm", bench_gemm, "GEMM time, TFLOP/s, % of peak and error vs fp64, per shape and recipe"},
        {"quant", bench_quant, "quantize kernels' GB/s against a device-to-device copy"},
        {"accum", bench_accum, "FP8 GEMM error with and without FP32 promotion (Hopper accumulator model)"},
        {"comm", bench_comm, "collectives' time, algbw, busbw and #wrong per size (nccl-tests' table; mpirun)"},
    };
    const int nb = (int)(sizeof B / sizeof B[0]);
    if (argc >= 1 && strcmp(argv[0], "--help") && strcmp(argv[0], "-h"))
        for (int i = 0; i < nb; i++)
            if (!strcmp(argv[0], B[i].name)) return B[i].fn(argc - 1, argv + 1);
    FILE *f = argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) ? stdout : stderr;
    if (argc >= 1 && f == stderr) fprintf(f, "error: unknown benchmark '%s'\n", argv[0]);
    fprintf(f, "usage: fp8lab bench <benchmark> [flags]\n");
    for (int i = 0; i < nb; i++) {
        fprintf(f, "  %-6s %s\n", B[i].name, B[i].help);
    }
    return f == stdout ? FP8LAB_EXIT_OK : FP8LAB_EXIT_USAGE;
}
