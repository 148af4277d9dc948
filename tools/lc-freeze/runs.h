/* runs - set arithmetic on ascending, merged lists of [start, end) address
 * runs (struct pagemap_runs): which bytes to dump, which are staged, clean,
 * dirty, populated; the final delta is made of their differences. */
#ifndef LC_FREEZE_RUNS_H
#define LC_FREEZE_RUNS_H

#include "pagemap.h"

#include <stdint.h>

/* Appends [start, end) (nothing when empty), merging with the last run when
 * it touches or overlaps it. Runs must come in ascending order of start. */
int runs_append(struct pagemap_runs *r, uint64_t start, uint64_t end);

/* out gets a minus b, a and b, a or b. out must be neither a nor b. */
int runs_subtract(const struct pagemap_runs *a, const struct pagemap_runs *b,
		  struct pagemap_runs *out);
int runs_intersect(const struct pagemap_runs *a, const struct pagemap_runs *b,
		   struct pagemap_runs *out);
int runs_union(const struct pagemap_runs *a, const struct pagemap_runs *b,
	       struct pagemap_runs *out);

#endif
