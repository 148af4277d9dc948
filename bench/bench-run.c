/* bench-run - run a command and append one line to LOG: its name, when it
 * started and ended (CLOCK_MONOTONIC, ns: the clock bench-target's probe
 * reads, so the two can be laid side by side), its peak RSS from wait4
 * (KiB; the largest of the command and every descendant it waited for)
 * and its exit status. Exits as the command did.
 *
 *   bench-run LOG NAME COMMAND [ARG]...
 *
 * bench/run.sh puts small scripts named like livecore's tools first on
 * PATH that exec this with the real tool, so each tool livecore.sh runs
 * is measured on its own. SIGINT, SIGTERM and SIGHUP are passed to the
 * command (livecore.sh's cleanup sends SIGTERM to the running tool). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child;

static void forward(int sig)
{
	if (child > 0)
		kill((pid_t)child, sig);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = forward };
	struct rusage usage;
	uint64_t start, end;
	int status, code;
	pid_t pid;
	FILE *log;

	if (argc < 4) {
		fprintf(stderr, "usage: bench-run LOG NAME COMMAND [ARG]...\n");
		return 2;
	}
	start = now_ns();
	pid = fork();
	if (pid < 0) {
		perror("bench-run: fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[3], argv + 3);
		fprintf(stderr, "bench-run: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	child = pid;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (wait4(pid, &status, 0, &usage) < 0)
		if (errno != EINTR) {
			perror("bench-run: wait4");
			return 1;
		}
	end = now_ns();
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (!(log = fopen(argv[1], "a"))) {
		perror(argv[1]);
		return 1;
	}
	fprintf(log, "%s %" PRIu64 " %" PRIu64 " %ld %d\n", argv[2], start, end, usage.ru_maxrss, code);
	if (fclose(log) != 0) {
		perror(argv[1]);
		return 1;
	}
	return code;
}
