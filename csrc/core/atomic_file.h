/* Output files (CSV tables, charts) written whole or not at all, and never through or over something that is
   not an output file. What happens depends on what the path names now:
   - nothing, or a regular file: the data goes to a new temporary file in the same directory (random name,
     created with O_CREAT|O_EXCL|O_NOFOLLOW, so nothing planted at a guessable name is followed), is fsynced
     and renamed over the path; then the directory is fsynced. A replaced file keeps its permission bits.
   - a symbolic link: followed to the file it finally names, which is then replaced as above; the link stays
     a link. A dangling link is refused: we would create a file wherever it happens to point.
   - a character device or a FIFO (/dev/null, /dev/stdout on a terminal or pipe, a named pipe): written in
     place, opened without O_CREAT or O_TRUNC (a FIFO waits for its reader, as a shell redirection does).
     Never replaced.
   - a directory, block device or socket: refused. */
#ifndef FP8LAB_CORE_ATOMIC_FILE_H
#define FP8LAB_CORE_ATOMIC_FILE_H

/* Returns 0, or -1 with an error naming the path: a path that cannot be an output file (empty, a directory,
   in a missing directory, a dangling link) is a usage error (exit 2); a failed write, fsync or rename, or a
   directory we may not write to, is a runtime error (exit 1). */
int fp8lab_write_file_atomic(const char *path, const char *data, long len);

#endif
