//  One line per event on stderr: "service: event key=value ...".
#ifndef MT_LOG_H_INCLUDED
#define MT_LOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Set the service name that starts every line. Borrowed: must outlive logging.
//  MT_LOG_FORMAT=json makes every line one JSON object instead (mt_log_json).
void mt_log_init (const char *service);

//  One event line "event key=value key=\"quoted value\" ..." as a JSON object:
//  {"ts":"<ISO 8601 UTC, ms>","service":...,"event":...,"key":"value",...};
//  values stay strings, a word without '=' goes to "extra". Pure. Writes at
//  most size bytes (with the NUL) into out; returns the length, or 0 when
//  it did not fit or the line is empty.
size_t mt_log_json (const char *service, const char *line, uint64_t now_ms,
                    char *out, size_t size);

//  Write one event line. fmt is "event key=value ..." without a newline.
void mt_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  From now on, lines this thread writes are held in a buffer, up to
//  hold_ms, and written together by mt_log_flush or mt_log_flush_due, or
//  when the next line would not fit (at most PIPE_BUF bytes a write, so a
//  write to a pipe stays whole among other threads' lines): one write for
//  many lines instead of one a line. Lines of other threads are written at
//  once, so they may come out before lines this thread held earlier. What
//  is held is written at exit (atexit) and on SIGSEGV, SIGBUS, SIGFPE,
//  SIGILL or SIGABRT before the handler that was there runs; SIGKILL, or a
//  crash that breaks the buffer, loses it.
void mt_log_hold (int hold_ms);

//  Write the lines held so far (one write).
void mt_log_flush (void);

//  Write the held lines when the oldest has waited hold_ms (a loop calls it
//  once a turn). Returns the ms until the oldest held line is due, or -1
//  when none is held (a loop that must not be later may wait no longer).
long mt_log_flush_due (void);

//  Same, only when MT_LOG_DEBUG is set in the environment.
void mt_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  True when MT_LOG_DEBUG is set: for debug lines whose arguments cost work.
bool mt_log_debug (void);

#endif
