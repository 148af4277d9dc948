/* lc-maps - discovery: prints the manifest of a process (lc-manifest(5)):
 * its identity, the coredump_filter in force, and one record per VMA saying
 * whether a core holds it and why not. See lc-maps(1). */
#include "caps.h"
#include "cli.h"
#include "dumprule.h"
#include "exitcode.h"
#include "log.h"
#include "manifest.h"
#include "outfile.h"
#include "procfs.h"
#include "target.h"
#include "xio.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LC_VERSION "0.1"
/* reads of a changing map before the newest records win (see place_record) */
#define MAPS_READ_ATTEMPTS 8

static void usage(FILE *out)
{
	fprintf(out,
		"usage: lc-maps [-f FILTER] [-o FILE] PID\n"
		"  -f FILTER  coredump_filter to apply instead of the target's:\n"
		"             hex bits (0x33) or \"all\" (every readable mapping)\n"
		"  -o FILE    write the manifest to FILE (0600, atomically) instead of stdout\n"
		"  -h         this help\n");
}

struct options {
	pid_t pid;
	bool filter_given, filter_all;
	unsigned long filter;
	const char *output;
};

static int parse_filter(const char *arg, struct options *o)
{
	char *end;
	unsigned long v;

	o->filter_given = true;
	if (!strcmp(arg, "all")) {
		o->filter_all = true;
		o->filter = DUMPRULE_FILTER_MASK;
		return 0;
	}
	errno = 0;
	v = strtoul(arg, &end, 16);
	if (errno || end == arg || *end || v > DUMPRULE_FILTER_MASK || arg[0] == '-')
		return -1;
	o->filter = v;
	return 0;
}

/* The files lc-maps reads, opened while privileged. */
struct sources {
	int smaps, maps, filter, mem, root;
	char exe[PATH_MAX];
};

static int open_sources(struct target *t, struct sources *s)
{
	ssize_t n;

	s->smaps = xio_openat(t->proc_dirfd, "smaps", O_RDONLY, 1);
	s->maps = xio_openat(t->proc_dirfd, "maps", O_RDONLY, 1);
	s->filter = xio_openat(t->proc_dirfd, "coredump_filter", O_RDONLY, 1);
	if (s->smaps < 0 || s->maps < 0 || s->filter < 0)
		return -1;
	/* mem and root only serve the ELF-header rule (first 4 bytes of a
	 * mapped file, its exec bit); without them that rule sees no header. */
	s->mem = xio_openat(t->proc_dirfd, "mem", O_RDONLY, 1);
	s->root = xio_openat(t->proc_dirfd, "root", O_PATH | O_DIRECTORY, 0);
	n = readlinkat(t->proc_dirfd, "exe", s->exe, sizeof s->exe - 1);
	s->exe[n > 0 ? n : 0] = '\0';
	return 0;
}

static bool elf_header_at(const struct sources *s, const struct procfs_map *m)
{
	unsigned char magic[4];
	char path[PATH_MAX];
	struct stat st;

	if (s->root >= 0 && m->path[0] == '/' &&
	    procfs_unescape_path(m->path, path, sizeof path) == 0 &&
	    fstatat(s->root, path + 1, &st, 0) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_ino == m->inode && (st.st_mode & 0111))
		return true;
	return s->mem >= 0 && xio_pread_full(s->mem, magic, 4, (off_t)m->start) == 4 &&
	       !memcmp(magic, "\177ELF", 4);
}

/* "rd wr mr" -> "rd,wr,mr" (one manifest field) */
static void vmflags_field(const char *text, char *out, size_t len)
{
	size_t n = 0;

	for (const char *p = text; *p && n + 1 < len; p++)
		out[n++] = *p == ' ' ? ',' : *p;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "-");
}

static int add_record(struct manifest *m, const struct procfs_map *map, const char *vmflags,
		      struct dumprule_decision d)
{
	struct manifest_vma v = { 0 };

	v.start = map->start;
	v.end = map->end;
	memcpy(v.perms, map->perms, sizeof v.perms);
	v.offset = map->offset;
	v.dev_major = map->dev_major;
	v.dev_minor = map->dev_minor;
	v.inode = map->inode;
	snprintf(v.decision, sizeof v.decision, "%s", d.decision);
	v.dump_size = d.dump_size;
	v.vmflags = (char *)vmflags;
	v.path = (char *)map->path;
	return manifest_add_vma(m, &v) ? 0 : -1;
}

/* smaps is read in pieces (seq_file): a process that maps, unmaps or
 * merges meanwhile can make a later piece start inside a VMA already
 * printed. Such a record means "read again"; with `resolve` (the last try)
 * the newer record wins and the stale ones it overlaps are dropped. */
static int place_record(struct manifest *m, const struct procfs_map *map, bool resolve)
{
	while (m->n_vmas && m->vmas[m->n_vmas - 1].end > map->start) {
		if (!resolve) {
			errno = EAGAIN;
			return -1;
		}
		manifest_vma_free(&m->vmas[--m->n_vmas]);
	}
	return 0;
}

/* Walks smaps (VmFlags, anonymous pages) and maps together: a VMA in maps
 * but not in smaps (the gate VMA, [vsyscall], on some kernels) is added
 * above the last smaps record. */
static int build_records(struct manifest *m, char *smaps, char *maps, const struct sources *s,
			 const struct options *o, unsigned long filter, unsigned page_size,
			 bool resolve)
{
	char *cursor = smaps, *mline = maps;
	struct procfs_smaps_vma sv;
	int rc;

	while ((rc = procfs_smaps_next(&cursor, &sv)) == 1) {
		struct dumprule_vma in = {
			.map = &sv.map,
			.vmflags = sv.vmflags,
			.has_private_pages = sv.anonymous_kb > 0 || sv.swap_kb > 0,
		};
		char flags[200];

		if (dumprule_wants_elf_check(&in, filter))
			in.elf_header = elf_header_at(s, &sv.map);
		vmflags_field(sv.vmflags_text, flags, sizeof flags);
		if (place_record(m, &sv.map, resolve) < 0 ||
		    add_record(m, &sv.map, flags,
			       dumprule_decide(&in, filter, o->filter_all, page_size)) < 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	/* maps lines above the last smaps record */
	while (mline && *mline) {
		char *nl = strchr(mline, '\n');
		struct procfs_map map;

		if (nl)
			*nl = '\0';
		if (procfs_parse_maps_line(mline, &map) < 0)
			return -1;
		if (map.start >= (m->n_vmas ? m->vmas[m->n_vmas - 1].end : 0)) {
			struct dumprule_vma in = { .map = &map };

			if (add_record(m, &map, "-",
				       dumprule_decide(&in, filter, o->filter_all, page_size)) < 0)
				return -1;
		}
		mline = nl ? nl + 1 : NULL;
	}
	return 0;
}

/* comm can hold any byte but NUL: keep the header one printable line */
static void escape_comm(const char *comm, char *out, size_t len)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)comm; *p && n + 5 < len; p++) {
		if (*p < 0x20 || *p >= 0x7f || *p == '\\')
			n += (size_t)snprintf(out + n, len - n, "\\%03o", *p);
		else
			out[n++] = (char)*p;
	}
	out[n] = '\0';
}

int main(int argc, char **argv)
{
	int opened;
	static const cap_value_t needed[] = { CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH };
	struct options o = { 0 };
	struct target t;
	struct sources src = { -1, -1, -1, -1, -1, "" };
	struct manifest m;
	struct outfile out = { .fd = -1 };
	char *smaps = NULL, *maps = NULL, *filter_text = NULL;
	unsigned long filter;
	unsigned page_size = (unsigned)sysconf(_SC_PAGESIZE);
	char comm[80];
	const char *why;
	FILE *fp = stdout;
	int c, status = EXIT_FAILURE_IO;

	log_init(argv[0]);
	if (caps_init(needed, 2) < 0) {
		log_errno("cannot set up capabilities");
		return EXIT_FAILURE_IO;
	}
	opterr = 0; /* getopt would name the program by its full path */
	while ((c = getopt(argc, argv, ":f:o:h")) != -1) {
		switch (c) {
		case 'f':
			if (parse_filter(optarg, &o) < 0) {
				log_error("bad filter \"%s\" (want hex bits up to 0x1ff, or \"all\")", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'o':
			o.output = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case ':':
			log_error("option -%c needs an argument", optopt);
			usage(stderr);
			return EXIT_USAGE;
		default:
			log_error("unknown option -%c", optopt);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (target_parse_pid(argv[optind], &o.pid) < 0) {
		log_error("bad pid \"%s\" (want a decimal process id)", argv[optind]);
		return EXIT_USAGE;
	}
	if ((opened = cli_open_target(o.pid, &t)) != EXIT_OK)
		return opened;
	if ((why = target_not_dumpable(&t))) {
		log_error("process %d %s", (int)o.pid, why);
		return EXIT_NO_TARGET;
	}
	if (caps_check_own_target(t.status.uid) < 0) {
		log_error("process %d belongs to uid %u: with file capabilities lc-maps dumps only "
			  "the caller's own processes", (int)o.pid, (unsigned)t.status.uid[0]);
		return EXIT_DENIED;
	}

	/* Privileged opens, then nothing: the reads need no capability. */
	if (caps_raise() < 0 || open_sources(&t, &src) < 0) {
		int saved = errno;

		caps_lower();
		errno = saved;
		log_errno("cannot open the maps of process %d", (int)o.pid);
		return errno == EACCES || errno == EPERM ? EXIT_DENIED
		       : errno == ESRCH || errno == ENOENT ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
	}
	if (caps_drop_all() < 0 || caps_verify_none() < 0) {
		log_errno("cannot drop capabilities");
		return EXIT_FAILURE_IO;
	}
	cli_report_privileges("after setup");
	if (o.output) {
		if (outfile_create(&out, o.output, true) < 0) {
			log_errno("cannot create %s", o.output);
			return EXIT_FAILURE_IO;
		}
		outfile_cleanup_on_signals(&out);
		fp = fdopen(dup(out.fd), "w");
		if (!fp) {
			log_errno("cannot write %s", o.output);
			goto out;
		}
	}

	filter_text = xio_read_fd_all(src.filter, NULL);
	smaps = xio_read_fd_all(src.smaps, NULL);
	maps = xio_read_fd_all(src.maps, NULL);
	if (!smaps || !maps || !filter_text) {
		log_errno("cannot read the maps of process %d", (int)o.pid);
		status = errno == ESRCH ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
		goto out;
	}
	if (procfs_parse_coredump_filter(filter_text, &filter) < 0) {
		log_error("/proc/%d/coredump_filter: cannot parse \"%.20s\"", (int)o.pid, filter_text);
		goto out;
	}
	/* the target may have exited or become a zombie since we opened it */
	if (target_verify(&t, t.stat.starttime) < 0 || target_not_dumpable(&t) ||
	    (!*smaps && !*maps)) {
		log_error("process %d exited while lc-maps read it", (int)o.pid);
		status = EXIT_NO_TARGET;
		goto out;
	}

	manifest_init(&m);
	escape_comm(t.stat.comm, comm, sizeof comm);
	if (manifest_header_set(&m, "pid", "%d", (int)o.pid) < 0 ||
	    manifest_header_set(&m, "starttime", "%" PRIu64, t.stat.starttime) < 0 ||
	    manifest_header_set(&m, "page-size", "%u", page_size) < 0 ||
	    manifest_header_set(&m, "coredump-filter", "0x%lx", o.filter_given ? o.filter : filter) < 0 ||
	    manifest_header_set(&m, "filter-source", "%s",
				o.filter_all ? "all" : o.filter_given ? "option" : "target") < 0 ||
	    manifest_header_set(&m, "comm", "%s", comm) < 0 ||
	    manifest_header_set(&m, "exe", "%s", src.exe) < 0 ||
	    manifest_header_set(&m, "lc-maps", "%s", LC_VERSION) < 0) {
		log_errno("cannot build the manifest");
		goto out_manifest;
	}
	for (int attempt = 1;; attempt++) {
		bool last = attempt == MAPS_READ_ATTEMPTS;

		if (build_records(&m, smaps, maps, &src, &o, o.filter_given ? o.filter : filter,
				  page_size, last) == 0)
			break;
		if (errno != EAGAIN) {
			log_error("/proc/%d/smaps: cannot parse it (%s)", (int)o.pid, strerror(errno));
			goto out_manifest;
		}
		/* the map changed under the read: read both files again */
		while (m.n_vmas)
			manifest_vma_free(&m.vmas[--m.n_vmas]);
		free(smaps);
		free(maps);
		maps = NULL;
		smaps = lseek(src.smaps, 0, SEEK_SET) == 0 ? xio_read_fd_all(src.smaps, NULL) : NULL;
		maps = lseek(src.maps, 0, SEEK_SET) == 0 ? xio_read_fd_all(src.maps, NULL) : NULL;
		if (!smaps || !maps) {
			log_errno("cannot read the maps of process %d again", (int)o.pid);
			status = errno == ESRCH ? EXIT_NO_TARGET : EXIT_FAILURE_IO;
			goto out_manifest;
		}
	}
	if (manifest_write(fp, &m) < 0 || (fp != stdout && fclose(fp) == EOF)) {
		fp = stdout;
		log_errno("cannot write the manifest to %s", o.output ? o.output : "standard output");
		goto out_manifest;
	}
	fp = stdout;
	if (o.output && outfile_commit(&out) < 0) {
		log_errno("cannot rename the manifest to %s", o.output);
		goto out_manifest;
	}
	status = EXIT_OK;
out_manifest:
	manifest_free(&m);
out:
	if (fp != stdout)
		fclose(fp);
	if (o.output && status != EXIT_OK)
		outfile_abort(&out);
	free(smaps);
	free(maps);
	free(filter_text);
	return status;
}
