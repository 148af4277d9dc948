#include "progress.h"
#include "log.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define GIB (1024.0 * 1024.0 * 1024.0)

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int show(unsigned pass, uint64_t done, uint64_t total, double elapsed)
{
	/* no rate from a sample taken just as the pass began */
	double rate = elapsed >= 0.1 ? (double)done / elapsed : 0;
	char line[160];
	int n;

	if (!pass)
		return 0;
	n = snprintf(line, sizeof line, "\r%s: pass %u: %.2f of %.2f GiB, %.2f GB/s, ETA %.0f s\033[K",
		     log_progname(), pass, (double)done / GIB, (double)total / GIB, rate / 1e9,
		     rate > 0 && total > done ? (double)(total - done) / rate : 0.0);
	return n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0 ? -1 : 0;
}

static void *progress_main(void *arg)
{
	struct progress *pr = arg;
	unsigned shown_pass = 0;

	pr->pass_t0 = seconds();
	while (!atomic_load(&pr->stop)) {
		struct timespec nap = { 0, 250 * 1000 * 1000 };
		unsigned pass = atomic_load(pr->pass);

		if (pass != shown_pass) {
			shown_pass = pass;
			pr->pass_t0 = seconds();
		}
		if (show(pass, atomic_load(pr->done), atomic_load(pr->total),
			 seconds() - pr->pass_t0) < 0)
			break;
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int progress_start(struct progress *pr, _Atomic unsigned *pass, _Atomic uint64_t *done,
		   _Atomic uint64_t *total)
{
	pr->pass = pass;
	pr->done = done;
	pr->total = total;
	atomic_init(&pr->stop, false);
	pr->running = pthread_create(&pr->thread, NULL, progress_main, pr) == 0;
	return pr->running ? 0 : -1;
}

void progress_stop(struct progress *pr)
{
	static const char clear[] = "\r\033[K";

	if (!pr->running)
		return;
	atomic_store(&pr->stop, true);
	pthread_join(pr->thread, NULL);
	pr->running = false;
	/* the last pass's final figures, then a clean line for what follows */
	show(atomic_load(pr->pass), atomic_load(pr->done), atomic_load(pr->total),
	     seconds() - pr->pass_t0);
	if (write(STDERR_FILENO, clear, sizeof clear - 1) < 0) {
		/* nothing to do: the line stays */
	}
}
