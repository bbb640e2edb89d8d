//  Unit tests of the gateway's side of metering (gw_meter.c): what it sends,
//  what it keeps until acknowledged, resends, drops at its limit, and what a
//  spool file gives back to a restarted gateway. Metering is a PAIR socket
//  over inproc; the clock is passed in.
#include "mt_test.h"
#include "gw_meter.h"

#include "mt_codec.h"
#include "mt_spool.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    zsock_t *gw;                    //  the meter's side
    zsock_t *metering;              //  what metering receives
} s_pair_t;

static void
s_pair (s_pair_t *p, const char *name)
{
    char ep [64];
    snprintf (ep, sizeof ep, "inproc://meter-%s", name);
    p->metering = mt_codec_socket (ZMQ_PAIR);
    p->gw = mt_codec_socket (ZMQ_PAIR);
    zsock_bind (p->metering, "%s", ep);
    zsock_connect (p->gw, "%s", ep);
}

static void
s_unpair (s_pair_t *p)
{
    mt_codec_flush ();              //  nothing held for a socket that is gone
    mt_codec_close (&p->gw);
    mt_codec_close (&p->metering);
}

//  Usage events metering received until none waits; the last one's id.
static size_t
s_received (s_pair_t *p, char *last_id, size_t size)
{
    size_t n = 0;
    Mt__Envelope *env = NULL;
    mt_codec_flush ();              //  as the gateway's loop does after each turn
    //  The codec's own wait: it sees a Batch's items kept after the first
    while (mt_codec_recv_wait (p->metering, NULL, &env, 50)) {
        if (env && env->body_case == MT__ENVELOPE__BODY_USAGE_EVENT) {
            n++;
            if (last_id)
                snprintf (last_id, size, "%s", env->usage_event->event_id);
        }
        mt_codec_free (&env);
    }
    return n;
}

static gw_usage_t
s_event (const char *id, uint32_t completion)
{
    gw_usage_t u;
    memset (&u, 0, sizeof u);
    snprintf (u.event_id, sizeof u.event_id, "%s", id);
    snprintf (u.tenant_id, sizeof u.tenant_id, "%s", "00000000-0000-4000-8000-000000000001");
    snprintf (u.status, sizeof u.status, "%s", "ok");
    u.prompt_tokens = 3;
    u.completion_tokens = completion;
    return u;
}

static void
test_emit_ack (void)
{
    s_pair_t p;
    s_pair (&p, "emit");
    gw_meter_t *meter = gw_meter_new (p.gw, 10, 100);
    CHECK (meter != NULL);
    gw_usage_t u = s_event ("chatcmpl-a", 5);
    CHECK_INT (gw_meter_emit (meter, &u, 1000), 0);
    char id [48] = "";
    CHECK_INT (s_received (&p, id, sizeof id), 1);
    CHECK_STR (id, "chatcmpl-a");
    CHECK_INT (gw_meter_pending (meter), 1);
    //  The same id again: sent all the same, kept once
    CHECK_INT (gw_meter_emit (meter, &u, 1001), 0);
    CHECK_INT (s_received (&p, NULL, 0), 1);
    CHECK_INT (gw_meter_pending (meter), 1);
    char *ids [] = { "chatcmpl-a", "chatcmpl-unknown" };
    gw_meter_ack (meter, ids, 2);
    CHECK_INT (gw_meter_pending (meter), 0);
    gw_meter_sync (meter);                      //  no spool: nothing to do
    gw_meter_destroy (&meter);
    CHECK (meter == NULL);
    gw_meter_destroy (&meter);                  //  no-op on NULL
    s_unpair (&p);
}

//  One row a moment: what is resent of an event sent at 1000 (resend 100 ms).
static void
test_resend (void)
{
    struct { uint64_t now; size_t resent; } rows [] = {
        { 1050, 0 },                //  too early
        { 1100, 1 },                //  due
        { 1150, 0 },                //  sent again at 1100: not due yet
        { 1300, 1 },
    };
    s_pair_t p;
    s_pair (&p, "resend");
    gw_meter_t *meter = gw_meter_new (p.gw, 10, 100);
    gw_usage_t u = s_event ("chatcmpl-r", 1);
    gw_meter_emit (meter, &u, 1000);
    s_received (&p, NULL, 0);
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("resend at %llu", (unsigned long long) rows [i].now);
        CHECK_INT (gw_meter_resend (meter, rows [i].now, 10), rows [i].resent);
        CHECK_INT (s_received (&p, NULL, 0), rows [i].resent);
    }
    gw_meter_destroy (&meter);
    s_unpair (&p);
}

static void
test_limit (void)
{
    s_pair_t p;
    s_pair (&p, "limit");
    gw_meter_t *meter = gw_meter_new (p.gw, 2, 100);
    gw_usage_t a = s_event ("a", 1), b = s_event ("b", 1), c = s_event ("c", 1);
    CHECK_INT (gw_meter_emit (meter, &a, 1), 0);
    CHECK_INT (gw_meter_emit (meter, &b, 1), 0);
    CHECK_INT (gw_meter_emit (meter, &c, 1), -1);   //  dropped: not sent
    CHECK_INT (s_received (&p, NULL, 0), 2);
    CHECK_INT (gw_meter_pending (meter), 2);
    char *ids [] = { "a" };
    gw_meter_ack (meter, ids, 1);
    CHECK_INT (gw_meter_emit (meter, &c, 2), 0);    //  room again
    CHECK_INT (gw_meter_pending (meter), 2);
    gw_meter_destroy (&meter);
    s_unpair (&p);
}

//  A gateway that stops with events unacknowledged: the next one sends them
//  again from the spool; once acknowledged, the spool is empty.
static void
test_spool (void)
{
    char dir [] = "/tmp/test-gw-meter-XXXXXX";
    CHECK (mkdtemp (dir) != NULL);
    char path [128];
    snprintf (path, sizeof path, "%s/usage.spool", dir);
    s_pair_t p;
    s_pair (&p, "spool");
    gw_meter_t *meter = gw_meter_new (p.gw, 10, 100);
    CHECK_INT (gw_meter_spool (meter, path), 0);
    gw_usage_t a = s_event ("chatcmpl-s1", 7), b = s_event ("chatcmpl-s2", 8);
    gw_meter_emit (meter, &a, 1);
    gw_meter_emit (meter, &b, 1);
    gw_meter_sync (meter);
    CHECK_INT (s_received (&p, NULL, 0), 2);
    gw_meter_destroy (&meter);                  //  stopped unacknowledged

    meter = gw_meter_new (p.gw, 10, 100);
    CHECK_INT (gw_meter_spool (meter, path), 0);
    CHECK_INT (gw_meter_pending (meter), 2);
    CHECK_INT (s_received (&p, NULL, 0), 2);    //  owed again
    char *ids [] = { "chatcmpl-s1", "chatcmpl-s2" };
    gw_meter_ack (meter, ids, 2);
    CHECK_INT (gw_meter_pending (meter), 0);
    struct stat st;
    CHECK (stat (path, &st) == 0 && st.st_size == 0);
    gw_meter_destroy (&meter);

    meter = gw_meter_new (p.gw, 10, 100);       //  nothing owed any more
    CHECK_INT (gw_meter_spool (meter, path), 0);
    CHECK_INT (gw_meter_pending (meter), 0);
    gw_meter_destroy (&meter);
    //  A spool that cannot be opened
    meter = gw_meter_new (p.gw, 10, 100);
    CHECK_INT (gw_meter_spool (meter, "/nonexistent-dir/usage.spool"), -1);
    gw_meter_destroy (&meter);
    s_unpair (&p);
    unlink (path);
    rmdir (dir);
}

//  Held events go together: once the oldest has waited the hold (10 ms
//  here), once the most are held (3), or when forced; each is pending from
//  its emission, and the wait until the batch is due bounds the loop's.
static void
test_hold (void)
{
    s_pair_t p;
    s_pair (&p, "hold");
    gw_meter_t *meter = gw_meter_new (p.gw, 10, 100);
    gw_meter_hold (meter, 10, 3);
    CHECK_INT (gw_meter_held_wait (meter, 1000), -1);      //  none held
    CHECK_INT (gw_meter_send_held (meter, 1000, true), 0);
    gw_usage_t u = s_event ("chatcmpl-h1", 5);
    CHECK_INT (gw_meter_emit (meter, &u, 1000), 0);
    u = s_event ("chatcmpl-h2", 5);
    CHECK_INT (gw_meter_emit (meter, &u, 1004), 0);
    CHECK_INT (gw_meter_pending (meter), 2);
    CHECK_INT (s_received (&p, NULL, 0), 0);                //  held
    CHECK_INT (gw_meter_held_wait (meter, 1004), 6);        //  due at 1010, the oldest's
    CHECK_INT (gw_meter_send_held (meter, 1009, false), 0);
    CHECK_INT (gw_meter_held_wait (meter, 1012), 0);
    CHECK_INT (gw_meter_send_held (meter, 1010, false), 2);
    char id [48] = "";
    CHECK_INT (s_received (&p, id, sizeof id), 2);
    CHECK_STR (id, "chatcmpl-h2");                          //  in the order emitted
    CHECK_INT (gw_meter_held_wait (meter, 1010), -1);
    //  The most held: due at once
    for (int i = 0; i < 3; i++) {
        char name [32];
        snprintf (name, sizeof name, "chatcmpl-m%d", i);
        u = s_event (name, 1);
        CHECK_INT (gw_meter_emit (meter, &u, 2000), 0);
    }
    CHECK_INT (gw_meter_send_held (meter, 2000, false), 3);
    CHECK_INT (s_received (&p, NULL, 0), 3);
    //  Forced (a stop): sent whatever their age
    u = s_event ("chatcmpl-f", 1);
    CHECK_INT (gw_meter_emit (meter, &u, 3000), 0);
    CHECK_INT (gw_meter_send_held (meter, 3000, true), 1);
    CHECK_INT (s_received (&p, id, sizeof id), 1);
    CHECK_STR (id, "chatcmpl-f");
    CHECK_INT (gw_meter_pending (meter), 6);
    //  Without a hold: sent at once, as before
    gw_meter_hold (meter, 0, 0);
    u = s_event ("chatcmpl-now", 1);
    CHECK_INT (gw_meter_emit (meter, &u, 4000), 0);
    CHECK_INT (gw_meter_held_wait (meter, 4000), -1);
    CHECK_INT (s_received (&p, NULL, 0), 1);
    gw_meter_destroy (&meter);
    s_unpair (&p);
}

int
main (void)
{
    MT_RUN (test_emit_ack);
    MT_RUN (test_hold);
    test_resend ();
    MT_RUN (test_limit);
    MT_RUN (test_spool);
    return mt_test_done ("test_gw_meter");
}
