/* lc-stagemap-unit - unit tests of the staged model and its bookkeeping,
 * without a process: the set operations (lib/common/runs.c), extents that
 * follow addresses when VMAs grow, split, vanish and appear (extents.c),
 * and every transition of the model lc-precopy and lc-freeze share
 * (stagemap.c, delta.c), with its invariants checked after each.
 * Prints one line per failed check and exits 1 if any failed. */
#include "delta.h"
#include "extents.h"
#include "runs.h"
#include "stagemap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P 4096ull
#define A 0x100000000ull

static int failures;

static void runs_of(struct pagemap_runs *r, const uint64_t *pairs, size_t n)
{
	pagemap_runs_init(r);
	for (size_t i = 0; i + 1 < n; i += 2)
		pagemap_runs_append(r, pairs[i], pairs[i + 1]);
}

static void expect_runs(const char *what, const struct pagemap_runs *r, const uint64_t *pairs,
			size_t n)
{
	bool ok = r->n == n / 2;

	for (size_t i = 0; ok && i < r->n; i++)
		ok = r->run[i].start == pairs[2 * i] && r->run[i].end == pairs[2 * i + 1];
	if (ok)
		return;
	failures++;
	printf("FAIL %s: got", what);
	for (size_t i = 0; i < r->n; i++)
		printf(" %#llx-%#llx", (unsigned long long)r->run[i].start,
		       (unsigned long long)r->run[i].end);
	printf(", want");
	for (size_t i = 0; i + 1 < n; i += 2)
		printf(" %#llx-%#llx", (unsigned long long)pairs[i], (unsigned long long)pairs[i + 1]);
	printf("\n");
}

static void expect_extents(const char *what, const struct extents *t, const uint64_t *triples,
			   size_t n)
{
	bool ok = t->n == n / 3;

	for (size_t i = 0; ok && i < t->n; i++)
		ok = t->x[i].start == triples[3 * i] && t->x[i].end == triples[3 * i + 1] &&
		     t->x[i].offset == triples[3 * i + 2];
	if (ok)
		return;
	failures++;
	printf("FAIL %s: got", what);
	for (size_t i = 0; i < t->n; i++)
		printf(" %#llx-%#llx@%#llx", (unsigned long long)t->x[i].start,
		       (unsigned long long)t->x[i].end, (unsigned long long)t->x[i].offset);
	printf("\n");
}

#define RUNS(r, ...) do { static const uint64_t v_[] = { __VA_ARGS__ }; \
	runs_of(r, v_, sizeof v_ / sizeof v_[0]); } while (0)
#define EXPECT_RUNS(what, r, ...) do { static const uint64_t v_[] = { __VA_ARGS__ }; \
	expect_runs(what, r, v_, sizeof v_ / sizeof v_[0]); } while (0)
#define EXPECT_NO_RUNS(what, r) expect_runs(what, r, NULL, 0)
#define EXPECT_EXTENTS(what, t, ...) do { static const uint64_t v_[] = { __VA_ARGS__ }; \
	expect_extents(what, t, v_, sizeof v_ / sizeof v_[0]); } while (0)

static void test_ranges(void)
{
	struct pagemap_runs a, b, out;

	pagemap_runs_init(&out);
	RUNS(&a, A, A + 4 * P, A + 8 * P, A + 12 * P);
	RUNS(&b, A + 2 * P, A + 10 * P);
	runs_intersect(&a, &b, &out);
	EXPECT_RUNS("intersect", &out, A + 2 * P, A + 4 * P, A + 8 * P, A + 10 * P);
	runs_subtract(&a, &b, &out);
	EXPECT_RUNS("subtract", &out, A, A + 2 * P, A + 10 * P, A + 12 * P);
	runs_subtract(&b, &a, &out);
	EXPECT_RUNS("subtract reversed", &out, A + 4 * P, A + 8 * P);
	runs_union(&a, &b, &out);
	EXPECT_RUNS("union", &out, A, A + 12 * P);
	runs_subtract(&a, &a, &out);
	EXPECT_NO_RUNS("a - a", &out);
	/* appending merges adjacent runs only */
	pagemap_runs_clear(&out);
	pagemap_runs_append(&out, A, A + P);
	pagemap_runs_append(&out, A + P, A + 2 * P);
	pagemap_runs_append(&out, A + 3 * P, A + 4 * P);
	EXPECT_RUNS("append", &out, A, A + 2 * P, A + 3 * P, A + 4 * P);
	pagemap_runs_free(&a);
	pagemap_runs_free(&b);
	pagemap_runs_free(&out);
}

static void test_extents(void)
{
	struct extents t;
	struct pagemap_runs wanted, fresh, dropped;
	struct copy_list list = { 0 };
	struct manifest_vma v = { 0 };
	size_t cursor = 0;

	extents_init(&t, P);
	pagemap_runs_init(&fresh);
	pagemap_runs_init(&dropped);

	/* pass 1: one VMA of 4 pages, staged after the header page */
	RUNS(&wanted, A, A + 4 * P);
	extents_retarget(&t, &wanted, &fresh, &dropped);
	EXPECT_EXTENTS("first", &t, A, A + 4 * P, P);
	EXPECT_RUNS("first fresh", &fresh, A, A + 4 * P);
	EXPECT_NO_RUNS("first dropped", &dropped);
	pagemap_runs_free(&wanted);

	/* it grew by 2 pages: old addresses keep their offsets, the new ones
	 * land at the stage end, which here continues the extent */
	RUNS(&wanted, A, A + 6 * P);
	extents_retarget(&t, &wanted, &fresh, &dropped);
	EXPECT_EXTENTS("grown", &t, A, A + 6 * P, P);
	EXPECT_RUNS("grown fresh", &fresh, A + 4 * P, A + 6 * P);
	EXPECT_NO_RUNS("grown dropped", &dropped);
	pagemap_runs_free(&wanted);

	/* mprotect split it and the middle page is no longer dumped; a new
	 * VMA appeared below */
	RUNS(&wanted, A - 2 * P, A - P, A, A + 2 * P, A + 3 * P, A + 6 * P);
	extents_retarget(&t, &wanted, &fresh, &dropped);
	EXPECT_EXTENTS("split", &t, A - 2 * P, A - P, 7 * P, A, A + 2 * P, P,
		       A + 3 * P, A + 6 * P, 4 * P);
	EXPECT_RUNS("split fresh", &fresh, A - 2 * P, A - P);
	EXPECT_RUNS("split dropped (staging offsets)", &dropped, 3 * P, 4 * P);
	if (t.stage_end != 8 * P) {
		failures++;
		printf("FAIL stage_end %#llx, want %#llx\n", (unsigned long long)t.stage_end, 8 * P);
	}

	/* a copy list across extents whose offsets do not continue */
	pagemap_runs_free(&wanted);
	RUNS(&wanted, A - 2 * P, A - P, A, A + 2 * P, A + 3 * P, A + 5 * P);
	extents_copy_list(&t, &wanted, &list);
	if (list.n != 3 || list.range[0].addr != A - 2 * P || list.range[0].offset != 7 * P ||
	    list.range[1].addr != A || list.range[1].len != 2 * P || list.range[1].offset != P ||
	    list.range[2].addr != A + 3 * P || list.range[2].len != 2 * P ||
	    list.range[2].offset != 4 * P) {
		failures++;
		printf("FAIL copy list: %zu ranges\n", list.n);
	}

	/* records in ascending order over the extents, one cursor: a record
	 * spanning two extents gets both, clipped */
	v.start = A - 2 * P;
	v.end = A - P;
	extents_to_vma(&t, &v, &cursor);
	free(v.extents);
	v.extents = NULL;
	v.n_extents = 0;
	v.start = A + P;
	v.end = A + 4 * P;
	extents_to_vma(&t, &v, &cursor);
	if (v.n_extents != 2 || v.extents[0].start != A + P || v.extents[0].end != A + 2 * P ||
	    v.extents[0].offset != 2 * P || v.extents[1].start != A + 3 * P ||
	    v.extents[1].end != A + 4 * P || v.extents[1].offset != 4 * P) {
		failures++;
		printf("FAIL extents_to_vma: %zu extents\n", v.n_extents);
	}

	/* everything vanished */
	pagemap_runs_free(&wanted);
	pagemap_runs_init(&wanted);
	extents_retarget(&t, &wanted, &fresh, &dropped);
	EXPECT_EXTENTS("vanished", &t);
	EXPECT_RUNS("vanished dropped", &dropped, 7 * P, 8 * P, P, 3 * P, 4 * P, 7 * P);

	free(v.extents);
	free(list.range);
	pagemap_runs_free(&wanted);
	pagemap_runs_free(&fresh);
	pagemap_runs_free(&dropped);
	extents_free(&t);
}

/* ---- the staged model ---------------------------------------------- */

static void expect_ok(const char *what, const struct stagemap *sm)
{
	char why[200];

	if (stagemap_check(sm, why, sizeof why) == 0)
		return;
	failures++;
	printf("FAIL %s: invariant broken: %s\n", what, why);
}

/* A pass as the tools make it: plan with populated, "copy", mark copied
 * within watched, nothing faulted. */
static void pass(struct stagemap *sm, const struct pagemap_runs *populated,
		 const struct pagemap_runs *watched, struct stagemap_plan *plan)
{
	struct pagemap_runs none;

	pagemap_runs_init(&none);
	stagemap_plan(sm, populated, plan);
	stagemap_copied(sm, plan, &none, watched);
	pagemap_runs_free(&none);
}

static void test_stagemap(void)
{
	struct stagemap sm;
	struct stagemap_plan plan;
	struct pagemap_runs wanted, pop, watched, dropped, r, none;

	stagemap_init(&sm, P);
	stagemap_plan_init(&plan);
	pagemap_runs_init(&dropped);
	pagemap_runs_init(&none);

	/* a new VMA of 8 pages: everything dirty */
	RUNS(&wanted, A, A + 8 * P);
	stagemap_retarget(&sm, &wanted, &dropped);
	expect_ok("new", &sm);
	EXPECT_RUNS("new: all dirty", &sm.dirty, A, A + 8 * P);
	EXPECT_NO_RUNS("new: nothing dropped", &dropped);

	/* populated: pages 0-1 and 4; the tracker watches all of it */
	RUNS(&pop, A, A + 2 * P, A + 4 * P, A + 5 * P);
	RUNS(&watched, A, A + 8 * P);
	pass(&sm, &pop, &watched, &plan);
	expect_ok("first copy", &sm);
	EXPECT_RUNS("first copy reads the populated pages", &plan.read_addrs, A, A + 2 * P, A + 4 * P,
		    A + 5 * P);
	EXPECT_RUNS("first copy punches the rest", &plan.punch_addrs, A + 2 * P, A + 4 * P, A + 5 * P,
		    A + 8 * P);
	EXPECT_RUNS("data", &sm.data, A, A + 2 * P, A + 4 * P, A + 5 * P);
	EXPECT_RUNS("hole", &sm.hole, A + 2 * P, A + 4 * P, A + 5 * P, A + 8 * P);
	EXPECT_NO_RUNS("nothing dirty", &sm.dirty);

	/* the tracker reports pages 1 (data) and 6 (a hole, now populated)
	 * written; page 4 was discarded (MADV_DONTNEED) and not reported */
	RUNS(&r, A + P, A + 2 * P, A + 6 * P, A + 7 * P);
	stagemap_mark_dirty(&sm, &r);
	pagemap_runs_free(&pop);
	RUNS(&pop, A, A + 2 * P, A + 6 * P, A + 7 * P);
	stagemap_vanished(&sm, &watched, &pop);
	expect_ok("written and vanished", &sm);
	EXPECT_RUNS("written and vanished are dirty", &sm.dirty, A + P, A + 2 * P, A + 4 * P, A + 5 * P,
		    A + 6 * P, A + 7 * P);
	pass(&sm, &pop, &watched, &plan);
	EXPECT_RUNS("second copy reads the written pages", &plan.read_addrs, A + P, A + 2 * P, A + 6 * P,
		    A + 7 * P);
	EXPECT_RUNS("second copy punches the vanished page", &plan.punch_addrs, A + 4 * P, A + 5 * P);
	EXPECT_RUNS("data after", &sm.data, A, A + 2 * P, A + 6 * P, A + 7 * P);
	expect_ok("second copy", &sm);
	pagemap_runs_free(&r);

	/* a HOLE page the kernel lists as populated (a uffd marker) but not
	 * written stays a hole, and vanished never touches holes */
	stagemap_vanished(&sm, &watched, &pop);
	EXPECT_NO_RUNS("holes never vanish", &sm.dirty);

	/* I3: what no tracker watches is never trusted: pages 0-3 leave the
	 * watched set (the VMA was found unregistered), so they go dirty, and
	 * a copy does not make them clean */
	pagemap_runs_free(&watched);
	RUNS(&watched, A + 4 * P, A + 8 * P);
	RUNS(&r, A, A + 4 * P);
	stagemap_mark_dirty(&sm, &r);
	pass(&sm, &pop, &watched, &plan);
	EXPECT_RUNS("untracked stays dirty after its copy", &sm.dirty, A, A + 4 * P);
	EXPECT_RUNS("and was read where populated", &plan.read_addrs, A, A + 2 * P);
	expect_ok("untracked", &sm);
	pagemap_runs_free(&r);

	/* a page whose read faults stays dirty and is remembered */
	pagemap_runs_free(&watched);
	RUNS(&watched, A, A + 8 * P);
	stagemap_plan(&sm, &pop, &plan);
	RUNS(&r, A, A + P);
	stagemap_copied(&sm, &plan, &r, &watched);
	EXPECT_RUNS("faulted page dirty", &sm.dirty, A, A + P);
	EXPECT_RUNS("faulted page unreadable", &sm.unreadable, A, A + P);
	expect_ok("unreadable", &sm);
	pass(&sm, &pop, &watched, &plan);
	EXPECT_NO_RUNS("read again: no longer unreadable", &sm.unreadable);
	EXPECT_NO_RUNS("read again: clean", &sm.dirty);
	pagemap_runs_free(&r);

	/* the VMA shrank to pages 2-7 and a new one appeared below: states
	 * follow the addresses, new ones are dirty, dropped space is given */
	pagemap_runs_free(&wanted);
	RUNS(&wanted, A - 2 * P, A, A + 2 * P, A + 8 * P);
	stagemap_retarget(&sm, &wanted, &dropped);
	expect_ok("retargeted", &sm);
	EXPECT_RUNS("retarget: the new VMA is dirty", &sm.dirty, A - 2 * P, A);
	EXPECT_RUNS("retarget: data kept by address", &sm.data, A + 6 * P, A + 7 * P);
	EXPECT_RUNS("retarget: staging of pages 0-1 dropped", &dropped, P, 3 * P);

	/* the manifest round trip: extents and CLEAN (":hole") back to the
	 * same model */
	{
		struct manifest m;
		struct manifest_vma v = { .start = A - 2 * P, .end = A + 8 * P, .perms = "rw-p",
					  .decision = "dump", .dump_size = 10 * P };
		struct stagemap_cursor c = { 0 };
		struct stagemap back;
		char why[200];
		struct manifest_vma *stored;

		manifest_init(&m);
		m.page_size = (unsigned)P;
		stored = manifest_add_vma(&m, &v);
		stagemap_to_vma(&sm, stored, &c);
		if (stored->n_clean != 3 || stored->clean[0].hole != true || stored->clean[1].hole ||
		    !stored->clean[2].hole) {
			failures++;
			printf("FAIL to_vma: %zu clean ranges\n", stored->n_clean);
		}
		manifest_header_add(&m, "stage-end", "0x%llx", (unsigned long long)sm.ext.stage_end);
		stagemap_init(&back, P);
		if (stagemap_load(&back, &m, why, sizeof why) < 0) {
			failures++;
			printf("FAIL load: %s\n", why);
		}
		expect_ok("loaded", &back);
		EXPECT_RUNS("loaded dirty", &back.dirty, A - 2 * P, A);
		EXPECT_RUNS("loaded data", &back.data, A + 6 * P, A + 7 * P);
		EXPECT_RUNS("loaded hole", &back.hole, A + 2 * P, A + 6 * P, A + 7 * P, A + 8 * P);
		if (back.ext.stage_end != sm.ext.stage_end) {
			failures++;
			printf("FAIL loaded stage end\n");
		}
		/* a clean range outside every extent is refused */
		stagemap_free(&back);
		stagemap_init(&back, P);
		manifest_vma_add_clean(stored, A + 8 * P, A + 9 * P, false);
		stored->end = A + 9 * P;
		if (stagemap_load(&back, &m, why, sizeof why) == 0) {
			failures++;
			printf("FAIL load took a clean range outside the extents\n");
		}
		stagemap_free(&back);
		manifest_free(&m);
	}

	/* the checker catches a broken model */
	pagemap_runs_append(&sm.dirty, A + 6 * P, A + 7 * P);
	{
		char why[200];

		if (stagemap_check(&sm, why, sizeof why) == 0) {
			failures++;
			printf("FAIL check missed a page both dirty and data\n");
		}
	}

	pagemap_runs_free(&wanted);
	pagemap_runs_free(&pop);
	pagemap_runs_free(&watched);
	pagemap_runs_free(&dropped);
	pagemap_runs_free(&none);
	stagemap_plan_free(&plan);
	stagemap_free(&sm);
}

/* What changed under a staged address, record by record. */
static void test_mapping_changes(void)
{
	struct manifest before, now;
	struct pagemap_runs out;
	struct manifest_vma anon = { .start = A, .end = A + 8 * P, .perms = "rw-p", .decision = "dump",
				     .dump_size = 8 * P, .path = "" };
	struct manifest_vma file = { .start = A + 8 * P, .end = A + 12 * P, .perms = "rw-p",
				     .offset = 0x3000, .inode = 42, .dev_major = 8, .decision = "dump",
				     .dump_size = 4 * P, .path = "/lib/x.so" };

	manifest_init(&before);
	manifest_init(&now);
	pagemap_runs_init(&out);
	manifest_add_vma(&before, &anon);
	manifest_add_vma(&before, &file);
	/* mprotect split the anonymous VMA (pages 2-3 read-only) and the
	 * file mapping moved on by one page of the file */
	anon.end = A + 2 * P;
	anon.dump_size = 2 * P;
	manifest_add_vma(&now, &anon);
	anon.start = A + 2 * P;
	anon.end = A + 4 * P;
	memcpy(anon.perms, "r--p", 5);
	manifest_add_vma(&now, &anon);
	anon.start = A + 4 * P;
	anon.end = A + 8 * P;
	memcpy(anon.perms, "rw-p", 5);
	manifest_add_vma(&now, &anon);
	file.offset = 0x4000;
	manifest_add_vma(&now, &file);
	stagemap_mapping_changes(&before, &now, &out);
	EXPECT_RUNS("changed: the new permissions and the other file offset", &out, A + 2 * P, A + 4 * P,
		    A + 8 * P, A + 12 * P);
	pagemap_runs_free(&out);
	manifest_free(&before);
	manifest_free(&now);
}

/* Which shared records a page-table tracker may watch: anonymous shared
 * memory mapped once; not a segment mapped twice (a write through one
 * mapping is not seen in the other's page tables), not a memfd or a tmpfs
 * file (write(2) changes them without a fault). A split of one mapping is
 * not an alias: its parts map different offsets. */
static void test_shared_watchable(void)
{
	struct manifest m;
	struct pagemap_runs out;
	struct manifest_vma zero = { .start = A, .end = A + 4 * P, .perms = "rw-s", .inode = 7,
				     .dev_minor = 1, .decision = "dump", .dump_size = 4 * P,
				     .path = "/dev/zero (deleted)" };

	manifest_init(&m);
	pagemap_runs_init(&out);
	/* one /dev/zero mapping split by mprotect into two records */
	zero.end = A + 2 * P;
	zero.dump_size = 2 * P;
	manifest_add_vma(&m, &zero);
	zero.start = A + 2 * P;
	zero.end = A + 4 * P;
	zero.offset = 2 * P;
	memcpy(zero.perms, "r--s", 5);
	manifest_add_vma(&m, &zero);
	/* a System V segment attached twice */
	zero = (struct manifest_vma){ .start = A + 8 * P, .end = A + 12 * P, .perms = "rw-s", .inode = 9,
				      .dev_minor = 1, .decision = "dump", .dump_size = 4 * P,
				      .path = "/SYSV0000abcd (deleted)" };
	manifest_add_vma(&m, &zero);
	zero.start = A + 16 * P;
	zero.end = A + 18 * P;
	zero.offset = 2 * P;
	zero.dump_size = 2 * P;
	manifest_add_vma(&m, &zero);
	/* a memfd, a tmpfs file, a private mapping of /dev/zero */
	zero = (struct manifest_vma){ .start = A + 20 * P, .end = A + 24 * P, .perms = "rw-s", .inode = 11,
				      .dev_minor = 1, .decision = "dump", .dump_size = 4 * P,
				      .path = "/memfd:x (deleted)" };
	manifest_add_vma(&m, &zero);
	zero.start = A + 24 * P;
	zero.end = A + 28 * P;
	zero.inode = 12;
	zero.dev_minor = 26;
	zero.path = "/dev/shm/x";
	manifest_add_vma(&m, &zero);
	zero.start = A + 28 * P;
	zero.end = A + 32 * P;
	zero.inode = 13;
	zero.dev_minor = 1;
	memcpy(zero.perms, "rw-p", 5);
	zero.path = "/dev/zero (deleted)";
	manifest_add_vma(&m, &zero);
	stagemap_shared_watchable(&m, &out);
	EXPECT_RUNS("watchable: the split /dev/zero mapping alone", &out, A, A + 4 * P);
	pagemap_runs_free(&out);
	manifest_free(&m);
}

/* Which dirty pages are read: uffd markers of known holes are not. */
static void test_delta_populated(void)
{
	struct stagemap sm;
	struct delta_ranges r;
	struct track_report rep;
	struct pagemap_runs wanted, dropped, scanned, holes, none, out;
	struct delta_look look;

	stagemap_init(&sm, P);
	delta_ranges_init(&r);
	track_report_init(&rep);
	pagemap_runs_init(&dropped);
	pagemap_runs_init(&none);
	pagemap_runs_init(&out);
	RUNS(&wanted, A, A + 8 * P);
	pagemap_runs_append(&r.wanted, A, A + 8 * P);
	pagemap_runs_append(&r.private, A, A + 8 * P);
	stagemap_retarget(&sm, &wanted, &dropped);
	RUNS(&scanned, A, A + 8 * P);
	/* pages 2-3 were holes, 6-7 holes of a VMA registered just now (seen
	 * before its protection); the kernel lists 0-1 present, 2-3 swapped
	 * (markers), 3 and 5 written, 6 present (populated before the
	 * protection caught it: data), 7 swapped (a marker) */
	RUNS(&holes, A + 2 * P, A + 4 * P);
	pagemap_runs_free(&none);
	RUNS(&none, A + 6 * P, A + 8 * P);
	pagemap_runs_append(&rep.populated, A, A + 4 * P);
	pagemap_runs_append(&rep.populated, A + 5 * P, A + 8 * P);
	pagemap_runs_append(&rep.present, A, A + 2 * P);
	pagemap_runs_append(&rep.present, A + 3 * P, A + 4 * P);
	pagemap_runs_append(&rep.present, A + 5 * P, A + 7 * P);
	pagemap_runs_append(&rep.written, A + 3 * P, A + 4 * P);
	pagemap_runs_append(&rep.written, A + 5 * P, A + 6 * P);
	look = (struct delta_look){ TRACK_UFFD, &scanned, &rep, &holes, &none, NULL, NULL };
	delta_populated(&sm, &r, NULL, &look, &out);
	EXPECT_RUNS("uffd: markers of known holes are not read; written pages and a new hole "
		    "populated before its protection are", &out, A, A + 2 * P, A + 3 * P, A + 4 * P,
		    A + 5 * P, A + 7 * P);
	look.mode = TRACK_SOFT_DIRTY;
	delta_populated(&sm, &r, NULL, &look, &out);
	EXPECT_RUNS("soft-dirty: every populated page is read", &out, A, A + 4 * P, A + 5 * P,
		    A + 8 * P);
	pagemap_runs_free(&wanted);
	pagemap_runs_free(&dropped);
	pagemap_runs_free(&scanned);
	pagemap_runs_free(&holes);
	pagemap_runs_free(&none);
	pagemap_runs_free(&out);
	track_report_free(&rep);
	delta_ranges_free(&r);
	stagemap_free(&sm);
}

int main(void)
{
	test_ranges();
	test_extents();
	test_stagemap();
	test_mapping_changes();
	test_shared_watchable();
	test_delta_populated();
	if (failures) {
		printf("%d failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
