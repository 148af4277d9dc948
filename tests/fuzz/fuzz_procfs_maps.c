/* fuzz_procfs_maps - procfs_parse_maps_line on one hostile maps line. An
 * accepted line has a non-empty range, rwxp-style permissions and a path
 * that points inside the line. */
#include "fuzz.h"
#include "procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_text(data, size);
	struct procfs_map map;

	if (procfs_parse_maps_line(line, &map) == 0) {
		FUZZ_ASSERT(map.start < map.end);
		FUZZ_ASSERT(strlen(map.perms) == 4);
		FUZZ_ASSERT(map.path >= line && map.path <= line + strlen(line));
	}
	free(line);
	return 0;
}
