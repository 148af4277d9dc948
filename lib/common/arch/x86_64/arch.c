/* arch.h for x86-64. */
#include "arch.h"

#include <errno.h>
#include <stdint.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>

/* include/linux/errno.h: never seen by user space, but left in rax by a
 * system call interrupted by the stop */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516
#define X86_EFLAGS_TF 0x100

const unsigned char arch_syscall_insn[] = { 0x0f, 0x05 };
const size_t arch_syscall_insn_len = sizeof arch_syscall_insn, arch_syscall_insn_align = 1;

int arch_call_save(pid_t tid, struct arch_call_saved *saved)
{
	return ptrace(PTRACE_GETREGS, tid, 0, &saved->regs.r) < 0 ? -1 : 0;
}

int arch_call_start(pid_t tid, const struct arch_call_saved *saved, uint64_t pc, long nr,
		    const uint64_t args[6])
{
	struct user_regs_struct regs = saved->regs.r;

	regs.rip = pc;
	regs.rax = (unsigned long long)nr;
	/* not in a system call: the kernel applies no restart fix-up to the
	 * injected state when the stop ends */
	regs.orig_rax = (unsigned long long)-1;
	regs.rdi = args[0];
	regs.rsi = args[1];
	regs.rdx = args[2];
	regs.r10 = args[3];
	regs.r8 = args[4];
	regs.r9 = args[5];
	regs.eflags &= ~(unsigned long long)X86_EFLAGS_TF;
	return ptrace(PTRACE_SETREGS, tid, 0, &regs) < 0 ? -1 : 0;
}

int arch_call_enter(pid_t tid, struct arch_call_saved *saved, long nr, const uint64_t args[6])
{
	/* arch_call_start set the call up: x86-64 keeps the return value
	 * that says how to restart the thread's own call (rax) through the
	 * stop, and arch_call_restore makes the fix-up */
	(void)tid;
	(void)saved;
	(void)nr;
	(void)args;
	return 0;
}

int arch_call_result(pid_t tid, int64_t *ret)
{
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0)
		return -1;
	*ret = (int64_t)regs.rax;
	return 0;
}

int arch_call_restore(pid_t tid, const struct arch_call_saved *saved)
{
	struct user_regs_struct regs = saved->regs.r;

	/* what the kernel does on the way out of a stop inside a system
	 * call (arch/x86/kernel/signal.c, arch_do_signal_or_restart): rax
	 * back to the call's number and rip to the `syscall` again */
	if ((int64_t)regs.orig_rax >= 0) {
		switch ((int64_t)regs.rax) {
		case -ERESTARTSYS:
		case -ERESTARTNOINTR:
		case -ERESTARTNOHAND:
			regs.rax = regs.orig_rax;
			regs.rip -= 2;
			break;
		case -ERESTART_RESTARTBLOCK:
			regs.rax = SYS_restart_syscall;
			regs.rip -= 2;
			break;
		}
	}
	regs.orig_rax = (unsigned long long)-1;
	return ptrace(PTRACE_SETREGS, tid, 0, &regs) < 0 ? -1 : 0;
}
