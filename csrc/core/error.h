/* Errors: the library records the last error (with file:line) instead of printing; the CLI prints it. */
#ifndef FP8LAB_ERROR_H
#define FP8LAB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

void fp8lab_set_error(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *fp8lab_last_error(void);
void fp8lab_clear_error(void);

#define FP8LAB_ERR(...) fp8lab_set_error(__FILE__, __LINE__, __VA_ARGS__)

/* Exit codes shared by every command. */
enum { FP8LAB_EXIT_OK = 0, FP8LAB_EXIT_RUNTIME = 1, FP8LAB_EXIT_USAGE = 2 };

#ifdef __cplusplus
}
#endif
#endif
