#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_create(struct outfile *o, const char *path, bool replace)
{
	char *copy_dir = strdup(path), *copy_base = strdup(path);
	struct stat st;
	int saved;

	memset(o, 0, sizeof *o);
	o->fd = -1;
	o->replace = replace;
	if (!copy_dir || !copy_base)
		goto fail;
	if (lstat(path, &st) == 0) {
		if (!replace) {
			errno = EEXIST;
			goto fail;
		}
		/* -f replaces a file, never a directory or what a symlink points to */
		if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
			errno = S_ISDIR(st.st_mode) ? EISDIR : EEXIST;
			goto fail;
		}
	}
	o->final_path = strdup(path);
	if (!o->final_path ||
	    asprintf(&o->temp_path, "%s/.%s.XXXXXX", dirname(copy_dir), basename(copy_base)) < 0) {
		o->temp_path = NULL;
		goto fail;
	}
	/* mkostemp: O_CREAT|O_EXCL, mode 0600, so never follows a planted link */
	o->fd = mkostemp(o->temp_path, O_CLOEXEC);
	if (o->fd < 0)
		goto fail;
	free(copy_dir);
	free(copy_base);
	return 0;
fail:
	saved = errno;
	free(copy_dir);
	free(copy_base);
	free(o->final_path);
	free(o->temp_path);
	o->final_path = o->temp_path = NULL;
	errno = saved;
	return -1;
}

int outfile_commit(struct outfile *o)
{
	int rc;

	if (fsync(o->fd) < 0 && errno != EINVAL)
		goto fail;
	if (o->replace)
		rc = rename(o->temp_path, o->final_path);
	else
		rc = renameat2(AT_FDCWD, o->temp_path, AT_FDCWD, o->final_path, RENAME_NOREPLACE);
	if (rc < 0)
		goto fail;
	close(o->fd);
	o->fd = -1;
	free(o->temp_path);
	free(o->final_path);
	o->temp_path = o->final_path = NULL;
	return 0;
fail:
	{
		int saved = errno;

		outfile_abort(o);
		errno = saved;
	}
	return -1;
}

void outfile_abort(struct outfile *o)
{
	if (o->temp_path)
		unlink(o->temp_path);
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->temp_path);
	free(o->final_path);
	o->temp_path = o->final_path = NULL;
}

static struct outfile *volatile signal_outfile;

static void cleanup_and_die(int sig)
{
	struct outfile *o = signal_outfile;

	if (o && o->temp_path)
		unlink(o->temp_path); /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

void outfile_cleanup_on_signals(struct outfile *o)
{
	struct sigaction sa;

	signal_outfile = o;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cleanup_and_die;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
}
