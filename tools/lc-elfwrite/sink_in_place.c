/* The in-place sink: the staging file becomes the core, then is renamed.
 *
 * Order matters for failure: until the ELF header goes over the staging
 * header page, the file is still a valid staging file for the same manifest
 * (every staged byte the core uses is untouched; what was appended past the
 * staged data is cut off again on failure). Only after the rename are the
 * moved VMAs' old copies cleared. */
#include "sink.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char zeros[64 * 1024];

static int in_place_put(void *ctx, const void *buf, size_t len, uint64_t out_offset)
{
	return xio_pwrite_full(*(int *)ctx, buf, len, (off_t)out_offset);
}

/* Inside one file: the ranges never overlap (moved copies land past the
 * staged data), which copy_file_range requires. */
static int in_place_copy(void *ctx, int stage_fd, uint64_t stage_offset, uint64_t len,
			 uint64_t out_offset)
{
	(void)ctx;
	return sink_copy_file_range(stage_fd, stage_offset, stage_fd, &out_offset, len);
}

/* Moved copies land past the old end of the file: already a hole. */
static int in_place_skip(void *ctx, uint64_t len, uint64_t out_offset)
{
	(void)ctx;
	(void)len;
	(void)out_offset;
	return 0;
}

/* Makes [offset, offset + len) read as zeros: a hole where the filesystem
 * can punch one, written zeros where it cannot. */
static int clear_range(int fd, uint64_t offset, uint64_t len)
{
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != ENOSYS)
		return -1;
	while (len > 0) {
		size_t n = len < sizeof zeros ? (size_t)len : sizeof zeros;

		if (xio_pwrite_full(fd, zeros, n, (off_t)offset) < 0)
			return -1;
		offset += n;
		len -= n;
	}
	return 0;
}

/* Puts the staging file back as it was (header page and size). */
static void restore(const struct layout *l, struct sink_in_place *s)
{
	if (xio_pwrite_full(s->stage_fd, s->saved_header, l->page_size, 0) == 0)
		(void)ftruncate(s->stage_fd, (off_t)s->stage_size);
	(void)fsync(s->stage_fd);
}

int sink_in_place_write(const struct layout *l, const struct sink_source *src,
			struct sink_in_place *s, const char **what)
{
	struct sink_copy_ops ops = { in_place_put, in_place_skip, in_place_copy, &s->stage_fd };
	uint64_t tail_size = l->file_size - l->notes_offset;
	unsigned char *buf = NULL;
	sigset_t block, old;
	ssize_t n;
	int rc;

	s->consumed = false;
	*what = "read the staging header";
	s->saved_header = malloc(l->page_size);
	if (!s->saved_header)
		return -1;
	n = xio_pread_full(s->stage_fd, s->saved_header, l->page_size, 0);
	if (n != (ssize_t)l->page_size) {
		if (n >= 0)
			errno = EIO; /* shorter than when it was checked */
		return -1;
	}

	*what = "move the scattered VMAs together";
	for (size_t i = 0; i < l->n_segments; i++) {
		const struct layout_segment *seg = &l->segments[i];

		for (size_t k = 0; seg->moved && k < seg->n_pieces; k++) {
			const struct layout_piece *p = &l->pieces[seg->first_piece + k];

			if (sink_copy(s->stage_fd, p->stage_offset, p->length, p->out_offset, &ops) < 0)
				goto fail;
		}
	}

	*what = "write the notes and program headers";
	buf = malloc(tail_size > l->page_size ? tail_size : l->page_size);
	if (!buf)
		goto fail;
	sink_fill_headers(l, src->notes, buf, l->notes_offset, tail_size);
	if (xio_pwrite_full(s->stage_fd, buf, tail_size, (off_t)l->notes_offset) < 0 ||
	    ftruncate(s->stage_fd, (off_t)l->file_size) < 0)
		goto fail;

	/* Gaps inside kept VMAs must read as zeros; bytes of skipped VMAs
	 * (MADV_DONTDUMP may mean secrets) and stale copies must not stay. */
	*what = "clear the staged bytes the core does not hold";
	for (size_t i = 0; i < l->n_clear; i++)
		if (clear_range(s->stage_fd, l->clear[i].offset, l->clear[i].length) < 0)
			goto fail;
	*what = "sync the core";
	if (fsync(s->stage_fd) < 0)
		goto fail;

	/* From the header write to the rename, a signal would leave a file
	 * that is neither a staging file nor under its final name. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGPIPE);
	sigprocmask(SIG_BLOCK, &block, &old);
	*what = "write the ELF header";
	sink_fill_headers(l, src->notes, buf, 0, l->page_size);
	if (xio_pwrite_full(s->stage_fd, buf, l->page_size, 0) < 0 || fsync(s->stage_fd) < 0)
		goto fail_blocked;
	*what = "rename the core";
	rc = renameat2(AT_FDCWD, s->stage_path, AT_FDCWD, s->out_path,
		       s->replace ? 0 : RENAME_NOREPLACE);
	if (rc < 0)
		goto fail_blocked;
	s->consumed = true;
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* The old copies of moved VMAs: space only (the same bytes are in the
	 * core), so a failure here is not one of the core. */
	for (size_t i = 0; i < l->n_segments; i++) {
		const struct layout_segment *seg = &l->segments[i];

		for (size_t k = 0; seg->moved && k < seg->n_pieces; k++) {
			const struct layout_piece *p = &l->pieces[seg->first_piece + k];

			(void)clear_range(s->stage_fd, p->stage_offset, p->length);
		}
	}
	free(buf);
	return 0;

fail_blocked:
	{
		int saved = errno;

		restore(l, s);
		sigprocmask(SIG_SETMASK, &old, NULL);
		free(buf);
		errno = saved;
		return -1;
	}
fail:
	{
		int saved = errno;

		restore(l, s);
		free(buf);
		errno = saved;
		return -1;
	}
}
