#include "track.h"
#include "ptrace_stop.h"
#include "runs.h"
#include "uffd.h"
#include "xio.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

const char *track_mode_name(enum track_mode mode)
{
	switch (mode) {
	case TRACK_SOFT_DIRTY:
		return "soft-dirty";
	case TRACK_UFFD:
		return "uffd";
	case TRACK_NONE:
		break;
	}
	return "none";
}

int track_request_parse(const char *text, enum track_request *out)
{
	static const struct {
		const char *name;
		enum track_request req;
	} names[] = {
		{ "auto", TRACK_REQUEST_AUTO },
		{ "none", TRACK_REQUEST_NONE },
		{ "soft-dirty", TRACK_REQUEST_SOFT_DIRTY },
		{ "uffd", TRACK_REQUEST_UFFD },
	};

	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(text, names[i].name)) {
			*out = names[i].req;
			return 0;
		}
	errno = EINVAL;
	return -1;
}

static int write_clear_refs(int fd)
{
	ssize_t n;

	do
		n = pwrite(fd, "4", 1, 0);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		return 0;
	if (n >= 0)
		errno = EIO;
	return -1;
}

/* The probe: a page of our own, written once so that it is present, then
 * reset, written again. A working tracker must report it dirty after the
 * second write, and (a second check against a kernel that reports every
 * page dirty) clean between the reset and the write. */
int track_probe_soft_dirty(char *why, size_t whylen)
{
	long page_size = sysconf(_SC_PAGESIZE);
	volatile char *page;
	uint64_t entry = 0;
	struct pagemap pm;
	int pagemap_fd, clear_fd, rc = -1;

	pagemap_fd = xio_openat(AT_FDCWD, "/proc/self/pagemap", O_RDONLY, 0);
	clear_fd = xio_openat(AT_FDCWD, "/proc/self/clear_refs", O_WRONLY, 0);
	if (pagemap_fd < 0 || clear_fd < 0) {
		snprintf(why, whylen, "cannot open /proc/self/%s: %s",
			 pagemap_fd < 0 ? "pagemap" : "clear_refs", strerror(errno));
		goto out_fds;
	}
	page = mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (page == MAP_FAILED) {
		snprintf(why, whylen, "mmap: %s", strerror(errno));
		goto out_fds;
	}
	pagemap_open(&pm, pagemap_fd, (unsigned)page_size);
	page[0] = 1;
	if (write_clear_refs(clear_fd) < 0) {
		snprintf(why, whylen, "clear_refs refused \"4\": %s", strerror(errno));
		goto out;
	}
	if (pagemap_read_entries(&pm, (uint64_t)(uintptr_t)page,
				 (uint64_t)(uintptr_t)page + (uint64_t)page_size, &entry) < 0) {
		snprintf(why, whylen, "cannot read /proc/self/pagemap: %s", strerror(errno));
		goto out;
	}
	if (entry & PAGEMAP_ENTRY_SOFT_DIRTY) {
		snprintf(why, whylen, "pagemap bit 55 stays set after clear_refs \"4\"");
		goto out;
	}
	page[0] = 2;
	if (pagemap_read_entries(&pm, (uint64_t)(uintptr_t)page,
				 (uint64_t)(uintptr_t)page + (uint64_t)page_size, &entry) < 0) {
		snprintf(why, whylen, "cannot read /proc/self/pagemap: %s", strerror(errno));
		goto out;
	}
	if (!(entry & PAGEMAP_ENTRY_SOFT_DIRTY)) {
		/* CONFIG_MEM_SOFT_DIRTY=n: clear_refs accepts 4 silently */
		snprintf(why, whylen,
			 "the kernel accepted clear_refs \"4\" but never set pagemap bit 55 "
			 "(no CONFIG_MEM_SOFT_DIRTY)");
		goto out;
	}
	rc = 0;
out:
	munmap((void *)page, (size_t)page_size);
out_fds:
	if (pagemap_fd >= 0)
		close(pagemap_fd);
	if (clear_fd >= 0)
		close(clear_fd);
	return rc;
}

int track_choose(enum track_request req, enum track_mode *out, char *why, size_t whylen)
{
	const char *force = getenv("LIVECORE_FORCE_TRACKING");
	char probe_why[200];

	why[0] = '\0';
	if (force && *force) {
		enum track_request forced;

		if (track_request_parse(force, &forced) < 0 || forced == TRACK_REQUEST_AUTO) {
			snprintf(why, whylen, "LIVECORE_FORCE_TRACKING=%s: want none, soft-dirty or uffd",
				 force);
			errno = EINVAL;
			return -1;
		}
		if (forced == TRACK_REQUEST_NONE) {
			*out = TRACK_NONE;
			snprintf(why, whylen, "LIVECORE_FORCE_TRACKING=none");
			return 0;
		}
		/* forcing a real tracker still requires it to work */
		req = forced;
	}
	switch (req) {
	case TRACK_REQUEST_NONE:
		*out = TRACK_NONE;
		snprintf(why, whylen, "-T none");
		return 0;
	case TRACK_REQUEST_UFFD:
		if (uffd_probe(probe_why, sizeof probe_why) < 0) {
			snprintf(why, whylen, "uffd tracking does not work here: %s", probe_why);
			errno = ENOTSUP;
			return -1;
		}
		*out = TRACK_UFFD;
		return 0;
	case TRACK_REQUEST_SOFT_DIRTY:
		if (track_probe_soft_dirty(probe_why, sizeof probe_why) < 0) {
			snprintf(why, whylen, "soft-dirty tracking does not work here: %s", probe_why);
			errno = ENOTSUP;
			return -1;
		}
		*out = TRACK_SOFT_DIRTY;
		return 0;
	case TRACK_REQUEST_AUTO:
		break;
	}
	/* tests only: auto as on a kernel with neither tracker */
	if (getenv("LIVECORE_TEST_NO_TRACKER")) {
		*out = TRACK_NONE;
		snprintf(why, whylen, "LIVECORE_TEST_NO_TRACKER: as on a kernel with neither soft-dirty "
			 "nor uffd");
		return 0;
	}
	if (track_probe_soft_dirty(probe_why, sizeof probe_why) == 0) {
		*out = TRACK_SOFT_DIRTY;
		return 0;
	}
	{
		char uffd_why[200];

		if (uffd_probe(uffd_why, sizeof uffd_why) == 0) {
			*out = TRACK_UFFD;
			return 0;
		}
		*out = TRACK_NONE;
		snprintf(why, whylen, "soft-dirty unavailable: %s; uffd unavailable: %s", probe_why,
			 uffd_why);
	}
	return 0;
}

int track_open(struct tracker *t, enum track_mode mode, int clear_refs_fd,
	       const struct pagemap *pm)
{
	memset(t, 0, sizeof *t);
	t->mode = mode;
	t->task_dirfd = t->maps_fd = -1;
	t->uffd_fd = -1;
	t->clear_refs_fd = clear_refs_fd;
	t->pm = pm;
	switch (mode) {
	case TRACK_NONE:
		return 0;
	case TRACK_SOFT_DIRTY:
		if (clear_refs_fd < 0 || !pm) {
			errno = EBADF;
			return -1;
		}
		return 0;
	case TRACK_UFFD:
		if (!pm) {
			errno = EBADF;
			return -1;
		}
		return 0;
	}
	errno = ENOTSUP;
	return -1;
}

void track_set_uffd(struct tracker *t, int fd)
{
	t->uffd_fd = fd;
}

void track_close(struct tracker *t)
{
	if (t->uffd_fd >= 0)
		close(t->uffd_fd);
	t->uffd_fd = -1;
	t->mode = TRACK_NONE;
	t->pm = NULL;
	t->clear_refs_fd = -1;
}

void track_report_init(struct track_report *r)
{
	pagemap_runs_init(&r->written);
	pagemap_runs_init(&r->populated);
	pagemap_runs_init(&r->present);
	pagemap_runs_init(&r->lost);
}

void track_report_free(struct track_report *r)
{
	pagemap_runs_free(&r->written);
	pagemap_runs_free(&r->populated);
	pagemap_runs_free(&r->present);
	pagemap_runs_free(&r->lost);
}

void track_report_clear(struct track_report *r)
{
	pagemap_runs_clear(&r->written);
	pagemap_runs_clear(&r->populated);
	pagemap_runs_clear(&r->present);
	pagemap_runs_clear(&r->lost);
}

int track_cover(struct tracker *t, const struct pagemap_run *vmas, size_t n, bool *covered,
		int64_t *stop_us)
{
	*stop_us = -1;
	if (t->mode != TRACK_UFFD) {
		for (size_t i = 0; i < n; i++)
			covered[i] = true;
		return 0;
	}
	if (t->task_dirfd < 0 || t->maps_fd < 0) {
		errno = EBADF;
		return -1;
	}
	return n ? uffd_register_held(t->pid, t->task_dirfd, t->maps_fd, t->uffd_fd, vmas, n, covered,
				      stop_us)
		 : 0;
}

int track_protect(struct tracker *t, uint64_t start, uint64_t end, const struct pagemap_runs *populated)
{
	if (t->mode == TRACK_UFFD)
		return uffd_protect(t->uffd_fd, start, end, populated);
	return 0;
}

void track_hold_target(struct tracker *t, pid_t pid, int task_dirfd, int maps_fd)
{
	t->pid = pid;
	t->task_dirfd = task_dirfd;
	t->maps_fd = maps_fd;
}

static int look(struct tracker *t, const struct pagemap_runs *ranges, bool reset,
		struct track_report *r)
{
	for (size_t i = 0; i < ranges->n; i++) {
		uint64_t s = ranges->run[i].start, e = ranges->run[i].end;
		int rc;

		switch (t->mode) {
		case TRACK_NONE:
			if (pagemap_runs_append(&r->written, s, e) < 0 ||
			    pagemap_find(t->pm, s, e, PAGEMAP_POPULATED, &r->populated) < 0)
				return -1;
			break;
		case TRACK_SOFT_DIRTY:
			if (pagemap_find_populated_dirty(t->pm, s, e, &r->populated, &r->written) < 0)
				return -1;
			break;
		case TRACK_UFFD:
			rc = uffd_scan(t->pm->fd, s, e, reset, &r->written, &r->populated, &r->present);
			if (rc < 0)
				return -1;
			/* unregistered: nothing there is protected, so no
			 * marker either, and pagemap tells the populated
			 * pages */
			if (rc > 0 && (pagemap_runs_append(&r->lost, s, e) < 0 ||
				       pagemap_runs_append(&r->written, s, e) < 0 ||
				       pagemap_find(t->pm, s, e, PAGEMAP_POPULATED, &r->populated) < 0))
				return -1;
			break;
		}
	}
	/* soft-dirty: the new interval starts here (clear_refs takes the
	 * mmap lock, clears the bits and write-protects every PTE) */
	if (reset && t->mode == TRACK_SOFT_DIRTY)
		return write_clear_refs(t->clear_refs_fd);
	return 0;
}

/* How long the threads may take to stop for the micro-stop (as lc-freeze's
 * stop: a thread in an uninterruptible sleep stops only when it leaves the
 * kernel). */
#define HOLD_TIMEOUT_MS 2000u

/* Soft-dirty has no atomic scan-and-reset: a page first written between
 * the look at bit 55 and clear_refs would be neither copied nor dirty
 * afterwards. With every thread stopped no write lands between them (CRIU
 * freezes the task around its pre-dump the same way). SIGINT and SIGTERM
 * are held off during the micro-stop and delivered after the detach. */
static int look_held(struct tracker *t, const struct pagemap_runs *ranges, struct track_report *r,
		     int64_t *stop_us)
{
	struct ptrace_stop ps;
	sigset_t block, cancel, old;
	int rc, saved;

	sigemptyset(&cancel);
	sigaddset(&cancel, SIGINT);
	sigaddset(&cancel, SIGTERM);
	block = cancel;
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &old);
	ptrace_stop_init(&ps, t->pid, t->task_dirfd);
	rc = ptrace_stop_all(&ps, HOLD_TIMEOUT_MS, &cancel);
	if (rc == 0) {
		rc = look(t, ranges, true, r);
		saved = errno;
		if (ptrace_stop_detach_all(&ps) > 0 && rc == 0) {
			rc = -1;
			saved = ESRCH;
		}
		errno = saved;
		*stop_us = ((int64_t)ps.last_detach.tv_sec - ps.first_seize.tv_sec) * 1000000 +
			   (ps.last_detach.tv_nsec - ps.first_seize.tv_nsec) / 1000;
	}
	saved = errno;
	ptrace_stop_free(&ps);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return rc;
}

int track_scan(struct tracker *t, const struct pagemap_runs *ranges, bool reset,
	       struct track_report *r, int64_t *stop_us)
{
	if (stop_us)
		*stop_us = -1;
	if (reset && t->mode == TRACK_SOFT_DIRTY && !t->armed) {
		/* the first interval: nothing is clean yet, so no write
		 * can be lost; reset first, then look at what is
		 * populated (a page populated after the reset is
		 * soft-dirty, so the next scan sees it) */
		if (write_clear_refs(t->clear_refs_fd) < 0)
			return -1;
		t->armed = true;
		return look(t, ranges, false, r);
	}
	if (reset && t->mode == TRACK_SOFT_DIRTY && t->task_dirfd >= 0)
		return look_held(t, ranges, r, stop_us);
	if (reset)
		t->armed = true;
	return look(t, ranges, reset, r);
}

/* Ranges closer than this are scanned in one call, the VMAs between them
 * walked too (a guard page between two thread stacks): thousands of
 * stacks are then a handful of calls instead of one each. */
#define SPAN_GAP (1ull << 20)

static int append_all(struct pagemap_runs *dst, const struct pagemap_runs *src)
{
	for (size_t k = 0; k < src->n; k++)
		if (pagemap_runs_append(dst, src->run[k].start, src->run[k].end) < 0)
			return -1;
	return 0;
}

/* The kernel walks the page tables of a range on one CPU, about 1 ms a
 * GiB here for the stop's question; PAGEMAP_SCAN takes only the mmap
 * read lock, so disjoint parts (2 MiB aligned: never one PTE table in
 * two) are scanned at once, one thread each, while the target's own
 * threads are stopped and its CPUs idle. Below CHUNK_MIN a thread costs
 * more than it saves. LIVECORE_TEST_SCAN_CHUNK_KIB (tests only) sets
 * another, so that small targets take the threaded path too. */
#define CHUNK_MIN (512ull << 20)
#define CHUNK_ALIGN (2ull << 20)
#define CHUNKS_MAX 64
/* What a VMA costs the walk, in bytes of walked memory that cost as much:
 * the stop's question took 17 ms for 50 000 one-page VMAs (0.34 us each,
 * the per-VMA checks and the lock) and about 1 ms a GiB of memory, so a
 * VMA weighs about 350 KiB. The split weighs both, so that tens of
 * thousands of small VMAs are shared out too. */
#define VMA_WEIGHT (352ull << 10)

struct chunk {
	pthread_t thread;
	bool threaded;
	int fd, rc;
	uint64_t start, end;
	struct uffd_exceptions x;
};

static void *chunk_scan(void *arg)
{
	struct chunk *c = arg;

	c->rc = uffd_scan_exceptions(c->fd, c->start, c->end, &c->x);
	return NULL;
}

static int exceptions_append(struct uffd_exceptions *to, const struct uffd_exceptions *from)
{
	if (append_all(&to->written, &from->written) < 0 || append_all(&to->gone, &from->gone) < 0 ||
	    append_all(&to->swapped, &from->swapped) < 0 ||
	    append_all(&to->unregistered, &from->unregistered) < 0)
		return -1;
	return 0;
}

/* index of the first of the n ascending addresses at or above addr */
static size_t lower_bound(const uint64_t *a, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (a[mid] < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The walk's weight before the start of VMA k of [first, last): the bytes
 * from start, and VMA_WEIGHT for each VMA that starts before it. */
static uint64_t weight_before(const struct track_vmas *v, size_t first, size_t k, uint64_t start)
{
	return v->start[k] - start + (k - first) * VMA_WEIGHT;
}

/* The address in [start, end) at which the walk's weight reaches want; the
 * VMAs [first, last) are those that start in [start, end). */
static uint64_t weight_point(const struct track_vmas *v, size_t first, size_t last, uint64_t start,
			     uint64_t end, uint64_t want)
{
	size_t lo = first, hi = last - 1;
	uint64_t at, after;

	if (first == last || weight_before(v, first, first, start) > want)
		return want < end - start ? start + want : end;
	/* the last VMA that starts where the weight is at most want */
	while (lo < hi) {
		size_t mid = lo + (hi - lo + 1) / 2;

		if (weight_before(v, first, mid, start) <= want)
			lo = mid;
		else
			hi = mid - 1;
	}
	after = weight_before(v, first, lo, start) + VMA_WEIGHT;
	at = after >= want ? v->start[lo] : v->start[lo] + (want - after);
	return at < end ? at : end;
}

static int scan_exceptions(int fd, uint64_t start, uint64_t end, const struct track_vmas *vmas,
			   struct uffd_exceptions *x)
{
	struct chunk chunks[CHUNKS_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	const char *test = getenv("LIVECORE_TEST_SCAN_CHUNK_KIB");
	uint64_t min = test && atoll(test) > 0 ? (uint64_t)atoll(test) << 10 : CHUNK_MIN;
	size_t first = 0, last = 0, made = 0;
	uint64_t weight = end - start, n, at = start;
	int rc = 0;

	if (vmas && vmas->n) {
		first = lower_bound(vmas->start, vmas->n, start);
		last = lower_bound(vmas->start, vmas->n, end);
		weight += (last - first) * VMA_WEIGHT;
	}
	n = weight / min;
	if (n > (uint64_t)cpus)
		n = (uint64_t)cpus;
	if (n > CHUNKS_MAX)
		n = CHUNKS_MAX;
	if (n < 2)
		return uffd_scan_exceptions(fd, start, end, x);
	/* n parts of about equal weight, cut at 2 MiB boundaries (never one
	 * PTE table in two); a part that would be empty is left out */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t e = end;

		if (i + 1 < n) {
			e = vmas && vmas->n ? weight_point(vmas, first, last, start, end, weight / n * (i + 1))
					    : start + (end - start) / n * (i + 1);
			e &= ~(CHUNK_ALIGN - 1);
		}
		if (e <= at)
			continue;
		chunks[made] = (struct chunk){ .fd = fd, .start = at, .end = e };
		uffd_exceptions_init(&chunks[made].x);
		made++;
		at = e;
	}
	/* the first chunk on this thread, the others on threads of their own */
	for (size_t i = 1; i < made; i++)
		chunks[i].threaded = pthread_create(&chunks[i].thread, NULL, chunk_scan, &chunks[i]) == 0;
	chunk_scan(&chunks[0]);
	for (size_t i = 0; i < made; i++) {
		struct chunk *c = &chunks[i];

		if (c->threaded)
			pthread_join(c->thread, NULL);
		else if (i)
			chunk_scan(c);
		if (c->rc < 0 || (rc == 0 && exceptions_append(x, &c->x) < 0))
			rc = -1;
		uffd_exceptions_free(&c->x);
	}
	return rc;
}

/* One span's answer, cut to the ranges looked at (in [from, to) of
 * ranges): unregistered parts are lost (written whole, populated as
 * pagemap says), the rest populated but for what is not present (or the
 * zero page); of that, what still holds data goes to swapped. */
static int look_span(struct tracker *t, const struct pagemap_runs *ranges, size_t from, size_t to,
		     const struct track_vmas *vmas, struct track_report *r, struct pagemap_runs *swapped)
{
	struct pagemap_runs want, part;
	struct uffd_exceptions x;
	int rc = -1;

	pagemap_runs_init(&want);
	pagemap_runs_init(&part);
	uffd_exceptions_init(&x);
	for (size_t i = from; i < to; i++)
		if (pagemap_runs_append(&want, ranges->run[i].start, ranges->run[i].end) < 0)
			goto out;
	if (scan_exceptions(t->pm->fd, want.run[0].start, want.run[want.n - 1].end, vmas, &x) < 0)
		goto out;
	/* the span's answer, within the ranges only */
	if (runs_intersect_into(&x.written, &want) < 0 || runs_intersect_into(&x.gone, &want) < 0 ||
	    runs_intersect_into(&x.swapped, &want) < 0 || runs_intersect_into(&x.unregistered, &want) < 0)
		goto out;
	/* unregistered: nothing there is protected, so no marker either,
	 * and pagemap tells the populated pages */
	if (pagemap_find_in(t->pm, &x.unregistered, PAGEMAP_POPULATED, NULL, &part) < 0)
		goto out;
	/* populated, as far as the stop needs it: present data */
	if (runs_union_into(&x.written, &x.unregistered) < 0 || runs_subtract_into(&want, &x.gone) < 0 ||
	    runs_subtract_into(&want, &x.unregistered) < 0 || append_all(&r->present, &want) < 0 ||
	    runs_union_into(&want, &part) < 0)
		goto out;
	/* spans ascend: appending keeps every list in order, in linear time */
	if (append_all(&r->lost, &x.unregistered) < 0 || append_all(&r->written, &x.written) < 0 ||
	    append_all(&r->populated, &want) < 0 || append_all(swapped, &x.swapped) < 0)
		goto out;
	rc = 0;
out:
	pagemap_runs_free(&want);
	pagemap_runs_free(&part);
	uffd_exceptions_free(&x);
	return rc;
}

int track_look_exceptions(struct tracker *t, const struct pagemap_runs *ranges, const struct track_vmas *vmas,
			  struct track_report *r, struct pagemap_runs *swapped)
{
	size_t from = 0;

	if (t->mode != TRACK_UFFD)
		return track_scan(t, ranges, false, r, NULL);
	for (size_t i = 1; i <= ranges->n; i++)
		if (i == ranges->n || ranges->run[i].start - ranges->run[i - 1].end > SPAN_GAP) {
			if (look_span(t, ranges, from, i, vmas, r, swapped) < 0)
				return -1;
			from = i;
		}
	return 0;
}

int track_peek(struct tracker *t, const struct pagemap_runs *ranges, uint64_t *pages)
{
	struct track_report r;
	int rc;

	*pages = 0;
	if (t->mode == TRACK_NONE)
		return 0;
	track_report_init(&r);
	rc = look(t, ranges, false, &r);
	*pages = pagemap_runs_pages(&r.written, t->pm->page_size);
	track_report_free(&r);
	return rc;
}
