#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ssize_t xio_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break; /* end of file: the caller sees the short count */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t xio_pread_full(int fd, void *buf, size_t len, off_t offset)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, offset + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int xio_write_full(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

int xio_pwrite_full(int fd, const void *buf, size_t len, off_t offset)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(fd, (const char *)buf + done, len - done, offset + (off_t)done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = ENOSPC;
			return -1;
		}
		done += (size_t)n;
	}
	return 0;
}

char *xio_read_fd_all(int fd, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);

	if (!buf)
		return NULL;
	for (;;) {
		ssize_t n;

		if (cap - len < 2) {
			char *bigger;

			if (cap > ((size_t)1 << 40)) {
				free(buf);
				errno = EFBIG;
				return NULL;
			}
			bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (len_out)
		*len_out = len;
	return buf;
}

static char *read_all_at(int dirfd, const char *path, int nofollow, size_t *len_out)
{
	int fd = xio_openat(dirfd, path, O_RDONLY, nofollow);
	char *buf;
	int saved;

	if (fd < 0)
		return NULL;
	buf = xio_read_fd_all(fd, len_out);
	saved = errno;
	close(fd);
	errno = saved;
	return buf;
}

char *xio_read_path_all(const char *path, size_t *len_out)
{
	return read_all_at(AT_FDCWD, path, 0, len_out);
}

char *xio_read_at_all(int dirfd, const char *path, size_t *len_out)
{
	return read_all_at(dirfd, path, 1, len_out);
}

int xio_openat(int dirfd, const char *path, int flags, int nofollow)
{
	int fd;

	flags |= O_CLOEXEC;
	if (nofollow)
		flags |= O_NOFOLLOW;
	do
		fd = openat(dirfd, path, flags, 0600);
	while (fd < 0 && errno == EINTR);
	return fd;
}
