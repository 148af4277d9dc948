#include "forked.h"

#include "xio.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether the comma-joined VmFlags list holds flag. */
static bool has_flag(const char *vmflags, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = vmflags; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, flag, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

bool forked_from_target(const struct manifest_vma *v)
{
	if (v->perms[3] == 's' || !v->vmflags || !strcmp(v->vmflags, "-"))
		return true;
	return has_flag(v->vmflags, "sh") || has_flag(v->vmflags, "dc") || has_flag(v->vmflags, "wf");
}

/* The first run of r that ends after addr (runs ascending, disjoint). */
static size_t first_ending_after(const struct pagemap_runs *r, uint64_t addr)
{
	size_t lo = 0, hi = r->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->run[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int add(struct copy_list *l, const struct copy_range *c, uint64_t from, uint64_t to)
{
	return to > from ? copy_list_append(l, from, to - from, c->offset + (from - c->addr)) : 0;
}

int forked_split(const struct manifest *out, const struct copy_list *plan, struct copy_list *target,
		 struct copy_list *clone, struct pagemap_runs *target_vmas)
{
	for (size_t i = 0; i < out->n_vmas; i++)
		if (forked_from_target(&out->vmas[i]) &&
		    pagemap_runs_append(target_vmas, out->vmas[i].start, out->vmas[i].end) < 0)
			return -1;
	for (size_t i = 0; i < plan->n; i++) {
		const struct copy_range *c = &plan->range[i];
		uint64_t at = c->addr, end = c->addr + c->len;

		for (size_t k = first_ending_after(target_vmas, at); at < end; k++) {
			uint64_t in_start = k < target_vmas->n ? target_vmas->run[k].start : end;
			uint64_t in_end = k < target_vmas->n ? target_vmas->run[k].end : end;

			if (in_start > end)
				in_start = end;
			if (in_end > end)
				in_end = end;
			if (in_start < at)
				in_start = at;
			if (add(clone, c, at, in_start) < 0 || add(target, c, in_start, in_end) < 0)
				return -1;
			at = in_end > at ? in_end : end;
		}
	}
	return 0;
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
