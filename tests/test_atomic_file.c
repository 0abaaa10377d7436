/* fp8lab_write_file_atomic: replaces regular files whole, writes devices and FIFOs in place, refuses
   everything else, and never follows or clobbers what someone planted next to the target. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/atomic_file.h"
#include "core/error.h"

static char g_dir[256];

static const char *at(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* the whole file, or "" when missing */
static const char *get(const char *path) {
    static char buf[4096];
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int entries(void) {
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static int write_text(const char *path, const char *text) {
    fp8lab_clear_error();
    return fp8lab_write_file_atomic(path, text, (long)strlen(text));
}

static int setup(void **st) {
    (void)st;
    snprintf(g_dir, sizeof g_dir, "/tmp/fp8lab_atomic_XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *s, int flag, struct FTW *ftw) {
    (void)s, (void)flag, (void)ftw;
    return remove(path);
}

/* our own mkdtemp directory and whatever a failed test left in it; links are removed, not followed */
static int teardown(void **st) {
    (void)st;
    return nftw(g_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void regular_file_replaced_whole(void **st) {
    (void)st;
    const char *p = at("out.csv");
    put(p, "old contents that are longer than the new ones\n");
    assert_int_equal(chmod(p, 0640), 0);
    struct stat a, b;
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(write_text(p, "new\n"), 0);
    assert_int_equal(stat(p, &b), 0);
    assert_string_equal(get(p), "new\n");
    /* a new inode renamed into place, not the old one rewritten; permissions kept; no temporary left */
    assert_true(a.st_ino != b.st_ino);
    assert_int_equal(b.st_mode & 0777, 0640);
    assert_int_equal(entries(), 1);
    for (int i = 0; i < 5; i++) assert_int_equal(write_text(p, "again\n"), 0);
    assert_int_equal(entries(), 1);
    unlink(p);
}

static void new_file_and_empty_data(void **st) {
    (void)st;
    const char *p = at("fresh.csv");
    assert_int_equal(write_text(p, ""), 0);
    struct stat s;
    assert_int_equal(stat(p, &s), 0);
    assert_true(S_ISREG(s.st_mode) && s.st_size == 0);
    unlink(p);
    assert_int_equal(entries(), 0);
}

/* The old writer opened PATH.tmp.PID with O_CREAT|O_TRUNC (following links) and renamed it over PATH: a link
   planted at that name made it overwrite the link's target. */
static void planted_link_at_temp_name_not_followed(void **st) {
    (void)st;
    const char *p = at("out.csv"), *victim = at("victim");
    char planted[600];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", p, (long)getpid());
    put(victim, "precious\n");
    assert_int_equal(symlink(victim, planted), 0);
    assert_int_equal(write_text(p, "data\n"), 0);
    assert_string_equal(get(victim), "precious\n");
    assert_string_equal(get(p), "data\n");
    struct stat s;
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISREG(s.st_mode));
    assert_int_equal(lstat(planted, &s), 0);
    assert_true(S_ISLNK(s.st_mode));
    unlink(planted), unlink(victim), unlink(p);
    assert_int_equal(entries(), 0);
}

static void fifo_written_in_place(void **st) {
    (void)st;
    const char *p = at("fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    /* our own reader, so the writer's open does not wait */
    int rd = open(p, O_RDONLY | O_NONBLOCK);
    assert_true(rd >= 0);
    assert_int_equal(write_text(p, "through the pipe\n"), 0);
    char buf[64] = {0};
    assert_true(read(rd, buf, sizeof buf - 1) > 0);
    close(rd);
    assert_string_equal(buf, "through the pipe\n");
    struct stat s;
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISFIFO(s.st_mode));
    unlink(p);
    assert_int_equal(entries(), 0);
}

/* A null device of our own (root only): the old writer replaced /dev/null with a regular file. */
static void device_written_in_place(void **st) {
    (void)st;
    const char *p = at("null");
    if (mknod(p, S_IFCHR | 0666, makedev(1, 3)) != 0) {
        skip();
        return;
    }
    assert_int_equal(write_text(p, "gone\n"), 0);
    struct stat s;
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISCHR(s.st_mode) && s.st_rdev == makedev(1, 3));
    unlink(p);
    assert_int_equal(entries(), 0);
}

static void directory_refused(void **st) {
    (void)st;
    const char *p = at("dir");
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(write_text(p, "x"), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), "is a directory"));
    assert_non_null(strstr(fp8lab_last_error(), p));
    struct stat s;
    assert_int_equal(lstat(p, &s), 0);
    assert_true(S_ISDIR(s.st_mode));
    rmdir(p);
    assert_int_equal(entries(), 0);
}

static void symlink_followed_and_kept(void **st) {
    (void)st;
    const char *real = at("real.csv"), *link = at("link.csv");
    put(real, "old\n");
    assert_int_equal(symlink("real.csv", link), 0);
    assert_int_equal(write_text(link, "new\n"), 0);
    struct stat s;
    assert_int_equal(lstat(link, &s), 0);
    assert_true(S_ISLNK(s.st_mode));
    assert_string_equal(get(real), "new\n");
    assert_int_equal(entries(), 2);
    unlink(link), unlink(real);
}

static void dangling_symlink_refused(void **st) {
    (void)st;
    const char *link = at("dangling.csv"), *missing = at("missing.csv");
    assert_int_equal(symlink(missing, link), 0);
    assert_int_equal(write_text(link, "x"), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), "symbolic link to a missing file"));
    assert_int_equal(access(missing, F_OK), -1);
    unlink(link);
    assert_int_equal(entries(), 0);
}

static void bad_names(void **st) {
    (void)st;
    assert_int_equal(write_text("", "x"), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), "empty file name"));
    const char *p = at("no/such/dir/out.csv");
    assert_int_equal(write_text(p, "x"), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_USAGE);
    assert_non_null(strstr(fp8lab_last_error(), p));
    assert_non_null(strstr(fp8lab_last_error(), "does not exist"));
    assert_int_equal(write_text(at("trailing/"), "x"), -1);
    assert_int_equal(entries(), 0);
}

/* A failing write is a runtime error (exit 1): a full device answers every write with ENOSPC. Our own when we
   may make one; /dev/full only where /dev is not ours to break (a broken writer would replace it). */
static void io_failure_is_runtime(void **st) {
    (void)st;
    const char *p = at("full");
    struct stat s;
    if (mknod(p, S_IFCHR | 0666, makedev(1, 7)) != 0) {
        p = "/dev/full";
        if (access("/dev", W_OK) == 0 || stat(p, &s) != 0 || !S_ISCHR(s.st_mode)) {
            skip();
            return;
        }
    }
    assert_int_equal(write_text(p, "x"), -1);
    assert_int_equal(fp8lab_last_error_exit(), FP8LAB_EXIT_RUNTIME);
    assert_non_null(strstr(fp8lab_last_error(), p));
    assert_int_equal(stat(p, &s), 0);
    assert_true(S_ISCHR(s.st_mode));
    if (strcmp(p, "/dev/full")) unlink(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(regular_file_replaced_whole), cmocka_unit_test(new_file_and_empty_data),
        cmocka_unit_test(planted_link_at_temp_name_not_followed), cmocka_unit_test(fifo_written_in_place),
        cmocka_unit_test(device_written_in_place), cmocka_unit_test(directory_refused),
        cmocka_unit_test(symlink_followed_and_kept), cmocka_unit_test(dangling_symlink_refused),
        cmocka_unit_test(bad_names), cmocka_unit_test(io_failure_is_runtime),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
