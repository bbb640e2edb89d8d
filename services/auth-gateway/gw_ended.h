//  Jobs whose end reached this gateway from their worker, kept per tenant
//  until the tenant's next Submit carries them to the scheduler (Submit.ended).
//
//  Why: the scheduler frees a tenant's concurrency lease when the worker's
//  JobDone reaches it, and that JobDone travels on its own path. A client that
//  got its answer and sends its next request at once could reach the
//  scheduler first and be refused as over its concurrency limit, with nothing
//  of its own in flight. The next Submit names the jobs this gateway saw end;
//  the scheduler frees their leases before it counts.
//
//  A small ring: the oldest entry goes when it is full, and entries older
//  than a given age are never handed out (by then the worker's JobDone has
//  long arrived). No clock of its own: callers pass the time in.
#ifndef GW_ENDED_H_INCLUDED
#define GW_ENDED_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#define GW_ENDED_ID 64          //  room for a request or tenant id, with its NUL
#define GW_ENDED_TAKE_MAX 16    //  ids one Submit carries, at most

typedef struct _gw_ended_t gw_ended_t;

//  A ring of capacity entries (at least 1). Caller owns; destroy with
//  gw_ended_destroy.
gw_ended_t *gw_ended_new (size_t capacity);

//  Destroy the ring; no-op on NULL; nulls the pointer.
void gw_ended_destroy (gw_ended_t **self_p);

//  Remember that job req_id of tenant_id ended at now_ms. Ids too long to
//  keep, empty or NULL are ignored.
void gw_ended_add (gw_ended_t *self, const char *tenant_id, const char *req_id,
                   uint64_t now_ms);

//  Take the tenant's entries not older than max_age_ms, oldest first, at most
//  max (and GW_ENDED_TAKE_MAX), into ids; each is handed out once. Returns
//  how many.
size_t gw_ended_take (gw_ended_t *self, const char *tenant_id, uint64_t now_ms,
                      uint64_t max_age_ms, char ids [][GW_ENDED_ID], size_t max);

//  Entries held, taken ones not counted.
size_t gw_ended_size (gw_ended_t *self);

#endif
