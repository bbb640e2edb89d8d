//  mt-sched-load: the scheduler's own load generator for `make bench`. It is
//  a gateway and a worker at once: the worker (a worker's keys) announces
//  --slots slots of model bench-load in pool bench-load; the gateway (a
//  gateway's keys) queues one job for each of --tenants tenants, and submits
//  a tenant's next job when its last one was dispatched, so every tenant
//  stays queued. The worker answers each Job with a JobDone at once. An
//  accepted Submit gets no answer (a SubmitReply comes only on refusal, and
//  is counted): nothing here waits for one. Prints:
//    sched-load: dispatched=N refused=N seconds=S dispatch_per_s=R messages=N
//                msgs_per_dispatch=M
//                frames=N frames_per_dispatch=F batch=B
//  (one line; messages: the Envelopes both sides sent the scheduler and
//  received from it, the scheduler's messages per dispatch; frames: the
//  ZeroMQ messages that carried them, Batches counted once). --batch=1
//  (default) sends as the gateway and the worker now do: held, one Batch a
//  socket per poll; --batch=0 one message each, at once (the old path).
//  Bounded by --count and --seconds; exits 1 when nothing was dispatched.
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

static mt_opt_t s_opts [] = {
    { "gateways", "MT_SCHED_LOAD_GATEWAYS", MT_OPT_STRING, "tcp://127.0.0.1:5550", 0, 0,
      "the scheduler's gateway ROUTER" },
    { "workers", "MT_SCHED_LOAD_WORKERS", MT_OPT_STRING, "tcp://127.0.0.1:5551", 0, 0,
      "the scheduler's worker ROUTER" },
    { "worker-cert", "MT_SCHED_LOAD_WORKER_CERT", MT_OPT_STRING, "", 0, 0,
      "the worker side's secret certificate (CURVE on)" },
    { "tenants", "MT_SCHED_LOAD_TENANTS", MT_OPT_INT, "10000", 1, 1000000, "tenants queued" },
    { "slots", "MT_SCHED_LOAD_SLOTS", MT_OPT_INT, "256", 1, 100000, "the worker's slots" },
    { "count", "MT_SCHED_LOAD_COUNT", MT_OPT_INT, "300000", 1, 100000000, "dispatches" },
    { "seconds", "MT_SCHED_LOAD_SECONDS", MT_OPT_INT, "10", 1, 3600, "stop after this" },
    { "batch", "MT_SCHED_LOAD_BATCH", MT_OPT_BOOL, "1", 0, 0,
      "send as the gateway and worker do: held, one Batch per poll (0: one message each)" },
    MT_CURVE_OPTIONS,
    { NULL }
};

static bool s_later;                //  hold and batch (--batch), else send at once

static int
s_send (zsock_t *sock, const Mt__Envelope *env)
{
    return s_later? mt_codec_send_later (sock, NULL, env, NULL): mt_codec_send (sock, NULL, env);
}

#define S_NAME "bench-load"

static void
s_tenant (char *out, size_t size, uint64_t t)
{
    snprintf (out, size, "00000000-0000-4000-8000-%012" PRIu64, t);
}

static uint64_t s_messages;     //  sent to the scheduler and received from it

static void
s_submit (zsock_t *gw, uint64_t seq, uint64_t tenant_no)
{
    char req [32], tenant [48];
    snprintf (req, sizeof req, "s%" PRIu64 "-%" PRIu64, tenant_no, seq);
    s_tenant (tenant, sizeof tenant, tenant_no);
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = req;
    spec.tenant_id = tenant;
    spec.model = S_NAME;
    spec.pool = S_NAME;
    spec.prompt = "load";
    spec.request_json.data = (uint8_t *) "{}";
    spec.request_json.len = 2;
    spec.max_tokens = 16;
    spec.prompt_tokens = 4;
    spec.reply_to = "tcp://127.0.0.1:1";
    spec.reply_token = "load";
    Mt__Submit submit = MT__SUBMIT__INIT;
    submit.job = &spec;
    submit.weight = 1;
    submit.max_concurrent = 1000;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT;
    env.submit = &submit;
    if (s_send (gw, &env) == 0)
        s_messages++;
}

static void
s_ready (zsock_t *wk, uint32_t slots)
{
    char *models [1] = { S_NAME };
    Mt__WorkerReady ready = MT__WORKER_READY__INIT;
    ready.worker_id = S_NAME;
    ready.pool = S_NAME;
    ready.n_models = 1;
    ready.models = models;
    ready.free_slots = slots;
    ready.total_slots = slots;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_WORKER_READY;
    env.worker_ready = &ready;
    if (mt_codec_send (wk, NULL, &env) == 0)
        s_messages++;
}

//  A DEALER to the scheduler; cert_file, when set, replaces this process's
//  own keys on it (the worker side).
static zsock_t *
s_connect (const char *endpoint, const char *cert_file)
{
    zsock_t *sock = mt_codec_socket (ZMQ_DEALER);
    if (!sock || mt_curve_client (sock, MT_ROLE_SCHEDULER)) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (mt_load_prepare (sock, "sched-load", cert_file)) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_connect (sock, "%s", endpoint))
        zsock_destroy (&sock);
    return sock;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("sched-load", s_opts, argc, argv, &rc))
        return rc;
    if (mt_curve_start (s_opts))
        return 2;
    zsock_t *gw = s_connect (mt_config_str (s_opts, "gateways"), NULL);
    zsock_t *wk = s_connect (mt_config_str (s_opts, "workers"),
                             mt_config_str (s_opts, "worker-cert"));
    if (!gw || !wk)
        return 1;
    uint64_t tenants = (uint64_t) mt_config_int (s_opts, "tenants");
    uint32_t slots = (uint32_t) mt_config_int (s_opts, "slots");
    uint64_t count = (uint64_t) mt_config_int (s_opts, "count");
    uint64_t limit_ms = (uint64_t) mt_config_int (s_opts, "seconds") * 1000u;

    //  The worker first (a submit for a model nobody serves is refused)
    s_ready (wk, slots);
    zclock_sleep (500);
    s_later = mt_config_int (s_opts, "batch") != 0;
    uint64_t seq = 0;
    for (uint64_t t = 0; t < tenants; t++)
        s_submit (gw, seq++, t);

    uint64_t dispatched = 0, refused = 0;
    uint64_t start = mt_mono_ms (), now = start, next_beat = start + 1000;
    uint64_t base = s_messages;         //  from the first Submit on (not the hello)
    uint64_t frames_base = mt_codec_frames ();
    zmq_pollitem_t items [] = {
        { zsock_resolve (gw), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (wk), 0, ZMQ_POLLIN, 0 },
    };
    while (dispatched < count && now - start < limit_ms && !mt_stopping ()) {
        if (mt_codec_poll (items, 2, 100) < 0)
            break;
        Mt__Envelope *env = NULL;
        if (items [0].revents & ZMQ_POLLIN)
            while (mt_codec_recv_next (gw, NULL, &env)) {
                s_messages++;
                if (env && env->body_case == MT__ENVELOPE__BODY_SUBMIT_REPLY
                &&  !env->submit_reply->accepted)
                    refused++;
                mt_codec_free (&env);
            }
        if (items [1].revents & ZMQ_POLLIN)
            while (mt_codec_recv_next (wk, NULL, &env)) {
                s_messages++;
                if (env && env->body_case == MT__ENVELOPE__BODY_JOB && env->job->job) {
                    Mt__JobSpec *spec = env->job->job;
                    dispatched++;
                    Mt__JobDone done = MT__JOB_DONE__INIT;
                    done.req_id = spec->req_id;
                    done.worker_id = S_NAME;
                    done.tenant_id = spec->tenant_id;
                    done.prompt_tokens = 4;
                    done.completion_tokens = 16;
                    done.finish_reason = "stop";
                    done.reply_token = spec->reply_token;
                    Mt__Envelope out = MT__ENVELOPE__INIT;
                    out.body_case = MT__ENVELOPE__BODY_JOB_DONE;
                    out.job_done = &done;
                    if (s_send (wk, &out) == 0)
                        s_messages++;
                    //  The tenant's next job: it stays queued
                    uint64_t t = strtoull (spec->tenant_id + 24, NULL, 10);
                    s_submit (gw, seq++, t);
                }
                mt_codec_free (&env);
            }
        now = mt_mono_ms ();
        if (now >= next_beat) {
            next_beat = now + 1000;
            Mt__Heartbeat hb = MT__HEARTBEAT__INIT;
            hb.sender = S_NAME;
            hb.free_slots = slots;
            Mt__Envelope out = MT__ENVELOPE__INIT;
            out.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
            out.heartbeat = &hb;
            if (s_send (wk, &out) == 0)
                s_messages++;
        }
    }
    double secs = (double) (now - start) / 1e3;
    uint64_t messages = s_messages - base;
    uint64_t frames = mt_codec_frames () - frames_base;
    printf ("sched-load: dispatched=%" PRIu64 " refused=%" PRIu64 " seconds=%.2f"
            " dispatch_per_s=%.0f messages=%" PRIu64 " msgs_per_dispatch=%.2f"
            " frames=%" PRIu64 " frames_per_dispatch=%.2f batch=%d\n", dispatched,
            refused, secs, secs > 0? (double) dispatched / secs: 0.0, messages,
            dispatched? (double) messages / (double) dispatched: 0.0, frames,
            dispatched? (double) frames / (double) dispatched: 0.0, (int) s_later);
    mt_codec_flush ();
    mt_codec_close (&gw);
    mt_codec_close (&wk);
    mt_curve_stop ();
    return dispatched? 0: 1;
}
