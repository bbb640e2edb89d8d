//  A simulated pool for the scheduler's fair queue: a clock in milliseconds,
//  workers with a fixed number of slots that take ttft + itl per token, and
//  closed-loop clients per tenant (a tenant keeps `inflight` requests open and
//  sends the next one `think_ms` after one ends). No sockets, no real time.
//  Drives sch_fairq the way sch_jobs does: push at submit (charged
//  prompt_tokens at dispatch, or prompt_tokens + max_tokens as before), pop
//  at a free slot, progress as tokens are generated, correct at the end. Used by test_sch_fairq.c and the dispatch
//  bench; header-only so every user gets its own copy.
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
    uint32_t max_tokens;        //  charged at dispatch (the gateway's grant)
    uint32_t gen_lo, gen_hi;    //  tokens really generated, uniform in [lo, hi]
    int think_ms;               //  pause between one request's end and the next
    int start_ms;               //  first request at this time
    int stop_ms;                //  no new request from this time on (0: never)
} sch_sim_tenant_t;

typedef struct {
    sch_fairq_policy_t policy;  //  policy under test
    uint64_t head_start;        //  policy parameter (sch_fairq_config_t)
    int slots;                  //  slots of the pool (all workers together)
    int ttft_ms;                //  time to first token
    int itl_ms;                 //  time between tokens
    int progress_every;         //  tokens between progress reports (0: only at the end)
    bool charge_max_tokens;     //  dispatch charges prompt + max_tokens (else prompt only)
    int duration_ms;            //  simulated time
    int warmup_ms;              //  shares and latencies counted from here on
} sch_sim_config_t;

typedef struct {
    uint64_t tokens;            //  completion tokens generated inside the window
    uint64_t served;            //  prompt + completion tokens inside the window
    int requests;               //  requests ended inside the window
    int lat_n;                  //  latencies recorded
    int *lat_ms;                //  end - submit, ms, of requests ended in the window
    int max_wait_dispatches;    //  most dispatches to others while a job of it waited
} sch_sim_result_t;

//  One running job of the simulation.
typedef struct {
    int tenant;
    int submit_ms;
    int start_ms;
    uint32_t gen;               //  tokens it will generate
    uint32_t generated;         //  tokens generated so far
    uint32_t reported;          //  tokens reported as progress so far
    uint64_t charged;
    uint32_t weight;
} s_sim_job_t;

typedef struct {
    int submit_ms;
    uint64_t pops_at_submit;    //  dispatches made before it was queued
} s_sim_wait_t;

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

static inline void
s_sim_tid (char *out, size_t size, int t)
{
    snprintf (out, size, "t%d", t);
}

//  Record a latency in r.
static inline void
s_sim_latency (sch_sim_result_t *r, int *cap, int ms)
{
    if (r->lat_n == *cap) {
        *cap = *cap? 2 * *cap: 64;
        r->lat_ms = (int *) realloc (r->lat_ms, sizeof (int) * (size_t) *cap);
    }
    r->lat_ms [r->lat_n++] = ms;
}

//  One job's progress at now: report new tokens, and end it when due.
//  Returns true when the job ended.
static inline bool
s_sim_step_job (const sch_sim_config_t *cfg, const sch_sim_tenant_t *tt, sch_fairq_t *q,
                s_sim_job_t *j, int now, bool window, sch_sim_result_t *results, int *lat_cap)
{
    int elapsed = now - j->start_ms - cfg->ttft_ms;
    uint32_t due = 0;
    if (elapsed >= 0)
        due = cfg->itl_ms > 0? (uint32_t) (elapsed / cfg->itl_ms) + 1: j->gen;
    if (due > j->gen)
        due = j->gen;
    bool ends = due == j->gen;
    char tid [32];
    s_sim_tid (tid, sizeof tid, j->tenant);
    if (due > j->generated) {
        if (window)
            results [j->tenant].tokens += due - j->generated;
        j->generated = due;
    }
    if (cfg->progress_every > 0 && !ends
    &&  j->generated - j->reported >= (uint32_t) cfg->progress_every) {
        sch_fairq_progress (q, tid, j->weight, j->generated - j->reported);
        j->reported = j->generated;
    }
    if (!ends)
        return false;
    uint64_t actual = (uint64_t) tt [j->tenant].prompt_tokens + j->gen;
    sch_fairq_correct (q, tid, j->weight, j->charged + j->reported, actual);
    if (window) {
        sch_sim_result_t *r = &results [j->tenant];
        r->requests++;
        r->served += actual;
        s_sim_latency (r, &lat_cap [j->tenant], now - j->submit_ms);
    }
    return true;
}

//  Run a simulation of n tenants (tenant i is "t<i>"); results[] has n
//  entries, filled in; free each lat_ms with free(). Returns the completion
//  tokens of the window over all tenants.
static inline uint64_t
sch_sim_run (const sch_sim_config_t *cfg, const sch_sim_tenant_t *tt, int n,
             sch_sim_result_t *results)
{
    sch_fairq_config_t qc = { .policy = cfg->policy, .head_start = cfg->head_start };
    sch_fairq_t *q = sch_fairq_new_config (&qc);
    s_sim_job_t *run = (s_sim_job_t *) calloc ((size_t) cfg->slots, sizeof *run);
    bool *busy = (bool *) calloc ((size_t) cfg->slots, sizeof (bool));
    int *open = (int *) calloc ((size_t) n, sizeof (int));
    int *next_at = (int *) calloc ((size_t) n, sizeof (int));   //  -1: nothing planned
    int *lat_cap = (int *) calloc ((size_t) n, sizeof (int));
    uint64_t seq = 0, rng = 42, pops = 0, total = 0;
    memset (results, 0, sizeof *results * (size_t) n);
    for (int t = 0; t < n; t++)
        next_at [t] = tt [t].inflight > 0? tt [t].start_ms: -1;
    for (int now = 0; now < cfg->duration_ms; now++) {
        bool window = now >= cfg->warmup_ms;
        //  1. Jobs that progress or end now; their clients plan the next one
        for (int s = 0; s < cfg->slots; s++)
            if (busy [s] && s_sim_step_job (cfg, tt, q, &run [s], now, window, results,
                                            lat_cap)) {
                busy [s] = false;
                int t = run [s].tenant;
                open [t]--;
                if (next_at [t] < 0)
                    next_at [t] = now + tt [t].think_ms;
            }
        //  2. Clients that submit now
        for (int t = 0; t < n; t++) {
            if (next_at [t] < 0 || next_at [t] > now)
                continue;
            next_at [t] = -1;
            if (tt [t].stop_ms > 0 && now >= tt [t].stop_ms)
                continue;
            char tid [32], rid [48];
            s_sim_tid (tid, sizeof tid, t);
            while (open [t] < tt [t].inflight) {
                snprintf (rid, sizeof rid, "t%d-%llu", t, (unsigned long long) seq++);
                s_sim_wait_t *w = (s_sim_wait_t *) malloc (sizeof *w);
                w->submit_ms = now;
                w->pops_at_submit = pops;
                uint64_t cost = tt [t].prompt_tokens;
                if (cfg->charge_max_tokens)
                    cost += tt [t].max_tokens;
                sch_fairq_push (q, tid, tt [t].weight, rid, cost, w);
                open [t]++;
            }
        }
        //  3. Free slots take the next jobs
        for (int s = 0; s < cfg->slots; s++) {
            if (busy [s])
                continue;
            sch_fairq_pick_t pick;
            if (!sch_fairq_pop (q, &pick))
                break;
            s_sim_wait_t *w = (s_sim_wait_t *) pick.item;
            int t = atoi (pick.tenant_id + 1);
            s_sim_job_t *j = &run [s];
            memset (j, 0, sizeof *j);
            j->tenant = t;
            j->submit_ms = w->submit_ms;
            j->start_ms = now;
            uint32_t span = tt [t].gen_hi - tt [t].gen_lo + 1;
            j->gen = tt [t].gen_lo + (uint32_t) (s_sim_rand (&rng) % span);
            if (j->gen > tt [t].max_tokens)
                j->gen = tt [t].max_tokens;
            if (j->gen < 1)
                j->gen = 1;
            j->charged = pick.charged;
            j->weight = pick.weight;
            busy [s] = true;
            int waited = (int) (pops - w->pops_at_submit);
            if (window && waited > results [t].max_wait_dispatches)
                results [t].max_wait_dispatches = waited;
            pops++;
            free (w);
        }
    }
    for (int t = 0; t < n; t++)
        total += results [t].tokens;
    sch_fairq_pick_t pick;
    while (sch_fairq_pop (q, &pick))
        free (pick.item);
    sch_fairq_destroy (&q);
    free (run);
    free (busy);
    free (open);
    free (next_at);
    free (lat_cap);
    return total;
}

#endif
