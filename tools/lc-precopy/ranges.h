/* ranges - set operations on ascending, merged address runs (struct
 * pagemap_runs): what lc-precopy computes its copy lists, clean ranges and
 * unreadable pages with. out must not be one of the inputs. */
#ifndef LC_PRECOPY_RANGES_H
#define LC_PRECOPY_RANGES_H

#include "pagemap.h"

int ranges_intersect(const struct pagemap_runs *a, const struct pagemap_runs *b,
		     struct pagemap_runs *out);
int ranges_subtract(const struct pagemap_runs *a, const struct pagemap_runs *b,
		    struct pagemap_runs *out);
int ranges_union(const struct pagemap_runs *a, const struct pagemap_runs *b,
		 struct pagemap_runs *out);
/* a := a op b, through a scratch list */
int ranges_intersect_into(struct pagemap_runs *a, const struct pagemap_runs *b);
int ranges_subtract_into(struct pagemap_runs *a, const struct pagemap_runs *b);
int ranges_union_into(struct pagemap_runs *a, const struct pagemap_runs *b);

#endif
