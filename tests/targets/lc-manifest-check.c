/* lc-manifest-check [-w] [NAME] - reads a manifest on stdin with lib/common's
 * reader (manifest_read), as every later tool will, so that the tests can
 * drive the reader directly.
 *
 * Prints "ok N records" on stdout, or with -w writes the manifest back out
 * with manifest_write (a round trip: unknown headers must survive it).
 * On a rejected manifest prints the reader's "NAME:LINE: why" on stderr and
 * exits 5 (EXIT_BAD_INPUT). NAME defaults to "stdin". */
#include "exitcode.h"
#include "manifest.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct manifest m;
	const char *name = "stdin";
	char err[512];
	int write_back = 0, i = 1;

	if (i < argc && !strcmp(argv[i], "-w")) {
		write_back = 1;
		i++;
	}
	if (i < argc)
		name = argv[i++];
	if (i != argc) {
		fprintf(stderr, "usage: lc-manifest-check [-w] [NAME] < MANIFEST\n");
		return EXIT_USAGE;
	}
	if (manifest_read(stdin, name, &m, err, sizeof err) < 0) {
		fprintf(stderr, "lc-manifest-check: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	if (write_back) {
		if (manifest_write(stdout, &m) < 0) {
			perror("lc-manifest-check: write");
			manifest_free(&m);
			return EXIT_FAILURE_IO;
		}
	} else {
		printf("ok %zu records\n", m.n_vmas);
	}
	manifest_free(&m);
	return EXIT_OK;
}
