/* layout - where every byte of the core goes, computed before any byte is
 * written (the kernel's elf_core_dump computes all offsets first, then
 * writes in one pass). No I/O here: lc-layout-test checks it on manifests
 * built in memory.
 *
 * Two layouts of the same segments:
 *
 *  stream   ELF header, program headers (PT_NOTE first, then one PT_LOAD per
 *           VMA in address order), [section header 0 when PN_XNUM], notes,
 *           padding to a page, then each dumped VMA's bytes in address order.
 *           What the kernel writes; suits a pipe and a file on another
 *           filesystem.
 *
 *  in place the staging file becomes the core: a VMA whose staged bytes
 *           already lie at one constant distance from their addresses keeps
 *           them where they are (its PT_LOAD points into the staging data);
 *           a VMA whose extents are scattered, or whose window would show
 *           another VMA's bytes, is moved together past the staging data;
 *           then notes, program headers and [section header 0]; the ELF
 *           header goes over the staging header page last.
 *
 * Either way each VMA's bytes are contiguous in one PT_LOAD (elfutils reads
 * across the pieces of a mapping as if they were contiguous). */
#ifndef LC_ELFWRITE_LAYOUT_H
#define LC_ELFWRITE_LAYOUT_H

#include "manifest.h"

#include <elf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LAYOUT_PT_NOTE_ALIGN 4 /* Linux notes are 4-aligned in ELF64 too */

/* Bytes of the output file that come from the staging file. */
struct layout_piece {
	uint64_t out_offset;
	uint64_t stage_offset;
	uint64_t length;
};

/* A range of a file (output or staging, as the field says). */
struct layout_range {
	uint64_t offset, length;
};

/* One PT_LOAD: the VMA's dumped bytes [vma.start, vma.start + file_size)
 * are at [offset, offset + file_size) in the output. Addresses covered by no
 * piece read as zeros: the output must hold zeros (a hole) there. */
struct layout_segment {
	size_t vma;                 /* index in the manifest */
	uint64_t offset, file_size;
	bool moved;                 /* in place: copied out of the staging data */
	size_t first_piece, n_pieces;
};

struct layout {
	unsigned page_size;
	bool in_place;

	Elf64_Ehdr ehdr;
	Elf64_Phdr *phdrs;          /* [0] is PT_NOTE, then one per VMA */
	size_t n_phdrs;
	bool xnum;                  /* PN_XNUM: section header 0 holds n_phdrs */
	Elf64_Shdr shdr;

	uint64_t phdrs_offset, shdr_offset, notes_offset, notes_size;
	uint64_t head_size;         /* stream: bytes before the first data page */
	uint64_t file_size;         /* the whole output */

	struct layout_segment *segments; /* one per dumped VMA with bytes, address order */
	size_t n_segments;
	struct layout_piece *pieces;     /* per segment, address order */
	size_t n_pieces;

	/* in place only: staging ranges the core must read as zeros or must not
	 * hold (gaps inside a kept window, bytes of skipped VMAs, stale copies),
	 * sorted, disjoint, inside [page_size, data_end). */
	struct layout_range *clear;
	size_t n_clear;
	uint64_t data_end;          /* in place: end of the staging data and moved copies */
	size_t n_moved;
	uint64_t moved_bytes;
};

struct layout_input {
	const struct manifest *manifest;
	uint64_t stage_size;        /* st_size of the staging file */
	uint64_t notes_size;        /* bytes of the PT_NOTE segment */
	bool in_place;
};

/* Computes the layout. Returns 0, or -1 with errno = EINVAL and the reason
 * in err (bad input: an extent outside the staging file, extents sharing
 * staging bytes, sizes that overflow), or errno = ENOMEM. */
int layout_build(const struct layout_input *in, struct layout *l, char *err, size_t errlen);
void layout_free(struct layout *l);

/* p_flags of a PT_LOAD from the maps permissions "rwxp": PF_R|PF_W|PF_X,
 * as the kernel derives them from VM_READ, VM_WRITE, VM_EXEC. */
unsigned layout_pflags(const char perms[5]);

#endif
