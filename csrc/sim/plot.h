/* Charts through gnuplot (an external program, found on PATH). The script gets the output terminal and file
   from us: PNG (pngcairo) or SVG by the output's extension. The picture is written to a temporary name and
   renamed into place, so a failed run never leaves half a file. */
#ifndef FP8LAB_SIM_PLOT_H
#define FP8LAB_SIM_PLOT_H

/* 1 when `gnuplot` runs. */
int fp8lab_gnuplot_available(void);
/* Runs `body` (gnuplot commands, data inline as $name << EOD blocks) with the terminal set for out_path
   (.png or .svg, width x height pixels). Returns 0, or -1 with an error. */
int fp8lab_gnuplot(const char *out_path, int width, int height, const char *body);

#endif
