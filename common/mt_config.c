//  Option table loader.
#define _GNU_SOURCE             //  sched_setaffinity, CPU_SET
#include "mt_config.h"
#include "mt_log.h"
#include "mt_util.h"

#include <assert.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mt_opt_t *
s_find (mt_opt_t *opts, const char *name, size_t len)
{
    for (mt_opt_t *o = opts; o->name; o++)
        if (strlen (o->name) == len && memcmp (o->name, name, len) == 0)
            return o;
    return NULL;
}

static int
s_parse (mt_opt_t *o, const char *value, const char *source)
{
    o->str = value;
    if (o->type == MT_OPT_STRING)
        return 0;
    if (o->type == MT_OPT_BOOL) {
        if (!strcmp (value, "1") || !strcmp (value, "true") || !strcmp (value, "yes"))
            o->num = 1;
        else
        if (!strcmp (value, "0") || !strcmp (value, "false") || !strcmp (value, "no") || !*value)
            o->num = 0;
        else {
            mt_log ("config-error option=%s source=%s reason=\"not a boolean: %s\"",
                    o->name, source, value);
            return -1;
        }
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long long v = strtoll (value, &end, 10);
    if (errno || end == value || *end) {
        mt_log ("config-error option=%s source=%s reason=\"not an integer: %s\"",
                o->name, source, value);
        return -1;
    }
    if (v < o->min || v > o->max) {
        mt_log ("config-error option=%s source=%s reason=\"%lld out of range [%lld, %lld]\"",
                o->name, source, v, (long long) o->min, (long long) o->max);
        return -1;
    }
    o->num = v;
    return 0;
}

static void
s_usage (mt_opt_t *opts)
{
    for (mt_opt_t *o = opts; o->name; o++)
        fprintf (stderr, "  --%-22s %-26s default=%s  %s\n", o->name, o->env,
                 o->dflt? o->dflt: "(required)", o->help? o->help: "");
}

int
mt_config_load (mt_opt_t *opts, int argc, char **argv)
{
    for (mt_opt_t *o = opts; o->name; o++) {
        o->str = NULL;
        o->num = 0;
        if (o->dflt && s_parse (o, o->dflt, "default"))
            return -1;
        const char *env = o->env? getenv (o->env): NULL;
        if (env && s_parse (o, env, o->env))
            return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        if (!strcmp (arg, "--help") || !strcmp (arg, "-h")) {
            s_usage (opts);
            return 1;
        }
        if (strncmp (arg, "--", 2) != 0) {
            mt_log ("config-error reason=\"unexpected argument: %s\"", arg);
            return -1;
        }
        const char *eq = strchr (arg + 2, '=');
        size_t len = eq? (size_t) (eq - arg - 2): strlen (arg + 2);
        mt_opt_t *o = s_find (opts, arg + 2, len);
        if (!o) {
            mt_log ("config-error reason=\"unknown option: %.*s\"", (int) len + 2, arg);
            return -1;
        }
        const char *value = eq? eq + 1: (o->type == MT_OPT_BOOL? "1": NULL);
        if (!value) {
            if (i + 1 >= argc) {
                mt_log ("config-error option=%s reason=\"missing value\"", o->name);
                return -1;
            }
            value = argv [++i];
        }
        if (s_parse (o, value, "flag"))
            return -1;
    }
    for (mt_opt_t *o = opts; o->name; o++)
        if (!o->str) {
            mt_log ("config-error option=%s reason=\"required: set %s or --%s\"",
                    o->name, o->env? o->env: "-", o->name);
            return -1;
        }
    return 0;
}

//  Pin the calling thread, and every thread it starts from now on, to cpu
//  (-1: leave it). Returns 0, or -1 after logging why not.
static int
s_pin (int cpu)
{
    if (cpu < 0)
        return 0;
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    if (sched_setaffinity (0, sizeof set, &set)) {
        mt_log ("config-error option=cpu reason=\"cannot run on CPU %d: %s\"", cpu, strerror (errno));
        return -1;
    }
    mt_log ("cpu-pinned cpu=%d", cpu);
    return 0;
}

bool
mt_config_start (const char *service, mt_opt_t *opts, int argc, char **argv, int *exit_code)
{
    mt_log_init (service);
    mt_signals_install ();
    int rc = mt_config_load (opts, argc, argv);
    *exit_code = rc > 0? 0: 2;
    if (rc == 0 && s_find (opts, "cpu", 3) && s_pin ((int) mt_config_int (opts, "cpu")))
        return false;
    return rc == 0;
}

const char *
mt_config_str (mt_opt_t *opts, const char *name)
{
    mt_opt_t *o = s_find (opts, name, strlen (name));
    assert (o);
    return o->str;
}

int64_t
mt_config_int (mt_opt_t *opts, const char *name)
{
    mt_opt_t *o = s_find (opts, name, strlen (name));
    assert (o);
    return o->num;
}
