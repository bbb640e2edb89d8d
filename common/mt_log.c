//  Event logging to stderr, one write per line so lines of threads never mix;
//  a thread that holds its lines writes several whole lines in one write.
#include "mt_log.h"
#include "mt_util.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *s_service = "mt";
static bool s_debug = false;
static bool s_json = false;

//  Held lines (mt_log_hold): one thread's, written by mt_log_flush
static char s_held [PIPE_BUF];
static size_t s_held_len = 0;
static volatile sig_atomic_t s_holding = 0;
static int s_hold_ms = 0;
static uint64_t s_held_since = 0;      //  when the oldest held line came, ms
static pthread_t s_holder;
static const int s_fatal [] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
static struct sigaction s_fatal_old [sizeof s_fatal / sizeof s_fatal [0]];

void
mt_log_init (const char *service)
{
    s_service = service;
    const char *dbg = getenv ("MT_LOG_DEBUG");
    s_debug = dbg && *dbg && strcmp (dbg, "0") != 0;
    const char *format = getenv ("MT_LOG_FORMAT");
    s_json = format && !strcmp (format, "json");
}

//  One value: a quoted string (backslash escapes its quote) or a bare word.
//  Advances *p past it; writes the value into out.
static void
s_value (const char **p, char *out, size_t size)
{
    const char *c = *p;
    size_t n = 0;
    if (*c == '"') {
        c++;
        while (*c && *c != '"') {
            if (*c == '\\' && c [1])
                c++;
            if (n + 1 < size)
                out [n++] = *c;
            c++;
        }
        if (*c == '"')
            c++;
    }
    else
        while (*c && *c != ' ') {
            if (n + 1 < size)
                out [n++] = *c;
            c++;
        }
    out [n] = 0;
    *p = c;
}

//  A JSON string of text; bytes that are not valid UTF-8 become '?'.
static json_t *
s_str (char *text)
{
    json_t *j = json_string (text);
    if (j)
        return j;
    for (char *c = text; *c; c++)
        if ((unsigned char) *c >= 0x80)
            *c = '?';
    return json_string (text);
}

size_t
mt_log_json (const char *service, const char *line, uint64_t now_ms, char *out, size_t size)
{
    while (line && *line == ' ')
        line++;
    if (!line || !*line || !out || size < 2)
        return 0;
    json_t *obj = json_object ();
    if (!obj)
        return 0;
    char ts [40];
    time_t s = (time_t) (now_ms / 1000);
    struct tm tm;
    gmtime_r (&s, &tm);
    size_t k = strftime (ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (ts + k, sizeof ts - k, ".%03uZ", (unsigned) (now_ms % 1000));
    json_object_set_new (obj, "ts", json_string (ts));
    json_object_set_new (obj, "service", json_string (service? service: "mt"));
    char *extra = NULL;
    size_t extra_len = 0;
    FILE *ef = open_memstream (&extra, &extra_len);
    const char *p = line;
    bool first = true;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *word = p;
        while (*p && *p != ' ' && *p != '=')
            p++;
        char key [64], value [1024];
        size_t klen = (size_t) (p - word);
        if (*p == '=' && !first && klen && klen < sizeof key) {
            memcpy (key, word, klen);
            key [klen] = 0;
            p++;
            s_value (&p, value, sizeof value);
            json_object_set_new (obj, key, s_str (value));
            continue;
        }
        //  Not key=value: the event name (first word) or extra text
        p = word;
        s_value (&p, value, sizeof value);
        if (first)
            json_object_set_new (obj, "event", s_str (value));
        else
        if (ef)
            fprintf (ef, "%s%s", ftell (ef)? " ": "", value);
        first = false;
    }
    if (ef) {
        fclose (ef);
        if (extra && *extra)
            json_object_set_new (obj, "extra", s_str (extra));
    }
    free (extra);
    size_t need = json_dumpb (obj, NULL, 0, JSON_COMPACT | JSON_ENSURE_ASCII);
    size_t len = 0;
    if (need && need < size)
        len = json_dumpb (obj, out, size - 1, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref (obj);
    if (len >= size)
        return 0;
    out [len] = 0;
    return len;
}

//  The whole of data, across partial writes and interruptions; async-signal-safe
static void
s_write (const char *data, size_t len)
{
    while (len > 0) {
        ssize_t rc = write (STDERR_FILENO, data, len);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return;
        data += rc;
        len -= (size_t) rc;
    }
}

void
mt_log_flush (void)
{
    if (!s_held_len)
        return;
    size_t len = s_held_len;
    s_held_len = 0;
    s_write (s_held, len);
}

//  A fatal signal: write what is held, then let the handler that was there
//  (the default: die, or a sanitizer's report) take the same signal. A fault
//  the kernel raised happens again when this returns, now to that handler,
//  with its own details; a signal sent (abort, kill) is sent again.
static void
s_on_fatal (int sig, siginfo_t *info, void *context)
{
    (void) context;
    int saved = errno;
    if (s_held_len <= sizeof s_held)
        s_write (s_held, s_held_len);
    s_held_len = 0;
    for (size_t i = 0; i < sizeof s_fatal / sizeof s_fatal [0]; i++)
        if (s_fatal [i] == sig)
            sigaction (sig, &s_fatal_old [i], NULL);
    if (!info || info->si_code <= 0)
        raise (sig);
    errno = saved;
}

static void
s_flush_at_exit (void)
{
    mt_log_flush ();
}

void
mt_log_hold (int hold_ms)
{
    s_hold_ms = hold_ms > 0? hold_ms: 0;
    if (s_holding)
        return;
    s_holder = pthread_self ();
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_sigaction = s_on_fatal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset (&sa.sa_mask);
    for (size_t i = 0; i < sizeof s_fatal / sizeof s_fatal [0]; i++)
        sigaction (s_fatal [i], &sa, &s_fatal_old [i]);
    atexit (s_flush_at_exit);
    s_holding = 1;
}

long
mt_log_flush_due (void)
{
    if (!s_held_len)
        return -1;
    uint64_t now = mt_mono_ms ();
    uint64_t due = s_held_since + (uint64_t) s_hold_ms;
    if (now < due)
        return (long) (due - now);
    mt_log_flush ();
    return -1;
}

//  One finished line (with its newline): held, or written at once
static void
s_emit (const char *line, size_t len)
{
    if (!s_holding || !pthread_equal (pthread_self (), s_holder)) {
        s_write (line, len);
        return;
    }
    if (s_held_len + len > sizeof s_held)
        mt_log_flush ();
    if (len > sizeof s_held) {
        s_write (line, len);
        return;
    }
    if (!s_held_len)
        s_held_since = mt_mono_ms ();
    memcpy (s_held + s_held_len, line, len);
    s_held_len += len;
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
    line [len] = 0;
    char json [2048];
    if (s_json) {
        struct timeval tv;
        gettimeofday (&tv, NULL);
        uint64_t now = (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
        size_t jl = mt_log_json (s_service, line + n, now, json, sizeof json - 1);
        if (jl) {
            json [jl++] = '\n';
            s_emit (json, jl);
            return;
        }
    }
    line [len++] = '\n';
    s_emit (line, len);
}

void
mt_log (const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    s_vlog (fmt, ap);
    va_end (ap);
}

bool
mt_log_debug (void)
{
    return s_debug;
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
