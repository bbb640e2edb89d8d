//  What the gateway bills, and the usage events it owes metering. Pure: no
//  sockets, no clock of its own (times come in as arguments).
//
//  Billing is what the client received: a streamed request is billed the
//  tokens it got; a request not streamed that ends in an error is billed
//  nothing (and settles 0 at the quota-enforcer).
//
//  gw_bill_done says, for each way a job can end (ok, length, client gone,
//  engine error, worker lost, request timeout; streamed or not), what is
//  settled at the quota-enforcer, what the ledger row says (status, HTTP
//  status) and the token counts of the usage event, with the clamp at the
//  daily quota's edge. gw_bill_lost does the same for a timed-out job whose
//  JobDone never came.
//
//  gw_usageq_t holds the usage events sent to metering until acknowledged,
//  and says which are due for a resend.
#ifndef GW_BILL_H_INCLUDED
#define GW_BILL_H_INCLUDED

#include "mt.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  The request's side of a job that ended.
typedef struct {
    bool stream;                    //  an SSE stream (its HTTP status is 200 once started)
    bool client_gone;               //  the connection closed before the end
    bool timed_out;                 //  the gateway gave up (request timeout) and told the client
    bool daily_limited;             //  the tenant has a daily token limit
    uint32_t prompt_estimate;       //  the gateway's prompt count (the one admitted)
    uint64_t max_tokens;            //  completion tokens the client asked for (all choices)
    uint32_t granted;               //  completion tokens the quota-enforcer granted
    uint32_t relayed;               //  completion tokens relayed to the client
} gw_bill_req_t;

//  The job's report (JobDone).
typedef struct {
    Mt__ErrorCode error;
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
} gw_bill_job_t;

//  The verdict.
typedef struct {
    uint32_t prompt_tokens;         //  billed, and shown to the client
    uint32_t completion_tokens;
    uint64_t used;                  //  Settle.used_tokens
    bool refused;                   //  Settle.refused: release the reservation, bill nothing
    bool emit;                      //  send a usage event (a ledger row)
    const char *status;             //  ledger status: "ok", "cancelled", "error"
    unsigned int http_status;       //  ledger http_status: what the client got
    bool clamped;                   //  cut at the daily quota's edge
} gw_bill_t;

//  Bill a job that reported its end.
void gw_bill_done (const gw_bill_req_t *req, const gw_bill_job_t *job, gw_bill_t *bill);

//  Bill a timed-out job whose report never came: what reached a streamed
//  client (as an error), or nothing (the reservation released).
void gw_bill_lost (const gw_bill_req_t *req, gw_bill_t *bill);

//  --------------------------------------------------------------------------
//  Usage events owed to metering

typedef struct {
    char event_id [48];
    char tenant_id [37];
    char key_id [37];
    char model [128];
    char pool [64];
    char status [16];
    uint32_t prompt_tokens, completion_tokens, ttft_ms, latency_ms, http_status;
    uint64_t created_ms;
    uint64_t sent_ms;               //  last sent (monotonic clock of the caller)
} gw_usage_t;

typedef struct _gw_usageq_t gw_usageq_t;

//  A queue of at most max events, each resent resend_ms after it was last
//  sent. Caller owns; destroy with gw_usageq_destroy. NULL if out of memory.
gw_usageq_t *gw_usageq_new (size_t max, uint64_t resend_ms);
void gw_usageq_destroy (gw_usageq_t **self_p);

//  Keep a copy of the event, as sent at now. Returns the copy (borrowed;
//  valid until acknowledged or the queue is destroyed), or NULL when the
//  queue is full, the id is queued already, or out of memory.
gw_usage_t *gw_usageq_add (gw_usageq_t *self, const gw_usage_t *event, uint64_t now);

//  Metering stored the event: forget it. Unknown ids are ignored.
void gw_usageq_ack (gw_usageq_t *self, const char *event_id);

size_t gw_usageq_size (gw_usageq_t *self);

//  Call fn for every queued event (any order).
void gw_usageq_each (gw_usageq_t *self, void (*fn) (void *arg, gw_usage_t *event), void *arg);

//  Call send for each event due for a resend at now (at most max of them)
//  and mark it sent at now. Returns how many.
size_t gw_usageq_resend (gw_usageq_t *self, uint64_t now, size_t max,
                         void (*send) (void *arg, gw_usage_t *event), void *arg);

#endif
