/* lc-precopy-target - memory shapes lc-precopy's tests need that lc-target
 * does not lay down:
 *
 *   --beyond-eof DIR   a private file mapping of 4 pages over a file of 1
 *                      page (page 0 written, so lc-maps dumps the VMA;
 *                      pages 1-3 lie past the end of the file: reading them
 *                      faults), followed at the next address by 4 pattern
 *                      pages (lc_pattern.h) in an anonymous mapping. Info:
 *                      eof.addr, eof.bad_start, eof.bad_end, after.addr,
 *                      after.pages.
 *   --every-7th MIB    a pattern region of MIB MiB and a thread that keeps
 *                      rewriting every 7th page of it (and nothing else).
 *                      Info: region.addr, region.pages, region.written.
 *
 * Writes KEY=VALUE lines to INFOFILE (atomically) when ready, then runs
 * until killed.
 *
 *   lc-precopy-target --probe-soft-dirty
 *                      exits 0 when this kernel tracks soft-dirty pages
 *                      (an oracle for the tests, written apart from
 *                      lib/common/track.c so that it can disagree). */
#include "lc_pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE LC_PATTERN_PAGE

static char info[4096];
static size_t info_len;

static void die(const char *what)
{
	fprintf(stderr, "lc-precopy-target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put(const char *key, uint64_t value, int hex)
{
	info_len += (size_t)snprintf(info + info_len, sizeof info - info_len,
				     hex ? "%s=0x%" PRIx64 "\n" : "%s=%" PRIu64 "\n", key, value);
}

static void beyond_eof(const char *dir)
{
	char path[4096];
	char *base;
	int fd;

	snprintf(path, sizeof path, "%s/lc-precopy-target.%d.file", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, PAGE) < 0)
		die("cannot create the file");
	unlink(path);
	/* reserve 8 pages, then put the file mapping over the first 4 */
	base = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		die("mmap");
	if (mmap(base, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED)
		die("mmap the file");
	memset(base, 'W', PAGE); /* a private write: the VMA is dumped */
	for (int i = 0; i < 4; i++)
		lc_pattern_fill((volatile uint64_t *)(base + (4 + i) * PAGE),
				(uint64_t)(uintptr_t)(base + (4 + i) * PAGE), 1);
	put("eof.addr", (uint64_t)(uintptr_t)base, 1);
	put("eof.bad_start", (uint64_t)(uintptr_t)base + PAGE, 1);
	put("eof.bad_end", (uint64_t)(uintptr_t)base + 4 * PAGE, 1);
	put("after.addr", (uint64_t)(uintptr_t)base + 4 * PAGE, 1);
	put("after.pages", 4, 0);
}

static char *region;
static uint64_t region_pages;

static void *writer(void *arg)
{
	struct timespec nap = { 0, 1000 * 1000 };
	uint64_t gen = 2;

	(void)arg;
	for (;; gen++) {
		for (uint64_t i = 0; i < region_pages; i += 7)
			lc_pattern_fill((volatile uint64_t *)(region + i * PAGE),
					(uint64_t)(uintptr_t)(region + i * PAGE), gen);
		nanosleep(&nap, NULL);
	}
	return NULL;
}

static void every_7th(unsigned long mib)
{
	pthread_t t;

	region_pages = (uint64_t)mib * 256;
	region = mmap(NULL, region_pages * PAGE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED)
		die("mmap");
	/* no huge pages: a write would dirty 2 MiB, not one page */
	if (madvise(region, region_pages * PAGE, MADV_NOHUGEPAGE) < 0)
		die("madvise");
	for (uint64_t i = 0; i < region_pages; i++)
		lc_pattern_fill((volatile uint64_t *)(region + i * PAGE),
				(uint64_t)(uintptr_t)(region + i * PAGE), 1);
	put("region.addr", (uint64_t)(uintptr_t)region, 1);
	put("region.pages", region_pages, 0);
	put("region.written", (region_pages + 6) / 7, 0);
	if (pthread_create(&t, NULL, writer, NULL))
		die("pthread_create");
}

static int probe_soft_dirty(void)
{
	volatile char *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int clear = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	int map = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	if (p == MAP_FAILED || clear < 0 || map < 0)
		return 2;
	p[0] = 1;
	if (write(clear, "4", 1) != 1)
		return 1;
	p[0] = 2;
	if (pread(map, &e, 8, (off_t)((uintptr_t)p / PAGE * 8)) != 8)
		return 2;
	return (e >> 55) & 1 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *out = NULL;

	if (argc == 2 && !strcmp(argv[1], "--probe-soft-dirty"))
		return probe_soft_dirty();
	char tmp[4096];
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strcmp(argv[i], "--beyond-eof") && i + 1 < argc)
			beyond_eof(argv[++i]);
		else if (!strcmp(argv[i], "--every-7th") && i + 1 < argc)
			every_7th(strtoul(argv[++i], NULL, 10));
		else {
			fprintf(stderr, "usage: lc-precopy-target -o INFOFILE [--beyond-eof DIR] "
					"[--every-7th MIB]\n");
			return 2;
		}
	}
	if (!out) {
		fprintf(stderr, "lc-precopy-target: -o INFOFILE is required\n");
		return 2;
	}
	put("pid", (uint64_t)getpid(), 0);
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, info, info_len) != (ssize_t)info_len || close(fd) < 0 ||
	    rename(tmp, out) < 0)
		die("cannot write the info file");
	for (;;)
		pause();
}
