//  The scheduler's bookkeeping: jobs, leases, fair queues, workers and the
//  catalog, and the dispatch choice. No sockets, no clock, no logging.
#include "sch_jobs.h"
#include "mt_index.h"
#include "mt_codec.h"
#include "mt_util.h"

#include <assert.h>

#define S_NAME_MAX 256          //  longest id, pool or model name accepted
#define S_SPARE_MAX 1024        //  jobs and leases kept for reuse, each, at most
#define S_LEASE_NAME 48         //  room for a tenant id in a lease, at least (a UUID's 37)

//  A tenant's concurrency leases: its jobs queued or running. Exists while
//  it holds one; its jobs point to it.
struct _sch_lease_t {
    uint32_t leases;            //  queued + running jobs of the tenant
    size_t room;                //  bytes tenant_id has room for
    sch_lease_t *next;          //  in the spare list
    char tenant_id [];          //  its key in the lease table
};

//  A gateway with jobs here: its routing id once, for all of them.
struct _sch_gateway_t {
    zframe_t *rid;              //  owned
    uint32_t jobs;              //  jobs that name it
};

struct _sch_jobs_t {
    mt_index_t *jobs;          //  req id -> sch_job_t, owned (the key is the job's)
    zhashx_t *workers;          //  routing id hex -> sch_worker_t, owned
    zhashx_t *queues;           //  "pool\x1fmodel" -> sch_fairq_t, owned
    mt_index_t *leases;        //  tenant id -> sch_lease_t, owned (the key is the lease's)
    sch_gateway_t **gateways;   //  owned; gateways with jobs here
    size_t ngateways;           //  in gateways
    sch_job_t *spare_jobs;      //  jobs for reuse, linked through their queue field
    size_t nspare_jobs;
    sch_lease_t *spare_leases;  //  leases for reuse
    size_t nspare_leases;
    zhashx_t *catalog;          //  pool -> zlistx_t of model names (sorted), owned
    uint32_t queued;            //  jobs waiting in queues
    uint32_t running;           //  jobs assigned to workers
    uint64_t dispatch_round;    //  counts dispatch passes
    sch_fairq_config_t policy;  //  of the fair queues created from now on
    bool warming;               //  just started: workers may not have announced yet
    //  The queue looked up last (a Submit looks it up twice; queues live as
    //  long as the tables)
    sch_fairq_t *last_queue;
    char last_pool [S_NAME_MAX], last_model [S_NAME_MAX];
};

//  --------------------------------------------------------------------------
//  Small helpers

//  The gateway table's entry for this routing id, added when new; one job
//  more names it.
static sch_gateway_t *
s_gateway_take (sch_jobs_t *self, zframe_t *rid)
{
    for (size_t i = 0; i < self->ngateways; i++)
        if (zframe_eq (self->gateways [i]->rid, rid)) {
            self->gateways [i]->jobs++;
            return self->gateways [i];
        }
    sch_gateway_t **grown = (sch_gateway_t **) realloc (self->gateways,
                                                        (self->ngateways + 1) * sizeof *grown);
    sch_gateway_t *gw = (sch_gateway_t *) malloc (sizeof (sch_gateway_t));
    assert (grown && gw);
    self->gateways = grown;
    gw->rid = zframe_dup (rid);
    assert (gw->rid);
    gw->jobs = 1;
    self->gateways [self->ngateways++] = gw;
    return gw;
}

//  One job less names gw: the entry goes with its last job.
static void
s_gateway_release (sch_jobs_t *self, sch_gateway_t *gw)
{
    if (--gw->jobs > 0)
        return;
    for (size_t i = 0; i < self->ngateways; i++)
        if (self->gateways [i] == gw) {
            self->gateways [i] = self->gateways [--self->ngateways];
            break;
        }
    zframe_destroy (&gw->rid);
    free (gw);
}

//  Free a job's own parts and keep it for reuse (or free it).
static void
s_job_free (sch_jobs_t *self, sch_job_t *job)
{
    if (job->spec)
        mt__job_spec__free_unpacked (job->spec, NULL);
    if (job->gateway_entry)
        s_gateway_release (self, job->gateway_entry);
    if (self->nspare_jobs < S_SPARE_MAX) {
        memset (job, 0, sizeof *job);
        job->queue = (sch_fairq_t *) self->spare_jobs;
        self->spare_jobs = job;
        self->nspare_jobs++;
    }
    else
        free (job);
}

static sch_job_t *
s_job_new (sch_jobs_t *self)
{
    sch_job_t *job = self->spare_jobs;
    if (job) {
        self->spare_jobs = (sch_job_t *) job->queue;
        self->nspare_jobs--;
        job->queue = NULL;
        return job;
    }
    job = (sch_job_t *) zmalloc (sizeof (sch_job_t));
    assert (job);
    return job;
}

static void
s_worker_destroy (void **item_p)
{
    sch_worker_t *w = (sch_worker_t *) *item_p;
    if (!w)
        return;
    free (w->key);
    zframe_destroy (&w->rid);
    free (w->worker_id);
    free (w->pool);
    for (size_t i = 0; i < w->nmodels; i++)
        free (w->models [i]);
    free (w->models);
    free (w->queues);
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

static void
s_queue_key (char *out, size_t size, const char *pool, const char *model)
{
    snprintf (out, size, "%s\x1f%s", pool, model);
}

static uint32_t
s_worker_credit (sch_worker_t *w)
{
    uint64_t used = (uint64_t) w->assigned + w->foreign;
    return used >= w->total_slots? 0: (uint32_t) (w->total_slots - used);
}

static bool
s_worker_serves (sch_worker_t *w, const char *pool, const char *model)
{
    if (strcmp (w->pool, pool))
        return false;
    for (size_t i = 0; i < w->nmodels; i++)
        if (!strcmp (w->models [i], model))
            return true;
    return false;
}

sch_jobs_t *
sch_jobs_new (void)
{
    sch_jobs_t *self = (sch_jobs_t *) zmalloc (sizeof (sch_jobs_t));
    assert (self);
    //  Keys live in their items (a job's req id, a lease's tenant id): not
    //  copied per insert
    self->jobs = mt_index_new ();
    assert (self->jobs);
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_destroy);
    self->queues = zhashx_new ();
    zhashx_set_destructor (self->queues, s_fairq_destructor);
    self->leases = mt_index_new ();
    assert (self->leases);
    self->catalog = zhashx_new ();
    zhashx_set_destructor (self->catalog, s_list_destructor);
    return self;
}

void
sch_jobs_destroy (sch_jobs_t **self_p)
{
    assert (self_p);
    sch_jobs_t *self = *self_p;
    if (!self)
        return;
    //  Jobs before the queues and workers they point into
    for (sch_job_t *job = (sch_job_t *) mt_index_first (self->jobs); job;
         job = (sch_job_t *) mt_index_next (self->jobs)) {
        job->gateway_entry = NULL;      //  the gateway table goes below
        s_job_free (self, job);
    }
    mt_index_destroy (&self->jobs);
    while (self->spare_jobs) {
        sch_job_t *job = self->spare_jobs;
        self->spare_jobs = (sch_job_t *) job->queue;
        free (job);
    }
    zhashx_destroy (&self->queues);
    zhashx_destroy (&self->workers);
    for (sch_lease_t *lease = (sch_lease_t *) mt_index_first (self->leases); lease;
         lease = (sch_lease_t *) mt_index_next (self->leases))
        free (lease);
    mt_index_destroy (&self->leases);
    while (self->spare_leases) {
        sch_lease_t *lease = self->spare_leases;
        self->spare_leases = lease->next;
        free (lease);
    }
    for (size_t i = 0; i < self->ngateways; i++) {
        zframe_destroy (&self->gateways [i]->rid);
        free (self->gateways [i]);
    }
    free (self->gateways);
    zhashx_destroy (&self->catalog);
    free (self);
    *self_p = NULL;
}

void
sch_jobs_set_policy (sch_jobs_t *self, const sch_fairq_config_t *config)
{
    self->policy = *config;
}

bool
sch_jobs_name_ok (const char *s)
{
    return mt_id_ok (s, S_NAME_MAX - 1);
}

//  --------------------------------------------------------------------------
//  Admission

sch_admit_t
sch_jobs_admit (sch_jobs_t *self, const Mt__Submit *submit, uint32_t queue_max,
                uint32_t *leases_p)
{
    const Mt__JobSpec *spec = submit? submit->job: NULL;
    if (leases_p)
        *leases_p = 0;
    if (!spec || !sch_jobs_name_ok (spec->req_id) || !sch_jobs_name_ok (spec->tenant_id)
    ||  !sch_jobs_name_ok (spec->model) || !sch_jobs_name_ok (spec->pool))
        return SCH_ADMIT_BAD;
    if (sch_jobs_lookup (self, spec->req_id))
        return SCH_ADMIT_DUPLICATE;
    if (!self->warming && !sch_jobs_any_worker_serves (self, spec->pool, spec->model))
        return SCH_ADMIT_NO_WORKER;
    uint32_t leases = sch_jobs_leases (self, spec->tenant_id);
    if (leases_p)
        *leases_p = leases;
    if (submit->requeue)
        return SCH_ADMIT_OK;
    if (submit->max_concurrent > 0 && leases >= submit->max_concurrent)
        return SCH_ADMIT_CONCURRENCY;
    sch_fairq_t *q = sch_jobs_queue (self, spec->pool, spec->model);
    if (q && sch_fairq_size (q) >= queue_max)
        return SCH_ADMIT_QUEUE_FULL;
    return SCH_ADMIT_OK;
}

void
sch_jobs_set_warming (sch_jobs_t *self, bool warming)
{
    self->warming = warming;
}

bool
sch_jobs_warming (sch_jobs_t *self)
{
    return self->warming;
}

//  --------------------------------------------------------------------------
//  Jobs and leases

sch_job_t *
sch_jobs_lookup (sch_jobs_t *self, const char *req_id)
{
    return (sch_job_t *) mt_index_lookup (self->jobs, req_id);
}

sch_fairq_t *
sch_jobs_queue (sch_jobs_t *self, const char *pool, const char *model)
{
    if (self->last_queue && !strcmp (self->last_pool, pool) && !strcmp (self->last_model, model))
        return self->last_queue;
    char key [2 * S_NAME_MAX + 2];
    s_queue_key (key, sizeof key, pool, model);
    sch_fairq_t *q = (sch_fairq_t *) zhashx_lookup (self->queues, key);
    if (q && strlen (pool) < S_NAME_MAX && strlen (model) < S_NAME_MAX) {
        self->last_queue = q;
        strcpy (self->last_pool, pool);
        strcpy (self->last_model, model);
    }
    return q;
}

//  One lease more for a tenant. Returns its leases (borrowed; valid while
//  it holds one).
static sch_lease_t *
s_lease_take (sch_jobs_t *self, const char *tenant_id)
{
    sch_lease_t *lease = (sch_lease_t *) mt_index_lookup (self->leases, tenant_id);
    if (!lease) {
        size_t len = strlen (tenant_id);
        lease = self->spare_leases;
        if (lease && lease->room > len) {
            self->spare_leases = lease->next;
            self->nspare_leases--;
        }
        else {
            size_t room = len + 1 > S_LEASE_NAME? len + 1: S_LEASE_NAME;
            lease = (sch_lease_t *) malloc (sizeof (sch_lease_t) + room);
            assert (lease);
            lease->room = room;
        }
        lease->leases = 0;
        memcpy (lease->tenant_id, tenant_id, len + 1);
        mt_index_insert (self->leases, lease->tenant_id, lease);
    }
    lease->leases++;
    return lease;
}

static void
s_lease_release (sch_jobs_t *self, sch_lease_t *lease)
{
    if (lease->leases > 0)
        lease->leases--;
    if (lease->leases > 0)
        return;
    mt_index_delete (self->leases, lease->tenant_id);
    if (self->nspare_leases < S_SPARE_MAX) {
        lease->next = self->spare_leases;
        self->spare_leases = lease;
        self->nspare_leases++;
    }
    else
        free (lease);
}

uint32_t
sch_jobs_leases (sch_jobs_t *self, const char *tenant_id)
{
    sch_lease_t *lease = (sch_lease_t *) mt_index_lookup (self->leases, tenant_id);
    return lease? lease->leases: 0;
}

bool
sch_jobs_release_ended (sch_jobs_t *self, const char *req_id, const char *tenant_id,
                        zframe_t *gateway)
{
    if (!req_id || !tenant_id || !gateway)
        return false;
    sch_job_t *job = sch_jobs_lookup (self, req_id);
    if (!job || !job->worker || !job->lease || strcmp (job->tenant_id, tenant_id)
    ||  !zframe_eq (job->gateway, gateway))
        return false;
    s_lease_release (self, job->lease);
    job->lease = NULL;
    return true;
}

sch_job_t *
sch_jobs_add (sch_jobs_t *self, const Mt__JobSpec *spec, zframe_t *gateway, uint32_t weight,
              bool head)
{
    Mt__JobSpec *copy = mt_codec_job_copy (spec);
    return copy? sch_jobs_take (self, &copy, gateway, weight, head): NULL;
}

sch_job_t *
sch_jobs_take (sch_jobs_t *self, Mt__JobSpec **spec_p, zframe_t *gateway, uint32_t weight,
               bool head)
{
    assert (spec_p && *spec_p);
    Mt__JobSpec *spec = *spec_p;
    if (spec->base.n_unknown_fields) {
        //  Only the fields we know travel on to the worker: a copy, the
        //  caller keeps its own
        spec = mt_codec_job_copy (spec);
        if (!spec)
            return NULL;
    }
    else
        *spec_p = NULL;
    sch_job_t *job = s_job_new (self);
    job->spec = spec;
    job->req_id = spec->req_id;
    job->tenant_id = spec->tenant_id;
    job->gateway_entry = s_gateway_take (self, gateway);
    job->gateway = job->gateway_entry->rid;
    job->weight = weight? weight: 1;
    sch_fairq_t *q = sch_jobs_queue (self, spec->pool, spec->model);
    if (!q) {
        char key [2 * S_NAME_MAX + 2];
        s_queue_key (key, sizeof key, spec->pool, spec->model);
        q = sch_fairq_new_config (&self->policy);
        zhashx_insert (self->queues, key, q);
    }
    job->queue = q;
    //  Charged at dispatch: the prompt and the tenant's usual answer length
    job->estimate = (uint32_t) sch_fairq_estimate (q, job->tenant_id, spec->max_tokens);
    uint64_t cost = (uint64_t) spec->prompt_tokens + job->estimate;
    job->entry = sch_fairq_add (q, job->tenant_id, job->weight, cost? cost: 1, job, head);
    mt_index_insert (self->jobs, job->req_id, job);
    job->lease = s_lease_take (self, job->tenant_id);
    self->queued++;
    return job;
}

void
sch_jobs_unqueue (sch_jobs_t *self, sch_job_t *job)
{
    if (job->entry) {
        sch_fairq_remove_entry (job->queue, job->entry);
        job->entry = NULL;
    }
}

void
sch_jobs_progress (sch_jobs_t *self, sch_job_t *job, uint32_t completion_tokens)
{
    if (!job->worker || completion_tokens <= job->reported)
        return;
    job->reported = completion_tokens;
    uint64_t covered = (uint64_t) job->estimate + job->extra;
    if (completion_tokens <= covered)
        return;
    sch_fairq_tenant_progress (job->queue, job->fq_tenant, job->weight,
                               completion_tokens - covered);
    job->extra = completion_tokens - job->estimate;
}

void
sch_jobs_correct (sch_jobs_t *self, sch_job_t *job, uint64_t actual)
{
    sch_fairq_t *q = job->queue;
    if (!job->fq_tenant)
        return;                 //  not running: nothing was charged
    sch_fairq_tenant_correct (q, job->fq_tenant, job->weight, job->charged + job->extra, actual);
    if (actual > 0)             //  0: the worker was lost, nothing to learn
        sch_fairq_tenant_learn (q, job->fq_tenant, actual > job->spec->prompt_tokens?
                                actual - job->spec->prompt_tokens: 0);
    job->fq_tenant = NULL;      //  corrected once
}

void
sch_jobs_forget (sch_jobs_t *self, sch_job_t *job)
{
    if (job->lease)
        s_lease_release (self, job->lease);
    if (job->worker) {
        if (job->worker->assigned > 0)
            job->worker->assigned--;
        if (self->running > 0)
            self->running--;
    }
    else
    if (self->queued > 0)
        self->queued--;
    mt_index_delete (self->jobs, job->req_id);
    s_job_free (self, job);
}

//  --------------------------------------------------------------------------
//  Workers

sch_worker_t *
sch_jobs_worker (sch_jobs_t *self, zframe_t *rid)
{
    char *key = zframe_strhex (rid);
    sch_worker_t *w = (sch_worker_t *) zhashx_lookup (self->workers, key);
    free (key);
    return w;
}

static void
s_catalog_add (sch_jobs_t *self, const char *pool, const char *model)
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

sch_worker_t *
sch_jobs_worker_ready (sch_jobs_t *self, zframe_t *rid, const Mt__WorkerReady *ready,
                       uint64_t now_ms, sch_worker_change_t *change)
{
    char *key = zframe_strhex (rid);
    sch_worker_t *w = (sch_worker_t *) zhashx_lookup (self->workers, key);
    bool fresh = !w;
    if (fresh) {
        w = (sch_worker_t *) zmalloc (sizeof (sch_worker_t));
        assert (w);
        w->key = strdup (key);
        w->rid = zframe_dup (rid);
        zhashx_insert (self->workers, key, w);
    }
    bool changed = fresh || strcmp (w->pool, ready->pool) || w->nmodels != ready->n_models
                || w->total_slots != ready->total_slots;
    for (size_t i = 0; !changed && i < ready->n_models; i++)
        changed = strcmp (w->models [i], ready->models [i]) != 0;
    *change = fresh? SCH_WORKER_JOINED: changed? SCH_WORKER_CHANGED: SCH_WORKER_SAME;
    if (changed) {
        free (w->worker_id);
        free (w->pool);
        for (size_t i = 0; i < w->nmodels; i++)
            free (w->models [i]);
        free (w->models);
        free (w->queues);
        w->worker_id = strdup (*ready->worker_id? ready->worker_id: key);
        w->pool = strdup (ready->pool);
        w->models = (char **) calloc (ready->n_models, sizeof (char *));
        w->queues = (sch_fairq_t **) calloc (ready->n_models, sizeof (sch_fairq_t *));
        assert (w->worker_id && w->pool && w->models && w->queues);
        w->nmodels = ready->n_models;
        w->rr = 0;
        for (size_t i = 0; i < ready->n_models; i++) {
            w->models [i] = strdup (ready->models [i]);
            assert (w->models [i]);
            s_catalog_add (self, w->pool, w->models [i]);
        }
        w->total_slots = ready->total_slots;
    }
    //  Jobs the worker reports busy beyond the ones we assigned (it ran them
    //  for a previous scheduler, or we gave them up) hold slots we cannot use.
    //  Our own count stays the authority: a report can only lower credit.
    uint32_t busy = ready->free_slots >= ready->total_slots?
                    0: ready->total_slots - ready->free_slots;
    w->foreign = busy > w->assigned? busy - w->assigned: 0;
    w->engine_failures = ready->engine_failures;
    w->last_seen_ms = now_ms;
    free (key);
    return w;
}

bool
sch_jobs_any_worker_serves (sch_jobs_t *self, const char *pool, const char *model)
{
    sch_worker_t *w = (sch_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (s_worker_serves (w, pool, model))
            return true;
        w = (sch_worker_t *) zhashx_next (self->workers);
    }
    return false;
}

uint32_t
sch_jobs_pool_workers (sch_jobs_t *self, const char *pool)
{
    uint32_t n = 0;
    sch_worker_t *w = (sch_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (!strcmp (w->pool, pool))
            n++;
        w = (sch_worker_t *) zhashx_next (self->workers);
    }
    return n;
}

zlistx_t *
sch_jobs_pool_worker_list (sch_jobs_t *self, const char *pool)
{
    zlistx_t *list = zlistx_new ();
    if (!list)
        return NULL;
    sch_worker_t *w = (sch_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (!strcmp (w->pool, pool))
            zlistx_add_end (list, w);
        w = (sch_worker_t *) zhashx_next (self->workers);
    }
    return list;
}

zlistx_t *
sch_jobs_silent_workers (sch_jobs_t *self, uint64_t now_ms, uint64_t timeout_ms)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    sch_worker_t *w = (sch_worker_t *) zhashx_first (self->workers);
    while (w) {
        if (now_ms - w->last_seen_ms > timeout_ms)
            zlistx_add_end (list, w);
        w = (sch_worker_t *) zhashx_next (self->workers);
    }
    return list;
}

zlistx_t *
sch_jobs_worker_jobs (sch_jobs_t *self, sch_worker_t *w)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    sch_job_t *job = (sch_job_t *) mt_index_first (self->jobs);
    while (job) {
        if (job->worker == w)
            zlistx_add_end (list, job);
        job = (sch_job_t *) mt_index_next (self->jobs);
    }
    return list;
}

zlistx_t *
sch_jobs_gateway_jobs (sch_jobs_t *self, const char *gateway_key)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    //  The gateway's entry first: its jobs point to it
    sch_gateway_t *gw = NULL;
    for (size_t i = 0; i < self->ngateways && !gw; i++) {
        char *key = zframe_strhex (self->gateways [i]->rid);
        if (key && !strcmp (key, gateway_key))
            gw = self->gateways [i];
        free (key);
    }
    for (sch_job_t *job = gw? (sch_job_t *) mt_index_first (self->jobs): NULL; job;
         job = (sch_job_t *) mt_index_next (self->jobs))
        if (job->gateway_entry == gw)
            zlistx_add_end (list, job);
    return list;
}

zlistx_t *
sch_jobs_orphans (sch_jobs_t *self)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    sch_job_t *job = self->warming? NULL: (sch_job_t *) mt_index_first (self->jobs);
    while (job) {
        if (!job->worker
        &&  !sch_jobs_any_worker_serves (self, job->spec->pool, job->spec->model))
            zlistx_add_end (list, job);
        job = (sch_job_t *) mt_index_next (self->jobs);
    }
    return list;
}

void
sch_jobs_worker_remove (sch_jobs_t *self, sch_worker_t *w)
{
    zhashx_delete (self->workers, w->key);
}

zhashx_t *
sch_jobs_catalog (sch_jobs_t *self)
{
    return self->catalog;
}

//  --------------------------------------------------------------------------
//  Dispatch

void
sch_jobs_dispatch_begin (sch_jobs_t *self)
{
    self->dispatch_round++;
}

//  The queue of the next model this worker should take a job from, or NULL.
//  Models of a worker take turns.
static sch_fairq_t *
s_worker_queue (sch_jobs_t *self, sch_worker_t *w, size_t *index_p)
{
    for (size_t i = 0; i < w->nmodels; i++) {
        size_t index = (w->rr + i) % w->nmodels;
        sch_fairq_t *q = w->queues [index];
        if (!q)                 //  none yet: looked up until there is one
            q = w->queues [index] = sch_jobs_queue (self, w->pool, w->models [index]);
        if (q && sch_fairq_size (q) > 0) {
            *index_p = index;
            return q;
        }
    }
    return NULL;
}

//  The worker with the most free slots takes the next job, so load spreads
//  over the pool instead of filling one engine first.
bool
sch_jobs_dispatch_next (sch_jobs_t *self, sch_dispatch_t *d)
{
    memset (d, 0, sizeof *d);
    if (self->queued == 0)
        return false;
    uint32_t best_credit = 0;
    for (sch_worker_t *w = (sch_worker_t *) zhashx_first (self->workers); w;
         w = (sch_worker_t *) zhashx_next (self->workers)) {
        if (!w->nmodels || w->blocked_round == self->dispatch_round)
            continue;
        uint32_t credit = s_worker_credit (w);
        if (credit <= best_credit)
            continue;
        size_t index;
        sch_fairq_t *q = s_worker_queue (self, w, &index);
        if (q) {
            d->worker = w;
            d->queue = q;
            d->model_index = index;
            best_credit = credit;
        }
    }
    if (!d->worker || !sch_fairq_pop (d->queue, &d->pick))
        return false;
    d->job = (sch_job_t *) d->pick.item;
    d->job->entry = NULL;
    return true;
}

void
sch_jobs_dispatch_sent (sch_jobs_t *self, sch_dispatch_t *d)
{
    d->job->worker = d->worker;
    d->job->fq_tenant = d->pick.tenant;
    d->job->charged = d->pick.charged;
    d->worker->assigned++;
    d->worker->rr = d->model_index + 1;
    self->queued--;
    self->running++;
}

void
sch_jobs_dispatch_failed (sch_jobs_t *self, sch_dispatch_t *d)
{
    d->job->entry = sch_fairq_unpop_entry (d->queue, &d->pick);
    d->worker->blocked_round = self->dispatch_round;
}

void
sch_jobs_dispatch_unsent (sch_jobs_t *self, sch_dispatch_t *d)
{
    d->job->worker = NULL;
    d->job->fq_tenant = NULL;
    d->job->charged = 0;
    if (d->worker->assigned)
        d->worker->assigned--;
    self->queued++;
    self->running--;
    sch_jobs_dispatch_failed (self, d);
}

//  --------------------------------------------------------------------------
//  Counts

uint32_t
sch_jobs_queued (sch_jobs_t *self)
{
    return self->queued;
}

uint32_t
sch_jobs_running (sch_jobs_t *self)
{
    return self->running;
}

size_t
sch_jobs_workers (sch_jobs_t *self)
{
    return zhashx_size (self->workers);
}
