/* lc-vmread PID ADDR LEN - writes LEN bytes of PID's memory at ADDR to
 * standard output, read with process_vm_readv (not /proc/PID/mem: the
 * tests compare lc-precopy's staging file against a second, independent
 * reader). Exits 1 if any byte cannot be read, 2 on a usage error. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[1 << 20];
	uint64_t addr, len;
	pid_t pid;

	if (argc != 4) {
		fprintf(stderr, "usage: lc-vmread PID ADDR LEN\n");
		return 2;
	}
	pid = (pid_t)strtol(argv[1], NULL, 10);
	addr = strtoull(argv[2], NULL, 0);
	len = strtoull(argv[3], NULL, 0);
	while (len > 0) {
		size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
		struct iovec l = { buf, n }, r = { (void *)(uintptr_t)addr, n };
		ssize_t got = process_vm_readv(pid, &l, 1, &r, 1, 0);

		if (got != (ssize_t)n) {
			fprintf(stderr, "lc-vmread: %#llx: %s\n", (unsigned long long)addr,
				got < 0 ? strerror(errno) : "short read");
			return 1;
		}
		if (fwrite(buf, 1, n, stdout) != n)
			return 1;
		addr += n;
		len -= n;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
