//  Scheduler server: sockets and handlers. Queues jobs per (pool, model) in
//  weighted fair queues, enforces per-tenant concurrency leases, dispatches
//  to workers with free credit, forwards cancels, fails the jobs of workers
//  that stop talking, and cancels the jobs of gateways that stop talking.
//  The bookkeeping behind all of it (jobs, leases, queues, workers, what to
//  dispatch next) is sch_jobs.c; gateway liveness is common/mt_peers.c.
#include "sch_server.h"
#include "sch_jobs.h"
#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_peers.h"
#include "mt_util.h"

#include <assert.h>
#include <czmq.h>

#define S_SWEEP_MS 100          //  liveness sweep interval
#define S_SNDHWM 100000         //  ROUTER send queue per peer
#define S_GATEWAY_TIMEOUT_MS 5000   //  default: a gateway silent this long is gone

struct _sch_server_t {
    zsock_t *gateways;          //  ROUTER for gateways
    zsock_t *workers_sock;      //  ROUTER for workers
    char *gateway_endpoint;     //  owned; bound endpoint
    char *worker_endpoint;      //  owned; bound endpoint
    int worker_timeout_ms;      //  a worker silent this long is dead
    int gateway_timeout_ms;     //  a heartbeating gateway silent this long is gone
    mt_peers_t *gateway_peers;  //  liveness of gateways by routing id; owned
    uint32_t queue_max;         //  queued jobs per (pool, model) before ERR_NO_CAPACITY
    sch_jobs_t *jobs;           //  jobs, leases, queues, workers, catalog; owned
    uint64_t next_sweep_ms;     //  monotonic time of the next liveness sweep
    char instance [33];         //  random per start: gateways see a restart by it
    uint64_t warm_until_ms;     //  monotonic; till then workers may still be announcing
    bool dispatch_due;          //  a message of this turn may have made a dispatch possible
    //  The Jobs of the dispatch pass, held in the codec until its end (one
    //  Batch per worker); failed: the send of its Batch failed
    struct s_pass_item { sch_dispatch_t d; bool failed; } *pass;
    size_t npass, pass_cap;
    //  Metrics (borrowed from the registry)
    mt_metric_t *m_submitted;   //  jobs accepted
    mt_metric_t *m_rej_capacity;    //  jobs refused: no worker or queue full
    mt_metric_t *m_rej_concurrency; //  jobs refused: tenant at its concurrency limit
    mt_metric_t *m_rej_bad;     //  jobs refused: malformed
    mt_metric_t *m_dispatched;  //  jobs sent to workers
    mt_metric_t *m_done;        //  jobs finished by workers
    mt_metric_t *m_requeued;    //  jobs accepted again after a loss (Submit.requeue)
    mt_metric_t *m_queued;      //  gauge: jobs waiting
    mt_metric_t *m_running;     //  gauge: jobs on workers
    mt_metric_t *m_workers;     //  gauge: live workers
    mt_metric_t *m_gateways;    //  gauge: gateways heartbeating
    mt_metric_t *m_gone_running;    //  running jobs of gone gateways cancelled at workers
    mt_metric_t *m_gone_queued;     //  queued jobs of gone gateways dropped
};

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_update_gauges (sch_server_t *self)
{
    mt_metric_set (self->m_queued, sch_jobs_queued (self->jobs));
    mt_metric_set (self->m_running, sch_jobs_running (self->jobs));
    mt_metric_set (self->m_workers, (int64_t) sch_jobs_workers (self->jobs));
    mt_metric_set (self->m_gateways, (int64_t) mt_peers_live (self->gateway_peers));
}

//  Refuse a Submit: a SubmitReply to its gateway, naming the attempt (its
//  reply token). An accepted Submit gets no answer: the gateway learns it
//  from the Catalog that answers its next heartbeat (see mt.proto).
static void
s_refuse (sch_server_t *self, zframe_t *gateway, Mt__JobSpec *spec, Mt__ErrorCode code,
          const char *message, uint32_t retry_after_s)
{
    Mt__SubmitReply reply = MT__SUBMIT_REPLY__INIT;
    reply.req_id = spec->req_id;
    reply.accepted = false;
    reply.code = code;
    reply.message = (char *) (message? message: "");
    reply.retry_after_s = retry_after_s;
    reply.scheduler_id = self->instance;
    reply.reply_token = spec->reply_token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT_REPLY;
    env.submit_reply = &reply;
    mt_codec_drop_t drop = { .label = "send-failed to=gateway", .key = spec->req_id };
    mt_codec_send_later (self->gateways, gateway, &env, &drop);
}

//  Tell a job's gateway the job ended without a worker's JobDone.
static void
s_send_done (sch_server_t *self, zframe_t *gateway, sch_job_t *job,
             Mt__ErrorCode code, const char *message)
{
    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = job->req_id;
    done.worker_id = (char *) (job->worker? job->worker->worker_id: "");
    done.tenant_id = job->tenant_id;
    done.prompt_tokens = job->spec->prompt_tokens;
    done.completion_tokens = 0;
    done.finish_reason = "";
    done.error = code;
    done.error_message = (char *) message;
    done.reply_token = job->spec->reply_token;     //  which attempt of the job ended
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    mt_codec_drop_t drop = { .label = "send-failed to=gateway", .key = job->req_id,
                             .tenant = job->tenant_id };
    mt_codec_send_later (self->gateways, gateway, &env, &drop);
}

//  --------------------------------------------------------------------------
//  Dispatch

//  A Job held this pass could not be sent (its worker's Batch failed):
//  marked here, put back after the pass (s_dispatch).
static void
s_job_dropped (void *arg, const char *index)
{
    sch_server_t *self = (sch_server_t *) arg;
    size_t i = (size_t) strtoul (index, NULL, 10);
    if (i < self->npass)
        self->pass [i].failed = true;
}

static void
s_dispatch_failed_log (sch_dispatch_t *d, const char *why)
{
    mt_log ("dispatch-failed req=%s tenant=%s worker=%s errno=%s action=requeued",
            d->job->req_id, d->job->tenant_id, d->worker->worker_id, why);
}

//  Hold the job of a dispatch decision for its worker: the pass's Jobs go
//  out together at its end. When it cannot even be held, the job goes back
//  to the head of its queue and the worker sits out this pass.
static void
s_send_job (sch_server_t *self, sch_dispatch_t *d)
{
    sch_job_t *job = d->job;
    sch_worker_t *w = d->worker;
    Mt__Job body = MT__JOB__INIT;
    body.job = job->spec;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB;
    env.job = &body;
    if (self->npass == self->pass_cap) {
        size_t cap = self->pass_cap? 2 * self->pass_cap: 256;
        struct s_pass_item *grown = (struct s_pass_item *) realloc (self->pass, cap * sizeof *grown);
        if (grown) {
            self->pass = grown;
            self->pass_cap = cap;
        }
    }
    int rc;
    if (self->npass < self->pass_cap) {
        char key [24];
        snprintf (key, sizeof key, "%zu", self->npass);
        mt_codec_drop_t drop = { .fn = s_job_dropped, .arg = self, .key = key };
        rc = mt_codec_send_later (self->workers_sock, w->rid, &env, &drop);
        if (rc == 0)
            self->pass [self->npass++] = (struct s_pass_item) { *d, false };
    }
    else                                //  out of memory: at once, as before
        rc = mt_codec_send (self->workers_sock, w->rid, &env);
    if (rc) {
        s_dispatch_failed_log (d, zmq_strerror (zmq_errno ()));
        sch_jobs_dispatch_failed (self->jobs, d);
        return;
    }
    sch_jobs_dispatch_sent (self->jobs, d);
    mt_debug ("dispatched req=%s tenant=%s worker=%s waited_ms=%llu", job->req_id,
              job->tenant_id, w->worker_id,
              (unsigned long long) (mt_mono_ms () - job->queued_ms));
}

//  While some worker has credit and a job waits for a model it serves, hold
//  the next job (sch_jobs_dispatch_next chooses which, and where); then send
//  the pass's Jobs, one Batch per worker. Those whose Batch failed go back
//  to the heads of their queues, the last taken first (so each tenant's
//  order stays), and wait for the next pass.
static void
s_dispatch (sch_server_t *self)
{
    sch_dispatch_t d;
    self->dispatch_due = false;
    self->npass = 0;
    sch_jobs_dispatch_begin (self->jobs);
    while (sch_jobs_dispatch_next (self->jobs, &d))
        s_send_job (self, &d);
    mt_codec_flush ();                  //  runs s_job_dropped for what failed
    size_t sent = self->npass;
    for (size_t i = self->npass; i-- > 0;)
        if (self->pass [i].failed) {
            s_dispatch_failed_log (&self->pass [i].d, "batch not sent");
            sch_jobs_dispatch_unsent (self->jobs, &self->pass [i].d);
            sent--;
        }
    mt_metric_add (self->m_dispatched, (int64_t) sent);
    self->npass = 0;
    s_update_gauges (self);
}

//  A job was queued or a slot freed: dispatch once the turn has read what
//  was waiting (sch_server_poll). One pass a turn instead of one a message:
//  the fair queue chooses among every job that arrived in the turn, and the
//  turn's Jobs leave in one burst (fewer wake-ups of libzmq's I/O thread).
static void
s_dispatch_soon (sch_server_t *self)
{
    self->dispatch_due = true;
}

//  --------------------------------------------------------------------------
//  Gateway messages

static void s_cancel_at_worker (sch_server_t *self, sch_job_t *job);

//  A Submit for a job we know. The same attempt (the same reply token) is
//  accepted again, silently, and changes nothing. A requeue with a new token means the
//  gateway gave up on the attempt we hold (its worker handed it back, and
//  the gateway heard first): forget that attempt and return false, so the
//  new one is queued. Anything else is ignored. True when handled.
static bool
s_duplicate (sch_server_t *self, zframe_t *gateway, Mt__Submit *submit)
{
    Mt__JobSpec *spec = submit->job;
    sch_job_t *job = sch_jobs_lookup (self->jobs, spec->req_id);
    if (strcmp (job->tenant_id, spec->tenant_id)) {
        mt_log ("submit-duplicate req=%s tenant=%s owner=%s action=ignored", spec->req_id,
                spec->tenant_id, job->tenant_id);
        return true;
    }
    if (!strcmp (job->spec->reply_token, spec->reply_token)) {
        mt_debug ("submit-again req=%s tenant=%s action=accepted", spec->req_id, spec->tenant_id);
        return true;
    }
    if (!submit->requeue) {
        mt_log ("submit-duplicate req=%s tenant=%s action=ignored", spec->req_id, spec->tenant_id);
        return true;
    }
    mt_log ("job-superseded req=%s tenant=%s worker=%s", job->req_id, job->tenant_id,
            job->worker? job->worker->worker_id: "-");
    if (job->worker) {
        s_cancel_at_worker (self, job);     //  in case it still runs there
        sch_jobs_correct (self->jobs, job, 0);
    }
    else
        sch_jobs_unqueue (self->jobs, job);
    sch_jobs_forget (self->jobs, job);
    return false;
}

//  The tenant's jobs this gateway saw end (Submit.ended): their leases free
//  before the Submit is counted (sch_jobs_release_ended says which may).
static void
s_release_ended (sch_server_t *self, zframe_t *gateway, const Mt__Submit *submit)
{
    if (!submit || !submit->job || !submit->n_ended)
        return;
    size_t n = submit->n_ended < MT_SUBMIT_ENDED_MAX? submit->n_ended: MT_SUBMIT_ENDED_MAX;
    for (size_t i = 0; i < n; i++)
        if (sch_jobs_release_ended (self->jobs, submit->ended [i], submit->job->tenant_id,
                                    gateway))
            mt_debug ("lease-freed req=%s tenant=%s reason=\"its end reached the gateway\"",
                      submit->ended [i], submit->job->tenant_id);
}

static void
s_handle_submit (sch_server_t *self, zframe_t *gateway, Mt__Submit *submit)
{
    uint32_t leases;
    s_release_ended (self, gateway, submit);
    sch_admit_t admit = sch_jobs_admit (self->jobs, submit, self->queue_max, &leases);
    if (admit == SCH_ADMIT_QUEUE_FULL && self->dispatch_due) {
        //  Full only if still full after the dispatch this turn owes: the
        //  queue holds what no worker can take, as with a dispatch a message
        s_dispatch (self);
        admit = sch_jobs_admit (self->jobs, submit, self->queue_max, &leases);
    }
    Mt__JobSpec *spec = submit? submit->job: NULL;
    const char *req = spec? spec->req_id: "";
    const char *tenant = spec? spec->tenant_id: "";
    switch (admit) {
        case SCH_ADMIT_BAD:
            mt_metric_add (self->m_rej_bad, 1);
            if (!spec) {
                mt_log ("submit-invalid reason=\"no job\" action=dropped");
                return;
            }
            mt_log ("submit-invalid req=%.64s tenant=%.64s reason=\"req_id, tenant_id, model "
                    "and pool must be set\"", req, tenant);
            s_refuse (self, gateway, spec, MT__ERROR_CODE__ERR_BAD_REQUEST,
                      "req_id, tenant_id, model and pool must be set", 0);
            return;
        case SCH_ADMIT_DUPLICATE:
            if (s_duplicate (self, gateway, submit))
                return;
            s_handle_submit (self, gateway, submit);    //  the old attempt is gone now
            return;
        case SCH_ADMIT_NO_WORKER:
            mt_log ("submit-rejected req=%s tenant=%s code=no_capacity pool=%s model=%s "
                    "reason=\"no live worker\"", req, tenant, spec->pool, spec->model);
            mt_metric_add (self->m_rej_capacity, 1);
            s_refuse (self, gateway, spec, MT__ERROR_CODE__ERR_NO_CAPACITY,
                      "no worker serves this model", 0);
            return;
        case SCH_ADMIT_CONCURRENCY:
            mt_log ("submit-rejected req=%s tenant=%s code=concurrency leases=%u max=%u",
                    req, tenant, leases, submit->max_concurrent);
            mt_metric_add (self->m_rej_concurrency, 1);
            s_refuse (self, gateway, spec, MT__ERROR_CODE__ERR_CONCURRENCY,
                      "too many concurrent requests", 1);
            return;
        case SCH_ADMIT_QUEUE_FULL:
            mt_log ("submit-rejected req=%s tenant=%s code=no_capacity pool=%s model=%s "
                    "reason=\"queue full\" queued=%zu", req, tenant, spec->pool, spec->model,
                    sch_fairq_size (sch_jobs_queue (self->jobs, spec->pool, spec->model)));
            mt_metric_add (self->m_rej_capacity, 1);
            s_refuse (self, gateway, spec, MT__ERROR_CODE__ERR_NO_CAPACITY, "queue full", 0);
            return;
        case SCH_ADMIT_OK:
            break;
    }
    sch_job_t *job = sch_jobs_take (self->jobs, &submit->job, gateway, submit->weight,
                                    submit->requeue);
    if (!job) {
        mt_log ("submit-failed req=%s tenant=%s reason=\"job could not be stored\"", req, tenant);
        s_refuse (self, gateway, spec, MT__ERROR_CODE__ERR_BAD_REQUEST,
                  "the job could not be stored", 0);
        return;
    }
    job->queued_ms = mt_mono_ms ();
    spec = job->spec;                   //  the job's own now
    mt_metric_add (self->m_submitted, 1);
    if (submit->requeue) {
        mt_metric_add (self->m_requeued, 1);
        mt_log ("job-requeued req=%s tenant=%s pool=%s model=%s", job->req_id, job->tenant_id,
                spec->pool, spec->model);
    }
    //  Accepted: no answer (the Catalog of the gateway's next heartbeat says it)
    if (mt_log_debug ())
        mt_debug ("submit-accepted req=%s tenant=%s pool=%s model=%s weight=%u leases=%u "
                  "counter=%.1f vtime=%.1f", job->req_id, job->tenant_id, spec->pool,
                  spec->model, job->weight, leases + 1,
                  sch_fairq_counter (job->queue, job->tenant_id), sch_fairq_vtime (job->queue));
    s_dispatch_soon (self);
}

//  Tell a running job's worker to stop it (that attempt only: its reply
//  token). Its JobDone ends the job here.
static void
s_cancel_at_worker (sch_server_t *self, sch_job_t *job)
{
    Mt__Cancel fwd = MT__CANCEL__INIT;
    fwd.req_id = job->req_id;
    fwd.tenant_id = job->tenant_id;
    fwd.reply_token = job->spec->reply_token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &fwd;
    //  Rare: sent at once (after what is held for the worker, in order)
    if (mt_codec_send (self->workers_sock, job->worker->rid, &env))
        mt_log ("send-failed to=worker body=cancel req=%s tenant=%s worker=%s",
                job->req_id, job->tenant_id, job->worker->worker_id);
}

static void
s_handle_cancel (sch_server_t *self, zframe_t *gateway, Mt__Cancel *cancel)
{
    sch_job_t *job = cancel? sch_jobs_lookup (self->jobs, cancel->req_id): NULL;
    if (!job) {
        mt_debug ("cancel-unknown req=%.64s action=ignored", cancel? cancel->req_id: "");
        return;
    }
    if (*cancel->tenant_id && strcmp (cancel->tenant_id, job->tenant_id)) {
        mt_log ("cancel-mismatch req=%s tenant=%.64s owner=%s action=ignored",
                job->req_id, cancel->tenant_id, job->tenant_id);
        return;
    }
    if (*cancel->reply_token && strcmp (cancel->reply_token, job->spec->reply_token)) {
        mt_debug ("cancel-other-attempt req=%s tenant=%s action=ignored", job->req_id,
                  job->tenant_id);
        return;
    }
    if (job->worker) {
        s_cancel_at_worker (self, job);
        mt_log ("cancel-forwarded req=%s tenant=%s worker=%s", job->req_id,
                job->tenant_id, job->worker->worker_id);
        return;
    }
    sch_jobs_unqueue (self->jobs, job);
    mt_log ("cancel-queued req=%s tenant=%s", job->req_id, job->tenant_id);
    s_send_done (self, gateway, job, MT__ERROR_CODE__ERR_CANCELLED, "cancelled");
    sch_jobs_forget (self->jobs, job);
    s_update_gauges (self);
}

//  The pool's live workers into pm->workers (for the operators' console);
//  *states and *ptrs are the arrays, freed by the caller.
static void
s_fill_workers (sch_server_t *self, Mt__PoolModels *pm, const char *pool,
                Mt__WorkerState **states, Mt__WorkerState ***ptrs)
{
    zlistx_t *list = sch_jobs_pool_worker_list (self->jobs, pool);
    size_t nw = list? zlistx_size (list): 0;
    *states = (Mt__WorkerState *) calloc (nw? nw: 1, sizeof **states);
    *ptrs = (Mt__WorkerState **) calloc (nw? nw: 1, sizeof **ptrs);
    if (!list || !*states || !*ptrs) {
        zlistx_destroy (&list);
        return;
    }
    uint64_t now = mt_mono_ms ();
    size_t k = 0;
    for (sch_worker_t *w = (sch_worker_t *) zlistx_first (list); w && k < nw;
         w = (sch_worker_t *) zlistx_next (list)) {
        Mt__WorkerState *ws = &(*states) [k];
        mt__worker_state__init (ws);
        ws->worker_id = w->worker_id;
        ws->slots = w->total_slots;
        ws->busy = w->assigned + w->foreign;
        ws->seen_ms_ago = (uint32_t) (now > w->last_seen_ms? now - w->last_seen_ms: 0);
        ws->engine_failures = w->engine_failures;
        (*ptrs) [k++] = ws;
    }
    pm->workers = *ptrs;
    pm->n_workers = k;
    zlistx_destroy (&list);
}

//  A gateway's heartbeat: answered with the Catalog, which echoes its seq.
static void
s_handle_gateway_heartbeat (sch_server_t *self, zframe_t *gateway, Mt__Heartbeat *hb)
{
    if (self->dispatch_due)
        s_dispatch (self);          //  the queued counts: what no worker can take now
    zhashx_t *pools = sch_jobs_catalog (self->jobs);
    size_t npools = zhashx_size (pools);
    Mt__PoolModels *items = (Mt__PoolModels *) calloc (npools? npools: 1, sizeof *items);
    Mt__PoolModels **ptrs = (Mt__PoolModels **) calloc (npools? npools: 1, sizeof *ptrs);
    char ***models = (char ***) calloc (npools? npools: 1, sizeof *models);
    uint32_t **queued = (uint32_t **) calloc (npools? npools: 1, sizeof *queued);
    Mt__WorkerState **wstates = (Mt__WorkerState **) calloc (npools? npools: 1, sizeof *wstates);
    Mt__WorkerState ***wptrs = (Mt__WorkerState ***) calloc (npools? npools: 1, sizeof *wptrs);
    if (!items || !ptrs || !models || !queued || !wstates || !wptrs)
        goto cleanup;
    size_t n = 0;
    zlistx_t *list = (zlistx_t *) zhashx_first (pools);
    while (list && n < npools) {
        const char *pool = (const char *) zhashx_cursor (pools);
        Mt__PoolModels *pm = &items [n];
        mt__pool_models__init (pm);
        pm->pool = (char *) pool;
        size_t nm = zlistx_size (list);
        models [n] = (char **) calloc (nm? nm: 1, sizeof (char *));
        if (!models [n])
            goto cleanup;
        size_t k = 0;
        for (char *m = (char *) zlistx_first (list); m && k < nm;
             m = (char *) zlistx_next (list))
            models [n][k++] = m;
        pm->models = models [n];
        pm->n_models = k;
        //  Live workers and queued jobs of this pool
        pm->live_workers = sch_jobs_pool_workers (self->jobs, pool);
        queued [n] = (uint32_t *) calloc (k? k: 1, sizeof (uint32_t));
        if (!queued [n])
            goto cleanup;
        for (size_t i = 0; i < k; i++) {
            sch_fairq_t *q = sch_jobs_queue (self->jobs, pool, models [n][i]);
            queued [n][i] = q? (uint32_t) sch_fairq_size (q): 0;
            pm->queued += queued [n][i];
        }
        pm->model_queued = queued [n];
        pm->n_model_queued = k;
        s_fill_workers (self, pm, pool, &wstates [n], &wptrs [n]);
        ptrs [n] = pm;
        n++;
        list = (zlistx_t *) zhashx_next (pools);
    }
    Mt__Catalog catalog = MT__CATALOG__INIT;
    catalog.pools = ptrs;
    catalog.n_pools = n;
    catalog.scheduler_id = self->instance;
    catalog.warming_up = sch_jobs_warming (self->jobs);
    catalog.heartbeat_seq = hb? hb->seq: 0;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CATALOG;
    env.catalog = &catalog;
    if (mt_codec_send (self->gateways, gateway, &env))
        mt_log ("send-failed to=gateway body=catalog");
cleanup:
    for (size_t i = 0; i < npools; i++) {
        if (models)
            free (models [i]);
        if (queued)
            free (queued [i]);
        if (wstates)
            free (wstates [i]);
        if (wptrs)
            free (wptrs [i]);
    }
    free (models);
    free (queued);
    free (wstates);
    free (wptrs);
    free (ptrs);
    free (items);
}

//  Takes one message off the socket; false when none was waiting.
static bool
s_on_gateway (sch_server_t *self)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_next (self->gateways, &rid, &env))
        return false;
    if (!env)
        return true;                 //  garbage: logged by the codec
    mt_peers_seen (self->gateway_peers, zframe_data (rid), zframe_size (rid),
                   env->body_case == MT__ENVELOPE__BODY_HEARTBEAT, mt_mono_ms ());
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_SUBMIT:
            s_handle_submit (self, rid, env->submit);
            break;
        case MT__ENVELOPE__BODY_CANCEL:
            s_handle_cancel (self, rid, env->cancel);
            break;
        case MT__ENVELOPE__BODY_HEARTBEAT:
            s_handle_gateway_heartbeat (self, rid, env->heartbeat);
            break;
        default:
            mt_log ("unexpected-message socket=gateway body=%s action=dropped",
                    mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    zframe_destroy (&rid);
    return true;
}

//  --------------------------------------------------------------------------
//  Worker messages

static void s_fail_orphans (sch_server_t *self);

static void
s_handle_worker_ready (sch_server_t *self, zframe_t *rid, Mt__WorkerReady *ready)
{
    if (!sch_jobs_name_ok (ready->pool) || ready->n_models == 0) {
        mt_log ("worker-invalid worker=%.64s reason=\"pool and models must be set\" "
                "action=dropped", ready->worker_id);
        return;
    }
    for (size_t i = 0; i < ready->n_models; i++)
        if (!sch_jobs_name_ok (ready->models [i])) {
            mt_log ("worker-invalid worker=%.64s reason=\"bad model name\" action=dropped",
                    ready->worker_id);
            return;
        }
    sch_worker_change_t change;
    sch_worker_t *w = sch_jobs_worker_ready (self->jobs, rid, ready, mt_mono_ms (), &change);
    if (change != SCH_WORKER_SAME)
        mt_log ("worker-%s worker=%s pool=%s models=%zu slots=%u",
                change == SCH_WORKER_JOINED? "joined": "changed",
                w->worker_id, w->pool, w->nmodels, w->total_slots);
    if (change == SCH_WORKER_CHANGED)
        s_fail_orphans (self);          //  it may have dropped a model
    s_dispatch_soon (self);
}

static void
s_handle_job_done (sch_server_t *self, zframe_t *rid, Mt__JobDone *done)
{
    sch_job_t *job = sch_jobs_lookup (self->jobs, done->req_id);
    if (!job) {
        mt_debug ("job-done-unknown req=%.64s action=ignored", done->req_id);
        return;
    }
    if (*done->reply_token && strcmp (done->reply_token, job->spec->reply_token)) {
        //  An attempt of the job given up on (requeued with a new token)
        mt_log ("job-done-stale req=%s tenant=%s action=ignored", job->req_id, job->tenant_id);
        return;
    }
    if (!job->worker || !zframe_eq (job->worker->rid, rid)) {
        mt_log ("job-done-mismatch req=%s tenant=%s reason=\"not running on this worker\" "
                "action=ignored", job->req_id, job->tenant_id);
        return;
    }
    job->worker->last_seen_ms = mt_mono_ms ();
    sch_jobs_correct (self->jobs, job, (uint64_t) done->prompt_tokens + done->completion_tokens);
    mt_metric_add (self->m_done, 1);
    mt_debug ("job-done req=%s tenant=%s worker=%s tokens=%u error=%d", job->req_id,
              job->tenant_id, job->worker->worker_id, done->completion_tokens, done->error);
    sch_jobs_forget (self->jobs, job);
    s_dispatch_soon (self);
}

//  Tokens a running job generated so far: its tenant's counter follows.
static void
s_handle_job_progress (sch_server_t *self, zframe_t *rid, Mt__JobProgress *progress)
{
    sch_job_t *job = sch_jobs_lookup (self->jobs, progress->req_id);
    if (!job || !job->worker || !zframe_eq (job->worker->rid, rid))
        return;                 //  ended already, or not this worker's: nothing to charge
    job->worker->last_seen_ms = mt_mono_ms ();
    sch_jobs_progress (self->jobs, job, progress->completion_tokens);
}

//  Takes one message off the socket; false when none was waiting.
static bool
s_on_worker (sch_server_t *self)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_next (self->workers_sock, &rid, &env))
        return false;
    if (!env)
        return true;
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_WORKER_READY:
            s_handle_worker_ready (self, rid, env->worker_ready);
            break;
        case MT__ENVELOPE__BODY_HEARTBEAT: {
            sch_worker_t *w = sch_jobs_worker (self->jobs, rid);
            if (w)
                w->last_seen_ms = mt_mono_ms ();
            break;
        }
        case MT__ENVELOPE__BODY_JOB_DONE:
            s_handle_job_done (self, rid, env->job_done);
            break;
        case MT__ENVELOPE__BODY_JOB_PROGRESS:
            s_handle_job_progress (self, rid, env->job_progress);
            break;
        default:
            mt_log ("unexpected-message socket=worker body=%s action=dropped",
                    mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    zframe_destroy (&rid);
    return true;
}

//  --------------------------------------------------------------------------
//  Liveness

//  Fail queued jobs that no live worker can serve any more (a worker died or
//  stopped announcing a model): never let them hang.
static void
s_fail_orphans (sch_server_t *self)
{
    zlistx_t *victims = sch_jobs_orphans (self->jobs);
    for (sch_job_t *job = (sch_job_t *) zlistx_first (victims); job;
         job = (sch_job_t *) zlistx_next (victims)) {
        mt_log ("job-orphaned req=%s tenant=%s pool=%s model=%s reason=\"no live worker\"",
                job->req_id, job->tenant_id, job->spec->pool, job->spec->model);
        sch_jobs_unqueue (self->jobs, job);
        s_send_done (self, job->gateway, job, MT__ERROR_CODE__ERR_NO_CAPACITY,
                     "no worker serves this model");
        sch_jobs_forget (self->jobs, job);
    }
    zlistx_destroy (&victims);
}

//  A worker died: fail every job it held, forget it. Then fail queued jobs
//  that no live worker can serve any more (never let them hang).
static void
s_worker_lost (sch_server_t *self, sch_worker_t *w, uint64_t silent_ms)
{
    zlistx_t *victims = sch_jobs_worker_jobs (self->jobs, w);
    mt_log ("worker-lost worker=%s pool=%s silent_ms=%llu jobs=%zu", w->worker_id, w->pool,
            (unsigned long long) silent_ms, zlistx_size (victims));
    sch_job_t *job;
    for (job = (sch_job_t *) zlistx_first (victims); job;
         job = (sch_job_t *) zlistx_next (victims)) {
        mt_log ("job-lost req=%s tenant=%s worker=%s", job->req_id, job->tenant_id,
                w->worker_id);
        sch_jobs_correct (self->jobs, job, 0);
        s_send_done (self, job->gateway, job, MT__ERROR_CODE__ERR_WORKER_LOST, "worker lost");
        sch_jobs_forget (self->jobs, job);
    }
    zlistx_destroy (&victims);
    sch_jobs_worker_remove (self->jobs, w);
    s_fail_orphans (self);
}

//  A gateway stopped heartbeating (killed, or cut off): nobody reads what
//  its jobs produce. Its queued jobs are dropped; its running jobs are
//  cancelled at their workers, whose JobDone then charges the tenant what
//  was really generated and frees the lease and the slot.
static void
s_gateway_gone (sch_server_t *self, const char *key, uint64_t timeout_ms)
{
    zlistx_t *jobs = sch_jobs_gateway_jobs (self->jobs, key);
    size_t running = 0, queued = 0;
    for (sch_job_t *job = (sch_job_t *) zlistx_first (jobs); job;
         job = (sch_job_t *) zlistx_next (jobs)) {
        if (job->worker) {
            if (job->abandoned)
                continue;
            job->abandoned = true;
            s_cancel_at_worker (self, job);
            mt_log ("job-abandoned req=%s tenant=%s worker=%s action=cancelled",
                    job->req_id, job->tenant_id, job->worker->worker_id);
            running++;
        }
        else {
            mt_log ("job-abandoned req=%s tenant=%s action=dropped", job->req_id,
                    job->tenant_id);
            sch_jobs_unqueue (self->jobs, job);
            sch_jobs_forget (self->jobs, job);
            queued++;
        }
    }
    zlistx_destroy (&jobs);
    mt_log ("gateway-gone gateway=%s timeout_ms=%llu running_cancelled=%zu queued_dropped=%zu",
            key, (unsigned long long) timeout_ms, running, queued);
    mt_metric_add (self->m_gone_running, (int64_t) running);
    mt_metric_add (self->m_gone_queued, (int64_t) queued);
}

//  Gateways silent past the timeout (only when every gateway message that
//  was waiting has been read: a backlog is not silence).
static void
s_sweep_gateways (sch_server_t *self, uint64_t now)
{
    zlistx_t *gone = mt_peers_sweep (self->gateway_peers, now);
    for (const char *key = (const char *) zlistx_first (gone); key;
         key = (const char *) zlistx_next (gone))
        s_gateway_gone (self, key, (uint64_t) self->gateway_timeout_ms);
    zlistx_destroy (&gone);
    s_update_gauges (self);
}

static void
s_sweep (sch_server_t *self, uint64_t now)
{
    if (sch_jobs_warming (self->jobs) && now >= self->warm_until_ms) {
        //  Every live worker has announced itself by now: what none serves fails
        sch_jobs_set_warming (self->jobs, false);
        mt_log ("warm-up-over workers=%zu queued=%u", sch_jobs_workers (self->jobs),
                sch_jobs_queued (self->jobs));
        s_fail_orphans (self);
        s_dispatch_soon (self);
    }
    zlistx_t *dead = sch_jobs_silent_workers (self->jobs, now,
                                              (uint64_t) self->worker_timeout_ms);
    sch_worker_t *w;
    for (w = (sch_worker_t *) zlistx_first (dead); w; w = (sch_worker_t *) zlistx_next (dead))
        s_worker_lost (self, w, now - w->last_seen_ms);
    if (zlistx_size (dead))
        s_dispatch_soon (self);
    zlistx_destroy (&dead);
}

//  --------------------------------------------------------------------------
//  Lifecycle

static zsock_t *
s_router_bind (const char *endpoint, const char *domain, const char *client_role, char **bound)
{
    zsock_t *sock = mt_codec_socket (ZMQ_ROUTER);
    if (!sock)
        return NULL;
    if (mt_curve_server (sock, domain, client_role)) {
        zsock_destroy (&sock);
        return NULL;
    }
    zsock_set_sndhwm (sock, S_SNDHWM);
    zsock_set_rcvhwm (sock, S_SNDHWM);
    zsock_set_linger (sock, 0);
    zsock_set_router_mandatory (sock, 1);
    //  A gateway names its sockets once per process: when its connection
    //  comes back (a broken one the old pipe may not have noticed yet), the
    //  new one takes the name over, and its jobs stay its own
    zsock_set_router_handover (sock, 1);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        mt_log ("bind-failed endpoint=%s errno=%s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    *bound = zsock_last_endpoint (sock);
    return sock;
}

sch_server_t *
sch_server_new (const sch_server_config_t *config)
{
    assert (config);
    sch_server_t *self = (sch_server_t *) zmalloc (sizeof (sch_server_t));
    assert (self);
    self->worker_timeout_ms = config->worker_timeout_ms;
    self->gateway_timeout_ms = config->gateway_timeout_ms > 0? config->gateway_timeout_ms
                                                              : S_GATEWAY_TIMEOUT_MS;
    self->gateway_peers = mt_peers_new ((uint64_t) self->gateway_timeout_ms);
    assert (self->gateway_peers);
    self->queue_max = (uint32_t) config->queue_max;
    self->jobs = sch_jobs_new ();
    sch_fairq_config_t policy = { config->policy, config->head_start, false, false,
                                  SCH_FAIRQ_FORGET_AFTER };
    sch_jobs_set_policy (self->jobs, &policy);
    //  A restart looks like a start: until the workers had time to announce
    //  themselves (warm_up_ms), no job is refused or failed for want of a
    //  worker
    if (mt_random_hex (self->instance, 16)) {
        sch_server_destroy (&self);
        return NULL;
    }
    sch_jobs_set_warming (self->jobs, config->warm_up_ms > 0);
    self->warm_until_ms = mt_mono_ms () + (uint64_t) (config->warm_up_ms > 0? config->warm_up_ms: 0);
    self->m_submitted = mt_metric_counter ("mt_sch_jobs_submitted_total", "jobs accepted");
    self->m_rej_capacity = mt_metric_counter ("mt_sch_jobs_rejected_total{code=\"no_capacity\"}",
                                              "jobs refused");
    self->m_rej_concurrency = mt_metric_counter (
        "mt_sch_jobs_rejected_total{code=\"concurrency\"}", "jobs refused");
    self->m_rej_bad = mt_metric_counter ("mt_sch_jobs_rejected_total{code=\"bad_request\"}",
                                         "jobs refused");
    self->m_dispatched = mt_metric_counter ("mt_sch_jobs_dispatched_total", "jobs sent to workers");
    self->m_done = mt_metric_counter ("mt_sch_jobs_done_total", "jobs finished by workers");
    self->m_requeued = mt_metric_counter ("mt_sch_jobs_requeued_total",
                                          "jobs accepted again after their worker was lost, "
                                          "handed them back, or a scheduler restart");
    self->m_queued = mt_metric_gauge ("mt_sch_jobs_queued", "jobs waiting");
    self->m_running = mt_metric_gauge ("mt_sch_jobs_running", "jobs on workers");
    self->m_workers = mt_metric_gauge ("mt_sch_workers_live", "live workers");
    self->m_gateways = mt_metric_gauge ("mt_sch_gateways_live", "gateways heartbeating");
    self->m_gone_running = mt_metric_counter (
        "mt_sch_gateway_gone_jobs_total{state=\"running\"}",
        "jobs of gateways that stopped heartbeating: cancelled at workers, or dropped");
    self->m_gone_queued = mt_metric_counter (
        "mt_sch_gateway_gone_jobs_total{state=\"queued\"}",
        "jobs of gateways that stopped heartbeating: cancelled at workers, or dropped");
    self->gateways = s_router_bind (config->gateway_bind, "scheduler-gateways", MT_ROLE_GATEWAY,
                                   &self->gateway_endpoint);
    self->workers_sock = s_router_bind (config->worker_bind, "scheduler-workers", MT_ROLE_WORKER,
                                       &self->worker_endpoint);
    if (!self->gateways || !self->workers_sock) {
        sch_server_destroy (&self);
        return NULL;
    }
    s_update_gauges (self);
    mt_log ("listening gateways=%s workers=%s worker_timeout_ms=%d gateway_timeout_ms=%d "
            "queue_max=%d policy=%s head_start=%llu instance=%s", self->gateway_endpoint,
            self->worker_endpoint, config->worker_timeout_ms, self->gateway_timeout_ms,
            config->queue_max, sch_fairq_policy_name (config->policy),
            (unsigned long long) config->head_start, self->instance);
    return self;
}

void
sch_server_destroy (sch_server_t **self_p)
{
    assert (self_p);
    sch_server_t *self = *self_p;
    if (!self)
        return;
    mt_codec_flush ();                  //  what is held goes before its sockets close
    sch_jobs_destroy (&self->jobs);
    mt_peers_destroy (&self->gateway_peers);
    mt_codec_close (&self->gateways);
    mt_codec_close (&self->workers_sock);
    free (self->pass);
    free (self->gateway_endpoint);
    free (self->worker_endpoint);
    free (self);
    *self_p = NULL;
}

int
sch_server_poll (sch_server_t *self, int timeout_ms)
{
    assert (self);
    zmq_pollitem_t items [] = {
        { zsock_resolve (self->gateways), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (self->workers_sock), 0, ZMQ_POLLIN, 0 },
    };
    int rc = mt_codec_poll (items, 2, timeout_ms);
    if (rc == -1)
        return zmq_errno () == EINTR? 0: -1;
    //  Drain what is waiting, a bounded number per turn so both sides get served
    //  (each until it has none: one look at its mailbox per turn, not one per message)
    bool workers = items [1].revents & ZMQ_POLLIN;
    bool gateways = items [0].revents & ZMQ_POLLIN;
    for (int i = 0; i < 1000 && (workers || gateways); i++) {
        if (workers)
            workers = s_on_worker (self);
        if (gateways)
            gateways = s_on_gateway (self);
    }
    uint64_t now = mt_mono_ms ();
    if (now >= self->next_sweep_ms) {
        s_sweep (self, now);
        if (!gateways)
            s_sweep_gateways (self, now);
        self->next_sweep_ms = now + S_SWEEP_MS;
    }
    if (self->dispatch_due)
        s_dispatch (self);
    return 0;
}

int
sch_server_run (sch_server_t *self)
{
    mt_codec_poll_own (self->gateways);
    mt_codec_poll_own (self->workers_sock);
    while (!mt_stopping ())
        if (sch_server_poll (self, 100) == -1 && !mt_stopping ()) {
            mt_log ("poll-failed errno=%s", zmq_strerror (zmq_errno ()));
            zclock_sleep (100);
        }
    mt_log ("stopping queued=%u running=%u workers=%zu", sch_jobs_queued (self->jobs),
            sch_jobs_running (self->jobs), sch_jobs_workers (self->jobs));
    return 0;
}

const char *
sch_server_gateway_endpoint (sch_server_t *self)
{
    return self->gateway_endpoint;
}

const char *
sch_server_worker_endpoint (sch_server_t *self)
{
    return self->worker_endpoint;
}

uint32_t
sch_server_queued (sch_server_t *self)
{
    return sch_jobs_queued (self->jobs);
}

uint32_t
sch_server_running (sch_server_t *self)
{
    return sch_jobs_running (self->jobs);
}

uint32_t
sch_server_workers (sch_server_t *self)
{
    return (uint32_t) sch_jobs_workers (self->jobs);
}

uint32_t
sch_server_gateways (sch_server_t *self)
{
    return (uint32_t) mt_peers_live (self->gateway_peers);
}
