#include "capture.h"
#include "procfs.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields of /proc/PID/status the notes need that procfs_status does
 * not keep: the pid namespaces' views and the signal masks. */
struct task_ids {
	pid_t nspid[32];        /* NSpid: outermost (ours) first */
	int nspid_levels;
	pid_t nspgid, nssid;    /* innermost */
	pid_t ppid;             /* as we see it */
	uint64_t sigpnd, sigblk;
	uint32_t uid, gid;      /* real */
};

static const char *field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');

		if (!strncmp(line, key, klen) && line[klen] == ':')
			return line + klen + 1;
		line = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static pid_t last_number(const char *v)
{
	pid_t n = 0;
	char *end;

	while (v && *v && *v != '\n') {
		long x = strtol(v, &end, 10);

		if (end == v)
			break;
		n = (pid_t)x;
		v = end;
	}
	return n;
}

static int parse_task_ids(const char *text, struct task_ids *ids)
{
	const char *v;
	char *end;

	memset(ids, 0, sizeof *ids);
	if (!(v = field(text, "NSpid")))
		return -1;
	while (*v && *v != '\n' && ids->nspid_levels < 32) {
		long x = strtol(v, &end, 10);

		if (end == v)
			break;
		ids->nspid[ids->nspid_levels++] = (pid_t)x;
		v = end;
	}
	if (ids->nspid_levels == 0)
		return -1;
	ids->nspgid = last_number(field(text, "NSpgid"));
	ids->nssid = last_number(field(text, "NSsid"));
	ids->ppid = last_number(field(text, "PPid"));
	if ((v = field(text, "SigPnd")))
		ids->sigpnd = strtoull(v, NULL, 16);
	if ((v = field(text, "SigBlk")))
		ids->sigblk = strtoull(v, NULL, 16);
	if ((v = field(text, "Uid")))
		ids->uid = (uint32_t)strtoul(v, NULL, 10);
	if ((v = field(text, "Gid")))
		ids->gid = (uint32_t)strtoul(v, NULL, 10);
	return 0;
}

static int read_task(int task_dirfd, pid_t tid, struct task_ids *ids, struct procfs_stat *st)
{
	char path[64];
	char *text;
	int rc;

	snprintf(path, sizeof path, "%d/status", (int)tid);
	if (!(text = xio_read_at_all(task_dirfd, path, NULL)))
		return -1;
	rc = parse_task_ids(text, ids);
	free(text);
	if (rc < 0) {
		errno = EINVAL;
		return -1;
	}
	snprintf(path, sizeof path, "%d/stat", (int)tid);
	if (!(text = xio_read_at_all(task_dirfd, path, NULL)))
		return -1;
	rc = procfs_parse_stat(text, st);
	free(text);
	return rc;
}

static size_t stat_slot(pid_t tid, size_t cap)
{
	return ((size_t)(unsigned)tid * 2654435761u) & (cap - 1);
}

void capture_prepare(struct capture *c, int task_dirfd)
{
	int fd = openat(task_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct rlimit rl;
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	if (fd < 0)
		return;
	if (!(dir = fdopendir(fd))) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	c->n_listed = n;
	rewinddir(dir);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (c->stat_fds_cap = 64; c->stat_fds_cap < 2 * n + 2;)
		c->stat_fds_cap *= 2;
	if (!(c->stat_fds = calloc(c->stat_fds_cap, sizeof *c->stat_fds))) {
		c->stat_fds_cap = 0;
		closedir(dir);
		return;
	}
	while ((d = readdir(dir))) {
		char path[64];
		long tid = strtol(d->d_name, NULL, 10);
		int sfd;

		if (tid <= 0)
			continue;
		snprintf(path, sizeof path, "%ld/stat", tid);
		if ((sfd = openat(task_dirfd, path, O_RDONLY | O_CLOEXEC)) < 0)
			break; /* the file limit: the rest in the stop */
		for (size_t k = stat_slot((pid_t)tid, c->stat_fds_cap);; k = (k + 1) & (c->stat_fds_cap - 1))
			if (!c->stat_fds[k].tid) {
				c->stat_fds[k] = (struct capture_stat_fd){ (pid_t)tid, sfd };
				break;
			}
	}
	closedir(dir);
}

/* task/TID/stat's text: from the fd opened before the stop, else opened
 * now. NULL with errno. */
static char *read_stat_text(const struct capture *c, int task_dirfd, pid_t tid)
{
	char path[64];

	for (size_t k = c->stat_fds_cap ? stat_slot(tid, c->stat_fds_cap) : 0;
	     c->stat_fds_cap && c->stat_fds[k].tid; k = (k + 1) & (c->stat_fds_cap - 1))
		if (c->stat_fds[k].tid == tid) {
			char *text = xio_read_fd_all(c->stat_fds[k].fd, NULL);

			/* ESRCH: that task is gone, the tid may be another's */
			if (text && *text)
				return text;
			free(text);
			break;
		}
	snprintf(path, sizeof path, "%d/stat", (int)tid);
	return xio_read_at_all(task_dirfd, path, NULL);
}

/* A thread other than the leader, in the stop (text: its stat as read
 * already, or NULL; freed here). Its status file (the pids
 * of its namespaces, its signal masks) costs as much again as its stat: 4
 * ms a thousand threads of the pause here. With the process in our pid
 * namespace (the leader's NSpid has one level) the ids are the leader's
 * but for the pid, which is the tid, and the masks come from ptrace, which
 * holds the thread anyway: the blocked set (PTRACE_GETSIGMASK) and the
 * pending one, the kernel's pr_sigpend (its own queue: signals 1-31 from
 * stat's signal field, the real-time ones, always queued with a siginfo,
 * from PTRACE_PEEKSIGINFO). Otherwise, or when any of that fails, the
 * status file as for the leader. */
static int read_thread(const struct capture *c, int task_dirfd, pid_t tid, const struct task_ids *leader,
		       char *text, struct task_ids *ids, struct procfs_stat *st)
{
	uint64_t blocked;
	siginfo_t si[32];
	int rc;

	if (!leader || leader->nspid_levels != 1) {
		free(text);
		return read_task(task_dirfd, tid, ids, st);
	}
	if (!text && !(text = read_stat_text(c, task_dirfd, tid)))
		return -1;
	rc = procfs_parse_stat(text, st);
	free(text);
	if (rc < 0 || !st->have_signal ||
	    ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof blocked, &blocked) < 0)
		return read_task(task_dirfd, tid, ids, st);
	*ids = *leader;
	ids->nspid[0] = tid;
	ids->sigblk = blocked;
	ids->sigpnd = st->signal;
	for (uint64_t off = 0;; off += sizeof si / sizeof si[0]) {
		struct __ptrace_peeksiginfo_args args = { .off = off, .flags = 0, .nr = sizeof si / sizeof si[0] };
		long n = ptrace(PTRACE_PEEKSIGINFO, tid, &args, si);

		if (n < 0)
			return read_task(task_dirfd, tid, ids, st);
		for (long k = 0; k < n; k++)
			if (si[k].si_signo >= 32 && si[k].si_signo <= 64)
				ids->sigpnd |= 1ull << (si[k].si_signo - 1);
		if (n < (long)(sizeof si / sizeof si[0]))
			break;
	}
	return 0;
}

/* The parent's pid in the target's namespace: its NSpid entry at the
 * target's level, or 0 when the parent lives outside that namespace (the
 * kernel's task_pid_vnr answers 0 then too). */
static pid_t ppid_in_namespace(const struct task_ids *ids)
{
	struct task_ids parent;
	char path[64];
	char *text;
	int level = ids->nspid_levels - 1;
	pid_t v = 0;

	if (level == 0 || ids->ppid == 0)
		return ids->ppid;
	snprintf(path, sizeof path, "/proc/%d/status", (int)ids->ppid);
	if (!(text = xio_read_path_all(path, NULL)))
		return 0;
	if (parse_task_ids(text, &parent) == 0 && parent.nspid_levels > level)
		v = parent.nspid[level];
	free(text);
	return v;
}

static struct notes_timeval ticks_to_timeval(uint64_t ticks)
{
	static long hz;
	struct notes_timeval tv;

	if (!hz)
		hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	tv.sec = (int64_t)(ticks / (uint64_t)hz);
	tv.usec = (int64_t)((ticks % (uint64_t)hz) * 1000000u / (uint64_t)hz);
	return tv;
}

static void fill_ids(struct notes_prstatus *pr, const struct task_ids *ids, pid_t ppid)
{
	pr->pid = ids->nspid[ids->nspid_levels - 1];
	pr->ppid = ppid;
	pr->pgrp = ids->nspgid;
	pr->sid = ids->nssid;
	pr->sigpend = ids->sigpnd;
	pr->sighold = ids->sigblk;
}

static void fill_regs(struct notes_prstatus *pr, const struct ptrace_thread *t)
{
	_Static_assert(sizeof t->regs.regs == sizeof pr->reg, "pr_reg is struct arch_regs");
	memcpy(pr->reg, &t->regs.regs, sizeof pr->reg);
	pr->fpvalid = 1;
	/* the signal this thread was stopped delivering, else none: a live
	 * process was not killed by anything */
	pr->cursig = (int16_t)t->pending_signal;
	pr->si_signo = t->pending_signal;
}

#define STATS_READER_MIN 64

static void *read_stats(void *arg)
{
	struct capture *c = arg;

	for (size_t i = 0; i < c->stats.n; i++)
		c->stats.texts[i] = read_stat_text(c, c->stats.task_dirfd, c->stats.tids[i]);
	return NULL;
}

void capture_read_stats(struct capture *c, const struct ptrace_stop *s, int task_dirfd)
{
	struct capture_stats *st = &c->stats;

	/* a thread costs tens of microseconds of the pause to start and
	 * join: worth it only for many threads */
	if (s->n < STATS_READER_MIN)
		return;
	st->tids = calloc(s->n, sizeof *st->tids);
	st->texts = calloc(s->n, sizeof *st->texts);
	if (!st->tids || !st->texts)
		return;
	/* the leader's is read with its status file, by capture_fill */
	for (size_t i = 0; i < s->n; i++)
		if (!s->threads[i].gone && s->threads[i].stopped && s->threads[i].tid != s->pid)
			st->tids[st->n++] = s->threads[i].tid;
	st->task_dirfd = task_dirfd;
	st->reading = pthread_create(&st->reader, NULL, read_stats, c) == 0;
	if (!st->reading)
		st->n = 0;
}

static void stats_join(struct capture *c)
{
	if (c->stats.reading)
		pthread_join(c->stats.reader, NULL);
	c->stats.reading = false;
}

/* thread tid's stat text as the reader left it (NULL: none, as for the
 * leader), handed over; *k is a cursor: the threads come in the reader's
 * order, and one the reader did not read leaves it where it is */
static char *stats_take(struct capture *c, size_t *k, pid_t tid)
{
	for (size_t j = *k; j < c->stats.n; j++)
		if (c->stats.tids[j] == tid) {
			char *text = c->stats.texts[j];

			c->stats.texts[j] = NULL;
			*k = j + 1;
			return text;
		}
	return NULL;
}

static int fill_threads(struct capture *c, const struct capture_fds *fds,
			const struct ptrace_stop *s, struct task_ids *leader_ids,
			struct procfs_stat *leader_stat)
{
	const struct ptrace_thread **live = calloc(s->n ? s->n : 1, sizeof *live);
	size_t n, k = 0;
	pid_t ppid = 0;
	bool have_ppid = false, leader_read = false;

	stats_join(c);
	if (!live)
		return -1;
	n = ptrace_stop_live(s, live, s->n);
	c->threads = calloc(n ? n : 1, sizeof *c->threads);
	if (!c->threads) {
		free(live);
		return -1;
	}
	/* the whole process's times for the main thread, as the kernel's
	 * fill_prstatus uses thread_group_cputime for the group leader */
	if (procfs_read_stat_at(fds->proc_dirfd, leader_stat) < 0) {
		free(live);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct notes_thread *nt = &c->threads[c->n_threads];
		struct task_ids ids;
		struct procfs_stat st;

		/* the leader first (ptrace_stop sorts it so): the others
		 * take its ids */
		if (read_thread(c, fds->task_dirfd, live[i]->tid,
				live[i]->tid != s->pid && leader_read ? leader_ids : NULL,
				stats_take(c, &k, live[i]->tid), &ids, &st) < 0) {
			if (live[i]->tid == s->pid) {
				free(live);
				return -1;
			}
			continue; /* killed while stopped: left out */
		}
		if (!have_ppid) {
			ppid = ppid_in_namespace(&ids);
			have_ppid = true;
		}
		memset(nt, 0, sizeof *nt);
		fill_ids(&nt->prstatus, &ids, ppid);
		if (live[i]->tid == s->pid) {
			*leader_ids = ids;
			leader_read = true;
			st = *leader_stat;
		}
		nt->prstatus.utime = ticks_to_timeval(st.utime);
		nt->prstatus.stime = ticks_to_timeval(st.stime);
		nt->prstatus.cutime = ticks_to_timeval(leader_stat->cutime);
		nt->prstatus.cstime = ticks_to_timeval(leader_stat->cstime);
		fill_regs(&nt->prstatus, live[i]);
		/* (the stop's memory, which lives until lc-freeze exits) */
		nt->n_regsets = arch_thread_notes(&live[i]->regs, nt->regsets);
		if (c->n_threads == 0 && live[i]->pending_signal)
			memcpy(c->process.siginfo, &live[i]->siginfo, NOTES_SIGINFO_SIZE);
		c->n_threads++;
	}
	free(live);
	if (c->n_threads == 0) {
		errno = ESRCH;
		return -1;
	}
	return 0;
}

static int fill_psinfo(struct capture *c, const struct capture_fds *fds, char state,
		       const struct procfs_stat *st, const struct task_ids *leader)
{
	struct notes_prpsinfo *ps = &c->process.psinfo;
	struct task_ids ids = *leader;
	unsigned char args[sizeof ps->psargs];
	ssize_t n;

	if (ids.nspid_levels == 0) {
		/* the main thread was left out: read its status anyway */
		char *text = xio_read_at_all(fds->proc_dirfd, "status", NULL);
		int rc = text ? parse_task_ids(text, &ids) : -1;

		free(text);
		if (rc < 0)
			return -1;
	}
	memset(ps, 0, sizeof *ps);
	ps->state = (char)notes_state_number(state);
	ps->sname = "RSDTZW"[(int)ps->state];
	ps->zomb = ps->sname == 'Z';
	ps->nice = (char)st->nice;
	ps->flag = st->flags;
	ps->uid = ids.uid;
	ps->gid = ids.gid;
	ps->pid = ids.nspid[ids.nspid_levels - 1];
	ps->ppid = c->n_threads ? c->threads[0].prstatus.ppid : ppid_in_namespace(&ids);
	ps->pgrp = ids.nspgid;
	ps->sid = ids.nssid;
	memcpy(ps->fname, st->comm, strnlen(st->comm, sizeof ps->fname - 1));
	/* the kernel's fill_psinfo: the first 79 bytes of the argument area,
	 * NULs made spaces */
	n = xio_pread_full(fds->cmdline_fd, args, sizeof args - 1, 0);
	if (n < 0)
		return -1;
	for (ssize_t i = 0; i < n; i++)
		ps->psargs[i] = args[i] ? (char)args[i] : ' ';
	return 0;
}

static int fill_auxv(struct capture *c, const struct capture_fds *fds)
{
	size_t cap = 4096, len = 0;

	for (;;) {
		unsigned char *grown = realloc(c->auxv, cap);
		ssize_t n;

		if (!grown)
			return -1;
		c->auxv = grown;
		n = xio_pread_full(fds->auxv_fd, c->auxv + len, cap - len, (off_t)len);
		if (n < 0)
			return -1;
		len += (size_t)n;
		if (len < cap)
			break;
		cap *= 2;
	}
	c->auxv_size = len;
	return 0;
}

/* A mapping with a file behind it (the kernel's vma->vm_file): a device or
 * inode number. Anonymous shared memory counts ("/dev/zero (deleted)"), as
 * in the kernel's NT_FILE. */
static bool has_file(const struct manifest_vma *m)
{
	return m->inode != 0 || m->dev_major != 0 || m->dev_minor != 0;
}

/* NT_FILE from the final map as finalmaps_build parsed it (parsing the
 * maps text again cost 2.6 ms of the stop at 50 000 mappings) */
static int fill_files(struct capture *c, const struct manifest *maps)
{
	struct notes_file_entry *e = NULL;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = -1;

	for (size_t i = 0; i < maps->n_vmas; i++) {
		const struct manifest_vma *m = &maps->vmas[i];
		char name[PATH_MAX * 2];

		if (!has_file(m))
			continue;
		if (procfs_unescape_path(m->path, name, sizeof name) < 0)
			goto out;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			void *ge = realloc(e, ncap * sizeof *e), *gn;

			if (!ge)
				goto out;
			e = ge;
			if (!(gn = realloc(names, ncap * sizeof *names)))
				goto out;
			names = gn;
			cap = ncap;
		}
		if (!(names[n] = strdup(name)))
			goto out;
		e[n] = (struct notes_file_entry){ m->start, m->end, m->offset, names[n] };
		n++;
	}
	c->file_note_size = notes_file_size(e, n);
	if (!(c->file_note = malloc(c->file_note_size)))
		goto out;
	notes_file_encode(e, n, c->file_note);
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(e);
	if (rc < 0 && !errno)
		errno = EINVAL;
	return rc;
}

void capture_init(struct capture *c)
{
	memset(c, 0, sizeof *c);
}

void capture_free(struct capture *c)
{
	stats_join(c);
	if (c->stats.texts)
		for (size_t k = 0; k < c->stats.n; k++)
			free(c->stats.texts[k]);
	free(c->stats.texts);
	free(c->stats.tids);
	for (size_t k = 0; k < c->stat_fds_cap; k++)
		if (c->stat_fds[k].tid)
			close(c->stat_fds[k].fd);
	free(c->stat_fds);
	free(c->threads);
	free(c->auxv);
	free(c->file_note);
	memset(c, 0, sizeof *c);
}

int capture_fill(struct capture *c, const struct capture_fds *fds, const struct ptrace_stop *s,
		 char state, const struct manifest *maps)
{
	struct task_ids leader = { .nspid_levels = 0 };
	struct procfs_stat st;

	if (fill_threads(c, fds, s, &leader, &st) < 0 ||
	    fill_psinfo(c, fds, state, &st, &leader) < 0 ||
	    fill_auxv(c, fds) < 0 || fill_files(c, maps) < 0)
		return -1;
	c->process.threads = c->threads;
	c->process.n_threads = c->n_threads;
	c->process.auxv = c->auxv;
	c->process.auxv_size = c->auxv_size;
	c->process.file = c->file_note;
	c->process.file_size = c->file_note_size;
	/* once for the process, as the stop read them (x86-64's XSAVE
	 * layout, none where the kernel writes none) */
	c->process.n_extra = arch_process_notes(&s->regs, c->process.extra);
	return 0;
}
