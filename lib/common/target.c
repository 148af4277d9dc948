#include "target.h"
#include "xio.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int target_parse_pid(const char *arg, pid_t *out)
{
	long v = 0;

	if (!*arg || strlen(arg) > 7)
		goto bad;
	for (const char *p = arg; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (*p - '0');
	}
	if (v < 1 || v > 4194304) /* PID_MAX_LIMIT */
		goto bad;
	*out = (pid_t)v;
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

int target_open(pid_t pid, struct target *t)
{
	char path[32];

	memset(t, 0, sizeof *t);
	t->pid = pid;
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	t->proc_dirfd = xio_openat(AT_FDCWD, path, O_PATH | O_DIRECTORY, 1);
	if (t->proc_dirfd < 0) {
		if (errno == ENOENT)
			errno = ESRCH;
		return -1;
	}
	if (procfs_read_stat_at(t->proc_dirfd, &t->stat) < 0 ||
	    procfs_read_status_at(t->proc_dirfd, &t->status) < 0) {
		int saved = errno == ENOENT ? ESRCH : errno;

		close(t->proc_dirfd);
		t->proc_dirfd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

void target_close(struct target *t)
{
	if (t->proc_dirfd >= 0)
		close(t->proc_dirfd);
	t->proc_dirfd = -1;
}

int target_verify(struct target *t, uint64_t starttime)
{
	struct procfs_stat now;

	/* A held /proc/PID directory of a process that has exited answers
	 * ESRCH or ENOENT, even if the pid was reused since. */
	if (procfs_read_stat_at(t->proc_dirfd, &now) < 0) {
		if (errno == ENOENT || errno == EINVAL)
			errno = ESRCH;
		return -1;
	}
	if (now.starttime != starttime || now.pid != t->pid) {
		errno = ESRCH;
		return -1;
	}
	t->stat = now;
	return 0;
}

bool target_dying(struct target *t, uint64_t starttime)
{
	return target_verify(t, starttime) < 0 || t->stat.state == 'Z' || t->stat.state == 'X' ||
	       (t->stat.flags & TARGET_PF_EXITING);
}

const char *target_not_dumpable(const struct target *t)
{
	if (t->stat.flags & TARGET_PF_KTHREAD)
		return "is a kernel thread (it has no memory map)";
	if (t->stat.state == 'Z' || t->stat.state == 'X' || t->status.is_zombie)
		return "is a zombie (its memory is gone)";
	return NULL;
}

bool target_stopped(const struct target *t)
{
	int fd = openat(t->proc_dirfd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *d;
	bool stopped = true;
	size_t n = 0;
	DIR *dir;

	if (fd < 0)
		return false;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return false;
	}
	while (stopped && (d = readdir(dir))) {
		char path[sizeof d->d_name + 8];
		struct procfs_stat st;
		int tfd;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "task/%s", d->d_name);
		tfd = openat(t->proc_dirfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0)
			continue;       /* exited meanwhile */
		if (procfs_read_stat_at(tfd, &st) == 0) {
			n++;
			/* a zombie thread (Z) has left; every live one stopped */
			if (st.state != 'T' && st.state != 'Z' && st.state != 'X')
				stopped = false;
		}
		close(tfd);
	}
	closedir(dir);
	return stopped && n > 0;
}
