/* raw-read - the ceilings for lc-precopy's copy engine: read [ADDR, ADDR+LEN)
 * of PID into a reused buffer with THREADS threads each taking CHUNK-byte
 * pieces, by process_vm_readv ("vm") or pread on /proc/PID/mem ("mem");
 * nothing is written, or, with OUTFILE, each piece is pwritten there at
 * its offset (read + write, no bookkeeping). Prints the bytes and seconds.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static size_t CHUNK = 8u << 20;
static int out_fd = -1;

static pid_t pid;
static int mem_fd = -1, use_mem;
static uint64_t base, len;
static _Atomic uint64_t next;

static void *reader(void *arg)
{
	char *buf = malloc(CHUNK);

	(void)arg;
	if (!buf)
		abort();
	for (;;) {
		uint64_t at = atomic_fetch_add(&next, CHUNK);
		size_t n;
		ssize_t got;

		if (at >= len)
			break;
		n = len - at < CHUNK ? (size_t)(len - at) : CHUNK;
		if (use_mem) {
			got = pread(mem_fd, buf, n, (off_t)(base + at));
		} else {
			struct iovec l = { buf, n }, r = { (void *)(uintptr_t)(base + at), n };

			got = process_vm_readv(pid, &l, 1, &r, 1, 0);
		}
		if (got != (ssize_t)n) {
			fprintf(stderr, "raw-read: short read at %#" PRIx64 ": %s\n", base + at,
				got < 0 ? strerror(errno) : "short");
			exit(1);
		}
		if (out_fd >= 0 && pwrite(out_fd, buf, n, (off_t)at) != (ssize_t)n) {
			perror("raw-read: pwrite");
			exit(1);
		}
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[64];
	struct timespec a, b;
	int threads;

	if (argc != 6 && argc != 8) {
		fprintf(stderr, "usage: raw-read vm|mem PID ADDR LEN THREADS [CHUNK OUTFILE]\n");
		return 2;
	}
	if (argc == 8) {
		CHUNK = strtoul(argv[6], NULL, 0);
		out_fd = open(argv[7], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (out_fd < 0 || CHUNK == 0) {
			perror(argv[7]);
			return 1;
		}
	}
	use_mem = !strcmp(argv[1], "mem");
	pid = (pid_t)atoi(argv[2]);
	base = strtoull(argv[3], NULL, 0);
	len = strtoull(argv[4], NULL, 0);
	threads = atoi(argv[5]);
	if (threads < 1 || threads > 64)
		return 2;
	if (use_mem) {
		char path[64];

		snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
		if ((mem_fd = open(path, O_RDONLY)) < 0) {
			perror(path);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, reader, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%" PRIu64 " %.6f\n", len,
	       (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
