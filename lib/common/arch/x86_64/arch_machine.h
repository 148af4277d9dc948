/* arch_machine.h for x86-64 (arch.h). */
#ifndef LC_ARCH_MACHINE_H
#define LC_ARCH_MACHINE_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>

#define ARCH_NAME "x86-64"
#define ARCH_ELF_MACHINE EM_X86_64
/* TASK_SIZE with 4-level page tables (plus the guard page); [vsyscall],
 * the gate area at 0xffffffffff600000, lies above it. A 5-level kernel
 * maps memory above it only for a process that asks (an mmap hint past 47
 * bits): such mappings are taken for the kernel's and not dumped, as
 * before this file. */
#define ARCH_USER_END 0x800000000000ull
/* TASK_SIZE: 1 << 47 less the guard page */
#define ARCH_SCAN_END 0x7ffffffff000ull

struct arch_regs {
	struct user_regs_struct r;
};

/* what an injected call changes: the general registers (orig_rax says
 * whether the thread was in a system call) */
struct arch_call_saved {
	struct arch_regs regs;
};

/* NT_PRSTATUS's pr_reg: struct user_regs_struct, 27 registers */
#define ARCH_PRSTATUS_NREGS 27u

/* The register notes after each thread's NT_PRSTATUS, as the kernel
 * writes them (fill_thread_core_info, the x86_64 regsets): NT_PRFPREG,
 * NT_X86_XSTATE; and, once for the process after every thread's,
 * NT_X86_XSAVE_LAYOUT (Linux 6.12; regs.c). */
#define ARCH_THREAD_NOTES_MAX 2u
#define ARCH_PROCESS_NOTES_MAX 1u

#define ARCH_FPREGS_SIZE 512u         /* struct user_i387_struct (fxsave) */
#define ARCH_XFEATURES_MAX 62u        /* XSAVE components 2..63 */

/* struct x86_xfeat_component (arch/x86/include/uapi/asm/elf.h): one
 * record of NT_X86_XSAVE_LAYOUT, where one XSAVE component lies in
 * NT_X86_XSTATE. 16 bytes. */
struct arch_xfeature {
	uint32_t type;          /* the component's XCR0 bit, 2 or more */
	uint32_t size, offset;  /* bytes, in the standard (non-compacted) format */
	uint32_t flags;         /* 0 */
};

/* One thread's registers (arch_read_thread). */
struct arch_thread_regs {
	struct arch_regs regs;                  /* NT_PRSTATUS */
	unsigned char fpregs[ARCH_FPREGS_SIZE]; /* NT_PRFPREG */
	unsigned char *xstate;  /* NT_X86_XSTATE, xstate_size bytes as the kernel
				 * reports: malloc'd, or a slot of the pool
				 * (xstate_pooled) */
	size_t xstate_size;
	bool xstate_pooled;
};

/* What the reads of a stop share. */
struct arch_stop_regs {
	/* tests only: every thread's NT_PRFPREG read, never taken from its
	 * XSAVE area (two dumps of a stopped process must agree) */
	bool test_fpregs_each;
	/* arch_stop_regs_reserve: memory touched before the stop, so that
	 * inside it thousands of threads' XSAVE areas (11 KiB each with AMX)
	 * cost no page fault (a first touch is slow: notes/vm-memory.md) */
	unsigned char *pool;
	size_t pool_slot, pool_slots, pool_used, pool_bytes;
	/* between arch_read_begin and arch_read_end */
	unsigned char *scratch;
	size_t known;           /* NT_X86_XSTATE's size, from the first thread */
	bool fp_checked, fp_from_xstate;
	unsigned char fp_tail[ARCH_FPREGS_SIZE - 464u];
	/* arch_read_end: the layout of the XSAVE area the kernel's own core
	 * of this process would describe in its NT_X86_XSAVE_LAYOUT note,
	 * when it would write one (has_xsave_layout; n_xsave_layout may then
	 * be 0) */
	bool has_xsave_layout;
	size_t n_xsave_layout;
	struct arch_xfeature xsave_layout[ARCH_XFEATURES_MAX];
};

#endif
