//  mt-qe-load: the quota-enforcer's own load generator for `make bench`. One
//  DEALER (a gateway's keys, CURVE as configured) sends Admit for tenants
//  picked round-robin among --tenants, keeps --window admissions in flight,
//  and settles each admitted one at once (admit + settle, as the gateway
//  does). Prints one line:
//    qe-load: admitted=N refused=N seconds=S admits_per_s=R rtt_p50_us=U
//  rtt is the Admit -> AdmitReply round trip, polled as the gateway polls. Bounded by --count and
//  --seconds; exits 1 when nothing was answered.
#include "mt_codec.h"
#include "mt_load.h"
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_util.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static mt_opt_t s_opts [] = {
    { "endpoint", "MT_QE_LOAD_ENDPOINT", MT_OPT_STRING, "tcp://127.0.0.1:5553", 0, 0,
      "the quota-enforcer's ROUTER" },
    { "tenants", "MT_QE_LOAD_TENANTS", MT_OPT_INT, "10000", 1, 10000000, "tenants cycled" },
    { "window", "MT_QE_LOAD_WINDOW", MT_OPT_INT, "256", 1, 100000, "admissions in flight" },
    { "count", "MT_QE_LOAD_COUNT", MT_OPT_INT, "200000", 1, 100000000, "admissions to send" },
    { "seconds", "MT_QE_LOAD_SECONDS", MT_OPT_INT, "10", 1, 3600, "stop after this" },
    MT_CURVE_OPTIONS,
    { NULL }
};

//  This run's request ids: a UUID's length, as the gateway's are (so the
//  messages are the size the stack sends), unique to the run (a second run
//  within the quota-enforcer's memory of settled ids is not all duplicates).
static uint32_t s_run;

static void
s_req_id (char *req, size_t size, uint64_t seq)
{
    snprintf (req, size, "%08" PRIx32 "-0000-4000-8000-%012" PRIu64, s_run, seq);
}

//  The sequence number of a request id of this run; 0 if not one.
static uint64_t
s_req_seq (const char *req)
{
    char mine [48];
    s_req_id (mine, sizeof mine, 0);
    size_t prefix = strlen (mine) - 12;
    return strlen (req) == prefix + 12 && !strncmp (req, mine, prefix)
         ? strtoull (req + prefix, NULL, 10): 0;
}

static int
s_send_admit (zsock_t *sock, uint64_t seq, size_t tenants)
{
    char req [48], tenant [48];
    s_req_id (req, sizeof req, seq);
    snprintf (tenant, sizeof tenant, "00000000-0000-4000-8000-%012zu", (size_t) (seq % tenants));
    Mt__Limits limits = MT__LIMITS__INIT;
    limits.requests_per_minute = 1000000000u;
    limits.tokens_per_minute = 1000000000000u;
    limits.daily_tokens = 1000000000000000u;
    Mt__Admit admit = MT__ADMIT__INIT;
    admit.req_id = req;
    admit.tenant_id = tenant;
    admit.prompt_tokens = 10;
    admit.max_tokens = 16;
    admit.limits = &limits;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_ADMIT;
    env.admit = &admit;
    return mt_codec_send (sock, NULL, &env);
}

static void
s_send_settle (zsock_t *sock, const char *req_id, uint64_t seq, size_t tenants)
{
    char tenant [48];
    snprintf (tenant, sizeof tenant, "00000000-0000-4000-8000-%012zu", (size_t) (seq % tenants));
    Mt__Settle settle = MT__SETTLE__INIT;
    settle.req_id = (char *) req_id;
    settle.tenant_id = tenant;
    settle.used_tokens = 20;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SETTLE;
    env.settle = &settle;
    mt_codec_send (sock, NULL, &env);
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("qe-load", s_opts, argc, argv, &rc))
        return rc;
    if (mt_curve_start (s_opts))
        return 2;
    s_run = (uint32_t) getpid () ^ (uint32_t) (mt_mono_us () << 12);
    size_t tenants = (size_t) mt_config_int (s_opts, "tenants");
    uint64_t window = (uint64_t) mt_config_int (s_opts, "window");
    uint64_t count = (uint64_t) mt_config_int (s_opts, "count");
    uint64_t limit_us = (uint64_t) mt_config_int (s_opts, "seconds") * 1000000u;
    zsock_t *sock = mt_codec_socket (ZMQ_DEALER);
    if (!sock || mt_curve_client (sock, MT_ROLE_QUOTA) || mt_load_prepare (sock, "qe-load", NULL))
        return 1;
    if (zsock_connect (sock, "%s", mt_config_str (s_opts, "endpoint")))
        return 1;
    uint64_t *sent_at = calloc (count, sizeof *sent_at);
    uint64_t *rtt = calloc (count, sizeof *rtt);
    if (!sent_at || !rtt)
        return 1;
    //  One admission first, unmeasured: the handshake
    s_send_admit (sock, 0, tenants);
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, 10000) <= 0) {
        fprintf (stderr, "qe-load: no answer from %s\n", mt_config_str (s_opts, "endpoint"));
        return 1;
    }
    Mt__Envelope *first = mt_codec_recv (sock, NULL);
    if (first && first->body_case == MT__ENVELOPE__BODY_ADMIT_REPLY && first->admit_reply->ok)
        s_send_settle (sock, first->admit_reply->req_id, 0, tenants);
    mt_codec_free (&first);

    //  From here on the socket is the codec's alone: polled as the gateway
    //  polls its quota DEALER (mt_codec_poll, not zmq_poll), so the round trip
    //  is the quota-enforcer's and not two more looks at our own mailbox
    mt_codec_poll_own (sock);
    uint64_t next = 1, answered = 0, admitted = 0, refused = 0;
    uint64_t start = mt_mono_us (), now = start;
    while (answered < count && now - start < limit_us && !mt_stopping ()) {
        while (next <= count && next - 1 - answered < window) {
            sent_at [next - 1] = mt_mono_us ();
            if (s_send_admit (sock, next, tenants))
                break;
            next++;
        }
        if (mt_codec_poll (&item, 1, 100) <= 0) {
            now = mt_mono_us ();
            continue;
        }
        Mt__Envelope *env = NULL;
        while (mt_codec_recv_next (sock, NULL, &env)) {
            if (env && env->body_case == MT__ENVELOPE__BODY_ADMIT_REPLY) {
                Mt__AdmitReply *r = env->admit_reply;
                uint64_t seq = s_req_seq (r->req_id);
                if (seq >= 1 && seq <= count)
                    rtt [answered] = mt_mono_us () - sent_at [seq - 1];
                answered++;
                if (r->ok) {
                    admitted++;
                    s_send_settle (sock, r->req_id, seq, tenants);
                }
                else
                    refused++;
            }
            mt_codec_free (&env);
        }
        now = mt_mono_us ();
    }
    double secs = (double) (now - start) / 1e6;
    qsort (rtt, answered, sizeof *rtt, mt_load_cmp_u64);
    printf ("qe-load: admitted=%" PRIu64 " refused=%" PRIu64 " seconds=%.2f admits_per_s=%.0f"
            " rtt_p50_us=%" PRIu64 "\n", admitted, refused, secs,
            secs > 0? (double) answered / secs: 0.0, answered? rtt [answered / 2]: 0);
    free (sent_at);
    free (rtt);
    zsock_destroy (&sock);
    mt_curve_stop ();
    return answered? 0: 1;
}
