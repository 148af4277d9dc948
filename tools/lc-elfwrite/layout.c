#include "layout.h"
#include "arch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets end up in off_t: nothing may pass INT64_MAX. */
#define LAYOUT_OFFSET_MAX ((uint64_t)INT64_MAX)

static int layout_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int layout_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

static uint64_t round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* a + b, failing with EOVERFLOW past LAYOUT_OFFSET_MAX */
static int add_offset(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a > LAYOUT_OFFSET_MAX || b > LAYOUT_OFFSET_MAX - a) {
		errno = EOVERFLOW;
		return -1;
	}
	*out = a + b;
	return 0;
}

unsigned layout_pflags(const char perms[5])
{
	return (perms[0] == 'r' ? PF_R : 0) | (perms[1] == 'w' ? PF_W : 0) |
	       (perms[2] == 'x' ? PF_X : 0);
}

void layout_free(struct layout *l)
{
	free(l->phdrs);
	free(l->segments);
	free(l->pieces);
	free(l->clear);
	memset(l, 0, sizeof *l);
}

/* Every staged extent, of any VMA, sorted by staging offset: to prove that no
 * two share bytes and to find what lies inside a window. */
struct staged {
	uint64_t offset, length;
	size_t vma;
	bool used;        /* inside its VMA's dumped range (a piece) */
};

static int staged_by_offset(const void *a, const void *b)
{
	const struct staged *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The pieces of a dumped VMA: its extents clipped to [start, start+dump_size). */
static int collect_pieces(const struct manifest *m, struct layout *l)
{
	size_t cap = 0;

	for (size_t i = 0; i < m->n_vmas; i++)
		cap += m->vmas[i].n_extents;
	l->pieces = calloc(cap ? cap : 1, sizeof *l->pieces);
	l->segments = calloc(m->n_vmas ? m->n_vmas : 1, sizeof *l->segments);
	if (!l->pieces || !l->segments)
		return -1;
	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *v = &m->vmas[i];
		struct layout_segment *s;
		uint64_t dump_end = v->start + v->dump_size;

		if (!manifest_vma_dumped(v))
			continue;
		s = &l->segments[l->n_segments++];
		s->vma = i;
		s->file_size = v->dump_size;
		s->first_piece = l->n_pieces;
		for (size_t k = 0; k < v->n_extents; k++) {
			const struct manifest_extent *x = &v->extents[k];
			uint64_t end = x->end < dump_end ? x->end : dump_end;

			if (x->start >= end)
				continue;
			/* out_offset is relative to the segment until placed */
			l->pieces[l->n_pieces++] = (struct layout_piece){
				.out_offset = x->start - v->start,
				.stage_offset = x->offset,
				.length = end - x->start,
			};
		}
		s->n_pieces = l->n_pieces - s->first_piece;
	}
	return 0;
}

/* Every extent inside the staging file, no two sharing a byte. */
static int check_staged(const struct manifest *m, uint64_t stage_size, struct staged **out,
			size_t *n_out, char *err, size_t errlen)
{
	struct staged *all;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < m->n_vmas; i++)
		cap += m->vmas[i].n_extents;
	all = calloc(cap ? cap : 1, sizeof *all);
	if (!all)
		return -1;
	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *v = &m->vmas[i];
		uint64_t dump_end = v->start + v->dump_size;

		for (size_t k = 0; k < v->n_extents; k++) {
			const struct manifest_extent *x = &v->extents[k];
			uint64_t len = x->end - x->start, end;

			if (add_offset(x->offset, len, &end) < 0 || end > stage_size) {
				free(all);
				return layout_fail(err, errlen,
						   "extent %" PRIx64 "-%" PRIx64 "@%" PRIx64
						   " lies past the end of the staging file (%" PRIu64
						   " bytes)", x->start, x->end, x->offset, stage_size);
			}
			all[n++] = (struct staged){ x->offset, len, i,
						    manifest_vma_dumped(v) && x->start < dump_end };
		}
	}
	qsort(all, n, sizeof *all, staged_by_offset);
	for (size_t i = 1; i < n; i++)
		if (all[i - 1].offset + all[i - 1].length > all[i].offset) {
			uint64_t off = all[i].offset;

			free(all);
			return layout_fail(err, errlen,
					   "two extents share staging bytes at offset 0x%" PRIx64, off);
		}
	*out = all;
	*n_out = n;
	return 0;
}

static void fill_headers(struct layout *l, const struct manifest *m)
{
	Elf64_Ehdr *e = &l->ehdr;
	Elf64_Phdr *note = &l->phdrs[0];
	size_t seg = 0;

	memset(e, 0, sizeof *e);
	memcpy(e->e_ident, ELFMAG, SELFMAG);
	e->e_ident[EI_CLASS] = ELFCLASS64;
	e->e_ident[EI_DATA] = ELFDATA2LSB;
	e->e_ident[EI_VERSION] = EV_CURRENT;
	e->e_ident[EI_OSABI] = ELFOSABI_NONE;
	e->e_type = ET_CORE;
	e->e_machine = ARCH_ELF_MACHINE;
	e->e_version = EV_CURRENT;
	e->e_phoff = l->phdrs_offset;
	e->e_ehsize = sizeof(Elf64_Ehdr);
	e->e_phentsize = sizeof(Elf64_Phdr);
	e->e_phnum = l->xnum ? PN_XNUM : (Elf64_Half)l->n_phdrs;
	if (l->xnum) {
		/* gABI extended numbering, as the kernel's fill_extnum_info */
		e->e_shoff = l->shdr_offset;
		e->e_shentsize = sizeof(Elf64_Shdr);
		e->e_shnum = 1;
		e->e_shstrndx = SHN_UNDEF;
		memset(&l->shdr, 0, sizeof l->shdr);
		l->shdr.sh_type = SHT_NULL;
		l->shdr.sh_info = (Elf64_Word)l->n_phdrs;
	}

	memset(note, 0, sizeof *note);
	note->p_type = PT_NOTE;
	note->p_offset = l->notes_offset;
	note->p_filesz = l->notes_size;
	note->p_align = LAYOUT_PT_NOTE_ALIGN;

	for (size_t i = 0; i < m->n_vmas; i++) {
		const struct manifest_vma *v = &m->vmas[i];
		Elf64_Phdr *p = &l->phdrs[1 + i];

		memset(p, 0, sizeof *p);
		p->p_type = PT_LOAD;
		p->p_flags = layout_pflags(v->perms);
		p->p_vaddr = v->start;
		p->p_memsz = v->end - v->start;
		p->p_align = l->page_size;
		if (seg < l->n_segments && l->segments[seg].vma == i) {
			p->p_offset = l->segments[seg].offset;
			p->p_filesz = l->segments[seg].file_size;
			seg++;
		} else {
			/* Where the previous segment's bytes end, as the kernel's
			 * running offset: elfutils reads following PT_LOADs as one
			 * run while each starts at or before the previous one's
			 * end, so an offset of 0 here would cut that run short. */
			p->p_offset = i ? p[-1].p_offset + p[-1].p_filesz
				        : l->in_place ? l->page_size : l->head_size;
		}
	}
}

/* Places the segments from `offset` on, in address order; only those in
 * `which` (all when NULL). Pieces get their final output offsets. */
static int place_segments(struct layout *l, uint64_t *offset, const bool *which)
{
	for (size_t s = 0; s < l->n_segments; s++) {
		struct layout_segment *seg = &l->segments[s];

		if (which && !which[s])
			continue;
		seg->offset = *offset;
		for (size_t k = 0; k < seg->n_pieces; k++)
			l->pieces[seg->first_piece + k].out_offset += seg->offset;
		if (add_offset(*offset, seg->file_size, offset) < 0)
			return -1;
	}
	return 0;
}

/* The tail after the data: notes, program headers, [section header 0]. */
static int place_tail(struct layout *l, uint64_t offset)
{
	uint64_t phdrs_size = (uint64_t)l->n_phdrs * sizeof(Elf64_Phdr);

	l->notes_offset = offset;
	if (add_offset(offset, l->notes_size, &offset) < 0)
		return -1;
	l->phdrs_offset = round_up(offset, 8);
	if (add_offset(l->phdrs_offset, phdrs_size, &offset) < 0)
		return -1;
	l->shdr_offset = l->xnum ? offset : 0;
	if (l->xnum && add_offset(offset, sizeof(Elf64_Shdr), &offset) < 0)
		return -1;
	l->file_size = offset;
	return 0;
}

static int layout_stream(struct layout *l)
{
	uint64_t offset = sizeof(Elf64_Ehdr);

	/* ELF header, program headers, [section header 0], notes: as the kernel */
	l->phdrs_offset = offset;
	offset += (uint64_t)l->n_phdrs * sizeof(Elf64_Phdr);
	if (l->xnum) {
		l->shdr_offset = offset;
		offset += sizeof(Elf64_Shdr);
	}
	l->notes_offset = offset;
	if (add_offset(offset, l->notes_size, &offset) < 0 ||
	    add_offset(offset, l->page_size - 1, &l->head_size) < 0)
		return -1;
	l->head_size &= ~((uint64_t)l->page_size - 1);
	offset = l->head_size;
	if (place_segments(l, &offset, NULL) < 0)
		return -1;
	l->file_size = offset;
	return 0;
}

/* Index of the first staged extent ending after `offset`. */
static size_t staged_search(const struct staged *all, size_t n, uint64_t offset)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (all[mid].offset + all[mid].length <= offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct window {
	uint64_t start, end;
	size_t segment;
};

static int window_by_start(const void *a, const void *b)
{
	const struct window *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Decides which segments stay where their bytes were staged. A segment stays
 * when all its pieces lie at one distance from their addresses, its window
 * [base, base + file_size) starts past the staging header, holds no byte that
 * another VMA uses, and overlaps no other kept window. */
static int choose_kept(struct layout *l, const struct staged *all, size_t n_all, bool *moved,
		       uint64_t *data_end)
{
	struct window *w = calloc(l->n_segments ? l->n_segments : 1, sizeof *w);
	size_t n_w = 0;
	uint64_t kept_end = 0;

	if (!w)
		return -1;
	for (size_t s = 0; s < l->n_segments; s++) {
		struct layout_segment *seg = &l->segments[s];
		const struct layout_piece *first = &l->pieces[seg->first_piece];
		uint64_t base, end;
		bool ok = seg->n_pieces > 0;

		moved[s] = true;
		if (!ok)
			continue; /* nothing staged: all zeros, placed as a hole */
		/* pieces' out_offset is still relative to the segment start */
		if (first->stage_offset < first->out_offset + l->page_size)
			continue;
		base = first->stage_offset - first->out_offset;
		if (add_offset(base, seg->file_size, &end) < 0)
			continue;
		for (size_t k = 1; k < seg->n_pieces && ok; k++) {
			const struct layout_piece *p = &l->pieces[seg->first_piece + k];

			ok = p->stage_offset - p->out_offset == base;
		}
		for (size_t i = staged_search(all, n_all, base); ok && i < n_all && all[i].offset < end;
		     i++)
			if (all[i].vma != seg->vma && all[i].used)
				ok = false;
		if (ok)
			w[n_w++] = (struct window){ base, end, s };
	}
	qsort(w, n_w, sizeof *w, window_by_start);
	for (size_t i = 0; i < n_w; i++) {
		if (w[i].start < kept_end)
			continue; /* overlaps a kept window: moved */
		moved[w[i].segment] = false;
		kept_end = w[i].end;
	}
	free(w);
	*data_end = kept_end;
	return 0;
}

/* Staging ranges in [page_size, stage_size) that no piece uses: gaps inside
 * kept windows (must read as zeros), extents of skipped VMAs and stale bytes
 * (must not end up in the core). */
static int collect_clear(struct layout *l, const struct staged *all, size_t n_all,
			 uint64_t stage_size)
{
	uint64_t cursor = l->page_size;

	l->clear = calloc(n_all + 1, sizeof *l->clear);
	if (!l->clear)
		return -1;
	for (size_t i = 0; i < n_all; i++) {
		if (!all[i].used)
			continue;
		if (all[i].offset > cursor)
			l->clear[l->n_clear++] = (struct layout_range){ cursor, all[i].offset - cursor };
		cursor = all[i].offset + all[i].length;
	}
	if (stage_size > cursor)
		l->clear[l->n_clear++] = (struct layout_range){ cursor, stage_size - cursor };
	return 0;
}

/* Pieces of a used extent that is only partly dumped (the ELF-header rule:
 * dump size one page, extent the whole VMA) use only their dumped part: the
 * staged bytes past it must be cleared too. */
static void mark_partial(struct staged *all, size_t n_all, const struct layout *l)
{
	/* Replace each used extent by the union of the pieces cut from it: the
	 * pieces are prefixes of extents (clipped at the dump end), so the used
	 * length is the piece's. */
	for (size_t p = 0; p < l->n_pieces; p++) {
		size_t i = staged_search(all, n_all, l->pieces[p].stage_offset);

		if (i < n_all && all[i].offset == l->pieces[p].stage_offset)
			all[i].length = l->pieces[p].length;
	}
}

/* elfutils (libdwfl's core memory reader) takes a PT_LOAD that is whole in
 * the file (file size = memory size) and the next one, when it begins at the
 * first address past it and at a file offset at or before the first one's
 * end, as one run of bytes contiguous in the file. So two such neighbours
 * must be exactly contiguous in the file, or the second must lie past the
 * first one's end. Moved segments are placed in address order one after the
 * other, which satisfies this; a kept segment that follows its neighbour in
 * memory but precedes it in the staging file is moved too (and so on along a
 * run of neighbours). */
static void keep_adjacent_in_file_order(const struct layout *l, const struct manifest *m,
					bool *moved)
{
	for (size_t s = 1; s < l->n_segments; s++) {
		const struct layout_segment *a = &l->segments[s - 1], *b = &l->segments[s];
		const struct manifest_vma *va = &m->vmas[a->vma], *vb = &m->vmas[b->vma];
		uint64_t a_base, b_base;

		if (moved[s] || b->vma != a->vma + 1 || va->end != vb->start ||
		    a->file_size != va->end - va->start)
			continue;
		if (moved[s - 1]) {
			moved[s] = true; /* a lies past all kept data: b must follow */
			continue;
		}
		a_base = l->pieces[a->first_piece].stage_offset - l->pieces[a->first_piece].out_offset;
		b_base = l->pieces[b->first_piece].stage_offset - l->pieces[b->first_piece].out_offset;
		if (b_base < a_base + a->file_size)
			moved[s] = true;
	}
}

static int layout_in_place(struct layout *l, const struct manifest *m, struct staged *all,
			   size_t n_all, uint64_t stage_size)
{
	bool *moved = calloc(l->n_segments ? l->n_segments : 1, sizeof *moved);
	uint64_t offset, kept_end;

	if (!moved)
		return -1;
	mark_partial(all, n_all, l);
	if (choose_kept(l, all, n_all, moved, &kept_end) < 0) {
		free(moved);
		return -1;
	}
	keep_adjacent_in_file_order(l, m, moved);
	for (size_t s = 0; s < l->n_segments; s++) {
		struct layout_segment *seg = &l->segments[s];

		seg->moved = moved[s];
		if (!seg->moved) {
			const struct layout_piece *first = &l->pieces[seg->first_piece];
			uint64_t base = first->stage_offset - first->out_offset;

			seg->offset = base;
			for (size_t k = 0; k < seg->n_pieces; k++)
				l->pieces[seg->first_piece + k].out_offset += base;
		} else {
			l->n_moved++;
			for (size_t k = 0; k < seg->n_pieces; k++)
				l->moved_bytes += l->pieces[seg->first_piece + k].length;
		}
	}
	/* moved segments go past everything staged and every kept window */
	offset = round_up(stage_size, l->page_size);
	if (kept_end > offset)
		offset = kept_end;
	for (size_t s = 0; s < l->n_segments; s++)
		moved[s] = l->segments[s].moved;
	if (place_segments(l, &offset, moved) < 0) {
		free(moved);
		return -1;
	}
	free(moved);
	l->data_end = offset;
	if (collect_clear(l, all, n_all, stage_size) < 0)
		return -1;
	return place_tail(l, offset);
}

int layout_build(const struct layout_input *in, struct layout *l, char *err, size_t errlen)
{
	const struct manifest *m = in->manifest;
	struct staged *all = NULL;
	size_t n_all = 0;
	int saved;

	memset(l, 0, sizeof *l);
	l->page_size = m->page_size;
	l->in_place = in->in_place;
	l->notes_size = in->notes_size;
	if (m->page_size < 4096 || (m->page_size & (m->page_size - 1)))
		return layout_fail(err, errlen, "bad page size %u", m->page_size);
	if (in->stage_size < m->page_size || in->stage_size > LAYOUT_OFFSET_MAX)
		return layout_fail(err, errlen, "staging file of %" PRIu64 " bytes has no header page",
				   in->stage_size);
	if (in->notes_size == 0 || in->notes_size > LAYOUT_OFFSET_MAX / 2)
		return layout_fail(err, errlen, "bad notes size %" PRIu64, in->notes_size);
	if (m->n_vmas >= UINT32_MAX - 1)
		return layout_fail(err, errlen, "%zu mappings is more than ELF64 can count", m->n_vmas);
	l->n_phdrs = 1 + m->n_vmas;
	l->xnum = l->n_phdrs >= PN_XNUM;
	l->phdrs = calloc(l->n_phdrs, sizeof *l->phdrs);
	if (!l->phdrs)
		goto nomem;
	if (check_staged(m, in->stage_size, &all, &n_all, err, errlen) < 0) {
		saved = errno;
		layout_free(l);
		errno = saved;
		return -1;
	}
	if (collect_pieces(m, l) < 0)
		goto nomem;
	if (in->in_place ? layout_in_place(l, m, all, n_all, in->stage_size) : layout_stream(l)) {
		if (errno == ENOMEM)
			goto nomem;
		free(all);
		layout_free(l);
		snprintf(err, errlen, "the core would be larger than a file can be");
		errno = EINVAL;
		return -1;
	}
	free(all);
	fill_headers(l, m);
	return 0;
nomem:
	free(all);
	layout_free(l);
	errno = ENOMEM;
	snprintf(err, errlen, "out of memory");
	return -1;
}
