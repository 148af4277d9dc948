/* bench-target - the process bench/run.sh dumps: MIB MiB of populated
 * anonymous memory (4 KiB pages or transparent huge pages), THREADS
 * application threads that sleep, and three threads that do the target's
 * work and measure every stall it feels:
 *
 *   bench-target -m MIB [-H] [-r RATE] [-t THREADS] [-v VMAS] -o INFO -g GAPS
 *
 * With -v, VMAS more mappings beside the heap, as a process that mmaps
 * many small regions has (a JVM's or a Go runtime's, an allocator's
 * arenas): one page each, populated, every other one read-only so that
 * neighbours never merge.
 *
 *   - the worker does fixed units of work in a loop (64 reads of random
 *     cache lines of the heap, and arithmetic) and counts them in 10 ms
 *     buckets: its rate, against its rate without a dump, is the share of
 *     its work the target kept while being dumped. It runs at nice 0, as
 *     the target's own threads would, on at most one CPU.
 *   - the dirtier writes RATE pages a second spread over the whole heap,
 *     in 1 ms ticks; a write that waits (a write-protect fault, a split
 *     huge page, a lock) makes its tick late.
 *   - the probe sleeps 500 us at a time at nice -20: it wakes late only
 *     when it is stopped or every CPU is taken.
 *
 * A stall is a time of GAP_MIN_NS or more in which one of the three did
 * not progress: the worker's longest time between two units, the probe's
 * and the dirtier's lateness after a wake-up, the dirtier's time writing a
 * tick's pages. Each is told apart by what the thread's clocks say about
 * the time it lasted: its wait on a run queue (schedstat, the
 * scheduler's), its CPU time (CLOCK_THREAD_CPUTIME_ID) and its page faults
 * (RUSAGE_THREAD):
 *   sched    it waited for a CPU for half the time or more
 *   fault    it took page faults (blocked in one, or the kernel handled
 *            them on its CPU: a huge page split, a write-protect fault)
 *   cpu      it ran, slowly (interrupts, TLB flushes)
 *   stopped  it was off its CPU without a fault: stopped by a tracer
 * The probe's and the dirtier's wake-ups take no fault by construction.
 *
 * On SIGUSR2 the main thread writes the log to GAPS (via a temporary name
 * and rename) and clears it:
 *   since NS / now NS         the log covers [since, now), CLOCK_MONOTONIC
 *   dirtied N / units N       pages dirtied, units of work, since the start
 *   worst THREAD CAUSE NS     the longest stall of each thread and cause
 *   gap THREAD START LEN CAUSE WAIT CPU FAULTS
 *                             the GAP_KEEP longest stalls (ns)
 *   work START UNITS          units done in each 10 ms from START, for
 *                             every whole bucket in [since, now)
 *
 * INFO is written once the heap is populated: pid, heap address and size,
 * and the share of it that the kernel backs with huge pages. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define HUGE (2u << 20)
/* shorter stalls are cache misses and interrupts */
#define GAP_MIN_NS 200000u
/* the longest stalls kept between two reads of the log */
#define GAP_KEEP 256
#define PROBE_PERIOD_NS 500000u
#define TICK_NS 1000000u
#define WORKER_BEAT_NS 1000000u
#define BUCKET_NS 10000000u
/* 655 s of buckets: longer than any dump between two reads of the log */
#define BUCKETS 65536u

enum thread { PROBE, DIRTIER, WORKER, THREADS };
enum cause { SCHED, FAULT, CPU, STOPPED, CAUSES };
static const char *const thread_name[THREADS] = { "probe", "dirtier", "worker" };
static const char *const cause_name[CAUSES] = { "sched", "fault", "cpu", "stopped" };

struct gap {
	uint64_t start_ns, length_ns, wait_ns, cpu_ns, faults;
	enum thread thread;
	enum cause cause;
};

static struct {
	pthread_mutex_t lock;
	struct gap gaps[GAP_KEEP]; /* the longest stalls */
	int count;
	uint64_t worst_ns[THREADS][CAUSES];
	uint64_t since_ns; /* the log covers [since_ns, now) */
} stall_log = { .lock = PTHREAD_MUTEX_INITIALIZER };

static unsigned char *heap;
static size_t heap_size;
static long dirty_rate;
static _Atomic uint64_t pages_dirtied, units_done;
static uint64_t t0_ns; /* bucket 0 starts here */
static _Atomic uint32_t work[BUCKETS];
static volatile uint64_t work_sink;

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* What a thread's clocks say at one instant. */
struct beat {
	uint64_t t, cpu, wait, faults;
};

/* The calling thread's clocks; fd is its /proc/thread-self/schedstat
 * (-1: no schedstat, waits read as 0). */
static struct beat beat_take(int fd)
{
	struct beat b = { .t = now_ns(), .cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID) };
	struct rusage ru;
	char text[96];
	ssize_t n;

	if (fd >= 0 && (n = pread(fd, text, sizeof text - 1, 0)) > 0) {
		unsigned long long run, wait;

		text[n] = 0;
		if (sscanf(text, "%llu %llu", &run, &wait) == 2)
			b.wait = wait;
	}
	if (getrusage(RUSAGE_THREAD, &ru) == 0)
		b.faults = (uint64_t)(ru.ru_minflt + ru.ru_majflt);
	return b;
}

static int schedstat_open(void)
{
	return open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
}

static enum cause cause_of(uint64_t length, uint64_t wait, uint64_t cpu, uint64_t faults)
{
	if (2 * wait >= length)
		return SCHED;
	if (faults)
		return FAULT;
	if (2 * cpu >= length)
		return CPU;
	return STOPPED;
}

/* A stall of LENGTH ns from START: its cause from the thread's clocks at
 * the two ends of a span that holds it (a and b). Keeps the GAP_KEEP
 * longest (a new one replaces the shortest). */
static void stall(enum thread thread, uint64_t start, uint64_t length, const struct beat *a,
		  const struct beat *b, int count_faults)
{
	struct gap g = {
		.start_ns = start,
		.length_ns = length,
		.wait_ns = b->wait - a->wait,
		.cpu_ns = b->cpu - a->cpu,
		.faults = count_faults ? b->faults - a->faults : 0,
		.thread = thread,
	};
	int slot = 0;

	g.cause = cause_of(length, g.wait_ns, g.cpu_ns, g.faults);
	pthread_mutex_lock(&stall_log.lock);
	if (length > stall_log.worst_ns[thread][g.cause])
		stall_log.worst_ns[thread][g.cause] = length;
	if (stall_log.count < GAP_KEEP) {
		stall_log.gaps[stall_log.count++] = g;
	} else {
		for (int i = 1; i < GAP_KEEP; i++)
			if (stall_log.gaps[i].length_ns < stall_log.gaps[slot].length_ns)
				slot = i;
		if (length > stall_log.gaps[slot].length_ns)
			stall_log.gaps[slot] = g;
	}
	pthread_mutex_unlock(&stall_log.lock);
}

/* Sleeps until the absolute CLOCK_MONOTONIC time due. */
static void sleep_until(uint64_t due)
{
	struct timespec next = { .tv_sec = (time_t)(due / 1000000000u), .tv_nsec = (long)(due % 1000000000u) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
		;
}

static void *probe(void *arg)
{
	int fd = schedstat_open();
	uint64_t due = now_ns();

	(void)arg;
	/* Nice -20 (root only; otherwise it stays at 0): against the copy
	 * threads and other work on the machine it wakes on time, so that
	 * what makes it late is a stop. */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), -20) != 0)
		fprintf(stderr, "bench-target: probe at nice 0: %s\n", strerror(errno));
	for (;;) {
		struct beat a = beat_take(fd), b;

		due += PROBE_PERIOD_NS;
		sleep_until(due);
		b = beat_take(fd);
		if (b.t - due >= GAP_MIN_NS) {
			stall(PROBE, due, b.t - due, &a, &b, 0);
			due = b.t;
		}
	}
	return NULL;
}

/* A page index from a full-period LCG over the heap's pages: spread over
 * the whole heap, every page in turn, no page twice in a row. */
static void *dirtier(void *arg)
{
	size_t pages = heap_size / PAGE, mask = 1, i = 1;
	uint64_t tick = now_ns(), done = 0, start = tick;
	int fd = schedstat_open();

	(void)arg;
	while (mask < pages)
		mask = mask << 1 | 1;
	for (;;) {
		struct beat a = beat_take(fd), woke, wrote;
		uint64_t due;

		tick += TICK_NS;
		sleep_until(tick);
		woke = beat_take(fd);
		if (woke.t - tick >= GAP_MIN_NS)
			stall(DIRTIER, tick, woke.t - tick, &a, &woke, 0);
		/* after a stop, catch up at most one second's worth */
		due = (woke.t - start) / 1000 * (uint64_t)dirty_rate / 1000000;
		if (due > done + (uint64_t)dirty_rate)
			done = due - (uint64_t)dirty_rate;
		for (; done < due; done++) {
			do
				i = (i * 1103515245u + 12345u) & mask;
			while (i >= pages);
			heap[i * PAGE + (done % PAGE)]++;
			atomic_fetch_add_explicit(&pages_dirtied, 1, memory_order_relaxed);
		}
		wrote = beat_take(fd);
		if (wrote.t - woke.t >= GAP_MIN_NS)
			stall(DIRTIER, woke.t, wrote.t - woke.t, &woke, &wrote, 1);
		if (wrote.t > tick + TICK_NS)
			tick = wrote.t; /* no burst of ticks after a stall */
	}
	return NULL;
}

static uint64_t bucket_of(uint64_t t)
{
	return (t - t0_ns) / BUCKET_NS;
}

/* One unit of work: 64 reads of random cache lines of the heap. */
static uint64_t work_unit(uint64_t x)
{
	uint64_t sum = 0, lines = heap_size / 64;

	for (int k = 0; k < 64; k++) {
		x = x * 6364136223846793005u + 1442695040888963407u;
		sum += heap[(size_t)(((unsigned __int128)(x >> 1) * lines) >> 63) * 64];
	}
	work_sink += sum;
	return x;
}

static void *worker(void *arg)
{
	int fd = schedstat_open();
	uint64_t x = 1, bucket = 0;

	(void)arg;
	for (;;) {
		struct beat a = beat_take(fd), b;
		uint64_t last = a.t, t = a.t, longest = 0, longest_at = 0, units = 0, now_bucket;

		/* a beat: units for 1 ms, or until one took a stall's time */
		do {
			x = work_unit(x);
			units++;
			t = now_ns();
			if (t - last > longest) {
				longest = t - last;
				longest_at = last;
			}
			last = t;
		} while (t - a.t < WORKER_BEAT_NS && longest < GAP_MIN_NS);
		b = beat_take(fd);
		if (longest >= GAP_MIN_NS)
			stall(WORKER, longest_at, longest, &a, &b, 1);
		atomic_fetch_add_explicit(&units_done, units, memory_order_relaxed);
		now_bucket = bucket_of(t);
		for (; bucket < now_bucket; bucket++)
			atomic_store_explicit(&work[(bucket + 1) % BUCKETS], 0, memory_order_relaxed);
		atomic_fetch_add_explicit(&work[now_bucket % BUCKETS], (uint32_t)units, memory_order_relaxed);
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

static void log_dump(const char *path)
{
	uint64_t t = now_ns(), since;
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f) {
		perror("bench-target: open_memstream");
		return;
	}
	pthread_mutex_lock(&stall_log.lock);
	since = stall_log.since_ns;
	fprintf(f, "since %" PRIu64 "\nnow %" PRIu64 "\ndirtied %" PRIu64 "\nunits %" PRIu64 "\n", since, t,
		atomic_load(&pages_dirtied), atomic_load(&units_done));
	for (int th = 0; th < THREADS; th++)
		for (int c = 0; c < CAUSES; c++)
			if (stall_log.worst_ns[th][c])
				fprintf(f, "worst %s %s %" PRIu64 "\n", thread_name[th], cause_name[c],
					stall_log.worst_ns[th][c]);
	for (int i = 0; i < stall_log.count; i++) {
		const struct gap *g = &stall_log.gaps[i];

		fprintf(f, "gap %s %" PRIu64 " %" PRIu64 " %s %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
			thread_name[g->thread], g->start_ns, g->length_ns, cause_name[g->cause], g->wait_ns,
			g->cpu_ns, g->faults);
	}
	stall_log.count = 0;
	memset(stall_log.worst_ns, 0, sizeof stall_log.worst_ns);
	stall_log.since_ns = t;
	pthread_mutex_unlock(&stall_log.lock);
	/* whole buckets only: the current one is still being counted */
	for (uint64_t k = bucket_of(since) + 1; k < bucket_of(t) && k + BUCKETS > bucket_of(t); k++)
		fprintf(f, "work %" PRIu64 " %" PRIu32 "\n", t0_ns + k * BUCKET_NS,
			atomic_load_explicit(&work[k % BUCKETS], memory_order_relaxed));
	if (fclose(f) != 0 || write_atomically(path, text) != 0)
		perror(path);
	free(text);
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
	fprintf(stderr, "usage: bench-target -m MIB [-H] [-r RATE] [-t THREADS] [-v VMAS] -o INFO -g GAPS\n");
	exit(2);
}

static void start(void *(*fn)(void *))
{
	pthread_t t;
	int err = pthread_create(&t, NULL, fn, NULL);

	if (err != 0) {
		fprintf(stderr, "bench-target: pthread_create: %s\n", strerror(err));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	const char *info = NULL, *gaps = NULL;
	long mib = 0, threads = 1, vmas = 0;
	int huge = 0, opt;
	unsigned char *raw;
	sigset_t usr2;
	char text[512];

	while ((opt = getopt(argc, argv, "m:Hr:t:v:o:g:")) != -1) {
		switch (opt) {
		case 'v': vmas = atol(optarg); break;
		case 'm': mib = atol(optarg); break;
		case 'H': huge = 1; break;
		case 'r': dirty_rate = atol(optarg); break;
		case 't': threads = atol(optarg); break;
		case 'o': info = optarg; break;
		case 'g': gaps = optarg; break;
		default: usage();
		}
	}
	if (mib <= 0 || threads < 1 || dirty_rate < 0 || vmas < 0 || !info || !gaps || optind != argc)
		usage();

	/* SIGUSR2 is taken by the main thread only, with sigwait */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr2, NULL);
	/* timer wake-ups on time, so that lateness is a stall */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

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

	if (vmas > 0) {
		unsigned char *many = mmap(NULL, (size_t)vmas * PAGE, PROT_READ | PROT_WRITE,
					   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (many == MAP_FAILED) {
			perror("bench-target: mmap");
			return 1;
		}
		for (long i = 0; i < vmas; i++) {
			many[(size_t)i * PAGE] = (unsigned char)(i | 1);
			if ((i & 1) && mprotect(many + (size_t)i * PAGE, PAGE, PROT_READ) != 0) {
				perror("bench-target: mprotect (vm.max_map_count?)");
				return 1;
			}
		}
	}
	/* the main thread is the first of THREADS */
	for (long i = 1; i < threads; i++)
		start(sleeper);
	t0_ns = now_ns();
	stall_log.since_ns = t0_ns;
	if (dirty_rate > 0)
		start(dirtier);
	start(worker);
	start(probe);

	snprintf(text, sizeof text,
		 "pid=%d\nheap.addr=%#" PRIxPTR "\nheap.size=%zu\nheap.huge-kib=%ld\nthreads=%ld\nrate=%ld\n"
		 "vmas=%ld\n",
		 (int)getpid(), (uintptr_t)heap, heap_size, heap_huge_kib(), threads, dirty_rate, vmas);
	if (write_atomically(info, text) != 0) {
		perror(info);
		return 1;
	}
	for (;;) {
		int sig;

		if (sigwait(&usr2, &sig) == 0)
			log_dump(gaps);
	}
}
