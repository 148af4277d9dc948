/* lc-sidefx PID - what a dump may have left in process PID, one KEY=VALUE a
 * line, for tests that compare before and after:
 *
 *   vmpte_kb=N     VmPTE of /proc/PID/status: page tables
 *   rss_kb=N       VmRSS
 *   zero_pages=N   pages mapping the shared zero page (PAGEMAP_SCAN
 *                  PAGE_IS_PFNZERO over the user address space): reading an
 *                  unpopulated anonymous page maps it
 *   uw_vmas=N      VMAs registered with a userfaultfd for write-protect
 *                  (VmFlags uw in smaps)
 *   uffd_fds=N     userfaultfds among its fds
 *
 * Exit status 0, 1 when something could not be read (a message on
 * stderr), 2 on a usage error. */
#include "../../lib/common/pagemap_scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define END_OF_USER 0x7ffffffff000ull

static long status_kb(const char *pid, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, n) && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static long zero_pages(const char *pid)
{
	struct page_region vec[256];
	char path[64];
	uint64_t start = 0;
	long pages = 0;
	int fd;

	snprintf(path, sizeof path, "/proc/%s/pagemap", pid);
	if ((fd = open(path, O_RDONLY)) < 0)
		return -1;
	while (start < END_OF_USER) {
		struct pm_scan_arg arg = {
			.size = sizeof arg, .start = start, .end = END_OF_USER,
			.vec = (uint64_t)(uintptr_t)vec, .vec_len = 256,
			.category_mask = PAGE_IS_PFNZERO, .return_mask = PAGE_IS_PFNZERO,
		};
		long n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			pages = -1;
			break;
		}
		for (long i = 0; i < n; i++)
			pages += (long)((vec[i].end - vec[i].start) / 4096);
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	close(fd);
	return pages;
}

static long uw_vmas(const char *pid)
{
	char path[64], line[1024];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/smaps", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, "VmFlags:", 8) && strstr(line, " uw"))
			n++;
	fclose(f);
	return n;
}

static long uffd_fds(const char *pid)
{
	char path[64];
	struct dirent *d;
	long n = 0;
	DIR *dir;

	snprintf(path, sizeof path, "/proc/%s/fd", pid);
	if (!(dir = opendir(path)))
		return -1;
	while ((d = readdir(dir))) {
		char link[sizeof path + sizeof d->d_name + 2], target[64];
		ssize_t len;

		snprintf(link, sizeof link, "%s/%s", path, d->d_name);
		len = readlink(link, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += !strcmp(target, "anon_inode:[userfaultfd]");
		}
	}
	closedir(dir);
	return n;
}

int main(int argc, char **argv)
{
	long v[5];

	if (argc != 2 || strspn(argv[1], "0123456789") != strlen(argv[1])) {
		fprintf(stderr, "usage: lc-sidefx PID\n");
		return 2;
	}
	v[0] = status_kb(argv[1], "VmPTE");
	v[1] = status_kb(argv[1], "VmRSS");
	v[2] = zero_pages(argv[1]);
	v[3] = uw_vmas(argv[1]);
	v[4] = uffd_fds(argv[1]);
	for (int i = 0; i < 5; i++)
		if (v[i] < 0) {
			fprintf(stderr, "lc-sidefx: cannot read process %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
	printf("vmpte_kb=%ld\nrss_kb=%ld\nzero_pages=%ld\nuw_vmas=%ld\nuffd_fds=%ld\n", v[0], v[1], v[2],
	       v[3], v[4]);
	return 0;
}
