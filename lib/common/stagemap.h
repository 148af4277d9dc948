/* stagemap - what is staged, and whether it can be trusted: the one model
 * of a dump's staging file. lc-precopy owns it across its passes, writes
 * it into the manifest (EXTENTS and CLEAN), and lc-freeze loads it and
 * makes the final decision from it inside the stop. QEMU's
 * migration/ram.c holds a long copy's state the same way: one dirty
 * bitmap per RAM block, every source of doubt sets bits, only a completed
 * copy clears them, and whatever is set at the stop is copied.
 *
 * Every address the core will hold (the "wanted" set: the dumped part of
 * every dumped VMA, from the maps of the last retarget) has a place in the
 * staging file (extents.h: by address, never by VMA) and one state:
 *
 *   DIRTY  the staged bytes may differ from memory: the page is copied
 *          (read, or punched to a hole where it is not populated) before
 *          it is trusted. New addresses start here, and so does every
 *          address that no tracker watches.
 *   DATA   the staged bytes equal memory as of their copy, and a tracker
 *          watches the page: a later write is reported.
 *   HOLE   nothing is staged there (a hole reads as zeros), the page was
 *          not populated as of its copy, and a tracker watches it: a
 *          later write (the page populated) is reported.
 *
 * Invariants (stagemap_check tests them; lc-stagemap-unit exercises every
 * transition without a process):
 *   I1 dirty, data and hole are disjoint, ascending, page aligned, and
 *      their union is exactly the addresses the extents hold.
 *   I2 unreadable is inside dirty: a page whose last read faulted is
 *      zeros in the staging file and is read again next time.
 *   I3 only stagemap_copied moves pages out of DIRTY, and only into the
 *      state the copy just made true, and only inside the set the caller
 *      says a tracker watches: nothing else is ever trusted.
 *
 * Transitions:
 *   retarget(wanted)       new addresses get extents at the stage end and
 *                          are DIRTY; addresses no longer wanted leave
 *                          (their staging space is the caller's to punch);
 *                          the rest keep their offsets and states.
 *   mark_dirty(R)          a tracker reported R written; R's mapping was
 *                          created, replaced or moved; R is not (or no
 *                          longer) tracked.
 *   vanished(S, P)         DATA pages inside the scanned set S that are not
 *                          in the populated set P go DIRTY: a page
 *                          discarded with MADV_DONTNEED, or whose page
 *                          table was freed, is not always reported written
 *                          (kernel-tracking.md: 6.12's PAGEMAP_SCAN hides
 *                          both), but it is always no longer populated.
 *   copied(read, punched, watched)
 *                          after a copy: read pages go DATA, punched ones
 *                          HOLE, inside watched; faulted pages stay DIRTY
 *                          and are listed unreadable.
 *
 * A HOLE page that the kernel now lists as populated but not written is
 * left a hole: with uffd tracking the kernel lists its write-protect
 * markers (unpopulated pages that were protected) as "swapped", exactly
 * like real swap, and reading one would fault the zero page into the
 * target. The state, not pagemap, says which pages hold data. */
#ifndef LC_STAGEMAP_H
#define LC_STAGEMAP_H

#include "copy.h"
#include "extents.h"
#include "manifest.h"
#include "pagemap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a record's dumped bytes are staged. */
enum stagemap_class {
	STAGEMAP_NOT_STAGED,    /* not dumped, or above the user address space (the
				 * gate VMA: pagemap and mem do not reach it) */
	STAGEMAP_EVERY_PAGE,    /* a file mapping or a special one ([vdso]): every
				 * page is read (the kernel reads unpopulated file
				 * pages from the file); never trusted, because its
				 * pages change without a write by the process (a
				 * write(2) to the file, MADV_DONTNEED dropping a
				 * private copy): copied in the stop. Shared
				 * anonymous memory is of this class too (the
				 * kernel gives it an inode: "/dev/zero
				 * (deleted)"), and the exception: uffd may watch
				 * it (stagemap_shared_watchable) */
	STAGEMAP_SHARED,        /* shared memory with no inode: populated pages
				 * only; never trusted (another process may write
				 * it) */
	STAGEMAP_PRIVATE,       /* private anonymous memory: populated pages only;
				 * what a tracker watches */
};
enum stagemap_class stagemap_class(const struct manifest_vma *v);

/* The records of m that a tracker of the target's page tables (uffd) may
 * watch although they are shared: anonymous shared memory (MAP_SHARED |
 * MAP_ANONYMOUS, "/dev/zero (deleted)", and System V segments, "/SYSVkey
 * (deleted)") that the target maps once. Such memory has no file
 * descriptor to write(2) through, so every write of the target's goes
 * through this one mapping, its page tables, and is seen. Left out, and
 * copied whole in the stop as before: a segment mapped twice by the
 * target (a write through one mapping is not seen in the other's page
 * tables), a memfd or a tmpfs file (write(2) changes it without a fault).
 * Writes by other processes that map it are never seen either: their
 * pages are as those processes left them when each was last copied
 * (lc-manifest(5)). Their dumped ranges are appended to out, ascending. */
int stagemap_shared_watchable(const struct manifest *m, struct pagemap_runs *out);

/* The addresses where two manifests' records disagree about what is
 * mapped there (permissions, file, file offset, path), appended to out:
 * whatever was staged there may be of another mapping. Both ascending. */
int stagemap_mapping_changes(const struct manifest *before, const struct manifest *now,
			     struct pagemap_runs *out);

struct stagemap {
	struct extents ext;             /* where each wanted address is staged */
	struct pagemap_runs dirty, data, hole;
	struct pagemap_runs unreadable; /* inside dirty: the last read faulted */
	unsigned page_size;
};

void stagemap_init(struct stagemap *s, unsigned page_size);
void stagemap_free(struct stagemap *s);

/* The staging file as a manifest describes it: every record's extents,
 * its CLEAN ranges as DATA (or HOLE, ":hole"), everything else DIRTY; the
 * stage-end header; the unreadable headers. -1 with errno EINVAL and why
 * when the manifest's extents or clean ranges break I1 (out of order,
 * overlapping, a clean range outside the extents), ENOMEM. */
int stagemap_load(struct stagemap *s, const struct manifest *m, char *why, size_t whylen);

/* I1, I2; 0 or -1 with a description in why. */
int stagemap_check(const struct stagemap *s, char *why, size_t whylen);

/* See the transitions above. retarget appends to dropped the staging
 * offset ranges no address uses any more. All return -1 only on ENOMEM. */
int stagemap_retarget(struct stagemap *s, const struct pagemap_runs *wanted,
		      struct pagemap_runs *dropped);
int stagemap_mark_dirty(struct stagemap *s, const struct pagemap_runs *r);
/* The addresses whose pages may be populated as far as the stage knows
 * (DATA and DIRTY): what a walk of the page tables pays for
 * (pagemap_find_in). -1 on ENOMEM. */
int stagemap_busy(const struct stagemap *s, struct pagemap_runs *out);
int stagemap_vanished(struct stagemap *s, const struct pagemap_runs *scanned,
		      const struct pagemap_runs *populated);

/* The copy that makes every DIRTY page true: those in `populated` are
 * read (copy, and read_addrs: the same ranges by address), the others are
 * punched (punch_addrs and punch_offsets: their staging ranges). The
 * outputs are cleared first. */
struct stagemap_plan {
	struct copy_list copy;
	struct pagemap_runs read_addrs, punch_addrs, punch_offsets;
};
void stagemap_plan_init(struct stagemap_plan *p);
void stagemap_plan_free(struct stagemap_plan *p);
int stagemap_plan(const struct stagemap *s, const struct pagemap_runs *populated,
		  struct stagemap_plan *out);

/* After the plan was carried out: read_addrs -> DATA but the pages in
 * unreadable (zeros staged, they stay DIRTY and are remembered), and
 * punch_addrs -> HOLE, both only inside watched. */
int stagemap_copied(struct stagemap *s, const struct stagemap_plan *done,
		    const struct pagemap_runs *unreadable, const struct pagemap_runs *watched);

/* LIVECORE_TRACE=FILE (tests): appends to FILE one line per range of a
 * plan, "WHO read START-END" or "WHO punch START-END", so that a test that
 * finds a stale page can say which step staged it. Errors are ignored: a
 * trace never fails a dump. */
void stagemap_trace(const struct stagemap_plan *p, const char *who);
/* The same for any runs: "WHO VERB START-END" (what a tracker reported). */
void stagemap_trace_runs(const char *who, const char *verb, const struct pagemap_runs *r);

/* Adds to v (ascending calls, one cursor starting zeroed) the extents and
 * CLEAN ranges (DATA, and HOLE as ":hole") inside [v->start, v->end). */
struct stagemap_cursor {
	size_t extent, data, hole;
};
int stagemap_to_vma(const struct stagemap *s, struct manifest_vma *v, struct stagemap_cursor *c);

#endif
