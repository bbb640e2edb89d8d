//  A simulated pool for the scheduler's fair queue: a clock in milliseconds,
//  workers with a fixed number of slots that take ttft + itl per token, and
//  closed-loop clients per tenant (a tenant keeps `inflight` requests open and
//  sends the next one `think_ms` after one ends). No sockets, no real time.
//  Drives sch_fairq the way sch_jobs does: push at submit (charged at
//  dispatch the prompt and the tenant's usual completion, at most
//  max_tokens), pop at a free slot, progress beyond that charge as tokens
//  are generated, correct to the real count at the end. Used by
//  test_sch_fairq.c and tests/bench/sch_policies.c; header-only so every
//  user gets its own copy.
#ifndef SCH_SIM_H_INCLUDED
#define SCH_SIM_H_INCLUDED

#include "sch_fairq.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t weight;            //  tier weight
    int inflight;               //  requests the client keeps open (0: tenant absent)
    uint32_t prompt_tokens;     //  per request
    uint32_t max_tokens;        //  the gateway's grant: caps generation and the charge
    uint32_t gen_lo, gen_hi;    //  tokens really generated, uniform in [lo, hi]
    int think_ms;               //  pause between one request's end and the next
    int start_ms;               //  first request at this time
    int stop_ms;                //  no new request from this time on (0: never)
    int pause_ms, resume_ms;    //  no new request in [pause_ms, resume_ms) (0, 0: none)
} sch_sim_tenant_t;

//  What a dispatch charges before any token is generated.
typedef enum {
    SCH_SIM_CHARGE_LEARNED = 0, //  prompt + sch_fairq_estimate (as sch_jobs does)
    SCH_SIM_CHARGE_MAX,         //  prompt + max_tokens (the scheduler before)
    SCH_SIM_CHARGE_PROMPT,      //  prompt only
} sch_sim_charge_t;

typedef struct {
    sch_fairq_policy_t policy;  //  policy under test
    uint64_t head_start;        //  policy parameters (sch_fairq_config_t)
    bool lift_to_floor;         //  the lift the scheduler used before
    bool tie_by_head;           //  ties to the oldest head job, as before
    uint64_t forget_after;      //  dispatches before an idle tenant's state goes (0: never)
    int slots;                  //  slots of the pool (all workers together)
    int ttft_ms;                //  time to first token
    int itl_ms;                 //  time between tokens
    int progress_every;         //  tokens between progress reports (0: only at the end)
    sch_sim_charge_t charge;    //  what a dispatch charges
    int duration_ms;            //  simulated time
    int warmup_ms;              //  shares and latencies counted from here on
    bool spread;                //  measure the service spread (O(tenants) a dispatch)
} sch_sim_config_t;

//  What a run measured over all tenants.
typedef struct {
    uint64_t tokens;            //  completion tokens generated in the window
    uint64_t dispatches;        //  jobs dispatched in the window
    double spread;              //  most (served / weight) between two backlogged
                                //  tenants, counted from the window's start
} sch_sim_total_t;

typedef struct {
    uint64_t tokens;            //  completion tokens generated inside the window
    uint64_t served;            //  prompt at dispatch + completion as generated, in the window
    int requests;               //  requests ended inside the window
    int lat_n;                  //  latencies recorded
    int *lat_ms;                //  end - submit, ms, of requests ended in the window
    int max_wait_dispatches;    //  most dispatches between a job's submit and its own
} sch_sim_result_t;

//  One running job of the simulation.
typedef struct {
    int tenant;
    int submit_ms;
    int start_ms;
    uint32_t gen;               //  tokens it will generate
    uint32_t generated;         //  tokens generated so far
    uint32_t reported;          //  tokens reported as progress so far
    uint32_t estimate;          //  completion tokens charged at dispatch
    uint32_t extra;             //  completion tokens charged beyond the estimate
    uint64_t charged;
    uint32_t weight;
} s_sim_job_t;

typedef struct {
    int submit_ms;
    uint64_t pops_at_submit;    //  dispatches made before it was queued
    uint32_t estimate;          //  completion tokens in its dispatch charge
} s_sim_wait_t;

//  The simulation's state.
typedef struct {
    const sch_sim_config_t *cfg;
    const sch_sim_tenant_t *tt;
    int n;                      //  tenants
    sch_sim_result_t *results;
    sch_fairq_t *q;
    s_sim_job_t *run;           //  one per slot
    bool *busy;                 //  one per slot
    int *open;                  //  requests open per tenant
    int *lat_cap;               //  latencies allocated per tenant
    char (*tid) [16];           //  tenant ids, "t<i>"
    int *plan_t, *plan_at;      //  clients that send again later: tenant, when
    int nplan;
    uint64_t seq, rng, pops;
    sch_sim_total_t total;
} s_sim_t;

static inline uint64_t
s_sim_rand (uint64_t *state)
{
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline int
s_sim_cmp_int (const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;
    return (x > y) - (x < y);
}

//  The p-th percentile (0..100) of a result's latencies; -1 when none.
static inline int
sch_sim_percentile (sch_sim_result_t *r, double p)
{
    if (r->lat_n == 0)
        return -1;
    qsort (r->lat_ms, (size_t) r->lat_n, sizeof (int), s_sim_cmp_int);
    int i = (int) (p / 100.0 * (r->lat_n - 1) + 0.5);
    return r->lat_ms [i];
}

//  Free the latencies of n results.
static inline void
sch_sim_free (sch_sim_result_t *results, int n)
{
    for (int i = 0; i < n; i++) {
        free (results [i].lat_ms);
        results [i].lat_ms = NULL;
    }
}

//  Tenant t's client sends again at `at`.
static inline void
s_sim_plan (s_sim_t *sim, int t, int at)
{
    sim->plan_t [sim->nplan] = t;
    sim->plan_at [sim->nplan] = at;
    sim->nplan++;
}

//  Tenant t's client sends until it has its requests open.
static inline void
s_sim_submit (s_sim_t *sim, int t, int now)
{
    const sch_sim_tenant_t *tt = &sim->tt [t];
    if (tt->stop_ms > 0 && now >= tt->stop_ms)
        return;
    if (tt->resume_ms > 0 && now >= tt->pause_ms && now < tt->resume_ms) {
        if (sim->open [t] == tt->inflight - 1 || sim->open [t] == 0)
            s_sim_plan (sim, t, tt->resume_ms);
        return;
    }
    const char *tid = sim->tid [t];
    char rid [48];
    while (sim->open [t] < tt->inflight) {
        snprintf (rid, sizeof rid, "t%d-%llu", t, (unsigned long long) sim->seq++);
        s_sim_wait_t *w = (s_sim_wait_t *) malloc (sizeof *w);
        w->submit_ms = now;
        w->pops_at_submit = sim->pops;
        w->estimate = 0;
        if (sim->cfg->charge == SCH_SIM_CHARGE_MAX)
            w->estimate = tt->max_tokens;
        else
        if (sim->cfg->charge == SCH_SIM_CHARGE_LEARNED)
            w->estimate = (uint32_t) sch_fairq_estimate (sim->q, tid, tt->max_tokens);
        sch_fairq_push (sim->q, tid, tt->weight, rid, (uint64_t) tt->prompt_tokens + w->estimate,
                        w);
        sim->open [t]++;
    }
}

//  One job's progress at now: count new tokens, report them, end it when
//  due. Returns true when the job ended.
static inline bool
s_sim_step_job (s_sim_t *sim, s_sim_job_t *j, int now, bool window)
{
    const sch_sim_config_t *cfg = sim->cfg;
    int elapsed = now - j->start_ms - cfg->ttft_ms;
    if (elapsed < 0)
        return false;
    uint32_t due = cfg->itl_ms > 0? (uint32_t) (elapsed / cfg->itl_ms) + 1: j->gen;
    if (due > j->gen)
        due = j->gen;
    sch_sim_result_t *r = &sim->results [j->tenant];
    if (due > j->generated && window) {
        r->tokens += due - j->generated;
        r->served += due - j->generated;
    }
    j->generated = due;
    bool ends = due == j->gen;
    const char *tid = sim->tid [j->tenant];
    if (cfg->progress_every > 0 && !ends
    &&  j->generated - j->reported >= (uint32_t) cfg->progress_every) {
        //  A progress report: what goes beyond the dispatch estimate is charged
        j->reported = j->generated;
        if (j->reported > j->estimate + j->extra) {
            sch_fairq_progress (sim->q, tid, j->weight, j->reported - j->estimate - j->extra);
            j->extra = j->reported - j->estimate;
        }
    }
    if (!ends)
        return false;
    uint64_t actual = (uint64_t) sim->tt [j->tenant].prompt_tokens + j->gen;
    sch_fairq_correct (sim->q, tid, j->weight, j->charged + j->extra, actual);
    sch_fairq_learn (sim->q, tid, j->gen);
    if (window) {
        r->requests++;
        if (r->lat_n == sim->lat_cap [j->tenant]) {
            int cap = sim->lat_cap [j->tenant]? 2 * sim->lat_cap [j->tenant]: 64;
            r->lat_ms = (int *) realloc (r->lat_ms, sizeof (int) * (size_t) cap);
            sim->lat_cap [j->tenant] = cap;
        }
        r->lat_ms [r->lat_n++] = now - j->submit_ms;
    }
    return true;
}

//  Most (served / weight) between two tenants that keep a backlog.
static inline double
s_sim_spread (s_sim_t *sim)
{
    double lo = 0, hi = 0;
    bool any = false;
    for (int t = 0; t < sim->n; t++) {
        const sch_sim_tenant_t *tt = &sim->tt [t];
        if (tt->inflight < 2 || tt->think_ms || tt->stop_ms || tt->start_ms || tt->resume_ms)
            continue;
        double v = (double) sim->results [t].served / (tt->weight? tt->weight: 1);
        if (!any || v < lo)
            lo = v;
        if (!any || v > hi)
            hi = v;
        any = true;
    }
    return hi - lo;
}

//  Free slots take the next jobs.
static inline void
s_sim_dispatch (s_sim_t *sim, int now, bool window)
{
    const sch_sim_tenant_t *tt = sim->tt;
    for (int s = 0; s < sim->cfg->slots; s++) {
        if (sim->busy [s])
            continue;
        sch_fairq_pick_t pick;
        if (!sch_fairq_pop (sim->q, &pick))
            break;
        s_sim_wait_t *w = (s_sim_wait_t *) pick.item;
        int t = atoi (pick.tenant_id + 1);
        s_sim_job_t *j = &sim->run [s];
        memset (j, 0, sizeof *j);
        j->tenant = t;
        j->submit_ms = w->submit_ms;
        j->start_ms = now;
        uint32_t span = tt [t].gen_hi - tt [t].gen_lo + 1;
        j->gen = tt [t].gen_lo + (uint32_t) (s_sim_rand (&sim->rng) % span);
        if (j->gen > tt [t].max_tokens)
            j->gen = tt [t].max_tokens;
        if (j->gen < 1)
            j->gen = 1;
        j->charged = pick.charged;
        j->estimate = w->estimate;
        j->weight = pick.weight;
        sim->busy [s] = true;
        sch_sim_result_t *r = &sim->results [t];
        int waited = (int) (sim->pops - w->pops_at_submit);
        if (window) {
            if (waited > r->max_wait_dispatches)
                r->max_wait_dispatches = waited;
            r->served += tt [t].prompt_tokens;
            sim->total.dispatches++;
        }
        sim->pops++;
        free (w);
        if (window && sim->cfg->spread) {
            double spread = s_sim_spread (sim);
            if (spread > sim->total.spread)
                sim->total.spread = spread;
        }
    }
}

//  Run a simulation of n tenants (tenant i is "t<i>"); results[] has n
//  entries, filled in; free them with sch_sim_free. Returns the totals.
static inline sch_sim_total_t
sch_sim_run (const sch_sim_config_t *cfg, const sch_sim_tenant_t *tt, int n,
             sch_sim_result_t *results)
{
    sch_fairq_config_t qc = { .policy = cfg->policy, .head_start = cfg->head_start,
                              .lift_to_floor = cfg->lift_to_floor,
                              .tie_by_head = cfg->tie_by_head,
                              .forget_after = cfg->forget_after };
    s_sim_t sim = { .cfg = cfg, .tt = tt, .n = n, .results = results, .rng = 42 };
    sim.q = sch_fairq_new_config (&qc);
    sim.run = (s_sim_job_t *) calloc ((size_t) cfg->slots, sizeof *sim.run);
    sim.busy = (bool *) calloc ((size_t) cfg->slots, sizeof (bool));
    sim.open = (int *) calloc ((size_t) n, sizeof (int));
    sim.lat_cap = (int *) calloc ((size_t) n, sizeof (int));
    sim.plan_t = (int *) calloc (2 * (size_t) n + (size_t) cfg->slots, sizeof (int));
    sim.plan_at = (int *) calloc (2 * (size_t) n + (size_t) cfg->slots, sizeof (int));
    sim.tid = (char (*) [16]) calloc ((size_t) n, 16);
    for (int t = 0; t < n; t++)
        snprintf (sim.tid [t], 16, "t%d", t);
    memset (results, 0, sizeof *results * (size_t) n);
    for (int t = 0; t < n; t++)
        if (tt [t].inflight > 0)
            s_sim_plan (&sim, t, tt [t].start_ms);
    for (int now = 0; now < cfg->duration_ms; now++) {
        bool window = now >= cfg->warmup_ms;
        //  1. Jobs that progress or end now; their clients send again
        for (int s = 0; s < cfg->slots; s++)
            if (sim.busy [s] && s_sim_step_job (&sim, &sim.run [s], now, window)) {
                sim.busy [s] = false;
                int t = sim.run [s].tenant;
                sim.open [t]--;
                if (tt [t].think_ms == 0)
                    s_sim_submit (&sim, t, now);
                else
                if (sim.open [t] == tt [t].inflight - 1)
                    s_sim_plan (&sim, t, now + tt [t].think_ms);
            }
        //  2. Clients whose pause is over
        for (int i = 0; i < sim.nplan; )
            if (sim.plan_at [i] <= now) {
                s_sim_submit (&sim, sim.plan_t [i], now);
                sim.nplan--;
                sim.plan_t [i] = sim.plan_t [sim.nplan];
                sim.plan_at [i] = sim.plan_at [sim.nplan];
            }
            else
                i++;
        //  3. Free slots take the next jobs
        s_sim_dispatch (&sim, now, window);
    }
    for (int t = 0; t < n; t++)
        sim.total.tokens += results [t].tokens;
    sch_fairq_pick_t pick;
    while (sch_fairq_pop (sim.q, &pick))
        free (pick.item);
    sch_fairq_destroy (&sim.q);
    free (sim.run);
    free (sim.busy);
    free (sim.open);
    free (sim.lat_cap);
    free (sim.plan_t);
    free (sim.plan_at);
    free (sim.tid);
    return sim.total;
}

#endif
