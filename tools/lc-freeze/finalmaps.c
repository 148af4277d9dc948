#include "finalmaps.h"
#include "delta.h"
#include "forked.h"
#include "runs.h"
#include "dumprule.h"
#include "extents.h"
#include "procfs.h"
#include "xio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pagemap bit 61: the page is a file page or shared anonymous memory */
#define PAGEMAP_ENTRY_FILE_OR_SHARED (1ull << 61)

void finalmaps_result_init(struct finalmaps_result *r)
{
	memset(r, 0, sizeof *r);
	stagemap_plan_init(&r->plan);
	pagemap_runs_init(&r->scanned);
	pagemap_runs_init(&r->deferred);
}

void finalmaps_result_free(struct finalmaps_result *r)
{
	stagemap_plan_free(&r->plan);
	pagemap_runs_free(&r->scanned);
	pagemap_runs_free(&r->deferred);
}

/* ---- one record --------------------------------------------------------- */

static bool same_mapping(const struct manifest_vma *v, const struct procfs_map *m)
{
	return v->start == m->start && v->end == m->end && !strcmp(v->perms, m->perms) &&
	       v->offset == m->offset && v->dev_major == m->dev_major &&
	       v->dev_minor == m->dev_minor && v->inode == m->inode && !strcmp(v->path, m->path);
}

/* index of the first record that ends after addr */
static size_t first_after(const struct manifest *m, uint64_t addr)
{
	size_t lo = 0, hi = m->n_vmas;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (m->vmas[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* VmFlags for a changed VMA: the first overlapped record's, with the
 * permission flags of the new maps line. */
static void derive_vmflags(const struct manifest_vma *old, const struct procfs_map *m, char *text,
			   size_t len, unsigned *bits)
{
	static const char *perm_flags[] = { "rd", "wr", "ex", "sh" };
	size_t n = 0;

	text[0] = '\0';
	*bits = 0;
	if (m->perms[0] == 'r')
		n += (size_t)snprintf(text + n, len - n, "%srd", n ? "," : "");
	if (m->perms[1] == 'w')
		n += (size_t)snprintf(text + n, len - n, "%swr", n ? "," : "");
	if (m->perms[2] == 'x')
		n += (size_t)snprintf(text + n, len - n, "%sex", n ? "," : "");
	if (m->perms[3] == 's')
		n += (size_t)snprintf(text + n, len - n, "%ssh", n ? "," : "");
	if (old && strcmp(old->vmflags, "-")) {
		char copy[256], *save, *tok;

		snprintf(copy, sizeof copy, "%s", old->vmflags);
		for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			bool perm = false;

			for (size_t i = 0; i < 4; i++)
				perm |= !strcmp(tok, perm_flags[i]);
			if (!perm && n + strlen(tok) + 2 < len)
				n += (size_t)snprintf(text + n, len - n, "%s%s", n ? "," : "", tok);
		}
	}
	{
		char spaced[256];

		snprintf(spaced, sizeof spaced, "%s", text);
		for (char *p = spaced; *p; p++)
			if (*p == ',')
				*p = ' ';
		*bits = procfs_parse_vmflags(spaced);
	}
	if (!old)
		snprintf(text, len, "-");
}

static int has_private_pages(const struct finalmaps_ctx *ctx, const struct procfs_map *m, bool *out)
{
	struct pagemap_runs pop;
	uint64_t buf[512];
	int rc = -1;

	*out = false;
	pagemap_runs_init(&pop);
	if (pagemap_find(ctx->pm, m->start, m->end, PAGEMAP_POPULATED, &pop) < 0)
		goto done;
	for (size_t i = 0; i < pop.n && !*out; i++)
		for (uint64_t a = pop.run[i].start; a < pop.run[i].end && !*out;) {
			uint64_t pages = (pop.run[i].end - a) / ctx->page_size;

			if (pages > 512)
				pages = 512;
			if (pagemap_read_entries(ctx->pm, a, a + pages * ctx->page_size, buf) < 0)
				goto done;
			for (uint64_t k = 0; k < pages; k++)
				if ((buf[k] & PAGEMAP_ENTRY_SWAPPED) ||
				    ((buf[k] & PAGEMAP_ENTRY_PRESENT) &&
				     !(buf[k] & PAGEMAP_ENTRY_FILE_OR_SHARED)))
					*out = true;
			a += pages * ctx->page_size;
		}
	rc = 0;
done:
	pagemap_runs_free(&pop);
	return rc;
}

static bool unwritten_private(const struct manifest_vma *v)
{
	return !strcmp(v->decision, "skip:unwritten") && v->perms[3] == 'p';
}

/* The populated pages of every record the pre-copy saw unwritten, in one
 * look where they lie close together (a guard page under each of
 * thousands of thread stacks: a look each cost 3 us a thread). -1 when
 * pagemap cannot be read: each record is then looked at alone. */
static int unwritten_populated(const struct manifest *in, const struct stagemap *sm,
			       const struct finalmaps_ctx *ctx, struct pagemap_runs *out)
{
	struct pagemap_runs r, busy;
	int rc = 0;

	pagemap_runs_init(&r);
	pagemap_runs_init(&busy);
	for (size_t i = 0; i < in->n_vmas && rc == 0; i++)
		if (unwritten_private(&in->vmas[i]))
			rc = pagemap_runs_append(&r, in->vmas[i].start, in->vmas[i].end);
	if (rc == 0 && r.n)
		rc = stagemap_busy(sm, &busy);
	if (rc == 0 && r.n)
		rc = pagemap_find_in(ctx->pm, &r, PAGEMAP_POPULATED, &busy, out);
	pagemap_runs_free(&r);
	pagemap_runs_free(&busy);
	return rc;
}

/* true when a run of r (ascending) meets [start, end); *k is a cursor the
 * caller keeps across ascending ranges */
static bool meets(const struct pagemap_runs *r, size_t *k, uint64_t start, uint64_t end)
{
	while (*k < r->n && r->run[*k].end <= start)
		(*k)++;
	return *k < r->n && r->run[*k].start < end;
}

/* A record the pre-copy saw unwritten (a fresh mapping) that has been
 * written since must be decided again, or its contents would be left out
 * of the core: the maps line is the same, only pagemap tells (pop: the
 * populated pages of such records, or NULL to look now). Fails safe: a
 * pagemap that cannot be read decides again. */
static bool written_since(const struct manifest_vma *old, const struct procfs_map *m,
			  const struct finalmaps_ctx *ctx, const struct pagemap_runs *pop, size_t *k)
{
	bool written;

	if (!unwritten_private(old) || m->perms[3] != 'p')
		return false;
	if (pop && !meets(pop, k, m->start, m->end))
		return false;
	return has_private_pages(ctx, m, &written) < 0 || written;
}

static int decide_again(const struct manifest *in, const struct procfs_map *m,
			const struct finalmaps_ctx *ctx, struct manifest_vma *v, char *flags, size_t len)
{
	size_t i = first_after(in, m->start);
	const struct manifest_vma *old =
		i < in->n_vmas && in->vmas[i].start < m->end ? &in->vmas[i] : NULL;
	struct dumprule_vma dv = { .map = m };
	struct dumprule_decision d;

	derive_vmflags(old, m, flags, len, &dv.vmflags);
	if (m->perms[3] == 'p' && has_private_pages(ctx, m, &dv.has_private_pages) < 0)
		return -1;
	if (dumprule_wants_elf_check(&dv, ctx->filter)) {
		unsigned char magic[4];

		dv.elf_header = ctx->mem_fd >= 0 &&
				xio_pread_full(ctx->mem_fd, magic, 4, (off_t)m->start) == 4 &&
				!memcmp(magic, "\177ELF", 4);
	}
	d = dumprule_decide(&dv, ctx->filter, ctx->filter_all, ctx->page_size);
	snprintf(v->decision, sizeof v->decision, "%s", d.decision);
	v->dump_size = d.dump_size;
	v->vmflags = flags;
	return 0;
}

/* -T fork: of the mapping [start, end), what was staged (clean, from its
 * run c on), in spans that take in gaps shorter than PAGEMAP_SPAN_BUSY:
 * the rest is dirty, and the clone tells after the stop which of it is
 * populated. A JVM's heap after an outpaced pass 1 is a quarter staged:
 * the look walks that quarter. */
static int look_at_staged(const struct pagemap_runs *clean, size_t c, uint64_t start, uint64_t end,
			  struct pagemap_runs *one, struct pagemap_runs *scanned)
{
	uint64_t from = 0, to = 0;

	for (; c < clean->n && clean->run[c].start < end; c++) {
		uint64_t s = clean->run[c].start > start ? clean->run[c].start : start;
		uint64_t e = clean->run[c].end < end ? clean->run[c].end : end;

		if (to && s - to < PAGEMAP_SPAN_BUSY) {
			to = e;
			continue;
		}
		if (to && (pagemap_runs_append(one, from, to) < 0 || pagemap_runs_append(scanned, from, to) < 0))
			return -1;
		from = s;
		to = e;
	}
	if (to && (pagemap_runs_append(one, from, to) < 0 || pagemap_runs_append(scanned, from, to) < 0))
		return -1;
	return 0;
}

/* The tracker's look inside the stop: every private record that holds
 * clean pages (with uffd, every anonymous shared one it watched, too:
 * stagemap_shared_watchable), all in one look (track_look_exceptions
 * scans nearby records in one call: thousands of thread stacks); a part
 * the scan finds unregistered is lost alone, not with its neighbours. */
static int look(const struct manifest *out, const struct stagemap *sm, const struct finalmaps_ctx *ctx,
		struct finalmaps_result *r, struct track_report *rep, struct pagemap_runs *swapped)
{
	struct pagemap_runs clean, one, shmem;
	struct track_vmas vmas = { NULL, 0 };
	uint64_t *starts = malloc((out->n_vmas ? out->n_vmas : 1) * sizeof *starts);
	size_t c = 0, s = 0;
	int rc = -1;

	pagemap_runs_init(&clean);
	pagemap_runs_init(&one);
	pagemap_runs_init(&shmem);
	if (runs_union(&sm->data, &sm->hole, &clean) < 0 ||
	    (ctx->tracker->mode == TRACK_UFFD && stagemap_shared_watchable(out, &shmem) < 0))
		goto out;
	for (size_t i = 0; i < out->n_vmas; i++) {
		const struct manifest_vma *v = &out->vmas[i];
		uint64_t end = v->start + v->dump_size;

		while (s < shmem.n && shmem.run[s].end <= v->start)
			s++;
		/* private memory; with uffd, anonymous shared memory too */
		if (stagemap_class(v) != STAGEMAP_PRIVATE &&
		    !(s < shmem.n && shmem.run[s].start <= v->start && end <= shmem.run[s].end))
			continue;
		while (c < clean.n && clean.run[c].end <= v->start)
			c++;
		if (c == clean.n || clean.run[c].start >= end)
			continue;
		if (ctx->clone && forked_clone_tells(v)) {
			if (look_at_staged(&clean, c, v->start, end, &one, &r->scanned) < 0)
				goto out;
			continue;
		}
		if (pagemap_runs_append(&one, v->start, end) < 0 ||
		    pagemap_runs_append(&r->scanned, v->start, end) < 0)
			goto out;
	}
	/* where it has the memory, the look is shared out by VMAs too */
	if (starts) {
		for (size_t i = 0; i < out->n_vmas; i++)
			starts[i] = out->vmas[i].start;
		vmas = (struct track_vmas){ starts, out->n_vmas };
	}
	if (track_look_exceptions(ctx->tracker, &one, starts ? &vmas : NULL, rep, swapped) < 0)
		goto out;
	rc = 0;
out:
	free(starts);
	pagemap_runs_free(&clean);
	pagemap_runs_free(&one);
	pagemap_runs_free(&shmem);
	return rc;
}

/* The final decision, from the final maps alone: what the model trusts is
 * trusted only where the mapping is the one it was staged from, the
 * tracker looked now and reported no write, and a page staged as data is
 * still populated. Everything else is copied now (or punched: not
 * populated). */
static int decide_delta(const struct manifest *in, const struct manifest *out, struct stagemap *sm,
			const struct finalmaps_ctx *ctx, struct finalmaps_result *r)
{
	struct delta_ranges ranges;
	struct track_report rep;
	struct pagemap_runs dropped, changed, watched, holes_before, no_holes, populated, swapped, defer;
	struct delta_look lk;
	int rc = -1;

	delta_ranges_init(&ranges);
	track_report_init(&rep);
	pagemap_runs_init(&dropped);
	pagemap_runs_init(&changed);
	pagemap_runs_init(&watched);
	pagemap_runs_init(&holes_before);
	pagemap_runs_init(&no_holes);
	pagemap_runs_init(&populated);
	pagemap_runs_init(&swapped);
	pagemap_runs_init(&defer);
	if (delta_ranges_of(out, &ranges) < 0 || stagemap_retarget(sm, &ranges.wanted, &dropped) < 0 ||
	    stagemap_mapping_changes(in, out, &changed) < 0 || stagemap_mark_dirty(sm, &changed) < 0)
		goto out;
	/* dropped: staging space no address of the final maps uses; it is
	 * never read again, so it stays as it is */
	if (!ctx->copy_all) {
		if (look(out, sm, ctx, r, &rep, &swapped) < 0 || runs_copy(&sm->hole, &holes_before) < 0 ||
		    runs_subtract(&r->scanned, &rep.lost, &watched) < 0 ||
		    stagemap_vanished(sm, &watched, &rep.populated) < 0 ||
		    stagemap_mark_dirty(sm, &rep.written) < 0)
			goto out;
		/* tests only (LIVECORE_TRACE): what the tracker said */
		stagemap_trace_runs("lc-freeze stop", "scanned", &r->scanned);
		stagemap_trace_runs("lc-freeze stop", "written", &rep.written);
		stagemap_trace_runs("lc-freeze stop", "lost", &rep.lost);
	}
	pagemap_runs_clear(&changed);
	if (runs_subtract(&ranges.wanted, &watched, &changed) < 0 || stagemap_mark_dirty(sm, &changed) < 0)
		goto out;
	/* the look asked only for the exceptions: of the dirty pages it
	 * found no longer present, those that still hold data (swapped out)
	 * are populated; the others are punched */
	pagemap_runs_clear(&changed);
	if (runs_intersect(&swapped, &sm->dirty, &changed) < 0 || runs_union_into(&rep.populated, &changed) < 0)
		goto out;
	lk = (struct delta_look){ ctx->tracker->mode, &r->scanned, &rep, &holes_before, &no_holes, NULL, NULL };
	if (ctx->clone) {
		for (size_t i = 0; i < out->n_vmas; i++)
			if (forked_clone_tells(&out->vmas[i]) &&
			    pagemap_runs_append(&defer, out->vmas[i].start,
						out->vmas[i].start + out->vmas[i].dump_size) < 0)
				goto out;
		lk.defer = &defer;
		lk.deferred = &r->deferred;
	}
	if (delta_populated(sm, &ranges, ctx->pm, &lk, &populated) < 0 ||
	    stagemap_plan(sm, &populated, &r->plan) < 0)
		goto out;
	rc = 0;
out:
	delta_ranges_free(&ranges);
	track_report_free(&rep);
	pagemap_runs_free(&dropped);
	pagemap_runs_free(&changed);
	pagemap_runs_free(&watched);
	pagemap_runs_free(&holes_before);
	pagemap_runs_free(&no_holes);
	pagemap_runs_free(&populated);
	pagemap_runs_free(&swapped);
	pagemap_runs_free(&defer);
	return rc;
}

int finalmaps_build(const struct manifest *in, struct stagemap *sm, char *maps_text,
		    const struct finalmaps_ctx *ctx, struct manifest *out, struct finalmaps_result *r,
		    char *err, size_t errlen)
{
	struct pagemap_runs pop;
	bool have_pop;
	char *line, *next;
	size_t k = 0;

	pagemap_runs_init(&pop);
	have_pop = unwritten_populated(in, sm, ctx, &pop) == 0;
	for (size_t i = 0; i < in->n_headers; i++)
		if (manifest_header_add(out, in->headers[i].key, "%s", in->headers[i].value) < 0)
			goto nomem;
	out->pid = in->pid;
	out->starttime = in->starttime;
	out->page_size = in->page_size;
	out->coredump_filter = in->coredump_filter;

	for (line = maps_text; line && *line; line = next) {
		struct procfs_map m;
		struct manifest_vma v = { 0 };
		char flags[256];
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (procfs_parse_maps_line(line, &m) < 0) {
			snprintf(err, errlen, "/proc/%d/maps: cannot parse \"%.60s\"", (int)in->pid, line);
			errno = EINVAL;
			goto fail;
		}
		i = first_after(in, m.start);
		if (i < in->n_vmas && same_mapping(&in->vmas[i], &m) &&
		    !written_since(&in->vmas[i], &m, ctx, have_pop ? &pop : NULL, &k)) {
			v = in->vmas[i];
			v.extents = NULL;
			v.clean = NULL;
			v.n_extents = v.n_clean = 0;
		} else {
			v.start = m.start;
			v.end = m.end;
			memcpy(v.perms, m.perms, sizeof v.perms);
			v.offset = m.offset;
			v.dev_major = m.dev_major;
			v.dev_minor = m.dev_minor;
			v.inode = m.inode;
			v.path = (char *)m.path;
			if (decide_again(in, &m, ctx, &v, flags, sizeof flags) < 0) {
				snprintf(err, errlen, "cannot decide on %" PRIx64 "-%" PRIx64 ": %s",
					 m.start, m.end, strerror(errno));
				goto fail;
			}
			r->n_new++;
		}
		if (!manifest_add_vma(out, &v))
			goto nomem;
	}
	pagemap_runs_free(&pop);
	if (decide_delta(in, out, sm, ctx, r) < 0) {
		snprintf(err, errlen, "cannot plan the final delta: %s", strerror(errno));
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
fail:
	pagemap_runs_free(&pop);
	return -1;
}

int finalmaps_settle(struct finalmaps_result *r, const struct stagemap *sm, const struct pagemap *pm,
		     struct copy_list *from_clone)
{
	struct pagemap_runs there, holes;
	struct copy_list gone, rest;
	int rc = -1;

	pagemap_runs_init(&there);
	pagemap_runs_init(&holes);
	copy_list_init(&gone);
	copy_list_init(&rest);
	if (pagemap_find_in(pm, &r->deferred, PAGEMAP_POPULATED, NULL, &there) < 0 ||
	    runs_subtract(&r->deferred, &there, &holes) < 0 ||
	    runs_subtract_into(&r->plan.read_addrs, &holes) < 0 ||
	    runs_union_into(&r->plan.punch_addrs, &holes) < 0 ||
	    /* (appended: offsets are not in the addresses' order) */
	    extents_offsets(&sm->ext, &holes, &r->plan.punch_offsets) < 0 ||
	    copy_list_split(from_clone, &holes, &gone, &rest) < 0)
		goto out;
	copy_list_free(from_clone);
	*from_clone = rest;
	copy_list_init(&rest);
	rc = 0;
out:
	pagemap_runs_free(&there);
	pagemap_runs_free(&holes);
	copy_list_free(&gone);
	copy_list_free(&rest);
	return rc;
}

int finalmaps_annotate(struct manifest *out, const struct stagemap *sm)
{
	size_t cursor = 0;

	/* extents only: the staged copy is final, there is nothing left to
	 * trust or distrust */
	for (size_t i = 0; i < out->n_vmas; i++) {
		manifest_vma_clear_tracking(&out->vmas[i]);
		if (extents_to_vma(&sm->ext, &out->vmas[i], &cursor) < 0)
			return -1;
	}
	return 0;
}
