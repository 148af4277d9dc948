/* progress - the progress line on a terminal: pass, bytes done of the
 * pass's total, rate, ETA. A thread that samples the pass's counters a few
 * times a second; the copy itself never waits for it. */
#ifndef LC_PRECOPY_PROGRESS_H
#define LC_PRECOPY_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct progress {
	_Atomic unsigned *pass;
	_Atomic uint64_t *done, *total;
	atomic_bool stop;
	pthread_t thread;
	bool running;
	double pass_t0;             /* when the current pass started */
};

/* Starts the thread; 0 on success (on failure there is no progress line,
 * which is not an error). */
int progress_start(struct progress *pr, _Atomic unsigned *pass, _Atomic uint64_t *done,
		   _Atomic uint64_t *total);
/* Stops the thread and clears the line. */
void progress_stop(struct progress *pr);

#endif
