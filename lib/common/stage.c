#include "stage.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

int stage_header_check(const struct stage_header *h, unsigned page_size)
{
	if (memcmp(h->magic, STAGE_MAGIC, 8) || h->version != STAGE_VERSION ||
	    h->page_size != page_size || h->header_size != page_size || h->reserved != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int stage_create(const char *path, pid_t pid, uint64_t starttime, unsigned page_size, int replace)
{
	struct stage_header h;
	char *page;
	int fd, saved;

	if (replace) {
		struct stat st;

		/* lstat: a symlink is refused, never followed or replaced */
		if (lstat(path, &st) == 0) {
			if (!S_ISREG(st.st_mode)) {
				errno = EEXIST;
				return -1;
			}
			if (unlink(path) < 0)
				return -1;
		}
	}
	fd = xio_openat(AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL, 1);
	if (fd < 0)
		return -1;
	page = calloc(1, page_size);
	if (!page)
		goto fail;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, STAGE_MAGIC, 8);
	h.version = STAGE_VERSION;
	h.header_size = page_size;
	h.page_size = page_size;
	h.pid = (uint64_t)pid;
	h.starttime = starttime;
	memcpy(page, &h, sizeof h);
	if (fchmod(fd, 0600) < 0 || xio_pwrite_full(fd, page, page_size, 0) < 0) {
		free(page);
		goto fail;
	}
	free(page);
	return fd;
fail:
	saved = errno;
	close(fd);
	unlink(path);
	errno = saved;
	return -1;
}

int stage_open(const char *path, int flags, pid_t pid, uint64_t starttime, unsigned page_size)
{
	struct stage_header h;
	struct stat st;
	int fd = xio_openat(AT_FDCWD, path, flags, 1);
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	n = xio_pread_full(fd, &h, sizeof h, 0);
	if (n < 0)
		goto fail;
	if ((size_t)n < sizeof h || (uint64_t)st.st_size < page_size ||
	    stage_header_check(&h, page_size) < 0) {
		errno = EINVAL;
		goto fail;
	}
	if (h.pid != (uint64_t)pid || h.starttime != starttime) {
		errno = ESRCH;
		goto fail;
	}
	return fd;
fail:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

int stage_check_space(int fd, uint64_t need)
{
	struct statvfs vfs;

	if (fstatvfs(fd, &vfs) < 0)
		return -1;
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize < need) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

int stage_zero_range(int fd, uint64_t offset, uint64_t len)
{
	static const unsigned char zero[4096];

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	for (uint64_t at = 0; at < len; at += sizeof zero) {
		uint64_t n = len - at < sizeof zero ? len - at : sizeof zero;

		if (xio_pwrite_full(fd, zero, (size_t)n, (off_t)(offset + at)) < 0)
			return -1;
	}
	return 0;
}
