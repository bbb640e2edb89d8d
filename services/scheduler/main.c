//  mt-scheduler: fair queues per (pool, model), concurrency leases, dispatch
//  to workers by credit. Options, then the server loop.
#include "sch_server.h"
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <czmq.h>

static mt_opt_t s_opts [] = {
    { "gateway-bind", "MT_SCHED_GATEWAY_BIND", MT_OPT_STRING, "tcp://*:5551", 0, 0,
      "ROUTER for gateways" },
    { "worker-bind", "MT_SCHED_WORKER_BIND", MT_OPT_STRING, "tcp://*:5552", 0, 0,
      "ROUTER for workers" },
    { "metrics-port", "MT_SCHED_METRICS_PORT", MT_OPT_INT, "9101", 1, 65535,
      "/metrics and /healthz port" },
    { "metrics-bind", "MT_SCHED_METRICS_BIND", MT_OPT_STRING, "0.0.0.0", 0, 0,
      "/metrics and /healthz address" },
    { "worker-timeout-ms", "MT_SCHED_WORKER_TIMEOUT_MS", MT_OPT_INT, "3000", 1500, 3600000,
      "a worker silent this long is dead" },
    { "gateway-timeout-ms", "MT_SCHED_GATEWAY_TIMEOUT_MS", MT_OPT_INT, "5000", 2000, 3600000,
      "a gateway silent this long is gone: its jobs are cancelled at their workers" },
    { "queue-max", "MT_SCHED_QUEUE_MAX", MT_OPT_INT, "10000", 1, 10000000,
      "queued jobs per pool+model before no_capacity" },
    { "policy", "MT_SCHED_POLICY", MT_OPT_STRING, "vtc", 0, 0,
      "who goes next in a queue: vtc (weighted fair) or fifo" },
    { "head-start", "MT_SCHED_HEAD_START", MT_OPT_INT, "128", 0, 1000000000,
      "vtc: tokens per unit of weight a tenant coming back may start ahead" },
    { "warm-up-ms", "MT_SCHED_WARM_UP_MS", MT_OPT_INT, "3000", 0, 3600000,
      "after a (re)start, jobs wait this long for workers to announce themselves "
      "before no_capacity" },
    MT_CURVE_OPTIONS,
    MT_CPU_OPTION,
    { NULL }
};

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("scheduler", s_opts, argc, argv, &rc))
        return rc;
    mt_raise_nofile ();
    sch_fairq_policy_t policy;
    if (sch_fairq_policy_parse (mt_config_str (s_opts, "policy"), &policy)) {
        mt_log ("config-invalid option=policy value=\"%.64s\" reason=\"vtc or fifo\"",
                mt_config_str (s_opts, "policy"));
        return 2;
    }
    if (mt_curve_start (s_opts))
        return 2;
    sch_server_config_t config = {
        .gateway_bind = mt_config_str (s_opts, "gateway-bind"),
        .worker_bind = mt_config_str (s_opts, "worker-bind"),
        .worker_timeout_ms = (int) mt_config_int (s_opts, "worker-timeout-ms"),
        .gateway_timeout_ms = (int) mt_config_int (s_opts, "gateway-timeout-ms"),
        .queue_max = (int) mt_config_int (s_opts, "queue-max"),
        .policy = policy,
        .head_start = (uint64_t) mt_config_int (s_opts, "head-start"),
        .warm_up_ms = (int) mt_config_int (s_opts, "warm-up-ms"),
    };
    sch_server_t *server = sch_server_new (&config);
    if (!server)
        return 1;
    if (mt_metrics_serve (mt_config_str (s_opts, "metrics-bind"),
                          (int) mt_config_int (s_opts, "metrics-port"), NULL)) {
        sch_server_destroy (&server);
        return 1;
    }
    sch_server_run (server);
    mt_metrics_stop ();
    sch_server_destroy (&server);
    mt_curve_stop ();
    mt_log ("stopped");
    return 0;
}
