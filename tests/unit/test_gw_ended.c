//  Unit tests of the gateway's ended-jobs ring (gw_ended.c).
#include "mt_test.h"
#include "gw_ended.h"

#include <stdio.h>
#include <string.h>

//  One step of a table: add (tenant, req) at ms, or take for tenant at ms
//  (max_age 1000, at most max) and expect the ids, space-separated.
typedef struct {
    char op;                    //  'a' add, 't' take
    const char *tenant;
    const char *req;            //  add: the id; take: expected ids ("" none)
    uint64_t ms;
    size_t max;
} s_step_t;

static void
s_run (const char *name, size_t capacity, const s_step_t *steps, size_t nsteps)
{
    gw_ended_t *ended = gw_ended_new (capacity);
    CHECK (ended != NULL);
    for (size_t i = 0; i < nsteps; i++) {
        const s_step_t *s = &steps [i];
        if (s->op == 'a') {
            gw_ended_add (ended, s->tenant, s->req, s->ms);
            continue;
        }
        char ids [GW_ENDED_TAKE_MAX][GW_ENDED_ID];
        size_t n = gw_ended_take (ended, s->tenant, s->ms, 1000, ids, s->max);
        char got [512] = "";
        for (size_t k = 0; k < n; k++)
            snprintf (got + strlen (got), sizeof got - strlen (got), "%s%s", k? " ": "", ids [k]);
        CHECK_MSG (!strcmp (got, s->req), "%s step %zu: got \"%s\", want \"%s\"", name, i, got,
                   s->req);
    }
    gw_ended_destroy (&ended);
    CHECK (ended == NULL);
}

static void
test_table (void)
{
    const s_step_t one_tenant [] = {
        { 't', "t1", "", 0, 16 },                   //  empty
        { 'a', "t1", "r1", 10, 0 },
        { 'a', "t1", "r2", 20, 0 },
        { 't', "t1", "r1 r2", 30, 16 },             //  oldest first
        { 't', "t1", "", 40, 16 },                  //  each handed out once
    };
    s_run ("one tenant", 8, one_tenant, sizeof one_tenant / sizeof one_tenant [0]);
    const s_step_t two_tenants [] = {
        { 'a', "t1", "r1", 10, 0 },
        { 'a', "t2", "q1", 11, 0 },
        { 'a', "t1", "r2", 12, 0 },
        { 't', "t2", "q1", 13, 16 },                //  only the tenant's own
        { 't', "t3", "", 13, 16 },
        { 't', "t1", "r1 r2", 14, 16 },
    };
    s_run ("two tenants", 8, two_tenants, sizeof two_tenants / sizeof two_tenants [0]);
    const s_step_t full [] = {
        { 'a', "t1", "r1", 1, 0 },
        { 'a', "t1", "r2", 2, 0 },
        { 'a', "t1", "r3", 3, 0 },
        { 'a', "t1", "r4", 4, 0 },                  //  capacity 3: r1 goes
        { 't', "t1", "r2 r3 r4", 5, 16 },
    };
    s_run ("full ring", 3, full, sizeof full / sizeof full [0]);
    const s_step_t hole [] = {
        { 'a', "t1", "r1", 1, 0 },
        { 'a', "t2", "q1", 2, 0 },
        { 'a', "t1", "r2", 3, 0 },
        { 't', "t2", "q1", 4, 16 },                 //  a hole between r1 and r2
        { 'a', "t1", "r3", 5, 0 },                  //  full: r1, the oldest, goes
        { 't', "t1", "r2 r3", 6, 16 },              //  across the hole and the wrap
        { 'a', "t1", "r4", 7, 0 },
        { 't', "t1", "r4", 8, 16 },                 //  after the ring emptied
    };
    s_run ("overwrite across a hole", 3, hole, sizeof hole / sizeof hole [0]);
    const s_step_t aged [] = {
        { 'a', "t1", "old", 0, 0 },
        { 'a', "t1", "new", 1500, 0 },
        { 't', "t1", "new", 1600, 16 },             //  "old" is 1600 ms old: dropped
        { 'a', "t1", "again", 1700, 0 },
        { 't', "t1", "again", 2700, 16 },           //  exactly the age: still handed out
    };
    s_run ("aged", 8, aged, sizeof aged / sizeof aged [0]);
    const s_step_t capped [] = {
        { 'a', "t1", "r1", 1, 0 },
        { 'a', "t1", "r2", 2, 0 },
        { 'a', "t1", "r3", 3, 0 },
        { 't', "t1", "r1 r2", 4, 2 },               //  at most max
        { 't', "t1", "r3", 5, 2 },                  //  the rest next time
    };
    s_run ("capped", 8, capped, sizeof capped / sizeof capped [0]);
    const s_step_t bad [] = {
        { 'a', "", "r1", 1, 0 },
        { 'a', "t1", "", 1, 0 },
        { 'a', NULL, "r1", 1, 0 },
        { 'a', "t1", NULL, 1, 0 },
        { 'a', "t1", "0123456789012345678901234567890123456789012345678901234567890123", 1, 0 },
        { 't', "t1", "", 2, 16 },                   //  none kept
        { 't', "", "", 2, 16 },
    };
    s_run ("bad ids", 4, bad, sizeof bad / sizeof bad [0]);
}

static void
test_edges (void)
{
    gw_ended_t *ended = gw_ended_new (0);           //  at least one entry
    CHECK (ended != NULL);
    gw_ended_add (ended, "t1", "r1", 1);
    gw_ended_add (ended, "t1", "r2", 2);
    CHECK_INT (gw_ended_size (ended), 1);
    char ids [GW_ENDED_TAKE_MAX][GW_ENDED_ID];
    CHECK_INT (gw_ended_take (ended, "t1", 3, 1000, ids, 100), 1);
    CHECK_STR (ids [0], "r2");
    CHECK_INT (gw_ended_size (ended), 0);
    CHECK_INT (gw_ended_take (ended, NULL, 3, 1000, ids, 16), 0);
    gw_ended_destroy (&ended);
    gw_ended_destroy (&ended);                      //  no-op on NULL
    gw_ended_destroy (NULL);
    gw_ended_add (NULL, "t1", "r1", 1);
    CHECK_INT (gw_ended_take (NULL, "t1", 1, 1000, ids, 16), 0);
    CHECK_INT (gw_ended_size (NULL), 0);
}

int
main (void)
{
    MT_RUN (test_table);
    MT_RUN (test_edges);
    return mt_test_done ("test_gw_ended");
}
