/* lc-forkee -o INFO [--mib N] [--threads N] [--fifo PATH] [--cow-child] [--writer]
 *
 * A process for -T fork (tests/bats/fork.bats): memory a copy-on-write
 * clone does not hold as the process had it, and what the process would
 * notice of a clone.
 *
 *  - private: N MiB (default 16) of private anonymous memory, and 1 MiB
 *    each of MAP_SHARED anonymous memory (shared), of MADV_WIPEONFORK
 *    memory (wipe) and of MADV_DONTFORK memory (dontfork). Every 64-bit
 *    word holds its own address XOR PATTERN.
 *  - counter.private, counter.shared: the main thread counts, writing
 *    each count first to the shared word, then to the private one, so
 *    that at any instant private <= shared <= private + 1. A core whose
 *    shared memory was read after the process ran on shows shared far
 *    ahead.
 *  - --threads N: N more threads, asleep in nanosleep.
 *  - --writer: one more thread rewrites every page of private (each word
 *    with the value it holds) as fast as it can: a process that writes
 *    faster than a pre-copy pass copies.
 *  - It counts the SIGCHLDs it gets and the children its waitpid(-1,
 *    WNOHANG) reaps, and writes "sigchld=N reaped=N" to INFO.state when
 *    they change (a clone of it must give neither).
 *  - --fifo PATH: holds PATH open for writing; SIGUSR1 closes it (the
 *    reader then sees EOF, unless a copy of the fd table holds it).
 *  - --cow-child: once its memory is written, it forks a child that
 *    only sleeps (and dies with it): every page of the child is shared
 *    copy-on-write with the process (cow.pid=), until one of them writes
 *    it. A dump of the child must leave it so.
 *  - SIGUSR2: it maps two more 1 MiB private regions, one plain, one
 *    MADV_WIPEONFORK, with the pattern, and writes INFO.late
 *    ("plain=ADDR wipe=ADDR"): mappings a dump's lc-maps did not see.
 *  - Every thread, each time it wakes, checks that getpid() is still the
 *    process's: a clone that ran the process's code would create
 *    INFO.clone-ran.
 *
 * INFO: pid=, private.addr=, private.size=, shared.addr=, wipe.addr=,
 * dontfork.addr= (1 MiB each), counter.private=, counter.shared=. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PATTERN 0x5deece66d1f0c0deull
#define SMALL (1u << 20)

static volatile sig_atomic_t sigchld_count, close_fifo, map_late;
static pid_t self;
static const char *info;

/* A copy of this process runs its code: said in a file of its own. */
static void check_self(void)
{
	char path[4200];

	if (getpid() == self)
		return;
	snprintf(path, sizeof path, "%s.clone-ran", info);
	close(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
}

static void die(const char *what)
{
	fprintf(stderr, "lc-forkee: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void on_sigchld(int sig)
{
	(void)sig;
	sigchld_count++;
}

static void on_sigusr1(int sig)
{
	(void)sig;
	close_fifo = 1;
}

static void on_sigusr2(int sig)
{
	(void)sig;
	map_late = 1;
}

static uint64_t *region(size_t size, int flags, int advice, const char *what)
{
	uint64_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die(what);
	if (advice >= 0 && madvise(p, size, advice) < 0)
		die(what);
	for (size_t i = 0; i < size / 8; i++)
		p[i] = (uint64_t)(uintptr_t)&p[i] ^ PATTERN;
	return p;
}

static uint64_t *priv;
static size_t priv_size;

static void *writer(void *arg)
{
	(void)arg;
	for (;;) {
		/* word 1 of page 0 is the main thread's counter */
		for (size_t i = 512; i < priv_size / 8; i += 8)
			__atomic_store_n(&priv[i], (uint64_t)(uintptr_t)&priv[i] ^ PATTERN, __ATOMIC_RELAXED);
		check_self();
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;) {
		nanosleep(&(struct timespec){ 1, 0 }, NULL);
		check_self();
	}
	return NULL;
}

static void write_state(const char *info, int reaped)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof path, "%s.state", info);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		die(tmp);
	fprintf(f, "sigchld=%d reaped=%d\n", (int)sigchld_count, reaped);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		die(path);
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 't' },
		{ "fifo", required_argument, NULL, 'f' },
		{ "cow-child", no_argument, NULL, 'c' },
		{ "writer", no_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	const char *fifo = NULL;
	long mib = 16, threads = 0;
	int c, fifo_fd = -1, reaped = 0, seen_chld = -1, seen_reaped = -1;
	bool cow_child = false, write = false;
	pid_t cow = 0;
	uint64_t *shared, *wipe, *dontfork, n = 0;
	char tmp[4200], tmp2[4200];
	FILE *f;

	while ((c = getopt_long(argc, argv, "o:", longs, NULL)) != -1) {
		switch (c) {
		case 'o': info = optarg; break;
		case 'm': mib = atol(optarg); break;
		case 't': threads = atol(optarg); break;
		case 'f': fifo = optarg; break;
		case 'c': cow_child = true; break;
		case 'w': write = true; break;
		default: return 2;
		}
	}
	if (!info || mib < 1 || threads < 0 || optind != argc) {
		fprintf(stderr, "usage: lc-forkee -o INFO [--mib N] [--threads N] [--fifo PATH] "
			"[--cow-child] [--writer]\n");
		return 2;
	}
	self = getpid();
	signal(SIGCHLD, on_sigchld);
	signal(SIGUSR1, on_sigusr1);
	signal(SIGUSR2, on_sigusr2);
	if (fifo && (fifo_fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0)
		die(fifo);
	priv_size = (size_t)mib << 20;
	priv = region(priv_size, MAP_PRIVATE, -1, "private");
	shared = region(SMALL, MAP_SHARED, -1, "shared");
	wipe = region(SMALL, MAP_PRIVATE, MADV_WIPEONFORK, "wipe");
	dontfork = region(SMALL, MAP_PRIVATE, MADV_DONTFORK, "dontfork");
	if (cow_child && (cow = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (cow < 0)
		die("fork");
	if (write) {
		pthread_t t;

		if ((errno = pthread_create(&t, NULL, writer, NULL)))
			die("pthread_create");
	}
	for (long i = 0; i < threads; i++) {
		pthread_t t;

		if ((errno = pthread_create(&t, NULL, sleeper, NULL)))
			die("pthread_create");
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", info);
	if (!(f = fopen(tmp, "w")))
		die(tmp);
	fprintf(f, "pid=%d\nprivate.addr=%p\nprivate.size=%zu\nshared.addr=%p\nwipe.addr=%p\n"
		"dontfork.addr=%p\ncounter.private=%p\ncounter.shared=%p\n", (int)getpid(), (void *)priv,
		(size_t)mib << 20, (void *)shared, (void *)wipe, (void *)dontfork, (void *)&priv[1],
		(void *)&shared[1]);
	if (cow)
		fprintf(f, "cow.pid=%d\n", (int)cow);
	if (fclose(f) != 0 || rename(tmp, info) < 0)
		die(info);
	for (;;) {
		/* the counters: shared first (see the top) */
		for (int i = 0; i < 100000; i++) {
			n++;
			__atomic_store_n(&shared[1], n, __ATOMIC_RELEASE);
			__atomic_store_n(&priv[1], n, __ATOMIC_RELEASE);
		}
		while (waitpid(-1, NULL, WNOHANG) > 0)
			reaped++;
		if (sigchld_count != seen_chld || reaped != seen_reaped) {
			seen_chld = sigchld_count;
			seen_reaped = reaped;
			write_state(info, reaped);
		}
		if (map_late == 1) {
			uint64_t *plain = region(SMALL, MAP_PRIVATE, -1, "late plain");
			uint64_t *wiped = region(SMALL, MAP_PRIVATE, MADV_WIPEONFORK, "late wipe");

			map_late = 2;
			snprintf(tmp, sizeof tmp, "%s.late.tmp", info);
			if (!(f = fopen(tmp, "w")))
				die(tmp);
			fprintf(f, "plain=%p\nwipe=%p\n", (void *)plain, (void *)wiped);
			snprintf(tmp2, sizeof tmp2, "%s.late", info);
			if (fclose(f) != 0 || rename(tmp, tmp2) < 0)
				die(tmp2);
		}
		if (close_fifo && fifo_fd >= 0) {
			close(fifo_fd);
			fifo_fd = -1;
		}
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
		check_self();
	}
}
