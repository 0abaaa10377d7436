/* Text -> byte-level token shards (vocabulary 256: token = byte), and the built-in corpus.

   fp8lab_data_build concatenates the files' bytes in the order given, keeps the last val_fraction of them
   (rounded up) for validation, and writes DIR/data_train_000000.bin ... and DIR/data_val_000000.bin ... as llm.c
   shards (data/shard.h: magic 20240520, version 1, uint16 tokens), each atomically (core/atomic_file.h). A split
   longer than shard_tokens is cut into ceil(n / shard_tokens) shards of equal size (+-1). Every shard holds at least
   seq_len + 1 tokens, so a loader with T <= seq_len reads it; shards of an earlier build of the same folder with
   higher numbers (data_train_NNNNNN.bin, data_val_NNNNNN.bin, regular files only) are removed, so the patterns
   DIR/data_train_*.bin and DIR/data_val_*.bin name exactly this build. */
#ifndef FP8LAB_DATA_BUILD_H
#define FP8LAB_DATA_BUILD_H
#include <stddef.h>
#include <stdint.h>

#define FP8LAB_DATA_VOCAB 256
#define FP8LAB_DATA_MAX_TEXT 4294967296LL /* bytes of text read in all (2^32) */
#define FP8LAB_DATA_MAX_SEQ 1048576
#define FP8LAB_DATA_DEFAULT_SHARD 100000000LL /* llm.c's dev/data scripts: 10^8 tokens per shard */
/* val_fraction range: (0, 0.5] */
#define FP8LAB_DATA_MAX_VAL_FRACTION 0.5

typedef struct {
    int64_t text_bytes;
    int64_t train_tokens, val_tokens;
    int train_shards, val_shards;
    int removed; /* stale shards of an earlier build removed */
} fp8lab_data_build_info;

/* files[0..nfiles) -> out_dir (created, with its parents, when missing). val_fraction in (0, 0.5], shard_tokens in
   [2, 2^31 - 1], seq_len in [1, 2^20]. 0, or -1 with the error set (bad input: exit 2; I/O: exit 1). info may be
   NULL. */
int fp8lab_data_build(const char *const *files, int nfiles, const char *out_dir, double val_fraction,
                      int64_t shard_tokens, int seq_len, fp8lab_data_build_info *info);
/* The same from bytes in memory. */
int fp8lab_data_build_bytes(const uint8_t *text, int64_t n, const char *out_dir, double val_fraction,
                            int64_t shard_tokens, int seq_len, fp8lab_data_build_info *info);

/* The built-in corpus: Debian's `fortunes` package (English fortune cookies, ~2.4 MB of plain text in
   /usr/share/games/fortunes: every regular file there except the *.dat indexes; symbolic links and the off/
   folder are skipped), files in byte order of their names. */
#define FP8LAB_BUILTIN_PACKAGE "fortunes"
#define FP8LAB_BUILTIN_DIR "/usr/share/games/fortunes"
#define FP8LAB_BUILTIN_VAL_FRACTION 0.1
#define FP8LAB_BUILTIN_SHARD_TOKENS 1000000LL /* a few training shards, so shard shuffling is exercised */
#define FP8LAB_BUILTIN_STAMP "builtin.json"

/* Builds the built-in corpus into cache_dir unless cache_dir/builtin.json (written last, after the shards) says it
   is there; src_dir NULL means FP8LAB_BUILTIN_DIR. Writes the loader patterns (cache_dir/data_train_*.bin and
   cache_dir/data_val_*.bin, glob characters of cache_dir escaped) into train_glob and val_glob (cap bytes each).
   When the source folder is missing: -1 with an error naming the package to install (exit 2). *built (may be NULL)
   is set to 1 when this call built the shards, 0 when they were cached. */
int fp8lab_data_builtin(const char *cache_dir, const char *src_dir, char *train_glob, char *val_glob, size_t cap,
                        int *built);

#endif
