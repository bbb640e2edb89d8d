//  Unit tests of peer liveness (mt_peers.c): scenarios of messages and
//  sweeps at given times, each with the peers a sweep must declare gone.
#include "mt_test.h"
#include "mt_peers.h"

#define TIMEOUT 3000

//  One step: a message (key, heartbeat) or a sweep (key NULL) at t ms, with
//  the keys the sweep reports gone ("" = none, "a,b" = both, in any order)
//  and how many peers are watched after it.
typedef struct {
    uint64_t t;
    const char *key;
    bool heartbeat;
    const char *gone;
    int live;
} s_step_t;

typedef struct {
    const char *what;
    s_step_t steps [12];
} s_scenario_t;

#define SEEN(t, k) { t, k, false, NULL, -1 }
#define BEAT(t, k) { t, k, true, NULL, -1 }
#define SWEEP(t, g, n) { t, NULL, false, g, n }

static const s_scenario_t s_scenarios [] = {
    { "a heartbeating peer is live", {
        BEAT (1000, "a"), BEAT (2000, "a"), SWEEP (2100, "", 1),
        BEAT (3000, "a"), SWEEP (3100, "", 1) } },
    { "silent past the timeout: gone, once", {
        BEAT (1000, "a"), SWEEP (2000, "", 1), SWEEP (3500, "", 1), SWEEP (4000, "", 1),
        SWEEP (4001, "a", 0), SWEEP (4100, "", 0) } },
    { "silent exactly the timeout: still live", {
        BEAT (1000, "a"), SWEEP (2000, "", 1), SWEEP (3000, "", 1), SWEEP (4000, "", 1) } },
    { "any message keeps a watched peer live", {
        BEAT (1000, "a"), SEEN (3500, "a"), SWEEP (3600, "", 1), SWEEP (5000, "", 1),
        SWEEP (6000, "", 1), SWEEP (6501, "a", 0) } },
    { "a peer that never heartbeats is never gone", {
        SEEN (1000, "old"), SWEEP (2000, "", 0), SWEEP (3000, "", 0), SWEEP (4500, "", 0),
        SWEEP (5500, "", 0), SWEEP (6000, "", 0) } },
    { "a restart is a new id: the old one goes, the new one stays", {
        BEAT (1000, "old"), SWEEP (1500, "", 1), BEAT (2000, "new"), SWEEP (2500, "", 2),
        BEAT (3000, "new"), SWEEP (3500, "", 2), BEAT (4000, "new"), SWEEP (4001, "old", 1),
        SWEEP (4500, "", 1) } },
    { "two gateways die together", {
        BEAT (1000, "a"), BEAT (1000, "b"), BEAT (1000, "c"), SWEEP (2000, "", 3),
        BEAT (3000, "c"), SWEEP (3500, "", 3), SWEEP (4200, "a,b", 1) } },
    { "our own loop stalled: nobody gone in that sweep, then counted from there", {
        BEAT (1000, "a"), SWEEP (1100, "", 1), SWEEP (9000, "", 1), SWEEP (9100, "", 1),
        SWEEP (10500, "", 1), SWEEP (11500, "", 1), SWEEP (12001, "a", 0) } },
    { "a message after the sweep that forgot the peer watches it again only on a heartbeat", {
        BEAT (1000, "a"), SWEEP (2000, "", 1), SWEEP (3000, "", 1), SWEEP (4001, "a", 0),
        SEEN (4100, "a"), SWEEP (4200, "", 0), BEAT (4300, "a"), SWEEP (4400, "", 1) } },
};

static bool
s_same_set (zlistx_t *gone, const char *want)
{
    char buf [64];
    snprintf (buf, sizeof buf, "%s", want);
    size_t n = 0;
    for (char *tok = strtok (buf, ","); tok; tok = strtok (NULL, ",")) {
        //  Reported as the routing id in hex (as zframe_strhex)
        zframe_t *id = zframe_new (tok, strlen (tok));
        char *hex = zframe_strhex (id);
        zframe_destroy (&id);
        bool found = false;
        for (const char *k = (const char *) zlistx_first (gone); k;
             k = (const char *) zlistx_next (gone))
            found = found || !strcmp (k, hex);
        free (hex);
        if (!found)
            return false;
        n++;
    }
    return n == zlistx_size (gone);
}

static void
s_run_scenarios (void)
{
    for (size_t i = 0; i < sizeof s_scenarios / sizeof s_scenarios [0]; i++) {
        const s_scenario_t *sc = &s_scenarios [i];
        mt_test_case ("peers: %s", sc->what);
        mt_peers_t *peers = mt_peers_new (TIMEOUT);
        CHECK (peers);
        for (size_t k = 0; k < 12 && sc->steps [k].t; k++) {
            const s_step_t *st = &sc->steps [k];
            if (st->key) {
                mt_peers_seen (peers, st->key, strlen (st->key), st->heartbeat, st->t);
                continue;
            }
            zlistx_t *gone = mt_peers_sweep (peers, st->t);
            CHECK_MSG (s_same_set (gone, st->gone), "%s: sweep at %llu: want gone \"%s\", got %zu",
                       sc->what, (unsigned long long) st->t, st->gone, zlistx_size (gone));
            CHECK_MSG ((int) mt_peers_live (peers) == st->live, "%s: sweep at %llu: live %zu want %d",
                       sc->what, (unsigned long long) st->t, mt_peers_live (peers), st->live);
            zlistx_destroy (&gone);
        }
        mt_peers_destroy (&peers);
        CHECK (peers == NULL);
    }
}

static void
s_watched (void)
{
    mt_peers_t *peers = mt_peers_new (TIMEOUT);
    mt_peers_seen (peers, "a", strlen ("a"), false, 10);
    CHECK (!mt_peers_watched (peers, "a", 1));
    mt_peers_seen (peers, "a", strlen ("a"), true, 20);
    CHECK (mt_peers_watched (peers, "a", 1));
    CHECK (!mt_peers_watched (peers, "b", 1));
    mt_peers_seen (peers, "a", strlen ("a"), true, 30);
    CHECK_INT (mt_peers_live (peers), 1);
    //  Unwatched peers are forgotten after ten timeouts, without a report
    mt_peers_seen (peers, "quiet", strlen ("quiet"), false, 30);
    zlistx_t *gone = mt_peers_sweep (peers, 100);
    zlistx_destroy (&gone);
    for (uint64_t t = 1000; t <= 40000; t += 1000) {
        mt_peers_seen (peers, "a", strlen ("a"), true, t);
        gone = mt_peers_sweep (peers, t);
        CHECK_INT (zlistx_size (gone), 0);
        zlistx_destroy (&gone);
    }
    CHECK_INT (mt_peers_size (peers), 1);               //  "quiet" forgotten
    mt_peers_seen (peers, "quiet", strlen ("quiet"), true, 40001);        //  a new entry now
    CHECK_INT (mt_peers_live (peers), 2);
    CHECK_INT (mt_peers_size (peers), 2);
    mt_peers_destroy (&peers);
    mt_peers_destroy (&peers);                          //  no-op on NULL
    CHECK (peers == NULL);
}

//  Routing ids are raw bytes (ZeroMQ's own have NUL bytes): told apart by
//  every byte and the length; the key returned is the id in hex, as
//  zframe_strhex writes it, and is what the sweep reports.
static void
s_raw_ids (void)
{
    mt_peers_t *peers = mt_peers_new (TIMEOUT);
    const uint8_t a [] = { 0, 0x80, 0, 0, 0x01 }, b [] = { 0, 0x80, 0, 0, 0x02 };
    const char *ka = mt_peers_seen (peers, a, sizeof a, true, 10);
    const char *kb = mt_peers_seen (peers, b, sizeof b, true, 10);
    const char *ka4 = mt_peers_seen (peers, a, 4, true, 10);      //  a prefix: another peer
    CHECK (ka && kb && ka4);
    CHECK_STR (ka, "0080000001");
    CHECK_STR (kb, "0080000002");
    CHECK_STR (ka4, "00800000");
    CHECK_INT (mt_peers_live (peers), 3);
    CHECK (mt_peers_seen (peers, a, sizeof a, false, 20) == ka);  //  the same key again
    zframe_t *f = zframe_new (b, sizeof b);
    char *hex = zframe_strhex (f);
    CHECK_STR (kb, hex);
    free (hex);
    zframe_destroy (&f);
    uint8_t big [256] = { 0 };
    CHECK (mt_peers_seen (peers, big, 256, true, 20) == NULL);    //  not a routing id
    CHECK (mt_peers_seen (peers, big, 0, true, 20) == NULL);
    CHECK (mt_peers_seen (peers, big, 255, true, 20) != NULL);
    CHECK (!mt_peers_watched (peers, big, 256));
    CHECK_INT (mt_peers_size (peers), 4);
    zlistx_t *gone = mt_peers_sweep (peers, 11 + TIMEOUT);
    CHECK_INT (zlistx_size (gone), 2);                  //  b and the prefix; a was seen at 20
    CHECK (!mt_peers_watched (peers, b, sizeof b));
    CHECK (mt_peers_watched (peers, a, sizeof a));
    zlistx_destroy (&gone);
    mt_peers_destroy (&peers);
}

int
main (void)
{
    s_run_scenarios ();
    MT_RUN (s_watched);
    MT_RUN (s_raw_ids);
    return mt_test_done ("test_mt_peers");
}
