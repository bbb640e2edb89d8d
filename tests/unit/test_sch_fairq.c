//  Unit tests of the scheduler's weighted fair queue (sch_fairq).
#include "mt_test.h"
#include "../../services/scheduler/sch_fairq.h"
#include "sch_sim.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

//  Push n jobs of one tenant with ids "<tenant>-<i>".
static void
s_push_n (sch_fairq_t *q, const char *tenant, uint32_t weight, int n, uint64_t cost)
{
    for (int i = 0; i < n; i++) {
        char id [64];
        snprintf (id, sizeof id, "%s-%d-%zu", tenant, i, sch_fairq_size (q));
        CHECK_INT (sch_fairq_push (q, tenant, weight, id, cost, (void *) tenant), 0);
    }
}

//  Pop n jobs; return the index of the first pop served to tenant `watch`
//  (or -1) and add served tokens per tenant into tokens[] by name order.
static int
s_pop_n (sch_fairq_t *q, int n, const char **names, uint64_t *tokens, size_t nnames,
         const char *watch)
{
    int first = -1;
    for (int i = 0; i < n; i++) {
        sch_fairq_pick_t pick;
        if (!sch_fairq_pop (q, &pick))
            break;
        for (size_t k = 0; k < nnames; k++)
            if (!strcmp (pick.tenant_id, names [k]))
                tokens [k] += pick.charged;
        if (watch && first < 0 && !strcmp (pick.tenant_id, watch))
            first = i;
    }
    return first;
}

static void
test_empty (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    sch_fairq_pick_t pick;
    CHECK (!sch_fairq_pop (q, &pick));
    CHECK_INT (sch_fairq_size (q), 0);
    CHECK (sch_fairq_remove (q, "nope") == NULL);
    sch_fairq_correct (q, "nobody", 1, 10, 5);      //  no-op, no crash
    CHECK (sch_fairq_push (q, "a", 1, "r1", 10, "x") == 0);
    CHECK (sch_fairq_push (q, "a", 1, "r1", 10, "x") == -1);   //  duplicate
    CHECK (sch_fairq_pop (q, &pick));
    CHECK (!sch_fairq_pop (q, &pick));
    sch_fairq_destroy (&q);
    CHECK (q == NULL);
    sch_fairq_destroy (&q);
}

//  Table: two tenants under backlog, equal cost per job; share of tokens.
static void
test_weights (void)
{
    struct {
        uint32_t wa, wb;
        int pops;
        double want_ratio;      //  tokens(a) / tokens(b)
    } table [] = {
        { 1, 1, 200, 1.0 },
        { 4, 1, 500, 4.0 },
        { 16, 1, 850, 16.0 },
        { 1, 4, 500, 0.25 },
        { 0, 1, 200, 1.0 },     //  weight 0 counts as 1
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("weights %u:%u", table [i].wa, table [i].wb);
        sch_fairq_t *q = sch_fairq_new ();
        s_push_n (q, "a", table [i].wa, 1000, 100);
        s_push_n (q, "b", table [i].wb, 1000, 100);
        const char *names [] = { "a", "b" };
        uint64_t tokens [2] = { 0, 0 };
        s_pop_n (q, table [i].pops, names, tokens, 2, NULL);
        double ratio = (double) tokens [0] / (double) (tokens [1]? tokens [1]: 1);
        CHECK_MSG (ratio > table [i].want_ratio * 0.9 && ratio < table [i].want_ratio * 1.1,
                   "case %zu ratio %.3f want %.3f", i, ratio, table [i].want_ratio);
        sch_fairq_destroy (&q);
    }
}

//  Equal weights alternate strictly; the tenant that arrived first goes first.
static void
test_alternate (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    s_push_n (q, "a", 1, 5, 10);
    s_push_n (q, "b", 1, 5, 10);
    const char *want [] = { "a", "b", "a", "b", "a", "b", "a", "b", "a", "b" };
    for (size_t i = 0; i < 10; i++) {
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q, &pick));
        CHECK_STR (pick.tenant_id, want [i]);
    }
    sch_fairq_destroy (&q);
}

//  Unequal job sizes: fairness is in tokens, not requests.
static void
test_tokens_not_requests (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    s_push_n (q, "big", 1, 100, 1000);
    s_push_n (q, "small", 1, 1000, 10);
    const char *names [] = { "big", "small" };
    uint64_t tokens [2] = { 0, 0 };
    s_pop_n (q, 220, names, tokens, 2, NULL);
    //  200 small jobs of 10 tokens = 2000, big gets ~2 jobs of 1000
    CHECK_MSG (tokens [0] <= 3000 && tokens [1] >= 1900, "big=%llu small=%llu",
               (unsigned long long) tokens [0], (unsigned long long) tokens [1]);
    sch_fairq_destroy (&q);
}

//  A light tenant's job behind a heavy tenant's 1000-job backlog goes out
//  within 2 picks, or the heavy tenant's weight + 2 when it is heavier.
static void
test_light_behind_flood (void)
{
    struct { uint32_t heavy_w, light_w; int served_before; int within; } table [] = {
        { 1, 1, 10, 2 },
        { 1, 1, 500, 2 },
        { 16, 1, 10, 18 },      //  tier priority slows, never starves
        { 1, 16, 10, 2 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("light behind flood: heavy weight %u, light %u, %d served before",
                      table [i].heavy_w, table [i].light_w, table [i].served_before);
        sch_fairq_t *q = sch_fairq_new ();
        s_push_n (q, "heavy", table [i].heavy_w, 1000, 200);
        const char *names [] = { "heavy", "light" };
        uint64_t tokens [2] = { 0, 0 };
        s_pop_n (q, table [i].served_before, names, tokens, 2, NULL);
        CHECK_INT (sch_fairq_push (q, "light", table [i].light_w, "light-1", 200, "l"), 0);
        int first = s_pop_n (q, 100, names, tokens, 2, "light");
        CHECK_MSG (first >= 0 && first < table [i].within, "case %zu light served at pick %d",
                   i, first);
        sch_fairq_destroy (&q);
    }
}

//  No starvation: a weight-1 tenant under a weight-16 flood gets served at a
//  steady rate, not only after the flood.
static void
test_no_starvation (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    s_push_n (q, "ent", 16, 2000, 100);
    s_push_n (q, "free", 1, 100, 100);
    int since = 0, worst = 0, free_served = 0;
    for (int i = 0; i < 1700; i++) {
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q, &pick));
        if (!strcmp (pick.tenant_id, "free")) {
            free_served++;
            since = 0;
        }
        else
        if (++since > worst)
            worst = since;
    }
    CHECK_MSG (worst <= 17, "free waited %d picks", worst);
    CHECK_MSG (free_served >= 95, "free served %d", free_served);
    sch_fairq_destroy (&q);
}

//  A tenant that was idle while others were served gets no burst credit.
static void
test_idle_no_credit (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    s_push_n (q, "a", 1, 300, 10);
    s_push_n (q, "b", 1, 2, 10);
    const char *names [] = { "a", "b" };
    uint64_t tokens [2] = { 0, 0 };
    s_pop_n (q, 4, names, tokens, 2, NULL);     //  b's backlog drains
    CHECK_INT (tokens [1], 20);
    s_pop_n (q, 100, names, tokens, 2, NULL);   //  b idles, a gets 100 picks
    CHECK_INT (tokens [0], 1020);
    //  b returns with 20 jobs: it must alternate with a, not run 20 in a row
    s_push_n (q, "b", 1, 20, 10);
    int run = 0, worst = 0;
    for (int i = 0; i < 20; i++) {
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q, &pick));
        if (!strcmp (pick.tenant_id, "b")) {
            if (++run > worst)
                worst = run;
        }
        else
            run = 0;
    }
    CHECK_MSG (worst <= 2, "b ran %d picks in a row", worst);
    //  And the whole queue going idle gives no credit either
    sch_fairq_t *q2 = sch_fairq_new ();
    s_push_n (q2, "a", 1, 50, 10);
    tokens [0] = tokens [1] = 0;
    s_pop_n (q2, 50, names, tokens, 2, NULL);
    CHECK_INT (sch_fairq_size (q2), 0);
    s_push_n (q2, "b", 1, 10, 10);
    CHECK_MSG (sch_fairq_counter (q2, "b") >= 480, "b starts at %.1f",
               sch_fairq_counter (q2, "b"));
    s_push_n (q2, "a", 1, 10, 10);
    run = worst = 0;
    for (int i = 0; i < 10; i++) {
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q2, &pick));
        if (!strcmp (pick.tenant_id, "b")) {
            if (++run > worst)
                worst = run;
        }
        else
            run = 0;
    }
    CHECK_MSG (worst <= 2, "b ran %d picks in a row after full idle", worst);
    sch_fairq_destroy (&q2);
    sch_fairq_destroy (&q);
}

//  Where a tenant starts when it becomes backlogged, with a head start of 50:
//  at the virtual time (the highest counter a job was dispatched at) when it
//  has nothing running, up to 50 below it when a job of it still runs; never
//  below its own counter; and tenants arriving one after another all start
//  at the same place (the lowest counter does not sink with each of them).
static void
test_head_start (void)
{
    mt_test_case ("head start: a served alone");
    sch_fairq_config_t config = { SCH_FAIRQ_VTC, 50, false, false, 0 };
    sch_fairq_t *q = sch_fairq_new_config (&config);
    s_push_n (q, "a", 1, 30, 10);
    const char *names [] = { "a" };
    uint64_t tokens [1] = { 0 };
    s_pop_n (q, 30, names, tokens, 1, NULL);        //  a served at 0, 10, ..., 290
    CHECK_INT (sch_fairq_size (q), 0);
    CHECK (sch_fairq_vtime (q) > 290 - 1e-6 && sch_fairq_vtime (q) < 290 + 1e-6);
    struct {
        const char *tenant;
        bool running;           //  pop one job of it first and keep it running
        double want;            //  its counter once it queues again
    } table [] = {
        { "new1", false, 290 },         //  idle: at the virtual time
        { "new2", false, 290 },         //  the next one too (no cascade)
        { "new3", false, 290 },
        { "a", false, 300 },            //  its own counter is above: kept
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("head start: %s queues (%zu)", table [i].tenant, i);
        char id [32];
        snprintf (id, sizeof id, "%s-x", table [i].tenant);
        CHECK_INT (sch_fairq_push (q, table [i].tenant, 1, id, 10, NULL), 0);
        double c = sch_fairq_counter (q, table [i].tenant);
        CHECK_MSG (c > table [i].want - 1e-6 && c < table [i].want + 1e-6,
                   "case %zu: %s at %.1f want %.1f", i, table [i].tenant, c, table [i].want);
    }
    sch_fairq_destroy (&q);
    //  A tenant between two requests: its job runs, its queue is empty
    mt_test_case ("head start: a tenant between two requests");
    q = sch_fairq_new_config (&config);
    s_push_n (q, "busy", 1, 1, 10);
    s_push_n (q, "other", 1, 200, 10);
    sch_fairq_pick_t pick;
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR (pick.tenant_id, "busy");             //  runs, counter 10
    s_pop_n (q, 100, names, tokens, 1, NULL);        //  other served up to 1000
    CHECK_INT (sch_fairq_push (q, "busy", 1, "busy-2", 10, NULL), 0);
    double c = sch_fairq_counter (q, "busy");        //  virtual time 990, minus 50
    CHECK_MSG (c > 940 - 1e-6 && c < 940 + 1e-6, "busy at %.1f", c);
    sch_fairq_correct (q, "busy", 1, 10, 10);        //  its first job ends
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR (pick.tenant_id, "busy");
    sch_fairq_correct (q, "busy", 1, 10, 10);
    mt_test_case ("head start: none for a tenant with nothing running");
    s_pop_n (q, 50, names, tokens, 1, NULL);
    CHECK_INT (sch_fairq_push (q, "busy", 1, "busy-3", 10, NULL), 0);
    c = sch_fairq_counter (q, "busy");               //  nothing running: no head start
    CHECK_MSG (c >= 1000 - 1e-6, "idle busy at %.1f", c);
    sch_fairq_destroy (&q);
}

//  JobDone corrects the estimate: a tenant charged for max_tokens that used
//  few gets the difference back.
static void
test_correct (void)
{
    struct { uint32_t weight; uint64_t charged, actual; double want; } table [] = {
        { 1, 1000, 100, 100.0 },
        { 4, 1000, 200, 50.0 },
        { 2, 100, 300, 150.0 },
        { 1, 50, 50, 50.0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("correct: weight %u, charged %llu, used %llu", table [i].weight,
                      (unsigned long long) table [i].charged,
                      (unsigned long long) table [i].actual);
        sch_fairq_t *q = sch_fairq_new ();
        CHECK_INT (sch_fairq_push (q, "a", table [i].weight, "r", table [i].charged, "x"), 0);
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q, &pick));
        CHECK_INT (pick.charged, table [i].charged);
        sch_fairq_correct (q, "a", pick.weight, pick.charged, table [i].actual);
        double c = sch_fairq_counter (q, "a");
        CHECK_MSG (c > table [i].want - 1e-6 && c < table [i].want + 1e-6,
                   "case %zu counter %.3f want %.3f", i, c, table [i].want);
        sch_fairq_destroy (&q);
    }
}

//  One job of tenant x, dispatched and ended having used `actual` (or left
//  running).
static void
s_one_job (sch_fairq_t *q, const char *tenant, const char *id, uint64_t cost, uint64_t actual,
           bool end)
{
    sch_fairq_pick_t pick;
    CHECK_INT (sch_fairq_push (q, tenant, 1, id, cost, NULL), 0);
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR (pick.tenant_id, tenant);
    if (end)
        sch_fairq_correct (q, tenant, 1, cost, actual);
}

//  The tenant table shrinks: a tenant with nothing queued or running is
//  forgotten once it has been idle for forget_after dispatches and its
//  counter is no higher than the virtual time; coming back it starts where
//  it would have started had it been kept (no banking), and a tenant that
//  ran ahead is kept until the virtual time passes it.
static void
test_forget (void)
{
    struct {
        const char *name;
        uint64_t cost;          //  x's one job: charged at dispatch, used
        bool end;               //  the job ends (else it keeps running)
        int pops;               //  dispatches of the backlogged tenant after it
        bool known;             //  x still has state after them
    } table [] = {
        { "idle, fewer dispatches than forget_after: kept", 10, true, 9, true },
        { "idle at the virtual time: forgotten", 10, true, 12, false },
        { "idle ahead of the virtual time: kept", 1000, true, 50, true },
        { "idle ahead, until the virtual time passes it", 1000, true, 130, false },
        { "running: kept", 10, false, 200, true },
    };
    for (size_t c = 0; c < sizeof table / sizeof table [0]; c++) {
        mt_test_case ("forget: %s", table [c].name);
        sch_fairq_config_t forget = { SCH_FAIRQ_VTC, SCH_FAIRQ_HEAD_START, false, false, 10 };
        sch_fairq_config_t keep = { SCH_FAIRQ_VTC, SCH_FAIRQ_HEAD_START, false, false, 0 };
        sch_fairq_t *q [2] = { sch_fairq_new_config (&forget), sch_fairq_new_config (&keep) };
        for (int k = 0; k < 2; k++) {
            s_one_job (q [k], "x", "x-1", table [c].cost, table [c].cost, table [c].end);
            s_push_n (q [k], "a", 1, 300, 10);
            const char *names [] = { "a" };
            uint64_t tokens [1] = { 0 };
            s_pop_n (q [k], table [c].pops, names, tokens, 1, NULL);
        }
        CHECK_MSG ((sch_fairq_tenants (q [0]) == 2) == table [c].known,
                   "%zu tenants known", sch_fairq_tenants (q [0]));
        CHECK_INT (sch_fairq_tenants (q [1]), 2);               //  forget_after 0: never
        //  x comes back: where it would have come back had it been kept
        for (int k = 0; k < 2; k++)
            CHECK_INT (sch_fairq_push (q [k], "x", 1, "x-2", 10, NULL), 0);
        double c0 = sch_fairq_counter (q [0], "x"), c1 = sch_fairq_counter (q [1], "x");
        CHECK_MSG (c0 > c1 - 1e-9 && c0 < c1 + 1e-9, "x at %.1f, kept at %.1f", c0, c1);
        sch_fairq_destroy (&q [0]);
        sch_fairq_destroy (&q [1]);
    }
    //  10,000 tenants come and go, one request each, beside a backlogged one:
    //  the table holds those of the last forget_after dispatches, not all
    mt_test_case ("forget: 10,000 tenants passing through");
    sch_fairq_config_t config = { SCH_FAIRQ_VTC, SCH_FAIRQ_HEAD_START, false, false, 100 };
    sch_fairq_t *q = sch_fairq_new_config (&config);
    s_push_n (q, "a", 1, 20000, 10);
    size_t most = 0;
    for (int i = 0; i < 10000; i++) {
        char tenant [32], id [32];
        snprintf (tenant, sizeof tenant, "t%d", i);
        snprintf (id, sizeof id, "t%d-1", i);
        CHECK_INT (sch_fairq_push (q, tenant, 1, id, 10, NULL), 0);
        sch_fairq_pick_t pick;
        for (int k = 0; k < 2; k++)
            if (sch_fairq_pop (q, &pick) && strcmp (pick.tenant_id, "a"))
                sch_fairq_correct (q, pick.tenant_id, 1, 10, 10);
        if (sch_fairq_tenants (q) > most)
            most = sch_fairq_tenants (q);
    }
    CHECK_MSG (most <= 2 * 100 + 2, "%zu tenants known at most", most);
    sch_fairq_destroy (&q);
}

//  Cancel of a queued job; unpop of a failed dispatch.
static void
test_remove_unpop (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    CHECK_INT (sch_fairq_push (q, "a", 1, "a1", 10, "A1"), 0);
    CHECK_INT (sch_fairq_push (q, "a", 1, "a2", 10, "A2"), 0);
    CHECK_INT (sch_fairq_push (q, "b", 1, "b1", 10, "B1"), 0);
    CHECK_STR ((const char *) sch_fairq_remove (q, "a1"), "A1");
    CHECK (sch_fairq_remove (q, "a1") == NULL);
    CHECK_INT (sch_fairq_size (q), 2);
    CHECK_STR ((const char *) sch_fairq_remove (q, "b1"), "B1");    //  b idle again
    sch_fairq_pick_t pick;
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "A2");
    CHECK (sch_fairq_counter (q, "a") > 9.9);
    CHECK_INT (sch_fairq_unpop (q, "a2", &pick), 0);
    CHECK (sch_fairq_counter (q, "a") < 0.1);
    CHECK_INT (sch_fairq_unpop (q, "a2", &pick), -1);   //  already queued
    CHECK_INT (sch_fairq_size (q), 1);
    CHECK_INT (sch_fairq_push (q, "a", 1, "a3", 10, "A3"), 0);
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "A2");         //  back at the head
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "A3");
    CHECK (!sch_fairq_pop (q, &pick));
    //  Destroy with jobs still queued frees them
    CHECK_INT (sch_fairq_push (q, "c", 1, "c1", 10, "C1"), 0);
    sch_fairq_destroy (&q);
}

//  Jobs queued by handle (as the scheduler queues them) beside named ones:
//  the same order and charges; removed and put back by handle; the tenant of
//  a pick charged, corrected and taught without a lookup.
static void
test_handles (void)
{
    sch_fairq_t *q = sch_fairq_new ();
    sch_fairq_entry_t *a1 = sch_fairq_add (q, "a", 1, 10, "A1", false);
    sch_fairq_entry_t *a2 = sch_fairq_add (q, "a", 1, 10, "A2", false);
    CHECK (a1 && a2 && a1 != a2);
    CHECK_INT (sch_fairq_push (q, "b", 1, "b1", 10, "B1"), 0);
    CHECK (sch_fairq_add (q, "b", 1, 10, "B0", true) != NULL);     //  at b's head
    CHECK_INT (sch_fairq_size (q), 4);
    CHECK_STR ((const char *) sch_fairq_remove_entry (q, a1), "A1");
    CHECK_INT (sch_fairq_size (q), 3);
    CHECK (sch_fairq_remove (q, "A2") == NULL);         //  not named: not found by name
    sch_fairq_pick_t pick;
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "B0");         //  a head job goes first
    CHECK (pick.tenant != NULL);
    CHECK_STR (pick.tenant_id, "b");
    CHECK (sch_fairq_unpop_entry (q, &pick) != NULL);   //  the dispatch failed
    CHECK (sch_fairq_counter (q, "b") < 0.1);           //  refunded
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "B0");         //  back at the head
    sch_fairq_tenant_progress (q, pick.tenant, 1, 5);
    CHECK (sch_fairq_counter (q, "b") > 14.9 && sch_fairq_counter (q, "b") < 15.1);
    sch_fairq_tenant_correct (q, pick.tenant, 1, 15, 40);   //  charged 15, used 40
    sch_fairq_tenant_learn (q, pick.tenant, 36);
    CHECK (sch_fairq_counter (q, "b") > 39.9 && sch_fairq_counter (q, "b") < 40.1);
    CHECK_INT (sch_fairq_estimate (q, "b", 100), 36);
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "A2");         //  a is behind b now
    CHECK (sch_fairq_pop (q, &pick));
    CHECK_STR ((const char *) pick.item, "B1");
    CHECK (!sch_fairq_pop (q, &pick));
    CHECK_INT (sch_fairq_size (q), 0);
    //  Destroy with jobs still queued, named and not, frees them
    CHECK (sch_fairq_add (q, "c", 1, 10, "C1", false) != NULL);
    CHECK_INT (sch_fairq_push (q, "c", 1, "c2", 10, "C2"), 0);
    sch_fairq_destroy (&q);
}

//  A lost job comes back at the head of its tenant's queue; its tenant's
//  counter was corrected for the lost run, so it is charged once; a tenant
//  idle until then becomes backlogged as with a push. Table: the queue
//  before (tenant:job in push order), the job pushed at the head, the order
//  jobs then come out in.
static void
test_push_head (void)
{
    static const struct {
        const char *name;
        sch_fairq_policy_t policy;
        const char *before [4];         //  "tenant:job"
        const char *head;               //  "tenant:job"
        const char *want [5];           //  jobs in pop order
    } rows [] = {
        { "ahead of its tenant's queued jobs", SCH_FAIRQ_VTC,
          { "a:a1", "a:a2" }, "a:lost", { "lost", "a1", "a2" } },
        { "into an empty queue", SCH_FAIRQ_VTC, { NULL }, "a:lost", { "lost" } },
        { "vtc tie: the lost job waited longest", SCH_FAIRQ_VTC,
          { "a:a1", "b:b1" }, "b:lost", { "lost", "a1", "b1" } },
        { "fifo: ahead of every tenant's", SCH_FAIRQ_FIFO,
          { "a:a1", "b:b1", "a:a2" }, "b:lost", { "lost", "a1", "b1", "a2" } },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("push head: %s", rows [i].name);
        sch_fairq_config_t config = { rows [i].policy, 0, false };
        sch_fairq_t *q = sch_fairq_new_config (&config);
        char tenant [8], job [16];
        for (size_t k = 0; k < 4 && rows [i].before [k]; k++) {
            sscanf (rows [i].before [k], "%7[^:]:%15s", tenant, job);
            CHECK_INT (sch_fairq_push (q, tenant, 1, job, 10, strdup (job)), 0);
        }
        sscanf (rows [i].head, "%7[^:]:%15s", tenant, job);
        CHECK_INT (sch_fairq_push_head (q, tenant, 1, job, 10, strdup (job)), 0);
        CHECK_INT (sch_fairq_push_head (q, tenant, 1, job, 10, NULL), -1);     //  duplicate
        sch_fairq_pick_t pick;
        for (size_t k = 0; k < 5 && rows [i].want [k]; k++) {
            CHECK (sch_fairq_pop (q, &pick));
            CHECK_STR ((const char *) pick.item, rows [i].want [k]);
            free (pick.item);
        }
        CHECK (!sch_fairq_pop (q, &pick));
        sch_fairq_destroy (&q);
    }
    //  The lost run's charge was corrected to 0: the tenant pays the second
    //  run only
    mt_test_case ("push head: charged once");
    sch_fairq_t *q = sch_fairq_new ();
    sch_fairq_pick_t pick;
    CHECK_INT (sch_fairq_push (q, "a", 1, "j", 10, "J"), 0);
    CHECK (sch_fairq_pop (q, &pick));
    sch_fairq_correct (q, "a", 1, pick.charged, 0);     //  its worker died
    CHECK (sch_fairq_counter (q, "a") < 0.1);
    CHECK_INT (sch_fairq_push_head (q, "a", 1, "j", 10, "J"), 0);
    CHECK (sch_fairq_pop (q, &pick));
    sch_fairq_correct (q, "a", 1, pick.charged, 10);
    CHECK (sch_fairq_counter (q, "a") > 9.9 && sch_fairq_counter (q, "a") < 10.1);
    sch_fairq_destroy (&q);
}

//  --------------------------------------------------------------------------
//  Simulated pool (sch_sim.h): a clock in ms, slots that take ttft + itl a
//  token, closed-loop clients. The figures are simulated ms and dispatches,
//  not timings of this machine.

//  Fill tenants [from, from + count) with a pattern of weights and sizes
//  (size_scale 0: sizes grow with the weight, so that every tenant needs
//  about as many requests for its share).
static void
s_sim_mix (sch_sim_tenant_t *tt, int from, int count, const uint32_t *weights, int nweights,
           int inflight, int size_scale)
{
    for (int i = from; i < from + count; i++) {
        int k = i - from;
        uint32_t w = weights [k % nweights];
        uint32_t scale = size_scale? (uint32_t) size_scale: 2 * w;
        tt [i] = (sch_sim_tenant_t) {
            .weight = w, .inflight = inflight,
            .prompt_tokens = (uint32_t) (1 + k % 5) * scale,
            .max_tokens = 512,
            .gen_lo = (uint32_t) (1 + k % 3) * scale,
            .gen_hi = (uint32_t) (2 + 2 * (k % 3)) * scale };
    }
}

//  Every backlogged tenant's share of the tokens served (prompt at dispatch,
//  completion as generated) is within 5% of w_i / sum (w), for 2, 40 and
//  10,000 tenants of mixed weights and request sizes; and, for 2 and 40
//  tenants (measuring it costs O(tenants) a dispatch), the most any tenant's
//  served/weight runs ahead of another's stays under the bound, 2 x the
//  largest request cost / weight + the head start.
static void
test_sim_shares (void)
{
    static const uint32_t w2 [] = { 4, 1 };
    static const uint32_t w40 [] = { 1, 4, 16, 2, 4 };
    static const uint32_t w10k [] = { 1, 2, 4 };
    struct {
        const char *name;
        int tenants, slots, inflight, size_scale, ttft_ms, itl_ms, duration_ms;
        const uint32_t *weights;
        int nweights;
        bool spread;
    } table [] = {
        { "2 tenants, 4:1, short vs long", 2, 16, 32, 8, 40, 10, 120000, w2, 2, true },
        { "40 tenants, weights 1-16", 40, 16, 8, 4, 40, 10, 240000, w40, 5, true },
        { "10,000 tenants, weights 1-4", 10000, 2000, 2, 0, 0, 1, 3600, w10k, 3, false },
    };
    for (size_t c = 0; c < sizeof table / sizeof table [0]; c++) {
        mt_test_case ("shares: %s", table [c].name);
        int n = table [c].tenants;
        sch_sim_tenant_t *tt = (sch_sim_tenant_t *) calloc ((size_t) n, sizeof *tt);
        sch_sim_result_t *r = (sch_sim_result_t *) calloc ((size_t) n, sizeof *r);
        s_sim_mix (tt, 0, n, table [c].weights, table [c].nweights, table [c].inflight,
                   table [c].size_scale);
        sch_sim_config_t cfg = {
            .policy = SCH_FAIRQ_VTC, .head_start = SCH_FAIRQ_HEAD_START,
            .slots = table [c].slots, .ttft_ms = table [c].ttft_ms,
            .itl_ms = table [c].itl_ms, .progress_every = 16,
            .duration_ms = table [c].duration_ms, .warmup_ms = table [c].duration_ms / 6,
            .spread = table [c].spread };
        sch_sim_total_t total = sch_sim_run (&cfg, tt, n, r);
        double served = 0, wsum = 0, worst = 0, bound = 0;
        int worst_i = 0;
        for (int i = 0; i < n; i++) {
            served += (double) r [i].served;
            wsum += tt [i].weight;
            double u = (double) (tt [i].prompt_tokens + tt [i].gen_hi) / tt [i].weight;
            if (u > bound)
                bound = u;
        }
        for (int i = 0; i < n; i++) {
            double want = tt [i].weight / wsum;
            double got = (double) r [i].served / served;
            double off = got > want? got / want - 1: 1 - got / want;
            if (off > worst) {
                worst = off;
                worst_i = i;
            }
        }
        CHECK_MSG (worst <= 0.05, "%s: tenant %d (weight %u) share off by %.1f%%",
                   table [c].name, worst_i, tt [worst_i].weight, 100 * worst);
        if (table [c].spread)
            CHECK_MSG (total.spread <= 2 * bound + SCH_FAIRQ_HEAD_START,
                       "%s: spread %.0f over 2 x %.0f + head start", table [c].name,
                       total.spread, bound);
        CHECK_MSG (total.dispatches > (uint64_t) n, "%s: %llu dispatches", table [c].name,
                   (unsigned long long) total.dispatches);
        sch_sim_free (r, n);
        free (r);
        free (tt);
    }
}

//  Why the weights did not hold: a tenant whose open requests barely cover
//  its share (pro, weight 4, 16 open, beside a free tenant, 16 slots) has an
//  empty queue for a moment each time a client turns a request around (here
//  50 ms). The lift on its return (to the lowest backlogged counter, as the
//  scheduler did) moves it up to the other tenant's counter and throws away
//  the credit it was owed. Lifting to the virtual time with a head start of
//  128 keeps it.
static void
test_sim_turnaround (void)
{
    struct {
        bool lift_to_floor;
        uint64_t head_start;
        int think_ms;
        double lo, hi;          //  pro's share of the tokens
    } table [] = {
        { true, 0, 0, 0.76, 0.84 },
        { true, 0, 50, 0.0, 0.76 },
        { false, SCH_FAIRQ_HEAD_START, 50, 0.78, 0.84 },
        { false, SCH_FAIRQ_HEAD_START, 0, 0.76, 0.84 },
    };
    for (size_t c = 0; c < sizeof table / sizeof table [0]; c++) {
        mt_test_case ("turnaround: %s, head start %llu, %d ms",
                      table [c].lift_to_floor? "lift to the lowest counter": "lift to virtual time",
                      (unsigned long long) table [c].head_start, table [c].think_ms);
        sch_sim_tenant_t tt [2];
        for (int i = 0; i < 2; i++)
            tt [i] = (sch_sim_tenant_t) { .weight = i? 1: 4, .inflight = 16,
                                          .prompt_tokens = 12, .max_tokens = 512,
                                          .gen_lo = 24, .gen_hi = 48,
                                          .think_ms = table [c].think_ms };
        sch_sim_config_t cfg = { .policy = SCH_FAIRQ_VTC, .head_start = table [c].head_start,
                                 .lift_to_floor = table [c].lift_to_floor,
                                 .slots = 16, .ttft_ms = 40, .itl_ms = 10,
                                 .progress_every = 16, .duration_ms = 60000,
                                 .warmup_ms = 10000 };
        sch_sim_result_t r [2];
        sch_sim_run (&cfg, tt, 2, r);
        double share = (double) r [0].tokens / (double) (r [0].tokens + r [1].tokens);
        CHECK_MSG (share >= table [c].lo && share <= table [c].hi, "case %zu: pro share %.3f",
                   c, share);
        sch_sim_free (r, 2);
    }
}

//  The issue's scenario (2 x 8 slots, 40 ms to first token, 10 ms a token;
//  20 pro and 20 free tenants keep 8 requests of gen_lo-gen_hi tokens open,
//  with the gateway's default grant of 512; one light free tenant sends 32
//  tokens at a time), run for each policy: tier rates and the light tenant's
//  wait.
typedef struct {
    double pro, free_;          //  completion tokens/s per tenant of the tier
    int light_p50, light_p99;   //  light tenant's latency, simulated ms
    int light_wait;             //  most dispatches to others while its job waited
    double light_rate;          //  light tenant's completion tokens/s
} s_scenario_t;

static s_scenario_t
s_issue_scenario (sch_fairq_policy_t policy, int think_ms, int backlogged, uint32_t gen_lo,
                  uint32_t gen_hi)
{
    int n = backlogged + 1;
    sch_sim_tenant_t tt [64];
    for (int i = 0; i < backlogged; i++)
        tt [i] = (sch_sim_tenant_t) { .weight = i < backlogged / 2? 4: 1, .inflight = 8,
                                      .prompt_tokens = 12, .max_tokens = 512,
                                      .gen_lo = gen_lo, .gen_hi = gen_hi };
    tt [n - 1] = (sch_sim_tenant_t) { .weight = 1, .inflight = 1, .prompt_tokens = 12,
                                      .max_tokens = 32, .gen_lo = 32, .gen_hi = 32,
                                      .think_ms = think_ms };
    sch_sim_config_t cfg = { .policy = policy, .head_start = SCH_FAIRQ_HEAD_START,
                             .slots = 16, .ttft_ms = 40, .itl_ms = 10,
                             .progress_every = 16, .duration_ms = 120000,
                             .warmup_ms = 20000 };
    sch_sim_result_t r [64];
    sch_sim_run (&cfg, tt, n, r);
    double secs = (cfg.duration_ms - cfg.warmup_ms) / 1000.0, pro = 0, free_ = 0;
    int npro = backlogged / 2, nfree = backlogged - npro;
    for (int i = 0; i < backlogged; i++)
        if (tt [i].weight == 4)
            pro += (double) r [i].tokens;
        else
            free_ += (double) r [i].tokens;
    s_scenario_t out = {
        .pro = npro? pro / npro / secs: 0, .free_ = nfree? free_ / nfree / secs: 0,
        .light_p50 = sch_sim_percentile (&r [n - 1], 50),
        .light_p99 = sch_sim_percentile (&r [n - 1], 99),
        .light_wait = r [n - 1].max_wait_dispatches,
        .light_rate = (double) r [n - 1].tokens / secs };
    sch_sim_free (r, n);
    return out;
}

//  Rates by tier: 4:1 under vtc (within 5%), about 1:1 under fifo. The light
//  tenant when it asks for less than its share (a pause of 5 s between
//  requests): dispatched at one of the next free slots (at most two
//  dispatches to others first) under vtc, behind the whole queue under fifo;
//  with sizes that vary, near its idle latency (350 ms: p50 within 1.2x, p99
//  within 1.5x). When it asks for more (no pause), vtc gives it its weighted
//  share, as it gives every free tenant.
//  Every backlogged request the same size (48 tokens): the tenants'
//  counters sit on a few levels, and the light tenant comes back at the
//  virtual time tied with every tenant of the level being served. With ties
//  going to the oldest head job it waited behind all of them (39
//  dispatches), as it waited behind the tenants tied with it on the live
//  stack (1.35x idle at p50 there); ties go to the tenant served longest ago
//  now. Its latency is not checked there: jobs of one length keep the simulated slots
//  in step, all freeing at once every 520 ms, which a live pool does not do.
static void
test_sim_issue_scenario (void)
{
    struct {
        const char *name;
        sch_fairq_policy_t policy;
        int think_ms;
        uint32_t gen_lo, gen_hi;        //  backlogged tenants' answers, tokens
        double ratio_lo, ratio_hi;      //  pro : free per tenant
        int wait_max;                   //  light: dispatches to others while it waited
        int p50_max, p99_max;           //  light: simulated ms (0: not checked)
    } table [] = {
        { "vtc, light below its share", SCH_FAIRQ_VTC, 5000, 24, 48, 3.8, 4.2, 2, 420, 525 },
        { "vtc, light back to back", SCH_FAIRQ_VTC, 0, 24, 48, 3.8, 4.2, 200, 0, 0 },
        { "fifo, light below its share", SCH_FAIRQ_FIFO, 5000, 24, 48, 0.9, 1.1, 1000000, 0, 0 },
        { "vtc, one size, light below its share", SCH_FAIRQ_VTC, 5000, 48, 48, 3.8, 4.2, 2,
          0, 0 },
        { "vtc, one size, light back to back", SCH_FAIRQ_VTC, 0, 48, 48, 3.8, 4.2, 200, 0, 0 },
    };
    mt_test_case ("issue scenario: light tenant alone");
    s_scenario_t idle = s_issue_scenario (SCH_FAIRQ_VTC, 0, 0, 24, 48);
    CHECK_INT (idle.light_p50, 350);    //  40 + 31 x 10 ms
    for (size_t c = 0; c < sizeof table / sizeof table [0]; c++) {
        mt_test_case ("issue scenario: %s", table [c].name);
        s_scenario_t s = s_issue_scenario (table [c].policy, table [c].think_ms, 40,
                                           table [c].gen_lo, table [c].gen_hi);
        double ratio = s.pro / (s.free_ > 0? s.free_: 1);
        CHECK_MSG (ratio >= table [c].ratio_lo && ratio <= table [c].ratio_hi,
                   "case %zu: pro %.1f free %.1f tok/s, ratio %.2f", c, s.pro, s.free_, ratio);
        CHECK_MSG (s.light_wait <= table [c].wait_max, "case %zu: light waited %d dispatches",
                   c, s.light_wait);
        if (table [c].p50_max)
            CHECK_MSG (s.light_p50 <= table [c].p50_max && s.light_p99 <= table [c].p99_max,
                       "case %zu: light p50 %d p99 %d ms", c, s.light_p50, s.light_p99);
        if (table [c].policy == SCH_FAIRQ_FIFO)
            CHECK_MSG (s.light_wait > 100, "case %zu: fifo light waited only %d", c,
                       s.light_wait);
        if (table [c].policy == SCH_FAIRQ_VTC && table [c].think_ms == 0)
            CHECK_MSG (s.light_rate > 0.9 * s.free_ && s.light_rate < 1.1 * s.free_,
                       "case %zu: light %.1f tok/s, a free tenant %.1f", c, s.light_rate,
                       s.free_);
    }
}

//  A tenant that stops for a while and comes back gets its share from then
//  on: no burst for the time it was away (head start 0), at most head_start
//  of it otherwise, and no penalty either; the same when its state was
//  forgotten while it was away.
static void
test_sim_idle_return (void)
{
    struct {
        uint64_t head_start;
        uint64_t forget_after;  //  dispatches before an idle tenant's state goes
        double share_max;       //  of the first second after its return, x its weight share
    } table [] = {
        { 0, 0, 1.6 },
        { SCH_FAIRQ_HEAD_START, 0, 3.0 },
        { 2000, 0, 12.0 },
        { SCH_FAIRQ_HEAD_START, 50, 3.0 },
    };
    for (size_t c = 0; c < sizeof table / sizeof table [0]; c++) {
        mt_test_case ("idle return: head start %llu, forget after %llu",
                      (unsigned long long) table [c].head_start,
                      (unsigned long long) table [c].forget_after);
        sch_sim_tenant_t tt [10];
        static const uint32_t w [] = { 1, 4 };
        s_sim_mix (tt, 0, 10, w, 2, 8, 4);
        tt [0].pause_ms = 5000;         //  away for 20 s
        tt [0].resume_ms = 25000;
        sch_sim_config_t cfg = { .policy = SCH_FAIRQ_VTC, .head_start = table [c].head_start,
                                 .forget_after = table [c].forget_after,
                                 .slots = 16, .ttft_ms = 40, .itl_ms = 10,
                                 .progress_every = 16, .duration_ms = 26000,
                                 .warmup_ms = 25000 };
        sch_sim_result_t r [10];
        sch_sim_run (&cfg, tt, 10, r);
        double served = 0, wsum = 0;
        for (int i = 0; i < 10; i++) {
            served += (double) r [i].served;
            wsum += tt [i].weight;
        }
        double x = ((double) r [0].served / served) / (tt [0].weight / wsum);
        CHECK_MSG (x <= table [c].share_max, "case %zu: %.2f x its share in its first second",
                   c, x);
        sch_sim_free (r, 10);
        //  Over the next 60 s, its share is its weight's
        cfg.duration_ms = 85000;
        cfg.warmup_ms = 25000;
        sch_sim_run (&cfg, tt, 10, r);
        served = 0;
        for (int i = 0; i < 10; i++)
            served += (double) r [i].served;
        x = ((double) r [0].served / served) / (tt [0].weight / wsum);
        double fair = served * tt [0].weight / wsum;
        double extra = (double) table [c].head_start * tt [0].weight;
        CHECK_MSG (r [0].served > 0.95 * fair && r [0].served < 1.05 * fair + extra,
                   "case %zu: %llu tokens over a minute, fair %.0f", c,
                   (unsigned long long) r [0].served, fair);
        sch_sim_free (r, 10);
    }
}

//  Policy names, and fifo's order of arrival across tenants.
static void
test_policy (void)
{
    struct { const char *name; int rc; sch_fairq_policy_t policy; } table [] = {
        { "vtc", 0, SCH_FAIRQ_VTC }, { "fifo", 0, SCH_FAIRQ_FIFO },
        { "VTC", -1, SCH_FAIRQ_VTC }, { "", -1, SCH_FAIRQ_VTC }, { NULL, -1, SCH_FAIRQ_VTC },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("policy name \"%s\"", table [i].name? table [i].name: "(null)");
        sch_fairq_policy_t p = SCH_FAIRQ_VTC;
        CHECK_INT (sch_fairq_policy_parse (table [i].name, &p), table [i].rc);
        if (table [i].rc == 0) {
            CHECK_INT (p, table [i].policy);
            CHECK_STR (sch_fairq_policy_name (p), table [i].name);
        }
    }
    mt_test_case ("fifo: order of arrival across tenants");
    sch_fairq_config_t config = { SCH_FAIRQ_FIFO, 0, false, false, 0 };
    sch_fairq_t *q = sch_fairq_new_config (&config);
    s_push_n (q, "a", 16, 3, 100);
    s_push_n (q, "b", 1, 3, 1);
    const char *want [] = { "a", "a", "a", "b", "b", "b" };
    for (size_t i = 0; i < 6; i++) {
        sch_fairq_pick_t pick;
        CHECK (sch_fairq_pop (q, &pick));
        CHECK_STR (pick.tenant_id, want [i]);
    }
    CHECK_INT (sch_fairq_backlogged (q), 0);
    sch_fairq_destroy (&q);
}

//  The moving average behind the dispatch charge, and progress charges.
static void
test_estimate (void)
{
    mt_test_case ("estimate: no history");
    sch_fairq_t *q = sch_fairq_new ();
    CHECK_INT (sch_fairq_estimate (q, "a", 512), 512);     //  unknown: max_tokens
    CHECK_INT (sch_fairq_push (q, "a", 2, "r1", 10, "x"), 0);
    CHECK_INT (sch_fairq_estimate (q, "a", 512), 512);     //  no history yet
    struct { uint64_t done; uint64_t max; uint64_t want; } table [] = {
        { 100, 512, 100 },      //  first count taken as is
        { 200, 512, 120 },      //  then 0.2 of the way to each new count
        { 200, 512, 136 },
        { 0, 512, 109 },
        { 0, 50, 50 },          //  never above max_tokens
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("estimate: learn %llu, max %llu", (unsigned long long) table [i].done,
                      (unsigned long long) table [i].max);
        sch_fairq_learn (q, "a", table [i].done);
        CHECK_MSG (sch_fairq_estimate (q, "a", table [i].max) == table [i].want,
                   "case %zu: %llu", i,
                   (unsigned long long) sch_fairq_estimate (q, "a", table [i].max));
    }
    mt_test_case ("estimate: progress charges");
    sch_fairq_learn (q, "nobody", 5);                      //  no-op
    sch_fairq_progress (q, "a", 2, 30);
    CHECK (sch_fairq_counter (q, "a") > 14.9 && sch_fairq_counter (q, "a") < 15.1);
    sch_fairq_progress (q, "nobody", 1, 30);               //  no-op
    CHECK (sch_fairq_counter (q, "nobody") == 0);
    sch_fairq_destroy (&q);
}

int
main (void)
{
    //  A test function is one case; a table's rows are one case each
    MT_RUN (test_empty);
    test_weights ();                //  one case a row
    MT_RUN (test_alternate);
    MT_RUN (test_tokens_not_requests);
    test_light_behind_flood ();     //  one case a row
    MT_RUN (test_no_starvation);
    MT_RUN (test_idle_no_credit);
    test_head_start ();             //  one case a row
    test_correct ();                //  one case a row
    MT_RUN (test_remove_unpop);
    MT_RUN (test_handles);
    test_push_head ();              //  one case a row
    test_forget ();                 //  one case a row
    test_policy ();                 //  one case a row
    test_estimate ();               //  one case a row
    test_sim_shares ();             //  one case a row
    test_sim_turnaround ();         //  one case a row
    test_sim_issue_scenario ();     //  one case a row
    test_sim_idle_return ();        //  one case a row
    return mt_test_done ("test_sch_fairq");
}
