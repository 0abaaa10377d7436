#ifndef FP8LAB_BENCH_H
#define FP8LAB_BENCH_H
int bench_gemm(int argc, char **argv);   /* cmd_bench_gemm.c */
int bench_quant(int argc, char **argv);  /* cmd_bench_quant.c */
int bench_accum(int argc, char **argv);  /* cmd_bench_accum.c */
int bench_comm(int argc, char **argv);   /* cmd_bench_comm.c */
#endif
