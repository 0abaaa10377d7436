#define _GNU_SOURCE /* O_CLOEXEC */
#include "data/shard.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/atomic_file.h"
#include "core/error.h"

static int32_t le32(const uint8_t *p) {
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int fp8lab_shard_check_header(const char *name, const uint8_t header[FP8LAB_SHARD_HEADER_BYTES], int64_t file_size,
                              int *width, int64_t *ntok) {
    int32_t magic = le32(header), version = le32(header + 4), count = le32(header + 8);
    if (magic == FP8LAB_SHARD_MAGIC) {
        if (version != FP8LAB_SHARD_VERSION) {
            FP8LAB_ERR("%s: header[1] (version) = %" PRId32 ", expected %d with magic %d (uint16 tokens)", name,
                       version, FP8LAB_SHARD_VERSION, FP8LAB_SHARD_MAGIC);
            return -1;
        }
        *width = 2;
    } else if (magic == FP8LAB_SHARD_MAGIC_U32) {
        if (version != FP8LAB_SHARD_VERSION_U32) {
            FP8LAB_ERR("%s: header[1] (version) = %" PRId32 ", expected %d with magic %d (uint32 tokens)", name,
                       version, FP8LAB_SHARD_VERSION_U32, FP8LAB_SHARD_MAGIC_U32);
            return -1;
        }
        *width = 4;
    } else {
        FP8LAB_ERR("%s: header[0] (magic) = %" PRId32 ", expected %d (llm.c token shard, uint16 tokens) or %d "
                   "(uint32 tokens): not an llm.c token shard",
                   name, magic, FP8LAB_SHARD_MAGIC, FP8LAB_SHARD_MAGIC_U32);
        return -1;
    }
    if (count < FP8LAB_SHARD_MIN_TOKENS) {
        FP8LAB_ERR("%s: header[2] (token count) = %" PRId32 ", expected at least %d", name, count,
                   FP8LAB_SHARD_MIN_TOKENS);
        return -1;
    }
    for (int i = 3; i < FP8LAB_SHARD_HEADER_INTS; i++) {
        int32_t v = le32(header + 4 * i);
        if (v != 0) {
            FP8LAB_ERR("%s: header[%d] = %" PRId32 ", expected 0 (reserved)", name, i, v);
            return -1;
        }
    }
    int64_t want = FP8LAB_SHARD_HEADER_BYTES + (int64_t)count * *width;
    if (file_size != want) {
        int64_t body = file_size - FP8LAB_SHARD_HEADER_BYTES;
        FP8LAB_ERR("%s: header[2] (token count) = %" PRId32 ", but the file holds %" PRId64 " bytes of tokens "
                   "(%" PRId64 " tokens%s); expected %" PRId64 " bytes in all (1024-byte header + %" PRId32
                   " x %d bytes)",
                   name, count, body, body / *width, body % *width ? " and a partial one" : "", want, count, *width);
        return -1;
    }
    *ntok = count;
    return 0;
}

/* Errors about the path itself (missing, not a file) are the user's; the rest are the machine's. */
#define FAIL_ERRNO(e, ...)                                                                                    \
    do {                                                                                                      \
        if ((e) == ENOENT || (e) == ENOTDIR || (e) == ENAMETOOLONG || (e) == ELOOP || (e) == EISDIR)          \
            FP8LAB_ERR(__VA_ARGS__);                                                                          \
        else FP8LAB_ERR_RT(__VA_ARGS__);                                                                      \
    } while (0)

static int pread_all(int fd, uint8_t *buf, size_t n) {
    size_t off = 0;
    while (off < n) {
        ssize_t r = pread(fd, buf + off, n - off, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            if (r == 0) errno = EIO; /* shrank under us */
            return -1;
        }
        off += (size_t)r;
    }
    return 0;
}

/* A shard file while fp8lab_shard_open checks it: fd is open from open_shard_file until map_shard; each step that
   fails closes it before it returns. */
typedef struct {
    const char *path;
    int64_t vocab;
    int fd;
    int64_t size;
    uint8_t header[FP8LAB_SHARD_HEADER_BYTES];
    int width;
    int64_t ntok;
} shard_file;

static int check_open_args(const shard_file *f) {
    if (f->vocab < 0 || f->vocab > FP8LAB_SHARD_MAX_VOCAB) {
        FP8LAB_ERR("%s: vocab %" PRId64 " is not in [0, 2^32]", f->path, f->vocab);
        return -1;
    }
    if (!*f->path) {
        FP8LAB_ERR("shard: empty file name");
        return -1;
    }
    return 0;
}

/* Opens the path and takes its size; refuses anything but a regular file. */
static int open_shard_file(shard_file *f) {
    f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        int e = errno;
        FAIL_ERRNO(e, "%s: cannot open: %s", f->path, strerror(e));
        return -1;
    }
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        int e = errno;
        close(f->fd);
        FP8LAB_ERR_RT("%s: cannot stat: %s", f->path, strerror(e));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(f->fd);
        FP8LAB_ERR("%s: not a regular file (a token shard is a file of 1024 + N x 2 or 4 bytes)", f->path);
        return -1;
    }
    f->size = (int64_t)st.st_size;
    return 0;
}

static int check_holds_header(const shard_file *f) {
    if (f->size >= FP8LAB_SHARD_HEADER_BYTES) return 0;
    close(f->fd);
    if (f->size == 0) FP8LAB_ERR("%s: empty file, expected a 1024-byte llm.c shard header and tokens", f->path);
    else
        FP8LAB_ERR("%s: %" PRId64 " bytes, shorter than the 1024-byte llm.c shard header (truncated?)", f->path,
                   f->size);
    return -1;
}

/* Reads the header and checks it against the file's size, which sets f->width and f->ntok. */
static int read_header(shard_file *f) {
    if (pread_all(f->fd, f->header, sizeof f->header) != 0) {
        int e = errno;
        close(f->fd);
        FP8LAB_ERR_RT("%s: cannot read the header: %s", f->path, strerror(e));
        return -1;
    }
    if (fp8lab_shard_check_header(f->path, f->header, f->size, &f->width, &f->ntok) != 0) {
        close(f->fd);
        return -1;
    }
    return 0;
}

/* Maps the checked file into s; the descriptor is closed either way (the mapping outlives it). */
static int map_shard(fp8lab_shard *s, const shard_file *f) {
    /* size is now 1024 + ntok * width <= 1024 + 2^33: the mapping length comes from the checked file size */
    void *map = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, f->fd, 0);
    int e = errno;
    close(f->fd);
    if (map == MAP_FAILED) {
        FP8LAB_ERR_RT("%s: cannot map %" PRId64 " bytes: %s", f->path, f->size, strerror(e));
        return -1;
    }
    (void)madvise(map, (size_t)f->size, MADV_WILLNEED);
    s->map = map;
    s->map_len = (size_t)f->size;
    s->tokens = (const uint8_t *)map + FP8LAB_SHARD_HEADER_BYTES;
    s->magic = le32(f->header);
    s->version = le32(f->header + 4);
    s->width = f->width;
    s->ntok = f->ntok;
    snprintf(s->path, sizeof s->path, "%s", f->path);
    return 0;
}

/* every id, once: the loaders then index embeddings with them unchecked */
static void scan_token_range(fp8lab_shard *s) {
    uint32_t lo = UINT32_MAX, hi = 0;
    if (s->width == 2) {
        const uint8_t *p = s->tokens;
        for (int64_t i = 0; i < s->ntok; i++, p += 2) {
            uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    } else {
        for (int64_t i = 0; i < s->ntok; i++) {
            uint32_t v = fp8lab_shard_token(s, i);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
    }
    s->min_tok = lo;
    s->max_tok = hi;
}

/* The error names f->path, not s->path: s->path is cut at 1023 bytes. */
static int check_vocab(const fp8lab_shard *s, const shard_file *f) {
    if (f->vocab == 0 || (int64_t)s->max_tok < f->vocab) return 0;
    int64_t at = 0; /* the first one out of range */
    while ((int64_t)fp8lab_shard_token(s, at) < f->vocab) at++;
    FP8LAB_ERR("%s: token %" PRId64 " = %" PRIu32 ", expected a token id < %" PRId64 " (the vocabulary size)",
               f->path, at, fp8lab_shard_token(s, at), f->vocab);
    return -1;
}

int fp8lab_shard_open(fp8lab_shard *s, const char *path, int64_t vocab) {
    memset(s, 0, sizeof *s);
    shard_file f = {.path = path, .vocab = vocab, .fd = -1};
    if (check_open_args(&f) != 0) return -1;
    if (open_shard_file(&f) != 0 || check_holds_header(&f) != 0 || read_header(&f) != 0) return -1;
    if (map_shard(s, &f) != 0) return -1;
    scan_token_range(s);
    if (check_vocab(s, &f) != 0) {
        fp8lab_shard_close(s);
        return -1;
    }
    return 0;
}

void fp8lab_shard_close(fp8lab_shard *s) {
    if (s->map) munmap(s->map, s->map_len);
    memset(s, 0, sizeof *s);
}

void fp8lab_shard_read(const fp8lab_shard *s, int64_t from, int64_t n, int32_t *out) {
    if (s->width == 2) {
        const uint8_t *p = s->tokens + (size_t)from * 2;
        for (int64_t i = 0; i < n; i++, p += 2) out[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8);
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = (int32_t)fp8lab_shard_token(s, from + i);
    }
}

/* header + room for the tokens, or NULL with the error set */
static uint8_t *shard_buffer(const char *path, int64_t ntok, int width, int64_t *len) {
    if (ntok < FP8LAB_SHARD_MIN_TOKENS || ntok > FP8LAB_SHARD_MAX_TOKENS) {
        FP8LAB_ERR("%s: %" PRId64 " tokens, expected [%d, %lld] in one shard", path, ntok, FP8LAB_SHARD_MIN_TOKENS,
                   FP8LAB_SHARD_MAX_TOKENS);
        return NULL;
    }
    *len = FP8LAB_SHARD_HEADER_BYTES + ntok * width;
    uint8_t *buf = calloc(1, (size_t)*len);
    if (!buf) {
        FP8LAB_ERR_RT("%s: out of memory (%" PRId64 " bytes)", path, *len);
        return NULL;
    }
    put32(buf, width == 2 ? FP8LAB_SHARD_MAGIC : FP8LAB_SHARD_MAGIC_U32);
    put32(buf + 4, width == 2 ? FP8LAB_SHARD_VERSION : FP8LAB_SHARD_VERSION_U32);
    put32(buf + 8, (uint32_t)ntok);
    return buf;
}

int fp8lab_shard_write(const char *path, const uint32_t *tokens, int64_t ntok, fp8lab_shard_width width) {
    if (width != FP8LAB_SHARD_U16 && width != FP8LAB_SHARD_U32) {
        FP8LAB_ERR("%s: token width %d, expected 2 or 4 bytes", path, (int)width);
        return -1;
    }
    int64_t len;
    uint8_t *buf = shard_buffer(path, ntok, (int)width, &len);
    if (!buf) return -1;
    uint8_t *p = buf + FP8LAB_SHARD_HEADER_BYTES;
    for (int64_t i = 0; i < ntok; i++) {
        uint32_t v = tokens[i];
        if (width == FP8LAB_SHARD_U16) {
            if (v > 65535) {
                free(buf);
                FP8LAB_ERR("%s: token %" PRId64 " = %" PRIu32 " does not fit a uint16 shard (use uint32)", path, i, v);
                return -1;
            }
            p[0] = (uint8_t)v;
            p[1] = (uint8_t)(v >> 8);
            p += 2;
        } else {
            put32(p, v);
            p += 4;
        }
    }
    int rc = fp8lab_write_file_atomic(path, (const char *)buf, (long)len);
    free(buf);
    return rc;
}

int fp8lab_shard_write_bytes(const char *path, const uint8_t *bytes, int64_t ntok) {
    int64_t len;
    uint8_t *buf = shard_buffer(path, ntok, 2, &len);
    if (!buf) return -1;
    uint8_t *p = buf + FP8LAB_SHARD_HEADER_BYTES;
    for (int64_t i = 0; i < ntok; i++, p += 2) p[0] = bytes[i]; /* high byte stays 0 */
    int rc = fp8lab_write_file_atomic(path, (const char *)buf, (long)len);
    free(buf);
    return rc;
}
