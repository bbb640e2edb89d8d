//  auth-gateway: the libmicrohttpd side. Routes, authentication, body checks,
//  and the SSE content reader that suspends a stream until tokens arrive.
#include "gw_http.h"
#include "gw_catalog.h"
#include "gw_console.h"
#include "gw_front.h"
#include "gw_ready.h"
#include "gw_store.h"

#include "mt_buf.h"
#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct _gw_http_t {
    int64_t max_body;               //  these as in gw_http_deps_t; handles borrowed
    int64_t max_body_chat;
    int64_t max_body_completions;
    uint32_t default_max_tokens;
    gw_reqs_t *reqs;
    gw_list_t *waiting;
    gw_front_t *front;
    gw_store_t *store;
    gw_catalog_t *catalog;
    gw_ready_t *ready;
    gw_live_t *live;
    gw_meter_t *meter;
    void (*admit) (void *arg, gw_req_t *req);
    void (*cancel) (void *arg, gw_req_t *req);
    void *arg;
    gw_cache_t *cache;              //  the server's current cache; borrowed, or NULL
    uint64_t admin_seq;             //  store requests so far: names /v1/usage replies
    bool draining;                  //  new requests get 503
};

gw_http_t *
gw_http_new (const gw_http_deps_t *deps)
{
    gw_http_t *self = (gw_http_t *) calloc (1, sizeof (gw_http_t));
    if (!self)
        return NULL;
    self->max_body = deps->max_body;
    self->max_body_chat = deps->max_body_chat;
    self->max_body_completions = deps->max_body_completions;
    self->default_max_tokens = deps->default_max_tokens;
    self->reqs = deps->reqs;
    self->waiting = deps->waiting;
    self->front = deps->front;
    self->store = deps->store;
    self->catalog = deps->catalog;
    self->ready = deps->ready;
    self->live = deps->live;
    self->meter = deps->meter;
    self->admit = deps->admit;
    self->cancel = deps->cancel;
    self->arg = deps->arg;
    return self;
}

void
gw_http_destroy (gw_http_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
gw_http_set_cache (gw_http_t *self, gw_cache_t *cache)
{
    self->cache = cache;
}

void
gw_http_drain (gw_http_t *self)
{
    self->draining = true;
}

//  --------------------------------------------------------------------------
//  HTTP

static const char *
s_bearer (struct MHD_Connection *conn)
{
    const char *auth = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncasecmp (auth, "Bearer ", 7) != 0)
        return NULL;
    auth += 7;
    while (*auth == ' ')
        auth++;
    return *auth? auth: NULL;
}

//  Percent-encode the GET arguments back into a query string.
typedef struct { FILE *f; bool first; } s_query_t;

static enum MHD_Result
s_query_item (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    s_query_t *q = cls;
    const char *parts [2] = { key, value? value: "" };
    if (!q->first)
        fputc ('&', q->f);
    q->first = false;
    for (int p = 0; p < 2; p++) {
        if (p)
            fputc ('=', q->f);
        for (const unsigned char *c = (const unsigned char *) parts [p]; *c; c++)
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
            ||  *c == '-' || *c == '_' || *c == '.' || *c == '~')
                fputc (*c, q->f);
            else
                fprintf (q->f, "%%%02X", *c);
    }
    return MHD_YES;
}

static char *
s_query_string (struct MHD_Connection *conn)
{
    char *buf = NULL;
    size_t size = 0;
    s_query_t q = { open_memstream (&buf, &size), true };
    if (!q.f)
        return NULL;
    MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_query_item, &q);
    fclose (q.f);
    return buf;
}

//  A request without a valid key or admin token: 401, or 429 once its
//  client address has had too many 401s (valid keys are never slowed).
static void
s_auth_failed (gw_http_t *self, gw_req_t *req, const mt_error_t *err, const char *message)
{
    uint32_t retry_after = 0;
    if (gw_front_auth_failed (self->front, req->conn, &retry_after)) {
        req->retry_after = retry_after;
        gw_req_set_error (req, mt_error_lookup ("too_many_auth_failures"), NULL, NULL, NULL);
        return;
    }
    gw_req_set_error (req, err, message, NULL, NULL);
}

//  The largest body a route takes; one row a route that has a limit of its
//  own (0 in the config means max_body).
static int64_t
s_body_limit (gw_http_t *self, gw_route_t route)
{
    struct { gw_route_t route; int64_t limit; } table [] = {
        { GW_R_CHAT, self->max_body_chat },
        { GW_R_COMPLETION, self->max_body_completions },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        if (table [i].route == route && table [i].limit > 0)
            return table [i].limit;
    return self->max_body;
}

static void
s_too_large (gw_http_t *self, gw_req_t *req)
{
    char msg [128];
    snprintf (msg, sizeof msg, "The request body is larger than %lld bytes.",
              (long long) s_body_limit (self, req->route));
    gw_req_set_error (req, mt_error_lookup ("body_too_large"), msg, NULL, NULL);
}

//  Authenticate an API key; fills the tenant copy. Returns 0, or sets an error.
static int
s_authenticate (gw_http_t *self, gw_req_t *req)
{
    if (!self->cache) {
        gw_req_set_error (req, mt_error_lookup ("service_unavailable"), "Tenant cache not loaded yet.", NULL, NULL);
        return -1;
    }
    const char *key = s_bearer (req->conn);
    const gw_key_t *k = NULL;
    if (key) {
        char hash [65];
        mt_sha256_hex (key, strlen (key), hash);
        k = gw_cache_find_key (self->cache, hash);
    }
    uint64_t now = mt_now_ms ();
    gw_key_state_t state = gw_key_state (k, (int64_t) now);
    if (state == GW_KEY_EXPIRED) {
        char msg [160], when [32] = "";
        time_t t = (time_t) (k->expires_ms / 1000);
        struct tm tm;
        if (gmtime_r (&t, &tm))
            strftime (when, sizeof when, " at %Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf (msg, sizeof msg, "This API key expired%s. Ask your administrator for a new key.",
                  when);
        s_auth_failed (self, req, mt_error_lookup ("invalid_api_key"), msg);
        return -1;
    }
    if (state != GW_KEY_LIVE) {
        s_auth_failed (self, req, mt_error_lookup ("invalid_api_key"), key? NULL:
                       "You didn't provide an API key. Send it as 'Authorization: Bearer sk-...'.");
        return -1;
    }
    gw_store_touch (self->store, k->id, now);       //  last_used_at, batched
    const gw_tenant_t *t = k->tenant;
    snprintf (req->key_id, sizeof req->key_id, "%s", k->id);
    snprintf (req->tenant_id, sizeof req->tenant_id, "%s", t->id);
    snprintf (req->pool, sizeof req->pool, "%s", t->pool);
    req->weight = t->weight? t->weight: 1;
    req->max_concurrent = t->max_concurrent;
    req->rpm = t->requests_per_minute;
    req->tpm = t->tokens_per_minute;
    req->daily = t->daily_tokens;
    return 0;
}

static bool
s_catalog_fresh (gw_http_t *self)
{
    return gw_catalog_fresh (self->catalog, mt_mono_ms ());
}

//  The models of the tenant's pool, from the scheduler's last catalog
//  (borrowed from it; NULL when the pool has none). Returns -1 and sets a
//  503 when that catalog is stale: the scheduler is not answering.
static int
s_tenant_pool (gw_http_t *self, gw_req_t *req, Mt__PoolModels **pool_p)
{
    *pool_p = NULL;
    if (!s_catalog_fresh (self)) {
        gw_req_set_error (req, mt_error_lookup ("service_unavailable"),
                          "The scheduler is not answering.", NULL, NULL);
        return -1;
    }
    *pool_p = gw_catalog_pool (self->catalog, req->pool);
    return 0;
}

//  True when the pool serves the model; else sets 404 model_not_found.
static bool
s_pool_serves (gw_req_t *req, Mt__PoolModels *pool, const char *model)
{
    for (size_t i = 0; pool && i < pool->n_models; i++)
        if (!strcmp (pool->models [i], model))
            return true;
    char msg [256];
    snprintf (msg, sizeof msg, "The model '%.128s' does not exist or you do not have access to it.",
              model);
    gw_req_set_error (req, mt_error_lookup ("model_not_found"), msg, "model", NULL);
    return false;
}

static void
s_handle_models (gw_http_t *self, gw_req_t *req)
{
    Mt__PoolModels *pool;
    if (s_authenticate (self, req) || s_tenant_pool (self, req, &pool))
        return;
    gw_req_set_body (req, 200, gw_openai_models (pool? (const char *const *) pool->models: NULL,
                                                 pool? pool->n_models: 0, mt_now_ms () / 1000));
}

//  GET /v1/models/{model}: the model, if the tenant's pool serves it.
static void
s_handle_model (gw_http_t *self, gw_req_t *req, const char *model)
{
    Mt__PoolModels *pool;
    if (s_authenticate (self, req) || s_tenant_pool (self, req, &pool))
        return;
    if (s_pool_serves (req, pool, model))
        gw_req_set_body (req, 200, gw_openai_model (model, mt_now_ms () / 1000));
}

static void
s_handle_inference (gw_http_t *self, gw_req_t *req)
{
    if (s_authenticate (self, req))
        return;
    const char *ctype = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ctype || strncasecmp (ctype, "application/json", 16) != 0) {
        gw_req_set_error (req, mt_error_lookup ("invalid_content_type"), NULL, NULL, NULL);
        return;
    }
    if (req->too_large) {
        s_too_large (self, req);
        return;
    }
    gw_refusal_t why;
    gw_kind_t kind = req->route == GW_R_CHAT? GW_KIND_CHAT:
                     req->route == GW_R_EMBEDDINGS? GW_KIND_EMBEDDING: GW_KIND_COMPLETION;
    if (gw_request_parse (kind, req->body? req->body: "", req->body_len,
                          self->default_max_tokens, &req->parsed, &why)) {
        gw_req_set_error (req, why.error, why.message, *why.param? why.param: NULL, NULL);
        return;
    }
    Mt__PoolModels *pool;
    if (s_tenant_pool (self, req, &pool) || !s_pool_serves (req, pool, req->parsed.model))
        return;
    //  Ids: chatcmpl-… / cmpl-…, also the ledger's event id
    //  The job's capability at its gateway (JobSpec.reply_token)
    if (mt_random_hex (req->reply_token, 16)) {
        gw_req_set_error (req, mt_error_lookup ("service_unavailable"),
                          "No randomness for the request's token.", NULL, NULL);
        return;
    }
    char hex [25];
    if (mt_random_hex (hex, 12)) {
        mt_log ("request-id-failed req=%s tenant=%s reason=\"no randomness\"", req->id, req->tenant_id);
        gw_req_set_error (req, mt_error_lookup ("internal_error"), "Could not make a request id.",
                          NULL, NULL);
        return;
    }
    char id [48];
    snprintf (id, sizeof id, "%s-%s", kind == GW_KIND_CHAT? "chatcmpl":
              kind == GW_KIND_EMBEDDING? "embd": "cmpl", hex);
    if (gw_req_index (req, id)) {
        gw_req_set_error (req, mt_error_lookup ("internal_error"), "Could not name the request.",
                          NULL, NULL);
        return;
    }
    req->created_s = mt_now_ms () / 1000;
    self->admit (self->arg, req);
}

//  who: the admin token of an admin request (NULL for /v1/usage). An admin
//  request keeps its request id (the audit trail names it); the reply finds
//  it by that id.
static void
s_handle_store (gw_http_t *self, gw_req_t *req, const char *method, const char *url,
                gw_admin_who_t *who)
{
    char *query = s_query_string (req->conn);
    uint64_t token = ++self->admin_seq;
    char id [48];
    if (who)
        snprintf (id, sizeof id, "%s", req->id);
    else
        snprintf (id, sizeof id, "store-%llu", (unsigned long long) token);
    int rc = gw_req_index (req, id);
    if (rc) {
        free (query);
        gw_req_set_error (req, mt_error_lookup ("internal_error"), "Could not name the request.",
                          NULL, NULL);
        return;
    }
    if (who) {
        snprintf (who->request_id, sizeof who->request_id, "%s", req->id);
        rc = gw_store_admin (self->store, token, who, method, url, query? query: "",
                             req->body? req->body: "", req->body_len);
    }
    else
        rc = gw_store_usage (self->store, token, req->tenant_id, query? query: "");
    free (query);
    if (rc) {
        gw_req_set_error (req, mt_error_lookup ("service_unavailable"), NULL, NULL, NULL);
        return;
    }
    req->phase = GW_P_STORE;
    req->backend_busy = true;
    gw_list_add (self->waiting, req);
}

//  Find the bearer among the live admin tokens (stored as SHA-256, like API
//  keys). Fills who; returns false when there is no such token.
static bool
s_admin_ok (gw_http_t *self, struct MHD_Connection *conn, gw_admin_who_t *who)
{
    const char *got = s_bearer (conn);
    memset (who, 0, sizeof *who);
    if (!got || !self->cache)
        return false;
    char hash [65];
    mt_sha256_hex (got, strlen (got), hash);
    const gw_admin_token_t *admin = gw_cache_find_admin (self->cache, hash);
    if (!admin)
        return false;
    snprintf (who->token_id, sizeof who->token_id, "%s", admin->id);
    snprintf (who->name, sizeof who->name, "%s", admin->name);
    snprintf (who->role, sizeof who->role, "%s", admin->viewer? "viewer": "admin");
    return true;
}

static bool
s_healthy (gw_http_t *self, char *why, size_t size)
{
    if (!self->cache)
        snprintf (why, size, "tenant cache not loaded");
    else
    if (!gw_store_healthy (self->store))
        snprintf (why, size, "database unreachable");
    else
    if (!s_catalog_fresh (self))
        snprintf (why, size, "scheduler not answering");
    else {
        snprintf (why, size, "ok");
        return true;
    }
    return false;
}

//  /readyz: alive (s_healthy) and able to serve: connected to the scheduler,
//  the quota-enforcer and metering, and the catalog lists at least one model.
//  /healthz stays the liveness probe.
static bool
s_ready (gw_http_t *self, char *why, size_t size)
{
    if (!s_healthy (self, why, size))
        return false;
    const char *peers [] = { MT_ROLE_SCHEDULER, MT_ROLE_QUOTA, MT_ROLE_METERING };
    for (size_t i = 0; i < sizeof peers / sizeof peers [0]; i++)
        if (!gw_ready_connected (self->ready, peers [i])) {
            snprintf (why, size, "not connected to %s", peers [i]);
            return false;
        }
    if (gw_catalog_models (self->catalog) == 0) {
        snprintf (why, size, "no model served yet");
        return false;
    }
    return true;
}

//  First call for a request: route it and set up.
static void
s_route (gw_req_t *req, const char *method, const char *url)
{
    bool get = !strcmp (method, "GET") || !strcmp (method, "HEAD");
    bool post = !strcmp (method, "POST");
    struct { const char *url; gw_route_t route; bool post; } table [] = {
        { "/healthz", GW_R_HEALTH, false },
        { "/readyz", GW_R_READY, false },
        { "/metrics", GW_R_METRICS, false },
        { "/v1/models", GW_R_MODELS, false },
        { "/v1/usage", GW_R_USAGE, false },
        { "/v1/chat/completions", GW_R_CHAT, true },
        { "/v1/completions", GW_R_COMPLETION, true },
        { "/v1/embeddings", GW_R_EMBEDDINGS, true },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        if (!strcmp (url, table [i].url)) {
            if (table [i].post? post: get)
                req->route = table [i].route;
            else
                gw_req_set_error (req, mt_error_lookup ("method_not_allowed"), NULL, NULL, NULL);
            return;
        }
    if (!strncmp (url, "/v1/models/", 11) && url [11]) {
        if (get)
            req->route = GW_R_MODEL;
        else
            gw_req_set_error (req, mt_error_lookup ("method_not_allowed"), NULL, NULL, NULL);
        return;
    }
    if (gw_console_match (url)) {
        req->route = GW_R_CONSOLE;
        return;
    }
    if (!strncmp (url, "/admin/", 7)) {
        req->route = GW_R_ADMIN;
        return;
    }
    gw_req_set_error (req, mt_error_lookup ("not_found"), NULL, NULL, NULL);
}

static void
s_process (gw_http_t *self, gw_req_t *req, const char *method, const char *url)
{
    switch (req->route) {
        case GW_R_HEALTH:
        case GW_R_READY: {
            char why [128];
            bool ok = req->route == GW_R_HEALTH? s_healthy (self, why, sizeof why)
                                               : s_ready (self, why, sizeof why);
            json_t *body = json_pack ("{s:s, s:s}", "status", ok? "ok": "unavailable",
                                      "reason", why);
            gw_req_set_body (req, ok? 200: 503, body? json_dumps (body, JSON_COMPACT): NULL);
            json_decref (body);
            if (!ok)
                mt_debug ("unhealthy reason=\"%s\"", why);
            break;
        }
        case GW_R_METRICS:
            gw_req_set_body (req, 200, gw_console_metrics (self->live, self->cache));
            break;
        case GW_R_MODELS:
            s_handle_models (self, req);
            break;
        case GW_R_MODEL:
            s_handle_model (self, req, url + strlen ("/v1/models/"));
            break;
        case GW_R_USAGE:
            if (!s_authenticate (self, req))
                s_handle_store (self, req, method, url, NULL);
            break;
        case GW_R_CHAT:
        case GW_R_COMPLETION:
        case GW_R_EMBEDDINGS:
            s_handle_inference (self, req);
            break;
        case GW_R_ADMIN: {
            gw_console_view_t view = { .reqs = self->reqs, .cache = self->cache,
                                       .catalog = self->catalog, .live = self->live,
                                       .meter = self->meter };
            gw_admin_who_t who;
            if (!s_admin_ok (self, req->conn, &who))
                s_auth_failed (self, req, mt_error_lookup ("unauthorized"), NULL);
            else
            if (req->too_large)
                s_too_large (self, req);
            else
            if (!gw_console_live (&view, req, method, url))
                s_handle_store (self, req, method, url, &who);
            break;
        }
        case GW_R_CONSOLE:
            gw_console_serve (req, method, url);
            break;
        default:
            break;
    }
}

static ssize_t
s_sse_reader (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    gw_req_t *req = cls;
    size_t n = gw_sse_read (req->sse, buf, max);
    if (n)
        return (ssize_t) n;
    if (gw_sse_closed (req->sse))
        return MHD_CONTENT_READER_END_OF_STREAM;
    gw_req_suspend (req);
    return 0;
}

//  The 200 of a stream. When the whole stream is in already (the job ended
//  before its first byte went out: an engine that answers at once), it goes
//  as one buffer, written with its headers in one call, instead of through
//  the reader (called again for each part, each part a write of its own,
//  chunked framing and a last empty chunk): the same events, with a
//  Content-Length.
static enum MHD_Result
s_queue_stream (gw_req_t *req)
{
    struct MHD_Response *resp = NULL;
    if (gw_sse_closed (req->sse)) {
        size_t len = gw_sse_pending (req->sse);
        char *all = (char *) malloc (len? len: 1);
        if (!all)
            return MHD_NO;
        gw_sse_read (req->sse, all, len);
        resp = MHD_create_response_from_buffer (len, all, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free (all);
    }
    else
        resp = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_sse_reader, req, NULL);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header (resp, "Content-Type", "text/event-stream");
    MHD_add_response_header (resp, "Cache-Control", "no-cache");
    gw_req_add_headers (req, resp);
    enum MHD_Result rc = MHD_queue_response (req->conn, 200, resp);
    MHD_destroy_response (resp);
    gw_reqs_count_status (req->reqs, 200);
    req->phase = GW_P_SENT;
    return rc;
}

//  The request's headers are in: the front door may refuse it (over the
//  connection limit at once; a proxied client over its cap once its body is
//  in), and a body announced larger than the route takes is refused at
//  once. An answer at once goes out before the body is read, and the
//  connection closes after it.
static enum MHD_Result
s_on_headers (gw_http_t *self, gw_req_t *req)
{
    uint32_t retry_after = 0;
    bool probe = req->route == GW_R_HEALTH || req->route == GW_R_METRICS;
    const mt_error_t *err = gw_front_on_headers (self->front, req->conn, probe, &retry_after);
    if (err) {
        req->retry_after = retry_after;
        gw_req_set_error (req, err, NULL, NULL, NULL);
        if (err->status != 503)
            return MHD_YES;         //  answered when the body is in
    }
    else
    if (req->phase == GW_P_UPLOAD) {
        const char *cl = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Content-Length");
        char *end = NULL;
        long long len = cl? strtoll (cl, &end, 10): 0;
        if (cl && end != cl && len > s_body_limit (self, req->route)) {
            req->too_large = true;
            s_too_large (self, req);
        }
    }
    if (!err && !req->too_large)
        return MHD_YES;
    gw_front_on_body (self->front, req->conn);
    return gw_req_queue_body (req, "application/json");
}

enum MHD_Result
gw_http_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    gw_http_t *self = cls;
    gw_req_t *req = *con_cls;
    if (!req) {
        req = gw_req_new (self->reqs, conn);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        if (self->draining) {
            gw_req_set_error (req, mt_error_lookup ("service_unavailable"), "The gateway is shutting down.",
                              NULL, NULL);
            return MHD_YES;
        }
        s_route (req, method, url);
        return s_on_headers (self, req);
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->phase != GW_P_UPLOAD || req->too_large)
            return MHD_YES;         //  already refused: drain and ignore
        if ((int64_t) (req->body_len + n) > s_body_limit (self, req->route)) {
            req->too_large = true;
            free (req->body);
            req->body = NULL;
            req->body_len = req->body_cap = 0;
            return MHD_YES;
        }
        if (mt_buf_append (&req->body, &req->body_len, &req->body_cap, upload_data, n))
            return MHD_NO;
        return MHD_YES;
    }
    //  The whole body is in: act, or answer what is ready
    gw_front_on_body (self->front, conn);
    if (req->phase == GW_P_UPLOAD) {
        s_process (self, req, method, url);
        if (req->phase == GW_P_UPLOAD)     //  nothing chosen: programmer error guard
            gw_req_set_error (req, mt_error_lookup ("internal_error"), NULL, NULL, NULL);
    }
    switch (req->phase) {
        case GW_P_RESPOND:
            return gw_req_queue_body (req, req->ctype? req->ctype:
                                      req->route == GW_R_METRICS? "text/plain; version=0.0.4":
                                      "application/json");
        case GW_P_RUNNING:
            if (req->parsed.stream && req->sse)
                return s_queue_stream (req);
            gw_req_suspend (req);
            return MHD_YES;
        case GW_P_ADMIT:
        case GW_P_SUBMIT:
        case GW_P_STORE:
            gw_req_suspend (req);
            return MHD_YES;
        default:
            return MHD_YES;
    }
}

void
gw_http_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    gw_http_t *self = cls;
    gw_front_on_completed (self->front, conn);
    gw_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    gw_req_detach (req);
    (void) toe;
    if (req->accepted && req->backend_busy)
        self->cancel (self->arg, req);
    gw_req_maybe_free (req);
}
