/* lc-demo - the program `make demo` dumps live: a few threads doing
 * recognisable things, and some memory that changes while it runs. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEAP_MIB 64

static uint64_t *heap;
static volatile uint64_t ticks;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

/* Rewrites a page of the heap every millisecond: pre-copy has work to do. */
static __attribute__((noinline)) void *demo_writer(void *arg)
{
	size_t words = (size_t)HEAP_MIB << 17, i = 0;

	(void)arg;
	for (;;) {
		struct timespec ms = { 0, 1000000 };

		heap[(i * 512) % words] = ++ticks;
		i++;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

static __attribute__((noinline)) void *demo_waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;)
		pthread_cond_wait(&never, &lock);
	return NULL;
}

static __attribute__((noinline)) void *demo_sleeper(void *arg)
{
	(void)arg;
	for (;;)
		sleep(3600);
	return NULL;
}

int main(void)
{
	pthread_t t[3];

	heap = malloc((size_t)HEAP_MIB << 20);
	if (!heap) {
		perror("lc-demo: malloc");
		return 1;
	}
	memset(heap, 0x5a, (size_t)HEAP_MIB << 20);
	if (pthread_create(&t[0], NULL, demo_writer, NULL) ||
	    pthread_create(&t[1], NULL, demo_waiter, NULL) ||
	    pthread_create(&t[2], NULL, demo_sleeper, NULL)) {
		fputs("lc-demo: cannot start threads\n", stderr);
		return 1;
	}
	pthread_setname_np(t[0], "demo-writer");
	pthread_setname_np(t[1], "demo-waiter");
	pthread_setname_np(t[2], "demo-sleeper");
	printf("%d\n", (int)getpid());
	fflush(stdout);
	pthread_join(t[0], NULL);
	return 0;
}
