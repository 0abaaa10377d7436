/* External programs (gnuplot) run without a shell: argv goes to exec as it is, so no text we pass is ever
   parsed by /bin/sh. Input and output go through anonymous in-memory files (memfd) rather than pipes: a child
   that writes a lot to both stdout and stderr cannot deadlock against us, and nothing touches a file system. */
#ifndef FP8LAB_CORE_SUBPROCESS_H
#define FP8LAB_CORE_SUBPROCESS_H
#include <stddef.h>

typedef struct {
    char *out;      /* everything written to stdout, NUL-terminated (free with fp8lab_subprocess_free) */
    size_t out_len;
    char *err;      /* the first err_max bytes of stderr, NUL-terminated */
    size_t err_len;
    int status;     /* exit status; 128 + N when killed by signal N */
} fp8lab_subprocess;

typedef struct {
    const char *input; /* the child's standard input, input_len bytes; NULL: /dev/null */
    size_t input_len;
    size_t out_max;    /* more stdout than this is an error */
    size_t err_max;    /* stderr kept */
} fp8lab_subprocess_io;

/* Runs argv[0] (looked up on PATH). Returns 0 when the program ran to its end (whatever its exit status: see
   r->status), or -1 with a runtime error: not found on PATH, stdout larger than out_max, or any other failure
   to start it or capture its output. */
int fp8lab_subprocess_run(const char *const argv[], const fp8lab_subprocess_io *io, fp8lab_subprocess *r);
void fp8lab_subprocess_free(fp8lab_subprocess *r);

#endif
