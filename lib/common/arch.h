/* arch - what differs between the architectures livecore is built for,
 * one concern at a time; every other file of the tree is the same source
 * for all of them. The build picks the directory lib/common/arch/ARCH/
 * (ARCH: the compiler's target, `make ARCH=...`): its arch_machine.h for
 * the constants and types below, its arch.c for the functions. No other
 * file asks which architecture it is built for.
 *
 * Concerns: the ELF machine of the core, where user space ends, a
 * stopped thread's registers and the notes that hold them (ptrace_stop.h,
 * notes.h), and a system call injected into a stopped thread (inject.h).
 *
 * arch_machine.h defines:
 *  - ARCH_NAME: the architecture as people name it ("x86-64");
 *  - ARCH_ELF_MACHINE: e_machine of the cores and notes files;
 *  - ARCH_USER_END: the first address that is not user memory; mappings
 *    /proc/PID/maps lists at or above it are the kernel's (x86-64's
 *    [vsyscall], the gate area), never staged or copied;
 *  - ARCH_SCAN_END: the end of the largest range PAGEMAP_SCAN takes
 *    (TASK_SIZE at its largest; past it, EFAULT);
 *  - struct arch_regs: a thread's general registers as ptrace reads them
 *    (NT_PRSTATUS's pr_reg, ARCH_PRSTATUS_NREGS 64-bit words);
 *  - struct arch_thread_regs: a thread's registers for its notes, regs
 *    (struct arch_regs) and the regsets after it;
 *  - struct arch_stop_regs: what the reads of one stop share;
 *  - struct arch_call_saved: a thread's state as an injected system call
 *    changes it (arch_call_save);
 *  - ARCH_THREAD_NOTES_MAX, ARCH_PROCESS_NOTES_MAX: see arch_thread_notes. */
#ifndef LC_ARCH_H
#define LC_ARCH_H

#include "arch_machine.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- a stopped thread's registers, and the notes that hold them ---- */

/* A note for the core (notes.h writes it): name "CORE" or "LINUX", type
 * NT_*, desc_size bytes at desc (memory of the arch_thread_regs or
 * arch_stop_regs it came from). */
struct arch_note {
	const char *name;
	uint32_t type;
	const void *desc;
	size_t desc_size;
};

void arch_stop_regs_init(struct arch_stop_regs *p);
void arch_stop_regs_free(struct arch_stop_regs *p);
void arch_thread_regs_free(struct arch_thread_regs *t);

/* Before the stop: memory for about `threads` threads' regsets, mapped
 * and touched now. Nothing is lost when it fails: the reads allocate as
 * they go. 0 or -1 (ENOMEM). */
int arch_stop_regs_reserve(struct arch_stop_regs *p, size_t threads);

/* Inside the stop: arch_read_begin, arch_read_thread for each stopped
 * thread, arch_read_end with the first thread read (NULL: none). A read
 * that fails says why in errno: ESRCH, the thread was killed while
 * stopped (SIGKILL ends a ptrace stop); EIO, a regset shorter than its
 * layout; nothing is ever filled with zeros. */
int arch_read_begin(struct arch_stop_regs *p);
int arch_read_thread(struct arch_stop_regs *p, struct arch_thread_regs *t, pid_t tid);
void arch_read_end(struct arch_stop_regs *p, const struct arch_thread_regs *first);

/* The notes after thread t's NT_PRSTATUS, in the kernel's order (at most
 * ARCH_THREAD_NOTES_MAX), and those written once after every thread's
 * (at most ARCH_PROCESS_NOTES_MAX). Return how many. */
size_t arch_thread_notes(const struct arch_thread_regs *t, struct arch_note *out);
size_t arch_process_notes(const struct arch_stop_regs *p, struct arch_note *out);

/* ---- a system call injected into a stopped thread (inject.h) ---- */

/* The system call instruction (x86-64's `syscall`, 0f 05), as looked for
 * in the process's [vdso]: arch_syscall_insn_len bytes at an address that
 * is a multiple of arch_syscall_insn_align. */
extern const unsigned char arch_syscall_insn[];
extern const size_t arch_syscall_insn_len, arch_syscall_insn_align;

/* Thread tid's state as an injected call changes it (tid in a ptrace
 * stop of ours): its general registers, and what else the kernel keeps
 * of the system call it may be in (struct arch_call_saved). -1 with errno
 * from ptrace. */
int arch_call_save(pid_t tid, struct arch_call_saved *saved);

/* Sets tid up to run system call nr(args) at the instruction at pc when
 * it resumes, from saved: the kernel's restart of an interrupted call,
 * which would rewind the injected state, is cancelled, and
 * single-stepping is off. -1 with errno. */
int arch_call_start(pid_t tid, const struct arch_call_saved *saved, uint64_t pc, long nr,
		    const uint64_t args[6]);

/* At the call's entry stop: where the architecture enters the thread's
 * own system call instead (aarch64, a thread stopped on its `svc`), makes
 * it nr(args) and keeps in saved what the kernel changed as the stop
 * ended; elsewhere nothing. -1 with errno from ptrace. */
int arch_call_enter(pid_t tid, struct arch_call_saved *saved, long nr, const uint64_t args[6]);

/* The injected call's return value (a negative errno when the call
 * failed), read at its exit stop. -1 with errno from ptrace. */
int arch_call_result(pid_t tid, int64_t *ret);

/* Puts saved back, with the fix-up the kernel would have made at the end
 * of the stop: a thread that was inside an interrupted system call
 * re-enters it (or calls restart_syscall), so that a read, nanosleep or
 * futex interrupted by the stop does not return -ERESTARTSYS to user
 * space. -1 with errno from ptrace. */
int arch_call_restore(pid_t tid, const struct arch_call_saved *saved);

#endif
