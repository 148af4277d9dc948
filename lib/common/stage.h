/* stage - the staging file (lc-stage(5)): a header page, then raw page data
 * at page-aligned offsets named by the manifest's extents. Sparse: pages the
 * target never populated stay holes.
 *
 * Header (little-endian, the first page of the file, the rest zero):
 *   0   8  magic "LCSTAGE\n"
 *   8   4  version (1)
 *  12   4  header size in bytes (= page size)
 *  16   4  page size
 *  20   4  reserved, 0
 *  24   8  pid of the target
 *  32   8  starttime of the target (clock ticks, /proc/PID/stat field 22)
 */
#ifndef LC_STAGE_H
#define LC_STAGE_H

#include <stdint.h>
#include <sys/types.h>

#define STAGE_MAGIC "LCSTAGE\n"
#define STAGE_VERSION 1

struct stage_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t page_size;
	uint32_t reserved;
	uint64_t pid;
	uint64_t starttime;
};

/* Creates path as a new staging file: O_CREAT|O_EXCL (never an existing
 * file, never through a symlink), mode 0600, header written. With replace,
 * an existing regular file is unlinked first (never followed).
 * Returns the fd or -1. */
int stage_create(const char *path, pid_t pid, uint64_t starttime, unsigned page_size, int replace);

/* Opens an existing staging file (O_NOFOLLOW), checks magic, version, page
 * size, and that it belongs to pid/starttime. flags: O_RDONLY or O_RDWR.
 * Returns the fd or -1 with errno: EINVAL bad header, ESRCH other target. */
int stage_open(const char *path, int flags, pid_t pid, uint64_t starttime, unsigned page_size);

/* Validates a header read from a file; -1 with errno = EINVAL when bad. */
int stage_header_check(const struct stage_header *h, unsigned page_size);

/* Makes [offset, offset + len) of the staging file read as zeros: a hole
 * where the filesystem punches one, else zeros written. 0 or -1 with
 * errno. */
int stage_zero_range(int fd, uint64_t offset, uint64_t len);

/* Fails with ENOSPC when the filesystem holding fd has less than `need`
 * bytes available to an unprivileged writer (f_bavail). */
int stage_check_space(int fd, uint64_t need);

#endif
