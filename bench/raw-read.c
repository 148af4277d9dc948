/* raw-read - the ceilings for lc-precopy's copy engine: read [ADDR, ADDR+LEN)
 * of PID with THREADS threads each taking CHUNK-byte pieces, by
 * process_vm_readv ("vm") or pread on /proc/PID/mem ("mem"), or not at all
 * ("none": with -o, the write alone, of a buffer filled once), into
 *  - a reused buffer per thread (the default: cache-hot, nothing
 *    allocated; the rate issue 3's 70% criterion names),
 *  - with -f, a fresh anonymous LEN-byte mapping, each piece at its offset
 *    (every destination page allocated during the read, as a copy must
 *    allocate its destination somewhere: the like-for-like ceiling),
 *  - with -o OUTFILE, a reused buffer pwritten to OUTFILE at its offset
 *    (read + write, no bookkeeping); -d opens OUTFILE with O_DIRECT and
 *    fallocates it first, as the copy engine does.
 * Prints the bytes, the seconds, and the CPU seconds this process used
 * (less sensitive than the wall clock to a machine shared with others).
 * Used by bench/copy-engine.sh. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static size_t chunk = 256u << 10;
static int out_fd = -1;
static unsigned char *fresh;

static pid_t pid;
static int mem_fd = -1, use_mem, use_none;
static uint64_t base, len;
static _Atomic uint64_t next;

static void *reader(void *arg)
{
	unsigned char *buf = NULL;

	(void)arg;
	if (!fresh && posix_memalign((void **)&buf, 4096, chunk) != 0)
		abort();
	if (buf)
		memset(buf, 0x5a, chunk); /* written pages, not the zero page */
	for (;;) {
		uint64_t at = atomic_fetch_add(&next, chunk);
		unsigned char *to;
		size_t n;
		ssize_t got;

		if (at >= len)
			break;
		n = len - at < chunk ? (size_t)(len - at) : chunk;
		to = fresh ? fresh + at : buf;
		if (use_none) {
			got = (ssize_t)n;
		} else if (use_mem) {
			got = pread(mem_fd, to, n, (off_t)(base + at));
		} else {
			struct iovec l = { to, n }, r = { (void *)(uintptr_t)(base + at), n };

			got = process_vm_readv(pid, &l, 1, &r, 1, 0);
		}
		if (got != (ssize_t)n) {
			fprintf(stderr, "raw-read: short read at %#" PRIx64 ": %s\n", base + at,
				got < 0 ? strerror(errno) : "short");
			exit(1);
		}
		if (out_fd >= 0 && pwrite(out_fd, to, n, (off_t)at) != (ssize_t)n) {
			perror("raw-read: pwrite");
			exit(1);
		}
	}
	free(buf);
	return NULL;
}

static double seconds(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static int usage(void)
{
	fprintf(stderr, "usage: raw-read [-f | -o OUTFILE [-d]] [-c CHUNK] vm|mem|none PID ADDR LEN THREADS\n");
	return 2;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	struct timespec a, b;
	struct rusage ru;
	const char *out = NULL;
	int threads, opt, direct = 0, want_fresh = 0;

	while ((opt = getopt(argc, argv, "fo:dc:")) != -1)
		switch (opt) {
		case 'f': want_fresh = 1; break;
		case 'o': out = optarg; break;
		case 'd': direct = 1; break;
		case 'c': chunk = strtoul(optarg, NULL, 0); break;
		default: return usage();
		}
	if (argc - optind != 5 || chunk == 0 || chunk % 4096 || (want_fresh && out))
		return usage();
	use_mem = !strcmp(argv[optind], "mem");
	use_none = !strcmp(argv[optind], "none");
	if (use_none && !out)
		return usage();
	pid = (pid_t)atoi(argv[optind + 1]);
	base = strtoull(argv[optind + 2], NULL, 0);
	len = strtoull(argv[optind + 3], NULL, 0);
	threads = atoi(argv[optind + 4]);
	if (threads < 1 || threads > 64)
		return usage();
	if (use_mem) {
		char path[64];

		snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
		if ((mem_fd = open(path, O_RDONLY)) < 0) {
			perror(path);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (want_fresh) {
		void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("raw-read: mmap");
			return 1;
		}
		fresh = p;
	}
	if (out) {
		out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0600);
		if (out_fd < 0 || (direct && fallocate(out_fd, 0, 0, (off_t)len) < 0)) {
			perror(out);
			return 1;
		}
	}
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &ru);
	printf("%" PRIu64 " %.6f %.6f\n", len,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9,
	       seconds(&ru.ru_utime) + seconds(&ru.ru_stime));
	return 0;
}
