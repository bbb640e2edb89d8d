//  The operators' console: its static files (built into the binary from
//  services/auth-gateway/console/ by the Makefile), GET /admin/v1/live (the
//  gateway's and scheduler's state now) and GET /admin/v1/usage/series
//  (usage_records summed per hour or day).
#ifndef GW_CONSOLE_H_INCLUDED
#define GW_CONSOLE_H_INCLUDED

#include "gw_admin.h"

#include <stdbool.h>
#include <stddef.h>

//  One embedded file (generated: build/gen/gw_console_assets.c).
typedef struct {
    const char *path;               //  "index.html", relative to /admin/
    const char *ctype;              //  Content-Type
    const unsigned char *data;
    size_t len;
} gw_asset_t;

extern const gw_asset_t gw_console_assets [];
extern const size_t gw_console_nassets;

//  True when url is a console page or file (/admin, /admin/, /admin/<file>),
//  not the admin API (/admin/v1/...).
bool gw_console_match (const char *url);

//  The file for url ("/admin" and "/admin/" give index.html). Borrowed;
//  NULL when there is none.
const gw_asset_t *gw_console_find (const char *url);

//  ---------------------------------------------------------------------
//  Usage series (gw_series.c)

typedef struct {
    gw_usage_query_t range;         //  tenant_id, from, to
    bool day;                       //  per day; else per hour
} gw_series_query_t;

//  True for GET|HEAD /admin/v1/usage/series (any other method: also true;
//  the handler answers 405).
bool gw_series_match (const char *path);

//  Read tenant_id, from, to, granularity (hour|day, default hour).
//  Returns 0, or -1 with err set.
int gw_series_query (const char *query, gw_series_query_t *q, gw_admin_err_t *err);

//  Run it on the store thread's connection. Always fills reply.
void gw_series_handle (PGconn *conn, const char *method, const char *query,
                       gw_admin_reply_t *reply);

//  ---------------------------------------------------------------------
//  Handlers on the gateway's main thread (gw_console.c)

typedef struct _gw_req_t gw_req_t;
typedef struct _gw_reqs_t gw_reqs_t;
typedef struct _gw_cache_t gw_cache_t;
typedef struct _gw_catalog_t gw_catalog_t;
typedef struct _gw_live_t gw_live_t;
typedef struct _gw_meter_t gw_meter_t;

//  What GET /admin/v1/live reads; all borrowed for the call.
typedef struct {
    gw_reqs_t *reqs;                //  requests in flight, open streams
    gw_cache_t *cache;              //  tenant names, tiers and limits; or NULL
    gw_catalog_t *catalog;          //  pools, workers, queues
    gw_live_t *live;                //  per-tenant activity, refusals, errors
    gw_meter_t *meter;              //  usage events not yet acknowledged
} gw_console_view_t;

//  GET a console file: sets the response (404 when there is none).
void gw_console_serve (gw_req_t *req, const char *method, const char *url);

//  True when url is GET /admin/v1/live (admin token already checked); then
//  the response is set: pools and workers, queues, busiest tenants, refusals
//  and recent errors.
bool gw_console_live (const gw_console_view_t *view, gw_req_t *req, const char *method,
                      const char *url);

//  The whole /metrics text: the registry's and the per-tenant series (daily
//  limits from cache, which may be NULL). Caller owns; free().
char *gw_console_metrics (gw_live_t *live, gw_cache_t *cache);

#endif
