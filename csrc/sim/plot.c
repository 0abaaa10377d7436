#include "sim/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"

int fp8lab_gnuplot_available(void) {
    int rc = system("gnuplot -e 'exit' >/dev/null 2>&1");
    return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int fp8lab_gnuplot(const char *out, int width, int height, const char *body) {
    const char *term;
    if (ends_with(out, ".png")) term = "pngcairo";
    else if (ends_with(out, ".svg")) term = "svg";
    else {
        FP8LAB_ERR("%s: plot file must end in .png or .svg", out);
        return -1;
    }
    if (strchr(out, '\'') || strchr(out, '\n')) {
        FP8LAB_ERR("%s: quotes and newlines are not allowed in a plot file name", out);
        return -1;
    }
    char script[] = "/tmp/fp8lab_plotXXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) {
        FP8LAB_ERR("cannot create a temporary gnuplot script: %s", strerror(errno));
        return -1;
    }
    size_t n = strlen(out) + 32;
    char *tmp = malloc(n);
    if (!tmp) {
        close(fd);
        unlink(script);
        FP8LAB_ERR_RT("out of memory");
        return -1;
    }
    snprintf(tmp, n, "%s.tmp.%ld", out, (long)getpid());
    FILE *f = fdopen(fd, "w");
    fprintf(f, "set terminal %s size %d,%d %s\nset output '%s'\n", term, width, height,
            term[0] == 'p' ? "font 'sans,10'" : "font 'sans,11' background rgb 'white'", tmp);
    fputs(body, f);
    fprintf(f, "\nset output\n");
    if (fclose(f) != 0) {
        unlink(script);
        free(tmp);
        FP8LAB_ERR("cannot write the gnuplot script");
        return -1;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "gnuplot %s 2>&1", script);
    FILE *p = popen(cmd, "r");
    char msg[512] = "";
    if (p) {
        size_t got = fread(msg, 1, sizeof msg - 1, p);
        msg[got] = 0;
    }
    int rc = p ? pclose(p) : -1;
    unlink(script);
    if (rc != 0 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        unlink(tmp);
        free(tmp);
        FP8LAB_ERR("gnuplot failed (is gnuplot installed and on PATH?): %.300s", msg);
        return -1;
    }
    int tfd = open(tmp, O_RDONLY);
    if (tfd < 0 || fsync(tfd) != 0) {
        if (tfd >= 0) close(tfd);
        unlink(tmp);
        free(tmp);
        FP8LAB_ERR("%s: gnuplot wrote no picture", out);
        return -1;
    }
    close(tfd);
    if (rename(tmp, out) != 0) {
        FP8LAB_ERR("%s: cannot rename the picture into place: %s", out, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}
