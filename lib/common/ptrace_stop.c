#include "ptrace_stop.h"
#include "caps.h"
#include "procfs.h"
#include "xio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* How often a wait for stops looks for threads that became zombies (a
 * traced group leader that exits is not reported until its group is). */
#define ZOMBIE_CHECK_MS 20

void ptrace_stop_init(struct ptrace_stop *s, pid_t pid, int task_dirfd)
{
	memset(s, 0, sizeof *s);
	s->pid = pid;
	s->task_dirfd = task_dirfd;
	arch_stop_regs_init(&s->regs);
}

void ptrace_stop_free(struct ptrace_stop *s)
{
	for (size_t i = 0; i < s->n; i++)
		arch_thread_regs_free(&s->threads[i].regs);
	free(s->threads);
	free(s->index);
	arch_stop_regs_free(&s->regs);
	s->threads = NULL;
	s->index = NULL;
	s->n = s->cap = s->index_cap = s->n_waiting = 0;
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
	return arch_stop_regs_reserve(&s->regs, threads);
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

int ptrace_stop_read_registers(struct ptrace_stop *s)
{
	const struct arch_thread_regs *first = NULL;

	if (arch_read_begin(&s->regs) < 0)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		struct ptrace_thread *t = &s->threads[i];

		if (t->gone || !t->stopped)
			continue;
		if (arch_read_thread(&s->regs, &t->regs, t->tid) == 0) {
			if (!first)
				first = &t->regs;
			continue;
		}
		if (errno != ESRCH) {
			arch_read_end(&s->regs, NULL);
			return -1;
		}
		/* killed (SIGKILL ends a ptrace stop) or exiting: no registers
		 * to take, the thread is left out */
		mark_gone(s, t);
	}
	/* one for the process, as the kernel's notes */
	arch_read_end(&s->regs, first);
	if (first)
		return 0;
	errno = ESRCH;
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
