#include "runs.h"
#include "manifest.h"

#include <errno.h>
#include <stdio.h>

#include <stdbool.h>
#include <string.h>

int runs_intersect(const struct pagemap_runs *a, const struct pagemap_runs *b,
		     struct pagemap_runs *out)
{
	size_t i = 0, j = 0;

	pagemap_runs_clear(out);
	while (i < a->n && j < b->n) {
		uint64_t s = a->run[i].start > b->run[j].start ? a->run[i].start : b->run[j].start;
		uint64_t e = a->run[i].end < b->run[j].end ? a->run[i].end : b->run[j].end;

		if (s < e && pagemap_runs_append(out, s, e) < 0)
			return -1;
		if (a->run[i].end < b->run[j].end)
			i++;
		else
			j++;
	}
	return 0;
}

int runs_subtract(const struct pagemap_runs *a, const struct pagemap_runs *b,
		    struct pagemap_runs *out)
{
	size_t j = 0;

	pagemap_runs_clear(out);
	for (size_t i = 0; i < a->n; i++) {
		uint64_t at = a->run[i].start, end = a->run[i].end;

		while (j < b->n && b->run[j].end <= at)
			j++;
		for (size_t k = j; k < b->n && b->run[k].start < end; k++) {
			if (b->run[k].start > at && pagemap_runs_append(out, at, b->run[k].start) < 0)
				return -1;
			if (b->run[k].end > at)
				at = b->run[k].end;
			if (at >= end)
				break;
		}
		if (at < end && pagemap_runs_append(out, at, end) < 0)
			return -1;
	}
	return 0;
}

int runs_union(const struct pagemap_runs *a, const struct pagemap_runs *b,
		 struct pagemap_runs *out)
{
	size_t i = 0, j = 0;
	bool have = false;
	uint64_t s = 0, e = 0;

	pagemap_runs_clear(out);
	while (i < a->n || j < b->n) {
		const struct pagemap_run *r;

		if (j >= b->n || (i < a->n && a->run[i].start <= b->run[j].start))
			r = &a->run[i++];
		else
			r = &b->run[j++];
		if (have && r->start <= e) {
			if (r->end > e)
				e = r->end;
			continue;
		}
		if (have && pagemap_runs_append(out, s, e) < 0)
			return -1;
		s = r->start;
		e = r->end;
		have = true;
	}
	if (have && pagemap_runs_append(out, s, e) < 0)
		return -1;
	return 0;
}

int runs_copy(const struct pagemap_runs *a, struct pagemap_runs *out)
{
	pagemap_runs_clear(out);
	for (size_t i = 0; i < a->n; i++)
		if (pagemap_runs_append(out, a->run[i].start, a->run[i].end) < 0)
			return -1;
	return 0;
}

typedef int (*runs_op)(const struct pagemap_runs *, const struct pagemap_runs *,
			 struct pagemap_runs *);

static int into(struct pagemap_runs *a, const struct pagemap_runs *b, runs_op op)
{
	struct pagemap_runs tmp;

	pagemap_runs_init(&tmp);
	if (op(a, b, &tmp) < 0) {
		pagemap_runs_free(&tmp);
		return -1;
	}
	pagemap_runs_free(a);
	*a = tmp;
	return 0;
}

int runs_intersect_into(struct pagemap_runs *a, const struct pagemap_runs *b)
{
	return into(a, b, runs_intersect);
}

int runs_subtract_into(struct pagemap_runs *a, const struct pagemap_runs *b)
{
	return into(a, b, runs_subtract);
}

int runs_union_into(struct pagemap_runs *a, const struct pagemap_runs *b)
{
	return into(a, b, runs_union);
}

int runs_from_headers(const struct manifest *m, const char *key, unsigned page_size,
		      struct pagemap_runs *out, char *why, size_t whylen)
{
	struct pagemap_runs got;
	int rc = -1;

	pagemap_runs_init(&got);
	for (size_t i = 0; i < m->n_headers; i++) {
		unsigned long long a, b;
		char tail;

		if (strcmp(m->headers[i].key, key))
			continue;
		if (sscanf(m->headers[i].value, "%llx-%llx%c", &a, &b, &tail) != 2 || a >= b ||
		    (a | b) % page_size) {
			snprintf(why, whylen, "bad %s header \"%s\"", key, m->headers[i].value);
			errno = EINVAL;
			goto out;
		}
		/* one run at a time: the headers need not ascend */
		pagemap_runs_clear(&got);
		if (pagemap_runs_append(&got, a, b) < 0 || runs_union_into(out, &got) < 0) {
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	pagemap_runs_free(&got);
	return rc;
}
