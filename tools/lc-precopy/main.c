/* lc-precopy - copies the memory a manifest marks for dumping into a
 * sparse staging file while the target runs, tracking the pages it writes,
 * and passes the manifest on, annotated (lc-manifest(5), lc-stage(5)).
 * It never stops the target. See lc-precopy(1). */
#include "caps.h"
#include "cli.h"
#include "copy.h"
#include "handoff.h"
#include "exitcode.h"
#include "log.h"
#include "manifest.h"
#include "pagemap.h"
#include "passes.h"
#include "throttle.h"
#include "progress.h"
#include "snapshot.h"
#include "stage.h"
#include "target.h"
#include "track.h"
#include "uffd.h"
#include "xio.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_PASSES 8
#define DEFAULT_DIRTY_PCT 5
/* -t not given: 5% with soft-dirty, whose every pass after the first holds
 * the target in a ptrace stop for its scan and reset; 0 with uffd, whose
 * passes cost the target only a fault per page it writes again, so passes
 * go on while the dirty set shrinks and the stop copies what is left. */
#define DIRTY_PCT_BY_MODE UINT_MAX

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-precopy -s STAGE [-c] [-T auto|soft-dirty|uffd|fork|none] [-p MAXPASSES]\n"
		"                  [-t DIRTY_PCT] [-j WORKERS] [-q] [-P] [-S BUDGET_MS [-F]] [-g] PID < MANIFEST > MANIFEST\n"
		"  -s STAGE      create the staging file STAGE (0600; never an existing file)\n"
		"  -c            continue: STAGE exists and MANIFEST is one lc-precopy wrote for it;\n"
		"                run more passes with its tracker, append new extents\n"
		"  -T MODE       dirty tracking: auto (default: soft-dirty if it works here,\n"
		"                else uffd, else none), soft-dirty or uffd (fail if it does\n"
		"                not work), fork (no pass: lc-freeze copies a clone of\n"
		"                the process made in the stop), none (one pass)\n"
		"  -p MAXPASSES  at most this many passes (default %d)\n"
		"  -t DIRTY_PCT  stop when fewer pages than this percent of the first pass\n"
		"                are dirty (default: %d with soft-dirty, 0 with uffd; without\n"
		"                -t, also when 64 KiB or less are)\n"
		"  -j WORKERS    copy threads (default: online CPUs)\n"
		"  -q            no progress line\n"
		"  -P            with the parent: its death is an interrupt (SIGTERM: the\n"
		"                userfaultfd is closed in PID, STAGE removed)\n"
		"  -S MS         slow the process down (a throttle: brief ptrace stops) when\n"
		"                the passes do not catch up with its writes and copying them\n"
		"                in the stop would take longer than MS milliseconds (uffd)\n"
		"  -F            with -S: not where a clone of the process can be made (the\n"
		"                stop makes one when over its budget: lc-freeze -F)\n"
		"  -g            at a niceness above 0: a session, so a scheduling group\n"
		"                (autogroup), of its own at that niceness, which then\n"
		"                counts against other sessions' tasks too\n"
		"  -h            this help\n"
		"       lc-precopy -R FD PID\n"
		"  -R FD         release: close the userfaultfd FD that a pipeline killed\n"
		"                between its stages left in process PID (uffd tracking)\n",
		DEFAULT_MAX_PASSES, DEFAULT_DIRTY_PCT);
}

struct options {
	const char *stage;
	enum track_request tracking;
	unsigned max_passes, dirty_pct, workers;
	bool quiet, resume, tracking_given, with_parent, own_group;
	bool fork;              /* -T fork: no tracker, no pass */
	unsigned throttle_ms;   /* -S: the pause budget; 0: no throttle */
	bool clone_over_budget; /* -F: the stop clones when over its budget */
	int release_fd;         /* -R: -1 when not given */
	pid_t pid;
};

/* -g: a scheduling group of our own at our niceness. A niceness orders a
 * task only among the tasks of its own group, and with autogroup (Linux's
 * default where no cpu cgroup is in use: a group for each session) a
 * service runs in a session other than the pre-copy's: there, a 4 GiB
 * target's worker thread (niceness 0) waited 13-23 ms for a CPU as the
 * copy threads at niceness 19 started, the two groups sharing the 2 CPUs
 * half and half. A session of our own is a group of our own, and the
 * niceness written to /proc/self/autogroup weighs the group. Under a cpu
 * cgroup autogroup is not used and this changes nothing: the weight of a
 * cgroup is the caller's to set (systemd-run -p CPUWeight=). Best effort:
 * a process group leader (started as a shell job) cannot leave its
 * session, and says so. */
static void own_sched_group(void)
{
	int nice_now, fd, written;

	errno = 0;
	nice_now = getpriority(PRIO_PROCESS, 0);
	if (errno || nice_now <= 0)
		return;
	if (setsid() < 0) {
		log_info("cannot start a session of its own (%s): the niceness %d counts only "
			 "within the caller's scheduling group", strerror(errno), nice_now);
		return;
	}
	/* absent without CONFIG_SCHED_AUTOGROUP */
	if ((fd = open("/proc/self/autogroup", O_WRONLY | O_CLOEXEC)) < 0)
		return;
	/* the kernel takes one such write every 100 ms from a caller
	 * without CAP_SYS_ADMIN, from all of them together (EAGAIN:
	 * proc_sched_autogroup_set_nice): dumps one after the other
	 * (livecore.sh -o) meet that limit; once more after it */
	written = dprintf(fd, "%d", nice_now);
	if (written < 0 && errno == EAGAIN) {
		nanosleep(&(struct timespec){ .tv_nsec = 110 * 1000000L }, NULL);
		written = dprintf(fd, "%d", nice_now);
	}
	if (written < 0)
		log_info("cannot set the niceness of its scheduling group: %s", strerror(errno));
	close(fd);
}

static int number(const char *arg, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
	int c;

	o->tracking = TRACK_REQUEST_AUTO;
	o->max_passes = DEFAULT_MAX_PASSES;
	o->dirty_pct = DIRTY_PCT_BY_MODE;
	o->workers = 0;
	o->release_fd = -1;
	while ((c = getopt(argc, argv, "s:cT:p:t:j:qPgS:FR:h")) != -1) {
		switch (c) {
		case 'P':
			o->with_parent = true;
			break;
		case 'g':
			o->own_group = true;
			break;
		case 'S':
			if (number(optarg, 1, 1u << 20, &o->throttle_ms) < 0) {
				log_error("bad pause budget \"%s\" (want milliseconds, 1 or more)", optarg);
				return -1;
			}
			break;
		case 'F':
			o->clone_over_budget = true;
			break;
		case 'R': {
			unsigned fd;

			if (number(optarg, 0, 1u << 30, &fd) < 0) {
				log_error("bad fd \"%s\" (want a decimal file descriptor number)", optarg);
				return -1;
			}
			o->release_fd = (int)fd;
			break;
		}
		case 's':
			o->stage = optarg;
			break;
		case 'c':
			o->resume = true;
			break;
		case 'T':
			o->tracking_given = true;
			/* the snapshot is lc-freeze's: here it is no tracker */
			o->fork = !strcmp(optarg, "fork");
			if (track_request_parse(o->fork ? "none" : optarg, &o->tracking) < 0) {
				log_error("bad tracking mode \"%s\" (want auto, soft-dirty, uffd, fork or none)",
					  optarg);
				return -1;
			}
			break;
		case 'p':
			if (number(optarg, 1, 1000, &o->max_passes) < 0) {
				log_error("bad pass limit \"%s\" (want 1 to 1000)", optarg);
				return -1;
			}
			break;
		case 't':
			if (number(optarg, 0, 100, &o->dirty_pct) < 0) {
				log_error("bad dirty threshold \"%s\" (want a percentage, 0 to 100)", optarg);
				return -1;
			}
			break;
		case 'j':
			if (number(optarg, 1, COPY_MAX_WORKERS, &o->workers) < 0) {
				log_error("bad worker count \"%s\" (want 1 to %u)", optarg, COPY_MAX_WORKERS);
				return -1;
			}
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->stage && o->release_fd < 0) {
		log_error("no staging file (-s STAGE)");
		usage(stderr);
		return -1;
	}
	if (optind != argc - 1) {
		usage(stderr);
		return -1;
	}
	if (o->resume && o->tracking_given) {
		log_error("-c continues with the tracker the manifest names: -T does not apply");
		return -1;
	}
	if (target_parse_pid(argv[optind], &o->pid) < 0) {
		log_error("bad pid \"%s\" (want a decimal process id)", argv[optind]);
		return -1;
	}
	if (!o->workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		o->workers = n < 1 ? 1 : n > (long)COPY_MAX_WORKERS ? COPY_MAX_WORKERS : (unsigned)n;
	}
	return 0;
}

/* ---- the staging file is this tool's output: on failure or a signal it
 * is removed, so that no half-written staging file is mistaken for one. */

static const char *volatile stage_to_remove;

static void remove_stage_and_die(int sig)
{
	const char *path = stage_to_remove;

	(void)sig;
	if (path)
		unlink(path);
	_exit(EXIT_INTERRUPTED);
}

static void remove_stage(void)
{
	const char *path = stage_to_remove;

	stage_to_remove = NULL;
	if (path)
		unlink(path);
}

static void catch_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = remove_stage_and_die;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
}

static int exit_for_open_errno(int err)
{
	return err == EACCES || err == EPERM ? EXIT_DENIED
	       : err == ESRCH || err == ENOENT ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
}

/* ---- privileged opens ---------------------------------------------------- */

struct sources {
	int smaps, mem, pagemap, clear_refs, task, maps;
};

/* The kernel checks access to these files when they are opened
 * (PTRACE_MODE_READ for smaps, mem and pagemap, after the 0400 mode that
 * needs CAP_DAC_READ_SEARCH for another uid's target; clear_refs is 0200:
 * CAP_DAC_OVERRIDE), never on a later read or write. */
static int open_sources(const struct target *t, enum track_mode mode, struct sources *s)
{
	bool need_clear_refs = mode == TRACK_SOFT_DIRTY;

	s->smaps = xio_openat(t->proc_dirfd, "smaps", O_RDONLY, 1);
	s->mem = xio_openat(t->proc_dirfd, "mem", O_RDONLY, 1);
	s->pagemap = xio_openat(t->proc_dirfd, "pagemap", O_RDONLY, 1);
	if (s->smaps < 0 || s->mem < 0 || s->pagemap < 0)
		return -1;
	if (need_clear_refs && (s->clear_refs = xio_openat(t->proc_dirfd, "clear_refs", O_WRONLY, 1)) < 0)
		return -1;
	/* the soft-dirty micro-stop and the uffd injection list the threads
	 * to stop there; uffd's registrations read the maps inside their stop */
	if ((need_clear_refs || mode == TRACK_UFFD) &&
	    (s->task = xio_openat(t->proc_dirfd, "task", O_RDONLY | O_DIRECTORY, 1)) < 0)
		return -1;
	if (mode == TRACK_UFFD && (s->maps = xio_openat(t->proc_dirfd, "maps", O_RDONLY, 1)) < 0)
		return -1;
	return 0;
}


/* The read method. pread on /proc/PID/mem is checked when the file is
 * opened, so without a tracker the tool holds no capability while it
 * copies. With one it holds CAP_SYS_PTRACE all along anyway (soft-dirty's
 * stops, uffd's injection and close), and process_vm_readv, checked on
 * every call, is then the faster: one copy of each page, pinned in
 * batches, where /proc/PID/mem takes the mmap lock and copies twice for
 * every page (perf: 38% of a uffd pass's samples in that lock;
 * bench/copy-engine.sh -m 2048: a pass at 2.14 GB/s against 1.59, 0.23
 * CPU seconds a GiB against 0.41). But the pin is a side effect where a
 * page is shared copy-on-write with another process (a forked child, a
 * database's backends and their postmaster): the kernel copies such a
 * page before it lets a pin hold it (GUP unsharing, Linux 5.19+), so a
 * forked process of 256 MiB kept 256 MiB more after a dump. The first
 * pass, which reads every page, therefore reads /proc/PID/mem, which
 * takes no pin (passes.c); later passes read pages the process wrote,
 * which a write made its own. A page process_vm_readv cannot read
 * (a PROT_NONE mapping) is still read through /proc/PID/mem, which
 * forces, as the kernel's own dump does (copy.c). LIVECORE_COPY_METHOD
 * chooses instead, for benchmarks (bench/copy-engine.sh). */
static int copy_method_forced(enum copy_method *out, bool *forced)
{
	const char *m = getenv("LIVECORE_COPY_METHOD");

	*forced = m && *m;
	*out = COPY_PROC_MEM;
	if (!*forced || !strcmp(m, "mem"))
		return 0;
	if (!strcmp(m, "process_vm_readv")) {
		*out = COPY_PROCESS_VM_READV;
		return 0;
	}
	log_error("LIVECORE_COPY_METHOD=%s: want mem or process_vm_readv", m);
	return -1;
}

/* Why a clone of the process could not be made in the stop (NULL: it can):
 * it cannot be injected (seccomp without CAP_SYS_ADMIN, as for uffd), or
 * the memory cgroup has no room for what it may duplicate (snapshot.h). */
static const char *clone_refused(const struct target *t, char *no, size_t len)
{
	const char *refused;
	bool suspend;

	/* smaps_rollup of another uid's process: ptrace read access */
	if (!(refused = uffd_seccomp_refuse(t->status.seccomp, &suspend))) {
		caps_raise();
		refused = snapshot_refused(t->proc_dirfd, no, len);
		caps_lower();
	}
	return refused;
}

/* -T auto where no tracker works: a clone in the stop (-T fork) is a far
 * shorter pause than copying every page there (the clone copies page
 * tables: about 14 ms a GiB of 4 KiB pages here, against 600 ms a GiB for
 * the copy), unless one cannot be made (clone_refused). Not when
 * LIVECORE_FORCE_TRACKING=none forces the fallback itself. why gets the
 * reason either way. */
static void auto_fork(const struct target *t, char *why, size_t whylen, bool *fork)
{
	const char *force = getenv("LIVECORE_FORCE_TRACKING"), *refused;
	size_t n = strlen(why);
	char no[300];

	if (force && *force)
		return;
	if ((refused = clone_refused(t, no, sizeof no))) {
		snprintf(why + n, whylen - n, "; no clone: %s", refused);
		return;
	}
	*fork = true;
	log_error("no dirty tracking (%s): no pass, a clone of process %d in the stop (-T fork)", why,
		  (int)t->pid);
}

/* -c: the tracker a previous lc-precopy used, from its manifest. One that
 * lc-freeze has already finished with (a freeze header) is refused: its
 * staging file is final. */
static int resume_mode(const struct manifest *in, enum track_mode *mode)
{
	const char *tracking = manifest_header_get(in, "tracking");
	const char *stop_copy = manifest_header_get(in, "stop-copy");

	if (manifest_header_get(in, "freeze")) {
		log_error("standard input: lc-freeze has already finished with this manifest "
			  "(a freeze header): nothing to continue");
		return EXIT_BAD_INPUT;
	}
	if (!tracking || !stop_copy || !manifest_header_get(in, "stage-end")) {
		log_error("standard input: -c needs a manifest lc-precopy wrote (tracking, stop-copy "
			  "and stage-end headers)");
		return EXIT_BAD_INPUT;
	}
	if (!strcmp(stop_copy, "fork")) {
		log_error("standard input: -T fork has no passes to continue (the snapshot is taken "
			  "in the stop)");
		return EXIT_BAD_INPUT;
	}
	if (!strcmp(stop_copy, "all") || !strcmp(tracking, "none"))
		*mode = TRACK_NONE;
	else if (!strcmp(tracking, "soft-dirty"))
		*mode = TRACK_SOFT_DIRTY;
	else if (!strcmp(tracking, "uffd"))
		*mode = TRACK_UFFD;
	else {
		log_error("standard input: unknown tracking \"%s\"", tracking);
		return EXIT_BAD_INPUT;
	}
	return EXIT_OK;
}

/* The throttle (throttle.h): ended before the userfaultfd is released on
 * an interrupt or a failure (handoff.c), by whichever thread does it. */
static struct throttle throttle;

static void end_throttle(void)
{
	throttle_end(&throttle);
}

int main(int argc, char **argv)
{
	int opened;
	static const cap_value_t needed[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE,
					      CAP_SYS_ADMIN, CAP_SYS_NICE };
	/* CAP_SYS_ADMIN only for a process under seccomp with uffd, and
	 * only permitted: in force alone for the PTRACE_SETOPTIONS that
	 * suspends the filter around an injected call (inject.h);
	 * CAP_SYS_NICE only for a throttle, and only permitted: its thread
	 * takes a real-time priority with it (throttle.h) */
	static const cap_value_t ptrace_admin[] = { CAP_SYS_PTRACE, CAP_SYS_ADMIN };
	cap_value_t keep[3] = { CAP_SYS_PTRACE };
	int n_keep = 1;
	struct options o = { 0 };
	struct sources src = { -1, -1, -1, -1, -1, -1 };
	pid_t parent = getppid(); /* -P: who started us */
	struct manifest in, out;
	struct target t;
	struct precopy p;
	struct progress pr = { 0 };
	enum track_mode mode;
	enum copy_method method;
	bool method_forced;
	unsigned page_size = (unsigned)sysconf(_SC_PAGESIZE);
	char err[512], why[400], uffd_header[96] = "";
	int uffd_fd = -1;
	bool uffd_announced = false; /* its header written already */
	bool held_stopped, may_throttle = false;
	const char *not_dumpable;
	sigset_t interrupts;
	int stage_fd, status = EXIT_FAILURE_IO;

	log_init(argv[0]);
	if (caps_init(needed, 5) < 0) {
		log_errno("cannot set up capabilities");
		return EXIT_FAILURE_IO;
	}
	if (parse_options(argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (o.release_fd >= 0)
		return handoff_release_command(o.pid, o.release_fd);
	if (o.own_group)
		own_sched_group();
	/* An interrupt waits until the handlers are in place (catch_signals,
	 * or the handoff's signal thread): its default action would end us
	 * between the injection of the userfaultfd and the line that tells
	 * its number, leaving the fd in the process with no one to close it
	 * (a SIGTERM from livecore.sh's trap at that moment did). */
	sigemptyset(&interrupts);
	sigaddset(&interrupts, SIGINT);
	sigaddset(&interrupts, SIGTERM);
	sigaddset(&interrupts, SIGHUP);
	sigprocmask(SIG_BLOCK, &interrupts, NULL);
	{
		sigset_t child;

		/* for good: the throttle's stops wait for SIGCHLD (one that no
		 * thread blocks is discarded at once), and we have no children */
		sigemptyset(&child);
		sigaddset(&child, SIGCHLD);
		sigprocmask(SIG_BLOCK, &child, NULL);
	}
	throttle_init(&throttle, o.pid, -1);
	handoff_before_release(end_throttle);
	if (copy_method_forced(&method, &method_forced) < 0)
		return EXIT_USAGE;

	manifest_init(&in);
	if (manifest_read(stdin, "standard input", &in, err, sizeof err) < 0) {
		log_error("%s", err);
		return errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
	}
	if (in.pid != o.pid) {
		log_error("standard input: the manifest describes process %d, not %d", (int)in.pid,
			  (int)o.pid);
		return EXIT_BAD_INPUT;
	}
	if (in.page_size != page_size) {
		log_error("standard input: the manifest's page size is %u, this system's is %u",
			  in.page_size, page_size);
		return EXIT_BAD_INPUT;
	}
	if ((opened = cli_open_target(o.pid, &t)) != EXIT_OK)
		return opened;
	if (target_verify(&t, in.starttime) < 0) {
		log_error("process %d is not the process the manifest describes (starttime %" PRIu64
			  ", manifest says %" PRIu64 "): the pid was reused", (int)o.pid,
			  t.stat.starttime, in.starttime);
		return EXIT_NO_TARGET;
	}
	if ((not_dumpable = target_not_dumpable(&t))) {
		log_error("process %d %s", (int)o.pid, not_dumpable);
		return EXIT_NO_TARGET;
	}
	if (caps_check_own_target(t.status.uid) < 0) {
		log_error("process %d belongs to uid %u: with file capabilities lc-precopy copies "
			  "only the caller's own processes", (int)o.pid, (unsigned)t.status.uid[0]);
		return EXIT_DENIED;
	}
	/* Decide the tracker before anything is created: a tracker that was
	 * asked for and does not work leaves nothing behind. -c goes on with
	 * the tracker the manifest names. */
	held_stopped = !o.resume && target_stopped(&t);
	if (o.resume) {
		if ((status = resume_mode(&in, &mode)) != EXIT_OK)
			return status;
	} else if (held_stopped) {
		/* it cannot write while it is stopped: nothing to track, and
		 * nothing to copy twice */
		mode = TRACK_NONE;
		log_error("process %d is stopped: nothing is copied now; lc-freeze copies it once "
			  "while it holds it, and it stays stopped", (int)o.pid);
	} else if (track_choose(o.tracking, &mode, why, sizeof why) < 0) {
		log_error("%s", why);
		return EXIT_FAILURE_IO;
	} else if (mode == TRACK_NONE && o.tracking == TRACK_REQUEST_AUTO) {
		auto_fork(&t, why, sizeof why, &o.fork);
	}
	/* the ladder (livecore(1)): the throttle with uffd (soft-dirty's own
	 * stops would meet its), not for -c's one pass, and not where the
	 * stop will clone the process instead (-F); asked now, while reading
	 * smaps_rollup may still raise a capability */
	if (mode == TRACK_UFFD && o.throttle_ms && !o.resume) {
		char no[300];

		may_throttle = !o.clone_over_budget || clone_refused(&t, no, sizeof no);
	}

	if (!method_forced)
		method = mode == TRACK_NONE ? COPY_PROC_MEM : COPY_PROCESS_VM_READV;

	if (caps_raise() < 0 || open_sources(&t, mode, &src) < 0) {
		int saved = errno;

		caps_lower();
		errno = saved;
		log_errno("cannot open the memory of process %d", (int)o.pid);
		return exit_for_open_errno(saved);
	}
	/* From here on the copy needs nothing (pread on the open mem fd), or
	 * CAP_SYS_PTRACE alone: for process_vm_readv on another uid's target,
	 * which the kernel checks on every call, and for soft-dirty's
	 * micro-stop around each scan and reset (PTRACE_SEIZE); and those
	 * named above, permitted only. */
	if (mode == TRACK_UFFD && t.status.seccomp > 0)
		keep[n_keep++] = CAP_SYS_ADMIN;
	if (may_throttle)
		keep[n_keep++] = CAP_SYS_NICE;
	if (method == COPY_PROC_MEM && mode == TRACK_NONE
		    ? caps_drop_all() < 0 || caps_verify_none() < 0
		    : caps_keep(keep, n_keep, ptrace_admin, 1) < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	cli_report_privileges("after setup");
	/* a stage create failure must not leave the userfaultfd either */

	/* uffd: the userfaultfd is created in the target (a stop of a
	 * fraction of a millisecond), or, with -c, taken again from it */
	if (mode == TRACK_UFFD) {
		const struct handoff_target ht = { o.pid, t.proc_dirfd, src.task, src.mem,
						   t.status.seccomp };
		const char *force = getenv("LIVECORE_FORCE_TRACKING");
		bool asked = o.tracking == TRACK_REQUEST_UFFD || (force && !strcmp(force, "uffd"));

		if ((status = handoff_start(&ht, &in, o.resume, asked, &mode, &uffd_fd, uffd_header,
					    sizeof uffd_header, why, sizeof why)) != EXIT_OK)
			return status;
		/* tests only: a window in which an interrupt meets an fd
		 * whose number nobody knows yet */
		if ((force = getenv("LIVECORE_TEST_HANDOFF_DELAY_MS")))
			nanosleep(&(struct timespec){ atoi(force) / 1000, atoi(force) % 1000 * 1000000L },
				  NULL);
		/* The fd's number goes out at once: if this process is killed
		 * (SIGKILL leaves it no way to release the fd), whoever reads
		 * its output can (livecore.sh runs lc-precopy -R). */
		if (mode == TRACK_UFFD && manifest_write_early(stdout, "uffd", uffd_header) < 0) {
			log_errno("cannot write the manifest to standard output");
			handoff_release();
			return EXIT_FAILURE_IO;
		}
		uffd_announced = mode == TRACK_UFFD;
	}

	/* The staging file is created without privilege: where it may go is
	 * the caller's business, not root's. */
	/* an interrupt that waited: handled here, before anything else
	 * touches the target (the signal thread would race this thread) */
	{
		sigset_t waiting;

		if (sigpending(&waiting) == 0 && (sigismember(&waiting, SIGINT) == 1 ||
						  sigismember(&waiting, SIGTERM) == 1 ||
						  sigismember(&waiting, SIGHUP) == 1)) {
			handoff_release();
			return EXIT_INTERRUPTED;
		}
	}
	catch_signals();
	if (handoff_pending() && handoff_catch_signals(remove_stage) < 0) {
		log_errno("cannot start the signal thread");
		handoff_release();
		return EXIT_FAILURE_IO;
	}
	/* with an fd pending the signal thread takes what waited; else the
	 * handlers do, now */
	if (!handoff_pending())
		sigprocmask(SIG_UNBLOCK, &interrupts, NULL);
	/* -P: a driver killed outright (SIGKILL) can clean nothing up; its
	 * death reaches us as SIGTERM, handled as any interrupt: the
	 * userfaultfd is closed in the process. One that died before this
	 * line left us to init (or a subreaper): the same. */
	if (o.with_parent && (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent))
		kill(getpid(), SIGTERM);
	if (o.resume) {
		/* not ours to remove: it holds the passes before this one */
		stage_fd = stage_open(o.stage, O_RDWR, o.pid, in.starttime, page_size);
		if (stage_fd < 0) {
			log_errno("cannot open the staging file %s", o.stage);
			status = errno == EINVAL || errno == ESRCH || errno == ELOOP ? EXIT_BAD_INPUT
											 : EXIT_FAILURE_IO;
			handoff_release();
			return status;
		}
	} else if ((stage_fd = stage_create(o.stage, o.pid, in.starttime, page_size, 0)) < 0) {
		if (errno == EEXIST)
			log_error("%s exists (an existing file or symbolic link is never reused)", o.stage);
		else
			log_errno("cannot create the staging file %s", o.stage);
		status = errno == EEXIST ? EXIT_EXISTS : EXIT_FAILURE_IO;
		handoff_release();
		return status;
	} else {
		stage_to_remove = o.stage;
	}

	precopy_init(&p, page_size);
	p.in = &in;
	p.pid = o.pid;
	p.page_size = page_size;
	p.filter = in.coredump_filter;
	p.filter_all = manifest_header_get(&in, "filter-source") &&
		       !strcmp(manifest_header_get(&in, "filter-source"), "all");
	p.max_passes = o.max_passes;
	p.dirty_pct = o.dirty_pct;
	p.workers = o.workers;
	p.held_stopped = held_stopped;
	/* a stopped process is copied once in the stop, as without -T fork */
	p.fork = o.fork && !held_stopped;
	if (o.resume && precopy_resume(&p, err, sizeof err) < 0) {
		log_error("%s", err);
		status = errno == ENOMEM ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
		goto out;
	}
	p.smaps_fd = src.smaps;
	p.mem_fd = src.mem;
	p.stage_fd = stage_fd;
	p.src = (struct copy_source){ .method = method, .pid = o.pid, .mem_fd = src.mem };
	p.method_forced = method_forced;
	pagemap_open(&p.pm, src.pagemap, page_size);
	if (track_open(&p.tracker, mode, src.clear_refs, &p.pm) < 0) {
		log_errno("cannot start %s tracking", track_mode_name(mode));
		goto out;
	}
	if (mode == TRACK_SOFT_DIRTY || mode == TRACK_UFFD)
		track_hold_target(&p.tracker, o.pid, src.task, src.maps);
	/* -c: the interval began with the last run's reset */
	p.tracker.armed = o.resume;
	if (mode == TRACK_UFFD) {
		track_set_uffd(&p.tracker, uffd_fd);
		uffd_fd = -1;
		p.uffd_header = uffd_header;
	}
	p.tracked_known = !o.resume;
	throttle.task_dirfd = src.task;
	throttle.own_group = o.own_group;
	if (may_throttle)
		p.throttle = &throttle;
	p.throttle_budget_us = (int64_t)o.throttle_ms * 1000;
	p.throttle_forced = getenv("LIVECORE_TEST_THROTTLE") != NULL;
	throttle_set_budget(&throttle, o.throttle_ms);
	/* -t given: that share alone says when the passes have converged */
	p.converged_bytes = p.dirty_pct == DIRTY_PCT_BY_MODE ? PRECOPY_CONVERGED_BYTES : 0;
	if (p.dirty_pct == DIRTY_PCT_BY_MODE)
		p.dirty_pct = mode == TRACK_UFFD ? 0 : DEFAULT_DIRTY_PCT;
	/* said once when it is a fallback; -T none asked for it */
	if (mode == TRACK_NONE && o.tracking != TRACK_REQUEST_NONE && !o.resume && !held_stopped &&
	    !o.fork) {
		log_error("no dirty tracking (%s): one pass; the stop must copy every dumped page", why);
		p.fallback = why;
	}

	if (!o.quiet && isatty(STDERR_FILENO))
		progress_start(&pr, &p.progress_pass, &p.progress_done, &p.progress_total);
	if (precopy_run(&p, err, sizeof err) < 0) {
		int saved = errno;

		progress_stop(&pr);
		/* A process that dies mid-pass fails whatever call came next,
		 * not always with ESRCH (registering uffd ranges on its exiting
		 * mm gives ENOMEM): ask whether it is still there, and alive
		 * (a killed child not yet reaped is a zombie; one still
		 * tearing down its memory is PF_EXITING). */
		if (saved == ESRCH || target_dying(&t, in.starttime)) {
			log_error("%s", err);
			log_error("process %d exited during the copy", (int)o.pid);
			status = EXIT_NO_TARGET;
			goto out;
		}
		log_error("%s", err);
		status = EXIT_FAILURE_IO;
		goto out;
	}
	progress_stop(&pr);
	if (target_verify(&t, in.starttime) < 0) {
		log_error("process %d exited during the copy", (int)o.pid);
		status = EXIT_NO_TARGET;
		goto out;
	}
	if (precopy_annotate(&p, &out) < 0) {
		log_errno("cannot build the manifest");
		manifest_free(&out);
		goto out;
	}
	if ((uffd_announced ? manifest_write_rest(stdout, &out, "uffd") : manifest_write(stdout, &out)) < 0) {
		log_errno("cannot write the manifest to standard output");
		manifest_free(&out);
		goto out;
	}
	manifest_free(&out);
	status = EXIT_OK;
out:
	if (status != EXIT_OK) {
		handoff_release();
		remove_stage();
	}
	if (uffd_fd >= 0)
		close(uffd_fd);
	stage_to_remove = NULL;
	track_close(&p.tracker);
	precopy_free(&p);
	manifest_free(&in);
	close(stage_fd);
	return status;
}
