/* lc-seccomp-profile RULES PROGRAM [ARG...] - runs PROGRAM under the
 * seccomp filter a container runtime would build from its profile, as
 * Podman does from containers-common's /usr/share/containers/seccomp.json
 * (tests/seccomp-rules.jq turns that JSON into RULES for a container with
 * Podman's default capabilities on this architecture).
 *
 * RULES is text, one rule a line, applied in order with libseccomp (the
 * first rule for a system call wins, as when the runtime adds them):
 *
 *   default ACTION ERRNO                 the action for every other call
 *   ACTION ERRNO NAME N [INDEX OP VALUE VALUE2]...
 *                                        N argument conditions (SCMP_CMP_*)
 *
 * ACTION is the profile's: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO (with ERRNO),
 * SCMP_ACT_KILL, SCMP_ACT_KILL_PROCESS, SCMP_ACT_KILL_THREAD,
 * SCMP_ACT_TRAP, SCMP_ACT_LOG. A system call this libseccomp does not know
 * is skipped, as the runtime does. Exits 2 on a usage error or a bad
 * line, 1 when the filter cannot be loaded. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_action(const char *name, unsigned err, uint32_t *action)
{
	if (!strcmp(name, "SCMP_ACT_ALLOW"))
		*action = SCMP_ACT_ALLOW;
	else if (!strcmp(name, "SCMP_ACT_ERRNO"))
		*action = SCMP_ACT_ERRNO(err);
	else if (!strcmp(name, "SCMP_ACT_KILL") || !strcmp(name, "SCMP_ACT_KILL_THREAD"))
		*action = SCMP_ACT_KILL;
	else if (!strcmp(name, "SCMP_ACT_KILL_PROCESS"))
		*action = SCMP_ACT_KILL_PROCESS;
	else if (!strcmp(name, "SCMP_ACT_TRAP"))
		*action = SCMP_ACT_TRAP;
	else if (!strcmp(name, "SCMP_ACT_LOG"))
		*action = SCMP_ACT_LOG;
	else
		return -1;
	return 0;
}

static int parse_op(const char *name, enum scmp_compare *op)
{
	static const struct {
		const char *name;
		enum scmp_compare op;
	} ops[] = {
		{ "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT },
		{ "SCMP_CMP_LE", SCMP_CMP_LE }, { "SCMP_CMP_EQ", SCMP_CMP_EQ },
		{ "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
		{ "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
	};

	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!strcmp(name, ops[i].name)) {
			*op = ops[i].op;
			return 0;
		}
	return -1;
}

static void bad(const char *file, unsigned line, const char *why)
{
	fprintf(stderr, "lc-seccomp-profile: %s:%u: %s\n", file, line, why);
	exit(2);
}

int main(int argc, char **argv)
{
	scmp_filter_ctx ctx = NULL;
	char text[4096];
	unsigned line = 0, rules = 0;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: lc-seccomp-profile RULES PROGRAM [ARG...]\n");
		return 2;
	}
	if (!(f = fopen(argv[1], "r"))) {
		perror(argv[1]);
		return 2;
	}
	while (fgets(text, sizeof text, f)) {
		char *save = NULL, *tok[4 + 4 * 6];
		int n = 0;
		uint32_t action;

		line++;
		for (char *t = strtok_r(text, " \t\n", &save); t && n < (int)(sizeof tok / sizeof tok[0]);
		     t = strtok_r(NULL, " \t\n", &save))
			tok[n++] = t;
		if (n == 0)
			continue;
		if (!strcmp(tok[0], "default")) {
			if (ctx || n != 3 || parse_action(tok[1], (unsigned)atoi(tok[2]), &action) < 0)
				bad(argv[1], line, "want: default ACTION ERRNO, once, first");
			if (!(ctx = seccomp_init(action)))
				bad(argv[1], line, "seccomp_init failed");
			continue;
		}
		if (!ctx)
			bad(argv[1], line, "a rule before the default line");
		if (n < 4 || parse_action(tok[0], (unsigned)atoi(tok[1]), &action) < 0)
			bad(argv[1], line, "want: ACTION ERRNO NAME N [INDEX OP VALUE VALUE2]...");
		int nr = seccomp_syscall_resolve_name(tok[2]), nargs = atoi(tok[3]);
		struct scmp_arg_cmp cmp[6];

		if (nargs < 0 || nargs > 6 || n != 4 + 4 * nargs)
			bad(argv[1], line, "the argument conditions do not match their count");
		if (nr == __NR_SCMP_ERROR)
			continue;
		for (int k = 0; k < nargs; k++) {
			enum scmp_compare op;

			if (parse_op(tok[5 + 4 * k], &op) < 0)
				bad(argv[1], line, "an unknown comparison");
			cmp[k] = (struct scmp_arg_cmp){ (unsigned)atoi(tok[4 + 4 * k]), op,
							strtoull(tok[6 + 4 * k], NULL, 0),
							strtoull(tok[7 + 4 * k], NULL, 0) };
		}
		/* a second rule for the same call with another action is
		 * refused (EEXIST): the first stands */
		if (seccomp_rule_add_array(ctx, action, nr, (unsigned)nargs, cmp) == 0)
			rules++;
	}
	fclose(f);
	if (!ctx)
		bad(argv[1], line, "no default line");
	if (seccomp_load(ctx) < 0) {
		fprintf(stderr, "lc-seccomp-profile: seccomp_load: %s\n", strerror(errno));
		return 1;
	}
	seccomp_release(ctx);
	execvp(argv[2], argv + 2);
	fprintf(stderr, "lc-seccomp-profile: %s: %s\n", argv[2], strerror(errno));
	return 127;
}
