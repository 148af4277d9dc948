/* xio - reads and writes that restart on EINTR, loop on short counts and
 * treat 0 explicitly (STYLE.md: no loop may spin on a 0 return).
 * All return -1 with errno set on failure. */
#ifndef LC_XIO_H
#define LC_XIO_H

#include <stddef.h>
#include <sys/types.h>

/* Reads up to len bytes; returns the count, short only at end of file. */
ssize_t xio_read_full(int fd, void *buf, size_t len);
ssize_t xio_pread_full(int fd, void *buf, size_t len, off_t offset);
/* Writes all len bytes or fails (a 0 return from write is ENOSPC). */
int xio_write_full(int fd, const void *buf, size_t len);
int xio_pwrite_full(int fd, const void *buf, size_t len, off_t offset);

/* Reads a whole file (a /proc file: its size is unknown in advance) into a
 * NUL-terminated malloc'd buffer. *len_out gets the length without the NUL. */
char *xio_read_fd_all(int fd, size_t *len_out);
char *xio_read_path_all(const char *path, size_t *len_out);
/* The same for path relative to dirfd, never following a final symlink
 * (a /proc/PID directory held open: the file of that process or none). */
char *xio_read_at_all(int dirfd, const char *path, size_t *len_out);

/* Opens path relative to dirfd with O_CLOEXEC (and O_NOFOLLOW for the last
 * component when nofollow is set), restarting on EINTR. */
int xio_openat(int dirfd, const char *path, int flags, int nofollow);

#endif
