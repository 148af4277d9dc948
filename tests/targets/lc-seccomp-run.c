/* lc-seccomp-run KIND PROGRAM [ARG...] - runs PROGRAM under a seccomp
 * filter of the kind containers and hardened services use, aimed at the
 * call livecore's uffd tracker injects (userfaultfd(2)):
 *
 *   allow    every call allowed (a filter that is there and says yes)
 *   errno    userfaultfd fails with EPERM (Podman's and Docker's default
 *            profiles answer it so)
 *   kill     userfaultfd kills the process (SECCOMP_RET_KILL_PROCESS)
 *   trap     userfaultfd raises SIGSYS (SECCOMP_RET_TRAP), which kills a
 *            process that does not handle it
 *   notify   userfaultfd is handed to a supervisor (SECCOMP_RET_USER_NOTIF,
 *            as container runtimes do): a child of this launcher that
 *            answers EPERM, counts what it was asked in PROGRAM's
 *            environment's LC_SECCOMP_NOTIFY_FILE (if set), and dies with
 *            the process
 *
 * Every other call is allowed. The filter is installed after
 * PR_SET_NO_NEW_PRIVS and is kept across the exec, so PROGRAM runs under
 * it from its first instruction. Exits 2 on a usage error, 1 when the
 * filter cannot be installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "lc-seccomp-run: an architecture livecore does not build for"
#endif

static void die(const char *what)
{
	fprintf(stderr, "lc-seccomp-run: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Answers every notification with EPERM until the process is gone. */
static void supervise(int listener, const char *count_file)
{
	struct seccomp_notif_sizes sizes;
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;
	unsigned long asked = 0;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		die("SECCOMP_GET_NOTIF_SIZES");
	req = calloc(1, sizes.seccomp_notif);
	resp = calloc(1, sizes.seccomp_notif_resp);
	if (!req || !resp)
		die("calloc");
	for (;;) {
		struct pollfd p = { .fd = listener, .events = POLLIN };

		if (poll(&p, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL))
			_exit(0);
		memset(req, 0, sizes.seccomp_notif);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
			continue;
		asked++;
		if (count_file) {
			FILE *f = fopen(count_file, "w");

			if (f) {
				fprintf(f, "%lu\n", asked);
				fclose(f);
			}
		}
		memset(resp, 0, sizes.seccomp_notif_resp);
		resp->id = req->id;
		resp->error = -EPERM;
		ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp);
	}
}

int main(int argc, char **argv)
{
	unsigned action;
	const char *kind = argc > 2 ? argv[1] : NULL;

	if (!kind) {
		fprintf(stderr, "usage: lc-seccomp-run allow|errno|kill|trap|notify PROGRAM [ARG...]\n");
		return 2;
	}
	if (!strcmp(kind, "allow"))
		action = SECCOMP_RET_ALLOW;
	else if (!strcmp(kind, "errno"))
		action = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
	else if (!strcmp(kind, "kill"))
		action = SECCOMP_RET_KILL_PROCESS;
	else if (!strcmp(kind, "trap"))
		action = SECCOMP_RET_TRAP;
	else if (!strcmp(kind, "notify"))
		action = SECCOMP_RET_USER_NOTIF;
	else {
		fprintf(stderr, "lc-seccomp-run: bad kind \"%s\"\n", kind);
		return 2;
	}

	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_userfaultfd, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
	unsigned flags = action == SECCOMP_RET_USER_NOTIF ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
	long fd;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS");
	fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
	if (fd < 0)
		die("seccomp");
	if (flags) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0)
			supervise((int)fd, getenv("LC_SECCOMP_NOTIFY_FILE"));
		close((int)fd);
	}
	execvp(argv[2], argv + 2);
	die(argv[2]);
}
