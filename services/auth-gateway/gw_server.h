//  The gateway's server: one thread serves HTTP (libmicrohttpd in epoll mode,
//  suspend/resume) and every ZeroMQ socket from one poll loop.
#ifndef GW_SERVER_H_INCLUDED
#define GW_SERVER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
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
    const char *usage_spool;        //  file of usage events not yet acknowledged; "" = none
} gw_server_config_t;

typedef struct _gw_server_t gw_server_t;
typedef struct _gw_cache_t gw_cache_t;

//  Bind the token ROUTER, connect to the services, start the store thread
//  (none when pg_dsn is NULL: the caller then gives the cache with
//  gw_server_set_cache) and listen for HTTP. http_port 0 picks a free port;
//  an empty token_endpoint means the token ROUTER's own bound endpoint.
//  config is borrowed and must outlive the server. Caller owns; destroy with
//  gw_server_destroy. NULL when it cannot start (logged).
gw_server_t *gw_server_new (const gw_server_config_t *config);

//  Wait up to timeout_ms for HTTP or ZeroMQ work and serve it, then run the
//  timers. After SIGINT/SIGTERM or gw_server_stop: stop accepting, let open
//  requests finish up to drain_ms, close the rest, wait for usage acks; then
//  returns false (the server is done and may be destroyed). True otherwise.
bool gw_server_poll (gw_server_t *self, long timeout_ms);

//  Begin the drain at the next step, as SIGTERM does.
void gw_server_stop (gw_server_t *self);

//  Stop listening, drop what is left, free everything; nulls *self_p.
void gw_server_destroy (gw_server_t **self_p);

//  The HTTP port listened on, and the token endpoint given to workers.
int gw_server_http_port (gw_server_t *self);
const char *gw_server_token_endpoint (gw_server_t *self);

//  Replace the tenant and key cache (the store thread does this itself);
//  takes ownership and nulls *cache_p.
void gw_server_set_cache (gw_server_t *self, gw_cache_t **cache_p);

//  Usage events not yet acknowledged by metering; requests in flight.
size_t gw_server_usage_pending (gw_server_t *self);
size_t gw_server_requests (gw_server_t *self);

//  new, step until done, destroy. Returns 0, or -1 if it could not start.
int gw_server_run (const gw_server_config_t *config);

#endif
