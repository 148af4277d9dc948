/* fuzz_stage - lib/common/stage.c's header check on hostile bytes: the
 * first bytes of the input are the header as read from a staging file (a
 * short file gives a zero-filled tail, as a short pread does). Accepted
 * only when every field is exactly what lc-stage(5) demands. */
#include "fuzz.h"
#include "stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stage_header *h = calloc(1, sizeof *h);
	static const unsigned page_sizes[] = { 4096, 8192, 65536, 2u << 20 };

	if (!h)
		abort();
	memcpy(h, data, size < sizeof *h ? size : sizeof *h);
	for (size_t i = 0; i < sizeof page_sizes / sizeof page_sizes[0]; i++) {
		if (stage_header_check(h, page_sizes[i]) == 0) {
			FUZZ_ASSERT(!memcmp(h->magic, STAGE_MAGIC, 8));
			FUZZ_ASSERT(h->version == STAGE_VERSION && h->reserved == 0);
			FUZZ_ASSERT(h->page_size == page_sizes[i] && h->header_size == page_sizes[i]);
		}
	}
	free(h);
	return 0;
}
