/* sandbox - lc-elfwrite's seccomp allow-list (libseccomp), entered once every
 * file is open. Paths cannot be filtered by seccomp, so the list holds no
 * open, openat, creat, link, mkdir, exec or socket call at all: after this
 * point the tool can only touch the descriptors it already has, plus rename
 * (the final step) and, when a temporary output exists, unlink (to remove it
 * on failure). lc-elfwrite(1) lists the calls. */
#ifndef LC_ELFWRITE_SANDBOX_H
#define LC_ELFWRITE_SANDBOX_H

#include <stdbool.h>

/* allow_unlink: a temporary output file may need removing on failure.
 * Returns 0 or -1 with errno set. A disallowed call fails with EPERM. */
int sandbox_enter(bool allow_unlink);

#endif
