#include "thp.h"
#include "runs.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif

/* The size of a PMD huge page: 2 MiB with 4 KiB pages. */
static uint64_t huge_size(unsigned page_size)
{
	unsigned long long size = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");

	if (f) {
		if (fscanf(f, "%llu", &size) != 1)
			size = 0;
		fclose(f);
	}
	return size && size % page_size == 0 ? size : (uint64_t)page_size * (page_size / 8);
}

static int64_t us_since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((int64_t)b.tv_sec - a->tv_sec) * 1000000 + (b.tv_nsec - a->tv_nsec) / 1000;
}

int thp_restore(int pidfd, const struct pagemap *pm, const struct pagemap_runs *huge,
		struct thp_result *r)
{
	struct pagemap_runs now, split;
	struct timespec t0;
	uint64_t size = huge_size(pm->page_size);
	int rc = -1;

	*r = (struct thp_result){ 0 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pagemap_runs_init(&now);
	pagemap_runs_init(&split);
	/* what is huge now: those were not split, or khugepaged was quicker */
	for (size_t i = 0; i < huge->n; i++)
		if (pagemap_find(pm, huge->run[i].start, huge->run[i].end, PAGEMAP_HUGE, &now) < 0)
			goto out;
	if (runs_subtract(huge, &now, &split) < 0)
		goto out;
	for (size_t i = 0; i < split.n; i++) {
		uint64_t a = (split.run[i].start + size - 1) / size * size;

		for (; a + size <= split.run[i].end; a += size) {
			struct iovec iov = { (void *)(uintptr_t)a, size };
			long n;

			r->split++;
			if (r->err == EPERM || r->err == EINVAL || r->err == ENOSYS)
				continue; /* none would be allowed: counted, not tried */
			n = syscall(SYS_process_madvise, pidfd, &iov, 1UL, MADV_COLLAPSE, 0U);
			if (n == (long)size)
				r->collapsed++;
			else if (!r->err)
				r->err = n < 0 ? errno : EAGAIN;
		}
	}
	rc = 0;
out:
	r->us = us_since(&t0);
	pagemap_runs_free(&now);
	pagemap_runs_free(&split);
	return rc;
}
