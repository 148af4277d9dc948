/* sink - the output step: writes a computed layout (layout.h). Two sinks:
 *
 *  sink_stream    writes the core front to back onto a file descriptor:
 *                 where the output is a regular file, zeros (unpopulated
 *                 pages, holes in the staging file) become seeks, so the
 *                 file is sparse; on a pipe they are written as zeros.
 *  sink_in_place  turns the staging file itself into the core: copies only
 *                 the moved VMAs, clears what the core must not hold, appends
 *                 notes and program headers, writes the ELF header over the
 *                 staging header page last, renames the file onto OUT.
 *
 * Both only read, write, seek, punch holes, sync and rename on descriptors
 * and paths the caller opened or named before the seccomp filter went on. */
#ifndef LC_ELFWRITE_SINK_H
#define LC_ELFWRITE_SINK_H

#include "layout.h"

#include <stdbool.h>
#include <stdint.h>

struct sink_source {
	int stage_fd;
	const unsigned char *notes;    /* the PT_NOTE segment, layout->notes_size bytes */
};

struct sink_stream {
	int fd;
	bool seekable;                 /* a regular file opened without O_APPEND */
	uint64_t base;                 /* its offset when we started */
};

/* Writes the whole core to s->fd. Returns 0 or -1 with errno set; *what
 * names the step that failed. */
int sink_stream_write(const struct layout *l, const struct sink_source *src,
		      struct sink_stream *s, const char **what);

struct sink_in_place {
	int stage_fd;
	const char *stage_path, *out_path;
	bool replace;                  /* -f: rename over an existing OUT */
	uint64_t stage_size;           /* to restore the staging file on failure */
	unsigned char *saved_header;   /* the staging header page, page_size bytes */
	bool consumed;                 /* renamed: the staging file is gone */
};

/* Turns the staging file into the core and renames it to out_path. On
 * failure before the rename, the staging file is restored: its header page
 * and size are put back, every staged byte the core uses is where it was
 * (only bytes the core does not use may have been cleared). Returns 0 or -1
 * with errno set and *what naming the step. */
int sink_in_place_write(const struct layout *l, const struct sink_source *src,
			struct sink_in_place *s, const char **what);

/* Copies [stage_offset, +length) to the output, skipping holes of the
 * staging file: the shared step of both sinks. put is called for data, skip
 * for zeros; both get the output offset. copy, when set, first tries to
 * copy a data range inside the kernel (copy_file_range: no trip through
 * user space, a shared extent on filesystems that reflink); it returns 0
 * when done, 1 when the kernel cannot (then put is used), -1 on error. */
struct sink_copy_ops {
	int (*put)(void *ctx, const void *buf, size_t len, uint64_t out_offset);
	int (*skip)(void *ctx, uint64_t len, uint64_t out_offset);
	int (*copy)(void *ctx, int stage_fd, uint64_t stage_offset, uint64_t len,
		    uint64_t out_offset);
	void *ctx;
};

/* copy_file_range from stage_fd at *from to out_fd (at *to, or at its file
 * position when to is NULL): 0 when all len bytes were copied, 1 when the
 * kernel cannot copy between these files and nothing was copied, -1. */
int sink_copy_file_range(int stage_fd, uint64_t from, int out_fd, uint64_t *to, uint64_t len);
int sink_copy(int stage_fd, uint64_t stage_offset, uint64_t length, uint64_t out_offset,
	      const struct sink_copy_ops *ops);

/* The bytes of output range [at, at + len) that are not memory: ELF header,
 * program headers, [section header 0], notes, zeros between them. */
void sink_fill_headers(const struct layout *l, const unsigned char *notes, unsigned char *buf,
		       uint64_t at, uint64_t len);

#endif
