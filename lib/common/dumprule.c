#include "dumprule.h"

#include <string.h>

bool dumprule_is_special(const char *path)
{
	size_t len = strlen(path);

	if (len < 3 || path[0] != '[' || path[len - 1] != ']')
		return false;
	if (!strcmp(path, "[heap]") || !strncmp(path, "[stack", 6) ||
	    !strncmp(path, "[anon:", 6) || !strncmp(path, "[anon_shmem:", 12))
		return false;
	return true;
}

static bool is_file_backed(const struct procfs_map *m)
{
	/* anonymous mappings have no inode; special and named-anonymous ones
	 * have a bracketed name and no inode either */
	return m->inode != 0 || (m->path[0] == '/' && m->dev_major | m->dev_minor);
}

/* A shared mapping of a file with no links (MAP_SHARED|MAP_ANONYMOUS shows
 * as "/dev/zero (deleted)", SysV shm as "/SYSV... (deleted)", memfd as
 * "/memfd:... (deleted)"): the kernel tests i_nlink == 0, which /proc shows
 * as the " (deleted)" suffix. */
static bool is_unlinked(const char *path)
{
	static const char suffix[] = " (deleted)";
	size_t len = strlen(path), slen = sizeof suffix - 1;

	return len >= slen && !strcmp(path + len - slen, suffix);
}

bool dumprule_wants_elf_check(const struct dumprule_vma *v, unsigned long filter)
{
	const struct procfs_map *m = v->map;

	return (filter & DUMPRULE_ELF_HEADERS) && !(filter & DUMPRULE_MAPPED_PRIVATE) &&
	       is_file_backed(m) && m->offset == 0 && m->perms[0] == 'r' &&
	       m->perms[3] == 'p' && !(v->vmflags & (VMF_DONTDUMP | VMF_IO | VMF_HUGETLB)) &&
	       !dumprule_is_special(m->path);
}

struct dumprule_decision dumprule_decide(const struct dumprule_vma *v, unsigned long filter,
					 bool all, unsigned page_size)
{
	const struct procfs_map *m = v->map;
	uint64_t whole = m->end - m->start;
	bool shared = m->perms[3] == 's' || (v->vmflags & VMF_SHARED);

	if (dumprule_is_special(m->path))
		return (struct dumprule_decision){ "dump", whole };
	if (all) {
		if (v->vmflags & VMF_IO)
			return (struct dumprule_decision){ "skip:io", 0 };
		if (m->perms[0] != 'r')
			return (struct dumprule_decision){ "skip:unreadable", 0 };
		return (struct dumprule_decision){ "dump", whole };
	}
	if (v->vmflags & VMF_DONTDUMP)
		return (struct dumprule_decision){ "skip:dontdump", 0 };
	/* DAX mappings cannot be told apart from /proc; they fall to the
	 * file-mapping rules below (documented in lc-maps(1)). */
	if (v->vmflags & VMF_HUGETLB) {
		unsigned bit = shared ? DUMPRULE_HUGETLB_SHARED : DUMPRULE_HUGETLB_PRIVATE;

		return (filter & bit) ? (struct dumprule_decision){ "dump", whole }
				      : (struct dumprule_decision){ "skip:filter", 0 };
	}
	if (v->vmflags & VMF_IO)
		return (struct dumprule_decision){ "skip:io", 0 };
	if (shared) {
		unsigned bit = is_unlinked(m->path) || !is_file_backed(m) ? DUMPRULE_ANON_SHARED
									   : DUMPRULE_MAPPED_SHARED;

		return (filter & bit) ? (struct dumprule_decision){ "dump", whole }
				      : (struct dumprule_decision){ "skip:filter", 0 };
	}
	/* written privately: the kernel's anon_vma test */
	if (v->has_private_pages && (filter & DUMPRULE_ANON_PRIVATE))
		return (struct dumprule_decision){ "dump", whole };
	if (!is_file_backed(m))
		return (struct dumprule_decision){ v->has_private_pages ? "skip:filter" : "skip:unwritten", 0 };
	if (filter & DUMPRULE_MAPPED_PRIVATE)
		return (struct dumprule_decision){ "dump", whole };
	if (dumprule_wants_elf_check(v, filter) && v->elf_header)
		return (struct dumprule_decision){ "dump", page_size < whole ? page_size : whole };
	return (struct dumprule_decision){ "skip:filter", 0 };
}
