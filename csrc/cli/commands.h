/* One entry per top-level command; each lives in its own csrc/cli/cmd_*.c file.
   Commands return an exit code (core/error.h: 0 ok, 1 runtime failure, 2 bad usage or input). */
#ifndef FP8LAB_COMMANDS_H
#define FP8LAB_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);   /* bench gemm | quant | accum */
int cmd_sim(int argc, char **argv);
int cmd_claim(int argc, char **argv);
int cmd_cost(int argc, char **argv);    /* cost curve */
int cmd_data(int argc, char **argv);    /* data build | info | builtin */
int cmd_train(int argc, char **argv);   /* train */ int cmd_eval(int argc, char **argv); /* eval */

#endif
