/* safetensors files (https://huggingface.co/docs/safetensors), the format Hugging Face transformers loads
   model.safetensors from; fp8lab writes its checkpoints in it.

   Layout: 8 bytes, little-endian unsigned N; N bytes of UTF-8 JSON (the header), possibly followed by spaces;
   then the data buffer. The header is an object: "__metadata__" (optional) maps strings to strings; every other
   key is a tensor name mapped to {"dtype": "F32"|"BF16"|..., "shape": [d0, d1, ...], "data_offsets": [begin,
   end]}, offsets in bytes relative to the start of the data buffer, end exclusive. Data are little-endian,
   row-major (C order).

   Reading (fp8lab_st_open) treats the file as untrusted and checks everything before anything is used; a file
   that fails is refused with an error naming the file, the tensor and the field (exit status 2; failures to
   read it at all are exit 1):
   - file at least 8 bytes; N <= FP8LAB_ST_MAX_HEADER (100,000,000, as the reference library) and within the
     file; the header valid UTF-8 without control characters or \u0000, starting with '{', one JSON object
     followed by nothing but whitespace; no key twice;
   - "__metadata__" an object of strings (or null); every tensor entry an object with exactly the three keys;
     names non-empty; dtype one of the fp8lab_st_dtype names; shape at most FP8LAB_ST_MAX_DIMS whole numbers in
     [0, 2^53]; data_offsets two whole numbers, begin <= end <= the buffer's length; product(shape) * itemsize
     == end - begin (checked 64-bit arithmetic: a huge declared shape is an overflow or a mismatch, never an
     allocation);
   - the tensors, in offset order, tile the buffer exactly: each begins where the previous ended, the first at
     0, the last ends at the end of the file (overlaps, holes and trailing bytes are refused, as the reference
     library does; a truncated file fails here);
   - when the metadata carry "fp8lab_crc32c" (8 lowercase hex digits: CRC-32C of the whole data buffer, written
     by fp8lab_st_write), it must match the data. Files from elsewhere have no checksum and are not checked.
   The file is mapped read-only (mmap); tensor data point into the mapping and stay valid until fp8lab_st_close.
   Like any mapped file, it must not be truncated by someone else while open (fp8lab's writer replaces files
   by rename, so it never does). Parsing a header costs memory proportional to it (cJSON: up to ~40 bytes per
   header byte in the worst case, so ~4 GB for a hostile 100 MB header; real headers are kilobytes to a few MB).

   Writing (fp8lab_st_write): the tensors in the order given (unlike the Python/Rust library, which sorts them by
   dtype and name: any order is valid, and ours keeps what the caller chose), the header padded with spaces so
   the data buffer starts at a multiple of 8 bytes, the metadata given plus "format": "pt" when absent (what
   transformers expects) and "fp8lab_crc32c". The file is assembled in memory and written with
   fp8lab_write_file_atomic (temporary file, fsync, rename, fsync of the folder). */
#ifndef FP8LAB_IO_SAFETENSORS_H
#define FP8LAB_IO_SAFETENSORS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FP8LAB_ST_MAX_HEADER 100000000ull
#define FP8LAB_ST_MAX_DIMS 16
#define FP8LAB_ST_CRC_KEY "fp8lab_crc32c"

/* The byte-sized dtypes of the safetensors spec (the sub-byte F4/F6 types are refused as unsupported). */
typedef enum {
    FP8LAB_ST_BOOL,
    FP8LAB_ST_U8,
    FP8LAB_ST_I8,
    FP8LAB_ST_F8_E4M3,
    FP8LAB_ST_F8_E5M2,
    FP8LAB_ST_F8_E8M0,
    FP8LAB_ST_I16,
    FP8LAB_ST_U16,
    FP8LAB_ST_F16,
    FP8LAB_ST_BF16,
    FP8LAB_ST_I32,
    FP8LAB_ST_U32,
    FP8LAB_ST_F32,
    FP8LAB_ST_F64,
    FP8LAB_ST_I64,
    FP8LAB_ST_U64,
    FP8LAB_ST_C64,
    FP8LAB_ST_NDTYPES
} fp8lab_st_dtype;

const char *fp8lab_st_dtype_name(fp8lab_st_dtype d); /* "F32"; "?" when out of range */
int fp8lab_st_dtype_size(fp8lab_st_dtype d);         /* bytes per element; 0 when out of range */
/* The dtype called `name` (exact spelling), or -1. */
int fp8lab_st_dtype_from_name(const char *name);

/* One tensor of an open file. */
typedef struct {
    const char *name;
    fp8lab_st_dtype dtype;
    int ndim; /* 0 for a scalar */
    int64_t shape[FP8LAB_ST_MAX_DIMS];
    int64_t numel;    /* product of shape (1 for a scalar) */
    size_t nbytes;    /* numel * itemsize */
    size_t offset;    /* of the data, from the start of the file */
    const void *data; /* into the mapping: read-only, valid until close; NOT necessarily aligned for dtype */
} fp8lab_st_tensor;

typedef struct fp8lab_st fp8lab_st;

/* Opens and validates `path` (above). Returns 0 and sets *out, or -1 with the error set and *out NULL. */
int fp8lab_st_open(const char *path, fp8lab_st **out);
void fp8lab_st_close(fp8lab_st *st); /* NULL is fine */

const char *fp8lab_st_path(const fp8lab_st *st);
int fp8lab_st_count(const fp8lab_st *st);
/* The i-th tensor in file (offset) order, 0 <= i < count. */
const fp8lab_st_tensor *fp8lab_st_at(const fp8lab_st *st, int i);
/* The tensor called `name`, or NULL (no error set). O(log n). */
const fp8lab_st_tensor *fp8lab_st_find(const fp8lab_st *st, const char *name);

/* Metadata: the value of `key`, or NULL; and the i-th pair in header order, 0 <= i < meta_count. */
const char *fp8lab_st_meta(const fp8lab_st *st, const char *key);
int fp8lab_st_meta_count(const fp8lab_st *st);
void fp8lab_st_meta_at(const fp8lab_st *st, int i, const char **key, const char **value);
/* 1 when the file carried "fp8lab_crc32c" (and it matched, or open would have failed), else 0. */
int fp8lab_st_has_checksum(const fp8lab_st *st);

/* Copies tensor `name` into dst as float32, converting from F32, BF16, F16, F8_E4M3 or F8_E5M2. The tensor
   must have exactly `ndim` dimensions equal to `shape` (dst holds their product); ndim < 0 accepts any shape
   (dst must hold the tensor's numel). Returns 0, or -1 with an error naming the file and the tensor (missing,
   dtype not convertible, shape differs): exit status 2. */
int fp8lab_st_read_f32(const fp8lab_st *st, const char *name, float *dst, int ndim, const int64_t *shape);

/* A tensor to write: `data` holds product(shape) elements of dtype, little-endian, row-major (may be NULL when
   that product is 0). */
typedef struct {
    const char *name;
    fp8lab_st_dtype dtype;
    int ndim;
    const int64_t *shape; /* ndim entries; may be NULL when ndim is 0 */
    const void *data;
} fp8lab_st_entry;

typedef struct {
    const char *key, *value;
} fp8lab_st_kv;

/* Writes n tensors and nmeta metadata pairs to `path` atomically. Names must be non-empty, valid UTF-8, unique
   and not "__metadata__"; metadata keys unique, valid UTF-8 and not "fp8lab_crc32c" (added here). Returns 0,
   or -1 with the error set (bad arguments exit 2; a failed write exit 1). */
int fp8lab_st_write(const char *path, const fp8lab_st_entry *tensors, int n, const fp8lab_st_kv *meta, int nmeta);

#ifdef __cplusplus
}
#endif
#endif
