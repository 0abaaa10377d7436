#define _GNU_SOURCE /* open_memstream */
#include "sim/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/subprocess.h"

/* A chart is a few hundred kB; anything near this is not a chart. */
#define PLOT_MAX_BYTES (256u << 20)

typedef struct {
    const char *ext, *terminal, *options;
    const char *magic; /* how the picture starts */
    size_t magic_len;
} plot_format;

static const plot_format FORMATS[] = {
    {.ext = ".png", .terminal = "pngcairo", .options = "font 'sans,10'", .magic = "\x89PNG\r\n\x1a\n", .magic_len = 8},
    {.ext = ".svg", .terminal = "svg", .options = "font 'sans,11' background rgb 'white'", .magic = "<?xml",
     .magic_len = 5},
};

static const plot_format *format_of(const char *path) {
    size_t n = strlen(path);
    for (size_t i = 0; i < sizeof FORMATS / sizeof FORMATS[0]; i++) {
        size_t e = strlen(FORMATS[i].ext);
        if (n > e && !strcmp(path + n - e, FORMATS[i].ext)) return &FORMATS[i];
    }
    return NULL;
}

int fp8lab_plot_path_check(const char *path) {
    if (!path || !*path) {
        FP8LAB_ERR("empty file name");
        return -1;
    }
    if (!format_of(path)) {
        FP8LAB_ERR("%s: a chart file name must end in .png or .svg", path);
        return -1;
    }
    return 0;
}

int fp8lab_gnuplot_available(void) {
    const char *argv[] = {"gnuplot", "-d", "-e", "exit", NULL};
    fp8lab_subprocess r;
    if (fp8lab_subprocess_run(argv, &(fp8lab_subprocess_io){.out_max = 1 << 16, .err_max = 1 << 10}, &r)) {
        fp8lab_clear_error();
        return 0;
    }
    fp8lab_subprocess_free(&r);
    return r.status == 0;
}

/* What may appear between the quotes of a script string or a data field: printable ASCII, minus the
   characters gnuplot gives a meaning to on some path (command substitution, macros, escapes). A line break
   would end the command or the datablock, so none can appear. */
static char safe_char(unsigned char c) {
    if (c < 0x20 || c == 0x7f) return ' ';
    if (c >= 0x80 || c == '@') return '?';
    if (c == '`') return '\'';
    if (c == '\\') return '/';
    return (char)c;
}

static char *quote(char *dst, size_t cap, const char *src, char q) {
    if (cap < 3) {
        if (cap) dst[0] = 0;
        return dst;
    }
    size_t n = 0;
    dst[n++] = q;
    for (const unsigned char *s = (const unsigned char *)src; s && *s; s++) {
        char c = safe_char(*s);
        if (q == '"' && c == '"') c = '\'';
        size_t w = q == '\'' && c == '\'' ? 2 : 1; /* gnuplot: '' inside '...' is one quote */
        if (n + w + 2 > cap) break;                /* room for the closing quote and the NUL */
        while (w--) dst[n++] = c;
    }
    dst[n++] = q;
    dst[n] = 0;
    return dst;
}

char *fp8lab_gnuplot_str(char *dst, size_t cap, const char *src) { return quote(dst, cap, src, '\''); }

char *fp8lab_gnuplot_datum(char *dst, size_t cap, const char *src) { return quote(dst, cap, src, '"'); }

/* The whole script in memory (it goes to gnuplot's standard input, so it is never a file anyone can touch);
   NULL when out of memory. Free with free(). */
static char *build_script(const plot_format *f, int width, int height, const char *body, size_t *len) {
    char *text = NULL;
    FILE *s = open_memstream(&text, len);
    if (!s) return NULL;
    /* no `set output`: the picture goes to gnuplot's stdout */
    fprintf(s, "set terminal %s size %d,%d noenhanced %s\n", f->terminal, width, height, f->options);
    fputs(body, s);
    fputc('\n', s);
    int bad = ferror(s);
    if (fclose(s) || bad) {
        free(text);
        return NULL;
    }
    return text;
}

/* gnuplot's complaint, on one line: its last 300 bytes (the offending line and the reason come last). */
static const char *complaint(char *msg, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f) msg[i] = ' ';
    return len > 300 ? msg + len - 300 : msg;
}

int fp8lab_gnuplot(const char *out, int width, int height, const char *body) {
    if (fp8lab_plot_path_check(out)) return -1;
    const plot_format *f = format_of(out);
    size_t len = 0;
    char *script = build_script(f, width, height, body, &len);
    if (!script) {
        FP8LAB_ERR_RT("out of memory for the gnuplot script");
        return -1;
    }
    /* -d: no ~/.gnuplot, so the picture depends on the script alone; the script comes on stdin */
    const char *argv[] = {"gnuplot", "-d", NULL};
    fp8lab_subprocess r;
    fp8lab_subprocess_io io = {.input = script, .input_len = len, .out_max = PLOT_MAX_BYTES, .err_max = 4096};
    int rc = fp8lab_subprocess_run(argv, &io, &r);
    free(script);
    if (rc) return -1;
    if (r.status != 0) {
        FP8LAB_ERR_RT("gnuplot failed (exit status %d): %s", r.status, complaint(r.err, r.err_len));
        rc = -1;
    } else if (r.out_len < f->magic_len || memcmp(r.out, f->magic, f->magic_len)) {
        FP8LAB_ERR_RT("%s: gnuplot wrote no %s picture (%zu bytes)", out, f->ext + 1, r.out_len);
        rc = -1;
    } else {
        rc = fp8lab_write_file_atomic(out, r.out, (long)r.out_len);
    }
    fp8lab_subprocess_free(&r);
    return rc;
}
