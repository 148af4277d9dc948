#include "cli.h"
#include "caps.h"
#include "exitcode.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>

int cli_open_target(pid_t pid, struct target *t)
{
	if (target_open(pid, t) == 0)
		return EXIT_OK;
	if (errno == ESRCH) {
		log_error("no process %d", (int)pid);
		return EXIT_NO_TARGET;
	}
	log_errno("cannot open /proc/%d", (int)pid);
	return EXIT_FAILURE_IO;
}

void cli_report_privileges(const char *when)
{
	char desc[512];

	if (getenv("LIVECORE_DEBUG_PRIVILEGES") && caps_describe_self(desc, sizeof desc) == 0)
		log_error("privileges %s: %s", when, desc);
}
