//  The gateway's database side. One thread of its own owns a PostgreSQL
//  connection: it loads tenants, keys and tiers into an immutable cache,
//  LISTENs on mt_cache and hands a fresh cache to the main thread after every
//  change, and runs the admin API and /v1/usage queries. The main thread never
//  blocks on the database: it polls gw_store_sock and gets messages:
//
//    cache:  frames "cache", pointer (gw_cache_t *, main thread now owns it)
//    reply:  frames "reply", token (uint64), status ("201"), body (JSON text),
//            request id (admin requests; "" for /v1/usage)
//
//  The main thread also notes which keys it saw (gw_store_touch) and hands
//  them over once a second (gw_store_flush): last_used_at is written in one
//  statement per batch, never per request.
//
#ifndef GW_STORE_H_INCLUDED
#define GW_STORE_H_INCLUDED

#include "gw_admin.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

//  A tenant's effective settings: its own values where set, else its tier's.
typedef struct {
    char id [37];                   //  UUID text
    char name [128];
    char tier [32];
    char pool [64];                 //  the tier's pool
    uint32_t weight;                //  the tier's weight
    uint32_t max_concurrent;
    uint64_t requests_per_minute;   //  0 = unlimited
    uint64_t tokens_per_minute;     //  0 = unlimited
    uint64_t daily_tokens;          //  0 = unlimited
} gw_tenant_t;

typedef struct {
    char id [37];                   //  api_keys.id
    const gw_tenant_t *tenant;      //  borrowed from the same cache
    int64_t expires_ms;             //  expires_at, ms since the epoch; 0 = never
    int64_t revoke_ms;              //  scheduled revoke_at, ms; 0 = none
} gw_key_t;

//  What a key is worth at a moment.
typedef enum {
    GW_KEY_LIVE = 0,
    GW_KEY_EXPIRED,                 //  now >= expires_at
    GW_KEY_REVOKED,                 //  now >= revoke_at (a scheduled revocation)
} gw_key_state_t;

//  A live admin token.
typedef struct {
    char id [37];                   //  admin_tokens.id
    char name [129];
    bool viewer;                    //  role viewer: reads only
} gw_admin_token_t;

typedef struct _gw_cache_t gw_cache_t;

//  Pure in-memory cache (gw_cache.c); built by the store thread.
gw_cache_t *gw_cache_new (void);
void gw_cache_destroy (gw_cache_t **self_p);
//  Add a tenant; returns the cache's copy (borrowed), NULL if out of memory.
gw_tenant_t *gw_cache_add_tenant (gw_cache_t *self, const gw_tenant_t *tenant);
//  Add a key not revoked yet; tenant_id must have been added. expires_ms
//  and revoke_ms: ms since the epoch, 0 = none. Returns 0 or -1.
int gw_cache_add_key (gw_cache_t *self, const char *key_hash, const char *key_id,
                      const char *tenant_id, int64_t expires_ms, int64_t revoke_ms);
//  Find a key by the SHA-256 hex of the key. Borrowed; valid while the cache
//  lives. NULL when unknown or revoked; check gw_key_state before use.
const gw_key_t *gw_cache_find_key (gw_cache_t *self, const char *key_hash);
//  The key's state at now_ms (wall clock, ms since the epoch).
gw_key_state_t gw_key_state (const gw_key_t *key, int64_t now_ms);
//  Add a live admin token (viewer: role viewer). Returns 0 or -1.
int gw_cache_add_admin (gw_cache_t *self, const char *token_hash, const char *id,
                        const char *name, bool viewer);
//  Find a live admin token by the SHA-256 hex of the token. Borrowed, as above.
const gw_admin_token_t *gw_cache_find_admin (gw_cache_t *self, const char *token_hash);
size_t gw_cache_admin_count (gw_cache_t *self);
const gw_tenant_t *gw_cache_find_tenant (gw_cache_t *self, const char *tenant_id);
size_t gw_cache_tenant_count (gw_cache_t *self);
size_t gw_cache_key_count (gw_cache_t *self);

typedef struct _gw_store_t gw_store_t;

//  Start the store thread; it connects (retrying up to wait_ms), enters
//  bootstrap_token (MT_ADMIN_TOKEN; NULL or "" = none) as the first admin
//  token when there is none (gw_admin_bootstrap), loads the
//  first cache and sends it before serving anything. Caller owns; destroy
//  with gw_store_destroy (stops the thread).
gw_store_t *gw_store_new (const char *dsn, int wait_ms, const char *bootstrap_token);
void gw_store_destroy (gw_store_t **self_p);

//  Socket the main thread polls for "cache" and "reply" messages (borrowed).
zsock_t *gw_store_sock (gw_store_t *self);

//  Queue an admin request: method "GET" etc., path "/admin/v1/tenants/…",
//  query string without '?' (may be ""), body (may be empty). The admin token
//  was checked already; who says whose it is (role, audit). The reply carries
//  the same token, an HTTP status and a JSON body (errors in OpenAI's shape).
//  Returns 0, or -1 if not queued.
int gw_store_admin (gw_store_t *self, uint64_t token, const gw_admin_who_t *who,
                    const char *method, const char *path,
                    const char *query, const char *body, size_t body_len);

//  Queue GET /v1/usage for a tenant (runs under row-level security, as role
//  mt_tenant with mt.tenant_id set). Reply as above.
int gw_store_usage (gw_store_t *self, uint64_t token, const char *tenant_id, const char *query);

//  Main thread: note that key_id was used at now_ms (no I/O; kept until the
//  next gw_store_flush).
void gw_store_touch (gw_store_t *self, const char *key_id, uint64_t now_ms);

//  Main thread: hand the keys noted since the last call to the store thread,
//  which writes their last_used_at in one statement. Call about once a second.
void gw_store_flush (gw_store_t *self);

//  True while the store thread has a working database connection.
bool gw_store_healthy (gw_store_t *self);

#endif
