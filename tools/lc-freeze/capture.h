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
};

void capture_init(struct capture *c);
void capture_free(struct capture *c);

/* Fills c from the stopped threads (registers already read) and /proc.
 * state: the main thread's state letter taken before the stop (inside
 * the stop every thread shows 't', an artefact of the stop). maps_text:
 * the final /proc/PID/maps. -1 with errno; a thread whose /proc entry
 * vanished is an error only for the main thread. */
int capture_fill(struct capture *c, const struct capture_fds *fds, const struct ptrace_stop *s,
		 char state, const char *maps_text);

#endif
