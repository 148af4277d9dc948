/* cli - steps every tool's main() takes the same way. Unlike the rest of
 * lib/common these report on stderr (through log) and hand back an exit
 * status (exitcode.h): they speak for the tool that calls them. */
#ifndef LC_CLI_H
#define LC_CLI_H

#include "target.h"

/* target_open with the tools' messages: EXIT_OK, EXIT_NO_TARGET ("no
 * process N") or EXIT_FAILURE_IO. */
int cli_open_target(pid_t pid, struct target *t);

/* With LIVECORE_DEBUG_PRIVILEGES set, prints "privileges WHEN: CapInh=...
 * ... Seccomp=N" (caps_describe_self): how the tests read what a tool
 * holds. */
void cli_report_privileges(const char *when);

#endif
