#include "hold.h"
#include "stage.h"
#include "xio.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define HOLD_ROUND (1u << 20)

void hold_init(struct hold *h)
{
	h->map = NULL;
	h->size = h->used = 0;
	copy_list_init(&h->held);
}

void hold_free(struct hold *h)
{
	if (h->map)
		munmap(h->map, h->size);
	copy_list_free(&h->held);
	hold_init(h);
}

int hold_reserve(struct hold *h, uint64_t bytes)
{
	uint64_t size = (bytes + HOLD_ROUND - 1) / HOLD_ROUND * HOLD_ROUND;
	void *map;

	if (size == 0)
		return 0;
	/* MAP_POPULATE: every page allocated, zeroed and in our page tables
	 * now, so that the stop's reads into them fault nothing. Anonymous
	 * 4 KiB pages: 512 MiB took 137-160 ms here, a memfd 226-266 ms, and
	 * transparent huge pages 64 ms, or 1.4 s where the guest had to find
	 * them fresh */
	map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (map == MAP_FAILED)
		return -1;
	h->map = map;
	h->size = size;
	return 0;
}

int hold_split(struct hold *h, const struct copy_list *list, unsigned page_size,
	       struct copy_list *mem, struct copy_list *rest)
{
	for (size_t i = 0; i < list->n; i++) {
		const struct copy_range *r = &list->range[i];
		uint64_t room = h->map ? h->size - h->used : 0, take = r->len;

		if (take > room)
			take = room / page_size * page_size;
		if (take > 0) {
			if (copy_list_append(mem, r->addr, take, h->used) < 0 ||
			    copy_list_append(&h->held, r->addr, take, r->offset) < 0)
				return -1;
			h->used += take;
		}
		if (take < r->len &&
		    copy_list_append(rest, r->addr + take, r->len - take, r->offset + take) < 0)
			return -1;
	}
	return 0;
}

int hold_flush(struct hold *h, int stage_fd, const struct pagemap_runs *unreadable)
{
	uint64_t at = 0;

	for (size_t i = 0; i < h->held.n; i++) {
		const struct copy_range *r = &h->held.range[i];

		if (xio_pwrite_full(stage_fd, h->map + at, (size_t)r->len, (off_t)r->offset) < 0)
			return -1;
		for (size_t k = 0; k < unreadable->n; k++) {
			uint64_t s = unreadable->run[k].start, e = unreadable->run[k].end;

			if (s < r->addr)
				s = r->addr;
			if (e > r->addr + r->len)
				e = r->addr + r->len;
			if (s < e && stage_zero_range(stage_fd, r->offset + (s - r->addr), e - s) < 0)
				return -1;
		}
		at += r->len;
	}
	return 0;
}
