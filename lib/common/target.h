/* target - the process being dumped: its /proc directory held open, and its
 * identity (pid + starttime), so that a pid reused by another process is
 * noticed instead of dumped. */
#ifndef LC_TARGET_H
#define LC_TARGET_H

#include "procfs.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define TARGET_PF_KTHREAD 0x00200000ul /* include/linux/sched.h */
#define TARGET_PF_EXITING 0x00000004ul /* set when do_exit starts, before the mm goes */

struct target {
	pid_t pid;
	int proc_dirfd;             /* /proc/PID, O_PATH|O_DIRECTORY */
	struct procfs_stat stat;
	struct procfs_status status;
};

/* Strict pid parsing: decimal, 1..4194304, nothing else. */
int target_parse_pid(const char *arg, pid_t *out);

/* Opens /proc/PID and reads stat and status. -1 with errno = ESRCH when
 * the process does not exist. */
int target_open(pid_t pid, struct target *t);
void target_close(struct target *t);

/* Re-reads stat through the held directory and checks starttime: -1 with
 * errno = ESRCH when the process exited or the pid now names another one. */
int target_verify(struct target *t, uint64_t starttime);

/* true when the process is gone, a zombie, or on its way out (PF_EXITING:
 * killed, its memory being torn down; calls on it fail with ENOMEM, EFAULT
 * or ESRCH). Re-reads stat through the held directory. */
bool target_dying(struct target *t, uint64_t starttime);

/* Why this target has no memory to dump, or NULL: "is a zombie",
 * "is a kernel thread". */
const char *target_not_dumpable(const struct target *t);

/* true when every thread of the process is in a group stop (state T:
 * SIGSTOP, SIGTSTP, a job-control stop), as a user leaves a process before
 * attaching a debugger. Such a process is copied once while lc-freeze holds
 * it (it cannot run, so nothing it writes needs tracking) and stays stopped
 * afterwards. A thread traced by another process (t) does not count. */
bool target_stopped(const struct target *t);

#endif
