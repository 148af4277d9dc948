#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <sys/mman.h>

/* Calls on descriptors, memory, signals and exit only. Why each: */
static const int sandbox_allowed[] = {
	SCMP_SYS(read), SCMP_SYS(pread64),          /* manifest, staging, notes */
	SCMP_SYS(write), SCMP_SYS(pwrite64),        /* the core, stderr */
	SCMP_SYS(lseek),                            /* SEEK_DATA/SEEK_HOLE, sparse output */
	SCMP_SYS(copy_file_range),                  /* data copied inside the kernel */
	SCMP_SYS(fstat), SCMP_SYS(fstatfs),         /* sizes, free space */
	SCMP_SYS(fsync), SCMP_SYS(fdatasync),
	SCMP_SYS(fallocate),                        /* punching holes in place */
	SCMP_SYS(ftruncate),                        /* final size; undoing in place */
	SCMP_SYS(rename), SCMP_SYS(renameat), SCMP_SYS(renameat2), /* the final step */
	SCMP_SYS(close),
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise), /* malloc */
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(tgkill), /* raise() after cleanup */
	SCMP_SYS(clock_gettime),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/* Built with AddressSanitizer (make check-asan), the runtime's own calls
 * must get through the allow-list too. Memory errors are caught and
 * reported inside the filter (unsymbolized: module and offset, for
 * addr2line). LeakSanitizer's check at exit would stop the world (clone,
 * ptrace, mprotect of a guard page: calls the filter refuses and must keep
 * refusing); the sanitizer builds of the tools do not look for leaks
 * (lib/common/caps.c). The filter adds futex alone (below): what the tests
 * check is otherwise the real build's filter. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_UNDER_ASAN 1
#endif
#endif

int sandbox_enter(bool allow_unlink)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int rc = 0;

	if (!ctx) {
		errno = ENOMEM;
		return -1;
	}
	for (size_t i = 0; rc == 0 && i < sizeof sandbox_allowed / sizeof sandbox_allowed[0]; i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sandbox_allowed[i], 0);
	/* glibc's fstat is newfstatat(fd, "", buf, AT_EMPTY_PATH): allow only
	 * that form, never a lookup by path */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
				      SCMP_A3(SCMP_CMP_EQ, AT_EMPTY_PATH));
	/* malloc's mappings, never executable ones */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				      SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
#ifdef SANDBOX_UNDER_ASAN
	/* the sanitizer's error report unwinds the stack, which takes glibc's
	 * loader lock: a futex; refused, glibc aborts before the report is
	 * printed. Nothing else of the report needs more than this list. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(futex), 0);
#endif
	if (rc == 0 && allow_unlink)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(unlink), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return 0;
}
