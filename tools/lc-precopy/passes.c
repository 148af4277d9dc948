#include "passes.h"
#include "cover.h"
#include "dumprule.h"
#include "procfs.h"
#include "runs.h"
#include "records.h"
#include "stage.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Header keys lc-precopy writes (lc-manifest(5)); an input that already
 * has them (a manifest run through lc-precopy before) loses the old ones. */
static const char *const owned_keys[] = { "tracking", "stop-copy", "pass", "stage-end",
					  "unreadable", "uffd" };

void precopy_init(struct precopy *p)
{
	memset(p, 0, sizeof *p);
	p->smaps_fd = p->mem_fd = p->stage_fd = -1;
	manifest_init(&p->now);
	pagemap_runs_init(&p->wanted);
	pagemap_runs_init(&p->clean);
	pagemap_runs_init(&p->unreadable);
	pagemap_runs_init(&p->tracked);
}

void precopy_free(struct precopy *p)
{
	manifest_free(&p->now);
	extents_free(&p->ext);
	pagemap_runs_free(&p->wanted);
	pagemap_runs_free(&p->clean);
	pagemap_runs_free(&p->unreadable);
	pagemap_runs_free(&p->tracked);
	free(p->pass);
	p->pass = NULL;
	free(p->kept_pass);
	p->kept_pass = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the maps, every pass ----------------------------------------------- */

static int read_records(struct precopy *p, char *err, size_t errlen)
{
	const struct records_source src = {
		.in = p->in, .pid = p->pid, .smaps_fd = p->smaps_fd, .mem_fd = p->mem_fd,
		.filter = p->filter, .filter_all = p->filter_all, .page_size = p->page_size,
	};

	return records_read(&src, &p->now, err, errlen);
}

/* Whether every page of a dumped VMA is copied (a file mapping: the kernel
 * reads unpopulated file pages from the file too; a special mapping such
 * as [vdso] or the gate VMA, which pagemap does not describe: PAGEMAP_SCAN
 * gives EFAULT above the user address space) or only populated ones
 * (anonymous memory: an unpopulated page reads as zeros, a hole). */
static bool copies_every_page(const struct manifest_vma *v)
{
	return v->inode != 0 || dumprule_is_special(v->path);
}

struct wanted_sets {
	struct pagemap_runs every, populated;   /* by copies_every_page */
};

static int compute_wanted(struct precopy *p, struct wanted_sets *w)
{
	pagemap_runs_clear(&p->wanted);
	for (size_t i = 0; i < p->now.n_vmas; i++) {
		const struct manifest_vma *v = &p->now.vmas[i];
		uint64_t end = v->start + v->dump_size;

		if (!manifest_vma_dumped(v))
			continue;
		if (pagemap_runs_append(&p->wanted, v->start, end) < 0 ||
		    pagemap_runs_append(copies_every_page(v) ? &w->every : &w->populated, v->start,
					end) < 0)
			return -1;
	}
	return 0;
}

/* candidate -> the addresses to copy: all of those in file mappings, the
 * populated ones in anonymous memory. */
static int select_pages(struct precopy *p, const struct wanted_sets *w,
			const struct pagemap_runs *candidate, struct pagemap_runs *out)
{
	struct pagemap_runs every, anon, populated;
	int rc = -1;

	pagemap_runs_init(&every);
	pagemap_runs_init(&anon);
	pagemap_runs_init(&populated);
	if (runs_intersect(candidate, &w->every, &every) < 0 ||
	    runs_intersect(candidate, &w->populated, &anon) < 0)
		goto out;
	for (size_t i = 0; i < anon.n; i++)
		if (pagemap_find(&p->pm, anon.run[i].start, anon.run[i].end, PAGEMAP_POPULATED,
				 &populated) < 0)
			goto out;
	rc = runs_union(&every, &populated, out);
out:
	pagemap_runs_free(&every);
	pagemap_runs_free(&anon);
	pagemap_runs_free(&populated);
	return rc;
}

/* Staging ranges that must read as zeros (or that no address uses any
 * more: then zeroing only returns the space). */
static int stage_punch(int fd, const struct pagemap_runs *offsets, bool must_zero, unsigned page_size)
{
	static const unsigned char zero[4096];

	for (size_t i = 0; i < offsets->n; i++) {
		const struct pagemap_run *r = &offsets->run[i];

		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->start,
			      (off_t)(r->end - r->start)) == 0)
			continue;
		if (errno != EOPNOTSUPP && errno != ENOSYS)
			return -1;
		if (!must_zero)
			continue;
		for (uint64_t at = r->start; at < r->end; at += sizeof zero)
			if (xio_pwrite_full(fd, zero, sizeof zero, (off_t)at) < 0)
				return -1;
	}
	(void)page_size;
	return 0;
}

static int add_pass(struct precopy *p, struct pass_stats s)
{
	struct pass_stats *n = realloc(p->pass, (p->n_pass + 1) * sizeof *n);

	if (!n)
		return -1;
	p->pass = n;
	p->pass[p->n_pass++] = s;
	return 0;
}

/* -c: extents, clean ranges, unreadable pages and pass lines from the
 * manifest a previous lc-precopy wrote. */
int precopy_resume(struct precopy *p, char *err, size_t errlen)
{
	const struct manifest *in = p->in;
	const char *v = manifest_header_get(in, "stage-end");
	uint64_t stage_end = 0;
	char *end;

	extents_init(&p->ext, p->page_size);
	if (!v || (errno = 0, stage_end = strtoull(v, &end, 16), errno || *end || end == v)) {
		snprintf(err, errlen, "standard input: no stage-end header (not a manifest lc-precopy wrote)");
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < in->n_vmas; i++) {
		const struct manifest_vma *r = &in->vmas[i];

		for (size_t k = 0; k < r->n_extents; k++)
			if (extents_load(&p->ext, r->extents[k].start, r->extents[k].end,
					 r->extents[k].offset) < 0) {
				snprintf(err, errlen, "standard input: record %" PRIx64 "-%" PRIx64
					 ": extent %" PRIx64 "-%" PRIx64 "@%" PRIx64 " %s", r->start,
					 r->end, r->extents[k].start, r->extents[k].end,
					 r->extents[k].offset, errno == ENOMEM ? "(out of memory)"
					 : "is out of order or misaligned");
				return -1;
			}
		for (size_t k = 0; k < r->n_clean; k++)
			if (pagemap_runs_append(&p->clean, r->clean[k].start, r->clean[k].end) < 0)
				goto nomem;
	}
	if (stage_end < p->ext.stage_end || stage_end % p->page_size) {
		snprintf(err, errlen, "standard input: stage-end 0x%" PRIx64 " is not past every extent",
			 stage_end);
		errno = EINVAL;
		return -1;
	}
	p->ext.stage_end = stage_end;
	for (size_t i = 0; i < in->n_headers; i++) {
		const char *key = in->headers[i].key, *val = in->headers[i].value;
		unsigned long long a, b;

		if (!strcmp(key, "unreadable")) {
			if (sscanf(val, "%llx-%llx", &a, &b) != 2 || a >= b) {
				snprintf(err, errlen, "standard input: bad unreadable header \"%s\"", val);
				errno = EINVAL;
				return -1;
			}
			if (pagemap_runs_append(&p->unreadable, a, b) < 0)
				goto nomem;
		} else if (!strcmp(key, "pass")) {
			const char **n = realloc(p->kept_pass, (p->n_kept_pass + 1) * sizeof *n);
			const char *d = strstr(val, " dirty=");

			if (!n)
				goto nomem;
			p->kept_pass = n;
			p->kept_pass[p->n_kept_pass++] = val;
			p->last_dirty = d ? strtoull(d + 7, NULL, 10) : 0;
			if (p->n_kept_pass == 1)
				p->first_dirty = p->last_dirty;
		}
	}
	p->resume = true;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
	return -1;
}

/* One pass. The order matters: the tracker reports and restarts (one step
 * for uffd, whose scan re-protects atomically; for soft-dirty inside a
 * micro-stop of the target) before the populated pages are looked up and
 * copied, so that a page written (or populated) after the lookup is dirty
 * for the next pass or the stop. full: copy every populated page (the
 * first pass, or no tracker). */
static int one_pass(struct precopy *p, bool full, char *err, size_t errlen)
{
	struct wanted_sets w;
	struct pagemap_runs fresh, dropped, dirty, candidate, addrs, holes, tmp;
	struct copy_list list;
	struct copy_result result;
	struct copy_options opt = {
		.workers = p->workers, .write = COPY_WRITE_AUTO, .page_size = p->page_size,
		.progress = &p->progress_done,
	};
	struct pass_stats s = { .number = p->n_kept_pass + p->n_pass + 1, .stop_us = -1 };
	uint64_t t0 = now_ms();
	int rc = -1;

	pagemap_runs_init(&w.every);
	pagemap_runs_init(&w.populated);
	pagemap_runs_init(&fresh);
	pagemap_runs_init(&dropped);
	pagemap_runs_init(&dirty);
	pagemap_runs_init(&candidate);
	pagemap_runs_init(&addrs);
	pagemap_runs_init(&holes);
	pagemap_runs_init(&tmp);
	copy_list_init(&list);
	copy_result_init(&result);

	if (read_records(p, err, errlen) < 0)
		goto out;
	if (compute_wanted(p, &w) < 0 || extents_retarget(&p->ext, &p->wanted, &fresh, &dropped) < 0)
		goto nomem;
	if (stage_punch(p->stage_fd, &dropped, false, p->page_size) < 0) {
		snprintf(err, errlen, "cannot free staging space: %s", strerror(errno));
		goto out;
	}
	if (runs_intersect_into(&p->unreadable, &p->wanted) < 0 ||
	    runs_intersect_into(&p->clean, &p->wanted) < 0 ||
	    runs_subtract_into(&p->clean, &fresh) < 0)
		goto nomem;
	if (cover_new_vmas(p) < 0) {
		snprintf(err, errlen, "cannot start tracking new mappings: %s", strerror(errno));
		goto out;
	}
	if (full) {
		if (runs_union(&p->wanted, &tmp, &candidate) < 0)
			goto nomem;
		if (track_reset(&p->tracker) < 0) {
			snprintf(err, errlen, "cannot reset dirty tracking: %s", strerror(errno));
			goto out;
		}
	} else {
		/* what was written since the last reset where the staged copy
		 * was current, and everything that was not current */
		if (track_scan_reset(&p->tracker, &p->clean, &dirty, &s.stop_us) < 0) {
			snprintf(err, errlen, "cannot scan for dirty pages: %s", strerror(errno));
			goto out;
		}
		if (runs_intersect_into(&dirty, &p->clean) < 0 ||
		    runs_subtract(&p->wanted, &p->clean, &tmp) < 0 ||
		    runs_union(&dirty, &tmp, &candidate) < 0)
			goto nomem;
	}
	if (select_pages(p, &w, &candidate, &addrs) < 0) {
		snprintf(err, errlen, "cannot read /proc/%d/pagemap: %s", (int)p->pid, strerror(errno));
		goto out;
	}
	if (!full) {
		/* dirty anonymous pages no longer populated were discarded
		 * (MADV_DONTNEED): they read as zeros now */
		pagemap_runs_clear(&tmp);
		if (runs_intersect(&candidate, &w.populated, &tmp) < 0 ||
		    runs_subtract_into(&tmp, &addrs) < 0 ||
		    runs_subtract_into(&tmp, &fresh) < 0 || extents_offsets(&p->ext, &tmp, &holes) < 0)
			goto nomem;
		if (stage_punch(p->stage_fd, &holes, true, p->page_size) < 0) {
			snprintf(err, errlen, "cannot zero discarded pages in the staging file: %s",
				 strerror(errno));
			goto out;
		}
	}
	if (extents_copy_list(&p->ext, &addrs, &list) < 0)
		goto nomem;
	if (full && !p->resume && stage_check_space(p->stage_fd, copy_list_bytes(&list)) < 0) {
		snprintf(err, errlen, "the staging file's filesystem has less than the %" PRIu64
			 " bytes the target's resident memory needs", copy_list_bytes(&list));
		errno = ENOSPC;
		goto out;
	}
	atomic_store(&p->progress_pass, s.number);
	atomic_store(&p->progress_done, 0);
	atomic_store(&p->progress_total, copy_list_bytes(&list));
	if (copy_run(&p->src, p->stage_fd, &list, &opt, &result) < 0) {
		if (errno == ESRCH)
			snprintf(err, errlen, "process %d exited during the copy", (int)p->pid);
		else
			snprintf(err, errlen, "cannot copy into the staging file: %s", strerror(errno));
		goto out;
	}
	if (runs_subtract_into(&p->unreadable, &addrs) < 0 ||
	    runs_union_into(&p->unreadable, &result.unreadable) < 0)
		goto nomem;
	/* current as of the reset: what the tracker covers, but pages that
	 * could not be read */
	pagemap_runs_clear(&p->clean);
	if (p->tracker.mode != TRACK_NONE) {
		pagemap_runs_clear(&tmp);
		if ((p->tracker.mode == TRACK_UFFD ? runs_intersect(&p->wanted, &p->tracked, &tmp)
						   : track_covered(&p->tracker, &p->wanted, &tmp)) < 0 ||
		    runs_subtract(&tmp, &p->unreadable, &p->clean) < 0)
			goto nomem;
	}
	s.pages = result.pages;
	s.bytes = result.bytes;
	s.dirty = pagemap_runs_pages(full ? &addrs : &dirty, p->page_size);
	s.ms = now_ms() - t0;
	if (add_pass(p, s) < 0)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
out:
	{
		int saved = errno;

		pagemap_runs_free(&w.every);
		pagemap_runs_free(&w.populated);
		pagemap_runs_free(&fresh);
		pagemap_runs_free(&dropped);
		pagemap_runs_free(&dirty);
		pagemap_runs_free(&candidate);
		pagemap_runs_free(&addrs);
		pagemap_runs_free(&holes);
		pagemap_runs_free(&tmp);
		copy_list_free(&list);
		copy_result_free(&result);
		errno = saved;
	}
	return rc;
}

int precopy_run(struct precopy *p, char *err, size_t errlen)
{
	struct stat st;

	if (!p->resume)
		extents_init(&p->ext, p->page_size);
	/* -c runs at least one pass, whatever the convergence test says: the
	 * caller (livecore.sh after a stop over its pause budget) asks for it */
	if (one_pass(p, !p->resume || p->tracker.mode == TRACK_NONE, err, errlen) < 0)
		return -1;
	if (!p->resume)
		p->first_dirty = p->pass[0].dirty;
	p->last_dirty = p->pass[p->n_pass - 1].dirty;
	while (p->tracker.mode != TRACK_NONE && p->n_pass < p->max_passes) {
		uint64_t estimate;

		/* a look without a reset: is another pass worth it? */
		if (track_peek(&p->tracker, &p->clean, &estimate) < 0) {
			snprintf(err, errlen, "cannot scan for dirty pages: %s", strerror(errno));
			return -1;
		}
		if (estimate * 100 < (uint64_t)p->dirty_pct * p->first_dirty || estimate >= p->last_dirty)
			break;
		if (one_pass(p, false, err, errlen) < 0)
			return -1;
		p->last_dirty = p->pass[p->n_pass - 1].dirty;
	}
	/* extents past the last byte written must still be inside the file */
	if (fstat(p->stage_fd, &st) < 0 ||
	    ((uint64_t)st.st_size < p->ext.stage_end && ftruncate(p->stage_fd, (off_t)p->ext.stage_end) < 0)) {
		snprintf(err, errlen, "cannot extend the staging file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int precopy_annotate(const struct precopy *p, struct manifest *out)
{
	const struct manifest *in = p->in;

	manifest_init(out);
	out->pid = in->pid;
	out->starttime = in->starttime;
	out->page_size = in->page_size;
	out->coredump_filter = in->coredump_filter;
	for (size_t i = 0; i < in->n_headers; i++) {
		bool owned = false;

		for (size_t k = 0; k < sizeof owned_keys / sizeof owned_keys[0]; k++)
			if (!strcmp(in->headers[i].key, owned_keys[k]))
				owned = true;
		if (!owned && manifest_header_add(out, in->headers[i].key, "%s", in->headers[i].value) < 0)
			return -1;
	}
	if (p->tracker.mode == TRACK_UFFD && p->uffd_header &&
	    manifest_header_add(out, "uffd", "%s", p->uffd_header) < 0)
		return -1;
	if (manifest_header_add(out, "tracking", "%s", track_mode_name(p->tracker.mode)) < 0 ||
	    manifest_header_add(out, "stop-copy", "%s",
				p->tracker.mode == TRACK_NONE ? "all" : "dirty") < 0)
		return -1;
	for (unsigned i = 0; i < p->n_kept_pass; i++)
		if (manifest_header_add(out, "pass", "%s", p->kept_pass[i]) < 0)
			return -1;
	for (unsigned i = 0; i < p->n_pass; i++) {
		char stop[40] = "";

		if (p->pass[i].stop_us >= 0)
			snprintf(stop, sizeof stop, " stop-us=%" PRId64, p->pass[i].stop_us);
		if (manifest_header_add(out, "pass",
					"%u pages=%" PRIu64 " bytes=%" PRIu64 " dirty=%" PRIu64
					" ms=%" PRIu64 "%s", p->pass[i].number, p->pass[i].pages,
					p->pass[i].bytes, p->pass[i].dirty, p->pass[i].ms, stop) < 0)
			return -1;
	}
	if (manifest_header_add(out, "stage-end", "0x%" PRIx64, p->ext.stage_end) < 0)
		return -1;
	for (size_t i = 0; i < p->unreadable.n; i++)
		if (manifest_header_add(out, "unreadable", "%" PRIx64 "-%" PRIx64,
					p->unreadable.run[i].start, p->unreadable.run[i].end) < 0)
			return -1;
	/* records, extents and clean ranges are all ascending: one walk */
	for (size_t i = 0, x = 0, c = 0; i < p->now.n_vmas; i++) {
		struct manifest_vma *v = manifest_add_vma(out, &p->now.vmas[i]);

		if (!v || extents_to_vma(&p->ext, v, &x) < 0)
			return -1;
		while (c < p->clean.n && p->clean.run[c].end <= v->start)
			c++;
		for (size_t k = c; k < p->clean.n && p->clean.run[k].start < v->end; k++) {
			uint64_t s = p->clean.run[k].start > v->start ? p->clean.run[k].start : v->start;
			uint64_t e = p->clean.run[k].end < v->end ? p->clean.run[k].end : v->end;

			if (manifest_vma_add_clean(v, s, e) < 0)
				return -1;
		}
	}
	return 0;
}
