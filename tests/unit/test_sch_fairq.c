//  Unit tests of the scheduler's weighted fair queue (sch_fairq).
#include "mt_test.h"
#include "../../services/scheduler/sch_fairq.h"

#include <stdint.h>
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

//  A light tenant's job behind a heavy tenant's 1000-job backlog goes out in
//  the next few picks, whatever the heavy tenant's weight.
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

int
main (void)
{
    MT_RUN (test_empty);
    MT_RUN (test_weights);
    MT_RUN (test_alternate);
    MT_RUN (test_tokens_not_requests);
    MT_RUN (test_light_behind_flood);
    MT_RUN (test_no_starvation);
    MT_RUN (test_idle_no_credit);
    MT_RUN (test_correct);
    MT_RUN (test_remove_unpop);
    return mt_test_done ("test_sch_fairq");
}
