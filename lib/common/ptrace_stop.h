/* ptrace_stop - stop every thread of a process with ptrace, read their
 * registers, and let them go (DESIGN.md "The stop").
 *
 * PTRACE_SEIZE every listed thread with PTRACE_O_TRACECLONE (threads born
 * meanwhile are attached by the kernel and report a PTRACE_EVENT_STOP),
 * which stops none of them, then PTRACE_INTERRUPT each, and wait (waitpid
 * by tid) until each thread reports a stop; /proc/PID/task is listed again
 * until no new thread appears. The stop is timed from the first interrupt. A stop
 * of any kind counts: the interrupt's PTRACE_EVENT_STOP, a group-stop (the
 * target was already stopped by SIGSTOP: it stops again after the detach,
 * because the kernel reinstates the group stop), a clone event, or a
 * signal-delivery-stop, whose signal is remembered and re-injected at
 * detach so that the target loses no signal.
 *
 * A thread that exits meanwhile (ESRCH on seize, an exit status from
 * waitpid, ESRCH on a register read) is dropped, not fatal; so is a zombie
 * thread (PTRACE_SEIZE answers EPERM for a task that has exited: the kernel
 * does not put exited tasks in a core either). The stop fails only when
 * the process is gone (ESRCH), already traced by someone else (EBUSY),
 * not ours to trace (EPERM), does not stop in time (ETIMEDOUT), or the
 * caller is interrupted (EINTR); on failure every thread is detached
 * before the call returns.
 *
 * All ptrace calls must come from one thread (the kernel ties a tracee to
 * its tracer thread). The caller blocks SIGCHLD and the signals in
 * `cancel` (SIGINT, SIGTERM) with sigprocmask before ptrace_stop_all: the
 * waits use sigtimedwait on them, so a SIGINT during the stop is seen at
 * the next wait and never interrupts a half-done step. */
#ifndef LC_PTRACE_STOP_H
#define LC_PTRACE_STOP_H

#include "arch.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ptrace_thread {
	pid_t tid;
	bool attached;          /* ours to detach */
	bool stopped;           /* reported a ptrace stop */
	bool gone;              /* exited or zombie: dropped */
	bool interrupted;       /* PTRACE_INTERRUPT sent (or not needed) */
	int pending_signal;     /* signal-delivery-stop: re-injected at detach */
	siginfo_t siginfo;      /* of pending_signal (valid when it is not 0) */
	/* filled by ptrace_stop_read_registers (arch.h) */
	struct arch_thread_regs regs;
};

struct ptrace_stop {
	pid_t pid;
	int task_dirfd;         /* /proc/PID/task, the caller's */
	struct ptrace_thread *threads;
	size_t n, cap;
	/* tid -> 1 + its index in threads (0: free), open addressing: with
	 * thousands of threads a linear search per seize and per waitpid
	 * answer made the stop quadratic */
	size_t *index, index_cap;
	size_t n_waiting;       /* attached, neither stopped nor gone */
	size_t n_dropped;       /* threads that exited or were zombies */
	pid_t other_tracer;     /* TracerPid when the seize failed with EBUSY */
	struct timespec first_seize; /* CLOCK_MONOTONIC, just before the first
				      * PTRACE_INTERRUPT: the stop's start (a
				      * seize stops nothing) */
	bool interrupting;      /* first_seize is set */
	struct timespec last_detach; /* just after the last detach */
	/* ptrace_stop_detach_all runs at SCHED_FIFO 1 where CAP_SYS_NICE is
	 * permitted (in force for that call alone): a thread detached wakes
	 * and would take our CPU before the next PTRACE_DETACH (a throttle's
	 * stop of 10 ms lasted up to 180 ms; 29 threads of a JVM took 0.7-3.3
	 * ms to detach, 0.1-0.4 so; 2000 idle threads 10 ms, 5 so). Not the
	 * seize: there the threads being stopped need the CPUs, and 2000 of
	 * them took 42-253 ms to stop against 14-16. */
	bool realtime;
	/* Tests only: a pause between the threads' PTRACE_SEIZE and their
	 * PTRACE_INTERRUPT, so that a test can make a signal arrive while
	 * they are traced but not stopped (a signal-delivery-stop). */
	unsigned test_seize_gap_ms;
	/* the reads of the registers (arch.h): memory reserved before the
	 * stop, and what the process's notes need once (x86-64's XSAVE
	 * layout); its test_fpregs_each is for tests */
	struct arch_stop_regs regs;
};

void ptrace_stop_init(struct ptrace_stop *s, pid_t pid, int task_dirfd);
void ptrace_stop_free(struct ptrace_stop *s);

/* Before the stop: sizes the thread table for about `threads` threads
 * (the count listed just before; more are still taken, at the old cost)
 * and reserves, touched, the memory their regsets take
 * (arch_stop_regs_reserve: x86-64's XSAVE area for each, at the size
 * CPUID leaf 0xD gives for every feature the CPU has). Nothing is lost
 * when it fails: the stop allocates as it goes. Returns 0 or -1 (ENOMEM). */
int ptrace_stop_reserve(struct ptrace_stop *s, size_t threads);
/* Stops every thread (see above). timeout_ms bounds the wait for the
 * threads to report their stops. cancel: signals (blocked by the caller)
 * that abort the stop with EINTR. Returns 0 or -1 with errno; on -1 every
 * thread has been detached again. */
int ptrace_stop_all(struct ptrace_stop *s, unsigned timeout_ms, const sigset_t *cancel);

/* As ptrace_stop_all, for thread tid alone (and a thread it starts
 * meanwhile): the other threads run on. ESRCH when it is gone or a zombie
 * (a leader that called pthread_exit). */
int ptrace_stop_one(struct ptrace_stop *s, pid_t tid, unsigned timeout_ms, const sigset_t *cancel);

/* Reads every live stopped thread's registers (arch_read_thread: x86-64's
 * NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE), then what the process's notes
 * need once (arch_read_end: x86-64's XSAVE layout). A read that fails
 * with ESRCH drops that thread (it was killed while stopped: SIGKILL ends
 * a ptrace stop); any other failure, or a short regset, fails the call
 * (-1, errno): nothing is ever filled with zeros. */
int ptrace_stop_read_registers(struct ptrace_stop *s);

/* Detaches every attached thread, re-injecting its pending signal. Returns
 * the number of threads that could not be detached for a reason other than
 * having exited (0 normally). Safe to call twice. */
int ptrace_stop_detach_all(struct ptrace_stop *s);

/* The calling thread at SCHED_FIFO 1 where s->realtime asks for it
 * (CAP_SYS_NICE raised for the call alone): true when it was, for
 * ptrace_stop_realtime_leave, which puts it back to SCHED_OTHER (no
 * privilege needed to lower it). A thread already at a real-time
 * priority is left as it is (false): a detach inside such a span does
 * not end it. */
bool ptrace_stop_realtime_enter(const struct ptrace_stop *s);
void ptrace_stop_realtime_leave(bool entered);

/* Threads not dropped, in the order kept (the main thread first when it
 * is alive, then ascending tid). */
size_t ptrace_stop_live(const struct ptrace_stop *s, const struct ptrace_thread **out, size_t max);

/* true when a signal in set is pending for this process (blocked). */
bool ptrace_stop_signal_pending(const sigset_t *set);

#endif
