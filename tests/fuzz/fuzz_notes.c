/* fuzz_notes - lc-elfwrite's notes file check (tools/lc-elfwrite/notesfile.c)
 * on hostile bytes, held in a buffer of exactly the input's size. When the
 * file is accepted, its PT_NOTE segment lies inside the file and walking its
 * notes again stays inside the segment and finds as many as were counted. */
#include "fuzz.h"
#include "notesfile.h"

#include <elf.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *file = malloc(size ? size : 1);
	struct notesfile n;
	char err[256];

	if (!file)
		abort();
	memcpy(file, data, size);
	if (notesfile_parse(file, size, &n, err, sizeof err) == 0) {
		uint64_t at = 0;
		size_t count = 0;

		FUZZ_ASSERT(n.segment >= file && n.size <= size &&
			    (uint64_t)(n.segment - file) <= size - n.size);
		FUZZ_ASSERT(n.n_threads >= 1 && n.n_threads <= n.n_notes);
		while (at < n.size) {
			Elf64_Nhdr h;

			FUZZ_ASSERT(n.size - at >= sizeof h);
			memcpy(&h, n.segment + at, sizeof h);
			at += sizeof h + ((h.n_namesz + 3ull) & ~3ull) + ((h.n_descsz + 3ull) & ~3ull);
			FUZZ_ASSERT(at <= n.size);
			count++;
		}
		FUZZ_ASSERT(count == n.n_notes);
	}
	free(file);
	return 0;
}
