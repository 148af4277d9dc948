#include "forked.h"
#include "stagemap.h"

#include <string.h>

static bool unknown_flags(const struct manifest_vma *v);

/* Whether the comma-joined VmFlags list holds flag. */
static bool has_flag(const char *vmflags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = vmflags; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, flag, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* A mapping lc-maps did not see: the final map gives no VmFlags. */
static bool unknown_flags(const struct manifest_vma *v)
{
	return !v->vmflags || !strcmp(v->vmflags, "-");
}

bool forked_from_target(const struct manifest_vma *v)
{
	/* a shared mapping the process can never write through (no mw:
	 * a file opened read-only) changes only as its file does, which no
	 * stop freezes: from the clone (a JVM's 123 MB modules image) */
	if (v->perms[3] == 's')
		return unknown_flags(v) || has_flag(v->vmflags, "mw");
	/* a new private anonymous mapping comes from the clone, checked
	 * after (forked.h); a new file mapping from the process */
	if (unknown_flags(v))
		return v->path && *v->path;
	return has_flag(v->vmflags, "sh") || has_flag(v->vmflags, "dc") || has_flag(v->vmflags, "wf");
}

bool forked_clone_tells(const struct manifest_vma *v)
{
	return stagemap_class(v) == STAGEMAP_PRIVATE && !forked_from_target(v) && !unknown_flags(v);
}

int forked_split(const struct manifest *out, const struct copy_list *plan, struct copy_list *target,
		 struct copy_list *clone, struct pagemap_runs *target_vmas,
		 struct pagemap_runs *unverified)
{
	for (size_t i = 0; i < out->n_vmas; i++) {
		const struct manifest_vma *v = &out->vmas[i];

		if (forked_from_target(v) && pagemap_runs_append(target_vmas, v->start, v->end) < 0)
			return -1;
		if (!forked_from_target(v) && unknown_flags(v) &&
		    pagemap_runs_append(unverified, v->start, v->end) < 0)
			return -1;
	}
	return copy_list_split(plan, target_vmas, target, clone);
}
