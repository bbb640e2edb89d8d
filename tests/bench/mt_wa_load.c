//  mt-wa-load: a worker-adapter's own load generator (tests/bench/worker.sh).
//  One process plays the worker's scheduler (a ROUTER the worker connects
//  to, scheduler keys) and a gateway's token endpoint (a ROUTER, gateway
//  keys from --gateway-cert), keeps --window jobs in flight on the one
//  worker that announces itself, and starts the next job when the gateway
//  side got the last one's JobDone. Counts every message the worker sends
//  to each side. Prints one line:
//    wa-load: done=N failed=F seconds=S jobs_per_s=R to_gateway=G
//             to_scheduler=H token_chunks=T job_progress=P rtt_p50_us=U
//             worker_cpu_us=C
//  G and H are messages per job (the scheduler's: JobDone, JobProgress and
//  the WorkerReady that fell in the run); C is the worker's CPU per job
//  (--worker-pid, from /proc). --warmup jobs first, not counted. Bounded by
//  --count and --seconds; exits 1 when no job ended.
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
    { "scheduler-bind", "MT_WA_LOAD_SCHEDULER", MT_OPT_STRING, "tcp://127.0.0.1:5552", 0, 0,
      "where the worker finds its scheduler (bound here)" },
    { "tokens-bind", "MT_WA_LOAD_TOKENS", MT_OPT_STRING, "tcp://127.0.0.1:5560", 0, 0,
      "the gateway token endpoint the jobs name (bound here)" },
    { "gateway-cert", "MT_WA_LOAD_GATEWAY_CERT", MT_OPT_STRING, "", 0, 0,
      "a gateway's secret certificate for the token endpoint (CURVE on)" },
    { "window", "MT_WA_LOAD_WINDOW", MT_OPT_INT, "32", 1, 100000, "jobs in flight" },
    { "count", "MT_WA_LOAD_COUNT", MT_OPT_INT, "1000000", 1, 100000000, "jobs to run" },
    { "seconds", "MT_WA_LOAD_SECONDS", MT_OPT_INT, "5", 1, 3600, "stop after this" },
    { "model", "MT_WA_LOAD_MODEL", MT_OPT_STRING, "sim-small", 0, 0, "model the jobs ask" },
    { "warmup", "MT_WA_LOAD_WARMUP", MT_OPT_INT, "200", 0, 1000000,
      "jobs run first, not counted (connections to the engine opened)" },
    { "worker-pid", "MT_WA_LOAD_WORKER_PID", MT_OPT_INT, "0", 0, 1000000000,
      "the worker's process: its CPU per job is reported (0: not)" },
    MT_CURVE_OPTIONS,
    { NULL }
};

//  CPU time of a process so far (user + system), in ms; 0 when unreadable.
static double
s_cpu_ms (int pid)
{
    if (pid <= 0)
        return 0;
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return 0;
    char buf [1024];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf [n] = 0;
    const char *p = strrchr (buf, ')');     //  the name may hold spaces
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                      &utime, &stime) != 2)
        return 0;
    return (double) (utime + stime) * 1000.0 / (double) sysconf (_SC_CLK_TCK);
}

typedef struct {
    zsock_t *sched;             //  ROUTER: the worker's scheduler
    zsock_t *tokens;            //  ROUTER: the gateway's token endpoint
    zframe_t *worker;           //  the worker's routing id at the scheduler
    char tokens_ep [256];       //  reply_to of every job
    char reply_key [64];        //  the token endpoint's public key, "" with CURVE off
    const char *model;
    uint64_t *sent_us;          //  per job slot: when its Job went out
    size_t window;
} s_load_t;

static void
s_send_job (s_load_t *self, uint64_t seq)
{
    char req [32], token [40];
    snprintf (req, sizeof req, "%" PRIu64, seq);
    snprintf (token, sizeof token, "tok-%" PRIu64, seq);
    char body [256];
    snprintf (body, sizeof body, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":"
              "\"hello there\"}],\"max_tokens\":16}", self->model);
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = req;
    spec.tenant_id = "00000000-0000-4000-8000-000000000001";
    spec.model = (char *) self->model;
    spec.pool = "standard";
    spec.kind = MT__JOB_KIND__KIND_CHAT;
    spec.prompt = "user: hello there";
    spec.request_json.data = (uint8_t *) body;
    spec.request_json.len = strlen (body);
    spec.max_tokens = 16;
    spec.prompt_tokens = 4;
    spec.reply_to = self->tokens_ep;
    spec.reply_key = self->reply_key;
    spec.reply_token = token;
    Mt__Job job = MT__JOB__INIT;
    job.job = &spec;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB;
    env.job = &job;
    zframe_t *rid = zframe_dup (self->worker);
    mt_codec_send (self->sched, rid, &env);
    zframe_destroy (&rid);
    self->sent_us [seq % self->window] = mt_mono_us ();
}

static zsock_t *
s_router (const char *endpoint, const char *role_in, const char *cert_file)
{
    zsock_t *sock = mt_codec_socket (ZMQ_ROUTER);
    if (!sock || mt_curve_server (sock, "wa-load", role_in)) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (mt_load_prepare (sock, "wa-load", cert_file)) {
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        fprintf (stderr, "wa-load: cannot bind %s\n", endpoint);
        zsock_destroy (&sock);
    }
    return sock;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("wa-load", s_opts, argc, argv, &rc))
        return rc;
    if (mt_curve_start (s_opts))
        return 2;
    s_load_t self_s = { 0 }, *self = &self_s;
    const char *gateway_cert = mt_config_str (s_opts, "gateway-cert");
    self->sched = s_router (mt_config_str (s_opts, "scheduler-bind"), MT_ROLE_WORKER, NULL);
    self->tokens = s_router (mt_config_str (s_opts, "tokens-bind"), MT_ROLE_WORKER, gateway_cert);
    if (!self->sched || !self->tokens)
        return 1;
    snprintf (self->tokens_ep, sizeof self->tokens_ep, "%s", mt_config_str (s_opts, "tokens-bind"));
    if (mt_curve_on () && *gateway_cert) {
        zcert_t *cert = zcert_load (gateway_cert);
        if (cert) {
            snprintf (self->reply_key, sizeof self->reply_key, "%s", zcert_public_txt (cert));
            zcert_destroy (&cert);
        }
    }
    self->model = mt_config_str (s_opts, "model");
    self->window = (size_t) mt_config_int (s_opts, "window");
    uint64_t count = (uint64_t) mt_config_int (s_opts, "count");
    uint64_t limit_ms = (uint64_t) mt_config_int (s_opts, "seconds") * 1000u;
    self->sent_us = (uint64_t *) calloc (self->window, sizeof (uint64_t));
    uint64_t *rtt = (uint64_t *) malloc ((size_t) (count < 2000000? count: 2000000) * sizeof (uint64_t));
    if (!self->sent_us || !rtt)
        return 1;

    //  The worker announces itself (WorkerReady) within its first second
    uint64_t until = mt_mono_ms () + 10000;
    while (!self->worker && mt_mono_ms () < until && !mt_stopping ()) {
        zframe_t *rid = NULL;
        Mt__Envelope *env = NULL;
        zmq_pollitem_t item = { zsock_resolve (self->sched), 0, ZMQ_POLLIN, 0 };
        if (mt_codec_poll (&item, 1, 100) > 0 && mt_codec_recv_next (self->sched, &rid, &env)
        &&  env && env->body_case == MT__ENVELOPE__BODY_WORKER_READY)
            self->worker = zframe_dup (rid);
        zframe_destroy (&rid);
        mt_codec_free (&env);
    }
    if (!self->worker) {
        fprintf (stderr, "wa-load: no worker announced itself\n");
        return 1;
    }
    uint64_t warmup = (uint64_t) mt_config_int (s_opts, "warmup");
    int worker_pid = (int) mt_config_int (s_opts, "worker-pid");
    count += warmup;
    uint64_t seq = 0, done = 0, failed = 0, nrtt = 0;
    uint64_t to_gateway = 0, to_scheduler = 0, chunks = 0, progress = 0;
    uint64_t start = mt_mono_ms (), now = start;
    double cpu0 = s_cpu_ms (worker_pid);
    for (; seq < self->window && seq < count; seq++)
        s_send_job (self, seq);
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->sched), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->tokens), 0, ZMQ_POLLIN, 0 },
    };
    while (done < count && now - start < limit_ms && !mt_stopping ()) {
        if (mt_codec_poll (items, 2, 100) < 0)
            break;
        Mt__Envelope *env = NULL;
        zframe_t *rid = NULL;
        while (mt_codec_recv_next (self->sched, &rid, &env)) {
            zframe_destroy (&rid);
            to_scheduler++;
            if (env && env->body_case == MT__ENVELOPE__BODY_JOB_PROGRESS)
                progress++;
            mt_codec_free (&env);
        }
        while (mt_codec_recv_next (self->tokens, &rid, &env)) {
            zframe_destroy (&rid);
            to_gateway++;
            if (env && env->body_case == MT__ENVELOPE__BODY_TOKEN_CHUNK)
                chunks++;
            if (env && env->body_case == MT__ENVELOPE__BODY_JOB_DONE) {
                Mt__JobDone *d = env->job_done;
                if (d->error)
                    failed++;
                uint64_t id = strtoull (d->req_id, NULL, 10);
                if (done >= warmup && nrtt < 2000000 && nrtt < count - warmup)
                    rtt [nrtt++] = mt_mono_us () - self->sent_us [id % self->window];
                done++;
                if (done == warmup) {
                    //  The measured part starts: counters from zero
                    to_gateway = to_scheduler = chunks = progress = failed = 0;
                    start = mt_mono_ms ();
                    cpu0 = s_cpu_ms (worker_pid);
                }
                if (seq < count)
                    s_send_job (self, seq++);
            }
            mt_codec_free (&env);
        }
        now = mt_mono_ms ();
    }
    double cpu = s_cpu_ms (worker_pid) - cpu0;
    double secs = (double) (now - start) / 1e3;
    done = done > warmup? done - warmup: 0;
    qsort (rtt, nrtt, sizeof (uint64_t), mt_load_cmp_u64);
    double per = done? 1.0 / (double) done: 0.0;
    printf ("wa-load: done=%" PRIu64 " failed=%" PRIu64 " seconds=%.2f jobs_per_s=%.0f"
            " to_gateway=%.2f to_scheduler=%.2f token_chunks=%.2f job_progress=%.2f"
            " rtt_p50_us=%" PRIu64 " worker_cpu_us=%.1f\n", done, failed, secs,
            secs > 0? (double) done / secs: 0.0,
            (double) to_gateway * per, (double) to_scheduler * per, (double) chunks * per,
            (double) progress * per, nrtt? rtt [nrtt / 2]: 0, cpu * 1000.0 * per);
    free (rtt);
    free (self->sent_us);
    zframe_destroy (&self->worker);
    zsock_destroy (&self->sched);
    zsock_destroy (&self->tokens);
    mt_curve_stop ();
    return done? 0: 1;
}
