//  auth-gateway: usage events sent to metering, kept until acknowledged,
//  resent, spooled (see gw_meter.h).
#include "gw_meter.h"

#include "mt_codec.h"
#include "mt_log.h"
#include "mt_spool.h"
#include "mt_util.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _gw_meter_t {
    zsock_t *metering;              //  DEALER to metering; borrowed
    gw_usageq_t *usage;             //  usage events not yet acknowledged, owned
    size_t max;                     //  ... at most
    mt_spool_t *spool;              //  the same on disk, owned; or NULL
    bool spool_dirty;               //  appended since the last sync
    gw_usage_t *held;               //  emitted, not sent yet (gw_meter_hold), owned
    size_t nheld, held_cap;
    uint64_t held_since;            //  mono ms: the oldest held was emitted
    uint64_t hold_ms;               //  0: no hold
    size_t hold_max;
};

static void
s_usage_pb (gw_usage_t *u, Mt__UsageEvent *out)
{
    Mt__UsageEvent ev = MT__USAGE_EVENT__INIT;
    ev.event_id = u->event_id;
    ev.tenant_id = u->tenant_id;
    ev.key_id = u->key_id;
    ev.model = u->model;
    ev.pool = u->pool;
    ev.prompt_tokens = u->prompt_tokens;
    ev.completion_tokens = u->completion_tokens;
    ev.ttft_ms = u->ttft_ms;
    ev.latency_ms = u->latency_ms;
    ev.status = u->status;
    ev.http_status = u->http_status;
    ev.created_ms = u->created_ms;
    *out = ev;
}

static void
s_usage_send (void *arg, gw_usage_t *u)
{
    gw_meter_t *self = (gw_meter_t *) arg;
    Mt__UsageEvent ev;
    s_usage_pb (u, &ev);
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_USAGE_EVENT;
    env.usage_event = &ev;
    mt_codec_send_later (self->metering, NULL, &env, NULL); //  the loop flushes; kept until acked
}

//  The spool: every event appended as it is emitted, synced once per poll
//  round, emptied when metering has acknowledged everything (rewritten with
//  what is still owed when it grows past S_SPOOL_COMPACT).
#define S_SPOOL_COMPACT (4u << 20)

static void
s_spool_append (void *arg, gw_usage_t *u)
{
    gw_meter_t *self = (gw_meter_t *) arg;
    Mt__UsageEvent ev;
    s_usage_pb (u, &ev);
    if (mt_spool_append (self->spool, &ev))
        mt_log ("usage-spool-failed req=%s tenant=%s reason=\"write failed\"", u->event_id,
                u->tenant_id);
    self->spool_dirty = true;
}

void
gw_meter_sync (gw_meter_t *self)
{
    if (self->spool && self->spool_dirty) {
        mt_spool_sync (self->spool);
        self->spool_dirty = false;
    }
}

static void
s_spool_prune (gw_meter_t *self)
{
    if (!self->spool || mt_spool_bytes (self->spool) == 0)
        return;
    if (gw_usageq_size (self->usage) == 0)
        mt_spool_truncate (self->spool);
    else
    if (mt_spool_bytes (self->spool) > S_SPOOL_COMPACT
    &&  mt_spool_truncate (self->spool) == 0) {
        gw_usageq_each (self->usage, s_spool_append, self);
        gw_meter_sync (self);
    }
}

//  At start: what the last process owed metering is owed again.
static void
s_spool_replay (gw_meter_t *self)
{
    Mt__UsageEvent *ev;
    size_t count = 0;
    while ((ev = mt_spool_next (self->spool))) {
        gw_usage_t u;
        memset (&u, 0, sizeof u);
        snprintf (u.event_id, sizeof u.event_id, "%s", ev->event_id);
        snprintf (u.tenant_id, sizeof u.tenant_id, "%s", ev->tenant_id);
        snprintf (u.key_id, sizeof u.key_id, "%s", ev->key_id);
        snprintf (u.model, sizeof u.model, "%s", ev->model);
        snprintf (u.pool, sizeof u.pool, "%s", ev->pool);
        snprintf (u.status, sizeof u.status, "%s", ev->status);
        u.prompt_tokens = ev->prompt_tokens;
        u.completion_tokens = ev->completion_tokens;
        u.ttft_ms = ev->ttft_ms;
        u.latency_ms = ev->latency_ms;
        u.http_status = ev->http_status;
        u.created_ms = ev->created_ms;
        mt__usage_event__free_unpacked (ev, NULL);
        if (gw_usageq_add (self->usage, &u, mt_mono_ms ())) {
            s_usage_send (self, &u);
            count++;
        }
    }
    if (count)
        mt_log ("usage-spool-replayed events=%zu", count);
}

gw_meter_t *
gw_meter_new (zsock_t *metering, size_t max, uint64_t resend_ms)
{
    assert (metering);
    gw_meter_t *self = (gw_meter_t *) calloc (1, sizeof (gw_meter_t));
    if (!self)
        return NULL;
    self->metering = metering;
    self->max = max;
    self->usage = gw_usageq_new (max, resend_ms);
    if (!self->usage)
        gw_meter_destroy (&self);
    return self;
}

void
gw_meter_destroy (gw_meter_t **self_p)
{
    assert (self_p);
    gw_meter_t *self = *self_p;
    if (!self)
        return;
    gw_usageq_destroy (&self->usage);
    mt_spool_destroy (&self->spool);
    free (self->held);
    free (self);
    *self_p = NULL;
}

int
gw_meter_spool (gw_meter_t *self, const char *path)
{
    assert (self && path && !self->spool);
    self->spool = mt_spool_new (path);
    if (!self->spool)
        return -1;
    s_spool_replay (self);
    return 0;
}

int
gw_meter_emit (gw_meter_t *self, const gw_usage_t *event, uint64_t now_mono)
{
    if (gw_usageq_size (self->usage) >= self->max) {
        mt_log ("usage-dropped req=%s tenant=%s reason=\"pending events at limit\"",
                event->event_id, event->tenant_id);
        return -1;
    }
    gw_usage_t u = *event;
    if (!gw_usageq_add (self->usage, &u, now_mono))
        //  Sent once all the same; not resent (metering stores an id once)
        mt_log ("usage-untracked req=%s tenant=%s reason=\"duplicate id or out of memory\"",
                u.event_id, u.tenant_id);
    if (self->spool)
        s_spool_append (self, &u);
    if (self->hold_ms && self->nheld == self->held_cap) {
        size_t cap = self->held_cap? 2 * self->held_cap: 64;
        gw_usage_t *grown = (gw_usage_t *) realloc (self->held, cap * sizeof (gw_usage_t));
        if (grown) {
            self->held = grown;
            self->held_cap = cap;
        }
    }
    if (!self->hold_ms || self->nheld == self->held_cap) {
        s_usage_send (self, &u);        //  no hold, or no room to hold it
        return 0;
    }
    if (self->nheld == 0)
        self->held_since = now_mono;
    self->held [self->nheld++] = u;
    return 0;
}

void
gw_meter_hold (gw_meter_t *self, uint64_t hold_ms, size_t hold_max)
{
    assert (self);
    self->hold_ms = hold_ms;
    self->hold_max = hold_max? hold_max: 1;
}

size_t
gw_meter_send_held (gw_meter_t *self, uint64_t now_mono, bool force)
{
    assert (self);
    size_t n = self->nheld;
    if (n == 0 || !(force || n >= self->hold_max || now_mono - self->held_since >= self->hold_ms))
        return 0;
    for (size_t i = 0; i < n; i++)
        s_usage_send (self, &self->held [i]);
    self->nheld = 0;
    return n;
}

long
gw_meter_held_wait (gw_meter_t *self, uint64_t now_mono)
{
    assert (self);
    if (self->nheld == 0)
        return -1;
    uint64_t due = self->held_since + self->hold_ms;
    return now_mono >= due? 0: (long) (due - now_mono);
}

void
gw_meter_ack (gw_meter_t *self, char **event_ids, size_t count)
{
    for (size_t i = 0; i < count; i++)
        gw_usageq_ack (self->usage, event_ids [i]);
    s_spool_prune (self);
}

size_t
gw_meter_resend (gw_meter_t *self, uint64_t now_mono, size_t max_count)
{
    return gw_usageq_resend (self->usage, now_mono, max_count, s_usage_send, self);
}

size_t
gw_meter_pending (gw_meter_t *self)
{
    return gw_usageq_size (self->usage);
}
