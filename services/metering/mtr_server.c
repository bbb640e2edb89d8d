//  Metering sockets and handlers: events in, batches to the database actor,
//  acknowledgements out after COMMIT. Never blocks on the database.
#include "mtr_server.h"
#include "mtr_batch.h"
#include "mt_spool.h"
#include "mtr_store.h"
#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define S_RETRY_MS 500              //  a failed batch is tried again after this
#define S_DRAIN_MS 5000             //  on SIGTERM, how long pending events may be written
#define S_LOG_EVERY_MS 1000         //  repeated failure lines at most this often

struct _mtr_server_t {
    zsock_t *router;                //  usage event senders, owned
    zactor_t *store;                //  database actor, owned
    zlistx_t *queue;                //  mtr_batch_t, owned; the last is being filled
    mtr_batch_t *inflight;          //  owned, lent to the actor
    size_t batch_max;
    int batch_ms;
    size_t pending;                 //  events in queue and inflight
    size_t pending_max;             //  events held in memory at most, then spooled
    zhashx_t *held;                 //  event id -> copies in queue and inflight
    mt_spool_t *spool;             //  owned; NULL: no spool
    size_t spool_held;              //  events read back from the spool, in memory
    zlistx_t *spool_acks;           //  zframe_t sender + event id, acked after the sync
    uint64_t retry_at;              //  mono ms: no batch to the actor before this
    uint64_t last_fail_log;         //  mono ms
    uint64_t suppressed;            //  failure lines not written since
    mt_metric_t *m_received;
    mt_metric_t *m_stored;
    mt_metric_t *m_duplicate;
    mt_metric_t *m_invalid;
    mt_metric_t *m_batches;
    mt_metric_t *m_batch_errors;
    mt_metric_t *m_dropped;
    mt_metric_t *m_pending;
    mt_metric_t *m_spooled;
    mt_metric_t *m_replayed;
    mt_metric_t *m_spool_bytes;
};

static void
s_batch_free (void **item_p)
{
    mtr_batch_destroy ((mtr_batch_t **) item_p);
}

static void
s_frame_free (void **item_p)
{
    zframe_destroy ((zframe_t **) item_p);
}

mtr_server_t *
mtr_server_new (const char *endpoint, zactor_t **store_p, size_t batch_max, int batch_ms,
                size_t memory_max, const char *spool_path)
{
    zactor_t *store = *store_p;
    *store_p = NULL;
    mtr_server_t *self = (mtr_server_t *) calloc (1, sizeof *self);
    if (!self) {
        zactor_destroy (&store);
        return NULL;
    }
    self->store = store;
    self->batch_max = batch_max? batch_max: 1;
    self->batch_ms = batch_ms;
    self->pending_max = memory_max > self->batch_max? memory_max: self->batch_max;
    self->queue = zlistx_new ();
    self->held = zhashx_new ();
    self->spool_acks = zlistx_new ();
    if (spool_path && *spool_path && !(self->spool = mt_spool_new (spool_path))) {
        mtr_server_destroy (&self);
        return NULL;
    }
    self->router = mt_codec_socket (ZMQ_ROUTER);
    if (self->router) {     //  a gateway's connection that comes back keeps its name
        zsock_set_router_handover (self->router, 1);
        //  Events wait in the socket's queue while a batch fills (s_defer_reads):
        //  room for as many as memory holds, not libzmq's default 1,000 a sender
        zsock_set_rcvhwm (self->router, (int) (self->pending_max < INT_MAX?
                                               self->pending_max: INT_MAX));
    }
    if (!self->queue || !self->held || !self->spool_acks || !self->router
        || mt_curve_server (self->router, "metering", MT_ROLE_GATEWAY)
        || zsock_bind (self->router, "%s", endpoint) == -1) {
        mt_log ("bind-failed endpoint=%s reason=\"%s\"", endpoint, zmq_strerror (zmq_errno ()));
        mtr_server_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->queue, s_batch_free);
    zlistx_set_destructor (self->spool_acks, s_frame_free);
    self->m_received = mt_metric_counter ("mt_mtr_events_received_total", "Usage events received");
    self->m_stored = mt_metric_counter ("mt_mtr_events_stored_total",
                                        "Usage events written to the ledger");
    self->m_duplicate = mt_metric_counter ("mt_mtr_events_duplicate_total",
                                           "Usage events already in the ledger (resends)");
    self->m_invalid = mt_metric_counter ("mt_mtr_events_invalid_total",
                                         "Usage events refused as invalid and acknowledged");
    self->m_batches = mt_metric_counter ("mt_mtr_batches_total", "Batches committed");
    self->m_batch_errors = mt_metric_counter ("mt_mtr_batch_errors_total",
                                              "Batches rolled back, not acknowledged");
    self->m_dropped = mt_metric_counter ("mt_mtr_events_dropped_total",
                                         "Usage events not taken (too many pending), not acknowledged");
    self->m_pending = mt_metric_gauge ("mt_mtr_events_pending", "Usage events waiting for the database");
    self->m_spooled = mt_metric_counter ("mt_mtr_events_spooled_total",
                                         "Usage events written to the disk spool and acknowledged");
    self->m_replayed = mt_metric_counter ("mt_mtr_events_replayed_total",
                                          "Usage events read back from the disk spool");
    self->m_spool_bytes = mt_metric_gauge ("mt_mtr_spool_bytes", "Bytes in the disk spool");
    mt_metric_set (self->m_spool_bytes,
                   self->spool? (int64_t) mt_spool_bytes (self->spool): 0);
    mt_log ("listening endpoint=%s batch_max=%zu batch_ms=%d memory_max=%zu spool=%s",
            zsock_endpoint (self->router), self->batch_max, self->batch_ms, self->pending_max,
            spool_path && *spool_path? spool_path: "-");
    return self;
}

void
mtr_server_destroy (mtr_server_t **self_p)
{
    mtr_server_t *self = *self_p;
    if (!self)
        return;
    //  The actor finishes the batch it holds before it ends; then it is ours
    zactor_destroy (&self->store);
    mtr_batch_destroy (&self->inflight);
    zlistx_destroy (&self->queue);
    zhashx_destroy (&self->held);
    zlistx_destroy (&self->spool_acks);
    mt_spool_destroy (&self->spool);
    mt_codec_flush ();                  //  what is held goes before its socket closes
    mt_codec_close (&self->router);
    free (self);
    *self_p = NULL;
}

//  Copy text for a log line: printable ASCII kept, the rest as \xNN, cut.
static const char *
s_clean (const char *in, char *out, size_t size)
{
    static const char hex [] = "0123456789abcdef";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *) in; *p && o + 5 < size; p++) {
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            out [o++] = (char) *p;
        else {
            out [o++] = '\\';
            out [o++] = 'x';
            out [o++] = hex [*p >> 4];
            out [o++] = hex [*p & 15];
        }
    }
    out [o] = 0;
    return out;
}

static void
s_log_invalid (const Mt__UsageEvent *ev, const char *reason)
{
    char id [100], tenant [100], key [100], model [100], pool [100], status [60];
    mt_log ("event-invalid reason=\"%s\" req=\"%s\" tenant=\"%s\" key=\"%s\" model=\"%s\""
            " pool=\"%s\" prompt_tokens=%" PRIu32 " completion_tokens=%" PRIu32
            " ttft_ms=%" PRIu32 " latency_ms=%" PRIu32 " status=\"%s\" http_status=%" PRIu32
            " created_ms=%" PRIu64 " action=acknowledged_not_stored", reason,
            s_clean (ev->event_id, id, sizeof id), s_clean (ev->tenant_id, tenant, sizeof tenant),
            s_clean (ev->key_id, key, sizeof key), s_clean (ev->model, model, sizeof model),
            s_clean (ev->pool, pool, sizeof pool), ev->prompt_tokens, ev->completion_tokens,
            ev->ttft_ms, ev->latency_ms, s_clean (ev->status, status, sizeof status),
            ev->http_status, ev->created_ms);
}

static void
s_send_ack (mtr_server_t *self, const uint8_t *sender, size_t sender_size,
            char **ids, size_t count)
{
    Mt__UsageAck ack = MT__USAGE_ACK__INIT;
    ack.event_ids = ids;
    ack.n_event_ids = count;
    if (!sender_size || !count)
        return;                     //  read back from the spool: acknowledged before
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_USAGE_ACK;
    env.usage_ack = &ack;
    //  Held until the loop waits: a turn's acks to one gateway go as one Batch
    mt_codec_drop_t drop = { .label = "ack-dropped reason=\"peer gone or queue full\"" };
    zframe_t *routing_id = zframe_new (sender, sender_size);
    if (!routing_id)
        mt_log ("ack-dropped events=%zu reason=\"out of memory\"", count);
    else
        mt_codec_send_later (self->router, routing_id, &env, &drop);
    zframe_destroy (&routing_id);
}

//  Rate-limited failure line.
static bool
s_may_log (mtr_server_t *self)
{
    uint64_t now = mt_mono_ms ();
    if (now - self->last_fail_log < S_LOG_EVERY_MS) {
        self->suppressed++;
        return false;
    }
    self->last_fail_log = now;
    return true;
}

static void
s_hold (mtr_server_t *self, const char *event_id)
{
    uintptr_t n = (uintptr_t) zhashx_lookup (self->held, event_id);
    if (n)
        zhashx_update (self->held, event_id, (void *) (n + 1));
    else
        zhashx_insert (self->held, event_id, (void *) (uintptr_t) 1);
}

static void
s_release (mtr_server_t *self, const char *event_id)
{
    uintptr_t n = (uintptr_t) zhashx_lookup (self->held, event_id);
    if (n > 1)
        zhashx_update (self->held, event_id, (void *) (n - 1));
    else
        zhashx_delete (self->held, event_id);
}

static void
s_on_event (mtr_server_t *self, zframe_t *routing_id, const Mt__UsageEvent *ev)
{
    mt_metric_add (self->m_received, 1);
    const char *reason = mtr_event_check (ev, mt_now_ms ());
    if (reason) {
        s_log_invalid (ev, reason);
        mt_metric_add (self->m_invalid, 1);
        //  Acknowledged so the sender stops resending it
        char *id = ev->event_id;
        s_send_ack (self, zframe_data (routing_id), zframe_size (routing_id), &id, 1);
        return;
    }
    if (zhashx_lookup (self->held, ev->event_id))
        return;                     //  a resend of one we hold: acked once it is stored
    if (self->pending >= self->pending_max && self->spool) {
        //  Memory is full: to the disk, acknowledged after the next sync
        zframe_t *sender = zframe_dup (routing_id);
        zframe_t *id = zframe_new (ev->event_id, strlen (ev->event_id) + 1);
        if (sender && id && mt_spool_append (self->spool, ev) == 0) {
            zlistx_add_end (self->spool_acks, sender);
            zlistx_add_end (self->spool_acks, id);
            mt_metric_add (self->m_spooled, 1);
            return;
        }
        zframe_destroy (&sender);
        zframe_destroy (&id);
        if (s_may_log (self))
            mt_log ("spool-write-failed req=%s tenant=%s action=not_acknowledged",
                    ev->event_id, ev->tenant_id);
        mt_metric_add (self->m_dropped, 1);
        return;
    }
    if (self->pending >= self->pending_max) {
        mt_metric_add (self->m_dropped, 1);
        if (s_may_log (self))
            mt_log ("event-dropped req=%s tenant=%s pending=%zu suppressed=%" PRIu64
                    " reason=\"too many pending\" action=not_acknowledged",
                    ev->event_id, ev->tenant_id, self->pending, self->suppressed);
        return;
    }
    mtr_batch_t *tail = (mtr_batch_t *) zlistx_last (self->queue);
    if (!tail || mtr_batch_size (tail) >= self->batch_max) {
        tail = mtr_batch_new ();
        if (!tail || !zlistx_add_end (self->queue, tail)) {
            mtr_batch_destroy (&tail);
            tail = NULL;
        }
        else
            mtr_batch_set_started (tail, mt_mono_ms ());
    }
    if (!tail || mtr_batch_add (tail, ev, zframe_data (routing_id), zframe_size (routing_id))) {
        //  Not acknowledged: the sender resends it
        mt_metric_add (self->m_dropped, 1);
        if (s_may_log (self))
            mt_log ("event-dropped req=%s tenant=%s suppressed=%" PRIu64
                    " reason=\"cannot batch (out of memory)\" action=not_acknowledged",
                    ev->event_id, ev->tenant_id, self->suppressed);
        return;
    }
    self->pending++;
    s_hold (self, ev->event_id);
    mt_metric_set (self->m_pending, (int64_t) self->pending);
}

//  Make the spooled events durable, then acknowledge them.
static void
s_spool_sync (mtr_server_t *self)
{
    if (!self->spool || zlistx_size (self->spool_acks) == 0)
        return;
    bool synced = mt_spool_sync (self->spool) == 0;
    mt_metric_set (self->m_spool_bytes, (int64_t) mt_spool_bytes (self->spool));
    zframe_t *sender = (zframe_t *) zlistx_first (self->spool_acks);
    while (sender) {
        zframe_t *id = (zframe_t *) zlistx_next (self->spool_acks);
        char *text = (char *) zframe_data (id);
        //  Not synced: not acknowledged, the sender sends it again
        if (synced)
            s_send_ack (self, zframe_data (sender), zframe_size (sender), &text, 1);
        sender = (zframe_t *) zlistx_next (self->spool_acks);
    }
    zlistx_purge (self->spool_acks);
}

//  Database up and memory free: read spooled events back into batches. When
//  every event read back is stored, empty the spool.
static void
s_spool_replay (mtr_server_t *self)
{
    if (!self->spool || !mtr_store_up () || mt_mono_ms () < self->retry_at)
        return;
    if (!mt_spool_unread (self->spool)) {
        if (self->spool_held == 0 && mt_spool_bytes (self->spool) > 0
        &&  zlistx_size (self->spool_acks) == 0 && mt_spool_truncate (self->spool) == 0) {
            mt_log ("spool-drained");
            mt_metric_set (self->m_spool_bytes, 0);
        }
        return;
    }
    if (self->pending + self->batch_max > self->pending_max)
        return;
    mtr_batch_t *batch = mtr_batch_new ();
    if (!batch)
        return;
    Mt__UsageEvent *ev;
    while (mtr_batch_size (batch) < self->batch_max && (ev = mt_spool_next (self->spool))) {
        if (mtr_batch_add (batch, ev, NULL, 0) == 0) {
            self->pending++;
            self->spool_held++;
            s_hold (self, ev->event_id);
        }
        mt__usage_event__free_unpacked (ev, NULL);
    }
    if (mtr_batch_size (batch) == 0 || !zlistx_add_end (self->queue, batch)) {
        mtr_batch_destroy (&batch);
        return;
    }
    mtr_batch_set_started (batch, 0);       //  due at once
    mt_metric_add (self->m_replayed, (int64_t) mtr_batch_size (batch));
    mt_metric_set (self->m_pending, (int64_t) self->pending);
    mt_log ("spool-replay events=%zu", mtr_batch_size (batch));
}

//  A batch leaves memory: its events are no longer held.
static void
s_forget (mtr_server_t *self, mtr_batch_t *batch)
{
    size_t size = mtr_batch_size (batch);
    for (size_t i = 0; i < size; i++) {
        mtr_event_t *e = mtr_batch_event (batch, i);
        s_release (self, e->event_id);
        if (e->sender_size == 0)
            self->spool_held--;
    }
    self->pending -= size;
    mt_metric_set (self->m_pending, (int64_t) self->pending);
}

//  Hand the oldest batch to the actor when it is full or old enough.
static void
s_flush (mtr_server_t *self, bool now)
{
    if (self->inflight || mt_mono_ms () < self->retry_at)
        return;
    mtr_batch_t *head = (mtr_batch_t *) zlistx_first (self->queue);
    if (!head)
        return;
    bool due = now || zlistx_size (self->queue) > 1
            || mtr_batch_size (head) >= self->batch_max
            || mt_mono_ms () - mtr_batch_started (head) >= (uint64_t) self->batch_ms;
    if (!due)
        return;
    self->inflight = (mtr_batch_t *) zlistx_detach (self->queue, zlistx_cursor (self->queue));
    int rc = zsock_send (self->store, "sp", "BATCH", self->inflight);
    mt_codec_poll_touched ((zsock_t *) self->store);
    if (rc == -1) {
        mt_log ("batch-failed events=%zu reason=\"database actor gone\"",
                mtr_batch_size (self->inflight));
        s_forget (self, self->inflight);
        mtr_batch_destroy (&self->inflight);
    }
}

//  One UsageAck per sender for every event the batch settled.
static void
s_ack_one (void *arg, const uint8_t *sender, size_t sender_size, char **ids, size_t count)
{
    s_send_ack ((mtr_server_t *) arg, sender, sender_size, ids, count);
}

static void
s_ack_batch (mtr_server_t *self, mtr_batch_t *batch)
{
    if (mtr_batch_acks (batch, s_ack_one, self))
        mt_log ("ack-failed events=%zu reason=\"out of memory\" action=senders_resend",
                mtr_batch_size (batch));
}

static void
s_on_done (mtr_server_t *self)
{
    char *cmd = NULL;
    void *ptr = NULL;
    int rc = zsock_recv (self->store, "sp", &cmd, &ptr);
    mt_codec_poll_touched ((zsock_t *) self->store);
    if (rc == -1 || !cmd || strcmp (cmd, "DONE") || ptr != self->inflight) {
        mt_log ("actor-protocol-error cmd=%s", cmd? cmd: "-");
        free (cmd);
        return;
    }
    free (cmd);
    mtr_batch_t *batch = self->inflight;
    self->inflight = NULL;
    size_t size = mtr_batch_size (batch);
    if (mtr_batch_rc (batch) != 0) {
        //  Kept, first in line, and tried again when the database answers
        mt_metric_add (self->m_batch_errors, 1);
        if (s_may_log (self))
            mt_log ("batch-failed events=%zu pending=%zu suppressed=%" PRIu64
                    " action=kept_for_retry", size, self->pending, self->suppressed);
        self->retry_at = mt_mono_ms () + S_RETRY_MS;
        if (!zlistx_add_start (self->queue, batch)) {
            s_forget (self, batch);
            mtr_batch_destroy (&batch);
        }
        return;
    }
    s_forget (self, batch);
    size_t stored = 0, duplicate = 0, rejected = 0;
    for (size_t i = 0; i < size; i++) {
        mtr_event_t *e = mtr_batch_event (batch, i);
        if (e->state == MTR_EV_STORED)
            stored++;
        else
        if (e->state == MTR_EV_REJECTED)
            rejected++;
        else
            duplicate++;
    }
    mt_metric_add (self->m_batches, 1);
    mt_metric_add (self->m_stored, (int64_t) stored);
    mt_metric_add (self->m_duplicate, (int64_t) duplicate);
    mt_metric_add (self->m_invalid, (int64_t) rejected);
    if (duplicate || rejected)
        mt_log ("batch-stored events=%zu stored=%zu duplicate=%zu rejected=%zu",
                size, stored, duplicate, rejected);
    else
        mt_debug ("batch-stored events=%zu stored=%zu", size, stored);
    s_ack_batch (self, batch);
    mtr_batch_destroy (&batch);
}

//  Takes one message off the socket; false when none was waiting.
static bool
s_on_message (mtr_server_t *self)
{
    zframe_t *routing_id = NULL;
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_next (self->router, &routing_id, &env))
        return false;
    if (!env)
        return true;                //  garbage: logged and dropped by the codec
    if (env->body_case == MT__ENVELOPE__BODY_USAGE_EVENT)
        s_on_event (self, routing_id, env->usage_event);
    else
        mt_log ("unexpected-message body=%s action=dropped", mt_codec_body_name (env));
    mt_codec_free (&env);
    zframe_destroy (&routing_id);
    return true;
}

//  Milliseconds until a batch is due; 0 when it is.
static uint64_t
s_due_in (mtr_server_t *self, mtr_batch_t *batch, uint64_t now)
{
    return mtr_due_in (mtr_batch_started (batch), now, (uint64_t) self->batch_ms);
}

//  Whether the senders' socket may stay unread this turn (mtr_defer_reads):
//  one wake-up a batch instead of one an event; nothing waits longer than
//  batch_ms for the database, as before. With the database down every event
//  is read at once (memory-max, the spool).
static bool
s_defer_reads (mtr_server_t *self, uint64_t now)
{
    mtr_batch_t *tail = (mtr_batch_t *) zlistx_last (self->queue);
    return mtr_defer_reads (tail != NULL, tail? mtr_batch_size (tail): 0, self->batch_max,
                            tail? mtr_batch_started (tail): 0, now,
                            (uint64_t) self->batch_ms, mtr_store_up ());
}

//  Wait at most until the oldest batch is due, or (reads deferred) the one
//  being filled.
static int
s_timeout (mtr_server_t *self, uint64_t now, bool deferred)
{
    uint64_t left = 100;
    mtr_batch_t *head = (mtr_batch_t *) zlistx_first (self->queue);
    if (!self->inflight && head)
        left = s_due_in (self, head, now);
    if (deferred) {
        uint64_t tail = s_due_in (self, (mtr_batch_t *) zlistx_last (self->queue), now);
        left = tail < left? tail: left;
    }
    return left < 100? (int) left: 100;
}

//  On the way out: every event in memory that came from a sender goes to the
//  spool and is acknowledged (the ones read back from it are still in it).
static void
s_spool_rest (mtr_server_t *self)
{
    if (!self->spool || self->inflight)
        return;
    size_t spooled = 0;
    for (mtr_batch_t *batch = (mtr_batch_t *) zlistx_first (self->queue); batch;
         batch = (mtr_batch_t *) zlistx_next (self->queue)) {
        for (size_t i = 0; i < mtr_batch_size (batch); i++) {
            mtr_event_t *e = mtr_batch_event (batch, i);
            if (e->sender_size == 0 || e->first != i)
                continue;
            Mt__UsageEvent ev = MT__USAGE_EVENT__INIT;
            ev.event_id = e->event_id;
            ev.tenant_id = e->tenant_id;
            ev.key_id = e->key_id;
            ev.model = e->model;
            ev.pool = e->pool;
            ev.status = e->status;
            ev.prompt_tokens = e->prompt_tokens;
            ev.completion_tokens = e->completion_tokens;
            ev.ttft_ms = e->ttft_ms;
            ev.latency_ms = e->latency_ms;
            ev.http_status = e->http_status;
            ev.created_ms = e->created_ms;
            zframe_t *sender = zframe_new (e->sender, e->sender_size);
            zframe_t *id = zframe_new (e->event_id, strlen (e->event_id) + 1);
            if (sender && id && mt_spool_append (self->spool, &ev) == 0) {
                zlistx_add_end (self->spool_acks, sender);
                zlistx_add_end (self->spool_acks, id);
                spooled++;
            }
            else {
                zframe_destroy (&sender);
                zframe_destroy (&id);
            }
        }
    }
    if (spooled) {
        mt_metric_add (self->m_spooled, (int64_t) spooled);
        s_spool_sync (self);
        mt_log ("stopping-spooled events=%zu", spooled);
        //  Acknowledged: no longer ours to report as pending
        zlistx_purge (self->queue);
        self->pending = 0;
    }
}

int
mtr_server_run (mtr_server_t *self)
{
    mt_codec_poll_own (self->router);
    //  The actor's pipe too: every use of it says so (mt_codec_poll_touched)
    mt_codec_poll_own ((zsock_t *) self->store);
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->router), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->store), 0, ZMQ_POLLIN, 0 },
    };
    while (!mt_stopping ()) {
        uint64_t now = mt_mono_ms ();
        bool deferred = s_defer_reads (self, now);
        items [0].revents = 0;
        //  Deferred: only the database actor's pipe is watched
        if (mt_codec_poll (deferred? &items [1]: items, deferred? 1: 2,
                           s_timeout (self, now, deferred)) < 0) {
            if (zmq_errno () != EINTR)
                break;
            continue;
        }
        if (items [1].revents & ZMQ_POLLIN)
            s_on_done (self);
        //  Until the socket has none: one look at its mailbox, not one per
        //  message. Deferred and now due: read without a look first
        if ((items [0].revents & ZMQ_POLLIN) || (deferred && !s_defer_reads (self, mt_mono_ms ())))
            for (size_t n = 0; n < self->batch_max && s_on_message (self); n++)
                ;
        s_spool_sync (self);
        s_spool_replay (self);
        s_flush (self, false);
    }
    //  Write what is pending while the senders may still take the acks; with
    //  the database down, to the spool
    mt_log ("stopping pending=%zu", self->pending);
    s_spool_sync (self);
    uint64_t deadline = mt_mono_ms () + S_DRAIN_MS;
    while ((self->inflight || zlistx_size (self->queue)) && mt_mono_ms () < deadline
       &&  (mtr_store_up () || !self->spool || self->inflight)) {
        s_flush (self, true);
        mt_codec_flush ();              //  the acks held, before a wait of our own
        if (zmq_poll (&items [1], 1, 100) > 0)
            s_on_done (self);
    }
    mt_codec_flush ();
    s_spool_rest (self);
    if (self->pending)
        mt_log ("stopped-with-pending events=%zu action=not_acknowledged", self->pending);
    return 0;
}
