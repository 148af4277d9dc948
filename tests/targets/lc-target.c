/* lc-target - the process every test suite dumps.
 *
 * It lays down the memory shapes and thread states a test asks for, writes
 * what it made (addresses, sizes, thread ids, the function each thread
 * blocks in, thread-local values) as KEY=VALUE lines into INFOFILE
 * (atomically, once everything is in place), and then runs until it is
 * killed. It exits on its own only on an error, with a message on stderr
 * and a nonzero status.
 *
 * Built with -O0 -g -fno-omit-frame-pointer: the blocking functions below
 * must stay real frames so that a backtrace from a core names them.
 *
 * Info file keys (addresses and sizes 0x-hex; a key appears only when its
 * option was given):
 *   pid exe page_size ready=1 (last line)
 *   main.tid main.func=lc_main_wait threads=N
 *   thread.K.tid thread.K.name=lc-worker-K thread.K.func thread.K.tls
 *   main.tls                               --tls
 *   pattern.addr pattern.size              --pattern-mib (lc_pattern.h, generation 1)
 *   dontdump.* shared.* memfd.* guard.*    16 pages each
 *   fileprivate.{addr,size,path,written_pages}  16 pages of 'F', the first
 *                                          8 rewritten with the pattern
 *   fileshared.{addr,size,path}            16 pages, all pattern
 *   fileclean.{addr,size,path}             16 pages of 'F', only read
 *   sparse.{addr,size,touched,touched_count}  touched: comma-separated page
 *                                          addresses holding the pattern
 *   dirty.rate                             --dirty-rate; globals lc_generation,
 *                                          lc_dirty_page (page being written)
 *   generation.addr dirty_page.addr        --dirty-rate: &lc_generation, &lc_dirty_page
 *   dirty.set                              --dirty-set N: the writer cycles over
 *                                          the first N pattern pages only
 *   pattern.shared=1                       --pattern-shared: the pattern region is
 *                                          MAP_SHARED | MAP_ANONYMOUS (shmem)
 *   shared_writer.pid                      --shared-writer RATE: a child process
 *                                          that rewrites RATE pages a second of
 *                                          the shared pattern region, in order,
 *                                          with generations from 1000000 up (the
 *                                          target's own writes are lc-dirty's)
 *   reserve.{addr,size}                    --reserve-gib N: N GiB of PROT_NONE
 *                                          MAP_NORESERVE address space, as the
 *                                          Go runtime and the JVM reserve it
 *   readonly.{addr,size,data_size}         --read-mib N: one VMA of 16 MiB of
 *                                          pattern and then N MiB that are read
 *                                          once, a load a page, never written
 *                                          (the zero page backs them)
 *   pattern.thp=1 / pattern.nohuge=1       --thp (2 MiB aligned, MADV_HUGEPAGE)
 *                                          / --nohuge (MADV_NOHUGEPAGE)
 *   heap.start heap_end.addr heap.max_pages  --grow-heap N: sbrk one page
 *                                          every 5 ms, up to N pages, each
 *                                          holding the pattern; lc_heap_end
 *                                          is the end of the filled pages
 *   remap.{addr,size,file}                 --remap: 64 pattern pages; each
 *                                          SIGUSR2 maps them afresh
 *                                          (MAP_FIXED), fills the first half
 *                                          with generation lc_remap_count + 1
 *                                          and leaves the second half
 *                                          unpopulated, then writes the count
 *                                          to remap.file
 *   map-new.file                           --map-new: each SIGUSR2 maps 64 KiB
 *                                          anew where the kernel chooses,
 *                                          fills it with 0x5a and writes its
 *                                          address (hex) to map-new.file (a
 *                                          mapping made after a pre-copy,
 *                                          without gdb, whose inferior calls
 *                                          fail on AMX CPUs)
 *   progress.file                          --progress: lc_progress, every 10 ms
 *   sigusr1.file                           --sigusr1-count: lc_sigusr1_count,
 *                                          rewritten after each SIGUSR1
 * Helper threads: lc-dirty, lc-progress, lc-churn. Every thread but main
 * blocks all signals, so a process-directed signal reaches main. */
#include "lc_pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE LC_PATTERN_PAGE
#define MAX_THREADS 64
#define SPARSE_TOUCHED 5

/* Globals a debugger reads by name from a core. */
__thread uint64_t lc_tls_value;
volatile uint64_t lc_generation = 1;      /* last generation the dirty writer used */
volatile uint64_t lc_dirty_page;          /* page being rewritten now, 0 when none */
volatile uint64_t lc_progress;            /* +1 every millisecond with --progress */
volatile sig_atomic_t lc_sigusr1_count;   /* SIGUSR1s received with --sigusr1-count */
volatile uint64_t lc_heap_end;            /* --grow-heap: end of the filled heap pages */
volatile sig_atomic_t lc_sigusr2_count;   /* SIGUSR2s received with --remap */

/* The value --tls stores in thread K's lc_tls_value (main thread: K = 0,
 * worker K: K + 1): recognisable and different per thread. */
#define TLS_VALUE(k) ((uint64_t)0x7e57c0de00000000u | (uint64_t)(k))

struct options {
	const char *info;
	int threads;
	unsigned long pattern_mib;
	bool dontdump, shared, guard, tls, progress, sigusr1, churn, memfd;
	const char *file_private, *file_shared, *file_clean;
	unsigned long sparse_gib;
	unsigned long dirty_rate;
	const char *progress_file;
	unsigned long dirty_set, grow_heap;
	bool thp, nohuge, remap, map_new, pattern_shared;
	unsigned long shared_writer, reserve_gib, read_mib;
};

struct region {
	uint64_t addr, size;
};

static struct options opt;
static struct region pattern_region;
static struct region remap_region;
#define REMAP_PAGES 64u
#define HUGE_SIZE (2u << 20)

/* ---- errors and the info file ---------------------------------------- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	fprintf(stderr, "lc-target: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (saved)
		fprintf(stderr, ": %s", strerror(saved));
	fputc('\n', stderr);
	exit(1);
}

static char *info_text;
static size_t info_len, info_cap;

static void info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void info(const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(info_text + info_len, info_cap - info_len, fmt, ap);
		va_end(ap);
		if (n < 0)
			die("info line");
		if ((size_t)n + 2 <= info_cap - info_len)
			break;
		info_cap = info_cap * 2 + (size_t)n + 64;
		info_text = realloc(info_text, info_cap);
		if (!info_text)
			die("out of memory");
	}
	info_len += (size_t)n;
	info_text[info_len++] = '\n';
	info_text[info_len] = '\0';
}

static void info_region(const char *name, struct region r)
{
	info("%s.addr=0x%" PRIx64, name, r.addr);
	info("%s.size=0x%" PRIx64, name, r.size);
}

/* tmp + rename: a reader sees no file or the whole file */
static void write_file_atomically(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
		die("%s: path too long", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot create %s", tmp);
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("cannot write %s", tmp);
		done += (size_t)n;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0)
		die("cannot rename %s to %s", tmp, path);
}

/* ---- memory shapes ---------------------------------------------------- */

static void *map_or_die(size_t size, int prot, int flags, int fd, const char *what)
{
	void *p = mmap(NULL, size, prot, flags, fd, 0);

	if (p == MAP_FAILED)
		die("mmap %s (%zu bytes)", what, size);
	return p;
}

/* Keeps a region one VMA of exactly its own range, so that tests can match
 * it to a maps line: the kernel merges an anonymous mapping with a neighbour
 * of identical flags (a thread stack, the churn thread's regions) created
 * later. VM_DONTCOPY only matters to fork, which lc-target never calls; it
 * shows as "dc" in VmFlags. (Naming the region with PR_SET_VMA_ANON_NAME
 * would read better but needs CONFIG_ANON_VMA_NAME.) */
static void keep_separate(void *p, size_t size, const char *what)
{
	if (madvise(p, size, MADV_DONTFORK) < 0)
		die("madvise MADV_DONTFORK %s", what);
}

static void fill_pattern(void *base, uint64_t size)
{
	for (uint64_t off = 0; off < size; off += PAGE)
		lc_pattern_fill((volatile uint64_t *)((char *)base + off), (uint64_t)base + off, 1);
}

/* The pattern region, with --thp: 2 MiB aligned (Linux 6.1 does not align
 * anonymous mappings itself) and MADV_HUGEPAGE, so that every 2 MiB of it
 * can be one transparent huge page from its first touch; with --nohuge:
 * MADV_NOHUGEPAGE, so that soft-dirty counts are exact 4 KiB pages even
 * where THP is "always". The advice is given before the pages are filled. */
static struct region make_pattern(size_t size)
{
	char *p;

	if (opt.thp) {
		char *raw = map_or_die(size + HUGE_SIZE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, "pattern");
		uintptr_t aligned = ((uintptr_t)raw + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1);

		p = (char *)aligned;
		if (p > raw && munmap(raw, (size_t)(p - raw)) < 0)
			die("munmap");
		if (raw + size + HUGE_SIZE > p + size &&
		    munmap(p + size, (size_t)(raw + size + HUGE_SIZE - (p + size))) < 0)
			die("munmap");
		if (madvise(p, size, MADV_HUGEPAGE) < 0)
			die("madvise MADV_HUGEPAGE");
	} else if (opt.pattern_shared) {
		/* a mapping of its own: shared ones never merge */
		p = map_or_die(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, "pattern");
		fill_pattern(p, size);
		return (struct region){ (uint64_t)p, size };
	} else {
		p = map_or_die(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "pattern");
		if (opt.nohuge && madvise(p, size, MADV_NOHUGEPAGE) < 0)
			die("madvise MADV_NOHUGEPAGE");
	}
	keep_separate(p, size, "pattern");
	fill_pattern(p, size);
	return (struct region){ (uint64_t)p, size };
}

static struct region make_anon(const char *name, size_t size, int flags)
{
	void *p = map_or_die(size, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, name);
	struct region r = { (uint64_t)p, size };

	if (!(flags & MAP_SHARED))
		keep_separate(p, size, name);
	fill_pattern(p, size);
	return r;
}

/* A file of npages pages, each byte 'F', created fresh (an old one from a
 * previous run is replaced). */
static int make_file(const char *path, unsigned npages)
{
	char buf[PAGE];
	int fd;

	memset(buf, 'F', sizeof buf);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot create %s", path);
	for (unsigned i = 0; i < npages; i++)
		if (write(fd, buf, sizeof buf) != (ssize_t)sizeof buf)
			die("cannot write %s", path);
	return fd;
}

#define FILE_PAGES 16u

static void make_file_private(const char *path)
{
	int fd = make_file(path, FILE_PAGES);
	char *p = map_or_die(FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, path);

	close(fd);
	/* The first half is written (copied on write: anonymous pages, and the
	 * VMA gets an anon_vma); the second half still reads the file. */
	fill_pattern(p, FILE_PAGES / 2 * PAGE);
	info_region("fileprivate", (struct region){ (uint64_t)p, FILE_PAGES * PAGE });
	info("fileprivate.path=%s", path);
	info("fileprivate.written_pages=%u", FILE_PAGES / 2);
}

static void make_file_shared(const char *path)
{
	int fd = make_file(path, FILE_PAGES);
	char *p = map_or_die(FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, path);

	close(fd);
	fill_pattern(p, FILE_PAGES * PAGE);
	info_region("fileshared", (struct region){ (uint64_t)p, FILE_PAGES * PAGE });
	info("fileshared.path=%s", path);
}

/* Mapped privately, read, never written: no anon_vma, not executable, not
 * ELF: a core holds it only with coredump_filter bit 2. */
static void make_file_clean(const char *path)
{
	int fd = make_file(path, FILE_PAGES);
	volatile char *p = map_or_die(FILE_PAGES * PAGE, PROT_READ, MAP_PRIVATE, fd, path);

	close(fd);
	for (unsigned i = 0; i < FILE_PAGES; i++)
		if (p[i * PAGE] != 'F')
			die("%s: reads back wrong", path);
	info_region("fileclean", (struct region){ (uint64_t)p, FILE_PAGES * PAGE });
	info("fileclean.path=%s", path);
}

static void make_memfd(void)
{
	int fd = memfd_create("lc-memfd", MFD_CLOEXEC);
	void *p;

	if (fd < 0 || ftruncate(fd, FILE_PAGES * PAGE) < 0)
		die("memfd");
	p = map_or_die(FILE_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, "memfd");
	close(fd);
	fill_pattern(p, FILE_PAGES * PAGE);
	info_region("memfd", (struct region){ (uint64_t)p, FILE_PAGES * PAGE });
}

static void make_sparse(unsigned long gib)
{
	uint64_t size = (uint64_t)gib << 30;
	char *p = map_or_die(size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, "sparse");
	char list[SPARSE_TOUCHED * 20 + 1] = "";
	size_t n = 0;

	/* first page, last page, and three in between at uneven places */
	uint64_t offs[SPARSE_TOUCHED] = { 0, size / 3, size / 2 + 7 * PAGE, size - 5 * PAGE,
					  size - PAGE };

	keep_separate(p, size, "sparse");
	for (int i = 0; i < SPARSE_TOUCHED; i++) {
		uint64_t off = offs[i] / PAGE * PAGE;
		uint64_t addr = (uint64_t)p + off;

		lc_pattern_fill((volatile uint64_t *)(p + off), addr, 1);
		n += (size_t)snprintf(list + n, sizeof list - n, "%s0x%" PRIx64, i ? "," : "", addr);
	}
	info_region("sparse", (struct region){ (uint64_t)p, size });
	info("sparse.touched=%s", list);
	info("sparse.touched_count=%d", SPARSE_TOUCHED);
}

static void make_reserve(unsigned long gib)
{
	uint64_t size = (uint64_t)gib << 30;
	char *p = map_or_die(size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, "reserve");

	keep_separate(p, size, "reserve");
	info_region("reserve", (struct region){ (uint64_t)p, size });
}

static volatile uint64_t read_sink;

static void make_readonly(unsigned long mib)
{
	uint64_t data = 16u << 20, size = data + ((uint64_t)mib << 20), sum = 0;
	char *p = map_or_die(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "readonly");

	keep_separate(p, size, "readonly");
	fill_pattern(p, data);
	for (uint64_t off = data; off < size; off += PAGE)
		sum += *(volatile char *)(p + off);
	read_sink = sum;
	info_region("readonly", (struct region){ (uint64_t)p, size });
	info("readonly.data_size=0x%" PRIx64, data);
}

/* ---- threads ------------------------------------------------------------ */

static int block_pipe[2] = { -1, -1 };   /* never written: readers and pollers wait forever */
static pthread_mutex_t block_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t block_cond = PTHREAD_COND_INITIALIZER;

static pthread_mutex_t ready_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready_count;

struct worker {
	int index;
	pid_t tid;
	const char *func;
	pthread_t thread;
};
static struct worker workers[MAX_THREADS];

static void announce_ready(void)
{
	pthread_mutex_lock(&ready_mutex);
	ready_count++;
	pthread_cond_broadcast(&ready_cond);
	pthread_mutex_unlock(&ready_mutex);
}

/* The blocking functions: noinline and each with its own syscall, so that a
 * backtrace of a core names the function and the kernel shows the syscall.
 * None of them returns; reaching the end is an error. */
__attribute__((noinline)) void lc_block_in_read(void)
{
	char c;

	for (;;) {
		ssize_t n = read(block_pipe[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		die("lc_block_in_read: read returned %zd", n);
	}
}

__attribute__((noinline)) void lc_block_in_nanosleep(void)
{
	for (;;) {
		struct timespec ts = { 100000, 0 };

		nanosleep(&ts, NULL);
	}
}

__attribute__((noinline)) void lc_block_in_futex(void)
{
	pthread_mutex_lock(&block_mutex);
	for (;;)
		pthread_cond_wait(&block_cond, &block_mutex); /* never signalled */
}

__attribute__((noinline)) void lc_block_in_poll(void)
{
	struct pollfd p = { .fd = block_pipe[0], .events = POLLIN };

	for (;;) {
		int n = poll(&p, 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		die("lc_block_in_poll: poll returned %d", n);
	}
}

static const struct {
	const char *name;
	void (*fn)(void);
} blockers[] = {
	{ "lc_block_in_read", lc_block_in_read },
	{ "lc_block_in_nanosleep", lc_block_in_nanosleep },
	{ "lc_block_in_futex", lc_block_in_futex },
	{ "lc_block_in_poll", lc_block_in_poll },
};
#define N_BLOCKERS (sizeof blockers / sizeof blockers[0])

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];

	snprintf(name, sizeof name, "lc-worker-%d", w->index);
	pthread_setname_np(pthread_self(), name);
	w->tid = (pid_t)syscall(SYS_gettid);
	if (opt.tls)
		lc_tls_value = TLS_VALUE(w->index + 1);
	announce_ready();
	blockers[(size_t)w->index % N_BLOCKERS].fn();
	return NULL;
}

/* Started from the main thread with every signal blocked, so that
 * process-directed signals (SIGUSR1 for --sigusr1-count) reach the main
 * thread, and the helpers never run a handler. */
/* With --thp or --nohuge a test counts dirty pages exactly, so no thread
 * stack may be a transparent huge page: glibc's 8 MiB stacks are, under THP
 * "always" (before Linux 6.7 MAP_STACK did not imply VM_NOHUGEPAGE), and a
 * helper thread that sleeps in a loop would then dirty 2 MiB a pass. Those
 * threads get a stack of our own, advised MADV_NOHUGEPAGE before first use. */
#define OWN_STACK_SIZE (1u << 20)

static pthread_t start_thread(void *(*fn)(void *), void *arg, const char *name)
{
	pthread_attr_t attr, *attrp = NULL;
	pthread_t t;
	int rc;

	if (opt.thp || opt.nohuge) {
		void *stack = map_or_die(OWN_STACK_SIZE, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, "thread stack");

		if (madvise(stack, OWN_STACK_SIZE, MADV_NOHUGEPAGE) < 0)
			die("madvise MADV_NOHUGEPAGE thread stack");
		rc = pthread_attr_init(&attr);
		if (!rc)
			rc = pthread_attr_setstack(&attr, stack, OWN_STACK_SIZE);
		if (rc) {
			errno = rc;
			die("pthread_attr %s", name ? name : "thread");
		}
		attrp = &attr;
	}
	rc = pthread_create(&t, attrp, fn, arg);
	if (attrp)
		pthread_attr_destroy(attrp);
	if (rc) {
		errno = rc;
		die("pthread_create %s", name);
	}
	if (name)
		pthread_setname_np(t, name);
	return t;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Rewrites pattern pages in order, dirty_rate pages a second (in steps of
 * 10 ms), each with the next generation; with --dirty-set N only the first
 * N pages, over and over. */
static void *dirty_main(void *arg)
{
	uint64_t npages = pattern_region.size / PAGE, next = 0;
	double owed = 0;

	(void)arg;
	if (opt.dirty_set && opt.dirty_set < npages)
		npages = opt.dirty_set;
	for (;;) {
		owed += (double)opt.dirty_rate / 100.0;
		while (owed >= 1.0) {
			uint64_t addr = pattern_region.addr + next * PAGE;
			uint64_t gen = lc_generation + 1;

			lc_dirty_page = addr;
			lc_pattern_fill((volatile uint64_t *)addr, addr, gen);
			lc_generation = gen;
			lc_dirty_page = 0;
			next = (next + 1) % npages;
			owed -= 1.0;
		}
		sleep_ms(10);
	}
	return NULL;
}

/* --shared-writer: another process writing the target's shared memory
 * (as the other backends of a database write its shared buffers), which
 * no dumper of the target can hold still. Dies with the target. */
static pid_t start_shared_writer(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (uint64_t next = 0, gen = 1000000;; gen++) {
		for (unsigned long k = 0; k < opt.shared_writer / 100; k++) {
			uint64_t addr = pattern_region.addr + next * PAGE;

			lc_pattern_fill((volatile uint64_t *)addr, addr, gen);
			next = (next + 1) % (pattern_region.size / PAGE);
		}
		sleep_ms(10);
	}
}

static void *progress_main(void *arg)
{
	char text[32];

	(void)arg;
	for (;;) {
		for (int i = 0; i < 10; i++) {
			sleep_ms(1);
			lc_progress++;
		}
		int n = snprintf(text, sizeof text, "%" PRIu64 "\n", lc_progress);
		write_file_atomically(opt.progress_file, text, (size_t)n);
	}
	return NULL;
}

/* --grow-heap: the heap VMA grows under the dump. Starts at a page
 * boundary of the break, so that every page it adds holds the pattern; the
 * page is filled before lc_heap_end moves past it. glibc's malloc copes
 * with a foreign sbrk (it treats its heap as non-contiguous). */
static uint64_t heap_start;

static void *heap_main(void *arg)
{
	(void)arg;
	for (uint64_t n = 0; n < opt.grow_heap; n++) {
		char *p = sbrk(PAGE);

		if (p == (void *)-1)
			die("sbrk");
		if ((uint64_t)p != lc_heap_end) {
			errno = 0;
			die("sbrk: the break moved under lc-target (someone else grew the heap)");
		}
		lc_pattern_fill((volatile uint64_t *)p, (uint64_t)p, 1);
		lc_heap_end = (uint64_t)p + PAGE;
		sleep_ms(5);
	}
	return NULL;
}

static void heap_prepare(void)
{
	uint64_t brk_now = (uint64_t)sbrk(0);
	uint64_t pad = (PAGE - brk_now % PAGE) % PAGE;

	if (pad && sbrk((intptr_t)pad) == (void *)-1)
		die("sbrk");
	heap_start = lc_heap_end = brk_now + pad;
}

/* --remap: the remap region replaced by a new mapping at the same
 * addresses. The kernel marks a new VMA VM_SOFTDIRTY: every page of it,
 * populated or not, reads soft-dirty until the next clear_refs, which is
 * what tells a tracker that the unpopulated half no longer holds what was
 * staged. Runs in the main thread, outside the signal handler. */
static void remap_now(uint64_t gen)
{
	void *p = mmap((void *)remap_region.addr, remap_region.size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == MAP_FAILED || (uint64_t)p != remap_region.addr)
		die("mmap MAP_FIXED remap");
	keep_separate(p, remap_region.size, "remap");
	for (uint64_t off = 0; off < remap_region.size / 2; off += PAGE)
		lc_pattern_fill((volatile uint64_t *)((char *)p + off), remap_region.addr + off, gen);
}

/* Keeps changing the address space: mmap, touch, mprotect, mremap (grow,
 * possibly moving), munmap, over a ring of small regions. */
static void *churn_main(void *arg)
{
	enum { RING = 8 };
	struct region ring[RING] = { 0 };
	unsigned step = 0;

	(void)arg;
	for (;; step++) {
		struct region *r = &ring[step % RING];

		if (r->addr) {
			if (step % 3 == 0) {
				/* undo an earlier mprotect first: mremap fails
				 * (EFAULT) on a range that spans two VMAs */
				if (mprotect((void *)r->addr, r->size, PROT_READ | PROT_WRITE) < 0)
					die("churn: mprotect");
				void *q = mremap((void *)r->addr, r->size, r->size + 2 * PAGE, MREMAP_MAYMOVE);

				if (q == MAP_FAILED)
					die("churn: mremap");
				r->addr = (uint64_t)q;
				r->size += 2 * PAGE;
				memset(q, 0x5a, r->size);
			} else if (step % 3 == 1) {
				if (mprotect((void *)r->addr, PAGE, PROT_READ) < 0)
					die("churn: mprotect");
			} else {
				if (munmap((void *)r->addr, r->size) < 0)
					die("churn: munmap");
				r->addr = 0;
			}
		} else {
			size_t size = (1 + step % 4) * PAGE;
			void *p = map_or_die(size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
					     -1, "churn");

			memset(p, 0xa5, size);
			*r = (struct region){ (uint64_t)p, size };
		}
		sleep_ms(1);
	}
	return NULL;
}

/* Returns once task TID sleeps in a system call (the kernel's
 * /proc/self/task/TID/syscall starts with a number, not "running"), so the
 * info file is written only when every thread is where it says it is. */
static void wait_until_blocked(pid_t tid)
{
	char path[64], buf[128];

	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	for (int tries = 0; tries < 5000; tries++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);

		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = '\0';
			if (buf[0] >= '0' && buf[0] <= '9')
				return;
		}
		sleep_ms(1);
	}
	errno = 0;
	die("thread %d never blocked", (int)tid);
}

/* ---- main --------------------------------------------------------------- */

static void on_sigusr1(int sig)
{
	(void)sig;
	lc_sigusr1_count++;
}

static void on_sigusr2(int sig)
{
	(void)sig;
	lc_sigusr2_count++;
}

static char *remap_file, *map_new_file;

static void map_new_now(void)
{
	char text[32];
	void *p = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int n;

	if (p == MAP_FAILED)
		die("mmap map-new");
	memset(p, 0x5a, 16 * PAGE);
	n = snprintf(text, sizeof text, "%" PRIxPTR "\n", (uintptr_t)p);
	write_file_atomically(map_new_file, text, (size_t)n);
}

/* The main thread's resting place: waits for signals forever. With
 * --sigusr1-count, after each SIGUSR1 it writes the count to its file. */
__attribute__((noinline)) void lc_main_wait(const char *count_file)
{
	sigset_t none;
	sig_atomic_t written = 0, remapped = 0, mapped = 0;

	sigemptyset(&none);
	for (;;) {
		sigsuspend(&none);
		while (map_new_file && lc_sigusr2_count != mapped) {
			mapped++;
			map_new_now();
		}
		while (remap_file && lc_sigusr2_count != remapped) {
			char text[32];
			int n;

			remapped++;
			remap_now((uint64_t)remapped + 1);
			n = snprintf(text, sizeof text, "%d\n", (int)remapped);
			write_file_atomically(remap_file, text, (size_t)n);
		}
		if (count_file && lc_sigusr1_count != written) {
			char text[32];
			int n;

			written = lc_sigusr1_count;
			n = snprintf(text, sizeof text, "%d\n", (int)written);
			write_file_atomically(count_file, text, (size_t)n);
		}
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-target -o INFOFILE [--threads N] [--pattern-mib N] [--dontdump]\n"
		"                 [--file-private PATH] [--file-shared PATH] [--file-clean PATH]\n"
		"                 [--shared] [--memfd] [--guard] [--sparse-gib N] [--tls]\n"
		"                 [--dirty-rate PAGES_PER_SEC] [--progress] [--progress-file F]\n"
		"                 [--sigusr1-count] [--churn] [--dirty-set N] [--thp | --nohuge]\n"
		"                 [--grow-heap N] [--remap] [--map-new] [--pattern-shared]\n"
		"                 [--shared-writer PAGES_PER_SEC] [--reserve-gib N] [--read-mib N]\n");
}

static unsigned long number_arg(const char *name, const char *arg, unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 0);
	if (errno || end == arg || *end || arg[0] == '-' || v > max) {
		errno = 0;
		die("bad %s \"%s\" (want a number up to %lu)", name, arg, max);
	}
	return v;
}

static void parse_options(int argc, char **argv)
{
	enum {
		O_THREADS = 256, O_PATTERN, O_DONTDUMP, O_FILE_PRIVATE, O_FILE_SHARED, O_FILE_CLEAN,
		O_SHARED, O_MEMFD, O_GUARD, O_SPARSE, O_TLS, O_DIRTY, O_PROGRESS, O_PROGRESS_FILE,
		O_SIGUSR1, O_CHURN, O_DIRTY_SET, O_THP, O_NOHUGE, O_GROW_HEAP, O_REMAP, O_MAP_NEW,
		O_PATTERN_SHARED, O_SHARED_WRITER, O_RESERVE, O_READ,
	};
	static const struct option longs[] = {
		{ "threads", required_argument, NULL, O_THREADS },
		{ "pattern-mib", required_argument, NULL, O_PATTERN },
		{ "dontdump", no_argument, NULL, O_DONTDUMP },
		{ "file-private", required_argument, NULL, O_FILE_PRIVATE },
		{ "file-shared", required_argument, NULL, O_FILE_SHARED },
		{ "file-clean", required_argument, NULL, O_FILE_CLEAN },
		{ "shared", no_argument, NULL, O_SHARED },
		{ "memfd", no_argument, NULL, O_MEMFD },
		{ "guard", no_argument, NULL, O_GUARD },
		{ "sparse-gib", required_argument, NULL, O_SPARSE },
		{ "tls", no_argument, NULL, O_TLS },
		{ "dirty-rate", required_argument, NULL, O_DIRTY },
		{ "progress", no_argument, NULL, O_PROGRESS },
		{ "progress-file", required_argument, NULL, O_PROGRESS_FILE },
		{ "sigusr1-count", no_argument, NULL, O_SIGUSR1 },
		{ "churn", no_argument, NULL, O_CHURN },
		{ "dirty-set", required_argument, NULL, O_DIRTY_SET },
		{ "thp", no_argument, NULL, O_THP },
		{ "nohuge", no_argument, NULL, O_NOHUGE },
		{ "grow-heap", required_argument, NULL, O_GROW_HEAP },
		{ "remap", no_argument, NULL, O_REMAP },
		{ "map-new", no_argument, NULL, O_MAP_NEW },
		{ "pattern-shared", no_argument, NULL, O_PATTERN_SHARED },
		{ "shared-writer", required_argument, NULL, O_SHARED_WRITER },
		{ "reserve-gib", required_argument, NULL, O_RESERVE },
		{ "read-mib", required_argument, NULL, O_READ },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
		switch (c) {
		case 'o': opt.info = optarg; break;
		case O_THREADS: opt.threads = (int)number_arg("--threads", optarg, MAX_THREADS); break;
		case O_PATTERN: opt.pattern_mib = number_arg("--pattern-mib", optarg, 1 << 20); break;
		case O_DONTDUMP: opt.dontdump = true; break;
		case O_FILE_PRIVATE: opt.file_private = optarg; break;
		case O_FILE_SHARED: opt.file_shared = optarg; break;
		case O_FILE_CLEAN: opt.file_clean = optarg; break;
		case O_SHARED: opt.shared = true; break;
		case O_MEMFD: opt.memfd = true; break;
		case O_GUARD: opt.guard = true; break;
		case O_SPARSE: opt.sparse_gib = number_arg("--sparse-gib", optarg, 1 << 16); break;
		case O_TLS: opt.tls = true; break;
		case O_DIRTY: opt.dirty_rate = number_arg("--dirty-rate", optarg, 100000000); break;
		case O_PROGRESS: opt.progress = true; break;
		case O_PROGRESS_FILE: opt.progress_file = optarg; opt.progress = true; break;
		case O_SIGUSR1: opt.sigusr1 = true; break;
		case O_CHURN: opt.churn = true; break;
		case O_DIRTY_SET: opt.dirty_set = number_arg("--dirty-set", optarg, 1ul << 40); break;
		case O_THP: opt.thp = true; break;
		case O_NOHUGE: opt.nohuge = true; break;
		case O_GROW_HEAP: opt.grow_heap = number_arg("--grow-heap", optarg, 1 << 20); break;
		case O_REMAP: opt.remap = true; break;
		case O_MAP_NEW: opt.map_new = true; break;
		case O_PATTERN_SHARED: opt.pattern_shared = true; break;
		case O_RESERVE: opt.reserve_gib = number_arg("--reserve-gib", optarg, 1 << 16); break;
		case O_READ: opt.read_mib = number_arg("--read-mib", optarg, 1 << 20); break;
		case O_SHARED_WRITER:
			opt.shared_writer = number_arg("--shared-writer", optarg, 100000000);
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (!opt.info || optind != argc) {
		usage(stderr);
		exit(2);
	}
	if (opt.dirty_rate && !opt.pattern_mib) {
		errno = 0;
		die("--dirty-rate rewrites the --pattern-mib region: give both");
	}
	if ((opt.thp || opt.nohuge || opt.dirty_set) && !opt.pattern_mib) {
		errno = 0;
		die("--thp, --nohuge and --dirty-set shape the --pattern-mib region: give it");
	}
	if ((opt.pattern_shared || opt.shared_writer) && (!opt.pattern_mib || opt.thp || opt.nohuge)) {
		errno = 0;
		die("--pattern-shared and --shared-writer want a --pattern-mib region, without --thp or --nohuge");
	}
	if (opt.shared_writer && !opt.pattern_shared) {
		errno = 0;
		die("--shared-writer writes the --pattern-shared region: give it");
	}
	if (opt.thp && (opt.nohuge || opt.pattern_mib % 2)) {
		errno = 0;
		die("--thp wants a --pattern-mib that is a multiple of 2, and no --nohuge");
	}
}

static char *derived_path(const char *suffix)
{
	size_t len = strlen(opt.info) + strlen(suffix) + 1;
	char *p = malloc(len);

	if (!p)
		die("out of memory");
	snprintf(p, len, "%s%s", opt.info, suffix);
	return p;
}

int main(int argc, char **argv)
{
	sigset_t all, old;
	char exe[PATH_MAX];
	char *sigusr1_file = NULL;
	ssize_t n;

	parse_options(argc, argv);
	info("pid=%d", (int)getpid());
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	info("exe=%s", exe);
	info("page_size=%ld", sysconf(_SC_PAGESIZE));

	if (opt.pattern_mib) {
		pattern_region = make_pattern(opt.pattern_mib << 20);
		info_region("pattern", pattern_region);
		if (opt.thp)
			info("pattern.thp=1");
		if (opt.nohuge)
			info("pattern.nohuge=1");
		if (opt.pattern_shared)
			info("pattern.shared=1");
		if (opt.shared_writer)
			info("shared_writer.pid=%d", (int)start_shared_writer());
	}
	if (opt.dontdump) {
		struct region r = make_anon("dontdump", 16 * PAGE, MAP_PRIVATE);

		if (madvise((void *)r.addr, r.size, MADV_DONTDUMP) < 0)
			die("madvise MADV_DONTDUMP");
		info_region("dontdump", r);
	}
	if (opt.shared)
		info_region("shared", make_anon("shared", 16 * PAGE, MAP_SHARED));
	if (opt.memfd)
		make_memfd();
	if (opt.file_private)
		make_file_private(opt.file_private);
	if (opt.file_shared)
		make_file_shared(opt.file_shared);
	if (opt.file_clean)
		make_file_clean(opt.file_clean);
	if (opt.guard) {
		void *p = map_or_die(16 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "guard");

		keep_separate(p, 16 * PAGE, "guard");

		info_region("guard", (struct region){ (uint64_t)p, 16 * PAGE });
	}
	if (opt.sparse_gib)
		make_sparse(opt.sparse_gib);
	if (opt.reserve_gib)
		make_reserve(opt.reserve_gib);
	if (opt.read_mib)
		make_readonly(opt.read_mib);
	if (opt.tls) {
		lc_tls_value = TLS_VALUE(0);
		info("main.tls=0x%" PRIx64, lc_tls_value);
	}
	if (opt.remap || opt.map_new) {
		struct sigaction sa = { .sa_handler = on_sigusr2 };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR2, &sa, NULL) < 0)
			die("sigaction");
	}
	if (opt.map_new) {
		map_new_file = derived_path(".map-new");
		write_file_atomically(map_new_file, "", 0);
		info("map-new.file=%s", map_new_file);
	}
	if (opt.remap) {
		remap_region = make_anon("remap", REMAP_PAGES * PAGE, MAP_PRIVATE);
		info_region("remap", remap_region);
		remap_file = derived_path(".remap");
		write_file_atomically(remap_file, "0\n", 2);
		info("remap.file=%s", remap_file);
	}
	if (pipe2(block_pipe, O_CLOEXEC) < 0)
		die("pipe");

	if (opt.sigusr1) {
		struct sigaction sa = { .sa_handler = on_sigusr1 };

		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			die("sigaction");
		sigusr1_file = derived_path(".sigusr1");
		write_file_atomically(sigusr1_file, "0\n", 2);
		info("sigusr1.file=%s", sigusr1_file);
	}

	/* Every thread but main starts with all signals blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < opt.threads; i++) {
		char name[16];

		snprintf(name, sizeof name, "lc-worker-%d", i);
		workers[i].index = i;
		workers[i].func = blockers[(size_t)i % N_BLOCKERS].name;
		workers[i].thread = start_thread(worker_main, &workers[i], name);
	}
	if (opt.dirty_rate) {
		start_thread(dirty_main, NULL, "lc-dirty");
		info("dirty.rate=%lu", opt.dirty_rate);
		info("generation.addr=0x%" PRIx64, (uint64_t)(uintptr_t)&lc_generation);
		info("dirty_page.addr=0x%" PRIx64, (uint64_t)(uintptr_t)&lc_dirty_page);
		if (opt.dirty_set)
			info("dirty.set=%lu", opt.dirty_set);
	}
	if (opt.progress) {
		if (!opt.progress_file)
			opt.progress_file = derived_path(".progress");
		/* there before ready=1: a test reads it as soon as the info
		 * file is written, and the thread's first write comes 10 ms
		 * later (or much later on a loaded machine) */
		write_file_atomically(opt.progress_file, "0\n", 2);
		start_thread(progress_main, NULL, "lc-progress");
		info("progress.file=%s", opt.progress_file);
	}
	if (opt.churn)
		start_thread(churn_main, NULL, "lc-churn");
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	pthread_mutex_lock(&ready_mutex);
	while (ready_count < opt.threads)
		pthread_cond_wait(&ready_cond, &ready_mutex);
	pthread_mutex_unlock(&ready_mutex);
	info("main.tid=%d", (int)getpid());
	info("main.func=lc_main_wait");
	info("threads=%d", opt.threads);
	for (int i = 0; i < opt.threads; i++) {
		wait_until_blocked(workers[i].tid);
		info("thread.%d.tid=%d", i, (int)workers[i].tid);
		info("thread.%d.name=lc-worker-%d", i, i);
		info("thread.%d.func=%s", i, workers[i].func);
		if (opt.tls)
			info("thread.%d.tls=0x%" PRIx64, i, TLS_VALUE(i + 1));
	}
	/* Last, after every malloc of the setup (info lines included): from
	 * here on the heap thread owns the break. */
	if (opt.grow_heap) {
		heap_prepare();
		info("heap.start=0x%" PRIx64, heap_start);
		info("heap_end.addr=0x%" PRIx64, (uint64_t)(uintptr_t)&lc_heap_end);
		info("heap.max_pages=%lu", opt.grow_heap);
	}
	info("ready=1");
	write_file_atomically(opt.info, info_text, info_len);
	if (opt.grow_heap) {
		pthread_sigmask(SIG_BLOCK, &all, &old);
		start_thread(heap_main, NULL, "lc-heap");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	lc_main_wait(sigusr1_file);
	return 1;
}
