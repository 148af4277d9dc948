/* lc-pagecheck FILE OFFSET ADDR NPAGES [MIN_GEN]
 *
 * Reads NPAGES pages of FILE (a staging file, a core) from byte OFFSET and
 * checks that page i holds lc-target's pattern (lc_pattern.h) for target
 * address ADDR + i * 4096 with a generation of at least MIN_GEN (default 1).
 * Numbers are decimal or 0x-hex. Prints "good G bad B" on stdout and the
 * first bad pages on stderr; exits 0 when every page is good, 1 when any is
 * bad, 2 on a usage or I/O error (a short file is bad pages, not an error). */
#include "lc_pattern.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_REPORTED 10

static int number(const char *arg, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 0);
	return errno || end == arg || *end || arg[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
	uint64_t offset, addr, npages, min_gen = 1, good = 0, bad = 0;
	unsigned char page[LC_PATTERN_PAGE];
	int fd;

	if ((argc != 5 && argc != 6) || number(argv[2], &offset) < 0 || number(argv[3], &addr) < 0 ||
	    number(argv[4], &npages) < 0 || (argc == 6 && number(argv[5], &min_gen) < 0) ||
	    addr % LC_PATTERN_PAGE) {
		fprintf(stderr, "usage: lc-pagecheck FILE OFFSET ADDR NPAGES [MIN_GEN]\n"
				"  (ADDR page-aligned; numbers decimal or 0x-hex)\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "lc-pagecheck: cannot open %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	for (uint64_t i = 0; i < npages; i++) {
		uint64_t page_addr = addr + i * LC_PATTERN_PAGE, gen = 0;
		size_t got = 0;
		unsigned why;

		while (got < sizeof page) {
			ssize_t n = pread(fd, page + got, sizeof page - got,
					  (off_t)(offset + i * LC_PATTERN_PAGE + got));

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fprintf(stderr, "lc-pagecheck: cannot read %s: %s\n", argv[1], strerror(errno));
				return 2;
			}
			if (n == 0)
				break; /* end of file: the rest of the page counts as missing */
			got += (size_t)n;
		}
		memset(page + got, 0, sizeof page - got);
		why = lc_pattern_check(page, page_addr, min_gen, &gen);
		if (!why) {
			good++;
			continue;
		}
		if (bad++ < MAX_REPORTED)
			fprintf(stderr,
				"lc-pagecheck: page 0x%" PRIx64 " (file offset 0x%" PRIx64
				"): %s (word %u, generation %" PRIu64 ")%s\n",
				page_addr, offset + i * LC_PATTERN_PAGE,
				why == 1 ? "wrong address word" : why == 2 ? "generation too low"
								    : "wrong body",
				why - 1, gen, got < sizeof page ? ", past the end of the file" : "");
	}
	close(fd);
	printf("good %" PRIu64 " bad %" PRIu64 "\n", good, bad);
	return bad ? 1 : 0;
}
