/* lc-freeze-threads - thread shapes for lc-freeze's tests that lc-target
 * does not make:
 *
 *   lc-freeze-threads -o INFOFILE [--churn N] [--zombie-leader TRIGGER] [--sigusr1]
 *
 *   --churn N               a spawner thread creates short-lived threads in a
 *                           tight loop, up to N alive at once (threads are
 *                           born and end while lc-freeze stops the process)
 *   --zombie-leader TRIGGER once the file TRIGGER exists, the main thread
 *                           calls pthread_exit: the process lives on in its
 *                           other threads and its leader is a zombie
 *   --sigusr1               the main thread counts SIGUSR1s; the handler itself
 *                           writes the count into INFOFILE.sigusr1 (so a
 *                           signal handled is a signal counted in the file,
 *                           with no window between the two)
 *
 * A progress thread always runs: it writes a counter (+1 a millisecond)
 * into INFOFILE.progress every 10 ms, so a test can tell that the process
 * runs. INFOFILE gets pid=, progress.file= and ready=1 (written atomically)
 * when everything runs. Exits only on an error or when killed. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *info_path, *trigger;
static char progress_path[4096], sigusr1_path[4096], sigusr1_tmp[4200];
static volatile sig_atomic_t sigusr1_count;
static int churn;
static atomic_int alive;
static volatile unsigned long progress;

static void die(const char *what)
{
	fprintf(stderr, "lc-freeze-threads: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void write_atomically(const char *path, const char *text)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if (!(f = fopen(tmp, "w")) || fputs(text, f) == EOF || fclose(f) == EOF)
		die(tmp);
	if (rename(tmp, path) < 0)
		die(path);
}

/* async-signal-safe: open, write, close, rename */
static void on_sigusr1(int sig)
{
	char text[16], *p = text + sizeof text;
	unsigned n = (unsigned)++sigusr1_count;
	int saved = errno, fd;

	(void)sig;
	*--p = '\n';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	fd = open(sigusr1_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, p, (size_t)(text + sizeof text - p)) < 0)
			_exit(3);
		close(fd);
		rename(sigusr1_tmp, sigusr1_path);
	}
	errno = saved;
}

static void *progress_main(void *arg)
{
	char text[32];

	(void)arg;
	for (;;) {
		for (int i = 0; i < 10; i++) {
			sleep_ms(1);
			progress++;
		}
		snprintf(text, sizeof text, "%lu\n", progress);
		write_atomically(progress_path, text);
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	volatile unsigned x = 0;

	(void)arg;
	for (int i = 0; i < 20000; i++)
		x += (unsigned)i;
	atomic_fetch_sub(&alive, 1);
	return NULL;
}

static void *spawner_main(void *arg)
{
	pthread_attr_t attr;

	(void)arg;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 << 10);
	for (;;) {
		pthread_t t;
		int rc;

		if (atomic_load(&alive) >= churn) {
			sched_yield();
			continue;
		}
		atomic_fetch_add(&alive, 1);
		rc = pthread_create(&t, &attr, short_lived, NULL);
		if (rc == EAGAIN) {
			atomic_fetch_sub(&alive, 1);
			sleep_ms(1);
			continue;
		}
		if (rc) {
			errno = rc;
			die("pthread_create");
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "churn", required_argument, NULL, 'c' },
		{ "zombie-leader", required_argument, NULL, 'z' },
		{ "sigusr1", no_argument, NULL, 'u' },
		{ 0 },
	};
	char info[16384];
	sigset_t all, old;
	bool sigusr1 = false;
	pthread_t t;
	int c;

	while ((c = getopt_long(argc, argv, "o:", longs, NULL)) != -1) {
		switch (c) {
		case 'o': info_path = optarg; break;
		case 'c': churn = atoi(optarg); break;
		case 'z': trigger = optarg; break;
		case 'u': sigusr1 = true; break;
		default:
			fprintf(stderr, "usage: lc-freeze-threads -o INFOFILE [--churn N] "
					"[--zombie-leader TRIGGER] [--sigusr1]\n");
			return 2;
		}
	}
	if (!info_path) {
		fprintf(stderr, "lc-freeze-threads: -o INFOFILE is required\n");
		return 2;
	}
	snprintf(progress_path, sizeof progress_path, "%s.progress", info_path);
	write_atomically(progress_path, "0\n");
	if (sigusr1) {
		struct sigaction sa = { .sa_handler = on_sigusr1 };

		snprintf(sigusr1_path, sizeof sigusr1_path, "%s.sigusr1", info_path);
		snprintf(sigusr1_tmp, sizeof sigusr1_tmp, "%s.sigusr1.tmp", info_path);
		write_atomically(sigusr1_path, "0\n");
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGUSR1, &sa, NULL) < 0)
			die("sigaction");
	}
	/* the helper threads never take a signal: the main thread does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if ((errno = pthread_create(&t, NULL, progress_main, NULL)))
		die("pthread_create");
	pthread_setname_np(t, "lc-progress");
	if (churn > 0) {
		if ((errno = pthread_create(&t, NULL, spawner_main, NULL)))
			die("pthread_create");
		pthread_setname_np(t, "lc-spawner");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	snprintf(info, sizeof info, "pid=%d\nprogress.file=%s\nsigusr1.file=%s\nready=1\n",
		 (int)getpid(), progress_path, sigusr1_path);
	write_atomically(info_path, info);
	if (trigger) {
		while (access(trigger, F_OK) < 0)
			sleep_ms(5);
		pthread_exit(NULL);
	}
	for (;;)
		pause();
}
