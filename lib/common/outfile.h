/* outfile - an output file that appears under its final name only when it
 * is complete: created 0600 under a temporary name beside the final one
 * (".NAME.XXXXXX", O_EXCL, never through a symlink), renamed at the end.
 * A failed or interrupted tool leaves nothing under the final name. */
#ifndef LC_OUTFILE_H
#define LC_OUTFILE_H

#include <stdbool.h>

struct outfile {
	char *final_path;
	char *temp_path;
	int fd;
	bool replace;
};

/* Fails with EEXIST when path exists and replace is false (checked again
 * atomically at commit with RENAME_NOREPLACE). */
int outfile_create(struct outfile *o, const char *path, bool replace);
/* fsyncs, renames onto the final name, closes. */
int outfile_commit(struct outfile *o);
/* unlinks the temporary file and closes; safe to call twice. */
void outfile_abort(struct outfile *o);

/* On SIGINT, SIGTERM, SIGHUP or SIGPIPE: unlink the temporary file of o, then die
 * of the same signal. For tools that hold no other state needing cleanup. */
void outfile_cleanup_on_signals(struct outfile *o);

#endif
