//  One line per event on stderr: "service: event key=value ...".
#ifndef MT_LOG_H_INCLUDED
#define MT_LOG_H_INCLUDED

#include <stdbool.h>

//  Set the service name that starts every line. Borrowed: must outlive logging.
void mt_log_init (const char *service);

//  Write one event line. fmt is "event key=value ..." without a newline.
void mt_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

//  Same, only when MT_LOG_DEBUG is set in the environment.
void mt_debug (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
