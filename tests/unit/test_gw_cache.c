//  Unit tests of the gateway's tenant/key cache (gw_cache.c).
#include "mt_test.h"
#include "gw_store.h"
#include "mt_util.h"

#include <stdlib.h>

static gw_tenant_t
s_tenant (const char *id, const char *name, const char *tier, uint32_t weight)
{
    gw_tenant_t t;
    memset (&t, 0, sizeof t);
    snprintf (t.id, sizeof t.id, "%s", id);
    snprintf (t.name, sizeof t.name, "%s", name);
    snprintf (t.tier, sizeof t.tier, "%s", tier);
    snprintf (t.pool, sizeof t.pool, "%s", "standard");
    t.weight = weight;
    t.max_concurrent = 5;
    t.requests_per_minute = 100;
    t.tokens_per_minute = 10000;
    t.daily_tokens = 100000;
    return t;
}

static void
test_empty (void)
{
    gw_cache_t *cache = gw_cache_new ();
    CHECK (cache != NULL);
    CHECK_INT (gw_cache_tenant_count (cache), 0);
    CHECK_INT (gw_cache_key_count (cache), 0);
    CHECK (gw_cache_find_key (cache, "abc") == NULL);
    CHECK (gw_cache_find_tenant (cache, "abc") == NULL);
    CHECK (gw_cache_find_key (cache, NULL) == NULL);
    gw_cache_destroy (&cache);
    CHECK (cache == NULL);
    gw_cache_destroy (&cache);             //  no-op on NULL
    gw_cache_destroy (NULL);
    //  NULL cache answers like an empty one
    CHECK (gw_cache_find_key (NULL, "abc") == NULL);
    CHECK_INT (gw_cache_tenant_count (NULL), 0);
}

static void
test_tenants_and_keys (void)
{
    const char *ta = "11111111-1111-4111-8111-111111111111";
    const char *tb = "22222222-2222-4222-8222-222222222222";
    gw_cache_t *cache = gw_cache_new ();

    gw_tenant_t a = s_tenant (ta, "acme", "free", 1);
    gw_tenant_t b = s_tenant (tb, "bigco", "enterprise", 16);
    b.daily_tokens = 0;
    snprintf (b.pool, sizeof b.pool, "%s", "premium");
    gw_tenant_t *ca = gw_cache_add_tenant (cache, &a);
    CHECK (ca != NULL && ca != &a);        //  a copy, not the caller's struct
    CHECK (gw_cache_add_tenant (cache, &b) != NULL);
    //  The caller's struct may change afterwards: the cache keeps its copy
    snprintf (a.name, sizeof a.name, "%s", "changed");
    CHECK_STR (gw_cache_find_tenant (cache, ta)->name, "acme");
    CHECK_INT (gw_cache_tenant_count (cache), 2);

    //  Keys by hash; the hash is what the gateway computes from the key
    char key1 [MT_KEY_LEN + 1], key2 [MT_KEY_LEN + 1], key3 [MT_KEY_LEN + 1];
    CHECK_INT (mt_key_generate (key1), 0);
    CHECK_INT (mt_key_generate (key2), 0);
    CHECK_INT (mt_key_generate (key3), 0);
    char h1 [65], h2 [65], h3 [65];
    mt_sha256_hex (key1, strlen (key1), h1);
    mt_sha256_hex (key2, strlen (key2), h2);
    mt_sha256_hex (key3, strlen (key3), h3);

    struct {
        const char *hash, *key_id, *tenant_id;
        int rc;
    } adds [] = {
        { h1, "aaaaaaaa-0000-4000-8000-000000000001", ta, 0 },
        { h2, "aaaaaaaa-0000-4000-8000-000000000002", tb, 0 },
        { h3, "aaaaaaaa-0000-4000-8000-000000000003",
          "33333333-3333-4333-8333-333333333333", -1 },        //  unknown tenant
        { "", "aaaaaaaa-0000-4000-8000-000000000004", ta, -1 }, //  empty hash
        { h3, NULL, ta, -1 },
        { h3, "this key id is far too long to be a uuid at all, really", ta, -1 },
    };
    for (size_t i = 0; i < sizeof adds / sizeof adds [0]; i++)
        CHECK_MSG (gw_cache_add_key (cache, adds [i].hash, adds [i].key_id,
                                     adds [i].tenant_id, 0, 0) == adds [i].rc, "add case %zu", i);
    CHECK_INT (gw_cache_key_count (cache), 2);

    struct {
        const char *hash;
        const char *tenant_id;      //  NULL = not found
        const char *key_id;
    } finds [] = {
        { h1, ta, "aaaaaaaa-0000-4000-8000-000000000001" },
        { h2, tb, "aaaaaaaa-0000-4000-8000-000000000002" },
        { h3, NULL, NULL },                     //  never added (tenant unknown)
        { key1, NULL, NULL },                   //  the key itself is not its hash
        { "", NULL, NULL },
    };
    for (size_t i = 0; i < sizeof finds / sizeof finds [0]; i++) {
        const gw_key_t *k = gw_cache_find_key (cache, finds [i].hash);
        if (!finds [i].tenant_id)
            CHECK_MSG (k == NULL, "find case %zu found", i);
        else {
            CHECK_MSG (k != NULL, "find case %zu missing", i);
            if (k) {
                CHECK_STR (k->id, finds [i].key_id);
                CHECK_STR (k->tenant->id, finds [i].tenant_id);
                //  The key borrows the cache's own tenant
                CHECK (k->tenant == gw_cache_find_tenant (cache, finds [i].tenant_id));
            }
        }
    }
    const gw_key_t *kb = gw_cache_find_key (cache, h2);
    CHECK (kb && kb->tenant->weight == 16 && kb->tenant->daily_tokens == 0);
    CHECK (kb && !strcmp (kb->tenant->pool, "premium"));

    //  The same tenant id again updates in place: keys still point at it
    gw_tenant_t a2 = s_tenant (ta, "acme2", "pro", 4);
    CHECK (gw_cache_add_tenant (cache, &a2) == ca);
    CHECK_INT (gw_cache_tenant_count (cache), 2);
    const gw_key_t *k1 = gw_cache_find_key (cache, h1);
    CHECK (k1 && k1->tenant == ca && k1->tenant->weight == 4);
    CHECK (k1 && !strcmp (k1->tenant->name, "acme2"));

    //  Tenants without an id are refused
    gw_tenant_t none = s_tenant ("", "x", "free", 1);
    CHECK (gw_cache_add_tenant (cache, &none) == NULL);
    CHECK (gw_cache_add_tenant (NULL, &a) == NULL);
    gw_cache_destroy (&cache);
}

//  Many tenants and keys: lookups stay exact
static void
test_many (void)
{
    gw_cache_t *cache = gw_cache_new ();
    char hashes [200][65];
    for (int i = 0; i < 200; i++) {
        char id [37];
        mt_uuid (id);
        gw_tenant_t t = s_tenant (id, "t", "free", 1);
        t.max_concurrent = (uint32_t) i + 1;
        CHECK (gw_cache_add_tenant (cache, &t) != NULL);
        char key [MT_KEY_LEN + 1], key_id [37];
        mt_key_generate (key);
        mt_uuid (key_id);
        mt_sha256_hex (key, strlen (key), hashes [i]);
        CHECK_INT (gw_cache_add_key (cache, hashes [i], key_id, id, 0, 0), 0);
    }
    CHECK_INT (gw_cache_tenant_count (cache), 200);
    CHECK_INT (gw_cache_key_count (cache), 200);
    int right = 0;
    for (int i = 0; i < 200; i++) {
        const gw_key_t *k = gw_cache_find_key (cache, hashes [i]);
        if (k && k->tenant->max_concurrent == (uint32_t) i + 1)
            right++;
    }
    CHECK_INT (right, 200);
    gw_cache_destroy (&cache);
}

//  Expiry and scheduled revocation are judged against the clock passed in
static void
test_key_state (void)
{
    const char *ta = "11111111-1111-4111-8111-111111111111";
    gw_cache_t *cache = gw_cache_new ();
    gw_tenant_t a = s_tenant (ta, "acme", "free", 1);
    CHECK (gw_cache_add_tenant (cache, &a) != NULL);
    const int64_t T = 1800000000000;        //  2027-01-15T08:00:00Z
    struct {
        const char *hash;
        int64_t expires_ms, revoke_ms;
        int64_t now;
        gw_key_state_t want;
    } cases [] = {
        { "h-none", 0, 0, T, GW_KEY_LIVE },
        { "h-exp-future", T + 1, 0, T, GW_KEY_LIVE },
        { "h-exp-now", T, 0, T, GW_KEY_EXPIRED },           //  expires_at itself: expired
        { "h-exp-past", T - 1000, 0, T, GW_KEY_EXPIRED },
        { "h-rev-future", 0, T + 60000, T, GW_KEY_LIVE },    //  in its grace period
        { "h-rev-now", 0, T, T, GW_KEY_REVOKED },
        { "h-rev-past", 0, T - 1, T, GW_KEY_REVOKED },
        { "h-both-past", T - 5, T - 9, T, GW_KEY_EXPIRED },  //  expiry is what to tell
        { "h-exp-later", T + 5000, T - 1, T, GW_KEY_REVOKED },
        { "h-negative", -5, -7, T, GW_KEY_LIVE },           //  nonsense = none
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char id [37];
        snprintf (id, sizeof id, "aaaaaaaa-0000-4000-8000-%012zu", i);
        CHECK_INT (gw_cache_add_key (cache, cases [i].hash, id, ta, cases [i].expires_ms,
                                     cases [i].revoke_ms), 0);
        const gw_key_t *k = gw_cache_find_key (cache, cases [i].hash);
        CHECK_MSG (k && gw_key_state (k, cases [i].now) == cases [i].want,
                   "state case %zu: %d", i, k? (int) gw_key_state (k, cases [i].now): -1);
    }
    CHECK (gw_key_state (NULL, T) == GW_KEY_REVOKED);      //  unknown: never live
    //  The same hash again takes the newer times
    CHECK_INT (gw_cache_add_key (cache, "h-none", "aaaaaaaa-0000-4000-8000-000000000000", ta,
                                 T - 1, 0), 0);
    CHECK (gw_key_state (gw_cache_find_key (cache, "h-none"), T) == GW_KEY_EXPIRED);
    gw_cache_destroy (&cache);
}

//  Admin tokens: found by hash, role kept, nothing else matches
static void
test_admins (void)
{
    gw_cache_t *cache = gw_cache_new ();
    char h1 [65], h2 [65];
    mt_sha256_hex ("mt-adm-one", 10, h1);
    mt_sha256_hex ("mt-adm-two", 10, h2);
    struct { const char *hash, *id, *name; bool viewer; int rc; } adds [] = {
        { h1, "bbbbbbbb-0000-4000-8000-000000000001", "ops", false, 0 },
        { h2, "bbbbbbbb-0000-4000-8000-000000000002", "auditor", true, 0 },
        { "", "bbbbbbbb-0000-4000-8000-000000000003", "empty", false, -1 },
        { h1, NULL, "noid", false, -1 },
        { h1, "this id is far too long to be a uuid, really, truly", "long", false, -1 },
    };
    for (size_t i = 0; i < sizeof adds / sizeof adds [0]; i++)
        CHECK_MSG (gw_cache_add_admin (cache, adds [i].hash, adds [i].id, adds [i].name,
                                       adds [i].viewer) == adds [i].rc, "admin add case %zu", i);
    CHECK_INT (gw_cache_admin_count (cache), 2);
    const gw_admin_token_t *a = gw_cache_find_admin (cache, h1);
    CHECK (a && !a->viewer && !strcmp (a->name, "ops"));
    const gw_admin_token_t *v = gw_cache_find_admin (cache, h2);
    CHECK (v && v->viewer && !strcmp (v->name, "auditor"));
    CHECK (gw_cache_find_admin (cache, "mt-adm-one") == NULL);     //  the token is not its hash
    CHECK (gw_cache_find_admin (cache, NULL) == NULL);
    CHECK (gw_cache_find_admin (NULL, h1) == NULL);
    //  An admin token is not an API key, and the other way round
    CHECK (gw_cache_find_key (cache, h1) == NULL);
    gw_cache_destroy (&cache);
}

int
main (void)
{
    MT_RUN (test_empty);
    MT_RUN (test_tenants_and_keys);
    MT_RUN (test_many);
    MT_RUN (test_key_state);
    MT_RUN (test_admins);
    return mt_test_done ("test_gw_cache");
}
