//  Quota math: requests/minute, tokens/minute and daily tokens per tenant,
//  reserve-then-settle. Pure: no sockets, no database, no clock of its own
//  (every call takes now_ms, wall clock in ms since the epoch, UTC).
#ifndef QE_QUOTA_H_INCLUDED
#define QE_QUOTA_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt.pb-c.h"

#define QE_WINDOW_MS 60000u         //  fixed rate windows, aligned to the minute
#define QE_TOKENS_MAX (1ull << 40)  //  larger token counts are clamped to this

typedef struct _qe_quota_t qe_quota_t;

//  A tenant's limits as the gateway sends them; 0 = unlimited.
typedef struct {
    uint64_t rpm;                   //  requests per minute
    uint64_t tpm;                   //  tokens per minute
    uint64_t daily;                 //  tokens per UTC day
} qe_limits_t;

//  The answer to one Admit; maps one to one onto AdmitReply.
typedef struct {
    bool ok;
    Mt__ErrorCode code;             //  ERR_NONE when ok
    bool duplicate;                 //  the req_id already held a reservation
    uint64_t granted_tokens;        //  completion tokens the request may use
    uint32_t retry_after_s;         //  refusals: whole seconds, at least 1
    char reset_at [21];             //  ERR_QUOTA: next midnight UTC, else ""
    uint64_t limit_requests;        //  = rpm (0 = unlimited)
    uint64_t remaining_requests;    //  after this request
    uint64_t reset_requests_ms;     //  ms to the window end
    uint64_t limit_tokens;          //  = tpm (0 = unlimited)
    uint64_t remaining_tokens;
    uint64_t reset_tokens_ms;
} qe_admit_t;

typedef enum {
    QE_SETTLE_USED,                 //  reservation replaced by real usage
    QE_SETTLE_RELEASED,             //  refused: reservation released entirely
    QE_SETTLE_UNKNOWN,              //  no reservation (expired): usage charged anyway
    QE_SETTLE_DUPLICATE             //  already settled: nothing changed
} qe_settle_t;

//  A tenant's counters, for tests, metrics and logs.
typedef struct {
    uint64_t day_start;
    uint64_t used_today;
    uint64_t reserved;
    uint64_t window_start;
    uint64_t requests_in_window;
    uint64_t tokens_in_window;
} qe_tenant_stats_t;

//  Called once per expired reservation (for logging). Borrowed strings.
typedef void (qe_expire_fn) (const char *req_id, const char *tenant_id,
                             uint64_t reserve, void *arg);

//  How long a settled request id is remembered, at most.
#define QE_SETTLED_TTL_MS 10000

//  Create the quota state; ttl_ms is how long a reservation and a settled id
//  live. Caller owns; destroy with qe_quota_destroy.
qe_quota_t *qe_quota_new (uint64_t ttl_ms);
void qe_quota_destroy (qe_quota_t **self_p);

//  Set a tenant's tokens used today (rebuild on start).
void qe_quota_set_used_today (qe_quota_t *self, const char *tenant_id, uint64_t used,
                              uint64_t now_ms);

//  Decide one Admit and, when ok, record the reservation. Fills *out.
void qe_quota_admit (qe_quota_t *self, const char *req_id, const char *tenant_id,
                     uint64_t prompt_tokens, uint64_t max_tokens, const qe_limits_t *limits,
                     uint64_t now_ms, qe_admit_t *out);

//  Record a reservation a gateway re-announces after a restart (prompt +
//  granted, counted in this window), without a check: the request already
//  runs. No-op when the id is reserved or settled already.
void qe_quota_restore (qe_quota_t *self, const char *req_id, const char *tenant_id,
                       uint64_t prompt_tokens, uint64_t granted, uint64_t now_ms);

//  Say which gateway holds req_id's reservation (its routing id, hex), so
//  that qe_quota_release_owner can release it when that gateway is gone.
//  No-op when req_id holds no reservation.
void qe_quota_set_owner (qe_quota_t *self, const char *req_id, const char *owner);

//  The gateway owner is gone (killed): release every reservation it held as
//  unused. Nothing is charged to the day (the ledger has nothing of them:
//  the gateway never recorded their usage), their tokens leave the minute
//  window, their request stays counted (it was admitted and ran). The ids
//  are not remembered as settled: should the gateway speak again after all,
//  its Settle is charged as for an expired reservation. Returns the number
//  released; calls fn for each if set.
size_t qe_quota_release_owner (qe_quota_t *self, const char *owner, uint64_t now_ms,
                               qe_expire_fn *fn, void *arg);

//  Replace a reservation by real usage, or release it (refused = true).
qe_settle_t qe_quota_settle (qe_quota_t *self, const char *req_id, const char *tenant_id,
                             uint64_t used_tokens, bool refused, uint64_t now_ms);

//  Drop reservations past their expiry and settled ids past their TTL.
//  Returns the number of reservations dropped; calls fn for each if set.
size_t qe_quota_expire (qe_quota_t *self, uint64_t now_ms, qe_expire_fn *fn, void *arg);

//  Outstanding reservations.
size_t qe_quota_reservations (qe_quota_t *self);

//  Copy a tenant's counters as of now_ms (rolled to the current window and
//  day). Returns false for an unknown tenant.
bool qe_quota_tenant_stats (qe_quota_t *self, const char *tenant_id, uint64_t now_ms,
                            qe_tenant_stats_t *out);

#endif
