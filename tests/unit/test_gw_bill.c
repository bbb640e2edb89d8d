//  Unit tests of the gateway's billing policy and usage queue (gw_bill):
//  one row per way a job can end.
#include "mt_test.h"
#include "../../services/auth-gateway/gw_bill.h"

#include <stdio.h>

#define NONE    MT__ERROR_CODE__ERR_NONE
#define CANCEL  MT__ERROR_CODE__ERR_CANCELLED
#define ENGINE  MT__ERROR_CODE__ERR_ENGINE
#define LOST    MT__ERROR_CODE__ERR_WORKER_LOST

//  Request flags
#define STREAM  1
#define GONE    2
#define TIMEOUT 4
#define DAILY   8

typedef struct {
    const char *name;
    int flags;
    uint32_t estimate, max_tokens, granted, relayed;    //  the request
    Mt__ErrorCode error;                                //  the job's report
    uint32_t prompt, completion;
    //  want
    uint32_t w_prompt, w_completion;
    const char *w_status;
    unsigned int w_http;
    bool w_clamped;
} s_row_t;

static const s_row_t s_rows [] = {
    { "ok, not streamed",                      0, 10, 100, 100, 20, NONE, 11, 20, 11, 20, "ok", 200, false },
    { "ok, streamed (finish length)",     STREAM, 10,  20,  20, 20, NONE, 11, 20, 11, 20, "ok", 200, false },
    { "client gone, not streamed",          GONE, 10, 100, 100,  5, CANCEL, 11, 6, 11, 6, "cancelled", 499, false },
    { "client gone, streamed",     STREAM | GONE, 10, 100, 100,  5, CANCEL, 11, 5, 11, 5, "cancelled", 499, false },
    { "client gone, job ended ok",          GONE, 10, 100, 100,  9, NONE, 11, 9, 11, 9, "ok", 499, false },
    { "engine error, not streamed: nothing", 0, 10, 100, 100,  3, ENGINE, 11, 3, 0, 0, "error", 502, false },
    { "engine error, streamed",           STREAM, 10, 100, 100,  3, ENGINE, 11, 3, 11, 3, "error", 200, false },
    { "worker lost, streamed, no report", STREAM, 10, 100, 100,  7, LOST, 0, 0, 10, 7, "error", 200, false },
    { "worker lost, not streamed: nothing",    0, 10, 100, 100,  4, LOST, 0, 0, 0, 0, "error", 502, false },
    { "worker lost, engine's prompt kept", STREAM, 10, 100, 100, 5, LOST, 12, 3, 12, 5, "error", 200, false },
    { "worker lost before any token",     STREAM, 10, 100, 100,  0, LOST, 0, 0, 0, 0, "error", 200, false },
    { "request timeout, not streamed: nothing", TIMEOUT, 10, 100, 100, 6, CANCEL, 11, 6, 0, 0, "cancelled", 503, false },
    { "timeout, not streamed, 503 sent", TIMEOUT | GONE, 10, 100, 100, 6, CANCEL, 11, 6, 0, 0, "cancelled", 503, false },
    { "at the quota, error, not streamed", DAILY, 10, 100,   5,  5, ENGINE, 14, 5, 0, 0, "error", 502, false },
    { "request timeout, streamed", STREAM | TIMEOUT, 10, 100, 100, 6, CANCEL, 11, 6, 11, 6, "cancelled", 200, false },
    { "at the daily quota: clamped",       DAILY, 10, 100,   5,  5, NONE, 14, 5, 10, 5, "ok", 200, true },
    { "at the quota, engine overran",      DAILY, 10, 100,   5,  5, NONE, 10, 8, 10, 5, "ok", 200, true },
    { "at the quota, within the grant",    DAILY, 10, 100,   5,  3, NONE, 11, 3, 11, 3, "ok", 200, false },
    { "daily limit, full grant: no clamp", DAILY, 10,   5,   5,  5, NONE, 14, 5, 14, 5, "ok", 200, false },
    { "no daily limit: no clamp",              0, 10, 100,   5,  5, NONE, 14, 5, 14, 5, "ok", 200, false },
};

static void
s_done_rows (void)
{
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows [0]; i++) {
        const s_row_t *r = &s_rows [i];
        mt_test_case ("done: %s", r->name);
        gw_bill_req_t req = {
            .stream = r->flags & STREAM, .client_gone = r->flags & GONE,
            .timed_out = r->flags & TIMEOUT, .daily_limited = r->flags & DAILY,
            .prompt_estimate = r->estimate, .max_tokens = r->max_tokens, .granted = r->granted,
            .relayed = r->relayed,
        };
        gw_bill_job_t job = { .error = r->error, .prompt_tokens = r->prompt,
                              .completion_tokens = r->completion };
        gw_bill_t bill;
        gw_bill_done (&req, &job, &bill);
        CHECK_INT (bill.prompt_tokens, r->w_prompt);
        CHECK_INT (bill.completion_tokens, r->w_completion);
        CHECK_INT (bill.used, (uint64_t) r->w_prompt + r->w_completion);
        CHECK_STR (bill.status, r->w_status);
        CHECK_INT (bill.http_status, r->w_http);
        CHECK_INT (bill.clamped, r->w_clamped);
        CHECK (bill.emit);
        CHECK (!bill.refused);
    }
}

static void
s_lost_rows (void)
{
    struct { const char *name; int flags; uint32_t relayed; bool emit; uint64_t used; } rows [] = {
        { "nothing relayed: reservation released", 0, 0, false, 0 },
        { "tokens relayed, streamed: billed as error", STREAM, 4, true, 14 },
        { "tokens relayed, not streamed: nothing (the client got a 503)", 0, 2, false, 0 },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("lost: %s", rows [i].name);
        gw_bill_req_t req = { .stream = rows [i].flags & STREAM, .timed_out = true,
                              .prompt_estimate = 10, .max_tokens = 100, .granted = 100,
                              .relayed = rows [i].relayed };
        gw_bill_t bill;
        gw_bill_lost (&req, &bill);
        CHECK_INT (bill.emit, rows [i].emit);
        CHECK_INT (bill.refused, !rows [i].emit);
        CHECK_INT (bill.used, rows [i].used);
        if (rows [i].emit) {
            CHECK_STR (bill.status, "error");
            CHECK_INT (bill.http_status, 503);
            CHECK_INT (bill.prompt_tokens, 10);
            CHECK_INT (bill.completion_tokens, rows [i].relayed);
        }
    }
}

static int s_sent;

static void
s_count_send (void *arg, gw_usage_t *u)
{
    s_sent++;
    CHECK (arg == &s_sent);
    CHECK (u->event_id [0] == 'e');
}

static gw_usage_t
s_event (const char *id)
{
    gw_usage_t u = { 0 };
    snprintf (u.event_id, sizeof u.event_id, "%s", id);
    snprintf (u.status, sizeof u.status, "ok");
    return u;
}

//  Kept until acknowledged, resent after resend_ms, at most max at once.
static void
s_usage_queue (void)
{
    gw_usageq_t *q = gw_usageq_new (3, 3000);
    CHECK (q != NULL);
    if (!q)
        return;
    gw_usage_t a = s_event ("e1"), b = s_event ("e2"), c = s_event ("e3"), d = s_event ("e4");
    gw_usage_t *kept = gw_usageq_add (q, &a, 1000);
    CHECK (kept && kept != &a && kept->sent_ms == 1000);
    CHECK (gw_usageq_add (q, &a, 1000) == NULL);         //  same id twice
    CHECK (gw_usageq_add (q, &b, 2000) != NULL);
    CHECK (gw_usageq_add (q, &c, 2500) != NULL);
    CHECK (gw_usageq_add (q, &d, 2500) == NULL);         //  full
    CHECK_INT (gw_usageq_size (q), 3);
    s_sent = 0;
    CHECK_INT (gw_usageq_resend (q, 3999, 100, s_count_send, &s_sent), 0);
    CHECK_INT (gw_usageq_resend (q, 4000, 100, s_count_send, &s_sent), 1);     //  e1
    CHECK_INT (gw_usageq_resend (q, 5000, 100, s_count_send, &s_sent), 1);     //  e2
    CHECK_INT (gw_usageq_resend (q, 9000, 1, s_count_send, &s_sent), 1);       //  at most 1
    CHECK_INT (gw_usageq_resend (q, 9000, 100, s_count_send, &s_sent), 2);     //  the other two
    CHECK_INT (s_sent, 5);
    gw_usageq_ack (q, "e2");
    gw_usageq_ack (q, "e2");                                //  twice: no harm
    gw_usageq_ack (q, "unknown");
    gw_usageq_ack (q, NULL);
    CHECK_INT (gw_usageq_size (q), 2);
    CHECK (gw_usageq_add (q, &d, 9000) != NULL);          //  room again
    gw_usageq_destroy (&q);
    CHECK (q == NULL);
    gw_usageq_destroy (&q);
}

int
main (void)
{
    s_done_rows ();
    s_lost_rows ();
    MT_RUN (s_usage_queue);
    return mt_test_done ("test_gw_bill");
}
