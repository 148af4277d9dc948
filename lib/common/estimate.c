#include "estimate.h"

/* Measured here (docs/BENCHMARKS.md, issue 14), in nanoseconds: */
#define FIXED_NS 300000u          /* a few threads, the uffd close, the plan */
#define PER_THREAD_NS 21000u      /* 4000 threads: 85-108 ms */
#define PER_VMA_SERIAL_NS 550u    /* reading and parsing the map, the notes */
#define PER_VMA_SCAN_NS 680u      /* the scan's walk past a VMA, on one CPU */
#define PER_GIB_SCAN_NS 1500000u  /* the scan of a GiB of 4 KiB pages, one CPU */
#define PER_GIB_HELD_NS 350000000u /* a GiB read into touched memory, one CPU (2 CPUs:
				    * 64-256 MiB at 4.1-7.4 GB/s) */
/* -T fork's clone: the kernel copies the page tables of what is resident
 * (1 GiB of 4 KiB pages: 13.4-15.4 ms; 256 MiB 2.8 ms; 1 GiB of huge
 * pages 0.8-1.3 ms, 0.5 of them fixed) */
#define CLONE_FIXED_NS 500000u
#define PER_GIB_CLONE_NS 14000000u
#define PER_GIB_CLONE_HUGE_NS 400000u

int64_t estimate_pause_us(const struct estimate_inputs *in)
{
	unsigned cpus = in->cpus ? in->cpus : 1;
	uint64_t rate = in->copy_rate ? in->copy_rate : 1;
	uint64_t ns = FIXED_NS;

	ns += (uint64_t)in->threads * PER_THREAD_NS;
	ns += (uint64_t)in->vmas * (PER_VMA_SERIAL_NS + PER_VMA_SCAN_NS / cpus);
	ns += (in->scanned_bytes >> 20) * (PER_GIB_SCAN_NS / cpus) >> 10;
	/* bytes / (bytes per ms) = ms */
	ns += in->delta_bytes * 1000000u / rate;
	ns += (in->held_bytes >> 20) * (PER_GIB_HELD_NS / cpus) >> 10;
	if (in->clone) {
		ns += CLONE_FIXED_NS;
		ns += (in->clone_small_bytes >> 20) * PER_GIB_CLONE_NS >> 10;
		ns += (in->clone_huge_bytes >> 20) * PER_GIB_CLONE_HUGE_NS >> 10;
	}
	return (int64_t)(ns / 1000u);
}
