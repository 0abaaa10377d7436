/* Command-line flags: each command declares one table; the parser and --help are generated from it. */
#ifndef FP8LAB_FLAGS_H
#define FP8LAB_FLAGS_H
#include "core/num.h"

typedef enum { FLAG_BOOL, FLAG_INT, FLAG_LONG, FLAG_DOUBLE, FLAG_STR } cli_flag_kind;

typedef struct {
    const char *name;   /* without the leading "--" */
    cli_flag_kind kind;
    void *dst;          /* int*, int*, long*, double*, const char** */
    const char *help;   /* one line; the default is shown from *dst */
    fp8lab_range range; /* INT, LONG, DOUBLE: the values accepted (shown in --help); defaults may lie outside
                           it as "unset" markers */
} cli_flag;

/* Parses argv[0..argc) (argv[0] is the first flag, not the program). Accepts "--name value" and
   "--name=value". Returns 0 on success, 1 when --help was printed (caller exits 0), 2 after printing an error
   that names the flag, the value and the allowed range (caller exits 2). Numbers go through the strict parser
   (core/num.h): integers refuse fractions, hex and overflow; reals refuse non-finite values. */
int cli_parse(const char *usage, const cli_flag *flags, int nflags, int argc, char **argv);
void cli_print_help(const char *usage, const cli_flag *flags, int nflags);

#define CLI_NFLAGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
