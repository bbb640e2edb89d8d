//  Event logging to stderr, one write per line so lines of threads never mix.
#include "mt_log.h"

#include <jansson.h>
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
            ssize_t rc = write (STDERR_FILENO, json, jl);
            (void) rc;
            return;
        }
    }
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
