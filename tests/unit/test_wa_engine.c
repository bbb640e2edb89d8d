//  Unit tests of the worker's view of its engine (wa_engine.c) and the
//  default health URL (wa_probe_default_url).
#include "mt_test.h"
#include "../../services/worker-adapter/wa_engine.h"
#include "../../services/worker-adapter/wa_probe.h"

static void
s_rules (void)
{
    //  Each row: event, observed at, now; want up after, want changed
    struct {
        const char *what;
        wa_engine_event_t event;
        uint64_t at, now;
        bool up, changed;
    } table [] = {
        { "probe ok while up: nothing", WA_ENGINE_PROBE_OK, 100, 110, true, false },
        { "connect failed: down", WA_ENGINE_JOB_UNREACHABLE, 200, 200, false, true },
        { "failed again: no change", WA_ENGINE_PROBE_FAILED, 250, 260, false, false },
        { "probe started before the failure: still down", WA_ENGINE_PROBE_OK, 150, 300, false, false },
        { "probe started after: up", WA_ENGINE_PROBE_OK, 210, 400, true, true },
        { "stalled stream: down", WA_ENGINE_JOB_STALLED, 500, 500, false, true },
        { "probe ok after the stall: up", WA_ENGINE_PROBE_OK, 600, 610, true, true },
        { "probe failed: down", WA_ENGINE_PROBE_FAILED, 700, 710, false, true },
        { "next probe ok: up", WA_ENGINE_PROBE_OK, 900, 910, true, true },
    };
    wa_engine_t engine;
    mt_test_case ("rules: up at start");
    wa_engine_init (&engine, 0);
    CHECK (engine.up && !*engine.reason);
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("rules: %s", table [i].what);
        bool changed = wa_engine_note (&engine, table [i].event, table [i].at, table [i].now);
        CHECK_MSG (changed == table [i].changed && engine.up == table [i].up, "%s", table [i].what);
        CHECK_MSG (engine.up == !*engine.reason, "%s: reason only while down", table [i].what);
    }
    mt_test_case ("rules: the reason names a stall");
    wa_engine_note (&engine, WA_ENGINE_JOB_STALLED, 1000, 1000);
    CHECK_STR (engine.reason, "engine stream stalled");
}

static void
s_default_url (void)
{
    struct { const char *in, *want; } table [] = {
        { "http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/health" },
        { "http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/health" },
        { "http://engine:8080", "http://engine:8080/health" },
        { "https://e.example/api/v1", "https://e.example/api/health" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("default health url: %s", table [i].in);
        char out [200];
        CHECK_STR (wa_probe_default_url (table [i].in, out, sizeof out), table [i].want);
    }
}

int
main (void)
{
    s_rules ();
    s_default_url ();
    return mt_test_done ("test_wa_engine");
}
