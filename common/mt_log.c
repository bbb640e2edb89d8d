//  Event logging to stderr, one write per line so lines of threads never mix.
#include "mt_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_service = "mt";
static bool s_debug = false;

void
mt_log_init (const char *service)
{
    s_service = service;
    const char *dbg = getenv ("MT_LOG_DEBUG");
    s_debug = dbg && *dbg && strcmp (dbg, "0") != 0;
}

static void
s_vlog (const char *fmt, va_list ap)
{
    char line [1024];
    int n = snprintf (line, sizeof line, "%s: ", s_service);
    if (n < 0 || n >= (int) sizeof line)
        return;
    int m = vsnprintf (line + n, sizeof line - n - 1, fmt, ap);
    if (m < 0)
        return;
    size_t len = (size_t) n + ((size_t) m < sizeof line - n - 1? (size_t) m: sizeof line - n - 2);
    line [len++] = '\n';
    ssize_t rc = write (STDERR_FILENO, line, len);
    (void) rc;
}

void
mt_log (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    s_vlog (fmt, ap);
    va_end (ap);
}

void
mt_debug (const char *fmt, ...)
{
    if (!s_debug)
        return;
    va_list ap;
    va_start (ap, fmt);
    s_vlog (fmt, ap);
    va_end (ap);
}
