/* pagemap - which pages of a range are populated (present or swapped) and
 * which are soft-dirty, from /proc/PID/pagemap (Documentation/admin-guide/
 * mm/pagemap.rst): one 64-bit entry per virtual page, bit 63 present,
 * bit 62 swapped, bit 55 soft-dirty.
 *
 * Where the kernel has the PAGEMAP_SCAN ioctl (Linux 6.7+), the same answer
 * comes back as ranges instead of one entry per page: a clean 4 GiB region
 * is a handful of ranges rather than 8 MiB of entries. The ioctl is used only
 * after it was tried on the open fd and answered (pagemap_open); otherwise,
 * or when it fails with EINVAL/ENOTTY later, the entries are read.
 *
 * No capability is needed after the fd is open: the kernel checks access
 * (PTRACE_MODE_READ) when pagemap is opened, not when it is read. Page frame
 * numbers are never used (they would need CAP_SYS_ADMIN). */
#ifndef LC_PAGEMAP_H
#define LC_PAGEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAGEMAP_ENTRY_PRESENT    (1ull << 63)
#define PAGEMAP_ENTRY_SWAPPED    (1ull << 62)
#define PAGEMAP_ENTRY_SOFT_DIRTY (1ull << 55)

/* A growable list of [start, end) address runs, ascending, page aligned,
 * adjacent runs merged. */
struct pagemap_run {
	uint64_t start, end;
};
struct pagemap_runs {
	struct pagemap_run *run;
	size_t n, cap;
};

void pagemap_runs_init(struct pagemap_runs *r);
void pagemap_runs_free(struct pagemap_runs *r);
void pagemap_runs_clear(struct pagemap_runs *r);
/* Appends [start, end), merging with the last run when adjacent. Runs must
 * be appended in ascending order. -1 on ENOMEM. */
int pagemap_runs_append(struct pagemap_runs *r, uint64_t start, uint64_t end);
/* Total pages in the runs. */
uint64_t pagemap_runs_pages(const struct pagemap_runs *r, unsigned page_size);

/* What pagemap_find looks for; both together means populated AND
 * soft-dirty. */
enum {
	PAGEMAP_POPULATED  = 1u << 0,  /* present or swapped, and not the zero
					* page (a read of memory never written
					* maps it: no data, a hole, as in the
					* kernel's core). Only PAGEMAP_SCAN
					* (PAGE_IS_PFNZERO) tells; pagemap
					* entries do not (the PFN is hidden
					* without CAP_SYS_ADMIN), so without the
					* ioctl (Linux < 6.7) a zero page counts
					* as populated and is copied: safe */
	PAGEMAP_SOFT_DIRTY = 1u << 1,  /* bit 55: written since clear_refs 4 */
	PAGEMAP_HUGE       = 1u << 2,  /* mapped by a huge page (PAGEMAP_SCAN's
					* PAGE_IS_HUGE; pagemap entries do not
					* say: without the ioctl, nothing is) */
};

struct pagemap {
	int fd;                 /* /proc/PID/pagemap, opened by the caller */
	unsigned page_size;
	bool have_scan;         /* PAGEMAP_SCAN answered on this fd */
};

/* Takes an open pagemap fd (not owned: the caller closes it) and probes
 * PAGEMAP_SCAN with a one-page query. Never fails for lack of the ioctl. */
int pagemap_open(struct pagemap *pm, int fd, unsigned page_size);
/* Forces reading entries even when PAGEMAP_SCAN works (tests, benchmarks). */
void pagemap_disable_scan(struct pagemap *pm);

/* Reads the raw entries of the pages of [start, end) into entries (one per
 * page). -1 with errno on failure. */
int pagemap_read_entries(const struct pagemap *pm, uint64_t start, uint64_t end,
			 uint64_t *entries);

/* Appends to out the runs of [start, end) that match every category in
 * `what`. A range the process does not map reads as nothing found. */
int pagemap_find(const struct pagemap *pm, uint64_t start, uint64_t end, unsigned what,
		 struct pagemap_runs *out);

/* pagemap_find over each of runs (ascending, disjoint), appending what it
 * finds inside them. With PAGEMAP_SCAN, neighbouring runs are asked in
 * one look when what lies between them costs little to walk: less than
 * PAGEMAP_SPAN_BUSY bytes of `busy` (the pages the caller knows may be
 * populated: a walk skips holes at no cost, and pays for each populated
 * page it passes), or, with busy NULL, less than that distance. What the
 * look finds between them is dropped. So the unpopulated part or the
 * guard page of each of thousands of thread stacks costs a few system
 * calls, not one each. Without PAGEMAP_SCAN, each run alone (entries are
 * read for every page looked at). */
#define PAGEMAP_SPAN_BUSY (1ull << 20)
int pagemap_find_in(const struct pagemap *pm, const struct pagemap_runs *runs, unsigned what,
		    const struct pagemap_runs *busy, struct pagemap_runs *out);

/* One look at [start, end) for the soft-dirty tracker: appends the
 * populated pages and the soft-dirty ones (holes of a new mapping read
 * soft-dirty too). Each entry is read once where there is no PAGEMAP_SCAN. */
int pagemap_find_populated_dirty(const struct pagemap *pm, uint64_t start, uint64_t end,
				 struct pagemap_runs *populated, struct pagemap_runs *soft_dirty);

#endif
