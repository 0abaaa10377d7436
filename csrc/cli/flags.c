#include "cli/flags.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_default(const cli_flag *f) {
    switch (f->kind) {
    case FLAG_BOOL: break;
    case FLAG_INT: printf(" (default %d)", *(int *)f->dst); break;
    case FLAG_LONG: printf(" (default %ld)", *(long *)f->dst); break;
    case FLAG_DOUBLE: printf(" (default %g)", *(double *)f->dst); break;
    case FLAG_STR:
        if (*(const char **)f->dst) printf(" (default %s)", *(const char **)f->dst);
        break;
    }
}

void cli_print_help(const char *usage, const cli_flag *flags, int nflags) {
    printf("usage: %s\n\nflags:\n", usage);
    for (int i = 0; i < nflags; i++) {
        const cli_flag *f = &flags[i];
        const char *arg = f->kind == FLAG_BOOL ? "" : f->kind == FLAG_STR ? " STR" : " N";
        printf("  --%s%s%*s%s", f->name, arg, (int)(24 - strlen(f->name) - strlen(arg)) > 1
               ? (int)(24 - strlen(f->name) - strlen(arg)) : 1, "", f->help);
        if (f->kind != FLAG_BOOL && f->kind != FLAG_STR) {
            char rs[96];
            printf(", in %s", fp8lab_range_str(f->range, rs, sizeof rs));
        }
        print_default(f);
        printf("\n");
    }
    printf("  --help%*sthis text\n", 20, "");
}

static int parse_value(const cli_flag *f, const char *v) {
    char rs[96];
    fp8lab_range_str(f->range, rs, sizeof rs);
    int integer = f->kind == FLAG_INT || f->kind == FLAG_LONG;
    if (!fp8lab_range_valid(f->range) ||
        (f->kind == FLAG_INT && (f->range.lo < INT_MIN || f->range.hi > INT_MAX))) {
        fprintf(stderr, "error: --%s: internal: the flag has no valid range %s\n", f->name, rs);
        return 2;
    }
    int64_t i = 0;
    double d = 0;
    int rc = FP8LAB_NUM_SYNTAX;
    switch (f->kind) {
    case FLAG_INT:
    case FLAG_LONG: rc = fp8lab_parse_int(v, f->range, &i); break;
    case FLAG_DOUBLE: rc = fp8lab_parse_real(v, f->range, &d); break;
    case FLAG_STR: *(const char **)f->dst = v; return 0;
    case FLAG_BOOL: break;
    }
    if (rc == FP8LAB_NUM_SYNTAX) {
        fprintf(stderr, "error: --%s: bad value '%s' (expected %s in %s)\n", f->name, v,
                integer ? "a whole decimal number" : "a finite number", rs);
        return 2;
    }
    if (rc == FP8LAB_NUM_RANGE) {
        fprintf(stderr, "error: --%s: %s is not in %s\n", f->name, v, rs);
        return 2;
    }
    if (f->kind == FLAG_INT) *(int *)f->dst = (int)i;
    else if (f->kind == FLAG_LONG) *(long *)f->dst = (long)i;
    else *(double *)f->dst = d;
    return 0;
}

int cli_parse(const char *usage, const cli_flag *flags, int nflags, int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_print_help(usage, flags, nflags);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "error: unexpected argument '%s'\nusage: %s (see --help)\n", a, usage);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_flag *f = NULL;
        for (int j = 0; j < nflags; j++)
            if (strlen(flags[j].name) == len && !strncmp(flags[j].name, name, len)) f = &flags[j];
        if (!f) {
            fprintf(stderr, "error: unknown flag '--%.*s'\nusage: %s (see --help)\n", (int)len, name, usage);
            return 2;
        }
        if (f->kind == FLAG_BOOL) {
            if (eq) {
                fprintf(stderr, "error: --%s takes no value\n", f->name);
                return 2;
            }
            *(int *)f->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "error: --%s needs a value\n", f->name);
            return 2;
        }
        int rc = parse_value(f, v);
        if (rc) return rc;
    }
    return 0;
}
