/* copy - the copy engine: target memory into the staging file.
 *
 * The caller gives a list of ranges (target address -> staging offset).
 * Workers (pthreads, each with its own buffer) take batches of ranges,
 * read them from the target and pwrite them to the staging fd. A batch is
 * at most COPY_BATCH_IOVECS ranges and COPY_BATCH_BYTES bytes, so one
 * process_vm_readv call stays within IOV_MAX iovecs and far below 2 GiB
 * (the kernel caps one call at MAX_RW_COUNT, INT_MAX & PAGE_MASK).
 *
 * A page that cannot be read (unmapped, or its mapping changed under the
 * copy, or a file mapping past the end of its file) stops a read short: the
 * short count is mapped back to the page that faulted, that page is
 * recorded as unreadable and zeroed in the staging file (a hole), and the
 * copy goes on with the next page. Only a failure of the staging file (a
 * full disk) or the target vanishing (ESRCH) stops the copy.
 *
 * Two ways to write (enum copy_write): through the page cache, or with
 * O_DIRECT on a second fd of the staging file, its extents allocated
 * (fallocate) before the first byte. The page cache costs a second copy
 * of every byte, page allocation, and writeback; O_DIRECT costs only the
 * read: the device takes the bytes from the buffer itself. On this
 * project's 2-CPU virtual machine a pass with O_DIRECT used half the CPU
 * time of a buffered one and ran about twice as fast (doc/lc-precopy.1).
 *
 * Two ways to read, same results (bench/copy-engine.sh compares them):
 *  - COPY_PROCESS_VM_READV: batched process_vm_readv. For a target of
 *    another uid the kernel checks PTRACE_MODE_ATTACH on every call, so the
 *    tool would have to keep CAP_SYS_PTRACE for the whole copy.
 *  - COPY_PROC_MEM: pread on /proc/PID/mem opened while privileged. The
 *    kernel checks at open only; the tool holds no capability afterwards.
 */
#ifndef LC_COPY_H
#define LC_COPY_H

#include "pagemap.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define COPY_BATCH_IOVECS 1024u              /* = IOV_MAX on Linux */
/* per worker buffer, buffered writes: small enough to stay in L2 between
 * the read and the pwrite that follows it (8 MiB buffers measured 30-40%
 * slower per pass here: the pwrite then reads from RAM again) */
#define COPY_BATCH_BYTES  (256u << 10)
/* per thread buffer, O_DIRECT writes: the device, not the CPU, copies it
 * out, and one large request costs it less than many small ones */
#define COPY_DIRECT_BATCH_BYTES (4u << 20)
/* O_DIRECT threads per worker: a thread waits for its write to reach the
 * device, so more threads than CPUs keep both the CPUs and the device's
 * queue busy (4 MiB x 8 threads measured best on a 2-CPU virtio disk) */
#define COPY_DIRECT_THREADS_PER_WORKER 4u
/* a shorter write goes through the page cache even then: an O_DIRECT
 * write waits for the device (4 KiB: 110 us here, against 19 us into the
 * page cache), which only a large write pays back */
#define COPY_DIRECT_MIN_BYTES (256u << 10)
#define COPY_MAX_WORKERS  64u

enum copy_method {
	COPY_PROCESS_VM_READV,
	COPY_PROC_MEM,
};

struct copy_range {
	uint64_t addr;          /* target address, page aligned */
	uint64_t len;           /* bytes, a multiple of the page size */
	uint64_t offset;        /* staging file offset of addr */
};

struct copy_list {
	struct copy_range *range;
	size_t n, cap;
};

void copy_list_init(struct copy_list *l);
void copy_list_free(struct copy_list *l);
void copy_list_clear(struct copy_list *l);
/* Appends, merging with the last range when both address and offset
 * continue it. -1 on ENOMEM. */
int copy_list_append(struct copy_list *l, uint64_t addr, uint64_t len, uint64_t offset);
uint64_t copy_list_bytes(const struct copy_list *l);
/* l's ranges cut where runs (ascending, disjoint) begin and end: the parts
 * inside runs appended to *inside, the others to *outside, offsets kept.
 * -1 on ENOMEM. */
int copy_list_split(const struct copy_list *l, const struct pagemap_runs *runs,
		    struct copy_list *inside, struct copy_list *outside);

struct copy_source {
	enum copy_method method;
	pid_t pid;              /* for process_vm_readv */
	int mem_fd;             /* /proc/PID/mem, for COPY_PROC_MEM */
};

enum copy_write {
	COPY_WRITE_BUFFERED,    /* pwrite through the page cache (the default:
				 * a small delta during the stop wants no device
				 * round trip) */
	COPY_WRITE_AUTO,        /* O_DIRECT when most bytes are in ranges of
				 * COPY_DIRECT_MIN_BYTES or more, unless the
				 * staging file is in memory (tmpfs, ramfs:
				 * nothing to gain) or the open fails;
				 * LIVECORE_COPY_WRITE=direct|buffered decides
				 * instead, for tests and benchmarks */
	COPY_WRITE_DIRECT,      /* O_DIRECT whenever the kernel takes it, for
				 * writes of COPY_DIRECT_MIN_BYTES or more */
};

struct copy_options {
	unsigned workers;       /* 1..COPY_MAX_WORKERS; 0 means 1 */
	enum copy_write write;
	unsigned page_size;
	/* Optional: incremented (relaxed) with the bytes each batch handled,
	 * so that another thread can print progress. */
	_Atomic uint64_t *progress;
	/* Optional: the destination is this memory, not a file: a range's
	 * offset is its place in it (which must hold every range), the
	 * stage_fd of copy_run is not used, a page that cannot be read is
	 * zeros there. Where consecutive ranges are consecutive in it too,
	 * the read goes straight into it (one copy of each byte). */
	unsigned char *dest;
};

struct copy_result {
	uint64_t bytes;         /* bytes read and written */
	uint64_t pages;
	struct pagemap_runs unreadable; /* pages that faulted (ascending, merged) */
	bool direct;            /* the staging file was written with O_DIRECT */
};

void copy_result_init(struct copy_result *r);
void copy_result_free(struct copy_result *r);

/* Copies every range of list into stage_fd. Ranges may come in any order
 * (those next to each other in the list share a batch); they must not
 * overlap in the target or in the staging file. Returns 0 when every range was
 * handled (unreadable pages included: see result->unreadable), -1 with
 * errno when the staging file failed or the target is gone (ESRCH); the
 * result then holds what was done. */
int copy_run(const struct copy_source *src, int stage_fd, const struct copy_list *list,
	     const struct copy_options *opt, struct copy_result *result);

#endif
