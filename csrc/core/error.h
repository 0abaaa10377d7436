/* Errors: the library records the last error (with file:line) instead of printing; the CLI prints it. */
#ifndef FP8LAB_ERROR_H
#define FP8LAB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* Exit codes shared by every command. */
enum { FP8LAB_EXIT_OK = 0, FP8LAB_EXIT_RUNTIME = 1, FP8LAB_EXIT_USAGE = 2 };

void fp8lab_set_error(const char *file, int line, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
const char *fp8lab_last_error(void);
/* The exit status the last error calls for: FP8LAB_EXIT_USAGE for bad input (FP8LAB_ERR), FP8LAB_EXIT_RUNTIME
   for failures of the machine (FP8LAB_ERR_RT: out of memory, I/O, device). */
int fp8lab_last_error_exit(void);
void fp8lab_clear_error(void);

#define FP8LAB_ERR(...) fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_USAGE, __VA_ARGS__)
#define FP8LAB_ERR_RT(...) fp8lab_set_error(__FILE__, __LINE__, FP8LAB_EXIT_RUNTIME, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
