/* arch_machine.h for x86-64 (arch.h). */
#ifndef LC_ARCH_MACHINE_H
#define LC_ARCH_MACHINE_H

#include <elf.h>
#include <sys/user.h>

#define ARCH_NAME "x86-64"
#define ARCH_ELF_MACHINE EM_X86_64
/* TASK_SIZE with 4-level page tables (plus the guard page); [vsyscall],
 * the gate area at 0xffffffffff600000, lies above it. A 5-level kernel
 * maps memory above it only for a process that asks (an mmap hint past 47
 * bits): such mappings are taken for the kernel's and not dumped, as
 * before this file. */
#define ARCH_USER_END 0x800000000000ull

struct arch_regs {
	struct user_regs_struct r;
};

#endif
