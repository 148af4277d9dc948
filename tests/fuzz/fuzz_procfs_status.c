/* fuzz_procfs_status - procfs_parse_status on a hostile /proc/PID/status. */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	struct procfs_status st;

	if (procfs_parse_status(text, &st) == 0)
		FUZZ_ASSERT(strstr(text, "Uid:") != NULL && strstr(text, "Gid:") != NULL);
	free(text);
	return 0;
}
