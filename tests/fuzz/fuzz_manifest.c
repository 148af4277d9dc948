/* fuzz_manifest - lib/common/manifest.c's reader on hostile text.
 * Beyond "no crash": a manifest the reader accepts satisfies the invariants
 * the tools rely on (records ascending and disjoint, each record valid for
 * the page size), and what manifest_write makes of it reads back the same. */
#include "fuzz.h"
#include "manifest.h"

static void check_invariants(const struct manifest *m)
{
	char why[200];

	FUZZ_ASSERT(m->page_size >= 4096 && (m->page_size & (m->page_size - 1)) == 0);
	FUZZ_ASSERT(m->pid > 0);
	for (size_t i = 0; i < m->n_vmas; i++) {
		FUZZ_ASSERT(manifest_vma_validate(&m->vmas[i], m->page_size, why, sizeof why) == 0);
		FUZZ_ASSERT(i == 0 || m->vmas[i - 1].end <= m->vmas[i].start);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size), err[256], *out = NULL;
	size_t out_len = 0;
	struct manifest m, again;
	FILE *f;

	if (manifest_parse(text, "fuzz", &m, err, sizeof err) < 0) {
		FUZZ_ASSERT(memchr(err, '\0', sizeof err) != NULL);
		free(text);
		return 0;
	}
	check_invariants(&m);

	/* round trip: the writer's text is accepted and means the same */
	f = open_memstream(&out, &out_len);
	FUZZ_ASSERT(f != NULL);
	FUZZ_ASSERT(manifest_write(f, &m) == 0);
	fclose(f);
	FUZZ_ASSERT(manifest_parse(out, "fuzz-again", &again, err, sizeof err) == 0);
	FUZZ_ASSERT(again.n_vmas == m.n_vmas && again.n_headers == m.n_headers);
	for (size_t i = 0; i < m.n_vmas; i++) {
		const struct manifest_vma *a = &m.vmas[i], *b = &again.vmas[i];

		FUZZ_ASSERT(a->start == b->start && a->end == b->end && a->offset == b->offset);
		FUZZ_ASSERT(a->n_extents == b->n_extents && a->n_clean == b->n_clean);
		FUZZ_ASSERT(a->dump_size == b->dump_size && !strcmp(a->decision, b->decision));
		FUZZ_ASSERT(!strcmp(a->path, b->path) && !strcmp(a->vmflags, b->vmflags));
	}
	manifest_free(&again);
	manifest_free(&m);
	free(out);
	free(text);
	return 0;
}
