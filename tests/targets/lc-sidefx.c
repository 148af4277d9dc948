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
 *   anon_huge_kb=N AnonHugePages of /proc/PID/smaps_rollup: transparent
 *                  huge pages (uffd write faults split them)
 *   fds=N          open fds
 *   vmflags=HEX    a hash (FNV-1a) of every VMA's range and VmFlags line
 *                  in smaps: equal when no VMA was split, merged, moved or
 *                  flagged differently. The soft-dirty flag (sd) is left
 *                  out: clear_refs 4, soft-dirty tracking's reset, clears
 *                  it on every VMA by design, and the process never sees
 *                  it
 *
 * zero_pages is "-" where the kernel has no PAGEMAP_SCAN (before 6.7):
 * it cannot say.
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

/* The value of "KEY: N kB" in /proc/PID/FILE */
static long proc_kb(const char *pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t n = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/%s", pid, file);
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
			/* no PAGEMAP_SCAN (Linux before 6.7): unknown */
			pages = errno == ENOTTY || errno == EINVAL ? -2 : -1;
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

/* FNV-1a over each VMA's "start-end" and its VmFlags line */
static int vmflags_hash(const char *pid, uint64_t *h)
{
	char path[64], line[1024];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%s/smaps", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	*h = 0xcbf29ce484222325ull;
	while (fgets(line, sizeof line, f)) {
		size_t n;

		if (strncmp(line, "VmFlags:", 8)) {
			/* a VMA's first line: "start-end perms ..." */
			char *sp = strchr(line, ' ');

			if (!sp || !strchr(line, '-') || strchr(line, '-') > sp)
				continue;
			n = (size_t)(sp - line);
		} else {
			char *sd;

			while ((sd = strstr(line, " sd")) && (sd[3] == ' ' || sd[3] == '\n'))
				memmove(sd, sd + 3, strlen(sd + 3) + 1);
			n = strlen(line);
		}
		for (size_t i = 0; i < n; i++)
			*h = (*h ^ (unsigned char)line[i]) * 0x100000001b3ull;
	}
	fclose(f);
	return 0;
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

/* every fd when all is true, else the userfaultfds */
static long count_fds(const char *pid, int all)
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
			n += all || !strcmp(target, "anon_inode:[userfaultfd]");
		}
	}
	closedir(dir);
	return n;
}

int main(int argc, char **argv)
{
	long v[7];
	uint64_t h;

	if (argc != 2 || strspn(argv[1], "0123456789") != strlen(argv[1])) {
		fprintf(stderr, "usage: lc-sidefx PID\n");
		return 2;
	}
	v[0] = proc_kb(argv[1], "status", "VmPTE");
	v[1] = proc_kb(argv[1], "status", "VmRSS");
	v[2] = zero_pages(argv[1]);
	v[3] = uw_vmas(argv[1]);
	v[4] = count_fds(argv[1], 0);
	v[5] = proc_kb(argv[1], "smaps_rollup", "AnonHugePages");
	v[6] = count_fds(argv[1], 1);
	for (int i = 0; i < 7; i++)
		if (v[i] < 0 && !(i == 2 && v[i] == -2)) {
			fprintf(stderr, "lc-sidefx: cannot read process %s: %s\n", argv[1], strerror(errno));
			return 1;
		}
	if (vmflags_hash(argv[1], &h) < 0) {
		fprintf(stderr, "lc-sidefx: cannot read process %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	printf("vmpte_kb=%ld\nrss_kb=%ld\n", v[0], v[1]);
	if (v[2] == -2)
		printf("zero_pages=-\n");
	else
		printf("zero_pages=%ld\n", v[2]);
	printf("uw_vmas=%ld\nuffd_fds=%ld\nanon_huge_kb=%ld\nfds=%ld\nvmflags=%016" PRIx64 "\n", v[3],
	       v[4], v[5], v[6], h);
	return 0;
}
