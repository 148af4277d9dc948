/* fuzz_procfs_unescape - procfs_unescape_path on a hostile escaped path into
 * an output buffer of hostile size (the first input byte), allocated to
 * exactly that size so that a write past it is caught. */
#include "fuzz.h"
#include "procfs.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t buflen;
	char *text, *buf;

	if (size < 1)
		return 0;
	buflen = data[0];
	text = fuzz_text(data + 1, size - 1);
	buf = malloc(buflen ? buflen : 1);
	if (!buf)
		abort();
	if (procfs_unescape_path(text, buf, buflen) == 0) {
		FUZZ_ASSERT(buflen > 0 && strnlen(buf, buflen) < buflen);
		FUZZ_ASSERT(strlen(buf) <= strlen(text));
	} else {
		FUZZ_ASSERT(errno == ENAMETOOLONG);
	}
	free(buf);
	free(text);
	return 0;
}
