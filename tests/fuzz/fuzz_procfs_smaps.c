/* fuzz_procfs_smaps - procfs_smaps_next over a hostile /proc/PID/smaps:
 * iterates to the end or the first error; every step moves forward inside
 * the buffer. */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size), *cursor = text;
	struct procfs_smaps_vma v;
	int rc;

	while ((rc = procfs_smaps_next(&cursor, &v)) == 1) {
		FUZZ_ASSERT(cursor > text && cursor <= text + size);
		FUZZ_ASSERT(v.map.start < v.map.end);
		FUZZ_ASSERT(memchr(v.vmflags_text, '\0', sizeof v.vmflags_text) != NULL);
	}
	FUZZ_ASSERT(rc == 0 || rc == -1);
	free(text);
	return 0;
}
