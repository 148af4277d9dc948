#include "throttle.h"
#include "caps.h"
#include "manifest.h"
#include "ptrace_stop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>
#include <time.h>

/* How long the threads may take to stop (as the soft-dirty micro-stop) */
#define THROTTLE_TIMEOUT_MS 2000u

void throttle_init(struct throttle *t, pid_t pid, int task_dirfd)
{
	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->task_dirfd = task_dirfd;
	t->stop_us = THROTTLE_STOP_MS * 1000u;
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->tracing, NULL);
}

static int64_t us_between(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

/* Sleeps until `until` (CLOCK_MONOTONIC), or less when the throttle ends. */
static void nap_until(struct throttle *t, const struct timespec *until)
{
	struct timespec now, step = { 0, 1000000 };

	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (atomic_load(&t->quit) || us_between(&now, until) <= 0)
			return;
		if (us_between(&now, until) < 1000)
			step.tv_nsec = us_between(&now, until) * 1000;
		nanosleep(&step, NULL);
	}
}

static struct timespec plus_us(struct timespec a, int64_t us)
{
	a.tv_sec += us / 1000000;
	a.tv_nsec += (us % 1000000) * 1000;
	if (a.tv_nsec >= 1000000000) {
		a.tv_sec++;
		a.tv_nsec -= 1000000000;
	}
	return a;
}

/* The niceness of our scheduling group (autogroup), or -100 when it has
 * none to read. */
static int group_nice(void)
{
	FILE *f = fopen("/proc/self/autogroup", "r");
	int nice = -100;

	if (f) {
		if (fscanf(f, "/autogroup-%*d nice %d", &nice) != 1)
			nice = -100;
		fclose(f);
	}
	return nice;
}

static void set_group_nice(int nice)
{
	FILE *f = fopen("/proc/self/autogroup", "w");

	if (f) {
		fprintf(f, "%d\n", nice);
		fclose(f);
	}
}

static void *throttle_main(void *arg)
{
	struct throttle *t = arg;
	int nice = -100;

	/* The detaches run at SCHED_FIFO 1 (ptrace_stop.h,
	 * realtime), which needs CAP_SYS_NICE. Without it: while it
	 * throttles, the pre-copy's own scheduling group (lc-precopy -g at
	 * niceness 19) gets the weight of the process's; raising it back to
	 * 0 needs no privilege. */
	if (!caps_permitted(CAP_SYS_NICE) && t->own_group && (nice = group_nice()) > 0)
		set_group_nice(0);

	while (!atomic_load(&t->quit)) {
		unsigned duty = atomic_load(&t->duty_pct);
		struct ptrace_stop ps;
		struct timespec until;
		int64_t us;
		bool rt;

		pthread_mutex_lock(&t->tracing);
		ptrace_stop_init(&ps, t->pid, t->task_dirfd);
		ps.realtime = true;
		/* the whole stop at SCHED_FIFO 1 (throttle.h) */
		rt = ptrace_stop_realtime_enter(&ps);
		if (ptrace_stop_all(&ps, THROTTLE_TIMEOUT_MS, NULL) < 0) {
			ptrace_stop_realtime_leave(rt);
			/* every thread was detached again: the process runs on */
			atomic_store(&t->error, errno ? errno : EIO);
			ptrace_stop_free(&ps);
			pthread_mutex_unlock(&t->tracing);
			break;
		}
		until = plus_us(ps.first_seize, t->stop_us);
		nap_until(t, &until);
		ptrace_stop_detach_all(&ps);
		ptrace_stop_realtime_leave(rt);
		us = us_between(&ps.first_seize, &ps.last_detach);
		ptrace_stop_free(&ps);
		pthread_mutex_unlock(&t->tracing);
		atomic_fetch_add(&t->stops, 1);
		atomic_fetch_add(&t->total_us, (uint64_t)us);
		if ((uint64_t)us > atomic_load(&t->longest_us))
			atomic_store(&t->longest_us, (uint64_t)us);
		/* the process runs (100 - duty) for every duty stopped */
		until = plus_us(until, (int64_t)t->stop_us * (100 - duty) / (duty ? duty : 1));
		nap_until(t, &until);
	}
	if (nice > 0)
		set_group_nice(nice);
	return NULL;
}

void throttle_set_budget(struct throttle *t, unsigned budget_ms)
{
	if (budget_ms && budget_ms * 500u < THROTTLE_STOP_MS * 1000u)
		t->stop_us = budget_ms * 500u;
}

int throttle_set(struct throttle *t, unsigned duty_pct)
{
	int rc = 0;

	atomic_store(&t->duty_pct, duty_pct);
	pthread_mutex_lock(&t->lock);
	if (!t->running && duty_pct > 0 && !atomic_load(&t->quit)) {
		sigset_t all, old;

		/* the thread takes no signal: SIGINT and the others go to
		 * lc-precopy's own handlers, SIGCHLD waits for its stops */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&t->thread, NULL, throttle_main, t);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (rc == 0)
			t->running = true;
		else
			errno = rc, rc = -1;
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void throttle_end(struct throttle *t)
{
	pthread_mutex_lock(&t->lock);
	atomic_store(&t->quit, true);
	if (t->running) {
		pthread_join(t->thread, NULL);
		t->running = false;
	}
	pthread_mutex_unlock(&t->lock);
}

void throttle_pause(struct throttle *t)
{
	if (t)
		pthread_mutex_lock(&t->tracing);
}

void throttle_resume(struct throttle *t)
{
	if (t)
		pthread_mutex_unlock(&t->tracing);
}

int throttle_record(const struct throttle *t, struct manifest *out)
{
	const char *v = manifest_header_get(out, "throttle");
	uint64_t stops = atomic_load(&t->stops), total = atomic_load(&t->total_us);
	uint64_t longest = atomic_load(&t->longest_us);
	unsigned duty = atomic_load(&t->duty_pct);
	int error = atomic_load(&t->error);

	if (v) {
		stops += manifest_value_field(v, "stops");
		total += manifest_value_field(v, "total-us");
		if (manifest_value_field(v, "longest-us") > longest)
			longest = manifest_value_field(v, "longest-us");
		if (!duty)
			duty = (unsigned)manifest_value_field(v, "duty-pct");
		if (!error)
			error = (int)manifest_value_field(v, "error");
	}
	if (stops == 0)
		return 0;
	return manifest_header_set(out, "throttle",
				   "duty-pct=%u stop-us=%u stops=%" PRIu64 " longest-us=%" PRIu64
				   " total-us=%" PRIu64 " error=%d", duty, t->stop_us, stops, longest, total,
				   error);
}

unsigned throttle_duty_of(const struct manifest *m, unsigned *stop_us)
{
	const char *v = manifest_header_get(m, "throttle");

	if (!v || manifest_value_field(v, "error"))
		return 0;
	*stop_us = (unsigned)manifest_value_field(v, "stop-us");
	if (*stop_us == 0 || *stop_us > THROTTLE_STOP_MS * 1000u)
		*stop_us = THROTTLE_STOP_MS * 1000u;
	return (unsigned)manifest_value_field(v, "duty-pct");
}
