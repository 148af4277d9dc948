/* capture - what lc-freeze reads from /proc while the target is stopped to
 * fill the notes that are not registers: the pids of PRSTATUS and PRPSINFO
 * as the target's own pid namespace sees them, times and signal masks,
 * psinfo, auxv, and NT_FILE from the final maps; and the registers and
 * XSAVE layout the stop read, in the notes' own layouts. */
#ifndef LC_FREEZE_CAPTURE_H
#define LC_FREEZE_CAPTURE_H

#include "manifest.h"
#include "notes.h"
#include "ptrace_stop.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct capture_fds {
	int proc_dirfd;         /* /proc/PID (O_PATH) */
	int task_dirfd;         /* /proc/PID/task */
	int auxv_fd;            /* /proc/PID/auxv, opened while privileged */
	int cmdline_fd;         /* /proc/PID/cmdline */
};

/* Everything the notes need, owned here. */
struct capture {
	struct notes_thread *threads;
	size_t n_threads;
	struct notes_process process;
	unsigned char *auxv;
	size_t auxv_size;
	unsigned char *file_note;
	size_t file_note_size;
	/* each thread's task/TID/stat opened before the stop (capture_prepare):
	 * tid -> fd, open addressing (tid 0: free) */
	struct capture_stat_fd {
		pid_t tid;
		int fd;
	} *stat_fds;
	size_t stat_fds_cap;
	size_t n_listed;        /* threads capture_prepare found */
	/* each stopped thread's stat text, read by a thread of ours while
	 * the stop goes on (capture_read_stats); NULL where it failed */
	struct capture_stats {
		pid_t *tids;    /* ascending as ptrace_stop_live lists them */
		char **texts;
		size_t n;
		int task_dirfd;
		pthread_t reader;
		bool reading;   /* reader started and not joined */
	} stats;
};

void capture_init(struct capture *c);
void capture_free(struct capture *c);

/* Before the stop: opens task/TID/stat of every thread listed now, so
 * that inside the stop each is one pread, without a path lookup, an open
 * and a close (half the cost of the notes of thousands of threads here).
 * A thread born since is opened in the stop; one whose tid was reused
 * reads ESRCH from its old fd (a /proc fd names a task, not a number) and
 * is opened again. Best effort: nothing fails the dump (the open-file
 * limit is raised to its hard limit, and past it threads are opened in
 * the stop as before). */
void capture_prepare(struct capture *c, int task_dirfd);

/* In the stop, once every thread is stopped: for a process of 64 threads
 * or more, starts a thread of ours that reads every other stopped
 * thread's task/TID/stat (4000 threads: 18 ms here) while this one reads
 * the registers and the maps; capture_fill waits for it. With fewer, or
 * where the thread cannot start, capture_fill reads them itself. Only procfs is read there: every ptrace request stays on the
 * tracer thread. */
void capture_read_stats(struct capture *c, const struct ptrace_stop *s, int task_dirfd);

/* Fills c from the stopped threads (registers already read) and /proc.
 * state: the main thread's state letter taken before the stop (inside
 * the stop every thread shows 't', an artefact of the stop). maps: the
 * final map (finalmaps_build's manifest). -1 with errno; a thread whose
 * /proc entry vanished is an error only for the main thread. */
int capture_fill(struct capture *c, const struct capture_fds *fds, const struct ptrace_stop *s,
		 char state, const struct manifest *maps);

#endif
