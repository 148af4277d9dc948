#include "manifest.h"
#include "xio.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof *m);
}

void manifest_vma_free(struct manifest_vma *v)
{
	free(v->vmflags);
	free(v->extents);
	free(v->clean);
	free(v->path);
	memset(v, 0, sizeof *v);
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n_headers; i++) {
		free(m->headers[i].key);
		free(m->headers[i].value);
	}
	free(m->headers);
	for (size_t i = 0; i < m->n_vmas; i++)
		manifest_vma_free(&m->vmas[i]);
	free(m->vmas);
	manifest_init(m);
}

bool manifest_vma_dumped(const struct manifest_vma *v)
{
	return strcmp(v->decision, "dump") == 0;
}

/* ---- growing arrays ---------------------------------------------------- */

static int grow(void **array, size_t count, size_t elem)
{
	/* grows in powers of two: count is a power of two exactly when full */
	if (count == 0 || (count & (count - 1)) == 0) {
		size_t cap = count ? count * 2 : 4;
		void *bigger;

		if (cap > SIZE_MAX / elem) {
			errno = ENOMEM;
			return -1;
		}
		bigger = realloc(*array, cap * elem);
		if (!bigger)
			return -1;
		*array = bigger;
	}
	return 0;
}

int manifest_vma_add_extent(struct manifest_vma *v, uint64_t start, uint64_t end, uint64_t offset)
{
	if (grow((void **)&v->extents, v->n_extents, sizeof *v->extents) < 0)
		return -1;
	v->extents[v->n_extents++] = (struct manifest_extent){ start, end, offset };
	return 0;
}

int manifest_vma_add_clean(struct manifest_vma *v, uint64_t start, uint64_t end, bool hole)
{
	/* coalesce with the previous range when adjacent and of its kind */
	if (v->n_clean && v->clean[v->n_clean - 1].end == start && v->clean[v->n_clean - 1].hole == hole) {
		v->clean[v->n_clean - 1].end = end;
		return 0;
	}
	if (grow((void **)&v->clean, v->n_clean, sizeof *v->clean) < 0)
		return -1;
	v->clean[v->n_clean++] = (struct manifest_range){ start, end, hole };
	return 0;
}

void manifest_vma_clear_tracking(struct manifest_vma *v)
{
	free(v->extents);
	free(v->clean);
	v->extents = NULL;
	v->clean = NULL;
	v->n_extents = v->n_clean = 0;
}

struct manifest_vma *manifest_add_vma(struct manifest *m, const struct manifest_vma *v)
{
	struct manifest_vma *dst;

	if (grow((void **)&m->vmas, m->n_vmas, sizeof *m->vmas) < 0)
		return NULL;
	dst = &m->vmas[m->n_vmas];
	*dst = *v;
	dst->path = strdup(v->path ? v->path : "");
	dst->vmflags = strdup(v->vmflags ? v->vmflags : "-");
	dst->extents = NULL;
	dst->clean = NULL;
	dst->n_extents = dst->n_clean = 0;
	if (!dst->path || !dst->vmflags)
		goto fail;
	for (size_t i = 0; i < v->n_extents; i++)
		if (manifest_vma_add_extent(dst, v->extents[i].start, v->extents[i].end,
					    v->extents[i].offset) < 0)
			goto fail;
	for (size_t i = 0; i < v->n_clean; i++)
		if (manifest_vma_add_clean(dst, v->clean[i].start, v->clean[i].end, v->clean[i].hole) < 0)
			goto fail;
	m->n_vmas++;
	return dst;
fail:
	manifest_vma_free(dst);
	errno = ENOMEM;
	return NULL;
}

/* ---- headers ----------------------------------------------------------- */

const char *manifest_header_get(const struct manifest *m, const char *key)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (!strcmp(m->headers[i].key, key))
			return m->headers[i].value;
	return NULL;
}

uint64_t manifest_value_field(const char *value, const char *key)
{
	char pattern[32];
	const char *at;

	snprintf(pattern, sizeof pattern, " %s=", key);
	if (!strncmp(value, pattern + 1, strlen(pattern + 1)))
		return strtoull(value + strlen(pattern + 1), NULL, 10);
	at = strstr(value, pattern);
	return at ? strtoull(at + strlen(pattern), NULL, 10) : 0;
}

static int header_append(struct manifest *m, const char *key, char *value)
{
	char *k = strdup(key);

	if (!k || grow((void **)&m->headers, m->n_headers, sizeof *m->headers) < 0) {
		free(k);
		free(value);
		return -1;
	}
	m->headers[m->n_headers++] = (struct manifest_header){ k, value };
	return 0;
}

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int manifest_header_set(struct manifest *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *value;

	va_start(ap, fmt);
	value = vformat(fmt, ap);
	va_end(ap);
	if (!value)
		return -1;
	for (size_t i = 0; i < m->n_headers; i++) {
		if (!strcmp(m->headers[i].key, key)) {
			free(m->headers[i].value);
			m->headers[i].value = value;
			return 0;
		}
	}
	return header_append(m, key, value);
}

int manifest_header_add(struct manifest *m, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *value;

	va_start(ap, fmt);
	value = vformat(fmt, ap);
	va_end(ap);
	if (!value)
		return -1;
	return header_append(m, key, value);
}

void manifest_header_remove(struct manifest *m, const char *key)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n_headers; i++) {
		if (!strcmp(m->headers[i].key, key)) {
			free(m->headers[i].key);
			free(m->headers[i].value);
		} else {
			m->headers[kept++] = m->headers[i];
		}
	}
	m->n_headers = kept;
}

/* ---- parsing ----------------------------------------------------------- */

struct parser {
	const char *name;
	size_t line;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct parser *ps, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (ps->line)
		snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->name, ps->line, what);
	else
		snprintf(ps->err, ps->errlen, "%s: %s", ps->name, what);
	errno = EINVAL;
	return -1;
}

static int parse_hex(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	for (; n < 17; s++, n++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			break;
		if (n == 16)
			return -1; /* more than 64 bits */
		v = v << 4 | (uint64_t)d;
	}
	if (n == 0)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

static int parse_dec(const char **p, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int n = 0;

	for (; *s >= '0' && *s <= '9'; s++, n++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (n == 0)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

/* Cuts the next space-separated field out of *p (single spaces only: the
 * writer never pads). Returns NULL when there is none. */
static char *next_field(char **p)
{
	char *start = *p, *sp;

	if (!*start)
		return NULL;
	sp = strchr(start, ' ');
	if (sp) {
		*sp = '\0';
		*p = sp + 1;
	} else {
		*p = start + strlen(start);
	}
	return start;
}

static int parse_range(const char **p, uint64_t *start, uint64_t *end)
{
	return (parse_hex(p, start) < 0 || *(*p)++ != '-' || parse_hex(p, end) < 0) ? -1 : 0;
}

static int parse_extents(struct parser *ps, const char *field, struct manifest_vma *v)
{
	const char *p = field;

	if (!strcmp(field, "-"))
		return 0;
	for (;;) {
		uint64_t s, e, off;

		if (parse_range(&p, &s, &e) < 0 || *p++ != '@' || parse_hex(&p, &off) < 0)
			return fail(ps, "bad extent in \"%s\" (want START-END@OFFSET)", field);
		if (manifest_vma_add_extent(v, s, e, off) < 0)
			return fail(ps, "out of memory");
		if (!*p)
			return 0;
		if (*p++ != ',')
			return fail(ps, "bad extent list \"%s\"", field);
	}
}

static int parse_clean(struct parser *ps, const char *field, struct manifest_vma *v)
{
	const char *p = field;

	if (!strcmp(field, "-"))
		return 0;
	for (;;) {
		uint64_t s, e;
		bool hole = false;

		if (parse_range(&p, &s, &e) < 0)
			return fail(ps, "bad clean range in \"%s\" (want START-END or START-END:hole)", field);
		if (*p == ':') {
			if (strncmp(p, ":hole", 5))
				return fail(ps, "bad clean range in \"%s\" (want START-END or START-END:hole)", field);
			hole = true;
			p += 5;
		}
		/* no coalescing here: keep what was written, validate it below */
		if (grow((void **)&v->clean, v->n_clean, sizeof *v->clean) < 0)
			return fail(ps, "out of memory");
		v->clean[v->n_clean++] = (struct manifest_range){ s, e, hole };
		if (!*p)
			return 0;
		if (*p++ != ',')
			return fail(ps, "bad clean list \"%s\"", field);
	}
}

int manifest_vma_validate(const struct manifest_vma *v, unsigned page_size, char *err, size_t errlen)
{
	uint64_t mask = (uint64_t)page_size - 1;
	uint64_t prev_end = 0;

	if (v->start >= v->end || (v->start & mask) || (v->end & mask)) {
		snprintf(err, errlen, "range %" PRIx64 "-%" PRIx64 " is empty or not page aligned",
			 v->start, v->end);
		return -1;
	}
	if (manifest_vma_dumped(v) ? (v->dump_size == 0 || v->dump_size > v->end - v->start ||
				      (v->dump_size & mask))
				   : v->dump_size != 0) {
		snprintf(err, errlen, "dump size %" PRIu64 " does not fit decision %s", v->dump_size,
			 v->decision);
		return -1;
	}
	for (size_t i = 0; i < v->n_extents; i++) {
		const struct manifest_extent *x = &v->extents[i];

		if (x->start >= x->end || x->start < v->start || x->end > v->end ||
		    (x->start & mask) || (x->end & mask) || (x->offset & mask) ||
		    x->offset < page_size || x->offset > INT64_MAX - (x->end - x->start) ||
		    x->start < prev_end) {
			snprintf(err, errlen,
				 "extent %" PRIx64 "-%" PRIx64 "@%" PRIx64
				 " is unaligned, overlaps, is out of order or lies outside its VMA",
				 x->start, x->end, x->offset);
			return -1;
		}
		prev_end = x->end;
	}
	prev_end = 0;
	for (size_t i = 0; i < v->n_clean; i++) {
		const struct manifest_range *r = &v->clean[i];

		if (r->start >= r->end || r->start < v->start || r->end > v->end ||
		    (r->start & mask) || (r->end & mask) || r->start < prev_end) {
			snprintf(err, errlen, "clean range %" PRIx64 "-%" PRIx64 " is invalid",
				 r->start, r->end);
			return -1;
		}
		prev_end = r->end;
	}
	return 0;
}

static int parse_record(struct parser *ps, char *line, struct manifest *m)
{
	struct manifest_vma v = { 0 };
	char *p = line, *f[10];
	const char *q;
	uint64_t major, minor;
	char why[160];
	int rc = -1;

	for (int i = 0; i < 10; i++) {
		f[i] = next_field(&p);
		if (!f[i] || !*f[i]) {
			fail(ps, "record has %d fields, want at least 10", i);
			goto out;
		}
	}
	q = f[0];
	if (parse_range(&q, &v.start, &v.end) < 0 || *q) {
		fail(ps, "bad address range \"%s\"", f[0]);
		goto out;
	}
	if (strlen(f[1]) != 4 || !strchr("r-", f[1][0]) || !strchr("w-", f[1][1]) ||
	    !strchr("x-", f[1][2]) || !strchr("ps", f[1][3])) {
		fail(ps, "bad permissions \"%s\"", f[1]);
		goto out;
	}
	memcpy(v.perms, f[1], 5);
	q = f[2];
	if (parse_hex(&q, &v.offset) < 0 || *q) {
		fail(ps, "bad offset \"%s\"", f[2]);
		goto out;
	}
	q = f[3];
	if (parse_hex(&q, &major) < 0 || *q++ != ':' || parse_hex(&q, &minor) < 0 || *q ||
	    major > 0xfffff || minor > 0xfffff) {
		fail(ps, "bad device \"%s\"", f[3]);
		goto out;
	}
	v.dev_major = (unsigned)major;
	v.dev_minor = (unsigned)minor;
	q = f[4];
	if (parse_dec(&q, &v.inode) < 0 || *q) {
		fail(ps, "bad inode \"%s\"", f[4]);
		goto out;
	}
	if (strcmp(f[5], "dump") && (strncmp(f[5], "skip:", 5) || !f[5][5] ||
				     strlen(f[5]) >= sizeof v.decision ||
				     strspn(f[5] + 5, "abcdefghijklmnopqrstuvwxyz-") != strlen(f[5] + 5))) {
		fail(ps, "bad decision \"%s\" (want dump or skip:REASON)", f[5]);
		goto out;
	}
	strcpy(v.decision, f[5]);
	q = f[6];
	if (parse_dec(&q, &v.dump_size) < 0 || *q) {
		fail(ps, "bad dump size \"%s\"", f[6]);
		goto out;
	}
	v.vmflags = strdup(f[7]);
	v.path = strdup(p); /* the rest of the line, spaces and all */
	if (!v.vmflags || !v.path) {
		fail(ps, "out of memory");
		goto out;
	}
	if (parse_extents(ps, f[8], &v) < 0 || parse_clean(ps, f[9], &v) < 0)
		goto out;
	if (manifest_vma_validate(&v, m->page_size, why, sizeof why) < 0) {
		fail(ps, "%s", why);
		goto out;
	}
	if (m->n_vmas && m->vmas[m->n_vmas - 1].end > v.start) {
		fail(ps, "record %" PRIx64 "-%" PRIx64 " overlaps or precedes the one before",
		     v.start, v.end);
		goto out;
	}
	if (grow((void **)&m->vmas, m->n_vmas, sizeof *m->vmas) < 0) {
		fail(ps, "out of memory");
		goto out;
	}
	m->vmas[m->n_vmas++] = v; /* ownership moves into m */
	return 0;
out:
	manifest_vma_free(&v);
	return rc;
}

static int parse_header(struct parser *ps, char *line, struct manifest *m)
{
	char *key = line + 2, *value;

	if (line[1] != ' ' || !*key || *key == ' ')
		return fail(ps, "bad header line (want \"# KEY VALUE\")");
	value = strchr(key, ' ');
	if (value)
		*value++ = '\0';
	else
		value = key + strlen(key);
	if (header_append(m, key, strdup(value)) < 0)
		return fail(ps, "out of memory");
	if (!m->headers[m->n_headers - 1].value)
		return fail(ps, "out of memory");
	return 0;
}

/* The identity headers every tool needs. */
static int check_required(struct parser *ps, struct manifest *m)
{
	const char *pid = manifest_header_get(m, "pid");
	const char *start = manifest_header_get(m, "starttime");
	const char *page = manifest_header_get(m, "page-size");
	const char *filter = manifest_header_get(m, "coredump-filter");
	const char *q;
	uint64_t v;

	if (!pid || !start || !page || !filter)
		return fail(ps, "missing header (%s)",
			    !pid ? "pid" : !start ? "starttime" : !page ? "page-size" : "coredump-filter");
	q = pid;
	if (parse_dec(&q, &v) < 0 || *q || v == 0 || v > 4194304)
		return fail(ps, "bad pid header \"%s\"", pid);
	m->pid = (pid_t)v;
	q = start;
	if (parse_dec(&q, &m->starttime) < 0 || *q)
		return fail(ps, "bad starttime header \"%s\"", start);
	q = page;
	if (parse_dec(&q, &v) < 0 || *q || v < 4096 || v > (1u << 30) || (v & (v - 1)))
		return fail(ps, "bad page-size header \"%s\"", page);
	m->page_size = (unsigned)v;
	q = filter;
	if (q[0] != '0' || q[1] != 'x' || (q += 2, parse_hex(&q, &v) < 0) || *q)
		return fail(ps, "bad coredump-filter header \"%s\" (want 0xHEX)", filter);
	m->coredump_filter = (unsigned long)v;
	return 0;
}

int manifest_parse(char *text, const char *name, struct manifest *m, char *err, size_t errlen)
{
	struct parser ps = { name, 0, err, errlen };
	bool have_required = false, ended = false;
	char *line = text;

	manifest_init(m);
	while (*line) {
		char *nl = strchr(line, '\n');

		ps.line++;
		if (!nl) {
			fail(&ps, "last line has no newline (truncated)");
			goto bad;
		}
		*nl = '\0';
		if (memchr(line, '\r', (size_t)(nl - line))) {
			fail(&ps, "carriage return in line");
			goto bad;
		}
		if (ended) {
			fail(&ps, "text after the end line");
			goto bad;
		}
		if (ps.line == 1) {
			if (strcmp(line, MANIFEST_FORMAT_LINE)) {
				fail(&ps, "not a livecore manifest (want \"%s\")", MANIFEST_FORMAT_LINE);
				goto bad;
			}
		} else if (line[0] == '#') {
			if (m->n_vmas) {
				fail(&ps, "header line after the first record");
				goto bad;
			}
			if (parse_header(&ps, line, m) < 0)
				goto bad;
		} else {
			if (!have_required) {
				if (check_required(&ps, m) < 0)
					goto bad;
				have_required = true;
			}
			if (!strncmp(line, "end", 3) && (line[3] == ' ' || !line[3])) {
				const char *q = line + 4;
				uint64_t count;

				if (!line[3] || parse_dec(&q, &count) < 0 || *q) {
					fail(&ps, "bad end line (want \"end COUNT\")");
					goto bad;
				}
				if (count != m->n_vmas) {
					fail(&ps, "end line counts %" PRIu64 " records, manifest has %zu",
					     count, m->n_vmas);
					goto bad;
				}
				ended = true;
			} else if (parse_record(&ps, line, m) < 0) {
				goto bad;
			}
		}
		line = nl + 1;
	}
	if (ps.line == 0) {
		fail(&ps, "empty manifest (an earlier stage failed?)");
		goto bad;
	}
	if (!ended) {
		ps.line = 0;
		fail(&ps, "no end line: the manifest is incomplete (an earlier stage failed)");
		goto bad;
	}
	return 0;
bad:
	manifest_free(m);
	return -1;
}

int manifest_read(FILE *in, const char *name, struct manifest *m, char *err, size_t errlen)
{
	char *text;
	size_t len;
	int rc;

	manifest_init(m);
	text = xio_read_fd_all(fileno(in), &len);
	if (!text) {
		snprintf(err, errlen, "%s: read failed: %s", name, strerror(errno));
		return -1;
	}
	if (strlen(text) != len) {
		snprintf(err, errlen, "%s: NUL byte in manifest", name);
		free(text);
		errno = EINVAL;
		return -1;
	}
	rc = manifest_parse(text, name, m, err, errlen);
	free(text);
	return rc;
}

/* ---- writing ----------------------------------------------------------- */

static void write_vma(FILE *out, const struct manifest_vma *v)
{
	fprintf(out, "%" PRIx64 "-%" PRIx64 " %s %08" PRIx64 " %02x:%02x %" PRIu64 " %s %" PRIu64 " %s ",
		v->start, v->end, v->perms, v->offset, v->dev_major, v->dev_minor, v->inode,
		v->decision, v->dump_size, v->vmflags && *v->vmflags ? v->vmflags : "-");
	if (!v->n_extents)
		fputc('-', out);
	for (size_t i = 0; i < v->n_extents; i++)
		fprintf(out, "%s%" PRIx64 "-%" PRIx64 "@%" PRIx64, i ? "," : "", v->extents[i].start,
			v->extents[i].end, v->extents[i].offset);
	fputc(' ', out);
	if (!v->n_clean)
		fputc('-', out);
	for (size_t i = 0; i < v->n_clean; i++)
		fprintf(out, "%s%" PRIx64 "-%" PRIx64 "%s", i ? "," : "", v->clean[i].start,
			v->clean[i].end, v->clean[i].hole ? ":hole" : "");
	fprintf(out, " %s\n", v->path ? v->path : "");
}

int manifest_write_early(FILE *out, const char *key, const char *value)
{
	fprintf(out, "%s\n# %s %s\n", MANIFEST_FORMAT_LINE, key, value);
	if (fflush(out) == EOF || ferror(out))
		return -1;
	return 0;
}

int manifest_write(FILE *out, const struct manifest *m)
{
	fprintf(out, "%s\n", MANIFEST_FORMAT_LINE);
	return manifest_write_rest(out, m, NULL);
}

int manifest_write_rest(FILE *out, const struct manifest *m, const char *key)
{
	for (size_t i = 0; i < m->n_headers; i++)
		if (!key || strcmp(m->headers[i].key, key))
			fprintf(out, "# %s %s\n", m->headers[i].key, m->headers[i].value);
	for (size_t i = 0; i < m->n_vmas; i++)
		write_vma(out, &m->vmas[i]);
	fprintf(out, "end %zu\n", m->n_vmas);
	if (fflush(out) == EOF || ferror(out))
		return -1;
	return 0;
}
