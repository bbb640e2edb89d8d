//  auth-gateway server: HTTP and ZeroMQ from one poll loop.
//
//  A request lives in a gw_req_t from its first byte until both the client
//  connection is gone and the backend has finished with it (quota answered,
//  the job's JobDone arrived, usage sent), so tokens generated for a client
//  that went away are still settled and billed.
//
//  The gateway's layout. This file alone knows gw_server_t: it owns every
//  part below, runs the poll loop and handles every ZeroMQ message (admit,
//  submit, tokens, done, settle, usage, catalog, store replies, timers). The
//  parts know nothing of it; each gets what it needs when made:
//
//    gw_http.c       libmicrohttpd's handlers: routes, authentication, body
//                    checks, the SSE reader. Borrows handles (gw_http_deps_t)
//                    and calls back into this file to admit or cancel
//    gw_req.c        the request and its response; the registry (gw_reqs_t):
//                    id index, open streams, request/response counters
//    gw_choices.c    choice deltas relayed or folded into the whole answer:
//                    needs the request only, returns the tokens it relayed
//    gw_console.c    /admin/v1/live and /metrics from a read-only view
//    gw_catalog.c    the scheduler's last Catalog and its freshness
//    gw_bill.c       what each ending bills; the queue of unacked usage events
//    gw_meter.c      usage events to metering: sent, kept until acked, resent,
//                    spooled to disk and replayed at start
//    gw_front.c      connection admission, per-client caps, auth throttle
//    gw_store.c      the database thread: tenant cache, admin API, /v1/usage
//    gw_ready.c      which of the three services is connected (/readyz)
//    gw_live.c       per-tenant activity; gw_openai.c, gw_sse.c,
//                    gw_assemble.c: OpenAI JSON and SSE, pure
//
//  Includes run one way: gw_server.c -> gw_http.c -> gw_console.c ->
//  gw_req.c -> the pure modules. gw_server.h is the service's face (main.c,
//  the component test) and its config type (gw_front.c); gw_server_t's
//  fields are seen here only.
#include "gw_req.h"
#include "gw_http.h"
#include "gw_bill.h"
#include "gw_catalog.h"
#include "gw_front.h"
#include "gw_live.h"
#include "gw_retry.h"
#include "gw_meter.h"
#include "gw_ended.h"
#include "gw_ready.h"
#include "gw_store.h"

#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define GW_USAGE_RESEND_MS    3000   //  resend a usage event not acked by then
#define GW_USAGE_PENDING_MAX  200000 //  unacked usage events kept at most
#define GW_USAGE_HOLD_MS      10     //  usage events sent together, at most this late
#define GW_USAGE_HOLD_MAX     256    //  ... or once this many are held
#define GW_ENDED_KEEP         256    //  ended jobs kept for their tenants' next Submits
#define GW_ENDED_MAX_AGE_MS   5000   //  ... and never named after this long (the worker's
                                     //  JobDone has reached the scheduler by then)
#define GW_KEEPALIVE_MS       5000   //  SSE comment on a quiet stream
_Static_assert (GW_ENDED_TAKE_MAX <= MT_SUBMIT_ENDED_MAX, "a Submit names what the scheduler takes");

struct _gw_server_t {
    const gw_server_config_t *config;   //  borrowed; outlives the server
    char *token_endpoint;           //  token ROUTER as workers reach it, owned
    char *tls_cert, *tls_key;       //  PEM text while the daemon runs, owned
    struct MHD_Daemon *daemon;
    int epoll_fd;                   //  MHD's, polled with the sockets
    int http_port;                  //  the port bound (config's, or chosen)
    gw_http_t *http;                //  the daemon's handlers, owned
    zsock_t *scheduler;             //  DEALER
    zsock_t *quota;                 //  DEALER
    bool quota_up;                  //  connected to a quota-enforcer at the last look
    zsock_t *metering;              //  DEALER
    gw_ended_t *ended;              //  jobs whose end came from their worker, for the
                                    //  tenant's next Submit (Submit.ended), owned
    zsock_t *tokens;                //  ROUTER, worker token streams
    gw_ready_t *ready;              //  connection watch of the three DEALERs, owned
    gw_store_t *store;
    gw_front_t *front;              //  connection limits and deadlines, owned
    gw_cache_t *cache;              //  owned; swapped on every store update
    gw_catalog_t *catalog;          //  last Catalog from the scheduler, owned
    gw_reqs_t *reqs;                //  every request by id, open streams; owned
    gw_meter_t *meter;              //  usage events until metering has them, owned
    gw_list_t waiting;               //  waiting for a service's answer
    gw_list_t running;               //  job accepted, not yet done
    bool draining;
    gw_live_t *live;                //  per-tenant activity (console, /metrics), owned
    size_t cancels_unsent;          //  Cancels that failed to go out (about)
    bool stop_asked;                //  gw_server_stop was called
    bool closed_open;               //  drain time over, open requests closed
    bool finished;                  //  drained: gw_server_step returns false
    uint64_t drain_deadline;
    uint64_t next_second;           //  next once-a-second duties
    uint64_t mhd_resumes;           //  gw_req_resumes () at MHD's last run
    //  metrics (those of requests and responses: gw_reqs_t)
    mt_metric_t *m_usage_pending, *m_latency;
    mt_metric_t *m_tokens, *m_usage_resent, *m_cancels, *m_dropped;
    //  submitting again, and Submits confirmed by the Catalog (gw_retry.h)
    char sched_id [33];             //  the scheduler instance of the last Catalog
    uint64_t hb_seq;                //  the last heartbeat to the scheduler (numbered)
    uint64_t hb_sched_mono;         //  ... when it went out
    uint64_t confirm_ms;            //  a Submit waits at most this for a heartbeat after it
    bool submit_uncovered;          //  a Submit went out since the last heartbeat
    mt_metric_t *m_resubmits;
};

//  --------------------------------------------------------------------------
//  Usage events (gw_meter.c sends, keeps, resends and spools them)

//  Send the request's usage event and keep it until metering acknowledges it.
//  engine_ttft_ms: the engine's own time to first token (0 = not known).
static void
s_usage_emit (gw_server_t *self, gw_req_t *req, const gw_bill_t *bill, uint32_t engine_ttft_ms)
{
    gw_usage_t u;
    memset (&u, 0, sizeof u);
    snprintf (u.event_id, sizeof u.event_id, "%s", req->id);
    snprintf (u.tenant_id, sizeof u.tenant_id, "%s", req->tenant_id);
    snprintf (u.key_id, sizeof u.key_id, "%s", req->key_id);
    snprintf (u.model, sizeof u.model, "%s", req->parsed.model);
    snprintf (u.pool, sizeof u.pool, "%s", req->pool);
    snprintf (u.status, sizeof u.status, "%s", bill->status);
    u.prompt_tokens = bill->prompt_tokens;
    u.completion_tokens = bill->completion_tokens;
    uint64_t now = mt_mono_ms ();
    u.ttft_ms = req->first_token_mono? (uint32_t) (req->first_token_mono - req->start_mono): 0;
    u.latency_ms = (uint32_t) (now - req->start_mono);
    u.http_status = bill->http_status;
    u.created_ms = req->arrival_ms;
    if (gw_meter_emit (self->meter, &u, now))
        return;                         //  pending events at their limit: dropped
    mt_metric_set (self->m_usage_pending, (int64_t) gw_meter_pending (self->meter));
    mt_metric_observe (self->m_latency, (double) u.latency_ms);
    const gw_tenant_t *t = self->cache? gw_cache_find_tenant (self->cache, req->tenant_id): NULL;
    double ttft_s = req->first_token_mono? u.ttft_ms / 1000.0: -1;
    double queue_s = req->first_token_mono && engine_ttft_ms && engine_ttft_ms <= u.ttft_ms
                   ? (u.ttft_ms - engine_ttft_ms) / 1000.0: -1;
    gw_live_done (self->live, req->tenant_id, req->pool, t? t->tier: "", gw_live_outcome (bill->status),
                  bill->prompt_tokens, bill->completion_tokens, ttft_s, queue_s, mt_now_ms ());
}

static void
s_usage_resend (gw_server_t *self)
{
    size_t resent = gw_meter_resend (self->meter, mt_mono_ms (), 5000);
    if (resent) {
        mt_metric_add (self->m_usage_resent, (int64_t) resent);
        mt_debug ("usage-resent count=%zu", resent);
    }
}

//  The request's side of the bill.
static gw_bill_req_t
s_bill_req (gw_req_t *req)
{
    gw_bill_req_t b = {
        .stream = req->parsed.stream, .client_gone = !req->conn, .timed_out = req->timed_out,
        .daily_limited = req->daily != 0, .prompt_estimate = req->parsed.prompt_tokens,
        .max_tokens = (uint64_t) req->parsed.max_tokens * req->parsed.n,
        .granted = req->granted, .relayed = req->relayed,
    };
    return b;
}

//  --------------------------------------------------------------------------
//  Backend messages

//  Held in the codec until this turn's answers are written (the loop
//  flushes: the Settles of a turn go to the quota-enforcer as one Batch,
//  with its Admits); what goes to it at once later keeps the order.
static void
s_send_settle (gw_server_t *self, gw_req_t *req, uint64_t used, bool refused)
{
    Mt__Settle settle = MT__SETTLE__INIT;
    settle.req_id = req->id;
    settle.tenant_id = req->tenant_id;
    settle.used_tokens = used;
    settle.refused = refused;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SETTLE;
    env.settle = &settle;
    mt_codec_drop_t drop = { .label = "settle-dropped", .key = req->id, .tenant = req->tenant_id };
    mt_codec_send_later (self->quota, NULL, &env, &drop);
}

//  A Cancel of the request's job to the scheduler: of whichever attempt it
//  holds (token NULL), or of the one attempt holding token. 0 or -1.
static int
s_cancel_to_scheduler (gw_server_t *self, gw_req_t *req, const char *token)
{
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = req->id;
    cancel.tenant_id = req->tenant_id;
    if (token)
        cancel.reply_token = (char *) token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    return mt_codec_send (self->scheduler, NULL, &env);
}

static void
s_send_cancel (gw_server_t *self, gw_req_t *req)
{
    if (req->cancel_sent)
        return;
    bool again = req->cancel_wanted;
    req->cancel_wanted = true;
    if (s_cancel_to_scheduler (self, req, NULL)) {
        //  A full queue to the scheduler: tried again every second while the
        //  request waits for its JobDone (s_cancels_retry)
        self->cancels_unsent++;
        if (!again)
            mt_log ("cancel-failed req=%s tenant=%s reason=\"queue to the scheduler full\" "
                    "action=retry", req->id, req->tenant_id);
        return;
    }
    req->cancel_sent = true;
    mt_metric_add (self->m_cancels, 1);
    mt_log ("cancel req=%s tenant=%s%s", req->id, req->tenant_id, again? " retried=1": "");
}

//  Cancels that could not be sent: once a second, again.
static void
s_cancels_retry (gw_server_t *self)
{
    if (self->cancels_unsent == 0)
        return;
    size_t unsent = 0;
    for (gw_req_t *req = gw_reqs_first (self->reqs); req; req = gw_reqs_next (self->reqs))
        if (req->cancel_wanted && !req->cancel_sent && req->backend_busy) {
            s_send_cancel (self, req);
            if (!req->cancel_sent)
                unsent++;
        }
    self->cancels_unsent = unsent;
}

static void s_refuse_backend (gw_server_t *self, gw_req_t *req, const mt_error_t *err,
                              const char *message, bool settle);

static void
s_admit_failed (gw_server_t *self, gw_req_t *req)
{
    mt_log ("admit-failed req=%s tenant=%s reason=\"quota-enforcer not connected\"",
            req->id, req->tenant_id);
    s_refuse_backend (self, req, mt_error_lookup ("service_unavailable"),
                      "The quota-enforcer is not reachable.", false);
}

//  An Admit held in the codec could not be sent (mt_codec_flush calls).
static void
s_admit_dropped (void *arg, const char *req_id)
{
    gw_server_t *self = (gw_server_t *) arg;
    gw_req_t *req = gw_reqs_lookup (self->reqs, req_id);
    if (req && req->phase == GW_P_ADMIT && req->backend_busy)
        s_admit_failed (self, req);
}

static void
s_send_admit (gw_server_t *self, gw_req_t *req)
{
    Mt__Limits limits = MT__LIMITS__INIT;
    limits.requests_per_minute = req->rpm;
    limits.tokens_per_minute = req->tpm;
    limits.daily_tokens = req->daily;
    Mt__Admit admit = MT__ADMIT__INIT;
    admit.req_id = req->id;
    admit.tenant_id = req->tenant_id;
    admit.prompt_tokens = req->parsed.prompt_tokens;
    admit.max_tokens = (uint64_t) req->parsed.max_tokens * req->parsed.n;
    admit.limits = &limits;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_ADMIT;
    env.admit = &admit;
    req->phase = GW_P_ADMIT;
    req->backend_busy = true;
    gw_list_add (&self->waiting, req);
    //  Held: this turn's Admits go out together after its answers
    mt_codec_drop_t drop = { .fn = s_admit_dropped, .arg = self, .key = req->id };
    if (mt_codec_send_later (self->quota, NULL, &env, &drop))
        s_admit_failed (self, req);
}

//  The HTTP side's two calls into this one (gw_http_deps_t).
static void
s_http_admit (void *arg, gw_req_t *req)
{
    s_send_admit ((gw_server_t *) arg, req);
}

static void
s_http_cancel (void *arg, gw_req_t *req)
{
    s_send_cancel ((gw_server_t *) arg, req);
}

static void s_submit_failed (gw_server_t *self, gw_req_t *req);

//  A Submit held in the codec could not be sent (mt_codec_flush calls).
static void
s_submit_dropped (void *arg, const char *req_id)
{
    gw_server_t *self = (gw_server_t *) arg;
    gw_req_t *req = gw_reqs_lookup (self->reqs, req_id);
    if (req && req->phase == GW_P_SUBMIT) {
        mt_log ("submit-failed req=%s tenant=%s reason=\"scheduler not connected\"",
                req->id, req->tenant_id);
        s_submit_failed (self, req);
    }
}

//  Submit the job; requeue: it was accepted before and lost (see gw_retry.h).
//  Held in the codec until the turn's flush; -1 when it could be neither
//  held nor sent (a Submit dropped at the flush: s_submit_dropped).
static int
s_send_submit (gw_server_t *self, gw_req_t *req, bool requeue)
{
    Mt__JobSpec job = MT__JOB_SPEC__INIT;
    job.req_id = req->id;
    job.tenant_id = req->tenant_id;
    job.model = req->parsed.model;
    job.pool = req->pool;
    job.kind = req->parsed.kind == GW_KIND_CHAT? MT__JOB_KIND__KIND_CHAT:
               req->parsed.kind == GW_KIND_EMBEDDING? MT__JOB_KIND__KIND_EMBEDDING:
                                                     MT__JOB_KIND__KIND_COMPLETION;
    job.prompt = req->parsed.prompt;
    //  The client's body as it came: the engine backend sets max_tokens to
    //  the grant and asks for a stream itself
    job.request_json.data = (uint8_t *) req->body;
    job.request_json.len = req->body_len;
    //  The grant covers every choice: each may use its share
    job.max_tokens = req->parsed.kind == GW_KIND_EMBEDDING? 0
                   : req->granted / req->parsed.n? req->granted / req->parsed.n: 1;
    job.prompt_tokens = req->parsed.prompt_tokens;
    job.reply_to = self->token_endpoint;
    job.reply_key = (char *) mt_curve_public_key ();
    job.reply_token = req->reply_token;
    job.submitted_ms = req->arrival_ms;
    Mt__Submit submit = MT__SUBMIT__INIT;
    submit.job = &job;
    submit.weight = req->weight;
    submit.max_concurrent = req->max_concurrent;
    submit.requeue = requeue;
    //  The tenant's jobs that ended here since its last Submit: the scheduler
    //  frees their leases before it counts this one (gw_ended.h)
    char ended [GW_ENDED_TAKE_MAX][GW_ENDED_ID];
    char *ended_p [GW_ENDED_TAKE_MAX];
    if (req->max_concurrent) {
        submit.n_ended = gw_ended_take (self->ended, req->tenant_id, mt_mono_ms (),
                                        GW_ENDED_MAX_AGE_MS, ended, GW_ENDED_TAKE_MAX);
        for (size_t i = 0; i < submit.n_ended; i++)
            ended_p [i] = ended [i];
        submit.ended = ended_p;
    }
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT;
    env.submit = &submit;
    req->phase = GW_P_SUBMIT;
    gw_list_add (&self->waiting, req);
    //  No answer when accepted: the Catalog answering the next heartbeat
    //  from this instance confirms it (s_confirm_submits)
    snprintf (req->sched_id, sizeof req->sched_id, "%s", self->sched_id);
    req->submit_hb = self->hb_seq + 1;
    self->submit_uncovered = true;
    mt_codec_drop_t drop = { .fn = s_submit_dropped, .arg = self, .key = req->id };
    int rc = mt_codec_send_later (self->scheduler, NULL, &env, &drop);
    //  The body and prompt stay until the job may not be submitted again
    //  (s_forget_body); the parsed tree is not needed any more
    json_decref (req->parsed.body);
    req->parsed.body = NULL;
    if (rc)
        mt_log ("submit-failed req=%s tenant=%s reason=\"scheduler not connected\"",
                req->id, req->tenant_id);
    return rc;
}

//  A refusal or failure before any job ran: release the reservation.
static void
s_refuse_backend (gw_server_t *self, gw_req_t *req, const mt_error_t *err, const char *message,
                  bool settle)
{
    gw_list_remove (req);
    if (settle)
        s_send_settle (self, req, 0, true);
    req->backend_busy = false;
    if (!req->conn) {
        gw_req_maybe_free (req);
        return;
    }
    gw_req_set_error (req, err, message, NULL, NULL);
    gw_req_resume (req);
}

static void
s_on_admit_reply (gw_server_t *self, Mt__AdmitReply *reply)
{
    gw_req_t *req = gw_reqs_lookup (self->reqs, reply->req_id);
    if (!req || req->phase != GW_P_ADMIT) {
        mt_debug ("admit-reply-unknown req=%s", reply->req_id);
        return;
    }
    gw_list_remove (req);
    req->have_limits = true;
    req->lim [0] = reply->limit_requests;
    req->lim [1] = reply->remaining_requests;
    req->lim [2] = reply->reset_requests_ms;
    req->lim [3] = reply->limit_tokens;
    req->lim [4] = reply->remaining_tokens;
    req->lim [5] = reply->reset_tokens_ms;
    if (!reply->ok) {
        req->backend_busy = false;
        req->retry_after = reply->retry_after_s? reply->retry_after_s: 1;
        const mt_error_t *err = mt_error_from_proto (reply->code);
        mt_log ("refused req=%s tenant=%s code=%s", req->id, req->tenant_id, err->code);
        if (!req->conn) {
            gw_req_maybe_free (req);
            return;
        }
        gw_req_set_error (req, err, NULL, NULL,
                          reply->code == MT__ERROR_CODE__ERR_QUOTA && *reply->reset_at? reply->reset_at: NULL);
        gw_req_resume (req);
        return;
    }
    if (!req->conn) {                   //  the client left while we waited
        s_refuse_backend (self, req, mt_error_lookup ("internal_error"), NULL, true);
        return;
    }
    uint64_t wanted = (uint64_t) req->parsed.max_tokens * req->parsed.n;
    req->granted = (uint32_t) (reply->granted_tokens < wanted? reply->granted_tokens: wanted);
    if (req->granted == 0 && req->parsed.kind != GW_KIND_EMBEDDING)
        req->granted = 1;
    if (s_send_submit (self, req, false))
        s_submit_failed (self, req);
}

//  The job can no longer be submitted again: keep only the scalars (memory
//  per open stream).
static void
s_forget_body (gw_req_t *req)
{
    free (req->body);
    req->body = NULL;
    req->body_len = req->body_cap = 0;
    gw_request_clear (&req->parsed);
}

static void s_accept (gw_server_t *self, gw_req_t *req);
static void s_job_fail (gw_server_t *self, gw_req_t *req, Mt__ErrorCode code, const char *msg);
static bool s_token_ok (gw_req_t *req, const char *token);

//  The scheduler refused the Submit (it answers only refusals; an older
//  scheduler answers accepted ones too). A refusal of an attempt given up on
//  (submitted again since, under another token) is dropped.
static void
s_on_submit_reply (gw_server_t *self, Mt__SubmitReply *reply)
{
    gw_req_t *req = gw_reqs_lookup (self->reqs, reply->req_id);
    if (!req || req->phase != GW_P_SUBMIT) {
        mt_debug ("submit-reply-unknown req=%s", reply->req_id);
        return;
    }
    if (*reply->reply_token && !s_token_ok (req, reply->reply_token)) {
        mt_debug ("submit-reply-stale req=%s reason=\"an attempt given up on\"", req->id);
        return;
    }
    gw_list_remove (req);
    if (!reply->accepted) {
        req->retry_after = reply->retry_after_s;
        const mt_error_t *err = mt_error_from_proto (reply->code);
        mt_log ("refused req=%s tenant=%s code=%s%s", req->id, req->tenant_id, err->code,
                req->accepted? " resubmit=1": "");
        if (req->accepted)              //  a job submitted again: it ends here
            s_job_fail (self, req, reply->code, *reply->message? reply->message: NULL);
        else
            s_refuse_backend (self, req, err, *reply->message? reply->message: NULL, true);
        return;
    }
    s_accept (self, req);
}

//  The scheduler queued the job (its Catalog confirmed the Submit, or a
//  worker already streams it: the two arrive on different sockets, in
//  either order).
static void
s_accept (gw_server_t *self, gw_req_t *req)
{
    req->accepted = true;
    req->phase = GW_P_RUNNING;
    gw_list_add (&self->running, req);
    if (!req->conn) {
        s_send_cancel (self, req);
        return;
    }
    if (req->parsed.stream && !req->sse) {      //  not again for a job submitted again
        req->sse = gw_sse_new ();
        req->last_write_mono = mt_mono_ms ();
        gw_stream_add (req);
        gw_req_resume (req);                 //  handler queues the 200 stream now
    }
}

//  True when token is the capability mine ("" matches nothing).
static bool
s_token_eq (const char *mine, const char *token)
{
    size_t len = strlen (mine);
    return len && token && strlen (token) == len && CRYPTO_memcmp (token, mine, len) == 0;
}

//  True when a worker's message carries the job's reply token: only the
//  worker the scheduler gave the job to knows it.
static bool
s_token_ok (gw_req_t *req, const char *token)
{
    return s_token_eq (req->reply_token, token);
}

//  True when a worker's message carries the token of the attempt a dead
//  scheduler may have started before the job was submitted again.
static bool
s_prev_token_ok (gw_req_t *req, const char *token)
{
    return s_token_eq (req->prev_token, token);
}

//  Cancel one attempt of a job (the one holding token), not the request.
static void
s_cancel_attempt (gw_server_t *self, gw_req_t *req, const char *token)
{
    if (s_cancel_to_scheduler (self, req, token))
        mt_log ("cancel-failed req=%s tenant=%s reason=\"queue to the scheduler full\" "
                "attempt=duplicate", req->id, req->tenant_id);
}

//  The first token of a job decides which attempt the client gets when two
//  may run (submitted again after a scheduler restart): the other one's
//  messages are dropped from now on, and the new attempt is cancelled.
static void
s_first_token (gw_server_t *self, gw_req_t *req, bool from_prev)
{
    if (*req->prev_token) {
        if (from_prev) {
            char loser [33];
            snprintf (loser, sizeof loser, "%s", req->reply_token);
            snprintf (req->reply_token, sizeof req->reply_token, "%s", req->prev_token);
            s_cancel_attempt (self, req, loser);
            mt_log ("attempt-chosen req=%s tenant=%s attempt=first action=cancel_second",
                    req->id, req->tenant_id);
        }
        else
            mt_debug ("attempt-chosen req=%s tenant=%s attempt=second", req->id, req->tenant_id);
        OPENSSL_cleanse (req->prev_token, sizeof req->prev_token);
        req->prev_token [0] = 0;
    }
    req->started = true;
    if (req->parsed.stream)
        s_forget_body (req);            //  a token may reach the client now
}

//  Relay a worker's pieces or choices. False when they were dropped (no
//  such request, or not the job's reply token).
static bool
s_on_token_chunk (gw_server_t *self, Mt__TokenChunk *chunk)
{
    gw_req_t *req = gw_reqs_lookup (self->reqs, chunk->req_id);
    bool prev = req && !s_token_ok (req, chunk->reply_token)
             && s_prev_token_ok (req, chunk->reply_token);
    if (!req || (!prev && !s_token_ok (req, chunk->reply_token))) {
        //  A late chunk of a request that ended, or a worker's without the
        //  job's token: never relayed
        mt_metric_add (self->m_dropped, 1);
        mt_debug ("token-chunk-dropped req=%s reason=\"%s\"", chunk->req_id,
                  req? "wrong reply token": "no such request");
        return false;
    }
    if (!req->started || prev)
        s_first_token (self, req, prev);
    if (req->phase == GW_P_SUBMIT)
        s_accept (self, req);
    if (!req->accepted || !req->backend_busy || !req->conn || req->timed_out)
        return true;
    if (!req->first_token_mono)
        req->first_token_mono = mt_mono_ms ();
    mt_metric_add (self->m_tokens, (int64_t) chunk->n_pieces);
    req->relayed += (uint32_t) chunk->n_pieces;
    if (chunk->n_choices || *chunk->system_fingerprint)
        mt_metric_add (self->m_tokens, (int64_t) gw_req_relay_choices (req, chunk));
    if (!chunk->n_pieces)
        return true;
    if (!req->parsed.stream) {
        gw_req_assemble_pieces (req, chunk);
        return true;
    }
    //  One SSE event per chunk: the pieces that arrived together
    size_t len = 0;
    for (size_t i = 0; i < chunk->n_pieces; i++)
        len += strlen (chunk->pieces [i]);
    char *joined = malloc (len + 1);
    if (!joined)
        return true;
    size_t at = 0;
    for (size_t i = 0; i < chunk->n_pieces; i++) {
        size_t n = strlen (chunk->pieces [i]);
        memcpy (joined + at, chunk->pieces [i], n);
        at += n;
    }
    joined [at] = 0;
    char *event = gw_openai_chunk (req->parsed.kind, req->id, req->parsed.model, req->created_s,
                                   joined, at, !req->sent_first, NULL);
    free (joined);
    req->sent_first = true;
    if (event) {
        gw_sse_event (req->sse, event, strlen (event));
        free (event);
    }
    req->last_write_mono = mt_mono_ms ();
    gw_req_resume (req);
    return true;
}

static void s_job_finish (gw_server_t *self, gw_req_t *req, Mt__JobDone *done);
static bool s_retry_done (gw_server_t *self, gw_req_t *req, Mt__ErrorCode error);

//  A worker's JobDone must carry the job's reply token; the scheduler's
//  (for jobs it ends itself) names the attempt when it has one: the end of
//  an attempt given up on (submitted again since) is dropped.
static void
s_on_job_done (gw_server_t *self, Mt__JobDone *done, bool from_worker)
{
    //  A worker's last tokens ride in its JobDone: relayed first, as the
    //  TokenChunk they stand for (the JobDone's req_id and reply token). When
    //  they are dropped, so is the JobDone (the same checks refuse both).
    if (from_worker && done->tokens) {
        Mt__TokenChunk chunk = *done->tokens;
        chunk.req_id = done->req_id;
        chunk.reply_token = done->reply_token;
        if (!s_on_token_chunk (self, &chunk))
            return;
    }
    gw_req_t *req = gw_reqs_lookup (self->reqs, done->req_id);
    if (req && (from_worker || *done->reply_token) && !s_token_ok (req, done->reply_token)) {
        mt_metric_add (self->m_dropped, 1);
        mt_debug ("job-done-refused req=%s reason=\"%s\"", done->req_id,
                  s_prev_token_ok (req, done->reply_token)? "attempt given up on"
                                                          : "wrong reply token");
        return;
    }
    if (req && req->phase == GW_P_SUBMIT)
        s_accept (self, req);
    if (!req || !req->accepted || !req->backend_busy) {
        mt_debug ("job-done-unknown req=%s", done->req_id);
        return;
    }
    if (done->error != MT__ERROR_CODE__ERR_NONE && s_retry_done (self, req, done->error))
        return;
    if (from_worker && req->max_concurrent)
        gw_ended_add (self->ended, req->tenant_id, req->id, mt_mono_ms ());
    s_job_finish (self, req, done);
}

//  The job ended (done is its report, or one the gateway made): settle,
//  bill, answer the client.
static void
s_job_finish (gw_server_t *self, gw_req_t *req, Mt__JobDone *done)
{
    gw_list_remove (req);
    gw_bill_req_t breq = s_bill_req (req);
    gw_bill_job_t bjob = { .error = done->error, .prompt_tokens = done->prompt_tokens,
                           .completion_tokens = done->completion_tokens };
    gw_bill_t bill;
    gw_bill_done (&breq, &bjob, &bill);
    if (bill.clamped)
        mt_log ("usage-clamped req=%s tenant=%s engine_prompt=%u estimate=%u completion=%u "
                "granted=%u", req->id, req->tenant_id, done->prompt_tokens,
                req->parsed.prompt_tokens, done->completion_tokens, req->granted);
    //  The client sees the numbers it is billed
    done->prompt_tokens = bill.prompt_tokens;
    done->completion_tokens = bill.completion_tokens;
    const mt_error_t *err = done->error == MT__ERROR_CODE__ERR_NONE? NULL:
                            mt_error_from_proto (done->error);
    mt_log ("done req=%s tenant=%s status=%s prompt=%u completion=%u", req->id, req->tenant_id,
            bill.status, done->prompt_tokens, done->completion_tokens);
    s_send_settle (self, req, bill.used, false);
    s_usage_emit (self, req, &bill, done->ttft_ms);
    req->backend_busy = false;
    if (!req->conn || req->timed_out) {
        gw_req_maybe_free (req);
        return;
    }
    const char *finish = *done->finish_reason? done->finish_reason: "stop";
    if (req->parsed.stream) {
        char *event = NULL;
        if (err) {
            event = mt_error_body (err, *done->error_message? done->error_message: NULL, NULL, NULL);
            if (event)
                gw_sse_event (req->sse, event, strlen (event));
        }
        else {
            //  Choices that came whole carried their own finish_reason
            if (!req->engine_finished)
                event = gw_openai_chunk (req->parsed.kind, req->id, req->parsed.model,
                                         req->created_s, NULL, 0, !req->sent_first, finish);
            if (event)
                gw_sse_event (req->sse, event, strlen (event));
            if (req->parsed.include_usage) {
                free (event);
                event = gw_openai_usage_chunk (req->parsed.kind, req->id, req->parsed.model,
                                               req->created_s, done->prompt_tokens,
                                               done->completion_tokens);
                if (event)
                    gw_sse_event (req->sse, event, strlen (event));
            }
        }
        free (event);
        gw_sse_done (req->sse);
        gw_req_resume (req);
        return;
    }
    if (err)
        gw_req_set_error (req, err, *done->error_message? done->error_message: NULL, NULL, NULL);
    else
        gw_req_set_body (req, 200, gw_req_whole_body (req, finish, done->prompt_tokens,
                                                      done->completion_tokens));
    gw_req_resume (req);
}

//  End a job that will not run: as a JobDone with this error would (what the
//  client received is billed; nothing, when it got nothing).
static void
s_job_fail (gw_server_t *self, gw_req_t *req, Mt__ErrorCode code, const char *msg)
{
    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = req->id;
    done.tenant_id = req->tenant_id;
    done.prompt_tokens = req->parsed.prompt_tokens;
    done.finish_reason = "";
    done.error = code;
    done.error_message = (char *) (msg? msg: "");
    s_job_finish (self, req, &done);
}

static gw_retry_req_t
s_retry_req (gw_req_t *req)
{
    gw_retry_req_t r = {
        .stream = req->parsed.stream, .started = req->started, .client_gone = !req->conn,
        .timed_out = req->timed_out, .cancelled = req->cancel_wanted, .requeues = req->requeues,
    };
    return r;
}

//  Submit the job again under a fresh reply token (what the lost attempt
//  still sends is dropped), at the head of its tenant's queue. keep_prev:
//  the lost attempt may still run (its scheduler died, not its worker): its
//  first token counts too. What a non-streamed job assembled so far is
//  thrown away: the client saw none of it.
static void
s_resubmit (gw_server_t *self, gw_req_t *req, const char *why, bool keep_prev)
{
    char token [33];
    if (mt_random_hex (token, 16)) {
        s_job_fail (self, req, MT__ERROR_CODE__ERR_UNAVAILABLE, "The job could not be submitted again.");
        return;
    }
    if (keep_prev && !*req->prev_token)
        snprintf (req->prev_token, sizeof req->prev_token, "%s", req->reply_token);
    snprintf (req->reply_token, sizeof req->reply_token, "%s", token);
    OPENSSL_cleanse (token, sizeof token);
    gw_req_answer_reset (req);
    req->started = false;
    mt_metric_add (self->m_resubmits, 1);
    mt_log ("resubmit req=%s tenant=%s reason=\"%s\" requeues=%u", req->id, req->tenant_id,
            why, req->requeues);
    if (s_send_submit (self, req, true))
        s_submit_failed (self, req);
}

//  A Submit (first or again) could not be sent.
static void
s_submit_failed (gw_server_t *self, gw_req_t *req)
{
    if (req->accepted)
        s_job_fail (self, req, MT__ERROR_CODE__ERR_UNAVAILABLE, "The scheduler is not reachable.");
    else                                //  never confirmed: a refusal
        s_refuse_backend (self, req, mt_error_lookup ("service_unavailable"),
                          "The scheduler is not reachable.", true);
}

//  A job ended in error: submit it again when it was lost before the client
//  saw anything (gw_retry_on_done). True when it was.
static bool
s_retry_done (gw_server_t *self, gw_req_t *req, Mt__ErrorCode error)
{
    gw_retry_req_t r = s_retry_req (req);
    if (!gw_retry_on_done (&r, error))
        return false;
    req->requeues++;
    s_resubmit (self, req, error == MT__ERROR_CODE__ERR_WORKER_LOST? "worker lost"
                                                                   : "handed back", false);
    return true;
}

//  The Catalog of the instance we knew answers heartbeat cat_hb: the
//  Submits sent to it before that heartbeat and not refused are queued.
static void
s_confirm_submits (gw_server_t *self, uint64_t cat_hb)
{
    gw_req_t *next;
    for (gw_req_t *req = self->waiting.head; req; req = next) {
        next = req->wnext;
        if (req->phase != GW_P_SUBMIT || !req->backend_busy)
            continue;
        gw_retry_req_t r = s_retry_req (req);
        if (gw_retry_on_catalog (&r, req->sched_id, req->submit_hb, self->sched_id, cat_hb)
            == GW_SUBMIT_ACCEPTED)
            s_accept (self, req);
    }
}

//  The scheduler is another instance than before (it restarted; its first
//  Catalog answers heartbeat cat_hb): what an earlier one accepted and did
//  not start is submitted again (gw_retry_on_restart); a Submit not
//  confirmed yet is moved to the new instance, or submitted again
//  (gw_retry_on_catalog).
static void
s_scheduler_changed (gw_server_t *self, uint64_t cat_hb)
{
    zlistx_t *all = gw_reqs_list (self->reqs);
    size_t again = 0, moved = 0;
    for (gw_req_t *req = all? zlistx_first (all): NULL; req; req = zlistx_next (all)) {
        if (!req->backend_busy)
            continue;
        gw_retry_req_t r = s_retry_req (req);
        if (req->phase != GW_P_SUBMIT) {
            //  Accepted: running, or a stream whose answer has begun (GW_P_SENT)
            if (req->accepted && gw_retry_on_restart (&r, req->sched_id, self->sched_id)) {
                s_resubmit (self, req, "scheduler restarted", true);
                again++;
            }
            continue;
        }
        switch (gw_retry_on_catalog (&r, req->sched_id, req->submit_hb, self->sched_id, cat_hb)) {
            case GW_SUBMIT_ACCEPTED:
                s_accept (self, req);
                break;
            case GW_SUBMIT_MOVED:
                snprintf (req->sched_id, sizeof req->sched_id, "%s", self->sched_id);
                moved++;
                break;
            case GW_SUBMIT_AGAIN:
                s_resubmit (self, req, "scheduler restarted", true);
                again++;
                break;
            case GW_SUBMIT_AGAIN_ALONE:
                s_resubmit (self, req, "scheduler restarted", false);
                again++;
                break;
            case GW_SUBMIT_WAIT:
                break;
        }
    }
    zlistx_destroy (&all);
    mt_log ("scheduler-changed instance=%s resubmitted=%zu moved=%zu", self->sched_id, again,
            moved);
}

//  The scheduler's Catalog: what each pool serves (gw_catalog keeps it; the
//  list of a scheduler warming up does not replace the one we have), which
//  instance answers (another one than before restarted), and which
//  heartbeat it answers (the Submits it confirms).
static void
s_on_catalog (gw_server_t *self, Mt__Envelope **env_p)
{
    Mt__Catalog *cat = (*env_p)->catalog;
    uint64_t cat_hb = cat->heartbeat_seq;
    bool changed = *cat->scheduler_id && strcmp (cat->scheduler_id, self->sched_id);
    if (changed)
        snprintf (self->sched_id, sizeof self->sched_id, "%s", cat->scheduler_id);
    gw_catalog_set (self->catalog, env_p, mt_mono_ms ());
    if (changed)
        s_scheduler_changed (self, cat_hb);
    else
        s_confirm_submits (self, cat_hb);
}

static void
s_on_usage_ack (gw_server_t *self, Mt__UsageAck *ack)
{
    gw_meter_ack (self->meter, ack->event_ids, ack->n_event_ids);
    mt_metric_set (self->m_usage_pending, (int64_t) gw_meter_pending (self->meter));
}

//  What each peer may send the gateway; anything else is dropped.
#define S_BODY(name) (1u << MT__ENVELOPE__BODY_##name)
#define S_FROM_WORKERS (S_BODY (TOKEN_CHUNK) | S_BODY (JOB_DONE))
#define S_FROM_SCHEDULER (S_BODY (SUBMIT_REPLY) | S_BODY (JOB_DONE) | S_BODY (CATALOG))
#define S_FROM_QUOTA (S_BODY (ADMIT_REPLY))
#define S_FROM_METERING (S_BODY (USAGE_ACK))

//  Handle one envelope from a backend socket whose peers may send the
//  bodies in allowed; frees it.
static void
s_dispatch (gw_server_t *self, Mt__Envelope *env, uint32_t allowed)
{
    if (env->body_case >= 32 || !(allowed & (1u << env->body_case))) {
        mt_metric_add (self->m_dropped, 1);
        mt_debug ("unexpected-message body=%s action=dropped", mt_codec_body_name (env));
        mt_codec_free (&env);
        return;
    }
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_ADMIT_REPLY:
            s_on_admit_reply (self, env->admit_reply);
            break;
        case MT__ENVELOPE__BODY_SUBMIT_REPLY:
            s_on_submit_reply (self, env->submit_reply);
            break;
        case MT__ENVELOPE__BODY_TOKEN_CHUNK:
            s_on_token_chunk (self, env->token_chunk);
            break;
        case MT__ENVELOPE__BODY_JOB_DONE:
            s_on_job_done (self, env->job_done, allowed == S_FROM_WORKERS);
            break;
        case MT__ENVELOPE__BODY_USAGE_ACK:
            s_on_usage_ack (self, env->usage_ack);
            break;
        case MT__ENVELOPE__BODY_CATALOG:
            s_on_catalog (self, &env);  //  kept, or freed
            return;
        default:
            mt_log ("unexpected-message body=%s action=dropped", mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
}

//  --------------------------------------------------------------------------
//  Store replies (admin API, /v1/usage) and cache updates

//  Swap in a new tenant cache (owned from now; NULL drops it).
static void
s_set_cache (gw_server_t *self, gw_cache_t *cache)
{
    gw_cache_destroy (&self->cache);
    self->cache = cache;
    if (self->http)
        gw_http_set_cache (self->http, cache);
}

static void
s_on_store (gw_server_t *self)
{
    zmsg_t *msg = zmsg_recv (gw_store_sock (self->store));
    if (!msg)
        return;
    char *kind = zmsg_popstr (msg);
    if (kind && !strcmp (kind, "cache")) {
        zframe_t *f = zmsg_pop (msg);
        if (f && zframe_size (f) == sizeof (void *)) {
            gw_cache_t *cache;
            memcpy (&cache, zframe_data (f), sizeof cache);
            s_set_cache (self, cache);
            mt_log ("cache-updated tenants=%zu keys=%zu", gw_cache_tenant_count (cache),
                    gw_cache_key_count (cache));
        }
        zframe_destroy (&f);
    }
    else
    if (kind && !strcmp (kind, "reply")) {
        zframe_t *tf = zmsg_pop (msg);
        char *status = zmsg_popstr (msg);
        char *body = zmsg_popstr (msg);
        char *rid = zmsg_popstr (msg);      //  admin requests: the request id
        uint64_t token = 0;
        if (tf && zframe_size (tf) == sizeof token)
            memcpy (&token, zframe_data (tf), sizeof token);
        char id [48];
        if (rid && *rid)
            snprintf (id, sizeof id, "%s", rid);
        else
            snprintf (id, sizeof id, "store-%llu", (unsigned long long) token);
        free (rid);
        gw_req_t *req = gw_reqs_lookup (self->reqs, id);
        if (req && req->phase == GW_P_STORE) {
            gw_list_remove (req);
            req->backend_busy = false;
            if (!req->conn)
                gw_req_maybe_free (req);
            else {
                gw_req_set_body (req, status? (unsigned int) atoi (status): 500, body);
                body = NULL;
                gw_req_resume (req);
            }
        }
        zframe_destroy (&tf);
        free (status);
        free (body);
    }
    free (kind);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Timers

//  A job past MT_GW_REQUEST_TIMEOUT_MS: cancel it and tell the client; the
//  job's JobDone then still settles and bills it. If none comes within the
//  service timeout (its scheduler lost it), settle what reached the client.
static void
s_expire_running (gw_server_t *self)
{
    uint64_t now = mt_mono_ms ();
    while (self->running.head && self->running.head->deadline <= now) {
        gw_req_t *req = self->running.head;
        gw_list_remove (req);
        mt_log ("request-timeout req=%s tenant=%s tokens=%u", req->id, req->tenant_id,
                req->relayed);
        req->timed_out = true;
        s_send_cancel (self, req);
        gw_req_fail_client (req, mt_error_lookup ("service_unavailable"), "The request timed out.");
        gw_list_add (&self->waiting, req);
    }
}

//  A timed-out job whose JobDone never came.
static void
s_give_up (gw_server_t *self, gw_req_t *req)
{
    mt_log ("job-lost req=%s tenant=%s tokens=%u", req->id, req->tenant_id, req->relayed);
    gw_bill_req_t breq = s_bill_req (req);
    gw_bill_t bill;
    gw_bill_lost (&breq, &bill);
    s_send_settle (self, req, bill.used, bill.refused);
    if (bill.emit)
        s_usage_emit (self, req, &bill, 0);
    req->backend_busy = false;
    gw_req_maybe_free (req);
}

static void
s_expire_waiting (gw_server_t *self)
{
    uint64_t now = mt_mono_ms ();
    while (self->waiting.head && self->waiting.head->deadline <= now) {
        gw_req_t *req = self->waiting.head;
        gw_list_remove (req);
        if (req->timed_out) {
            s_give_up (self, req);
            continue;
        }
        const char *who = req->phase == GW_P_ADMIT? "quota-enforcer":
                          req->phase == GW_P_SUBMIT? "scheduler": "database";
        mt_log ("timeout req=%s tenant=%s waiting-for=%s", req->id, req->tenant_id, who);
        char msg [128];
        snprintf (msg, sizeof msg, "The %s did not answer in time.", who);
        //  A late admit may still have reserved: release it. A late submit
        //  may still have queued the job: cancel it too.
        bool settle = req->phase == GW_P_ADMIT || req->phase == GW_P_SUBMIT;
        if (req->phase == GW_P_SUBMIT)
            s_send_cancel (self, req);
        if (req->phase == GW_P_SUBMIT && req->accepted) {
            //  A job submitted again: it ends as a failed job does
            s_job_fail (self, req, MT__ERROR_CODE__ERR_UNAVAILABLE, msg);
            continue;
        }
        s_refuse_backend (self, req, mt_error_lookup ("service_unavailable"), msg, settle);
    }
}

static void
s_keepalive (gw_server_t *self)
{
    uint64_t now = mt_mono_ms ();
    for (gw_req_t *req = gw_reqs_streams (self->reqs); req; req = req->snext)
        if (req->sse && !gw_sse_closed (req->sse) && now - req->last_write_mono >= GW_KEEPALIVE_MS) {
            gw_sse_comment (req->sse, "keep-alive");
            req->last_write_mono = now;
            gw_req_resume (req);
        }
}

//  libmicrohttpd does not watch a suspended connection, so a client that
//  hangs up while its job is queued or running would go unnoticed until the
//  first write. Peek at each such socket: end of file means it is gone (as
//  nginx judges it); cancel the job (its JobDone still bills what was
//  generated) and let a last write close the connection.
static bool
s_client_gone (gw_req_t *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    char byte;
    ssize_t n = recv (ci->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)));
}

static void
s_watch_clients (gw_server_t *self)
{
    //  Running, and submitted but not confirmed yet (the latter cancelled
    //  at once; its refusal, its confirmation or the service timeout then
    //  ends it as any other)
    gw_list_t *lists [] = { &self->running, &self->waiting };
    for (size_t l = 0; l < sizeof lists / sizeof lists [0]; l++)
        for (gw_req_t *req = lists [l]->head; req; req = req->wnext) {
            bool running = lists [l] == &self->running;
            if ((!running && req->phase != GW_P_SUBMIT) || !req->conn || !req->suspended
            ||  req->cancel_wanted || !s_client_gone (req))
                continue;
            mt_log ("client-gone req=%s tenant=%s tokens=%u%s", req->id, req->tenant_id,
                    running? req->relayed: 0, running? "": " phase=submit");
            s_send_cancel (self, req);
            if (!running)
                continue;
            if (req->sse)
                gw_sse_comment (req->sse, "cancelled");
            else
                gw_req_set_error (req, mt_error_lookup ("service_unavailable"),
                                  "The client closed the connection.", NULL, NULL);
            gw_req_resume (req);
        }
}

//  Every second, from the loop: to the scheduler (which answers with its
//  Catalog) and to the quota-enforcer. Both take a gateway that stops for
//  their gateway timeout as gone: its jobs are cancelled, its reservations
//  released.
static void
s_heartbeat_to (gw_server_t *self, zsock_t *sock)
{
    Mt__Heartbeat hb = MT__HEARTBEAT__INIT;
    hb.sender = self->token_endpoint;
    bool sched = sock == self->scheduler;
    if (sched)
        hb.seq = self->hb_seq + 1;      //  the Catalog echoes it (s_confirm_submits)
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    int rc = mt_codec_send (sock, NULL, &env);     //  after what is held for it
    if (!sched)
        return;
    self->hb_sched_mono = mt_mono_ms ();    //  tried: not again before its time
    if (rc == 0) {
        self->hb_seq++;                 //  one that could not be queued takes no number
        self->submit_uncovered = false;
    }
}

static void
s_heartbeat (gw_server_t *self)
{
    s_heartbeat_to (self, self->scheduler);
    s_heartbeat_to (self, self->quota);
}

//  To the scheduler every second, and sooner (confirm_ms) after a Submit:
//  its Catalog confirms the Submits sent before it.
static void
s_heartbeat_scheduler (gw_server_t *self, uint64_t now)
{
    uint64_t since = now - self->hb_sched_mono;
    if (since >= 1000 || (self->submit_uncovered && since >= self->confirm_ms))
        s_heartbeat_to (self, self->scheduler);
}

//  The drain time is over: end every request still open with an error (an
//  error event on a started stream), resume it, and let MHD write that out.
//  MHD must not be stopped with connections still suspended.
static void
s_close_open (gw_server_t *self)
{
    zlistx_t *open = gw_reqs_list (self->reqs);
    size_t closed = 0;
    for (gw_req_t *req = zlistx_first (open); req; req = zlistx_next (open)) {
        if (!req->conn)
            continue;
        bool was_suspended = req->suspended;
        if (req->sse || req->phase == GW_P_RUNNING)
            gw_req_fail_client (req, mt_error_lookup ("service_unavailable"),
                                "The gateway is shutting down.");
        else
        if (req->phase != GW_P_SENT && req->phase != GW_P_RESPOND) {
            gw_req_set_error (req, mt_error_lookup ("service_unavailable"),
                              "The gateway is shutting down.", NULL, NULL);
            gw_req_resume (req);
        }
        if (was_suspended)
            closed++;
    }
    zlistx_destroy (&open);
    for (int i = 0; i < 20; i++) {
        MHD_run (self->daemon);
        usleep (5000);
    }
    if (closed)
        mt_log ("drain-timeout closed=%zu", closed);
}

//  --------------------------------------------------------------------------
//  Set-up, loop, tear-down

//  name: the gateway's routing id on the bus, the same on every socket and
//  for the whole process, so a connection that breaks and comes back is the
//  same gateway to the services (its jobs and reservations stay its own); a
//  restarted gateway draws a new one.
static zsock_t *
s_dealer (const char *endpoint, const char *server_role, gw_ready_t *ready, const char *name)
{
    zsock_t *sock = mt_codec_socket (ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (zmq_setsockopt (zsock_resolve (sock), ZMQ_ROUTING_ID, name, strlen (name))) {
        mt_log ("socket-failed option=routing_id reason=\"%s\"", zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    if (mt_curve_client (sock, server_role)) {
        zsock_destroy (&sock);
        return NULL;
    }
    zsock_set_sndhwm (sock, 200000);
    zsock_set_rcvhwm (sock, 200000);
    zsock_set_linger (sock, 0);
    gw_ready_watch (ready, sock, server_role);      //  for /readyz; before the connect
    if (zsock_connect (sock, "%s", endpoint)) {
        mt_log ("connect-failed endpoint=%s", endpoint);
        zsock_destroy (&sock);
    }
    return sock;
}

//  Connected to a quota-enforcer again (a restarted one, as the readiness
//  monitor sees it): re-announce every reservation in flight (a restarted
//  quota-enforcer knows nothing of them; a live one ignores them).
static void
s_quota_monitor (gw_server_t *self)
{
    bool up = gw_ready_connected (self->ready, MT_ROLE_QUOTA);
    bool again = up && !self->quota_up;
    self->quota_up = up;
    if (!again)
        return;
    //  First a heartbeat: the new process watches this gateway from now on,
    //  so the reservations below are released should it die
    s_heartbeat_to (self, self->quota);
    size_t count = 0;
    for (gw_req_t *req = gw_reqs_first (self->reqs); req; req = gw_reqs_next (self->reqs)) {
        //  Admitted and not settled yet: waiting for the scheduler, running,
        //  or a stream whose answer has begun (GW_P_SENT until its JobDone)
        bool inference = req->route == GW_R_CHAT || req->route == GW_R_COMPLETION
                      || req->route == GW_R_EMBEDDINGS;
        if (!req->backend_busy || !inference || req->phase < GW_P_SUBMIT
        ||  req->phase == GW_P_STORE)
            continue;
        Mt__Admit admit = MT__ADMIT__INIT;
        admit.req_id = req->id;
        admit.tenant_id = req->tenant_id;
        admit.prompt_tokens = req->parsed.prompt_tokens;
        admit.granted_tokens = req->granted;
        admit.restore = true;
        Mt__Envelope env = MT__ENVELOPE__INIT;
        env.body_case = MT__ENVELOPE__BODY_ADMIT;
        env.admit = &admit;
        mt_codec_drop_t drop = { .label = "restore-dropped", .key = req->id,
                                 .tenant = req->tenant_id };
        if (mt_codec_send_later (self->quota, NULL, &env, &drop) == 0)
            count++;
    }
    mt_log ("quota-connected reservations_reannounced=%zu", count);
}

//  Takes what a socket the poll found readable holds, until it has none: one
//  look at its mailbox for the run, not one per message; none for an idle socket.
static void
s_drain_socket (gw_server_t *self, zsock_t *sock, const zmq_pollitem_t *item, uint32_t allowed)
{
    if (!(item->revents & ZMQ_POLLIN))
        return;
    bool router = sock == self->tokens;
    for (int i = 0; i < 2000; i++) {
        zframe_t *rid = NULL;
        Mt__Envelope *env = NULL;
        if (!mt_codec_recv_next (sock, router? &rid: NULL, &env))
            break;
        zframe_destroy (&rid);
        if (env)
            s_dispatch (self, env, allowed);
    }
}

//  After gw_reqs_new: the registry's metrics come first in /metrics.
static void
s_metrics_init (gw_server_t *self)
{
    self->m_usage_pending = mt_metric_gauge ("mt_gw_usage_events_pending", "usage events not yet acknowledged by metering");
    self->m_usage_resent = mt_metric_counter ("mt_gw_usage_events_resent_total", "usage events sent again");
    self->m_tokens = mt_metric_counter ("mt_gw_tokens_relayed_total", "completion tokens relayed to clients");
    self->m_dropped = mt_metric_counter ("mt_gw_messages_dropped_total",
                                         "ZeroMQ messages dropped: a body the peer may not send, "
                                         "a worker's without the job's reply token, or a chunk "
                                         "of no request in flight");
    self->m_cancels = mt_metric_counter ("mt_gw_cancels_total", "jobs cancelled because the client went away");
    self->m_resubmits = mt_metric_counter ("mt_gw_jobs_resubmitted_total",
                                           "jobs submitted again: lost before they showed "
                                           "the client anything (worker lost, handed back, "
                                           "scheduler restarted)");
    self->m_latency = mt_metric_histogram ("mt_gw_request_duration_seconds", "arrival to last token");
}

//  Stop accepting, drain, close what is left; both from the loop and from
//  destroy (a server destroyed without a drain).
static void
s_begin_drain (gw_server_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    gw_http_drain (self->http);
    self->drain_deadline = mt_mono_ms () + (uint64_t) self->config->drain_ms;
    MHD_socket lsock = MHD_quiesce_daemon (self->daemon);
    if (lsock != MHD_INVALID_SOCKET)
        close (lsock);
    mt_log ("draining active=%zu streams=%lld", gw_reqs_active (self->reqs),
            (long long) gw_reqs_streams_open (self->reqs));
}

//  Read a PEM file (at most 1 MiB) into a NUL-terminated buffer. Caller
//  owns; free (cleanse first: it may be a private key). NULL on error, logged.
static char *
s_read_pem (const char *path, const char *option)
{
    FILE *f = fopen (path, "rb");
    char *buf = f? (char *) malloc ((1 << 20) + 1): NULL;
    size_t n = buf? fread (buf, 1, 1 << 20, f): 0;
    bool ok = buf && !ferror (f) && n > 0 && n < (1 << 20);
    if (f)
        fclose (f);
    if (!ok) {
        mt_log ("config-error option=%s reason=\"cannot read %s\"", option, path);
        free (buf);
        return NULL;
    }
    buf [n] = 0;
    return buf;
}

static void
s_free_pem (char **pem_p)
{
    if (*pem_p) {
        OPENSSL_cleanse (*pem_p, strlen (*pem_p));
        free (*pem_p);
        *pem_p = NULL;
    }
}

gw_server_t *
gw_server_new (const gw_server_config_t *config)
{
    assert (config);
    gw_server_t *self = (gw_server_t *) calloc (1, sizeof (gw_server_t));
    if (!self)
        return NULL;
    self->config = config;
    self->epoll_fd = -1;
    self->waiting.timeout_ms = (uint64_t) config->service_timeout_ms;
    //  A Submit is confirmed well within the service timeout
    self->confirm_ms = (uint64_t) config->service_timeout_ms / 4;
    if (self->confirm_ms > 1000 || self->confirm_ms == 0)
        self->confirm_ms = 1000;
    self->running.timeout_ms = (uint64_t) config->request_timeout_ms;
    self->live = gw_live_new ((size_t) config->metrics_tenants);
    self->reqs = gw_reqs_new (self->live);
    s_metrics_init (self);
    self->catalog = gw_catalog_new ();
    if (!self->reqs || !self->live || !self->catalog)
        goto failed;

    self->front = gw_front_new (config);    //  checks its options: first
    if (!self->front)
        goto failed;
    if (config->pg_dsn) {
        self->store = gw_store_new (config->pg_dsn, config->pg_wait_ms, config->admin_token);
        if (!self->store) {
            mt_log ("start-failed reason=\"database unreachable\"");
            goto failed;
        }
    }
    //  Messages to a service that is down queue until it is back (a
    //  restarted quota-enforcer answers the Admits that waited); the service
    //  timeout bounds how long a request waits. ZMQ_IMMEDIATE, which would
    //  fail them at once instead, used to be set after the connect, where it
    //  has no effect; it is left off, as the gateway has behaved so far.
    self->ready = gw_ready_new ();
    char name [3 + 32 + 1] = "gw-";
    if (mt_random_hex (name + 3, 16)) {
        mt_log ("start-failed reason=\"no randomness for the gateway's bus name\"");
        goto failed;
    }
    self->scheduler = s_dealer (config->scheduler, MT_ROLE_SCHEDULER, self->ready, name);
    self->quota = s_dealer (config->quota, MT_ROLE_QUOTA, self->ready, name);
    self->metering = s_dealer (config->metering, MT_ROLE_METERING, self->ready, name);
    self->tokens = mt_codec_socket (ZMQ_ROUTER);
    if (!self->scheduler || !self->quota || !self->metering || !self->tokens)
        goto failed;
    self->meter = gw_meter_new (self->metering, GW_USAGE_PENDING_MAX, GW_USAGE_RESEND_MS);
    self->ended = gw_ended_new (GW_ENDED_KEEP);
    if (!self->meter || !self->ended)
        goto failed;
    gw_meter_hold (self->meter, GW_USAGE_HOLD_MS, GW_USAGE_HOLD_MAX);
    zsock_set_rcvhwm (self->tokens, 200000);
    zsock_set_linger (self->tokens, 0);
    if (mt_curve_server (self->tokens, "gateway-tokens", MT_ROLE_WORKER))
        goto failed;
    if (zsock_bind (self->tokens, "%s", config->token_bind) == -1) {
        mt_log ("start-failed reason=\"cannot bind %s\"", config->token_bind);
        goto failed;
    }
    self->token_endpoint = config->token_endpoint && *config->token_endpoint
                         ? strdup (config->token_endpoint): zsock_last_endpoint (self->tokens);
    if (!self->token_endpoint)
        goto failed;
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons ((uint16_t) config->http_port);
    if (inet_pton (AF_INET, config->http_bind, &sa.sin_addr) != 1) {
        mt_log ("config-error option=http-bind reason=\"not an IPv4 address: %s\"", config->http_bind);
        goto failed;
    }
    //  HTTPS when given a certificate and key (libmicrohttpd with GnuTLS)
    struct MHD_OptionItem tls_opts [3] = { { MHD_OPTION_END, 0, NULL } };
    unsigned int tls_flag = 0;
    bool tls = config->tls_cert && *config->tls_cert;
    if (tls) {
        if (MHD_is_feature_supported (MHD_FEATURE_TLS) != MHD_YES) {
            mt_log ("start-failed reason=\"this libmicrohttpd has no TLS support\"");
            goto failed;
        }
        self->tls_cert = s_read_pem (config->tls_cert, "tls-cert");
        self->tls_key = self->tls_cert? s_read_pem (config->tls_key, "tls-key"): NULL;
        if (!self->tls_key)
            goto failed;
        tls_opts [0] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_CERT, 0, self->tls_cert };
        tls_opts [1] = (struct MHD_OptionItem) { MHD_OPTION_HTTPS_MEM_KEY, 0, self->tls_key };
        tls_opts [2] = (struct MHD_OptionItem) { MHD_OPTION_END, 0, NULL };
        tls_flag = MHD_USE_TLS;
    }
    gw_http_deps_t deps = {
        .max_body = config->max_body, .max_body_chat = config->max_body_chat,
        .max_body_completions = config->max_body_completions,
        .default_max_tokens = (uint32_t) config->default_max_tokens, .reqs = self->reqs, .waiting = &self->waiting, .front = self->front,
        .store = self->store, .catalog = self->catalog, .ready = self->ready,
        .live = self->live, .meter = self->meter,
        .admit = s_http_admit, .cancel = s_http_cancel, .arg = self,
    };
    self->http = gw_http_new (&deps);
    if (!self->http)
        goto failed;
    //  The front door decides who is accepted (its accept policy), tracks
    //  each connection (started/closed) and holds the limit and timeout
    //  libmicrohttpd keeps as backstops.
    self->daemon = MHD_start_daemon (MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | tls_flag,
                                     (uint16_t) config->http_port, gw_front_accept, self->front,
                                     gw_http_access, self->http,
                                     MHD_OPTION_SOCK_ADDR, &sa,
                                     MHD_OPTION_NOTIFY_COMPLETED, gw_http_completed, self->http,
                                     MHD_OPTION_NOTIFY_CONNECTION, gw_front_notify, self->front,
                                     MHD_OPTION_CONNECTION_LIMIT, gw_front_mhd_limit (self->front),
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 8192,
                                     MHD_OPTION_CONNECTION_TIMEOUT, gw_front_mhd_timeout (self->front),
                                     MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int) 4096,
                                     MHD_OPTION_ARRAY, tls_opts,
                                     MHD_OPTION_END);
    if (!self->daemon) {
        mt_log ("start-failed reason=\"cannot listen on %s:%d\"", config->http_bind, config->http_port);
        goto failed;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    self->epoll_fd = info? info->epoll_fd: -1;
    info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->http_port = info? (int) info->port: config->http_port;
    mt_log ("listening %s=%s:%d tokens=%s admin-bootstrap=%s", tls? "https": "http",
            config->http_bind, self->http_port, config->token_bind,
            *config->admin_token? "on": "off");
    if (config->usage_spool && *config->usage_spool) {
        if (gw_meter_spool (self->meter, config->usage_spool))
            goto failed;
        mt_metric_set (self->m_usage_pending, (int64_t) gw_meter_pending (self->meter));
    }
    s_heartbeat (self);
    return self;

failed:
    gw_server_destroy (&self);
    return NULL;
}

//  MHD's turn, only when it has something to do: its epoll fd was ready, a
//  connection was resumed (an answer or a stream's bytes to write) or a
//  deadline of its own is due. A turn that only took bus messages (an
//  admission, a SubmitReply, a usage ack) costs it nothing, where MHD_run
//  always asks epoll_wait. While MHD says it has more at once (a response
//  just written, the next request of a keep-alive connection to read), run
//  it again in this turn rather than after another poll of every socket.
static void
s_mhd_run (gw_server_t *self, bool epoll_ready)
{
    MHD_UNSIGNED_LONG_LONG to;
    bool due = epoll_ready || gw_req_resumes () != self->mhd_resumes
            || (MHD_get_timeout (self->daemon, &to) == MHD_YES && to == 0);
    for (int i = 0; due && i < 4; i++) {
        self->mhd_resumes = gw_req_resumes ();
        MHD_run (self->daemon);
        due = gw_req_resumes () != self->mhd_resumes
           || (MHD_get_timeout (self->daemon, &to) == MHD_YES && to == 0);
    }
}

bool
gw_server_poll (gw_server_t *self, long timeout_ms)
{
    assert (self);
    if (self->finished)
        return false;
    if ((mt_stopping () || self->stop_asked) && !self->draining)
        s_begin_drain (self);
    if (self->draining) {
        //  Open requests may finish until the deadline; then they are
        //  closed, and cancelled jobs get a last moment to report usage.
        uint64_t now = mt_mono_ms ();
        if (now >= self->drain_deadline && !self->closed_open) {
            s_close_open (self);
            self->closed_open = true;
        }
        bool quiet = gw_reqs_active (self->reqs) == 0 && gw_reqs_size (self->reqs) == 0
                  && gw_meter_pending (self->meter) == 0;
        if (quiet || now >= self->drain_deadline + 3000) {
            if (!self->closed_open)
                s_close_open (self);
            self->closed_open = true;
            self->finished = true;
            mt_log ("stopping active=%zu usage-pending=%zu", gw_reqs_active (self->reqs),
                    gw_meter_pending (self->meter));
            gw_meter_send_held (self->meter, now, true);
            mt_codec_flush ();
            return false;
        }
    }
    zsock_t *store_sock = gw_store_sock (self->store);
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->scheduler), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->quota), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->metering), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->tokens), 0, ZMQ_POLLIN, 0 },
        { NULL, self->epoll_fd, ZMQ_POLLIN, 0 },
        { store_sock? zsock_resolve (store_sock): NULL, 0, ZMQ_POLLIN, 0 },
    };
    long timeout = timeout_ms;
    MHD_UNSIGNED_LONG_LONG mhd_to;
    if (MHD_get_timeout (self->daemon, &mhd_to) == MHD_YES && (long) mhd_to < timeout)
        timeout = (long) mhd_to;
    long held_wait = gw_meter_held_wait (self->meter, mt_mono_ms ());
    if (held_wait >= 0 && held_wait < timeout)
        timeout = held_wait;
    int nitems = store_sock? 6: 5;
    if (mt_codec_poll (items, nitems, timeout) == -1) {
        if (errno != EINTR) {
            mt_log ("poll-failed reason=\"%s\"", zmq_strerror (errno));
            s_begin_drain (self);
            self->drain_deadline = 0;       //  no time left: close and stop
            return true;
        }
        for (size_t i = 0; i < sizeof items / sizeof items [0]; i++)
            items [i].revents = 0;
    }
    s_drain_socket (self, self->tokens, &items [3], S_FROM_WORKERS);
    s_drain_socket (self, self->quota, &items [1], S_FROM_QUOTA);
    s_quota_monitor (self);
    s_drain_socket (self, self->scheduler, &items [0], S_FROM_SCHEDULER);
    s_drain_socket (self, self->metering, &items [2], S_FROM_METERING);
    //  The Submits the AdmitReplies just made go now, together, not after
    //  the turn's answers and syncs: the job starts meanwhile
    mt_codec_flush_for (self->scheduler);
    if (store_sock && (items [5].revents & ZMQ_POLLIN))
        for (int i = 0; i < 100 && (zsock_events (store_sock) & ZMQ_POLLIN); i++)
            s_on_store (self);
    gw_meter_sync (self->meter);        //  before the answers go out
    s_mhd_run (self, items [4].revents != 0);
    gw_meter_send_held (self->meter, mt_mono_ms (), false);
    mt_codec_flush ();                  //  Settles and usage events, after the answers;
                                        //  what could not be sent fails its request
    gw_front_tick (self->front, mt_mono_ms ());
    s_expire_waiting (self);
    s_expire_running (self);
    uint64_t now = mt_mono_ms ();
    s_heartbeat_scheduler (self, now);
    if (now >= self->next_second) {
        self->next_second = now + 1000;
        s_heartbeat_to (self, self->quota);
        s_usage_resend (self);
        s_keepalive (self);
        s_watch_clients (self);
        gw_live_expire (self->live, mt_now_ms (), GW_LIVE_IDLE_MS);
        s_cancels_retry (self);
        gw_store_flush (self->store);   //  last_used_at of the keys seen
    }
    mt_codec_flush ();                  //  what the expiries and resends produced
    return true;
}

void
gw_server_stop (gw_server_t *self)
{
    assert (self);
    self->stop_asked = true;
}

void
gw_server_destroy (gw_server_t **self_p)
{
    assert (self_p);
    gw_server_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon && !self->closed_open)
        s_close_open (self);
    if (self->daemon)
        MHD_stop_daemon (self->daemon);     //  completes every open connection
    s_free_pem (&self->tls_cert);
    s_free_pem (&self->tls_key);
    //  Requests still waiting on a service: nothing more will come
    while (self->waiting.head || self->running.head) {
        gw_req_t *req = self->waiting.head? self->waiting.head: self->running.head;
        gw_list_remove (req);
        req->backend_busy = false;
        gw_req_maybe_free (req);
    }
    if (self->reqs) {
        zlistx_t *left = gw_reqs_list (self->reqs);
        for (gw_req_t *req = zlistx_first (left); req; req = zlistx_next (left))
            gw_req_free (req);
        zlistx_destroy (&left);
    }
    gw_reqs_destroy (&self->reqs);
    gw_http_destroy (&self->http);      //  after the daemon: its callbacks hold it
    if (self->meter)
        gw_meter_send_held (self->meter, 0, true);  //  flushed below, before the sockets close
    gw_meter_destroy (&self->meter);
    gw_ended_destroy (&self->ended);
    gw_live_destroy (&self->live);
    gw_front_destroy (&self->front);    //  after the daemon: it holds every connection's record
    gw_catalog_destroy (&self->catalog);
    gw_cache_destroy (&self->cache);
    gw_store_destroy (&self->store);
    mt_codec_flush ();                  //  what is held goes before its sockets close
    mt_codec_close (&self->scheduler);
    mt_codec_close (&self->quota);
    mt_codec_close (&self->metering);
    mt_codec_close (&self->tokens);
    gw_ready_destroy (&self->ready);
    free (self->token_endpoint);
    free (self);
    *self_p = NULL;
}

int
gw_server_http_port (gw_server_t *self)
{
    assert (self);
    return self->http_port;
}

const char *
gw_server_token_endpoint (gw_server_t *self)
{
    assert (self);
    return self->token_endpoint;
}

void
gw_server_set_cache (gw_server_t *self, gw_cache_t **cache_p)
{
    assert (self && cache_p);
    s_set_cache (self, *cache_p);
    *cache_p = NULL;
}

size_t
gw_server_usage_pending (gw_server_t *self)
{
    assert (self);
    return gw_meter_pending (self->meter);
}

size_t
gw_server_requests (gw_server_t *self)
{
    assert (self);
    return gw_reqs_size (self->reqs);
}

int
gw_server_run (const gw_server_config_t *config)
{
    gw_server_t *self = gw_server_new (config);
    if (!self)
        return -1;
    //  This thread polls, and only the codec touches these (the store pipe's
    //  other users, gw_store.c, say when they used it): mt_codec_poll may skip
    //  looking at an idle one before a wait
    mt_codec_poll_own (self->scheduler);
    mt_codec_poll_own (self->quota);
    mt_codec_poll_own (self->metering);
    mt_codec_poll_own (self->tokens);
    if (gw_store_sock (self->store))
        mt_codec_poll_own (gw_store_sock (self->store));
    //  This thread's log lines go out together: at the end of the first turn
    //  after the oldest has waited 10 ms (the loop turns at least every
    //  100 ms: no wake-up of its own for them), when a pipe's worth is held,
    //  or at the end
    mt_log_hold (10);
    while (gw_server_poll (self, 100))
        mt_log_flush_due ();
    gw_server_destroy (&self);
    mt_log_flush ();
    return 0;
}
