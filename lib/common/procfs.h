/* procfs - parsers for the /proc files livecore reads: stat, status, maps,
 * smaps, coredump_filter.  Parsers work on text already read (so they can be
 * fuzzed and unit-tested); they return -1 with errno = EINVAL on a malformed
 * line and never print. */
#ifndef LC_PROCFS_H
#define LC_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procfs_stat {
	pid_t pid;
	char comm[64];          /* the kernel's TASK_COMM_LEN is 16; room to spare */
	char state;             /* R S D T t Z X I ... */
	pid_t ppid, pgrp, session;
	unsigned long flags;    /* PF_* ; PF_KTHREAD (0x00200000) marks a kernel thread */
	long nice;
	long num_threads;
	uint64_t utime, stime, cutime, cstime; /* clock ticks */
	uint64_t starttime;     /* clock ticks since boot: with pid, the identity */
	/* field 31, "signal": the task's own pending signals, as a decimal
	 * of bits 0-30 only (signals 1-31: the kernel masks the rest) */
	uint64_t signal;
	bool have_signal;
	/* field 38: the signal its parent gets when it dies (0: none, as for
	 * lc-freeze's clone, snapshot.h) */
	int exit_signal;
	bool have_exit_signal;
};

/* Parses one /proc/PID/stat (or task/TID/stat) line. comm may hold spaces
 * and parentheses: it ends at the last ')'. */
int procfs_parse_stat(const char *text, struct procfs_stat *out);

struct procfs_status {
	uid_t uid[4];           /* real, effective, saved, fs */
	gid_t gid[4];
	int seccomp;            /* 0 none, 1 strict, 2 filter; -1 if absent */
	pid_t tracer_pid;
	pid_t nspid_inner;      /* last NSpid: the pid in the innermost namespace */
	bool is_zombie;         /* State: Z or X */
};
int procfs_parse_status(const char *text, struct procfs_status *out);

/* One line of /proc/PID/maps. path points into the parsed line (it is the
 * rest of the line after the padding, kernel escapes kept: "\012" stays). */
struct procfs_map {
	uint64_t start, end;
	char perms[5];
	uint64_t offset;
	unsigned dev_major, dev_minor;
	uint64_t inode;
	const char *path;       /* "" for an anonymous mapping */
};
/* line must be NUL-terminated without its newline. */
int procfs_parse_maps_line(const char *line, struct procfs_map *out);

/* VmFlags mnemonics livecore decides by (fs/proc/task_mmu.c show_smap_vma_flags) */
enum {
	VMF_READ     = 1u << 0,  /* rd */
	VMF_WRITE    = 1u << 1,  /* wr */
	VMF_EXEC     = 1u << 2,  /* ex */
	VMF_SHARED   = 1u << 3,  /* sh */
	VMF_IO       = 1u << 4,  /* io */
	VMF_PFNMAP   = 1u << 5,  /* pf */
	VMF_DONTDUMP = 1u << 6,  /* dd */
	VMF_HUGETLB  = 1u << 7,  /* ht */
	VMF_UFFD_WP  = 1u << 8,  /* uw */
	VMF_SOFTDIRTY= 1u << 9,  /* sd */
	VMF_MAYREAD  = 1u << 10, /* mr */
};
/* Parses a space-separated VmFlags value ("rd wr mr mw me ac sd"); unknown
 * mnemonics are ignored (new kernels add them). */
unsigned procfs_parse_vmflags(const char *text);

/* One VMA of /proc/PID/smaps: the maps line and the fields livecore uses. */
struct procfs_smaps_vma {
	struct procfs_map map;
	uint64_t rss_kb, anonymous_kb, swap_kb, anon_huge_kb;
	unsigned vmflags;
	char vmflags_text[160];  /* as the kernel wrote it, spaces and all */
	bool has_vmflags;
};
/* Iterates over smaps text held in a modifiable buffer (lines are cut in
 * place). *cursor starts at the buffer; returns 1 with *out filled, 0 at the
 * end, -1 (EINVAL) on a malformed block. */
int procfs_smaps_next(char **cursor, struct procfs_smaps_vma *out);

/* "00000033\n" -> 0x33 */
int procfs_parse_coredump_filter(const char *text, unsigned long *out);

/* Escapes as the kernel's maps file does? No: livecore keeps the kernel's
 * escaped text verbatim. This unescapes "\012"-style octal escapes into buf
 * (for opening the file or for NT_FILE, which holds the raw name). */
int procfs_unescape_path(const char *escaped, char *buf, size_t buflen);

/* Reads /proc/PID/stat through an open /proc/PID directory fd. */
int procfs_read_stat_at(int proc_dirfd, struct procfs_stat *out);
int procfs_read_status_at(int proc_dirfd, struct procfs_status *out);

#endif
