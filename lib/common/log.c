#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *log_name = "livecore";
static bool log_quiet;

void log_init(const char *progname)
{
	const char *slash = strrchr(progname, '/');

	log_name = slash ? slash + 1 : progname;
}

const char *log_progname(void)
{
	return log_name;
}

void log_set_quiet(bool quiet)
{
	log_quiet = quiet;
}

static void log_vprint(const char *fmt, va_list ap, const char *suffix)
{
	/* one fprintf per line so that lines of parallel tools do not interleave */
	char line[2048];

	vsnprintf(line, sizeof line, fmt, ap);
	if (suffix)
		fprintf(stderr, "%s: %s: %s\n", log_name, line, suffix);
	else
		fprintf(stderr, "%s: %s\n", log_name, line);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vprint(fmt, ap, NULL);
	va_end(ap);
}

void log_errno(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vprint(fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	if (log_quiet)
		return;
	va_start(ap, fmt);
	log_vprint(fmt, ap, NULL);
	va_end(ap);
}
