#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} command;

static const command COMMANDS[] = {
    {"info", cmd_info, "device, peaks and library versions"},
    {"bench", cmd_bench, "bench gemm | quant | accum: measured kernel efficiency and FP8 accuracy"},
    {"sim", cmd_sim, "simulate a training run on a modelled cluster: step time, tokens/GPU-hour, MFU, cost"},
    {"claim", cmd_claim, "test DeepSeek-V3's 2.664M H800 GPU-hour pre-training claim on the simulator"},
    {"cost", cmd_cost, "cost curve: sweep a variable, write CSV and a gnuplot chart"},
    {"data", cmd_data, "data build | info | builtin: llm.c token shards from text, and what a shard holds"},
    {"train", cmd_train, "train a GPT-2/Llama on llm.c shards (default: byte-level GPT on the built-in corpus)"}, {"eval", cmd_eval, "loss of a checkpoint over llm.c shards"},
};

static void usage(FILE *f) {
    fprintf(f, "fp8lab: FP8 mixed-precision training micro-framework\n\nusage: fp8lab <command> [flags]\n\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].help);
    fprintf(f, "\nfp8lab <command> --help lists that command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return FP8LAB_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return FP8LAB_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "error: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return FP8LAB_EXIT_USAGE;
}
