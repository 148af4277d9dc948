/* inject - run one system call inside another process, through ptrace, in
 * a thread that is already in a ptrace stop (ptrace_stop.h): what the uffd
 * tracker needs to create a userfaultfd in the target and to close it
 * again (../shared/notes/uffd-tracking.md).
 *
 * The thread's registers are saved, its program counter is pointed at a
 * system call instruction found in the target's [vdso] through
 * /proc/PID/mem (arch.h: x86-64's `syscall`), which changes nothing in
 * the target, the call's number and arguments are loaded with the
 * kernel's restart of an interrupted call cancelled (so that it does not
 * rewind the injected state when the stop ends), and PTRACE_SYSCALL runs
 * it from its entry stop to its exit stop. The saved registers are then
 * put back with the fix-up the kernel would have made to them
 * (arch_call_restore): a thread stopped inside an interrupted system call
 * re-enters it, or calls restart_syscall. Without that an interrupted
 * read, nanosleep or futex would return -512 to user space. The thread is
 * left in its syscall-exit stop, ready for PTRACE_DETACH.
 *
 * A process under seccomp: its filter would see the injected call (and a
 * filter that kills on userfaultfd would kill it). With
 * inject_suspend_seccomp(true) the thread's filter is suspended for the
 * call, as CRIU does for its parasite: PTRACE_O_SUSPEND_SECCOMP, which
 * the kernel grants a tracer that holds CAP_SYS_ADMIN in the initial user
 * namespace and is under no filter itself (kernel/ptrace.c); the
 * capability is in force for that PTRACE_SETOPTIONS alone, and the option
 * is cleared again before the thread runs its own code. */
#ifndef LC_INJECT_H
#define LC_INJECT_H

#include "ptrace_stop.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The address of a system call instruction (arch.h) in the target's
 * [vdso]: -1 with ENOENT when there is no vdso or no such bytes in it. */
int inject_find_syscall(int proc_dirfd, int mem_fd, uint64_t *addr);

/* Runs syscall nr(args) in thread t (stopped, attached by s), returns the
 * kernel's return value in *ret (a negative errno on failure of the call
 * itself). A signal that arrives meanwhile is kept in t->pending_signal
 * for the detach. -1 with errno when ptrace fails (ESRCH: the thread died). */
int inject_syscall(struct ptrace_thread *t, uint64_t syscall_addr, long nr, const uint64_t args[6],
		   int64_t *ret);

/* Whether inject_syscall suspends the thread's seccomp filter around the
 * call (the caller holds CAP_SYS_ADMIN permitted: see above). Off by
 * default. */
void inject_suspend_seccomp(bool on);

/* inject_syscall of clone(flags, 0, ...) (no new stack: the child never
 * runs). The thread's ptrace options gain PTRACE_O_EXITKILL for the call
 * alone, so that the child, attached to us from birth by
 * PTRACE_O_TRACECLONE (flags without SIGCHLD as the exit signal: a clone
 * event), inherits it and is killed if we die before it ever returns to
 * user space; the thread itself would be killed only if we died inside
 * the call. *ret: the child's pid in the target's pid namespace (or a
 * negative errno); *child: its tid as we see it (PTRACE_GETEVENTMSG), 0
 * when no clone event came. The child's first stop is left to wait for. */
int inject_clone(struct ptrace_thread *t, uint64_t syscall_addr, uint64_t flags, int64_t *ret,
		 pid_t *child);

/* *insn: an address found before the stop, checked again now that the
 * process is stopped (it must still hold the instruction), else looked for again
 * (0: not known). -1 with ENOENT when there is none. */
int inject_check_syscall(int proc_dirfd, int mem_fd, uint64_t *insn);

/* The ptrace stop for an injection outside lc-freeze's own stop: every
 * thread (ptrace_stop_all), SIGINT and SIGTERM held off (and delivered
 * after the release), SIGCHLD blocked for the waits. A cancellable stop
 * gives up (EINTR) when SIGINT or SIGTERM arrives while it waits for the
 * threads (the caller is being interrupted); a release is not, since it
 * is what an interrupted caller does on its way out, with that signal
 * still pending. */
#define INJECT_STOP_TIMEOUT_MS 2000u
struct inject_hold {
	sigset_t cancel, old;
	struct ptrace_stop ps;
};
int inject_hold_process(struct inject_hold *h, pid_t pid, int task_dirfd, bool cancellable);
/* The same for thread tid of process pid alone (ptrace_stop_one): for a
 * call any thread may make, the other threads run on. */
int inject_hold_thread(struct inject_hold *h, pid_t pid, pid_t tid, int task_dirfd, bool cancellable);
/* Detaches every thread (*failed: how many could not be), the signal mask
 * as it was; returns the stop's length in microseconds. */
int64_t inject_release(struct inject_hold *h, int *failed);
/* inject_syscall in the best thread of s (inject_pick_thread) at insn,
 * checked with inject_check_syscall. */
int inject_at(struct ptrace_stop *s, int proc_dirfd, int mem_fd, uint64_t insn, long nr,
	      const uint64_t args[6], int64_t *ret);

/* The live stopped thread best suited to carry an injected call: one not
 * stopped in a signal's delivery. NULL when none is left. */
struct ptrace_thread *inject_pick_thread(struct ptrace_stop *s);

#endif
