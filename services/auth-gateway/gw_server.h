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
    int64_t max_body;               //  largest body of a route without its own limit
    int64_t max_body_chat;          //  POST /v1/chat/completions; 0 = max_body
    int64_t max_body_completions;   //  POST /v1/completions; 0 = max_body
    int service_timeout_ms;
    int request_timeout_ms;         //  a job still running after this is cancelled
    int drain_ms;
    int default_max_tokens;
    int max_connections;
    int metrics_tenants;            //  tenants with series of their own
    const char *tls_cert;           //  PEM file; "" or NULL = plain HTTP
    const char *tls_key;            //  PEM file of its private key
    //  the front door (gw_front.c)
    int max_per_client;             //  connections per client address; 0 = no cap
    const char *trusted_proxies;    //  "" or addresses/CIDR blocks whose X-Forwarded-For counts
    int header_timeout_ms;          //  a request's headers must be in within this
    int body_timeout_ms;            //  and its body within this after them
    int idle_timeout_ms;            //  a kept-alive connection's next request, within this
    int auth_fail_burst;            //  401s a client address may collect at once; 0 = off
    int auth_fail_interval_ms;      //  and one more each this often
} gw_server_config_t;

//  Run until SIGINT/SIGTERM; then stop accepting, drain open streams up to
//  drain_ms, flush usage events, and return. Returns 0, or -1 if it could
//  not start.
int gw_server_run (const gw_server_config_t *config);

#endif
