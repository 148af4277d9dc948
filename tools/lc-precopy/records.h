/* records - the target's maps as they are now, as manifest records, with
 * the input manifest's decisions carried over by address and lc-maps' rule
 * (dumprule.h) for VMAs that are new or changed. Read at every pass. */
#ifndef LC_PRECOPY_RECORDS_H
#define LC_PRECOPY_RECORDS_H

#include "manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct records_source {
	const struct manifest *in;  /* lc-maps' manifest: decisions to carry */
	pid_t pid;
	int smaps_fd;               /* /proc/PID/smaps, re-read from offset 0 */
	int mem_fd;                 /* /proc/PID/mem, for the ELF-header rule */
	unsigned long filter;       /* the manifest's coredump-filter */
	bool filter_all;            /* filter-source all (lc-maps -f all) */
	unsigned page_size;
};

/* Replaces *now with the records of the maps as they are now. -1 with
 * errno and a message in err; ESRCH when the process has exited. */
int records_read(const struct records_source *src, struct manifest *now, char *err,
		 size_t errlen);

#endif
