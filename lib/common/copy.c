#include "copy.h"
#include "stage.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#define HUGE_PAGE_BYTES (2u << 20)

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef RAMFS_MAGIC
#define RAMFS_MAGIC 0x858458f6
#endif

void copy_list_init(struct copy_list *l)
{
	memset(l, 0, sizeof *l);
}

void copy_list_free(struct copy_list *l)
{
	free(l->range);
	copy_list_init(l);
}

void copy_list_clear(struct copy_list *l)
{
	l->n = 0;
}

int copy_list_append(struct copy_list *l, uint64_t addr, uint64_t len, uint64_t offset)
{
	if (len == 0)
		return 0;
	if (l->n) {
		struct copy_range *last = &l->range[l->n - 1];

		if (last->addr + last->len == addr && last->offset + last->len == offset) {
			last->len += len;
			return 0;
		}
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct copy_range *p = realloc(l->range, cap * sizeof *p);

		if (!p)
			return -1;
		l->range = p;
		l->cap = cap;
	}
	l->range[l->n++] = (struct copy_range){ addr, len, offset };
	return 0;
}

uint64_t copy_list_bytes(const struct copy_list *l)
{
	uint64_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->range[i].len;
	return n;
}

/* The first run of r that ends after addr. */
static size_t first_ending_after(const struct pagemap_runs *r, uint64_t addr)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->run[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int append_part(struct copy_list *l, const struct copy_range *c, uint64_t from, uint64_t to)
{
	return to > from ? copy_list_append(l, from, to - from, c->offset + (from - c->addr)) : 0;
}

int copy_list_split(const struct copy_list *l, const struct pagemap_runs *runs,
		    struct copy_list *inside, struct copy_list *outside)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct copy_range *c = &l->range[i];
		uint64_t at = c->addr, end = c->addr + c->len;

		for (size_t k = first_ending_after(runs, at); at < end; k++) {
			uint64_t in_start = k < runs->n && runs->run[k].start < end ? runs->run[k].start : end;
			uint64_t in_end = k < runs->n && runs->run[k].end < end ? runs->run[k].end : end;

			if (in_start < at)
				in_start = at;
			if (append_part(outside, c, at, in_start) < 0 || append_part(inside, c, in_start, in_end) < 0)
				return -1;
			at = in_end;
		}
	}
	return 0;
}

void copy_result_init(struct copy_result *r)
{
	r->bytes = 0;
	r->pages = 0;
	r->direct = false;
	pagemap_runs_init(&r->unreadable);
}

void copy_result_free(struct copy_result *r)
{
	pagemap_runs_free(&r->unreadable);
	r->bytes = r->pages = 0;
}

/* What the workers share: a cursor into the list, under a mutex (taken
 * once per batch of up to COPY_BATCH_BYTES, so it is never contended for long). */
struct copy_job {
	const struct copy_source *src;
	int stage_fd;
	const struct copy_list *list;
	const struct copy_options *opt;
	int direct_fd;              /* O_DIRECT fd of the staging file, or -1 */
	atomic_bool direct_ok;      /* cleared when the kernel refused one */
	uint64_t batch_bytes;       /* of a worker's buffer */
	pthread_mutex_t lock;
	size_t next_range;
	uint64_t next_inner;        /* bytes of next_range already handed out */
	atomic_bool failed;
	int error;                  /* first errno that stopped the copy */
};

struct copy_worker {
	struct copy_job *job;
	pthread_t thread;
	unsigned char *buf;
	struct copy_range piece[COPY_BATCH_IOVECS];
	struct iovec local[COPY_BATCH_IOVECS], remote[COPY_BATCH_IOVECS];
	uint64_t bytes;
	struct pagemap_runs unreadable;  /* target addresses, in the order met */
	struct pagemap_runs batch_faults; /* this batch's faulted pages: buffer positions */
};

static size_t next_batch(struct copy_worker *w)
{
	struct copy_job *j = w->job;
	uint64_t bytes = 0;
	size_t n = 0;

	pthread_mutex_lock(&j->lock);
	while (n < COPY_BATCH_IOVECS && bytes < j->batch_bytes && j->next_range < j->list->n) {
		const struct copy_range *r = &j->list->range[j->next_range];
		uint64_t take = r->len - j->next_inner;

		if (take > j->batch_bytes - bytes)
			take = j->batch_bytes - bytes;
		w->piece[n++] = (struct copy_range){ r->addr + j->next_inner, take,
						     r->offset + j->next_inner };
		bytes += take;
		j->next_inner += take;
		if (j->next_inner == r->len) {
			j->next_range++;
			j->next_inner = 0;
		}
	}
	pthread_mutex_unlock(&j->lock);
	return n;
}

static void fail(struct copy_job *j, int err)
{
	pthread_mutex_lock(&j->lock);
	if (!atomic_load(&j->failed)) {
		j->error = err;
		atomic_store(&j->failed, true);
	}
	pthread_mutex_unlock(&j->lock);
}

/* Fatal read errors: the target is gone or we may not read it at all.
 * Anything else (EFAULT, EIO, ENOMEM from a mapping that changed; EINVAL
 * from pread at an address above 2^63, such as the gate VMA) is the
 * page's problem, not the copy's. */
static bool fatal_read_error(int err)
{
	return err == ESRCH || err == EPERM || err == EACCES || err == EBADF;
}

/* The page at batch position pos, through /proc/PID/mem. */
static int read_page_mem(struct copy_worker *w, size_t n, uint64_t pos, unsigned page_size)
{
	uint64_t at = 0;

	for (size_t i = 0; i < n; i++) {
		if (pos < at + w->piece[i].len) {
			uint64_t addr = w->piece[i].addr + (pos - at);

			return xio_pread_full(w->job->src->mem_fd, w->buf + pos, page_size, (off_t)addr) ==
				       (ssize_t)page_size
				       ? 0
				       : -1;
		}
		at += w->piece[i].len;
	}
	return -1;
}

/* Reads the batch into buf. *pos counts bytes of the batch done; on return
 * every byte is either read or inside a page listed in batch_faults (and
 * zeroed in buf). Returns -1 only on a fatal error. */
static int read_batch_vm(struct copy_worker *w, size_t n, uint64_t total, unsigned page_size)
{
	uint64_t pos = 0;

	while (pos < total) {
		size_t first = 0, niov = 0;
		uint64_t skip = pos, buf_at = pos;
		ssize_t got;

		/* iovecs for [pos, total) */
		while (skip >= w->piece[first].len) {
			skip -= w->piece[first].len;
			first++;
		}
		for (size_t i = first; i < n; i++) {
			uint64_t off = i == first ? skip : 0;

			w->remote[niov].iov_base = (void *)(uintptr_t)(w->piece[i].addr + off);
			w->remote[niov].iov_len = w->piece[i].len - off;
			niov++;
		}
		w->local[0].iov_base = w->buf + buf_at;
		w->local[0].iov_len = total - pos;
		do
			got = process_vm_readv(w->job->src->pid, w->local, 1, w->remote, niov, 0);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			if (fatal_read_error(errno))
				return -1;
			got = 0;
		}
		pos += (uint64_t)got;
		if (pos < total) {
			/* The page at pos faulted. Every piece is page aligned in
			 * address and length, so batch positions and addresses
			 * agree modulo the page size: a count that stopped inside
			 * a page is rounded down to it. */
			pos &= ~((uint64_t)page_size - 1);
			/* process_vm_readv does not force: a page of a
			 * PROT_NONE mapping faults there, while /proc/PID/mem
			 * reads it (FOLL_FORCE), as the kernel's own dump
			 * does. Only a page that faults there too is lost. */
			if (w->job->src->mem_fd >= 0 && read_page_mem(w, n, pos, page_size) == 0) {
				pos += page_size;
				continue;
			}
			memset(w->buf + pos, 0, page_size);
			if (pagemap_runs_append(&w->batch_faults, pos, pos + page_size) < 0)
				return -1;
			pos += page_size;
		}
	}
	return 0;
}

static int read_batch_mem(struct copy_worker *w, size_t n, unsigned page_size)
{
	uint64_t buf_at = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t done = 0, len = w->piece[i].len;

		while (done < len) {
			ssize_t got;

			do
				got = pread(w->job->src->mem_fd, w->buf + buf_at + done, len - done,
					    (off_t)(w->piece[i].addr + done));
			while (got < 0 && errno == EINTR);
			if (got < 0 && fatal_read_error(errno))
				return -1;
			if (got > 0) {
				done += (uint64_t)got;
				continue;
			}
			/* EIO or 0: the page at addr+done cannot be read */
			memset(w->buf + buf_at + done, 0, page_size);
			if (pagemap_runs_append(&w->batch_faults, buf_at + done,
						buf_at + done + page_size) < 0)
				return -1;
			done += page_size;
		}
		buf_at += len;
	}
	return 0;
}

/* Writes len bytes of the buffer (page aligned in memory, in the file and
 * in length) to the staging file: with O_DIRECT when the job has it and
 * the write is large enough. A
 * direct write the kernel refuses (EINVAL: a filesystem or a block size
 * that does not take it) is done through the page cache, and so is every
 * later one. */
static int stage_write(struct copy_worker *w, const unsigned char *buf, uint64_t len, uint64_t offset)
{
	struct copy_job *j = w->job;

	if (j->direct_fd >= 0 && len >= COPY_DIRECT_MIN_BYTES &&
	    atomic_load_explicit(&j->direct_ok, memory_order_relaxed)) {
		if (xio_pwrite_full(j->direct_fd, buf, (size_t)len, (off_t)offset) == 0)
			return 0;
		if (errno != EINVAL)
			return -1;
		atomic_store(&j->direct_ok, false);
	}
	return xio_pwrite_full(j->stage_fd, buf, (size_t)len, (off_t)offset);
}

/* Writes a piece, which is [pos, pos + len) of the batch's buffer, leaving
 * the batch's faulted pages (batch_faults, in buffer positions) as holes. */
static int write_piece(struct copy_worker *w, const struct copy_range *p, uint64_t pos,
		       size_t *fault_i)
{
	int fd = w->job->stage_fd;
	uint64_t at = pos, end = pos + p->len;

	while (at < end) {
		const struct pagemap_run *f =
			*fault_i < w->batch_faults.n ? &w->batch_faults.run[*fault_i] : NULL;
		uint64_t stop = end;

		if (f && f->start < end) {
			if (f->start <= at) {
				uint64_t fend = f->end < end ? f->end : end;

				/* an unreadable page reads as zeros: a hole, so
				 * that a copy staged there by an earlier pass
				 * does not survive */
				if (stage_zero_range(fd, p->offset + (at - pos), fend - at) < 0)
					return -1;
				at = fend;
				if (fend == f->end)
					(*fault_i)++;
				continue;
			}
			stop = f->start;
		}
		if (stage_write(w, w->buf + at, stop - at, p->offset + (at - pos)) < 0)
			return -1;
		w->bytes += stop - at;
		at = stop;
	}
	return 0;
}

/* The batch's faulted pages, from buffer positions to target addresses. */
static int record_faults(struct copy_worker *w, size_t n, unsigned page_size)
{
	size_t i = 0;
	uint64_t piece_pos = 0;

	for (size_t k = 0; k < w->batch_faults.n; k++)
		for (uint64_t q = w->batch_faults.run[k].start; q < w->batch_faults.run[k].end;
		     q += page_size) {
			uint64_t addr;

			while (i < n && q >= piece_pos + w->piece[i].len)
				piece_pos += w->piece[i++].len;
			if (i == n)
				break;
			addr = w->piece[i].addr + (q - piece_pos);
			if (pagemap_runs_append(&w->unreadable, addr, addr + page_size) < 0)
				return -1;
		}
	return 0;
}

/* Memory destination (copy_options.dest): whether the batch's pieces lie
 * one after another there, so that it can be read straight into it. */
static bool batch_contiguous(const struct copy_worker *w, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (w->piece[i].offset != w->piece[i - 1].offset + w->piece[i - 1].len)
			return false;
	return true;
}

/* A batch into the memory destination: straight into it where its pieces
 * are contiguous there, else through the worker's buffer. A faulted page
 * is zeros either way (read_batch_*). */
static int read_batch_dest(struct copy_worker *w, size_t n, uint64_t total, unsigned page_size)
{
	unsigned char *dest = w->job->opt->dest, *own = w->buf;
	bool direct = batch_contiguous(w, n);
	uint64_t faulted = 0, at = 0;
	int rc;

	if (direct)
		w->buf = dest + w->piece[0].offset;
	rc = w->job->src->method == COPY_PROC_MEM ? read_batch_mem(w, n, page_size)
						  : read_batch_vm(w, n, total, page_size);
	w->buf = own;
	if (rc < 0)
		return -1;
	for (size_t i = 0; !direct && i < n; i++) {
		memcpy(dest + w->piece[i].offset, own + at, w->piece[i].len);
		at += w->piece[i].len;
	}
	for (size_t k = 0; k < w->batch_faults.n; k++)
		faulted += w->batch_faults.run[k].end - w->batch_faults.run[k].start;
	w->bytes += total - faulted;
	return 0;
}

static void *worker_main(void *arg)
{
	struct copy_worker *w = arg;
	struct copy_job *j = w->job;
	unsigned page_size = j->opt->page_size;
	size_t n;

	while (!atomic_load(&j->failed) && (n = next_batch(w)) > 0) {
		uint64_t total = 0, at = 0;
		size_t fault_i = 0;
		int rc;

		for (size_t i = 0; i < n; i++)
			total += w->piece[i].len;
		pagemap_runs_clear(&w->batch_faults);
		if (j->opt->dest)
			rc = read_batch_dest(w, n, total, page_size);
		else
			rc = j->src->method == COPY_PROC_MEM ? read_batch_mem(w, n, page_size)
							     : read_batch_vm(w, n, total, page_size);
		if (rc < 0) {
			fail(j, errno);
			break;
		}
		for (size_t i = 0; !j->opt->dest && i < n; i++) {
			if (write_piece(w, &w->piece[i], at, &fault_i) < 0) {
				fail(j, errno);
				return NULL;
			}
			at += w->piece[i].len;
		}
		if (record_faults(w, n, page_size) < 0) {
			fail(j, errno);
			return NULL;
		}
		if (j->opt->progress)
			atomic_fetch_add_explicit(j->opt->progress, total, memory_order_relaxed);
	}
	return NULL;
}

static int run_cmp(const void *a, const void *b)
{
	const struct pagemap_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Merges the workers' unreadable pages into one ascending list. */
static int merge_unreadable(struct copy_worker *w, unsigned nw, struct pagemap_runs *out)
{
	struct pagemap_runs all;

	pagemap_runs_init(&all);
	for (unsigned i = 0; i < nw; i++)
		for (size_t k = 0; k < w[i].unreadable.n; k++) {
			/* no merging here: runs of different workers interleave */
			if (all.n == all.cap) {
				size_t cap = all.cap ? all.cap * 2 : 64;
				struct pagemap_run *p = realloc(all.run, cap * sizeof *p);

				if (!p) {
					pagemap_runs_free(&all);
					return -1;
				}
				all.run = p;
				all.cap = cap;
			}
			all.run[all.n++] = w[i].unreadable.run[k];
		}
	if (all.n)
		qsort(all.run, all.n, sizeof *all.run, run_cmp);
	for (size_t k = 0; k < all.n; k++)
		if (pagemap_runs_append(out, all.run[k].start, all.run[k].end) < 0) {
			pagemap_runs_free(&all);
			return -1;
		}
	pagemap_runs_free(&all);
	return 0;
}

/* Bytes in runs of the staging file (ranges next to each other in the
 * list and in the file) of at least COPY_DIRECT_MIN_BYTES. */
static uint64_t large_run_bytes(const struct copy_list *l)
{
	uint64_t large = 0;

	for (size_t i = 0; i < l->n;) {
		uint64_t start = l->range[i].offset, end = start + l->range[i].len;

		for (i++; i < l->n && l->range[i].offset == end; i++)
			end += l->range[i].len;
		if (end - start >= COPY_DIRECT_MIN_BYTES)
			large += end - start;
	}
	return large;
}

/* A worker's buffer, page aligned (O_DIRECT wants the memory aligned
 * too). One of 2 MiB or more is backed by huge pages where the kernel has
 * them: 2 faults instead of 1024 for 4 MiB; here every fault of a fresh
 * page is a fault in the host as well (a 4 GiB pass: 8300 faults without,
 * 145 with, and about 15% less CPU time). */
static unsigned char *buffer_alloc(size_t bytes, unsigned page_size)
{
	void *p;

	if (bytes < HUGE_PAGE_BYTES)
		return aligned_alloc(page_size, bytes);
	if (posix_memalign(&p, HUGE_PAGE_BYTES, bytes) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	(void)madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

/* The O_DIRECT fd for this copy, or -1 to write through the page cache. */
static int open_direct(int stage_fd, const struct copy_list *list, enum copy_write how)
{
	struct statfs fs;
	const char *env = getenv("LIVECORE_COPY_WRITE");
	char path[64];

	if (how == COPY_WRITE_AUTO && env) {
		if (!strcmp(env, "direct"))
			how = COPY_WRITE_DIRECT;
		else if (!strcmp(env, "buffered"))
			how = COPY_WRITE_BUFFERED;
	}
	if (how == COPY_WRITE_BUFFERED)
		return -1;
	/* scattered pages (a later pass's dirty set, the final delta) */
	if (how == COPY_WRITE_AUTO && large_run_bytes(list) * 2 < copy_list_bytes(list))
		return -1;
	/* in memory, O_DIRECT (tmpfs takes it since 6.6) is the same copy
	 * into the same pages */
	if (how == COPY_WRITE_AUTO && fstatfs(stage_fd, &fs) == 0 &&
	    (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC))
		return -1;
	/* A second open file description: O_DIRECT set on stage_fd with
	 * fcntl would change the caller's fd as well. Reopening our own fd
	 * through /proc/self/fd checks only the file's mode (0600, ours), so
	 * it works with every capability dropped. */
	snprintf(path, sizeof path, "/proc/self/fd/%d", stage_fd);
	return open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
}

/* Allocates the staging blocks of every range before the first direct
 * write, in as few calls as the offsets allow: ext4 then allocates large
 * unwritten extents once instead of block by block inside every write.
 * Blocks already allocated (an earlier pass) are left as they are. A
 * failure (ENOSPC, EOPNOTSUPP) is left to the writes to report. */
static void preallocate(int fd, const struct copy_list *l)
{
	for (size_t i = 0; i < l->n;) {
		uint64_t start = l->range[i].offset, end = start + l->range[i].len;

		for (i++; i < l->n && l->range[i].offset == end; i++)
			end += l->range[i].len;
		if (end - start >= COPY_DIRECT_MIN_BYTES)
			(void)fallocate(fd, 0, (off_t)start, (off_t)(end - start));
	}
}

int copy_run(const struct copy_source *src, int stage_fd, const struct copy_list *list,
	     const struct copy_options *opt, struct copy_result *result)
{
	struct copy_job job = {
		.src = src, .stage_fd = stage_fd, .list = list, .opt = opt,
		.direct_fd = -1, .batch_bytes = COPY_BATCH_BYTES,
	};
	unsigned nw = opt->workers ? opt->workers : 1, started = 0;
	uint64_t bytes = copy_list_bytes(list);
	struct copy_worker *w;
	int rc = 0, err = 0;

	if (nw > COPY_MAX_WORKERS)
		nw = COPY_MAX_WORKERS;
	if (opt->dest)
		job.batch_bytes = COPY_DIRECT_BATCH_BYTES; /* no file: fewer, larger reads */
	else if (bytes > 0)
		job.direct_fd = open_direct(stage_fd, list, opt->write);
	if (job.direct_fd >= 0) {
		job.batch_bytes = COPY_DIRECT_BATCH_BYTES;
		nw *= COPY_DIRECT_THREADS_PER_WORKER;
		preallocate(job.direct_fd, list);
	}
	/* no more workers than batches */
	if ((uint64_t)nw > bytes / job.batch_bytes + 1)
		nw = (unsigned)(bytes / job.batch_bytes + 1);
	w = calloc(nw, sizeof *w);
	if (!w) {
		err = errno;
		if (job.direct_fd >= 0)
			close(job.direct_fd);
		errno = err;
		return -1;
	}
	pthread_mutex_init(&job.lock, NULL);
	atomic_init(&job.failed, false);
	atomic_init(&job.direct_ok, true);
	for (unsigned i = 0; i < nw; i++) {
		w[i].job = &job;
		pagemap_runs_init(&w[i].unreadable);
		pagemap_runs_init(&w[i].batch_faults);
		w[i].buf = buffer_alloc(job.batch_bytes, opt->page_size);
		if (!w[i].buf) {
			err = errno;
			rc = -1;
			goto out;
		}
	}
	/* worker 0 is this thread: a single worker needs no thread at all */
	for (unsigned i = 1; i < nw; i++) {
		int e = pthread_create(&w[i].thread, NULL, worker_main, &w[i]);

		if (e) {
			fail(&job, e);
			break;
		}
		started = i;
	}
	worker_main(&w[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(w[i].thread, NULL);
	for (unsigned i = 0; i < nw; i++)
		result->bytes += w[i].bytes;
	result->pages = result->bytes / opt->page_size;
	result->direct = job.direct_fd >= 0 && atomic_load(&job.direct_ok);
	if (merge_unreadable(w, nw, &result->unreadable) < 0) {
		err = errno;
		rc = -1;
	}
	if (atomic_load(&job.failed)) {
		err = job.error;
		rc = -1;
	}
out:
	for (unsigned i = 0; i < nw; i++) {
		free(w[i].buf);
		pagemap_runs_free(&w[i].unreadable);
		pagemap_runs_free(&w[i].batch_faults);
	}
	free(w);
	pthread_mutex_destroy(&job.lock);
	if (job.direct_fd >= 0)
		close(job.direct_fd);
	if (rc < 0)
		errno = err;
	return rc;
}
