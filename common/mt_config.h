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

//  A service's start: name its log lines, take SIGINT/SIGTERM, load its
//  options. Returns true to go on; false when main should return *exit_code
//  (0 after --help, 2 after a bad option, with one line naming it).
bool mt_config_start (const char *service, mt_opt_t *opts, int argc, char **argv,
                      int *exit_code);

//  Find an option by name. Aborts on a name not in the table (programmer error).
const char *mt_config_str (mt_opt_t *opts, const char *name);
int64_t mt_config_int (mt_opt_t *opts, const char *name);

#endif
