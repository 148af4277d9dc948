#include "finalmaps.h"
#include "runs.h"
#include "dumprule.h"
#include "procfs.h"
#include "xio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Above the user address space: the gate VMA ([vsyscall]), in maps only,
 * never copied (as lc-precopy does: pagemap and mem do not reach it). */
#define GATE_AREA_START 0x800000000000ull

/* pagemap bit 61: the page is a file page or shared anonymous memory */
#define PAGEMAP_ENTRY_FILE_OR_SHARED (1ull << 61)

void finalmaps_result_init(struct finalmaps_result *r)
{
	memset(r, 0, sizeof *r);
	copy_list_init(&r->copy);
	copy_list_init(&r->punch);
}

void finalmaps_result_free(struct finalmaps_result *r)
{
	copy_list_free(&r->copy);
	copy_list_free(&r->punch);
}

uint64_t finalmaps_stage_end(const struct manifest *m)
{
	const char *v = manifest_header_get(m, "stage-end");
	uint64_t end = m->page_size;

	if (v) {
		char *stop;
		unsigned long long x = strtoull(v, &stop, 16);

		if (stop != v && !*stop && x >= m->page_size)
			return (x + m->page_size - 1) / m->page_size * m->page_size;
	}
	for (size_t i = 0; i < m->n_vmas; i++)
		for (size_t k = 0; k < m->vmas[i].n_extents; k++) {
			const struct manifest_extent *x = &m->vmas[i].extents[k];
			uint64_t e = x->offset + (x->end - x->start);

			if (e > end)
				end = e;
		}
	return end;
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

static int by_start(const void *a, const void *b)
{
	uint64_t x = ((const struct manifest_extent *)a)->start;
	uint64_t y = ((const struct manifest_extent *)b)->start;

	return (x > y) - (x < y);
}

/* Gives v (already in out) the old records' extents and clean ranges that
 * lie inside it. */
static int inherit_tracking(const struct manifest *in, struct manifest_vma *v)
{
	for (size_t i = first_after(in, v->start); i < in->n_vmas && in->vmas[i].start < v->end; i++) {
		const struct manifest_vma *o = &in->vmas[i];

		for (size_t k = 0; k < o->n_extents; k++) {
			uint64_t s = o->extents[k].start > v->start ? o->extents[k].start : v->start;
			uint64_t e = o->extents[k].end < v->end ? o->extents[k].end : v->end;

			if (s < e && manifest_vma_add_extent(v, s, e, o->extents[k].offset +
							     (s - o->extents[k].start)) < 0)
				return -1;
		}
		for (size_t k = 0; k < o->n_clean; k++) {
			uint64_t s = o->clean[k].start > v->start ? o->clean[k].start : v->start;
			uint64_t e = o->clean[k].end < v->end ? o->clean[k].end : v->end;

			if (s < e && manifest_vma_add_clean(v, s, e) < 0)
				return -1;
		}
	}
	return 0;
}

/* Target ranges to staging offsets through v's extents (which cover them). */
static int translate(const struct manifest_vma *v, const struct pagemap_runs *ranges,
		     struct copy_list *out)
{
	size_t k = 0;

	for (size_t i = 0; i < ranges->n; i++) {
		uint64_t s = ranges->run[i].start, e = ranges->run[i].end;

		while (s < e) {
			const struct manifest_extent *x;
			uint64_t stop;

			while (k < v->n_extents && v->extents[k].end <= s)
				k++;
			if (k == v->n_extents || v->extents[k].start > s) {
				errno = EINVAL; /* cannot happen: the extents cover the dump range */
				return -1;
			}
			x = &v->extents[k];
			stop = e < x->end ? e : x->end;
			if (copy_list_append(out, s, stop - s, x->offset + (s - x->start)) < 0)
				return -1;
			s = stop;
		}
	}
	return 0;
}

static int plan_delta(const struct finalmaps_ctx *ctx, struct manifest_vma *v,
		      struct finalmaps_result *r)
{
	struct pagemap_runs dump, extents, gaps, clean, notclean, dirty, dirtyclean, refresh,
		populated, copy, stale;
	int rc = -1;

	pagemap_runs_init(&dump);
	pagemap_runs_init(&extents);
	pagemap_runs_init(&gaps);
	pagemap_runs_init(&clean);
	pagemap_runs_init(&notclean);
	pagemap_runs_init(&dirty);
	pagemap_runs_init(&dirtyclean);
	pagemap_runs_init(&refresh);
	pagemap_runs_init(&populated);
	pagemap_runs_init(&copy);
	pagemap_runs_init(&stale);

	if (v->start >= GATE_AREA_START)
		return 0;
	if (pagemap_runs_append(&dump, v->start, v->start + v->dump_size) < 0)
		goto out;
	for (size_t k = 0; k < v->n_extents; k++)
		if (pagemap_runs_append(&extents, v->extents[k].start, v->extents[k].end) < 0)
			goto out;
	/* bytes to dump that no extent holds yet: new extents at the end */
	if (runs_subtract(&dump, &extents, &gaps) < 0)
		goto out;
	for (size_t g = 0; g < gaps.n; g++) {
		if (manifest_vma_add_extent(v, gaps.run[g].start, gaps.run[g].end, r->stage_end) < 0)
			goto out;
		r->stage_end += gaps.run[g].end - gaps.run[g].start;
	}
	if (gaps.n)
		qsort(v->extents, v->n_extents, sizeof *v->extents, by_start);

	if (ctx->copy_all) {
		if (pagemap_runs_append(&refresh, dump.run[0].start, dump.run[0].end) < 0)
			goto out;
	} else {
		for (size_t k = 0; k < v->n_clean; k++)
			if (pagemap_runs_append(&clean, v->clean[k].start, v->clean[k].end) < 0)
				goto out;
		if (runs_subtract(&dump, &clean, &notclean) < 0)
			goto out;
		for (size_t k = 0; k < clean.n; k++) {
			uint64_t s = clean.run[k].start, e = clean.run[k].end;

			if (e > v->start + v->dump_size)
				e = v->start + v->dump_size;
			if (s < e && track_scan(ctx->tracker, s, e, &dirty) < 0)
				goto out;
		}
		if (runs_intersect(&dirty, &clean, &dirtyclean) < 0 ||
		    runs_union(&notclean, &dirtyclean, &refresh) < 0)
			goto out;
	}
	if (refresh.n == 0) {
		rc = 0;
		goto out;
	}
	/* A file mapping is copied whole, as lc-precopy does (the kernel reads
	 * unpopulated file pages from the file); anonymous memory only where
	 * populated (an unpopulated page reads as zeros: a hole). Only the
	 * ranges to refresh are looked up: with a tracker they are a few
	 * pages of a VMA that may span GiB, and the lookup walks page tables
	 * inside the stop. */
	if (v->inode != 0) {
		if (pagemap_runs_append(&populated, v->start, v->start + v->dump_size) < 0)
			goto out;
	} else {
		for (size_t k = 0; k < refresh.n; k++)
			if (pagemap_find(ctx->pm, refresh.run[k].start, refresh.run[k].end,
					 PAGEMAP_POPULATED, &populated) < 0)
				goto out;
	}
	if (runs_intersect(&refresh, &populated, &copy) < 0 ||
	    runs_subtract(&refresh, &populated, &stale) < 0 ||
	    translate(v, &copy, &r->copy) < 0 || translate(v, &stale, &r->punch) < 0)
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&dump);
	pagemap_runs_free(&extents);
	pagemap_runs_free(&gaps);
	pagemap_runs_free(&clean);
	pagemap_runs_free(&notclean);
	pagemap_runs_free(&dirty);
	pagemap_runs_free(&dirtyclean);
	pagemap_runs_free(&refresh);
	pagemap_runs_free(&populated);
	pagemap_runs_free(&copy);
	pagemap_runs_free(&stale);
	return rc;
}

int finalmaps_build(const struct manifest *in, char *maps_text, const struct finalmaps_ctx *ctx,
		    struct manifest *out, struct finalmaps_result *r, char *err, size_t errlen)
{
	char *line, *next;

	r->stage_end = finalmaps_stage_end(in);
	for (size_t i = 0; i < in->n_headers; i++)
		if (manifest_header_add(out, in->headers[i].key, "%s", in->headers[i].value) < 0)
			goto nomem;
	out->pid = in->pid;
	out->starttime = in->starttime;
	out->page_size = in->page_size;
	out->coredump_filter = in->coredump_filter;

	for (line = maps_text; line && *line; line = next) {
		struct procfs_map m;
		struct manifest_vma v = { 0 }, *stored;
		char flags[256];
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (procfs_parse_maps_line(line, &m) < 0) {
			snprintf(err, errlen, "/proc/%d/maps: cannot parse \"%.60s\"", (int)in->pid, line);
			errno = EINVAL;
			return -1;
		}
		i = first_after(in, m.start);
		if (i < in->n_vmas && same_mapping(&in->vmas[i], &m)) {
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
				return -1;
			}
			r->n_new++;
		}
		if (!(stored = manifest_add_vma(out, &v)) || inherit_tracking(in, stored) < 0)
			goto nomem;
		if (manifest_vma_dumped(stored) && plan_delta(ctx, stored, r) < 0) {
			snprintf(err, errlen, "cannot plan the copy of %" PRIx64 "-%" PRIx64 ": %s",
				 m.start, m.end, strerror(errno));
			return -1;
		}
	}
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
	return -1;
}
