//  The gateway's database side: one actor thread owns one PGconn. It LISTENs
//  on mt_cache, builds an immutable gw_cache_t after every change and hands it
//  to the main thread, and runs the admin API and /v1/usage (gw_admin.c, gw_admin_sql.c).
//  Blocking libpq calls are fine here: this thread serves no client sockets.
//
//  Pipe messages, main thread -> actor:
//    "admin", token (8 bytes, host order), admin token id, admin name, role,
//             request id, method, path, query, body
//    "usage", token, tenant_id, query
//    "touch", then pairs: key id, last use (8 bytes, ms since the epoch)
//    "DRAIN" (from gw_store_destroy: stop sending, answer "drained"), "$TERM"
//  Actor -> main thread:
//    "cache", pointer (sizeof (void *) bytes; the receiver owns the cache)
//    "reply", token (8 bytes, host order), status ("201"), body (JSON text),
//             request id ("" for usage: the token names the request)
#include "gw_store.h"
#include "mt_codec.h"
#include "gw_admin.h"
#include "mt_errors.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GW_STORE_IDLE_MS     1000   //  poll timeout while connected
#define GW_STORE_BACKOFF_MIN  100   //  first reconnect delay, ms
#define GW_STORE_BACKOFF_MAX 2000   //  longest reconnect delay, ms

#define GW_STORE_TOUCH_MAX  5000   //  keys per last_used_at statement, at most

struct _gw_store_t {
    zactor_t *actor;            //  the store thread
    char *dsn;                  //  owned; read by the actor
    char *bootstrap;            //  MT_ADMIN_TOKEN, owned, NULL = none; read by the actor
    zhashx_t *touched;          //  main thread: key id -> last use ms (uint64_t *)
    int wait_ms;                //  first connection: how long to retry
    atomic_bool healthy;        //  written by the actor, read by anyone
    bool started;               //  actor: first connect and load worked
};

//  The actor's own state.
typedef struct {
    gw_store_t *store;          //  borrowed: outlives the actor
    zsock_t *pipe;              //  to the main thread
    PGconn *conn;               //  NULL while the database is down
    uint64_t retry_at;          //  mono ms of the next reconnect attempt
    uint64_t backoff;           //  ms until the attempt after that
    bool stale;                 //  the last reload failed: try again at retry_at
    bool draining;              //  gw_store_destroy is waiting: send nothing more
    bool terminated;            //  $TERM seen
} s_actor_t;

//  ---------------------------------------------------------------------
//  Loading the cache

//  Copy a UTF-8 text, truncating on a character boundary.
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strlen (src);
    if (n >= size) {
        n = size - 1;
        while (n > 0 && ((unsigned char) src [n] & 0xC0) == 0x80)
            n--;
    }
    memcpy (dst, src, n);
    dst [n] = 0;
}

static uint64_t
s_u64 (const PGresult *res, int row, int col)
{
    if (PQgetisnull (res, row, col))
        return 0;               //  NULL limit = unlimited = 0
    return strtoull (PQgetvalue (res, row, col), NULL, 10);
}

//  One consistent snapshot of live tenants and their live keys, effective
//  settings resolved. Caller owns; destroy with gw_cache_destroy. NULL on error.
static gw_cache_t *
s_cache_load (PGconn *conn)
{
    gw_cache_t *cache = NULL;
    PGresult *tenants = NULL, *keys = NULL, *admins = NULL;
    if (mt_pg_exec (conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
        goto cleanup;
    tenants = PQexec (conn,
        "SELECT t.id, t.name, t.tier, r.pool, r.weight,"
        " COALESCE (t.max_concurrent_requests, r.max_concurrent_requests),"
        " COALESCE (t.requests_per_minute, r.requests_per_minute),"
        " COALESCE (t.tokens_per_minute, r.tokens_per_minute),"
        " COALESCE (t.daily_token_limit, r.daily_token_limit)"
        " FROM tenants t JOIN tiers r ON r.name = t.tier WHERE t.deleted_at IS NULL");
    if (PQresultStatus (tenants) != PGRES_TUPLES_OK)
        goto failed;
    //  Keys past revoke_at are left out; expired ones stay in, so a client
    //  hears that its key expired rather than that it is unknown
    keys = PQexec (conn,
        "SELECT k.key_hash, k.id, k.tenant_id,"
        " COALESCE ((EXTRACT (EPOCH FROM k.expires_at) * 1000)::bigint, 0),"
        " COALESCE ((EXTRACT (EPOCH FROM k.revoke_at) * 1000)::bigint, 0)"
        " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
        " WHERE k.revoked_at IS NULL AND t.deleted_at IS NULL"
        " AND (k.revoke_at IS NULL OR k.revoke_at > (now () AT TIME ZONE 'UTC'))");
    if (PQresultStatus (keys) != PGRES_TUPLES_OK)
        goto failed;
    admins = PQexec (conn,
        "SELECT token_hash, id, name, role FROM admin_tokens WHERE revoked_at IS NULL");
    if (PQresultStatus (admins) != PGRES_TUPLES_OK)
        goto failed;
    if (mt_pg_exec (conn, "COMMIT"))
        goto cleanup;

    cache = gw_cache_new ();
    if (!cache)
        goto cleanup;
    for (int i = 0; i < PQntuples (tenants); i++) {
        gw_tenant_t t;
        memset (&t, 0, sizeof t);
        s_copy (t.id, sizeof t.id, PQgetvalue (tenants, i, 0));
        s_copy (t.name, sizeof t.name, PQgetvalue (tenants, i, 1));
        s_copy (t.tier, sizeof t.tier, PQgetvalue (tenants, i, 2));
        s_copy (t.pool, sizeof t.pool, PQgetvalue (tenants, i, 3));
        t.weight = (uint32_t) s_u64 (tenants, i, 4);
        t.max_concurrent = (uint32_t) s_u64 (tenants, i, 5);
        t.requests_per_minute = s_u64 (tenants, i, 6);
        t.tokens_per_minute = s_u64 (tenants, i, 7);
        t.daily_tokens = s_u64 (tenants, i, 8);
        if (!gw_cache_add_tenant (cache, &t)) {
            gw_cache_destroy (&cache);
            goto cleanup;
        }
    }
    for (int i = 0; i < PQntuples (keys); i++)
        if (gw_cache_add_key (cache, PQgetvalue (keys, i, 0), PQgetvalue (keys, i, 1),
                              PQgetvalue (keys, i, 2),
                              strtoll (PQgetvalue (keys, i, 3), NULL, 10),
                              strtoll (PQgetvalue (keys, i, 4), NULL, 10))) {
            gw_cache_destroy (&cache);
            goto cleanup;
        }
    for (int i = 0; i < PQntuples (admins); i++)
        if (gw_cache_add_admin (cache, PQgetvalue (admins, i, 0), PQgetvalue (admins, i, 1),
                                PQgetvalue (admins, i, 2),
                                !strcmp (PQgetvalue (admins, i, 3), "viewer"))) {
            gw_cache_destroy (&cache);
            goto cleanup;
        }
    goto cleanup;

failed: {
        char line [256];
        mt_pg_error_line (conn, NULL, line, sizeof line);
        mt_log ("cache-load-failed reason=\"%s\"", line);
        if (PQstatus (conn) == CONNECTION_OK)
            PQclear (PQexec (conn, "ROLLBACK"));
    }
cleanup:
    PQclear (tenants);
    PQclear (keys);
    PQclear (admins);
    return cache;
}

//  ---------------------------------------------------------------------
//  The actor

//  Hand a cache to the main thread (or drop it while draining).
static void
s_send_cache (s_actor_t *self, gw_cache_t **cache_p)
{
    gw_cache_t *cache = *cache_p;
    *cache_p = NULL;
    if (self->draining) {
        gw_cache_destroy (&cache);
        return;
    }
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "cache");
    zmsg_addmem (msg, &cache, sizeof cache);
    if (zmsg_send (&msg, self->pipe)) {
        zmsg_destroy (&msg);
        gw_cache_destroy (&cache);
    }
}

static void
s_send_reply (s_actor_t *self, uint64_t token, unsigned status, const char *body,
              const char *request_id)
{
    if (self->draining)
        return;
    char text [16];
    snprintf (text, sizeof text, "%u", status);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "reply");
    zmsg_addmem (msg, &token, sizeof token);
    zmsg_addstr (msg, text);
    zmsg_addstr (msg, body? body: "");
    zmsg_addstr (msg, request_id? request_id: "");
    if (zmsg_send (&msg, self->pipe))
        zmsg_destroy (&msg);
}

//  The connection is gone: drop it and try again soon.
static void
s_lost (s_actor_t *self, const char *where)
{
    if (!self->conn)
        return;
    char line [256];
    mt_pg_error_line (self->conn, NULL, line, sizeof line);
    mt_log ("store-db-lost where=%s reason=\"%s\"", where, line);
    PQfinish (self->conn);
    self->conn = NULL;
    atomic_store (&self->store->healthy, false);
    self->backoff = GW_STORE_BACKOFF_MIN;
    self->retry_at = mt_mono_ms () + self->backoff;
}

//  Drop every queued notification. Returns how many there were.
static int
s_drain_notifies (PGconn *conn)
{
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies (conn))) {
        n++;
        PQfreemem (note);
    }
    return n;
}

//  Build a fresh cache and send it. Returns 0 or -1.
static int
s_reload (s_actor_t *self, const char *why)
{
    if (!self->conn)
        return -1;
    //  Notifications that came in so far are covered by this load
    s_drain_notifies (self->conn);
    uint64_t started = mt_mono_ms ();
    gw_cache_t *cache = s_cache_load (self->conn);
    if (!cache) {
        atomic_store (&self->store->healthy, false);
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_lost (self, "reload");
        else {
            self->stale = true;             //  connected but unreadable: retry
            self->retry_at = mt_mono_ms () + GW_STORE_BACKOFF_MAX;
        }
        return -1;
    }
    self->stale = false;
    atomic_store (&self->store->healthy, true);
    mt_debug ("cache-loaded why=%s tenants=%zu keys=%zu ms=%llu", why,
              gw_cache_tenant_count (cache), gw_cache_key_count (cache),
              (unsigned long long) (mt_mono_ms () - started));
    s_send_cache (self, &cache);
    return 0;
}

//  Server notices and libpq's own warnings: one log line each, not raw stderr.
static void
s_notice (void *arg, const char *message)
{
    char line [256];
    mt_pg_line (message, line, sizeof line);
    mt_log ("pg-notice reason=\"%s\"", line);
}

//  Take notices and LISTEN on a fresh connection. Returns 0 or -1.
static int
s_listen (PGconn *conn)
{
    PQsetNoticeProcessor (conn, s_notice, NULL);
    return mt_pg_exec (conn, "LISTEN mt_cache");
}

//  One reconnect attempt; on success LISTEN again and reload.
static void
s_reconnect (s_actor_t *self)
{
    //  connect_timeout first, so a timeout in the DSN itself wins
    const char *keys [] = { "connect_timeout", "dbname", NULL };
    const char *values [] = { "3", self->store->dsn, NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    if (!conn || PQstatus (conn) != CONNECTION_OK || s_listen (conn)) {
        PQfinish (conn);
        mt_debug ("store-db-retry backoff_ms=%llu", (unsigned long long) self->backoff);
        self->retry_at = mt_mono_ms () + self->backoff;
        self->backoff = self->backoff * 2 > GW_STORE_BACKOFF_MAX? GW_STORE_BACKOFF_MAX:
                        self->backoff * 2;
        return;
    }
    self->conn = conn;
    mt_log ("store-db-reconnected");
    s_reload (self, "reconnect");
}

//  Read the token frame: 8 bytes in host order (or decimal text).
static bool
s_pop_token (zmsg_t *msg, uint64_t *token)
{
    zframe_t *f = zmsg_pop (msg);
    bool ok = false;
    if (f && zframe_size (f) == sizeof *token) {
        memcpy (token, zframe_data (f), sizeof *token);
        ok = true;
    }
    else
    if (f && zframe_size (f) > 0 && zframe_size (f) < 21) {
        char text [21];
        memcpy (text, zframe_data (f), zframe_size (f));
        text [zframe_size (f)] = 0;
        char *end;
        *token = strtoull (text, &end, 10);
        ok = *end == 0;
    }
    zframe_destroy (&f);
    return ok;
}

//  Copy a popped frame's text into a fixed field ("" when absent); frees it.
static void
s_pop_field (zmsg_t *msg, char *out, size_t size)
{
    char *text = zmsg_popstr (msg);
    snprintf (out, size, "%s", text? text: "");
    free (text);
}

//  Run one "admin" or "usage" request and reply. After a committed write the
//  new cache goes out before the reply, so a new key works as soon as the
//  client sees its 201 and a revoked one is gone by then.
static void
s_handle_request (s_actor_t *self, const char *kind, zmsg_t *msg)
{
    uint64_t token = 0;
    if (!s_pop_token (msg, &token)) {
        mt_log ("store-bad-message kind=%s", kind);
        return;
    }
    bool admin = !strcmp (kind, "admin");
    gw_admin_reply_t reply = { 0 };
    gw_admin_who_t who;
    memset (&who, 0, sizeof who);
    if (admin) {
        s_pop_field (msg, who.token_id, sizeof who.token_id);
        s_pop_field (msg, who.name, sizeof who.name);
        s_pop_field (msg, who.role, sizeof who.role);
        s_pop_field (msg, who.request_id, sizeof who.request_id);
    }
    char *method = admin? zmsg_popstr (msg): NULL;
    char *path = admin? zmsg_popstr (msg): NULL;
    char *tenant = admin? NULL: zmsg_popstr (msg);
    char *query = zmsg_popstr (msg);
    zframe_t *body = admin? zmsg_pop (msg): NULL;
    if (!self->conn) {
        reply.status = 503;
        reply.body = mt_error_body (mt_error_lookup ("service_unavailable"),
                                    "The database is unavailable.", NULL, NULL);
    }
    else
    if (admin)
        gw_admin_handle (self->conn, &who, method? method: "", path? path: "",
                         query? query: "",
                         body? (const char *) zframe_data (body): NULL,
                         body? zframe_size (body): 0, &reply);
    else
        gw_admin_usage (self->conn, tenant? tenant: "", query? query: "", &reply);

    if (self->conn && PQstatus (self->conn) != CONNECTION_OK)
        s_lost (self, kind);
    if (reply.changed && self->conn)
        s_reload (self, "write");
    s_send_reply (self, token, reply.status, reply.body, who.request_id);
    free (reply.body);
    free (method);
    free (path);
    free (tenant);
    free (query);
    zframe_destroy (&body);
}

//  Write last_used_at of a batch of keys in one statement. A lost batch
//  (database down) is only a slightly older last_used_at: not retried.
static void
s_handle_touch (s_actor_t *self, zmsg_t *msg)
{
    if (!self->conn)
        return;
    char *ids = NULL, *times = NULL;
    size_t ids_size = 0, times_size = 0;
    FILE *fi = open_memstream (&ids, &ids_size);
    FILE *ft = open_memstream (&times, &times_size);
    size_t n = 0;
    if (!fi || !ft)
        goto cleanup;
    fputc ('{', fi);
    fputc ('{', ft);
    while (zmsg_size (msg) >= 2) {
        char *id = zmsg_popstr (msg);
        zframe_t *at = zmsg_pop (msg);
        uint64_t ms = 0;
        if (at && zframe_size (at) == sizeof ms)
            memcpy (&ms, zframe_data (at), sizeof ms);
        if (id && mt_is_uuid (id) && ms) {
            fprintf (fi, "%s%s", n? ",": "", id);
            fprintf (ft, "%s%.3f", n? ",": "", (double) ms / 1000.0);
            n++;
        }
        free (id);
        zframe_destroy (&at);
    }
    fputc ('}', fi);
    fputc ('}', ft);
cleanup:
    if (fi)
        fclose (fi);
    if (ft)
        fclose (ft);
    if (n && ids && times) {
        //  Only last_used_at changes: the cache trigger does not fire
        const char *params [] = { ids, times };
        PGresult *res = PQexecParams (self->conn,
            "UPDATE api_keys k SET last_used_at = GREATEST (k.last_used_at, v.at)"
            " FROM (SELECT u.id, to_timestamp (u.s) AT TIME ZONE 'UTC' AS at"
            "       FROM unnest ($1::uuid[], $2::float8[]) AS u (id, s)) v"
            " WHERE k.id = v.id", 2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            char line [256];
            mt_pg_error_line (self->conn, res, line, sizeof line);
            mt_log ("key-touch-failed keys=%zu reason=\"%s\"", n, line);
        }
        else
            mt_debug ("key-touch keys=%zu", n);
        PQclear (res);
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_lost (self, "touch");
    }
    free (ids);
    free (times);
}

static void
s_handle_pipe (s_actor_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;            //  interrupted
        return;
    }
    char *kind = zmsg_popstr (msg);
    if (!kind)
        ;
    else
    if (!strcmp (kind, "$TERM"))
        self->terminated = true;
    else
    if (!strcmp (kind, "DRAIN")) {
        self->draining = true;
        zstr_send (self->pipe, "drained");
    }
    else
    if (!strcmp (kind, "admin") || !strcmp (kind, "usage"))
        s_handle_request (self, kind, msg);
    else
    if (!strcmp (kind, "touch"))
        s_handle_touch (self, msg);
    else
        mt_log ("store-bad-message kind=unknown");
    free (kind);
    zmsg_destroy (&msg);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    s_actor_t self = { .store = (gw_store_t *) args, .pipe = pipe };
    gw_cache_t *first = NULL;
    self.conn = mt_pg_connect (self.store->dsn, self.store->wait_ms);
    if (self.conn && s_listen (self.conn) == 0) {
        if (self.store->bootstrap)
            gw_admin_bootstrap (self.conn, self.store->bootstrap);
        first = s_cache_load (self.conn);
    }
    self.store->started = first != NULL;
    atomic_store (&self.store->healthy, first != NULL);
    zsock_signal (pipe, 0);
    if (!first) {
        PQfinish (self.conn);
        return;                             //  gw_store_new says why
    }
    mt_log ("store-ready tenants=%zu keys=%zu", gw_cache_tenant_count (first),
            gw_cache_key_count (first));
    s_send_cache (&self, &first);

    while (!self.terminated) {
        zmq_pollitem_t items [2] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { NULL, self.conn? PQsocket (self.conn): -1, ZMQ_POLLIN, 0 },
        };
        int nitems = self.conn && items [1].fd >= 0? 2: 1;
        long timeout = GW_STORE_IDLE_MS;
        if (!self.conn || self.stale) {
            uint64_t now = mt_mono_ms ();
            timeout = self.retry_at > now? (long) (self.retry_at - now): 0;
        }
        int rc = zmq_poll (items, nitems, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            break;                          //  context terminated
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_handle_pipe (&self);
        if (self.terminated)
            break;
        if (self.conn && nitems == 2 && (items [1].revents & (ZMQ_POLLIN | ZMQ_POLLERR))
        &&  !PQconsumeInput (self.conn))
            s_lost (&self, "listen");
        //  Notifications may also have arrived during a request's queries
        PGnotify *note = self.conn? PQnotifies (self.conn): NULL;
        if (note) {
            PQfreemem (note);
            s_reload (&self, "notify");     //  drains and covers the rest
        }
        if (!self.conn && mt_mono_ms () >= self.retry_at)
            s_reconnect (&self);
        else
        if (self.conn && self.stale && mt_mono_ms () >= self.retry_at)
            s_reload (&self, "retry");
    }
    PQfinish (self.conn);
    OPENSSL_thread_stop ();         //  free this thread's RNG state before exit
}

//  ---------------------------------------------------------------------
//  The main thread's side

static void
s_free_text (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

gw_store_t *
gw_store_new (const char *dsn, int wait_ms, const char *bootstrap_token)
{
    if (!dsn)
        return NULL;
    gw_store_t *self = (gw_store_t *) calloc (1, sizeof (gw_store_t));
    if (!self)
        return NULL;
    atomic_init (&self->healthy, false);
    self->dsn = strdup (dsn);
    self->wait_ms = wait_ms;
    self->touched = zhashx_new ();
    if (self->touched)
        zhashx_set_destructor (self->touched, s_free_text);
    bool boot_ok = !bootstrap_token || !*bootstrap_token
                || (self->bootstrap = strdup (bootstrap_token)) != NULL;
    if (self->dsn && self->touched && boot_ok)
        self->actor = zactor_new (s_actor, self);
    if (!self->actor || !self->started) {
        mt_log ("store-start-failed reason=\"database unreachable or not migrated\"");
        gw_store_destroy (&self);
        return NULL;
    }
    //  A full pipe must never block the main thread: gw_store_admin fails instead
    zsock_set_sndtimeo (zactor_sock (self->actor), 0);
    return self;
}

void
gw_store_destroy (gw_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_store_t *self = *self_p;
    if (self->actor && self->started) {
        gw_store_flush (self);              //  the last second's key uses
        //  Caches still in the pipe belong to no one yet: free them
        zsock_t *sock = zactor_sock (self->actor);
        zsock_set_sndtimeo (sock, 1000);
        zsock_set_rcvtimeo (sock, 5000);
        if (zstr_send (self->actor, "DRAIN") == 0)
            while (true) {
                zmsg_t *msg = zmsg_recv (self->actor);
                if (!msg)
                    break;
                char *kind = zmsg_popstr (msg);
                bool done = kind && !strcmp (kind, "drained");
                if (kind && !strcmp (kind, "cache")) {
                    zframe_t *f = zmsg_first (msg);
                    gw_cache_t *cache = NULL;
                    if (f && zframe_size (f) == sizeof cache)
                        memcpy (&cache, zframe_data (f), sizeof cache);
                    gw_cache_destroy (&cache);
                }
                free (kind);
                zmsg_destroy (&msg);
                if (done)
                    break;
            }
    }
    zactor_destroy (&self->actor);
    zhashx_destroy (&self->touched);
    if (self->bootstrap)
        OPENSSL_cleanse (self->bootstrap, strlen (self->bootstrap));
    free (self->bootstrap);
    free (self->dsn);
    free (self);
    *self_p = NULL;
}

zsock_t *
gw_store_sock (gw_store_t *self)
{
    return self && self->actor? zactor_sock (self->actor): NULL;
}

int
gw_store_admin (gw_store_t *self, uint64_t token, const gw_admin_who_t *who,
                const char *method, const char *path,
                const char *query, const char *body, size_t body_len)
{
    if (!self || !self->actor || !who || !method || !path)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "admin");
    zmsg_addmem (msg, &token, sizeof token);
    zmsg_addstr (msg, who->token_id);
    zmsg_addstr (msg, who->name);
    zmsg_addstr (msg, who->role);
    zmsg_addstr (msg, who->request_id);
    zmsg_addstr (msg, method);
    zmsg_addstr (msg, path);
    zmsg_addstr (msg, query? query: "");
    zmsg_addmem (msg, body_len? body: NULL, body_len);
    int rc = zmsg_send (&msg, self->actor);
    mt_codec_poll_touched (zactor_sock (self->actor));
    if (rc) {
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

int
gw_store_usage (gw_store_t *self, uint64_t token, const char *tenant_id, const char *query)
{
    if (!self || !self->actor || !tenant_id)
        return -1;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "usage");
    zmsg_addmem (msg, &token, sizeof token);
    zmsg_addstr (msg, tenant_id);
    zmsg_addstr (msg, query? query: "");
    int rc = zmsg_send (&msg, self->actor);
    mt_codec_poll_touched (zactor_sock (self->actor));
    if (rc) {
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

void
gw_store_touch (gw_store_t *self, const char *key_id, uint64_t now_ms)
{
    if (!self || !self->touched || !key_id)
        return;
    //  Values are decimal text: zstr_free is the destructor
    char text [24];
    snprintf (text, sizeof text, "%llu", (unsigned long long) now_ms);
    char *copy = strdup (text);
    if (copy && zhashx_size (self->touched) < GW_STORE_TOUCH_MAX * 4)
        zhashx_update (self->touched, key_id, copy);
    else
        free (copy);
}

void
gw_store_flush (gw_store_t *self)
{
    if (!self || !self->actor || !self->touched || zhashx_size (self->touched) == 0)
        return;
    zmsg_t *msg = NULL;
    size_t n = 0;
    for (char *at = (char *) zhashx_first (self->touched); at;
         at = (char *) zhashx_next (self->touched)) {
        if (!msg) {
            msg = zmsg_new ();
            zmsg_addstr (msg, "touch");
        }
        uint64_t ms = strtoull (at, NULL, 10);
        zmsg_addstr (msg, (const char *) zhashx_cursor (self->touched));
        zmsg_addmem (msg, &ms, sizeof ms);
        if (++n % GW_STORE_TOUCH_MAX == 0 && zmsg_send (&msg, self->actor))
            zmsg_destroy (&msg);
    }
    if (msg && zmsg_send (&msg, self->actor))
        zmsg_destroy (&msg);            //  pipe full: these uses are dropped
    mt_codec_poll_touched (zactor_sock (self->actor));
    zhashx_purge (self->touched);
}

bool
gw_store_healthy (gw_store_t *self)
{
    return self && atomic_load (&self->healthy);
}
