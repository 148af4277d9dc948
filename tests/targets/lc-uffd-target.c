/* lc-uffd-target - what tests/bats/uffd.bats needs that lc-target does not
 * lay down. Writes KEY=VALUE lines to INFOFILE (atomically) when ready,
 * then runs until killed.
 *
 *   --region MIB      a pattern region (lc_pattern.h, generation 1), no
 *                     huge pages. Info: region.addr, region.pages.
 *   --on-usr1 ACTION  what SIGUSR1 makes the main thread do, once per
 *                     signal, then write "done=N" to INFOFILE.done:
 *                       every-7th  rewrite every 7th page of the region
 *                       read       read every page of the region
 *                       kernel     read(2) from a file into pages 0..15
 *                       fork       fork a child that sleeps (no exec);
 *                                  its pid goes to INFOFILE.done as
 *                                  "child=PID"
 *   --sweep MIB       a region rewritten page after page, generation after
 *                     generation, by a thread, about PAGES_PER_S pages/s
 *                     (--rate, default 20000). Info: sweep.addr, sweep.pages.
 *   --blockers        threads blocked in read(2) on a pipe, nanosleep(2), a futex wait, epoll_wait(2), and one in a
 *                     signal handler (sleeping in it until released); the
 *                     nanosleep is 5 s. On
 *                     SIGUSR1 the main thread releases them; each checks
 *                     its call's result and writes "NAME=ok" or
 *                     "NAME=bad:why" to INFOFILE.result once all returned.
 *   --threads N       N extra idle threads (nanosleep loops).
 *   --new-vmas        a thread that keeps making new VMAs while the dump
 *                     runs: a new anonymous mapping (mmap) every 10 ms, a
 *                     brk extension of the heap, an mremap that grows and
 *                     moves a mapping, every page of them filled with the
 *                     pattern (generation 1) before it is listed in a
 *                     ledger page (info: ledger.addr) that --check-core
 *                     reads back from the core.
 *   --seccomp-kill-uffd
 *                     a seccomp filter that kills the process on
 *                     userfaultfd(2) (installed before anything else).
 *
 *   lc-uffd-target --poke PID ADDR NPAGES
 *                     writes NPAGES pages at ADDR of process PID with
 *                     process_vm_writev (generation 7), exits 0.
 *   lc-uffd-target --check-sweep FILE OFFSET ADDR NPAGES
 *                     reads NPAGES pattern pages staged at OFFSET of FILE
 *                     for ADDR; prints "torn T steps S": pages that are not
 *                     one whole generation, and how many times the
 *                     generation changes from one page to the next (one
 *                     instant of a sequential sweep: at most 1).
 *   lc-uffd-target --check-core CORE LEDGER_ADDR
 *                     reads the ledger from the core's PT_LOADs, then
 *                     every page it lists; prints "regions R good G bad B". */
#include "lc_pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <elf.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PAGE LC_PATTERN_PAGE

static char info[4096];
static size_t info_len;
static const char *info_path;

static void die(const char *what)
{
	fprintf(stderr, "lc-uffd-target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void put(const char *key, uint64_t value, int hex)
{
	info_len += (size_t)snprintf(info + info_len, sizeof info - info_len,
				     hex ? "%s=0x%" PRIx64 "\n" : "%s=%" PRIu64 "\n", key, value);
}

static void write_file(const char *suffix, const char *text)
{
	char path[4200], tmp[4300];
	FILE *f;

	snprintf(path, sizeof path, "%s%s", info_path, suffix);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!(f = fopen(tmp, "w")) || fputs(text, f) == EOF || fclose(f) == EOF || rename(tmp, path) < 0)
		die(path);
}

static char *map_pattern(uint64_t pages)
{
	char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (madvise(p, pages * PAGE, MADV_NOHUGEPAGE) < 0)
		die("madvise");
	for (uint64_t i = 0; i < pages; i++)
		lc_pattern_fill((volatile uint64_t *)(p + i * PAGE), (uint64_t)(uintptr_t)(p + i * PAGE), 1);
	return p;
}

/* ---- --region and --on-usr1 ------------------------------------------- */

static char *region;
static uint64_t region_pages, generation = 1;
static const char *action;
static volatile sig_atomic_t usr1;
static unsigned done_count;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void do_action(void)
{
	char text[64];

	if (!strcmp(action, "every-7th")) {
		generation++;
		for (uint64_t i = 0; i < region_pages; i += 7)
			lc_pattern_fill((volatile uint64_t *)(region + i * PAGE),
					(uint64_t)(uintptr_t)(region + i * PAGE), generation);
	} else if (!strcmp(action, "read")) {
		volatile uint64_t sum = 0;

		for (uint64_t i = 0; i < region_pages; i++)
			sum += *(volatile uint64_t *)(region + i * PAGE + 8);
		(void)sum;
	} else if (!strcmp(action, "kernel")) {
		/* the kernel writes into 16 pages: read(2) of a file holding
		 * the same pages at generation 5 */
		char path[4200];
		int fd;

		snprintf(path, sizeof path, "%s.src", info_path);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			die("open the source file");
		for (uint64_t i = 0; i < 16; i++) {
			uint64_t page[LC_PATTERN_WORDS];

			lc_pattern_fill((volatile uint64_t *)page, (uint64_t)(uintptr_t)(region + i * PAGE), 5);
			if (pwrite(fd, page, PAGE, (off_t)(i * PAGE)) != PAGE)
				die("pwrite");
		}
		if (pread(fd, region, 16 * PAGE, 0) != 16 * PAGE)
			die("read into the region");
		close(fd);
		unlink(path);
	}
	if (!strcmp(action, "fork")) {
		pid_t child = fork();

		if (child < 0)
			die("fork");
		if (child == 0)
			for (;;)
				pause();
		snprintf(text, sizeof text, "done=%u\nchild=%d\n", ++done_count, (int)child);
		write_file(".done", text);
		return;
	}
	snprintf(text, sizeof text, "done=%u\n", ++done_count);
	write_file(".done", text);
}

/* ---- --sweep ----------------------------------------------------------- */

static char *sweep;
static uint64_t sweep_pages;
static unsigned long rate = 20000;

static void *sweeper(void *arg)
{
	const uint64_t batch = 64;
	struct timespec nap = { 0, (long)(batch * 1000000000ull / rate) };

	(void)arg;
	for (uint64_t gen = 2;; gen++)
		for (uint64_t i = 0; i < sweep_pages; i++) {
			lc_pattern_fill((volatile uint64_t *)(sweep + i * PAGE),
					(uint64_t)(uintptr_t)(sweep + i * PAGE), gen);
			if (i % batch == batch - 1)
				nanosleep(&nap, NULL);
		}
	return NULL;
}

/* ---- --blockers ---------------------------------------------------------- */

static int read_pipe[2], epoll_pipe[2], epfd;
static atomic_int futex_word;
static volatile sig_atomic_t handler_release;
static char results[1024];
static size_t results_len;
static atomic_int results_pending;
static pthread_mutex_t results_lock = PTHREAD_MUTEX_INITIALIZER;

static void result(const char *name, const char *verdict)
{
	pthread_mutex_lock(&results_lock);
	results_len += (size_t)snprintf(results + results_len, sizeof results - results_len, "%s=%s\n",
					name, verdict);
	if (atomic_fetch_sub(&results_pending, 1) == 1)
		write_file(".result", results);
	pthread_mutex_unlock(&results_lock);
}

static void *blocked_read(void *arg)
{
	char buf[8];
	ssize_t n = read(read_pipe[0], buf, sizeof buf);

	(void)arg;
	result("read", n == 5 && !memcmp(buf, "hello", 5) ? "ok" : "bad:short-or-error");
	return NULL;
}

static void *blocked_nanosleep(void *arg)
{
	struct timespec a, b, req = { 5, 0 };
	int rc;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = nanosleep(&req, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	result("nanosleep", rc == 0 && b.tv_sec - a.tv_sec >= 4 ? "ok" : "bad:early-or-error");
	return NULL;
}

static void *blocked_futex(void *arg)
{
	long rc;

	(void)arg;
	do
		rc = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
	while (rc == 0 && atomic_load(&futex_word) == 0);
	result("futex", (rc == 0 || (rc < 0 && errno == EAGAIN)) && atomic_load(&futex_word) == 1
			       ? "ok" : "bad:error");
	return NULL;
}

/* epoll_wait is never restarted: any ptrace stop (a debugger's attach, a
 * plain lc-freeze) makes it fail with EINTR (signal(7)), which programs
 * retry. What must never come out is a kernel-internal -ERESTART* (512..516
 * as errno) or a wrong event. */
static void *blocked_epoll(void *arg)
{
	struct epoll_event ev;
	int n;

	(void)arg;
	do
		n = epoll_wait(epfd, &ev, 1, -1);
	while (n < 0 && errno == EINTR);
	result("epoll", n == 1 && ev.data.u32 == 42 ? "ok" : "bad:count-or-error");
	return NULL;
}

static void on_usr2(int sig)
{
	struct timespec nap = { 0, 1000000 };

	(void)sig;
	while (!handler_release)
		nanosleep(&nap, NULL);
}

static void *in_handler(void *arg)
{
	(void)arg;
	raise(SIGUSR2); /* thread-directed: this thread runs the handler */
	result("handler", handler_release ? "ok" : "bad:returned-early");
	return NULL;
}

static void release_blockers(void)
{
	if (write(read_pipe[1], "hello", 5) != 5 || write(epoll_pipe[1], "x", 1) != 1)
		die("write");
	atomic_store(&futex_word, 1);
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	handler_release = 1;
}

static void start(void *(*fn)(void *))
{
	pthread_t t;

	if (pthread_create(&t, NULL, fn, NULL))
		die("pthread_create");
	pthread_detach(t);
}

static void *idle(void *arg)
{
	struct timespec nap = { 0, 50000000 };

	(void)arg;
	for (;;)
		nanosleep(&nap, NULL);
	return NULL;
}

/* ---- --new-vmas --------------------------------------------------------- */

#define LEDGER_MAX 200
struct ledger {
	volatile uint64_t n;
	struct {
		volatile uint64_t addr, pages, busy;
	} r[LEDGER_MAX];
};
static struct ledger *ledger;

static void fill(char *p, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++)
		lc_pattern_fill((volatile uint64_t *)(p + i * PAGE), (uint64_t)(uintptr_t)(p + i * PAGE), 1);
}

static void *new_vmas(void *arg)
{
	struct timespec nap = { 0, 10 * 1000000 };
	char *heap = sbrk(0);
	uint64_t heap_pages = 0;
	size_t moving = 0;

	(void)arg;
	/* the heap's start, page aligned: entry 0 */
	heap = (char *)(((uintptr_t)heap + PAGE - 1) & ~(uintptr_t)(PAGE - 1));
	if (brk(heap) < 0)
		die("brk");
	ledger->r[0].addr = (uint64_t)(uintptr_t)heap;
	ledger->n = 1;
	for (unsigned step = 0;; step++) {
		if (heap_pages < 2000 && brk(heap + (heap_pages + 1) * PAGE) == 0) {
			fill(heap + heap_pages * PAGE, 1);
			ledger->r[0].pages = ++heap_pages;
		}
		if (ledger->n < LEDGER_MAX && step % 2 == 0) {
			uint64_t pages = 1 + step % 8;
			char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				die("mmap");
			fill(p, pages);
			ledger->r[ledger->n].addr = (uint64_t)(uintptr_t)p;
			ledger->r[ledger->n].pages = pages;
			if (!moving)
				moving = ledger->n;
			ledger->n++;
		}
		if (moving && step % 3 == 1) {
			/* grow and move: mremap's destination is a new VMA */
			uint64_t pages = ledger->r[moving].pages;
			char *q;

			ledger->r[moving].busy = 1;
			q = mremap((void *)(uintptr_t)ledger->r[moving].addr, pages * PAGE,
				   (pages + 2) * PAGE, MREMAP_MAYMOVE);
			if (q == MAP_FAILED)
				die("mremap");
			/* the moved pages hold their old addresses' pattern:
			 * rewritten for the new ones, the 2 new pages filled */
			fill(q, pages + 2);
			ledger->r[moving].addr = (uint64_t)(uintptr_t)q;
			ledger->r[moving].pages = pages + 2;
			ledger->r[moving].busy = 0;
			if (pages > 64)
				moving = ledger->n - 1;
		}
		nanosleep(&nap, NULL);
	}
	return NULL;
}

/* ---- seccomp ------------------------------------------------------------- */

static void seccomp_kill_uffd(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die("seccomp");
}

/* ---- the one-shot modes -------------------------------------------------- */

static int poke(pid_t pid, uint64_t addr, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t page[LC_PATTERN_WORDS];
		struct iovec local = { page, PAGE }, remote = { (void *)(uintptr_t)(addr + i * PAGE), PAGE };

		lc_pattern_fill((volatile uint64_t *)page, addr + i * PAGE, 7);
		if (process_vm_writev(pid, &local, 1, &remote, 1, 0) != PAGE)
			die("process_vm_writev");
	}
	return 0;
}

static int check_sweep(const char *file, uint64_t offset, uint64_t addr, uint64_t pages)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	uint64_t torn = 0, steps = 0, last = 0;

	if (fd < 0)
		die(file);
	for (uint64_t i = 0; i < pages; i++) {
		uint64_t page[LC_PATTERN_WORDS], gen;
		bool whole = true;

		if (pread(fd, page, PAGE, (off_t)(offset + i * PAGE)) != PAGE)
			die("pread");
		gen = page[1];
		for (unsigned w = 0; w < LC_PATTERN_WORDS; w++)
			if (page[w] != lc_pattern_word(addr + i * PAGE, gen, w))
				whole = false;
		if (!whole || gen == 0)
			torn++;
		else if (i && gen != last)
			steps++;
		if (whole)
			last = gen;
	}
	printf("torn %" PRIu64 " steps %" PRIu64 "\n", torn, steps);
	return 0;
}

/* A core's memory: its PT_LOADs (no PN_XNUM: the test cores are small). */
struct core {
	int fd;
	Elf64_Phdr *ph;
	unsigned n;
};

static int core_read(const struct core *c, uint64_t addr, void *buf, size_t len)
{
	for (unsigned i = 0; i < c->n; i++) {
		const Elf64_Phdr *p = &c->ph[i];

		if (p->p_type == PT_LOAD && addr >= p->p_vaddr && addr + len <= p->p_vaddr + p->p_memsz) {
			if (addr + len > p->p_vaddr + p->p_filesz)
				return -1;
			return pread(c->fd, buf, len, (off_t)(p->p_offset + addr - p->p_vaddr)) == (ssize_t)len
				       ? 0 : -1;
		}
	}
	return -1;
}

static int check_core(const char *file, uint64_t ledger_addr)
{
	struct core c = { .fd = open(file, O_RDONLY | O_CLOEXEC) };
	Elf64_Ehdr eh;
	uint64_t good = 0, bad = 0;
	static struct ledger l;

	if (c.fd < 0 || pread(c.fd, &eh, sizeof eh, 0) != sizeof eh)
		die(file);
	c.n = eh.e_phnum;
	c.ph = calloc(c.n, sizeof *c.ph);
	if (!c.ph || pread(c.fd, c.ph, c.n * sizeof *c.ph, (off_t)eh.e_phoff) != (ssize_t)(c.n * sizeof *c.ph))
		die("program headers");
	if (core_read(&c, ledger_addr, &l, sizeof l) < 0) {
		printf("no ledger\n");
		return 1;
	}
	for (uint64_t k = 0; k < l.n && k < LEDGER_MAX; k++) {
		if (l.r[k].busy)
			continue;
		for (uint64_t i = 0; i < l.r[k].pages; i++) {
			uint64_t page[LC_PATTERN_WORDS], a = l.r[k].addr + i * PAGE;
			bool ok = core_read(&c, a, page, PAGE) == 0;

			for (unsigned w = 0; ok && w < LC_PATTERN_WORDS; w++)
				ok = page[w] == lc_pattern_word(a, 1, w);
			if (ok) {
				good++;
			} else {
				if (bad++ < 8)
					fprintf(stderr, "bad page 0x%" PRIx64 " (region %" PRIu64 " at 0x%" PRIx64
						", %" PRIu64 " pages): word0 0x%" PRIx64 " word1 %" PRIu64 "\n",
						a, k, l.r[k].addr, l.r[k].pages, page[0], page[1]);
			}
		}
	}
	printf("regions %" PRIu64 " good %" PRIu64 " bad %" PRIu64 "\n", l.n, good, bad);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long region_mib = 0, sweep_mib = 0, threads = 0;
	bool blockers = false, vmas = false;

	if (argc == 5 && !strcmp(argv[1], "--poke"))
		return poke((pid_t)atoi(argv[2]), strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "--check-core"))
		return check_core(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "--check-sweep"))
		return check_sweep(argv[2], strtoull(argv[3], NULL, 0), strtoull(argv[4], NULL, 0),
				   strtoull(argv[5], NULL, 0));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-o") && v)
			info_path = argv[++i];
		else if (!strcmp(a, "--region") && v)
			region_mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--on-usr1") && v)
			action = argv[++i];
		else if (!strcmp(a, "--sweep") && v)
			sweep_mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--rate") && v)
			rate = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--threads") && v)
			threads = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--new-vmas"))
			vmas = true;
		else if (!strcmp(a, "--blockers"))
			blockers = true;
		else if (!strcmp(a, "--seccomp-kill-uffd"))
			seccomp_kill_uffd();
		else {
			fprintf(stderr, "usage: lc-uffd-target -o INFOFILE [--region MIB] [--on-usr1 "
					"every-7th|read|kernel] [--sweep MIB] [--rate N] [--blockers] "
					"[--threads N] [--seccomp-kill-uffd]\n");
			return 2;
		}
	}
	if (!info_path) {
		fprintf(stderr, "lc-uffd-target: -o INFOFILE is required\n");
		return 2;
	}
	{
		sigset_t usr1_set;

		/* blocked everywhere (threads inherit it), taken by sigsuspend */
		signal(SIGUSR1, on_usr1);
		sigemptyset(&usr1_set);
		sigaddset(&usr1_set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &usr1_set, NULL);
	}
	if (region_mib) {
		region_pages = region_mib * 256;
		region = map_pattern(region_pages);
		put("region.addr", (uint64_t)(uintptr_t)region, 1);
		put("region.pages", region_pages, 0);
	}
	if (sweep_mib) {
		sweep_pages = sweep_mib * 256;
		sweep = map_pattern(sweep_pages);
		put("sweep.addr", (uint64_t)(uintptr_t)sweep, 1);
		put("sweep.pages", sweep_pages, 0);
		start(sweeper);
	}
	if (blockers) {
		struct sigaction sa = { .sa_handler = on_usr2 };
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = 42 };

		sigaction(SIGUSR2, &sa, NULL);
		if (pipe(read_pipe) < 0 || pipe(epoll_pipe) < 0 || (epfd = epoll_create1(0)) < 0 ||
		    epoll_ctl(epfd, EPOLL_CTL_ADD, epoll_pipe[0], &ev) < 0)
			die("pipes");
		atomic_store(&results_pending, 5);
		start(blocked_read);
		start(blocked_nanosleep);
		start(blocked_futex);
		start(blocked_epoll);
		start(in_handler);
	}
	for (unsigned long i = 0; i < threads; i++)
		start(idle);
	if (vmas) {
		ledger = mmap(NULL, sizeof *ledger, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ledger == MAP_FAILED)
			die("mmap the ledger");
		memset(ledger, 0, sizeof *ledger);
		put("ledger.addr", (uint64_t)(uintptr_t)ledger, 1);
	}
	put("threads", threads, 0);
	write_file("", info);
	/* after the last malloc (fopen): the thread owns brk from here */
	if (vmas)
		start(new_vmas);
	for (;;) {
		sigset_t none;

		sigemptyset(&none);
		while (!usr1)
			sigsuspend(&none);
		usr1 = 0;
		if (action && region)
			do_action();
		if (blockers)
			release_blockers();
	}
}
