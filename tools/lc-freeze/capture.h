/* capture - what lc-freeze reads from /proc while the target is stopped to
 * fill the notes that are not registers: the pids of PRSTATUS and PRPSINFO
 * as the target's own pid namespace sees them, times and signal masks,
 * psinfo, auxv, and NT_FILE from the final maps; and the registers and
 * XSAVE layout the stop read, in the notes' own layouts. */
#ifndef LC_FREEZE_CAPTURE_H
#define LC_FREEZE_CAPTURE_H

#include "notes.h"
#include "ptrace_stop.h"

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
	struct notes_xfeature xsave_layout[PTRACE_STOP_XFEATURES_MAX];
	/* each thread's task/TID/stat opened before the stop (capture_prepare):
	 * tid -> fd, open addressing (tid 0: free) */
	struct capture_stat_fd {
		pid_t tid;
		int fd;
	} *stat_fds;
	size_t stat_fds_cap;
	size_t n_listed;        /* threads capture_prepare found */
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

/* Fills c from the stopped threads (registers already read) and /proc.
 * state: the main thread's state letter taken before the stop (inside
 * the stop every thread shows 't', an artefact of the stop). maps_text:
 * the final /proc/PID/maps. -1 with errno; a thread whose /proc entry
 * vanished is an error only for the main thread. */
int capture_fill(struct capture *c, const struct capture_fds *fds, const struct ptrace_stop *s,
		 char state, const char *maps_text);

#endif
