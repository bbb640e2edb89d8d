//  Dispatch cost of the scheduler's core with many tenants queued: sch_jobs
//  (job table, leases, fair queue, workers) without sockets. 2 workers x 8
//  slots; T tenants of mixed weights (1, 4, 16) each with J jobs queued; then
//  a steady state of job done -> next dispatch -> the tenant queues another,
//  timed. Prints one line per (policy, tenants). Reports; never fails.
//    build/bench/sch_dispatch [tenants ...]
#include "sch_jobs.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define S_JOBS_EACH 5           //  jobs queued per tenant
#define S_CYCLES 200000         //  timed done -> dispatch cycles

static uint64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static void
s_add (sch_jobs_t *jobs, zframe_t *gw, int tenant, uint64_t *seq)
{
    char req [32], tid [32];
    snprintf (req, sizeof req, "r%llu", (unsigned long long) (*seq)++);
    snprintf (tid, sizeof tid, "tenant-%d", tenant);
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = req;
    spec.tenant_id = tid;
    spec.pool = "standard";
    spec.model = "m";
    spec.prompt_tokens = 10 + (uint32_t) (tenant % 7);
    spec.max_tokens = 48;
    uint32_t weights [] = { 1, 4, 16 };
    sch_jobs_add (jobs, &spec, gw, weights [tenant % 3], false);
}

static void
s_worker (sch_jobs_t *jobs, const char *name)
{
    char *models [] = { "m" };
    Mt__WorkerReady ready = MT__WORKER_READY__INIT;
    ready.worker_id = (char *) name;
    ready.pool = "standard";
    ready.models = models;
    ready.n_models = 1;
    ready.total_slots = 8;
    ready.free_slots = 8;
    zframe_t *rid = zframe_new (name, strlen (name));
    sch_worker_change_t change;
    sch_jobs_worker_ready (jobs, rid, &ready, 0, &change);
    zframe_destroy (&rid);
}

static void
s_run (sch_fairq_policy_t policy, int tenants)
{
    sch_jobs_t *jobs = sch_jobs_new ();
    sch_fairq_config_t config = { policy, 0 };
    sch_jobs_set_policy (jobs, &config);
    zframe_t *gw = zframe_new ("gw", 2);
    s_worker (jobs, "w1");
    s_worker (jobs, "w2");
    uint64_t seq = 0;
    for (int j = 0; j < S_JOBS_EACH; j++)
        for (int t = 0; t < tenants; t++)
            s_add (jobs, gw, t, &seq);
    //  Fill the slots
    zlistx_t *running = zlistx_new ();
    sch_dispatch_t d;
    sch_jobs_dispatch_begin (jobs);
    while (sch_jobs_dispatch_next (jobs, &d)) {
        sch_jobs_dispatch_sent (jobs, &d);
        zlistx_add_end (running, d.job);
    }
    uint64_t t0 = s_now_ns ();
    for (int c = 0; c < S_CYCLES; c++) {
        sch_job_t *done = (sch_job_t *) zlistx_first (running);
        zlistx_delete (running, zlistx_cursor (running));
        int tenant = atoi (done->tenant_id + 7);
        sch_jobs_progress (jobs, done, 16);
        sch_jobs_correct (jobs, done, done->spec->prompt_tokens + 36);
        sch_jobs_forget (jobs, done);
        s_add (jobs, gw, tenant, &seq);
        sch_jobs_dispatch_begin (jobs);
        while (sch_jobs_dispatch_next (jobs, &d)) {
            sch_jobs_dispatch_sent (jobs, &d);
            zlistx_add_end (running, d.job);
        }
    }
    uint64_t ns = s_now_ns () - t0;
    printf ("dispatch policy=%-4s tenants=%-6d queued=%-6u ns_per_dispatch=%.0f "
            "(job done + correct + queue one + dispatch one)\n",
            sch_fairq_policy_name (policy), tenants, sch_jobs_queued (jobs),
            (double) ns / S_CYCLES);
    zlistx_destroy (&running);
    zframe_destroy (&gw);
    sch_jobs_destroy (&jobs);
}

int
main (int argc, char **argv)
{
    int defaults [] = { 40, 10000 };
    for (int p = 0; p < 2; p++) {
        sch_fairq_policy_t policy = p? SCH_FAIRQ_VTC: SCH_FAIRQ_FIFO;
        if (argc > 1)
            for (int i = 1; i < argc; i++)
                s_run (policy, atoi (argv [i]) > 0? atoi (argv [i]): 1);
        else
            for (size_t i = 0; i < sizeof defaults / sizeof defaults [0]; i++)
                s_run (policy, defaults [i]);
    }
    return 0;
}
