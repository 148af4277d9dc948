#include "extents.h"
#include "runs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void extents_init(struct extents *t, unsigned page_size)
{
	memset(t, 0, sizeof *t);
	t->page_size = page_size;
	t->stage_end = page_size;   /* the header page */
}

void extents_free(struct extents *t)
{
	free(t->x);
	t->x = NULL;
	t->n = t->cap = 0;
}

static int push(struct manifest_extent **x, size_t *n, size_t *cap, uint64_t s, uint64_t e,
		uint64_t off)
{
	if (*n) {
		struct manifest_extent *last = &(*x)[*n - 1];

		if (last->end == s && last->offset + (last->end - last->start) == off) {
			last->end = e;
			return 0;
		}
	}
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct manifest_extent *p = realloc(*x, c * sizeof *p);

		if (!p)
			return -1;
		*x = p;
		*cap = c;
	}
	(*x)[(*n)++] = (struct manifest_extent){ s, e, off };
	return 0;
}

int extents_load(struct extents *t, uint64_t start, uint64_t end, uint64_t offset)
{
	uint64_t mask = t->page_size - 1;

	if (start >= end || (start | end | offset) & mask || offset < t->page_size ||
	    (t->n && t->x[t->n - 1].end > start)) {
		errno = EINVAL;
		return -1;
	}
	if (push(&t->x, &t->n, &t->cap, start, end, offset) < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (offset + (end - start) > t->stage_end)
		t->stage_end = offset + (end - start);
	return 0;
}

int extents_retarget(struct extents *t, const struct pagemap_runs *wanted,
		     struct pagemap_runs *fresh, struct pagemap_runs *dropped)
{
	struct manifest_extent *nx = NULL;
	size_t nn = 0, ncap = 0, j = 0;
	struct pagemap_runs old, gone;
	int rc = -1;

	pagemap_runs_clear(fresh);
	pagemap_runs_clear(dropped);
	pagemap_runs_init(&old);
	pagemap_runs_init(&gone);
	for (size_t i = 0; i < t->n; i++)
		if (pagemap_runs_append(&old, t->x[i].start, t->x[i].end) < 0)
			goto out;
	for (size_t i = 0; i < wanted->n; i++) {
		uint64_t at = wanted->run[i].start, end = wanted->run[i].end;

		while (j < t->n && t->x[j].end <= at)
			j++;
		while (at < end) {
			const struct manifest_extent *x = j < t->n ? &t->x[j] : NULL;

			if (x && x->start <= at) {
				uint64_t e = x->end < end ? x->end : end;

				if (push(&nx, &nn, &ncap, at, e, x->offset + (at - x->start)) < 0)
					goto out;
				at = e;
				if (at == x->end)
					j++;
			} else {
				uint64_t e = x && x->start < end ? x->start : end;

				if (push(&nx, &nn, &ncap, at, e, t->stage_end) < 0 ||
				    pagemap_runs_append(fresh, at, e) < 0)
					goto out;
				t->stage_end += e - at;
				at = e;
			}
		}
	}
	/* the old addresses no longer wanted, as staging offsets */
	if (runs_subtract(&old, wanted, &gone) < 0 || extents_offsets(t, &gone, dropped) < 0)
		goto out;
	free(t->x);
	t->x = nx;
	t->n = nn;
	t->cap = ncap;
	nx = NULL;
	rc = 0;
out:
	free(nx);
	pagemap_runs_free(&old);
	pagemap_runs_free(&gone);
	if (rc < 0)
		errno = ENOMEM;
	return rc;
}

/* Calls fn for each piece of addrs with its staging offset. */
static int walk(const struct extents *t, const struct pagemap_runs *addrs,
		int (*fn)(void *arg, uint64_t addr, uint64_t len, uint64_t offset), void *arg)
{
	size_t j = 0;

	for (size_t i = 0; i < addrs->n; i++) {
		uint64_t at = addrs->run[i].start, end = addrs->run[i].end;

		while (j < t->n && t->x[j].end <= at)
			j++;
		while (at < end && j < t->n && t->x[j].start < end) {
			const struct manifest_extent *x = &t->x[j];
			uint64_t s = at > x->start ? at : x->start;
			uint64_t e = x->end < end ? x->end : end;

			if (s < e && fn(arg, s, e - s, x->offset + (s - x->start)) < 0)
				return -1;
			at = e;
			if (e == x->end)
				j++;
		}
	}
	return 0;
}

static int add_copy(void *arg, uint64_t addr, uint64_t len, uint64_t offset)
{
	return copy_list_append(arg, addr, len, offset);
}

int extents_copy_list(const struct extents *t, const struct pagemap_runs *addrs,
		      struct copy_list *out)
{
	return walk(t, addrs, add_copy, out);
}

static int add_offset(void *arg, uint64_t addr, uint64_t len, uint64_t offset)
{
	(void)addr;
	return pagemap_runs_append(arg, offset, offset + len);
}

int extents_offsets(const struct extents *t, const struct pagemap_runs *addrs,
		    struct pagemap_runs *out)
{
	/* offsets of consecutive addresses are not ascending in general:
	 * append without relying on order (pagemap_runs_append merges only
	 * exact continuations) */
	return walk(t, addrs, add_offset, out);
}

int extents_to_vma(const struct extents *t, struct manifest_vma *v, size_t *cursor)
{
	size_t i = *cursor;

	while (i < t->n && t->x[i].end <= v->start)
		i++;
	*cursor = i;    /* the next VMA starts at or after this one's end */
	for (; i < t->n && t->x[i].start < v->end; i++) {
		uint64_t s = t->x[i].start > v->start ? t->x[i].start : v->start;
		uint64_t e = t->x[i].end < v->end ? t->x[i].end : v->end;

		if (manifest_vma_add_extent(v, s, e, t->x[i].offset + (s - t->x[i].start)) < 0)
			return -1;
	}
	return 0;
}
