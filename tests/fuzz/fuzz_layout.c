/* fuzz_layout - lc-elfwrite's extent validation and layout
 * (tools/lc-elfwrite/layout.c) on a hostile manifest and staging size.
 * Input: 8 bytes of staging file size (little-endian), 2 bytes of notes
 * size, then the manifest text. When the layout is accepted, every piece
 * read from the staging file lies inside it and past the header page, no
 * two extents share staging bytes, and every segment lies inside the core. */
#include "fuzz.h"
#include "layout.h"
#include "manifest.h"

static void check_layout(const struct layout *l, const struct manifest *m, uint64_t stage_size)
{
	FUZZ_ASSERT(l->n_phdrs == m->n_vmas + 1);
	for (size_t i = 0; i < l->n_pieces; i++) {
		const struct layout_piece *p = &l->pieces[i];

		FUZZ_ASSERT(p->stage_offset >= l->page_size);
		FUZZ_ASSERT(p->length <= stage_size && p->stage_offset <= stage_size - p->length);
	}
	for (size_t i = 0; i < l->n_segments; i++) {
		const struct layout_segment *s = &l->segments[i];

		FUZZ_ASSERT(s->vma < m->n_vmas);
		FUZZ_ASSERT(s->first_piece + s->n_pieces <= l->n_pieces);
		FUZZ_ASSERT(s->file_size <= l->file_size && s->offset <= l->file_size - s->file_size);
	}
	FUZZ_ASSERT(l->notes_offset + l->notes_size <= l->file_size);
	FUZZ_ASSERT(l->file_size <= (uint64_t)INT64_MAX);
	for (size_t i = 0; i < l->n_clear; i++) {
		FUZZ_ASSERT(l->clear[i].offset >= l->page_size);
		FUZZ_ASSERT(i == 0 || l->clear[i - 1].offset + l->clear[i - 1].length <=
					      l->clear[i].offset);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t stage_size = 0, notes_size = 0;
	struct manifest m;
	char *text, err[256];

	if (size < 10)
		return 0;
	for (int i = 7; i >= 0; i--)
		stage_size = stage_size << 8 | data[i];
	notes_size = (uint64_t)data[8] | (uint64_t)data[9] << 8;
	text = fuzz_text(data + 10, size - 10);
	if (manifest_parse(text, "fuzz", &m, err, sizeof err) == 0) {
		for (int in_place = 0; in_place < 2; in_place++) {
			struct layout_input in = { &m, stage_size, notes_size, in_place };
			struct layout l;

			if (layout_build(&in, &l, err, sizeof err) == 0) {
				check_layout(&l, &m, stage_size);
				layout_free(&l);
			}
		}
		manifest_free(&m);
	}
	free(text);
	return 0;
}
