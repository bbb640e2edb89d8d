//  Scheduler server: sockets and handlers. Queues jobs per (pool, model) in
//  weighted fair queues, enforces per-tenant concurrency leases, dispatches
//  to workers with free credit, forwards cancels, and fails the jobs of
//  workers that stop talking.
#include "sch_server.h"
#include "sch_fairq.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <assert.h>
#include <czmq.h>

#define S_NAME_MAX 256          //  longest id, pool or model name accepted
#define S_SWEEP_MS 100          //  liveness sweep interval
#define S_SNDHWM 100000         //  ROUTER send queue per peer

typedef struct _s_worker_t s_worker_t;

//  A job the scheduler knows: queued or running on a worker.
typedef struct {
    char *req_id;               //  owned; key in self->jobs
    char *tenant_id;            //  owned
    char *queue_key;            //  owned; "pool\x1fmodel"
    Mt__JobSpec *spec;          //  owned copy; free with mt__job_spec__free_unpacked
    zframe_t *gateway;          //  owned; routing id of the submitting gateway
    uint32_t weight;            //  tier weight, >= 1
    uint64_t charged;           //  tokens charged by the fair queue at dispatch
    s_worker_t *worker;         //  borrowed; NULL while queued
} s_job_t;

//  A live worker, keyed by its routing id (hex).
struct _s_worker_t {
    char *key;                  //  owned; hex routing id
    zframe_t *rid;              //  owned; routing id
    char *worker_id;            //  owned
    char *pool;                 //  owned
    char **models;              //  owned array of owned strings
    size_t nmodels;
    size_t rr;                  //  round-robin start over models
    uint32_t total_slots;       //  as announced
    uint32_t assigned;          //  jobs sent and not yet done: the credit authority
    uint32_t foreign;           //  jobs it reports busy that we do not know about
    uint64_t last_seen_ms;      //  monotonic
    uint64_t blocked_round;     //  dispatch round in which a send to it failed
};

typedef struct {
    uint32_t leases;            //  queued + running jobs of the tenant
} s_lease_t;

struct _sch_server_t {
    zsock_t *gateways;          //  ROUTER for gateways
    zsock_t *workers_sock;      //  ROUTER for workers
    char *gateway_endpoint;     //  owned; bound endpoint
    char *worker_endpoint;      //  owned; bound endpoint
    int worker_timeout_ms;
    uint32_t queue_max;
    zhashx_t *jobs;             //  req id -> s_job_t, owned
    zhashx_t *workers;          //  routing id hex -> s_worker_t, owned
    zhashx_t *queues;           //  "pool\x1fmodel" -> sch_fairq_t, owned
    zhashx_t *leases;           //  tenant id -> s_lease_t, owned
    zhashx_t *catalog;          //  pool -> zlistx_t of model names (sorted), owned
    uint32_t queued;            //  jobs waiting in queues
    uint32_t running;           //  jobs assigned to workers
    uint64_t next_sweep_ms;     //  monotonic time of the next liveness sweep
    uint64_t dispatch_round;    //  counts dispatch passes
    //  Metrics (borrowed from the registry)
    mt_metric_t *m_submitted, *m_rej_capacity, *m_rej_concurrency, *m_rej_bad;
    mt_metric_t *m_dispatched, *m_done, *m_queued, *m_running, *m_workers;
};

//  --------------------------------------------------------------------------
//  Small helpers

static void
s_job_destroy (void **item_p)
{
    s_job_t *job = (s_job_t *) *item_p;
    if (!job)
        return;
    free (job->req_id);
    free (job->tenant_id);
    free (job->queue_key);
    if (job->spec)
        mt__job_spec__free_unpacked (job->spec, NULL);
    zframe_destroy (&job->gateway);
    free (job);
    *item_p = NULL;
}

static void
s_worker_destroy (void **item_p)
{
    s_worker_t *w = (s_worker_t *) *item_p;
    if (!w)
        return;
    free (w->key);
    zframe_destroy (&w->rid);
    free (w->worker_id);
    free (w->pool);
    for (size_t i = 0; i < w->nmodels; i++)
        free (w->models [i]);
    free (w->models);
    free (w);
    *item_p = NULL;
}

static void
s_fairq_destructor (void **item_p)
{
    sch_fairq_destroy ((sch_fairq_t **) item_p);
}

static void
s_list_destructor (void **item_p)
{
    zlistx_destroy ((zlistx_t **) item_p);
}

static void
s_free_destructor (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static int
s_strcmp (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

static bool
s_name_ok (const char *s)
{
    return s && *s && strlen (s) < S_NAME_MAX;
}

static void
s_queue_key (char *out, size_t size, const char *pool, const char *model)
{
    snprintf (out, size, "%s\x1f%s", pool, model);
}

//  Copy a decoded JobSpec so it outlives the envelope. Caller owns.
static Mt__JobSpec *
s_spec_copy (const Mt__JobSpec *spec)
{
    size_t size = mt__job_spec__get_packed_size (spec);
    uint8_t *buf = (uint8_t *) malloc (size? size: 1);
    if (!buf)
        return NULL;
    mt__job_spec__pack (spec, buf);
    Mt__JobSpec *copy = mt__job_spec__unpack (NULL, size, buf);
    free (buf);
    return copy;
}

static void
s_update_gauges (sch_server_t *self)
{
    mt_metric_set (self->m_queued, self->queued);
    mt_metric_set (self->m_running, self->running);
    mt_metric_set (self->m_workers, (int64_t) zhashx_size (self->workers));
}

static uint32_t
s_worker_credit (s_worker_t *w)
{
    uint64_t used = (uint64_t) w->assigned + w->foreign;
    return used >= w->total_slots? 0: (uint32_t) (w->total_slots - used);
}

static bool
s_worker_serves (s_worker_t *w, const char *pool, const char *model)
{
    if (strcmp (w->pool, pool))
        return false;
    for (size_t i = 0; i < w->nmodels; i++)
        if (!strcmp (w->models [i], model))
            return true;
    return false;
}

static bool
s_any_worker_serves (sch_server_t *self, const char *pool, const char *model)
{
    s_worker_t *w = (s_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (s_worker_serves (w, pool, model))
            return true;
        w = (s_worker_t *) zhashx_next (self->workers);
    }
    return false;
}

static void
s_lease_take (sch_server_t *self, const char *tenant_id)
{
    s_lease_t *lease = (s_lease_t *) zhashx_lookup (self->leases, tenant_id);
    if (!lease) {
        lease = (s_lease_t *) zmalloc (sizeof (s_lease_t));
        assert (lease);
        zhashx_insert (self->leases, tenant_id, lease);
    }
    lease->leases++;
}

static void
s_lease_release (sch_server_t *self, const char *tenant_id)
{
    s_lease_t *lease = (s_lease_t *) zhashx_lookup (self->leases, tenant_id);
    if (!lease)
        return;
    if (lease->leases > 0)
        lease->leases--;
    if (lease->leases == 0)
        zhashx_delete (self->leases, tenant_id);
}

static uint32_t
s_lease_count (sch_server_t *self, const char *tenant_id)
{
    s_lease_t *lease = (s_lease_t *) zhashx_lookup (self->leases, tenant_id);
    return lease? lease->leases: 0;
}

//  Send a SubmitReply to a gateway.
static void
s_reply (sch_server_t *self, zframe_t *gateway, const char *req_id, bool accepted,
         Mt__ErrorCode code, const char *message, uint32_t retry_after_s)
{
    Mt__SubmitReply reply = MT__SUBMIT_REPLY__INIT;
    reply.req_id = (char *) req_id;
    reply.accepted = accepted;
    reply.code = code;
    reply.message = (char *) (message? message: "");
    reply.retry_after_s = retry_after_s;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT_REPLY;
    env.submit_reply = &reply;
    if (mt_codec_send (self->gateways, gateway, &env))
        mt_log ("send-failed to=gateway body=submit_reply req=%s", req_id);
}

//  Tell a job's gateway the job ended without a worker's JobDone.
static void
s_send_done (sch_server_t *self, zframe_t *gateway, s_job_t *job,
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
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    if (mt_codec_send (self->gateways, gateway, &env))
        mt_log ("send-failed to=gateway body=job_done req=%s tenant=%s",
                job->req_id, job->tenant_id);
}

//  Forget a job: release its lease and drop it from the table.
static void
s_job_forget (sch_server_t *self, s_job_t *job)
{
    s_lease_release (self, job->tenant_id);
    if (job->worker) {
        if (job->worker->assigned > 0)
            job->worker->assigned--;
        if (self->running > 0)
            self->running--;
    }
    else
    if (self->queued > 0)
        self->queued--;
    zhashx_delete (self->jobs, job->req_id);
}

//  --------------------------------------------------------------------------
//  Dispatch

//  Pop the next job of this queue and send it to the worker. Returns true
//  when a job went out.
static bool
s_send_next (sch_server_t *self, s_worker_t *w, sch_fairq_t *q)
{
    sch_fairq_pick_t pick;
    if (!sch_fairq_pop (q, &pick))
        return false;
    s_job_t *job = (s_job_t *) pick.item;
    Mt__Job body = MT__JOB__INIT;
    body.job = job->spec;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB;
    env.job = &body;
    if (mt_codec_send (self->workers_sock, w->rid, &env)) {
        mt_log ("dispatch-failed req=%s tenant=%s worker=%s errno=%s action=requeued",
                job->req_id, job->tenant_id, w->worker_id, zmq_strerror (zmq_errno ()));
        sch_fairq_unpop (q, job->req_id, &pick);
        w->blocked_round = self->dispatch_round;
        return false;
    }
    job->worker = w;
    job->charged = pick.charged;
    w->assigned++;
    self->queued--;
    self->running++;
    mt_metric_add (self->m_dispatched, 1);
    mt_debug ("dispatched req=%s tenant=%s worker=%s", job->req_id, job->tenant_id,
              w->worker_id);
    return true;
}

//  The queue of the next model this worker should take a job from, or NULL.
//  Models of a worker take turns.
static sch_fairq_t *
s_worker_queue (sch_server_t *self, s_worker_t *w, size_t *index_p)
{
    for (size_t i = 0; i < w->nmodels; i++) {
        size_t index = (w->rr + i) % w->nmodels;
        char key [2 * S_NAME_MAX + 2];
        s_queue_key (key, sizeof key, w->pool, w->models [index]);
        sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, key);
        if (q && sch_fairq_size (q) > 0) {
            *index_p = index;
            return q;
        }
    }
    return NULL;
}

//  While some worker has credit and a job waits for a model it serves, send
//  the next job to the worker with the most free slots, so load spreads over
//  the pool instead of filling one engine first.
static void
s_dispatch (sch_server_t *self)
{
    self->dispatch_round++;
    while (self->queued > 0) {
        s_worker_t *best = NULL;
        sch_fairq_t *best_q = NULL;
        size_t best_index = 0;
        uint32_t best_credit = 0;
        for (s_worker_t *w = (s_worker_t *) zhashx_first (self->workers); w;
             w = (s_worker_t *) zhashx_next (self->workers)) {
            if (!w->nmodels || w->blocked_round == self->dispatch_round)
                continue;
            uint32_t credit = (uint32_t) s_worker_credit (w);
            if (credit <= best_credit)
                continue;
            size_t index;
            sch_fairq_t *q = s_worker_queue (self, w, &index);
            if (q) {
                best = w;
                best_q = q;
                best_index = index;
                best_credit = credit;
            }
        }
        if (!best)
            break;
        if (s_send_next (self, best, best_q))
            best->rr = best_index + 1;
    }
    s_update_gauges (self);
}

//  --------------------------------------------------------------------------
//  Gateway messages

static void
s_handle_submit (sch_server_t *self, zframe_t *gateway, Mt__Submit *submit)
{
    Mt__JobSpec *spec = submit? submit->job: NULL;
    if (!spec) {
        mt_log ("submit-invalid reason=\"no job\" action=dropped");
        mt_metric_add (self->m_rej_bad, 1);
        return;
    }
    const char *req = spec->req_id;
    const char *tenant = spec->tenant_id;
    if (!s_name_ok (req) || !s_name_ok (tenant) || !s_name_ok (spec->model)
    ||  !s_name_ok (spec->pool)) {
        mt_log ("submit-invalid req=%.64s tenant=%.64s reason=\"req_id, tenant_id, model "
                "and pool must be set\"", req, tenant);
        mt_metric_add (self->m_rej_bad, 1);
        s_reply (self, gateway, req, false, MT__ERROR_CODE__ERR_BAD_REQUEST,
                 "req_id, tenant_id, model and pool must be set", 0);
        return;
    }
    if (zhashx_lookup (self->jobs, req)) {
        mt_log ("submit-duplicate req=%s tenant=%s action=ignored", req, tenant);
        return;
    }
    if (!s_any_worker_serves (self, spec->pool, spec->model)) {
        mt_log ("submit-rejected req=%s tenant=%s code=no_capacity pool=%s model=%s "
                "reason=\"no live worker\"", req, tenant, spec->pool, spec->model);
        mt_metric_add (self->m_rej_capacity, 1);
        s_reply (self, gateway, req, false, MT__ERROR_CODE__ERR_NO_CAPACITY,
                 "no worker serves this model", 0);
        return;
    }
    uint32_t leases = s_lease_count (self, tenant);
    if (submit->max_concurrent > 0 && leases >= submit->max_concurrent) {
        mt_log ("submit-rejected req=%s tenant=%s code=concurrency leases=%u max=%u",
                req, tenant, leases, submit->max_concurrent);
        mt_metric_add (self->m_rej_concurrency, 1);
        s_reply (self, gateway, req, false, MT__ERROR_CODE__ERR_CONCURRENCY,
                 "too many concurrent requests", 1);
        return;
    }
    char key [2 * S_NAME_MAX + 2];
    s_queue_key (key, sizeof key, spec->pool, spec->model);
    sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, key);
    if (q && sch_fairq_size (q) >= self->queue_max) {
        mt_log ("submit-rejected req=%s tenant=%s code=no_capacity pool=%s model=%s "
                "reason=\"queue full\" queued=%zu", req, tenant, spec->pool, spec->model,
                sch_fairq_size (q));
        mt_metric_add (self->m_rej_capacity, 1);
        s_reply (self, gateway, req, false, MT__ERROR_CODE__ERR_NO_CAPACITY,
                 "queue full", 0);
        return;
    }
    if (!q) {
        q = sch_fairq_new ();
        zhashx_insert (self->queues, key, q);
    }
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    assert (job);
    job->req_id = strdup (req);
    job->tenant_id = strdup (tenant);
    job->queue_key = strdup (key);
    job->spec = s_spec_copy (spec);
    job->gateway = zframe_dup (gateway);
    job->weight = submit->weight? submit->weight: 1;
    assert (job->req_id && job->tenant_id && job->queue_key && job->gateway);
    if (!job->spec) {
        mt_log ("submit-failed req=%s tenant=%s reason=\"out of memory\"", req, tenant);
        void *item = job;
        s_job_destroy (&item);
        return;
    }
    uint64_t cost = (uint64_t) spec->prompt_tokens + spec->max_tokens;
    sch_fairq_push (q, tenant, job->weight, req, cost? cost: 1, job);
    zhashx_insert (self->jobs, req, job);
    s_lease_take (self, tenant);
    self->queued++;
    mt_metric_add (self->m_submitted, 1);
    s_reply (self, gateway, req, true, MT__ERROR_CODE__ERR_NONE, "", 0);
    mt_debug ("submit-accepted req=%s tenant=%s pool=%s model=%s weight=%u leases=%u",
              req, tenant, spec->pool, spec->model, job->weight, leases + 1);
    s_dispatch (self);
}

static void
s_handle_cancel (sch_server_t *self, zframe_t *gateway, Mt__Cancel *cancel)
{
    s_job_t *job = cancel? (s_job_t *) zhashx_lookup (self->jobs, cancel->req_id): NULL;
    if (!job) {
        mt_debug ("cancel-unknown req=%.64s action=ignored", cancel? cancel->req_id: "");
        return;
    }
    if (*cancel->tenant_id && strcmp (cancel->tenant_id, job->tenant_id)) {
        mt_log ("cancel-mismatch req=%s tenant=%.64s owner=%s action=ignored",
                job->req_id, cancel->tenant_id, job->tenant_id);
        return;
    }
    if (job->worker) {
        Mt__Cancel fwd = MT__CANCEL__INIT;
        fwd.req_id = job->req_id;
        fwd.tenant_id = job->tenant_id;
        Mt__Envelope env = MT__ENVELOPE__INIT;
        env.body_case = MT__ENVELOPE__BODY_CANCEL;
        env.cancel = &fwd;
        if (mt_codec_send (self->workers_sock, job->worker->rid, &env))
            mt_log ("send-failed to=worker body=cancel req=%s tenant=%s worker=%s",
                    job->req_id, job->tenant_id, job->worker->worker_id);
        mt_log ("cancel-forwarded req=%s tenant=%s worker=%s", job->req_id,
                job->tenant_id, job->worker->worker_id);
        return;
    }
    sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, job->queue_key);
    if (q)
        sch_fairq_remove (q, job->req_id);
    mt_log ("cancel-queued req=%s tenant=%s", job->req_id, job->tenant_id);
    s_send_done (self, gateway, job, MT__ERROR_CODE__ERR_CANCELLED, "cancelled");
    s_job_forget (self, job);
    s_update_gauges (self);
}

static void
s_handle_gateway_heartbeat (sch_server_t *self, zframe_t *gateway)
{
    size_t npools = zhashx_size (self->catalog);
    Mt__PoolModels *items = (Mt__PoolModels *) calloc (npools? npools: 1, sizeof *items);
    Mt__PoolModels **ptrs = (Mt__PoolModels **) calloc (npools? npools: 1, sizeof *ptrs);
    char ***models = (char ***) calloc (npools? npools: 1, sizeof *models);
    if (!items || !ptrs || !models)
        goto cleanup;
    size_t n = 0;
    zlistx_t *list = (zlistx_t *) zhashx_first (self->catalog);
    while (list && n < npools) {
        const char *pool = (const char *) zhashx_cursor (self->catalog);
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
        s_worker_t *w = (s_worker_t *) zhashx_first (self->workers);
        while (w) {
            if (!strcmp (w->pool, pool))
                pm->live_workers++;
            w = (s_worker_t *) zhashx_next (self->workers);
        }
        for (size_t i = 0; i < k; i++) {
            char key [2 * S_NAME_MAX + 2];
            s_queue_key (key, sizeof key, pool, models [n][i]);
            sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, key);
            if (q)
                pm->queued += (uint32_t) sch_fairq_size (q);
        }
        ptrs [n] = pm;
        n++;
        list = (zlistx_t *) zhashx_next (self->catalog);
    }
    Mt__Catalog catalog = MT__CATALOG__INIT;
    catalog.pools = ptrs;
    catalog.n_pools = n;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CATALOG;
    env.catalog = &catalog;
    if (mt_codec_send (self->gateways, gateway, &env))
        mt_log ("send-failed to=gateway body=catalog");
cleanup:
    if (models)
        for (size_t i = 0; i < npools; i++)
            free (models [i]);
    free (models);
    free (ptrs);
    free (items);
}

static void
s_on_gateway (sch_server_t *self)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = mt_codec_recv (self->gateways, &rid);
    if (!env)
        return;                 //  garbage: logged by the codec
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_SUBMIT:
            s_handle_submit (self, rid, env->submit);
            break;
        case MT__ENVELOPE__BODY_CANCEL:
            s_handle_cancel (self, rid, env->cancel);
            break;
        case MT__ENVELOPE__BODY_HEARTBEAT:
            s_handle_gateway_heartbeat (self, rid);
            break;
        default:
            mt_log ("unexpected-message socket=gateway body=%s action=dropped",
                    mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    zframe_destroy (&rid);
}

//  --------------------------------------------------------------------------
//  Worker messages

static void
s_catalog_add (sch_server_t *self, const char *pool, const char *model)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->catalog, pool);
    if (!list) {
        list = zlistx_new ();
        assert (list);
        zlistx_set_destructor (list, s_free_destructor);
        zlistx_set_comparator (list, s_strcmp);
        zhashx_insert (self->catalog, pool, list);
    }
    if (!zlistx_find (list, (void *) model)) {
        char *copy = strdup (model);
        assert (copy);
        zlistx_insert (list, copy, true);
    }
}

static void
s_handle_worker_ready (sch_server_t *self, zframe_t *rid, Mt__WorkerReady *ready)
{
    if (!s_name_ok (ready->pool) || ready->n_models == 0) {
        mt_log ("worker-invalid worker=%.64s reason=\"pool and models must be set\" "
                "action=dropped", ready->worker_id);
        return;
    }
    for (size_t i = 0; i < ready->n_models; i++)
        if (!s_name_ok (ready->models [i])) {
            mt_log ("worker-invalid worker=%.64s reason=\"bad model name\" action=dropped",
                    ready->worker_id);
            return;
        }
    char *key = zframe_strhex (rid);
    s_worker_t *w = (s_worker_t *) zhashx_lookup (self->workers, key);
    bool fresh = !w;
    if (fresh) {
        w = (s_worker_t *) zmalloc (sizeof (s_worker_t));
        assert (w);
        w->key = strdup (key);
        w->rid = zframe_dup (rid);
        zhashx_insert (self->workers, key, w);
    }
    bool changed = fresh || strcmp (w->pool, ready->pool) || w->nmodels != ready->n_models
                || w->total_slots != ready->total_slots;
    for (size_t i = 0; !changed && i < ready->n_models; i++)
        changed = strcmp (w->models [i], ready->models [i]) != 0;
    if (changed) {
        free (w->worker_id);
        free (w->pool);
        for (size_t i = 0; i < w->nmodels; i++)
            free (w->models [i]);
        free (w->models);
        w->worker_id = strdup (*ready->worker_id? ready->worker_id: key);
        w->pool = strdup (ready->pool);
        w->models = (char **) calloc (ready->n_models, sizeof (char *));
        assert (w->worker_id && w->pool && w->models);
        w->nmodels = ready->n_models;
        w->rr = 0;
        for (size_t i = 0; i < ready->n_models; i++) {
            w->models [i] = strdup (ready->models [i]);
            assert (w->models [i]);
            s_catalog_add (self, w->pool, w->models [i]);
        }
        w->total_slots = ready->total_slots;
        mt_log ("worker-%s worker=%s pool=%s models=%zu slots=%u", fresh? "joined": "changed",
                w->worker_id, w->pool, w->nmodels, w->total_slots);
    }
    //  Jobs the worker reports busy beyond the ones we assigned (it ran them
    //  for a previous scheduler, or we gave them up) hold slots we cannot use.
    //  Our own count stays the authority: a report can only lower credit.
    uint32_t busy = ready->free_slots >= ready->total_slots?
                    0: ready->total_slots - ready->free_slots;
    w->foreign = busy > w->assigned? busy - w->assigned: 0;
    w->last_seen_ms = mt_mono_ms ();
    free (key);
    s_dispatch (self);
}

static void
s_handle_job_done (sch_server_t *self, zframe_t *rid, Mt__JobDone *done)
{
    s_job_t *job = (s_job_t *) zhashx_lookup (self->jobs, done->req_id);
    if (!job) {
        mt_debug ("job-done-unknown req=%.64s action=ignored", done->req_id);
        return;
    }
    if (!job->worker || !zframe_eq (job->worker->rid, rid)) {
        mt_log ("job-done-mismatch req=%s tenant=%s reason=\"not running on this worker\" "
                "action=ignored", job->req_id, job->tenant_id);
        return;
    }
    job->worker->last_seen_ms = mt_mono_ms ();
    sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, job->queue_key);
    if (q)
        sch_fairq_correct (q, job->tenant_id, job->weight, job->charged,
                           (uint64_t) done->prompt_tokens + done->completion_tokens);
    mt_metric_add (self->m_done, 1);
    mt_debug ("job-done req=%s tenant=%s worker=%s tokens=%u error=%d", job->req_id,
              job->tenant_id, job->worker->worker_id, done->completion_tokens, done->error);
    s_job_forget (self, job);
    s_dispatch (self);
}

static void
s_on_worker (sch_server_t *self)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = mt_codec_recv (self->workers_sock, &rid);
    if (!env)
        return;
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_WORKER_READY:
            s_handle_worker_ready (self, rid, env->worker_ready);
            break;
        case MT__ENVELOPE__BODY_HEARTBEAT: {
            char *key = zframe_strhex (rid);
            s_worker_t *w = (s_worker_t *) zhashx_lookup (self->workers, key);
            if (w)
                w->last_seen_ms = mt_mono_ms ();
            free (key);
            break;
        }
        case MT__ENVELOPE__BODY_JOB_DONE:
            s_handle_job_done (self, rid, env->job_done);
            break;
        default:
            mt_log ("unexpected-message socket=worker body=%s action=dropped",
                    mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    zframe_destroy (&rid);
}

//  --------------------------------------------------------------------------
//  Liveness

//  A worker died: fail every job it held, forget it. Then fail queued jobs
//  that no live worker can serve any more (never let them hang).
static void
s_worker_lost (sch_server_t *self, s_worker_t *w, uint64_t silent_ms)
{
    zlistx_t *victims = zlistx_new ();
    s_job_t *job = (s_job_t *) zhashx_first (self->jobs);
    while (job) {
        if (job->worker == w)
            zlistx_add_end (victims, job);
        job = (s_job_t *) zhashx_next (self->jobs);
    }
    mt_log ("worker-lost worker=%s pool=%s silent_ms=%llu jobs=%zu", w->worker_id, w->pool,
            (unsigned long long) silent_ms, zlistx_size (victims));
    for (job = (s_job_t *) zlistx_first (victims); job;
         job = (s_job_t *) zlistx_next (victims)) {
        mt_log ("job-lost req=%s tenant=%s worker=%s", job->req_id, job->tenant_id,
                w->worker_id);
        sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, job->queue_key);
        if (q)
            sch_fairq_correct (q, job->tenant_id, job->weight, job->charged, 0);
        s_send_done (self, job->gateway, job, MT__ERROR_CODE__ERR_WORKER_LOST, "worker lost");
        s_job_forget (self, job);
    }
    zlistx_purge (victims);
    zhashx_delete (self->workers, w->key);
    //  Orphaned queued jobs
    job = (s_job_t *) zhashx_first (self->jobs);
    while (job) {
        if (!job->worker
        &&  !s_any_worker_serves (self, job->spec->pool, job->spec->model))
            zlistx_add_end (victims, job);
        job = (s_job_t *) zhashx_next (self->jobs);
    }
    for (job = (s_job_t *) zlistx_first (victims); job;
         job = (s_job_t *) zlistx_next (victims)) {
        mt_log ("job-orphaned req=%s tenant=%s pool=%s model=%s reason=\"no live worker\"",
                job->req_id, job->tenant_id, job->spec->pool, job->spec->model);
        sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, job->queue_key);
        if (q)
            sch_fairq_remove (q, job->req_id);
        s_send_done (self, job->gateway, job, MT__ERROR_CODE__ERR_NO_CAPACITY,
                     "no worker serves this model");
        s_job_forget (self, job);
    }
    zlistx_destroy (&victims);
}

static void
s_sweep (sch_server_t *self, uint64_t now)
{
    zlistx_t *dead = zlistx_new ();
    s_worker_t *w = (s_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (now - w->last_seen_ms > (uint64_t) self->worker_timeout_ms)
            zlistx_add_end (dead, w);
        w = (s_worker_t *) zhashx_next (self->workers);
    }
    for (w = (s_worker_t *) zlistx_first (dead); w; w = (s_worker_t *) zlistx_next (dead))
        s_worker_lost (self, w, now - w->last_seen_ms);
    if (zlistx_size (dead))
        s_dispatch (self);
    zlistx_destroy (&dead);
}

//  --------------------------------------------------------------------------
//  Lifecycle

static zsock_t *
s_router_bind (const char *endpoint, char **bound)
{
    zsock_t *sock = mt_codec_socket (ZMQ_ROUTER);
    if (!sock)
        return NULL;
    zsock_set_sndhwm (sock, S_SNDHWM);
    zsock_set_rcvhwm (sock, S_SNDHWM);
    zsock_set_linger (sock, 0);
    zsock_set_router_mandatory (sock, 1);
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
    self->queue_max = (uint32_t) config->queue_max;
    self->jobs = zhashx_new ();
    zhashx_set_destructor (self->jobs, s_job_destroy);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_destroy);
    self->queues = zhashx_new ();
    zhashx_set_destructor (self->queues, s_fairq_destructor);
    self->leases = zhashx_new ();
    zhashx_set_destructor (self->leases, s_free_destructor);
    self->catalog = zhashx_new ();
    zhashx_set_destructor (self->catalog, s_list_destructor);
    self->m_submitted = mt_metric_counter ("sch_jobs_submitted_total", "jobs accepted");
    self->m_rej_capacity = mt_metric_counter ("sch_jobs_rejected_total{code=\"no_capacity\"}",
                                              "jobs refused");
    self->m_rej_concurrency = mt_metric_counter (
        "sch_jobs_rejected_total{code=\"concurrency\"}", "jobs refused");
    self->m_rej_bad = mt_metric_counter ("sch_jobs_rejected_total{code=\"bad_request\"}",
                                         "jobs refused");
    self->m_dispatched = mt_metric_counter ("sch_jobs_dispatched_total", "jobs sent to workers");
    self->m_done = mt_metric_counter ("sch_jobs_done_total", "jobs finished by workers");
    self->m_queued = mt_metric_gauge ("sch_jobs_queued", "jobs waiting");
    self->m_running = mt_metric_gauge ("sch_jobs_running", "jobs on workers");
    self->m_workers = mt_metric_gauge ("sch_workers_live", "live workers");
    self->gateways = s_router_bind (config->gateway_bind, &self->gateway_endpoint);
    self->workers_sock = s_router_bind (config->worker_bind, &self->worker_endpoint);
    if (!self->gateways || !self->workers_sock) {
        sch_server_destroy (&self);
        return NULL;
    }
    s_update_gauges (self);
    mt_log ("listening gateways=%s workers=%s worker_timeout_ms=%d queue_max=%d",
            self->gateway_endpoint, self->worker_endpoint, config->worker_timeout_ms,
            config->queue_max);
    return self;
}

void
sch_server_destroy (sch_server_t **self_p)
{
    assert (self_p);
    sch_server_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->jobs);       //  before the queues and workers they point into
    zhashx_destroy (&self->queues);
    zhashx_destroy (&self->workers);
    zhashx_destroy (&self->leases);
    zhashx_destroy (&self->catalog);
    zsock_destroy (&self->gateways);
    zsock_destroy (&self->workers_sock);
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
    int rc = zmq_poll (items, 2, timeout_ms);
    if (rc == -1)
        return zmq_errno () == EINTR? 0: -1;
    //  Drain what is waiting, a bounded number per turn so both sides get served
    for (int i = 0; i < 1000; i++) {
        bool any = false;
        if (zsock_events (self->workers_sock) & ZMQ_POLLIN) {
            s_on_worker (self);
            any = true;
        }
        if (zsock_events (self->gateways) & ZMQ_POLLIN) {
            s_on_gateway (self);
            any = true;
        }
        if (!any)
            break;
    }
    uint64_t now = mt_mono_ms ();
    if (now >= self->next_sweep_ms) {
        s_sweep (self, now);
        self->next_sweep_ms = now + S_SWEEP_MS;
    }
    return 0;
}

int
sch_server_run (sch_server_t *self)
{
    while (!mt_stopping ())
        if (sch_server_poll (self, 100) == -1 && !mt_stopping ()) {
            mt_log ("poll-failed errno=%s", zmq_strerror (zmq_errno ()));
            zclock_sleep (100);
        }
    mt_log ("stopping queued=%u running=%u workers=%zu", self->queued, self->running,
            zhashx_size (self->workers));
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
    return self->queued;
}

uint32_t
sch_server_running (sch_server_t *self)
{
    return self->running;
}

uint32_t
sch_server_workers (sch_server_t *self)
{
    return (uint32_t) zhashx_size (self->workers);
}
