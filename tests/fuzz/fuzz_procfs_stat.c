/* fuzz_procfs_stat - procfs_parse_stat on a hostile /proc/PID/stat line
 * (comm holds any bytes, parentheses included: it ends at the last ')'). */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_text(data, size);
	struct procfs_stat st;

	if (procfs_parse_stat(text, &st) == 0) {
		FUZZ_ASSERT(memchr(st.comm, '\0', sizeof st.comm) != NULL);
		FUZZ_ASSERT(st.state != '\0');
	}
	free(text);
	return 0;
}
