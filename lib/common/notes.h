/* notes - the ELF notes of a Linux core, and the notes file that
 * lc-freeze writes and lc-elfwrite reads (lc-notes(5)).
 *
 * As in the kernel's fs/binfmt_elf.c (fill_note_info, writenote): each note
 * is a small struct with its exact on-disk layout; a list of notes is sized
 * first (notes_size) and then written in one pass (notes_write_file). The
 * register notes after each thread's PRSTATUS, and those the kernel
 * writes once after every thread's, are the architecture's (arch.h:
 * x86-64's PRFPREG and X86_XSTATE, then X86_XSAVE_LAYOUT).
 *
 * The notes file is an ELF64 little-endian ET_CORE file for the
 * architecture's e_machine (EM_X86_64) with one program header, a PT_NOTE
 * at offset 120, and nothing else: the ELF header (64 bytes), the program
 * header (56 bytes), the notes. */
#ifndef LC_NOTES_H
#define LC_NOTES_H

#include "arch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NOTES_NT_PRSTATUS   1u
#define NOTES_NT_PRPSINFO   3u
#define NOTES_NT_AUXV       6u
#define NOTES_NT_SIGINFO    0x53494749u /* "SIGI" */
#define NOTES_NT_FILE       0x46494c45u /* "FILE" */

#define NOTES_SIGINFO_SIZE  128u     /* siginfo_t */
#define NOTES_NREGS         ARCH_PRSTATUS_NREGS /* pr_reg: struct arch_regs */
#define NOTES_FILE_OFFSET   120u     /* where the notes start in the notes file */

/* struct timeval of a 64-bit kernel */
struct notes_timeval {
	int64_t sec, usec;
};

/* struct elf_prstatus (include/linux/elfcore.h): 112 bytes, pr_reg
 * (ARCH_PRSTATUS_NREGS words), pr_fpvalid; x86-64's 336 bytes. */
struct notes_prstatus {
	int32_t si_signo, si_code, si_errno;  /* struct elf_siginfo pr_info */
	int16_t cursig;
	uint16_t pad0;
	uint64_t sigpend;                     /* this thread's pending set, word 0 */
	uint64_t sighold;                     /* this thread's blocked set, word 0 */
	int32_t pid, ppid, pgrp, sid;         /* in the target's pid namespace */
	struct notes_timeval utime, stime, cutime, cstime;
	/* struct arch_regs: x86-64's r15 r14 r13 r12 rbp rbx r11 r10 r9 r8
	 * rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base
	 * ds es fs gs */
	uint64_t reg[NOTES_NREGS];
	int32_t fpvalid;
	uint32_t pad1;
};

/* struct elf_prpsinfo of a 64-bit kernel: 136 bytes. */
struct notes_prpsinfo {
	char state;           /* numeric: 0 R, 1 S, 2 D, 3 T, 4 Z, 5 W */
	char sname;           /* "RSDTZW"[state] */
	char zomb;
	char nice;
	uint32_t pad0;
	uint64_t flag;        /* task flags (PF_*), /proc/PID/stat field 9 */
	uint32_t uid, gid;    /* real */
	int32_t pid, ppid, pgrp, sid;
	char fname[16];       /* comm, NUL-padded */
	char psargs[80];      /* cmdline, NULs as spaces, NUL-terminated */
};

/* One thread's notes: PRSTATUS (with its registers), then its register
 * notes (arch_thread_notes), whose descriptors are the caller's memory. */
struct notes_thread {
	struct notes_prstatus prstatus;
	struct arch_note regsets[ARCH_THREAD_NOTES_MAX];
	size_t n_regsets;
};

/* The whole process: threads[0] is the thread written first (with the
 * process-wide notes after its PRSTATUS). Buffers are the caller's. */
struct notes_process {
	const struct notes_thread *threads;
	size_t n_threads;
	struct notes_prpsinfo psinfo;
	unsigned char siginfo[NOTES_SIGINFO_SIZE];
	const void *auxv;
	size_t auxv_size;
	const void *file;     /* an NT_FILE descriptor built by notes_file_* */
	size_t file_size;
	/* written once, after every thread's notes (arch_process_notes:
	 * x86-64's NT_X86_XSAVE_LAYOUT where the kernel would write one) */
	struct arch_note extra[ARCH_PROCESS_NOTES_MAX];
	size_t n_extra;
};

/* One note as written: namesz = strlen(name) + 1, name and descriptor each
 * padded to 4 bytes. */
struct notes_note {
	const char *name;
	uint32_t type;
	const void *desc;
	size_t desc_size;
};

/* Fills list (at most max) with the notes of p in the kernel's order:
 * threads[0]'s PRSTATUS, PRPSINFO, SIGINFO, AUXV, FILE, its register
 * notes (x86-64: PRFPREG, XSTATE); then every other thread's PRSTATUS and
 * register notes; then p's extra notes (x86-64: X86_XSAVE_LAYOUT, where
 * the kernel writes it). Returns the count, or -1 (ENOSPC) when max is
 * too small: notes_list_count(p) entries (x86-64: 4 + 3n for n threads,
 * one more with the layout). */
long notes_list(const struct notes_process *p, struct notes_note *list, size_t max);
size_t notes_list_count(const struct notes_process *p);

/* Bytes one note takes in the segment; bytes a list takes. */
size_t notes_note_size(const struct notes_note *n);
size_t notes_size(const struct notes_note *list, size_t n);

/* Writes the notes into buf (notes_size bytes). */
void notes_encode(const struct notes_note *list, size_t n, unsigned char *buf);

/* Writes a whole notes file to fd (positioned at 0): ELF header, the one
 * PT_NOTE program header, the notes. -1 with errno on a write failure or
 * ENOMEM. */
int notes_write_file(int fd, const struct notes_note *list, size_t n);

/* NT_FILE: count, page size (4096), count triples (start, end, file offset
 * in pages), then count NUL-terminated names. Built in two steps, the sizes
 * first, like the kernel's fill_files_note. */
struct notes_file_entry {
	uint64_t start, end;
	uint64_t offset;      /* file offset in bytes */
	const char *name;     /* the raw name (unescaped) */
};
size_t notes_file_size(const struct notes_file_entry *e, size_t n);
/* buf holds notes_file_size bytes. */
void notes_file_encode(const struct notes_file_entry *e, size_t n, unsigned char *buf);

/* "RSDTZW" index for a /proc/PID/stat state letter (t and T both 3;
 * anything else: 0, running). */
int notes_state_number(char stat_state);

#endif
