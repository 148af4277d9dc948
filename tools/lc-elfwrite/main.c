/* lc-elfwrite - assembles the ELF core from the final manifest (stdin), the
 * staging file and the notes file. Layout first (layout.c), then one of two
 * sinks (sink.h): in place when OUT is on the staging file's filesystem,
 * a compact stream otherwise. Holds no capability; runs under a seccomp
 * allow-list once its files are open. See lc-elfwrite(1). */
#include "caps.h"
#include "cli.h"
#include "exitcode.h"
#include "layout.h"
#include "log.h"
#include "manifest.h"
#include "notesfile.h"
#include "outfile.h"
#include "sandbox.h"
#include "sink.h"
#include "stage.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-elfwrite -s STAGE -n NOTES [-o OUT | -o -] [-c] [-f] [-q] < MANIFEST\n"
		"  -s STAGE  the staging file (lc-stage(5)); in place it becomes OUT\n"
		"  -n NOTES  the notes file written by lc-freeze\n"
		"  -o OUT    the core to write (0600, atomically); \"-\" or none: standard output\n"
		"  -c        copy: write a compact core even on the staging file's filesystem\n"
		"            (the staging file is kept)\n"
		"  -f        replace an existing OUT\n"
		"  -q        no summary line\n"
		"  -h        this help\n");
}

struct options {
	const char *stage, *notes, *out;
	bool copy, force, quiet;
};

/* In place needs the rename to work: the same mount, not only the same
 * device (a bind mount gives EXDEV). */
static bool same_mount(int stage_fd, const char *out)
{
	char *copy = strdup(out);
	struct statx a, b;
	bool same = false;

	if (!copy)
		return false;
	if (statx(stage_fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &a) == 0 &&
	    statx(AT_FDCWD, dirname(copy), 0, STATX_MNT_ID, &b) == 0) {
		if ((a.stx_mask & STATX_MNT_ID) && (b.stx_mask & STATX_MNT_ID))
			same = a.stx_mnt_id == b.stx_mnt_id;
		else
			same = a.stx_dev_major == b.stx_dev_major && a.stx_dev_minor == b.stx_dev_minor;
	}
	free(copy);
	return same;
}

/* Can files be created in OUT's directory? Asked before the work, so that
 * an unwritable directory fails at once rather than at the rename. */
static int check_out_directory(const char *out)
{
	char *copy = strdup(out);
	int rc;

	if (!copy)
		return -1;
	rc = faccessat(AT_FDCWD, dirname(copy), W_OK | X_OK, AT_EACCESS);
	free(copy);
	return rc;
}

/* In place, a signal before the ELF header is written cuts off what was
 * appended: the staging file stays valid. (The sink blocks signals from
 * the header write to the rename.) */
static struct sink_in_place *signal_in_place;

static void in_place_cleanup_and_die(int sig)
{
	struct sink_in_place *s = signal_in_place;

	if (s && !s->consumed)
		(void)ftruncate(s->stage_fd, (off_t)s->stage_size); /* async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void in_place_cleanup_on_signals(struct sink_in_place *s)
{
	struct sigaction sa;

	signal_in_place = s;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = in_place_cleanup_and_die;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

/* LIVECORE_DEBUG_SECCOMP: shows the filter at work for the tests. */
static void debug_seccomp(int status_fd)
{
	char text[4096], *line;
	ssize_t n = status_fd >= 0 ? xio_pread_full(status_fd, text, sizeof text - 1, 0) : -1;
	int fd;

	text[n > 0 ? n : 0] = '\0';
	line = strstr(text, "\nSeccomp:");
	if (line)
		log_error("seccomp: mode %d in force", atoi(line + strlen("\nSeccomp:")));
	fd = open("/", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		log_error("seccomp: open after setup was allowed");
	else
		log_errno("seccomp: open after setup refused");
}

static unsigned char *read_notes(int fd, uint64_t *size)
{
	struct stat st;
	unsigned char *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > NOTESFILE_MAX_SIZE) {
		errno = EINVAL;
		return NULL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return NULL;
	n = xio_pread_full(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	*size = (uint64_t)n;
	return buf;
}

/* The staging header names the target and page size the manifest names. */
static int check_stage(int fd, const struct manifest *m, uint64_t *size, char *why, size_t len)
{
	struct stage_header h;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "not a regular file");
		return 1;
	}
	n = xio_pread_full(fd, &h, sizeof h, 0);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof h || (uint64_t)st.st_size < m->page_size) {
		snprintf(why, len, "truncated: %jd bytes, shorter than its header page",
			 (intmax_t)st.st_size);
		return 1;
	}
	if (stage_header_check(&h, m->page_size) < 0) {
		snprintf(why, len, "bad staging header (magic, version or page size %u)", m->page_size);
		return 1;
	}
	if (h.pid != (uint64_t)m->pid || h.starttime != m->starttime) {
		snprintf(why, len,
			 "staged from process %" PRIu64 " (starttime %" PRIu64 "), the manifest "
			 "names %d (starttime %" PRIu64 ")",
			 h.pid, h.starttime, (int)m->pid, m->starttime);
		return 1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct outfile out = { .fd = -1 };
	struct sink_stream stream = { .fd = -1 };
	struct sink_in_place in_place = { .stage_fd = -1 };
	struct sink_source src = { .stage_fd = -1 };
	struct notesfile notes;
	struct manifest m;
	struct layout l;
	unsigned char *notes_file = NULL;
	uint64_t notes_file_size = 0, stage_size = 0;
	char *manifest_text = NULL, why[512];
	const char *what = "";
	bool to_stdout, use_in_place, have_manifest = false, have_layout = false;
	int c, notes_fd, debug_status_fd = -1, status = EXIT_FAILURE_IO, rc;

	log_init(argv[0]);
	if (caps_init(NULL, 0) < 0 || caps_drop_all() < 0 || caps_verify_none() < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	cli_report_privileges("after setup");
	while ((c = getopt(argc, argv, "s:n:o:cfqh")) != -1) {
		switch (c) {
		case 's': o.stage = optarg; break;
		case 'n': o.notes = optarg; break;
		case 'o': o.out = optarg; break;
		case 'c': o.copy = true; break;
		case 'f': o.force = true; break;
		case 'q': o.quiet = true; break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !o.stage || !o.notes || (o.out && !*o.out)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_set_quiet(o.quiet);
	to_stdout = !o.out || !strcmp(o.out, "-");
	if (to_stdout && isatty(STDOUT_FILENO)) {
		log_error("standard output is a terminal: give -o OUT or pipe the core");
		return EXIT_USAGE;
	}
	if (!to_stdout && !o.force) {
		struct stat st;

		if (lstat(o.out, &st) == 0) {
			log_error("%s exists (use -f to replace it)", o.out);
			return EXIT_EXISTS;
		}
	}

	/* Every open happens here, before the sandbox. */
	src.stage_fd = xio_openat(AT_FDCWD, o.stage, O_RDONLY, 1);
	if (src.stage_fd < 0) {
		log_errno("cannot open the staging file %s", o.stage);
		return errno == ENOENT || errno == ELOOP ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
	}
	use_in_place = !to_stdout && !o.copy && same_mount(src.stage_fd, o.out);
	if (use_in_place) {
		close(src.stage_fd);
		src.stage_fd = xio_openat(AT_FDCWD, o.stage, O_RDWR, 1);
		if (src.stage_fd < 0) {
			log_errno("cannot open the staging file %s for writing", o.stage);
			return EXIT_FAILURE_IO;
		}
		if (check_out_directory(o.out) < 0) {
			log_errno("cannot create %s", o.out);
			return EXIT_FAILURE_IO;
		}
	}
	notes_fd = xio_openat(AT_FDCWD, o.notes, O_RDONLY, 1);
	if (notes_fd < 0) {
		log_errno("cannot open the notes file %s", o.notes);
		return errno == ENOENT || errno == ELOOP ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
	}
	if (to_stdout) {
		struct stat st;
		int fl = fcntl(STDOUT_FILENO, F_GETFL);

		stream.fd = STDOUT_FILENO;
		/* seeks make holes only in a regular file written at our offset */
		stream.seekable = fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && fl >= 0 &&
				  !(fl & O_APPEND);
		if (stream.seekable) {
			off_t at = lseek(STDOUT_FILENO, 0, SEEK_CUR);

			stream.seekable = at >= 0;
			stream.base = at >= 0 ? (uint64_t)at : 0;
		}
		signal(SIGPIPE, SIG_IGN); /* a reader that died is an EPIPE error */
	} else if (!use_in_place) {
		if (outfile_create(&out, o.out, o.force) < 0) {
			if (errno == EEXIST) {
				log_error("%s exists (use -f to replace it)", o.out);
				return EXIT_EXISTS;
			}
			log_errno("cannot create %s", o.out);
			return EXIT_FAILURE_IO;
		}
		outfile_cleanup_on_signals(&out);
		stream.fd = out.fd;
		stream.seekable = true;
	}

	/* the test hook's own descriptor: opened now, read inside the sandbox */
	if (getenv("LIVECORE_DEBUG_SECCOMP"))
		debug_status_fd = xio_openat(AT_FDCWD, "/proc/self/status", O_RDONLY, 1);
	if (sandbox_enter(!to_stdout && !use_in_place) < 0) {
		log_errno("cannot enter the seccomp sandbox");
		goto out;
	}
	if (getenv("LIVECORE_DEBUG_SECCOMP"))
		debug_seccomp(debug_status_fd);

	/* Inputs, checked as hostile. */
	manifest_text = xio_read_fd_all(STDIN_FILENO, NULL);
	if (!manifest_text) {
		log_errno("cannot read the manifest from standard input");
		goto out;
	}
	if (manifest_parse(manifest_text, "<stdin>", &m, why, sizeof why) < 0) {
		log_error("bad manifest: %s", why);
		status = errno == ENOMEM ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
		goto out;
	}
	have_manifest = true;
	if (!manifest_header_get(&m, "freeze")) {
		log_error("bad manifest: <stdin>: no \"# freeze\" header: lc-freeze did not finish, "
			  "the staged memory is not final");
		status = EXIT_BAD_INPUT;
		goto out;
	}
	rc = check_stage(src.stage_fd, &m, &stage_size, why, sizeof why);
	if (rc != 0) {
		if (rc < 0)
			log_errno("cannot read the staging file %s", o.stage);
		else
			log_error("bad staging file %s: %s", o.stage, why);
		status = rc < 0 ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
		goto out;
	}
	notes_file = read_notes(notes_fd, &notes_file_size);
	if (!notes_file) {
		if (errno == EINVAL)
			log_error("bad notes file %s: not a regular file of at most %llu bytes", o.notes,
				  NOTESFILE_MAX_SIZE);
		else
			log_errno("cannot read the notes file %s", o.notes);
		status = errno == EINVAL ? EXIT_BAD_INPUT : EXIT_FAILURE_IO;
		goto out;
	}
	if (notesfile_parse(notes_file, notes_file_size, &notes, why, sizeof why) < 0) {
		log_error("bad notes file %s: %s", o.notes, why);
		status = EXIT_BAD_INPUT;
		goto out;
	}
	src.notes = notes.segment;

	{
		struct layout_input in = {
			.manifest = &m,
			.stage_size = stage_size,
			.notes_size = notes.size,
			.in_place = use_in_place,
		};

		if (layout_build(&in, &l, why, sizeof why) < 0) {
			log_error("bad input: %s", why);
			status = errno == ENOMEM ? EXIT_FAILURE_IO : EXIT_BAD_INPUT;
			goto out;
		}
		have_layout = true;
	}

	if (use_in_place) {
		in_place.stage_fd = src.stage_fd;
		in_place.stage_path = o.stage;
		in_place.out_path = o.out;
		in_place.replace = o.force;
		in_place.stage_size = stage_size;
		if (stage_check_space(src.stage_fd, l.moved_bytes + (l.file_size - l.notes_offset)) < 0) {
			log_errno("cannot write %s in place", o.out);
			goto out;
		}
		in_place_cleanup_on_signals(&in_place);
		if (sink_in_place_write(&l, &src, &in_place, &what) < 0) {
			if (errno == EEXIST)
				log_error("%s exists (use -f to replace it); the staging file %s is "
					  "unchanged", o.out, o.stage);
			else
				log_errno("cannot %s of %s in place (the staging file %s is left as "
					  "it was)", what, o.out, o.stage);
			status = errno == EEXIST ? EXIT_EXISTS : EXIT_FAILURE_IO;
			goto out;
		}
	} else {
		if (sink_stream_write(&l, &src, &stream, &what) < 0) {
			log_errno("cannot %s of %s", what, to_stdout ? "the core (standard output)" : o.out);
			goto out;
		}
		if (!to_stdout && outfile_commit(&out) < 0) {
			if (errno == EEXIST) {
				log_error("%s exists (use -f to replace it)", o.out);
				status = EXIT_EXISTS;
			} else {
				log_errno("cannot rename the core to %s", o.out);
			}
			goto out;
		}
	}
	log_info("%s: %zu segments, %zu threads, %" PRIu64 " bytes, %s%s",
		 to_stdout ? "standard output" : o.out, l.n_phdrs, notes.n_threads, l.file_size,
		 use_in_place ? "in place" : "stream",
		 use_in_place && l.n_moved ? " (VMAs moved together)" : "");
	if (use_in_place && l.n_moved)
		log_info("%zu VMAs moved together: %" PRIu64 " bytes copied", l.n_moved, l.moved_bytes);
	status = EXIT_OK;
out:
	if (status != EXIT_OK && out.temp_path)
		outfile_abort(&out);
	if (have_layout)
		layout_free(&l);
	if (have_manifest)
		manifest_free(&m);
	free(in_place.saved_header);
	free(manifest_text);
	free(notes_file);
	return status;
}
