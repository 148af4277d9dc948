/* arch_machine.h for aarch64 (arch.h). */
#ifndef LC_ARCH_MACHINE_H
#define LC_ARCH_MACHINE_H

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/user.h>

#define ARCH_NAME "aarch64"
#define ARCH_ELF_MACHINE EM_AARCH64
/* TASK_SIZE_64 at its largest (52-bit virtual addresses; a 48-bit kernel
 * never maps user memory that high). arm64 has no gate area: [vdso] and
 * [vvar] are user mappings, dumped as the kernel's own core dumps them. */
#define ARCH_USER_END (1ull << 52)
/* TASK_SIZE_64: 1 << 48, or 1 << 52 on hardware with 52-bit addresses;
 * no mapping ends past the smaller where it is the smaller */
#define ARCH_SCAN_END (1ull << 52)

/* struct user_pt_regs: x0-x30, sp, pc, pstate */
struct arch_regs {
	struct user_regs_struct r;
};

/* What an injected call changes: the general registers; in_place: the
 * thread was stopped on an `svc` and the call is made there (arch.c). */
struct arch_call_saved {
	struct arch_regs regs;
	bool in_place;
};

/* NT_PRSTATUS's pr_reg: struct user_pt_regs, 34 registers */
#define ARCH_PRSTATUS_NREGS 34u

/* The register notes after each thread's NT_PRSTATUS, as the kernel
 * writes them (fill_thread_core_info walks aarch64_regsets,
 * arch/arm64/kernel/ptrace.c): NT_PRFPREG, then every regset of the
 * table that this kernel and CPU have (regs.c lists them in the table's
 * order); nothing once for the process. */
#define ARCH_THREAD_NOTES_MAX 18u
#define ARCH_PROCESS_NOTES_MAX 0u

/* One regset of a thread: where its bytes lie in data, and its type. */
struct arch_regset {
	uint32_t type;
	uint32_t size;
	size_t offset;
};

/* One thread's registers (arch_read_thread). */
struct arch_thread_regs {
	struct arch_regs regs;  /* NT_PRSTATUS */
	/* the regsets after it, in the kernel's order; their bytes in data
	 * (malloc'd) */
	struct arch_regset sets[ARCH_THREAD_NOTES_MAX];
	size_t n_sets;
	unsigned char *data;
};

/* What the reads of a stop share. */
struct arch_stop_regs {
	/* tests only (x86-64's NT_PRFPREG shortcut); no meaning here */
	bool test_fpregs_each;
	/* between arch_read_begin and arch_read_end: every regset is read
	 * into it first, then copied at its exact size */
	unsigned char *scratch;
	/* the regsets of the table this kernel answers for the first thread
	 * (the others' are asked only of those) */
	bool known;
	uint32_t present[ARCH_THREAD_NOTES_MAX];
	size_t n_present;
};

#endif
