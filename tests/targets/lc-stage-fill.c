/* lc-stage-fill - test helper for lc-elfwrite: a stand-in for lc-precopy and
 * lc-freeze on a process that is already stopped. Reads an lc-maps manifest
 * on stdin, copies every dumped VMA's bytes from /proc/PID/mem into a new
 * staging file (lc-stage(5): header page, then page data; all-zero pages
 * stay holes, as unpopulated pages do), and prints the manifest with the
 * EXTENTS field filled in and a stage-end header. (The "# freeze" header
 * is the test's to add: lc-elfwrite refuses a manifest without it.)
 *
 *   lc-stage-fill [-x] [-g] [-r] PID STAGE < manifest > manifest
 *
 *   -x  scatter: stage each VMA of two or more dumped pages as two extents,
 *       its second half before its first half (a VMA that grew during
 *       pre-copy), so that lc-elfwrite must move it together in place
 *   -g  gap: stage each such VMA whole but leave its first page out of its
 *       extents (a page no copy covered, over a stale staged copy: the
 *       core must read zeros there, and in place the VMA stays put)
 *   -r  reverse: stage the VMAs in descending address order */
#include "stage.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_VMAS 100000

struct rec {
	char *line;                 /* the record, fields split at the 9th and 10th space */
	uint64_t start, end, dump;
	bool dumped;
	char extents[256];
};

static void die(const char *what)
{
	fprintf(stderr, "lc-stage-fill: %s%s%s\n", what, errno ? ": " : "",
		errno ? strerror(errno) : "");
	exit(1);
}

static uint64_t header_value(char **lines, size_t n, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < n; i++)
		if (!strncmp(lines[i], "# ", 2) && !strncmp(lines[i] + 2, key, klen) &&
		    lines[i][2 + klen] == ' ')
			return strtoull(lines[i] + 3 + klen, NULL, 10);
	errno = 0;
	die("manifest header missing");
	return 0;
}

static int stage_fd, mem_fd;
static unsigned page;
static uint64_t stage_end;

/* Copies [a, b) to stage_end; returns its offset. Zero pages stay holes. */
static uint64_t copy_range(uint64_t a, uint64_t b)
{
	unsigned char *buf = malloc(page), *zero = calloc(1, page);
	uint64_t at = stage_end;

	if (!buf || !zero)
		die("out of memory");
	for (uint64_t addr = a; addr < b; addr += page) {
		ssize_t n = pread(mem_fd, buf, page, (off_t)addr);

		if (n != (ssize_t)page) {
			/* unreadable (guard page, vvar): zeros */
			memset(buf, 0, page);
		}
		if (memcmp(buf, zero, page) &&
		    pwrite(stage_fd, buf, page, (off_t)(at + (addr - a))) != (ssize_t)page)
			die("cannot write the staging file");
	}
	free(buf);
	free(zero);
	stage_end += b - a;
	return at;
}

int main(int argc, char **argv)
{
	bool scatter = false, gap = false, reverse = false;
	static char text[64 << 20];
	static char *lines[MAX_VMAS + 64];
	static struct rec recs[MAX_VMAS];
	size_t n_lines = 0, n_recs = 0, len;
	struct stage_header h;
	char path[64], *hdr;
	int c;

	while ((c = getopt(argc, argv, "xgr")) != -1) {
		if (c == 'x')
			scatter = true;
		else if (c == 'g')
			gap = true;
		else if (c == 'r')
			reverse = true;
		else
			return 2;
	}
	if (optind != argc - 2) {
		fprintf(stderr, "usage: lc-stage-fill [-x] [-g] [-r] PID STAGE < manifest\n");
		return 2;
	}
	len = fread(text, 1, sizeof text - 1, stdin);
	text[len] = '\0';
	for (char *p = text, *nl; *p && n_lines < MAX_VMAS + 64; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		lines[n_lines++] = p;
	}
	page = (unsigned)header_value(lines, n_lines, "page-size");
	snprintf(path, sizeof path, "/proc/%s/mem", argv[optind]);
	mem_fd = open(path, O_RDONLY);
	if (mem_fd < 0)
		die("cannot open /proc/PID/mem");
	stage_fd = open(argv[optind + 1], O_RDWR | O_CREAT | O_EXCL, 0600);
	if (stage_fd < 0)
		die("cannot create the staging file");
	hdr = calloc(1, page);
	memset(&h, 0, sizeof h);
	memcpy(h.magic, STAGE_MAGIC, 8);
	h.version = STAGE_VERSION;
	h.header_size = page;
	h.page_size = page;
	h.pid = header_value(lines, n_lines, "pid");
	h.starttime = header_value(lines, n_lines, "starttime");
	memcpy(hdr, &h, sizeof h);
	if (pwrite(stage_fd, hdr, page, 0) != (ssize_t)page)
		die("cannot write the staging header");
	stage_end = page;

	for (size_t i = 0; i < n_lines; i++) {
		struct rec *r;
		char decision[64];

		if (!strchr("0123456789abcdef", lines[i][0]) || !strncmp(lines[i], "end ", 4))
			continue;
		r = &recs[n_recs++];
		r->line = lines[i];
		if (sscanf(lines[i], "%" SCNx64 "-%" SCNx64 " %*s %*s %*s %*s %63s %" SCNu64, &r->start,
			   &r->end, decision, &r->dump) != 4)
			die("bad record");
		r->dumped = !strcmp(decision, "dump");
		strcpy(r->extents, "-");
	}
	for (size_t k = 0; k < n_recs; k++) {
		struct rec *r = &recs[reverse ? n_recs - 1 - k : k];
		uint64_t a = r->start, b = r->start + r->dump;

		if (!r->dumped)
			continue;
		if (gap && b - a >= 2 * page) {
			/* staged whole, but the first page listed in no extent:
			 * a stale copy the core must not show */
			uint64_t at = copy_range(a, b);

			snprintf(r->extents, sizeof r->extents, "%" PRIx64 "-%" PRIx64 "@%" PRIx64,
				 a + page, b, at + page);
		} else if (scatter && b - a >= 2 * page) {
			uint64_t mid = a + ((b - a) / page / 2) * page;
			uint64_t hi = copy_range(mid, b), lo = copy_range(a, mid);

			snprintf(r->extents, sizeof r->extents,
				 "%" PRIx64 "-%" PRIx64 "@%" PRIx64 ",%" PRIx64 "-%" PRIx64 "@%" PRIx64,
				 a, mid, lo, mid, b, hi);
		} else {
			snprintf(r->extents, sizeof r->extents, "%" PRIx64 "-%" PRIx64 "@%" PRIx64, a, b,
				 copy_range(a, b));
		}
	}
	if (ftruncate(stage_fd, (off_t)stage_end) < 0 || close(stage_fd) < 0)
		die("cannot size the staging file");

	/* the manifest, EXTENTS (field 9) replaced */
	for (size_t i = 0, k = 0; i < n_lines; i++) {
		char *p = lines[i], *f9, *f10;
		int spaces = 0;

		if (k == 0 && ((n_recs && recs[0].line == p) || !strncmp(p, "end ", 4)))
			printf("# stage-end 0x%" PRIx64 "\n", stage_end);
		if (k < n_recs && recs[k].line == lines[i]) {
			for (f9 = p; *f9 && spaces < 8; f9++)
				spaces += *f9 == ' ';
			f10 = strchr(f9, ' ');
			if (!f10)
				die("bad record");
			printf("%.*s%s%s\n", (int)(f9 - p), p, recs[k].extents, f10);
			k++;
			continue;
		}
		printf("%s\n", p);
	}
	return 0;
}
