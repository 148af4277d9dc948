/* bench-target - the process bench/run.sh dumps: MIB MiB of populated
 * anonymous memory (4 KiB pages or transparent huge pages), a thread that
 * dirties RATE pages a second spread over the whole heap, THREADS
 * application threads, and a probe thread that measures the pause the
 * process feels.
 *
 *   bench-target -m MIB [-H] [-r RATE] [-t THREADS] -o INFO -g GAPS
 *
 * The probe spins reading CLOCK_MONOTONIC (the vdso: no system call), at
 * nice -20. Any gap between two reads of GAP_MIN_NS or more is a time it
 * did not run: a tracer stopped it, or the scheduler gave its CPU to
 * another task. The two differ in the probe's context switches: a thread
 * that stops (ptrace, SIGSTOP) leaves its CPU of its own accord, counted in
 * ru_nvcsw; a preempted one does not (ru_nivcsw), and the probe makes no
 * other blocking call. It logs the largest gaps with their start times
 * and kind, so that run.sh can take the stop a tool caused (a stopped gap
 * overlapping lc-freeze's run, or gcore's) apart from scheduler noise. On
 * SIGUSR2 the main thread writes the log to GAPS (via a temporary name and
 * rename) and clears it: the true stop, ptrace's cost included, as the
 * target saw it.
 *
 * INFO is written once the heap is populated: pid, heap address and size,
 * and the share of it that the kernel backs with huge pages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define HUGE (2u << 20)
/* gaps below this are cache misses and interrupts, not stops */
#define GAP_MIN_NS 200000
/* the longest gaps kept between two reads of the log */
#define GAP_KEEP 64

struct gap {
	uint64_t start_ns, length_ns;
	int stopped; /* the probe was stopped, not preempted */
};

/* Stops are kept apart from preemptions: on a busy machine hundreds of
 * preemptions would push a short stop out of the log. */
static struct {
	pthread_mutex_t lock;
	struct gap gaps[GAP_KEEP]; /* the longest stops */
	int count;
	uint64_t since_ns; /* the log covers [since_ns, now) */
	uint64_t max_ns, preempted_max_ns, preempted_count;
} probe_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned char *heap;
static size_t heap_size;
static long dirty_rate;
static _Atomic uint64_t pages_dirtied;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Keeps the GAP_KEEP longest stops (a new one replaces the shortest) and
 * the longest preemption. */
static void probe_record(uint64_t start, uint64_t length, int stopped)
{
	int shortest = 0;

	pthread_mutex_lock(&probe_log.lock);
	if (length > probe_log.max_ns)
		probe_log.max_ns = length;
	if (!stopped) {
		probe_log.preempted_count++;
		if (length > probe_log.preempted_max_ns)
			probe_log.preempted_max_ns = length;
	} else if (probe_log.count < GAP_KEEP) {
		probe_log.gaps[probe_log.count++] = (struct gap){ start, length, stopped };
	} else {
		for (int i = 1; i < GAP_KEEP; i++)
			if (probe_log.gaps[i].length_ns < probe_log.gaps[shortest].length_ns)
				shortest = i;
		if (length > probe_log.gaps[shortest].length_ns)
			probe_log.gaps[shortest] = (struct gap){ start, length, stopped };
	}
	pthread_mutex_unlock(&probe_log.lock);
}

static long probe_voluntary_switches(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nvcsw : -1;
}

static void *probe(void *arg)
{
	uint64_t last;
	long switches;

	(void)arg;
	/* Nice -20 (root only; otherwise it stays at 0): against the copy
	 * threads and other work on the machine the probe keeps its CPU, so
	 * that scheduler gaps stay small beside the stops it is there to see. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -20) != 0)
		fprintf(stderr, "bench-target: probe at nice 0: %s\n", strerror(errno));
	switches = probe_voluntary_switches();
	last = now_ns();
	for (;;) {
		uint64_t t = now_ns();

		if (t - last >= GAP_MIN_NS) {
			long now_switches = probe_voluntary_switches();

			probe_record(last, t - last, now_switches != switches);
			/* probe_record may have waited for the lock */
			switches = probe_voluntary_switches();
			t = now_ns();
		}
		last = t;
	}
	return NULL;
}

/* A page index from a full-period LCG over the heap's pages: spread over
 * the whole heap, every page in turn, no page twice in a row. */
static void *dirtier(void *arg)
{
	size_t pages = heap_size / PAGE, mask = 1, i = 1;
	uint64_t tick = now_ns(), done = 0, start = tick;

	(void)arg;
	while (mask < pages)
		mask = mask << 1 | 1;
	for (;;) {
		uint64_t due;
		struct timespec next;

		tick += 1000000; /* 1 ms */
		next.tv_sec = (time_t)(tick / 1000000000u);
		next.tv_nsec = (long)(tick % 1000000000u);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		/* after a stop, catch up at most one second's worth */
		due = (now_ns() - start) / 1000 * (uint64_t)dirty_rate / 1000000;
		if (due > done + (uint64_t)dirty_rate) {
			done = due - (uint64_t)dirty_rate;
		}
		for (; done < due; done++) {
			do
				i = (i * 1103515245u + 12345u) & mask;
			while (i >= pages);
			heap[i * PAGE + (done % PAGE)]++;
			atomic_fetch_add_explicit(&pages_dirtied, 1, memory_order_relaxed);
		}
	}
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int write_atomically(const char *path, const char *text)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!(f = fopen(tmp, "w")))
		return -1;
	fputs(text, f);
	if (fclose(f) != 0)
		return -1;
	return rename(tmp, path);
}

static void gaps_dump(const char *path)
{
	static char text[GAP_KEEP * 80 + 256];
	size_t n = 0;
	uint64_t t = now_ns();

	pthread_mutex_lock(&probe_log.lock);
	n += (size_t)snprintf(text + n, sizeof text - n,
			      "since %" PRIu64 "\nnow %" PRIu64 "\nmax %" PRIu64 "\ndirtied %" PRIu64
			      "\npreempted %" PRIu64 " %" PRIu64 "\n",
			      probe_log.since_ns, t, probe_log.max_ns, atomic_load(&pages_dirtied),
			      probe_log.preempted_count, probe_log.preempted_max_ns);
	for (int i = 0; i < probe_log.count; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "gap %" PRIu64 " %" PRIu64 " %s\n",
				      probe_log.gaps[i].start_ns, probe_log.gaps[i].length_ns,
				      probe_log.gaps[i].stopped ? "stopped" : "preempted");
	probe_log.count = 0;
	probe_log.max_ns = 0;
	probe_log.preempted_count = 0;
	probe_log.preempted_max_ns = 0;
	probe_log.since_ns = t;
	pthread_mutex_unlock(&probe_log.lock);
	if (write_atomically(path, text) != 0)
		perror(path);
}

/* The share of the heap backed by huge pages (smaps' AnonHugePages of
 * the heap's VMA), in KiB. */
static long heap_huge_kib(void)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in_heap = 0;
	long kib = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in_heap = lo <= (uintptr_t)heap && (uintptr_t)heap < hi;
		else if (in_heap && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-target -m MIB [-H] [-r RATE] [-t THREADS] -o INFO -g GAPS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *info = NULL, *gaps = NULL;
	long mib = 0, threads = 1;
	int huge = 0, opt;
	unsigned char *raw;
	sigset_t usr2;
	pthread_t t;
	char text[512];

	while ((opt = getopt(argc, argv, "m:Hr:t:o:g:")) != -1) {
		switch (opt) {
		case 'm': mib = atol(optarg); break;
		case 'H': huge = 1; break;
		case 'r': dirty_rate = atol(optarg); break;
		case 't': threads = atol(optarg); break;
		case 'o': info = optarg; break;
		case 'g': gaps = optarg; break;
		default: usage();
		}
	}
	if (mib <= 0 || threads < 1 || dirty_rate < 0 || !info || !gaps || optind != argc)
		usage();

	/* SIGUSR2 is taken by the main thread only, with sigwait */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);

	/* aligned to 2 MiB so that THP can back all of it */
	heap_size = (size_t)mib << 20;
	raw = mmap(NULL, heap_size + HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("bench-target: mmap");
		return 1;
	}
	heap = (unsigned char *)(((uintptr_t)raw + HUGE - 1) & ~(uintptr_t)(HUGE - 1));
	if (madvise(heap, heap_size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
		perror("bench-target: madvise");
		return 1;
	}
	/* every page populated with bytes of its own (not the zero page) */
	for (size_t off = 0; off < heap_size; off += PAGE) {
		uint64_t tag = off / PAGE;

		memcpy(heap + off, &tag, sizeof tag);
		heap[off + PAGE - 1] = (unsigned char)tag;
	}

	for (long i = 1; i < threads; i++)
		if (pthread_create(&t, NULL, sleeper, NULL) != 0) {
			perror("bench-target: pthread_create");
			return 1;
		}
	if (dirty_rate > 0 && pthread_create(&t, NULL, dirtier, NULL) != 0) {
		perror("bench-target: pthread_create");
		return 1;
	}
	probe_log.since_ns = now_ns();
	if (pthread_create(&t, NULL, probe, NULL) != 0) {
		perror("bench-target: pthread_create");
		return 1;
	}

	snprintf(text, sizeof text,
		 "pid=%d\nheap.addr=%#" PRIxPTR "\nheap.size=%zu\nheap.huge-kib=%ld\nthreads=%ld\nrate=%ld\n",
		 (int)getpid(), (uintptr_t)heap, heap_size, heap_huge_kib(), threads, dirty_rate);
	if (write_atomically(info, text) != 0) {
		perror(info);
		return 1;
	}
	for (;;) {
		int sig;

		if (sigwait(&usr2, &sig) == 0)
			gaps_dump(gaps);
	}
}
