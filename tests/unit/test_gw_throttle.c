//  Unit tests of the 401 throttle (gw_throttle.c): a table of failures and
//  questions at given times, the clock passed in.
#include "mt_test.h"
#include "gw_throttle.h"

#include <stdlib.h>

typedef struct {
    uint64_t at;            //  ms
    const char *key;
    char op;                //  'f' record a failure, 'a' ask allow, 's' sweep
    bool allowed;           //  'a': expected answer
    uint64_t retry_ms;      //  'a': expected *retry_ms when refused; 's': keys left
} step_t;

typedef struct {
    const char *name;
    uint32_t burst, interval_ms;
    size_t max_keys;
    step_t steps [16];
} scenario_t;

static const scenario_t s_scenarios [] = {
    { "a burst of 3, then refused until one failure is earned back", 3, 1000, 100, {
        { 0, "a", 'a', true, 0 },
        { 0, "a", 'f' }, { 0, "a", 'f' }, { 0, "a", 'f' },
        { 0, "a", 'a', false, 1000 },
        { 400, "a", 'a', false, 600 },
        { 999, "a", 'a', false, 1 },
        { 1000, "a", 'a', true, 0 },
        { 1000, "a", 'f' },
        { 1000, "a", 'a', false, 1000 },
        { 0 } } },
    { "another address is not touched by the first one's failures", 2, 1000, 100, {
        { 0, "a", 'f' }, { 0, "a", 'f' },
        { 0, "a", 'a', false, 1000 },
        { 0, "b", 'a', true, 0 },
        { 0, "b", 'f' },
        { 0, "b", 'a', true, 0 },
        { 0 } } },
    { "failures spread out never throttle", 2, 1000, 100, {
        { 0, "a", 'f' }, { 1000, "a", 'f' }, { 2000, "a", 'f' }, { 3000, "a", 'f' },
        { 3000, "a", 'a', true, 0 },
        { 0 } } },
    { "a long pause refills the whole burst", 3, 500, 100, {
        { 0, "a", 'f' }, { 0, "a", 'f' }, { 0, "a", 'f' },
        { 0, "a", 'a', false, 500 },
        { 60000, "a", 'a', true, 0 },
        { 60000, "a", 'f' }, { 60000, "a", 'f' }, { 60000, "a", 'f' },
        { 60000, "a", 'a', false, 500 },
        { 0 } } },
    { "burst 0: the throttle is off", 0, 1000, 100, {
        { 0, "a", 'f' }, { 0, "a", 'f' }, { 0, "a", 'f' },
        { 0, "a", 'a', true, 0 },
        { 0, "a", 's', false, 0 },
        { 0 } } },
    { "sweep forgets addresses whose bucket is full again", 2, 1000, 100, {
        { 0, "a", 'f' }, { 0, "b", 'f' }, { 0, "b", 'f' },
        { 500, "", 's', false, 2 },
        { 1000, "", 's', false, 1 },
        { 2000, "", 's', false, 0 },
        { 2000, "b", 'a', true, 0 },
        { 0 } } },
    { "past max_keys new addresses are not tracked (allowed) until a sweep", 1, 1000, 2, {
        { 0, "a", 'f' }, { 0, "b", 'f' }, { 0, "c", 'f' },
        { 0, "c", 'a', true, 0 },
        { 0, "a", 'a', false, 1000 },
        { 1000, "", 's', false, 0 },
        { 1000, "c", 'f' },
        { 1000, "c", 'a', false, 1000 },
        { 0 } } },
};

int
main (void)
{
    for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios [0]; i++) {
        const scenario_t *sc = &s_scenarios [i];
        mt_test_case ("%s", sc->name);
        gw_throttle_t *t = gw_throttle_new (sc->burst, sc->interval_ms, sc->max_keys);
        CHECK (t != NULL);
        for (const step_t *st = sc->steps; st->key; st++) {
            if (st->op == 'f')
                gw_throttle_fail (t, st->key, st->at);
            else
            if (st->op == 's')
                CHECK_MSG (gw_throttle_sweep (t, st->at) == st->retry_ms, "%s: sweep at %llu",
                           sc->name, (unsigned long long) st->at);
            else {
                uint64_t retry = 12345;
                bool ok = gw_throttle_allow (t, st->key, st->at, &retry);
                CHECK_MSG (ok == st->allowed && retry == (st->allowed? 0: st->retry_ms),
                           "%s: key %s at %llu: allowed %d retry %llu", sc->name, st->key,
                           (unsigned long long) st->at, ok, (unsigned long long) retry);
            }
        }
        gw_throttle_destroy (&t);
        CHECK (t == NULL);
    }
    gw_throttle_destroy (NULL);
    return mt_test_done ("test_gw_throttle");
}
