/* lc-freeze - the stop: every thread stopped with ptrace, registers and
 * the notes taken, the final maps reconciled with the manifest, the final
 * delta copied into the staging file, the target resumed. See lc-freeze(1)
 * and, for the notes file it writes, lc-notes(5). */
#include "capture.h"
#include "caps.h"
#include "cli.h"
#include "copy.h"
#include "exitcode.h"
#include "estimate.h"
#include "finalmaps.h"
#include "finish.h"
#include "forked.h"
#include "hold.h"
#include "inject.h"
#include "log.h"
#include "manifest.h"
#include "notes.h"
#include "outfile.h"
#include "pagemap.h"
#include "ptrace_stop.h"
#include "runs.h"
#include "snapshot.h"
#include "stage.h"
#include "stagemap.h"
#include "target.h"
#include "thp.h"
#include "throttle.h"
#include "track.h"
#include "uffd.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How long the threads may take to report their stops. A thread in an
 * uninterruptible sleep (D) stops only when it leaves the kernel. */
#define STOP_TIMEOUT_MS 2000u
/* The copy rate assumed for the pause budget when the manifest has no
 * pre-copy pass long enough to measure one: 1 GB/s, about what the copy
 * engine reached on these 2-core machines under load (17 MB in 5-18 ms). */
#define DEFAULT_RATE_BYTES_PER_MS 1000000u
#define MAX_WORKERS 4u
/* A delta this large may go with O_DIRECT (copy_delta): 64 MiB take
 * 30 ms at the 2 GB/s of a direct write here, 13-160 ms in the page
 * cache, as fresh or reused its pages are. */
#define STOP_DIRECT_MIN_BYTES (64ull << 20)
/* The memory the stop's delta may be read into (hold.h): without -M, up to
 * this much, and never more than a quarter of MemAvailable. The memory is
 * 1.5 times the delta foreseen and 4 MiB more: a writer that wrote on
 * since the last look still fits, and allocating it (a first touch of
 * every page: 0.35-3.7 GB/s in these VMs) gives a fast writer no more
 * time before the stop than that needs. */
#define HOLD_DEFAULT_MAX_MIB 1024
#define HOLD_SLACK_BYTES (4ull << 20)

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-freeze -s STAGE -n NOTES [-b PAUSE_BUDGET_MS [-a] [-F]] [-M MIB] PID < MANIFEST > MANIFEST\n"
		"  -s STAGE  the staging file lc-precopy wrote (the final delta goes there)\n"
		"  -n NOTES  write the notes (registers, psinfo, auxv, files) to NOTES\n"
		"  -b MS     pause budget: if copying the final delta would make the stop\n"
		"            longer than MS milliseconds, resume at once and exit 6\n"
		"  -a        with -b: stop anyway; the budget is recorded, and whether the\n"
		"            pause exceeded it (another pre-copy pass cannot help)\n"
		"  -F        with -b: when the stop would be over the budget and a clone of\n"
		"            the process shorter, make one (as -T fork) and copy the delta\n"
		"            from it after the stop\n"
		"  -M MIB    at most MIB MiB of memory, allocated before the stop, for the\n"
		"            final delta (default: 1.5 times the delta foreseen and 4, at\n"
		"            most 1024 and a quarter of MemAvailable; 0: none)\n"
		"  -h        this help\n"
		"       lc-freeze -R TID PID\n"
		"  -R TID    reap the clone TID (-T fork) that a lc-freeze killed after\n"
		"            making it left in process PID as a zombie\n");
}

struct options {
	const char *stage, *notes;
	long budget_ms;         /* -1: none */
	bool budget_anyway;     /* -a: the budget is reported, never a reason to resume */
	bool clone_over_budget; /* -F: a clone when the stop would be over the budget */
	long hold_mib;          /* -M; -1: the default */
	pid_t reap_tid;         /* -R; 0: none */
	pid_t pid;
};

/* What lc-freeze holds open, all opened before the stop while privileged. */
struct handles {
	int mem, pagemap, maps, auxv, cmdline, task, stage;
	int clear_refs;         /* soft-dirty only: the tracker's handle (never written here) */
};

/* An option's decimal number, 0 to 2^30; -1 for anything else. */
static long decimal(const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	return errno || end == arg || *end || v < 0 || v > (1L << 30) ? -1 : v;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	int c;

	o->budget_ms = -1;
	o->hold_mib = -1;
	while ((c = getopt(argc, argv, "s:n:b:aFM:R:h")) != -1) {
		switch (c) {
		case 's':
			o->stage = optarg;
			break;
		case 'n':
			o->notes = optarg;
			break;
		case 'b':
			if ((o->budget_ms = decimal(optarg)) < 0) {
				log_error("bad pause budget \"%s\" (want milliseconds, a decimal number)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'a':
			o->budget_anyway = true;
			break;
		case 'F':
			o->clone_over_budget = true;
			break;
		case 'M':
			if ((o->hold_mib = decimal(optarg)) < 0) {
				log_error("bad memory size \"%s\" (want MiB, a decimal number)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'R':
			if (target_parse_pid(optarg, &o->reap_tid) < 0) {
				log_error("bad clone \"%s\" (want a decimal thread id)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || (o->reap_tid ? o->stage || o->notes || o->budget_ms >= 0
			 : !o->stage || !o->notes ||
			   ((o->budget_anyway || o->clone_over_budget) && o->budget_ms < 0))) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (target_parse_pid(argv[optind], &o->pid) < 0) {
		log_error("bad pid \"%s\" (want a decimal process id)", argv[optind]);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int exit_for_errno(int e)
{
	switch (e) {
	case ESRCH: case ENOENT: return EXIT_NO_TARGET;
	case EACCES: case EPERM: case EBUSY: return EXIT_DENIED;
	case EINTR: return EXIT_INTERRUPTED;
	default: return EXIT_FAILURE_IO;
	}
}

static int open_handles(const struct target *t, const struct manifest *m, const char *stage,
			bool soft_dirty, struct handles *h)
{
	/* the soft-dirty tracker wants clear_refs open (mode 0200: another
	 * user's process needs CAP_DAC_OVERRIDE); lc-freeze only scans */
	if (soft_dirty && (h->clear_refs = xio_openat(t->proc_dirfd, "clear_refs", O_WRONLY, 1)) < 0)
		return -1;
	if ((h->mem = xio_openat(t->proc_dirfd, "mem", O_RDONLY, 1)) < 0 ||
	    (h->pagemap = xio_openat(t->proc_dirfd, "pagemap", O_RDONLY, 1)) < 0 ||
	    (h->maps = xio_openat(t->proc_dirfd, "maps", O_RDONLY, 1)) < 0 ||
	    (h->auxv = xio_openat(t->proc_dirfd, "auxv", O_RDONLY, 1)) < 0 ||
	    (h->cmdline = xio_openat(t->proc_dirfd, "cmdline", O_RDONLY, 1)) < 0 ||
	    (h->task = xio_openat(t->proc_dirfd, "task", O_RDONLY | O_DIRECTORY, 1)) < 0)
		return -1;
	h->stage = stage_open(stage, O_RDWR, t->pid, m->starttime, m->page_size);
	return h->stage < 0 ? -1 : 0;
}

/* The copy rate the pre-copy passes achieved (bytes per ms), or the
 * default when they were too short to tell. */
static uint64_t copy_rate(const struct manifest *m)
{
	uint64_t bytes = 0, ms = 0;

	for (size_t i = 0; i < m->n_headers; i++) {
		const char *v = m->headers[i].value;

		if (!strcmp(m->headers[i].key, "pass") && strstr(v, " bytes=") && strstr(v, " ms=")) {
			bytes += manifest_value_field(v, "bytes");
			ms += manifest_value_field(v, "ms");
		}
	}
	if (ms >= 5 && bytes / ms > 0)
		return bytes / ms;
	return DEFAULT_RATE_BYTES_PER_MS;
}

/* The pages the stop is expected to copy: those the process wrote during
 * the last pass (precopy-end's dirty=, lc-precopy's last look), else the
 * dirty pages the last pass found (what it writes in a pass's time); with
 * no tracker (first), every page pass 1 copied. */
static uint64_t expected_delta_pages(const struct manifest *m, bool first)
{
	const char *end = manifest_header_get(m, "precopy-end");
	uint64_t pages = 0;

	if (!first && end && strstr(end, "dirty="))
		return manifest_value_field(end, "dirty");
	for (size_t i = 0; i < m->n_headers; i++)
		if (!strcmp(m->headers[i].key, "pass")) {
			pages = manifest_value_field(m->headers[i].value, first ? "pages" : "dirty");
			if (first)
				break;
		}
	return pages;
}

/* The test-only holds: LIVECORE_TEST_STOP_DELAY_MS keeps the target
 * stopped that long, LIVECORE_TEST_CLONE_DELAY_MS delays the copy from
 * the clone (-T fork), both still answering SIGINT/SIGTERM. */
static int test_delay(const char *name, const sigset_t *cancel)
{
	const char *v = getenv(name);
	long ms = v ? strtol(v, NULL, 10) : 0;
	struct timespec ts;

	if (ms <= 0)
		return 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	if (sigtimedwait(cancel, NULL, &ts) > 0) {
		errno = EINTR;
		return -1;
	}
	return 0;
}

static char *read_maps(int fd)
{
	if (lseek(fd, 0, SEEK_SET) < 0)
		return NULL;
	return xio_read_fd_all(fd, NULL);
}

/* Everything one run holds, so that the phases below can be functions. */
struct freeze {
	struct options o;
	struct manifest in, out;
	struct target t;
	struct handles h;
	struct outfile notes;
	struct pagemap pm;
	struct tracker tracker;
	bool copy_all;
	bool held_stopped;      /* every thread was stopped (SIGSTOP) before the seize */
	char state;             /* the main thread's state letter before the stop */
	sigset_t cancel;        /* SIGINT, SIGTERM: resume, then exit 8 */
	sigset_t old_mask;
	struct ptrace_stop ps;
	bool stopped;
	struct stagemap sm;     /* what pre-copy staged (stagemap.h), loaded before the stop */
	struct finalmaps_result plan;
	struct copy_result cr;
	struct hold hold;       /* memory for the delta, touched before the stop */
	struct capture cap;
	struct finish_timing tm;
	int uffd_target_fd;     /* uffd: the fd lc-precopy left in the target; -1 */
	int uffd_closed_fd;     /* uffd: its number, once closed in the stop */
	uint64_t uffd_syscall;  /* uffd: a syscall instruction in its [vdso], or 0 */
	int64_t uffd_close_us;  /* the close injected during the stop; -1 if none */
	struct pagemap_runs huge;  /* uffd: the huge pages lc-precopy protected (thp.h) */
	/* -T fork (forked.h): the clone, what is copied from it, and from the
	 * process inside the stop */
	bool fork;
	bool can_clone;            /* -F, and a clone can be made (open_everything) */
	bool announced;            /* the fork-clone header is out (manifest_write_early) */
	uint64_t fork_syscall;     /* a syscall instruction in its [vdso], or 0 */
	struct snapshot snap;
	struct copy_list from_clone;
	struct pagemap_runs from_target;
	struct pagemap_runs unverified;    /* new private anonymous mappings (forked.h) */
	struct pagemap_runs late;          /* ... whose pages came from the process, after */
	struct copy_result clone_cr;
	int64_t clone_copy_us, reap_us;
	uint64_t clone_private, late_bytes;
	struct throttle throttle;  /* the pre-copy's, from the start to the stop (throttle.h) */
	int pidfd;              /* uffd with huge pages: the target, for the collapse */
	struct thp_result thp;
	bool thp_done;
};

/* The manifest, then the target: a pipeline that already failed, or a pid
 * that names another process now, never stops anything. */
static int check_inputs(struct freeze *f)
{
	char err[512];
	const char *v, *why;
	int opened;

	if (manifest_read(stdin, "standard input", &f->in, err, sizeof err) < 0) {
		log_error("%s", err);
		return errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
	}
	if (f->in.pid != f->o.pid) {
		log_error("the manifest is for process %d, not %d", (int)f->in.pid, (int)f->o.pid);
		return EXIT_BAD_INPUT;
	}
	if (f->in.page_size != (unsigned)sysconf(_SC_PAGESIZE)) {
		log_error("the manifest's page size %u is not this system's", f->in.page_size);
		return EXIT_BAD_INPUT;
	}
	v = manifest_header_get(&f->in, "stop-copy");
	if (v && !strcmp(v, "dirty")) {
		f->copy_all = false;
	} else if (v && !strcmp(v, "fork")) {
		f->fork = true;
	} else if (v && strcmp(v, "all")) {
		log_error("standard input: unknown stop-copy \"%s\" (want all, dirty or fork)", v);
		return EXIT_BAD_INPUT;
	}
	if ((opened = cli_open_target(f->o.pid, &f->t)) != EXIT_OK)
		return opened;
	if (f->t.stat.starttime != f->in.starttime) {
		log_error("process %d is not the one the manifest describes (starttime %" PRIu64
			  ", manifest %" PRIu64 "): the pid was reused", (int)f->o.pid,
			  f->t.stat.starttime, f->in.starttime);
		return EXIT_NO_TARGET;
	}
	if ((why = target_not_dumpable(&f->t))) {
		/* a main thread that called pthread_exit is a zombie too: its
		 * /proc/PID/maps and mem are empty, so there is nothing to read */
		log_error("process %d %s", (int)f->o.pid, why);
		return EXIT_NO_TARGET;
	}
	if (caps_check_own_target(f->t.status.uid) < 0) {
		log_error("process %d belongs to uid %u: with file capabilities lc-freeze stops only "
			  "the caller's own processes", (int)f->o.pid, (unsigned)f->t.status.uid[0]);
		return EXIT_DENIED;
	}
	return EXIT_OK;
}

/* Every open that needs privilege, then only CAP_SYS_PTRACE is kept; the
 * tracker and the notes file. */
static int open_everything(struct freeze *f)
{
	static const cap_value_t attached[] = { CAP_SYS_PTRACE };
	const char *tracking = manifest_header_get(&f->in, "tracking");
	bool soft_dirty = !f->copy_all && tracking && !strcmp(tracking, "soft-dirty");
	bool uffd = !f->copy_all && tracking && !strcmp(tracking, "uffd"), suspend = false;
	cap_value_t keep[4] = { CAP_SYS_PTRACE };
	int n_keep = 1;

	if (caps_raise() < 0 || open_handles(&f->t, &f->in, f->o.stage, soft_dirty, &f->h) < 0) {
		int saved = errno;

		caps_lower();
		errno = saved;
		if (f->h.stage < 0 && f->h.task >= 0) {
			log_errno("cannot open the staging file %s", f->o.stage);
			return errno == ESRCH || errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
		}
		log_errno("cannot open the memory of process %d", (int)f->o.pid);
		return exit_for_errno(errno);
	}
	/* ptrace stays: attaching needs it for another uid's process, and so
	 * does every later request on it until the detach. With huge pages
	 * to collapse after the dump (uffd), CAP_SYS_NICE stays permitted,
	 * not effective, for process_madvise on another process (thp.h). */
	{
		char why[300];

		if (!f->copy_all && tracking && !strcmp(tracking, "uffd") &&
		    runs_from_headers(&f->in, "thp", f->in.page_size, &f->huge, why, sizeof why) < 0) {
			log_error("standard input: %s", why);
			return errno == ENOMEM ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
		}
	}
	if (f->huge.n && (f->pidfd = (int)syscall(SYS_pidfd_open, f->o.pid, 0)) < 0)
		log_errno("cannot open a pidfd of process %d: the huge pages the tracking splits "
			  "stay split", (int)f->o.pid);
	/* the stop's seize and detach at a real-time priority (ptrace_stop.h,
	 * realtime); the collapse of huge pages (thp.h) */
	keep[n_keep++] = CAP_SYS_NICE;
	/* uffd in a process under seccomp: the close(2) injected in the stop
	 * (and in a child that inherited the fd) runs with the filter
	 * suspended, CAP_SYS_ADMIN in force for that PTRACE_SETOPTIONS alone */
	/* (-F: a clone that cannot be injected is not made, quietly) */
	if (uffd || f->fork || f->o.clone_over_budget) {
		const char *refused = uffd_seccomp_refuse(f->t.status.seccomp, &suspend);

		if (refused && (uffd || f->fork)) {
			log_error(uffd ? "cannot close the userfaultfd lc-precopy left in process %d: %s"
				       : "cannot clone process %d: %s", (int)f->o.pid, refused);
			return EXIT_DENIED;
		}
		if (suspend)
			keep[n_keep++] = CAP_SYS_ADMIN;
		inject_suspend_seccomp(suspend);
		f->can_clone = f->o.clone_over_budget && !refused && !f->fork;
	}
	/* fork: the clone's /proc/PID/mem is opened after the stop (mode
	 * 0600 of the process's uid: another uid's needs this one) */
	if (f->fork || f->can_clone)
		keep[n_keep++] = CAP_DAC_READ_SEARCH;
	if (caps_keep(keep, n_keep, attached, 1) < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	cli_report_privileges("after setup");
	if (pagemap_open(&f->pm, f->h.pagemap, f->in.page_size) < 0) {
		log_errno("cannot read /proc/%d/pagemap", (int)f->o.pid);
		return EXIT_FAILURE_IO;
	}
	if (f->copy_all) {
		if (track_open(&f->tracker, TRACK_NONE, -1, &f->pm) < 0) {
			log_errno("cannot read /proc/%d/pagemap", (int)f->o.pid);
			return EXIT_FAILURE_IO;
		}
	} else {
		enum track_mode mode = soft_dirty ? TRACK_SOFT_DIRTY
				       : tracking && !strcmp(tracking, "uffd") ? TRACK_UFFD : TRACK_NONE;

		if (mode == TRACK_NONE) {
			log_error("standard input: stop-copy dirty needs a tracking header of "
				  "soft-dirty or uffd (it is \"%s\")", tracking ? tracking : "absent");
			return EXIT_BAD_INPUT;
		}
		if (track_open(&f->tracker, mode, f->h.clear_refs, &f->pm) < 0) {
			log_errno("cannot use the %s tracker", tracking);
			return EXIT_FAILURE_IO;
		}
		if (mode == TRACK_UFFD) {
			const char *v = manifest_header_get(&f->in, "uffd");
			int n, fd;

			/* the userfaultfd lc-precopy left in the target: our
			 * own copy (pidfd_getfd needs ptrace access, held) */
			if (!v || sscanf(v, "fd=%d", &n) != 1 || n < 0) {
				log_error("standard input: tracking uffd without a valid uffd header");
				return EXIT_BAD_INPUT;
			}
			if (uffd_take(f->o.pid, n, &fd) < 0) {
				int saved = errno;

				if (saved == ENOENT) {
					log_error("process %d: fd %d is not the userfaultfd lc-precopy left there",
						  (int)f->o.pid, n);
					return EXIT_BAD_INPUT;
				}
				log_errno("process %d: cannot tell whether fd %d is the userfaultfd lc-precopy "
					  "left there", (int)f->o.pid, n);
				return exit_for_errno(saved);
			}
			track_set_uffd(&f->tracker, fd);
			f->uffd_target_fd = n;
			/* found now, not inside the stop (checked again there) */
			if (inject_find_syscall(f->t.proc_dirfd, f->h.mem, &f->uffd_syscall) < 0)
				f->uffd_syscall = 0;
		}
	}
	/* found now, not inside the stop (checked again there) */
	if ((f->fork || f->can_clone) &&
	    inject_find_syscall(f->t.proc_dirfd, f->h.mem, &f->fork_syscall) < 0)
		f->fork_syscall = 0;
	{
		char why[300];

		if (stagemap_load(&f->sm, &f->in, why, sizeof why) < 0) {
			log_error("standard input: %s", why);
			return errno == ENOMEM ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
		}
	}
	if (outfile_create(&f->notes, f->o.notes, true) < 0) {
		log_errno("cannot create %s", f->o.notes);
		return EXIT_FAILURE_IO;
	}
	outfile_cleanup_on_signals(&f->notes);
	return EXIT_OK;
}

static int report_stop_failure(const struct freeze *f, int e)
{
	if (e == EBUSY)
		log_error("process %d is already traced by process %d: nothing was stopped",
			  (int)f->o.pid, (int)f->ps.other_tracer);
	else if (e == ESRCH)
		log_error("process %d exited while lc-freeze stopped it", (int)f->o.pid);
	else if (e == ETIMEDOUT)
		log_error("process %d: threads did not stop within %u ms (uninterruptible "
			  "sleep?); the target was resumed", (int)f->o.pid, STOP_TIMEOUT_MS);
	else if (e == EINTR)
		log_error("interrupted; the target was resumed");
	else
		log_errno("cannot stop process %d", (int)f->o.pid);
	return exit_for_errno(e);
}

/* Inside the stop: the final maps, the plan of the delta, the notes. */
static int take_maps_and_notes(struct freeze *f)
{
	const char *v = manifest_header_get(&f->in, "filter-source");
	struct finalmaps_ctx ctx = {
		.filter = f->in.coredump_filter,
		.filter_all = v && !strcmp(v, "all"),
		.page_size = f->in.page_size,
		.mem_fd = f->h.mem,
		.pm = &f->pm,
		.tracker = &f->tracker,
		.copy_all = f->copy_all,
		.clone = f->fork,
	};
	struct capture_fds fds = { f->t.proc_dirfd, f->h.task, f->h.auxv, f->h.cmdline };
	char err[512], *maps;
	int status = EXIT_FAILURE_IO;

	if (!(maps = read_maps(f->h.maps)) || !*maps) {
		log_error("process %d exited while lc-freeze stopped it", (int)f->o.pid);
		status = EXIT_NO_TARGET;
		goto out;
	}
	/* (finalmaps_build cuts the text into lines) */
	if (finalmaps_build(&f->in, &f->sm, maps, &ctx, &f->out, &f->plan, err, sizeof err) < 0) {
		log_error("process %d: %s", (int)f->o.pid, err);
		goto out;
	}
	if (capture_fill(&f->cap, &fds, &f->ps, f->state, &f->out) < 0) {
		log_errno("cannot read the state of process %d", (int)f->o.pid);
		status = exit_for_errno(errno);
		goto out;
	}
	status = EXIT_OK;
out:
	free(maps);
	return status;
}

/* The pause budget: resume at once when the copy would not fit. */
static bool over_budget(struct freeze *f)
{
	uint64_t bytes = copy_list_bytes(&f->plan.plan.copy), rate = copy_rate(&f->in);
	int64_t so_far_us = finish_us_since(&f->ps.first_seize);
	uint64_t estimate_us = bytes * 1000u / rate;

	/* a process that was stopped anyway feels no downtime */
	if (f->held_stopped || f->o.budget_ms < 0 || f->o.budget_anyway ||
	    (uint64_t)so_far_us + estimate_us <= (uint64_t)f->o.budget_ms * 1000u)
		return false;
	ptrace_stop_detach_all(&f->ps);
	f->stopped = false;
	log_error("the final delta is %" PRIu64 " bytes: about %" PRIu64 " ms at %" PRIu64
		  " bytes/ms, past the %ld ms budget (%" PRId64 " us spent); the target was "
		  "resumed after %" PRId64 " us", bytes, estimate_us / 1000, rate, f->o.budget_ms,
		  so_far_us, finish_us_between(&f->ps.first_seize, &f->ps.last_detach));
	return true;
}

static int copy_delta(struct freeze *f, const struct copy_list *list)
{
	/* With a tracker the delta is pages the process wrote, its own since
	 * the write; without one (or from a clone's parent) it is every page,
	 * some of which it may share copy-on-write with another process:
	 * process_vm_readv's pin would make the kernel copy those (lc-precopy's
	 * main.c), /proc/PID/mem takes none */
	struct copy_source src = {
		.method = f->copy_all ? COPY_PROC_MEM : COPY_PROCESS_VM_READV,
		.pid = f->o.pid,
		.mem_fd = f->h.mem,
	};
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct copy_options opt = {
		.workers = cpus < 1 ? 1 : cpus > (long)MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus,
		.page_size = f->in.page_size,
	};
	struct copy_list mem, rest;
	struct copy_result held;
	int status = EXIT_OK;

	copy_list_init(&mem);
	copy_list_init(&rest);
	copy_result_init(&held);
	/* as much as fits into the memory touched before the stop (hold.h),
	 * the rest to the staging file */
	if (hold_split(&f->hold, list, f->in.page_size, &mem, &rest) < 0) {
		log_errno("cannot plan the final delta");
		status = EXIT_FAILURE_IO;
		goto out;
	}
	opt.dest = f->hold.map;
	if (mem.n && copy_run(&src, -1, &mem, &opt, &held) < 0) {
		int saved = errno;

		log_errno("cannot copy the final delta of process %d into memory", (int)f->o.pid);
		status = exit_for_errno(saved);
		goto out;
	}
	f->tm.held_bytes = held.bytes;
	opt.dest = NULL;
	/* A large rest (every page with -T none, or a fast writer's beyond
	 * the memory) goes the way pass 1 went: O_DIRECT where it is in
	 * large runs. Through the page cache it ran at 0.4 GB/s here, a third
	 * of pass 1, where fresh page-cache pages cost the VM a host fault
	 * each (4 GiB: an 11 s stop). A small one stays in the page cache,
	 * which takes it without waiting for the device. */
	if (copy_list_bytes(&rest) >= STOP_DIRECT_MIN_BYTES)
		opt.write = COPY_WRITE_AUTO;
	if (rest.n && copy_run(&src, f->h.stage, &rest, &opt, &f->cr) < 0) {
		int saved = errno;

		log_errno("cannot copy the final delta of process %d into %s", (int)f->o.pid, f->o.stage);
		status = exit_for_errno(saved);
		goto out;
	}
	f->cr.bytes += held.bytes;
	f->cr.pages += held.pages;
	if (runs_union_into(&f->cr.unreadable, &held.unreadable) < 0) {
		log_errno("cannot plan the final delta");
		status = EXIT_FAILURE_IO;
	}
out:
	copy_list_free(&mem);
	copy_list_free(&rest);
	copy_result_free(&held);
	return status;
}

/* -T fork and -F, before the stop: the clone's memory cost must fit
 * (snapshot_refused). */
static int fork_fits(struct freeze *f, bool quiet)
{
	char why[300];

	if (!snapshot_refused(f->t.proc_dirfd, why, sizeof why))
		return EXIT_OK;
	if (quiet)
		log_info("process %d: %s: no clone, the delta is copied in the stop", (int)f->o.pid, why);
	else
		log_error("process %d: %s: -T fork refused (use -T uffd or none)", (int)f->o.pid, why);
	return EXIT_DENIED;
}

/* -T fork, inside the stop: the clone, and what it does not hold copied
 * from the process (forked.h). A clone that fails fails the dump: the
 * process is resumed as it was, and nothing of the clone is left. */
static int fork_in_stop(struct freeze *f)
{
	struct copy_list from_target;
	int status = EXIT_OK;

	copy_list_init(&from_target);
	if (forked_split(&f->out, &f->plan.plan.copy, &from_target, &f->from_clone, &f->from_target,
			 &f->unverified) < 0) {
		log_errno("cannot plan the copy");
		status = EXIT_FAILURE_IO;
	} else if (snapshot_take(&f->snap, &f->ps, f->t.proc_dirfd, f->h.mem, f->fork_syscall) < 0) {
		int saved = errno;

		if (saved == EAGAIN)
			log_error("cannot clone process %d: its cgroup's pids.max or its user's "
				  "RLIMIT_NPROC is reached", (int)f->o.pid);
		else
			log_errno("cannot clone process %d", (int)f->o.pid);
		status = saved == EAGAIN || saved == ENOMEM ? EXIT_DENIED : exit_for_errno(saved);
	} else {
		status = copy_delta(f, &from_target);
	}
	copy_list_free(&from_target);
	return status;
}

/* -T fork, after the stop, from the clone's pagemap: which of the pages
 * the stop did not look up are holes (finalmaps_settle); and the pages of
 * the new private anonymous mappings the clone does not hold (forked.h),
 * moved from the clone's copy to a copy from the process (*late), and
 * their ranges to f->late. */
static int fork_check_pagemap(struct freeze *f, struct copy_list *late)
{
	struct pagemap_runs there, missing;
	struct copy_list rest;
	struct pagemap pm;
	int rc = -1;

	pagemap_runs_init(&there);
	pagemap_runs_init(&missing);
	copy_list_init(&rest);
	if (pagemap_open(&pm, f->snap.pagemap_fd, f->in.page_size) < 0 ||
	    finalmaps_settle(&f->plan, &f->sm, &pm, &f->from_clone) < 0)
		goto out;
	if (!f->unverified.n) {
		rc = 0;
		goto out;
	}
	if (pagemap_find_in(&pm, &f->unverified, PAGEMAP_POPULATED, NULL, &there) < 0 ||
	    runs_subtract(&f->unverified, &there, &missing) < 0 ||
	    copy_list_split(&f->from_clone, &missing, late, &rest) < 0)
		goto out;
	for (size_t i = 0; i < late->n; i++)
		if (pagemap_runs_append(&f->late, late->range[i].addr,
					late->range[i].addr + late->range[i].len) < 0)
			goto out;
	copy_list_free(&f->from_clone);
	f->from_clone = rest;
	copy_list_init(&rest);
	rc = 0;
out:
	pagemap_runs_free(&there);
	pagemap_runs_free(&missing);
	copy_list_free(&rest);
	return rc;
}

/* -T fork, after the stop: every other page from the clone, which is then
 * killed and reaped (snapshot.h). The process runs meanwhile; each page it
 * writes first costs it a copy, which the clone keeps (clone_private). */
static int fork_after_stop(struct freeze *f)
{
	static const cap_value_t ptrace_only[] = { CAP_SYS_PTRACE, CAP_SYS_ADMIN };
	/* pread of /proc/PID/mem, not process_vm_readv: that one pins the
	 * pages it reads (FOLL_PIN), and pinning an anonymous page the clone
	 * shares with the process copies it (the kernel's GUP unsharing,
	 * Linux 5.19+): the whole snapshot was duplicated here, 512 of 512
	 * MB of an idle process; /proc/PID/mem reads without a pin */
	struct copy_source src = { .method = COPY_PROC_MEM, .pid = f->snap.tid };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct copy_options opt = {
		.workers = cpus < 1 ? 1 : cpus > (long)MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus,
		.page_size = f->in.page_size,
		.write = COPY_WRITE_AUTO,
	};
	struct copy_source target = { .method = COPY_PROC_MEM, .pid = f->o.pid, .mem_fd = f->h.mem };
	struct copy_result late_cr;
	struct copy_list late;
	struct timespec a;
	int status = EXIT_OK, opened;

	opened = caps_raise() == 0 ? snapshot_open(&f->snap) : -1;
	if (opened < 0)
		log_errno("cannot open the memory of the clone of process %d", (int)f->o.pid);
	caps_lower();
	/* the open was the last use of CAP_DAC_READ_SEARCH */
	if (caps_keep(ptrace_only, caps_permitted(CAP_SYS_ADMIN) ? 2 : 1, ptrace_only, 1) < 0) {
		log_errno("cannot drop capabilities");
		opened = -1;
	}
	src.mem_fd = f->snap.mem_fd;
	copy_list_init(&late);
	copy_result_init(&late_cr);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (opened < 0) {
		status = EXIT_FAILURE_IO;
	} else if (test_delay("LIVECORE_TEST_CLONE_DELAY_MS", &f->cancel) < 0) {
		log_error("interrupted; the clone is killed");
		status = EXIT_INTERRUPTED;
	} else if ((f->unverified.n || f->plan.deferred.n) && fork_check_pagemap(f, &late) < 0) {
		log_errno("cannot read the clone's pagemap");
		status = EXIT_FAILURE_IO;
	} else if (f->from_clone.n && copy_run(&src, f->h.stage, &f->from_clone, &opt, &f->clone_cr) < 0) {
		log_errno("cannot copy the clone of process %d into %s", (int)f->o.pid, f->o.stage);
		status = EXIT_FAILURE_IO;
	} else if (late.n && (copy_run(&target, f->h.stage, &late, &opt, &late_cr) < 0 ||
			      runs_union_into(&f->clone_cr.unreadable, &late_cr.unreadable) < 0)) {
		log_errno("cannot copy process %d into %s", (int)f->o.pid, f->o.stage);
		status = EXIT_FAILURE_IO;
	} else if (late.n) {
		log_info("%" PRIu64 " pages of mappings made during the dump are not in the clone "
			 "(MADV_DONTFORK or MADV_WIPEONFORK): copied from the process after the stop, "
			 "not as of it (fork-late)", copy_list_bytes(&late) / f->in.page_size);
	}
	f->late_bytes = late_cr.bytes;
	copy_list_free(&late);
	copy_result_free(&late_cr);
	f->clone_copy_us = finish_us_since(&a);
	if (snapshot_private_bytes(&f->snap, &f->clone_private) < 0)
		f->clone_private = 0;
	if (snapshot_end(&f->snap, f->o.pid, f->t.proc_dirfd, f->h.task, f->h.mem, f->fork_syscall,
			 &f->reap_us) < 0)
		log_errno("cannot reap the clone in process %d (a zombie is left until it exits or "
			  "waits for it)", (int)f->o.pid);
	return status;
}

/* The throttle lc-precopy ended at (its header, throttle.h) goes on from
 * here to the stop, so that a writer the passes caught up with only
 * slowed down does not run free meanwhile; not for a clone's stop, nor a
 * process held stopped. Failing to start it costs only a longer stop. */
static void start_throttle(struct freeze *f)
{
	unsigned stop_us, duty = throttle_duty_of(&f->in, &stop_us);
	sigset_t child;

	if (!duty || f->fork || f->held_stopped)
		return;
	/* for good (lc-freeze has no children): the throttle's stops wait
	 * for SIGCHLD, and one that no thread blocks is discarded */
	sigemptyset(&child);
	sigaddset(&child, SIGCHLD);
	sigprocmask(SIG_BLOCK, &child, NULL);
	f->throttle.task_dirfd = f->h.task;
	f->throttle.stop_us = stop_us;
	if (throttle_set(&f->throttle, duty) < 0)
		log_errno("cannot go on slowing process %d down until the stop", (int)f->o.pid);
}

/* What the process wrote since lc-precopy's last look (precopy-end's at-ms,
 * dirty-bps), foreseen at the rate it wrote before it (a throttle going
 * on meanwhile: at that rate too): bytes, at most `most`. The reservation of
 * memory for the delta is part of that time (a fast writer's delta: tens
 * to hundreds of ms). Not after an outpaced pass 1: its look counted every
 * page it left as well, the pages such a writer writes next. */
static uint64_t written_since_look(const struct freeze *f, uint64_t most)
{
	const char *end = manifest_header_get(&f->in, "precopy-end");
	struct timespec now;
	uint64_t at, now_ms, bytes;

	if (!end || !(at = manifest_value_field(end, "at-ms")) || strstr(end, "reason=outpaced"))
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	if (now_ms < at || now_ms - at > 600000)
		return 0;
	bytes = manifest_value_field(end, "dirty-bps") / 1000 * (now_ms - at);
	return bytes < most ? bytes : most;
}

/* Before the stop: memory for the delta lc-freeze foresees (hold.h), as
 * -M and MemAvailable allow. Without a tracker the delta is every page,
 * which goes to the staging file as pass 1 did (O_DIRECT); a process held
 * stopped has no pause to shorten. Failing to get it costs only speed. */
static void reserve_hold(struct freeze *f)
{
	uint64_t want = expected_delta_pages(&f->in, false) * f->in.page_size, cap;
	uint64_t staged = pagemap_runs_pages(&f->sm.data, f->in.page_size) * f->in.page_size;
	long mib = f->o.hold_mib >= 0 ? f->o.hold_mib : HOLD_DEFAULT_MAX_MIB;
	uint64_t avail_kib = 0;
	char *meminfo, *at;

	if (f->copy_all || f->held_stopped || want == 0 || mib == 0)
		return;
	/* and what it wrote since the last look, until now */
	if (staged > want)
		want += written_since_look(f, staged - want);
	want = want + want / 2 + HOLD_SLACK_BYTES;
	cap = (uint64_t)mib << 20;
	if (f->o.hold_mib < 0 && (meminfo = xio_read_path_all("/proc/meminfo", NULL))) {
		if ((at = strstr(meminfo, "MemAvailable:")))
			avail_kib = strtoull(at + strlen("MemAvailable:"), NULL, 10);
		free(meminfo);
		if (avail_kib && avail_kib * 1024 / 4 < cap)
			cap = avail_kib * 1024 / 4;
	}
	if (hold_reserve(&f->hold, want < cap ? want : cap) < 0)
		log_errno("cannot allocate memory for the final delta: it goes to %s in the stop",
			  f->o.stage);
}

/* The stop, from the first seize to the last detach. SIGINT and SIGTERM
 * are blocked while the target is stopped and looked at between steps:
 * the target is always resumed first. */
static int stop(struct freeze *f)
{
	sigset_t blocked;
	const char *v;
	int status;

	sigemptyset(&f->cancel);
	sigaddset(&f->cancel, SIGINT);
	sigaddset(&f->cancel, SIGTERM);
	blocked = f->cancel;
	sigaddset(&blocked, SIGCHLD);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGPIPE);
	sigprocmask(SIG_BLOCK, &blocked, &f->old_mask);

	/* the throttle's last stop ends here: this one follows at once */
	throttle_end(&f->throttle);
	ptrace_stop_init(&f->ps, f->o.pid, f->h.task);
	/* the seize and the detach at SCHED_FIFO 1 (ptrace_stop.h): the
	 * JVM's 29 threads detached in 0.1-0.4 ms where it took 0.7-3.3 */
	f->ps.realtime = true;
	/* memory for every thread's registers, touched now rather than in
	 * the stop; without it the stop allocates as it goes */
	(void)ptrace_stop_reserve(&f->ps, f->cap.n_listed);
	if ((v = getenv("LIVECORE_TEST_SEIZE_GAP_MS")))
		f->ps.test_seize_gap_ms = (unsigned)strtoul(v, NULL, 10);
	f->ps.regs.test_fpregs_each = getenv("LIVECORE_TEST_FPREGS_EACH") != NULL;
	if (ptrace_stop_all(&f->ps, STOP_TIMEOUT_MS, &f->cancel) < 0)
		return report_stop_failure(f, errno);
	f->stopped = true;
	clock_gettime(CLOCK_MONOTONIC, &f->tm.seized);
	/* the threads' stat files, read beside the registers and the maps */
	capture_read_stats(&f->cap, &f->ps, f->h.task);
	if (test_delay("LIVECORE_TEST_STOP_DELAY_MS", &f->cancel) < 0 ||
	    ptrace_stop_signal_pending(&f->cancel)) {
		status = EXIT_INTERRUPTED;
		goto resume;
	}
	if (ptrace_stop_read_registers(&f->ps) < 0) {
		int saved = errno;

		if (saved == ESRCH)
			log_error("process %d exited while lc-freeze stopped it", (int)f->o.pid);
		else
			log_errno("cannot read the registers of process %d", (int)f->o.pid);
		status = exit_for_errno(saved);
		goto resume;
	}
	clock_gettime(CLOCK_MONOTONIC, &f->tm.regs);
	if ((status = take_maps_and_notes(f)) != EXIT_OK)
		goto resume;
	clock_gettime(CLOCK_MONOTONIC, &f->tm.maps);
	if (ptrace_stop_signal_pending(&f->cancel)) {
		status = EXIT_INTERRUPTED;
		goto resume;
	}
	if (f->fork) {
		if ((status = fork_in_stop(f)) != EXIT_OK)
			goto resume;
	} else {
		if (over_budget(f))
			return EXIT_BUDGET;
		if ((status = copy_delta(f, &f->plan.plan.copy)) != EXIT_OK)
			goto resume;
	}
	clock_gettime(CLOCK_MONOTONIC, &f->tm.delta);
resume:
	/* uffd: the final scan is done (or the dump failed): the target's fd
	 * is closed while it is stopped; the context ends with our copy */
	if (f->uffd_target_fd >= 0 && status != EXIT_NO_TARGET) {
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		/* a process that closed the fd itself (a daemon closing every
		 * fd) may hold another file at that number now */
		if (!uffd_same_file(f->o.pid, f->uffd_target_fd, f->tracker.uffd_fd)) {
			log_error("process %d no longer holds the userfaultfd at fd %d: left as it is",
				  (int)f->o.pid, f->uffd_target_fd);
		} else if (uffd_inject_close(&f->ps, f->t.proc_dirfd, f->h.mem, f->uffd_target_fd,
					     f->uffd_syscall) < 0) {
			log_errno("cannot close the userfaultfd (fd %d) in process %d; run lc-precopy "
				  "-R %d %d", f->uffd_target_fd, (int)f->o.pid, f->uffd_target_fd,
				  (int)f->o.pid);
			if (status == EXIT_OK)
				status = EXIT_FAILURE_IO;
		} else {
			clock_gettime(CLOCK_MONOTONIC, &b);
			f->uffd_close_us = finish_us_between(&a, &b);
		}
		f->uffd_closed_fd = f->uffd_target_fd;
		f->uffd_target_fd = -1;
	}
	if (ptrace_stop_detach_all(&f->ps) > 0) {
		log_error("could not detach every thread of process %d; they are released when "
			  "lc-freeze exits", (int)f->o.pid);
		status = EXIT_FAILURE_IO;
	}
	f->stopped = false;
	if (status == EXIT_OK && ptrace_stop_signal_pending(&f->cancel))
		status = EXIT_INTERRUPTED;
	if (status == EXIT_INTERRUPTED)
		log_error("interrupted; the target was resumed");
	return status;
}

/* uffd, after the stop that closed the target's fd: a child the target
 * forked meanwhile inherited the fd (without UFFD_FEATURE_EVENT_FORK its
 * own memory is not registered, but it keeps the context, and so the
 * target's registration, alive); it is closed there too, so that when
 * lc-freeze exits its copy is the last, and the kernel unregisters every
 * VMA whole and clears the protection while the target runs (about 25 ms
 * per GiB of 4 KiB pages, none of it in the pause). Ranges are never
 * unregistered one by one: a VMA that grew since it was read would be
 * split, and the target's next mremap of it would fail. */
static void uffd_release_children_of(struct freeze *f)
{
	unsigned closed, left;

	if (uffd_release_children(f->o.pid, f->uffd_closed_fd, f->tracker.uffd_fd, f->uffd_syscall,
				  &closed, &left) < 0)
		log_errno("cannot list the children of process %d (one forked during the dump would "
			  "keep its ranges registered until it exits)", (int)f->o.pid);
	else if (left)
		log_error("%u children of process %d forked during the dump keep its userfaultfd: "
			  "its ranges stay registered until they exit", left, (int)f->o.pid);
}

/* uffd, after the release: the huge pages the tracking split, collapsed
 * again while the target runs (thp.h). Our copy of the userfaultfd is the
 * last one: closing it unregisters every range, so that the collapse is
 * allowed. process_madvise checks ptrace read access (a target with more
 * capabilities than ours needs CAP_SYS_PTRACE, as for the stop) and needs
 * CAP_SYS_NICE: both are in force for it, and dropped right after. */
static void restore_huge_pages(struct freeze *f)
{
	static const cap_value_t nice[] = { CAP_SYS_PTRACE, CAP_SYS_NICE };

	track_close(&f->tracker);
	if (caps_keep_only(nice, 2) < 0) {
		log_errno("cannot drop capabilities");
		return;
	}
	if (thp_restore(f->pidfd, &f->pm, &f->huge, &f->thp) < 0) {
		log_errno("cannot read /proc/%d/pagemap: the huge pages the tracking split stay split",
			  (int)f->o.pid);
		return;
	}
	f->thp_done = true;
	if (f->thp.err)
		log_info("%" PRIu64 " of %" PRIu64 " huge pages split by the tracking could not be "
			 "collapsed again (process_madvise MADV_COLLAPSE: %s%s); khugepaged may, in time",
			 f->thp.split - f->thp.collapsed, f->thp.split, strerror(f->thp.err),
			 f->thp.err == EPERM ? ", it needs CAP_SYS_NICE" : "");
}

/* The pause foreseen (estimate.h), from what is known before the stop:
 * the threads listed, the records, the staged data (what the scan walks
 * with a tracker; what the stop copies without one), the last pass's
 * dirty pages and the passes' copy rate. */
static int64_t foresee_pause_us(const struct freeze *f, bool clone)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct estimate_inputs e = {
		.threads = f->cap.n_listed ? f->cap.n_listed : 1,
		.vmas = f->in.n_vmas,
		.copy_rate = copy_rate(&f->in),
		.cpus = cpus < 1 ? 1u : (unsigned)cpus,
	};

	/* the scan walks the page tables of what is populated: the staged
	 * data, not the extents' span (4000 threads' stacks span 32 GiB) */
	if (!f->copy_all)
		e.scanned_bytes = pagemap_runs_pages(&f->sm.data, f->in.page_size) * f->in.page_size;
	/* a clone copies the page tables of what is resident; the stop
	 * copies what a clone does not hold (without a tracker at most the
	 * dump size of those mappings; with one, the few pages written
	 * there), the rest is copied after it */
	if (clone) {
		struct snapshot_rollup r;

		e.clone = true;
		if (snapshot_rollup(f->t.proc_dirfd, &r) == 0) {
			e.clone_small_bytes = r.rss > r.anon_huge ? r.rss - r.anon_huge : 0;
			e.clone_huge_bytes = r.anon_huge;
		}
		for (size_t i = 0; f->copy_all && i < f->in.n_vmas; i++)
			if (forked_from_target(&f->in.vmas[i]))
				e.delta_bytes += f->in.vmas[i].dump_size;
		return estimate_pause_us(&e);
	}
	e.delta_bytes = expected_delta_pages(&f->in, f->copy_all) * f->in.page_size;
	/* new writes to pages not dirty yet: at most the rest of what is
	 * staged */
	if (!f->copy_all && e.scanned_bytes > e.delta_bytes)
		e.delta_bytes += written_since_look(f, e.scanned_bytes - e.delta_bytes);
	/* what fits in the memory reserved for it is read at memory's rate */
	e.held_bytes = e.delta_bytes < f->hold.size ? e.delta_bytes : f->hold.size;
	e.delta_bytes -= e.held_bytes;
	/* a large delta goes as pass 1 went, O_DIRECT, but with the CPUs to
	 * itself and no niceness: 1.7-3.4x pass 1's rate in every make bench
	 * row (docs/BENCHMARKS.md, "stop copy") */
	if (e.delta_bytes >= STOP_DIRECT_MIN_BYTES)
		e.copy_rate *= 2;
	return estimate_pause_us(&e);
}

/* -F, the first step of the ladder (livecore(1), The pause budget): when
 * the stop foreseen with the delta copied in it is over the budget, and
 * one with a clone is shorter, the stop makes a clone instead (as -T fork
 * does), and the delta is copied from the clone after the resume: the
 * pause no longer grows with what a fast writer wrote. */
static void choose_clone(struct freeze *f)
{
	int64_t with_copy = f->tm.estimate_us, with_clone;
	/* tests: a clone whatever the estimates say, after passes that
	 * staged memory (the torture target's writes rarely get one) */
	bool forced = getenv("LIVECORE_TEST_CLONE") != NULL;

	/* without a tracker, lc-precopy -T auto chose a clone already where
	 * one can be made (lc-precopy(1)) */
	if (!f->can_clone || f->fork || f->copy_all || f->held_stopped || f->o.budget_ms < 0 ||
	    (with_copy <= (int64_t)f->o.budget_ms * 1000 && !forced))
		return;
	with_clone = foresee_pause_us(f, true);
	if ((with_clone >= with_copy && !forced) || fork_fits(f, true) != EXIT_OK)
		return;
	log_info("the stop foreseen at %.1f ms with the delta copied in it, over the %ld ms budget: "
		 "a clone of the process instead (-T fork), foreseen at %.1f ms",
		 (double)with_copy / 1000, f->o.budget_ms, (double)with_clone / 1000);
	f->fork = true;
	f->tm.estimate_us = with_clone;
	/* the delta goes to the clone's copy, not to memory */
	hold_free(&f->hold);
	hold_init(&f->hold);
}

/* -T fork: what the clone cost and gave, said and put in the manifest;
 * the pages it could not give join the stop's. */
static int fork_results(struct freeze *f)
{
	log_info("clone of process %d made in the stop in %.1f ms; %" PRIu64 " MB copied from it "
		 "in %.0f ms while the process ran, which duplicated %" PRIu64 " MB of its memory",
		 (int)f->o.pid, (double)f->snap.clone_us / 1000, f->clone_cr.bytes / 1000000,
		 (double)f->clone_copy_us / 1000, f->clone_private / 1000000);
	if (runs_union_into(&f->cr.unreadable, &f->clone_cr.unreadable) < 0 ||
	    manifest_header_set(&f->out, "fork",
				"clone-us=%" PRId64 " bytes=%" PRIu64 " copy-us=%" PRId64
				" duplicated=%" PRIu64 " reap-us=%" PRId64 " late-bytes=%" PRIu64,
				f->snap.clone_us, f->clone_cr.bytes, f->clone_copy_us, f->clone_private,
				f->reap_us, f->late_bytes) < 0) {
		log_errno("cannot build the manifest");
		return -1;
	}
	for (size_t i = 0; i < f->from_target.n; i++)
		if (manifest_header_add(&f->out, "fork-from-target", "%" PRIx64 "-%" PRIx64,
					f->from_target.run[i].start, f->from_target.run[i].end) < 0) {
			log_errno("cannot build the manifest");
			return -1;
		}
	for (size_t i = 0; i < f->late.n; i++)
		if (manifest_header_add(&f->out, "fork-late", "%" PRIx64 "-%" PRIx64,
					f->late.run[i].start, f->late.run[i].end) < 0) {
			log_errno("cannot build the manifest");
			return -1;
		}
	return 0;
}

/* The target runs again: the staging file, the notes, the manifest. */
static int write_results(struct freeze *f)
{
	/* SIGINT and SIGTERM may end us now (the notes file's temporary name
	 * is removed on the way out) */
	sigprocmask(SIG_SETMASK, &f->old_mask, NULL);
	finish_log(&f->ps, &f->tm, &f->cr, f->cap.n_threads, f->copy_all && !f->fork, f->held_stopped);
	if (f->fork && fork_results(f) < 0)
		return EXIT_FAILURE_IO;
	/* the model learns which pages the stop could not read; the records
	 * get their extents */
	if (stagemap_copied(&f->sm, &f->plan.plan, &f->cr.unreadable, &(struct pagemap_runs){ 0 }) < 0 ||
	    finalmaps_annotate(&f->out, &f->sm) < 0) {
		log_errno("cannot build the manifest");
		return EXIT_FAILURE_IO;
	}
	stagemap_trace(&f->plan.plan, "lc-freeze stop");
	if (f->hold.held.n) {
		struct timespec a;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (hold_flush(&f->hold, f->h.stage, &f->cr.unreadable) < 0) {
			log_errno("cannot write the final delta held in memory to %s", f->o.stage);
			return EXIT_FAILURE_IO;
		}
		f->tm.flush_us = finish_us_since(&a);
	}
	if (finish_stage(f->h.stage, &f->plan, &f->sm) < 0) {
		log_errno("cannot finish the staging file %s", f->o.stage);
		return EXIT_FAILURE_IO;
	}
	if (finish_notes(&f->notes, &f->cap) < 0) {
		log_errno("cannot write the notes to %s", f->o.notes);
		return EXIT_FAILURE_IO;
	}
	if (f->o.budget_ms >= 0 && !f->held_stopped) {
		int64_t over = finish_us_between(&f->ps.first_seize, &f->ps.last_detach) -
			       (int64_t)f->o.budget_ms * 1000;

		if (over > 0)
			log_info("the pause was over the %ld ms budget by %.1f ms", f->o.budget_ms,
				 (double)over / 1000);
		if (manifest_header_set(&f->out, "budget", "ms=%ld over-us=%" PRId64, f->o.budget_ms,
					over > 0 ? over : 0) < 0) {
			log_errno("cannot build the manifest");
			return EXIT_FAILURE_IO;
		}
	}
	if (finish_manifest_headers(&f->out, &f->sm, &f->cr, &f->ps, &f->tm, f->cap.n_threads,
				    f->held_stopped) < 0 ||
	    (f->uffd_close_us >= 0 &&
	     manifest_header_set(&f->out, "uffd-close", "us=%" PRId64, f->uffd_close_us) < 0) ||
	    throttle_record(&f->throttle, &f->out) < 0 ||
	    (f->thp_done &&
	     manifest_header_set(&f->out, "thp-restore",
				 "split=%" PRIu64 " collapsed=%" PRIu64 " us=%" PRId64, f->thp.split,
				 f->thp.collapsed, f->thp.us) < 0) ||
	    (f->announced ? manifest_write_rest(stdout, &f->out, "fork-clone")
			  : manifest_write(stdout, &f->out)) < 0 || fflush(stdout) == EOF) {
		log_errno("cannot write the manifest to standard output");
		return EXIT_FAILURE_IO;
	}
	return EXIT_OK;
}

/* The clone's state, parent, exit signal and pid in its own (the
 * process's) pid namespace; -1 when it is gone. */
static int clone_state(pid_t tid, struct procfs_stat *st, pid_t *ns_pid)
{
	char path[64], *text, *at;
	int rc;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
	if (!(text = xio_read_path_all(path, NULL)))
		return -1;
	rc = procfs_parse_stat(text, st);
	free(text);
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	if (rc < 0 || !(text = xio_read_path_all(path, NULL)))
		return -1;
	/* NSpid: its pid in each namespace, ours first, its own last */
	*ns_pid = 0;
	if ((at = strstr(text, "\nNSpid:")))
		for (char *p = at + strlen("\nNSpid:"); *p && *p != '\n';) {
			char *end;
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			*ns_pid = (pid_t)v;
			p = end;
		}
	free(text);
	return *ns_pid > 0 ? 0 : -1;
}

/* -R TID: the zombie of a clone that a lc-freeze killed after making it
 * left in process PID (the kernel killed the clone: PTRACE_O_EXITKILL,
 * snapshot.h), reaped there. Nothing is done to a TID that is not such a
 * clone: gone, another process's child, or one with an exit signal; one
 * still alive after 2 s belongs to a lc-freeze that still runs. */
static int reap_left_clone(struct freeze *f)
{
	static const cap_value_t attached[] = { CAP_SYS_PTRACE };
	cap_value_t keep[2] = { CAP_SYS_PTRACE };
	struct procfs_stat st;
	pid_t ns_pid = 0;
	bool suspend = false;
	const char *refused;
	uint64_t insn = 0;
	int64_t us;
	int opened, i;

	if ((opened = cli_open_target(f->o.pid, &f->t)) != EXIT_OK)
		return opened;
	if (caps_check_own_target(f->t.status.uid) < 0) {
		log_error("process %d belongs to uid %u: with file capabilities lc-freeze reaps only in "
			  "the caller's own processes", (int)f->o.pid, (unsigned)f->t.status.uid[0]);
		return EXIT_DENIED;
	}
	for (i = 0; i < 200; i++) {
		if (clone_state(f->o.reap_tid, &st, &ns_pid) < 0)
			return EXIT_OK;         /* gone: nothing to reap */
		if (st.ppid != f->o.pid || !st.have_exit_signal || st.exit_signal != 0) {
			log_info("process %d is not a clone of process %d: left alone",
				 (int)f->o.reap_tid, (int)f->o.pid);
			return EXIT_OK;
		}
		if (st.state == 'Z')
			break;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	if (st.state != 'Z') {
		log_error("the clone %d of process %d is alive: the lc-freeze that made it still runs",
			  (int)f->o.reap_tid, (int)f->o.pid);
		return EXIT_FAILURE_IO;
	}
	if ((refused = uffd_seccomp_refuse(f->t.status.seccomp, &suspend))) {
		log_error("cannot reap the clone %d in process %d: %s", (int)f->o.reap_tid, (int)f->o.pid,
			  refused);
		return EXIT_DENIED;
	}
	inject_suspend_seccomp(suspend);
	if (suspend)
		keep[1] = CAP_SYS_ADMIN;
	if (caps_raise() < 0 ||
	    (f->h.mem = xio_openat(f->t.proc_dirfd, "mem", O_RDONLY, 1)) < 0 ||
	    (f->h.task = xio_openat(f->t.proc_dirfd, "task", O_RDONLY | O_DIRECTORY, 1)) < 0) {
		int saved = errno;

		caps_lower();
		errno = saved;
		log_errno("cannot open the memory of process %d", (int)f->o.pid);
		return exit_for_errno(saved);
	}
	if (caps_keep(keep, suspend ? 2 : 1, attached, 1) < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	if (snapshot_reap(ns_pid, f->o.pid, f->t.proc_dirfd, f->h.task, f->h.mem, insn, &us) < 0) {
		log_errno("cannot reap the clone %d in process %d", (int)f->o.reap_tid, (int)f->o.pid);
		return exit_for_errno(errno);
	}
	log_info("reaped the clone %d left in process %d (a stop of %" PRId64 " us)",
		 (int)f->o.reap_tid, (int)f->o.pid, us);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const cap_value_t needed[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE,
					      CAP_SYS_NICE, CAP_SYS_ADMIN };
	static struct freeze f = {
		.h = { -1, -1, -1, -1, -1, -1, -1, -1 },
		.notes = { .fd = -1 },
		.tracker = { .mode = TRACK_NONE, .uffd_fd = -1 },
		.copy_all = true,
		.uffd_target_fd = -1,
		.uffd_closed_fd = -1,
		.uffd_close_us = -1,
		.pidfd = -1,
	};
	int status;

	log_init(argv[0]);
	if (caps_init(needed, 5) < 0) {
		log_errno("cannot set up capabilities");
		return EXIT_FAILURE_IO;
	}
	if ((status = parse_options(argc, argv, &f.o)) != EXIT_OK)
		return status;
	if (f.o.reap_tid)
		return reap_left_clone(&f);
	manifest_init(&f.in);
	manifest_init(&f.out);
	pagemap_runs_init(&f.huge);
	finalmaps_result_init(&f.plan);
	stagemap_init(&f.sm, (unsigned)sysconf(_SC_PAGESIZE));
	copy_result_init(&f.cr);
	hold_init(&f.hold);
	snapshot_init(&f.snap);
	copy_list_init(&f.from_clone);
	pagemap_runs_init(&f.from_target);
	pagemap_runs_init(&f.unverified);
	pagemap_runs_init(&f.late);
	copy_result_init(&f.clone_cr);
	f.reap_us = f.clone_copy_us = -1;
	f.tm.flush_us = -1;
	throttle_init(&f.throttle, f.o.pid, -1);
	capture_init(&f.cap);
	if ((status = check_inputs(&f)) != EXIT_OK || (status = open_everything(&f)) != EXIT_OK)
		goto out;
	/* the state as it was before the stop: inside it every thread shows 't' */
	if (target_verify(&f.t, f.in.starttime) < 0) {
		log_error("process %d exited", (int)f.o.pid);
		status = EXIT_NO_TARGET;
		goto out;
	}
	f.state = f.t.stat.state;
	f.held_stopped = target_stopped(&f.t);
	capture_prepare(&f.cap, f.h.task);
	/* (the state is read: the throttle's stops would show as 't') */
	start_throttle(&f);
	reserve_hold(&f);
	if (f.fork && !f.held_stopped && (status = fork_fits(&f, false)) != EXIT_OK)
		goto out;
	f.tm.estimate_us = foresee_pause_us(&f, f.fork);
	choose_clone(&f);
	/* tests: time for the throttle to make stops of its own here */
	(void)test_delay("LIVECORE_TEST_PRESTOP_DELAY_MS", &(sigset_t){ 0 });
	status = stop(&f);
	if (f.uffd_close_us >= 0)
		uffd_release_children_of(&f);
	/* the clone's tid goes out at once: if this process is killed now,
	 * the kernel kills the clone, and whoever reads our output reaps its
	 * zombie (lc-freeze -R; livecore.sh does) */
	if (f.snap.tid) {
		char tid[32];

		snprintf(tid, sizeof tid, "tid=%d", (int)f.snap.tid);
		f.announced = manifest_write_early(stdout, "fork-clone", tid) == 0;
	}
	if (f.snap.tid && !f.announced) {
		log_errno("cannot write the manifest to standard output");
		status = EXIT_FAILURE_IO;
	}
	if (f.snap.tid && status == EXIT_OK)
		status = fork_after_stop(&f);
	else if (f.snap.tid)
		snapshot_end(&f.snap, f.o.pid, f.t.proc_dirfd, f.h.task, f.h.mem, f.fork_syscall,
			     &f.reap_us);
	if (status != EXIT_OK)
		goto out;
	if (f.uffd_close_us >= 0 && f.pidfd >= 0)
		restore_huge_pages(&f);
	if (caps_drop_all() < 0 || caps_verify_none() < 0) {
		log_errno("cannot drop capabilities");
		status = EXIT_FAILURE_IO;
		goto out;
	}
	cli_report_privileges("after the stop");
	status = write_results(&f);
out:
	throttle_end(&f.throttle);
	if (f.stopped)
		ptrace_stop_detach_all(&f.ps);
	if (status != EXIT_OK && f.notes.temp_path)
		outfile_abort(&f.notes);
	capture_free(&f.cap);
	copy_result_free(&f.cr);
	hold_free(&f.hold);
	copy_list_free(&f.from_clone);
	pagemap_runs_free(&f.from_target);
	pagemap_runs_free(&f.unverified);
	pagemap_runs_free(&f.late);
	copy_result_free(&f.clone_cr);
	finalmaps_result_free(&f.plan);
	stagemap_free(&f.sm);
	ptrace_stop_free(&f.ps);
	track_close(&f.tracker);
	manifest_free(&f.in);
	manifest_free(&f.out);
	pagemap_runs_free(&f.huge);
	if (f.pidfd >= 0)
		close(f.pidfd);
	return status;
}
