//  The scheduler's last Catalog (pools, their models, workers and queues),
//  as the gateway last heard it, and whether it is fresh enough to trust.
//  Pure: no sockets, no clock of its own (callers pass the monotonic now).
//  gw_server.c sets it; gw_http.c (models, /readyz) and gw_console.c read it.
#ifndef GW_CATALOG_H_INCLUDED
#define GW_CATALOG_H_INCLUDED

#include "mt.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_CATALOG_STALE_MS   5000   //  scheduler silent this long: 503

typedef struct _gw_catalog_t gw_catalog_t;

//  Caller owns; destroy with gw_catalog_destroy. NULL if out of memory.
gw_catalog_t *gw_catalog_new (void);
void gw_catalog_destroy (gw_catalog_t **self_p);

//  Keep env (an envelope with a Catalog body) as the last catalog, heard at
//  now_mono; takes ownership and nulls *env_p.
void gw_catalog_set (gw_catalog_t *self, Mt__Envelope **env_p, uint64_t now_mono);

//  The last catalog; borrowed, valid until the next gw_catalog_set. NULL
//  before the first.
Mt__Catalog *gw_catalog_get (gw_catalog_t *self);

//  Milliseconds since the last catalog came (0 before the first), and
//  whether one came within GW_CATALOG_STALE_MS.
uint64_t gw_catalog_age (gw_catalog_t *self, uint64_t now_mono);
bool gw_catalog_fresh (gw_catalog_t *self, uint64_t now_mono);

//  The models of a pool (borrowed, as gw_catalog_get); NULL when the
//  catalog lists no such pool.
Mt__PoolModels *gw_catalog_pool (gw_catalog_t *self, const char *pool);

//  Models listed over every pool (0 before the first catalog).
size_t gw_catalog_models (gw_catalog_t *self);

#endif
