//  The gateway's HTTP side: libmicrohttpd's handlers (routes, authentication,
//  body checks, the SSE reader that suspends a stream until tokens arrive).
//  It sees the rest of the gateway only through what gw_http_new is given:
//  borrowed handles, and two calls that hand a request to the backend side
//  (gw_server.c). The server tells it the current tenant cache and when the
//  drain begins.
#ifndef GW_HTTP_H_INCLUDED
#define GW_HTTP_H_INCLUDED

#include "gw_req.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _gw_http_t gw_http_t;
typedef struct _gw_front_t gw_front_t;
typedef struct _gw_store_t gw_store_t;
typedef struct _gw_catalog_t gw_catalog_t;
typedef struct _gw_ready_t gw_ready_t;
typedef struct _gw_meter_t gw_meter_t;
typedef struct _gw_cache_t gw_cache_t;

//  What the HTTP side needs: four settings, and handles it borrows (each
//  outlives it).
typedef struct {
    int64_t max_body;               //  largest body of a route without its own limit
    int64_t max_body_chat;          //  POST /v1/chat/completions; 0 = max_body
    int64_t max_body_completions;   //  POST /v1/completions; 0 = max_body
    uint32_t default_max_tokens;    //  of a request that names none
    gw_reqs_t *reqs;                //  the request registry
    gw_list_t *waiting;             //  requests waiting for a service's answer
    gw_front_t *front;              //  connection admission, auth-failure throttle
    gw_store_t *store;              //  admin API, /v1/usage, keys seen; NULL without a database
    gw_catalog_t *catalog;          //  the scheduler's last catalog: models, health
    gw_ready_t *ready;              //  connections to the three services: /readyz
    gw_live_t *live;                //  per-tenant activity: console, /metrics
    gw_meter_t *meter;              //  usage events not yet acknowledged: console
    //  A parsed, named inference request goes to admission (the reply moves
    //  it on); the job of a request whose client left is cancelled. arg is
    //  given back to both.
    void (*admit) (void *arg, gw_req_t *req);
    void (*cancel) (void *arg, gw_req_t *req);
    void *arg;
} gw_http_deps_t;

//  deps is copied. Caller owns; destroy with gw_http_destroy once the
//  daemon is stopped. NULL if out of memory.
gw_http_t *gw_http_new (const gw_http_deps_t *deps);
void gw_http_destroy (gw_http_t **self_p);

//  The tenant and key cache to authenticate with (borrowed; NULL = not
//  loaded yet), given again each time the server swaps it.
void gw_http_set_cache (gw_http_t *self, gw_cache_t *cache);

//  The drain began: every new request gets 503.
void gw_http_drain (gw_http_t *self);

//  libmicrohttpd's access handler and request-completed callback; cls is
//  the gw_http_t.
enum MHD_Result gw_http_access (void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls);
void gw_http_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

#endif
