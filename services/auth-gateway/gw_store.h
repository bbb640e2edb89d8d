//  The gateway's database side. One thread of its own owns a PostgreSQL
//  connection: it loads tenants, keys and tiers into an immutable cache,
//  LISTENs on mt_cache and hands a fresh cache to the main thread after every
//  change, and runs the admin API and /v1/usage queries. The main thread never
//  blocks on the database: it polls gw_store_sock and gets messages:
//
//    cache:  frames "cache", pointer (gw_cache_t *, main thread now owns it)
//    reply:  frames "reply", token (uint64), status ("201"), body (JSON text)
//
#ifndef GW_STORE_H_INCLUDED
#define GW_STORE_H_INCLUDED

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
} gw_key_t;

typedef struct _gw_cache_t gw_cache_t;

//  Pure in-memory cache (gw_cache.c); built by the store thread.
gw_cache_t *gw_cache_new (void);
void gw_cache_destroy (gw_cache_t **self_p);
//  Add a tenant; returns the cache's copy (borrowed), NULL if out of memory.
gw_tenant_t *gw_cache_add_tenant (gw_cache_t *self, const gw_tenant_t *tenant);
//  Add a live key; tenant_id must have been added. Returns 0 or -1.
int gw_cache_add_key (gw_cache_t *self, const char *key_hash, const char *key_id,
                      const char *tenant_id);
//  Find a live key by the SHA-256 hex of the key. Borrowed; valid while the
//  cache lives. NULL when unknown or revoked.
const gw_key_t *gw_cache_find_key (gw_cache_t *self, const char *key_hash);
const gw_tenant_t *gw_cache_find_tenant (gw_cache_t *self, const char *tenant_id);
size_t gw_cache_tenant_count (gw_cache_t *self);
size_t gw_cache_key_count (gw_cache_t *self);

typedef struct _gw_store_t gw_store_t;

//  Start the store thread; it connects (retrying up to wait_ms), loads the
//  first cache and sends it before serving anything. Caller owns; destroy
//  with gw_store_destroy (stops the thread).
gw_store_t *gw_store_new (const char *dsn, int wait_ms);
void gw_store_destroy (gw_store_t **self_p);

//  Socket the main thread polls for "cache" and "reply" messages (borrowed).
zsock_t *gw_store_sock (gw_store_t *self);

//  Queue an admin request: method "GET" etc., path "/admin/v1/tenants/…",
//  query string without '?' (may be ""), body (may be empty). The admin token
//  was checked already. The reply carries the same token, an HTTP status and
//  a JSON body (errors in OpenAI's shape). Returns 0, or -1 if not queued.
int gw_store_admin (gw_store_t *self, uint64_t token, const char *method, const char *path,
                    const char *query, const char *body, size_t body_len);

//  Queue GET /v1/usage for a tenant (runs under row-level security, as role
//  mt_tenant with mt.tenant_id set). Reply as above.
int gw_store_usage (gw_store_t *self, uint64_t token, const char *tenant_id, const char *query);

//  True while the store thread has a working database connection.
bool gw_store_healthy (gw_store_t *self);

#endif
