//  Unit tests of when the gateway submits a lost job again (gw_retry): one
//  row per case.
#include "mt_test.h"
#include "../../services/auth-gateway/gw_retry.h"

#define LOST    MT__ERROR_CODE__ERR_WORKER_LOST
#define BACK    MT__ERROR_CODE__ERR_UNAVAILABLE
#define ENGINE  MT__ERROR_CODE__ERR_ENGINE
#define CANCEL  MT__ERROR_CODE__ERR_CANCELLED
#define NOCAP   MT__ERROR_CODE__ERR_NO_CAPACITY

//  Request flags
#define STREAM  1
#define STARTED 2
#define GONE    4
#define TIMEOUT 8
#define CANCELD 16

static gw_retry_req_t
s_req (int flags, uint32_t requeues)
{
    gw_retry_req_t r = {
        .stream = flags & STREAM, .started = flags & STARTED, .client_gone = flags & GONE,
        .timed_out = flags & TIMEOUT, .cancelled = flags & CANCELD, .requeues = requeues,
    };
    return r;
}

static void
test_on_done (void)
{
    static const struct {
        const char *name;
        int flags;
        uint32_t requeues;
        Mt__ErrorCode error;
        bool want;
    } rows [] = {
        { "worker lost, not streamed, nothing generated",     0, 0, LOST, true },
        { "worker lost, not streamed, tokens assembled", STARTED, 0, LOST, true },
        { "worker lost, stream before its first token", STREAM, 0, LOST, true },
        { "worker lost, stream showed a token", STREAM | STARTED, 0, LOST, false },
        { "handed back (engine down), not streamed",          0, 0, BACK, true },
        { "handed back, stream before a token",          STREAM, 0, BACK, true },
        { "second loss: fails",                               0, 1, LOST, false },
        { "second loss after a hand-back: fails",        STREAM, 1, BACK, false },
        { "engine error: not retried",                        0, 0, ENGINE, false },
        { "cancelled: not retried",                           0, 0, CANCEL, false },
        { "no capacity: not retried",                         0, 0, NOCAP, false },
        { "client gone",                                   GONE, 0, LOST, false },
        { "timed out",                                  TIMEOUT, 0, LOST, false },
        { "cancel wanted",                              CANCELD, 0, BACK, false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("on done: %s", rows [i].name);
        gw_retry_req_t r = s_req (rows [i].flags, rows [i].requeues);
        CHECK_MSG (gw_retry_on_done (&r, rows [i].error) == rows [i].want, "%s", rows [i].name);
    }
}

static void
test_on_restart (void)
{
    static const struct {
        const char *name;
        int flags;
        const char *accepted_by, *now;
        bool want;
    } rows [] = {
        { "queued at the dead scheduler",              0, "a", "b", true },
        { "stream queued at the dead scheduler",  STREAM, "a", "b", true },
        { "after a requeue too (no loss counted)",     0, "a", "b", true },
        { "same scheduler: nothing to do",             0, "a", "a", false },
        { "started stream: runs on",    STREAM | STARTED, "a", "b", false },
        { "started, not streamed: runs on",      STARTED, "a", "b", false },
        { "accepting scheduler not known",             0, "",  "b", false },
        { "catalog without an instance",               0, "a", "",  false },
        { "client gone",                            GONE, "a", "b", false },
        { "timed out",                           TIMEOUT, "a", "b", false },
        { "cancel wanted",                       CANCELD, "a", "b", false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("on restart: %s", rows [i].name);
        gw_retry_req_t r = s_req (rows [i].flags, i == 2? 1: 0);
        CHECK_MSG (gw_retry_on_restart (&r, rows [i].accepted_by, rows [i].now) == rows [i].want,
                   "%s", rows [i].name);
    }
}

static void
test_on_catalog (void)
{
    static const struct {
        const char *name;
        int flags;
        const char *sent_to;
        uint64_t sent_hb;
        const char *cat_id;
        uint64_t cat_hb;
        gw_submit_seen_t want;
    } rows [] = {
        { "same instance, heartbeat after it: accepted",      0, "a", 5, "a", 5, GW_SUBMIT_ACCEPTED },
        { "same instance, a later heartbeat: accepted",       0, "a", 5, "a", 9, GW_SUBMIT_ACCEPTED },
        { "same instance, heartbeat before it: wait",         0, "a", 6, "a", 5, GW_SUBMIT_WAIT },
        { "older scheduler (no seq): wait for its reply",     0, "a", 1, "a", 0, GW_SUBMIT_WAIT },
        { "catalog without an instance: wait",                0, "a", 1, "",  3, GW_SUBMIT_WAIT },
        { "accepted whatever the request's state",         GONE, "a", 2, "a", 3, GW_SUBMIT_ACCEPTED },
        { "new instance, sent after its heartbeat: moved",    0, "a", 8, "b", 7, GW_SUBMIT_MOVED },
        { "new instance, sent well before: again",            0, "a", 3, "b", 7, GW_SUBMIT_AGAIN },
        { "new instance, stream sent well before: again", STREAM, "a", 6, "b", 7, GW_SUBMIT_AGAIN },
        { "new instance, sent just before: again, alone",     0, "a", 7, "b", 7, GW_SUBMIT_AGAIN_ALONE },
        { "sent to an unknown instance: again, alone",        0, "",  3, "b", 7, GW_SUBMIT_AGAIN_ALONE },
        { "new instance, client gone: left to time out",   GONE, "a", 3, "b", 7, GW_SUBMIT_WAIT },
        { "new instance, cancel wanted: left to time out", CANCELD, "a", 3, "b", 7, GW_SUBMIT_WAIT },
        { "new instance, timed out: left alone",        TIMEOUT, "a", 3, "b", 7, GW_SUBMIT_WAIT },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("on catalog: %s", rows [i].name);
        gw_retry_req_t r = s_req (rows [i].flags, 0);
        gw_submit_seen_t got = gw_retry_on_catalog (&r, rows [i].sent_to, rows [i].sent_hb,
                                                    rows [i].cat_id, rows [i].cat_hb);
        CHECK_MSG (got == rows [i].want, "%s: %d want %d", rows [i].name, (int) got,
                   (int) rows [i].want);
    }
}

int
main (void)
{
    test_on_done ();
    test_on_restart ();
    test_on_catalog ();
    return mt_test_done ("test_gw_retry");
}
