//  The operators' console on the gateway's main thread: its embedded files,
//  GET /admin/v1/live, and the per-tenant series of /metrics.
#include "gw_console.h"
#include "gw_catalog.h"
#include "gw_live.h"
#include "gw_meter.h"
#include "gw_req.h"
#include "gw_store.h"

#include "mt_metrics.h"
#include "mt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BUSIEST_MAX  20       //  tenants in the live view
#define S_REFUSALS_MAX 20       //  tenants in the refusal table
#define GW_ENGINE_DOWN_AFTER 3  //  engine failures in a row: shown unhealthy (as mt_wa_engine_up)

bool
gw_console_match (const char *url)
{
    if (!url || strncmp (url, "/admin", 6))
        return false;
    if (!url [6])
        return true;
    return url [6] == '/' && strncmp (url + 7, "v1/", 3) && strcmp (url + 7, "v1");
}

const gw_asset_t *
gw_console_find (const char *url)
{
    if (!gw_console_match (url))
        return NULL;
    const char *path = url [6]? url + 7: "";
    if (!*path)
        path = "index.html";
    for (size_t i = 0; i < gw_console_nassets; i++)
        if (!strcmp (gw_console_assets [i].path, path))
            return &gw_console_assets [i];
    return NULL;
}

void
gw_console_serve (gw_req_t *req, const char *method, const char *url)
{
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        gw_req_set_error (req, mt_error_lookup ("method_not_allowed"), NULL, NULL, NULL);
        return;
    }
    const gw_asset_t *a = gw_console_find (url);
    if (!a) {
        gw_req_set_error (req, mt_error_lookup ("not_found"), NULL, NULL, NULL);
        return;
    }
    char *body = malloc (a->len + 1);
    if (!body) {
        gw_req_set_error (req, mt_error_lookup ("internal_error"), NULL, NULL, NULL);
        return;
    }
    memcpy (body, a->data, a->len);
    body [a->len] = 0;
    gw_req_set_body (req, 200, body);
    req->ctype = a->ctype;
}

//  --------------------------------------------------------------------------
//  GET /admin/v1/live

typedef struct {
    uint32_t running, waiting;
} s_flight_t;

static void
s_flight_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  Requests of each tenant this gateway holds now: running (tokens flow) or
//  waiting (admission, scheduler queue, no token yet).
static zhashx_t *
s_in_flight (gw_reqs_t *reqs)
{
    zhashx_t *flight = zhashx_new ();
    if (!flight)
        return NULL;
    zhashx_set_destructor (flight, s_flight_free);
    for (gw_req_t *r = gw_reqs_first (reqs); r; r = gw_reqs_next (reqs)) {
        if ((r->route != GW_R_CHAT && r->route != GW_R_COMPLETION && r->route != GW_R_EMBEDDINGS)
        ||  !r->backend_busy
        ||  !*r->tenant_id)
            continue;
        s_flight_t *f = zhashx_lookup (flight, r->tenant_id);
        if (!f) {
            f = calloc (1, sizeof *f);
            if (!f)
                continue;
            zhashx_insert (flight, r->tenant_id, f);
        }
        if (r->phase == GW_P_RUNNING && r->first_token_mono)
            f->running++;
        else
            f->waiting++;
    }
    return flight;
}

static json_t *
s_tenant_row (const gw_console_view_t *self, const char *id, const s_flight_t *f, uint64_t now)
{
    const gw_tenant_t *t = self->cache? gw_cache_find_tenant (self->cache, id): NULL;
    json_t *row = json_pack ("{s:s, s:s?, s:s?, s:i, s:i, s:I, s:I}", "tenant_id", id,
                             "name", t? t->name: NULL, "tier", t? t->tier: NULL,
                             "running", f? (int) f->running: 0, "waiting", f? (int) f->waiting: 0,
                             "tokens_last_minute", (json_int_t) gw_live_tokens_minute (self->live, id, now),
                             "requests_last_minute", (json_int_t) gw_live_requests_minute (self->live, id, now));
    if (row && t)
        json_object_set_new (row, "limits", json_pack ("{s:i, s:I, s:I, s:I}",
                             "max_concurrent_requests", (int) t->max_concurrent,
                             "requests_per_minute", (json_int_t) t->requests_per_minute,
                             "tokens_per_minute", (json_int_t) t->tokens_per_minute,
                             "daily_token_limit", (json_int_t) t->daily_tokens));
    return row;
}

//  The busiest tenants: those with requests in flight (most first), then the
//  most active over the last minute.
static json_t *
s_tenants (const gw_console_view_t *self, uint64_t now)
{
    json_t *list = json_array ();
    zhashx_t *flight = s_in_flight (self->reqs);
    zhashx_t *seen = zhashx_new ();
    if (!list || !flight || !seen)
        goto cleanup;
    for (size_t round = 0; round < S_BUSIEST_MAX && zhashx_size (seen) < zhashx_size (flight); round++) {
        const char *best = NULL;
        uint32_t most = 0;
        for (s_flight_t *f = zhashx_first (flight); f; f = zhashx_next (flight)) {
            const char *id = zhashx_cursor (flight);
            if (!zhashx_lookup (seen, id) && f->running + f->waiting > most) {
                best = id;
                most = f->running + f->waiting;
            }
        }
        if (!best)
            break;
        zhashx_insert (seen, best, (void *) best);
        json_array_append_new (list, s_tenant_row (self, best, zhashx_lookup (flight, best), now));
    }
    const char *ids [S_BUSIEST_MAX];
    size_t n = gw_live_busiest (self->live, now, ids, S_BUSIEST_MAX);
    for (size_t i = 0; i < n && json_array_size (list) < S_BUSIEST_MAX; i++)
        if (!zhashx_lookup (seen, ids [i]))
            json_array_append_new (list, s_tenant_row (self, ids [i], NULL, now));
cleanup:
    zhashx_destroy (&flight);
    zhashx_destroy (&seen);
    return list;
}

static json_t *
s_pools (const gw_console_view_t *self)
{
    json_t *list = json_array ();
    Mt__Catalog *cat = gw_catalog_get (self->catalog);
    if (!list || !cat)
        return list;
    for (size_t i = 0; i < cat->n_pools; i++) {
        Mt__PoolModels *pm = cat->pools [i];
        json_t *models = json_array ();
        for (size_t m = 0; models && m < pm->n_models; m++)
            json_array_append_new (models, json_pack ("{s:s, s:i}", "model", pm->models [m],
                                   "queued", m < pm->n_model_queued? (int) pm->model_queued [m]: 0));
        json_t *workers = json_array ();
        uint32_t slots = 0, busy = 0;
        for (size_t w = 0; workers && w < pm->n_workers; w++) {
            Mt__WorkerState *ws = pm->workers [w];
            uint32_t b = ws->busy < ws->slots? ws->busy: ws->slots;
            slots += ws->slots;
            busy += b;
            json_array_append_new (workers, json_pack ("{s:s, s:i, s:i, s:i, s:i, s:i, s:b}",
                                   "worker_id", ws->worker_id, "slots", (int) ws->slots,
                                   "busy", (int) b, "free", (int) (ws->slots - b),
                                   "seen_ms_ago", (int) ws->seen_ms_ago,
                                   "engine_failures", (int) ws->engine_failures,
                                   "engine_healthy", ws->engine_failures < GW_ENGINE_DOWN_AFTER));
        }
        json_array_append_new (list, json_pack ("{s:s, s:i, s:i, s:i, s:i, s:o, s:o}",
                               "pool", pm->pool, "live_workers", (int) pm->live_workers,
                               "queued", (int) pm->queued, "slots", (int) slots,
                               "busy", (int) busy, "models", models, "workers", workers));
    }
    return list;
}

bool
gw_console_live (const gw_console_view_t *self, gw_req_t *req, const char *method,
                 const char *url)
{
    if (strcmp (url, "/admin/v1/live"))
        return false;
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        gw_req_set_error (req, mt_error_lookup ("method_not_allowed"), NULL, NULL, NULL);
        return true;
    }
    uint64_t now = mt_now_ms ();
    uint64_t mono = mt_mono_ms ();
    uint64_t age = gw_catalog_age (self->catalog, mono);
    json_t *root = json_pack ("{s:s, s:I, s:{s:I, s:I, s:I, s:I}, s:{s:b, s:I}, s:o, s:o, s:o, s:o}",
        "object", "live", "time_ms", (json_int_t) now,
        "gateway", "requests_open", (json_int_t) gw_reqs_active (self->reqs),
                   "streams_open", (json_int_t) gw_reqs_streams_open (self->reqs),
                   "usage_events_pending", (json_int_t) gw_meter_pending (self->meter),
                   "tenants_tracked", (json_int_t) gw_live_tenant_count (self->live),
        "scheduler", "answering", gw_catalog_fresh (self->catalog, mono),
                     "catalog_age_ms", (json_int_t) age,
        "pools", s_pools (self),
        "tenants", s_tenants (self, now),
        "refusals", gw_live_refusals_json (self->live, S_REFUSALS_MAX),
        "errors", gw_live_errors_json (self->live));
    char *text = root? json_dumps (root, JSON_COMPACT): NULL;
    json_decref (root);
    if (!text)
        gw_req_set_error (req, mt_error_lookup ("internal_error"), NULL, NULL, NULL);
    else
        gw_req_set_body (req, 200, text);
    return true;
}

//  --------------------------------------------------------------------------
//  /metrics

static uint64_t
s_daily_limit (void *arg, const char *tenant)
{
    gw_cache_t *cache = arg;
    const gw_tenant_t *t = cache? gw_cache_find_tenant (cache, tenant): NULL;
    return t? t->daily_tokens: 0;
}

char *
gw_console_metrics (gw_live_t *live, gw_cache_t *cache)
{
    size_t len = 0;
    char *common = mt_metrics_render (&len);
    char *tenants = gw_live_metrics (live, s_daily_limit, cache);
    char *both = common && tenants? malloc (len + strlen (tenants) + 1): NULL;
    if (both) {
        memcpy (both, common, len);
        strcpy (both + len, tenants);
    }
    free (tenants);
    if (!both)
        return common;
    free (common);
    return both;
}
