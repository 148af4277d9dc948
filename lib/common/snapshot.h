/* snapshot - a copy-on-write clone of another process, made inside its
 * ptrace stop, to read at leisure after the process runs again (-T fork;
 * ../shared/notes/fork-snapshot.md, DESIGN.md "fork").
 *
 * The clone is injected (inject_clone) in a stopped thread:
 * clone(CLONE_FILES) with no exit signal, no new stack.
 *  - No CLONE_VM: the child's memory is the process's at this instant,
 *    copy-on-write. CLONE_FILES: the fd table is shared, so that no pipe
 *    or socket is held open by a copy of it (a reader of a pipe the
 *    process closes sees EOF).
 *  - Exit signal 0: the process gets no SIGCHLD, and its wait(-1) (and
 *    waitpid without __WALL or __WCLONE) never sees the child.
 *  - Traced from birth: the injecting thread carries PTRACE_O_TRACECLONE
 *    (and, for the call alone, PTRACE_O_EXITKILL, which the child
 *    inherits): the child starts in a ptrace stop before it returns to
 *    user space and never leaves it. If we die, the kernel detaches our
 *    tracees and sends the child SIGKILL first (PT_EXITKILL): it dies on
 *    its way out of the stop, before a single instruction of the
 *    process's code.
 *  - Who reaps it: a traced child's death is reported to us, but its
 *    zombie belongs to its real parent, the process, which is never told
 *    (exit signal 0). snapshot_end therefore kills the child, takes its
 *    death as tracer, and then reaps the zombie in the process itself: a
 *    second ptrace stop, of one thread, in which wait4(child, __WALL) is
 *    injected. A zombie is left only if we are killed between the two; it
 *    holds no memory and the process's ordinary waits never see it.
 *
 * What the child does not hold the stop copies from the process itself
 * (lc-freeze: MAP_SHARED, MADV_DONTFORK, MADV_WIPEONFORK). */
#ifndef LC_SNAPSHOT_H
#define LC_SNAPSHOT_H

#include "ptrace_stop.h"

#include <stdint.h>
#include <sys/types.h>

struct snapshot {
	pid_t tid;              /* the clone as we see it; 0: none */
	pid_t ns_pid;           /* its pid in the process's pid namespace */
	int mem_fd;             /* /proc/TID/mem (snapshot_open); -1 */
	int pagemap_fd;         /* /proc/TID/pagemap (snapshot_open); -1 */
	int64_t clone_us;       /* the injected clone */
	uint64_t insn;          /* the syscall instruction it was made at (kill_child) */
};

void snapshot_init(struct snapshot *sn);

/* Inside the stop s: the clone, from a thread inject_pick_thread gives,
 * at the syscall instruction insn (inject_check_syscall), and its first
 * stop waited for. -1 with errno: the clone failed in the process (EAGAIN:
 * its cgroup's pids.max or RLIMIT_NPROC; ENOMEM), or ptrace did; nothing
 * is left then. */
int snapshot_take(struct snapshot *sn, struct ptrace_stop *s, int proc_dirfd, int mem_fd,
		  uint64_t insn);

/* Opens the clone's /proc/TID/mem, which the copy reads (never
 * process_vm_readv: its pin makes the kernel copy a page the clone shares
 * with the process), and its pagemap; the caller holds what opening them
 * takes (another uid's: CAP_DAC_READ_SEARCH). */
int snapshot_open(struct snapshot *sn);

/* The memory the clone holds alone: pages the process wrote since the
 * clone, of which the clone keeps the old copy (smaps_rollup Private_Clean
 * + Private_Dirty). It only grows while the clone lives. */
int snapshot_private_bytes(const struct snapshot *sn, uint64_t *bytes);

/* Kills the clone, takes its death, and reaps its zombie in process pid
 * (a stop of its leader alone, or of every thread where the leader is a
 * zombie: inject_hold_thread, with the filter of a process under seccomp
 * suspended as inject_suspend_seccomp says).
 * *reap_us: that stop's length, -1 if there was none. -1 with errno when
 * the reap failed (the zombie stays until the process exits); the clone
 * is dead in any case. */
int snapshot_end(struct snapshot *sn, pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd,
		 uint64_t insn, int64_t *reap_us);

/* The zombie of a clone, ns_pid in process pid's namespace, reaped in
 * pid: what snapshot_end does after the kill, and lc-freeze -R after a
 * lc-freeze that was killed (the kernel killed its clone). */
int snapshot_reap(pid_t ns_pid, pid_t pid, int proc_dirfd, int task_dirfd, int mem_fd,
		  uint64_t insn, int64_t *reap_us);

/* What the process uses, in bytes (smaps_rollup): resident, anonymous,
 * and of that in huge pages. */
struct snapshot_rollup {
	uint64_t rss, anon, anon_huge;
};
int snapshot_rollup(int proc_dirfd, struct snapshot_rollup *r);

/* The least memory free (limit - usage, 0 when over) in the process's
 * memory cgroup and its ancestors, as /proc/PID/cgroup (proc_dirfd) names
 * them: cgroup v2 (memory.max, memory.current) under /sys/fs/cgroup or
 * /sys/fs/cgroup/unified, v1 (memory.limit_in_bytes, memory.usage_in_bytes)
 * under /sys/fs/cgroup/memory. UINT64_MAX when no limit was found. */
uint64_t snapshot_headroom(int proc_dirfd);

/* Why a clone of the process must not be made, in why; NULL when it may.
 * While the clone lives, every page the process writes first is copied
 * and charged to its memory cgroup: at worst (it rewrites all of its
 * anonymous memory before the copy ends) its whole anonymous memory, and
 * a cgroup with less free than that could have the process killed for
 * memory a dump made it use. LIVECORE_TEST_NO_CLONE in the environment
 * refuses every clone (the tests and make bench: the ladder's later steps
 * where a clone could be made). */
const char *snapshot_refused(int proc_dirfd, char *why, size_t whylen);

#endif
