/* The steps both sinks share: copying staged bytes without filling holes,
 * and the header bytes. */
#include "sink.h"
#include "xio.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* One buffer for the whole run: lc-elfwrite writes one core. */
#define SINK_BUFFER_SIZE (1u << 20)
static unsigned char sink_buffer[SINK_BUFFER_SIZE];

int sink_copy(int stage_fd, uint64_t stage_offset, uint64_t length, uint64_t out_offset,
	      const struct sink_copy_ops *ops)
{
	uint64_t pos = stage_offset, end = stage_offset + length;

	while (pos < end) {
		off_t data = lseek(stage_fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0 && errno == ENXIO)
			data = (off_t)end;  /* only a hole from here to the end of the file */
		else if (data < 0)
			return -1;
		if ((uint64_t)data > end)
			data = (off_t)end;
		if ((uint64_t)data > pos) {
			if (ops->skip(ops->ctx, (uint64_t)data - pos, out_offset + (pos - stage_offset)) < 0)
				return -1;
			pos = (uint64_t)data;
			continue;
		}
		/* a filesystem without SEEK_HOLE reports the end of the file */
		hole = lseek(stage_fd, (off_t)pos, SEEK_HOLE);
		if (hole < 0)
			return -1;
		if ((uint64_t)hole > end || (uint64_t)hole <= pos)
			hole = (off_t)end;
		if (ops->copy) {
			int rc = ops->copy(ops->ctx, stage_fd, pos, (uint64_t)hole - pos,
					   out_offset + (pos - stage_offset));

			if (rc < 0)
				return -1;
			if (rc == 0) {
				pos = (uint64_t)hole;
				continue;
			}
		}
		while (pos < (uint64_t)hole) {
			uint64_t want = (uint64_t)hole - pos;
			size_t chunk = want < SINK_BUFFER_SIZE ? (size_t)want : SINK_BUFFER_SIZE;
			ssize_t n = xio_pread_full(stage_fd, sink_buffer, chunk, (off_t)pos);

			if (n < 0)
				return -1;
			if ((size_t)n != chunk) {
				errno = EIO; /* the staging file shrank under us */
				return -1;
			}
			if (ops->put(ops->ctx, sink_buffer, chunk, out_offset + (pos - stage_offset)) < 0)
				return -1;
			pos += chunk;
		}
	}
	return 0;
}

int sink_copy_file_range(int stage_fd, uint64_t from, int out_fd, uint64_t *to, uint64_t len)
{
	loff_t in = (loff_t)from, out = to ? (loff_t)*to : 0;
	uint64_t done = 0;

	while (done < len) {
		uint64_t want = len - done;
		ssize_t n = copy_file_range(stage_fd, &in, out_fd, to ? &out : NULL,
					    want > (1u << 30) ? (size_t)1 << 30 : (size_t)want, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* not between these files (another filesystem type,
			 * an old kernel, a pipe): the caller copies itself */
			if (done == 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
					  errno == ENOSYS || errno == EBADF))
				return 1;
			return -1;
		}
		if (n == 0) {
			errno = EIO; /* the staging file shrank under us */
			return -1;
		}
		done += (uint64_t)n;
	}
	if (to)
		*to = (uint64_t)out;
	return 0;
}

/* Copies the part of [from, from + size) that falls in [at, at + len). */
static void fill_part(unsigned char *buf, uint64_t at, uint64_t len, const void *from,
		      uint64_t offset, uint64_t size)
{
	uint64_t lo = offset > at ? offset : at;
	uint64_t hi = offset + size < at + len ? offset + size : at + len;

	if (lo < hi)
		memcpy(buf + (lo - at), (const unsigned char *)from + (lo - offset), hi - lo);
}

void sink_fill_headers(const struct layout *l, const unsigned char *notes, unsigned char *buf,
		       uint64_t at, uint64_t len)
{
	memset(buf, 0, len);
	fill_part(buf, at, len, &l->ehdr, 0, sizeof l->ehdr);
	fill_part(buf, at, len, l->phdrs, l->phdrs_offset, (uint64_t)l->n_phdrs * sizeof *l->phdrs);
	if (l->xnum)
		fill_part(buf, at, len, &l->shdr, l->shdr_offset, sizeof l->shdr);
	fill_part(buf, at, len, notes, l->notes_offset, l->notes_size);
}
