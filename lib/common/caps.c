#include "caps.h"
#include "xio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static cap_value_t caps_needed[8];
static int caps_n_needed;
static bool caps_from_file;

static int set_sets(const cap_value_t *list, int n, bool effective)
{
	cap_t c = cap_init(); /* all clear */
	int rc = -1;

	if (!c)
		return -1;
	if (n > 0) {
		if (cap_set_flag(c, CAP_PERMITTED, n, list, CAP_SET) < 0)
			goto out;
		if (effective && cap_set_flag(c, CAP_EFFECTIVE, n, list, CAP_SET) < 0)
			goto out;
	}
	rc = cap_set_proc(c);
out:
	cap_free(c);
	return rc;
}

static bool cap_listed(cap_value_t v, const cap_value_t *list, int n)
{
	for (int i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

/* The sanitizer builds (make check-asan) do not look for leaks, by default
 * compiled in: a tool run with file capabilities is in secure mode, where
 * the runtime ignores ASAN_OPTIONS; these are one-shot processes that
 * return from main on an error without freeing what they parsed (the
 * parsers' leaks are the fuzz targets' business); and LeakSanitizer's
 * exit check ptraces, which lc-elfwrite's seccomp filter refuses. */
#if defined(__SANITIZE_ADDRESS__)
#define CAPS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CAPS_UNDER_ASAN 1
#endif
#endif
#ifdef CAPS_UNDER_ASAN
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int caps_init(const cap_value_t *needed, int n)
{
	cap_t now = cap_get_proc();
	cap_flag_value_t have;
	bool has_setpcap = false;

	if (!now)
		return -1;
	if (n > (int)(sizeof caps_needed / sizeof caps_needed[0])) {
		cap_free(now);
		errno = EINVAL;
		return -1;
	}
	if (n > 0) /* lc-elfwrite needs nothing: needed is NULL, and memcpy's source may not be */
		memcpy(caps_needed, needed, (size_t)n * sizeof *needed);
	caps_n_needed = n;
	if (cap_get_flag(now, CAP_SETPCAP, CAP_PERMITTED, &have) == 0 && have == CAP_SET)
		has_setpcap = true;
	/* privileged without being root: file capabilities */
	caps_from_file = getuid() != 0 && geteuid() != 0;
	if (caps_from_file) {
		bool any = false;

		for (int i = 0; i < n; i++)
			if (cap_get_flag(now, needed[i], CAP_PERMITTED, &have) == 0 && have == CAP_SET)
				any = true;
		caps_from_file = any;
	}
	cap_free(now);

	/* No new privileges: an exec from here on cannot gain any (and seccomp
	 * filters can be installed without CAP_SYS_ADMIN). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	/* Cut the bounding set to what this tool needs: dropping from it takes
	 * CAP_SETPCAP in the effective set, which only root has here. */
	if (has_setpcap) {
		cap_t raise = cap_get_proc();
		cap_value_t setpcap = CAP_SETPCAP;

		if (!raise || cap_set_flag(raise, CAP_EFFECTIVE, 1, &setpcap, CAP_SET) < 0 ||
		    cap_set_proc(raise) < 0) {
			cap_free(raise);
			return -1;
		}
		cap_free(raise);
		for (cap_value_t v = 0; v <= cap_max_bits() - 1; v++) {
			if (cap_listed(v, needed, n))
				continue;
			if (cap_drop_bound(v) < 0 && errno != EINVAL)
				return -1;
		}
	}
	if (cap_reset_ambient() < 0 && errno != EINVAL && errno != ENOSYS)
		return -1;
	/* Keep in permitted only what we were given and need; effective empty. */
	{
		cap_t c = cap_get_proc();
		cap_value_t keep[8];
		int k = 0;

		if (!c)
			return -1;
		for (int i = 0; i < n; i++)
			if (cap_get_flag(c, needed[i], CAP_PERMITTED, &have) == 0 && have == CAP_SET)
				keep[k++] = needed[i];
		cap_free(c);
		return set_sets(keep, k, false);
	}
}

bool caps_file_mode(void)
{
	return caps_from_file;
}

static int caps_effective(bool on)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t have;
	cap_value_t list[8];
	int k = 0, rc;

	if (!c)
		return -1;
	for (int i = 0; i < caps_n_needed; i++)
		if (caps_needed[i] != CAP_SYS_ADMIN &&
		    cap_get_flag(c, caps_needed[i], CAP_PERMITTED, &have) == 0 && have == CAP_SET)
			list[k++] = caps_needed[i];
	if (k > 0 && cap_set_flag(c, CAP_EFFECTIVE, k, list, on ? CAP_SET : CAP_CLEAR) < 0) {
		cap_free(c);
		return -1;
	}
	rc = k > 0 ? cap_set_proc(c) : 0;
	cap_free(c);
	return rc;
}

int caps_raise(void)
{
	return caps_effective(true);
}

int caps_lower(void)
{
	return caps_effective(false);
}

static int caps_one(cap_value_t v, bool on)
{
	cap_t c = cap_get_proc();
	int rc = -1;

	if (!c)
		return -1;
	if (on && !caps_permitted(v))
		errno = EPERM;
	else if (cap_set_flag(c, CAP_EFFECTIVE, 1, &v, on ? CAP_SET : CAP_CLEAR) == 0)
		rc = cap_set_proc(c);
	cap_free(c);
	return rc;
}

int caps_raise_one(cap_value_t v)
{
	return caps_one(v, true);
}

int caps_lower_one(cap_value_t v)
{
	return caps_one(v, false);
}

bool caps_permitted(cap_value_t v)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t have = CAP_CLEAR;

	if (c)
		cap_get_flag(c, v, CAP_PERMITTED, &have);
	cap_free(c);
	return have == CAP_SET;
}

int caps_drop_all(void)
{
	if (cap_reset_ambient() < 0 && errno != EINVAL && errno != ENOSYS)
		return -1;
	return set_sets(NULL, 0, false);
}

int caps_keep(const cap_value_t *keep, int n, const cap_value_t *effective, int ne)
{
	cap_t have = cap_get_proc(), c = cap_init();
	cap_flag_value_t v;
	int rc = -1;

	if (!have || !c)
		goto out;
	for (int i = 0; i < n; i++) {
		if (cap_get_flag(have, keep[i], CAP_PERMITTED, &v) < 0 || v != CAP_SET)
			continue;
		if (cap_set_flag(c, CAP_PERMITTED, 1, &keep[i], CAP_SET) < 0 ||
		    (cap_listed(keep[i], effective, ne) &&
		     cap_set_flag(c, CAP_EFFECTIVE, 1, &keep[i], CAP_SET) < 0))
			goto out;
	}
	rc = cap_set_proc(c);
out:
	cap_free(have);
	cap_free(c);
	return rc;
}

int caps_keep_only(const cap_value_t *keep, int n)
{
	cap_t c = cap_get_proc();
	cap_flag_value_t have;
	cap_value_t list[8];
	int k = 0;

	if (!c)
		return -1;
	for (int i = 0; i < n && k < 8; i++)
		if (cap_get_flag(c, keep[i], CAP_PERMITTED, &have) == 0 && have == CAP_SET)
			list[k++] = keep[i];
	cap_free(c);
	return set_sets(list, k, true);
}

int caps_verify_none(void)
{
	cap_t c = cap_get_proc();
	cap_t empty = cap_init();
	int differ;

	if (!c || !empty) {
		cap_free(c);
		cap_free(empty);
		return -1;
	}
	differ = cap_compare(c, empty);
	cap_free(c);
	cap_free(empty);
	if (differ) {
		errno = EPERM;
		return -1;
	}
	return 0;
}

int caps_check_own_target(const uid_t target_uid[4])
{
	uid_t me = getuid();

	if (!caps_from_file)
		return 0;
	for (int i = 0; i < 4; i++) {
		if (target_uid[i] != me) {
			errno = EPERM;
			return -1;
		}
	}
	return 0;
}

int caps_describe_self(char *buf, size_t len)
{
	char *status = xio_read_path_all("/proc/self/status", NULL);
	const char *want[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp" };
	size_t used = 0;

	if (!status)
		return -1;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		char key[32];
		const char *at;

		snprintf(key, sizeof key, "\n%s:", want[i]);
		at = strstr(status, key);
		if (at) {
			const char *v = at + strlen(key);
			int n;

			while (*v == '\t' || *v == ' ')
				v++;
			n = snprintf(buf + used, len - used, "%s%s=%.*s", used ? " " : "", want[i],
				     (int)strcspn(v, "\n"), v);
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += (size_t)n;
		}
	}
	free(status);
	return 0;
}
