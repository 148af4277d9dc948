/* lc-precopy-unit - unit tests of lc-precopy's address bookkeeping
 * (lib/common/runs.c, tools/lc-precopy/extents.c): the set operations, and extents
 * that follow addresses when VMAs grow, split, vanish and appear, which a
 * kernel without soft-dirty never exercises past the first pass.
 * Prints one line per failed check and exits 1 if any failed. */
#include "../../lib/common/pagemap.c"
#include "../../lib/common/runs.c"
#include "../../tools/lc-precopy/extents.c"

#include <stdio.h>

#define P 4096ull
#define A 0x100000000ull

/* pagemap.c's reader is not exercised here */
ssize_t xio_pread_full(int fd, void *buf, size_t len, off_t offset)
{
	(void)fd;
	(void)buf;
	(void)len;
	(void)offset;
	errno = ENOSYS;
	return -1;
}

/* extents.c's two outside calls, recorded instead of done */
int copy_list_append(struct copy_list *l, uint64_t addr, uint64_t len, uint64_t offset)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->range = realloc(l->range, l->cap * sizeof *l->range);
	}
	l->range[l->n++] = (struct copy_range){ addr, len, offset };
	return 0;
}

int manifest_vma_add_extent(struct manifest_vma *v, uint64_t start, uint64_t end, uint64_t offset)
{
	v->extents = realloc(v->extents, (v->n_extents + 1) * sizeof *v->extents);
	v->extents[v->n_extents++] = (struct manifest_extent){ start, end, offset };
	return 0;
}

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

int main(void)
{
	test_ranges();
	test_extents();
	if (failures) {
		printf("%d failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
