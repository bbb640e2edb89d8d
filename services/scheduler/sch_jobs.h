//  The scheduler's bookkeeping: the job table, per-tenant concurrency leases,
//  a weighted fair queue per (pool, model), live workers and their credit,
//  the catalog of models per pool, and the choice of what to dispatch next.
//  No sockets, no clock of its own, no logging: sch_server.c does the I/O,
//  logs, and passes the time in.
#ifndef SCH_JOBS_H_INCLUDED
#define SCH_JOBS_H_INCLUDED

#include "sch_fairq.h"
#include "mt.pb-c.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _sch_worker_t sch_worker_t;
typedef struct _sch_lease_t sch_lease_t;
typedef struct _sch_gateway_t sch_gateway_t;

//  A job the scheduler knows: queued or running on a worker.
typedef struct {
    char *req_id;               //  spec's; key in the job table
    char *tenant_id;            //  spec's
    sch_fairq_t *queue;         //  borrowed: its (pool, model) queue (queues live as long
                                //  as the tables: a job never looks its queue up again)
    sch_fairq_entry_t *entry;   //  borrowed; its place in queue while queued, else NULL
    sch_fairq_tenant_t *fq_tenant;  //  borrowed; its tenant in queue while running
    Mt__JobSpec *spec;          //  owned copy; free with mt__job_spec__free_unpacked
    zframe_t *gateway;          //  routing id of the submitting gateway; borrowed from
                                //  the gateway table (one frame a gateway, shared by its jobs)
    sch_gateway_t *gateway_entry;   //  borrowed; that entry of the gateway table
    sch_lease_t *lease;         //  borrowed; its tenant's leases (one of them is its own);
                                //  NULL once freed early (sch_jobs_release_ended)
    uint32_t weight;            //  tier weight, >= 1
    uint64_t charged;           //  tokens charged by the fair queue at dispatch
    uint32_t estimate;          //  completion tokens inside that charge
    uint32_t reported;          //  completion tokens the worker reported so far
    uint32_t extra;             //  completion tokens charged beyond the estimate
    uint64_t queued_ms;         //  monotonic time it was queued (set by the caller)
    sch_worker_t *worker;       //  borrowed; NULL while queued
    bool abandoned;             //  its gateway is gone: cancelled at its worker (set by the caller)
} sch_job_t;

//  A live worker, keyed by its routing id (hex).
struct _sch_worker_t {
    char *key;                  //  owned; hex routing id
    zframe_t *rid;              //  owned; routing id
    char *worker_id;            //  owned
    char *pool;                 //  owned
    char **models;              //  owned array of owned strings
    sch_fairq_t **queues;       //  owned array: the queue of each model once known
                                //  (borrowed queues: they live as long as the tables)
    size_t nmodels;             //  entries in models
    size_t rr;                  //  round-robin start over models
    uint32_t total_slots;       //  as announced
    uint32_t assigned;          //  jobs sent and not yet done: the credit authority
    uint32_t foreign;           //  jobs it reports busy that we do not know about
    uint32_t engine_failures;   //  engine failures in a row, as reported
    uint64_t last_seen_ms;      //  monotonic
    uint64_t blocked_round;     //  dispatch round in which a send to it failed
};

//  What a WorkerReady did to the worker table.
typedef enum {
    SCH_WORKER_SAME = 0,        //  known worker, same pool, models and slots
    SCH_WORKER_JOINED,          //  a worker we did not know
    SCH_WORKER_CHANGED,         //  known worker, new pool, models or slots
} sch_worker_change_t;

//  One dispatch decision: a job popped from its queue for a worker, not yet
//  sent. Finish it with sch_jobs_dispatch_sent or sch_jobs_dispatch_failed.
typedef struct {
    sch_job_t *job;             //  borrowed; the job popped
    sch_worker_t *worker;       //  borrowed; the worker it goes to
    sch_fairq_t *queue;         //  borrowed; the queue it came from
    size_t model_index;         //  index of the job's model in worker->models
    sch_fairq_pick_t pick;      //  what the fair queue charged, to keep or refund
} sch_dispatch_t;

typedef struct _sch_jobs_t sch_jobs_t;

//  Create empty tables. Caller owns; destroy with sch_jobs_destroy.
sch_jobs_t *sch_jobs_new (void);

//  Destroy every job, queue, worker, lease and catalog entry; no-op on NULL;
//  nulls the pointer.
void sch_jobs_destroy (sch_jobs_t **self_p);

//  The policy of the fair queues created from now on (default: vtc, no head
//  start). Call before the first job is queued.
void sch_jobs_set_policy (sch_jobs_t *self, const sch_fairq_config_t *config);

//  True when s is a usable id, pool or model name: set and not too long.
bool sch_jobs_name_ok (const char *s);

//  --------------------------------------------------------------------------
//  Admission

//  What sch_jobs_admit decided about a Submit.
typedef enum {
    SCH_ADMIT_OK = 0,           //  queue it
    SCH_ADMIT_BAD,              //  no job, or req_id, tenant_id, model or pool missing
    SCH_ADMIT_DUPLICATE,        //  a job with this req_id is known: ignore the resend
    SCH_ADMIT_NO_WORKER,        //  no live worker serves the pool and model
    SCH_ADMIT_CONCURRENCY,      //  the tenant holds max_concurrent leases already
    SCH_ADMIT_QUEUE_FULL,       //  queue_max jobs wait for this pool and model
} sch_admit_t;

//  Decide whether a Submit may be queued, in this order: malformed,
//  duplicate, no worker, concurrency (max_concurrent 0 = no limit), queue
//  full (queue_max jobs waiting in its pool and model). A requeue (a job
//  accepted before and lost) skips the concurrency and queue checks its
//  first Submit passed; while warming up (sch_jobs_set_warming) no Submit is
//  refused for want of a worker. *leases_p (may be NULL) gets the tenant's
//  leases before this job.
sch_admit_t sch_jobs_admit (sch_jobs_t *self, const Mt__Submit *submit, uint32_t queue_max,
                            uint32_t *leases_p);

//  A scheduler just started does not know its workers yet (they announce
//  themselves within a second or so): while warming, jobs for a pool and
//  model no worker has announced are queued, not refused, and
//  sch_jobs_orphans finds none.
void sch_jobs_set_warming (sch_jobs_t *self, bool warming);
bool sch_jobs_warming (sch_jobs_t *self);

//  --------------------------------------------------------------------------
//  Jobs and leases

//  The job with this request id. Borrowed; NULL when unknown.
sch_job_t *sch_jobs_lookup (sch_jobs_t *self, const char *req_id);

//  The fair queue of (pool, model). Borrowed; NULL when no job was ever
//  queued there.
sch_fairq_t *sch_jobs_queue (sch_jobs_t *self, const char *pool, const char *model);

//  Queue a job: copy spec (names checked by the caller, req_id not yet
//  known), push it on its fair queue, and take a lease for its tenant. Its
//  dispatch charges prompt_tokens plus what the tenant's jobs usually
//  generate (at most max_tokens); tokens generated beyond that are charged as
//  the worker reports them, and the final count corrects the sum. weight 0 counts as 1. gateway is copied.
//  head: a requeued job, at the head of its tenant's queue (sch_fairq_push_head).
//  Returns the job (borrowed; valid until sch_jobs_forget), or NULL when out
//  of memory (nothing queued).
sch_job_t *sch_jobs_add (sch_jobs_t *self, const Mt__JobSpec *spec, zframe_t *gateway,
                         uint32_t weight, bool head);

//  The same, taking *spec_p (unpacked, as from a Submit; the job owns it
//  from now on and *spec_p is nulled) instead of copying it. A spec with
//  fields this build does not know is copied without them instead (they
//  never reach the worker; *spec_p stays the caller's). NULL when out of
//  memory (*spec_p untouched).
sch_job_t *sch_jobs_take (sch_jobs_t *self, Mt__JobSpec **spec_p, zframe_t *gateway,
                          uint32_t weight, bool head);

//  Take a queued job off its fair queue (cancelled, or no worker serves it).
//  It stays in the table until sch_jobs_forget.
void sch_jobs_unqueue (sch_jobs_t *self, sch_job_t *job);

//  A running job has generated completion_tokens so far (a JobProgress):
//  charge its tenant what goes beyond what it was charged already. Counts
//  that go back are ignored.
void sch_jobs_progress (sch_jobs_t *self, sch_job_t *job, uint32_t completion_tokens);

//  A running job ended having used actual tokens (prompt + completion; 0 when
//  its worker was lost): correct its tenant's fair-queue counter by what was
//  charged for it at dispatch and by progress, and learn how long its
//  tenant's answers are.
void sch_jobs_correct (sch_jobs_t *self, sch_job_t *job, uint64_t actual);

//  Forget a job: release its lease and its worker's credit, and destroy it.
void sch_jobs_forget (sch_jobs_t *self, sch_job_t *job);

//  Queued + running jobs of a tenant.
uint32_t sch_jobs_leases (sch_jobs_t *self, const char *tenant_id);

//  The gateway that submitted job req_id saw it end (its worker's JobDone
//  reached the gateway first): free its concurrency lease now, before the
//  worker's JobDone reaches the scheduler. Only for a running job of that
//  tenant, submitted by that gateway (routing id), whose lease is still held;
//  the job itself stays until its JobDone (its worker's credit, the fair
//  queue's correction). True when a lease was freed.
bool sch_jobs_release_ended (sch_jobs_t *self, const char *req_id, const char *tenant_id,
                             zframe_t *gateway);

//  --------------------------------------------------------------------------
//  Workers

//  The worker with this routing id. Borrowed; NULL when unknown.
sch_worker_t *sch_jobs_worker (sch_jobs_t *self, zframe_t *rid);

//  Record a WorkerReady (pool and model names checked by the caller) from
//  routing id rid at now_ms: add or update the worker and the catalog, and
//  count slots it reports busy beyond the jobs we assigned it. Says in
//  *change what happened. Returns the worker (borrowed).
sch_worker_t *sch_jobs_worker_ready (sch_jobs_t *self, zframe_t *rid,
                                     const Mt__WorkerReady *ready, uint64_t now_ms,
                                     sch_worker_change_t *change);

//  True when a live worker of pool serves model.
bool sch_jobs_any_worker_serves (sch_jobs_t *self, const char *pool, const char *model);

//  Live workers of a pool.
uint32_t sch_jobs_pool_workers (sch_jobs_t *self, const char *pool);

//  Live workers of a pool. Caller owns the list; destroy with zlistx_destroy;
//  its items are borrowed.
zlistx_t *sch_jobs_pool_worker_list (sch_jobs_t *self, const char *pool);

//  Workers not seen since now_ms - timeout_ms. Caller owns the list; destroy
//  with zlistx_destroy; its items are borrowed.
zlistx_t *sch_jobs_silent_workers (sch_jobs_t *self, uint64_t now_ms, uint64_t timeout_ms);

//  Jobs running on w. Caller owns the list; destroy with zlistx_destroy; its
//  items are borrowed.
zlistx_t *sch_jobs_worker_jobs (sch_jobs_t *self, sch_worker_t *w);

//  Jobs submitted by the gateway whose routing id is gateway_key (hex),
//  queued or running. Caller owns the list; destroy with zlistx_destroy; its
//  items are borrowed.
zlistx_t *sch_jobs_gateway_jobs (sch_jobs_t *self, const char *gateway_key);

//  Queued jobs no live worker serves. Caller owns the list; destroy with
//  zlistx_destroy; its items are borrowed.
zlistx_t *sch_jobs_orphans (sch_jobs_t *self);

//  Drop a worker (forget its jobs first). w is destroyed.
void sch_jobs_worker_remove (sch_jobs_t *self, sch_worker_t *w);

//  Pool -> zlistx_t of the model names its workers ever announced, sorted.
//  Borrowed; valid while self lives.
zhashx_t *sch_jobs_catalog (sch_jobs_t *self);

//  --------------------------------------------------------------------------
//  Dispatch

//  Start a dispatch pass: workers a send failed to earlier are tried again.
void sch_jobs_dispatch_begin (sch_jobs_t *self);

//  Choose the next job to send: the worker with the most free credit among
//  those that serve a model with queued jobs (its models taking turns), and
//  the next job of that queue by weighted fair queuing. Returns false when
//  nothing can go out in this pass.
bool sch_jobs_dispatch_next (sch_jobs_t *self, sch_dispatch_t *d);

//  The job of d reached its worker: it runs there now.
void sch_jobs_dispatch_sent (sch_jobs_t *self, sch_dispatch_t *d);

//  The send of d failed: put the job back at the head of its queue and skip
//  the worker for the rest of this pass.
void sch_jobs_dispatch_failed (sch_jobs_t *self, sch_dispatch_t *d);

//  The send of d, counted sent (sch_jobs_dispatch_sent), failed after all
//  (its Batch was dropped at the end of the pass): undo the send, then as
//  sch_jobs_dispatch_failed. Undo the pass's in the reverse of their order.
void sch_jobs_dispatch_unsent (sch_jobs_t *self, sch_dispatch_t *d);

//  --------------------------------------------------------------------------
//  Counts

uint32_t sch_jobs_queued (sch_jobs_t *self);    //  jobs waiting in queues
uint32_t sch_jobs_running (sch_jobs_t *self);   //  jobs assigned to workers
size_t sch_jobs_workers (sch_jobs_t *self);     //  live workers

#endif
