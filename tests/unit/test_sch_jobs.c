//  Unit tests of the scheduler's bookkeeping (sch_jobs): dispatch choice,
//  pool and model matching, model turns, worker credit, blocked workers,
//  tenant leases, orphans of lost workers, silent workers, the catalog and
//  duplicate request ids. No sockets; the clock is passed in.
#include "mt_test.h"
#include "mt_codec.h"
#include "../../services/scheduler/sch_jobs.h"

#include <stdint.h>
#include <stdlib.h>

#define S_MAX_WORKERS 8
#define S_MAX_MODELS 8

//  Test rig: the tables plus the workers we announced, by index.
typedef struct {
    sch_jobs_t *jobs;
    sch_worker_t *w [S_MAX_WORKERS];
    zframe_t *gateway;
    int seq;                    //  for generated request ids
} s_rig_t;

static void
s_rig_init (s_rig_t *rig)
{
    memset (rig, 0, sizeof *rig);
    rig->jobs = sch_jobs_new ();
    rig->gateway = zframe_new ("gw-1", 4);
}

static void
s_rig_fini (s_rig_t *rig)
{
    sch_jobs_destroy (&rig->jobs);
    CHECK (rig->jobs == NULL);
    zframe_destroy (&rig->gateway);
}

//  Announce a WorkerReady from routing id = worker id = name, with models as
//  a comma-separated list.
static sch_worker_t *
s_ready (s_rig_t *rig, const char *name, const char *pool, const char *models,
         uint32_t total, uint32_t free_slots, uint64_t now_ms, sch_worker_change_t *change)
{
    char buf [256];
    snprintf (buf, sizeof buf, "%s", models);
    char *list [S_MAX_MODELS];
    size_t n = 0;
    for (char *tok = strtok (buf, ","); tok && n < S_MAX_MODELS; tok = strtok (NULL, ","))
        list [n++] = tok;
    Mt__WorkerReady ready = MT__WORKER_READY__INIT;
    ready.worker_id = (char *) name;
    ready.pool = (char *) pool;
    ready.models = list;
    ready.n_models = n;
    ready.total_slots = total;
    ready.free_slots = free_slots;
    zframe_t *rid = zframe_new (name, strlen (name));
    sch_worker_change_t dummy;
    sch_worker_t *w = sch_jobs_worker_ready (rig->jobs, rid, &ready, now_ms,
                                             change? change: &dummy);
    zframe_destroy (&rid);
    return w;
}

//  Queue a job with an explicit request id (NULL: generated).
static sch_job_t *
s_add (s_rig_t *rig, const char *req, const char *tenant, const char *pool,
       const char *model, uint32_t cost, uint32_t weight)
{
    char gen [64];
    if (!req) {
        snprintf (gen, sizeof gen, "r-%d", ++rig->seq);
        req = gen;
    }
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = (char *) req;
    spec.tenant_id = (char *) tenant;
    spec.pool = (char *) pool;
    spec.model = (char *) model;
    spec.prompt = "hello";
    spec.reply_to = "tcp://127.0.0.1:1";
    spec.prompt_tokens = cost / 2;
    spec.max_tokens = cost - cost / 2;
    return sch_jobs_add (rig->jobs, &spec, rig->gateway, weight, false);
}

static void
s_add_n (s_rig_t *rig, int n, const char *tenant, const char *pool, const char *model)
{
    for (int i = 0; i < n; i++)
        CHECK (s_add (rig, NULL, tenant, pool, model, 10, 1) != NULL);
}

//  Credit as the scheduler should see it: total - assigned - foreign, >= 0.
static int64_t
s_credit (sch_worker_t *w)
{
    int64_t c = (int64_t) w->total_slots - w->assigned - w->foreign;
    return c < 0? 0: c;
}

//  One dispatch pass where every send succeeds. Appends "worker/model" of
//  each dispatch to seq (comma-separated) and checks that each chosen worker
//  had the most credit among the rig's workers that could take a job.
static int
s_pass (s_rig_t *rig, char *seq, size_t size)
{
    if (seq && size)
        seq [0] = 0;
    int sent = 0;
    sch_dispatch_t d;
    sch_jobs_dispatch_begin (rig->jobs);
    while (sch_jobs_dispatch_next (rig->jobs, &d)) {
        CHECK (d.job && d.worker && d.queue);
        if (!d.job || !d.worker)
            break;
        CHECK (d.job->worker == NULL);
        CHECK (d.model_index < d.worker->nmodels);
        if (d.model_index < d.worker->nmodels)
            CHECK_STR (d.worker->models [d.model_index], d.job->spec->model);
        CHECK_STR (d.worker->pool, d.job->spec->pool);
        int64_t best = 0;
        for (int i = 0; i < S_MAX_WORKERS; i++) {
            sch_worker_t *w = rig->w [i];
            if (!w)
                continue;
            bool has_work = false;
            for (size_t m = 0; m < w->nmodels; m++) {
                sch_fairq_t *q = sch_jobs_queue (rig->jobs, w->pool, w->models [m]);
                if (q && (sch_fairq_size (q) > 0 || q == d.queue))
                    has_work = true;    //  d.queue had the popped job
            }
            if (has_work && s_credit (w) > best)
                best = s_credit (w);
        }
        CHECK_MSG (s_credit (d.worker) == best && best > 0, "worker %s credit %lld best %lld",
                   d.worker->worker_id, (long long) s_credit (d.worker), (long long) best);
        if (seq) {
            size_t len = strlen (seq);
            snprintf (seq + len, size - len, "%s%s/%s", len? ",": "", d.worker->worker_id,
                      d.job->spec->model);
        }
        sch_jobs_dispatch_sent (rig->jobs, &d);
        CHECK (d.job->worker == d.worker);
        sent++;
    }
    return sent;
}

//  A job ended on its worker (JobDone): correct and forget.
static void
s_done (s_rig_t *rig, sch_job_t *job, uint64_t actual)
{
    sch_jobs_correct (rig->jobs, job, actual);
    sch_jobs_forget (rig->jobs, job);
}

//  A queued job was cancelled.
static void
s_cancel (s_rig_t *rig, sch_job_t *job)
{
    sch_jobs_unqueue (rig->jobs, job);
    sch_jobs_forget (rig->jobs, job);
}

//  A worker was lost, as the server does it: fail its jobs, drop it, fail the
//  queued jobs nobody serves now. Returns running jobs lost + orphans.
static int
s_lose (s_rig_t *rig, int index, int *running_lost, int *orphaned)
{
    sch_worker_t *w = rig->w [index];
    zlistx_t *victims = sch_jobs_worker_jobs (rig->jobs, w);
    *running_lost = (int) zlistx_size (victims);
    for (sch_job_t *job = (sch_job_t *) zlistx_first (victims); job;
         job = (sch_job_t *) zlistx_next (victims)) {
        CHECK (job->worker == w);
        s_done (rig, job, 0);
    }
    zlistx_destroy (&victims);
    sch_jobs_worker_remove (rig->jobs, w);
    rig->w [index] = NULL;
    victims = sch_jobs_orphans (rig->jobs);
    *orphaned = (int) zlistx_size (victims);
    for (sch_job_t *job = (sch_job_t *) zlistx_first (victims); job;
         job = (sch_job_t *) zlistx_next (victims)) {
        CHECK (job->worker == NULL);
        CHECK (!sch_jobs_any_worker_serves (rig->jobs, job->spec->pool, job->spec->model));
        s_cancel (rig, job);
    }
    zlistx_destroy (&victims);
    return *running_lost + *orphaned;
}

//  --------------------------------------------------------------------------

static void
test_names (void)
{
    char long_ok [256], long_bad [257];
    memset (long_ok, 'x', 255);
    long_ok [255] = 0;
    memset (long_bad, 'x', 256);
    long_bad [256] = 0;
    struct { const char *s; bool ok; } table [] = {
        { NULL, false }, { "", false }, { "a", true }, { "pool-1", true },
        { long_ok, true }, { long_bad, false },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        CHECK_MSG (sch_jobs_name_ok (table [i].s) == table [i].ok, "case %zu", i);
}

//  Most free slots first; equal workers share the jobs. Final credit per
//  worker, or -1 when a tie makes it either of two values (then the sorted
//  multiset is checked through the sum and max-min spread).
static void
test_dispatch_most_free (void)
{
    struct {
        uint32_t slots [4];     //  0-terminated... except slot counts of 0 below
        int nworkers;
        int njobs;
        int want_sent;
        int want_credit [4];    //  -1: either (tie)
        int want_spread;        //  max - min final credit, -1: do not check
    } table [] = {
        { { 4, 2 }, 2, 2, 2, { 2, 2 }, 0 },
        { { 4, 2 }, 2, 1, 1, { 3, 2 }, 1 },
        { { 4, 2 }, 2, 6, 6, { 0, 0 }, 0 },
        { { 4, 2 }, 2, 9, 6, { 0, 0 }, 0 },          //  3 stay queued
        { { 5, 1 }, 2, 4, 4, { 1, 1 }, 0 },          //  the small one waits its turn
        { { 3, 3, 3 }, 3, 3, 3, { 2, 2, 2 }, 0 },    //  spread, not fill one first
        { { 3, 3, 3 }, 3, 6, 6, { 1, 1, 1 }, 0 },
        { { 3, 3, 3 }, 3, 4, 4, { -1, -1, -1 }, 1 },
        { { 2, 2 }, 2, 1, 1, { -1, -1 }, 1 },
        { { 0, 3 }, 2, 2, 2, { 0, 1 }, -1 },         //  zero slots: never chosen
        { { 8, 1, 1, 1 }, 4, 7, 7, { 1, 1, 1, 1 }, 0 },
        { { 8, 1, 1, 1 }, 4, 8, 8, { -1, -1, -1, -1 }, 1 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_t rig;
        s_rig_init (&rig);
        for (int k = 0; k < table [i].nworkers; k++) {
            char name [16];
            snprintf (name, sizeof name, "w%d", k);
            rig.w [k] = s_ready (&rig, name, "p", "m", table [i].slots [k],
                                 table [i].slots [k], 1000, NULL);
        }
        s_add_n (&rig, table [i].njobs, "t", "p", "m");
        int sent = s_pass (&rig, NULL, 0);
        CHECK_MSG (sent == table [i].want_sent, "case %zu sent %d want %d", i, sent,
                   table [i].want_sent);
        CHECK_INT (sch_jobs_running (rig.jobs), table [i].want_sent);
        CHECK_INT (sch_jobs_queued (rig.jobs), table [i].njobs - table [i].want_sent);
        int64_t lo = INT64_MAX, hi = 0, sum = 0, slots = 0;
        for (int k = 0; k < table [i].nworkers; k++) {
            int64_t c = s_credit (rig.w [k]);
            if (table [i].want_credit [k] >= 0)
                CHECK_MSG (c == table [i].want_credit [k], "case %zu worker %d credit %lld "
                           "want %d", i, k, (long long) c, table [i].want_credit [k]);
            if (table [i].slots [k] > 0) {
                lo = c < lo? c: lo;
                hi = c > hi? c: hi;
            }
            sum += c;
            slots += table [i].slots [k];
        }
        CHECK_MSG (sum == slots - table [i].want_sent, "case %zu credit sum %lld", i,
                   (long long) sum);
        if (table [i].want_spread >= 0)
            CHECK_MSG (hi - lo == table [i].want_spread, "case %zu spread %lld want %d", i,
                       (long long) (hi - lo), table [i].want_spread);
        s_rig_fini (&rig);
    }
}

//  A worker only gets jobs of models it serves in its own pool.
static void
test_pool_model_match (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p1", "a", 4, 4, 1000, NULL);
    rig.w [1] = s_ready (&rig, "w1", "p2", "a,b", 4, 4, 1000, NULL);
    rig.w [2] = s_ready (&rig, "w2", "p1", "b", 4, 4, 1000, NULL);
    struct { const char *req, *pool, *model, *want_worker; } table [] = {
        { "j1", "p1", "a", "w0" },
        { "j2", "p2", "b", "w1" },
        { "j3", "p1", "b", "w2" },
        { "j4", "p2", "a", "w1" },
        { "j5", "p2", "c", NULL },      //  nobody serves c
        { "j6", "p3", "a", NULL },      //  a is served, but not in p3
        { "j7", "P1", "a", NULL },      //  names are case sensitive
    };
    size_t n = sizeof table / sizeof table [0];
    for (size_t i = 0; i < n; i++) {
        CHECK (s_add (&rig, table [i].req, "t", table [i].pool, table [i].model, 10, 1));
        CHECK_MSG (sch_jobs_any_worker_serves (rig.jobs, table [i].pool, table [i].model)
                   == (table [i].want_worker != NULL), "case %zu serves", i);
    }
    CHECK_INT (s_pass (&rig, NULL, 0), 4);
    for (size_t i = 0; i < n; i++) {
        sch_job_t *job = sch_jobs_lookup (rig.jobs, table [i].req);
        CHECK (job);
        if (!job)
            continue;
        if (table [i].want_worker)
            CHECK_MSG (job->worker && !strcmp (job->worker->worker_id, table [i].want_worker),
                       "case %zu on %s want %s", i, job->worker? job->worker->worker_id: "-",
                       table [i].want_worker);
        else
            CHECK_MSG (job->worker == NULL, "case %zu dispatched", i);
    }
    //  The ones nobody serves are exactly the orphans
    zlistx_t *orphans = sch_jobs_orphans (rig.jobs);
    CHECK_INT (zlistx_size (orphans), 3);
    for (sch_job_t *job = (sch_job_t *) zlistx_first (orphans); job;
         job = (sch_job_t *) zlistx_next (orphans))
        CHECK (!strcmp (job->req_id, "j5") || !strcmp (job->req_id, "j6")
            || !strcmp (job->req_id, "j7"));
    zlistx_destroy (&orphans);
    //  A worker with credit left but nothing it serves gets nothing more
    CHECK_INT (s_pass (&rig, NULL, 0), 0);
    CHECK_INT (sch_jobs_queued (rig.jobs), 3);
    s_rig_fini (&rig);
}

//  A worker's models take turns, starting after the last one it was sent.
static void
test_model_turns (void)
{
    struct {
        const char *models;
        int na, nb, nc;         //  jobs queued for a, b, c
        const char *want;
    } table [] = {
        { "a,b,c", 2, 2, 2, "w/a,w/b,w/c,w/a,w/b,w/c" },
        { "a,b,c", 2, 0, 2, "w/a,w/c,w/a,w/c" },
        { "a,b,c", 3, 1, 0, "w/a,w/b,w/a,w/a" },
        { "c,b,a", 1, 1, 1, "w/c,w/b,w/a" },
        { "a,b", 2, 2, 2, "w/a,w/b,w/a,w/b" },        //  c not served
        { "b", 3, 2, 0, "w/b,w/b" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_t rig;
        s_rig_init (&rig);
        rig.w [0] = s_ready (&rig, "w", "p", table [i].models, 16, 16, 1000, NULL);
        s_add_n (&rig, table [i].na, "t", "p", "a");
        s_add_n (&rig, table [i].nb, "t", "p", "b");
        s_add_n (&rig, table [i].nc, "t", "p", "c");
        char seq [512];
        s_pass (&rig, seq, sizeof seq);
        CHECK_MSG (!strcmp (seq, table [i].want), "case %zu got %s want %s", i, seq,
                   table [i].want);
        s_rig_fini (&rig);
    }
    //  Turns carry over between passes: one slot, a job per pass
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w", "p", "a,b", 1, 1, 1000, NULL);
    s_add_n (&rig, 3, "t", "p", "a");
    s_add_n (&rig, 3, "t", "p", "b");
    const char *want [] = { "w/a", "w/b", "w/a", "w/b" };
    for (size_t k = 0; k < 4; k++) {
        char seq [64];
        CHECK_INT (s_pass (&rig, seq, sizeof seq), 1);
        CHECK_STR (seq, want [k]);
        zlistx_t *running = sch_jobs_worker_jobs (rig.jobs, rig.w [0]);
        CHECK_INT (zlistx_size (running), 1);
        sch_job_t *job = (sch_job_t *) zlistx_first (running);
        zlistx_destroy (&running);
        if (job)
            s_done (&rig, job, 5);
    }
    s_rig_fini (&rig);
}

//  Credit = total slots - assigned, and a worker's report can only lower it.
static void
test_credit (void)
{
    struct {
        uint32_t total;         //  first announcement (all free)
        int pre;                //  jobs dispatched before the second report
        uint32_t r_total, r_free;   //  second report
        int want_credit;        //  jobs it then takes in one pass
        uint32_t want_foreign;
        int want_after_done;    //  jobs it takes after one of ours is done
    } table [] = {
        { 4, 0, 4, 4, 4, 0, 1 },
        { 4, 2, 4, 4, 2, 0, 1 },        //  stale "all free" cannot raise credit
        { 4, 0, 4, 1, 1, 3, 1 },        //  3 busy we do not know: foreign
        { 4, 2, 4, 0, 0, 2, 1 },
        { 4, 2, 4, 2, 2, 0, 1 },        //  report agrees with us
        { 4, 1, 4, 3, 3, 0, 1 },
        { 4, 0, 4, 9, 4, 0, 1 },        //  free > total counts as all free
        { 4, 3, 2, 2, 0, 0, 0 },        //  shrank below assigned: 0, never negative
        { 4, 4, 1, 0, 0, 0, 0 },
        { 2, 2, 8, 8, 6, 0, 1 },        //  grew
        { 2, 2, 8, 4, 4, 2, 1 },
        { 0, 0, 0, 0, 0, 0, 0 },        //  no slots at all
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_t rig;
        s_rig_init (&rig);
        sch_worker_change_t change;
        rig.w [0] = s_ready (&rig, "w", "p", "m", table [i].total, table [i].total, 1000,
                             &change);
        CHECK_INT (change, SCH_WORKER_JOINED);
        s_add_n (&rig, table [i].pre, "t", "p", "m");
        CHECK_MSG (s_pass (&rig, NULL, 0) == table [i].pre, "case %zu pre", i);
        sch_worker_t *w = s_ready (&rig, "w", "p", "m", table [i].r_total, table [i].r_free,
                                   2000, &change);
        CHECK (w == rig.w [0]);
        CHECK_INT (change, table [i].r_total == table [i].total? SCH_WORKER_SAME:
                                                                  SCH_WORKER_CHANGED);
        CHECK_MSG (w->foreign == table [i].want_foreign, "case %zu foreign %u want %u", i,
                   w->foreign, table [i].want_foreign);
        s_add_n (&rig, 10, "t", "p", "m");
        int sent = s_pass (&rig, NULL, 0);
        CHECK_MSG (sent == table [i].want_credit, "case %zu took %d want %d", i, sent,
                   table [i].want_credit);
        CHECK_INT (w->assigned, table [i].pre + table [i].want_credit);
        CHECK_INT (sch_jobs_running (rig.jobs), w->assigned);
        //  One of ours ends: its slot comes back (unless over capacity)
        zlistx_t *running = sch_jobs_worker_jobs (rig.jobs, w);
        CHECK_INT (zlistx_size (running), w->assigned);
        sch_job_t *job = (sch_job_t *) zlistx_first (running);
        zlistx_destroy (&running);
        if (job) {
            s_done (&rig, job, 1);
            sent = s_pass (&rig, NULL, 0);
            CHECK_MSG (sent == table [i].want_after_done, "case %zu after done %d want %d",
                       i, sent, table [i].want_after_done);
        }
        s_rig_fini (&rig);
    }
}

//  A pass's Jobs counted sent, then their worker's Batch failed: undone in
//  the reverse order, the queue is as before the pass (same order, charges
//  refunded, the worker's credit back), and the worker sits out the pass.
static void
test_unsent (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 4, 4, 1000, NULL);
    sch_job_t *a = s_add (&rig, "a", "t", "p", "m", 100, 1);
    sch_job_t *b = s_add (&rig, "b", "t", "p", "m", 100, 1);
    sch_fairq_t *q = sch_jobs_queue (rig.jobs, "p", "m");
    sch_dispatch_t d [2];
    sch_jobs_dispatch_begin (rig.jobs);
    for (int i = 0; i < 2; i++) {
        CHECK (sch_jobs_dispatch_next (rig.jobs, &d [i]));
        sch_jobs_dispatch_sent (rig.jobs, &d [i]);
    }
    CHECK (d [0].job == a && d [1].job == b);
    CHECK_INT (rig.w [0]->assigned, 2);
    CHECK_INT (sch_jobs_running (rig.jobs), 2);
    sch_jobs_dispatch_unsent (rig.jobs, &d [1]);
    sch_jobs_dispatch_unsent (rig.jobs, &d [0]);
    CHECK_INT (rig.w [0]->assigned, 0);
    CHECK_INT (sch_jobs_running (rig.jobs), 0);
    CHECK_INT (sch_jobs_queued (rig.jobs), 2);
    CHECK_INT (sch_fairq_size (q), 2);
    CHECK (sch_fairq_counter (q, "t") < 1.0);   //  refunded
    CHECK (a->worker == NULL && b->worker == NULL);
    sch_dispatch_t again;
    CHECK (!sch_jobs_dispatch_next (rig.jobs, &again));    //  blocked this pass
    sch_jobs_dispatch_begin (rig.jobs);
    CHECK (sch_jobs_dispatch_next (rig.jobs, &again));
    CHECK (again.job == a);                     //  the order kept
    sch_jobs_dispatch_sent (rig.jobs, &again);
    CHECK (sch_jobs_dispatch_next (rig.jobs, &again));
    CHECK (again.job == b);
    sch_jobs_dispatch_sent (rig.jobs, &again);
    s_rig_fini (&rig);
}

//  A worker whose send failed sits out the rest of the pass; the job goes
//  back to the head of its queue with its charge refunded.
static void
test_blocked (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "big", "p", "m", 4, 4, 1000, NULL);
    rig.w [1] = s_ready (&rig, "small", "p", "m", 2, 2, 1000, NULL);
    sch_job_t *first = s_add (&rig, "first", "t", "p", "m", 100, 1);
    s_add_n (&rig, 4, "t", "p", "m");
    sch_fairq_t *q = sch_jobs_queue (rig.jobs, "p", "m");
    CHECK (q);
    sch_dispatch_t d;
    sch_jobs_dispatch_begin (rig.jobs);
    CHECK (sch_jobs_dispatch_next (rig.jobs, &d));
    CHECK (d.worker == rig.w [0]);              //  most credit
    CHECK (d.job == first);
    CHECK (sch_fairq_counter (q, "t") > 49.0);  //  charged its prompt at pop
    sch_jobs_dispatch_failed (rig.jobs, &d);
    CHECK (sch_fairq_counter (q, "t") < 1.0);   //  refunded
    CHECK_INT (sch_fairq_size (q), 5);
    CHECK (first->worker == NULL);
    CHECK_INT (rig.w [0]->assigned, 0);
    //  The rest of the pass goes to small only, and it starts with "first"
    CHECK (sch_jobs_dispatch_next (rig.jobs, &d));
    CHECK (d.worker == rig.w [1]);
    CHECK (d.job == first);
    sch_jobs_dispatch_sent (rig.jobs, &d);
    CHECK (sch_jobs_dispatch_next (rig.jobs, &d));
    CHECK (d.worker == rig.w [1]);
    sch_jobs_dispatch_sent (rig.jobs, &d);
    CHECK (!sch_jobs_dispatch_next (rig.jobs, &d));    //  small full, big blocked
    CHECK_INT (sch_jobs_queued (rig.jobs), 3);
    CHECK_INT (sch_jobs_running (rig.jobs), 2);
    CHECK_INT (rig.w [0]->assigned, 0);
    //  Next pass: big is back
    char seq [128];
    CHECK_INT (s_pass (&rig, seq, sizeof seq), 3);
    CHECK_STR (seq, "big/m,big/m,big/m");
    CHECK_INT (sch_jobs_queued (rig.jobs), 0);
    s_rig_fini (&rig);

    //  Table: which workers fail in a pass, how many jobs still go out
    struct {
        uint32_t slots [3];
        bool fail [3];          //  every send to it fails this pass
        int njobs, want_sent, want_failures;
    } table [] = {
        { { 2, 2, 2 }, { false, false, false }, 6, 6, 0 },
        { { 2, 2, 2 }, { true, false, false }, 6, 4, 1 },
        { { 2, 2, 2 }, { true, true, false }, 6, 2, 2 },
        { { 2, 2, 2 }, { true, true, true }, 6, 0, 3 },
        { { 3, 1, 1 }, { false, true, true }, 2, 2, 0 },   //  big takes both first
        { { 1, 1, 3 }, { false, false, true }, 5, 2, 1 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_init (&rig);
        for (int k = 0; k < 3; k++) {
            char name [16];
            snprintf (name, sizeof name, "w%d", k);
            rig.w [k] = s_ready (&rig, name, "p", "m", table [i].slots [k],
                                 table [i].slots [k], 1000, NULL);
        }
        s_add_n (&rig, table [i].njobs, "t", "p", "m");
        int sent = 0, failures = 0, guard = 0;
        sch_jobs_dispatch_begin (rig.jobs);
        while (sch_jobs_dispatch_next (rig.jobs, &d) && guard++ < 100) {
            int k = (int) (d.worker->worker_id [1] - '0');
            if (table [i].fail [k]) {
                sch_jobs_dispatch_failed (rig.jobs, &d);
                failures++;
            }
            else {
                sch_jobs_dispatch_sent (rig.jobs, &d);
                sent++;
            }
        }
        CHECK_MSG (sent == table [i].want_sent && failures == table [i].want_failures,
                   "case %zu sent %d failures %d", i, sent, failures);
        CHECK_INT (sch_jobs_queued (rig.jobs), table [i].njobs - sent);
        CHECK_INT (sch_fairq_size (sch_jobs_queue (rig.jobs, "p", "m")),
                   table [i].njobs - sent);
        //  Next pass with sends working: everything that fits goes
        int fits = 0;
        for (int k = 0; k < 3; k++)
            fits += (int) table [i].slots [k];
        int left = table [i].njobs - sent;
        int more = s_pass (&rig, NULL, 0);
        CHECK_MSG (more == (left < fits - sent? left: fits - sent), "case %zu next pass %d",
                   i, more);
        s_rig_fini (&rig);
    }
}

//  Leases count queued + running per tenant, freed on done, cancel and
//  worker loss.
static void
test_leases (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 2, 2, 1000, NULL);
    sch_job_t *a1 = s_add (&rig, "a1", "ta", "p", "m", 10, 1);
    sch_job_t *a2 = s_add (&rig, "a2", "ta", "p", "m", 10, 1);
    sch_job_t *a3 = s_add (&rig, "a3", "ta", "p", "m", 10, 1);
    sch_job_t *b1 = s_add (&rig, "b1", "tb", "p", "m", 10, 1);
    sch_job_t *c1 = s_add (&rig, "c1", "tc", "p", "other", 10, 1);  //  nobody serves
    CHECK (a1 && a2 && a3 && b1 && c1);
    struct { const char *tenant; uint32_t want; } after_add [] = {
        { "ta", 3 }, { "tb", 1 }, { "tc", 1 }, { "nobody", 0 },
    };
    for (size_t i = 0; i < 4; i++)
        CHECK_INT (sch_jobs_leases (rig.jobs, after_add [i].tenant), after_add [i].want);
    CHECK_INT (sch_jobs_queued (rig.jobs), 5);
    //  Dispatch does not change leases (queued -> running)
    CHECK_INT (s_pass (&rig, NULL, 0), 2);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 3);
    CHECK_INT (sch_jobs_leases (rig.jobs, "tb"), 1);
    CHECK_INT (sch_jobs_queued (rig.jobs), 3);
    CHECK_INT (sch_jobs_running (rig.jobs), 2);
    //  Fair queue alternates tenants: a1 then b1 went out
    CHECK (a1->worker == rig.w [0]);
    CHECK (b1->worker == rig.w [0]);
    CHECK (a2->worker == NULL);
    //  Done of a running job
    s_done (&rig, a1, 10);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 2);
    CHECK_INT (sch_jobs_running (rig.jobs), 1);
    CHECK_INT (rig.w [0]->assigned, 1);
    CHECK (sch_jobs_lookup (rig.jobs, "a1") == NULL);
    //  Cancel of a queued job
    s_cancel (&rig, a3);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);
    CHECK_INT (sch_jobs_queued (rig.jobs), 2);
    CHECK_INT (sch_fairq_size (sch_jobs_queue (rig.jobs, "p", "m")), 1);
    CHECK (sch_jobs_lookup (rig.jobs, "a3") == NULL);
    //  a2 goes out in the freed slot
    CHECK_INT (s_pass (&rig, NULL, 0), 1);
    CHECK (a2->worker == rig.w [0]);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);
    //  The worker is lost: its running jobs (a2, b1) and the orphan c1 free
    //  their leases
    int lost = 0, orphaned = 0;
    s_lose (&rig, 0, &lost, &orphaned);
    CHECK_INT (lost, 2);
    CHECK_INT (orphaned, 1);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 0);
    CHECK_INT (sch_jobs_leases (rig.jobs, "tb"), 0);
    CHECK_INT (sch_jobs_leases (rig.jobs, "tc"), 0);
    CHECK_INT (sch_jobs_queued (rig.jobs), 0);
    CHECK_INT (sch_jobs_running (rig.jobs), 0);
    CHECK_INT (sch_jobs_workers (rig.jobs), 0);
    //  A tenant can take leases again afterwards
    CHECK (s_add (&rig, "a1", "ta", "p", "m", 10, 1));
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);
    s_rig_fini (&rig);
}

//  A gateway that saw a job end frees its lease early (Submit.ended): only a
//  running job of that tenant and gateway, once; the job stays for its
//  worker's JobDone, which frees no lease a second time.
static void
test_release_ended (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 4, 4, 1000, NULL);
    sch_job_t *a1 = s_add (&rig, "a1", "ta", "p", "m", 10, 1);
    sch_job_t *a2 = s_add (&rig, "a2", "ta", "p", "m", 10, 1);
    sch_job_t *b1 = s_add (&rig, "b1", "tb", "p", "m", 10, 1);
    CHECK (a1 && a2 && b1);
    CHECK_INT (s_pass (&rig, NULL, 0), 3);
    sch_job_t *q1 = s_add (&rig, "q1", "ta", "p", "m", 10, 1);     //  queued, not running
    CHECK (q1 && q1->worker == NULL);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 3);
    zframe_t *other_gw = zframe_new ("gw-2", 4);
    struct {
        const char *req, *tenant;
        zframe_t *gateway;
        bool freed;
        uint32_t ta_after;
    } cases [] = {
        { "a1", "ta", rig.gateway, true, 2 },       //  running, its tenant and gateway
        { "a1", "ta", rig.gateway, false, 2 },      //  once only
        { "a2", "tb", rig.gateway, false, 2 },      //  another tenant's name for it
        { "a2", "ta", other_gw, false, 2 },         //  another gateway
        { "q1", "ta", rig.gateway, false, 2 },      //  queued: it cannot have ended
        { "zz", "ta", rig.gateway, false, 2 },      //  unknown
        { NULL, "ta", rig.gateway, false, 2 },
        { "a2", NULL, rig.gateway, false, 2 },
        { "a2", "ta", NULL, false, 2 },
        { "a2", "ta", rig.gateway, true, 1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        CHECK_MSG (sch_jobs_release_ended (rig.jobs, cases [i].req, cases [i].tenant,
                                           cases [i].gateway) == cases [i].freed,
                   "release case %zu", i);
        CHECK_MSG (sch_jobs_leases (rig.jobs, "ta") == cases [i].ta_after,
                   "leases of ta after case %zu: %u", i, sch_jobs_leases (rig.jobs, "ta"));
    }
    CHECK_INT (sch_jobs_leases (rig.jobs, "tb"), 1);
    //  The jobs stay, running, until their worker's JobDone: the worker's
    //  credit and the fair queue's correction come then, no lease again
    CHECK (sch_jobs_lookup (rig.jobs, "a1") == a1 && a1->worker == rig.w [0]);
    CHECK_INT (sch_jobs_running (rig.jobs), 3);
    s_done (&rig, a1, 10);
    s_done (&rig, a2, 10);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);    //  q1's own
    CHECK_INT (rig.w [0]->assigned, 1);
    CHECK (sch_jobs_lookup (rig.jobs, "a1") == NULL);
    //  The last lease of a tenant freed early: the tenant's entry goes, and
    //  comes back with its next job
    s_done (&rig, b1, 10);
    CHECK_INT (s_pass (&rig, NULL, 0), 1);
    CHECK (sch_jobs_release_ended (rig.jobs, "q1", "ta", rig.gateway));
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 0);
    CHECK (s_add (&rig, "a3", "ta", "p", "m", 10, 1) != NULL);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);
    s_done (&rig, q1, 10);
    CHECK_INT (sch_jobs_leases (rig.jobs, "ta"), 1);
    zframe_destroy (&other_gw);
    s_rig_fini (&rig);
}

//  Which jobs a lost worker held, which queued jobs become orphans.
static void
test_worker_lost (void)
{
    struct {
        int lose;               //  index of the worker lost
        int want_running_lost, want_orphans, want_queued_after;
    } table [] = {
        //  w0 p/a (runs 2), w1 p/b (runs 2), w2 p/a (runs 2); queued 3 a, 3 b
        { 0, 2, 0, 6 },         //  w2 still serves a
        { 1, 2, 3, 3 },         //  nobody serves b any more
        { 2, 2, 0, 6 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_t rig;
        s_rig_init (&rig);
        rig.w [0] = s_ready (&rig, "w0", "p", "a", 2, 2, 1000, NULL);
        rig.w [1] = s_ready (&rig, "w1", "p", "b", 2, 2, 1000, NULL);
        rig.w [2] = s_ready (&rig, "w2", "p", "a", 2, 2, 1000, NULL);
        s_add_n (&rig, 7, "t", "p", "a");
        s_add_n (&rig, 5, "t", "p", "b");
        CHECK_INT (s_pass (&rig, NULL, 0), 6);
        CHECK_INT (sch_jobs_queued (rig.jobs), 6);
        zlistx_t *none = sch_jobs_orphans (rig.jobs);
        CHECK_INT (zlistx_size (none), 0);
        zlistx_destroy (&none);
        int lost = 0, orphaned = 0;
        s_lose (&rig, table [i].lose, &lost, &orphaned);
        CHECK_MSG (lost == table [i].want_running_lost && orphaned == table [i].want_orphans,
                   "case %zu lost %d orphans %d", i, lost, orphaned);
        CHECK_INT (sch_jobs_queued (rig.jobs), table [i].want_queued_after);
        CHECK_INT (sch_jobs_running (rig.jobs), 4);
        CHECK_INT (sch_jobs_workers (rig.jobs), 2);
        CHECK_INT (sch_jobs_leases (rig.jobs, "t"), 4 + table [i].want_queued_after);
        //  No job points at the lost worker
        zframe_t *rid = zframe_new (i == 0? "w0": i == 1? "w1": "w2", 2);
        CHECK (sch_jobs_worker (rig.jobs, rid) == NULL);
        zframe_destroy (&rid);
        s_rig_fini (&rig);
    }
}

//  Silent workers by the time passed in, at the timeout boundary.
static void
test_silent (void)
{
    struct {
        uint64_t seen, now, timeout;
        bool want_silent;
    } table [] = {
        { 1000, 1000, 5000, false },
        { 1000, 5999, 5000, false },
        { 1000, 6000, 5000, false },    //  exactly the timeout: still alive
        { 1000, 6001, 5000, true },
        { 0, 5000, 5000, false },
        { 0, 5001, 5000, true },
        { 1000, 1000, 0, false },
        { 1000, 1001, 0, true },
        { 1000, 1000000, 5000, true },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        s_rig_t rig;
        s_rig_init (&rig);
        rig.w [0] = s_ready (&rig, "w0", "p", "m", 1, 1, table [i].seen, NULL);
        rig.w [1] = s_ready (&rig, "w1", "p", "m", 1, 1, table [i].now, NULL);  //  fresh
        zlistx_t *silent = sch_jobs_silent_workers (rig.jobs, table [i].now,
                                                    table [i].timeout);
        CHECK_MSG (zlistx_size (silent) == (table [i].want_silent? 1u: 0u),
                   "case %zu silent %zu", i, zlistx_size (silent));
        if (table [i].want_silent && zlistx_size (silent) == 1)
            CHECK (zlistx_first (silent) == rig.w [0]);
        zlistx_destroy (&silent);
        s_rig_fini (&rig);
    }
    //  A WorkerReady (heartbeat-like) refreshes last_seen
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 1, 1, 1000, NULL);
    s_ready (&rig, "w0", "p", "m", 1, 1, 4000, NULL);
    CHECK_INT (rig.w [0]->last_seen_ms, 4000);
    zlistx_t *silent = sch_jobs_silent_workers (rig.jobs, 8000, 5000);
    CHECK_INT (zlistx_size (silent), 0);
    zlistx_destroy (&silent);
    silent = sch_jobs_silent_workers (rig.jobs, 9001, 5000);
    CHECK_INT (zlistx_size (silent), 1);
    zlistx_destroy (&silent);
    s_rig_fini (&rig);
}

//  Concatenate a catalog list into "m1,m2".
static void
s_catalog_str (sch_jobs_t *jobs, const char *pool, char *out, size_t size)
{
    out [0] = 0;
    zlistx_t *list = (zlistx_t *) zhashx_lookup (sch_jobs_catalog (jobs), pool);
    if (!list) {
        snprintf (out, size, "(none)");
        return;
    }
    for (const char *m = (const char *) zlistx_first (list); m;
         m = (const char *) zlistx_next (list)) {
        size_t len = strlen (out);
        snprintf (out + len, size - len, "%s%s", len? ",": "", m);
    }
}

//  Catalog: models remembered per pool (sorted), live worker counts, queued
//  counts; WorkerReady changes.
static void
test_catalog (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    sch_worker_change_t change;
    rig.w [0] = s_ready (&rig, "w0", "p1", "m2,m1", 2, 2, 1000, &change);
    CHECK_INT (change, SCH_WORKER_JOINED);
    rig.w [1] = s_ready (&rig, "w1", "p1", "m3,m1", 2, 2, 1000, &change);
    CHECK_INT (change, SCH_WORKER_JOINED);
    rig.w [2] = s_ready (&rig, "w2", "p2", "x", 2, 2, 1000, &change);
    CHECK_INT (change, SCH_WORKER_JOINED);
    CHECK_INT (sch_jobs_workers (rig.jobs), 3);
    char buf [128];
    struct { const char *pool; const char *want_models; uint32_t want_workers; } t1 [] = {
        { "p1", "m1,m2,m3", 2 }, { "p2", "x", 1 }, { "p3", "(none)", 0 },
    };
    for (size_t i = 0; i < sizeof t1 / sizeof t1 [0]; i++) {
        s_catalog_str (rig.jobs, t1 [i].pool, buf, sizeof buf);
        CHECK_MSG (!strcmp (buf, t1 [i].want_models), "pool %s models %s", t1 [i].pool, buf);
        CHECK_INT (sch_jobs_pool_workers (rig.jobs, t1 [i].pool), t1 [i].want_workers);
    }
    CHECK_INT (zhashx_size (sch_jobs_catalog (rig.jobs)), 2);
    //  Same announcement again: SAME; order of models matters
    s_ready (&rig, "w0", "p1", "m2,m1", 2, 1, 2000, &change);
    CHECK_INT (change, SCH_WORKER_SAME);
    s_ready (&rig, "w0", "p1", "m1,m2", 2, 2, 2000, &change);
    CHECK_INT (change, SCH_WORKER_CHANGED);
    s_ready (&rig, "w0", "p1", "m1,m2", 3, 3, 2000, &change);
    CHECK_INT (change, SCH_WORKER_CHANGED);
    //  New model: joins the catalog; dropped model is remembered
    s_ready (&rig, "w0", "p1", "m4", 3, 3, 2000, &change);
    CHECK_INT (change, SCH_WORKER_CHANGED);
    s_catalog_str (rig.jobs, "p1", buf, sizeof buf);
    CHECK_STR (buf, "m1,m2,m3,m4");
    CHECK (!sch_jobs_any_worker_serves (rig.jobs, "p1", "m2"));
    CHECK (sch_jobs_any_worker_serves (rig.jobs, "p1", "m4"));
    //  A worker moving pools: counts follow, models stay in both catalogs
    rig.w [1] = s_ready (&rig, "w1", "p2", "m1", 2, 2, 2000, &change);
    CHECK_INT (change, SCH_WORKER_CHANGED);
    CHECK_INT (sch_jobs_pool_workers (rig.jobs, "p1"), 1);
    CHECK_INT (sch_jobs_pool_workers (rig.jobs, "p2"), 2);
    s_catalog_str (rig.jobs, "p2", buf, sizeof buf);
    CHECK_STR (buf, "m1,x");
    CHECK_INT (sch_jobs_workers (rig.jobs), 3);
    //  Queued counts per (pool, model)
    CHECK (sch_jobs_queue (rig.jobs, "p1", "m4") == NULL);     //  never queued
    s_add_n (&rig, 3, "t", "p1", "m4");
    s_add_n (&rig, 1, "t", "p2", "x");
    CHECK_INT (sch_fairq_size (sch_jobs_queue (rig.jobs, "p1", "m4")), 3);
    CHECK_INT (sch_fairq_size (sch_jobs_queue (rig.jobs, "p2", "x")), 1);
    CHECK (sch_jobs_queue (rig.jobs, "p2", "m4") == NULL);
    CHECK (sch_jobs_queue (rig.jobs, "p1", "x") == NULL);
    CHECK_INT (s_pass (&rig, NULL, 0), 4);
    CHECK_INT (sch_fairq_size (sch_jobs_queue (rig.jobs, "p1", "m4")), 0);
    //  Losing every worker of p2 keeps its catalog, live count 0
    int lost, orphaned;
    s_lose (&rig, 1, &lost, &orphaned);
    s_lose (&rig, 2, &lost, &orphaned);
    CHECK_INT (lost, 1);
    CHECK_INT (sch_jobs_pool_workers (rig.jobs, "p2"), 0);
    s_catalog_str (rig.jobs, "p2", buf, sizeof buf);
    CHECK_STR (buf, "m1,x");
    CHECK_INT (sch_jobs_workers (rig.jobs), 1);
    s_rig_fini (&rig);
}

//  Duplicate request ids are found by lookup (the caller refuses them); a
//  forgotten id can be used again; the job owns copies of what it was given.
static void
test_duplicates (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 1, 1, 1000, NULL);
    char req [16] = "dup", tenant [16] = "t1", model [16] = "m", pool [16] = "p";
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = req;
    spec.tenant_id = tenant;
    spec.pool = pool;
    spec.model = model;
    spec.max_tokens = 7;
    spec.prompt_tokens = 3;
    zframe_t *gw = zframe_new ("gw-9", 4);
    sch_job_t *job = sch_jobs_add (rig.jobs, &spec, gw, 0, false);
    CHECK (job);
    zframe_destroy (&gw);
    strcpy (req, "XXX");
    strcpy (tenant, "YY");
    strcpy (model, "Z");
    CHECK_STR (job->req_id, "dup");
    CHECK_STR (job->tenant_id, "t1");
    CHECK_STR (job->spec->req_id, "dup");
    CHECK_STR (job->spec->model, "m");
    CHECK_INT (job->spec->max_tokens, 7);
    CHECK_INT (job->weight, 1);                 //  0 counts as 1
    CHECK (job->gateway && zframe_streq (job->gateway, "gw-9"));
    struct { const char *req; bool found; } table [] = {
        { "dup", true }, { "DUP", false }, { "du", false }, { "dup ", false }, { "", false },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++)
        CHECK_MSG ((sch_jobs_lookup (rig.jobs, table [i].req) == job) == table [i].found,
                   "case %zu", i);
    //  Running: still found as a duplicate
    CHECK_INT (s_pass (&rig, NULL, 0), 1);
    CHECK (sch_jobs_lookup (rig.jobs, "dup") == job);
    //  Charged prompt + max_tokens at dispatch (no history yet), progress
    //  beyond that, corrected at done
    CHECK_INT (job->charged, 10);
    CHECK_INT (job->estimate, 7);
    sch_fairq_t *q = sch_jobs_queue (rig.jobs, "p", "m");
    sch_jobs_progress (rig.jobs, job, 2);       //  inside the estimate: nothing more
    CHECK_INT (job->reported, 2);
    CHECK_INT (job->extra, 0);
    sch_jobs_progress (rig.jobs, job, 1);       //  a count that goes back: ignored
    CHECK_INT (job->reported, 2);
    CHECK (sch_fairq_counter (q, "t1") > 10.0 - 1e-6 && sch_fairq_counter (q, "t1") < 10.0 + 1e-6);
    sch_jobs_progress (rig.jobs, job, 9);       //  two beyond the estimate
    CHECK_INT (job->extra, 2);
    CHECK (sch_fairq_counter (q, "t1") > 12.0 - 1e-6 && sch_fairq_counter (q, "t1") < 12.0 + 1e-6);
    s_done (&rig, job, 4);
    CHECK (sch_fairq_counter (sch_jobs_queue (rig.jobs, "p", "m"), "t1") < 4.0 + 1e-6);
    CHECK (sch_fairq_counter (sch_jobs_queue (rig.jobs, "p", "m"), "t1") > 4.0 - 1e-6);
    CHECK (sch_jobs_lookup (rig.jobs, "dup") == NULL);
    CHECK_INT (sch_jobs_leases (rig.jobs, "t1"), 0);
    //  It learned: t1's next job is charged the 1 token it generated, not 7
    sch_job_t *next = s_add (&rig, "next", "t1", "p", "m", 14, 1);
    CHECK (next != NULL);
    CHECK_INT (next? next->estimate: 0, 1);
    s_cancel (&rig, next);
    //  Reusable once forgotten, on another queue too
    job = s_add (&rig, "dup", "t2", "p", "other", 10, 3);
    CHECK (job && sch_jobs_lookup (rig.jobs, "dup") == job);
    CHECK_INT (job? job->weight: 0, 3);
    CHECK_INT (sch_jobs_leases (rig.jobs, "t2"), 1);
    CHECK_INT (sch_jobs_queued (rig.jobs), 1);
    s_rig_fini (&rig);          //  destroy with a job still queued frees it
}

//  A JobSpec that arrives with an unknown field numbered 0 (protobuf-c keeps
//  it, but cannot read back what it writes for it) is still stored, without it.
static void
test_unknown_field (void)
{
    //  Envelope{submit{job{req_id "req-1", tenant "t1", model "m", pool "p", field 0}}}
    static const uint8_t wire [] = {
        0x0a, 0x16, 0x0a, 0x14, 0x0a, 0x05, 'r', 'e', 'q', '-', '1', 0x12, 0x02, 't', '1',
        0x1a, 0x01, 'm', 0x22, 0x01, 'p', 0x80, 0x00, 0x00
    };
    Mt__Envelope *env = mt_codec_decode (wire, sizeof wire);
    CHECK (env != NULL);
    if (!env)
        return;
    CHECK (env->body_case == MT__ENVELOPE__BODY_SUBMIT && env->submit->job);
    sch_jobs_t *jobs = sch_jobs_new ();
    zframe_t *gw = zframe_new ("gw", 2);
    sch_job_t *job = sch_jobs_add (jobs, env->submit->job, gw, 1, false);
    CHECK (job != NULL);
    if (job) {
        CHECK_STR (job->spec->req_id, "req-1");
        CHECK_INT (job->spec->base.n_unknown_fields, 0);
    }
    zframe_destroy (&gw);
    sch_jobs_destroy (&jobs);
    mt_codec_free (&env);
}


//  Admission, one row per rule, in the order the rules apply: malformed,
//  duplicate, no worker, concurrency, queue full. The rig has a worker for
//  (p, m); tenant "busy" holds 2 leases; queue (p, m) holds 3 jobs; queue_max
//  is 4 unless the row says otherwise.
static void
test_admit (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 1, 1, 1000, NULL);
    rig.w [1] = s_ready (&rig, "w1", "p2", "m2", 1, 1, 1000, NULL);
    CHECK (s_add (&rig, "known", "busy", "p", "m", 10, 1) != NULL);
    CHECK (s_add (&rig, NULL, "busy", "p", "m", 10, 1) != NULL);
    CHECK (s_add (&rig, NULL, "other", "p", "m", 10, 1) != NULL);
    char long_name [300];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    struct {
        bool no_job;
        const char *req, *tenant, *pool, *model;
        uint32_t max_concurrent, queue_max;
        sch_admit_t want;
        uint32_t leases;
    } table [] = {
        { true, NULL, NULL, NULL, NULL, 0, 4, SCH_ADMIT_BAD, 0 },
        { false, "", "t", "p", "m", 0, 4, SCH_ADMIT_BAD, 0 },
        { false, "r", "", "p", "m", 0, 4, SCH_ADMIT_BAD, 0 },
        { false, "r", "t", "", "m", 0, 4, SCH_ADMIT_BAD, 0 },
        { false, "r", "t", "p", "", 0, 4, SCH_ADMIT_BAD, 0 },
        { false, long_name, "t", "p", "m", 0, 4, SCH_ADMIT_BAD, 0 },
        { false, "known", "busy", "p", "m", 1, 1, SCH_ADMIT_DUPLICATE, 0 },
        { false, "known", "t", "nopool", "m", 0, 4, SCH_ADMIT_DUPLICATE, 0 },
        { false, "r", "t", "p", "m2", 0, 4, SCH_ADMIT_NO_WORKER, 0 },     //  m2 is in p2
        { false, "r", "busy", "nopool", "m", 1, 1, SCH_ADMIT_NO_WORKER, 0 },
        { false, "r", "busy", "p", "m", 2, 4, SCH_ADMIT_CONCURRENCY, 2 },
        { false, "r", "busy", "p", "m", 2, 1, SCH_ADMIT_CONCURRENCY, 2 },
        { false, "r", "busy", "p", "m", 3, 4, SCH_ADMIT_OK, 2 },
        { false, "r", "busy", "p", "m", 0, 4, SCH_ADMIT_OK, 2 },           //  0: no limit
        { false, "r", "busy", "p", "m", 3, 3, SCH_ADMIT_QUEUE_FULL, 2 },
        { false, "r", "t", "p", "m", 0, 3, SCH_ADMIT_QUEUE_FULL, 0 },
        { false, "r", "t", "p2", "m2", 0, 1, SCH_ADMIT_OK, 0 },           //  no queue yet
        { false, "r", "t", "p", "m", 0, 4, SCH_ADMIT_OK, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        Mt__JobSpec spec = MT__JOB_SPEC__INIT;
        spec.req_id = (char *) table [i].req;
        spec.tenant_id = (char *) table [i].tenant;
        spec.pool = (char *) table [i].pool;
        spec.model = (char *) table [i].model;
        Mt__Submit submit = MT__SUBMIT__INIT;
        submit.job = table [i].no_job? NULL: &spec;
        submit.max_concurrent = table [i].max_concurrent;
        uint32_t leases = 99;
        sch_admit_t got = sch_jobs_admit (rig.jobs, &submit, table [i].queue_max, &leases);
        CHECK_MSG (got == table [i].want, "case %zu: got %d want %d", i, got, table [i].want);
        CHECK_MSG (leases == table [i].leases, "case %zu: leases %u want %u", i, leases,
                   table [i].leases);
    }
    CHECK_INT (sch_jobs_admit (rig.jobs, NULL, 4, NULL), SCH_ADMIT_BAD);
    s_rig_fini (&rig);
}

//  A requeue (a job accepted before and lost) passes the concurrency and
//  queue limits its first Submit passed, not the others; warming up (just
//  started), nothing is refused for want of a worker and nothing is an
//  orphan. Same rig as test_admit.
static void
test_admit_requeue (void)
{
    s_rig_t rig;
    s_rig_init (&rig);
    rig.w [0] = s_ready (&rig, "w0", "p", "m", 1, 1, 1000, NULL);
    CHECK (s_add (&rig, "known", "busy", "p", "m", 10, 1) != NULL);
    CHECK (s_add (&rig, NULL, "busy", "p", "m", 10, 1) != NULL);
    CHECK (s_add (&rig, NULL, "other", "p", "m", 10, 1) != NULL);
    struct {
        const char *name;
        bool requeue, warming;
        const char *req, *tenant, *pool, *model;
        uint32_t max_concurrent, queue_max;
        sch_admit_t want;
    } table [] = {
        { "requeue past the concurrency limit", true, false, "r", "busy", "p", "m", 2, 4, SCH_ADMIT_OK },
        { "requeue past a full queue", true, false, "r", "t", "p", "m", 0, 3, SCH_ADMIT_OK },
        { "requeue needs a worker", true, false, "r", "t", "p9", "m", 0, 4, SCH_ADMIT_NO_WORKER },
        { "requeue of a known job", true, false, "known", "busy", "p", "m", 0, 4, SCH_ADMIT_DUPLICATE },
        { "requeue still checked for names", true, false, "", "t", "p", "m", 0, 4, SCH_ADMIT_BAD },
        { "warming: no worker yet, queued", false, true, "r", "t", "p9", "m", 0, 4, SCH_ADMIT_OK },
        { "warming: limits still hold", false, true, "r", "busy", "p", "m", 2, 4, SCH_ADMIT_CONCURRENCY },
        { "warming: requeue, no worker yet", true, true, "r", "busy", "p9", "m", 2, 4, SCH_ADMIT_OK },
        { "warm: no worker refused", false, false, "r", "t", "p9", "m", 0, 4, SCH_ADMIT_NO_WORKER },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("admit: %s", table [i].name);
        Mt__JobSpec spec = MT__JOB_SPEC__INIT;
        spec.req_id = (char *) table [i].req;
        spec.tenant_id = (char *) table [i].tenant;
        spec.pool = (char *) table [i].pool;
        spec.model = (char *) table [i].model;
        Mt__Submit submit = MT__SUBMIT__INIT;
        submit.job = &spec;
        submit.max_concurrent = table [i].max_concurrent;
        submit.requeue = table [i].requeue;
        sch_jobs_set_warming (rig.jobs, table [i].warming);
        sch_admit_t got = sch_jobs_admit (rig.jobs, &submit, table [i].queue_max, NULL);
        CHECK_MSG (got == table [i].want, "%s: got %d want %d", table [i].name, got,
                   table [i].want);
    }
    //  A job queued for a pool with no worker is no orphan while warming
    mt_test_case ("admit: no orphans while warming");
    sch_jobs_set_warming (rig.jobs, true);
    CHECK (s_add (&rig, "early", "t", "p9", "m", 10, 1) != NULL);
    zlistx_t *orphans = sch_jobs_orphans (rig.jobs);
    CHECK_INT (zlistx_size (orphans), 0);
    zlistx_destroy (&orphans);
    sch_jobs_set_warming (rig.jobs, false);
    orphans = sch_jobs_orphans (rig.jobs);
    CHECK_INT (zlistx_size (orphans), 1);
    zlistx_destroy (&orphans);
    s_rig_fini (&rig);
}

int
main (void)
{
    MT_RUN (test_names);
    MT_RUN (test_dispatch_most_free);
    MT_RUN (test_pool_model_match);
    MT_RUN (test_model_turns);
    MT_RUN (test_credit);
    MT_RUN (test_blocked);
    MT_RUN (test_unsent);
    MT_RUN (test_leases);
    MT_RUN (test_worker_lost);
    MT_RUN (test_silent);
    MT_RUN (test_catalog);
    MT_RUN (test_duplicates);
    MT_RUN (test_unknown_field);
    MT_RUN (test_admit);
    MT_RUN (test_release_ended);
    test_admit_requeue ();
    return mt_test_done ("test_sch_jobs");
}
