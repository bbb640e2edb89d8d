//  Unit tests of the worker's held JobDones (wa_held.c).
#include "mt_test.h"
#include "wa_held.h"

#include <stdio.h>
#include <string.h>

static void
test_may_hold (void)
{
    const struct {
        const char *name;
        wa_held_state_t state;
        bool want;
    } rows [] = {
        { "idle worker of 256",        { 5, 256, 1, 0, false, true }, true },
        { "hold 0: never",             { 0, 256, 1, 0, false, true }, false },
        { "engine down",               { 5, 256, 1, 0, false, false }, false },
        { "jobs waiting",              { 5, 256, 1, 0, true, true }, false },
        { "full hold",                 { 5, 256, 1, WA_HELD_MAX, false, true }, false },
        { "one under the full hold",   { 5, 256, 1, WA_HELD_MAX - 1, false, true }, true },
        { "one slot",                  { 5, 1, 1, 0, false, true }, false },
        { "two slots",                 { 5, 2, 1, 0, false, true }, false },
        { "three slots, one running",  { 5, 3, 1, 0, false, true }, true },
        { "four slots, 1 + 1 held",    { 5, 4, 1, 1, false, true }, false },
        { "eight, 3 + 0: under half",  { 5, 8, 3, 0, false, true }, true },
        { "eight, 3 + 1: half",        { 5, 8, 3, 1, false, true }, false },
        { "256, 127 running",          { 5, 256, 127, 0, false, true }, true },
        { "256, 100 + 28 held: half",  { 5, 256, 100, 28, false, true }, false },
        { "nothing running, 2 slots",  { 5, 2, 0, 0, false, true }, true },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("may_hold: %s", rows [i].name);
        CHECK_MSG (wa_held_may_hold (&rows [i].state) == rows [i].want, "%s: want %d",
                   rows [i].name, rows [i].want);
    }
}

typedef struct {
    char got [512];
    size_t calls;
} s_seen_t;

static void
s_collect (void *arg, const wa_held_done_t *done)
{
    s_seen_t *seen = (s_seen_t *) arg;
    snprintf (seen->got + strlen (seen->got), sizeof seen->got - strlen (seen->got),
              "%s%s/%s/%s/%s/%s/%u/%u/%u/%d", seen->calls? " ": "", done->req_id,
              done->tenant_id, done->reply_token, done->finish_reason, done->error_message,
              done->prompt_tokens, done->completion_tokens, done->ttft_ms, done->error);
    seen->calls++;
}

static void
test_hold_and_drain (void)
{
    wa_held_t *held = wa_held_new (5);
    CHECK (held != NULL);
    CHECK_INT (wa_held_size (held), 0);
    CHECK_INT (wa_held_due (held), 0);
    wa_held_done_t a = { "r1", "t1", "tok1", "stop", "", 10, 16, 3, 0 };
    wa_held_done_t b = { "r2", "t2", NULL, NULL, "engine failed", 7, 0, 0, 7 };
    CHECK_INT (wa_held_add (held, &a, 1000), 0);
    CHECK_INT (wa_held_due (held), 1005);           //  the first sets when they are due
    a.req_id = "changed";                           //  the hold keeps its own copy
    CHECK_INT (wa_held_add (held, &b, 1003), 0);
    CHECK_INT (wa_held_due (held), 1005);           //  a later one does not move it
    CHECK_INT (wa_held_size (held), 2);
    s_seen_t seen = { "", 0 };
    CHECK_INT (wa_held_drain (held, s_collect, &seen), 2);
    CHECK_STR (seen.got, "r1/t1/tok1/stop//10/16/3/0 r2/t2///engine failed/7/0/0/7");
    CHECK_INT (wa_held_size (held), 0);
    CHECK_INT (wa_held_due (held), 0);
    seen = (s_seen_t) { "", 0 };
    CHECK_INT (wa_held_drain (held, s_collect, &seen), 0);
    CHECK_INT (seen.calls, 0);
    CHECK_INT (wa_held_add (held, &b, 2000), 0);    //  due again from the next first one
    CHECK_INT (wa_held_due (held), 2005);
    wa_held_destroy (&held);                        //  drops what it holds
    CHECK (held == NULL);
}

static void
test_full (void)
{
    wa_held_t *held = wa_held_new (5);
    CHECK (held != NULL);
    wa_held_done_t d = { "r", "t", "k", "stop", "", 1, 1, 1, 0 };
    for (size_t i = 0; i < WA_HELD_MAX; i++)
        CHECK_INT (wa_held_add (held, &d, 1), 0);
    CHECK_INT (wa_held_add (held, &d, 1), -1);      //  full: send it at once
    CHECK_INT (wa_held_size (held), WA_HELD_MAX);
    s_seen_t seen = { "", 0 };
    CHECK_INT (wa_held_drain (held, s_collect, &seen), WA_HELD_MAX);
    CHECK_INT (seen.calls, WA_HELD_MAX);
    wa_held_destroy (&held);
    wa_held_destroy (&held);                        //  no-op on NULL
    wa_held_destroy (NULL);
    CHECK_INT (wa_held_size (NULL), 0);
    CHECK_INT (wa_held_due (NULL), 0);
}

int
main (void)
{
    test_may_hold ();
    MT_RUN (test_hold_and_drain);
    MT_RUN (test_full);
    return mt_test_done ("test_wa_held");
}
