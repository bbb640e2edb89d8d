//  Component test of the scheduler and the worker-adapter (simulator) in one
//  thread: both servers bind/connect on 127.0.0.1 ports chosen at run time
//  and a fake gateway (DEALER to the scheduler, ROUTER for token streams)
//  drives them. Checks the message contract: Catalog (echoing the
//  heartbeat's seq), SubmitReply on refusal only (an accepted Submit gets no
//  answer), token stream and JobDone, concurrency refusals, cancels (queued and running),
//  garbage on both ROUTERs, worker loss, one JobDone per accepted job, and
//  a gateway that stops heartbeating: its jobs cancelled or dropped.
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_util.h"
#include "../../services/scheduler/sch_server.h"
#include "../../services/worker-adapter/wa_server.h"

#include <czmq.h>

typedef struct {
    sch_server_t *sch;
    wa_server_t *wa;
    zsock_t *gw;                //  DEALER to the scheduler's gateway ROUTER
    zsock_t *tokens;            //  ROUTER: the gateway's token endpoint
    char *token_endpoint;
    zlistx_t *inbox;            //  Mt__Envelope * from the scheduler (owned)
    zhashx_t *text;             //  req id -> streamed text so far (owned)
    zhashx_t *done;             //  req id -> copy of JobDone (owned, packed Envelope)
    int done_count;             //  JobDone messages received, both sockets
    int chunk_gaps;             //  TokenChunks whose seq did not follow on
    uint64_t hb_seq;            //  the last Heartbeat's seq
} s_rig_t;

static void
s_env_destructor (void **item_p)
{
    mt_codec_free ((Mt__Envelope **) item_p);
}

static void
s_str_destructor (void **item_p)
{
    zstr_free ((char **) item_p);
}

static wa_server_t *
s_worker (s_rig_t *rig, const char *id, uint32_t slots, uint32_t itl_ms)
{
    const char *models [] = { "m1", "m2" };
    wa_server_config_t config = {
        .scheduler = sch_server_worker_endpoint (rig->sch),
        .worker_id = id, .pool = "standard", .models = models, .nmodels = 2,
        .slots = slots, .sim_ttft_ms = 0, .sim_itl_ms = itl_ms, .sim_tokens = 48,
        .ready_interval_ms = 100,
    };
    return wa_server_new (&config);
}

static void
s_on_done (s_rig_t *rig, Mt__Envelope *env)
{
    rig->done_count++;
    Mt__JobDone *d = env->job_done;
    //  Keep the first JobDone per request; later ones count as extras
    if (!zhashx_lookup (rig->done, d->req_id))
        zhashx_insert (rig->done, d->req_id, env);
    else
        mt_codec_free (&env);
}

//  The fake gateway appends a chunk's pieces to the request's text (a gap
//  in seq is counted).
static void
s_add_text (s_rig_t *rig, const char *req_id, Mt__TokenChunk *c)
{
    char *old = (char *) zhashx_lookup (rig->text, req_id);
    uint32_t have = 0;
    size_t len = old? strlen (old): 0;
    if (old)
        have = mt_tokens_count (old, len);
    if (c->seq != have)
        rig->chunk_gaps++;
    size_t add = 0;
    for (size_t i = 0; i < c->n_pieces; i++)
        add += strlen (c->pieces [i]);
    char *text = (char *) malloc (len + add + 1);
    memcpy (text, old? old: "", len);
    for (size_t i = 0; i < c->n_pieces; i++) {
        memcpy (text + len, c->pieces [i], strlen (c->pieces [i]));
        len += strlen (c->pieces [i]);
    }
    text [len] = 0;
    zhashx_update (rig->text, req_id, text);
}

//  Run both servers and the fake gateway for up to ms, or until stop(rig).
static void
s_pump (s_rig_t *rig, int ms, bool (*stop) (s_rig_t *, const void *), const void *arg)
{
    uint64_t end = mt_mono_ms () + (uint64_t) ms;
    while (mt_mono_ms () < end) {
        sch_server_poll (rig->sch, 0);
        if (rig->wa)
            wa_server_poll (rig->wa, 0);
        zmq_pollitem_t items [] = {
            { zsock_resolve (rig->gw), 0, ZMQ_POLLIN, 0 },
            { zsock_resolve (rig->tokens), 0, ZMQ_POLLIN, 0 },
        };
        zmq_poll (items, 2, 1);
        Mt__Envelope *env = NULL;
        while (mt_codec_recv_next (rig->gw, NULL, &env)) {      //  a Batch's items too
            if (!env)
                continue;
            if (env->body_case == MT__ENVELOPE__BODY_JOB_DONE)
                s_on_done (rig, env);
            else
                zlistx_add_end (rig->inbox, env);
        }
        zframe_t *rid = NULL;
        while (mt_codec_recv_next (rig->tokens, &rid, &env)) {
            zframe_destroy (&rid);
            if (!env)
                continue;
            if (env->body_case == MT__ENVELOPE__BODY_TOKEN_CHUNK) {
                s_add_text (rig, env->token_chunk->req_id, env->token_chunk);
                mt_codec_free (&env);
            }
            else
            if (env->body_case == MT__ENVELOPE__BODY_JOB_DONE) {
                //  The last tokens ride in the gateway's JobDone
                if (env->job_done->tokens)
                    s_add_text (rig, env->job_done->req_id, env->job_done->tokens);
                s_on_done (rig, env);
            }
            else
                mt_codec_free (&env);
        }
        if (stop && stop (rig, arg))
            break;
    }
}

static void
s_send (zsock_t *sock, Mt__Envelope *env)
{
    CHECK_INT (mt_codec_send (sock, NULL, env), 0);
}

//  requeue: a job accepted before and lost (its worker died).
static void
s_submit_ex (s_rig_t *rig, const char *req, const char *tenant, const char *model,
             uint32_t max_tokens, uint32_t max_concurrent, bool requeue)
{
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = (char *) req;
    spec.tenant_id = (char *) tenant;
    spec.model = (char *) model;
    spec.pool = "standard";
    spec.prompt = (char *) req;         //  each request its own answer
    spec.prompt_tokens = mt_tokens_count (req, strlen (req));
    spec.max_tokens = max_tokens;
    spec.reply_to = rig->token_endpoint;
    char token [64];
    snprintf (token, sizeof token, "tok-%s", req);
    spec.reply_token = token;
    Mt__Submit submit = MT__SUBMIT__INIT;
    submit.job = &spec;
    submit.weight = 1;
    submit.max_concurrent = max_concurrent;
    submit.requeue = requeue;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT;
    env.submit = &submit;
    s_send (rig->gw, &env);
}

static void
s_submit (s_rig_t *rig, const char *req, const char *tenant, const char *model,
          uint32_t max_tokens, uint32_t max_concurrent)
{
    s_submit_ex (rig, req, tenant, model, max_tokens, max_concurrent, false);
}

static void
s_cancel (s_rig_t *rig, const char *req)
{
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = (char *) req;
    cancel.tenant_id = "";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    s_send (rig->gw, &env);
}

static uint64_t
s_heartbeat (s_rig_t *rig);

//  Keeps heartbeating every 100 ms while waiting for req's JobDone.
static bool
s_until_done_beating (s_rig_t *rig, const void *req)
{
    static uint64_t next = 0;
    if (mt_mono_ms () >= next) {
        s_heartbeat (rig);
        next = mt_mono_ms () + 100;
    }
    return zhashx_lookup (rig->done, (const char *) req) != NULL;
}

static bool
s_until_idle (s_rig_t *rig, const void *arg)
{
    return sch_server_running (rig->sch) == 0 && sch_server_queued (rig->sch) == 0;
}

//  A heartbeat, numbered as the gateway numbers them; returns its seq.
static uint64_t
s_heartbeat (s_rig_t *rig)
{
    Mt__Heartbeat hb = MT__HEARTBEAT__INIT;
    hb.sender = rig->token_endpoint;
    hb.seq = ++rig->hb_seq;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    s_send (rig->gw, &env);
    return hb.seq;
}

//  Take the first message of a kind from the inbox for req (NULL: any).
//  Caller owns.
static Mt__Envelope *
s_take (s_rig_t *rig, int body_case, const char *req)
{
    for (Mt__Envelope *env = (Mt__Envelope *) zlistx_first (rig->inbox); env;
         env = (Mt__Envelope *) zlistx_next (rig->inbox)) {
        if ((int) env->body_case != body_case)
            continue;
        if (req && body_case == MT__ENVELOPE__BODY_SUBMIT_REPLY
        &&  strcmp (env->submit_reply->req_id, req))
            continue;
        return (Mt__Envelope *) zlistx_detach_cur (rig->inbox);
    }
    return NULL;
}

static bool
s_until_reply (s_rig_t *rig, const void *req)
{
    for (Mt__Envelope *env = (Mt__Envelope *) zlistx_first (rig->inbox); env;
         env = (Mt__Envelope *) zlistx_next (rig->inbox))
        if (env->body_case == MT__ENVELOPE__BODY_SUBMIT_REPLY
        &&  !strcmp (env->submit_reply->req_id, (const char *) req))
            return true;
    return false;
}

static bool
s_until_catalog (s_rig_t *rig, const void *arg)
{
    for (Mt__Envelope *env = (Mt__Envelope *) zlistx_first (rig->inbox); env;
         env = (Mt__Envelope *) zlistx_next (rig->inbox))
        if (env->body_case == MT__ENVELOPE__BODY_CATALOG)
            return true;
    return false;
}

//  A Catalog answering the heartbeat of seq *arg (or a later one) came.
static bool
s_until_catalog_seq (s_rig_t *rig, const void *arg)
{
    for (Mt__Envelope *env = (Mt__Envelope *) zlistx_first (rig->inbox); env;
         env = (Mt__Envelope *) zlistx_next (rig->inbox))
        if (env->body_case == MT__ENVELOPE__BODY_CATALOG
        &&  env->catalog->heartbeat_seq >= *(const uint64_t *) arg)
            return true;
    return false;
}

static bool
s_until_done (s_rig_t *rig, const void *req)
{
    return zhashx_lookup (rig->done, (const char *) req) != NULL;
}

static bool
s_until_text (s_rig_t *rig, const void *req)
{
    return zhashx_lookup (rig->text, (const char *) req) != NULL;
}

static bool
s_until_workers (s_rig_t *rig, const void *n)
{
    return sch_server_workers (rig->sch) == *(const uint32_t *) n;
}

static bool
s_until_count (s_rig_t *rig, const void *n)
{
    return rig->done_count >= *(const int *) n;
}

static Mt__SubmitReply *
s_reply_of (s_rig_t *rig, const char *req, Mt__Envelope **env_p)
{
    s_pump (rig, 2000, s_until_reply, req);
    *env_p = s_take (rig, MT__ENVELOPE__BODY_SUBMIT_REPLY, req);
    CHECK_MSG (*env_p != NULL, "no SubmitReply for %s", req);
    return *env_p? (*env_p)->submit_reply: NULL;
}

//  An accepted Submit gets no answer: a heartbeat sent after it is answered
//  by a Catalog echoing its seq, and no SubmitReply for req came before it
//  (the scheduler reads one gateway's messages, and answers, in order).
static bool
s_accepted (s_rig_t *rig, const char *req)
{
    uint64_t seq = s_heartbeat (rig);
    s_pump (rig, 2000, s_until_catalog_seq, &seq);
    bool answered = s_until_catalog_seq (rig, &seq);
    CHECK_MSG (answered, "no Catalog for heartbeat %llu", (unsigned long long) seq);
    bool refused = false;
    for (Mt__Envelope *env = (Mt__Envelope *) zlistx_first (rig->inbox); env;
         env = (Mt__Envelope *) zlistx_next (rig->inbox)) {
        if (env->body_case == MT__ENVELOPE__BODY_SUBMIT_REPLY
        &&  !strcmp (env->submit_reply->req_id, req))
            refused = true;
        if (env->body_case == MT__ENVELOPE__BODY_CATALOG && env->catalog->heartbeat_seq >= seq)
            break;
    }
    //  Done with the Catalogs up to this one
    Mt__Envelope *cat;
    while ((cat = s_take (rig, MT__ENVELOPE__BODY_CATALOG, NULL))) {
        bool last = cat->catalog->heartbeat_seq >= seq;
        mt_codec_free (&cat);
        if (last)
            break;
    }
    CHECK_MSG (!refused, "%s was refused", req);
    return answered && !refused;
}

static Mt__JobDone *
s_done_of (s_rig_t *rig, const char *req, int wait_ms)
{
    s_pump (rig, wait_ms, s_until_done, req);
    Mt__Envelope *env = (Mt__Envelope *) zhashx_lookup (rig->done, req);
    CHECK_MSG (env != NULL, "no JobDone for %s", req);
    return env? env->job_done: NULL;
}

static Mt__Catalog *
s_catalog (s_rig_t *rig, Mt__Envelope **env_p)
{
    s_heartbeat (rig);
    s_pump (rig, 2000, s_until_catalog, NULL);
    *env_p = s_take (rig, MT__ENVELOPE__BODY_CATALOG, NULL);
    CHECK (*env_p != NULL);
    return *env_p? (*env_p)->catalog: NULL;
}

static s_rig_t *
s_rig_new (int gateway_timeout_ms)
{
    s_rig_t *rig = (s_rig_t *) calloc (1, sizeof *rig);
    rig->inbox = zlistx_new ();
    zlistx_set_destructor (rig->inbox, s_env_destructor);
    rig->text = zhashx_new ();
    zhashx_set_destructor (rig->text, s_str_destructor);
    rig->done = zhashx_new ();
    zhashx_set_destructor (rig->done, s_env_destructor);
    sch_server_config_t config = {
        .gateway_bind = "tcp://127.0.0.1:*", .worker_bind = "tcp://127.0.0.1:*",
        .worker_timeout_ms = 2000, .gateway_timeout_ms = gateway_timeout_ms, .queue_max = 10,
    };
    rig->sch = sch_server_new (&config);
    CHECK (rig->sch != NULL);
    rig->gw = zsock_new_dealer (sch_server_gateway_endpoint (rig->sch));
    rig->tokens = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (rig->gw, 0);
    zsock_set_linger (rig->tokens, 0);
    CHECK (zsock_bind (rig->tokens, "tcp://127.0.0.1:*") > 0);
    rig->token_endpoint = zsock_last_endpoint (rig->tokens);
    return rig;
}

static void
s_rig_destroy (s_rig_t **rig_p)
{
    s_rig_t *rig = *rig_p;
    wa_server_destroy (&rig->wa);
    zlistx_destroy (&rig->inbox);
    zhashx_destroy (&rig->text);
    zhashx_destroy (&rig->done);
    zsock_destroy (&rig->gw);
    zsock_destroy (&rig->tokens);
    free (rig->token_endpoint);
    sch_server_destroy (&rig->sch);
    free (rig);
    *rig_p = NULL;
}

//  A gateway that stops heartbeating (killed) while one job of its tenant
//  runs and one waits: the running one is cancelled at the worker (which
//  tells the gateway's token port, if anyone listens), the queued one is
//  dropped, the tenant's leases are free again. A gateway that heartbeats
//  keeps its jobs however long they run.
static void
s_gateway_gone (void)
{
    s_rig_t *rig = s_rig_new (400);
    if (!rig->sch) {
        s_rig_destroy (&rig);
        return;
    }
    rig->wa = s_worker (rig, "w-g", 1, 40);             //  24-48 tokens: 1-2 s
    uint32_t one = 1;
    s_pump (rig, 2000, s_until_workers, &one);
    //  Alive: a job of a heartbeating gateway runs to its end (longer than the timeout)
    s_heartbeat (rig);
    s_submit (rig, "alive-1", "tg", "m1", 0, 2);
    s_pump (rig, 4000, s_until_done_beating, "alive-1");
    Mt__JobDone *done = s_done_of (rig, "alive-1", 10);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);
        CHECK_STR (done->finish_reason, "stop");
    }
    CHECK_INT (sch_server_gateways (rig->sch), 1);
    //  Gone: one running, one queued; then silence
    s_heartbeat (rig);
    s_submit (rig, "gone-1", "tg", "m1", 0, 2);
    s_submit (rig, "gone-2", "tg", "m1", 0, 2);
    s_pump (rig, 2000, s_until_text, "gone-1");
    CHECK_INT (sch_server_running (rig->sch), 1);
    CHECK_INT (sch_server_queued (rig->sch), 1);
    uint64_t t0 = mt_mono_ms ();
    s_pump (rig, 3000, s_until_idle, NULL);
    uint64_t waited = mt_mono_ms () - t0;
    CHECK_INT (sch_server_running (rig->sch), 0);
    CHECK_INT (sch_server_queued (rig->sch), 0);
    CHECK_INT (sch_server_gateways (rig->sch), 0);
    CHECK_MSG (waited < 2000, "the gone gateway's jobs ended after %llu ms",
               (unsigned long long) waited);
    done = s_done_of (rig, "gone-1", 500);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_CANCELLED);
        CHECK (done->completion_tokens < 24);
    }
    CHECK (zhashx_lookup (rig->done, "gone-2") == NULL);   //  dropped: nobody to tell
    CHECK (zhashx_lookup (rig->text, "gone-2") == NULL);   //  never ran
    //  The gateway restarted: a new connection (new routing id); the
    //  tenant's leases are free (max_concurrent 1 admits)
    zsock_destroy (&rig->gw);
    rig->gw = zsock_new_dealer (sch_server_gateway_endpoint (rig->sch));
    zsock_set_linger (rig->gw, 0);
    s_heartbeat (rig);
    s_submit (rig, "again-1", "tg", "m1", 3, 1);
    CHECK (s_accepted (rig, "again-1"));
    done = s_done_of (rig, "again-1", 2000);
    if (done)
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);
    CHECK_INT (sch_server_gateways (rig->sch), 1);
    s_rig_destroy (&rig);
}

//  A gateway's bus socket with a routing id of its own (as the gateway names
//  its sockets, once per process).
static zsock_t *
s_named_dealer (s_rig_t *rig, const char *name)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert (sock);
    zsock_set_linger (sock, 0);
    int rc = zmq_setsockopt (zsock_resolve (sock), ZMQ_ROUTING_ID, name, strlen (name));
    assert (rc == 0);
    rc = zsock_connect (sock, "%s", sch_server_gateway_endpoint (rig->sch));
    assert (rc == 0);
    return sock;
}

//  A live gateway whose connection breaks and comes back keeps its jobs: it
//  connects again with the same routing id, so the scheduler sees the same
//  gateway, not a gone one (with a new id the job is cancelled at 400 ms).
static void
s_gateway_reconnect (void)
{
    s_rig_t *rig = s_rig_new (400);
    if (!rig->sch) {
        s_rig_destroy (&rig);
        return;
    }
    zsock_destroy (&rig->gw);
    rig->gw = s_named_dealer (rig, "gw-reconnects");
    rig->wa = s_worker (rig, "w-r", 1, 40);             //  24-48 tokens: 1-2 s
    uint32_t one = 1;
    s_pump (rig, 2000, s_until_workers, &one);
    s_heartbeat (rig);
    s_submit (rig, "re-1", "tr", "m1", 0, 2);
    s_pump (rig, 2000, s_until_text, "re-1");
    CHECK_INT (sch_server_running (rig->sch), 1);
    //  The connection breaks; the same gateway connects again at once
    zsock_destroy (&rig->gw);
    rig->gw = s_named_dealer (rig, "gw-reconnects");
    s_pump (rig, 4000, s_until_done_beating, "re-1");
    Mt__JobDone *done = s_done_of (rig, "re-1", 10);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);
        CHECK_STR (done->finish_reason, "stop");
    }
    CHECK_INT (sch_server_gateways (rig->sch), 1);
    s_rig_destroy (&rig);
}

int
main (void)
{
    mt_log_init ("test");
    s_rig_t rig = { 0 };
    rig.inbox = zlistx_new ();
    zlistx_set_destructor (rig.inbox, s_env_destructor);
    rig.text = zhashx_new ();
    zhashx_set_destructor (rig.text, s_str_destructor);
    rig.done = zhashx_new ();
    zhashx_set_destructor (rig.done, s_env_destructor);
    sch_server_config_t config = {
        .gateway_bind = "tcp://127.0.0.1:*", .worker_bind = "tcp://127.0.0.1:*",
        .worker_timeout_ms = 400, .gateway_timeout_ms = 600000, .queue_max = 3,
    };
    rig.sch = sch_server_new (&config);
    CHECK (rig.sch != NULL);
    if (!rig.sch)
        return mt_test_done ("test_sch_server");
    rig.gw = zsock_new_dealer (sch_server_gateway_endpoint (rig.sch));
    rig.tokens = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (rig.gw, 0);
    zsock_set_linger (rig.tokens, 0);
    CHECK (zsock_bind (rig.tokens, "tcp://127.0.0.1:*") > 0);
    rig.token_endpoint = zsock_last_endpoint (rig.tokens);
    Mt__Envelope *env = NULL;
    int accepted = 0;

    //  No worker yet: empty catalog, submit refused with no capacity (no
    //  warm-up configured). Catalog and replies name the instance.
    char instance [64] = "";
    Mt__Catalog *cat = s_catalog (&rig, &env);
    if (cat) {
        CHECK_INT (cat->n_pools, 0);
        CHECK_INT (strlen (cat->scheduler_id), 32);
        CHECK (!cat->warming_up);
        snprintf (instance, sizeof instance, "%s", cat->scheduler_id);
    }
    mt_codec_free (&env);
    s_submit (&rig, "r-nocap", "t1", "m1", 0, 5);
    Mt__SubmitReply *reply = s_reply_of (&rig, "r-nocap", &env);
    if (reply) {
        CHECK (!reply->accepted);
        CHECK_INT (reply->code, MT__ERROR_CODE__ERR_NO_CAPACITY);
        CHECK_STR (reply->scheduler_id, instance);
    }
    mt_codec_free (&env);

    //  A worker joins: catalog lists its pool and models
    rig.wa = s_worker (&rig, "w-1", 2, 5);
    uint32_t one = 1;
    s_pump (&rig, 2000, s_until_workers, &one);
    CHECK_INT (sch_server_workers (rig.sch), 1);
    cat = s_catalog (&rig, &env);
    if (cat && cat->n_pools == 1) {
        CHECK_STR (cat->pools [0]->pool, "standard");
        CHECK_INT (cat->pools [0]->n_models, 2);
        if (cat->pools [0]->n_models == 2) {
            CHECK_STR (cat->pools [0]->models [0], "m1");
            CHECK_STR (cat->pools [0]->models [1], "m2");
        }
        CHECK_INT (cat->pools [0]->live_workers, 1);
    }
    else
        CHECK_MSG (false, "catalog without one pool");
    mt_codec_free (&env);

    //  A job streams tokens and ends with an honest JobDone
    s_submit (&rig, "r-1", "t1", "m1", 0, 5);
    CHECK (s_accepted (&rig, "r-1"));
    accepted++;
    Mt__JobDone *done = s_done_of (&rig, "r-1", 3000);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);
        CHECK_STR (done->finish_reason, "stop");
        CHECK_STR (done->worker_id, "w-1");
        CHECK_STR (done->tenant_id, "t1");
        CHECK (done->completion_tokens >= 24 && done->completion_tokens <= 48);
        CHECK_INT (done->prompt_tokens, mt_tokens_count ("r-1", 3));
        const char *text = (const char *) zhashx_lookup (rig.text, "r-1");
        CHECK (text != NULL);
        if (text)
            CHECK_INT (mt_tokens_count (text, strlen (text)), done->completion_tokens);
    }
    //  max_tokens caps the answer: finish_reason length
    s_submit (&rig, "r-cap", "t1", "m2", 3, 5);
    accepted++;
    done = s_done_of (&rig, "r-cap", 3000);
    if (done) {
        CHECK_INT (done->completion_tokens, 3);
        CHECK_STR (done->finish_reason, "length");
    }

    //  Concurrency: the third job of a tenant with max 2 is refused
    s_submit (&rig, "c-1", "t2", "m1", 0, 2);
    s_submit (&rig, "c-2", "t2", "m1", 0, 2);
    s_submit (&rig, "c-3", "t2", "m1", 0, 2);
    accepted += 2;
    reply = s_reply_of (&rig, "c-3", &env);
    if (reply) {
        CHECK (!reply->accepted);
        CHECK_INT (reply->code, MT__ERROR_CODE__ERR_CONCURRENCY);
        CHECK_INT (reply->retry_after_s, 1);
        CHECK_STR (reply->reply_token, "tok-c-3");     //  names the refused attempt
    }
    mt_codec_free (&env);

    //  Both slots busy now (c-1, c-2): a queued job, cancelled, gets JobDone
    //  ERR_CANCELLED from the scheduler
    s_submit (&rig, "q-1", "t3", "m1", 0, 5);
    CHECK (s_accepted (&rig, "q-1"));
    accepted++;
    CHECK_INT (sch_server_queued (rig.sch), 1);
    //  The same attempt again: accepted again, silently, nothing changes
    s_submit (&rig, "q-1", "t3", "m1", 0, 5);
    CHECK (s_accepted (&rig, "q-1"));
    CHECK_INT (sch_server_queued (rig.sch), 1);
    s_cancel (&rig, "q-1");
    done = s_done_of (&rig, "q-1", 1000);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_CANCELLED);
        CHECK_INT (done->completion_tokens, 0);
        CHECK_STR (done->tenant_id, "t3");
    }
    CHECK (zhashx_lookup (rig.text, "q-1") == NULL);
    //  Running job cancelled mid-stream: tokens so far
    s_pump (&rig, 3000, s_until_text, "c-1");
    s_cancel (&rig, "c-1");
    done = s_done_of (&rig, "c-1", 1000);
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_CANCELLED);
        CHECK_STR (done->finish_reason, "");
        const char *text = (const char *) zhashx_lookup (rig.text, "c-1");
        CHECK (done->completion_tokens >= 1 && done->completion_tokens < 48);
        if (text)
            CHECK_INT (mt_tokens_count (text, strlen (text)), done->completion_tokens);
    }
    done = s_done_of (&rig, "c-2", 3000);
    //  Leases were released: the tenant may run 2 again
    s_submit (&rig, "c-4", "t2", "m1", 0, 2);
    CHECK (s_accepted (&rig, "c-4"));
    accepted++;
    done = s_done_of (&rig, "c-4", 3000);
    //  A requeue (a job lost before it showed anything) is past the limit
    //  its first Submit passed
    s_submit (&rig, "c-5", "t2", "m1", 0, 1);
    s_submit_ex (&rig, "c-lost", "t2", "m1", 0, 1, true);
    CHECK (s_accepted (&rig, "c-lost"));
    accepted += 2;
    done = s_done_of (&rig, "c-5", 3000);
    done = s_done_of (&rig, "c-lost", 3000);
    if (done)
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);

    //  Queue full (queue_max 3): fill both slots, queue 3, the 4th is refused
    const char *fill [] = { "f-1", "f-2", "f-3", "f-4", "f-5" };
    for (int i = 0; i < 5; i++)
        s_submit (&rig, fill [i], "t4", "m1", 0, 100);
    accepted += 5;
    s_submit (&rig, "f-6", "t4", "m1", 0, 100);
    reply = s_reply_of (&rig, "f-6", &env);
    if (reply) {
        CHECK (!reply->accepted);
        CHECK_INT (reply->code, MT__ERROR_CODE__ERR_NO_CAPACITY);
    }
    mt_codec_free (&env);

    //  Garbage on both ROUTERs: logged, dropped, service carries on
    zsock_t *junk = zsock_new_dealer (sch_server_worker_endpoint (rig.sch));
    zstr_send (junk, "garbage on the wire");
    zstr_sendx (junk, "two", "frames", NULL);
    zstr_send (rig.gw, "\xff\xff\xff\xff");
    zstr_sendx (rig.gw, "two", "frames", NULL);
    s_pump (&rig, 100, NULL, NULL);
    zsock_destroy (&junk);
    cat = s_catalog (&rig, &env);
    CHECK (cat != NULL);
    mt_codec_free (&env);
    int want = accepted;
    s_pump (&rig, 5000, s_until_count, &want);
    for (int i = 0; i < 5; i++) {
        done = s_done_of (&rig, fill [i], 100);
        if (done)
            CHECK_INT (done->error, MT__ERROR_CODE__ERR_NONE);
    }

    //  Worker loss: a running job ends with ERR_WORKER_LOST; the queued job
    //  of a model nobody serves any more is not left hanging
    s_submit (&rig, "l-1", "t5", "m1", 0, 5);
    s_submit (&rig, "l-2", "t5", "m1", 0, 5);
    s_submit (&rig, "l-3", "t5", "m1", 0, 5);
    accepted += 3;
    s_pump (&rig, 2000, s_until_text, "l-1");
    wa_server_destroy (&rig.wa);
    uint64_t t0 = mt_mono_ms ();
    done = s_done_of (&rig, "l-1", 2000);
    uint64_t waited = mt_mono_ms () - t0;
    if (done) {
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_WORKER_LOST);
        CHECK_STR (done->error_message, "worker lost");
        CHECK_MSG (waited < 1000, "worker loss took %llu ms", (unsigned long long) waited);
    }
    done = s_done_of (&rig, "l-3", 1000);
    if (done)
        CHECK_INT (done->error, MT__ERROR_CODE__ERR_NO_CAPACITY);
    CHECK_INT (sch_server_workers (rig.sch), 0);
    CHECK_INT (sch_server_queued (rig.sch), 0);
    CHECK_INT (sch_server_running (rig.sch), 0);
    //  Exactly one JobDone per accepted job, streams in order
    s_pump (&rig, 200, NULL, NULL);
    CHECK_INT (rig.done_count, accepted);
    CHECK_INT (zhashx_size (rig.done), accepted);
    CHECK_INT (rig.chunk_gaps, 0);

    zlistx_destroy (&rig.inbox);
    zhashx_destroy (&rig.text);
    zhashx_destroy (&rig.done);
    zsock_destroy (&rig.gw);
    zsock_destroy (&rig.tokens);
    free (rig.token_endpoint);
    sch_server_destroy (&rig.sch);
    MT_RUN (s_gateway_gone);
    MT_RUN (s_gateway_reconnect);
    return mt_test_done ("test_sch_server");
}
