#include "runs.h"

int runs_append(struct pagemap_runs *r, uint64_t start, uint64_t end)
{
	if (start >= end)
		return 0;
	if (r->n && r->run[r->n - 1].end > start) { /* keep them ascending */
		if (end > r->run[r->n - 1].end)
			r->run[r->n - 1].end = end;
		return 0;
	}
	return pagemap_runs_append(r, start, end);
}

/* out = a minus b (both ascending, merged) */
int runs_subtract(const struct pagemap_runs *a, const struct pagemap_runs *b,
		  struct pagemap_runs *out)
{
	size_t j = 0;

	for (size_t i = 0; i < a->n; i++) {
		uint64_t s = a->run[i].start, e = a->run[i].end;

		while (j < b->n && b->run[j].end <= s)
			j++;
		for (size_t k = j; k < b->n && b->run[k].start < e && s < e; k++) {
			if (b->run[k].start > s && runs_append(out, s, b->run[k].start) < 0)
				return -1;
			if (b->run[k].end > s)
				s = b->run[k].end;
		}
		if (s < e && runs_append(out, s, e) < 0)
			return -1;
	}
	return 0;
}

int runs_intersect(const struct pagemap_runs *a, const struct pagemap_runs *b,
		   struct pagemap_runs *out)
{
	size_t i = 0, j = 0;

	while (i < a->n && j < b->n) {
		uint64_t s = a->run[i].start > b->run[j].start ? a->run[i].start : b->run[j].start;
		uint64_t e = a->run[i].end < b->run[j].end ? a->run[i].end : b->run[j].end;

		if (s < e && runs_append(out, s, e) < 0)
			return -1;
		if (a->run[i].end < b->run[j].end)
			i++;
		else
			j++;
	}
	return 0;
}

int runs_union(const struct pagemap_runs *a, const struct pagemap_runs *b,
	       struct pagemap_runs *out)
{
	size_t i = 0, j = 0;

	while (i < a->n || j < b->n) {
		const struct pagemap_run *r;

		if (j >= b->n || (i < a->n && a->run[i].start <= b->run[j].start))
			r = &a->run[i++];
		else
			r = &b->run[j++];
		if (runs_append(out, r->start, r->end) < 0)
			return -1;
	}
	return 0;
}

