/* llm.c token shards: the files llm.c's dev/data scripts write (write_datafile), so existing tokenized data works.

   Layout (all little-endian):
     header: 256 int32
       [0] magic    20240520 (GPT-2 style, uint16 tokens) or 20240801 (llm.c's llama-3 files, uint32 tokens)
       [1] version  1 with magic 20240520; 7 with magic 20240801 (the pairs llm.c's writer emits)
       [2] number of tokens N, in [2, 2^31 - 1]
       [3..255] 0
     tokens: N x uint16 (version 1) or N x uint32 (version 7), nothing after them.

   A reader trusts nothing: the file must be a regular file of exactly 1024 + N x (2 or 4) bytes (checked before
   anything is mapped), every reserved int must be 0, and every token id must be below the vocabulary the caller
   states. Each refusal names the file, the field, its value and what was expected (exit 2). */
#ifndef FP8LAB_DATA_SHARD_H
#define FP8LAB_DATA_SHARD_H
#include <stddef.h>
#include <stdint.h>

#define FP8LAB_SHARD_HEADER_INTS 256
#define FP8LAB_SHARD_HEADER_BYTES (FP8LAB_SHARD_HEADER_INTS * 4)
#define FP8LAB_SHARD_MAGIC 20240520     /* llm.c GPT-2 shards */
#define FP8LAB_SHARD_VERSION 1          /* ... with uint16 tokens */
#define FP8LAB_SHARD_MAGIC_U32 20240801 /* llm.c llama-3 shards */
#define FP8LAB_SHARD_VERSION_U32 7      /* ... with uint32 tokens */
#define FP8LAB_SHARD_MIN_TOKENS 2
#define FP8LAB_SHARD_MAX_TOKENS 2147483647LL /* the count is an int32 */
/* vocab argument: ids must be < vocab; 0 checks nothing beyond the token width. At most 2^32. */
#define FP8LAB_SHARD_MAX_VOCAB 4294967296LL

typedef enum { FP8LAB_SHARD_U16 = 2, FP8LAB_SHARD_U32 = 4 } fp8lab_shard_width;

/* An open, validated shard (read-only mapping of the whole file). */
typedef struct {
    char path[1024];
    int32_t magic, version;
    int width;        /* bytes per token: 2 or 4 */
    int64_t ntok;
    uint32_t min_tok, max_tok;
    const uint8_t *tokens; /* ntok x width bytes, little-endian */
    void *map;
    size_t map_len;
} fp8lab_shard;

/* Opens, validates and maps path; vocab in [0, 2^32] (0: any id the width holds). 0, or -1 with the error set
   (shard zeroed, nothing to close). Bad content, a missing file or a non-regular file: exit 2; read or map
   failures: exit 1. */
int fp8lab_shard_open(fp8lab_shard *s, const char *path, int64_t vocab);
void fp8lab_shard_close(fp8lab_shard *s);

/* Checks a header against the file's size (bytes); 0 with *width and *ntok set, or -1 with an error naming
   `name`. Used by fp8lab_shard_open before anything is mapped. */
int fp8lab_shard_check_header(const char *name, const uint8_t header[FP8LAB_SHARD_HEADER_BYTES], int64_t file_size,
                              int *width, int64_t *ntok);

static inline uint32_t fp8lab_shard_token(const fp8lab_shard *s, int64_t i) {
    const uint8_t *p = s->tokens + (size_t)i * (size_t)s->width;
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    if (s->width == 4) v |= (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return v;
}

/* Tokens [from, from + n) as int32 (the caller keeps the range inside the shard). An id above INT32_MAX would
   wrap: whoever reads uint32 shards into int32 opens them with a vocab of at most 2^31, which refuses such ids. */
void fp8lab_shard_read(const fp8lab_shard *s, int64_t from, int64_t n, int32_t *out);

/* Writes a shard atomically (core/atomic_file.h): ntok in [2, 2^31 - 1]; width U16 (magic 20240520, version 1)
   refuses ids above 65535. 0, or -1 with the error set. */
int fp8lab_shard_write(const char *path, const uint32_t *tokens, int64_t ntok, fp8lab_shard_width width);
/* The same from bytes (byte-level vocabulary: token = byte), as uint16. */
int fp8lab_shard_write_bytes(const char *path, const uint8_t *bytes, int64_t ntok);

#endif
