/* estimate - the pause foreseen before the stop (issue 26: "predict the
 * stop"), printed beside the pause measured, so that a user, and a
 * driver planning for a budget, can see how far the stop can be known
 * before it happens.
 *
 * The model is docs/BENCHMARKS.md's "A model of the pause": a fixed part,
 * a cost per thread (ptrace: seize, interrupt, registers, masks,
 * detach), per VMA (reading and checking the map, a share of the scan),
 * per GiB the stop's scan walks (shared by the CPUs), and the delta at
 * the copy rate this dump's passes measured. The per-unit costs are the
 * ones measured on this project's 2-CPU machines (Linux 6.18); the copy
 * rate and the sizes are this dump's own. */
#ifndef LC_ESTIMATE_H
#define LC_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct estimate_inputs {
	size_t threads;         /* listed before the stop */
	size_t vmas;            /* records of the manifest */
	uint64_t scanned_bytes; /* what the stop's scan walks: the staged data (0 without a tracker) */
	uint64_t delta_bytes;   /* what the stop is expected to copy to the staging file */
	uint64_t held_bytes;    /* ... and into memory touched before it (hold.h) */
	uint64_t copy_rate;     /* bytes per millisecond, from the passes */
	unsigned cpus;          /* the scan is split across them */
	/* -T fork: the clone, and the resident memory whose page tables it
	 * copies, in 4 KiB and in huge pages */
	bool clone;
	uint64_t clone_small_bytes, clone_huge_bytes;
};

/* Microseconds. */
int64_t estimate_pause_us(const struct estimate_inputs *in);

#endif
