/* hold - the stop's copy into memory touched before the stop (issue 26:
 * "the stop never waits on the filesystem or on a page fault").
 *
 * Written to the staging file inside the stop, a delta lands in page-cache
 * pages allocated there and then; in this project's virtual machines the
 * first touch of a page is a fault in the host too, and a delta of 200 MB
 * was copied at anywhere from 0.5 to 6.5 GB/s as the host's memory
 * happened to be (../shared/notes/vm-memory.md). So before the stop
 * lc-freeze allocates, and so touches, anonymous memory as large as the delta is
 * expected to be (bounded); inside the stop the delta is read into it as
 * far as it fits, at the rate of process_vm_readv into memory that is
 * already there, and the rest goes to the staging file as before; after
 * the process is resumed the held bytes are written to their places in
 * the staging file. Until then they exist only in lc-freeze: a kill of it
 * between the resume and the end of that write ends the dump without a
 * manifest (livecore.sh writes no core), as a kill at any other point
 * does; never a core with a stale page. */
#ifndef LC_FREEZE_HOLD_H
#define LC_FREEZE_HOLD_H

#include "copy.h"

#include <stdint.h>

struct hold {
	unsigned char *map;     /* the memory, populated; NULL: nothing held */
	uint64_t size;          /* its bytes, allocated before the stop */
	struct copy_list held;  /* what went into it: addr, len, offset in the staging file */
	uint64_t used;
};

void hold_init(struct hold *h);
void hold_free(struct hold *h);

/* Before the stop: `bytes` (rounded up to 1 MiB) of anonymous memory,
 * every page allocated (no fault when the stop writes it). 0, or -1 with errno (then nothing is held: the stop writes to the
 * staging file as it would without). */
int hold_reserve(struct hold *h, uint64_t bytes);

/* Inside the stop: list's ranges, in order, into *mem (offsets in the
 * memory, for copy_options.dest = map) while they fit, split at a page where one does not, and the rest
 * into *rest (offsets in the staging file, as given). -1 on ENOMEM. */
int hold_split(struct hold *h, const struct copy_list *list, unsigned page_size,
	       struct copy_list *mem, struct copy_list *rest);

/* After the stop: every held byte to its offset in stage_fd, but the
 * pages in `unreadable` (target addresses the stop could not read), which
 * are punched to holes there as the copy engine leaves them. 0 or -1 with
 * errno. */
int hold_flush(struct hold *h, int stage_fd, const struct pagemap_runs *unreadable);

#endif
