/* Charts through gnuplot (an external program, found on PATH and run without a shell). Only text we wrote
   ourselves is gnuplot script: anything that came from a user or a file (titles, labels, names) must go
   through fp8lab_gnuplot_str or fp8lab_gnuplot_datum, which cannot produce a line break, a closing quote,
   a backquote or a macro. The output file never appears in the script either: gnuplot draws to its stdout,
   we check the picture and write it with the atomic writer (core/atomic_file.h). */
#ifndef FP8LAB_SIM_PLOT_H
#define FP8LAB_SIM_PLOT_H
#include <stddef.h>

/* 1 when `gnuplot` runs. */
int fp8lab_gnuplot_available(void);
/* 0 for a usable chart file name (non-empty, ending in .png or .svg), or -1 with a usage error. */
int fp8lab_plot_path_check(const char *path);
/* Runs `body` (gnuplot commands, data inline as $name << EOD blocks) on a terminal chosen by out_path's
   extension (pngcairo or svg, width x height pixels, no enhanced-text markup) and writes the picture to
   out_path. Returns 0, or -1 with an error. */
int fp8lab_gnuplot(const char *out_path, int width, int height, const char *body);

/* Untrusted text as a gnuplot single-quoted string literal, quotes included: ' doubled; control characters
   become spaces; backquotes, '@', backslashes and non-ASCII bytes are replaced. Truncated to fit cap (at
   least 3). Returns dst. */
char *fp8lab_gnuplot_str(char *dst, size_t cap, const char *src);
/* Untrusted text as one double-quoted field of an inline datablock, quotes included: the same replacements,
   and '"' becomes '\''. Returns dst. */
char *fp8lab_gnuplot_datum(char *dst, size_t cap, const char *src);

#endif
