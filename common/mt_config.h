//  One table declares every option of a service: name, environment variable,
//  type, default (NULL = required) and bounds. Defaults < environment < flags
//  (--name=value). A bad value stops the start with one line naming the option.
#ifndef MT_CONFIG_H_INCLUDED
#define MT_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    MT_OPT_STRING,
    MT_OPT_INT,
    MT_OPT_BOOL
} mt_opt_type_t;

typedef struct {
    const char *name;           //  flag name, e.g. "http-port"
    const char *env;            //  environment variable, e.g. "MT_GW_HTTP_PORT"
    mt_opt_type_t type;
    const char *dflt;           //  default as text; NULL means required
    int64_t min;                //  bounds for MT_OPT_INT
    int64_t max;
    const char *help;
    //  Filled by mt_config_load:
    const char *str;            //  value as text (borrowed from env/argv/dflt)
    int64_t num;                //  MT_OPT_INT and MT_OPT_BOOL value
} mt_opt_t;

//  Load options from defaults, environment and argv. Returns 0, or -1 after
//  logging one line that names the bad option. "--help" prints the table and
//  returns 1.
int mt_config_load (mt_opt_t *opts, int argc, char **argv);

//  The option of every service that pins it to one CPU (in its table). On a
//  small machine where every core runs several services, a process whose
//  threads (its loop, libzmq's I/O threads, its actors) share one CPU wakes
//  them without an interrupt to another core; on this project's 2-core VM
//  that cut the stack's CPU per request by about a quarter.
#define MT_CPU_OPTION \
    { "cpu", "MT_CPU", MT_OPT_INT, "-1", -1, 1023, \
      "run every thread of this process on this CPU (-1: wherever the kernel puts them)" }

//  A service's start: name its log lines, take SIGINT/SIGTERM, load its
//  options, and pin the process to its CPU when the table has MT_CPU_OPTION
//  and it is set (before any thread starts: they all inherit it). Returns
//  true to go on; false when main should return *exit_code (0 after --help,
//  2 after a bad option, with one line naming it).
bool mt_config_start (const char *service, mt_opt_t *opts, int argc, char **argv,
                      int *exit_code);

//  Find an option by name. Aborts on a name not in the table (programmer error).
const char *mt_config_str (mt_opt_t *opts, const char *name);
int64_t mt_config_int (mt_opt_t *opts, const char *name);

#endif
