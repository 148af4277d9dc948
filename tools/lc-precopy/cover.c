#include "cover.h"
#include "dumprule.h"
#include "runs.h"

#include <errno.h>
#include <string.h>

/* uffd tracks only what was registered: every pass, dumped VMAs that are
 * not tracked yet are (whole VMAs, so that nothing splits); they are not
 * clean, so the pass copies them whole. A no-op for soft-dirty. */
static bool has_vmflag(const char *vmflags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *f = vmflags; f && *f; f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL)
		if (!strncmp(f, flag, n) && (f[n] == ',' || f[n] == '\0'))
			return true;
	return false;
}

/* An anonymous VMA of 64 MiB or more with less than 1/16 of it populated:
 * protecting its unpopulated pages would allocate page tables for all of
 * it (about 2 MiB per GiB, kept after the tracking ends), so it is left
 * untracked and its few pages are copied during the stop. */
#define SPARSE_MIN_BYTES (64ull << 20)
#define SPARSE_RATIO 16u

static int is_sparse(struct precopy *p, const struct manifest_vma *v, bool *sparse)
{
	struct pagemap_runs populated;
	uint64_t size = v->end - v->start;
	int rc;

	*sparse = false;
	if (v->inode != 0 || size < SPARSE_MIN_BYTES)
		return 0;
	pagemap_runs_init(&populated);
	rc = pagemap_find(&p->pm, v->start, v->end, PAGEMAP_POPULATED, &populated);
	if (rc == 0)
		*sparse = pagemap_runs_pages(&populated, p->page_size) * p->page_size * SPARSE_RATIO < size;
	pagemap_runs_free(&populated);
	return rc;
}

int cover_new_vmas(struct precopy *p)
{
	struct pagemap_runs registered, one;
	int rc = -1;

	if (p->tracker.mode != TRACK_UFFD)
		return 0;
	pagemap_runs_init(&registered);
	pagemap_runs_init(&one);
	/* what is registered now (VmFlags uw): a VMA unmapped and mapped
	 * again, or one that changed under a tracked range, is not */
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
	if (runs_intersect_into(&p->tracked, &registered) < 0)
		goto out;
	p->n_untracked = 0;
	for (size_t i = 0; i < p->now.n_vmas; i++) {
		const struct manifest_vma *v = &p->now.vmas[i];
		bool sparse;

		if (!manifest_vma_dumped(v) || dumprule_is_special(v->path) ||
		    has_vmflag(v->vmflags, "uw"))
			continue;
		if (is_sparse(p, v, &sparse) < 0)
			goto out;
		if (sparse || track_cover(&p->tracker, v->start, v->end) < 0) {
			/* EBUSY (the target's own userfaultfd), EINVAL (the
			 * VMA changed since smaps was read), ...: untracked,
			 * so never clean: copied every pass and in the stop */
			if (!sparse && errno == ENOMEM)
				goto out;
			p->n_untracked++;
			continue;
		}
		pagemap_runs_clear(&one);
		if (pagemap_runs_append(&one, v->start, v->end) < 0 ||
		    runs_union_into(&p->tracked, &one) < 0)
			goto out;
	}
	rc = 0;
out:
	pagemap_runs_free(&registered);
	pagemap_runs_free(&one);
	return rc;
}

