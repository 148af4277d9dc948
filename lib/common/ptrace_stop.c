#include "ptrace_stop.h"
#include "caps.h"
#include "procfs.h"
#include "xio.h"

#include <cpuid.h>
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The largest XSAVE area a CPU reports today is about 11 KiB (AMX tiles);
 * the kernel answers PTRACE_GETREGSET with the size it actually has. */
#define XSTATE_MAX (64u << 10)
/* How often a wait for stops looks for threads that became zombies (a
 * traced group leader that exits is not reported until its group is). */
#define ZOMBIE_CHECK_MS 20

void ptrace_stop_init(struct ptrace_stop *s, pid_t pid, int task_dirfd)
{
	memset(s, 0, sizeof *s);
	s->pid = pid;
	s->task_dirfd = task_dirfd;
}

void ptrace_stop_free(struct ptrace_stop *s)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->threads[i].xstate_pooled)
			free(s->threads[i].xstate);
	free(s->threads);
	free(s->index);
	if (s->pool)
		munmap(s->pool, s->pool_bytes);
	s->threads = NULL;
	s->index = NULL;
	s->pool = NULL;
	s->n = s->cap = s->index_cap = s->n_waiting = 0;
	s->pool_slot = s->pool_slots = s->pool_used = s->pool_bytes = 0;
}

/* ---- the thread table: O(1) by tid ----------------------------------------- */

static size_t slot_of(pid_t tid, size_t cap)
{
	return ((size_t)(unsigned)tid * 2654435761u) & (cap - 1);
}

static void index_put(struct ptrace_stop *s, size_t i)
{
	size_t k = slot_of(s->threads[i].tid, s->index_cap);

	while (s->index[k])
		k = (k + 1) & (s->index_cap - 1);
	s->index[k] = i + 1;
}

/* Rebuilt whole: when it fills past half, and after the table is sorted. */
static int index_rebuild(struct ptrace_stop *s, size_t cap)
{
	size_t *index = calloc(cap, sizeof *index);

	if (!index)
		return -1;
	free(s->index);
	s->index = index;
	s->index_cap = cap;
	for (size_t i = 0; i < s->n; i++)
		index_put(s, i);
	return 0;
}

/* Writes one byte of each page: a page touched now costs nothing in the
 * stop (memory calloc or realloc got from mmap is not touched yet). */
static void touch(void *p, size_t len)
{
	for (size_t off = 0; off < len; off += 4096)
		((volatile unsigned char *)p)[off] = 0;
}

int ptrace_stop_reserve(struct ptrace_stop *s, size_t threads)
{
	size_t want = threads + threads / 8 + 64, cap = 64, icap = 256;
	unsigned eax, ebx, ecx = 0, edx;

	while (cap < want)
		cap *= 2;
	if (cap > s->cap) {
		struct ptrace_thread *grown = realloc(s->threads, cap * sizeof *grown);

		if (!grown)
			return -1;
		s->threads = grown;
		s->cap = cap;
	}
	touch(s->threads + s->n, (s->cap - s->n) * sizeof *s->threads);
	while (icap < 2 * cap)
		icap *= 2;
	if (icap > s->index_cap && index_rebuild(s, icap) < 0)
		return -1;
	touch(s->index, s->index_cap * sizeof *s->index);
	if (s->pool || __get_cpuid_max(0, NULL) < 0xd)
		return 0;
	/* ECX: the XSAVE area of every feature the CPU supports */
	__cpuid_count(0xd, 0, eax, ebx, ecx, edx);
	(void)eax;
	(void)ebx;
	(void)edx;
	if (ecx < PTRACE_STOP_FPREGS_SIZE || ecx > XSTATE_MAX)
		return 0;
	s->pool_slot = (ecx + 63u) & ~(size_t)63u;
	s->pool_bytes = want * s->pool_slot;
	s->pool = mmap(NULL, s->pool_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (s->pool == MAP_FAILED) {
		s->pool = NULL;
		s->pool_slot = s->pool_bytes = 0;
		return -1;
	}
	s->pool_slots = want;
	s->pool_used = 0;
	return 0;
}

static struct ptrace_thread *find(struct ptrace_stop *s, pid_t tid)
{
	if (!s->index_cap)
		return NULL;
	for (size_t k = slot_of(tid, s->index_cap); s->index[k]; k = (k + 1) & (s->index_cap - 1))
		if (s->threads[s->index[k] - 1].tid == tid)
			return &s->threads[s->index[k] - 1];
	return NULL;
}

static bool waiting(const struct ptrace_thread *t)
{
	return t->attached && !t->stopped && !t->gone;
}

/* After t's state changed from was (waiting(t) before): the count of
 * threads still to stop, so that "all stopped?" costs nothing. */
static void settle(struct ptrace_stop *s, const struct ptrace_thread *t, bool was)
{
	if (was && !waiting(t))
		s->n_waiting--;
	else if (!was && waiting(t))
		s->n_waiting++;
}

static struct ptrace_thread *add(struct ptrace_stop *s, pid_t tid)
{
	struct ptrace_thread *t;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		struct ptrace_thread *grown = realloc(s->threads, cap * sizeof *grown);

		if (!grown)
			return NULL;
		s->threads = grown;
		s->cap = cap;
	}
	if (2 * (s->n + 1) > s->index_cap &&
	    index_rebuild(s, s->index_cap ? 4 * s->index_cap : 256) < 0)
		return NULL;
	t = &s->threads[s->n++];
	memset(t, 0, sizeof *t);
	t->tid = tid;
	index_put(s, s->n - 1);
	return t;
}

/* add, attached (a thread seized, or attached by the kernel: stopped at
 * birth, it needs no interrupt) */
static struct ptrace_thread *add_attached(struct ptrace_stop *s, pid_t tid)
{
	struct ptrace_thread *t = add(s, tid);

	if (t) {
		t->attached = true;
		t->interrupted = true;
		s->n_waiting++;
	}
	return t;
}

static int64_t ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* State letter and tracer of task TID, from task/TID/status. -1 when the
 * task is gone. */
static int task_status(const struct ptrace_stop *s, pid_t tid, struct procfs_status *st)
{
	char path[64];
	int dirfd, rc;

	snprintf(path, sizeof path, "%d", (int)tid);
	dirfd = xio_openat(s->task_dirfd, path, O_PATH | O_DIRECTORY, 1);
	if (dirfd < 0)
		return -1;
	rc = procfs_read_status_at(dirfd, st);
	close(dirfd);
	return rc;
}

/* PTRACE_SEIZE alone: the thread runs on (a signal it takes now stops it
 * in its delivery, which counts as its stop); interrupt_new stops it. */
static int seize_one(struct ptrace_stop *s, pid_t tid)
{
	struct procfs_status st;
	struct ptrace_thread *t;

	if (ptrace(PTRACE_SEIZE, tid, 0, (void *)(long)PTRACE_O_TRACECLONE) == 0) {
		if (!(t = add_attached(s, tid)))
			return -1;
		t->interrupted = false;
		return 0;
	}
	if (errno == ESRCH) { /* exited since the listing */
		if (!(t = add(s, tid)))
			return -1;
		t->gone = true;
		s->n_dropped++;
		return 0;
	}
	if (errno != EPERM)
		return -1;
	/* EPERM: a zombie, a thread the kernel attached to us already (a clone
	 * whose event we have not read yet), someone else's tracee, or not
	 * ours to trace. */
	if (task_status(s, tid, &st) < 0 || st.is_zombie) {
		if (!(t = add(s, tid)))
			return -1;
		t->gone = true;
		s->n_dropped++;
		return 0;
	}
	if (st.tracer_pid == getpid()) {
		if (!(t = add_attached(s, tid)))
			return -1;
		return 0;
	}
	if (st.tracer_pid != 0) {
		s->other_tracer = st.tracer_pid;
		errno = EBUSY;
	} else {
		errno = EPERM;
	}
	return -1;
}

/* PTRACE_INTERRUPT for every thread seized and not interrupted yet, one
 * after another: the stop begins here (first_seize), not at the seizes,
 * which stop nothing, so that 4000 threads' PTRACE_SEIZE calls (about
 * 10 ms here) are not part of it. */
static int interrupt_new(struct ptrace_stop *s)
{
	bool gap = s->test_seize_gap_ms > 0;

	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];

		if (t->interrupted || !waiting(t))
			continue;
		if (gap) {
			nanosleep(&(struct timespec){ s->test_seize_gap_ms / 1000,
						      (long)(s->test_seize_gap_ms % 1000) * 1000000L },
				  NULL);
			gap = false;
		}
		if (!s->interrupting) {
			clock_gettime(CLOCK_MONOTONIC, &s->first_seize);
			s->interrupting = true;
		}
		t->interrupted = true;
		/* ESRCH here means it is exiting: waitpid reports the exit */
		if (ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0 && errno != ESRCH)
			return -1;
	}
	return 0;
}

/* Seizes every listed thread not known yet; *added counts them. */
static int seize_new(struct ptrace_stop *s, size_t *added)
{
	int fd = openat(s->task_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	DIR *dir;
	int rc = 0;

	*added = 0;
	if (fd < 0)
		return -1;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return -1;
	}
	errno = 0;
	while ((d = readdir(dir))) {
		char *end;
		long tid = strtol(d->d_name, &end, 10);

		if (*end || tid <= 0 || find(s, (pid_t)tid))
			continue;
		if (seize_one(s, (pid_t)tid) < 0) {
			rc = -1;
			break;
		}
		(*added)++;
		errno = 0;
	}
	if (rc == 0 && errno) /* readdir failed: the process is gone */
		rc = -1;
	{
		int saved = errno;

		closedir(dir);
		errno = saved;
	}
	if (rc < 0 && errno == ENOENT)
		errno = ESRCH;
	return rc;
}

static void mark_gone(struct ptrace_stop *s, struct ptrace_thread *t)
{
	bool was = waiting(t);

	if (!t->gone)
		s->n_dropped++;
	t->gone = true;
	t->attached = false;
	t->stopped = false;
	settle(s, t, was);
}

/* One waitpid answer. */
static int handle_status(struct ptrace_stop *s, pid_t tid, int status)
{
	struct ptrace_thread *t = find(s, tid);
	bool was;

	/* a thread attached by the kernel (PTRACE_O_TRACECLONE) whose stop
	 * came before its parent's clone event */
	if (!t && !(t = add_attached(s, tid)))
		return -1;
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		mark_gone(s, t);
		return 0;
	}
	if (!WIFSTOPPED(status))
		return 0;
	was = waiting(t);
	t->stopped = true;
	settle(s, t, was);
	if ((status >> 16) == PTRACE_EVENT_CLONE) {
		unsigned long child;

		/* add_attached may move the table: t is not used after it */
		if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &child) == 0 && !find(s, (pid_t)child) &&
		    !add_attached(s, (pid_t)child))
			return -1;
	} else if ((status >> 16) == 0) {
		/* signal-delivery-stop: the signal is delivered only if the
		 * detach passes it back */
		t->pending_signal = WSTOPSIG(status);
		if (ptrace(PTRACE_GETSIGINFO, tid, 0, &t->siginfo) < 0)
			memset(&t->siginfo, 0, sizeof t->siginfo);
	}
	return 0;
}

static bool all_stopped(const struct ptrace_stop *s)
{
	return s->n_waiting == 0;
}

static void drop_zombies(struct ptrace_stop *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];
		struct procfs_status st;

		if (waiting(t) && (task_status(s, t->tid, &st) < 0 || st.is_zombie)) {
			/* still traced by us until we exit or it is reaped;
			 * detach answers ESRCH for it, which is fine */
			s->n_dropped++;
			t->gone = true;
			settle(s, t, true);
		}
	}
}

static int wait_for_stops(struct ptrace_stop *s, const struct timespec *t0, unsigned timeout_ms,
			  const sigset_t *cancel)
{
	sigset_t waitset;

	if (cancel)
		waitset = *cancel;
	else
		sigemptyset(&waitset);
	sigaddset(&waitset, SIGCHLD);
	for (;;) {
		/* Each thread still to stop is asked by its own tid: waitpid(-1)
		 * walks every tracee of ours in the kernel for each answer
		 * (wait_consider_task), which made 4000 threads cost 0.3 s;
		 * a tid is found at once. A clone's child becomes known at its
		 * parent's clone event, and is asked from then on. */
		for (size_t i = 0; i < s->n; i++) {
			int status;
			pid_t tid = s->threads[i].tid, w;

			if (!waiting(&s->threads[i]))
				continue;
			do
				w = waitpid(tid, &status, __WALL | WNOHANG);
			while (w < 0 && errno == EINTR);
			if (w == tid && handle_status(s, w, status) < 0)
				return -1;
			/* not ours (any more): it exited and was reaped */
			if (w < 0 && errno == ECHILD)
				mark_gone(s, &s->threads[i]);
			else if (w < 0)
				return -1;
		}
		if (all_stopped(s))
			return 0;
		{
			int64_t left = (int64_t)timeout_ms - ms_since(t0);
			struct timespec slice;
			int sig;

			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (left > ZOMBIE_CHECK_MS)
				left = ZOMBIE_CHECK_MS;
			slice.tv_sec = 0;
			slice.tv_nsec = (long)left * 1000000L;
			sig = sigtimedwait(&waitset, NULL, &slice);
			if (sig > 0 && sig != SIGCHLD) {
				/* put it back so the caller sees it pending */
				raise(sig);
				errno = EINTR;
				return -1;
			}
			if (sig < 0 && errno == EAGAIN)
				drop_zombies(s);
		}
	}
}

static int by_tid_leader_first(const void *a, const void *b, void *pid)
{
	pid_t ta = ((const struct ptrace_thread *)a)->tid, tb = ((const struct ptrace_thread *)b)->tid;
	pid_t leader = *(pid_t *)pid;

	if (ta == leader || tb == leader)
		return ta == leader ? (tb == leader ? 0 : -1) : 1;
	return (ta > tb) - (ta < tb);
}

bool ptrace_stop_realtime_enter(const struct ptrace_stop *s)
{
	struct sched_param prio = { .sched_priority = 1 };
	bool done;

	if (!s->realtime || sched_getscheduler(0) != SCHED_OTHER || caps_raise_one(CAP_SYS_NICE) < 0)
		return false;
	done = sched_setscheduler(0, SCHED_FIFO, &prio) == 0;
	caps_lower_one(CAP_SYS_NICE);
	return done;
}

void ptrace_stop_realtime_leave(bool entered)
{
	struct sched_param prio = { .sched_priority = 0 };
	int saved = errno;

	if (entered)
		(void)sched_setscheduler(0, SCHED_OTHER, &prio);
	errno = saved;
}

static int detach_all(struct ptrace_stop *s);

int ptrace_stop_detach_all(struct ptrace_stop *s)
{
	bool rt = ptrace_stop_realtime_enter(s);
	int rc = detach_all(s);

	ptrace_stop_realtime_leave(rt);
	return rc;
}

int ptrace_stop_all(struct ptrace_stop *s, unsigned timeout_ms, const sigset_t *cancel)
{
	struct timespec t0;
	size_t added;
	int saved;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		if (seize_new(s, &added) < 0 || interrupt_new(s) < 0 ||
		    wait_for_stops(s, &t0, timeout_ms, cancel) < 0)
			goto fail;
	} while (added > 0);
	for (size_t i = 0; i < s->n; i++)
		if (!s->threads[i].gone)
			goto live;
	errno = ESRCH;
	goto fail;
live:
	qsort_r(s->threads, s->n, sizeof *s->threads, by_tid_leader_first, &s->pid);
	if (index_rebuild(s, s->index_cap) < 0)
		goto fail;
	return 0;
fail:
	saved = errno;
	ptrace_stop_detach_all(s);
	errno = saved;
	return -1;
}

int ptrace_stop_one(struct ptrace_stop *s, pid_t tid, unsigned timeout_ms, const sigset_t *cancel)
{
	struct timespec t0;
	int saved;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (seize_one(s, tid) < 0 || interrupt_new(s) < 0 ||
	    wait_for_stops(s, &t0, timeout_ms, cancel) < 0)
		goto fail;
	if (s->n && !s->threads[0].gone)
		return 0;
	errno = ESRCH;
fail:
	saved = errno;
	ptrace_stop_detach_all(s);
	errno = saved;
	return -1;
}

static int read_regset(pid_t tid, unsigned type, void *buf, size_t *len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = *len };

	if (ptrace(PTRACE_GETREGSET, tid, (void *)(unsigned long)type, &iov) < 0)
		return -1;
	*len = iov.iov_len;
	return 0;
}

/* NT_X86_XSAVE_LAYOUT (0x205, name "LINUX", Linux 6.12: ba386777a30b,
 * arch/x86/kernel/fpu/xstate.c) is no regset: fill_thread_core_info,
 * which writes each thread's regsets, never sees it, and PTRACE_GETREGSET
 * 0x205 answers EINVAL. elf_core_dump (fs/binfmt_elf.c) writes it once,
 * through elf_coredump_extra_notes_write, after write_note_info: the last
 * note of PT_NOTE, after every thread's notes (the segment's size counts
 * it through elf_coredump_extra_notes_size). Its descriptor: for each bit
 * i >= 2 of fpu_user_cfg.max_features, in ascending order, the 16 bytes
 * { i, xstate_sizes[i], xstate_offsets[i], 0 }, the sizes and offsets
 * being CPUID(0xD, i).EAX and .EBX (setup_xstate_cache). The kernel
 * writes it whenever max_features is not 0; with nothing beyond x87 and
 * SSE the descriptor is empty (a dump failed there before c8161e5304ab).
 * fpu_user_cfg.max_features is also word 0 of NT_X86_XSTATE's software
 * area at byte 464 (update_regset_xstate_info: where gdb reads XCR0), so
 * the layout read here describes exactly the XSAVE area read with it.
 * Seen on 6.18, AMD EPYC with AVX-512, max_features 0xe7: NT_X86_XSTATE
 * 2432 bytes in each thread's notes, then one NT_X86_XSAVE_LAYOUT of 64
 * bytes: components 2 (256 bytes at 576), 5 (64 at 832), 6 (512 at 896),
 * 7 (1024 at 1408). */
#define XSTATE_XFEATURES_OFFSET 464u
#define XSTATE_HEADER_END 576u  /* the FXSAVE area and the XSAVE header */

/* Nothing a process can ask says whether the kernel writes the note in
 * its cores (it is no regset, no flag, and making a kernel core to see
 * is not ours to do): its release says it, 6.12 or later. A distribution
 * kernel with the note backported to an older release gets none from us,
 * as before; readers do without it (gdb then guesses from XCR0 and the
 * NT_X86_XSTATE size). */
static bool kernel_writes_xsave_layout(void)
{
	struct utsname u;
	unsigned major, minor;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 12);
}

static void read_xsave_layout(struct ptrace_stop *s, const unsigned char *xstate, size_t len)
{
	uint64_t features;
	size_t n = 0;

	s->has_xsave_layout = false;
	s->n_xsave_layout = 0;
	/* without XSAVE (an FXSAVE-only area) max_features is 0: no note */
	if (len < XSTATE_HEADER_END || !kernel_writes_xsave_layout() ||
	    __get_cpuid_max(0, NULL) < 0xd)
		return;
	memcpy(&features, xstate + XSTATE_XFEATURES_OFFSET, sizeof features);
	if (features == 0)
		return;
	for (unsigned i = 2; i < 64; i++) {
		unsigned size, offset, ecx, edx;

		if (!(features >> i & 1))
			continue;
		__cpuid_count(0xd, i, size, offset, ecx, edx);
		(void)ecx;
		(void)edx;
		/* a component outside the area read cannot be what the
		 * kernel describes: no note rather than a wrong one */
		if (size == 0 || offset < XSTATE_HEADER_END || offset > len || size > len - offset)
			return;
		s->xsave_layout[n++] = (struct ptrace_stop_xfeature){
			.type = i, .size = size, .offset = offset, .flags = 0,
		};
	}
	s->n_xsave_layout = n;
	s->has_xsave_layout = true;
}

/* NT_PRFPREG's bytes that are the XSAVE area's legacy region as it is
 * (x87, MXCSR, XMM, the padding); the 48 after differ (NT_X86_XSTATE
 * holds its software bytes there) */
#define FPREGS_FROM_XSTATE 464u

/* Thread t's NT_X86_XSTATE: into a slot of the pool where its size is
 * known (*known, from the first thread read) and fits, else through
 * scratch (XSTATE_MAX bytes: the size the kernel reports is exact there)
 * into memory of its own. */
static int read_xstate(struct ptrace_stop *s, struct ptrace_thread *t, unsigned char *scratch,
		       size_t *known)
{
	size_t len;

	if (*known && *known <= s->pool_slot && s->pool_used < s->pool_slots) {
		unsigned char *slot = s->pool + s->pool_used * s->pool_slot;

		len = s->pool_slot;
		if (read_regset(t->tid, NT_X86_XSTATE, slot, &len) < 0)
			return -1;
		if (len == *known) {
			if (!t->xstate_pooled)
				free(t->xstate);
			t->xstate = slot;
			t->xstate_size = len;
			t->xstate_pooled = true;
			s->pool_used++;
			return 0;
		}
	}
	len = XSTATE_MAX;
	if (read_regset(t->tid, NT_X86_XSTATE, scratch, &len) < 0)
		return -1;
	if (!t->xstate_pooled)
		free(t->xstate);
	t->xstate_pooled = false;
	t->xstate_size = 0;
	if (!(t->xstate = malloc(len ? len : 1)))
		return -1;
	memcpy(t->xstate, scratch, len);
	t->xstate_size = len;
	if (!*known)
		*known = len;
	return 0;
}

int ptrace_stop_read_registers(struct ptrace_stop *s)
{
	unsigned char *scratch = malloc(XSTATE_MAX);
	unsigned char fp_tail[PTRACE_STOP_FPREGS_SIZE - FPREGS_FROM_XSTATE];
	bool fp_checked = false, fp_from_xstate = false;
	size_t known = 0;

	if (!scratch)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];
		size_t len;

		if (t->gone || !t->stopped)
			continue;
		len = sizeof t->regs;
		if (read_regset(t->tid, NT_PRSTATUS, &t->regs, &len) < 0)
			goto failed;
		if (len != sizeof t->regs)
			goto short_read;
		if (read_xstate(s, t, scratch, &known) < 0)
			goto failed;
		if (fp_from_xstate && t->xstate_size >= PTRACE_STOP_FPREGS_SIZE) {
			memcpy(t->fpregs, t->xstate, FPREGS_FROM_XSTATE);
			memcpy(t->fpregs + FPREGS_FROM_XSTATE, fp_tail, sizeof fp_tail);
			continue;
		}
		len = sizeof t->fpregs;
		if (read_regset(t->tid, NT_PRFPREG, t->fpregs, &len) < 0)
			goto failed;
		if (len != sizeof t->fpregs)
			goto short_read;
		/* the first thread shows whether this kernel's NT_PRFPREG is the
		 * XSAVE area's start: then the others' is taken from theirs */
		if (!fp_checked && t->xstate_size >= PTRACE_STOP_FPREGS_SIZE) {
			fp_checked = true;
			fp_from_xstate = !s->test_fpregs_each &&
					 !memcmp(t->fpregs, t->xstate, FPREGS_FROM_XSTATE);
			memcpy(fp_tail, t->fpregs + FPREGS_FROM_XSTATE, sizeof fp_tail);
		}
		continue;
failed:
		if (errno == ESRCH) {
			/* killed (SIGKILL ends a ptrace stop) or exiting: no
			 * registers to take, the thread is left out */
			mark_gone(s, t);
			continue;
		}
		goto fail;
short_read:
		errno = EIO;
		goto fail;
	}
	free(scratch);
	/* one layout for the process, as the kernel's one note */
	for (size_t i = 0; i < s->n; i++)
		if (!s->threads[i].gone && s->threads[i].xstate) {
			read_xsave_layout(s, s->threads[i].xstate, s->threads[i].xstate_size);
			break;
		}
	for (size_t i = 0; i < s->n; i++)
		if (!s->threads[i].gone)
			return 0;
	errno = ESRCH;
	return -1;
fail:
	free(scratch);
	return -1;
}

/* A thread attached but not yet stopped cannot be detached (PTRACE_DETACH
 * needs a stopped tracee): wait a little for the stop its interrupt will
 * bring. If it never comes, the kernel detaches it when we exit. */
static int detach_unstopped(struct ptrace_stop *s, struct ptrace_thread *t)
{
	for (int i = 0; i < 200; i++) {
		int status;
		pid_t w = waitpid(t->tid, &status, __WALL | WNOHANG);

		if (w == t->tid) {
			if (WIFEXITED(status) || WIFSIGNALED(status)) {
				mark_gone(s, t);
				return 0;
			}
			if (WIFSTOPPED(status)) {
				if ((status >> 16) == 0)
					t->pending_signal = WSTOPSIG(status);
				break;
			}
		} else if (w < 0 && errno != EINTR) {
			mark_gone(s, t);
			return 0;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 500000 }, NULL);
	}
	return ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->pending_signal);
}

static int detach_all(struct ptrace_stop *s)
{
	int failed = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];
		int rc;

		if (!t->attached)
			continue;
		if (t->gone) /* a zombie still traced: nothing to resume */
			rc = 0, (void)ptrace(PTRACE_DETACH, t->tid, 0, 0);
		else if (t->stopped)
			rc = ptrace(PTRACE_DETACH, t->tid, 0, (void *)(long)t->pending_signal);
		else
			rc = detach_unstopped(s, t);
		if (rc < 0 && errno == ESRCH) {
			struct procfs_status st;

			/* gone or a zombie: nothing left to resume */
			if (task_status(s, t->tid, &st) < 0 || st.is_zombie)
				rc = 0;
		}
		if (rc < 0)
			failed++;
		t->attached = false;
	}
	clock_gettime(CLOCK_MONOTONIC, &s->last_detach);
	/* nothing was interrupted (the seizes failed): nothing was stopped */
	if (!s->interrupting) {
		s->first_seize = s->last_detach;
		s->interrupting = true;
	}
	return failed;
}

size_t ptrace_stop_live(const struct ptrace_stop *s, const struct ptrace_thread **out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < s->n && k < max; i++)
		if (!s->threads[i].gone && s->threads[i].stopped)
			out[k++] = &s->threads[i];
	return k;
}

bool ptrace_stop_signal_pending(const sigset_t *set)
{
	sigset_t pending;

	if (sigpending(&pending) < 0)
		return false;
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1 && sigismember(&pending, sig) == 1)
			return true;
	return false;
}
