//  mt-metering: the durable ledger. Takes UsageEvents on a ROUTER, writes
//  them to request_logs and usage_records in batches on a database thread,
//  each event exactly once, and acknowledges what is stored.
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_pg.h"
#include "mt_util.h"
#include "mtr_server.h"
#include "mtr_store.h"

#include <czmq.h>
#include <stdio.h>

static mt_opt_t s_opts [] = {
    { "bind", "MT_MTR_BIND", MT_OPT_STRING, "tcp://*:5554", 0, 0, "ROUTER for usage events" },
    { "metrics-port", "MT_MTR_METRICS_PORT", MT_OPT_INT, "9103", 1, 65535, "/metrics, /healthz" },
    { "metrics-bind", "MT_MTR_METRICS_BIND", MT_OPT_STRING, "0.0.0.0", 0, 0,
      "/metrics listen address" },
    { "batch-max", "MT_MTR_BATCH_MAX", MT_OPT_INT, "500", 1, 10000,
      "events per database transaction, at most" },
    { "batch-ms", "MT_MTR_BATCH_MS", MT_OPT_INT, "20", 0, 10000, "longest wait to fill a batch" },
    { "memory-max", "MT_MTR_MEMORY_MAX", MT_OPT_INT, "10000", 1, 10000000,
      "usage events held in memory while the database does not take them" },
    { "spool", "MT_MTR_SPOOL", MT_OPT_STRING, "", 0, 0,
      "spool file for usage events beyond memory-max (\"\": none)" },
    { "pg-dsn", "MT_PG_DSN", MT_OPT_STRING, NULL, 0, 0, "PostgreSQL connection string" },
    { "pg-wait-ms", "MT_PG_WAIT_MS", MT_OPT_INT, "30000", 0, 600000,
      "how long to wait for PostgreSQL on start" },
    MT_CURVE_OPTIONS,
    MT_CPU_OPTION,
    { NULL }
};

static bool
s_health (char *why, size_t size)
{
    if (mtr_store_up ())
        return true;
    snprintf (why, size, "database unreachable");
    return false;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("metering", s_opts, argc, argv, &rc))
        return rc;
    if (mt_curve_start (s_opts))
        return 2;

    const char *dsn = mt_config_str (s_opts, "pg-dsn");
    PGconn *conn = mt_pg_connect (dsn, (int) mt_config_int (s_opts, "pg-wait-ms"));
    if (!conn) {
        if (mt_stopping ())
            return 0;
        mt_log ("exit reason=\"database unreachable after %d ms\"",
                (int) mt_config_int (s_opts, "pg-wait-ms"));
        return 1;
    }
    zactor_t *store = mtr_store_new (dsn, &conn);
    if (!store)
        return 1;
    mtr_server_t *server = mtr_server_new (mt_config_str (s_opts, "bind"), &store,
                                           (size_t) mt_config_int (s_opts, "batch-max"),
                                           (int) mt_config_int (s_opts, "batch-ms"),
                                           (size_t) mt_config_int (s_opts, "memory-max"),
                                           mt_config_str (s_opts, "spool"));
    if (!server)
        return 1;
    if (mt_metrics_serve (mt_config_str (s_opts, "metrics-bind"),
                          (int) mt_config_int (s_opts, "metrics-port"), s_health)) {
        mtr_server_destroy (&server);
        return 1;
    }
    rc = mtr_server_run (server);
    mt_metrics_stop ();
    mtr_server_destroy (&server);
    mt_curve_stop ();
    mt_log ("stopped");
    return rc;
}
