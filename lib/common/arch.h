/* arch - what differs between the architectures livecore is built for,
 * one concern at a time; every other file of the tree is the same source
 * for all of them. The build picks the directory lib/common/arch/ARCH/
 * (ARCH: the compiler's target, `make ARCH=...`): its arch_machine.h for
 * the constants and types below, its arch.c for the functions. No other
 * file asks which architecture it is built for.
 *
 * Concerns so far: the ELF machine of the core, where user space ends,
 * and a system call injected into a stopped thread (inject.h). The
 * registers and regsets written as notes are x86-64's in ptrace_stop.h
 * and notes.h still (issue 16: aarch64).
 *
 * arch_machine.h defines:
 *  - ARCH_NAME: the architecture as people name it ("x86-64");
 *  - ARCH_ELF_MACHINE: e_machine of the cores and notes files;
 *  - ARCH_USER_END: the first address that is not user memory; mappings
 *    /proc/PID/maps lists at or above it are the kernel's (x86-64's
 *    [vsyscall], the gate area), never staged or copied;
 *  - struct arch_regs: a thread's general registers as ptrace reads them
 *    (NT_PRSTATUS's pr_reg). */
#ifndef LC_ARCH_H
#define LC_ARCH_H

#include "arch_machine.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The system call instruction (x86-64's `syscall`, 0f 05), as looked for
 * in the process's [vdso]: arch_syscall_insn_len bytes at an address that
 * is a multiple of arch_syscall_insn_align. */
extern const unsigned char arch_syscall_insn[];
extern const size_t arch_syscall_insn_len, arch_syscall_insn_align;

/* Thread tid's general registers (tid in a ptrace stop of ours). -1 with
 * errno from ptrace. */
int arch_regs_get(pid_t tid, struct arch_regs *r);

/* Sets tid up to run system call nr(args) at the instruction at pc when
 * it resumes, from saved (its registers, arch_regs_get): the kernel's
 * restart of an interrupted call, which would rewind the injected state,
 * is cancelled, and single-stepping is off. -1 with errno. */
int arch_call_start(pid_t tid, const struct arch_regs *saved, uint64_t pc, long nr,
		    const uint64_t args[6]);

/* The injected call's return value (a negative errno when the call
 * failed), read at its exit stop. -1 with errno from ptrace. */
int arch_call_result(pid_t tid, int64_t *ret);

/* Puts saved back, with the fix-up the kernel would have made at the end
 * of the stop: a thread that was inside an interrupted system call
 * re-enters it (or calls restart_syscall), so that a read, nanosleep or
 * futex interrupted by the stop does not return -ERESTARTSYS to user
 * space. -1 with errno from ptrace. */
int arch_call_restore(pid_t tid, const struct arch_regs *saved);

#endif
