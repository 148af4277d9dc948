/* arch.h for aarch64: a system call injected into a stopped thread. */
#include "arch.h"

#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#ifndef NT_ARM_SYSTEM_CALL
#define NT_ARM_SYSTEM_CALL 0x404
#endif

/* svc #0, little-endian */
const unsigned char arch_syscall_insn[] = { 0x01, 0x00, 0x00, 0xd4 };
const size_t arch_syscall_insn_len = sizeof arch_syscall_insn, arch_syscall_insn_align = 4;

static int regset(int request, pid_t tid, unsigned type, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	if (ptrace(request, tid, (void *)(unsigned long)type, &iov) < 0)
		return -1;
	if (iov.iov_len != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static int get_regs(pid_t tid, struct user_regs_struct *r)
{
	return regset(PTRACE_GETREGSET, tid, NT_PRSTATUS, r, sizeof *r);
}

static int set_regs(pid_t tid, const struct user_regs_struct *r)
{
	return regset(PTRACE_SETREGSET, tid, NT_PRSTATUS, (void *)r, sizeof *r);
}

static int set_syscallno(pid_t tid, int nr)
{
	return regset(PTRACE_SETREGSET, tid, NT_ARM_SYSTEM_CALL, &nr, sizeof nr);
}

/* Where arm64 differs from x86-64: the kernel makes its restart fix-up
 * of an interrupted system call *before* the thread's signal stop
 * (arch/arm64/kernel/signal.c, do_signal): pc is already back on the
 * `svc`, x0 is the call's first argument again, and the return value
 * that said how to restart is gone. Only -ERESTART_RESTARTBLOCK (a
 * relative nanosleep, a futex wait with a timeout) needs more, and the
 * kernel does it as the stop ends, if pc is still on the `svc`: x8 =
 * __NR_restart_syscall. So a thread stopped on an `svc` (in such a call,
 * or about to make one) is never moved: it resumes as it is, the kernel
 * makes its fix-up, the `svc` enters, and the injected call replaces that
 * call at its entry stop (arch_call_enter); at the exit stop the thread
 * goes back before the `svc` with the kernel's x8, and makes its own call
 * (or restart_syscall) when it runs again. A thread stopped anywhere else
 * is in no call: it is sent to the `svc` at pc. */
static bool at_svc(pid_t tid, uint64_t pc)
{
	unsigned long word;

	errno = 0;
	word = (unsigned long)ptrace(PTRACE_PEEKTEXT, tid, (void *)pc, 0);
	if (errno)
		return false;
	return !memcmp(&word, arch_syscall_insn, arch_syscall_insn_len);
}

int arch_call_save(pid_t tid, struct arch_call_saved *saved)
{
	if (get_regs(tid, &saved->regs.r) < 0)
		return -1;
	saved->in_place = !(saved->regs.r.pc & 3) && at_svc(tid, saved->regs.r.pc);
	return 0;
}

int arch_call_start(pid_t tid, const struct arch_call_saved *saved, uint64_t pc, long nr,
		    const uint64_t args[6])
{
	struct user_regs_struct regs = saved->regs.r;

	if (saved->in_place)
		/* the thread's own `svc` enters; arch_call_enter changes
		 * the call */
		return 0;
	regs.pc = pc;
	regs.regs[8] = (unsigned long long)nr;
	for (int i = 0; i < 6; i++)
		regs.regs[i] = args[i];
	if (set_regs(tid, &regs) < 0)
		return -1;
	/* in no call: nothing for the kernel to restart as the stop ends */
	return set_syscallno(tid, -1);
}

int arch_call_enter(pid_t tid, struct arch_call_saved *saved, long nr, const uint64_t args[6])
{
	struct user_regs_struct regs;

	if (!saved->in_place)
		return 0;
	if (get_regs(tid, &regs) < 0)
		return -1;
	/* what the kernel made of the thread's own call as the stop ended
	 * (x8: restart_syscall, or the call again) */
	saved->regs.r.regs[8] = regs.regs[8];
	for (int i = 0; i < 6; i++)
		regs.regs[i] = args[i];
	/* x7 reads as the stop's direction here and a write to it is
	 * dropped (report_syscall): the saved x7 stays the thread's */
	if (set_regs(tid, &regs) < 0)
		return -1;
	return set_syscallno(tid, (int)nr);
}

int arch_call_result(pid_t tid, int64_t *ret)
{
	struct user_regs_struct regs;

	if (get_regs(tid, &regs) < 0)
		return -1;
	*ret = (int64_t)regs.regs[0];
	return 0;
}

int arch_call_restore(pid_t tid, const struct arch_call_saved *saved)
{
	/* saved: the thread before its `svc` (in_place, x8 as the kernel
	 * left it) or wherever it was; no call of ours left to restart */
	if (set_regs(tid, &saved->regs.r) < 0)
		return -1;
	return set_syscallno(tid, -1);
}
