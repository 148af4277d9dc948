/* dumprule - which VMAs a core holds, and how much of each: the kernel's
 * rules (fs/coredump.c vma_dump_size, always_dump_vma, dump_vma_snapshot)
 * restated over what /proc shows an outside process. */
#ifndef LC_DUMPRULE_H
#define LC_DUMPRULE_H

#include "procfs.h"

#include <stdbool.h>
#include <stdint.h>

/* coredump_filter bits (include/linux/sched/coredump.h MMF_DUMP_*) */
enum {
	DUMPRULE_ANON_PRIVATE    = 1u << 0,
	DUMPRULE_ANON_SHARED     = 1u << 1,
	DUMPRULE_MAPPED_PRIVATE  = 1u << 2,
	DUMPRULE_MAPPED_SHARED   = 1u << 3,
	DUMPRULE_ELF_HEADERS     = 1u << 4,
	DUMPRULE_HUGETLB_PRIVATE = 1u << 5,
	DUMPRULE_HUGETLB_SHARED  = 1u << 6,
	DUMPRULE_DAX_PRIVATE     = 1u << 7,
	DUMPRULE_DAX_SHARED      = 1u << 8,
};
#define DUMPRULE_FILTER_MASK 0x1ffu

struct dumprule_vma {
	const struct procfs_map *map;
	unsigned vmflags;            /* VMF_* from smaps */
	/* The kernel asks whether the VMA has an anon_vma (it was written
	 * privately). From outside, pages that are Anonymous or swapped in
	 * smaps are the evidence; a range written and then fully discarded
	 * with MADV_DONTNEED keeps its anon_vma but shows none (documented). */
	bool has_private_pages;
	/* For a readable file mapping at offset 0: does it start with the ELF
	 * magic (the kernel reads the first 4 bytes since 6.x), or is the file
	 * executable? Ask dumprule_wants_elf_check first. */
	bool elf_header;
};

struct dumprule_decision {
	const char *decision;        /* "dump" or "skip:REASON" (static string) */
	uint64_t dump_size;          /* bytes from the VMA's start */
};

/* Special mappings the kernel always dumps (vdso, vvar, vsyscall, ...):
 * names in brackets other than [heap], [stack] and [anon:...]. */
bool dumprule_is_special(const char *path);

/* Whether decide() will look at elf_header for this VMA. */
bool dumprule_wants_elf_check(const struct dumprule_vma *v, unsigned long filter);

/* all: "-f all": every readable VMA whole, dontdump and filter ignored
 * (never VM_IO ones: reading device memory can have side effects). */
struct dumprule_decision dumprule_decide(const struct dumprule_vma *v, unsigned long filter,
					 bool all, unsigned page_size);

#endif
