/* lc-hostile-target - a process for the hardening tests (privileges.bats,
 * hostile.bats), shaped the way those tests need:
 *
 *   --nondumpable  prctl(PR_SET_DUMPABLE, 0): the kernel then lets only a
 *                  caller with CAP_SYS_PTRACE attach or open its /proc
 *                  files, even one of the same uid (and makes its /proc files
 *                  root's): the restriction Yama's ptrace_scope puts on a
 *                  process that is not the caller's descendant, on a kernel
 *                  built without Yama;
 *   --vmas N       N extra one-page mappings of alternating protection (they
 *                  cannot merge), each written: a manifest far longer than
 *                  a pipe holds, so that a tool blocks writing it;
 *   --file PATH    PATH mapped private and written (any name: spaces,
 *                  newlines, " (deleted)").
 *
 * Writes "pid=PID" to INFOFILE when ready, then sleeps until killed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "lc-hostile-target: %s: %s\n", what, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	const char *info = NULL, *file = NULL;
	long vmas = 0, page = sysconf(_SC_PAGESIZE);
	int nondumpable = 0;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			info = argv[++i];
		else if (!strcmp(argv[i], "--nondumpable"))
			nondumpable = 1;
		else if (!strcmp(argv[i], "--vmas") && i + 1 < argc)
			vmas = atol(argv[++i]);
		else if (!strcmp(argv[i], "--file") && i + 1 < argc)
			file = argv[++i];
		else {
			fprintf(stderr, "usage: lc-hostile-target -o INFOFILE [--nondumpable] "
					"[--vmas N] [--file PATH]\n");
			return 2;
		}
	}
	if (!info) {
		fprintf(stderr, "lc-hostile-target: -o INFOFILE is required\n");
		return 2;
	}
	if (vmas > 0) {
		char *base = mmap(NULL, (size_t)(vmas * 2 * page), PROT_NONE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (base == MAP_FAILED)
			die("mmap");
		/* every other page: a gap keeps each mapping its own VMA */
		for (long i = 0; i < vmas; i++) {
			char *p = base + i * 2 * page;

			if (mprotect(p, (size_t)page,
				     PROT_READ | PROT_WRITE | (i % 2 ? 0 : PROT_EXEC)) < 0)
				die("mprotect");
			p[0] = (char)i;
		}
	}
	if (file) {
		int fd = open(file, O_RDWR);
		char *p;

		if (fd < 0)
			die(file);
		p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			die("mmap of the file");
		close(fd);
		p[0] ^= 1;
	}
	if (nondumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die("prctl(PR_SET_DUMPABLE)");
	f = fopen(info, "w");
	if (!f || fprintf(f, "pid=%d\n", (int)getpid()) < 0 || fclose(f) == EOF)
		die(info);
	for (;;)
		pause();
}
