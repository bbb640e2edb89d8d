//  Unit tests of the quota-enforcer's pure quota math (qe_quota.c).
//  Each scenario is a table of steps against a fresh qe_quota_t; the clock
//  is passed in as an offset from T0.
#include "mt_test.h"
#include "../../services/quota-enforcer/qe_quota.h"
#include "mt_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define T0 1710072000000ull         //  2024-03-10T12:00:00Z, minute-aligned
#define TTL 600000ull
#define X (-1)                      //  "do not check"

typedef enum { ADMIT, SETTLE, REFUSE, EXPIRE, SET_USED, STATS, COUNT, OWN, GONE } s_op_t;

typedef struct {
    s_op_t op;
    const char *req;
    int64_t at;                     //  ms after T0 (may be negative)
    uint64_t a, b;                  //  ADMIT: prompt, max; SETTLE: used; SET_USED: used
    qe_limits_t lim;                //  ADMIT
    //  Expectations (X = skip)
    int64_t ok;                     //  ADMIT: 1/0
    int64_t code;                   //  ADMIT: error code; SETTLE/REFUSE: qe_settle_t; EXPIRE: dropped
    int64_t granted;                //  ADMIT; COUNT: reservations
    int64_t retry;                  //  ADMIT: retry_after_s
    int64_t rem_req;                //  ADMIT: remaining_requests; STATS: requests_in_window
    int64_t rem_tok;                //  ADMIT: remaining_tokens; STATS: tokens_in_window
    int64_t used;                   //  STATS: used_today
    int64_t reserved;               //  STATS: reserved
    const char *reset_at;           //  ADMIT: expected reset_at, NULL = skip
    const char *owner;              //  OWN, GONE: the gateway (routing id)
} s_step_t;

typedef struct {
    const char *name;
    s_step_t steps [16];
} s_scenario_t;

#define LIM(r, t, d) { (r), (t), (d) }
#define END { COUNT, NULL, 0, 0, 0, LIM (0, 0, 0), X, X, X, X, X, X, X, X, NULL }
//  ADMIT(req, at, prompt, max, rpm, tpm, daily, ok, code, granted, retry, rem_req, rem_tok)
#define AD(q, at, p, m, r, t, d, ok, c, g, ra, rr, rt) \
    { ADMIT, q, at, p, m, LIM (r, t, d), ok, c, g, ra, rr, rt, X, X, NULL }
#define ADQ(q, at, p, m, d, ok, g, ra, reset) \
    { ADMIT, q, at, p, m, LIM (0, 0, d), ok, ok? 0: MT__ERROR_CODE__ERR_QUOTA, g, ra, X, X, X, X, reset }
#define ST(q, at, used, res) { SETTLE, q, at, used, 0, LIM (0, 0, 0), X, res, X, X, X, X, X, X, NULL }
#define RF(q, at, res) { REFUSE, q, at, 0, 0, LIM (0, 0, 0), X, res, X, X, X, X, X, X, NULL }
#define EX(at, n) { EXPIRE, NULL, at, 0, 0, LIM (0, 0, 0), X, n, X, X, X, X, X, X, NULL }
#define SU(at, used) { SET_USED, NULL, at, used, 0, LIM (0, 0, 0), X, X, X, X, X, X, X, X, NULL }
//  STATS(at, requests_in_window, tokens_in_window, used_today, reserved)
#define SS(at, rq, tk, u, rs) { STATS, NULL, at, 0, 0, LIM (0, 0, 0), X, X, X, X, rq, tk, u, rs, NULL }
//  OWN: req's reservation is held by gateway g; GONE: gateway g is gone, n released
#define OWN(q, g) { OWN, q, 0, 0, 0, LIM (0, 0, 0), X, X, X, X, X, X, X, X, NULL, g }
#define GONE(at, g, n) { GONE, NULL, at, 0, 0, LIM (0, 0, 0), X, n, X, X, X, X, X, X, NULL, g }
#define CNT(at, n) { COUNT, "count", at, 0, 0, LIM (0, 0, 0), X, X, n, X, X, X, X, X, NULL }

#define OK MT__ERROR_CODE__ERR_NONE
#define RREQ MT__ERROR_CODE__ERR_RATE_REQUESTS
#define RTOK MT__ERROR_CODE__ERR_RATE_TOKENS
#define QUOTA MT__ERROR_CODE__ERR_QUOTA

static const s_scenario_t s_scenarios [] = {
    { "rpm boundary", {
        AD ("r1", 0,     1, 1, 2, 0, 0, 1, OK, 1, X, 1, X),
        AD ("r2", 1000,  1, 1, 2, 0, 0, 1, OK, 1, X, 0, X),
        //  third in the same minute: refused, retry to the window end (49.5 s -> 50)
        AD ("r3", 10500, 1, 1, 2, 0, 0, 0, RREQ, 0, 50, 0, X),
        AD ("r3", 59999, 1, 1, 2, 0, 0, 0, RREQ, 0, 1, 0, X),
        SS (59999, 2, 4, 0, 4),
        //  next minute: admitted
        AD ("r3", 60000, 1, 1, 2, 0, 0, 1, OK, 1, X, 1, X),
        END } },
    { "tpm boundary", {
        AD ("r1", 0, 10, 40, 0, 100, 0, 1, OK, 40, X, X, 50),
        AD ("r2", 5, 10, 40, 0, 100, 0, 1, OK, 40, X, X, 0),      //  exactly at the limit
        AD ("r3", 30000, 1, 0, 0, 100, 0, 0, RTOK, 0, 30, X, 0),
        SS (30000, 2, 100, 0, 100),
        //  a request bigger than the whole tpm is refused even in an empty window
        AD ("r4", 60000, 50, 51, 0, 100, 0, 0, RTOK, 0, 60, X, 100),
        AD ("r5", 60000, 50, 50, 0, 100, 0, 1, OK, 50, X, X, 0),
        END } },
    { "daily exactness", {
        AD ("r1", 0, 10, 300, 0, 0, 1000, 1, OK, 300, X, X, X),
        AD ("r2", 1, 10, 300, 0, 0, 1000, 1, OK, 300, X, X, X),
        AD ("r3", 2, 10, 300, 0, 0, 1000, 1, OK, 300, X, X, X),
        //  70 left: grant capped so prompt + grant = 70
        AD ("r4", 3, 10, 300, 0, 0, 1000, 1, OK, 60, X, X, X),
        SS (3, 4, 1000, 0, 1000),
        ADQ ("r5", 4, 1, 1, 1000, 0, 0, 43200, "2024-03-11T00:00:00Z"),
        //  settle with less used: the rest becomes available again
        ST ("r1", 5, 50, QE_SETTLE_USED),
        SS (5, 4, 740, 50, 690),
        ADQ ("r6", 6, 10, 300, 1000, 1, 250, X, NULL),
        ADQ ("r7", 7, 0, 5, 1000, 0, 0, X, "2024-03-11T00:00:00Z"),
        END } },
    { "many admits never grant past the limit", {
        //  filled in by test_many
        END } },
    { "granted capping", {
        SU (0, 900),
        //  100 left: prompt 99 -> grant 1; prompt 100 -> refused (needs room for one token)
        ADQ ("a", 0, 100, 10, 1000, 0, 0, 43200, "2024-03-11T00:00:00Z"),
        ADQ ("b", 0, 99, 10, 1000, 1, 1, X, NULL),
        ADQ ("c", 0, 0, 1, 1000, 0, 0, X, NULL),
        END } },
    { "refused settle releases everything", {
        AD ("r1", 0, 10, 20, 1, 100, 1000, 1, OK, 20, X, 0, 70),
        AD ("r2", 1, 10, 20, 1, 100, 1000, 0, RREQ, 0, 60, 0, 70),
        RF ("r1", 2, QE_SETTLE_RELEASED),
        SS (2, 0, 0, 0, 0),
        AD ("r2", 3, 10, 20, 1, 100, 1000, 1, OK, 20, X, 0, 70),
        RF ("r2", 4, QE_SETTLE_RELEASED),
        RF ("r2", 5, QE_SETTLE_DUPLICATE),
        SS (5, 0, 0, 0, 0),
        END } },
    { "window rollover", {
        AD ("r1", 59000, 10, 90, 1, 100, 0, 1, OK, 90, X, 0, 0),
        //  settled in the next window: the new window is not touched
        ST ("r1", 61000, 20, QE_SETTLE_USED),
        SS (61000, 0, 0, 20, 0),
        AD ("r2", 61000, 10, 90, 1, 100, 0, 1, OK, 90, X, 0, 0),
        //  settled in its own window: tokens_in_window = used
        ST ("r2", 62000, 30, QE_SETTLE_USED),
        SS (62000, 1, 30, 50, 0),
        AD ("r3", 63000, 10, 60, 2, 100, 0, 1, OK, 60, X, 0, 0),
        //  refused later, in the next window: the request still counted there
        RF ("r3", 121000, QE_SETTLE_RELEASED),
        SS (121000, 0, 0, 50, 0),
        END } },
    { "day rollover", {
        SU (0, 900),
        //  23:59:59 UTC: 100 left, prompt 100 refused; retry 1 s to midnight
        ADQ ("a", 43199000, 100, 10, 1000, 0, 0, 1, "2024-03-11T00:00:00Z"),
        ADQ ("b", 43199000, 50, 10, 1000, 1, 10, X, NULL),
        //  next day: used_today reset, b's reservation still counted
        SS (43201000, 0, 0, 0, 60),
        ADQ ("c", 43201000, 100, 1000, 1000, 1, 840, X, NULL),
        //  b settles on the new day: its usage belongs to yesterday
        ST ("b", 43202000, 60, QE_SETTLE_USED),
        SS (43202000, 1, 940, 0, 940),
        ADQ ("d", 43203000, 10, 100, 1000, 1, 50, X, NULL),
        END } },
    { "expiry", {
        AD ("r1", 0, 10, 10, 0, 0, 100, 1, OK, 10, X, X, X),
        EX ((int64_t) TTL - 1, 0),
        CNT ((int64_t) TTL - 1, 1),
        EX ((int64_t) TTL, 1),
        CNT ((int64_t) TTL, 0),
        SS ((int64_t) TTL, 0, 0, 0, 0),
        //  a late Settle of the expired request still charges what was spent
        ST ("r1", (int64_t) TTL + 1, 15, QE_SETTLE_UNKNOWN),
        ST ("r1", (int64_t) TTL + 2, 15, QE_SETTLE_DUPLICATE),
        SS ((int64_t) TTL + 2, 0, 0, 15, 0),
        //  settled ids are forgotten after their TTL
        EX ((int64_t) TTL * 2 + 1, 0),
        ST ("r1", (int64_t) TTL * 2 + 2, 0, QE_SETTLE_UNKNOWN),
        END } },
    { "duplicate admit", {
        AD ("r1", 0, 10, 50, 5, 1000, 1000, 1, OK, 50, X, 4, 940),
        AD ("r1", 10, 10, 50, 5, 1000, 1000, 1, OK, 50, X, 4, 940),
        SS (10, 1, 60, 0, 60),
        ST ("r1", 20, 40, QE_SETTLE_USED),
        //  a resent Admit after its Settle changes nothing either
        AD ("r1", 30, 10, 50, 5, 1000, 1000, 1, OK, 50, X, 4, 960),
        SS (30, 1, 40, 40, 0),
        END } },
    { "double settle", {
        AD ("r1", 0, 10, 50, 0, 0, 1000, 1, OK, 50, X, X, X),
        ST ("r1", 1, 30, QE_SETTLE_USED),
        ST ("r1", 2, 30, QE_SETTLE_DUPLICATE),
        RF ("r1", 3, QE_SETTLE_DUPLICATE),
        SS (3, 1, 30, 30, 0),
        END } },
    { "unlimited limits", {
        AD ("r1", 0, 1000000, 1000000, 0, 0, 0, 1, OK, 1000000, X, 0, 0),
        AD ("r2", 0, 1000000, 1000000, 0, 0, 0, 1, OK, 1000000, X, 0, 0),
        SS (0, 2, 4000000, 0, 4000000),
        END } },
    { "a gone gateway's reservations are released unused", {
        AD ("r1", 0, 10, 90, 0, 1000, 1000, 1, OK, 90, X, X, 900), OWN ("r1", "gw-a"),
        AD ("r2", 1, 10, 90, 0, 1000, 1000, 1, OK, 90, X, X, 800), OWN ("r2", "gw-b"),
        AD ("r3", 2, 10, 90, 0, 1000, 1000, 1, OK, 90, X, X, 700), OWN ("r3", "gw-a"),
        SS (3, 3, 300, 0, 300),
        GONE (4, "gw-a", 2),
        //  nothing charged to the day, tokens out of the window, requests stay
        SS (4, 3, 100, 0, 100),
        CNT (4, 1),
        GONE (5, "gw-a", 0),
        //  the freed room is usable at once: 1000 - 100 reserved - prompt 10
        ADQ ("r4", 6, 10, 2000, 1000, 1, 890, X, NULL),
        ST ("r2", 7, 50, QE_SETTLE_USED),
        //  gw-a was not gone after all: its late Settle is charged, as for an expired one
        ST ("r1", 8, 30, QE_SETTLE_UNKNOWN),
        SS (8, 4, 950, 80, 900),
        END } },
    { "gone gateway: only its own reservations, from any window", {
        AD ("r1", 59000, 10, 90, 0, 0, 0, 1, OK, 90, X, X, X), OWN ("r1", "gw-a"),
        AD ("r2", 59000, 10, 90, 0, 0, 0, 1, OK, 90, X, X, X),
        AD ("r3", 59000, 10, 90, 0, 0, 0, 1, OK, 90, X, X, X), OWN ("r3", "gw-b"),
        OWN ("r3", "gw-a"), OWN ("r3", "gw-a"),     //  the last owner counts; told twice
        OWN ("nope", "gw-a"),                       //  no reservation: nothing happens
        GONE (61000, "gw-b", 0),
        GONE (61000, "gw-a", 2),
        //  released in the next window: the new window is not touched
        SS (61000, 0, 0, 0, 100),
        CNT (61000, 1),
        ST ("r2", 62000, 40, QE_SETTLE_USED),
        SS (62000, 0, 0, 40, 0),
        END } },
    { "gone gateway: owners short and long", {
        AD ("r1", 0, 10, 90, 0, 0, 0, 1, OK, 90, X, X, X),
        //  too long to be kept inside the reservation, then short, then long
        OWN ("r1", "0123456789ABCDEF0123456789ABCDEF"), OWN ("r1", "gw-c"),
        OWN ("r1", "0123456789ABCDEF0123456789ABCDEF"),
        GONE (1000, "gw-c", 0),
        CNT (1000, 1),
        GONE (1000, "0123456789ABCDEF0123456789ABCDEF", 1),
        CNT (1000, 0),
        ST ("r1", 2000, 40, QE_SETTLE_UNKNOWN),
        END } },
    { "reset_at at month and year ends", {
        //  2024-03-31T23:00:00Z is T0 + 21 days 11 hours
        ADQ ("a", 21ll * 86400000 + 11ll * 3600000, 1, 1, 1, 0, 0, 3600, "2024-04-01T00:00:00Z"),
        END } },
};

static void
s_run (const s_scenario_t *sc)
{
    mt_test_case ("%s", sc->name);
    qe_quota_t *q = qe_quota_new (TTL);
    CHECK (q != NULL);
    if (!q)
        return;
    const char *tenant = "00000000-0000-0000-0000-000000000001";
    for (size_t i = 0; i < sizeof sc->steps / sizeof sc->steps [0]; i++) {
        const s_step_t *s = &sc->steps [i];
        if (s->op == COUNT && !s->req)
            break;
        uint64_t now = (uint64_t) ((int64_t) T0 + s->at);
        switch (s->op) {
            case ADMIT: {
                qe_admit_t out;
                qe_quota_admit (q, s->req, tenant, s->a, s->b, &s->lim, now, &out);
                if (s->ok != X)
                    CHECK_MSG (out.ok == (s->ok == 1), "%s step %zu ok=%d", sc->name, i, out.ok);
                if (s->code != X)
                    CHECK_MSG (out.code == s->code, "%s step %zu code=%d", sc->name, i, out.code);
                if (s->granted != X)
                    CHECK_MSG ((int64_t) out.granted_tokens == s->granted,
                               "%s step %zu granted=%llu", sc->name, i,
                               (unsigned long long) out.granted_tokens);
                if (s->retry != X)
                    CHECK_MSG (out.retry_after_s == s->retry, "%s step %zu retry=%u",
                               sc->name, i, out.retry_after_s);
                if (s->rem_req != X)
                    CHECK_MSG ((int64_t) out.remaining_requests == s->rem_req,
                               "%s step %zu remaining_requests=%llu", sc->name, i,
                               (unsigned long long) out.remaining_requests);
                if (s->rem_tok != X)
                    CHECK_MSG ((int64_t) out.remaining_tokens == s->rem_tok,
                               "%s step %zu remaining_tokens=%llu", sc->name, i,
                               (unsigned long long) out.remaining_tokens);
                if (s->reset_at)
                    CHECK_STR (out.reset_at, s->reset_at);
                //  Every reply carries the limits and window reset
                CHECK_INT (out.limit_requests, s->lim.rpm);
                CHECK_INT (out.limit_tokens, s->lim.tpm);
                CHECK_INT (out.reset_requests_ms, 60000 - now % 60000);
                CHECK_INT (out.reset_tokens_ms, 60000 - now % 60000);
                break;
            }
            case SETTLE:
            case REFUSE: {
                qe_settle_t r = qe_quota_settle (q, s->req, tenant, s->a, s->op == REFUSE, now);
                CHECK_MSG ((int64_t) r == s->code, "%s step %zu settle=%d", sc->name, i, r);
                break;
            }
            case EXPIRE:
                CHECK_MSG ((int64_t) qe_quota_expire (q, now, NULL, NULL) == s->code,
                           "%s step %zu expire", sc->name, i);
                break;
            case SET_USED:
                qe_quota_set_used_today (q, tenant, s->a, now);
                break;
            case STATS: {
                qe_tenant_stats_t st;
                CHECK (qe_quota_tenant_stats (q, tenant, now, &st));
                CHECK_MSG ((int64_t) st.requests_in_window == s->rem_req,
                           "%s step %zu requests_in_window=%llu", sc->name, i,
                           (unsigned long long) st.requests_in_window);
                CHECK_MSG ((int64_t) st.tokens_in_window == s->rem_tok,
                           "%s step %zu tokens_in_window=%llu", sc->name, i,
                           (unsigned long long) st.tokens_in_window);
                CHECK_MSG ((int64_t) st.used_today == s->used, "%s step %zu used_today=%llu",
                           sc->name, i, (unsigned long long) st.used_today);
                CHECK_MSG ((int64_t) st.reserved == s->reserved, "%s step %zu reserved=%llu",
                           sc->name, i, (unsigned long long) st.reserved);
                break;
            }
            case OWN:
                qe_quota_set_owner (q, s->req, s->owner);
                break;
            case GONE:
                CHECK_MSG ((int64_t) qe_quota_release_owner (q, s->owner, now, NULL, NULL) == s->code,
                           "%s step %zu release %s", sc->name, i, s->owner);
                break;
            case COUNT:
                CHECK_MSG ((int64_t) qe_quota_reservations (q) == s->granted,
                           "%s step %zu reservations=%zu", sc->name, i,
                           qe_quota_reservations (q));
                break;
        }
    }
    qe_quota_destroy (&q);
    CHECK (q == NULL);
}

//  Many admits with random sizes and settles: the sum of what can be spent
//  (settled usage + outstanding grants) never passes the daily limit.
static void
s_many (void)
{
    qe_quota_t *q = qe_quota_new (TTL);
    const char *tenant = "tenant-many";
    qe_limits_t lim = { 0, 0, 100000 };
    uint64_t spent = 0, outstanding = 0;
    uint64_t reserve [2000] = { 0 };
    unsigned int seed = 42;
    int refused = 0, over = 0;
    for (int i = 0; i < 2000; i++) {
        char req [32];
        snprintf (req, sizeof req, "m%d", i);
        uint64_t prompt = (uint64_t) (rand_r (&seed) % 200);
        uint64_t max = (uint64_t) (rand_r (&seed) % 500);
        qe_admit_t out;
        qe_quota_admit (q, req, tenant, prompt, max, &lim, T0 + (uint64_t) i, &out);
        if (!out.ok) {
            refused++;
            continue;
        }
        reserve [i] = prompt + out.granted_tokens;
        outstanding += reserve [i];
        if (spent + outstanding > lim.daily)
            over++;
        //  Settle every other earlier request, using part of its grant
        if (i % 2 == 1 && reserve [i - 1]) {
            char prev [32];
            snprintf (prev, sizeof prev, "m%d", i - 1);
            uint64_t used = reserve [i - 1] / 2;
            qe_quota_settle (q, prev, tenant, used, false, T0 + (uint64_t) i);
            outstanding -= reserve [i - 1];
            spent += used;
        }
    }
    CHECK_INT (over, 0);
    CHECK (refused > 0);
    qe_tenant_stats_t st;
    CHECK (qe_quota_tenant_stats (q, tenant, T0 + 2000, &st));
    CHECK_INT (st.used_today, spent);
    CHECK_INT (st.reserved, outstanding);
    CHECK (st.used_today + st.reserved <= lim.daily);
    //  Quota nearly exhausted: whatever is left is granted exactly
    qe_admit_t out;
    uint64_t left = lim.daily - st.used_today - st.reserved;
    qe_quota_admit (q, "last", tenant, 0, 1000000, &lim, T0 + 3000, &out);
    if (left > 0) {
        CHECK (out.ok);
        CHECK_INT (out.granted_tokens, left);
    }
    qe_quota_admit (q, "after", tenant, 0, 1, &lim, T0 + 3000, &out);
    CHECK (!out.ok);
    CHECK_INT (out.code, MT__ERROR_CODE__ERR_QUOTA);
    qe_quota_destroy (&q);
}

//  Counters are per tenant.
static void
s_tenants (void)
{
    qe_quota_t *q = qe_quota_new (TTL);
    qe_limits_t lim = { 1, 0, 0 };
    qe_admit_t out;
    qe_quota_admit (q, "a1", "A", 1, 1, &lim, T0, &out);
    CHECK (out.ok);
    qe_quota_admit (q, "b1", "B", 1, 1, &lim, T0, &out);
    CHECK (out.ok);
    qe_quota_admit (q, "a2", "A", 1, 1, &lim, T0, &out);
    CHECK (!out.ok);
    //  Huge numbers are clamped, never wrap around
    qe_limits_t daily = { 0, 0, 1000 };
    qe_quota_admit (q, "c1", "C", UINT64_MAX, UINT64_MAX, &daily, T0, &out);
    CHECK (!out.ok);
    CHECK_INT (out.code, MT__ERROR_CODE__ERR_QUOTA);
    qe_tenant_stats_t st;
    CHECK (!qe_quota_tenant_stats (q, "nobody", T0, &st));
    qe_quota_destroy (&q);
    qe_quota_destroy (&q);              //  no-op on NULL
}

//  A restarted process learns the reservations in flight from the gateways:
//  recorded without a check, counted against the daily limit, idempotent,
//  and settled like any other.
static void
s_restore (void)
{
    qe_quota_t *q = qe_quota_new (TTL);
    qe_limits_t daily = { 0, 0, 100 };
    qe_quota_set_used_today (q, "A", 20, T0);
    qe_quota_restore (q, "r1", "A", 10, 40, T0);        //  50 reserved
    qe_quota_restore (q, "r1", "A", 10, 40, T0);        //  told twice: once
    CHECK_INT (qe_quota_reservations (q), 1);
    qe_tenant_stats_t st;
    CHECK (qe_quota_tenant_stats (q, "A", T0, &st));
    CHECK_INT (st.reserved, 50);
    CHECK_INT (st.requests_in_window, 1);
    //  30 left: a new request is granted at most that, less its prompt
    qe_admit_t out;
    qe_quota_admit (q, "n1", "A", 10, 100, &daily, T0, &out);
    CHECK (out.ok);
    CHECK_INT (out.granted_tokens, 20);
    qe_quota_admit (q, "n2", "A", 1, 1, &daily, T0, &out);
    CHECK (!out.ok);
    CHECK_INT (out.code, MT__ERROR_CODE__ERR_QUOTA);
    //  The restored request settles as usual; a settled id is not restored again
    CHECK_INT (qe_quota_settle (q, "r1", "A", 30, false, T0), QE_SETTLE_USED);
    qe_quota_restore (q, "r1", "A", 10, 40, T0);
    CHECK_INT (qe_quota_reservations (q), 1);           //  n1 only
    CHECK (qe_quota_tenant_stats (q, "A", T0, &st));
    CHECK_INT (st.used_today, 50);
    //  A restored reservation has an owner like any other: released when it is gone
    qe_quota_restore (q, "r2", "A", 5, 5, T0);
    qe_quota_set_owner (q, "r2", "gw-new");
    CHECK_INT (qe_quota_release_owner (q, "gw-new", T0, NULL, NULL), 1);
    CHECK_INT (qe_quota_reservations (q), 1);           //  n1 only
    qe_quota_destroy (&q);
}

//  Many settled ids (more than one block of them, a table grown several
//  times): each is caught as a duplicate until its TTL, then forgotten, in
//  the order settled; ids of every length up to the longest accepted.
static void
s_settled_many (void)
{
    qe_quota_t *q = qe_quota_new (60000);
    CHECK (q != NULL);
    const uint64_t n = 20000;
    qe_limits_t none = { 0, 0, 0 };
    qe_admit_t a;
    char id [160];
    for (uint64_t i = 0; i < n; i++) {
        snprintf (id, sizeof id, "%0*" PRIu64, (int) (1 + i % 128), i);
        qe_quota_admit (q, id, "t", 1, 1, &none, i, &a);
        qe_quota_settle (q, id, "t", 1, false, i);
    }
    size_t dup = 0, admit_dup = 0;
    for (uint64_t i = 0; i < n; i++) {
        snprintf (id, sizeof id, "%0*" PRIu64, (int) (1 + i % 128), i);
        dup += qe_quota_settle (q, id, "t", 1, false, n) == QE_SETTLE_DUPLICATE;
        qe_quota_admit (q, id, "t", 1, 1, &none, n, &a);
        admit_dup += a.ok && a.duplicate;
    }
    CHECK_INT (dup, n);
    CHECK_INT (admit_dup, n);
    //  Settled at i, remembered until i + QE_SETTLED_TTL_MS
    qe_quota_expire (q, n / 2 - 1 + QE_SETTLED_TTL_MS, NULL, NULL);
    size_t forgotten = 0, kept = 0;
    for (uint64_t i = n / 2; i < n; i++) {
        snprintf (id, sizeof id, "%0*" PRIu64, (int) (1 + i % 128), i);
        kept += qe_quota_settle (q, id, "t", 1, false, n) == QE_SETTLE_DUPLICATE;
    }
    for (uint64_t i = 0; i < n / 2; i++) {
        snprintf (id, sizeof id, "%0*" PRIu64, (int) (1 + i % 128), i);
        forgotten += qe_quota_settle (q, id, "t", 1, false, n) == QE_SETTLE_UNKNOWN;
    }
    CHECK_INT (kept, n / 2);
    CHECK_INT (forgotten, n / 2);
    //  All gone after their TTL (the ones just settled again too)
    qe_quota_expire (q, n + QE_SETTLED_TTL_MS, NULL, NULL);
    size_t unknown = 0;
    for (uint64_t i = 0; i < n; i += 7) {
        snprintf (id, sizeof id, "%0*" PRIu64, (int) (1 + i % 128), i);
        unknown += qe_quota_settle (q, id, "t", 1, false, 2 * n + QE_SETTLED_TTL_MS)
                 == QE_SETTLE_UNKNOWN;
    }
    CHECK_INT (unknown, (n + 6) / 7);
    qe_quota_destroy (&q);
}

int
main (void)
{
    for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios [0]; i++)
        s_run (&s_scenarios [i]);
    MT_RUN (s_many);
    MT_RUN (s_tenants);
    MT_RUN (s_restore);
    MT_RUN (s_settled_many);
    return mt_test_done ("test_qe_quota");
}
