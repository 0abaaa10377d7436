/* `cost curve --vary/--vary2`: every swept value is checked against its variable's range when parsed, ranges
   are sane, labels print the value simulated, and labels reach CSV and charts as text. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/num.h"
#include "sim/curve.h"
#include "sim/plot.h"
#include "sim/sweep.h"
#include "test_util.h"

static char g_src[1024];
static fp8lab_sweep *g_s, *g_s2;

static int parse(const char *spec) {
    fp8lab_sweep_free(g_s);
    fp8lab_clear_error();
    return fp8lab_sweep_parse(spec, ".", 16, g_s);
}

/* refused, with a message holding each of the given fragments */
static void refused(const char *spec, const char *frag1, const char *frag2) {
    if (parse(spec) != -1) fail_msg("'%s' was accepted", spec);
    const char *e = fp8lab_last_error();
    if (fp8lab_last_error_exit() != FP8LAB_EXIT_USAGE) fail_msg("'%s': exit %d", spec, fp8lab_last_error_exit());
    if (!strstr(e, "--vary")) fail_msg("'%s': no --vary in: %s", spec, e);
    if (frag1 && !strstr(e, frag1)) fail_msg("'%s': no '%s' in: %s", spec, frag1, e);
    if (frag2 && !strstr(e, frag2)) fail_msg("'%s': no '%s' in: %s", spec, frag2, e);
}

/* the findings of the review: values labelled as swept while something else was simulated */
static void out_of_range_values(void **st) {
    (void)st;
    refused("gpus=1e19,1e20", "gpus=1e19", "[1, 1048576]");
    refused("gpus=inf", "gpus=inf", "[1, 1048576]");
    refused("gpus=nan", "gpus=nan", NULL);
    refused("gpus=0", "gpus=0", "[1, 1048576]");
    refused("gpus=1.5", "gpus=1.5", "whole number");
    refused("gpus=-8", "gpus=-8", NULL);
    refused("gpus=0x10", "gpus=0x10", NULL);
    refused("hbm=0", "hbm=0", "(0, 1000000]");
    refused("ib=0", "ib=0", "(0, 1000000]");
    refused("ib=0,10", "ib=0", NULL);
    refused("nvlink=0,10", "nvlink=0", NULL);
    refused("gemm-eff=0", "gemm-eff=0", "(0, 4]");
    refused("compute-scale=0,1", "compute-scale=0", "(0, 100]");
    refused("mfu=2", "mfu=2", "(0, 1]");
    refused("mfu=0", "mfu=0", "(0, 1]");
    refused("mfu=0.5:2", "mfu=2", "(0, 1]");
    refused("price=-1", "price=-1", "[0, 10000]");
    refused("price=1e5", "price=1e5", NULL);
    refused("moe-imbalance=0.5", "moe-imbalance=0.5", "statistical floor");
    refused("moe-imbalance=101", "moe-imbalance=101", NULL);
    refused("seq=0", "seq=0", "[1, 16777216]");
    refused("global-batch=0", "global-batch=0", NULL);
    refused("micro-batch=0", "micro-batch=0", NULL);
    refused("tp=0", "tp=0", "[1, 1024]");
    refused("tp=2000", "tp=2000", NULL);
    refused("pp=5000", "pp=5000", "[1, 4096]");
    refused("ep=0", "ep=0", NULL);
    refused("comm-sms=-1", "comm-sms=-1", "[0, 1024]");
    refused("comm-sms=2000", "comm-sms=2000", NULL);
    refused("precision=int4", "precision", NULL);
    refused("schedule=interleaved:0", "schedule", NULL);
    refused("recompute=most", "recompute", NULL);
    refused("colour=red", "unknown variable 'colour'", NULL);
    refused("gpus=8,,16", "empty value", NULL);
    refused("gpus=8,", "empty value", NULL);
    refused("gpus=", "no values", NULL);
    refused("gpu=no-such-cluster", "no-such-cluster", NULL);
}

static void bad_ranges(void **st) {
    (void)st;
    refused("gpus=100:10", "FROM must be below TO", NULL);
    refused("gpus=8:8", "FROM must be below TO", NULL);
    refused("gpus=8:64:1", "POINTS '1'", "[2, 4096]");
    refused("gpus=8:64:5000", "POINTS '5000'", NULL);
    refused("gpus=8:64:2.5", "POINTS '2.5'", NULL);
    refused("gpus=8:64:x", "POINTS 'x'", NULL);
    refused("gpus=8::64", "FROM:TO[:POINTS]", NULL);
    refused("gpus=8:16:4:5", "FROM:TO[:POINTS]", NULL);
    refused("gpus=:64", "FROM:TO[:POINTS]", NULL);
    refused("gpus=0:64", "gpus=0", NULL);
    refused("moe-imbalance=0:2", "cannot start at 0", NULL);
    /* the flag that was wrong */
    fp8lab_sweep_free(g_s);
    assert_int_equal(fp8lab_sweep_parse_flag("--vary2", "mfu=2", ".", 16, g_s), -1);
    assert_non_null(strstr(fp8lab_last_error(), "--vary2: mfu=2"));
    /* --points out of range is refused, not used */
    assert_int_equal(fp8lab_sweep_parse("gpus=8:64", ".", 1, g_s), -1);
}

/* each label reads back as exactly the value simulated */
static void labels_are_values(void **st) {
    (void)st;
    const char *specs[] = {"gpus=8,16,1e3", "gpus=64:16384:9", "mfu=0.2:0.6:5", "mfu=0.1:0.2:4", "price=0,2.99",
                           "ib=10:100:7", "moe-imbalance=0,1.25", "gemm-eff=0.123456789,4", "gpus=1:4:16",
                           "compute-scale=1:1.4:5"};
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++) {
        if (parse(specs[k])) fail_msg("'%s': %s", specs[k], fp8lab_last_error());
        for (int i = 0; i < g_s->n; i++) {
            double v = -1;
            assert_int_equal(fp8lab_parse_real(g_s->label[i], FP8LAB_RANGE(-1e300, 1e300), &v), FP8LAB_NUM_OK);
            if (v != g_s->num[i]) fail_msg("'%s': label %s for %.17g", specs[k], g_s->label[i], g_s->num[i]);
            if (i) assert_true(g_s->num[i] > g_s->num[i - 1]);
        }
    }
    assert_int_equal(parse("gpus=8,16,1e3"), 0);
    assert_string_equal(g_s->label[2], "1000");
    assert_int_equal(parse("mfu=0.1:0.2:4"), 0);
    assert_int_equal(g_s->n, 4);
    assert_string_equal(g_s->label[1], "0.1333");
    assert_int_equal(parse("gpus=64:16384:9"), 0);
    assert_true(g_s->n == 9 && g_s->num[1] == 128 && g_s->num[8] == 16384);
    /* 16 geometric points between 1 and 4 round to 1, 2, 3, 4: repeats dropped */
    assert_int_equal(parse("gpus=1:4:16"), 0);
    assert_int_equal(g_s->n, 4);
    assert_int_equal(parse("schedule=interleaved:2,dualpipe"), 0);
    assert_string_equal(g_s->label[0], "interleaved:2");
}

/* Issue 11: 0 SMs for communication is a value a sweep may take; a snapped gpus sweep's labels are the
   snapped values and still read back exactly; interleaved:V is read by the strict parser. */
static void issue11_values(void **st) {
    (void)st;
    assert_int_equal(parse("comm-sms=0:32:5"), 0);
    assert_true(g_s->n == 5 && g_s->num[0] == 0 && g_s->num[4] == 32);
    assert_int_equal(parse("gpus=64:16384"), 0);
    int moved = fp8lab_sweep_snap_gpus(g_s, 24); /* 24 divides none of the 16 geometric points */
    assert_true(moved == 16 && g_s->asked == 16 && g_s->snapped == 16);
    for (int i = 0; i < g_s->n; i++) {
        assert_true((long)g_s->num[i] % 24 == 0);
        assert_true(strtod(g_s->label[i], NULL) == g_s->num[i]);
    }
    refused("schedule=interleaved: 2", "schedule", NULL);
    refused("schedule=interleaved:2.5", "schedule", NULL);
}

/* gpu=FILE.json labels: the file's stem in printable ASCII; CSV quotes it where needed. */
static void gpu_file_labels(void **st) {
    (void)st;
    char src[1200], dir[] = "/tmp/fp8lab_sweep_XXXXXX", dst[1300], spec[1400];
    snprintf(src, sizeof src, "%s/configs/clusters/h100-sxm.json", g_src);
    assert_non_null(mkdtemp(dir));
    snprintf(dst, sizeof dst, "%s/a\"b,\nc.json", dir);
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    assert_true(in && out);
    for (int ch; (ch = fgetc(in)) != EOF;) fputc(ch, out);
    fclose(in), fclose(out);
    snprintf(spec, sizeof spec, "gpu=%s", dst);
    /* a comma splits values: this names "…/a\"b" and "\nc.json", the first of which is no file */
    assert_int_equal(parse(spec), -1);
    char renamed[1300];
    snprintf(renamed, sizeof renamed, "%s/a\"b\nc.json", dir);
    assert_int_equal(rename(dst, renamed), 0);
    snprintf(spec, sizeof spec, "gpu=%s", renamed);
    assert_int_equal(parse(spec), 0);
    assert_string_equal(g_s->label[0], "a\"b?c");
    fp8lab_curve_point pt = {.ok = 0, .i1 = 0};
    snprintf(pt.why, sizeof pt.why, "why, \"quoted\"");
    char *csv = fp8lab_curve_csv(g_s, NULL, &pt);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "\n\"a\"\"b?c\",,,,,,,,,,,\"impossible: why, \"\"quoted\"\"\"\n"));
    free(csv);
    unlink(renamed);
    rmdir(dir);
}

/* copies the h100-sxm cluster file to path */
static void copy_cluster(const char *path) {
    char src[1200];
    snprintf(src, sizeof src, "%s/configs/clusters/h100-sxm.json", g_src);
    FILE *in = fopen(src, "r"), *out = fopen(path, "w");
    assert_true(in && out);
    for (int ch; (ch = fgetc(in)) != EOF;) fputc(ch, out);
    fclose(in), fclose(out);
}

/* CSV injection: a text label a spreadsheet would run as a formula is written with a leading quote; numbers,
   even "-0", are written as they are. */
static void csv_formula_cells(void **st) {
    (void)st;
    const char *stems[] = {"=1+2", "+3", "-4+5", "@SUM(A1)", "=a\"b", "plain"};
    const char *cells[] = {"\n'=1+2,", "\n'+3,", "\n'-4+5,", "\n'@SUM(A1),", "\n\"'=a\"\"b\",", "\nplain,"};
    enum { N = sizeof stems / sizeof stems[0] };
    char dir[] = "/tmp/fp8lab_sweep_XXXXXX", path[N][1200], spec[8000] = "gpu=";
    assert_non_null(mkdtemp(dir));
    for (int k = 0; k < N; k++) {
        snprintf(path[k], sizeof path[k], "%s/%s.json", dir, stems[k]);
        copy_cluster(path[k]);
        snprintf(spec + strlen(spec), sizeof spec - strlen(spec), "%s%s", k ? "," : "", path[k]);
    }
    assert_int_equal(parse(spec), 0);
    fp8lab_curve_point pts[N] = {{0}};
    for (int k = 0; k < N; k++) pts[k] = (fp8lab_curve_point){.ok = 1, .i1 = k, .gpus = 8};
    char *csv = fp8lab_curve_csv(g_s, NULL, pts);
    assert_non_null(csv);
    for (int k = 0; k < N; k++)
        if (!strstr(csv, cells[k])) fail_msg("no cell %s in:\n%s", cells[k] + 1, csv);
    free(csv);
    /* the same label as sweep 2 */
    assert_int_equal(fp8lab_sweep_parse_flag("--vary2", spec, ".", 16, g_s2), 0);
    assert_int_equal(parse("mfu=0.5"), 0);
    pts[0] = (fp8lab_curve_point){.ok = 1, .i1 = 0, .i2 = 0, .gpus = 8};
    csv = fp8lab_curve_csv(g_s, g_s2, pts);
    assert_non_null(strstr(csv, "\n0.5,'=1+2,8,"));
    free(csv);
    fp8lab_sweep_free(g_s2);
    /* numeric cells are left alone */
    assert_int_equal(parse("price=-0,1"), 0);
    pts[1] = (fp8lab_curve_point){.ok = 1, .i1 = 1, .gpus = 8};
    csv = fp8lab_curve_csv(g_s, NULL, pts);
    assert_non_null(strstr(csv, "\n-0,8,"));
    free(csv);
    for (int k = 0; k < N; k++) unlink(path[k]);
    rmdir(dir);
}

/* Whatever goes in, the gnuplot literal is one line, closed, with no backquote, macro or backslash. */
static void gnuplot_quoting(void **st) {
    (void)st;
    char q[64];
    assert_string_equal(fp8lab_gnuplot_str(q, sizeof q, "it's"), "'it''s'");
    assert_string_equal(fp8lab_gnuplot_str(q, sizeof q, "a\nEOD\n`x` @m \\"), "'a EOD ''x'' ?m /'");
    assert_string_equal(fp8lab_gnuplot_datum(q, sizeof q, "a\"b'c\r\n"), "\"a'b'c  \"");
    /* truncation never splits a doubled quote */
    assert_string_equal(fp8lab_gnuplot_str(q, 8, "ab'''''"), "'ab'''");
    assert_string_equal(fp8lab_gnuplot_str(q, 3, "abc"), "''");
    const char *hostile[] = {"'; system('x'); '", "\"; system(\"x\"); \"", "\x01\x7f\xff\xfe", "''''''''''''''''"};
    for (size_t k = 0; k < sizeof hostile / sizeof hostile[0]; k++)
        for (size_t cap = 3; cap < sizeof q; cap++) {
            fp8lab_gnuplot_str(q, cap, hostile[k]);
            size_t n = strlen(q);
            assert_true(n < cap && n >= 2 && q[0] == '\'' && q[n - 1] == '\'');
            /* inside: quotes come in pairs only */
            for (size_t i = 1; i + 1 < n; i++) {
                assert_true((unsigned char)q[i] >= 0x20 && (unsigned char)q[i] < 0x7f);
                assert_true(q[i] != '`' && q[i] != '@' && q[i] != '\\');
                if (q[i] == '\'') assert_true(q[++i] == '\'');
            }
            fp8lab_gnuplot_datum(q, cap, hostile[k]);
            n = strlen(q);
            assert_true(q[0] == '"' && q[n - 1] == '"' && !memchr(q + 1, '"', n - 2));
        }
}

static void curve_run_checks(void **st) {
    (void)st;
    char mp[1200], cp[1200];
    snprintf(mp, sizeof mp, "%s/configs/models/gpt2-124m.json", g_src);
    snprintf(cp, sizeof cp, "%s/configs/clusters/h100-sxm.json", g_src);
    fp8lab_model m;
    fp8lab_cluster c;
    fp8lab_kernel_model km;
    assert_int_equal(fp8lab_model_load(mp, &m), 0);
    assert_int_equal(fp8lab_cluster_load(cp, &c), 0);
    fp8lab_kernel_model_default(&km);
    fp8lab_plan p;
    fp8lab_plan_default(&p);
    p.gpus = 8;
    fp8lab_curve_point pts[8];
    fp8lab_curve_in in = {.m = &m, .c = &c, .km = &km, .base = &p, .price = 2.0, .s1 = g_s};
    /* comm-sms must leave the GPU (132 SMs) some */
    assert_int_equal(parse("comm-sms=0,200"), 0);
    assert_int_equal(fp8lab_curve_run(&in, pts), -1);
    assert_non_null(strstr(fp8lab_last_error(), "comm-sms=200 is not in [0, 132)"));
    /* one variable swept twice */
    assert_int_equal(parse("mfu=0.2,0.4"), 0);
    assert_int_equal(fp8lab_sweep_parse_flag("--vary2", "mfu=0.3", ".", 16, g_s2), 0);
    in.s2 = g_s2;
    assert_int_equal(fp8lab_curve_run(&in, pts), -1);
    assert_non_null(strstr(fp8lab_last_error(), "--vary2: mfu is already swept by --vary"));
    /* a swept bandwidth is simulated whichever flag sweeps the gpu */
    char spec[1300];
    snprintf(spec, sizeof spec, "gpu=%s", cp);
    assert_int_equal(parse(spec), 0);
    assert_int_equal(fp8lab_sweep_parse_flag("--vary2", "hbm=100,3350", ".", 16, g_s2), 0);
    assert_int_equal(fp8lab_curve_run(&in, pts), 0);
    assert_true(pts[0].ok && pts[1].ok);
    assert_true(pts[0].tokens_per_gpu_hour < pts[1].tokens_per_gpu_hour);
    fp8lab_sweep_free(g_s2);
    /* a swept compute scale reaches the kernel model: at 1 the base run exactly, at 2 a step that grows by the
       compute's kernel time (the step is compute-bound here: GPT-2 on 8 GPUs) */
    assert_int_equal(parse("compute-scale=1,2"), 0);
    in.s2 = NULL;
    assert_int_equal(fp8lab_curve_run(&in, pts), 0);
    fp8lab_sim_result r1;
    assert_int_equal(fp8lab_simulate(&m, &c, &km, &p, &r1), 0);
    assert_true(pts[0].ok && pts[1].ok);
    assert_true(pts[0].step_time_s == r1.step_time_s);
    assert_true(pts[1].step_time_s > 1.5 * r1.step_time_s && pts[1].step_time_s < 2 * r1.step_time_s);
}

int main(void) {
    const char *d = getenv("FP8LAB_SOURCE_DIR");
    if (!d) FP8LAB_SKIP("FP8LAB_SOURCE_DIR is not set (run through ctest)");
    snprintf(g_src, sizeof g_src, "%s", d);
    g_s = calloc(1, sizeof *g_s), g_s2 = calloc(1, sizeof *g_s2);
    if (!g_s || !g_s2) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(out_of_range_values), cmocka_unit_test(bad_ranges),    cmocka_unit_test(labels_are_values),
        cmocka_unit_test(gpu_file_labels),     cmocka_unit_test(gnuplot_quoting), cmocka_unit_test(curve_run_checks),
        cmocka_unit_test(csv_formula_cells),   cmocka_unit_test(issue11_values),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    fp8lab_sweep_free(g_s);
    free(g_s), free(g_s2);
    return rc;
}
