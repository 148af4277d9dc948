#include "procfs.h"
#include "xio.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_fail(void)
{
	errno = EINVAL;
	return -1;
}

/* Parses an unsigned number in base at *p, advancing *p. Rejects empty and
 * overflowing numbers. */
static int parse_u64(const char **p, int base, uint64_t *out)
{
	const char *s = *p;
	/* one division a number, not one a digit: /proc/PID/maps is parsed
	 * inside the stop, 50 000 lines of it for some processes */
	const uint64_t limit = UINT64_MAX / (uint64_t)base;
	uint64_t v = 0;
	int digits = 0;

	for (;; s++, digits++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (v > limit || v * (uint64_t)base > UINT64_MAX - (uint64_t)d)
			return parse_fail();
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (digits == 0)
		return parse_fail();
	*p = s;
	*out = v;
	return 0;
}

static int parse_i64(const char **p, int64_t *out)
{
	bool neg = false;
	uint64_t v;

	if (**p == '-') {
		neg = true;
		(*p)++;
	}
	if (parse_u64(p, 10, &v) < 0 || v > (uint64_t)INT64_MAX)
		return parse_fail();
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int expect_char(const char **p, char c)
{
	if (**p != c)
		return parse_fail();
	(*p)++;
	return 0;
}

int procfs_parse_stat(const char *text, struct procfs_stat *out)
{
	const char *open = strchr(text, '(');
	const char *close = strrchr(text, ')');
	const char *p = text;
	int64_t field[52];
	uint64_t pid;
	size_t comm_len;
	int i;

	memset(out, 0, sizeof *out);
	if (!open || !close || close < open)
		return parse_fail();
	if (parse_u64(&p, 10, &pid) < 0 || p + 1 != open || *p != ' ')
		return parse_fail();
	comm_len = (size_t)(close - open - 1);
	if (comm_len >= sizeof out->comm)
		comm_len = sizeof out->comm - 1;
	memcpy(out->comm, open + 1, comm_len);
	out->comm[comm_len] = '\0';

	p = close + 1;
	if (expect_char(&p, ' ') < 0 || !*p || !isalpha((unsigned char)*p))
		return parse_fail();
	out->state = *p++;
	/* fields 4.. (1-based, proc(5)); we need up to 22 (starttime) */
	for (i = 4; i <= 22; i++) {
		if (expect_char(&p, ' ') < 0 || parse_i64(&p, &field[i]) < 0)
			return parse_fail();
	}
	out->pid = (pid_t)pid;
	out->ppid = (pid_t)field[4];
	out->pgrp = (pid_t)field[5];
	out->session = (pid_t)field[6];
	out->flags = (unsigned long)field[9];
	out->utime = (uint64_t)field[14];
	out->stime = (uint64_t)field[15];
	out->cutime = (uint64_t)field[16];
	out->cstime = (uint64_t)field[17];
	out->nice = (long)field[19];
	out->num_threads = (long)field[20];
	out->starttime = (uint64_t)field[22];
	/* fields 23-31 are there on every kernel we know; their absence is
	 * no error, only no pending signals known */
	{
		uint64_t u = 0;

		/* unsigned: rsslim (25) is often ULONG_MAX */
		for (i = 23; i <= 31; i++)
			if (expect_char(&p, ' ') < 0 || parse_u64(&p, 10, &u) < 0)
				return 0;
		out->signal = u;
	}
	out->have_signal = true;
	/* field 38, exit_signal (32-37 unsigned; 38 as a decimal int) */
	{
		uint64_t u = 0;
		int64_t v = 0;

		for (i = 32; i <= 37; i++)
			if (expect_char(&p, ' ') < 0 || parse_u64(&p, 10, &u) < 0)
				return 0;
		if (expect_char(&p, ' ') < 0 || parse_i64(&p, &v) < 0)
			return 0;
		out->exit_signal = (int)v;
		out->have_exit_signal = true;
	}
	return 0;
}

static int parse_id_list(const char *p, unsigned *ids, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (parse_u64(&p, 10, &v) < 0 || v > UINT32_MAX)
			return parse_fail();
		ids[i] = (unsigned)v;
	}
	return 0;
}

int procfs_parse_status(const char *text, struct procfs_status *out)
{
	const char *line = text;
	bool have_uid = false, have_gid = false;

	memset(out, 0, sizeof *out);
	out->seccomp = -1;
	while (line && *line) {
		const char *nl = strchr(line, '\n');
		const char *v = strchr(line, ':');

		if (v && (!nl || v < nl)) {
			size_t klen = (size_t)(v - line);
			const char *p = v + 1;

			while (*p == ' ' || *p == '\t')
				p++;
			if (klen == 3 && !strncmp(line, "Uid", 3)) {
				if (parse_id_list(p, out->uid, 4) < 0)
					return -1;
				have_uid = true;
			} else if (klen == 3 && !strncmp(line, "Gid", 3)) {
				if (parse_id_list(p, out->gid, 4) < 0)
					return -1;
				have_gid = true;
			} else if (klen == 7 && !strncmp(line, "Seccomp", 7)) {
				uint64_t s;

				if (parse_u64(&p, 10, &s) < 0)
					return -1;
				out->seccomp = (int)s;
			} else if (klen == 9 && !strncmp(line, "TracerPid", 9)) {
				uint64_t t;

				if (parse_u64(&p, 10, &t) < 0)
					return -1;
				out->tracer_pid = (pid_t)t;
			} else if (klen == 5 && !strncmp(line, "NSpid", 5)) {
				/* "NSpid:\t1234\t5": the last one is innermost */
				for (;;) {
					uint64_t n;

					if (parse_u64(&p, 10, &n) < 0)
						return -1;
					out->nspid_inner = (pid_t)n;
					while (*p == ' ' || *p == '\t')
						p++;
					if (!*p || *p == '\n')
						break;
				}
			} else if (klen == 5 && !strncmp(line, "State", 5)) {
				out->is_zombie = (*p == 'Z' || *p == 'X');
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (!have_uid || !have_gid)
		return parse_fail();
	return 0;
}

int procfs_parse_maps_line(const char *line, struct procfs_map *out)
{
	const char *p = line;
	uint64_t v;

	memset(out, 0, sizeof *out);
	if (parse_u64(&p, 16, &out->start) < 0 || expect_char(&p, '-') < 0 ||
	    parse_u64(&p, 16, &out->end) < 0 || expect_char(&p, ' ') < 0)
		return -1;
	if (out->end <= out->start)
		return parse_fail();
	for (int i = 0; i < 4; i++) {
		static const char allowed[4][3] = { "r-", "w-", "x-", "ps" };

		if (!p[i] || !strchr(allowed[i], p[i]))
			return parse_fail();
		out->perms[i] = p[i];
	}
	out->perms[4] = '\0';
	p += 4;
	if (expect_char(&p, ' ') < 0 || parse_u64(&p, 16, &out->offset) < 0 ||
	    expect_char(&p, ' ') < 0 || parse_u64(&p, 16, &v) < 0 || v > 0xfffff ||
	    expect_char(&p, ':') < 0)
		return -1;
	out->dev_major = (unsigned)v;
	if (parse_u64(&p, 16, &v) < 0 || v > 0xfffff)
		return parse_fail();
	out->dev_minor = (unsigned)v;
	if (expect_char(&p, ' ') < 0 || parse_u64(&p, 10, &out->inode) < 0)
		return -1;
	if (*p && *p != ' ')
		return parse_fail();
	while (*p == ' ')
		p++;
	out->path = p;
	return 0;
}

unsigned procfs_parse_vmflags(const char *text)
{
	static const struct { char name[3]; unsigned bit; } known[] = {
		{ "rd", VMF_READ }, { "wr", VMF_WRITE }, { "ex", VMF_EXEC },
		{ "sh", VMF_SHARED }, { "io", VMF_IO }, { "pf", VMF_PFNMAP },
		{ "dd", VMF_DONTDUMP }, { "ht", VMF_HUGETLB }, { "uw", VMF_UFFD_WP },
		{ "sd", VMF_SOFTDIRTY }, { "mr", VMF_MAYREAD },
	};
	unsigned flags = 0;
	const char *p = text;

	while (*p) {
		size_t len;

		while (*p == ' ' || *p == ',')
			p++;
		len = strcspn(p, " ,\n");
		if (len == 2) {
			for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
				if (!strncmp(p, known[i].name, 2))
					flags |= known[i].bit;
		}
		p += len;
		if (*p == '\n')
			break;
	}
	return flags;
}

/* A maps line in smaps starts with a hex digit; field lines with a letter
 * followed by ':' ("Rss:", "VmFlags:"). Hex addresses also start with a-f,
 * so look for the '-' of the range before the first space. */
static bool smaps_is_vma_line(const char *line)
{
	size_t span = strspn(line, "0123456789abcdef");

	return span > 0 && line[span] == '-';
}

static int smaps_field_kb(const char *value, uint64_t *out)
{
	const char *p = value;

	while (*p == ' ')
		p++;
	if (parse_u64(&p, 10, out) < 0)
		return -1;
	return 0;
}

int procfs_smaps_next(char **cursor, struct procfs_smaps_vma *out)
{
	char *line = *cursor;

	memset(out, 0, sizeof *out);
	if (!line || !*line)
		return 0;
	{
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (!smaps_is_vma_line(line) || procfs_parse_maps_line(line, &out->map) < 0)
			return parse_fail();
		*cursor = nl ? nl + 1 : line + strlen(line);
	}
	while (**cursor && !smaps_is_vma_line(*cursor)) {
		char *field = *cursor;
		char *nl = strchr(field, '\n');
		char *colon;

		if (nl)
			*nl = '\0';
		*cursor = nl ? nl + 1 : field + strlen(field);
		colon = strchr(field, ':');
		if (!colon)
			return parse_fail();
		*colon = '\0';
		if (!strcmp(field, "Rss")) {
			if (smaps_field_kb(colon + 1, &out->rss_kb) < 0)
				return -1;
		} else if (!strcmp(field, "Anonymous")) {
			if (smaps_field_kb(colon + 1, &out->anonymous_kb) < 0)
				return -1;
		} else if (!strcmp(field, "Swap")) {
			if (smaps_field_kb(colon + 1, &out->swap_kb) < 0)
				return -1;
		} else if (!strcmp(field, "AnonHugePages")) {
			if (smaps_field_kb(colon + 1, &out->anon_huge_kb) < 0)
				return -1;
		} else if (!strcmp(field, "VmFlags")) {
			const char *v = colon + 1;
			size_t len;

			while (*v == ' ')
				v++;
			len = strlen(v);
			while (len && v[len - 1] == ' ')
				len--;
			if (len >= sizeof out->vmflags_text)
				return parse_fail();
			memcpy(out->vmflags_text, v, len);
			out->vmflags_text[len] = '\0';
			out->vmflags = procfs_parse_vmflags(out->vmflags_text);
			out->has_vmflags = true;
		}
		*colon = ':';
	}
	return 1;
}

int procfs_parse_coredump_filter(const char *text, unsigned long *out)
{
	const char *p = text;
	uint64_t v;

	if (parse_u64(&p, 16, &v) < 0)
		return -1;
	if (*p && *p != '\n')
		return parse_fail();
	*out = (unsigned long)v;
	return 0;
}

int procfs_unescape_path(const char *escaped, char *buf, size_t buflen)
{
	size_t n = 0;

	for (const char *p = escaped; *p; p++) {
		char c = *p;

		if (c == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			c = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		}
		if (n + 1 >= buflen) {
			errno = ENAMETOOLONG;
			return -1;
		}
		buf[n++] = c;
	}
	if (buflen == 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

int procfs_read_stat_at(int proc_dirfd, struct procfs_stat *out)
{
	char *text = xio_read_at_all(proc_dirfd, "stat", NULL);
	int rc;

	if (!text)
		return -1;
	rc = procfs_parse_stat(text, out);
	free(text);
	return rc;
}

int procfs_read_status_at(int proc_dirfd, struct procfs_status *out)
{
	char *text = xio_read_at_all(proc_dirfd, "status", NULL);
	int rc;

	if (!text)
		return -1;
	rc = procfs_parse_status(text, out);
	free(text);
	return rc;
}
