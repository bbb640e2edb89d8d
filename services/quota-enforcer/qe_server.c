//  Quota-enforcer sockets and handlers. All state lives in qe_quota_t; this
//  file decodes, validates, calls it and answers. Never touches the database.
#include "qe_server.h"
#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_peers.h"
#include "mt_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_ID_MAX 128                //  longest req_id / tenant_id accepted
#define S_SWEEP_MS 1000             //  expiry sweep interval
#define S_GW_SWEEP_MS 100           //  gateway liveness sweep interval, at most
#define S_BURST 1000                //  messages handled per wake before sweeping
#define S_GATEWAY_TIMEOUT_MS 5000   //  default: a gateway silent this long is gone
#define S_SNDHWM 100000             //  replies queued for one gateway, at most

struct _qe_server_t {
    zsock_t *router;                //  gateways, owned
    qe_quota_t *quota;              //  owned
    uint64_t next_sweep;            //  mono ms
    uint64_t next_gw_sweep;         //  mono ms
    uint64_t warm_until;            //  mono ms: Admits before this wait (restores first)
    zlistx_t *held;                 //  s_held_t, owned: Admits waiting for the warm-up
    mt_peers_t *gateways;           //  liveness of gateways by routing id, owned
    int gateway_timeout_ms;         //  a heartbeating gateway silent this long is gone
    mt_metric_t *m_admit_ok;
    mt_metric_t *m_admit_rate_requests;
    mt_metric_t *m_admit_rate_tokens;
    mt_metric_t *m_admit_quota;
    mt_metric_t *m_admit_invalid;
    mt_metric_t *m_settles;
    mt_metric_t *m_reservations;
    mt_metric_t *m_expired;
    mt_metric_t *m_released;        //  reservations of gone gateways released
    mt_metric_t *m_gateways;        //  gateways heartbeating
};

//  An Admit that came during the warm-up.
typedef struct {
    Mt__Envelope *env;
    zframe_t *routing_id;
} s_held_t;

static void
s_held_destroy (void **item_p)
{
    s_held_t *h = (s_held_t *) *item_p;
    if (h) {
        mt_codec_free (&h->env);
        zframe_destroy (&h->routing_id);
        free (h);
    }
    *item_p = NULL;
}

qe_server_t *
qe_server_new (const char *endpoint, qe_quota_t **quota_p)
{
    qe_quota_t *quota = *quota_p;
    *quota_p = NULL;
    qe_server_t *self = (qe_server_t *) calloc (1, sizeof *self);
    if (!self) {
        qe_quota_destroy (&quota);
        return NULL;
    }
    self->quota = quota;
    self->gateway_timeout_ms = S_GATEWAY_TIMEOUT_MS;
    self->gateways = mt_peers_new (S_GATEWAY_TIMEOUT_MS);
    if (!self->gateways) {
        qe_server_destroy (&self);
        return NULL;
    }
    self->held = zlistx_new ();
    if (self->held)
        zlistx_set_destructor (self->held, s_held_destroy);
    self->router = mt_codec_socket (ZMQ_ROUTER);
    if (self->router) {     //  a gateway's connection that comes back keeps its name
        zsock_set_router_handover (self->router, 1);
        //  A ROUTER drops what it cannot queue for a peer without a word, and
        //  libzmq queues 1,000 messages: a gateway slow to read lost its
        //  AdmitReplies and its clients got 503 after the service timeout.
        //  Room for S_SNDHWM, and past that (or a gateway gone) the send
        //  fails and the codec logs reply-dropped, as the scheduler's does.
        zsock_set_sndhwm (self->router, S_SNDHWM);
        zsock_set_router_mandatory (self->router, 1);
    }
    if (!self->router || mt_curve_server (self->router, "quota", MT_ROLE_GATEWAY)
        || zsock_bind (self->router, "%s", endpoint) == -1) {
        mt_log ("bind-failed endpoint=%s reason=\"%s\"", endpoint, zmq_strerror (zmq_errno ()));
        qe_server_destroy (&self);
        return NULL;
    }
    self->m_admit_ok = mt_metric_counter ("mt_qe_admits_total{result=\"ok\"}",
                                          "Admit requests by result");
    self->m_admit_rate_requests = mt_metric_counter ("mt_qe_admits_total{result=\"rate_requests\"}",
                                                     "Admit requests by result");
    self->m_admit_rate_tokens = mt_metric_counter ("mt_qe_admits_total{result=\"rate_tokens\"}",
                                                   "Admit requests by result");
    self->m_admit_quota = mt_metric_counter ("mt_qe_admits_total{result=\"quota\"}",
                                             "Admit requests by result");
    self->m_admit_invalid = mt_metric_counter ("mt_qe_admits_total{result=\"invalid\"}",
                                               "Admit requests by result");
    self->m_settles = mt_metric_counter ("mt_qe_settles_total", "Settle messages handled");
    self->m_reservations = mt_metric_gauge ("mt_qe_reservations", "Outstanding reservations");
    self->m_expired = mt_metric_counter ("mt_qe_reservations_expired_total",
                                         "Reservations dropped unsettled after their TTL");
    self->m_released = mt_metric_counter ("mt_qe_reservations_released_total",
                                          "Reservations of gateways that stopped heartbeating, "
                                          "released unused");
    self->m_gateways = mt_metric_gauge ("mt_qe_gateways_live", "Gateways heartbeating");
    self->next_sweep = mt_mono_ms () + S_SWEEP_MS;
    self->next_gw_sweep = mt_mono_ms ();
    mt_log ("listening endpoint=%s", zsock_endpoint (self->router));
    return self;
}

void
qe_server_destroy (qe_server_t **self_p)
{
    qe_server_t *self = *self_p;
    if (!self)
        return;
    mt_codec_flush ();                  //  the last replies
    mt_codec_close (&self->router);
    zlistx_destroy (&self->held);
    mt_peers_destroy (&self->gateways);
    qe_quota_destroy (&self->quota);
    free (self);
    *self_p = NULL;
}

//  An id we accept: the common rule (they end up in logs).
static bool
s_id_ok (const char *id)
{
    return mt_id_ok (id, S_ID_MAX);
}

static void
s_reply (qe_server_t *self, zframe_t *routing_id, const char *req_id, const qe_admit_t *a)
{
    Mt__AdmitReply reply = MT__ADMIT_REPLY__INIT;
    reply.req_id = (char *) req_id;
    reply.ok = a->ok;
    reply.code = a->code;
    reply.granted_tokens = a->granted_tokens;
    reply.retry_after_s = a->retry_after_s;
    reply.reset_at = (char *) a->reset_at;
    reply.limit_requests = a->limit_requests;
    reply.remaining_requests = a->remaining_requests;
    reply.reset_requests_ms = a->reset_requests_ms;
    reply.limit_tokens = a->limit_tokens;
    reply.remaining_tokens = a->remaining_tokens;
    reply.reset_tokens_ms = a->reset_tokens_ms;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_ADMIT_REPLY;
    env.admit_reply = &reply;
    //  Held: the replies to what one gateway sent together go back as one
    //  Batch when the loop would wait (mt_codec_recv_wait)
    mt_codec_drop_t drop = { .label = "reply-dropped reason=\"peer gone or queue full\"",
                             .key = req_id };
    mt_codec_send_later (self->router, routing_id, &env, &drop);
}

//  The reservation of req_id (if any) is held by gateway (its routing id in
//  hex, as mt_peers knows it; NULL: out of memory, no owner).
static void
s_own (qe_server_t *self, const char *req_id, const char *gateway)
{
    if (gateway)
        qe_quota_set_owner (self->quota, req_id, gateway);
}

static void
s_handle_admit (qe_server_t *self, zframe_t *routing_id, const char *gateway,
                const Mt__Admit *msg)
{
    qe_admit_t a;
    if (!s_id_ok (msg->req_id) || !s_id_ok (msg->tenant_id)) {
        mt_log ("admit-invalid req_id_len=%zu tenant_id_len=%zu action=refused",
                strlen (msg->req_id), strlen (msg->tenant_id));
        mt_metric_add (self->m_admit_invalid, 1);
        memset (&a, 0, sizeof a);
        a.code = MT__ERROR_CODE__ERR_BAD_REQUEST;
        a.retry_after_s = 1;
        s_reply (self, routing_id, s_id_ok (msg->req_id)? msg->req_id: "", &a);
        return;
    }
    qe_limits_t limits = { 0, 0, 0 };      //  no limits message: all unlimited
    if (msg->limits) {
        limits.rpm = msg->limits->requests_per_minute;
        limits.tpm = msg->limits->tokens_per_minute;
        limits.daily = msg->limits->daily_tokens;
    }
    qe_quota_admit (self->quota, msg->req_id, msg->tenant_id, msg->prompt_tokens,
                    msg->max_tokens, &limits, mt_now_ms (), &a);
    if (a.ok && !a.duplicate)
        s_own (self, msg->req_id, gateway);
    s_reply (self, routing_id, msg->req_id, &a);
    mt_metric_set (self->m_reservations, (int64_t) qe_quota_reservations (self->quota));
    if (a.duplicate) {
        mt_log ("admit-duplicate req=%s tenant=%s granted=%" PRIu64,
                msg->req_id, msg->tenant_id, a.granted_tokens);
        return;
    }
    switch (a.code) {
        case MT__ERROR_CODE__ERR_NONE:
            mt_metric_add (self->m_admit_ok, 1);
            mt_debug ("admit-ok req=%s tenant=%s prompt=%" PRIu64 " granted=%" PRIu64
                      " remaining_requests=%" PRIu64 " remaining_tokens=%" PRIu64,
                      msg->req_id, msg->tenant_id, msg->prompt_tokens, a.granted_tokens,
                      a.remaining_requests, a.remaining_tokens);
            return;
        case MT__ERROR_CODE__ERR_RATE_REQUESTS:
            mt_metric_add (self->m_admit_rate_requests, 1);
            break;
        case MT__ERROR_CODE__ERR_RATE_TOKENS:
            mt_metric_add (self->m_admit_rate_tokens, 1);
            break;
        case MT__ERROR_CODE__ERR_QUOTA:
            mt_metric_add (self->m_admit_quota, 1);
            break;
        default:
            break;
    }
    mt_log ("admit-refused req=%s tenant=%s code=%d prompt=%" PRIu64 " max_tokens=%" PRIu64
            " retry_after_s=%u%s%s", msg->req_id, msg->tenant_id, (int) a.code,
            msg->prompt_tokens, msg->max_tokens, a.retry_after_s,
            *a.reset_at? " reset_at=": "", a.reset_at);
}

static void
s_handle_settle (qe_server_t *self, const Mt__Settle *msg)
{
    if (!s_id_ok (msg->req_id) || !s_id_ok (msg->tenant_id)) {
        mt_log ("settle-invalid req_id_len=%zu tenant_id_len=%zu action=dropped",
                strlen (msg->req_id), strlen (msg->tenant_id));
        return;
    }
    qe_settle_t r = qe_quota_settle (self->quota, msg->req_id, msg->tenant_id,
                                     msg->used_tokens, msg->refused, mt_now_ms ());
    mt_metric_add (self->m_settles, 1);
    mt_metric_set (self->m_reservations, (int64_t) qe_quota_reservations (self->quota));
    switch (r) {
        case QE_SETTLE_USED:
            mt_debug ("settle req=%s tenant=%s used=%" PRIu64,
                      msg->req_id, msg->tenant_id, msg->used_tokens);
            break;
        case QE_SETTLE_RELEASED:
            mt_debug ("settle-released req=%s tenant=%s", msg->req_id, msg->tenant_id);
            break;
        case QE_SETTLE_UNKNOWN:
            mt_log ("settle-unknown req=%s tenant=%s used=%" PRIu64 " refused=%d"
                    " action=charged_today", msg->req_id, msg->tenant_id,
                    msg->used_tokens, (int) msg->refused);
            break;
        case QE_SETTLE_DUPLICATE:
            mt_log ("settle-duplicate req=%s tenant=%s action=ignored",
                    msg->req_id, msg->tenant_id);
            break;
    }
}

void
qe_server_set_warmup (qe_server_t *self, int warmup_ms)
{
    self->warm_until = mt_mono_ms () + (uint64_t) (warmup_ms > 0? warmup_ms: 0);
}

//  A gateway re-announces a reservation in flight (after our restart).
static void
s_handle_restore (qe_server_t *self, const char *gateway, const Mt__Admit *msg)
{
    if (!s_id_ok (msg->req_id) || !s_id_ok (msg->tenant_id))
        return;
    qe_quota_restore (self->quota, msg->req_id, msg->tenant_id, msg->prompt_tokens,
                      msg->granted_tokens, mt_now_ms ());
    s_own (self, msg->req_id, gateway);
    mt_debug ("restored req=%s tenant=%s prompt=%" PRIu64 " granted=%" PRIu64, msg->req_id,
              msg->tenant_id, msg->prompt_tokens, msg->granted_tokens);
    mt_metric_set (self->m_reservations, (int64_t) qe_quota_reservations (self->quota));
}

//  Takes one message off the socket, waiting up to wait_ms for it; false
//  when none came.
static bool
s_handle (qe_server_t *self, int wait_ms)
{
    zframe_t *routing_id = NULL;
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_wait (self->router, &routing_id, &env, wait_ms))
        return false;
    if (!env)
        return true;                //  garbage: logged and dropped by the codec
    //  The gateway: seen (its raw routing id), and its key in hex (made once
    //  per gateway, borrowed) for the reservations it holds
    const char *key = mt_peers_seen (self->gateways, zframe_data (routing_id),
                                     zframe_size (routing_id),
                                     env->body_case == MT__ENVELOPE__BODY_HEARTBEAT, mt_mono_ms ());
    if (env->body_case == MT__ENVELOPE__BODY_ADMIT && !env->admit->restore
    &&  mt_mono_ms () < self->warm_until && self->held) {
        //  Warming up: gateways re-announce what is in flight first
        s_held_t *h = (s_held_t *) calloc (1, sizeof *h);
        if (h) {
            h->env = env;
            h->routing_id = routing_id;
            zlistx_add_end (self->held, h);
            return true;
        }
    }
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_ADMIT:
            if (env->admit->restore)
                s_handle_restore (self, key, env->admit);
            else
                s_handle_admit (self, routing_id, key, env->admit);
            break;
        case MT__ENVELOPE__BODY_SETTLE:
            s_handle_settle (self, env->settle);
            break;
        case MT__ENVELOPE__BODY_HEARTBEAT:
            break;                  //  a gateway is alive (seen above); no answer
        default:
            mt_log ("unexpected-message body=%s action=dropped", mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    zframe_destroy (&routing_id);
    return true;
}

const char *
qe_server_endpoint (qe_server_t *self)
{
    return zsock_endpoint (self->router);
}

static void
s_on_expired (const char *req_id, const char *tenant_id, uint64_t reserve, void *arg)
{
    (void) arg;
    mt_log ("reservation-expired req=%s tenant=%s reserve=%" PRIu64, req_id, tenant_id, reserve);
}

static void
s_on_released (const char *req_id, const char *tenant_id, uint64_t reserve, void *arg)
{
    (void) arg;
    mt_log ("reservation-released req=%s tenant=%s reserve=%" PRIu64 " reason=\"gateway gone\"",
            req_id, tenant_id, reserve);
}

//  Gateways silent past the timeout: their reservations are released.
static void
s_sweep_gateways (qe_server_t *self, uint64_t mono)
{
    zlistx_t *gone = mt_peers_sweep (self->gateways, mono);
    for (const char *key = (const char *) zlistx_first (gone); key;
         key = (const char *) zlistx_next (gone)) {
        size_t n = qe_quota_release_owner (self->quota, key, mt_now_ms (), s_on_released, NULL);
        mt_log ("gateway-gone gateway=%s timeout_ms=%d reservations_released=%zu", key,
                self->gateway_timeout_ms, n);
        mt_metric_add (self->m_released, (int64_t) n);
    }
    zlistx_destroy (&gone);
    mt_metric_set (self->m_gateways, (int64_t) mt_peers_live (self->gateways));
    mt_metric_set (self->m_reservations, (int64_t) qe_quota_reservations (self->quota));
}

void
qe_server_set_gateway_timeout (qe_server_t *self, int timeout_ms)
{
    mt_peers_t *peers = mt_peers_new ((uint64_t) (timeout_ms > 0? timeout_ms: 1));
    if (!peers)
        return;
    mt_peers_destroy (&self->gateways);
    self->gateways = peers;
    self->gateway_timeout_ms = timeout_ms;
}

void
qe_server_step (qe_server_t *self, int timeout_ms)
{
    //  Messages are taken by libzmq's own blocking receive until the first
    //  piece of housekeeping is due: a wait costs no look at the socket before
    //  it or after it, and no empty receive tells us the socket is drained
    uint64_t mono = mt_mono_ms ();
    uint64_t due = mono + (uint64_t) (timeout_ms > 0? timeout_ms: 0);
    if (due > self->next_sweep)
        due = self->next_sweep;
    if (due > self->next_gw_sweep)
        due = self->next_gw_sweep;
    if (self->held && zlistx_size (self->held) && due > self->warm_until)
        due = self->warm_until;
    bool drained = false;           //  a wait found nothing: every message was read
    for (int n = 0; n < S_BURST; n++) {
        if (!s_handle (self, due > mono? (int) (due - mono): 0)) {
            drained = true;
            break;
        }
        mono = mt_mono_ms ();
        if (mono >= due)
            break;
    }
    mono = mt_mono_ms ();
    if (mono >= self->warm_until && self->held && zlistx_size (self->held)) {
        mt_log ("warm-up-over admits_held=%zu reservations=%zu", zlistx_size (self->held),
                qe_quota_reservations (self->quota));
        s_held_t *h;
        while ((h = (s_held_t *) zlistx_first (self->held))) {
            char *key = zframe_strhex (h->routing_id);
            s_handle_admit (self, h->routing_id, key, h->env->admit);
            free (key);
            zlistx_delete (self->held, zlistx_cursor (self->held));
        }
    }
    //  A backlog is not silence: gateways are swept only once every message
    //  waiting was read (one look when no wait found the socket empty)
    if (mono >= self->next_gw_sweep && (drained || !s_handle (self, 0))) {
        self->next_gw_sweep = mono + S_GW_SWEEP_MS;
        s_sweep_gateways (self, mono);
    }
    if (mono >= self->next_sweep) {
        self->next_sweep = mono + S_SWEEP_MS;
        size_t n = qe_quota_expire (self->quota, mt_now_ms (), s_on_expired, NULL);
        if (n)
            mt_metric_add (self->m_expired, (int64_t) n);
        mt_metric_set (self->m_reservations, (int64_t) qe_quota_reservations (self->quota));
    }
    mt_codec_flush ();                  //  replies held this step (a wait sends them sooner)
}

int
qe_server_run (qe_server_t *self)
{
    mt_codec_poll_own (self->router);
    while (!mt_stopping ())
        qe_server_step (self, 100);
    mt_log ("stopping reservations=%zu", qe_quota_reservations (self->quota));
    return 0;
}
