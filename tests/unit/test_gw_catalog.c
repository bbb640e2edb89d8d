//  Unit tests of the gateway's copy of the scheduler's catalog (gw_catalog.c):
//  freshness by age, pool lookup, models counted. The clock is passed in.
#include "mt_test.h"
#include "gw_catalog.h"

#include <stdlib.h>

//  A catalog envelope as the codec hands it over (unpacked, owned). pools:
//  "name:model,model;name:..." ("name:" = a pool without models).
static Mt__Envelope *
s_catalog (const char *pools)
{
    Mt__PoolModels pm [4], *pp [4];
    char *models [4][4];
    char buf [256];
    snprintf (buf, sizeof buf, "%s", pools);
    size_t np = 0;
    for (char *save = NULL, *p = strtok_r (buf, ";", &save); p && np < 4;
         p = strtok_r (NULL, ";", &save), np++) {
        mt__pool_models__init (&pm [np]);
        char *colon = strchr (p, ':');
        *colon = 0;
        pm [np].pool = p;
        size_t nm = 0;
        for (char *s2 = NULL, *m = strtok_r (colon + 1, ",", &s2); m && nm < 4;
             m = strtok_r (NULL, ",", &s2))
            models [np][nm++] = m;
        pm [np].models = models [np];
        pm [np].n_models = nm;
        pp [np] = &pm [np];
    }
    Mt__Catalog cat = MT__CATALOG__INIT;
    cat.pools = pp;
    cat.n_pools = np;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CATALOG;
    env.catalog = &cat;
    uint8_t wire [1024];
    size_t len = mt__envelope__pack (&env, wire);
    return mt__envelope__unpack (NULL, len, wire);
}

//  Freshness and age: one row a moment.
static void
test_fresh (void)
{
    struct {
        const char *name;
        bool have;                  //  a catalog came
        uint64_t heard, now;
        bool fresh;
        uint64_t age;
    } rows [] = {
        { "none yet", false, 0, 100000, false, 0 },
        { "just now", true, 1000, 1000, true, 0 },
        { "under the limit", true, 1000, 1000 + GW_CATALOG_STALE_MS - 1, true, GW_CATALOG_STALE_MS - 1 },
        { "at the limit", true, 1000, 1000 + GW_CATALOG_STALE_MS, false, GW_CATALOG_STALE_MS },
        { "long silent", true, 1000, 900000, false, 899000 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("fresh: %s", rows [i].name);
        gw_catalog_t *cat = gw_catalog_new ();
        CHECK (cat != NULL);
        if (rows [i].have) {
            Mt__Envelope *env = s_catalog ("standard:m1");
            gw_catalog_set (cat, &env, rows [i].heard);
            CHECK (env == NULL);
        }
        CHECK_INT (gw_catalog_fresh (cat, rows [i].now), rows [i].fresh);
        CHECK_INT (gw_catalog_age (cat, rows [i].now), rows [i].age);
        CHECK_INT (gw_catalog_get (cat) != NULL, rows [i].have);
        gw_catalog_destroy (&cat);
        CHECK (cat == NULL);
    }
}

//  Pools and models: one row a lookup.
static void
test_pools (void)
{
    struct {
        const char *catalog;        //  NULL = none came
        const char *pool;
        size_t pool_models;         //  (size_t) -1 = no such pool
        size_t all_models;
    } rows [] = {
        { NULL, "standard", (size_t) -1, 0 },
        { "standard:m1,m2", "standard", 2, 2 },
        { "standard:m1,m2", "premium", (size_t) -1, 2 },
        { "standard:m1;premium:m1,m2,m3", "premium", 3, 4 },
        { "standard:;premium:m1", "standard", 0, 1 },
        { "standard:m1;standard:m2,m3", "standard", 2, 3 },    //  the last of a name
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("pools: %s / %s", rows [i].catalog? rows [i].catalog: "(none)", rows [i].pool);
        gw_catalog_t *cat = gw_catalog_new ();
        if (rows [i].catalog) {
            Mt__Envelope *env = s_catalog (rows [i].catalog);
            CHECK (env != NULL);
            gw_catalog_set (cat, &env, 5);
        }
        Mt__PoolModels *pm = gw_catalog_pool (cat, rows [i].pool);
        if (rows [i].pool_models == (size_t) -1)
            CHECK (pm == NULL);
        else {
            CHECK (pm != NULL);
            CHECK_INT (pm? pm->n_models: 99, rows [i].pool_models);
            CHECK_STR (pm? pm->pool: "", rows [i].pool);
        }
        CHECK_INT (gw_catalog_models (cat), rows [i].all_models);
        gw_catalog_destroy (&cat);
    }
}

//  A newer catalog replaces the older one (and the older one is freed).
static void
test_replace (void)
{
    gw_catalog_t *cat = gw_catalog_new ();
    Mt__Envelope *env = s_catalog ("standard:m1");
    gw_catalog_set (cat, &env, 10);
    env = s_catalog ("premium:m1,m2");
    gw_catalog_set (cat, &env, 20);
    CHECK (gw_catalog_pool (cat, "standard") == NULL);
    CHECK (gw_catalog_pool (cat, "premium") != NULL);
    CHECK_INT (gw_catalog_age (cat, 25), 5);
    gw_catalog_destroy (&cat);
    gw_catalog_destroy (&cat);              //  no-op on NULL
    CHECK (cat == NULL);
}

int
main (void)
{
    test_fresh ();
    test_pools ();
    MT_RUN (test_replace);
    return mt_test_done ("test_gw_catalog");
}
