#include "pagemap.h"
#include "pagemap_scan.h"
#include "xio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define PAGEMAP_CHUNK_PAGES 8192u   /* entries read per pread: 64 KiB */
#define PAGEMAP_SCAN_REGIONS 512u

void pagemap_runs_init(struct pagemap_runs *r)
{
	memset(r, 0, sizeof *r);
}

void pagemap_runs_free(struct pagemap_runs *r)
{
	free(r->run);
	pagemap_runs_init(r);
}

void pagemap_runs_clear(struct pagemap_runs *r)
{
	r->n = 0;
}

int pagemap_runs_append(struct pagemap_runs *r, uint64_t start, uint64_t end)
{
	if (start >= end)
		return 0;
	if (r->n && r->run[r->n - 1].end == start) {
		r->run[r->n - 1].end = end;
		return 0;
	}
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct pagemap_run *p = realloc(r->run, cap * sizeof *p);

		if (!p)
			return -1;
		r->run = p;
		r->cap = cap;
	}
	r->run[r->n++] = (struct pagemap_run){ start, end };
	return 0;
}

uint64_t pagemap_runs_pages(const struct pagemap_runs *r, unsigned page_size)
{
	uint64_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		n += (r->run[i].end - r->run[i].start) / page_size;
	return n;
}

static int scan_ioctl(const struct pagemap *pm, uint64_t start, uint64_t end, unsigned what,
		      struct pagemap_runs *out)
{
	struct page_region vec[PAGEMAP_SCAN_REGIONS];
	struct pm_scan_arg arg;

	while (start < end) {
		long n;

		memset(&arg, 0, sizeof arg);
		arg.size = sizeof arg;
		arg.start = start;
		arg.end = end;
		arg.vec = (uint64_t)(uintptr_t)vec;
		arg.vec_len = PAGEMAP_SCAN_REGIONS;
		if (what & PAGEMAP_SOFT_DIRTY)
			arg.category_mask = PAGE_IS_SOFT_DIRTY;
		if (what & PAGEMAP_HUGE)
			arg.category_mask |= PAGE_IS_HUGE;
		if (what & PAGEMAP_POPULATED) {
			arg.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
			/* and not the zero page: memory read but never
			 * written (by the process, or by a debugger through
			 * /proc/PID/mem) holds no data; the kernel's core
			 * writes a hole there (FOLL_DUMP) */
			arg.category_inverted = PAGE_IS_PFNZERO;
			arg.category_mask |= PAGE_IS_PFNZERO;
		}
		arg.return_mask = arg.category_mask | arg.category_anyof_mask;
		do
			n = ioctl(pm->fd, PAGEMAP_SCAN, &arg);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			if (pagemap_runs_append(out, vec[i].start, vec[i].end) < 0)
				return -1;
		/* The walk stops early when vec is full; walk_end says where.
		 * No progress at all would be a kernel bug: do not spin. */
		if (arg.walk_end <= start || arg.walk_end > end) {
			errno = EIO;
			return -1;
		}
		start = arg.walk_end;
	}
	return 0;
}

int pagemap_open(struct pagemap *pm, int fd, unsigned page_size)
{
	struct pagemap_runs probe;
	uint64_t here = (uint64_t)(uintptr_t)&probe & ~((uint64_t)page_size - 1);

	pm->fd = fd;
	pm->page_size = page_size;
	pm->have_scan = false;
	/* Ask about one page (an address in our own stack: any address does,
	 * the ioctl only walks the target's tables). ENOTTY: before 6.7. */
	pagemap_runs_init(&probe);
	pm->have_scan = true;
	if (scan_ioctl(pm, here, here + page_size, PAGEMAP_POPULATED, &probe) < 0)
		pm->have_scan = false;
	pagemap_runs_free(&probe);
	return 0;
}

void pagemap_disable_scan(struct pagemap *pm)
{
	pm->have_scan = false;
}

int pagemap_read_entries(const struct pagemap *pm, uint64_t start, uint64_t end,
			 uint64_t *entries)
{
	uint64_t pages = (end - start) / pm->page_size;
	size_t len = (size_t)pages * sizeof *entries;
	ssize_t n = xio_pread_full(pm->fd, entries, len, (off_t)(start / pm->page_size * 8));

	if (n < 0)
		return -1;
	/* past the end of the address space reads short: nothing there */
	if ((size_t)n < len)
		memset((char *)entries + n, 0, len - (size_t)n);
	return 0;
}

static bool entry_matches(uint64_t e, unsigned what)
{
	if ((what & PAGEMAP_POPULATED) && !(e & (PAGEMAP_ENTRY_PRESENT | PAGEMAP_ENTRY_SWAPPED)))
		return false;
	if ((what & PAGEMAP_SOFT_DIRTY) && !(e & PAGEMAP_ENTRY_SOFT_DIRTY))
		return false;
	return !(what & PAGEMAP_HUGE);
}

/* Reads the entries of [start, end) once and appends to out[k] the runs
 * whose entries match what[k], for k < n. */
static int find_by_entries(const struct pagemap *pm, uint64_t start, uint64_t end,
			   const unsigned *what, struct pagemap_runs **out, size_t n)
{
	uint64_t *entries = malloc(PAGEMAP_CHUNK_PAGES * sizeof *entries);

	if (!entries)
		return -1;
	while (start < end) {
		uint64_t pages = (end - start) / pm->page_size;

		if (pages > PAGEMAP_CHUNK_PAGES)
			pages = PAGEMAP_CHUNK_PAGES;
		if (pagemap_read_entries(pm, start, start + pages * pm->page_size, entries) < 0) {
			free(entries);
			return -1;
		}
		for (size_t k = 0; k < n; k++) {
			uint64_t run_start = 0;
			bool in_run = false;

			for (uint64_t i = 0; i <= pages; i++) {
				bool match = i < pages && entry_matches(entries[i], what[k]);
				uint64_t addr = start + i * pm->page_size;

				if (match && !in_run) {
					run_start = addr;
					in_run = true;
				} else if (!match && in_run) {
					in_run = false;
					if (pagemap_runs_append(out[k], run_start, addr) < 0) {
						free(entries);
						return -1;
					}
				}
			}
		}
		start += pages * pm->page_size;
	}
	free(entries);
	return 0;
}

int pagemap_find_populated_dirty(const struct pagemap *pm, uint64_t start, uint64_t end,
				 struct pagemap_runs *populated, struct pagemap_runs *soft_dirty)
{
	static const unsigned what[2] = { PAGEMAP_POPULATED, PAGEMAP_SOFT_DIRTY };
	struct pagemap_runs *out[2] = { populated, soft_dirty };

	if (start >= end)
		return 0;
	/* two looks are two instants: the caller holds the target still */
	if (pm->have_scan) {
		if (pagemap_find(pm, start, end, PAGEMAP_POPULATED, populated) < 0)
			return -1;
		return pagemap_find(pm, start, end, PAGEMAP_SOFT_DIRTY, soft_dirty);
	}
	return find_by_entries(pm, start, end, what, out, 2);
}

int pagemap_find(const struct pagemap *pm, uint64_t start, uint64_t end, unsigned what,
		 struct pagemap_runs *out)
{
	if (start >= end)
		return 0;
	if (pm->have_scan) {
		size_t before = out->n;
		uint64_t last_end = before ? out->run[before - 1].end : 0;

		if (scan_ioctl(pm, start, end, what, out) == 0)
			return 0;
		if (errno != EINVAL && errno != ENOTTY && errno != EOPNOTSUPP)
			return -1;
		/* undo a partial answer, then read the entries */
		out->n = before;
		if (before)
			out->run[before - 1].end = last_end;
	}
	return find_by_entries(pm, start, end, &what, &out, 1);
}

/* Appends to out what of found lies inside runs [from, to). */
static int keep_inside(const struct pagemap_runs *found, const struct pagemap_runs *runs, size_t from,
		       size_t to, struct pagemap_runs *out)
{
	size_t a = 0, b = from;

	while (a < found->n && b < to) {
		const struct pagemap_run *f = &found->run[a], *r = &runs->run[b];
		uint64_t s = f->start > r->start ? f->start : r->start;
		uint64_t e = f->end < r->end ? f->end : r->end;

		if (s < e && pagemap_runs_append(out, s, e) < 0)
			return -1;
		if (f->end < r->end)
			a++;
		else
			b++;
	}
	return 0;
}

/* Bytes of r (ascending) in [start, end), counted up to just past limit;
 * *j is a cursor the caller keeps across ascending ranges. */
static uint64_t bytes_within(const struct pagemap_runs *r, size_t *j, uint64_t start, uint64_t end,
			     uint64_t limit)
{
	uint64_t n = 0;

	while (*j < r->n && r->run[*j].end <= start)
		(*j)++;
	for (size_t k = *j; k < r->n && r->run[k].start < end && n <= limit; k++) {
		uint64_t s = r->run[k].start > start ? r->run[k].start : start;
		uint64_t e = r->run[k].end < end ? r->run[k].end : end;

		n += e - s;
	}
	return n;
}

int pagemap_find_in(const struct pagemap *pm, const struct pagemap_runs *runs, unsigned what,
		    const struct pagemap_runs *busy, struct pagemap_runs *out)
{
	struct pagemap_runs found;
	size_t from = 0, j = 0;
	int rc = 0;

	pagemap_runs_init(&found);
	for (size_t i = 1; i <= runs->n && rc == 0; i++) {
		if (i < runs->n && pm->have_scan) {
			uint64_t a = runs->run[i - 1].end, b = runs->run[i].start;
			uint64_t cost = busy ? bytes_within(busy, &j, a, b, PAGEMAP_SPAN_BUSY) : b - a;

			if (cost < PAGEMAP_SPAN_BUSY)
				continue;
		}
		pagemap_runs_clear(&found);
		rc = pagemap_find(pm, runs->run[from].start, runs->run[i - 1].end, what, &found) < 0 ||
		     keep_inside(&found, runs, from, i, out) < 0 ? -1 : 0;
		from = i;
	}
	pagemap_runs_free(&found);
	return rc;
}
