//  What the gateway bills for each ending of a job, and the usage events it
//  owes metering. Pure: see gw_bill.h.
#include "gw_bill.h"
#include "mt_errors.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

void
gw_bill_done (const gw_bill_req_t *req, const gw_bill_job_t *job, gw_bill_t *bill)
{
    assert (req && job && bill);
    memset (bill, 0, sizeof *bill);
    bill->emit = true;
    bill->prompt_tokens = job->prompt_tokens;
    bill->completion_tokens = job->completion_tokens;
    //  A worker that died cannot report: bill what reached the client
    if (bill->completion_tokens < req->relayed) {
        bill->completion_tokens = req->relayed;
        if (bill->prompt_tokens == 0)
            bill->prompt_tokens = req->prompt_estimate;
    }
    //  A request the daily quota cut short (granted less than it asked) is
    //  stopped at the quota and not billed past it: the grant used the
    //  gateway's prompt count, and an engine's chat template may count the
    //  prompt higher. The client sees the same numbers it is billed.
    uint64_t admitted = (uint64_t) req->prompt_estimate + req->granted;
    bool at_quota = req->daily_limited && req->granted < req->max_tokens;
    if (at_quota && (uint64_t) bill->prompt_tokens + bill->completion_tokens > admitted) {
        bill->clamped = true;
        if (bill->completion_tokens > req->granted)
            bill->completion_tokens = req->granted;
        bill->prompt_tokens = (uint32_t) (admitted - bill->completion_tokens);
    }
    //  Billing is what the client received: a request not streamed that
    //  ends in an error (engine error, worker lost, request timeout) got an
    //  error response and no token, so it is billed nothing. A client that
    //  went away is billed what was generated for it, as before.
    //  (A timed-out request's connection is gone too, after its 503.)
    bool left = req->client_gone && !req->timed_out;
    if (!req->stream && !left && job->error != MT__ERROR_CODE__ERR_NONE) {
        bill->prompt_tokens = 0;
        bill->completion_tokens = 0;
        bill->clamped = false;
    }
    bill->used = (uint64_t) bill->prompt_tokens + bill->completion_tokens;
    bool cancelled = job->error == MT__ERROR_CODE__ERR_CANCELLED || req->client_gone;
    bill->status = job->error == MT__ERROR_CODE__ERR_NONE? "ok": cancelled? "cancelled": "error";
    const mt_error_t *err = job->error == MT__ERROR_CODE__ERR_NONE? NULL:
                            mt_error_from_proto (job->error);
    bill->http_status = err && !req->stream? err->status: 200;
    if (req->timed_out)
        bill->http_status = req->stream? 200: 503;      //  what the client got
    else
    if (cancelled)
        bill->http_status = 499;
}

void
gw_bill_lost (const gw_bill_req_t *req, gw_bill_t *bill)
{
    assert (req && bill);
    memset (bill, 0, sizeof *bill);
    //  Nothing reached the client (a request not streamed got a 503)
    if (req->relayed == 0 || !req->stream) {
        bill->refused = true;
        return;
    }
    bill->emit = true;
    bill->prompt_tokens = req->prompt_estimate;
    bill->completion_tokens = req->relayed;
    bill->used = (uint64_t) bill->prompt_tokens + bill->completion_tokens;
    bill->status = "error";
    bill->http_status = 503;
}

//  --------------------------------------------------------------------------

struct _gw_usageq_t {
    zhashx_t *events;               //  event id -> gw_usage_t, owned
    size_t max;                     //  events kept at most
    uint64_t resend_ms;             //  resend after this long without an ack
};

static void
s_event_free (void **item)
{
    free (*item);
    *item = NULL;
}

gw_usageq_t *
gw_usageq_new (size_t max, uint64_t resend_ms)
{
    gw_usageq_t *self = (gw_usageq_t *) calloc (1, sizeof (gw_usageq_t));
    if (!self)
        return NULL;
    self->events = zhashx_new ();
    if (!self->events) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->events, s_event_free);
    self->max = max;
    self->resend_ms = resend_ms;
    return self;
}

void
gw_usageq_destroy (gw_usageq_t **self_p)
{
    assert (self_p);
    gw_usageq_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->events);
    free (self);
    *self_p = NULL;
}

gw_usage_t *
gw_usageq_add (gw_usageq_t *self, const gw_usage_t *event, uint64_t now)
{
    assert (self && event);
    if (zhashx_size (self->events) >= self->max)
        return NULL;
    gw_usage_t *copy = (gw_usage_t *) malloc (sizeof *copy);
    if (!copy)
        return NULL;
    *copy = *event;
    copy->sent_ms = now;
    if (zhashx_insert (self->events, copy->event_id, copy)) {
        free (copy);                //  the id is queued already
        return NULL;
    }
    return copy;
}

void
gw_usageq_ack (gw_usageq_t *self, const char *event_id)
{
    assert (self);
    if (event_id)
        zhashx_delete (self->events, event_id);         //  frees the event
}

size_t
gw_usageq_size (gw_usageq_t *self)
{
    assert (self);
    return zhashx_size (self->events);
}

void
gw_usageq_each (gw_usageq_t *self, void (*fn) (void *arg, gw_usage_t *event), void *arg)
{
    assert (self && fn);
    for (gw_usage_t *u = (gw_usage_t *) zhashx_first (self->events); u;
         u = (gw_usage_t *) zhashx_next (self->events))
        fn (arg, u);
}

size_t
gw_usageq_resend (gw_usageq_t *self, uint64_t now, size_t max,
                  void (*send) (void *arg, gw_usage_t *event), void *arg)
{
    assert (self && send);
    size_t resent = 0;
    for (gw_usage_t *u = (gw_usage_t *) zhashx_first (self->events); u && resent < max;
         u = (gw_usage_t *) zhashx_next (self->events))
        if (now - u->sent_ms >= self->resend_ms) {
            send (arg, u);
            u->sent_ms = now;
            resent++;
        }
    return resent;
}
