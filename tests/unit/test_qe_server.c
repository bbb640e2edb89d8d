//  Component test of the quota-enforcer's socket side in one thread: the
//  server binds 127.0.0.1 on a port chosen at run time, two DEALERs play two
//  gateway replicas. Checks AdmitReply contents, one authority across
//  replicas, Settle effects, garbage frames and bodies, expiry, and the
//  release of the reservations of a gateway that stops heartbeating.
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_util.h"
#include "../../services/quota-enforcer/qe_server.h"

#include <czmq.h>

#define TENANT "9a4e2c1d-0b7f-4d35-8e21-6c5b4a392817"

static qe_server_t *s_server;

static void
s_admit (zsock_t *gw, const char *req, const char *tenant, uint64_t prompt, uint64_t max,
         const Mt__Limits *limits)
{
    Mt__Admit a = MT__ADMIT__INIT;
    a.req_id = (char *) req;
    a.tenant_id = (char *) tenant;
    a.prompt_tokens = prompt;
    a.max_tokens = max;
    a.limits = (Mt__Limits *) limits;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_ADMIT;
    env.admit = &a;
    CHECK_INT (mt_codec_send (gw, NULL, &env), 0);
}

static void
s_settle (zsock_t *gw, const char *req, uint64_t used, bool refused)
{
    Mt__Settle st = MT__SETTLE__INIT;
    st.req_id = (char *) req;
    st.tenant_id = TENANT;
    st.used_tokens = used;
    st.refused = refused;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SETTLE;
    env.settle = &st;
    CHECK_INT (mt_codec_send (gw, NULL, &env), 0);
}

//  Turn the server until the gateway has a reply (or 2 s pass). Caller owns.
static Mt__Envelope *
s_reply (zsock_t *gw)
{
    uint64_t deadline = mt_mono_ms () + 2000;
    while (mt_mono_ms () < deadline) {
        qe_server_step (s_server, 10);
        Mt__Envelope *env = NULL;
        if (mt_codec_recv_next (gw, NULL, &env))
            return env;
    }
    return NULL;
}

//  Admit and return the reply's fields; ok = -1 when no reply came.
typedef struct {
    int ok;
    int code;
    uint64_t granted;
    uint32_t retry;
    char reset_at [32];
    uint64_t lim_req, rem_req, reset_req, lim_tok, rem_tok, reset_tok;
    char req [64];
} s_answer_t;

static s_answer_t
s_ask (zsock_t *gw, const char *req, uint64_t prompt, uint64_t max, const Mt__Limits *limits)
{
    s_answer_t a;
    memset (&a, 0, sizeof a);
    a.ok = -1;
    s_admit (gw, req, TENANT, prompt, max, limits);
    Mt__Envelope *env = s_reply (gw);
    if (env && env->body_case == MT__ENVELOPE__BODY_ADMIT_REPLY) {
        Mt__AdmitReply *r = env->admit_reply;
        a.ok = r->ok;
        a.code = r->code;
        a.granted = r->granted_tokens;
        a.retry = r->retry_after_s;
        snprintf (a.reset_at, sizeof a.reset_at, "%s", r->reset_at);
        snprintf (a.req, sizeof a.req, "%s", r->req_id);
        a.lim_req = r->limit_requests;
        a.rem_req = r->remaining_requests;
        a.reset_req = r->reset_requests_ms;
        a.lim_tok = r->limit_tokens;
        a.rem_tok = r->remaining_tokens;
        a.reset_tok = r->reset_tokens_ms;
    }
    mt_codec_free (&env);
    return a;
}

static void
s_heartbeat (zsock_t *gw)
{
    Mt__Heartbeat hb = MT__HEARTBEAT__INIT;
    hb.sender = "tcp://127.0.0.1:1";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    CHECK_INT (mt_codec_send (gw, NULL, &env), 0);
}

//  Three gateways each hold 100 of the 300 tokens left today. A stops
//  heartbeating (killed): its reservation is released within the timeout.
//  B never heartbeated (an older gateway): its silence means nothing. C
//  keeps heartbeating: it keeps its reservation.
static void
s_gateway_gone (void)
{
    qe_quota_t *quota = qe_quota_new (600000);
    qe_quota_set_used_today (quota, TENANT, 700, mt_now_ms ());
    s_server = qe_server_new ("tcp://127.0.0.1:*", &quota);
    CHECK (s_server != NULL);
    if (!s_server)
        return;
    qe_server_set_gateway_timeout (s_server, 300);
    const char *endpoint = qe_server_endpoint (s_server);
    zsock_t *gw [3];
    const char *req [3] = { "g-a", "g-b", "g-c" };
    Mt__Limits limits = MT__LIMITS__INIT;
    limits.daily_tokens = 1000;
    for (int i = 0; i < 3; i++) {
        gw [i] = zsock_new_dealer (endpoint);
        if (i != 1)
            s_heartbeat (gw [i]);
        s_answer_t a = s_ask (gw [i], req [i], 0, 100, &limits);
        CHECK_INT (a.ok, 1);
        CHECK_INT (a.granted, 100);
    }
    s_answer_t a = s_ask (gw [1], "g-full", 0, 100, &limits);
    CHECK_INT (a.ok, 0);
    CHECK_INT (a.code, MT__ERROR_CODE__ERR_QUOTA);
    //  A and B silent, C heartbeating, for well past the timeout
    uint64_t deadline = mt_mono_ms () + 1200;
    uint64_t next_beat = 0;
    while (mt_mono_ms () < deadline) {
        if (mt_mono_ms () >= next_beat) {
            s_heartbeat (gw [2]);
            next_beat = mt_mono_ms () + 100;
        }
        qe_server_step (s_server, 20);
    }
    //  Exactly A's 100 are free again: nothing of it was charged
    a = s_ask (gw [1], "g-after", 0, 1000, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 100);
    //  C settles as usual; A's late Settle (it was not dead after all) is charged
    s_settle (gw [2], "g-c", 10, false);
    s_settle (gw [0], "g-a", 50, false);
    a = s_ask (gw [1], "g-last", 0, 1000, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 40);          //  1000 - 700 - 50 - 10 - 100 (b) - 100 (g-after)
    for (int i = 0; i < 3; i++)
        zsock_destroy (&gw [i]);
    qe_server_destroy (&s_server);
}

//  A gateway slow to read (nothing read until the end) is sent every
//  AdmitReply: each reply of its own (one Admit a step), more than
//  libzmq's default queue of 1,000 holds. A ROUTER drops what it cannot
//  queue for a peer without an error; the quota-enforcer's had the default
//  and lost the replies past it. Over inproc the queue is all there is
//  between the two (over TCP the socket buffers add to it).
static void
s_slow_gateway (void)
{
    qe_quota_t *quota = qe_quota_new (600000);
    s_server = qe_server_new ("inproc://qe-slow-gateway", &quota);
    CHECK (s_server != NULL);
    if (!s_server)
        return;
    zsock_t *gw = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (gw, 10);
    CHECK_INT (zsock_connect (gw, "%s", qe_server_endpoint (s_server)), 0);
    Mt__Limits limits = MT__LIMITS__INIT;
    const int n = 3000;
    for (int i = 0; i < n; i++) {
        char req [32];
        snprintf (req, sizeof req, "slow-%d", i);
        s_admit (gw, req, TENANT, 1, 1, &limits);
        qe_server_step (s_server, 0);
    }
    int replies = 0, ok = 0;
    uint64_t quiet_until = mt_mono_ms () + 200;
    while (mt_mono_ms () < quiet_until) {
        qe_server_step (s_server, 1);
        Mt__Envelope *env = NULL;
        while (mt_codec_recv_next (gw, NULL, &env)) {
            if (env && env->body_case == MT__ENVELOPE__BODY_ADMIT_REPLY) {
                replies++;
                ok += env->admit_reply->ok;
            }
            mt_codec_free (&env);
            quiet_until = mt_mono_ms () + 200;
        }
    }
    CHECK_INT (replies, n);
    CHECK_INT (ok, n);
    mt_codec_forget (gw);
    zsock_destroy (&gw);
    qe_server_destroy (&s_server);
}

int
main (void)
{
    mt_log_init ("test_qe_server");
    qe_quota_t *quota = qe_quota_new (1500);
    uint64_t now = mt_now_ms ();
    qe_quota_set_used_today (quota, TENANT, 900, now);     //  as rebuilt from the ledger
    s_server = qe_server_new ("tcp://127.0.0.1:*", &quota);
    CHECK (s_server != NULL);
    CHECK (quota == NULL);
    if (!s_server)
        return mt_test_done ("test_qe_server");
    const char *endpoint = qe_server_endpoint (s_server);
    zsock_t *gw1 = zsock_new_dealer (endpoint);
    zsock_t *gw2 = zsock_new_dealer (endpoint);

    Mt__Limits limits = MT__LIMITS__INIT;
    limits.requests_per_minute = 1000;
    limits.tokens_per_minute = 100000;
    limits.daily_tokens = 1000;

    //  Garbage first: dropped, and the service keeps answering
    zstr_send (gw1, "not a protobuf");
    zstr_sendx (gw1, "two", "frames", NULL);
    zframe_t *junk = zframe_new ("\x0a\xff\xff\xff\xff\x0f", 6);
    zframe_send (&junk, gw1, 0);
    Mt__Envelope env = MT__ENVELOPE__INIT;        //  a valid envelope of the wrong kind
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "x";
    cancel.tenant_id = TENANT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    mt_codec_send (gw1, NULL, &env);

    mt_test_case ("100 left today: grant capped at 100 - prompt");
    s_answer_t a = s_ask (gw1, "a1", 10, 500, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_STR (a.req, "a1");
    CHECK_INT (a.granted, 90);
    CHECK_INT (a.lim_req, 1000);
    CHECK_INT (a.rem_req, 999);
    CHECK_INT (a.lim_tok, 100000);
    CHECK (a.rem_tok <= 100000 - 100);
    CHECK (a.reset_req >= 1 && a.reset_req <= 60000);
    CHECK_INT (a.reset_tok, a.reset_req);

    mt_test_case ("The other replica sees the same authority: nothing left");
    a = s_ask (gw2, "a2", 1, 1, &limits);
    CHECK_INT (a.ok, 0);
    CHECK_INT (a.code, MT__ERROR_CODE__ERR_QUOTA);
    CHECK_INT (strlen (a.reset_at), 20);
    char midnight [21];
    mt_next_midnight_utc (mt_now_ms (), midnight);
    CHECK_STR (a.reset_at, midnight);
    CHECK (a.retry >= 1 && a.retry <= 86400);

    mt_test_case ("Resent Admit from the other replica: same grant, counted once");
    a = s_ask (gw2, "a1", 10, 500, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 90);
    CHECK_INT (a.rem_req, 999);

    mt_test_case ("Settle with 40 used, twice: 60 come back, once");
    s_settle (gw1, "a1", 40, false);
    s_settle (gw2, "a1", 40, false);
    a = s_ask (gw1, "a3", 0, 1000, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 60);

    mt_test_case ("Refused later (e.g. by the scheduler): everything released");
    s_settle (gw1, "a3", 0, true);
    a = s_ask (gw1, "a4", 0, 1000, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 60);

    mt_test_case ("Invalid ids: refused as a bad request, service still answers");
    a = s_ask (gw1, "", 1, 1, &limits);
    CHECK_INT (a.ok, 0);
    CHECK_INT (a.code, MT__ERROR_CODE__ERR_BAD_REQUEST);

    mt_test_case ("No limits message: unlimited");
    a = s_ask (gw1, "u1", 5, 7, NULL);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 7);

    mt_test_case ("a4's reservation expires (TTL 1.5 s): 60 available again");
    uint64_t deadline = mt_mono_ms () + 3000;
    while (mt_mono_ms () < deadline)
        qe_server_step (s_server, 50);
    a = s_ask (gw2, "a5", 0, 1000, &limits);
    CHECK_INT (a.ok, 1);
    CHECK_INT (a.granted, 60);

    zsock_destroy (&gw1);
    zsock_destroy (&gw2);
    qe_server_destroy (&s_server);
    CHECK (s_server == NULL);
    MT_RUN (s_gateway_gone);
    MT_RUN (s_slow_gateway);
    return mt_test_done ("test_qe_server");
}
