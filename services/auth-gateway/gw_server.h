//  The gateway's server: one thread serves HTTP (libmicrohttpd in epoll mode,
//  suspend/resume) and every ZeroMQ socket from one poll loop.
#ifndef GW_SERVER_H_INCLUDED
#define GW_SERVER_H_INCLUDED

#include <stdint.h>

typedef struct {
    const char *http_bind;          //  "0.0.0.0"
    int http_port;
    const char *token_bind;         //  ROUTER for worker token streams
    const char *token_endpoint;     //  that ROUTER as workers reach it
    const char *scheduler;
    const char *quota;
    const char *metering;
    const char *admin_token;        //  "" = admin API off
    const char *pg_dsn;
    int pg_wait_ms;
    int64_t max_body;
    int service_timeout_ms;
    int request_timeout_ms;         //  a job still running after this is cancelled
    int drain_ms;
    int default_max_tokens;
    int max_connections;
    int metrics_tenants;            //  tenants with series of their own
} gw_server_config_t;

//  Run until SIGINT/SIGTERM; then stop accepting, drain open streams up to
//  drain_ms, flush usage events, and return. Returns 0, or -1 if it could
//  not start.
int gw_server_run (const gw_server_config_t *config);

#endif
