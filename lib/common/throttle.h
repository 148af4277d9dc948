/* throttle - slowing a process that writes faster than pre-copy copies
 * (issue 26, the ladder's second step in livecore(1); QEMU's auto-converge
 * does it to a guest's vCPUs).
 *
 * When the passes lose (pass 1 outpaced, or the dirty set no longer
 * halves: the process writes more than half as fast as a pass copies)
 * and the stop would copy the pages written for longer than the pause
 * budget, a thread of lc-precopy holds every thread of the process in a
 * ptrace stop for THROTTLE_STOP_MS at a time (half the budget where that
 * is less), at a duty cycle (the stopped share of the time) that grows
 * with each pass that still does not halve the dirty set, until it does:
 * the process writes slower, the passes converge, and the final stop
 * copies little. Each stop, seize to detach, runs at SCHED_FIFO 1 where
 * CAP_SYS_NICE is permitted (ptrace_stop.h; else its scheduling group at
 * niceness 0): a detach wakes a thread of the process, which would take
 * the CPU before the next, and the seize of a writer as fast as it can
 * waited behind the passes' copy workers (33-176 ms stops; 10.8-22.8
 * so). The few threads a throttled process has stop at once at that
 * priority; lc-freeze's seize of thousands does not (ptrace_stop.h). lc-freeze goes on at the duty lc-precopy
 * reached (the throttle header) from its start to its stop, so that the
 * writer does not run free until then. Each stop is half the budget at
 * most (10 ms against 20); they are stalls the
 * process feels all the same, counted and reported (throttle_record).
 * Only with the uffd tracker: soft-dirty's own stops would meet ours.
 *
 * The thread traces the process only between its stops' seize and
 * detach, and lc-precopy's own stops (the registration of new VMAs) wait
 * for that (throttle_pause); the userfaultfd's release on an interrupt or
 * a failure (handoff.c) ends it first (throttle_end), so that the
 * release's own stop finds every thread detached. If the tool is killed
 * outright, the kernel detaches the threads and the process runs on.
 * SIGCHLD must be blocked in every thread of the tool (the stops wait for
 * it; one that no thread blocks is discarded). */
#ifndef LC_THROTTLE_H
#define LC_THROTTLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define THROTTLE_STOP_MS 10u
#define THROTTLE_FIRST_PCT 25u
#define THROTTLE_STEP_PCT 25u
#define THROTTLE_MAX_PCT 75u

struct throttle {
	pid_t pid;
	int task_dirfd;
	bool own_group;                 /* lc-precopy -g: the scheduling group is ours */
	pthread_mutex_t tracing;        /* held by the thread through each of its stops */
	_Atomic unsigned duty_pct;      /* the stopped share of the time; 0: off */
	unsigned stop_us;               /* each stop's length */
	_Atomic bool quit;
	pthread_mutex_t lock;           /* around starting and joining the thread */
	bool running;
	pthread_t thread;
	/* what the process felt */
	_Atomic uint64_t stops, longest_us, total_us;
	_Atomic int error;              /* errno of a stop that failed: the throttle ended */
};

void throttle_init(struct throttle *t, pid_t pid, int task_dirfd);

/* Each stop as short as a pause budget of budget_ms allows many times
 * over: THROTTLE_STOP_MS, or half the budget where that is less. */
void throttle_set_budget(struct throttle *t, unsigned budget_ms);

/* Sets the duty cycle, starting the thread the first time. 0 or -1 with
 * errno. */
int throttle_set(struct throttle *t, unsigned duty_pct);

/* Ends the throttle and waits until every thread of the process is
 * detached; any thread may call it, any number of times. */
void throttle_end(struct throttle *t);

/* Around another stop of the process by lc-precopy (the registration of
 * new VMAs, uffd.h): waits until the throttle's stop, if one is under way,
 * is over, and holds off the next. t may be NULL. */
void throttle_pause(struct throttle *t);
void throttle_resume(struct throttle *t);

/* The throttle header of out (livecore-manifest(5)): this throttle's
 * stops added to those of the header out already has (lc-freeze's input,
 * lc-precopy's stops), and the duty it ran at. Nothing when neither has
 * made a stop. 0 or -1 on ENOMEM. */
struct manifest;
int throttle_record(const struct throttle *t, struct manifest *out);

/* The duty cycle a throttle header says the pre-copy ended at, 0 when
 * there is none (or it failed: error= not 0), and its stops' length. */
unsigned throttle_duty_of(const struct manifest *m, unsigned *stop_us);

#endif
