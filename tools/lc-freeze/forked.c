#include "forked.h"

#include <string.h>

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
