#include "finish.h"
#include "log.h"
#include "notes.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t finish_us_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000000 + (b->tv_nsec - a->tv_nsec) / 1000;
}

int64_t finish_us_since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return finish_us_between(a, &now);
}

int finish_notes(struct outfile *out, const struct capture *c)
{
	size_t max = notes_list_count(&c->process);
	struct notes_note *list = calloc(max, sizeof *list);
	long n;
	int rc = -1;

	if (!list)
		return -1;
	n = notes_list(&c->process, list, max);
	if (n >= 0 && notes_write_file(out->fd, list, (size_t)n) == 0 && outfile_commit(out) == 0)
		rc = 0;
	free(list);
	return rc;
}

/* After the resume: pages that are no longer populated become holes, and
 * the file reaches the stage end, so every extent lies inside it. */
int finish_stage(int fd, const struct finalmaps_result *r, const struct stagemap *sm)
{
	const struct pagemap_runs *punch = &r->plan.punch_offsets;
	off_t size = lseek(fd, 0, SEEK_END);

	for (size_t i = 0; i < punch->n; i++)
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)punch->run[i].start,
			      (off_t)(punch->run[i].end - punch->run[i].start)) < 0)
			return -1;
	if (size >= 0 && (uint64_t)size < sm->ext.stage_end && ftruncate(fd, (off_t)sm->ext.stage_end) < 0)
		return -1;
	return size < 0 ? -1 : fsync(fd);
}

int finish_manifest_headers(struct manifest *out, const struct stagemap *sm,
			    const struct copy_result *cr, const struct ptrace_stop *ps,
			    const struct finish_timing *tm, size_t threads, bool held_stopped)
{
	char flush[40] = "";

	if (tm->flush_us >= 0)
		snprintf(flush, sizeof flush, " flush-us=%" PRId64, tm->flush_us);
	manifest_header_remove(out, "freeze");
	/* the model's unreadable pages: those an earlier pass could not read
	 * and the stop did not read again, and those the stop could not read */
	manifest_header_remove(out, "unreadable");
	if (manifest_header_set(out, "stage-end", "0x%" PRIx64, sm->ext.stage_end) < 0)
		return -1;
	for (size_t i = 0; i < sm->unreadable.n; i++)
		if (manifest_header_add(out, "unreadable", "%" PRIx64 "-%" PRIx64,
					sm->unreadable.run[i].start, sm->unreadable.run[i].end) < 0)
			return -1;
	return manifest_header_add(out, "freeze",
				   "pause-us=%" PRId64 " seize-us=%" PRId64 " regs-us=%" PRId64
				   " maps-us=%" PRId64 " delta-us=%" PRId64 " delta-pages=%" PRIu64
				   " delta-bytes=%" PRIu64 " delta-write=%s delta-held=%" PRIu64
				   "%s estimate-us=%" PRId64 " threads=%zu%s",
				   finish_us_between(&ps->first_seize, &ps->last_detach),
				   finish_us_between(&ps->first_seize, &tm->seized),
				   finish_us_between(&tm->seized, &tm->regs),
				   finish_us_between(&tm->regs, &tm->maps),
				   finish_us_between(&tm->maps, &tm->delta), cr->pages, cr->bytes,
				   cr->direct ? "direct" : "cache", tm->held_bytes, flush,
				   tm->estimate_us, threads, held_stopped ? " target=stopped" : "");
}

void finish_log(const struct ptrace_stop *ps, const struct finish_timing *tm,
		const struct copy_result *cr, size_t threads, bool copy_all, bool held_stopped)
{
	size_t passed = 0;

	log_info("pause %" PRId64 " us (seize %" PRId64 ", registers %" PRId64 ", maps %" PRId64
		 ", delta %" PRId64 ": %" PRIu64 " pages, %" PRIu64 " bytes, %" PRIu64 " held in memory), "
		 "%zu threads, foreseen %" PRId64 " us%s",
		 finish_us_between(&ps->first_seize, &ps->last_detach),
		 finish_us_between(&ps->first_seize, &tm->seized),
		 finish_us_between(&tm->seized, &tm->regs), finish_us_between(&tm->regs, &tm->maps),
		 finish_us_between(&tm->maps, &tm->delta), cr->pages, cr->bytes, tm->held_bytes,
		 threads, tm->estimate_us,
		 held_stopped ? ", the process was stopped already: every page copied while it "
				"was held, not downtime; it stays stopped"
		 : copy_all ? ", no tracker: every staged page copied" : "");
	if (ps->n_dropped)
		log_info("%zu threads exited or were zombies during the stop and are left out",
			 ps->n_dropped);
	for (size_t i = 0; i < ps->n; i++)
		passed += ps->threads[i].pending_signal != 0;
	if (passed)
		log_info("%zu threads were stopped delivering a signal; it was passed back to them",
			 passed);
}
