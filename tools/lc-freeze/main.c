/* lc-freeze - the stop: every thread stopped with ptrace, registers and
 * the notes taken, the final maps reconciled with the manifest, the final
 * delta copied into the staging file, the target resumed. See lc-freeze(1)
 * and, for the notes file it writes, lc-notes(5). */
#include "capture.h"
#include "caps.h"
#include "copy.h"
#include "exitcode.h"
#include "finalmaps.h"
#include "log.h"
#include "manifest.h"
#include "notes.h"
#include "outfile.h"
#include "pagemap.h"
#include "ptrace_stop.h"
#include "stage.h"
#include "target.h"
#include "track.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long the threads may take to report their stops. A thread in an
 * uninterruptible sleep (D) stops only when it leaves the kernel. */
#define STOP_TIMEOUT_MS 2000u
/* The copy rate assumed for the pause budget when the manifest has no
 * pre-copy pass long enough to measure one: 1 GB/s, about what one core
 * copies with pread on /proc/PID/mem here (a conservative guess). */
#define DEFAULT_RATE_BYTES_PER_MS 1000000u
#define MAX_WORKERS 4u

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-freeze -s STAGE -n NOTES [-b PAUSE_BUDGET_MS] PID < MANIFEST > MANIFEST\n"
		"  -s STAGE  the staging file lc-precopy wrote (the final delta goes there)\n"
		"  -n NOTES  write the notes (registers, psinfo, auxv, files) to NOTES\n"
		"  -b MS     pause budget: if copying the final delta would make the stop\n"
		"            longer than MS milliseconds, resume at once and exit 6\n"
		"  -h        this help\n");
}

struct options {
	const char *stage, *notes;
	long budget_ms;         /* -1: none */
	pid_t pid;
};

/* What lc-freeze holds open, all opened before the stop while privileged. */
struct handles {
	int mem, pagemap, maps, auxv, cmdline, task, stage;
	int clear_refs;         /* soft-dirty only: the tracker's handle (never written here) */
};

struct timing {
	struct timespec seized, regs, maps, delta;
};

static int64_t us_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

static int64_t us_since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return us_between(a, &now);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	int c;

	o->budget_ms = -1;
	while ((c = getopt(argc, argv, "s:n:b:h")) != -1) {
		switch (c) {
		case 's':
			o->stage = optarg;
			break;
		case 'n':
			o->notes = optarg;
			break;
		case 'b': {
			char *end;

			errno = 0;
			o->budget_ms = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || o->budget_ms < 0) {
				log_error("bad pause budget \"%s\" (want milliseconds, a decimal number)", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1 || !o->stage || !o->notes) {
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
		const char *v = m->headers[i].value, *b, *t;

		if (strcmp(m->headers[i].key, "pass"))
			continue;
		b = strstr(v, " bytes=");
		t = strstr(v, " ms=");
		if (b && t) {
			bytes += strtoull(b + 7, NULL, 10);
			ms += strtoull(t + 4, NULL, 10);
		}
	}
	if (ms >= 5 && bytes / ms > 0)
		return bytes / ms;
	return DEFAULT_RATE_BYTES_PER_MS;
}

/* The test-only hold (LIVECORE_TEST_STOP_DELAY_MS): keeps the target
 * stopped that long, still answering SIGINT/SIGTERM. */
static int test_delay(const sigset_t *cancel)
{
	const char *v = getenv("LIVECORE_TEST_STOP_DELAY_MS");
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

static int write_notes(struct outfile *out, const struct capture *c)
{
	size_t max = 4 + 3 * c->process.n_threads;
	struct notes_note *list = calloc(max, sizeof *list);
	long n;
	int rc = -1;

	if (!list)
		return -1;
	n = notes_list(&c->process, list, max);
	if (n >= 0 && notes_write_file(out->fd, list, (size_t)n) == 0 && outfile_commit(out) == 0)
		rc = 0;
	free(list);
	return rc;
}

/* After the resume: pages that are no longer populated become holes, and
 * the file reaches the stage end, so every extent lies inside it. */
static int finish_stage(int fd, const struct finalmaps_result *r)
{
	off_t size = lseek(fd, 0, SEEK_END);

	for (size_t i = 0; i < r->punch.n; i++)
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)r->punch.range[i].offset, (off_t)r->punch.range[i].len) < 0)
			return -1;
	if (size >= 0 && (uint64_t)size < r->stage_end && ftruncate(fd, (off_t)r->stage_end) < 0)
		return -1;
	return size < 0 ? -1 : fsync(fd);
}

static bool copied(const struct copy_list *l, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->range[i].addr < end && start < l->range[i].addr + l->range[i].len)
			return true;
	return false;
}

/* An unreadable range an earlier pass recorded stays recorded unless the
 * final delta read it again (it then holds what the stop read, and a
 * range that failed again is recorded anew). */
static void drop_recopied_unreadable(struct manifest *m, const struct copy_list *l)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n_headers; i++) {
		struct manifest_header *hd = &m->headers[i];
		unsigned long long s, e;

		if (!strcmp(hd->key, "unreadable") && sscanf(hd->value, "%llx-%llx", &s, &e) == 2 &&
		    copied(l, s, e)) {
			free(hd->key);
			free(hd->value);
			continue;
		}
		m->headers[kept++] = *hd;
	}
	m->n_headers = kept;
}

static int add_freeze_headers(struct manifest *out, const struct finalmaps_result *r,
			      const struct copy_result *cr, const struct ptrace_stop *ps,
			      const struct timing *tm, size_t threads)
{
	manifest_header_remove(out, "freeze");
	drop_recopied_unreadable(out, &r->copy);
	if (manifest_header_set(out, "stage-end", "0x%" PRIx64, r->stage_end) < 0)
		return -1;
	for (size_t i = 0; i < cr->unreadable.n; i++)
		if (manifest_header_add(out, "unreadable", "%" PRIx64 "-%" PRIx64,
					cr->unreadable.run[i].start, cr->unreadable.run[i].end) < 0)
			return -1;
	return manifest_header_add(out, "freeze",
				   "pause-us=%" PRId64 " seize-us=%" PRId64 " regs-us=%" PRId64
				   " maps-us=%" PRId64 " delta-us=%" PRId64 " delta-pages=%" PRIu64
				   " delta-bytes=%" PRIu64 " threads=%zu",
				   us_between(&ps->first_seize, &ps->last_detach),
				   us_between(&ps->first_seize, &tm->seized),
				   us_between(&tm->seized, &tm->regs), us_between(&tm->regs, &tm->maps),
				   us_between(&tm->maps, &tm->delta), cr->pages, cr->bytes, threads);
}

int main(int argc, char **argv)
{
	static const cap_value_t needed[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_DAC_OVERRIDE };
	static const cap_value_t attached[] = { CAP_SYS_PTRACE };
	struct options o = { 0 };
	struct manifest in, out;
	struct target t;
	struct handles h = { -1, -1, -1, -1, -1, -1, -1, -1 };
	struct outfile notes_out = { .fd = -1 };
	struct pagemap pm;
	struct tracker tracker = { .mode = TRACK_NONE };
	bool copy_all = true, stopped = false;
	struct ptrace_stop ps;
	struct finalmaps_result plan;
	struct copy_result cr;
	struct capture cap;
	struct timing tm = { 0 };
	sigset_t cancel, blocked, old_mask;
	char err[512], state;
	char *maps = NULL;
	const char *v, *why, *tracking;
	int status, saved;

	log_init(argv[0]);
	if (caps_init(needed, 3) < 0) {
		log_errno("cannot set up capabilities");
		return EXIT_FAILURE_IO;
	}
	if ((status = parse_options(argc, argv, &o)) != EXIT_OK)
		return status;

	/* The manifest first: a pipeline that already failed never stops the
	 * target. */
	manifest_init(&in);
	manifest_init(&out);
	if (manifest_read(stdin, "standard input", &in, err, sizeof err) < 0) {
		log_error("%s", err);
		return errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
	}
	if (in.pid != o.pid) {
		log_error("the manifest is for process %d, not %d", (int)in.pid, (int)o.pid);
		return EXIT_BAD_INPUT;
	}
	if (in.page_size != (unsigned)sysconf(_SC_PAGESIZE)) {
		log_error("the manifest's page size %u is not this system's", in.page_size);
		return EXIT_BAD_INPUT;
	}
	v = manifest_header_get(&in, "stop-copy");
	if (v && !strcmp(v, "dirty")) {
		copy_all = false;
	} else if (v && strcmp(v, "all")) {
		log_error("standard input: unknown stop-copy \"%s\" (want all or dirty)", v);
		return EXIT_BAD_INPUT;
	}
	if (target_open(o.pid, &t) < 0) {
		if (errno == ESRCH)
			log_error("no process %d", (int)o.pid);
		else
			log_errno("cannot open /proc/%d", (int)o.pid);
		return errno == ESRCH ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
	}
	if (t.stat.starttime != in.starttime) {
		log_error("process %d is not the one the manifest describes (starttime %" PRIu64
			  ", manifest %" PRIu64 "): the pid was reused", (int)o.pid, t.stat.starttime,
			  in.starttime);
		return EXIT_NO_TARGET;
	}
	if ((why = target_not_dumpable(&t))) {
		/* a main thread that called pthread_exit is a zombie too: its
		 * /proc/PID/maps and mem are empty, so there is nothing to read */
		log_error("process %d %s", (int)o.pid, why);
		return EXIT_NO_TARGET;
	}
	if (caps_check_own_target(t.status.uid) < 0) {
		log_error("process %d belongs to uid %u: with file capabilities lc-freeze stops only "
			  "the caller's own processes", (int)o.pid, (unsigned)t.status.uid[0]);
		return EXIT_DENIED;
	}

	/* Privileged opens. */
	tracking = manifest_header_get(&in, "tracking");
	if (caps_raise() < 0 ||
	    open_handles(&t, &in, o.stage, !copy_all && tracking && !strcmp(tracking, "soft-dirty"),
			 &h) < 0) {
		saved = errno;
		caps_lower();
		errno = saved;
		if (h.stage < 0 && h.task >= 0) {
			log_errno("cannot open the staging file %s", o.stage);
			return errno == ESRCH || errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
		}
		log_errno("cannot open the memory of process %d", (int)o.pid);
		return exit_for_errno(errno);
	}
	/* ptrace stays: attaching needs it for another uid's process, and so
	 * does every later request on it until the detach. */
	if (caps_keep_only(attached, 1) < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	if (getenv("LIVECORE_DEBUG_PRIVILEGES")) {
		char desc[512];

		if (caps_describe_self(desc, sizeof desc) == 0)
			log_error("privileges after setup: %s", desc);
	}
	if (pagemap_open(&pm, h.pagemap, in.page_size) < 0) {
		log_errno("cannot read /proc/%d/pagemap", (int)o.pid);
		return EXIT_FAILURE_IO;
	}
	if (!copy_all) {
		const char *mode = tracking;
		enum track_mode tm_mode = mode && !strcmp(mode, "soft-dirty") ? TRACK_SOFT_DIRTY
					  : mode && !strcmp(mode, "uffd") ? TRACK_UFFD : TRACK_NONE;

		if (tm_mode == TRACK_NONE) {
			log_error("standard input: stop-copy dirty needs a tracking header of "
				  "soft-dirty or uffd (it is \"%s\")", mode ? mode : "absent");
			return EXIT_BAD_INPUT;
		}
		if (track_open(&tracker, tm_mode, h.clear_refs, &pm) < 0) {
			log_errno("cannot use the %s tracker", mode);
			return EXIT_FAILURE_IO;
		}
	}
	if (outfile_create(&notes_out, o.notes, true) < 0) {
		log_errno("cannot create %s", o.notes);
		return EXIT_FAILURE_IO;
	}
	outfile_cleanup_on_signals(&notes_out);

	/* The state as it was before we stopped it: inside the stop every
	 * thread shows 't'. */
	if (target_verify(&t, in.starttime) < 0) {
		log_error("process %d exited", (int)o.pid);
		outfile_abort(&notes_out);
		return EXIT_NO_TARGET;
	}
	state = t.stat.state;

	/* SIGINT and SIGTERM are blocked while the target is stopped and
	 * looked at between steps: the target is always resumed first. */
	sigemptyset(&cancel);
	sigaddset(&cancel, SIGINT);
	sigaddset(&cancel, SIGTERM);
	blocked = cancel;
	sigaddset(&blocked, SIGCHLD);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGPIPE);
	sigprocmask(SIG_BLOCK, &blocked, &old_mask);

	ptrace_stop_init(&ps, o.pid, h.task);
	if ((v = getenv("LIVECORE_TEST_SEIZE_GAP_MS")))
		ps.test_seize_gap_ms = (unsigned)strtoul(v, NULL, 10);
	finalmaps_result_init(&plan);
	copy_result_init(&cr);
	capture_init(&cap);
	status = EXIT_FAILURE_IO;

	if (ptrace_stop_all(&ps, STOP_TIMEOUT_MS, &cancel) < 0) {
		saved = errno;
		if (saved == EBUSY)
			log_error("process %d is already traced by process %d: nothing was stopped",
				  (int)o.pid, (int)ps.other_tracer);
		else if (saved == ESRCH)
			log_error("process %d exited while lc-freeze stopped it", (int)o.pid);
		else if (saved == ETIMEDOUT)
			log_error("process %d: threads did not stop within %u ms (uninterruptible "
				  "sleep?); the target was resumed", (int)o.pid, STOP_TIMEOUT_MS);
		else if (saved == EINTR)
			log_error("interrupted; the target was resumed");
		else
			log_errno("cannot stop process %d", (int)o.pid);
		status = exit_for_errno(saved);
		goto out;
	}
	stopped = true;
	clock_gettime(CLOCK_MONOTONIC, &tm.seized);
	if (test_delay(&cancel) < 0 || ptrace_stop_signal_pending(&cancel)) {
		status = EXIT_INTERRUPTED;
		goto resume;
	}
	if (ptrace_stop_read_registers(&ps) < 0) {
		saved = errno;
		if (saved == ESRCH)
			log_error("process %d exited while lc-freeze stopped it", (int)o.pid);
		else
			log_errno("cannot read the registers of process %d", (int)o.pid);
		status = exit_for_errno(saved);
		goto resume;
	}
	clock_gettime(CLOCK_MONOTONIC, &tm.regs);

	{
		struct finalmaps_ctx ctx = {
			.filter = in.coredump_filter,
			.filter_all = (v = manifest_header_get(&in, "filter-source")) && !strcmp(v, "all"),
			.page_size = in.page_size,
			.mem_fd = h.mem,
			.pm = &pm,
			.tracker = copy_all ? NULL : &tracker,
			.copy_all = copy_all,
		};
		struct capture_fds fds = { t.proc_dirfd, h.task, h.auxv, h.cmdline };

		char *scratch;

		if (!(maps = read_maps(h.maps)) || !*maps) {
			log_error("process %d exited while lc-freeze stopped it", (int)o.pid);
			status = EXIT_NO_TARGET;
			goto resume;
		}
		/* finalmaps_build cuts its copy into lines */
		if (!(scratch = strdup(maps))) {
			log_errno("cannot plan the final delta");
			goto resume;
		}
		if (finalmaps_build(&in, scratch, &ctx, &out, &plan, err, sizeof err) < 0) {
			free(scratch);
			log_error("process %d: %s", (int)o.pid, err);
			goto resume;
		}
		free(scratch);
		if (capture_fill(&cap, &fds, &ps, state, maps) < 0) {
			log_errno("cannot read the state of process %d", (int)o.pid);
			status = exit_for_errno(errno);
			goto resume;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &tm.maps);
	if (ptrace_stop_signal_pending(&cancel)) {
		status = EXIT_INTERRUPTED;
		goto resume;
	}

	if (o.budget_ms >= 0) {
		uint64_t bytes = copy_list_bytes(&plan.copy), rate = copy_rate(&in);
		int64_t so_far_us = us_since(&ps.first_seize);
		uint64_t estimate_us = bytes * 1000u / rate;

		if ((uint64_t)so_far_us + estimate_us > (uint64_t)o.budget_ms * 1000u) {
			ptrace_stop_detach_all(&ps);
			stopped = false;
			log_error("the final delta is %" PRIu64 " bytes: about %" PRIu64 " ms at %" PRIu64
				  " bytes/ms, past the %ld ms budget (%" PRId64 " us spent); the target "
				  "was resumed after %" PRId64 " us", bytes, estimate_us / 1000, rate,
				  o.budget_ms, so_far_us, us_between(&ps.first_seize, &ps.last_detach));
			status = EXIT_BUDGET;
			goto out;
		}
	}
	{
		struct copy_source src = { .method = COPY_PROC_MEM, .pid = o.pid, .mem_fd = h.mem };
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		struct copy_options opt = {
			.workers = cpus < 1 ? 1 : cpus > (long)MAX_WORKERS ? MAX_WORKERS : (unsigned)cpus,
			.page_size = in.page_size,
		};

		if (copy_run(&src, h.stage, &plan.copy, &opt, &cr) < 0) {
			saved = errno;
			errno = saved;
			log_errno("cannot copy the final delta of process %d into %s", (int)o.pid, o.stage);
			status = exit_for_errno(saved);
			goto resume;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &tm.delta);
	status = EXIT_OK;

resume:
	if (stopped && ptrace_stop_detach_all(&ps) > 0) {
		log_error("could not detach every thread of process %d; they are released when "
			  "lc-freeze exits", (int)o.pid);
		status = EXIT_FAILURE_IO;
	}
	stopped = false;
	if (status == EXIT_OK && ptrace_stop_signal_pending(&cancel))
		status = EXIT_INTERRUPTED;
	if (status == EXIT_INTERRUPTED)
		log_error("interrupted; the target was resumed");
	if (caps_drop_all() < 0 || caps_verify_none() < 0) {
		log_errno("cannot drop capabilities");
		status = EXIT_FAILURE_IO;
	}
	if (status != EXIT_OK)
		goto out;
	/* the target runs again: SIGINT and SIGTERM may end us now (the
	 * notes file's temporary name is removed on the way out) */
	sigprocmask(SIG_SETMASK, &old_mask, NULL);

	log_info("pause %" PRId64 " us (seize %" PRId64 ", registers %" PRId64 ", maps %" PRId64
		 ", delta %" PRId64 ": %" PRIu64 " pages, %" PRIu64 " bytes), %zu threads%s",
		 us_between(&ps.first_seize, &ps.last_detach), us_between(&ps.first_seize, &tm.seized),
		 us_between(&tm.seized, &tm.regs), us_between(&tm.regs, &tm.maps),
		 us_between(&tm.maps, &tm.delta), cr.pages, cr.bytes, cap.n_threads,
		 copy_all ? ", no tracker: every staged page copied" : "");
	if (ps.n_dropped)
		log_info("%zu threads exited or were zombies during the stop and are left out",
			 ps.n_dropped);
	{
		size_t passed = 0;

		for (size_t i = 0; i < ps.n; i++)
			passed += ps.threads[i].pending_signal != 0;
		if (passed)
			log_info("%zu threads were stopped delivering a signal; it was passed back to them",
				 passed);
	}
	status = EXIT_FAILURE_IO;
	if (finish_stage(h.stage, &plan) < 0) {
		log_errno("cannot finish the staging file %s", o.stage);
		goto out;
	}
	if (write_notes(&notes_out, &cap) < 0) {
		log_errno("cannot write the notes to %s", o.notes);
		goto out;
	}
	if (add_freeze_headers(&out, &plan, &cr, &ps, &tm, cap.n_threads) < 0 ||
	    manifest_write(stdout, &out) < 0 || fflush(stdout) == EOF) {
		log_errno("cannot write the manifest to standard output");
		goto out;
	}
	status = EXIT_OK;
out:
	if (stopped)
		ptrace_stop_detach_all(&ps);
	if (status != EXIT_OK)
		outfile_abort(&notes_out);
	free(maps);
	capture_free(&cap);
	copy_result_free(&cr);
	finalmaps_result_free(&plan);
	ptrace_stop_free(&ps);
	if (!copy_all)
		track_close(&tracker);
	manifest_free(&in);
	manifest_free(&out);
	return status;
}
