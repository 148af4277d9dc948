/* caps - least privilege on libcap (DESIGN.md "Privilege model").
 *
 * Two ways to be privileged:
 *  - run as root: caps_init() keeps only the capabilities the tool names in
 *    the permitted set (bounding set cut to match), sets PR_SET_NO_NEW_PRIVS,
 *    and leaves the effective set empty;
 *  - file capabilities in the permitted set only (make install-caps): the
 *    same, and caps_file_mode() is true: the tool must then refuse a target
 *    that is not the caller's own (caps_check_own_target).
 * Around the one open that needs privilege: caps_raise() ... caps_lower().
 * When setup is done: caps_drop_all(), then caps_verify_none().
 * Unprivileged callers run with nothing and need nothing for their own
 * processes. */
#ifndef LC_CAPS_H
#define LC_CAPS_H

#include <stdbool.h>
#include <sys/capability.h>
#include <sys/types.h>

/* needed: the capabilities this tool may raise later (n may be 0). */
int caps_init(const cap_value_t *needed, int n);
/* true when privilege came from file capabilities, not from uid 0 */
bool caps_file_mode(void);
/* Raise (lower) every needed capability that is permitted, but
 * CAP_SYS_ADMIN: that one is only ever in force alone, for the one call
 * that needs it (caps_raise_one). */
int caps_raise(void);
int caps_lower(void);
/* Puts v into (takes it out of) the effective set, leaving the rest as it
 * is. -1 with errno EPERM when v is not permitted. */
int caps_raise_one(cap_value_t v);
int caps_lower_one(cap_value_t v);
/* Whether v is in the permitted set. */
bool caps_permitted(cap_value_t v);
/* Empties effective, permitted, inheritable and ambient sets. */
int caps_drop_all(void);
/* Keeps only `keep` (permitted and effective), drops everything else. */
int caps_keep_only(const cap_value_t *keep, int n);
/* Keeps only `keep` permitted, and of those only `effective` effective
 * (each must be in keep): one that a later phase needs stays raisable
 * without being in force meanwhile. */
int caps_keep(const cap_value_t *keep, int n, const cap_value_t *effective, int ne);
/* -1 with errno = EPERM if any capability is still effective or permitted. */
int caps_verify_none(void);
/* In file-capability mode, the target's real, effective, saved and fs uids
 * must all be the caller's real uid (what ptrace checks for an unprivileged
 * caller). Returns -1 with errno = EPERM otherwise. */
int caps_check_own_target(const uid_t target_uid[4]);

/* Writes "CapInh=... CapPrm=... CapEff=... CapBnd=... CapAmb=... NoNewPrivs=N
 * Seccomp=N" of this process into buf (what a tool prints after setup when
 * LIVECORE_DEBUG_PRIVILEGES is set; the tests read it). */
int caps_describe_self(char *buf, size_t len);

#endif
