/* lc-shapes - memory and thread shapes of real services that cost a
 * dumper its sparseness or its side effects, for the regression tests of
 * tests/bats/exact.bats:
 *
 *   lc-shapes -o INFOFILE [--idle-threads N] [--stride-mib M --stride K]
 *
 *   --idle-threads N   N threads blocked in pthread_cond_wait, each on the
 *                      default stack (8 MiB reserved, a few pages touched),
 *                      as a Java or Go service has thousands
 *   --stride-mib M     an anonymous mapping of M MiB (MAP_NORESERVE) whose
 *   --stride K         every K-th page is written with lc_pattern.h's
 *                      pattern (generation 1); the rest is never touched
 *
 * INFOFILE gets pid=, stride.addr=, stride.size=, stride.touched= (pages)
 * and, last, ready=1, written atomically once everything is in place.
 * Then it runs until killed; it exits on its own only on an error (a
 * message on stderr, status 1) or a usage error (status 2). */
#include "lc_pattern.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE LC_PATTERN_PAGE

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static unsigned started;

static void die(const char *what)
{
	fprintf(stderr, "lc-shapes: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void *idle(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	started++;
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static int number(const char *arg, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(arg, &end, 10);
	return errno || end == arg || *end || arg[0] == '-' || *out == 0 || *out > max ? -1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: lc-shapes -o INFOFILE [--idle-threads N] [--stride-mib M --stride K]\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long threads = 0, mib = 0, stride = 0, touched = 0;
	const char *info = NULL;
	char *region = NULL, tmp[4200];
	FILE *f;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-o") && v)
			info = argv[++i];
		else if (!strcmp(a, "--idle-threads") && v && number(argv[++i], 100000, &threads) == 0)
			;
		else if (!strcmp(a, "--stride-mib") && v && number(argv[++i], 1 << 20, &mib) == 0)
			;
		else if (!strcmp(a, "--stride") && v && number(argv[++i], 1 << 20, &stride) == 0)
			;
		else
			return usage();
	}
	if (!info || !mib != !stride)
		return usage();
	for (unsigned long k = 0; k < threads; k++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, idle, NULL);

		if (rc) {
			errno = rc;
			die("pthread_create");
		}
	}
	if (mib) {
		size_t size = (size_t)mib << 20;

		region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			      -1, 0);
		if (region == MAP_FAILED)
			die("mmap");
		/* 4 KiB pages: a huge page would populate 512 of them at once */
		if (madvise(region, size, MADV_NOHUGEPAGE) < 0)
			die("madvise");
		for (size_t off = 0; off < size; off += stride * PAGE, touched++)
			lc_pattern_fill((volatile uint64_t *)(region + off), (uint64_t)(uintptr_t)(region + off), 1);
	}
	for (;;) {
		unsigned n;

		pthread_mutex_lock(&lock);
		n = started;
		pthread_mutex_unlock(&lock);
		if (n == threads)
			break;
		usleep(1000);
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", info);
	if (!(f = fopen(tmp, "w")))
		die(tmp);
	fprintf(f, "pid=%d\n", (int)getpid());
	if (mib)
		fprintf(f, "stride.addr=0x%" PRIxPTR "\nstride.size=0x%lx\nstride.touched=%lu\n",
			(uintptr_t)region, mib << 20, touched);
	fprintf(f, "ready=1\n");
	if (fclose(f) == EOF || rename(tmp, info) < 0)
		die(info);
	for (;;)
		pause();
}
