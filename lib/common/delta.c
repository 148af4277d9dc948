#include "delta.h"
#include "runs.h"

void delta_ranges_init(struct delta_ranges *r)
{
	pagemap_runs_init(&r->wanted);
	pagemap_runs_init(&r->every);
	pagemap_runs_init(&r->shared);
	pagemap_runs_init(&r->private);
	pagemap_runs_init(&r->shmem);
}

void delta_ranges_free(struct delta_ranges *r)
{
	pagemap_runs_free(&r->wanted);
	pagemap_runs_free(&r->every);
	pagemap_runs_free(&r->shared);
	pagemap_runs_free(&r->private);
	pagemap_runs_free(&r->shmem);
}

int delta_ranges_of(const struct manifest *m, struct delta_ranges *r)
{
	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *v = &m->vmas[i];
		struct pagemap_runs *to;

		switch (stagemap_class(v)) {
		case STAGEMAP_NOT_STAGED:
			continue;
		case STAGEMAP_EVERY_PAGE:
			to = &r->every;
			break;
		case STAGEMAP_SHARED:
			to = &r->shared;
			break;
		default:
			to = &r->private;
			break;
		}
		if (pagemap_runs_append(&r->wanted, v->start, v->start + v->dump_size) < 0 ||
		    pagemap_runs_append(to, v->start, v->start + v->dump_size) < 0)
			return -1;
	}
	return stagemap_shared_watchable(m, &r->shmem);
}

int delta_populated(const struct stagemap *s, const struct delta_ranges *r, const struct pagemap *pm,
		    const struct delta_look *look, struct pagemap_runs *out)
{
	const struct track_report *rep = look->report;
	struct pagemap_runs known_holes, tracked, tmp, elsewhere, busy;
	int rc = -1;

	pagemap_runs_init(&known_holes);
	pagemap_runs_init(&tracked);
	pagemap_runs_init(&tmp);
	pagemap_runs_init(&elsewhere);
	pagemap_runs_init(&busy);
	if (runs_intersect(&rep->populated, look->scanned, &tracked) < 0)
		goto out;
	/* the holes of a VMA registered just now were holes before its
	 * protection; a page populated between that look and the protection
	 * was protected with them, so it is present and not written: data.
	 * Only what is still not present there is a hole (a marker). */
	if (look->mode == TRACK_UFFD &&
	    (runs_subtract(look->new_holes, &rep->present, &tmp) < 0 ||
	     runs_union_into(&tmp, look->holes_before) < 0 ||
	     runs_subtract(&tmp, &rep->written, &known_holes) < 0 ||
	     runs_subtract_into(&tracked, &known_holes) < 0))
		goto out;
	/* anonymous ranges the tracker did not look at: their dirty pages */
	if (runs_union(&r->shared, &r->private, &tmp) < 0 ||
	    runs_subtract(&tmp, look->scanned, &known_holes) < 0 ||
	    runs_intersect(&known_holes, &s->dirty, &elsewhere) < 0)
		goto out;
	/* where a clone holds them, asked of the clone after the stop */
	if (look->defer && (runs_intersect(&elsewhere, look->defer, look->deferred) < 0 ||
			    runs_subtract_into(&elsewhere, look->defer) < 0 ||
			    runs_union_into(&tracked, look->deferred) < 0))
		goto out;
	pagemap_runs_clear(&tmp);
	if (elsewhere.n && (stagemap_busy(s, &busy) < 0 ||
			    pagemap_find_in(pm, &elsewhere, PAGEMAP_POPULATED, &busy, &tmp) < 0))
		goto out;
	if (runs_union_into(&tracked, &tmp) < 0 || runs_union(&tracked, &r->every, out) < 0)
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&known_holes);
	pagemap_runs_free(&tracked);
	pagemap_runs_free(&tmp);
	pagemap_runs_free(&elsewhere);
	pagemap_runs_free(&busy);
	return rc;
}
