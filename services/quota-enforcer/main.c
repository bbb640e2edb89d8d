//  mt-quota-enforcer: the cluster-wide authority for requests/minute,
//  tokens/minute and daily tokens. Rebuilds today's usage from PostgreSQL,
//  then serves Admit/Settle on one ROUTER with no database access.
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"
#include "qe_quota.h"
#include "qe_server.h"
#include "qe_store.h"

#include <czmq.h>

static mt_opt_t s_opts [] = {
    { "bind", "MT_QE_BIND", MT_OPT_STRING, "tcp://*:5553", 0, 0, "ROUTER for gateways" },
    { "metrics-port", "MT_QE_METRICS_PORT", MT_OPT_INT, "9102", 1, 65535, "/metrics, /healthz" },
    { "metrics-bind", "MT_QE_METRICS_BIND", MT_OPT_STRING, "0.0.0.0", 0, 0,
      "/metrics listen address" },
    { "reservation-ttl-ms", "MT_QE_RESERVATION_TTL_MS", MT_OPT_INT, "600000", 1000, 86400000,
      "a reservation never settled expires after this" },
    { "warmup-ms", "MT_QE_WARMUP_MS", MT_OPT_INT, "1000", 0, 60000,
      "after start, Admits wait this long while gateways re-announce reservations" },
    { "gateway-timeout-ms", "MT_QE_GATEWAY_TIMEOUT_MS", MT_OPT_INT, "5000", 2000, 3600000,
      "a gateway silent this long is gone: its reservations are released unused" },
    { "pg-dsn", "MT_PG_DSN", MT_OPT_STRING, NULL, 0, 0, "PostgreSQL connection string" },
    { "pg-wait-ms", "MT_PG_WAIT_MS", MT_OPT_INT, "30000", 0, 600000,
      "how long to wait for PostgreSQL on start" },
    MT_CURVE_OPTIONS,
    MT_CPU_OPTION,
    { NULL }
};

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("quota-enforcer", s_opts, argc, argv, &rc))
        return rc;
    if (mt_curve_start (s_opts))
        return 2;

    qe_quota_t *quota = qe_quota_new ((uint64_t) mt_config_int (s_opts, "reservation-ttl-ms"));
    if (!quota)
        return 1;
    if (qe_store_rebuild (mt_config_str (s_opts, "pg-dsn"),
                          (int) mt_config_int (s_opts, "pg-wait-ms"), quota, mt_now_ms ()) < 0) {
        mt_log ("exit reason=\"cannot rebuild today's usage from PostgreSQL\"");
        qe_quota_destroy (&quota);
        return 1;
    }
    if (mt_stopping ()) {
        qe_quota_destroy (&quota);
        return 0;
    }
    qe_server_t *server = qe_server_new (mt_config_str (s_opts, "bind"), &quota);
    if (!server)
        return 1;
    qe_server_set_warmup (server, (int) mt_config_int (s_opts, "warmup-ms"));
    qe_server_set_gateway_timeout (server, (int) mt_config_int (s_opts, "gateway-timeout-ms"));
    if (mt_metrics_serve (mt_config_str (s_opts, "metrics-bind"),
                          (int) mt_config_int (s_opts, "metrics-port"), NULL)) {
        qe_server_destroy (&server);
        return 1;
    }
    rc = qe_server_run (server);
    mt_metrics_stop ();
    qe_server_destroy (&server);
    mt_curve_stop ();
    mt_log ("stopped");
    return rc;
}
