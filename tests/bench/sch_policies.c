//  The fair queue's designs side by side in the simulated pool of
//  tests/unit/sch_sim.h (2 x 8 slots, 40 ms to first token, 10 ms a token; no
//  sockets, no real time): the 40 backlogged tenants + 1 light
//  tenant, the light tenant asking for less than its share (with backlogged
//  answers of 24-48 tokens, as make run's simulator gives, and all of 48),
//  and two tenants whose clients take 50 ms to send the next request. Prints a Markdown
//  table. Reports; never fails.
#include "sch_sim.h"

#include <stdio.h>

typedef struct {
    const char *name;
    sch_fairq_policy_t policy;
    bool lift_to_floor;
    bool tie_by_head;
    uint64_t head_start;
    sch_sim_charge_t charge;
    int progress_every;
} s_design_t;

typedef struct {
    double ratio;               //  pro : free tokens per tenant
    int p50, p99;               //  light tenant's latency, simulated ms
    int wait;                   //  most dispatches to others while its job waited
    double spread;              //  most served/weight between two backlogged tenants
} s_out_t;

//  40 backlogged tenants and a light one. staggered: the light tenant runs
//  alone for 7 s, then the others arrive one every 10 ms (pro first), as in
//  the live bench.
static s_out_t
s_forty (const s_design_t *d, int light_think_ms, bool staggered, uint32_t gen_lo)
{
    sch_sim_tenant_t tt [41];
    for (int i = 0; i < 40; i++)
        tt [i] = (sch_sim_tenant_t) { .weight = i < 20? 4: 1, .inflight = 8, .prompt_tokens = 12,
                                      .max_tokens = 512, .gen_lo = gen_lo, .gen_hi = 48,
                                      .start_ms = staggered? 7000 + 10 * i: 0 };
    tt [40] = (sch_sim_tenant_t) { .weight = 1, .inflight = 1, .prompt_tokens = 12,
                                   .max_tokens = 32, .gen_lo = 32, .gen_hi = 32,
                                   .think_ms = light_think_ms };
    sch_sim_config_t cfg = { .policy = d->policy, .head_start = d->head_start,
                             .lift_to_floor = d->lift_to_floor, .tie_by_head = d->tie_by_head,
                             .slots = 16,
                             .ttft_ms = 40, .itl_ms = 10, .progress_every = d->progress_every,
                             .charge = d->charge, .duration_ms = 120000, .warmup_ms = 20000,
                             .spread = true };
    sch_sim_result_t r [41];
    sch_sim_total_t total = sch_sim_run (&cfg, tt, 41, r);
    double pro = 0, free_ = 0;
    for (int i = 0; i < 40; i++)
        *(i < 20? &pro: &free_) += (double) r [i].tokens;
    s_out_t out = { .ratio = pro / (free_ > 0? free_: 1),
                    .p50 = sch_sim_percentile (&r [40], 50),
                    .p99 = sch_sim_percentile (&r [40], 99),
                    .wait = r [40].max_wait_dispatches, .spread = total.spread };
    sch_sim_free (r, 41);
    return out;
}

static double
s_two (const s_design_t *d, int think_ms)
{
    sch_sim_tenant_t tt [2];
    for (int i = 0; i < 2; i++)
        tt [i] = (sch_sim_tenant_t) { .weight = i? 1: 4, .inflight = 16, .prompt_tokens = 12,
                                      .max_tokens = 512, .gen_lo = 24, .gen_hi = 48,
                                      .think_ms = think_ms };
    sch_sim_config_t cfg = { .policy = d->policy, .head_start = d->head_start,
                             .lift_to_floor = d->lift_to_floor, .tie_by_head = d->tie_by_head,
                             .slots = 16,
                             .ttft_ms = 40, .itl_ms = 10, .progress_every = d->progress_every,
                             .charge = d->charge, .duration_ms = 60000, .warmup_ms = 10000 };
    sch_sim_result_t r [2];
    sch_sim_run (&cfg, tt, 2, r);
    double share = (double) r [0].tokens / (double) (r [0].tokens + r [1].tokens);
    sch_sim_free (r, 2);
    return share;
}

int
main (void)
{
    //  Every design up to "ties to the tenant served longest ago" broke ties
    //  by the oldest head job
    s_design_t designs [] = {
        { "fifo", SCH_FAIRQ_FIFO, false, true, 0, SCH_SIM_CHARGE_MAX, 0 },
        { "VTC, lift to lowest counter, charge prompt+max_tokens (before)", SCH_FAIRQ_VTC,
          true, true, 0, SCH_SIM_CHARGE_MAX, 0 },
        { "VTC, lift to lowest counter, charge prompt, progress", SCH_FAIRQ_VTC, true, true, 0,
          SCH_SIM_CHARGE_PROMPT, 16 },
        { "VTC, lift to lowest counter, charge prompt+usual, progress", SCH_FAIRQ_VTC, true,
          true, 0, SCH_SIM_CHARGE_LEARNED, 16 },
        { "same, head start 128 below the lowest counter", SCH_FAIRQ_VTC, true, true,
          SCH_FAIRQ_HEAD_START, SCH_SIM_CHARGE_LEARNED, 16 },
        { "VTC, lift to virtual time, charge prompt+usual, progress", SCH_FAIRQ_VTC, false,
          true, 0, SCH_SIM_CHARGE_LEARNED, 16 },
        { "same, head start 128", SCH_FAIRQ_VTC, false, true, SCH_FAIRQ_HEAD_START,
          SCH_SIM_CHARGE_LEARNED, 16 },
        { "same, ties to the tenant served longest ago (chosen)", SCH_FAIRQ_VTC, false, false,
          SCH_FAIRQ_HEAD_START, SCH_SIM_CHARGE_LEARNED, 16 },
        { "same, head start 1024", SCH_FAIRQ_VTC, false, false, 1024, SCH_SIM_CHARGE_LEARNED,
          16 },
    };
    s_design_t idle = { "idle", SCH_FAIRQ_VTC, false, false, 0, SCH_SIM_CHARGE_LEARNED, 16 };
    sch_sim_tenant_t one = { .weight = 1, .inflight = 1, .prompt_tokens = 12, .max_tokens = 32,
                             .gen_lo = 32, .gen_hi = 32 };
    sch_sim_config_t cfg = { .policy = idle.policy, .slots = 16, .ttft_ms = 40, .itl_ms = 10,
                             .duration_ms = 10000, .warmup_ms = 1000 };
    sch_sim_result_t r1;
    sch_sim_run (&cfg, &one, 1, &r1);
    int idle_ms = sch_sim_percentile (&r1, 50);
    sch_sim_free (&r1, 1);
    printf ("Simulated pool (tests/unit/sch_sim.h): light tenant idle latency %d ms\n\n", idle_ms);
    printf ("| design | 40+1: pro:free | 40+1: light p50 / p99 ms (dispatches waited) "
            "| light below its share: p50 / p99 ms (waited) "
            "| same, backlogged answers all 48 tokens: waited | 40+1: spread "
            "| arriving one by one: pro:free / light p99 ms "
            "| two tenants, 50 ms turnaround: pro share (0.8) |\n");
    printf ("|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof designs / sizeof designs [0]; i++) {
        s_out_t a = s_forty (&designs [i], 0, false, 24);
        s_out_t b = s_forty (&designs [i], 5000, false, 24);
        s_out_t e = s_forty (&designs [i], 5000, false, 48);
        s_out_t c = s_forty (&designs [i], 0, true, 24);
        double two = s_two (&designs [i], 50);
        printf ("| %s | %.2f | %d / %d (%d) | %d / %d (%d) | %d | %.0f | %.2f / %d | %.3f |\n",
                designs [i].name, a.ratio, a.p50, a.p99, a.wait, b.p50, b.p99, b.wait, e.wait,
                a.spread, c.ratio, c.p99, two);
    }
    return 0;
}
