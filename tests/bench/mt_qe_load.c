//  mt-qe-load: the quota-enforcer's own load generator for `make bench`. One
//  DEALER (a gateway's keys, CURVE as configured) sends Admit for tenants
//  picked round-robin among --tenants, keeps --window admissions in flight,
//  and settles each admitted one at once (admit + settle, as the gateway
//  does). Prints one line:
//    qe-load: admitted=N refused=N seconds=S admits_per_s=R rtt_p50_us=U
//             [echo_answered=N echo_per_s=R echo_rtt_p50_us=U rtt_over_echo=X]
//  rtt is the Admit -> AdmitReply round trip, polled as the gateway polls.
//  --batch=1 (default) sends as the gateway now does: Admits and Settles
//  held in the codec and sent as one Batch at the poll; --batch=0 the old
//  path, one message each at once (the echo peer is always one message each).
//  With --baseline-count, the same round trip to a bare-libzmq echo peer
//  (s_echo_run: same transport, CURVE setting and messages) is measured too,
//  in turns with the quota-enforcer (half of each, twice), and the ratio of
//  the two medians printed. Bounded by --count and --seconds; exits 1 when
//  nothing was answered.
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
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static mt_opt_t s_opts [] = {
    { "endpoint", "MT_QE_LOAD_ENDPOINT", MT_OPT_STRING, "tcp://127.0.0.1:5553", 0, 0,
      "the quota-enforcer's ROUTER" },
    { "tenants", "MT_QE_LOAD_TENANTS", MT_OPT_INT, "10000", 1, 10000000, "tenants cycled" },
    { "window", "MT_QE_LOAD_WINDOW", MT_OPT_INT, "256", 1, 100000, "admissions in flight" },
    { "count", "MT_QE_LOAD_COUNT", MT_OPT_INT, "200000", 1, 100000000, "admissions to send" },
    { "seconds", "MT_QE_LOAD_SECONDS", MT_OPT_INT, "10", 1, 3600, "stop after this" },
    { "baseline-count", "MT_QE_LOAD_BASELINE_COUNT", MT_OPT_INT, "0", 0, 100000000,
      "round trips to a bare-libzmq echo peer as well (0: none)" },
    { "batch", "MT_QE_LOAD_BATCH", MT_OPT_BOOL, "1", 0, 0,
      "send as the gateway does: held, one Batch per poll (0: one message each, at once)" },
    MT_CURVE_OPTIONS,
    { NULL }
};

static bool s_later;                //  hold and batch (--batch), else send at once

static int
s_send (zsock_t *sock, const Mt__Envelope *env)
{
    return s_later? mt_codec_send_later (sock, NULL, env, NULL): mt_codec_send (sock, NULL, env);
}

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
    return s_send (sock, &env);
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
    s_send (sock, &env);
}

//  The bare-libzmq floor: a child process with one ROUTER and libzmq alone
//  (no czmq, no codec, no decoding) that sends every Admit straight back to
//  its sender and drops every Settle, by the first byte of the frame (the
//  Envelope's field tag). Same transport, same CURVE setting, the same
//  messages one way and one of their size back: the round trip that libzmq
//  itself costs on this machine, to which the quota-enforcer's is a ratio.
#define S_TAG_ADMIT ((10 << 3) | 2)

static void
s_echo_run (int out_fd, const char *secret)
{
    void *ctx = zmq_ctx_new ();
    void *sock = ctx? zmq_socket (ctx, ZMQ_ROUTER): NULL;
    if (!sock)
        _exit (1);
    int linger = 0, hwm = 1000000, timeo = 1000, on = 1;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeo, sizeof timeo);
    if (secret && (zmq_setsockopt (sock, ZMQ_CURVE_SERVER, &on, sizeof on)
                || zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, secret, strlen (secret))))
        _exit (1);
    char endpoint [256] = "";
    size_t size = sizeof endpoint;
    if (zmq_bind (sock, "tcp://127.0.0.1:*")
    ||  zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, endpoint, &size))
        _exit (1);
    if (write (out_fd, endpoint, strlen (endpoint) + 1) < 0)
        _exit (1);
    close (out_fd);
    pid_t parent = getppid ();
    zmq_msg_t id, body;
    zmq_msg_init (&id);
    zmq_msg_init (&body);
    while (getppid () == parent) {
        if (zmq_msg_recv (&id, sock, 0) == -1)
            continue;                   //  a second without a message: parent alive?
        if (!zmq_msg_more (&id) || zmq_msg_recv (&body, sock, 0) == -1)
            continue;
        const uint8_t *b = (const uint8_t *) zmq_msg_data (&body);
        if (zmq_msg_size (&body) && b [0] == S_TAG_ADMIT
        &&  zmq_msg_send (&id, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) != -1)
            zmq_msg_send (&body, sock, ZMQ_DONTWAIT);
    }
    _exit (0);
}

//  Start the echo peer (before this process has any ZeroMQ context or
//  thread); fills its endpoint and, with CURVE on, its public key (else "").
//  Returns its pid, or -1.
static pid_t
s_echo_start (bool curve, char *endpoint, size_t size, char *public_key)
{
    char secret [41] = "";
    *public_key = 0;
    if (curve && zmq_curve_keypair (public_key, secret))
        return -1;
    int fds [2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        signal (SIGTERM, SIG_DFL);      //  not our handler: a TERM ends it
        signal (SIGINT, SIG_DFL);
        close (fds [0]);
        s_echo_run (fds [1], curve? secret: NULL);
    }
    close (fds [1]);
    ssize_t n = pid > 0? read (fds [0], endpoint, size - 1): -1;
    close (fds [0]);
    if (n <= 0) {
        if (pid > 0)
            kill (pid, SIGKILL);
        return -1;
    }
    endpoint [n] = 0;
    return pid;
}

typedef struct {
    uint64_t answered, admitted, refused, frames;
    double seconds;
    uint64_t rtt_p50_us;
} s_result_t;

//  The req_id and verdict of an answer: an AdmitReply, or the echo peer's
//  Admit sent back (admitted). false for anything else.
static bool
s_answer (const Mt__Envelope *env, const char **req_id, bool *ok)
{
    if (env && env->body_case == MT__ENVELOPE__BODY_ADMIT_REPLY) {
        *req_id = env->admit_reply->req_id;
        *ok = env->admit_reply->ok;
        return true;
    }
    if (env && env->body_case == MT__ENVELOPE__BODY_ADMIT) {
        *req_id = env->admit->req_id;
        *ok = true;
        return true;
    }
    return false;
}

//  Connect a gateway's DEALER to endpoint (with CURVE on, to server_key, or
//  to the quota-enforcer's key when NULL), send one admission unmeasured
//  (the handshake), then keep window in flight until count are answered or
//  limit_us passed. Returns -1 when the first was not answered in 10 s.
static int
s_measure (const char *endpoint, const char *server_key, size_t tenants, uint64_t window,
           uint64_t count, uint64_t limit_us, bool later, s_result_t *out)
{
    memset (out, 0, sizeof *out);
    s_run++;                        //  request ids of its own
    zsock_t *sock = mt_codec_socket (ZMQ_DEALER);
    if (!sock || mt_curve_client (sock, MT_ROLE_QUOTA) || mt_load_prepare (sock, "qe-load", NULL)) {
        zsock_destroy (&sock);
        return -1;
    }
    if (server_key && *server_key)
        zsock_set_curve_serverkey (sock, server_key);
    uint64_t *sent_at = calloc (count, sizeof *sent_at);
    uint64_t *rtt = calloc (count, sizeof *rtt);
    if (!sent_at || !rtt || zsock_connect (sock, "%s", endpoint)) {
        free (sent_at);
        free (rtt);
        zsock_destroy (&sock);
        return -1;
    }
    //  One admission first, unmeasured: the handshake
    s_later = false;
    s_send_admit (sock, 0, tenants);
    zmq_pollitem_t item = { zsock_resolve (sock), 0, ZMQ_POLLIN, 0 };
    const char *req_id;
    bool ok;
    Mt__Envelope *first = NULL;
    if (zmq_poll (&item, 1, 10000) > 0)
        first = mt_codec_recv (sock, NULL);
    if (!first) {
        fprintf (stderr, "qe-load: no answer from %s\n", endpoint);
        free (sent_at);
        free (rtt);
        zsock_destroy (&sock);
        return -1;
    }
    if (s_answer (first, &req_id, &ok) && ok)
        s_send_settle (sock, req_id, 0, tenants);
    mt_codec_free (&first);

    //  From here on the socket is the codec's alone: polled as the gateway
    //  polls its quota DEALER (mt_codec_poll, not zmq_poll), so the round trip
    //  is the quota-enforcer's and not two more looks at our own mailbox
    mt_codec_poll_own (sock);
    s_later = later;
    uint64_t frames = mt_codec_frames ();
    uint64_t next = 1;
    uint64_t start = mt_mono_us (), now = start;
    while (out->answered < count && now - start < limit_us && !mt_stopping ()) {
        while (next <= count && next - 1 - out->answered < window) {
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
            if (s_answer (env, &req_id, &ok)) {
                uint64_t seq = s_req_seq (req_id);
                if (seq >= 1 && seq <= count)
                    rtt [out->answered] = mt_mono_us () - sent_at [seq - 1];
                out->answered++;
                if (ok) {
                    out->admitted++;
                    s_send_settle (sock, req_id, seq, tenants);
                }
                else
                    out->refused++;
            }
            mt_codec_free (&env);
        }
        now = mt_mono_us ();
    }
    mt_codec_flush ();
    out->frames = mt_codec_frames () - frames;
    out->seconds = (double) (now - start) / 1e6;
    qsort (rtt, out->answered, sizeof *rtt, mt_load_cmp_u64);
    out->rtt_p50_us = out->answered? rtt [out->answered / 2]: 0;
    free (sent_at);
    free (rtt);
    mt_codec_close (&sock);
    return 0;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("qe-load", s_opts, argc, argv, &rc))
        return rc;
    //  The echo peer first: forked before any ZeroMQ context or thread
    uint64_t echo_count = (uint64_t) mt_config_int (s_opts, "baseline-count");
    char echo_endpoint [256] = "", echo_key [41] = "";
    pid_t echo = echo_count? s_echo_start (mt_config_int (s_opts, "curve") != 0, echo_endpoint,
                                           sizeof echo_endpoint, echo_key): 0;
    if (echo < 0)
        fprintf (stderr, "qe-load: the echo peer did not start: no baseline\n");
    if (mt_curve_start (s_opts))
        return 2;
    s_run = (uint32_t) getpid () ^ (uint32_t) (mt_mono_us () << 12);
    size_t tenants = (size_t) mt_config_int (s_opts, "tenants");
    uint64_t window = (uint64_t) mt_config_int (s_opts, "window");
    uint64_t count = (uint64_t) mt_config_int (s_opts, "count");
    uint64_t limit_us = (uint64_t) mt_config_int (s_opts, "seconds") * 1000000u;
    //  The floor and the quota-enforcer in turns, half the count each time,
    //  so that what else runs on the machine weighs on both alike
    s_result_t e = { 0 }, q = { 0 }, part;
    uint64_t e_rtt [2] = { 0, 0 }, q_rtt [2] = { 0, 0 };
    for (int half = 0; half < 2; half++) {
        if (echo > 0 && s_measure (echo_endpoint, echo_key, tenants, window,
                                   (echo_count + 1 - (uint64_t) half) / 2, limit_us / 4, false,
                                   &part) == 0) {
            e.answered += part.answered;
            e.seconds += part.seconds;
            e_rtt [half] = part.rtt_p50_us;
        }
        if (s_measure (mt_config_str (s_opts, "endpoint"), NULL, tenants, window,
                       (count + 1 - (uint64_t) half) / 2, limit_us / 2,
                       mt_config_int (s_opts, "batch") != 0, &part))
            break;
        q.answered += part.answered;
        q.admitted += part.admitted;
        q.refused += part.refused;
        q.frames += part.frames;
        q.seconds += part.seconds;
        q_rtt [half] = part.rtt_p50_us;
    }
    if (echo > 0) {
        kill (echo, SIGTERM);
        waitpid (echo, NULL, 0);
    }
    //  The halves' medians, averaged
    q.rtt_p50_us = (q_rtt [0] + q_rtt [1]) / (q_rtt [1]? 2: 1);
    e.rtt_p50_us = (e_rtt [0] + e_rtt [1]) / (e_rtt [1]? 2: 1);
    printf ("qe-load: admitted=%" PRIu64 " refused=%" PRIu64 " seconds=%.2f admits_per_s=%.0f"
            " rtt_p50_us=%" PRIu64, q.admitted, q.refused, q.seconds,
            q.seconds > 0? (double) q.answered / q.seconds: 0.0, q.rtt_p50_us);
    if (e.answered)
        printf (" echo_answered=%" PRIu64 " echo_per_s=%.0f echo_rtt_p50_us=%" PRIu64
                " rtt_over_echo=%.2f", e.answered, e.seconds > 0? (double) e.answered / e.seconds: 0.0,
                e.rtt_p50_us, e.rtt_p50_us? (double) q.rtt_p50_us / (double) e.rtt_p50_us: 0.0);
    printf (" frames_per_admit=%.2f batch=%d\n", q.answered? (double) q.frames / (double) q.answered: 0.0,
            (int) (mt_config_int (s_opts, "batch") != 0));
    mt_curve_stop ();
    return q.answered? 0: 1;
}
