/* handoff - the userfaultfd lc-precopy leaves in the target for lc-freeze
 * (uffd tracking, lib/common/uffd.h): created by injection (or, with -c,
 * taken again), closed in the target when lc-precopy fails or is
 * interrupted, and the release command (-R FD PID) for a pipeline killed
 * between its stages. */
#ifndef LC_PRECOPY_HANDOFF_H
#define LC_PRECOPY_HANDOFF_H

#include "manifest.h"
#include "track.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct handoff_target {
	pid_t pid;
	int proc_dirfd, task_dirfd, mem_fd;
	int seccomp;            /* Seccomp: of its status (0 none, 1 strict, 2 filter) */
};

/* A new userfaultfd injected into the target, or with resume the one the
 * manifest's uffd header names taken again. *fd gets our copy, header the
 * value of the manifest's uffd header. Refused (seccomp, traced, stopped)
 * or failed: unless asked for explicitly, *mode becomes TRACK_NONE and why
 * says why (the fallback); asked for, an error. Returns an exit status. */
int handoff_start(const struct handoff_target *t, const struct manifest *in, bool resume,
		  bool asked, enum track_mode *mode, int *fd, char *header, size_t headerlen,
		  char *why, size_t whylen);

/* Closes the target's fd there, if one is pending (on failure), after
 * calling the function handoff_before_release set (the throttle's end:
 * the release's stop needs every thread detached). */
void handoff_release(void);
void handoff_before_release(void (*fn)(void));

/* With an fd pending, SIGINT, SIGTERM and SIGHUP go to a thread of their
 * own (blocked everywhere else) that releases it, calls cleanup and exits
 * 8: the release stops the target, nothing a signal handler may do. */
int handoff_catch_signals(void (*cleanup)(void));
bool handoff_pending(void);

/* -R FD PID. Returns an exit status. */
int handoff_release_command(pid_t pid, int fd);

#endif
