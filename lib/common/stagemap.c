#include "stagemap.h"
#include "arch.h"
#include "dumprule.h"
#include "runs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int nomem(void)
{
	errno = ENOMEM;
	return -1;
}

void stagemap_init(struct stagemap *s, unsigned page_size)
{
	memset(s, 0, sizeof *s);
	s->page_size = page_size;
	extents_init(&s->ext, page_size);
}

void stagemap_free(struct stagemap *s)
{
	extents_free(&s->ext);
	pagemap_runs_free(&s->dirty);
	pagemap_runs_free(&s->data);
	pagemap_runs_free(&s->hole);
	pagemap_runs_free(&s->unreadable);
}

/* "/dev/zero (deleted)" or "/SYSV%08x (deleted)": shmem that no file
 * descriptor names */
static bool anonymous_shared(const struct manifest_vma *v)
{
	static const char deleted[] = " (deleted)";
	size_t n = v->path ? strlen(v->path) : 0;

	if (v->perms[3] != 's' || v->inode == 0 || n < sizeof deleted ||
	    strcmp(v->path + n - (sizeof deleted - 1), deleted))
		return false;
	return !strcmp(v->path, "/dev/zero (deleted)") ||
	       (!strncmp(v->path, "/SYSV", 5) && n == 5 + 8 + sizeof deleted - 1);
}

/* Whether another record maps part of the same object's range as m's i. */
static bool aliased(const struct manifest *m, size_t i)
{
	const struct manifest_vma *a = &m->vmas[i];

	for (size_t k = 0; k < m->n_vmas; k++) {
		const struct manifest_vma *b = &m->vmas[k];

		if (k != i && b->inode == a->inode && b->dev_major == a->dev_major &&
		    b->dev_minor == a->dev_minor && b->offset < a->offset + (a->end - a->start) &&
		    a->offset < b->offset + (b->end - b->start))
			return true;
	}
	return false;
}

int stagemap_shared_watchable(const struct manifest *m, struct pagemap_runs *out)
{
	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *v = &m->vmas[i];

		/* n^2 in the shared records only: a handful */
		if (stagemap_class(v) == STAGEMAP_EVERY_PAGE && anonymous_shared(v) && !aliased(m, i) &&
		    pagemap_runs_append(out, v->start, v->start + v->dump_size) < 0)
			return -1;
	}
	return 0;
}

enum stagemap_class stagemap_class(const struct manifest_vma *v)
{
	if (!manifest_vma_dumped(v) || v->start >= ARCH_USER_END)
		return STAGEMAP_NOT_STAGED;
	if (v->inode != 0 || dumprule_is_special(v->path))
		return STAGEMAP_EVERY_PAGE;
	return v->perms[3] == 's' ? STAGEMAP_SHARED : STAGEMAP_PRIVATE;
}

static bool same_at(const struct manifest_vma *a, const struct manifest_vma *b, uint64_t addr)
{
	return !strcmp(a->perms, b->perms) && a->inode == b->inode && a->dev_major == b->dev_major &&
	       a->dev_minor == b->dev_minor && !strcmp(a->path, b->path) &&
	       (a->inode == 0 || a->offset + (addr - a->start) == b->offset + (addr - b->start));
}

int stagemap_mapping_changes(const struct manifest *before, const struct manifest *now,
			     struct pagemap_runs *out)
{
	size_t j = 0;

	for (size_t i = 0; i < now->n_vmas; i++) {
		const struct manifest_vma *v = &now->vmas[i];

		while (j < before->n_vmas && before->vmas[j].end <= v->start)
			j++;
		for (size_t k = j; k < before->n_vmas && before->vmas[k].start < v->end; k++) {
			const struct manifest_vma *o = &before->vmas[k];
			uint64_t s = o->start > v->start ? o->start : v->start;
			uint64_t e = o->end < v->end ? o->end : v->end;

			if (!same_at(o, v, s) && pagemap_runs_append(out, s, e) < 0)
				return nomem();
		}
	}
	return 0;
}

/* ---- the invariants ---------------------------------------------------- */

static int check_runs(const struct pagemap_runs *r, const char *name, unsigned page_size,
		      char *why, size_t whylen)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->run[i].start >= r->run[i].end || (r->run[i].start | r->run[i].end) % page_size ||
		    (i && r->run[i].start < r->run[i - 1].end)) {
			snprintf(why, whylen, "%s run %" PRIx64 "-%" PRIx64 " is empty, unaligned or "
				 "out of order", name, r->run[i].start, r->run[i].end);
			return -1;
		}
	return 0;
}

int stagemap_check(const struct stagemap *s, char *why, size_t whylen)
{
	struct pagemap_runs staged, all, tmp;
	int rc = -1;

	pagemap_runs_init(&staged);
	pagemap_runs_init(&all);
	pagemap_runs_init(&tmp);
	if (check_runs(&s->dirty, "dirty", s->page_size, why, whylen) < 0 ||
	    check_runs(&s->data, "data", s->page_size, why, whylen) < 0 ||
	    check_runs(&s->hole, "hole", s->page_size, why, whylen) < 0 ||
	    check_runs(&s->unreadable, "unreadable", s->page_size, why, whylen) < 0)
		goto out;
	for (size_t i = 0; i < s->ext.n; i++)
		if (pagemap_runs_append(&staged, s->ext.x[i].start, s->ext.x[i].end) < 0)
			goto oom;
	/* I1: disjoint (the pages add up) and together the extents' addresses */
	if (runs_union(&s->dirty, &s->data, &tmp) < 0 || runs_union(&tmp, &s->hole, &all) < 0)
		goto oom;
	if (pagemap_runs_pages(&all, s->page_size) !=
	    pagemap_runs_pages(&s->dirty, s->page_size) + pagemap_runs_pages(&s->data, s->page_size) +
		    pagemap_runs_pages(&s->hole, s->page_size)) {
		snprintf(why, whylen, "dirty, data and hole overlap");
		goto out;
	}
	if (runs_subtract(&all, &staged, &tmp) < 0)
		goto oom;
	if (tmp.n) {
		snprintf(why, whylen, "%" PRIx64 "-%" PRIx64 " has a state but no extent",
			 tmp.run[0].start, tmp.run[0].end);
		goto out;
	}
	if (runs_subtract(&staged, &all, &tmp) < 0)
		goto oom;
	if (tmp.n) {
		snprintf(why, whylen, "%" PRIx64 "-%" PRIx64 " has an extent but no state",
			 tmp.run[0].start, tmp.run[0].end);
		goto out;
	}
	/* I2 */
	if (runs_subtract(&s->unreadable, &s->dirty, &tmp) < 0)
		goto oom;
	if (tmp.n) {
		snprintf(why, whylen, "unreadable %" PRIx64 "-%" PRIx64 " is not dirty",
			 tmp.run[0].start, tmp.run[0].end);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	snprintf(why, whylen, "out of memory");
	errno = ENOMEM;
out:
	pagemap_runs_free(&staged);
	pagemap_runs_free(&all);
	pagemap_runs_free(&tmp);
	return rc;
}

/* ---- transitions ------------------------------------------------------- */

int stagemap_retarget(struct stagemap *s, const struct pagemap_runs *wanted,
		      struct pagemap_runs *dropped)
{
	struct pagemap_runs fresh, gone;
	int rc = -1;

	pagemap_runs_init(&fresh);
	pagemap_runs_init(&gone);
	if (extents_retarget(&s->ext, wanted, &fresh, &gone) < 0 ||
	    runs_intersect_into(&s->dirty, wanted) < 0 || runs_intersect_into(&s->data, wanted) < 0 ||
	    runs_intersect_into(&s->hole, wanted) < 0 ||
	    runs_intersect_into(&s->unreadable, wanted) < 0 || runs_union_into(&s->dirty, &fresh) < 0)
		goto out;
	for (size_t i = 0; i < gone.n; i++)
		if (pagemap_runs_append(dropped, gone.run[i].start, gone.run[i].end) < 0)
			goto out;
	rc = 0;
out:
	pagemap_runs_free(&fresh);
	pagemap_runs_free(&gone);
	return rc < 0 ? nomem() : 0;
}

int stagemap_busy(const struct stagemap *s, struct pagemap_runs *out)
{
	return runs_union(&s->data, &s->dirty, out);
}

int stagemap_mark_dirty(struct stagemap *s, const struct pagemap_runs *r)
{
	struct pagemap_runs trusted, doubt;
	int rc = -1;

	pagemap_runs_init(&trusted);
	pagemap_runs_init(&doubt);
	/* only what is staged can change state: r ∩ (data ∪ hole) */
	if (runs_union(&s->data, &s->hole, &trusted) < 0 || runs_intersect(r, &trusted, &doubt) < 0)
		goto out;
	if (doubt.n && (runs_subtract_into(&s->data, &doubt) < 0 ||
			runs_subtract_into(&s->hole, &doubt) < 0 ||
			runs_union_into(&s->dirty, &doubt) < 0))
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&trusted);
	pagemap_runs_free(&doubt);
	return rc < 0 ? nomem() : 0;
}

int stagemap_vanished(struct stagemap *s, const struct pagemap_runs *scanned,
		      const struct pagemap_runs *populated)
{
	struct pagemap_runs in_scan, gone;
	int rc = -1;

	pagemap_runs_init(&in_scan);
	pagemap_runs_init(&gone);
	if (runs_intersect(&s->data, scanned, &in_scan) < 0 ||
	    runs_subtract(&in_scan, populated, &gone) < 0)
		goto out;
	rc = gone.n ? stagemap_mark_dirty(s, &gone) : 0;
out:
	pagemap_runs_free(&in_scan);
	pagemap_runs_free(&gone);
	return rc < 0 ? nomem() : 0;
}

void stagemap_plan_init(struct stagemap_plan *p)
{
	copy_list_init(&p->copy);
	pagemap_runs_init(&p->read_addrs);
	pagemap_runs_init(&p->punch_addrs);
	pagemap_runs_init(&p->punch_offsets);
}

void stagemap_plan_free(struct stagemap_plan *p)
{
	copy_list_free(&p->copy);
	pagemap_runs_free(&p->read_addrs);
	pagemap_runs_free(&p->punch_addrs);
	pagemap_runs_free(&p->punch_offsets);
}

int stagemap_plan(const struct stagemap *s, const struct pagemap_runs *populated,
		  struct stagemap_plan *out)
{
	copy_list_clear(&out->copy);
	pagemap_runs_clear(&out->punch_offsets);
	if (runs_intersect(&s->dirty, populated, &out->read_addrs) < 0 ||
	    runs_subtract(&s->dirty, populated, &out->punch_addrs) < 0 ||
	    extents_copy_list(&s->ext, &out->read_addrs, &out->copy) < 0 ||
	    extents_offsets(&s->ext, &out->punch_addrs, &out->punch_offsets) < 0)
		return nomem();
	return 0;
}

int stagemap_copied(struct stagemap *s, const struct stagemap_plan *done,
		    const struct pagemap_runs *unreadable, const struct pagemap_runs *watched)
{
	struct pagemap_runs good, now_data, now_hole, faulted;
	int rc = -1;

	pagemap_runs_init(&good);
	pagemap_runs_init(&now_data);
	pagemap_runs_init(&now_hole);
	pagemap_runs_init(&faulted);
	/* what was read again is no longer unreadable unless it faulted again */
	if (runs_subtract_into(&s->unreadable, &done->read_addrs) < 0 ||
	    runs_intersect(unreadable, &done->read_addrs, &faulted) < 0 ||
	    runs_union_into(&s->unreadable, &faulted) < 0 ||
	    runs_subtract(&done->read_addrs, &faulted, &good) < 0 ||
	    runs_intersect(&good, watched, &now_data) < 0 ||
	    runs_intersect(&done->punch_addrs, watched, &now_hole) < 0 ||
	    /* only pages that were dirty change state (I3) */
	    runs_intersect_into(&now_data, &s->dirty) < 0 ||
	    runs_intersect_into(&now_hole, &s->dirty) < 0 ||
	    runs_subtract_into(&s->dirty, &now_data) < 0 ||
	    runs_subtract_into(&s->dirty, &now_hole) < 0 ||
	    runs_union_into(&s->data, &now_data) < 0 || runs_union_into(&s->hole, &now_hole) < 0)
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&good);
	pagemap_runs_free(&now_data);
	pagemap_runs_free(&now_hole);
	pagemap_runs_free(&faulted);
	return rc < 0 ? nomem() : 0;
}

/* ---- the manifest ------------------------------------------------------ */

int stagemap_load(struct stagemap *s, const struct manifest *m, char *why, size_t whylen)
{
	const char *v = manifest_header_get(m, "stage-end");
	struct pagemap_runs staged, clean, unreadable;
	int rc = -1;

	pagemap_runs_init(&staged);
	pagemap_runs_init(&clean);
	pagemap_runs_init(&unreadable);
	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *r = &m->vmas[i];

		for (size_t k = 0; k < r->n_extents; k++) {
			if (extents_load(&s->ext, r->extents[k].start, r->extents[k].end,
					 r->extents[k].offset) < 0) {
				snprintf(why, whylen, "record %" PRIx64 "-%" PRIx64 ": extent %" PRIx64
					 "-%" PRIx64 "@%" PRIx64 " %s", r->start, r->end,
					 r->extents[k].start, r->extents[k].end, r->extents[k].offset,
					 errno == ENOMEM ? "(out of memory)" : "is out of order or misaligned");
				goto out;
			}
			if (pagemap_runs_append(&staged, r->extents[k].start, r->extents[k].end) < 0)
				goto oom;
		}
		for (size_t k = 0; k < r->n_clean; k++)
			if (pagemap_runs_append(&clean, r->clean[k].start, r->clean[k].end) < 0 ||
			    pagemap_runs_append(r->clean[k].hole ? &s->hole : &s->data,
						r->clean[k].start, r->clean[k].end) < 0)
				goto oom;
	}
	/* a clean range must be staged (the reader checked it lies in its VMA) */
	if (runs_subtract(&clean, &staged, &s->dirty) < 0)
		goto oom;
	if (s->dirty.n) {
		snprintf(why, whylen, "clean range %" PRIx64 "-%" PRIx64 " is in no extent",
			 s->dirty.run[0].start, s->dirty.run[0].end);
		errno = EINVAL;
		goto out;
	}
	if (runs_subtract(&staged, &clean, &s->dirty) < 0)
		goto oom;
	if (v) {
		char *end;
		unsigned long long x;

		errno = 0;
		x = strtoull(v, &end, 16);
		if (errno || *end || end == v || x % s->page_size || x < s->ext.stage_end) {
			snprintf(why, whylen, "stage-end %s is not a page-aligned offset past every extent", v);
			errno = EINVAL;
			goto out;
		}
		s->ext.stage_end = x;
	}
	if (runs_from_headers(m, "unreadable", s->page_size, &unreadable, why, whylen) < 0)
		goto out;
	/* I2: a page listed unreadable that is clean was read since */
	if (runs_intersect(&unreadable, &s->dirty, &s->unreadable) < 0)
		goto oom;
	rc = 0;
	goto out;
oom:
	snprintf(why, whylen, "out of memory");
	errno = ENOMEM;
out:
	pagemap_runs_free(&staged);
	pagemap_runs_free(&clean);
	pagemap_runs_free(&unreadable);
	return rc;
}

/* The clean ranges inside v, DATA and HOLE merged in address order. */
int stagemap_to_vma(const struct stagemap *s, struct manifest_vma *v, struct stagemap_cursor *c)
{
	const struct pagemap_runs *d = &s->data, *h = &s->hole;
	size_t i, k;

	if (extents_to_vma(&s->ext, v, &c->extent) < 0)
		return -1;
	while (c->data < d->n && d->run[c->data].end <= v->start)
		c->data++;
	while (c->hole < h->n && h->run[c->hole].end <= v->start)
		c->hole++;
	/* the cursors stay at the first run that may reach into the next VMA */
	for (i = c->data, k = c->hole;;) {
		bool take_hole;
		const struct pagemap_run *r;
		uint64_t from, to;

		if (i < d->n && d->run[i].start >= v->end)
			i = d->n;
		if (k < h->n && h->run[k].start >= v->end)
			k = h->n;
		if (i == d->n && k == h->n)
			break;
		take_hole = i == d->n || (k < h->n && h->run[k].start < d->run[i].start);
		r = take_hole ? &h->run[k++] : &d->run[i++];
		from = r->start > v->start ? r->start : v->start;
		to = r->end < v->end ? r->end : v->end;
		if (manifest_vma_add_clean(v, from, to, take_hole) < 0)
			return -1;
	}
	return 0;
}

void stagemap_trace_runs(const char *who, const char *verb, const struct pagemap_runs *r)
{
	const char *path = getenv("LIVECORE_TRACE");
	FILE *f;
	int fd;

	if (!path || !*path || !r->n)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || !(f = fdopen(fd, "a"))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	for (size_t i = 0; i < r->n; i++)
		fprintf(f, "%s %s %" PRIx64 "-%" PRIx64 "\n", who, verb, r->run[i].start, r->run[i].end);
	fclose(f);
}

void stagemap_trace(const struct stagemap_plan *p, const char *who)
{
	stagemap_trace_runs(who, "read", &p->read_addrs);
	stagemap_trace_runs(who, "punch", &p->punch_addrs);
}
