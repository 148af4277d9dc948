/* lc-memfind PID STRING - prints, one a line in hex (0x...), the address of
 * every occurrence of STRING in PID's readable mappings, read through
 * /proc/PID/mem (as a debugger would, so that the tests can tell where in
 * a real program's memory a value lies and then ask gdb for it in the
 * core). The process runs on meanwhile: what it writes during the scan may
 * or may not be seen. Mappings that cannot be read ([vvar], a device
 * mapping, one unmapped during the scan) are skipped silently.
 * Exits 0 if STRING was found, 1 if not, 2 on a usage error or when the
 * process's maps or mem cannot be opened. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK (1u << 20)

/* pread that restarts on EINTR and loops on short counts; returns the
 * bytes read (fewer at an unreadable page or the end), -1 on the first
 * error */
static ssize_t read_at(int fd, char *buf, size_t len, uint64_t addr)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(addr + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return got > 0 ? (ssize_t)got : -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* scans [start, end): chunks overlap by len - 1 bytes so that a match
 * across a chunk boundary is seen once */
static int scan(int mem, uint64_t start, uint64_t end, const char *s, size_t len, char *buf)
{
	int found = 0;
	uint64_t addr = start;

	while (addr < end && end - addr >= len) {
		size_t want = end - addr < CHUNK ? (size_t)(end - addr) : CHUNK;
		ssize_t got = read_at(mem, buf, want, addr);
		char *p, *q;

		if (got < (ssize_t)len)
			break;
		for (p = buf; (q = memmem(p, (size_t)got - (size_t)(p - buf), s, len)) != NULL; p = q + 1) {
			printf("%#llx\n", (unsigned long long)(addr + (uint64_t)(q - buf)));
			found = 1;
			if ((size_t)(q + 1 - buf) + len > (size_t)got)
				break;
		}
		if ((size_t)got < want)
			break; /* an unreadable page: give up on the rest of this mapping */
		if (addr + want >= end)
			break;
		addr += want - (len - 1);
	}
	return found;
}

int main(int argc, char **argv)
{
	char path[64], *line = NULL;
	size_t linecap = 0;
	const char *s;
	size_t len;
	FILE *maps;
	int mem, found = 0;
	char *buf;
	long pid;

	if (argc != 3 || argv[2][0] == '\0') {
		fprintf(stderr, "usage: lc-memfind PID STRING\n");
		return 2;
	}
	pid = strtol(argv[1], NULL, 10);
	s = argv[2];
	len = strlen(s);
	if (len > CHUNK) {
		fprintf(stderr, "lc-memfind: STRING longer than %u bytes\n", CHUNK);
		return 2;
	}
	snprintf(path, sizeof path, "/proc/%ld/maps", pid);
	maps = fopen(path, "r");
	if (maps == NULL) {
		fprintf(stderr, "lc-memfind: %s: %s\n", path, strerror(errno));
		return 2;
	}
	snprintf(path, sizeof path, "/proc/%ld/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		fprintf(stderr, "lc-memfind: %s: %s\n", path, strerror(errno));
		return 2;
	}
	buf = malloc(CHUNK);
	if (buf == NULL) {
		fprintf(stderr, "lc-memfind: out of memory\n");
		return 2;
	}
	while (getline(&line, &linecap, maps) > 0) {
		unsigned long long start, end;
		char perms[5];

		if (sscanf(line, "%llx-%llx %4s", &start, &end, perms) != 3 || perms[0] != 'r')
			continue;
		/* the vsyscall page is not in the page tables /proc/PID/mem reads */
		if (strstr(line, "[vsyscall]") != NULL)
			continue;
		found |= scan(mem, start, end, s, len, buf);
	}
	free(line);
	fclose(maps);
	close(mem);
	free(buf);
	if (fflush(stdout) != 0)
		return 2;
	return found ? 0 : 1;
}
