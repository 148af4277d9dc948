/* manifest - the text contract between the tools (lc-manifest(5)).
 *
 *   livecore-manifest 2
 *   # pid 1234
 *   # starttime 5678
 *   # page-size 4096
 *   # coredump-filter 0x33
 *   # ...                    (headers; readers keep the ones they do not know)
 *   START-END PERMS OFFSET DEV INODE DECISION DUMPSIZE VMFLAGS EXTENTS CLEAN PATH
 *   end COUNT
 *
 * The reader is strict: any malformed line is rejected with "name:line: why".
 * A manifest without its end line is refused: an earlier stage died. */
#ifndef LC_MANIFEST_H
#define LC_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* 2: CLEAN ranges may be staged holes (START-END:hole) */
#define MANIFEST_FORMAT_LINE "livecore-manifest 2"

struct manifest_range {
	uint64_t start, end;            /* [start, end) target addresses */
	bool hole;                      /* CLEAN: nothing staged, unpopulated ("START-END:hole") */
};

struct manifest_extent {
	uint64_t start, end;            /* [start, end) target addresses */
	uint64_t offset;                /* where start's byte is in the staging file */
};

struct manifest_vma {
	uint64_t start, end;
	char perms[5];
	uint64_t offset;                /* file offset of the mapping */
	unsigned dev_major, dev_minor;
	uint64_t inode;
	char decision[32];              /* "dump" or "skip:REASON" */
	uint64_t dump_size;             /* bytes dumped from start; 0 when skipped */
	char *vmflags;                  /* smaps VmFlags, comma-joined, or "-" */
	struct manifest_extent *extents;
	size_t n_extents;
	struct manifest_range *clean;   /* staged copy current, the tracker watching (stagemap.h) */
	size_t n_clean;
	char *path;                     /* as /proc/PID/maps shows it (escapes kept); "" if anonymous */
};

struct manifest_header {
	char *key;
	char *value;
};

struct manifest {
	/* parsed from the required headers */
	pid_t pid;
	uint64_t starttime;
	unsigned page_size;
	unsigned long coredump_filter;

	struct manifest_header *headers; /* every header line, in order */
	size_t n_headers;
	struct manifest_vma *vmas;       /* ascending, non-overlapping */
	size_t n_vmas;
};

void manifest_init(struct manifest *m);
void manifest_free(struct manifest *m);

/* Reads a whole manifest. On failure returns -1 and writes "name:line: why"
 * into err (errno = EINVAL for bad content, or the I/O error). */
int manifest_read(FILE *in, const char *name, struct manifest *m, char *err, size_t errlen);
/* Parses from a NUL-terminated buffer (what manifest_read does after reading;
 * exposed for the fuzz targets and unit tests). */
int manifest_parse(char *text, const char *name, struct manifest *m, char *err, size_t errlen);

/* Writes the manifest with its end line. Returns -1 on an I/O error. */
int manifest_write(FILE *out, const struct manifest *m);

/* manifest_write in two parts, for a writer that may be killed in between
 * and must leave a trace: the format line and one header, flushed at once;
 * later, everything else of m but its headers named key. What the first
 * part alone leaves is no manifest a tool accepts (no end line), but a
 * person or a driver can read the header (lc-precopy's `# uffd fd=N`). */
int manifest_write_early(FILE *out, const char *key, const char *value);
int manifest_write_rest(FILE *out, const struct manifest *m, const char *key);

/* Header access. get returns the first value for key or NULL. set replaces
 * the first line with that key (or appends); add always appends (for
 * repeated keys such as "pass"). Both return -1 on ENOMEM. */
const char *manifest_header_get(const struct manifest *m, const char *key);
/* The number after KEY= in a header's value of KEY=VALUE fields (a pass
 * line, freeze, precopy-end, throttle), KEY its first field or one after a
 * space; 0 when there is none. */
uint64_t manifest_value_field(const char *value, const char *key);
int manifest_header_set(struct manifest *m, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int manifest_header_add(struct manifest *m, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void manifest_header_remove(struct manifest *m, const char *key);

/* Appends a VMA record (deep copy of path and vmflags, extents and clean
 * copied). Returns a pointer to the stored record or NULL on ENOMEM. */
struct manifest_vma *manifest_add_vma(struct manifest *m, const struct manifest_vma *v);
int manifest_vma_add_extent(struct manifest_vma *v, uint64_t start, uint64_t end, uint64_t offset);
int manifest_vma_add_clean(struct manifest_vma *v, uint64_t start, uint64_t end, bool hole);
void manifest_vma_clear_tracking(struct manifest_vma *v); /* drops extents and clean */
void manifest_vma_free(struct manifest_vma *v);

/* true when decision is "dump" */
bool manifest_vma_dumped(const struct manifest_vma *v);

/* Checks the record invariants (what the reader enforces); writes why into
 * err. Used by the reader and by tools before they write. */
int manifest_vma_validate(const struct manifest_vma *v, unsigned page_size, char *err, size_t errlen);

#endif
