//  mt-intruder: a stray process on the service bus, for the security tests.
//
//    mt-intruder ENDPOINT BODY [CERT SERVER_KEY]
//
//  Connects a DEALER to ENDPOINT (with CERT, a secret certificate file, and
//  SERVER_KEY, the server's Z85 public key: as a CURVE client; without: in
//  the clear), sends one Envelope of kind BODY three times, and waits two
//  seconds for the handshake's outcome and any answer. BODY is one of
//  usage_event, settle, admit, submit, cancel, job, token_chunk,
//  worker_ready, heartbeat, or garbage (raw bytes on a TCP socket, no ZMTP).
//  The Envelope's ids come from MT_INTRUDER_TENANT and MT_INTRUDER_REQ.
//
//  Prints one line: handshake=<succeeded|failed|none> replies=<n>. Exit 0
//  unless the arguments are wrong.
#include "mt_codec.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <netdb.h>
#include <unistd.h>

static Mt__Envelope *
s_envelope (const char *body, const char *tenant, const char *req)
{
    static Mt__Envelope env;
    static Mt__JobSpec spec;
    static Mt__Submit submit;
    static Mt__Job job;
    static Mt__UsageEvent usage;
    static Mt__Settle settle;
    static Mt__Admit admit;
    static Mt__Limits limits;
    static Mt__Cancel cancel;
    static Mt__TokenChunk chunk;
    static Mt__WorkerReady ready;
    static Mt__Heartbeat heartbeat;
    static char *pieces [] = { "stolen", " tokens" };
    static char *models [] = { "sim-small", "sim-large" };
    mt__envelope__init (&env);
    mt__job_spec__init (&spec);
    spec.req_id = (char *) req;
    spec.tenant_id = (char *) tenant;
    spec.model = "sim-small";
    spec.pool = "standard";
    spec.prompt = "exfiltrate";
    spec.max_tokens = 16;
    spec.reply_to = "tcp://127.0.0.1:1";
    if (streq (body, "usage_event")) {
        mt__usage_event__init (&usage);
        usage.event_id = (char *) req;
        usage.tenant_id = (char *) tenant;
        usage.key_id = "";
        usage.model = "sim-small";
        usage.pool = "standard";
        usage.prompt_tokens = 1000000;
        usage.completion_tokens = 1000000;
        usage.status = "ok";
        usage.http_status = 200;
        usage.created_ms = (uint64_t) zclock_time ();
        env.body_case = MT__ENVELOPE__BODY_USAGE_EVENT;
        env.usage_event = &usage;
    }
    else
    if (streq (body, "settle")) {
        mt__settle__init (&settle);
        settle.req_id = (char *) req;
        settle.tenant_id = (char *) tenant;
        settle.used_tokens = 1000000;
        env.body_case = MT__ENVELOPE__BODY_SETTLE;
        env.settle = &settle;
    }
    else
    if (streq (body, "admit")) {
        mt__admit__init (&admit);
        mt__limits__init (&limits);
        limits.daily_tokens = 1;
        admit.req_id = (char *) req;
        admit.tenant_id = (char *) tenant;
        admit.prompt_tokens = 1000000;
        admit.max_tokens = 1000000;
        admit.limits = &limits;
        env.body_case = MT__ENVELOPE__BODY_ADMIT;
        env.admit = &admit;
    }
    else
    if (streq (body, "submit")) {
        mt__submit__init (&submit);
        submit.job = &spec;
        submit.weight = 1000;
        submit.max_concurrent = 1000;
        env.body_case = MT__ENVELOPE__BODY_SUBMIT;
        env.submit = &submit;
    }
    else
    if (streq (body, "job")) {
        mt__job__init (&job);
        job.job = &spec;
        env.body_case = MT__ENVELOPE__BODY_JOB;
        env.job = &job;
    }
    else
    if (streq (body, "cancel")) {
        mt__cancel__init (&cancel);
        cancel.req_id = (char *) req;
        cancel.tenant_id = (char *) tenant;
        env.body_case = MT__ENVELOPE__BODY_CANCEL;
        env.cancel = &cancel;
    }
    else
    if (streq (body, "token_chunk")) {
        mt__token_chunk__init (&chunk);
        chunk.req_id = (char *) req;
        chunk.n_pieces = 2;
        chunk.pieces = pieces;
        env.body_case = MT__ENVELOPE__BODY_TOKEN_CHUNK;
        env.token_chunk = &chunk;
    }
    else
    if (streq (body, "worker_ready")) {
        mt__worker_ready__init (&ready);
        ready.worker_id = "intruder";
        ready.pool = "standard";
        ready.n_models = 2;
        ready.models = models;
        ready.free_slots = 64;
        ready.total_slots = 64;
        env.body_case = MT__ENVELOPE__BODY_WORKER_READY;
        env.worker_ready = &ready;
    }
    else
    if (streq (body, "heartbeat")) {
        mt__heartbeat__init (&heartbeat);
        heartbeat.sender = "tcp://127.0.0.1:1";
        env.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
        env.heartbeat = &heartbeat;
    }
    else
        return NULL;
    return &env;
}

//  Raw garbage on a TCP connection to a tcp://host:port endpoint.
static int
s_garbage (const char *endpoint)
{
    char host [256];
    int port = 0;
    if (sscanf (endpoint, "tcp://%255[^:]:%d", host, &port) != 2)
        return -1;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    if (fd < 0 || inet_pton (AF_INET, host, &sa.sin_addr) != 1
        || connect (fd, (struct sockaddr *) &sa, sizeof sa)) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    uint8_t junk [4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk [i] = (uint8_t) (i * 131 + 7);
    //  A ZMTP-looking greeting first, then noise.
    junk [0] = 0xff;
    junk [9] = 0x7f;
    for (int i = 0; i < 16; i++)
        if (write (fd, junk, sizeof junk) < 0)
            break;
    usleep (200 * 1000);
    close (fd);
    printf ("handshake=none replies=0\n");
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 3 && argc != 5) {
        fprintf (stderr, "usage: mt-intruder ENDPOINT BODY [CERT SERVER_KEY]\n");
        return 2;
    }
    const char *endpoint = argv [1], *body = argv [2];
    if (streq (body, "garbage"))
        return s_garbage (endpoint)? 1: 0;
    const char *tenant = getenv ("MT_INTRUDER_TENANT");
    const char *req = getenv ("MT_INTRUDER_REQ");
    Mt__Envelope *env = s_envelope (body, tenant? tenant: "", req? req: "intruder-req");
    if (!env) {
        fprintf (stderr, "mt-intruder: unknown body %s\n", body);
        return 2;
    }
    zsys_set_logstream (NULL);
    zsock_t *sock = mt_codec_socket (ZMQ_DEALER);
    if (argc == 5) {
        zcert_t *cert = zcert_load (argv [3]);
        if (!cert) {
            fprintf (stderr, "mt-intruder: cannot load %s\n", argv [3]);
            return 2;
        }
        zcert_apply (cert, sock);
        zsock_set_curve_serverkey (sock, argv [4]);
        zcert_destroy (&cert);
    }
    zmq_socket_monitor (zsock_resolve (sock), "inproc://intruder-monitor",
                        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                        | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
    zsock_t *monitor = zsock_new_pair (">inproc://intruder-monitor");
    zsock_connect (sock, "%s", endpoint);
    for (int i = 0; i < 3; i++)
        mt_codec_send (sock, NULL, env);

    const char *handshake = "none";
    int replies = 0;
    zpoller_t *poller = zpoller_new (sock, monitor, NULL);
    //  Up to two seconds for the outcome; then a refusal is final at once,
    //  and answers to an accepted handshake get half a second more.
    int64_t deadline = zclock_mono () + 2000;
    bool settled = false;
    while (zclock_mono () < deadline) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (deadline - zclock_mono ()));
        if (!which)
            break;
        zmsg_t *msg = zmsg_recv (which);
        if (which == monitor && msg && zframe_size (zmsg_first (msg)) >= 2) {
            uint16_t event;
            memcpy (&event, zframe_data (zmsg_first (msg)), 2);
            //  The first outcome counts; a refused client keeps retrying.
            if (streq (handshake, "none"))
                handshake = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED? "succeeded": "failed";
            if (!settled) {
                settled = true;
                deadline = zclock_mono () + (streq (handshake, "failed")? 100: 500);
            }
        }
        else
        if (which == sock && msg)
            replies++;
        zmsg_destroy (&msg);
    }
    printf ("handshake=%s replies=%d\n", handshake, replies);
    zpoller_destroy (&poller);
    zsock_destroy (&monitor);
    zsock_destroy (&sock);
    return 0;
}
