#include "passes.h"
#include "estimate.h"
#include "cover.h"
#include "delta.h"
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
					  "unreadable", "uffd", "target", "thp", "shared-tracked",
					  "tracking-fallback", "precopy-end", "throttle" };

void precopy_init(struct precopy *p, unsigned page_size)
{
	memset(p, 0, sizeof *p);
	p->page_size = page_size;
	p->smaps_fd = p->mem_fd = p->stage_fd = -1;
	stagemap_init(&p->sm, page_size);
	manifest_init(&p->now);
	manifest_init(&p->before);
	pagemap_runs_init(&p->watched);
	pagemap_runs_init(&p->tracked);
	pagemap_runs_init(&p->huge);
}

void precopy_free(struct precopy *p)
{
	stagemap_free(&p->sm);
	manifest_free(&p->now);
	manifest_free(&p->before);
	pagemap_runs_free(&p->watched);
	pagemap_runs_free(&p->tracked);
	pagemap_runs_free(&p->huge);
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

/* Staging ranges that must read as zeros (or that no address uses any
 * more: then zeroing only returns the space). */
static int stage_punch(int fd, const struct pagemap_runs *offsets, bool must_zero)
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

/* -c: the staged model and pass lines from the manifest a previous
 * lc-precopy wrote. */
int precopy_resume(struct precopy *p, char *err, size_t errlen)
{
	const struct manifest *in = p->in;
	char why[300];

	if (!manifest_header_get(in, "stage-end")) {
		snprintf(err, errlen, "standard input: no stage-end header (not a manifest lc-precopy wrote)");
		errno = EINVAL;
		return -1;
	}
	if (stagemap_load(&p->sm, in, why, sizeof why) < 0 ||
	    runs_from_headers(in, "thp", p->page_size, &p->huge, why, sizeof why) < 0) {
		snprintf(err, errlen, "standard input: %s", why);
		return -1;
	}
	for (size_t i = 0; i < in->n_headers; i++) {
		const char *key = in->headers[i].key, *val = in->headers[i].value;

		if (!strcmp(key, "pass")) {
			const char **n = realloc(p->kept_pass, (p->n_kept_pass + 1) * sizeof *n);
			uint64_t bytes = manifest_value_field(val, "bytes");

			if (!n) {
				snprintf(err, errlen, "out of memory");
				errno = ENOMEM;
				return -1;
			}
			p->kept_pass = n;
			p->kept_pass[p->n_kept_pass++] = val;
			p->last_dirty = manifest_value_field(val, "dirty");
			p->copied += bytes;
			if (p->n_kept_pass == 1) {
				p->first_dirty = p->last_dirty;
				p->first_bytes = bytes;
			}
		}
	}
	/* the records the model was last told about */
	for (size_t i = 0; i < in->n_vmas; i++)
		if (!manifest_add_vma(&p->before, &in->vmas[i])) {
			snprintf(err, errlen, "out of memory");
			errno = ENOMEM;
			return -1;
		}
	p->resume = true;
	return 0;
}

static int copy_outpaced(struct precopy *p, const struct copy_source *src, struct stagemap_plan *plan,
			 const struct copy_options *opt, struct copy_result *result);

/* One pass. The order matters, and is the whole argument that nothing is
 * lost:
 *  1. the maps are read, the model retargeted to them, and every address
 *     whose mapping changed since the model last saw it goes dirty;
 *  2. uffd registers what is new (protecting the pages populated just
 *     before) and reports what it no longer watches (dirty);
 *  3. the tracker looks and resets in one step (uffd: atomically; soft-
 *     dirty: inside a micro-stop of the target): every write after it is
 *     reported by the next look;
 *  4. what it reports written goes dirty, and so do staged pages that are
 *     no longer populated, and everything it does not watch;
 *  5. the dirty pages are copied (or punched where not populated), and
 *     only then marked clean, and only where the tracker watches.
 * A write during 5 is reported at the next 3; a mapping replaced during 5
 * shows at the next 1 (or as a range the scan finds unregistered). */
static int one_pass(struct precopy *p, char *err, size_t errlen)
{
	struct delta_ranges r;
	struct track_report rep;
	struct pagemap_runs dropped, changed, new_holes, scanned, data_before, hole_before, populated;
	struct stagemap_plan plan;
	struct delta_look look;
	struct copy_result result;
	struct copy_options opt = {
		.workers = p->workers, .write = COPY_WRITE_AUTO, .page_size = p->page_size,
		.progress = &p->progress_done,
	};
	struct pass_stats s = { .number = p->n_kept_pass + p->n_pass + 1, .stop_us = -1 };
	bool first = p->n_pass == 0 && !p->resume;
	struct copy_source src;
	uint64_t t0 = now_ms();
	int rc = -1;

	delta_ranges_init(&r);
	track_report_init(&rep);
	pagemap_runs_init(&dropped);
	pagemap_runs_init(&changed);
	pagemap_runs_init(&new_holes);
	pagemap_runs_init(&scanned);
	pagemap_runs_init(&data_before);
	pagemap_runs_init(&hole_before);
	pagemap_runs_init(&populated);
	stagemap_plan_init(&plan);
	copy_result_init(&result);

	/* 1 */
	if (read_records(p, err, errlen) < 0)
		goto out;
	if (delta_ranges_of(&p->now, &r) < 0 || stagemap_retarget(&p->sm, &r.wanted, &dropped) < 0 ||
	    stagemap_mapping_changes(&p->before, &p->now, &changed) < 0 ||
	    stagemap_mark_dirty(&p->sm, &changed) < 0)
		goto nomem;
	if (stage_punch(p->stage_fd, &dropped, false) < 0) {
		snprintf(err, errlen, "cannot free staging space: %s", strerror(errno));
		goto out;
	}
	/* 2 */
	pagemap_runs_clear(&changed);
	if (cover_update(p, &new_holes, &changed, &s.stop_us) < 0) {
		snprintf(err, errlen, "cannot start tracking new mappings: %s", strerror(errno));
		goto out;
	}
	if (stagemap_mark_dirty(&p->sm, &changed) < 0)
		goto nomem;
	/* 3 */
	switch (p->tracker.mode) {
	case TRACK_NONE:
		break;
	case TRACK_SOFT_DIRTY:
		if (runs_copy(&r.private, &scanned) < 0)
			goto nomem;
		break;
	case TRACK_UFFD:
		/* private memory, and the shared memory it watches too */
		if (runs_union(&r.private, &r.shmem, &changed) < 0 ||
		    runs_intersect(&changed, &p->tracked, &scanned) < 0)
			goto nomem;
		pagemap_runs_clear(&changed);
		break;
	}
	if (runs_copy(&p->sm.data, &data_before) < 0 || runs_copy(&p->sm.hole, &hole_before) < 0)
		goto nomem;
	if (scanned.n && track_scan(&p->tracker, &scanned, true, &rep,
				    p->tracker.mode == TRACK_SOFT_DIRTY ? &s.stop_us : NULL) < 0) {
		snprintf(err, errlen, "cannot scan for dirty pages: %s", strerror(errno));
		goto out;
	}
	p->look_ms = now_ms();
	/* 4 */
	if (runs_subtract(&scanned, &rep.lost, &p->watched) < 0 ||
	    stagemap_vanished(&p->sm, &p->watched, &rep.populated) < 0)
		goto nomem;
	s.vanished = pagemap_runs_pages(&data_before, p->page_size) -
		     pagemap_runs_pages(&p->sm.data, p->page_size);
	if (stagemap_mark_dirty(&p->sm, &rep.written) < 0)
		goto nomem;
	pagemap_runs_clear(&changed);
	if (runs_subtract(&r.wanted, &p->watched, &changed) < 0 ||
	    stagemap_mark_dirty(&p->sm, &changed) < 0)
		goto nomem;
	/* 5 */
	look = (struct delta_look){ p->tracker.mode, &scanned, &rep, &hole_before, &new_holes, NULL, NULL };
	if (delta_populated(&p->sm, &r, &p->pm, &look, &populated) < 0) {
		snprintf(err, errlen, "cannot read /proc/%d/pagemap: %s", (int)p->pid, strerror(errno));
		goto out;
	}
	if (stagemap_plan(&p->sm, &populated, &plan) < 0)
		goto nomem;
	if (first && stage_check_space(p->stage_fd, copy_list_bytes(&plan.copy)) < 0) {
		snprintf(err, errlen, "the staging file's filesystem has less than the %" PRIu64
			 " bytes the target's resident memory needs", copy_list_bytes(&plan.copy));
		errno = ENOSPC;
		goto out;
	}
	atomic_store(&p->progress_pass, s.number);
	atomic_store(&p->progress_done, 0);
	atomic_store(&p->progress_total, copy_list_bytes(&plan.copy));
	/* the first pass reads pages the process may share copy-on-write
	 * with another; process_vm_readv's pin would copy them (main.c) */
	src = p->src;
	if (first && !p->method_forced)
		src.method = COPY_PROC_MEM;
	/* uffd alone: its look counts writes to pages it protected; a
	 * soft-dirty look also counts every page of a mapping made or grown
	 * since the reset (a heap that grows outpaced pass 1 in the guest) */
	if ((first && p->tracker.mode == TRACK_UFFD ? copy_outpaced(p, &src, &plan, &opt, &result)
						    : copy_run(&src, p->stage_fd, &plan.copy, &opt, &result)) < 0) {
		if (errno == ESRCH)
			snprintf(err, errlen, "process %d exited during the copy", (int)p->pid);
		else
			snprintf(err, errlen, "cannot copy into the staging file: %s", strerror(errno));
		goto out;
	}
	if (stage_punch(p->stage_fd, &plan.punch_offsets, true) < 0) {
		snprintf(err, errlen, "cannot zero discarded pages in the staging file: %s",
			 strerror(errno));
		goto out;
	}
	if (stagemap_copied(&p->sm, &plan, &result.unreadable, &p->watched) < 0)
		goto nomem;
	{
		char who[32];

		snprintf(who, sizeof who, "lc-precopy pass %u", s.number);
		stagemap_trace_runs(who, "scanned", &scanned);
		stagemap_trace_runs(who, "written", &rep.written);
		stagemap_trace_runs(who, "lost", &rep.lost);
		stagemap_trace_runs(who, "new-holes", &new_holes);
		stagemap_trace(&plan, who);
	}
	/* the model has seen these records now */
	manifest_free(&p->before);
	p->before = p->now;
	manifest_init(&p->now);
	s.pages = result.pages;
	s.bytes = result.bytes;
	s.dirty = first ? pagemap_runs_pages(&plan.read_addrs, p->page_size)
			: pagemap_runs_pages(&rep.written, p->page_size);
	s.ms = now_ms() - t0;
	if (add_pass(p, s) < 0)
		goto nomem;
	p->copied += s.bytes;
	if (first)
		p->first_bytes = s.bytes;
	rc = 0;
	goto out;
nomem:
	snprintf(err, errlen, "out of memory");
	errno = ENOMEM;
out:
	{
		int saved = errno;

		delta_ranges_free(&r);
		track_report_free(&rep);
		pagemap_runs_free(&dropped);
		pagemap_runs_free(&changed);
		pagemap_runs_free(&new_holes);
		pagemap_runs_free(&scanned);
		pagemap_runs_free(&data_before);
		pagemap_runs_free(&hole_before);
		pagemap_runs_free(&populated);
		stagemap_plan_free(&plan);
		copy_result_free(&result);
		errno = saved;
	}
	return rc;
}

/* A stopped target: the model learns the maps, and nothing is copied
 * (every address stays dirty: lc-freeze copies it once, in its stop). */
static int no_pass(struct precopy *p, char *err, size_t errlen)
{
	struct delta_ranges r;
	struct pagemap_runs dropped;
	int rc = -1;

	delta_ranges_init(&r);
	pagemap_runs_init(&dropped);
	if (read_records(p, err, errlen) < 0)
		goto out;
	if (delta_ranges_of(&p->now, &r) < 0 || stagemap_retarget(&p->sm, &r.wanted, &dropped) < 0) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		goto out;
	}
	manifest_free(&p->before);
	p->before = p->now;
	manifest_init(&p->now);
	rc = 0;
out:
	delta_ranges_free(&r);
	pagemap_runs_free(&dropped);
	return rc;
}

/* A process the passes are losing to, whose dirty pages (so far) the stop
 * would copy in longer than the budget (the model of estimate.h: the
 * delta read into memory touched before the stop), is slowed down one
 * step more (throttle.h): false when there is no throttle, it may go no
 * further, or the stop needs no help. */
static bool throttle_more(struct precopy *p, uint64_t dirty_pages)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct estimate_inputs e = {
		.held_bytes = dirty_pages * p->page_size,
		.cpus = cpus < 1 ? 1u : (unsigned)cpus,
	};
	unsigned duty;

	if (!p->throttle || atomic_load(&p->throttle->error) ||
	    (!p->throttle_forced && estimate_pause_us(&e) <= p->throttle_budget_us))
		return false;
	duty = atomic_load(&p->throttle->duty_pct);
	if (duty >= THROTTLE_MAX_PCT)
		return false;
	return throttle_set(p->throttle, duty ? duty + THROTTLE_STEP_PCT : THROTTLE_FIRST_PCT) == 0;
}

static bool throttling(const struct precopy *p)
{
	return p->throttle && atomic_load(&p->throttle->duty_pct) > 0 && !atomic_load(&p->throttle->error);
}

/* The quarters pass 1 is copied in (copy_outpaced). */
#define OUTPACED_PARTS 4u

static int by_address(const void *a, const void *b)
{
	const struct copy_range *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Pass 1 with the uffd tracker, in quarters of its bytes: after each but the
 * last, a look without a reset. A process that wrote since the pass began
 * as many bytes as the pass has copied outpaces it: no later pass can
 * catch up, and the rest of this one would be copied twice (a JVM's
 * allocators rewrite its heap within one pass: 2.0 times the core's bytes
 * copied where the issue asks 1.5). The rest is left dirty (taken out of
 * the plan's read addresses), for the stop, and p->outpaced set; or,
 * where a throttle may slow the process down, it is, and the pass goes on. */
static int copy_outpaced(struct precopy *p, const struct copy_source *src, struct stagemap_plan *plan,
			 const struct copy_options *opt, struct copy_result *result)
{
	uint64_t total = copy_list_bytes(&plan->copy), done = 0, part_end, written;
	struct copy_list part;
	struct copy_result one;
	uint64_t at = 0;        /* bytes of range i already in a quarter */
	size_t i = 0;
	int rc = -1;

	copy_list_init(&part);
	copy_result_init(&one);
	for (unsigned q = 1; q <= OUTPACED_PARTS && i < plan->copy.n; q++) {
		part_end = q == OUTPACED_PARTS ? total
			   : total / OUTPACED_PARTS * q / p->page_size * p->page_size;
		copy_list_clear(&part);
		/* whole ranges, and the one the quarter ends in cut at a page
		 * (a heap is one range) */
		while (i < plan->copy.n && done < part_end) {
			struct copy_range *c = &plan->copy.range[i];
			uint64_t take = c->len - at < part_end - done ? c->len - at : part_end - done;

			if (copy_list_append(&part, c->addr + at, take, c->offset + at) < 0)
				goto out;
			done += take;
			at += take;
			if (at == c->len) {
				i++;
				at = 0;
			}
		}
		copy_result_free(&one);
		copy_result_init(&one);
		if (copy_run(src, p->stage_fd, &part, opt, &one) < 0)
			goto out;
		result->bytes += one.bytes;
		result->pages += one.pages;
		result->direct |= one.direct;
		if (runs_union_into(&result->unreadable, &one.unreadable) < 0)
			goto out;
		if (i == plan->copy.n || q == OUTPACED_PARTS)
			break;
		if (track_peek(&p->tracker, &p->watched, &written) < 0)
			goto out;
		/* (one step of the throttle a pass: later passes take more) */
		if (written * p->page_size >= done && !throttling(p) &&
		    !throttle_more(p, written + (total - done) / p->page_size)) {
			struct copy_list left;
			struct pagemap_runs addrs;

			p->outpaced = true;
			p->written_outpaced = written;
			copy_list_init(&left);
			pagemap_runs_init(&addrs);
			for (size_t k = i; rc == -1 && k < plan->copy.n; k++, at = 0)
				if (copy_list_append(&left, plan->copy.range[k].addr + at,
						     plan->copy.range[k].len - at,
						     plan->copy.range[k].offset + at) < 0)
					rc = -2;
			qsort(left.range, left.n, sizeof left.range[0], by_address);
			for (size_t k = 0; rc == -1 && k < left.n; k++)
				if (pagemap_runs_append(&addrs, left.range[k].addr,
							left.range[k].addr + left.range[k].len) < 0)
					rc = -2;
			/* what the stop has to copy: the rest, and what was
			 * written, which the rest may hold too: at most every page
			 * of the pass (a writer that rewrote it all counted 2x) */
			p->end.dirty = written + copy_list_bytes(&left) / p->page_size;
			if (p->end.dirty > total / p->page_size)
				p->end.dirty = total / p->page_size;
			if (rc == -1)
				rc = runs_subtract_into(&plan->read_addrs, &addrs);
			else
				rc = -1;
			copy_list_free(&left);
			pagemap_runs_free(&addrs);
			goto out;
		}
	}
	rc = 0;
out:
	copy_list_free(&part);
	copy_result_free(&one);
	return rc;
}

/* Bytes a second from bytes over milliseconds (at least one). */
static uint64_t per_second(uint64_t bytes, uint64_t ms)
{
	return bytes * 1000 / (ms ? ms : 1);
}

/* Whether another pass pays, from a look at what was written since the
 * last one began (no reset): p->end says what was seen, and its reason
 * is set when the passes end here. Another pass copies about what the
 * look found and leaves the stop what is written meanwhile; it pays only
 * while the dirty set at least halves from one pass to the next (the
 * process writes less than half as fast as a pass copies: the passes then
 * copy at most about twice the first one), this look against the one
 * before (a pass's own look comes later, after the maps are read again,
 * and finds more: 480-550 pages where this one found 180 at 25 600 pages
 * a second), and while the bytes
 * copied, with what that pass and the stop would copy, stay within 1.5x
 * the first pass's (a fast writer: the JVM of issue 26 made 4-8 passes
 * copy 2-3x the core before this rule). A dirty set that does not halve
 * slows the process down one step more where a throttle may (throttle.h),
 * and the passes go on. */
/* Tests only (LIVECORE_TEST_THROTTLE): a forced step waits, 2 s at most,
 * for a stop of the throttle's own, so that a quiet process's passes,
 * which end in microseconds, do not end the throttle before it has
 * stopped the process once. */
static void throttle_wait_stop(const struct throttle *t, uint64_t stops_before)
{
	for (int i = 0; i < 2000 && atomic_load(&t->stops) == stops_before && !atomic_load(&t->error); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
}

static int another_pass(struct precopy *p, bool *more)
{
	const struct pass_stats *last = &p->pass[p->n_pass - 1];
	uint64_t estimate, bytes, stops_before = p->throttle ? atomic_load(&p->throttle->stops) : 0;

	*more = false;
	if (track_peek(&p->tracker, &p->watched, &estimate) < 0)
		return -1;
	bytes = estimate * p->page_size;
	p->end.dirty = estimate;
	p->end.at_ms = now_ms();
	p->end.interval_ms = p->end.at_ms - p->look_ms;
	p->end.dirty_bps = per_second(bytes, p->end.interval_ms);
	p->end.copy_bps = per_second(last->bytes, last->ms);
	if (p->throttle_forced && p->n_pass < p->max_passes && throttle_more(p, estimate)) {
		*more = true;
		throttle_wait_stop(p->throttle, stops_before);
	} else if (p->n_pass >= p->max_passes) {
		p->end.reason = "passes";
	} else if ((p->converged_bytes && bytes <= p->converged_bytes) ||
		   estimate * 100 < (uint64_t)p->dirty_pct * p->first_dirty) {
		p->end.reason = "converged";
	} else if (2 * estimate > (p->last_peek ? p->last_peek : p->last_dirty)) {
		/* losing: slow the process down (more) and pass again, as
		 * long as the throttle may go further */
		if (throttle_more(p, estimate))
			*more = true;
		else
			p->end.reason = "not-halving";
	} else if (!throttling(p) && 2 * (p->copied + 2 * bytes) > 3 * p->first_bytes) {
		/* (a throttled process is being caught up with: its passes
		 * copy more, and the stop less) */
		if (throttle_more(p, estimate))
			*more = true;
		else
			p->end.reason = "copy-limit";
	} else {
		*more = true;
	}
	p->last_peek = estimate;
	return 0;
}

static int run_passes(struct precopy *p, char *err, size_t errlen)
{
	struct stat st;
	bool more = true;

	if (p->held_stopped || p->fork)
		return no_pass(p, err, errlen);

	/* -c runs at least one pass, whatever the convergence test says: the
	 * caller (livecore.sh after a stop over its pause budget) asks for it */
	if (one_pass(p, err, errlen) < 0)
		return -1;
	if (!p->resume)
		p->first_dirty = p->pass[0].dirty;
	p->last_dirty = p->pass[p->n_pass - 1].dirty;
	if (p->outpaced) {
		const struct pass_stats *first = &p->pass[0];

		p->end.reason = "outpaced";
		p->end.at_ms = now_ms();
	p->end.interval_ms = p->end.at_ms - p->look_ms;
		p->end.dirty_bps = per_second(p->written_outpaced * p->page_size, p->end.interval_ms);
		p->end.copy_bps = per_second(first->bytes, first->ms);
		more = false;
	}
	while (p->tracker.mode != TRACK_NONE && more) {
		if (another_pass(p, &more) < 0) {
			snprintf(err, errlen, "cannot scan for dirty pages: %s", strerror(errno));
			return -1;
		}
		if (!more)
			break;
		if (one_pass(p, err, errlen) < 0)
			return -1;
		p->last_dirty = p->pass[p->n_pass - 1].dirty;
	}
	/* extents past the last byte written must still be inside the file */
	if (fstat(p->stage_fd, &st) < 0 ||
	    ((uint64_t)st.st_size < p->sm.ext.stage_end &&
	     ftruncate(p->stage_fd, (off_t)p->sm.ext.stage_end) < 0)) {
		snprintf(err, errlen, "cannot extend the staging file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int precopy_run(struct precopy *p, char *err, size_t errlen)
{
	int rc = run_passes(p, err, errlen), saved = errno;

	/* the process runs free from here: lc-freeze's stop comes next */
	if (p->throttle)
		throttle_end(p->throttle);
	errno = saved;
	return rc;
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
	if (p->held_stopped && manifest_header_add(out, "target", "stopped") < 0)
		return -1;
	/* anonymous shared memory the tracker watched: the target's writes
	 * are as of the stop, other processes' as each page was last copied */
	if (p->tracker.mode == TRACK_UFFD) {
		struct pagemap_runs shmem, tracked;
		int rc = 0;

		pagemap_runs_init(&shmem);
		pagemap_runs_init(&tracked);
		if (stagemap_shared_watchable(&p->before, &shmem) < 0 ||
		    runs_intersect(&shmem, &p->tracked, &tracked) < 0)
			rc = -1;
		for (size_t i = 0; rc == 0 && i < tracked.n; i++)
			rc = manifest_header_add(out, "shared-tracked", "%" PRIx64 "-%" PRIx64,
						 tracked.run[i].start, tracked.run[i].end);
		pagemap_runs_free(&shmem);
		pagemap_runs_free(&tracked);
		if (rc < 0)
			return -1;
	}
	/* one line, whatever the reason says */
	if (p->fallback) {
		char line[400], *c;

		snprintf(line, sizeof line, "%s", p->fallback);
		for (c = line; *c; c++)
			if (*c == '\n')
				*c = ' ';
		if (manifest_header_add(out, "tracking-fallback", "%s", line) < 0)
			return -1;
	}
	if (manifest_header_add(out, "tracking", "%s",
				p->fork ? "fork" : track_mode_name(p->tracker.mode)) < 0 ||
	    manifest_header_add(out, "stop-copy", "%s",
				p->fork ? "fork" : p->tracker.mode == TRACK_NONE ? "all" : "dirty") < 0)
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
					" vanished=%" PRIu64 " ms=%" PRIu64 "%s", p->pass[i].number,
					p->pass[i].pages, p->pass[i].bytes, p->pass[i].dirty,
					p->pass[i].vanished, p->pass[i].ms, stop) < 0)
			return -1;
	}
	if (p->end.reason &&
	    manifest_header_add(out, "precopy-end",
				"reason=%s dirty=%" PRIu64 " interval-ms=%" PRIu64 " dirty-bps=%" PRIu64
				" copy-bps=%" PRIu64 " at-ms=%" PRIu64 " copied=%" PRIu64, p->end.reason,
				p->end.dirty, p->end.interval_ms, p->end.dirty_bps, p->end.copy_bps,
				p->end.at_ms, p->copied) < 0)
		return -1;
	if (p->throttle && throttle_record(p->throttle, out) < 0)
		return -1;
	if (manifest_header_add(out, "stage-end", "0x%" PRIx64, p->sm.ext.stage_end) < 0)
		return -1;
	for (size_t i = 0; i < p->sm.unreadable.n; i++)
		if (manifest_header_add(out, "unreadable", "%" PRIx64 "-%" PRIx64,
					p->sm.unreadable.run[i].start, p->sm.unreadable.run[i].end) < 0)
			return -1;
	for (size_t i = 0; i < p->huge.n; i++)
		if (manifest_header_add(out, "thp", "%" PRIx64 "-%" PRIx64, p->huge.run[i].start,
					p->huge.run[i].end) < 0)
			return -1;
	/* records, extents and clean ranges are all ascending: one walk */
	{
		struct stagemap_cursor c = { 0 };

		for (size_t i = 0; i < p->before.n_vmas; i++) {
			struct manifest_vma r = p->before.vmas[i], *v;

			r.n_extents = r.n_clean = 0;
			v = manifest_add_vma(out, &r);

			if (!v || stagemap_to_vma(&p->sm, v, &c) < 0)
				return -1;
		}
	}
	return 0;
}
