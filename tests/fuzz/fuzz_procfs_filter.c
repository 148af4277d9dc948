/* fuzz_procfs_filter - procfs_parse_coredump_filter on hostile text. */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	unsigned long filter;

	if (procfs_parse_coredump_filter(text, &filter) == 0)
		FUZZ_ASSERT(strspn(text, "0123456789abcdefABCDEF") > 0);
	free(text);
	return 0;
}
