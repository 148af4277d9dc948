/* runs - set operations on ascending, merged address runs (struct
 * pagemap_runs): what to dump, what is staged, clean, dirty, populated.
 * lc-precopy computes its copy lists, clean ranges and unreadable pages with
 * them, lc-freeze its final delta. out is cleared first and must not be one
 * of the inputs. */
#ifndef LC_RUNS_H
#define LC_RUNS_H

#include "pagemap.h"

int runs_intersect(const struct pagemap_runs *a, const struct pagemap_runs *b,
		   struct pagemap_runs *out);
int runs_subtract(const struct pagemap_runs *a, const struct pagemap_runs *b,
		  struct pagemap_runs *out);
int runs_union(const struct pagemap_runs *a, const struct pagemap_runs *b,
	       struct pagemap_runs *out);
/* out := a (out cleared first) */
int runs_copy(const struct pagemap_runs *a, struct pagemap_runs *out);
/* a := a op b, through a scratch list */
int runs_intersect_into(struct pagemap_runs *a, const struct pagemap_runs *b);
int runs_subtract_into(struct pagemap_runs *a, const struct pagemap_runs *b);
int runs_union_into(struct pagemap_runs *a, const struct pagemap_runs *b);

/* The manifest headers KEY whose values are "START-END" (hex, page
 * aligned, START < END), as runs merged into out (out is not cleared).
 * -1 with errno EINVAL and why on a bad value, ENOMEM. */
struct manifest;
int runs_from_headers(const struct manifest *m, const char *key, unsigned page_size,
		      struct pagemap_runs *out, char *why, size_t whylen);

#endif
