/* The stream sink: the core front to back, in the kernel's order. */
#include "sink.h"
#include "xio.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static const unsigned char zeros[64 * 1024];

struct stream_state {
	struct sink_stream *s;
	uint64_t pos;               /* output offset reached, relative to base */
};

static int stream_skip(void *ctx, uint64_t len, uint64_t out_offset)
{
	struct stream_state *st = ctx;

	if (out_offset != st->pos) {
		errno = EINVAL; /* a sink writes front to back: a layout bug */
		return -1;
	}
	if (st->s->seekable) {
		if (lseek(st->s->fd, (off_t)len, SEEK_CUR) < 0)
			return -1;
	} else {
		for (uint64_t left = len; left > 0;) {
			size_t n = left < sizeof zeros ? (size_t)left : sizeof zeros;

			if (xio_write_full(st->s->fd, zeros, n) < 0)
				return -1;
			left -= n;
		}
	}
	st->pos += len;
	return 0;
}

static int stream_put(void *ctx, const void *buf, size_t len, uint64_t out_offset)
{
	struct stream_state *st = ctx;

	if (out_offset != st->pos) {
		errno = EINVAL;
		return -1;
	}
	if (xio_write_full(st->s->fd, buf, len) < 0)
		return -1;
	st->pos += len;
	return 0;
}

/* Regular files only: copy_file_range writes at the file position. */
static int stream_copy(void *ctx, int stage_fd, uint64_t stage_offset, uint64_t len,
		       uint64_t out_offset)
{
	struct stream_state *st = ctx;
	int rc;

	if (out_offset != st->pos) {
		errno = EINVAL;
		return -1;
	}
	rc = sink_copy_file_range(stage_fd, stage_offset, st->s->fd, NULL, len);
	if (rc == 0)
		st->pos += len;
	return rc;
}

int sink_stream_write(const struct layout *l, const struct sink_source *src,
		      struct sink_stream *s, const char **what)
{
	struct stream_state st = { s, 0 };
	struct sink_copy_ops ops = { stream_put, stream_skip, s->seekable ? stream_copy : NULL, &st };
	unsigned char *head;

	*what = "write the headers and notes";
	head = malloc(l->head_size);
	if (!head)
		return -1;
	sink_fill_headers(l, src->notes, head, 0, l->head_size);
	if (stream_put(&st, head, l->head_size, 0) < 0) {
		free(head);
		return -1;
	}
	free(head);

	*what = "copy the memory";
	for (size_t i = 0; i < l->n_segments; i++) {
		const struct layout_segment *seg = &l->segments[i];
		uint64_t end = seg->offset + seg->file_size;

		for (size_t k = 0; k < seg->n_pieces; k++) {
			const struct layout_piece *p = &l->pieces[seg->first_piece + k];

			if (p->out_offset > st.pos && stream_skip(&st, p->out_offset - st.pos, st.pos) < 0)
				return -1;
			if (sink_copy(src->stage_fd, p->stage_offset, p->length, p->out_offset, &ops) < 0)
				return -1;
		}
		if (end > st.pos && stream_skip(&st, end - st.pos, st.pos) < 0)
			return -1;
	}
	if (st.pos != l->file_size) {
		errno = EINVAL;
		return -1;
	}
	/* a file that ends in a hole gets its size from ftruncate */
	*what = "set the size of the output";
	if (s->seekable && ftruncate(s->fd, (off_t)(s->base + l->file_size)) < 0)
		return -1;
	return 0;
}
