#include "records.h"
#include "arch.h"
#include "dumprule.h"
#include "procfs.h"
#include "xio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct manifest_vma *input_record(const struct manifest *in, uint64_t start)
{
	size_t lo = 0, hi = in->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (in->vmas[mid].start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < in->n_vmas && in->vmas[lo].start == start ? &in->vmas[lo] : NULL;
}

static void vmflags_field(const char *text, char *out, size_t len)
{
	size_t n = 0;

	for (const char *q = text; *q && n + 1 < len; q++)
		out[n++] = *q == ' ' ? ',' : *q;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "-");
}

/* The decision for a VMA as it is now: the input's, carried over by
 * address when the VMA is the one lc-maps saw (same range, permissions,
 * file and offset); lc-maps' rule otherwise. One exception: an anonymous
 * VMA lc-maps saw unwritten that has been written since is decided again,
 * or its new contents would be lost. */
static struct dumprule_decision decide(const struct records_source *p,
				       const struct procfs_smaps_vma *sv)
{
	const struct manifest_vma *old = input_record(p->in, sv->map.start);
	bool written = sv->anonymous_kb > 0 || sv->swap_kb > 0;
	struct dumprule_vma in = {
		.map = &sv->map,
		.vmflags = sv->vmflags,
		.has_private_pages = written,
	};

	if (old && old->end == sv->map.end && !strcmp(old->perms, sv->map.perms) &&
	    old->offset == sv->map.offset && old->inode == sv->map.inode &&
	    !(written && !strcmp(old->decision, "skip:unwritten")))
		return (struct dumprule_decision){ old->decision, old->dump_size };
	if (dumprule_wants_elf_check(&in, p->filter)) {
		unsigned char magic[4];

		in.elf_header = xio_pread_full(p->mem_fd, magic, 4, (off_t)sv->map.start) == 4 &&
				!memcmp(magic, "\177ELF", 4);
	}
	return dumprule_decide(&in, p->filter, p->filter_all, p->page_size);
}

/* smaps is read in pieces (seq_file): a process that maps, unmaps or
 * merges meanwhile can make a later piece start inside a VMA already
 * printed, and records that overlap make no manifest. Such a read is done
 * again; on the last try the newer record wins and the stale ones it
 * overlaps are dropped (as lc-maps does). */
#define SMAPS_READ_ATTEMPTS 8

static int read_once(const struct records_source *p, struct manifest *now, bool resolve,
		     char *err, size_t errlen)
{
	struct procfs_smaps_vma sv;
	char *text, *cursor;
	uint64_t last_end = 0;
	int rc;

	manifest_free(now);
	manifest_init(now);
	if (lseek(p->smaps_fd, 0, SEEK_SET) < 0 || !(text = xio_read_fd_all(p->smaps_fd, NULL))) {
		snprintf(err, errlen, "cannot read /proc/%d/smaps: %s", (int)p->pid, strerror(errno));
		return -1;
	}
	if (!*text) {
		/* an exited process has an empty smaps */
		free(text);
		snprintf(err, errlen, "process %d exited", (int)p->pid);
		errno = ESRCH;
		return -1;
	}
	cursor = text;
	while ((rc = procfs_smaps_next(&cursor, &sv)) == 1) {
		struct dumprule_decision d;
		struct manifest_vma v = { 0 };
		char flags[200];

		while (now->n_vmas && now->vmas[now->n_vmas - 1].end > sv.map.start) {
			if (!resolve) {
				free(text);
				errno = EAGAIN;
				return -1;
			}
			manifest_vma_free(&now->vmas[--now->n_vmas]);
		}
		d = decide(p, &sv);
		vmflags_field(sv.vmflags_text, flags, sizeof flags);
		v.start = sv.map.start;
		v.end = sv.map.end;
		memcpy(v.perms, sv.map.perms, sizeof v.perms);
		v.offset = sv.map.offset;
		v.dev_major = sv.map.dev_major;
		v.dev_minor = sv.map.dev_minor;
		v.inode = sv.map.inode;
		snprintf(v.decision, sizeof v.decision, "%s", d.decision);
		v.dump_size = d.dump_size;
		v.vmflags = flags;
		v.path = (char *)sv.map.path;
		if (!manifest_add_vma(now, &v)) {
			free(text);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		last_end = v.end;
	}
	free(text);
	if (rc < 0) {
		snprintf(err, errlen, "/proc/%d/smaps: cannot parse it", (int)p->pid);
		errno = EINVAL;
		return -1;
	}
	/* the gate VMA does not change: carry it over as lc-maps wrote it */
	for (size_t i = 0; i < p->in->n_vmas; i++) {
		struct manifest_vma v = p->in->vmas[i];

		if (v.start < ARCH_USER_END || v.start < last_end)
			continue;
		v.n_extents = v.n_clean = 0;
		if (!manifest_add_vma(now, &v)) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

int records_read(const struct records_source *p, struct manifest *now, char *err, size_t errlen)
{
	for (int attempt = 1;; attempt++) {
		if (read_once(p, now, attempt == SMAPS_READ_ATTEMPTS, err, errlen) == 0)
			return 0;
		if (errno != EAGAIN)
			return -1;
	}
}
