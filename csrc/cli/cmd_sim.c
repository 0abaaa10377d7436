/* placeholder until the simulator lands (issue 4) */
#include <stdio.h>
#include "cli/commands.h"
#include "core/error.h"
int cmd_sim(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "error: fp8lab sim is not built yet\n");
    return FP8LAB_EXIT_USAGE;
}
