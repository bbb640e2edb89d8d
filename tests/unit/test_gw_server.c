//  Component test of the auth-gateway in one process: the real gw_server
//  (HTTP and ZeroMQ) on 127.0.0.1 ports chosen at run time, with fake peers
//  on tcp://127.0.0.1:* for the quota-enforcer, the scheduler and metering,
//  and a fake worker streaming tokens to the gateway's token ROUTER. No
//  database: the test hands the gateway its tenant cache. HTTP requests run
//  in a thread of their own (libcurl, blocking) while the main thread pumps
//  the gateway and the peers.
//
//  Checks the message contract around one request: Admit -> AdmitReply,
//  Submit (a SubmitReply only on refusal; accepted when the Catalog that
//  answers the next numbered heartbeat confirms it), TokenChunk/JobDone (the
//  last tokens inside the JobDone too), Settle, UsageEvent -> UsageAck;
//  refusals by each service, a silent service, a request timeout, usage
//  resent until acknowledged, a Cancel that waits for the scheduler's return,
//  what is billed for each ending, and jobs submitted again (worker lost,
//  handed back, scheduler restarted: accepted jobs, and Submits not
//  confirmed yet, by when they were sent).
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_errors.h"
#include "mt_log.h"
#include "mt_util.h"
#include "../../services/auth-gateway/gw_server.h"
#include "../../services/auth-gateway/gw_store.h"

#include <curl/curl.h>
#include <czmq.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>

#define KEY     "sk-mt-componenttestkey0000000000000000000001"
#define TENANT  "00000000-0000-4000-8000-000000000001"
#define KEY_ID  "00000000-0000-4000-8000-0000000000k1"

typedef enum { Q_GRANT, Q_REFUSE, Q_SILENT } s_quota_mode_t;
//  S_SILENT: a scheduler that is down (reads, answers nothing, not even
//  heartbeats)
typedef enum { S_ACCEPT, S_REFUSE, S_SILENT } s_sched_mode_t;

typedef struct {
    gw_server_t *gw;
    zsock_t *quota;             //  ROUTER: fake quota-enforcer
    zsock_t *sched;             //  ROUTER: fake scheduler
    zsock_t *meter;             //  ROUTER: fake metering
    zsock_t *worker;            //  DEALER to the gateway's token ROUTER
    zframe_t *quota_peer, *sched_peer, *meter_peer;   //  the gateway's routing ids
    s_quota_mode_t quota_mode;
    uint64_t grant;             //  granted tokens (Q_GRANT); 0 = all asked
    s_sched_mode_t sched_mode;
    bool ack_usage;             //  metering acknowledges usage events
    int catalogs;               //  Catalogs sent (answers to heartbeats)
    int quota_heartbeats;       //  Heartbeats the quota-enforcer received
    int restores;               //  Admits with restore = true (re-announced reservations)
    char restore_id [64];       //  the last one's request id
    uint64_t restore_granted;   //  ... and its granted tokens
    char quota_ep [64];         //  where the fake quota-enforcer listens
    //  What the peers received (the last of each; counts)
    char admit_id [64];
    uint64_t admit_max_tokens;
    int admits, submits, cancels, settles, usage_events;
    char submit_id [64];
    char reply_token [64];      //  the last Submit's JobSpec.reply_token
    bool submit_requeue;        //  the last Submit's requeue
    char cancel_token [64];     //  the last Cancel's reply_token
    char sched_id [33];         //  the fake scheduler's instance (Catalog, SubmitReply)
    uint64_t hb_seq;            //  the last heartbeat's seq
    uint64_t hb_after_submit;   //  the first heartbeat's seq after the last Submit (0: none yet)
    uint64_t answered_seq;      //  the last heartbeat a Catalog answered
    int submit_replies;         //  SubmitReplies sent
    uint64_t settle_used;
    bool settle_refused;
    char *sched_ep, *meter_ep;  //  where the fake scheduler and metering listen (owned)
    Mt__Envelope *usage;        //  the last UsageEvent (owned)
    int usage_of_last;          //  UsageEvents received for usage's event id
} s_rig_t;

//  --------------------------------------------------------------------------
//  HTTP client in a thread

typedef struct {
    char url [256];
    const char *body;
    bool stream;
    long timeout_ms;            //  the client gives up (hangs up) after this; 0: 20 s
    long status;
    char *resp;                 //  owned
    size_t resp_len;
    atomic_bool done;
    pthread_t thread;
} s_http_t;

static size_t
s_write (char *data, size_t size, size_t n, void *arg)
{
    s_http_t *h = (s_http_t *) arg;
    char *grown = realloc (h->resp, h->resp_len + size * n + 1);
    if (!grown)
        return 0;
    h->resp = grown;
    memcpy (h->resp + h->resp_len, data, size * n);
    h->resp_len += size * n;
    h->resp [h->resp_len] = 0;
    return size * n;
}

static void *
s_http_thread (void *arg)
{
    s_http_t *h = (s_http_t *) arg;
    CURL *curl = curl_easy_init ();
    struct curl_slist *headers = NULL;
    headers = curl_slist_append (headers, "Authorization: Bearer " KEY);
    headers = curl_slist_append (headers, "Content-Type: application/json");
    if (curl) {
        curl_easy_setopt (curl, CURLOPT_URL, h->url);
        curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
        if (h->body)
            curl_easy_setopt (curl, CURLOPT_POSTFIELDS, h->body);
        curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
        curl_easy_setopt (curl, CURLOPT_WRITEDATA, h);
        curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, h->timeout_ms? h->timeout_ms: 20000L);
        curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
        if (curl_easy_perform (curl) == CURLE_OK)
            curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &h->status);
        curl_easy_cleanup (curl);
    }
    curl_slist_free_all (headers);
    atomic_store (&h->done, true);
    return NULL;
}

static s_http_t *
s_http_start (s_rig_t *rig, const char *path, const char *body)
{
    s_http_t *h = (s_http_t *) calloc (1, sizeof (s_http_t));
    assert (h);
    snprintf (h->url, sizeof h->url, "http://127.0.0.1:%d%s", gw_server_http_port (rig->gw), path);
    h->body = body;
    atomic_init (&h->done, false);
    int rc = pthread_create (&h->thread, NULL, s_http_thread, h);
    assert (rc == 0);
    return h;
}

static void
s_http_destroy (s_http_t **h_p)
{
    s_http_t *h = *h_p;
    pthread_join (h->thread, NULL);
    free (h->resp);
    free (h);
    *h_p = NULL;
}

//  --------------------------------------------------------------------------
//  Fake peers

static void
s_reply (zsock_t *sock, zframe_t *peer, Mt__Envelope *env)
{
    zframe_t *rid = zframe_dup (peer);
    mt_codec_send (sock, rid, env);
    zframe_destroy (&rid);
}

static void
s_on_quota (s_rig_t *rig, Mt__Envelope *env)
{
    if (env->body_case == MT__ENVELOPE__BODY_ADMIT && env->admit->restore) {
        rig->restores++;            //  recorded, never answered
        snprintf (rig->restore_id, sizeof rig->restore_id, "%s", env->admit->req_id);
        rig->restore_granted = env->admit->granted_tokens;
    }
    else
    if (env->body_case == MT__ENVELOPE__BODY_ADMIT) {
        rig->admits++;
        snprintf (rig->admit_id, sizeof rig->admit_id, "%s", env->admit->req_id);
        rig->admit_max_tokens = env->admit->max_tokens;
        if (rig->quota_mode == Q_SILENT)
            return;
        Mt__AdmitReply reply = MT__ADMIT_REPLY__INIT;
        reply.req_id = env->admit->req_id;
        reply.ok = rig->quota_mode == Q_GRANT;
        reply.granted_tokens = rig->grant? rig->grant: env->admit->max_tokens;
        reply.limit_requests = 100;
        reply.remaining_requests = 99;
        reply.reset_requests_ms = 600;
        reply.limit_tokens = 1000;
        reply.remaining_tokens = 900;
        reply.reset_tokens_ms = 600;
        if (!reply.ok) {
            reply.code = MT__ERROR_CODE__ERR_QUOTA;
            reply.retry_after_s = 7;
            reply.reset_at = "2030-01-02T00:00:00Z";
            reply.granted_tokens = 0;
        }
        Mt__Envelope out = MT__ENVELOPE__INIT;
        out.body_case = MT__ENVELOPE__BODY_ADMIT_REPLY;
        out.admit_reply = &reply;
        s_reply (rig->quota, rig->quota_peer, &out);
    }
    else
    if (env->body_case == MT__ENVELOPE__BODY_HEARTBEAT)
        rig->quota_heartbeats++;
    else
    if (env->body_case == MT__ENVELOPE__BODY_SETTLE) {
        rig->settles++;
        rig->settle_used = env->settle->used_tokens;
        rig->settle_refused = env->settle->refused;
    }
}

//  The fake scheduler refuses a Submit (concurrency), naming its attempt.
static void
s_refuse (s_rig_t *rig, const char *req_id, const char *token)
{
    Mt__SubmitReply reply = MT__SUBMIT_REPLY__INIT;
    reply.req_id = (char *) req_id;
    reply.scheduler_id = rig->sched_id;
    reply.accepted = false;
    reply.code = MT__ERROR_CODE__ERR_CONCURRENCY;
    reply.retry_after_s = 1;
    reply.reply_token = (char *) token;
    Mt__Envelope out = MT__ENVELOPE__INIT;
    out.body_case = MT__ENVELOPE__BODY_SUBMIT_REPLY;
    out.submit_reply = &reply;
    s_reply (rig->sched, rig->sched_peer, &out);
    rig->submit_replies++;
}

//  The fake scheduler's Catalog: the answer to heartbeat seq.
static void
s_send_catalog (s_rig_t *rig, uint64_t seq)
{
    {
        Mt__PoolModels pool = MT__POOL_MODELS__INIT;
        char *models [] = { "m1" };
        pool.pool = "standard";
        pool.models = models;
        pool.n_models = 1;
        pool.live_workers = 1;
        Mt__PoolModels *pools [] = { &pool };
        Mt__Catalog cat = MT__CATALOG__INIT;
        cat.pools = pools;
        cat.n_pools = 1;
        cat.scheduler_id = rig->sched_id;
        cat.heartbeat_seq = seq;
        Mt__Envelope out = MT__ENVELOPE__INIT;
        out.body_case = MT__ENVELOPE__BODY_CATALOG;
        out.catalog = &cat;
        s_reply (rig->sched, rig->sched_peer, &out);
        rig->catalogs++;
        rig->answered_seq = seq;
    }
}

static void
s_on_sched (s_rig_t *rig, Mt__Envelope *env)
{
    if (env->body_case == MT__ENVELOPE__BODY_HEARTBEAT) {
        CHECK (env->heartbeat->seq > rig->hb_seq);     //  numbered, in order
        rig->hb_seq = env->heartbeat->seq;
        if (!rig->hb_after_submit)
            rig->hb_after_submit = rig->hb_seq;
        if (rig->sched_mode != S_SILENT)
            s_send_catalog (rig, rig->hb_seq);
    }
    else
    if (env->body_case == MT__ENVELOPE__BODY_SUBMIT) {
        rig->submits++;
        rig->hb_after_submit = 0;
        snprintf (rig->submit_id, sizeof rig->submit_id, "%s", env->submit->job->req_id);
        snprintf (rig->reply_token, sizeof rig->reply_token, "%s", env->submit->job->reply_token);
        rig->submit_requeue = env->submit->requeue;
        if (rig->sched_mode == S_REFUSE)
            s_refuse (rig, env->submit->job->req_id, env->submit->job->reply_token);
    }
    else
    if (env->body_case == MT__ENVELOPE__BODY_CANCEL) {
        rig->cancels++;
        snprintf (rig->cancel_token, sizeof rig->cancel_token, "%s", env->cancel->reply_token);
    }
}

static void
s_on_meter (s_rig_t *rig, Mt__Envelope **env_p)
{
    Mt__Envelope *env = *env_p;
    if (env->body_case != MT__ENVELOPE__BODY_USAGE_EVENT)
        return;
    rig->usage_events++;
    if (rig->usage && !strcmp (rig->usage->usage_event->event_id, env->usage_event->event_id))
        rig->usage_of_last++;
    else
        rig->usage_of_last = 1;
    if (rig->ack_usage) {
        Mt__UsageAck ack = MT__USAGE_ACK__INIT;
        char *ids [] = { env->usage_event->event_id };
        ack.event_ids = ids;
        ack.n_event_ids = 1;
        Mt__Envelope out = MT__ENVELOPE__INIT;
        out.body_case = MT__ENVELOPE__BODY_USAGE_ACK;
        out.usage_ack = &ack;
        s_reply (rig->meter, rig->meter_peer, &out);
    }
    mt_codec_free (&rig->usage);
    rig->usage = env;                  //  kept
    *env_p = NULL;
}

static void
s_drain_peer (s_rig_t *rig, zsock_t *sock, zframe_t **peer_p)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = NULL;
    while (mt_codec_recv_next (sock, &rid, &env)) {     //  a Batch's items too
        if (rid) {
            zframe_destroy (peer_p);
            *peer_p = rid;
        }
        if (!env)
            continue;
        if (sock == rig->quota)
            s_on_quota (rig, env);
        else
        if (sock == rig->sched)
            s_on_sched (rig, env);
        else
            s_on_meter (rig, &env);
        mt_codec_free (&env);
    }
}

//  Run the gateway and the peers for up to ms, or until done (if given) is set.
static void
s_pump (s_rig_t *rig, int ms, atomic_bool *done)
{
    uint64_t end = mt_mono_ms () + (uint64_t) ms;
    while (mt_mono_ms () < end) {
        gw_server_poll (rig->gw, 2);
        s_drain_peer (rig, rig->quota, &rig->quota_peer);
        s_drain_peer (rig, rig->sched, &rig->sched_peer);
        s_drain_peer (rig, rig->meter, &rig->meter_peer);
        if (done && atomic_load (done))
            return;
    }
}

//  Pump until the request is done; then join its thread.
static void
s_finish (s_rig_t *rig, s_http_t *h)
{
    s_pump (rig, 15000, &h->done);
    CHECK_MSG (atomic_load (&h->done), "request to %s never finished", h->url);
    pthread_join (h->thread, NULL);
    h->thread = 0;
}

//  Pump until the heartbeat after the last Submit was answered by a Catalog
//  (the gateway then holds the Submit as accepted), and a moment more.
static bool
s_until_confirmed (s_rig_t *rig)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (!(rig->hb_after_submit && rig->answered_seq >= rig->hb_after_submit)
           && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
    s_pump (rig, 20, NULL);
    return rig->hb_after_submit && rig->answered_seq >= rig->hb_after_submit;
}

//  Pump until the fake scheduler received heartbeat seq (bounded).
static bool
s_until_heartbeat (s_rig_t *rig, uint64_t seq)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (rig->hb_seq < seq && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
    return rig->hb_seq >= seq;
}

//  Pump until the peers saw a Submit for a new request (count grows).
static bool
s_until_submit (s_rig_t *rig, int before)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (rig->submits == before && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
    return rig->submits > before;
}

static void
s_chunk (s_rig_t *rig, const char *req_id, uint32_t seq, const char *piece)
{
    Mt__TokenChunk chunk = MT__TOKEN_CHUNK__INIT;
    char *pieces [] = { (char *) piece };
    chunk.req_id = (char *) req_id;
    chunk.pieces = pieces;
    chunk.n_pieces = 1;
    chunk.seq = seq;
    chunk.reply_token = rig->reply_token;       //  the job's capability
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_TOKEN_CHUNK;
    env.token_chunk = &chunk;
    mt_codec_send (rig->worker, NULL, &env);
}

static void
s_done (s_rig_t *rig, const char *req_id, Mt__ErrorCode error, const char *finish,
        uint32_t prompt, uint32_t completion)
{
    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = (char *) req_id;
    done.worker_id = "w-1";
    done.tenant_id = TENANT;
    done.error = error;
    done.error_message = error? "engine failed": "";
    done.finish_reason = (char *) finish;
    done.prompt_tokens = prompt;
    done.completion_tokens = completion;
    done.reply_token = rig->reply_token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    mt_codec_send (rig->worker, NULL, &env);
}

//  The worker ends the job well with its last tokens inside the JobDone
//  (tail: pieces or choices, without req_id and reply token of its own).
static void
s_done_with (s_rig_t *rig, const char *req_id, Mt__TokenChunk *tail, const char *finish,
             uint32_t prompt, uint32_t completion)
{
    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = (char *) req_id;
    done.worker_id = "w-1";
    done.tenant_id = TENANT;
    done.error = MT__ERROR_CODE__ERR_NONE;
    done.error_message = "";
    done.finish_reason = (char *) finish;
    done.prompt_tokens = prompt;
    done.completion_tokens = completion;
    done.reply_token = rig->reply_token;
    done.tokens = tail;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    mt_codec_send (rig->worker, NULL, &env);
}

//  The scheduler ends a job itself (worker lost), naming the attempt.
static void
s_sched_done (s_rig_t *rig, const char *req_id, Mt__ErrorCode error)
{
    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = (char *) req_id;
    done.tenant_id = TENANT;
    done.error = error;
    done.error_message = "worker lost";
    done.finish_reason = "";
    done.prompt_tokens = 4;
    done.reply_token = rig->reply_token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    s_reply (rig->sched, rig->sched_peer, &env);
}

//  The error code of an OpenAI error body, or "".
static const char *
s_error_code (const char *body, char *out, size_t size)
{
    *out = 0;
    json_t *root = body? json_loads (body, 0, NULL): NULL;
    const char *code = json_string_value (json_object_get (json_object_get (root, "error"), "code"));
    snprintf (out, size, "%s", code? code: "");
    json_decref (root);
    return out;
}

//  Pump until *counter reaches want (bounded); true if it did.
static bool
s_until_count (s_rig_t *rig, int *counter, int want)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (*counter < want && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
    return *counter >= want;
}

//  Pump until metering got the usage event of req_id (bounded).
static void
s_until_usage (s_rig_t *rig, const char *req_id)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (!(rig->usage && !strcmp (rig->usage->usage_event->event_id, req_id))
           && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
}

//  The usage event of req_id, checked against what this ending should bill.
static void
s_check_usage (s_rig_t *rig, const char *req_id, const char *status, uint32_t http_status,
               uint32_t prompt, uint32_t completion)
{
    s_until_usage (rig, req_id);
    s_pump (rig, 20, NULL);
    CHECK (rig->usage != NULL);
    if (!rig->usage)
        return;
    Mt__UsageEvent *u = rig->usage->usage_event;
    CHECK_STR (u->event_id, req_id);
    CHECK_STR (u->tenant_id, TENANT);
    CHECK_STR (u->key_id, KEY_ID);
    CHECK_STR (u->status, status);
    CHECK_INT (u->http_status, http_status);
    CHECK_INT (u->prompt_tokens, prompt);
    CHECK_INT (u->completion_tokens, completion);
    CHECK_INT (rig->settle_used, prompt + completion);
    CHECK (!rig->settle_refused);
}

#define CHAT(max, stream) \
    "{\"model\":\"m1\",\"max_tokens\":" #max ",\"stream\":" #stream \
    ",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}"

//  --------------------------------------------------------------------------

//  The worker ends the job well (4 prompt + 1 completion tokens): the client
//  gets 200 (with want in its body, and no error, when want is given) and the
//  ledger an ok event of those tokens.
static void
s_end_ok (s_rig_t *rig, s_http_t *h, const char *id, const char *want)
{
    s_done (rig, id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 1);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    if (want)
        CHECK (h->resp && strstr (h->resp, want) && !strstr (h->resp, "\"error\""));
    s_check_usage (rig, id, "ok", 200, 4, 1);
}

static void
s_test_models (s_rig_t *rig)
{
    s_http_t *h = s_http_start (rig, "/v1/models", NULL);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"m1\""));
    s_http_destroy (&h);
}

static void
s_test_ok (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    CHECK_STR (rig->submit_id, rig->admit_id);
    CHECK (rig->catalogs > 0);
    CHECK_INT (rig->admit_max_tokens, 5);
    s_chunk (rig, rig->submit_id, 0, "Hi");
    s_chunk (rig, rig->submit_id, 1, " there");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 2);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    json_t *root = h->resp? json_loads (h->resp, 0, NULL): NULL;
    json_t *msg = json_object_get (json_object_get (json_array_get (json_object_get (root, "choices"), 0),
                                                    "message"), "content");
    CHECK_STR (json_string_value (msg), "Hi there");
    CHECK_INT (json_integer_value (json_object_get (json_object_get (root, "usage"), "total_tokens")), 6);
    json_decref (root);
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 2);
    CHECK_INT (gw_server_usage_pending (rig->gw), 0);
    s_http_destroy (&h);
}

static void
s_test_stream (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    s_chunk (rig, rig->submit_id, 0, "One");
    s_chunk (rig, rig->submit_id, 1, " two");
    s_chunk (rig, rig->submit_id, 2, " three");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_NONE, "length", 4, 3);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"content\":\" three\""));
    CHECK (h->resp && strstr (h->resp, "\"finish_reason\":\"length\""));
    size_t n = h->resp? strlen (h->resp): 0;
    CHECK (n > 14 && !strcmp (h->resp + n - 14, "data: [DONE]\n\n"));
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 3);
    s_http_destroy (&h);
}

//  The quota-enforcer refuses: 429 quota_exceeded, nothing submitted or settled.
static void
s_test_quota_refused (s_rig_t *rig)
{
    rig->quota_mode = Q_REFUSE;
    int submits = rig->submits, settles = rig->settles;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    s_finish (rig, h);
    char code [64];
    CHECK_INT (h->status, 429);
    CHECK_STR (s_error_code (h->resp, code, sizeof code), "quota_exceeded");
    CHECK_INT (rig->submits, submits);
    CHECK_INT (rig->settles, settles);
    rig->quota_mode = Q_GRANT;
    s_http_destroy (&h);
}

//  The scheduler refuses: 429, and the reservation is released (Settle refused).
static void
s_test_sched_refused (s_rig_t *rig)
{
    rig->sched_mode = S_REFUSE;
    int settles = rig->settles, events = rig->usage_events, replies = rig->submit_replies;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    s_finish (rig, h);
    CHECK (s_until_count (rig, &rig->settles, settles + 1));
    s_pump (rig, 50, NULL);
    char code [64];
    CHECK_INT (h->status, 429);
    CHECK_STR (s_error_code (h->resp, code, sizeof code), "concurrency_limit_exceeded");
    CHECK_INT (rig->settles, settles + 1);
    CHECK (rig->settle_refused);
    CHECK_INT (rig->settle_used, 0);
    CHECK_INT (rig->usage_events, events);         //  refusals are not billed
    CHECK_INT (rig->submit_replies, replies + 1);
    rig->sched_mode = S_ACCEPT;
    s_http_destroy (&h);
}

//  A silent quota-enforcer: 503 after the service timeout; the possible
//  reservation is released.
static void
s_test_quota_silent (s_rig_t *rig)
{
    rig->quota_mode = Q_SILENT;
    int settles = rig->settles;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    s_finish (rig, h);
    CHECK (s_until_count (rig, &rig->settles, settles + 1));
    char code [64];
    CHECK_INT (h->status, 503);
    CHECK_STR (s_error_code (h->resp, code, sizeof code), "service_unavailable");
    CHECK_INT (rig->settles, settles + 1);
    CHECK (rig->settle_refused);
    rig->quota_mode = Q_GRANT;
    s_http_destroy (&h);
}

//  A silent scheduler (down: no Catalog either): 503 after the service
//  timeout, the job is cancelled in case it was queued, and the reservation
//  released.
static void
s_test_sched_silent (s_rig_t *rig)
{
    rig->sched_mode = S_SILENT;
    int settles = rig->settles, cancels = rig->cancels;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    s_finish (rig, h);
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    CHECK (s_until_count (rig, &rig->settles, settles + 1));
    CHECK_INT (h->status, 503);
    CHECK (h->resp && strstr (h->resp, "The scheduler did not answer in time."));
    CHECK_INT (rig->cancels, cancels + 1);
    CHECK_INT (rig->settles, settles + 1);
    CHECK (rig->settle_refused);
    rig->sched_mode = S_ACCEPT;
    s_http_destroy (&h);
}

//  A client that hangs up while its Submit is not confirmed yet (the
//  scheduler says nothing): its job is cancelled at once, not at the service
//  timeout; the reservation is released at that timeout as for any Submit
//  never confirmed.
static void
s_test_cancel_unconfirmed (s_rig_t *rig)
{
    rig->sched_mode = S_SILENT;
    int before = rig->submits, cancels = rig->cancels, settles = rig->settles;
    s_http_t *h = (s_http_t *) calloc (1, sizeof (s_http_t));
    assert (h);
    snprintf (h->url, sizeof h->url, "http://127.0.0.1:%d/v1/chat/completions",
              gw_server_http_port (rig->gw));
    h->body = CHAT (5, false);
    h->timeout_ms = 300;
    atomic_init (&h->done, false);
    int rc = pthread_create (&h->thread, NULL, s_http_thread, h);
    assert (rc == 0);
    CHECK (s_until_submit (rig, before));
    uint64_t submitted = mt_mono_ms ();
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    uint64_t took = mt_mono_ms () - submitted;
    CHECK_MSG (rig->settles == settles, "cancelled only at the service timeout (%llu ms)",
               (unsigned long long) took);
    s_finish (rig, h);
    CHECK (s_until_count (rig, &rig->settles, settles + 1));   //  the service timeout
    CHECK (rig->settle_refused);
    CHECK_INT (rig->cancels, cancels + 1);
    rig->sched_mode = S_ACCEPT;
    s_http_destroy (&h);
}

//  An accepted Submit gets no answer: the Catalog answering the next
//  heartbeat confirms it (no token came), so the job is running: past the
//  request timeout (1 s here, less than the service timeout) the client
//  gets the request's timeout, not the scheduler's, and the late JobDone
//  bills it.
static void
s_test_confirmed_by_catalog (s_rig_t *rig)
{
    int before = rig->submits, cancels = rig->cancels, replies = rig->submit_replies;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    CHECK (s_until_confirmed (rig));
    s_finish (rig, h);
    CHECK_INT (h->status, 503);
    CHECK (h->resp && strstr (h->resp, "The request timed out."));
    CHECK_INT (rig->submit_replies, replies);      //  nothing answered the Submit
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    s_done (rig, id, MT__ERROR_CODE__ERR_CANCELLED, "", 4, 0);
    s_check_usage (rig, id, "cancelled", 503, 0, 0);
    s_http_destroy (&h);
}

//  The engine fails: its error status; not streamed, so billed nothing.
static void
s_test_engine_error (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    s_chunk (rig, rig->submit_id, 0, "Par");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_ENGINE, "", 4, 1);
    s_finish (rig, h);
    const mt_error_t *err = mt_error_from_proto (MT__ERROR_CODE__ERR_ENGINE);
    CHECK_INT (h->status, err->status);
    //  Not streamed: the client got an error and no token, so nothing is billed
    s_check_usage (rig, rig->submit_id, "error", err->status, 0, 0);
    s_http_destroy (&h);
}

//  The worker dies mid-stream and reports nothing: billed what reached the
//  client, with the gateway's prompt count.
static void
s_test_worker_lost (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    s_chunk (rig, rig->submit_id, 0, "A");
    s_chunk (rig, rig->submit_id, 1, " b");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_WORKER_LOST, "", 0, 0);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"error\""));
    uint32_t prompt = mt_tokens_count ("hello there", 11);
    s_until_usage (rig, rig->submit_id);
    CHECK (rig->usage && rig->usage->usage_event->prompt_tokens >= prompt);
    if (rig->usage)
        s_check_usage (rig, rig->submit_id, "error", 200, rig->usage->usage_event->prompt_tokens, 2);
    s_http_destroy (&h);
}

//  A job past the request timeout: the client gets 503, the job is
//  cancelled, and its late JobDone bills it as cancelled.
static void
s_test_request_timeout (s_rig_t *rig)
{
    int before = rig->submits, cancels = rig->cancels;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    s_chunk (rig, id, 0, "Slow");
    s_finish (rig, h);
    char code [64];
    CHECK_INT (h->status, 503);
    CHECK_STR (s_error_code (h->resp, code, sizeof code), "service_unavailable");
    //  The Cancel and the 503 leave in one step on different sockets: the
    //  503 can be read first
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    CHECK_INT (rig->cancels, cancels + 1);
    s_done (rig, id, MT__ERROR_CODE__ERR_CANCELLED, "", 4, 1);
    s_check_usage (rig, id, "cancelled", 503, 0, 0);      //  the client got a 503
    s_http_destroy (&h);
}

//  The worker of a non-streamed job dies after it generated some tokens:
//  the client saw nothing, so the job is submitted again (requeue, a fresh
//  reply token); what the lost attempt still sends is dropped, and the
//  client gets the second attempt's whole answer, billed once.
static void
s_test_requeue_worker_lost (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    CHECK (!rig->submit_requeue);
    char id [64], first [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (first, sizeof first, "%s", rig->reply_token);
    s_chunk (rig, id, 0, "Lost");
    s_pump (rig, 50, NULL);
    s_sched_done (rig, id, MT__ERROR_CODE__ERR_WORKER_LOST);
    CHECK (s_until_submit (rig, before + 1));
    CHECK_STR (rig->submit_id, id);
    CHECK (rig->submit_requeue);
    CHECK_INT (strlen (rig->reply_token), 32);
    CHECK (strcmp (rig->reply_token, first) != 0);
    CHECK (!atomic_load (&h->done));            //  the client only waits longer
    char second [64];
    snprintf (second, sizeof second, "%s", rig->reply_token);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", first);
    s_chunk (rig, id, 1, " stale");             //  the lost attempt: dropped
    s_done (rig, id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 2);
    s_pump (rig, 100, NULL);
    CHECK (!atomic_load (&h->done));
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", second);
    s_chunk (rig, id, 0, "Found");
    s_end_ok (rig, h, id, "\"Found\"");
    CHECK (h->resp && !strstr (h->resp, "Lost") && !strstr (h->resp, "stale"));
    CHECK_INT (rig->usage_of_last, 1);
    s_http_destroy (&h);
}

//  A stream whose job is lost before its first token: submitted again, the
//  client sees one clean stream. A second loss fails it (once only).
static void
s_test_requeue_stream (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    s_sched_done (rig, id, MT__ERROR_CODE__ERR_WORKER_LOST);
    CHECK (s_until_submit (rig, before + 1));
    CHECK (rig->submit_requeue);
    s_chunk (rig, id, 0, "Whole");
    s_end_ok (rig, h, id, "\"Whole\"");
    s_http_destroy (&h);

    //  Lost twice: the second loss is the client's error, billed nothing
    before = rig->submits;
    h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    snprintf (id, sizeof id, "%s", rig->submit_id);
    s_sched_done (rig, id, MT__ERROR_CODE__ERR_WORKER_LOST);
    CHECK (s_until_submit (rig, before + 1));
    s_sched_done (rig, id, MT__ERROR_CODE__ERR_WORKER_LOST);
    s_finish (rig, h);
    CHECK_INT (rig->submits, before + 2);
    const mt_error_t *err = mt_error_from_proto (MT__ERROR_CODE__ERR_WORKER_LOST);
    CHECK_INT (h->status, err->status);
    s_check_usage (rig, id, "error", err->status, 0, 0);
    s_http_destroy (&h);
}

//  A worker whose engine is down hands the job back (ERR_UNAVAILABLE): it is
//  queued again, not failed.
static void
s_test_requeue_handed_back (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    s_done (rig, id, MT__ERROR_CODE__ERR_UNAVAILABLE, "", 0, 0);
    CHECK (s_until_submit (rig, before + 1));
    CHECK (rig->submit_requeue);
    s_chunk (rig, id, 0, "Served");
    s_end_ok (rig, h, id, NULL);
    s_http_destroy (&h);
}

//  The scheduler restarts (its Catalog names another instance): an accepted
//  job (confirmed by the old instance's Catalog) that has not started is
//  submitted again. Its first attempt (started
//  by the dead scheduler) answers first: the client gets that one, and the
//  second attempt is cancelled by its token. A job that streams already is
//  left alone.
static void
s_test_scheduler_restart (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    char id [64], first [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (first, sizeof first, "%s", rig->reply_token);
    CHECK (s_until_confirmed (rig));
    s_http_t *h2 = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before + 1));
    char id2 [64], token2 [64];
    snprintf (id2, sizeof id2, "%s", rig->submit_id);
    snprintf (token2, sizeof token2, "%s", rig->reply_token);
    s_chunk (rig, id2, 0, "Running");           //  started: stays with its worker
    s_pump (rig, 20, NULL);
    snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-b");
    int cancels = rig->cancels;                 //  the next heartbeat's answer names it
    CHECK (s_until_submit (rig, before + 2));
    s_pump (rig, 50, NULL);
    CHECK_INT (rig->submits, before + 3);       //  that one only
    CHECK_STR (rig->submit_id, id);
    CHECK (rig->submit_requeue);
    char second [64];
    snprintf (second, sizeof second, "%s", rig->reply_token);
    CHECK (strcmp (second, first) != 0);
    //  The first attempt speaks first: it is kept, the second cancelled
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", first);
    s_chunk (rig, id, 0, "First");
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    CHECK_STR (rig->cancel_token, second);
    s_end_ok (rig, h, id, "\"First\"");
    //  The second attempt's end (cancelled) is dropped: nothing billed twice
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", second);
    s_done (rig, id, MT__ERROR_CODE__ERR_CANCELLED, "", 4, 0);
    s_pump (rig, 50, NULL);
    CHECK_INT (rig->usage_of_last, 1);
    s_http_destroy (&h);
    //  The running one finishes normally, under its first token
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", token2);
    s_chunk (rig, id2, 1, " on");
    s_done (rig, id2, MT__ERROR_CODE__ERR_NONE, "stop", 4, 2);
    s_finish (rig, h2);
    CHECK_INT (h2->status, 200);
    CHECK (h2->resp && strstr (h2->resp, "\"Running\"") && strstr (h2->resp, "\" on\"")
           && !strstr (h2->resp, "\"error\""));
    s_check_usage (rig, id2, "ok", 200, 4, 2);
    s_http_destroy (&h2);
}

//  Submits not confirmed yet when another instance answers: by when they
//  were sent. (1) Queued before the heartbeat ahead of the new instance's
//  first: they went to the dead one; submitted again (requeue, a fresh
//  token), and the old attempt's first token still counts. (2) Sent just
//  before the new instance's first heartbeat: it may hold it; submitted
//  again, only the new attempt counts, and a refusal of the old attempt
//  is dropped. (3) Sent after that heartbeat: it went to the new instance:
//  not sent again, its next Catalog confirms it.
static void
s_test_restart_unconfirmed (s_rig_t *rig)
{
    //  (1) The old instance is down for two heartbeats after the Submit
    int before = rig->submits;
    rig->sched_mode = S_SILENT;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64], token [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (token, sizeof token, "%s", rig->reply_token);
    CHECK (s_until_heartbeat (rig, rig->hb_seq + 2));
    rig->sched_mode = S_ACCEPT;
    snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-c");
    s_send_catalog (rig, rig->hb_seq);
    CHECK (s_until_submit (rig, before + 1));
    CHECK_STR (rig->submit_id, id);
    CHECK (rig->submit_requeue);
    CHECK (strcmp (rig->reply_token, token) != 0);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", token);
    s_chunk (rig, id, 0, "Late");               //  the old attempt ran after all
    s_end_ok (rig, h, id, "\"Late\"");
    s_http_destroy (&h);

    //  (2) The new instance answers the first heartbeat after the Submit
    before = rig->submits;
    rig->sched_mode = S_SILENT;
    h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (token, sizeof token, "%s", rig->reply_token);
    uint64_t end = mt_mono_ms () + 5000;
    while (!rig->hb_after_submit && mt_mono_ms () < end)
        s_pump (rig, 5, NULL);
    CHECK (rig->hb_after_submit > 0);
    rig->sched_mode = S_ACCEPT;
    snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-d");
    s_send_catalog (rig, rig->hb_after_submit);
    CHECK (s_until_submit (rig, before + 1));
    CHECK (rig->submit_requeue);
    char second [64];
    snprintf (second, sizeof second, "%s", rig->reply_token);
    CHECK (strcmp (second, token) != 0);
    s_refuse (rig, id, token);                  //  the new instance refused the old attempt
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", token);
    s_chunk (rig, id, 0, "Old");                //  ... or ran it: not counted either
    s_pump (rig, 100, NULL);
    CHECK (!atomic_load (&h->done));
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", second);
    s_chunk (rig, id, 0, "New");
    s_end_ok (rig, h, id, "\"New\"");
    CHECK (h->resp && !strstr (h->resp, "Old"));
    s_http_destroy (&h);

    //  (3) The new instance answers the heartbeat before the Submit
    before = rig->submits;
    rig->sched_mode = S_SILENT;
    uint64_t ahead = rig->hb_seq;
    h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    snprintf (id, sizeof id, "%s", rig->submit_id);
    if (rig->hb_after_submit == 0) {            //  the heartbeat ahead of it is the last one
        snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-e");
        s_send_catalog (rig, ahead);
        s_pump (rig, 50, NULL);
        CHECK_INT (rig->submits, before + 1);       //  not sent again
        rig->sched_mode = S_ACCEPT;
        CHECK (s_until_confirmed (rig));
        CHECK_INT (rig->submits, before + 1);
    }
    else
        rig->sched_mode = S_ACCEPT;             //  raced a heartbeat: case (3) not shown
    s_chunk (rig, id, 0, "Moved");
    s_end_ok (rig, h, id, "\"Moved\"");
    s_http_destroy (&h);
}

//  Metering does not answer: the event is kept and resent until acknowledged.
static void
s_test_usage_resend (s_rig_t *rig)
{
    rig->ack_usage = false;
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 0);
    s_finish (rig, h);
    s_until_usage (rig, rig->submit_id);
    CHECK_INT (h->status, 200);
    CHECK_INT (gw_server_usage_pending (rig->gw), 1);
    CHECK_INT (rig->usage_of_last, 1);
    rig->ack_usage = true;
    uint64_t end = mt_mono_ms () + 8000;
    while (gw_server_usage_pending (rig->gw) > 0 && mt_mono_ms () < end)
        s_pump (rig, 50, NULL);
    CHECK_INT (gw_server_usage_pending (rig->gw), 0);
    CHECK_INT (rig->usage_of_last, 2);           //  sent, then resent once
    s_http_destroy (&h);
}

//  A Cancel sent while the scheduler is gone reaches it once it is back (it
//  waits in the queue), and the job's late JobDone still settles it (0: the
//  client got a 503).
static void
s_test_cancel_resent (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    CHECK (s_until_confirmed (rig));        //  accepted: it runs, then times out
    char *endpoint = zsock_last_endpoint (rig->sched);
    zsock_destroy (&rig->sched);            //  the scheduler goes away
    zframe_destroy (&rig->sched_peer);
    rig->sched = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (rig->sched, 0);
    //  Not bound yet: pump the gateway alone until the request times out
    uint64_t end = mt_mono_ms () + 5000;
    while (!atomic_load (&h->done) && mt_mono_ms () < end) {
        gw_server_poll (rig->gw, 5);
        s_drain_peer (rig, rig->quota, &rig->quota_peer);
        s_drain_peer (rig, rig->meter, &rig->meter_peer);
    }
    s_finish (rig, h);
    CHECK_INT (h->status, 503);
    int cancels = rig->cancels;
    CHECK (zsock_bind (rig->sched, "%s", endpoint) > 0);      //  back, same endpoint
    end = mt_mono_ms () + 5000;
    while (rig->cancels == cancels && mt_mono_ms () < end)
        s_pump (rig, 20, NULL);
    CHECK_INT (rig->cancels, cancels + 1);
    s_done (rig, id, MT__ERROR_CODE__ERR_CANCELLED, "", 4, 0);
    s_check_usage (rig, id, "cancelled", 503, 0, 0);      //  the client got a 503
    zstr_free (&endpoint);
    s_http_destroy (&h);
}

//  Tokens and a JobDone without the job's reply_token are dropped: only the
//  worker the job went to can stream into it.
static void
s_test_reply_token (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    CHECK_INT (strlen (rig->reply_token), 32);
    char token [64];
    snprintf (token, sizeof token, "%s", rig->reply_token);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", "0123456789abcdef0123456789abcdef");
    s_chunk (rig, rig->submit_id, 0, "Forged");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 1);
    s_pump (rig, 200, NULL);
    CHECK (!atomic_load (&h->done));            //  nothing of it counted
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", token);
    s_chunk (rig, rig->submit_id, 0, "Real");
    s_done (rig, rig->submit_id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 1);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"Real\"") && !strstr (h->resp, "Forged"));
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 1);
    s_http_destroy (&h);
}

//  Garbage from every peer is dropped and the gateway carries on.
static void
s_test_garbage (s_rig_t *rig)
{
    zframe_t *rid = zframe_dup (rig->sched_peer);
    zframe_send (&rid, rig->sched, ZFRAME_MORE);
    zstr_send (rig->sched, "not a protobuf");
    zstr_send (rig->worker, "\xff\xff\xff");
    zstr_sendx (rig->worker, "two", "frames", NULL);
    Mt__Cancel cancel = MT__CANCEL__INIT;       //  a valid envelope of the wrong kind
    cancel.req_id = "x";
    cancel.tenant_id = TENANT;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    mt_codec_send (rig->worker, NULL, &env);
    s_done (rig, "no-such-request", MT__ERROR_CODE__ERR_NONE, "stop", 1, 1);
    s_pump (rig, 100, NULL);
    s_test_ok (rig);
}

//  The quota-enforcer restarts while a stream's answer has begun: the
//  gateway re-announces that reservation (restore, with what it was
//  granted) to the new process, and settles it there at the end.
static void
s_test_quota_restart_reannounce (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    char id [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    s_chunk (rig, id, 0, "Begun");
    s_pump (rig, 20, NULL);
    //  The old process dies; a new one binds the same endpoint
    zsock_destroy (&rig->quota);
    zframe_t *name = rig->quota_peer;               //  the gateway's routing id
    rig->quota_peer = NULL;
    uint64_t down = mt_mono_ms () + 150;            //  the gateway sees it gone
    while (mt_mono_ms () < down)
        gw_server_poll (rig->gw, 2);
    rig->quota = zsock_new (ZMQ_ROUTER);
    assert (rig->quota);
    zsock_set_linger (rig->quota, 0);
    CHECK (zsock_bind (rig->quota, "%s", rig->quota_ep) >= 0);
    int restores = rig->restores;
    uint64_t until = mt_mono_ms () + 3000;
    while (rig->restores == restores && mt_mono_ms () < until)
        s_pump (rig, 5, NULL);
    CHECK_MSG (rig->restores > restores, "no reservation re-announced");
    CHECK_STR (rig->restore_id, id);
    //  The same gateway to the new process: the same routing id
    CHECK (name && rig->quota_peer && zframe_eq (rig->quota_peer, name));
    zframe_destroy (&name);
    CHECK_INT (rig->restore_granted, 5);
    int settles = rig->settles;
    s_done (rig, id, MT__ERROR_CODE__ERR_NONE, "stop", 4, 1);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (s_until_count (rig, &rig->settles, settles + 1));
    CHECK_INT (rig->settle_used, 4 + 1);        //  prompt + what the client received
    s_http_destroy (&h);
}

//  A short answer: the worker's last TokenChunk rides in its JobDone. The
//  client gets the pieces of both, in order, billed once.
static void
s_test_done_tokens (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    s_chunk (rig, rig->submit_id, 0, "Hi");
    char *pieces [] = { " there", "!" };
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.pieces = pieces;
    tail.n_pieces = 2;
    tail.seq = 1;
    s_done_with (rig, rig->submit_id, &tail, "stop", 4, 3);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    json_t *root = h->resp? json_loads (h->resp, 0, NULL): NULL;
    json_t *msg = json_object_get (json_object_get (json_array_get (json_object_get (root, "choices"), 0),
                                                    "message"), "content");
    CHECK_STR (json_string_value (msg), "Hi there!");
    json_decref (root);
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 3);
    CHECK_INT (rig->usage_of_last, 1);
    s_http_destroy (&h);
}

//  A stream whose only tokens come in the JobDone: one content chunk, the
//  finish chunk, [DONE]; a tool call that came whole in the JobDone carries
//  its own finish_reason (no "stop" chunk after it).
static void
s_test_done_tokens_stream (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    char *pieces [] = { "Only", " here" };
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.pieces = pieces;
    tail.n_pieces = 2;
    s_done_with (rig, rig->submit_id, &tail, "stop", 4, 2);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"content\":\"Only here\""));
    CHECK (h->resp && strstr (h->resp, "\"finish_reason\":\"stop\""));
    size_t n = h->resp? strlen (h->resp): 0;
    CHECK (n > 14 && !strcmp (h->resp + n - 14, "data: [DONE]\n\n"));
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 2);
    s_http_destroy (&h);

    before = rig->submits;
    h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    const char *call = "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\","
                       "\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
                       "\"finish_reason\":\"tool_calls\"}";
    Mt__ChoiceDelta delta = MT__CHOICE_DELTA__INIT;
    Mt__ChoiceDelta *deltas [] = { &delta };
    delta.json.data = (uint8_t *) call;
    delta.json.len = strlen (call);
    delta.finish_reason = "tool_calls";
    delta.tokens = 1;
    Mt__TokenChunk rich = MT__TOKEN_CHUNK__INIT;
    rich.choices = deltas;
    rich.n_choices = 1;
    rich.system_fingerprint = "fp_tail";
    s_done_with (rig, rig->submit_id, &rich, "tool_calls", 4, 1);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"call_1\"") && strstr (h->resp, "\"fp_tail\""));
    CHECK (h->resp && strstr (h->resp, "\"finish_reason\":\"tool_calls\""));
    CHECK (h->resp && !strstr (h->resp, "\"finish_reason\":\"stop\""));
    s_check_usage (rig, rig->submit_id, "ok", 200, 4, 1);
    s_http_destroy (&h);
}

//  A JobDone with tokens from an attempt given up on (the job was submitted
//  again: a fresh reply token) is dropped whole: neither its tokens nor its
//  end count. The new attempt's answers, billed once.
static void
s_test_done_tokens_stale (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, false));
    CHECK (s_until_submit (rig, before));
    char id [64], first [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (first, sizeof first, "%s", rig->reply_token);
    s_sched_done (rig, id, MT__ERROR_CODE__ERR_WORKER_LOST);
    CHECK (s_until_submit (rig, before + 1));
    CHECK (rig->submit_requeue);
    char second [64];
    snprintf (second, sizeof second, "%s", rig->reply_token);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", first);
    char *stale [] = { "Stale" };
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.pieces = stale;
    tail.n_pieces = 1;
    s_done_with (rig, id, &tail, "stop", 4, 1);
    s_pump (rig, 100, NULL);
    CHECK (!atomic_load (&h->done));            //  nothing of it counted
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", second);
    char *fresh [] = { "Fresh" };
    tail.pieces = fresh;
    s_done_with (rig, id, &tail, "stop", 4, 1);
    s_finish (rig, h);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"Fresh\"") && !strstr (h->resp, "Stale"));
    s_check_usage (rig, id, "ok", 200, 4, 1);
    CHECK_INT (rig->usage_of_last, 1);
    s_http_destroy (&h);
}

//  After a scheduler restart two attempts may run: a JobDone with tokens is
//  a first token too. The first attempt's comes first: the client gets it,
//  the second attempt is cancelled, and its end is dropped.
static void
s_test_done_tokens_first_attempt (s_rig_t *rig)
{
    int before = rig->submits;
    s_http_t *h = s_http_start (rig, "/v1/chat/completions", CHAT (5, true));
    CHECK (s_until_submit (rig, before));
    char id [64], first [64];
    snprintf (id, sizeof id, "%s", rig->submit_id);
    snprintf (first, sizeof first, "%s", rig->reply_token);
    CHECK (s_until_confirmed (rig));
    snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-f");
    int cancels = rig->cancels;
    s_send_catalog (rig, rig->hb_seq);          //  at once: the request times out in 1 s
    CHECK (s_until_submit (rig, before + 1));
    CHECK (rig->submit_requeue);
    char second [64];
    snprintf (second, sizeof second, "%s", rig->reply_token);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", first);
    char *pieces [] = { "Early" };
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.pieces = pieces;
    tail.n_pieces = 1;
    s_done_with (rig, id, &tail, "stop", 4, 1);
    s_finish (rig, h);
    CHECK (s_until_count (rig, &rig->cancels, cancels + 1));
    CHECK_STR (rig->cancel_token, second);
    CHECK_INT (h->status, 200);
    CHECK (h->resp && strstr (h->resp, "\"Early\"") && !strstr (h->resp, "\"error\""));
    s_check_usage (rig, id, "ok", 200, 4, 1);
    snprintf (rig->reply_token, sizeof rig->reply_token, "%s", second);
    s_done (rig, id, MT__ERROR_CODE__ERR_CANCELLED, "", 4, 0);
    s_pump (rig, 50, NULL);
    CHECK_INT (rig->usage_of_last, 1);
    s_http_destroy (&h);
}

static zsock_t *
s_router (void)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    assert (sock);
    zsock_set_linger (sock, 0);
    int port = zsock_bind (sock, "tcp://127.0.0.1:*");
    assert (port > 0);
    return sock;
}

//  Fake peers on fresh ports, and a gateway of that config in front of
//  them (config is borrowed: it outlives the gateway); its first heartbeat
//  answered. False when it did not start (checked).
static bool
s_rig_open (s_rig_t *rig, gw_server_config_t *config)
{
    snprintf (rig->sched_id, sizeof rig->sched_id, "%s", "instance-a");
    rig->quota = s_router ();
    rig->sched = s_router ();
    rig->meter = s_router ();
    rig->ack_usage = true;
    char *quota_ep = zsock_last_endpoint (rig->quota);
    snprintf (rig->quota_ep, sizeof rig->quota_ep, "%s", quota_ep);
    zstr_free (&quota_ep);
    rig->sched_ep = zsock_last_endpoint (rig->sched);
    rig->meter_ep = zsock_last_endpoint (rig->meter);
    config->scheduler = rig->sched_ep;
    config->quota = rig->quota_ep;
    config->metering = rig->meter_ep;
    mt_test_case ("gateway starts without a database");
    rig->gw = gw_server_new (config);
    CHECK (rig->gw != NULL);
    if (!rig->gw)
        return false;
    CHECK (gw_server_http_port (rig->gw) > 0);
    CHECK (!strncmp (gw_server_token_endpoint (rig->gw), "tcp://127.0.0.1:", 16));
    gw_cache_t *cache = gw_cache_new ();
    gw_tenant_t tenant = { .id = TENANT, .name = "t", .tier = "pro", .pool = "standard",
                           .weight = 1, .max_concurrent = 4, .daily_tokens = 1000 };
    gw_cache_add_tenant (cache, &tenant);
    char hash [65];
    mt_sha256_hex (KEY, strlen (KEY), hash);
    CHECK_INT (gw_cache_add_key (cache, hash, KEY_ID, TENANT, 0, 0), 0);
    gw_server_set_cache (rig->gw, &cache);
    CHECK (cache == NULL);
    rig->worker = zsock_new_dealer (gw_server_token_endpoint (rig->gw));
    zsock_set_linger (rig->worker, 0);
    uint64_t until = mt_mono_ms () + 5000;      //  heartbeat -> catalog
    while (rig->catalogs == 0 && mt_mono_ms () < until)
        s_pump (rig, 10, NULL);
    s_pump (rig, 50, NULL);
    CHECK (rig->catalogs > 0);
    CHECK (rig->quota_heartbeats > 0);          //  it heartbeats the quota-enforcer too
    //  One routing id on every bus socket, "gw-" and 32 hex digits
    CHECK (rig->sched_peer && rig->quota_peer && zframe_eq (rig->sched_peer, rig->quota_peer));
    CHECK (rig->sched_peer && zframe_size (rig->sched_peer) == 35
           && !memcmp (zframe_data (rig->sched_peer), "gw-", 3));
    return true;
}

//  Stop the gateway (it drains and ends: checked) and the fake peers.
static void
s_rig_close (s_rig_t *rig)
{
    if (rig->gw) {
        mt_test_case ("stop drains and ends");
        gw_server_stop (rig->gw);
        uint64_t end = mt_mono_ms () + 5000;
        bool running = true;
        while (running && mt_mono_ms () < end) {
            running = gw_server_poll (rig->gw, 10);
            s_drain_peer (rig, rig->quota, &rig->quota_peer);
            s_drain_peer (rig, rig->sched, &rig->sched_peer);
            s_drain_peer (rig, rig->meter, &rig->meter_peer);
        }
        CHECK (!running);
        CHECK_INT (gw_server_requests (rig->gw), 0);
        gw_server_destroy (&rig->gw);
        CHECK (rig->gw == NULL);
    }
    mt_codec_free (&rig->usage);
    zframe_destroy (&rig->quota_peer);
    zframe_destroy (&rig->sched_peer);
    zframe_destroy (&rig->meter_peer);
    zsock_destroy (&rig->worker);
    zsock_destroy (&rig->quota);
    zsock_destroy (&rig->sched);
    zsock_destroy (&rig->meter);
    zstr_free (&rig->sched_ep);
    zstr_free (&rig->meter_ep);
}

int
main (void)
{
    mt_log_init ("test_gw_server");
    curl_global_init (CURL_GLOBAL_ALL);
    gw_server_config_t config = {
        .http_bind = "127.0.0.1", .http_port = 0,
        .token_bind = "tcp://127.0.0.1:*", .token_endpoint = "",
        .admin_token = "", .pg_dsn = NULL, .max_body = 65536,
        .service_timeout_ms = 2500, .request_timeout_ms = 1000, .drain_ms = 200,
        .default_max_tokens = 16, .max_connections = 64,
        .max_per_client = 0, .trusted_proxies = "", .header_timeout_ms = 10000,
        .body_timeout_ms = 10000, .idle_timeout_ms = 10000, .auth_fail_burst = 0,
        .auth_fail_interval_ms = 1000,
    };
    s_rig_t rig_s = { 0 }, *rig = &rig_s;
    if (!s_rig_open (rig, &config)) {
        s_rig_close (rig);
        curl_global_cleanup ();
        return mt_test_done ("test_gw_server");
    }
    MT_RUN_ARG (s_test_models, rig);
    MT_RUN_ARG (s_test_ok, rig);
    MT_RUN_ARG (s_test_stream, rig);
    MT_RUN_ARG (s_test_quota_refused, rig);
    MT_RUN_ARG (s_test_sched_refused, rig);
    MT_RUN_ARG (s_test_quota_silent, rig);
    MT_RUN_ARG (s_test_sched_silent, rig);
    MT_RUN_ARG (s_test_confirmed_by_catalog, rig);
    MT_RUN_ARG (s_test_cancel_unconfirmed, rig);
    MT_RUN_ARG (s_test_engine_error, rig);
    MT_RUN_ARG (s_test_worker_lost, rig);
    MT_RUN_ARG (s_test_request_timeout, rig);
    MT_RUN_ARG (s_test_usage_resend, rig);
    MT_RUN_ARG (s_test_cancel_resent, rig);
    MT_RUN_ARG (s_test_reply_token, rig);
    MT_RUN_ARG (s_test_requeue_worker_lost, rig);
    MT_RUN_ARG (s_test_requeue_stream, rig);
    MT_RUN_ARG (s_test_requeue_handed_back, rig);
    MT_RUN_ARG (s_test_scheduler_restart, rig);
    MT_RUN_ARG (s_test_quota_restart_reannounce, rig);
    MT_RUN_ARG (s_test_done_tokens, rig);
    MT_RUN_ARG (s_test_done_tokens_stream, rig);
    MT_RUN_ARG (s_test_done_tokens_stale, rig);
    MT_RUN_ARG (s_test_done_tokens_first_attempt, rig);
    MT_RUN_ARG (s_test_garbage, rig);

    s_rig_close (rig);

    //  A gateway of its own for the restart with unconfirmed Submits: it
    //  waits for two heartbeats after a Submit (up to 2 s: the confirm time
    //  is capped at 1 s), which a 2.5 s service timeout could cut short on a
    //  loaded machine. The same checks, with room to spare.
    gw_server_config_t slow = config;
    slow.service_timeout_ms = 10000;
    s_rig_t rig_u = { 0 };
    if (s_rig_open (&rig_u, &slow))
        MT_RUN_ARG (s_test_restart_unconfirmed, &rig_u);
    s_rig_close (&rig_u);
    curl_global_cleanup ();
    return mt_test_done ("test_gw_server");
}
