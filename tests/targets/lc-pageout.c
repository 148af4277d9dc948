/* lc-pageout PID ADDR LEN
 *
 * Asks the kernel to page out [ADDR, ADDR + LEN) of process PID
 * (process_madvise MADV_PAGEOUT, Linux 5.10+): with swap on, its
 * anonymous pages go to swap and leave its page tables as swap entries.
 * Tests use it to give the stop pages that are data but not present.
 * Prints the bytes the kernel advised; exits 0, or 1 with a message. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

int main(int argc, char **argv)
{
	struct iovec iov;
	long pidfd, n;

	if (argc != 4) {
		fprintf(stderr, "usage: lc-pageout PID ADDR LEN\n");
		return 2;
	}
	iov.iov_base = (void *)(uintptr_t)strtoull(argv[2], NULL, 0);
	iov.iov_len = (size_t)strtoull(argv[3], NULL, 0);
	pidfd = syscall(SYS_pidfd_open, atoi(argv[1]), 0);
	if (pidfd < 0) {
		fprintf(stderr, "lc-pageout: pidfd_open: %s\n", strerror(errno));
		return 1;
	}
	n = syscall(SYS_process_madvise, (int)pidfd, &iov, 1, MADV_PAGEOUT, 0);
	if (n < 0) {
		fprintf(stderr, "lc-pageout: process_madvise MADV_PAGEOUT: %s\n", strerror(errno));
		return 1;
	}
	printf("%ld\n", n);
	return 0;
}
