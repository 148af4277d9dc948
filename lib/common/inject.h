/* inject - run one system call inside another process, through ptrace, in
 * a thread that is already in a ptrace stop (ptrace_stop.h): what the uffd
 * tracker needs to create a userfaultfd in the target and to close it
 * again (../shared/notes/uffd-tracking.md).
 *
 * The thread's registers are saved, rip is pointed at a `syscall`
 * instruction (0f 05) found in the target's [vdso] through /proc/PID/mem,
 * which changes nothing in the target, the syscall number and arguments
 * are loaded with orig_rax = -1 (so that the kernel does not apply its
 * syscall-restart fix-up to the injected state when the stop ends), and
 * PTRACE_SYSCALL runs it from its entry stop to its exit stop. The saved
 * registers are then put back with the fix-up the kernel would have done
 * to them: a thread stopped inside an interrupted system call (rax
 * -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND) gets rax = orig_rax and
 * rip - 2, so that it re-enters the call; -ERESTART_RESTARTBLOCK gets
 * restart_syscall. Without that an interrupted read, nanosleep or futex
 * would return -512 to user space. The thread is left in its
 * syscall-exit stop, ready for PTRACE_DETACH.
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

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The address of a `syscall` instruction in the target's [vdso]: -1 with
 * ENOENT when there is no vdso or no such bytes in it. */
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

/* The live stopped thread best suited to carry an injected call: one not
 * stopped in a signal's delivery. NULL when none is left. */
struct ptrace_thread *inject_pick_thread(struct ptrace_stop *s);

#endif
