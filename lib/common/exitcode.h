/* exitcode - the exit statuses every livecore tool shares (each man page's
 * EXIT STATUS section lists the ones that tool uses). */
#ifndef LC_EXITCODE_H
#define LC_EXITCODE_H

enum {
	EXIT_OK = 0,
	EXIT_FAILURE_IO = 1,   /* a system call or I/O failed (full disk, ...) */
	EXIT_USAGE = 2,        /* bad arguments */
	EXIT_NO_TARGET = 3,    /* no such process, exited, reused pid, zombie, kernel thread */
	EXIT_DENIED = 4,       /* not allowed to dump this target */
	EXIT_BAD_INPUT = 5,    /* malformed or incomplete manifest, staging or notes file */
	EXIT_BUDGET = 6,       /* lc-freeze: the pause budget would be exceeded; target resumed */
	EXIT_EXISTS = 7,       /* the output exists and -f was not given */
	EXIT_INTERRUPTED = 8,  /* stopped by SIGINT/SIGTERM (target resumed) */
};

#endif
