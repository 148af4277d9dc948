/* lc-vdsospin -o INFOFILE - a thread that lives in the vdso.
 *
 * On x86-64 only the vdso's clock functions put a thread inside [vdso]; a
 * thread blocked in a system call sits in libc. So one thread here calls
 * clock_gettime(CLOCK_PROCESS_CPUTIME_ID) without end: the vdso cannot
 * answer that clock from its data page and makes the system call itself
 * (the kernel's lib/vdso fallback), so nearly all of the thread's time is
 * spent in the kernel entered from the vdso, and a stop (SIGSTOP, ptrace)
 * finds its rip inside [vdso]. A reader must then unwind through the vdso,
 * with the CFI it finds in the vdso's pages in the core, to reach
 * lc_spin_in_vdso.
 *
 * Writes INFOFILE atomically when the thread runs, as KEY=VALUE lines:
 * pid, exe, vdso.tid, vdso.func, main.func, ready=1. Runs until killed.
 * Built -O0 -fno-omit-frame-pointer (the Makefile's rule for targets). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t spin_tid;

static void die(const char *what)
{
	fprintf(stderr, "lc-vdsospin: %s: %s\n", what, strerror(errno));
	exit(1);
}

__attribute__((noinline)) void lc_spin_in_vdso(void)
{
	struct timespec ts;

	for (;;)
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
}

static void *spin_main(void *arg)
{
	(void)arg;
	spin_tid = (pid_t)syscall(SYS_gettid);
	lc_spin_in_vdso();
	return NULL;
}

__attribute__((noinline)) void lc_vdsospin_main_wait(void)
{
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	char tmp[PATH_MAX], exe[PATH_MAX];
	pthread_t t;
	ssize_t n;
	FILE *f;
	int rc;

	if (argc != 3 || strcmp(argv[1], "-o")) {
		fprintf(stderr, "usage: lc-vdsospin -o INFOFILE\n");
		return 2;
	}
	rc = pthread_create(&t, NULL, spin_main, NULL);
	if (rc) {
		errno = rc;
		die("pthread_create");
	}
	pthread_setname_np(t, "lc-vdso");
	while (!spin_tid)
		usleep(1000);

	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[2]);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, "pid=%d\nexe=%s\nvdso.tid=%d\nvdso.func=lc_spin_in_vdso\nmain.func=lc_vdsospin_main_wait\nready=1\n",
		(int)getpid(), exe, (int)spin_tid);
	if (fclose(f) != 0)
		die(tmp);
	if (rename(tmp, argv[2]) < 0)
		die(argv[2]);
	lc_vdsospin_main_wait();
	return 1;
}
