//  What the gateway saw lately, per tenant: requests by outcome, tokens,
//  refusals by reason, tokens and requests over the last minute, the recent
//  errors, and queue wait and time to first token by pool and tier. Feeds the
//  operators' console (GET /admin/v1/live) and the per-tenant series of
//  /metrics. Pure: no sockets, no clock of its own (callers pass now_ms).
//
//  Bounded: at most max_tenants tenants get series of their own; a tenant
//  beyond that is counted under tenant "_other", and a tenant idle for
//  idle_ms is folded into "_other" by gw_live_expire, which frees its place.
#ifndef GW_LIVE_H_INCLUDED
#define GW_LIVE_H_INCLUDED

#include "mt_errors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GW_LIVE_OTHER      "_other"     //  tenant label of everything not tracked
#define GW_LIVE_ERRORS     50           //  recent errors kept
#define GW_LIVE_PAIRS_MAX  64           //  (pool, tier) histograms at most
#define GW_LIVE_IDLE_MS    3600000      //  a tenant idle this long leaves the tracked set

//  Outcomes of a request, in label order.
typedef enum {
    GW_LIVE_OK, GW_LIVE_ERROR, GW_LIVE_CANCELLED, GW_LIVE_REFUSED, GW_LIVE_REJECTED,
    GW_LIVE_OUTCOMES
} gw_live_outcome_t;

//  Reasons of a 429, in label order.
typedef enum {
    GW_LIVE_RPM, GW_LIVE_TPM, GW_LIVE_CONCURRENCY, GW_LIVE_DAILY, GW_LIVE_REASONS
} gw_live_reason_t;

extern const char *gw_live_outcome_names [GW_LIVE_OUTCOMES];
extern const char *gw_live_reason_names [GW_LIVE_REASONS];

typedef struct _gw_live_t gw_live_t;

//  Create. Caller owns; destroy with gw_live_destroy.
gw_live_t *gw_live_new (size_t max_tenants);
void gw_live_destroy (gw_live_t **self_p);

//  The reason of a refusal, or -1 when err is not a 429 refusal.
int gw_live_reason (const mt_error_t *err);

//  Outcome label of a finished job's status ("ok", "error", "cancelled").
gw_live_outcome_t gw_live_outcome (const char *status);

//  A job ended. ttft_s and queue_s < 0 = not known. pool and tier may be "".
void gw_live_done (gw_live_t *self, const char *tenant, const char *pool, const char *tier,
                   gw_live_outcome_t outcome, uint32_t prompt, uint32_t completion,
                   double ttft_s, double queue_s, uint64_t now_ms);

//  An error answered before any job ran. tenant "" = not known (e.g. 401).
//  Counts a refusal (429) or a rejection for a known tenant, and keeps the
//  error in the recent list. message may be NULL.
void gw_live_error (gw_live_t *self, const char *req_id, const char *tenant,
                    const mt_error_t *err, const char *message, bool counted, uint64_t now_ms);

//  Fold tenants idle for idle_ms into "_other".
void gw_live_expire (gw_live_t *self, uint64_t now_ms, uint64_t idle_ms);

//  Tenants with series of their own.
size_t gw_live_tenant_count (gw_live_t *self);

//  A tenant's last minute: tokens and requests. 0 when not tracked.
uint64_t gw_live_tokens_minute (gw_live_t *self, const char *tenant, uint64_t now_ms);
uint64_t gw_live_requests_minute (gw_live_t *self, const char *tenant, uint64_t now_ms);

//  Daily token limit to export for a tenant's series (0 = none); set by the
//  caller from the tenant cache.
typedef uint64_t (gw_live_limit_fn) (void *arg, const char *tenant);

//  The per-tenant and per-(pool, tier) series in Prometheus text format.
//  limit may be NULL. Caller owns; free().
char *gw_live_metrics (gw_live_t *self, gw_live_limit_fn *limit, void *arg);

//  JSON for the console: recent errors, newest first; refusals by reason in
//  total and for the tenants with any, most first (at most max). Caller owns.
json_t *gw_live_errors_json (gw_live_t *self);
json_t *gw_live_refusals_json (gw_live_t *self, size_t max);

//  The tracked tenants most active over the last minute (tokens, then
//  requests), at most max, as ids in out. Returns how many.
size_t gw_live_busiest (gw_live_t *self, uint64_t now_ms, const char **out, size_t max);

#endif
