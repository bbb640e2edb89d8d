//  mt-auth-gateway: OpenAI-compatible REST gateway and admin API.
#include "gw_server.h"
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_util.h"

static mt_opt_t s_opts [] = {
    { "http-port", "MT_GW_HTTP_PORT", MT_OPT_INT, "8080", 1, 65535, "HTTP port" },
    { "http-bind", "MT_GW_HTTP_BIND", MT_OPT_STRING, "0.0.0.0", 0, 0, "HTTP listen address" },
    { "token-bind", "MT_GW_TOKEN_BIND", MT_OPT_STRING, "tcp://*:5560", 0, 0, "ROUTER for worker token streams" },
    { "token-endpoint", "MT_GW_TOKEN_ENDPOINT", MT_OPT_STRING, "tcp://127.0.0.1:5560", 0, 0, "token ROUTER as workers reach it" },
    { "scheduler", "MT_GW_SCHEDULER", MT_OPT_STRING, "tcp://127.0.0.1:5551", 0, 0, "scheduler endpoint" },
    { "quota", "MT_GW_QUOTA", MT_OPT_STRING, "tcp://127.0.0.1:5553", 0, 0, "quota-enforcer endpoint" },
    { "metering", "MT_GW_METERING", MT_OPT_STRING, "tcp://127.0.0.1:5554", 0, 0, "metering endpoint" },
    { "admin-token", "MT_ADMIN_TOKEN", MT_OPT_STRING, "", 0, 0, "admin API bearer token (empty: admin API off)" },
    { "pg-dsn", "MT_PG_DSN", MT_OPT_STRING, NULL, 0, 0, "PostgreSQL connection string" },
    { "usage-spool", "MT_GW_USAGE_SPOOL", MT_OPT_STRING, "", 0, 0,
      "file of usage events metering has not acknowledged (\"\": none)" },
    { "pg-wait-ms", "MT_PG_WAIT_MS", MT_OPT_INT, "30000", 0, 600000, "wait for PostgreSQL at start" },
    { "max-body", "MT_GW_MAX_BODY", MT_OPT_INT, "1048576", 1024, 8388608, "largest request body, bytes" },
    { "service-timeout-ms", "MT_GW_SERVICE_TIMEOUT_MS", MT_OPT_INT, "3000", 100, 600000, "wait for a service's answer" },
    { "request-timeout-ms", "MT_GW_REQUEST_TIMEOUT_MS", MT_OPT_INT, "600000", 1000, 86400000, "a job still running after this is cancelled" },
    { "drain-ms", "MT_GW_DRAIN_MS", MT_OPT_INT, "10000", 0, 600000, "on SIGTERM, time open streams may finish" },
    { "default-max-tokens", "MT_GW_DEFAULT_MAX_TOKENS", MT_OPT_INT, "512", 1, 1000000, "max_tokens when a request has none" },
    { "max-connections", "MT_GW_MAX_CONNECTIONS", MT_OPT_INT, "20000", 16, 1000000, "open HTTP connections at most" },
    { "metrics-tenants", "MT_GW_METRICS_TENANTS", MT_OPT_INT, "1000", 0, 100000, "tenants with /metrics series of their own (the rest: tenant=\"_other\")" },
    { "tls-cert", "MT_GW_TLS_CERT", MT_OPT_STRING, "", 0, 0, "PEM certificate (chain): serve HTTPS (empty: plain HTTP)" },
    { "tls-key", "MT_GW_TLS_KEY", MT_OPT_STRING, "", 0, 0, "PEM private key of that certificate" },
    { "max-body-chat", "MT_GW_MAX_BODY_CHAT", MT_OPT_INT, "0", 0, 67108864, "largest /v1/chat/completions body, bytes (0: max-body)" },
    { "max-body-completions", "MT_GW_MAX_BODY_COMPLETIONS", MT_OPT_INT, "0", 0, 67108864, "largest /v1/completions body, bytes (0: max-body)" },
    { "max-connections-per-client", "MT_GW_MAX_CONNECTIONS_PER_CLIENT", MT_OPT_INT, "1000", 0, 1000000, "open connections per client address (0: no cap)" },
    { "trusted-proxies", "MT_GW_TRUSTED_PROXIES", MT_OPT_STRING, "", 0, 0, "proxies whose X-Forwarded-For names the client (addresses, CIDR blocks)" },
    { "header-timeout-ms", "MT_GW_HEADER_TIMEOUT_MS", MT_OPT_INT, "60000", 200, 3600000, "a request's headers must arrive within this" },
    { "body-timeout-ms", "MT_GW_BODY_TIMEOUT_MS", MT_OPT_INT, "60000", 200, 3600000, "a request's body must arrive within this after its headers" },
    { "idle-timeout-ms", "MT_GW_IDLE_TIMEOUT_MS", MT_OPT_INT, "75000", 200, 3600000, "a kept-alive connection's next request must arrive within this" },
    { "auth-fail-burst", "MT_GW_AUTH_FAIL_BURST", MT_OPT_INT, "20", 0, 1000000, "401s a client address may get in a burst before 429 (0: off)" },
    { "auth-fail-interval-ms", "MT_GW_AUTH_FAIL_INTERVAL_MS", MT_OPT_INT, "1000", 1, 3600000, "one more 401 allowed each this often" },
    MT_CURVE_OPTIONS,
    MT_CPU_OPTION,
    { NULL }
};

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("auth-gateway", s_opts, argc, argv, &rc))
        return rc;
    mt_raise_nofile ();
    gw_server_config_t config = {
        .http_bind = mt_config_str (s_opts, "http-bind"),
        .http_port = (int) mt_config_int (s_opts, "http-port"),
        .token_bind = mt_config_str (s_opts, "token-bind"),
        .token_endpoint = mt_config_str (s_opts, "token-endpoint"),
        .scheduler = mt_config_str (s_opts, "scheduler"),
        .quota = mt_config_str (s_opts, "quota"),
        .metering = mt_config_str (s_opts, "metering"),
        .admin_token = mt_config_str (s_opts, "admin-token"),
        .pg_dsn = mt_config_str (s_opts, "pg-dsn"),
        .usage_spool = mt_config_str (s_opts, "usage-spool"),
        .pg_wait_ms = (int) mt_config_int (s_opts, "pg-wait-ms"),
        .max_body = mt_config_int (s_opts, "max-body"),
        .service_timeout_ms = (int) mt_config_int (s_opts, "service-timeout-ms"),
        .request_timeout_ms = (int) mt_config_int (s_opts, "request-timeout-ms"),
        .drain_ms = (int) mt_config_int (s_opts, "drain-ms"),
        .default_max_tokens = (int) mt_config_int (s_opts, "default-max-tokens"),
        .max_connections = (int) mt_config_int (s_opts, "max-connections"),
        .metrics_tenants = (int) mt_config_int (s_opts, "metrics-tenants"),
        .tls_cert = mt_config_str (s_opts, "tls-cert"),
        .tls_key = mt_config_str (s_opts, "tls-key"),
        .max_body_chat = mt_config_int (s_opts, "max-body-chat"),
        .max_body_completions = mt_config_int (s_opts, "max-body-completions"),
        .max_per_client = (int) mt_config_int (s_opts, "max-connections-per-client"),
        .trusted_proxies = mt_config_str (s_opts, "trusted-proxies"),
        .header_timeout_ms = (int) mt_config_int (s_opts, "header-timeout-ms"),
        .body_timeout_ms = (int) mt_config_int (s_opts, "body-timeout-ms"),
        .idle_timeout_ms = (int) mt_config_int (s_opts, "idle-timeout-ms"),
        .auth_fail_burst = (int) mt_config_int (s_opts, "auth-fail-burst"),
        .auth_fail_interval_ms = (int) mt_config_int (s_opts, "auth-fail-interval-ms"),
    };
    if (!*config.tls_cert != !*config.tls_key) {
        mt_log ("config-error option=%s reason=\"tls-cert and tls-key go together\"",
                *config.tls_cert? "tls-key": "tls-cert");
        return 2;
    }
    if (mt_curve_start (s_opts))
        return 2;
    rc = gw_server_run (&config) == 0? 0: 1;
    mt_curve_stop ();
    return rc;
}
