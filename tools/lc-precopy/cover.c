#include "cover.h"
#include "runs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool has_vmflag(const char *vmflags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *f = vmflags; f && *f; f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL)
		if (!strncmp(f, flag, n) && (f[n] == ',' || f[n] == '\0'))
			return true;
	return false;
}

/* Whether [start, end) lies inside one run of r; called with ascending
 * ranges and one cursor, linear in all. */
static bool inside(const struct pagemap_runs *r, size_t *cursor, uint64_t start, uint64_t end)
{
	while (*cursor < r->n && r->run[*cursor].end <= start)
		(*cursor)++;
	return *cursor < r->n && r->run[*cursor].start <= start && end <= r->run[*cursor].end;
}

int cover_update(struct precopy *p, struct pagemap_runs *new_holes, struct pagemap_runs *lost,
		 int64_t *stop_us)
{
	struct pagemap_runs registered, one, pop, added, shmem;
	struct pagemap_run *vmas = NULL;
	bool *covered = NULL;
	size_t cursor = 0, shmem_cursor = 0, n = 0, cap = 0;
	int rc = -1;

	*stop_us = -1;

	if (p->tracker.mode != TRACK_UFFD)
		return 0;
	pagemap_runs_init(&registered);
	pagemap_runs_init(&one);
	pagemap_runs_init(&pop);
	pagemap_runs_init(&added);
	pagemap_runs_init(&shmem);
	/* what is registered now (VmFlags uw) */
	for (size_t i = 0; i < p->now.n_vmas; i++)
		if (has_vmflag(p->now.vmas[i].vmflags, "uw") &&
		    pagemap_runs_append(&registered, p->now.vmas[i].start, p->now.vmas[i].end) < 0)
			goto out;
	if (!p->tracked_known) {
		/* -c: the ranges the earlier run registered */
		pagemap_runs_clear(&p->tracked);
		if (runs_union(&registered, &one, &p->tracked) < 0)
			goto out;
		p->tracked_known = true;
	}
	if (runs_subtract(&p->tracked, &registered, &one) < 0 ||
	    runs_union_into(lost, &one) < 0 || runs_intersect_into(&p->tracked, &registered) < 0)
		goto out;
	p->n_untracked = 0;
	if (stagemap_shared_watchable(&p->now, &shmem) < 0)
		goto out;
	/* the private VMAs new to the tracker, and the anonymous shared
	 * memory it can watch as well */
	for (size_t i = 0; i < p->now.n_vmas; i++) {
		const struct manifest_vma *v = &p->now.vmas[i];

		if (stagemap_class(v) != STAGEMAP_PRIVATE &&
		    !inside(&shmem, &shmem_cursor, v->start, v->start + v->dump_size))
			continue;
		if (has_vmflag(v->vmflags, "uw")) {
			/* ours, or the target's own userfaultfd's */
			if (!inside(&p->tracked, &cursor, v->start, v->end))
				p->n_untracked++;
			continue;
		}
		if (n == cap) {
			size_t c = cap ? 2 * cap : 64;
			struct pagemap_run *grown = realloc(vmas, c * sizeof *grown);

			if (!grown)
				goto out;
			vmas = grown;
			cap = c;
		}
		vmas[n++] = (struct pagemap_run){ v->start, v->end };
	}
	if (n && !(covered = calloc(n, sizeof *covered)))
		goto out;
	/* the registration stops the process itself: not while the
	 * throttle holds it (throttle.h) */
	if (n) {
		int rc;

		throttle_pause(p->throttle);
		rc = track_cover(&p->tracker, vmas, n, covered, stop_us);
		throttle_resume(p->throttle);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t s = vmas[i].start, e = vmas[i].end;

		if (!covered[i]) {
			/* changed since smaps was read (tried again next
			 * pass), EBUSY (the target's own userfaultfd), ...:
			 * untracked, so never trusted: copied every pass and
			 * in the stop */
			p->n_untracked++;
			continue;
		}
		/* the populated pages before the protection: after it, the
		 * holes it covers read as swapped (markers); and its huge
		 * pages, which the target's writes to them will split
		 * (lc-freeze collapses them again after the dump) */
		pagemap_runs_clear(&pop);
		if (pagemap_find(&p->pm, s, e, PAGEMAP_POPULATED, &pop) < 0)
			goto out;
		pagemap_runs_clear(&one);
		if (pagemap_find(&p->pm, s, e, PAGEMAP_HUGE, &one) < 0 ||
		    runs_union_into(&p->huge, &one) < 0)
			goto out;
		if (track_protect(&p->tracker, s, e, &pop) < 0) {
			/* no longer the VMA registered (replaced meanwhile):
			 * left out of the tracked set, it is lost next pass */
			p->n_untracked++;
			continue;
		}
		if (pagemap_runs_append(&added, s, e) < 0)
			goto out;
		/* VMAs ascend: so do their holes */
		pagemap_runs_clear(&one);
		if (pagemap_runs_append(&one, s, e) < 0 || runs_subtract_into(&one, &pop) < 0)
			goto out;
		for (size_t k = 0; k < one.n; k++)
			if (pagemap_runs_append(new_holes, one.run[k].start, one.run[k].end) < 0)
				goto out;
	}
	if (runs_union_into(&p->tracked, &added) < 0)
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&registered);
	pagemap_runs_free(&one);
	pagemap_runs_free(&pop);
	pagemap_runs_free(&added);
	pagemap_runs_free(&shmem);
	free(vmas);
	free(covered);
	return rc;
}
