#include "forked.h"

#include "xio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A cgroup file's number: -1 for "max", a missing file or no number. */
static int64_t cgroup_number(const char *dir, const char *name)
{
	char path[4200], *text, *end;
	long long v;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (!(text = xio_read_path_all(path, NULL)))
		return -1;
	v = strtoll(text, &end, 10);
	if (end == text || v < 0)
		v = -1;
	free(text);
	return v;
}

/* The least headroom of the cgroup at base + path and its ancestors. */
static uint64_t least_headroom(const char *base, const char *path, const char *limit_file,
			       const char *usage_file, uint64_t least)
{
	char dir[4200], *slash;

	snprintf(dir, sizeof dir, "%s%s", base, path);
	for (;;) {
		int64_t limit = cgroup_number(dir, limit_file), usage = cgroup_number(dir, usage_file);

		/* v1 says "no limit" with a number near 2^63 */
		if (limit >= 0 && usage >= 0 && limit < (1ll << 62)) {
			uint64_t free = limit > usage ? (uint64_t)(limit - usage) : 0;

			if (free < least)
				least = free;
		}
		slash = strrchr(dir, '/');
		if (!slash || (size_t)(slash - dir) < strlen(base))
			return least;
		*slash = '\0';
	}
}

uint64_t forked_headroom(int proc_dirfd)
{
	int fd = openat(proc_dirfd, "cgroup", O_RDONLY | O_CLOEXEC);
	uint64_t least = UINT64_MAX;
	char *text, *line, *save = NULL;

	if (fd < 0)
		return least;
	text = xio_read_fd_all(fd, NULL);
	close(fd);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
		char *controllers = strchr(line, ':'), *path;

		if (!controllers || !(path = strchr(controllers + 1, ':')))
			continue;
		*path++ = '\0';
		controllers++;
		if (!*controllers) {
			least = least_headroom("/sys/fs/cgroup", path, "memory.max", "memory.current", least);
			least = least_headroom("/sys/fs/cgroup/unified", path, "memory.max", "memory.current",
					       least);
		} else if (has_flag(controllers, "memory")) {
			least = least_headroom("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes",
					       "memory.usage_in_bytes", least);
		}
	}
	free(text);
	return least;
}
