//  Unit tests of metering's pure batch logic (mtr_batch.c): validation,
//  array-literal quoting, parameters, deduplication inside a batch.
#include "mt_test.h"
#include "../../services/metering/mtr_batch.h"

#include <stdlib.h>

#define NOW 1710072000000ull        //  2024-03-10T12:00:00Z
#define TENANT "3f1c2b8e-8a4d-4e52-9d6b-1a2b3c4d5e6f"
#define KEY "0b0e3c4d-1111-4222-8333-444455556666"

static Mt__UsageEvent
s_event (const char *id)
{
    Mt__UsageEvent ev = MT__USAGE_EVENT__INIT;
    ev.event_id = (char *) id;
    ev.tenant_id = TENANT;
    ev.key_id = KEY;
    ev.model = "sim-small";
    ev.pool = "standard";
    ev.prompt_tokens = 12;
    ev.completion_tokens = 30;
    ev.ttft_ms = 40;
    ev.latency_ms = 400;
    ev.status = "ok";
    ev.http_status = 200;
    ev.created_ms = NOW - 1000;
    return ev;
}

static void
s_validation (void)
{
    struct {
        const char *field;
        const char *text;
        uint64_t num;
        bool valid;
    } table [] = {
        { "none", NULL, 0, true },
        { "event_id", "", 0, false },
        { "event_id", "has space", 0, false },
        { "event_id", "quote\"", 0, false },
        { "event_id", "req-0123456789abcdef", 0, true },
        { "tenant_id", "", 0, false },
        { "tenant_id", "not-a-uuid", 0, false },
        { "tenant_id", "3f1c2b8e-8a4d-4e52-9d6b-1a2b3c4d5e6", 0, false },
        { "key_id", "", 0, true },
        { "key_id", "nope", 0, false },
        { "model", "", 0, false },
        { "model", "llama-3.1-8b-instruct", 0, true },
        { "model", "mod\x01" "el", 0, false },
        { "model", "caf\xc3\xa9", 0, true },          //  UTF-8
        { "model", "caf\xe9", 0, false },             //  Latin-1 byte
        { "model", "\xc0\xaf", 0, false },            //  overlong
        { "model", "\xed\xa0\x80", 0, false },        //  surrogate
        { "pool", "", 0, true },
        { "status", "", 0, false },
        { "status", "cancelled", 0, true },
        { "prompt_tokens", NULL, MTR_TOKENS_MAX, true },
        { "prompt_tokens", NULL, MTR_TOKENS_MAX + 1, false },
        { "prompt_tokens", NULL, 4294967295u, false },    //  a -1 sent as unsigned
        { "completion_tokens", NULL, 4294967295u, false },
        { "latency_ms", NULL, MTR_MS_MAX + 1, false },
        { "ttft_ms", NULL, 0, true },
        { "http_status", NULL, 1000, false },
        { "http_status", NULL, 499, true },
        { "created_ms", NULL, 0, false },
        { "created_ms", NULL, NOW + MTR_CREATED_AHEAD + 1, false },
        { "created_ms", NULL, NOW + 1000, true },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("validation row %zu: %s %s", i, table [i].field,
                      table [i].valid? "valid": "refused");
        Mt__UsageEvent ev = s_event ("e1");
        const char *f = table [i].field;
        char *t = (char *) table [i].text;
        uint64_t n = table [i].num;
        if (!strcmp (f, "event_id")) ev.event_id = t;
        if (!strcmp (f, "tenant_id")) ev.tenant_id = t;
        if (!strcmp (f, "key_id")) ev.key_id = t;
        if (!strcmp (f, "model")) ev.model = t;
        if (!strcmp (f, "pool")) ev.pool = t;
        if (!strcmp (f, "status")) ev.status = t;
        if (!strcmp (f, "prompt_tokens")) ev.prompt_tokens = (uint32_t) n;
        if (!strcmp (f, "completion_tokens")) ev.completion_tokens = (uint32_t) n;
        if (!strcmp (f, "latency_ms")) ev.latency_ms = (uint32_t) n;
        if (!strcmp (f, "ttft_ms")) ev.ttft_ms = (uint32_t) n;
        if (!strcmp (f, "http_status")) ev.http_status = (uint32_t) n;
        if (!strcmp (f, "created_ms")) ev.created_ms = n;
        const char *reason = mtr_event_check (&ev, NOW);
        CHECK_MSG ((reason == NULL) == table [i].valid, "case %zu %s: %s", i, f,
                   reason? reason: "valid");
    }
    //  Too long
    mt_test_case ("validation: event_id length bound");
    char long_id [MTR_ID_MAX + 2];
    memset (long_id, 'a', sizeof long_id - 1);
    long_id [sizeof long_id - 1] = 0;
    Mt__UsageEvent ev = s_event (long_id);
    CHECK (mtr_event_check (&ev, NOW) != NULL);
    long_id [MTR_ID_MAX] = 0;
    CHECK (mtr_event_check (&ev, NOW) == NULL);
}

static void
s_quoting (void)
{
    struct { const char *in; const char *out; } table [] = {
        { NULL, "NULL" },
        { "", "\"\"" },
        { "plain", "\"plain\"" },
        { "a\"b", "\"a\\\"b\"" },
        { "back\\slash", "\"back\\\\slash\"" },
        { "{,}", "\"{,}\"" },
        { "NULL", "\"NULL\"" },
        { "it's", "\"it's\"" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mtr_text_t t = { NULL, 0, 0 };
        CHECK_INT (mtr_array_element (&t, table [i].in), 0);
        CHECK_STR (t.buf, table [i].out);
        free (t.buf);
    }
}

static void
s_batch (void)
{
    mtr_batch_t *b = mtr_batch_new ();
    CHECK (b != NULL);
    Mt__UsageEvent e1 = s_event ("e1");
    Mt__UsageEvent e2 = s_event ("e2");
    e2.key_id = "";
    e2.model = "we\"ird\\model";
    e2.prompt_tokens = 7;
    e2.completion_tokens = 0;
    e2.created_ms = 1710072000123ull;
    Mt__UsageEvent e3 = s_event ("e3");
    CHECK_INT (mtr_batch_add (b, &e1, (const uint8_t *) "A", 1), 0);
    CHECK_INT (mtr_batch_add (b, &e2, (const uint8_t *) "A", 1), 0);
    CHECK_INT (mtr_batch_add (b, &e1, (const uint8_t *) "B", 1), 0);  //  resent via B
    CHECK_INT (mtr_batch_add (b, &e3, (const uint8_t *) "B", 1), 0);
    CHECK_INT (mtr_batch_size (b), 4);
    CHECK_INT (mtr_batch_unique (b), 3);
    CHECK_INT (mtr_batch_event (b, 2)->first, 0);
    CHECK (mtr_batch_event (b, 4) == NULL);

    char *p [MTR_PARAMS];
    CHECK_INT (mtr_batch_params (b, -1, p), 3);
    CHECK_STR (p [0], "{\"e1\",\"e2\",\"e3\"}");
    CHECK_STR (p [2], "{\"" KEY "\",NULL,\"" KEY "\"}");
    CHECK_STR (p [3], "{\"sim-small\",\"we\\\"ird\\\\model\",\"sim-small\"}");
    CHECK_STR (p [5], "{12,7,12}");
    CHECK_STR (p [6], "{30,0,30}");
    CHECK_STR (p [7], "{400,400,400}");
    CHECK_STR (p [8], "{40,40,40}");
    CHECK_STR (p [10], "{200,200,200}");
    CHECK_STR (p [11], "{1710071999000,1710072000123,1710071999000}");
    mtr_params_free (p);
    CHECK (p [0] == NULL);

    //  One event alone (the one-by-one fallback)
    CHECK_INT (mtr_batch_params (b, 1, p), 1);
    CHECK_STR (p [0], "{\"e2\"}");
    CHECK_STR (p [2], "{NULL}");
    mtr_params_free (p);

    //  e2 stored, e3 rejected, e1 already in the ledger
    CHECK (mtr_batch_mark (b, "e2", MTR_EV_STORED));
    CHECK (!mtr_batch_mark (b, "e2", MTR_EV_STORED));        //  once
    CHECK (!mtr_batch_mark (b, "nope", MTR_EV_STORED));
    //  Pending rows exclude what is marked
    CHECK_INT (mtr_batch_params (b, -1, p), 2);
    CHECK_STR (p [0], "{\"e1\",\"e3\"}");
    mtr_params_free (p);
    CHECK (mtr_batch_mark (b, "e3", MTR_EV_REJECTED));
    mtr_batch_finish (b);
    CHECK_INT (mtr_batch_event (b, 0)->state, MTR_EV_DUPLICATE);
    CHECK_INT (mtr_batch_event (b, 1)->state, MTR_EV_STORED);
    CHECK_INT (mtr_batch_event (b, 2)->state, MTR_EV_DUPLICATE);
    CHECK_INT (mtr_batch_event (b, 3)->state, MTR_EV_REJECTED);

    //  A repeat of a stored event counts as a duplicate, not stored twice
    mtr_batch_t *c = mtr_batch_new ();
    mtr_batch_add (c, &e1, (const uint8_t *) "A", 1);
    mtr_batch_add (c, &e1, (const uint8_t *) "A", 1);
    CHECK (mtr_batch_mark (c, "e1", MTR_EV_STORED));
    mtr_batch_finish (c);
    CHECK_INT (mtr_batch_event (c, 0)->state, MTR_EV_STORED);
    CHECK_INT (mtr_batch_event (c, 1)->state, MTR_EV_DUPLICATE);
    mtr_batch_destroy (&c);

    //  Empty batch: empty arrays
    mtr_batch_t *d = mtr_batch_new ();
    CHECK_INT (mtr_batch_params (d, -1, p), 0);
    CHECK_STR (p [0], "{}");
    mtr_params_free (p);
    mtr_batch_destroy (&d);

    //  Many events: the array grows
    mtr_batch_t *m = mtr_batch_new ();
    for (int i = 0; i < 1000; i++) {
        char id [16];
        snprintf (id, sizeof id, "m%d", i % 700);
        Mt__UsageEvent ev = s_event (id);
        mtr_batch_add (m, &ev, (const uint8_t *) "A", 1);
    }
    CHECK_INT (mtr_batch_size (m), 1000);
    CHECK_INT (mtr_batch_unique (m), 700);
    CHECK_INT (mtr_batch_params (m, -1, p), 700);
    mtr_params_free (p);
    mtr_batch_destroy (&m);

    //  Routing ids longer than ZeroMQ allows are refused
    uint8_t big [MTR_SENDER_MAX + 1] = { 0 };
    CHECK_INT (mtr_batch_add (b, &e1, big, sizeof big), -1);
    mtr_batch_destroy (&b);
    CHECK (b == NULL);
    mtr_batch_destroy (&b);
}

//  Acknowledgements: one per sender, in first-seen order, with all its ids.
static char s_acks [256];

static void
s_ack_collect (void *arg, const uint8_t *sender, size_t sender_size, char **ids, size_t count)
{
    size_t len = strlen (s_acks);
    snprintf (s_acks + len, sizeof s_acks - len, "%s%.*s:", len? " ": "", (int) sender_size,
              (const char *) sender);
    for (size_t i = 0; i < count; i++) {
        len = strlen (s_acks);
        snprintf (s_acks + len, sizeof s_acks - len, "%s%s", i? ",": "", ids [i]);
    }
    CHECK (arg == s_acks);
}

static void
s_acks_grouped (void)
{
    mtr_batch_t *b = mtr_batch_new ();
    CHECK (b != NULL);
    if (!b)
        return;
    s_acks [0] = 0;
    CHECK_INT (mtr_batch_acks (b, s_ack_collect, s_acks), 0);
    CHECK_STR (s_acks, "");                         //  empty batch: no ack
    const char *rows [][2] = { { "e1", "A" }, { "e2", "B" }, { "e3", "A" }, { "e1", "C" },
                               { "e4", "B" }, { "e1", "A" } };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        Mt__UsageEvent ev = s_event (rows [i][0]);
        CHECK_INT (mtr_batch_add (b, &ev, (const uint8_t *) rows [i][1], 1), 0);
    }
    CHECK_INT (mtr_batch_acks (b, s_ack_collect, s_acks), 0);
    CHECK_STR (s_acks, "A:e1,e3,e1 B:e2,e4 C:e1");
    mtr_batch_destroy (&b);
}

//  Reads deferred while the batch being filled is neither full nor due, and
//  only with the database up: every row a case.
static void
s_defer (void)
{
    struct {
        const char *name;
        bool has_tail;
        size_t size;
        uint64_t started, now, batch_ms;
        bool db_up;
        uint64_t due_in;
        bool defer;
    } table [] = {
        { "no batch filling: read", false, 0, 0, 1000, 20, true, 0, false },
        { "batch just started: defer", true, 1, 1000, 1000, 20, true, 20, true },
        { "batch 19 ms old: defer 1 ms more", true, 5, 1000, 1019, 20, true, 1, true },
        { "batch due: read", true, 5, 1000, 1020, 20, true, 0, false },
        { "batch long overdue: read", true, 5, 1000, 9000, 20, true, 0, false },
        { "batch full: read", true, 500, 1000, 1001, 20, true, 19, false },
        { "database down: read", true, 1, 1000, 1000, 20, false, 20, false },
        { "batch_ms 0: read", true, 1, 1000, 1000, 0, true, 0, false },
        { "replayed batch (started 0): read", true, 3, 0, 1000, 20, true, 0, false },
        { "clock behind the start: defer", true, 1, 1000, 999, 20, true, 20, true },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("defer: %s", table [i].name);
        CHECK_INT ((int) mtr_due_in (table [i].started, table [i].now, table [i].batch_ms),
                   (int) table [i].due_in);
        CHECK_INT (mtr_defer_reads (table [i].has_tail, table [i].size, 500, table [i].started,
                                    table [i].now, table [i].batch_ms, table [i].db_up),
                   table [i].defer);
    }
}

int
main (void)
{
    s_validation ();
    MT_RUN (s_quoting);
    MT_RUN (s_batch);
    MT_RUN (s_acks_grouped);
    s_defer ();
    return mt_test_done ("test_mtr_batch");
}
