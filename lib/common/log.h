/* log - the tools' one voice on stderr: "tool: what failed: why".
 * Only tools call this; library code returns errors and never prints. */
#ifndef LC_LOG_H
#define LC_LOG_H

#include <stdbool.h>

void log_init(const char *progname);
const char *log_progname(void);
void log_set_quiet(bool quiet);

/* "tool: message" */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "tool: message: strerror(errno)" (errno as it was on entry) */
void log_errno(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* informational lines; silenced by log_set_quiet(true) */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
