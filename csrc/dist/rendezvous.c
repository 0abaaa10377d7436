/* Rank 0's blob to every rank, through a shared file or one TCP listener (rendezvous.h). */
#define _POSIX_C_SOURCE 200809L /* getaddrinfo, nanosleep, clock_gettime */
#include "dist/rendezvous.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/num.h"

enum { BLOB = FP8LAB_RDV_BLOB_BYTES, JOB_ID_MAX = 63 };

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_ms(long ms) {
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static int timeout_from_env(double *out) {
    const char *s = getenv("FP8LAB_RENDEZVOUS_TIMEOUT");
    *out = 60.0;
    if (!s) return 0;
    if (fp8lab_parse_real(s, FP8LAB_RANGE_POS(1e6), out) == FP8LAB_NUM_OK) return 0;
    FP8LAB_ERR("rendezvous: FP8LAB_RENDEZVOUS_TIMEOUT='%.40s' is not a number of seconds in (0, 1e6]", s);
    return -1;
}

static int job_id_ok(const char *s) {
    const size_t n = strlen(s);
    int ok = n > 0 && n <= JOB_ID_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             s[i] == '-' || s[i] == '_' || s[i] == '.';
    return ok;
}

/* The job id goes into the file on one line, so it must be one word. Under srun the step is part of it: two
   steps of one allocation sharing a path must not take each other's ids. */
static int job_id(char *out, size_t n) {
    const char *slurm = getenv("SLURM_JOB_ID"), *step = getenv("SLURM_STEP_ID");
    const char *var = slurm ? "SLURM_JOB_ID" : "FP8LAB_JOB_ID";
    const char *s = slurm ? slurm : getenv("FP8LAB_JOB_ID");
    if (!s) s = "none";
    if (slurm && step && *step)
        snprintf(out, n, "%s.%s", s, step);
    else
        snprintf(out, n, "%s", s);
    if (job_id_ok(out)) return 0;
    FP8LAB_ERR("rendezvous: %s='%.80s'%s%.20s is not a job id (1 to %d letters, digits, '.', '-', '_')", var, s,
               slurm && step ? " with SLURM_STEP_ID=" : "", slurm && step ? step : "", JOB_ID_MAX);
    return -1;
}

/* ---- file ------------------------------------------------------------------------------------------------------ */

#define FILE_MAGIC "fp8lab-rendezvous v1"

static int write_blob_file(const char *path, const char *job, int size, const unsigned char *blob) {
    char text[512];
    int n = snprintf(text, sizeof text, FILE_MAGIC "\njob %s\nsize %d\nblob ", job, size);
    for (int i = 0; i < BLOB; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%02x", blob[i]);
    n += snprintf(text + n, sizeof text - (size_t)n, "\n");
    return fp8lab_write_file_atomic(path, text, n);
}

typedef enum { FILE_MISSING, FILE_GARBLED, FILE_OTHER_JOB, FILE_READY } file_state;

typedef struct {
    char job[JOB_ID_MAX + 1];
    int size;
    unsigned char blob[BLOB];
} blob_file;

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static file_state parse_blob_file(const char *text, blob_file *f) {
    char hex[2 * BLOB + 2] = "", size[32] = "";
    int64_t n = 0;
    /* the size as text, then checked: %d on a number out of int's range is undefined (glibc wraps it, so
       "size 4294967298" passed for 2 ranks) */
    if (sscanf(text, FILE_MAGIC "\njob %63s\nsize %31[-+0123456789]\nblob %257s", f->job, size, hex) != 3 ||
        strlen(hex) != 2 * BLOB || fp8lab_parse_int(size, FP8LAB_RANGE(INT_MIN, INT_MAX), &n) != FP8LAB_NUM_OK)
        return FILE_GARBLED;
    f->size = (int)n;
    for (int i = 0; i < BLOB; i++) {
        const int hi = hex_nibble(hex[2 * i]), lo = hex_nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return FILE_GARBLED;
        f->blob[i] = (unsigned char)(hi << 4 | lo);
    }
    return FILE_READY;
}

static file_state read_blob_file(const char *path, const char *job, blob_file *f) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return FILE_MISSING;
    char text[1024];
    const size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = 0;
    const file_state s = parse_blob_file(text, f);
    if (s == FILE_READY && strcmp(f->job, job) != 0) return FILE_OTHER_JOB;
    return s;
}

static void file_timeout(const char *path, file_state s, const blob_file *f, const char *job, double timeout) {
    if (s == FILE_OTHER_JOB)
        FP8LAB_ERR("rendezvous file %s: written by job '%s', not this job '%s', and not replaced by rank 0 within "
                   "%g s (hint: a stale file from an earlier job: remove it, or give each job its own path)",
                   path, f->job, job, timeout);
    else if (s == FILE_GARBLED)
        FP8LAB_ERR_RT("rendezvous file %s: not an fp8lab rendezvous file, and not replaced by rank 0 within %g s",
                      path, timeout);
    else
        FP8LAB_ERR_RT("rendezvous file %s: not written by rank 0 within %g s (hint: is rank 0 running, and is the "
                      "path on a file system every node shares?)", path, timeout);
}

/* Another job's file may sit there until rank 0 replaces it, so only this job's file is final. */
static int file_rendezvous(const char *path, const fp8lab_launch *l, unsigned char *blob, double timeout) {
    char job[JOB_ID_MAX + 2];
    if (job_id(job, sizeof job)) return -1;
    if (l->rank == 0) return write_blob_file(path, job, l->size, blob);
    const double deadline = now_s() + timeout;
    blob_file f = {.size = 0};
    file_state s;
    while ((s = read_blob_file(path, job, &f)) != FILE_READY) {
        if (now_s() >= deadline) {
            file_timeout(path, s, &f, job, timeout);
            return -1;
        }
        sleep_ms(20);
    }
    if (f.size != l->size) {
        FP8LAB_ERR("rendezvous file %s: mismatched world size: rank 0 of job '%s' wrote it for %d ranks, rank %d "
                   "has %d", path, job, f.size, l->rank, l->size);
        return -1;
    }
    memcpy(blob, f.blob, BLOB);
    return 0;
}

/* ---- TCP ------------------------------------------------------------------------------------------------------- */

/* Both messages are four network-order words; the answer is followed by the blob when its status is OK. */
#define HELLO_MAGIC 0x46503852u  /* "FP8R" */
#define ANSWER_MAGIC 0x46503841u /* "FP8A" */
#define TCP_VERSION 1u
enum { ST_OK = 0, ST_SIZE = 1, ST_RANK = 2, ST_DUPLICATE = 3 };

typedef struct {
    const char *spec; /* for messages */
    char host[256], port[8];
    const fp8lab_launch *l;
    double timeout, deadline;
} tcp_place;

static int parse_tcp(const char *spec, tcp_place *p) {
    const char *hp = spec + 4, *colon = strrchr(hp, ':');
    const char *port = colon ? colon + 1 : "";
    size_t hl = colon ? (size_t)(colon - hp) : 0;
    if (hl >= 2 && hp[0] == '[' && hp[hl - 1] == ']') { /* [::1]:port */
        hp++;
        hl -= 2;
    }
    int64_t pn = 0;
    const int port_ok = strlen(port) < sizeof p->port && strspn(port, "0123456789") == strlen(port) &&
                        fp8lab_parse_int(port, FP8LAB_RANGE(1, 65535), &pn) == FP8LAB_NUM_OK;
    if (!hl || hl >= sizeof p->host || !port_ok) {
        FP8LAB_ERR("rendezvous: FP8LAB_RENDEZVOUS='%.200s' is not tcp:host:port (port 1..65535)", spec);
        return -1;
    }
    memcpy(p->host, hp, hl);
    p->host[hl] = 0;
    snprintf(p->port, sizeof p->port, "%s", port);
    return 0;
}

static int tcp_fail_rt(const tcp_place *p, const char *what) {
    FP8LAB_ERR_RT("rendezvous %s (rank %d/%d): %s: %s", p->spec, p->l->rank, p->l->size, what, strerror(errno));
    return -1;
}

static int ms_left(double deadline) {
    const double left = deadline - now_s();
    return left <= 0 ? 0 : left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
}

/* 0 once all n bytes arrived; -1 on EOF, error or the deadline (errno ETIMEDOUT or ECONNRESET for EOF). */
static int recv_all(int fd, void *buf, size_t n, double deadline) {
    char *b = buf;
    while (n) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        const int pr = poll(&pf, 1, ms_left(deadline));
        if (pr == 0) errno = ETIMEDOUT;
        if (pr <= 0) {
            if (pr < 0 && errno == EINTR) continue;
            return -1;
        }
        const ssize_t r = recv(fd, b, n, 0);
        if (r == 0) errno = ECONNRESET;
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static int send_all(int fd, const void *buf, size_t n) {
    const char *b = buf;
    while (n) {
        const ssize_t w = send(fd, b, n, MSG_NOSIGNAL); /* a peer gone is an error, not SIGPIPE */
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static void put_words(uint32_t *w, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    w[0] = htonl(a), w[1] = htonl(b), w[2] = htonl(c), w[3] = htonl(d);
}

/* host NULL: the wildcard address of `family`, to listen on */
static struct addrinfo *resolve(const tcp_place *p, const char *host, int family) {
    struct addrinfo hints = {.ai_family = family, .ai_socktype = SOCK_STREAM, .ai_flags = host ? 0 : AI_PASSIVE};
    struct addrinfo *res = NULL;
    const int rc = getaddrinfo(host, p->port, &hints, &res);
    if (rc) {
        FP8LAB_ERR_RT("rendezvous %s (rank %d/%d): cannot resolve host '%s': %s", p->spec, p->l->rank, p->l->size,
                      p->host, gai_strerror(rc));
        return NULL;
    }
    return res;
}

/* Listens on every interface of the family the others reach rank 0 by, not on the one address the name gives
   here: on rank 0's own machine its host name may resolve to a loopback alias (Debian maps it to 127.0.1.1)
   that the other nodes cannot reach. */
static int tcp_listen(const tcp_place *p) {
    struct addrinfo *named = resolve(p, p->host, AF_UNSPEC);
    if (!named) return -1;
    const int family = named->ai_family;
    freeaddrinfo(named);
    struct addrinfo *res = resolve(p, NULL, family);
    if (!res) return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        const int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) || listen(fd, p->l->size)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) tcp_fail_rt(p, "rank 0 cannot listen there");
    return fd;
}

/* One connection's hello: 1 when it came from a rank and was answered, 0 for a stray connection (ignored),
   -1 for a refusal (the job cannot go on) or a failed answer. */
static int serve_one(const tcp_place *p, int fd, char *seen, const unsigned char *blob) {
    uint32_t w[4];
    const double hello_deadline = now_s() + 5.0 < p->deadline ? now_s() + 5.0 : p->deadline;
    if (recv_all(fd, w, sizeof w, hello_deadline) || ntohl(w[0]) != HELLO_MAGIC || ntohl(w[1]) != TCP_VERSION)
        return 0;
    const int rank = (int)ntohl(w[2]), size = (int)ntohl(w[3]);
    const int st = size != p->l->size                   ? ST_SIZE
                   : rank <= 0 || rank >= p->l->size ? ST_RANK
                   : seen[rank]                      ? ST_DUPLICATE
                                                     : ST_OK;
    uint32_t answer[4];
    put_words(answer, ANSWER_MAGIC, TCP_VERSION, (uint32_t)st, (uint32_t)p->l->size);
    const int sent = send_all(fd, answer, sizeof answer) == 0 && (st != ST_OK || send_all(fd, blob, BLOB) == 0);
    if (st == ST_SIZE)
        FP8LAB_ERR("rendezvous %s: mismatched world size: rank %d says %d ranks, rank 0 has %d", p->spec, rank, size,
                   p->l->size);
    else if (st == ST_RANK)
        FP8LAB_ERR("rendezvous %s: a peer says it is rank %d, not one of 1..%d", p->spec, rank, p->l->size - 1);
    else if (st == ST_DUPLICATE)
        FP8LAB_ERR("rendezvous %s: duplicate rank %d: two processes say they are rank %d of %d", p->spec, rank, rank,
                   p->l->size);
    else if (!sent)
        return tcp_fail_rt(p, "sending the blob to a rank");
    if (st != ST_OK) return -1;
    seen[rank] = 1;
    return 1;
}

static int tcp_serve(const tcp_place *p, const unsigned char *blob) {
    const int lfd = tcp_listen(p);
    if (lfd < 0) return -1;
    char *seen = calloc((size_t)p->l->size, 1);
    int got = 0, rc = seen ? 0 : -1;
    if (!seen) FP8LAB_ERR_RT("rendezvous %s: out of host memory", p->spec);
    while (rc == 0 && got < p->l->size - 1) {
        struct pollfd pf = {.fd = lfd, .events = POLLIN};
        const int pr = poll(&pf, 1, ms_left(p->deadline));
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) {
            FP8LAB_ERR_RT("rendezvous %s: %d of %d ranks did not connect to rank 0 within %g s", p->spec,
                          p->l->size - 1 - got, p->l->size - 1, p->timeout);
            rc = -1;
            break;
        }
        const int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        const int r = serve_one(p, fd, seen, blob);
        close(fd);
        if (r < 0) rc = -1;
        got += r > 0;
    }
    free(seen);
    close(lfd);
    return rc;
}

/* Rank 0 may not listen yet: refused connections are retried until the deadline. */
static int tcp_connect(const tcp_place *p) {
    struct addrinfo *res = resolve(p, p->host, AF_UNSPEC);
    if (!res) return -1;
    int fd = -1;
    while (fd < 0 && now_s() < p->deadline) {
        for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
            fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
            if (fd < 0) continue;
            const int ms = ms_left(p->deadline) > 0 ? ms_left(p->deadline) : 1; /* 0 would mean no limit */
            struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}; /* bounds connect on Linux */
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            if (connect(fd, a->ai_addr, a->ai_addrlen)) {
                close(fd);
                fd = -1;
            }
        }
        if (fd < 0) sleep_ms(20);
    }
    freeaddrinfo(res);
    if (fd < 0)
        FP8LAB_ERR_RT("rendezvous %s (rank %d/%d): rank 0 did not accept a connection within %g s (hint: is rank 0 "
                      "running, and is %s its address?)", p->spec, p->l->rank, p->l->size, p->timeout, p->host);
    return fd;
}

static int refused(const tcp_place *p, uint32_t st, uint32_t size0) {
    if (st == ST_SIZE)
        FP8LAB_ERR("rendezvous %s: mismatched world size: rank 0 has %u ranks, rank %d has %d", p->spec, size0,
                   p->l->rank, p->l->size);
    else if (st == ST_DUPLICATE)
        FP8LAB_ERR("rendezvous %s: duplicate rank %d: rank 0 already heard from another rank %d", p->spec,
                   p->l->rank, p->l->rank);
    else
        FP8LAB_ERR("rendezvous %s: rank 0 refused rank %d of %d (status %u)", p->spec, p->l->rank, p->l->size, st);
    return -1;
}

static int tcp_fetch(const tcp_place *p, unsigned char *blob) {
    const int fd = tcp_connect(p);
    if (fd < 0) return -1;
    uint32_t w[4];
    put_words(w, HELLO_MAGIC, TCP_VERSION, (uint32_t)p->l->rank, (uint32_t)p->l->size);
    int rc = send_all(fd, w, sizeof w) ? tcp_fail_rt(p, "sending this rank's hello") : 0;
    if (rc == 0 && recv_all(fd, w, sizeof w, p->deadline)) rc = tcp_fail_rt(p, "waiting for rank 0's answer");
    if (rc == 0 && (ntohl(w[0]) != ANSWER_MAGIC || ntohl(w[1]) != TCP_VERSION)) {
        FP8LAB_ERR_RT("rendezvous %s (rank %d/%d): the listener is not an fp8lab rank 0 of this version", p->spec,
                      p->l->rank, p->l->size);
        rc = -1;
    }
    if (rc == 0 && ntohl(w[2]) != ST_OK) rc = refused(p, ntohl(w[2]), ntohl(w[3]));
    if (rc == 0 && recv_all(fd, blob, BLOB, p->deadline)) rc = tcp_fail_rt(p, "receiving the blob");
    close(fd);
    return rc;
}

static int tcp_rendezvous(const char *spec, const fp8lab_launch *l, unsigned char *blob, double timeout) {
    tcp_place p = {.spec = spec, .l = l, .timeout = timeout, .deadline = now_s() + timeout};
    if (parse_tcp(spec, &p)) return -1;
    return l->rank == 0 ? tcp_serve(&p, blob) : tcp_fetch(&p, blob);
}

/* ---- front ----------------------------------------------------------------------------------------------------- */

int fp8lab_rendezvous_at(const char *spec, const fp8lab_launch *l, unsigned char blob[FP8LAB_RDV_BLOB_BYTES]) {
    if (!l || l->size < 1 || l->rank < 0 || l->rank >= l->size) {
        FP8LAB_ERR("rendezvous: invalid rank %d of %d", l ? l->rank : -1, l ? l->size : 0);
        return -1;
    }
    if (l->size == 1) return 0;
    double timeout;
    if (timeout_from_env(&timeout)) return -1;
    if (spec && strncmp(spec, "file:", 5) == 0 && spec[5]) return file_rendezvous(spec + 5, l, blob, timeout);
    if (spec && strncmp(spec, "tcp:", 4) == 0) return tcp_rendezvous(spec, l, blob, timeout);
    FP8LAB_ERR("rendezvous: FP8LAB_RENDEZVOUS='%.200s': rank %d of %d needs file:/shared/path or tcp:host:port to "
               "get rank 0's NCCL id", spec ? spec : "", l->rank, l->size);
    return -1;
}

int fp8lab_rendezvous(const fp8lab_launch *l, unsigned char blob[FP8LAB_RDV_BLOB_BYTES]) {
    return fp8lab_rendezvous_at(getenv("FP8LAB_RENDEZVOUS"), l, blob);
}
