//  Unit tests of JSON log lines (mt_log_json).
#include "mt_test.h"
#include "mt_log.h"

#include <jansson.h>

typedef struct {
    const char *line;
    const char *want;               //  compact JSON, or NULL: nothing
} s_case_t;

static void
test_table (void)
{
    //  2026-11-29T20:00:00.123Z
    const uint64_t now = 1795982400123ULL;
    s_case_t cases [] = {
        { "done req=r1 tenant=t1 status=ok",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"done\",\"req\":\"r1\",\"tenant\":\"t1\",\"status\":\"ok\"}" },
        { "start-failed reason=\"cannot bind tcp://*:1\"",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"start-failed\",\"reason\":\"cannot bind tcp://*:1\"}" },
        { "x msg=\"say \\\"hi\\\"\" k=",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"x\",\"msg\":\"say \\\"hi\\\"\",\"k\":\"\"}" },
        { "  listening on port 80 a=1",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"listening\",\"extra\":\"on port 80\",\"a\":\"1\"}" },
        { "bad \xff\xfe v=\xc3",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"bad\",\"extra\":\"??\",\"v\":\"?\"}" },
        { "unterminated a=\"open",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"unterminated\",\"a\":\"open\"}" },
        { "", NULL },
        { "   ", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char out [1024];
        size_t n = mt_log_json ("svc", cases [i].line, now, out, sizeof out);
        if (!cases [i].want) {
            CHECK_INT (n, 0);
            continue;
        }
        CHECK_MSG (n > 0, "case %zu: nothing", i);
        if (!n)
            continue;
        //  Valid JSON, and the same object as wanted (key order aside)
        json_t *got = json_loads (out, 0, NULL);
        json_t *want = json_loads (cases [i].want, 0, NULL);
        CHECK_MSG (got && want && json_equal (got, want), "case %zu: %s", i, out);
        CHECK_INT (strlen (out), n);
        json_decref (got);
        json_decref (want);
    }
}

static void
test_limits (void)
{
    char small [40];
    CHECK_INT (mt_log_json ("svc", "event a=1", 0, small, sizeof small), 0);    //  does not fit
    CHECK_INT (mt_log_json ("svc", NULL, 0, small, sizeof small), 0);
    CHECK_INT (mt_log_json ("svc", "e", 0, NULL, 0), 0);
    //  A very long value is cut, never overflows
    char line [3000], out [4096];
    memset (line, 'v', sizeof line - 1);
    line [sizeof line - 1] = 0;
    memcpy (line, "e k=", 4);
    size_t n = mt_log_json ("svc", line, 0, out, sizeof out);
    CHECK (n > 1000 && n < sizeof out);
}

int
main (void)
{
    test_table ();
    test_limits ();
    return mt_test_done ("test_mt_log");
}
