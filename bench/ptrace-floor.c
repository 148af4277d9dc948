/* ptrace-floor - the least a ptrace stop of every thread of PID costs,
 * with TRACERS tracer threads sharing the threads out:
 *
 *   ptrace-floor PID TRACERS [ROUNDS]
 *
 * Each tracer thread seizes its share (PTRACE_SEIZE: outside the timing,
 * as lc-freeze seizes before its stop begins), then, timed from the first
 * interrupt to the last detach: PTRACE_INTERRUPT each, waitpid each,
 * PTRACE_GETREGSET NT_PRSTATUS and NT_X86_XSTATE, PTRACE_GETSIGMASK, and
 * PTRACE_DETACH. Nothing else: no maps, no notes, no copy. One line a
 * round: the stop, and when the last thread was stopped and read. Used for
 * docs/BENCHMARKS.md ("Issue 14: where each figure stands": tracer
 * threads against one). The threads must not come and go during a round
 * (a target of threads blocked in pthread_cond_wait: lc-shapes
 * --idle-threads N). Root, or a tracer allowed to trace PID. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <elf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_THREADS 100000
#define MAX_TRACERS 16
#define XSTATE_MAX (64u << 10)

static pid_t tids[MAX_THREADS];
static int n_tids, n_tracers;
static pthread_barrier_t barrier;
static double t_start, t_end, t_stopped[MAX_TRACERS], t_read[MAX_TRACERS];
static int failures;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fail(const char *what, pid_t tid)
{
	fprintf(stderr, "ptrace-floor: %s of thread %d failed\n", what, (int)tid);
	__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

/* Tracer k: threads k, k + n_tracers, ... */
static void *tracer(void *arg)
{
	long k = (long)arg;
	static _Thread_local unsigned char xstate[XSTATE_MAX];
	struct user_regs_struct regs;
	int i;

	for (i = k; i < n_tids; i += n_tracers)
		if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) < 0)
			fail("PTRACE_SEIZE", tids[i]);
	pthread_barrier_wait(&barrier);
	if (k == 0)
		t_start = now_ms();
	pthread_barrier_wait(&barrier);
	for (i = k; i < n_tids; i += n_tracers)
		if (ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) < 0)
			fail("PTRACE_INTERRUPT", tids[i]);
	for (i = k; i < n_tids; i += n_tracers) {
		int status;

		if (waitpid(tids[i], &status, __WALL) != tids[i])
			fail("waitpid", tids[i]);
	}
	t_stopped[k] = now_ms();
	for (i = k; i < n_tids; i += n_tracers) {
		struct iovec r = { &regs, sizeof regs }, x = { xstate, sizeof xstate };
		unsigned long long mask;

		if (ptrace(PTRACE_GETREGSET, tids[i], (void *)NT_PRSTATUS, &r) < 0 ||
		    ptrace(PTRACE_GETREGSET, tids[i], (void *)NT_X86_XSTATE, &x) < 0 ||
		    ptrace(PTRACE_GETSIGMASK, tids[i], (void *)sizeof mask, &mask) < 0)
			fail("reading the registers", tids[i]);
	}
	t_read[k] = now_ms();
	for (i = k; i < n_tids; i += n_tracers)
		if (ptrace(PTRACE_DETACH, tids[i], 0, 0) < 0)
			fail("PTRACE_DETACH", tids[i]);
	pthread_barrier_wait(&barrier);
	if (k == 0)
		t_end = now_ms();
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[MAX_TRACERS];
	char path[64];
	struct dirent *d;
	int rounds = argc > 3 ? atoi(argv[3]) : 1;
	DIR *dir;

	if (argc < 3 || (n_tracers = atoi(argv[2])) < 1 || n_tracers > MAX_TRACERS || rounds < 1) {
		fprintf(stderr, "usage: ptrace-floor PID TRACERS(1-%d) [ROUNDS]\n", MAX_TRACERS);
		return 2;
	}
	snprintf(path, sizeof path, "/proc/%s/task", argv[1]);
	if (!(dir = opendir(path))) {
		perror(path);
		return 1;
	}
	while ((d = readdir(dir)) && n_tids < MAX_THREADS)
		if (d->d_name[0] != '.')
			tids[n_tids++] = atoi(d->d_name);
	closedir(dir);
	pthread_barrier_init(&barrier, NULL, (unsigned)n_tracers);
	for (int r = 0; r < rounds; r++) {
		double stopped = 0, read = 0;

		for (long k = 1; k < n_tracers; k++)
			pthread_create(&threads[k], NULL, tracer, (void *)k);
		tracer((void *)0);
		for (long k = 1; k < n_tracers; k++)
			pthread_join(threads[k], NULL);
		for (int k = 0; k < n_tracers; k++) {
			stopped = t_stopped[k] > stopped ? t_stopped[k] : stopped;
			read = t_read[k] > read ? t_read[k] : read;
		}
		printf("tracers %d threads %d: stop %.1f ms (all stopped at %.1f, read at %.1f)\n",
		       n_tracers, n_tids, t_end - t_start, stopped - t_start, read - t_start);
	}
	return failures ? 1 : 0;
}
