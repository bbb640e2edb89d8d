//  Unit tests of the codec's batches: several Envelopes in one ZeroMQ
//  message (mt_codec_send_later, the flushes, receiving them apart).
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_log.h"

#include <stdlib.h>

//  A Cancel whose req_id is id (static storage in the caller).
static Mt__Envelope
s_cancel (Mt__Cancel *cancel, const char *id)
{
    *cancel = (Mt__Cancel) MT__CANCEL__INIT;
    cancel->req_id = (char *) id;
    cancel->tenant_id = "t1";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = cancel;
    return env;
}

static int
s_hold (zsock_t *sock, zframe_t *rid, const char *id, const mt_codec_drop_t *drop)
{
    Mt__Cancel cancel;
    Mt__Envelope env = s_cancel (&cancel, id);
    return mt_codec_send_later (sock, rid, &env, drop);
}

//  One raw message off sock (waits up to 2 s), decoded without taking a
//  Batch apart; its item count in *items (0: a plain Envelope). NULL: none.
static Mt__Envelope *
s_raw (zsock_t *sock, size_t *items)
{
    zsock_set_rcvtimeo (sock, 2000);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    Mt__Envelope *env = NULL;
    if (zmq_msg_recv (&msg, zsock_resolve (sock), 0) >= 0)
        env = mt__envelope__unpack (NULL, zmq_msg_size (&msg), zmq_msg_data (&msg));
    zmq_msg_close (&msg);
    *items = env && env->body_case == MT__ENVELOPE__BODY_BATCH? env->batch->n_envelopes: 0;
    return env;
}

//  Raw messages waiting on sock (none more within 50 ms).
static int
s_raw_count (zsock_t *sock, size_t *items_total)
{
    int n = 0;
    *items_total = 0;
    zsock_set_rcvtimeo (sock, n? 50: 2000);
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        int rc = zmq_msg_recv (&msg, zsock_resolve (sock), 0);
        if (rc < 0) {
            zmq_msg_close (&msg);
            break;
        }
        Mt__Envelope *env = mt__envelope__unpack (NULL, zmq_msg_size (&msg), zmq_msg_data (&msg));
        *items_total += env && env->body_case == MT__ENVELOPE__BODY_BATCH? env->batch->n_envelopes: 1;
        if (env)
            mt__envelope__free_unpacked (env, NULL);
        zmq_msg_close (&msg);
        n++;
        zsock_set_rcvtimeo (sock, 50);
    }
    return n;
}

//  Receive through the codec (waiting up to 2 s): the Cancel's req_id
//  ("" for garbage), NULL when none came.
static const char *
s_recv_id (zsock_t *sock, zframe_t **rid, char *buf, size_t size)
{
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_wait (sock, rid, &env, 2000))
        return NULL;
    snprintf (buf, size, "%s", env && env->body_case == MT__ENVELOPE__BODY_CANCEL
                                ? env->cancel->req_id: "");
    mt_codec_free (&env);
    return buf;
}

//  A batch of one is the plain Envelope, byte for byte; N go as one Batch,
//  in order; batching off: N plain messages.
static void
test_batch_shapes (void)
{
    struct {
        const char *name;
        int n;
        bool batching;
        int messages;
    } rows [] = {
        { "one held: the plain envelope", 1, true, 1 },
        { "five held: one batch", 5, true, 1 },
        { "five held, MT_BUS_BATCH=0: five plain", 5, false, 5 },
    };
    zsock_t *a = zsock_new_pair ("@inproc://batch-shapes");
    zsock_t *b = zsock_new_pair (">inproc://batch-shapes");
    for (size_t r = 0; r < sizeof rows / sizeof rows [0]; r++) {
        mt_test_case ("%s", rows [r].name);
        mt_codec_set_batch (rows [r].batching);
        char ids [8][16];
        for (int i = 0; i < rows [r].n; i++) {
            snprintf (ids [i], sizeof ids [i], "r%d", i);
            CHECK_INT (s_hold (b, NULL, ids [i], NULL), 0);
        }
        CHECK_INT (mt_codec_flush (), 0);
        if (rows [r].n == 1) {
            //  Byte-identical to mt_codec_send's
            Mt__Cancel cancel;
            Mt__Envelope env = s_cancel (&cancel, "r0");
            uint8_t want [64];
            size_t want_size = mt__envelope__pack (&env, want);
            uint8_t got [64];
            zsock_set_rcvtimeo (a, 2000);
            int size = zmq_recv (zsock_resolve (a), got, sizeof got, 0);
            CHECK_INT (size, (int) want_size);
            CHECK (size == (int) want_size && memcmp (got, want, want_size) == 0);
        }
        else {
            size_t items = 0;
            CHECK_INT (s_raw_count (a, &items), rows [r].messages);
            CHECK_INT ((int) items, rows [r].n);
            //  Again, through the codec's receive: every item, in order
            for (int i = 0; i < rows [r].n; i++)
                CHECK_INT (s_hold (b, NULL, ids [i], NULL), 0);
            CHECK_INT (mt_codec_flush (), 0);
            char buf [32];
            for (int i = 0; i < rows [r].n; i++) {
                const char *id = s_recv_id (a, NULL, buf, sizeof buf);
                CHECK_MSG (id && !strcmp (id, ids [i]), "item %d out of order", i);
            }
            Mt__Envelope *env = NULL;
            CHECK_INT (mt_codec_recv_next (a, NULL, &env), 0);
        }
        mt_codec_set_batch (true);
    }
    zsock_destroy (&a);
    zsock_destroy (&b);
}

//  A ROUTER holding for two peers sends each its own batch; a ROUTER
//  receiving a batch gets the sender's routing id with every item.
static void
test_batch_two_peers (void)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    CHECK_INT (zsock_bind (router, "inproc://batch-peers"), 0);
    zsock_t *d1 = zsock_new (ZMQ_DEALER);
    zsock_t *d2 = zsock_new (ZMQ_DEALER);
    zsock_set_identity (d1, "peer-1");
    zsock_set_identity (d2, "peer-2");
    CHECK_INT (zsock_connect (d1, "inproc://batch-peers"), 0);
    CHECK_INT (zsock_connect (d2, "inproc://batch-peers"), 0);
    //  The dealers speak first (as gateways do), as one batch each
    CHECK_INT (s_hold (d1, NULL, "d1-a", NULL), 0);
    CHECK_INT (s_hold (d2, NULL, "d2-a", NULL), 0);
    CHECK_INT (s_hold (d1, NULL, "d1-b", NULL), 0);
    CHECK_INT (mt_codec_flush (), 0);
    const char *want [] = { "d1-a", "d1-b", "d2-a" };
    const char *from [] = { "peer-1", "peer-1", "peer-2" };
    zframe_t *rids [3] = { NULL, NULL, NULL };
    char buf [32];
    bool seen [3] = { false, false, false };
    for (int i = 0; i < 3; i++) {
        zframe_t *rid = NULL;
        const char *id = s_recv_id (router, &rid, buf, sizeof buf);
        CHECK (id && rid);
        for (int k = 0; id && rid && k < 3; k++)
            if (!seen [k] && !strcmp (id, want [k])) {
                CHECK (zframe_streq (rid, from [k]));
                if (k == 1)
                    CHECK (seen [0]);       //  in order within the batch
                seen [k] = true;
                rids [k] = rid;
                rid = NULL;
                break;
            }
        zframe_destroy (&rid);
    }
    CHECK (seen [0] && seen [1] && seen [2]);
    //  Replies interleaved to the two peers: one batch each, in order
    CHECK_INT (s_hold (router, rids [0], "to1-a", NULL), 0);
    CHECK_INT (s_hold (router, rids [2], "to2-a", NULL), 0);
    CHECK_INT (s_hold (router, rids [0], "to1-b", NULL), 0);
    CHECK_INT (s_hold (router, rids [2], "to2-b", NULL), 0);
    CHECK_INT (s_hold (router, rids [0], "to1-c", NULL), 0);
    CHECK_INT (mt_codec_flush (), 0);
    size_t items = 0;
    Mt__Envelope *raw = s_raw (d1, &items);
    CHECK_INT ((int) items, 3);
    CHECK (raw && items == 3 && raw->batch->envelopes [2].len > 0);
    if (raw)
        mt__envelope__free_unpacked (raw, NULL);
    raw = s_raw (d2, &items);
    CHECK_INT ((int) items, 2);
    if (raw)
        mt__envelope__free_unpacked (raw, NULL);
    for (int k = 0; k < 3; k++)
        zframe_destroy (&rids [k]);
    zsock_destroy (&d1);
    zsock_destroy (&d2);
    zsock_destroy (&router);
}

//  Items kept from a batch make mt_codec_poll ready at once and are what
//  mt_codec_recv_wait returns at once, before the socket is read again.
static void
test_batch_pending (void)
{
    zsock_t *a = zsock_new_pair ("@inproc://batch-pending");
    zsock_t *b = zsock_new_pair (">inproc://batch-pending");
    mt_codec_poll_own (a);
    CHECK_INT (s_hold (b, NULL, "p1", NULL), 0);
    CHECK_INT (s_hold (b, NULL, "p2", NULL), 0);
    CHECK_INT (s_hold (b, NULL, "p3", NULL), 0);
    zmq_pollitem_t item = { zsock_resolve (a), 0, ZMQ_POLLIN, 0 };
    CHECK_INT (mt_codec_poll (&item, 1, 2000), 1);      //  the poll flushed b's
    char buf [32];
    const char *id = s_recv_id (a, NULL, buf, sizeof buf);
    CHECK (id && !strcmp (id, "p1"));
    //  Nothing left on the socket itself, yet ready
    item.revents = 0;
    CHECK_INT (mt_codec_poll (&item, 1, 5000), 1);
    CHECK (item.revents & ZMQ_POLLIN);
    Mt__Envelope *env = NULL;
    CHECK_INT (mt_codec_recv_wait (a, NULL, &env, -1), 1);
    CHECK (env && !strcmp (env->cancel->req_id, "p2"));
    mt_codec_free (&env);
    CHECK_INT (mt_codec_recv_next (a, NULL, &env), 1);
    CHECK (env && !strcmp (env->cancel->req_id, "p3"));
    mt_codec_free (&env);
    CHECK_INT (mt_codec_recv_next (a, NULL, &env), 0);
    CHECK_INT (mt_codec_poll (&item, 1, 0), 0);
    //  recv_wait sends what is held only when it has to wait
    CHECK_INT (s_hold (a, NULL, "held", NULL), 0);
    CHECK_INT (mt_codec_recv_wait (a, NULL, &env, 50), 0);
    id = s_recv_id (b, NULL, buf, sizeof buf);
    CHECK (id && !strcmp (id, "held"));
    //  mt_codec_flush_for sends one socket's, keeps the others'
    CHECK_INT (s_hold (a, NULL, "a-kept", NULL), 0);
    CHECK_INT (s_hold (b, NULL, "b-now", NULL), 0);
    mt_codec_flush_for (b);
    id = s_recv_id (a, NULL, buf, sizeof buf);
    CHECK (id && !strcmp (id, "b-now"));
    CHECK_INT (mt_codec_recv_next (b, NULL, &env), 0);
    CHECK_INT ((int) mt_codec_flush (), 0);
    id = s_recv_id (b, NULL, buf, sizeof buf);
    CHECK (id && !strcmp (id, "a-kept"));
    zsock_destroy (&a);
    zsock_destroy (&b);
}

//  Batches sent raw; what the codec's receive returns for each item.
static void
test_batch_garbage (void)
{
    //  Items: 'c' a Cancel, 'g' garbage bytes, 'n' a batch inside,
    //  'u' an envelope with no body
    struct {
        const char *name;
        const char *items;
        const char *want;           //  per receive: 'c' a Cancel, 'x' garbage
    } rows [] = {
        { "empty batch: garbage", "", "x" },
        { "garbage item between good ones", "cgc", "cxc" },
        { "batch in a batch", "cnc", "cxc" },
        { "item with no body", "uc", "xc" },
        { "only garbage", "gg", "xx" },
    };
    zsock_t *a = zsock_new_pair ("@inproc://batch-garbage");
    zsock_t *b = zsock_new_pair (">inproc://batch-garbage");
    for (size_t r = 0; r < sizeof rows / sizeof rows [0]; r++) {
        mt_test_case ("%s", rows [r].name);
        size_t n = strlen (rows [r].items);
        ProtobufCBinaryData items [8];
        uint8_t bufs [8][128];
        for (size_t i = 0; i < n; i++) {
            Mt__Cancel cancel;
            Mt__Envelope env = s_cancel (&cancel, "ok");
            Mt__Batch inner = MT__BATCH__INIT;
            ProtobufCBinaryData one = { 2, (uint8_t *) "\x32\x00" };
            switch (rows [r].items [i]) {
                case 'g':
                    memcpy (bufs [i], "\xff\xff\xff garbage", 11);
                    items [i].len = 11;
                    break;
                case 'n':
                    inner.n_envelopes = 1;
                    inner.envelopes = &one;
                    env.body_case = MT__ENVELOPE__BODY_BATCH;
                    env.batch = &inner;
                    items [i].len = mt__envelope__pack (&env, bufs [i]);
                    break;
                case 'u':
                    items [i].len = 0;
                    break;
                default:
                    items [i].len = mt__envelope__pack (&env, bufs [i]);
            }
            items [i].data = bufs [i];
        }
        Mt__Batch batch = MT__BATCH__INIT;
        batch.n_envelopes = n;
        batch.envelopes = items;
        Mt__Envelope env = MT__ENVELOPE__INIT;
        env.body_case = MT__ENVELOPE__BODY_BATCH;
        env.batch = &batch;
        uint8_t wire [2048];
        size_t size = mt__envelope__pack (&env, wire);
        CHECK_INT (zmq_send (zsock_resolve (b), wire, size, 0), (int) size);
        for (const char *w = rows [r].want; *w; w++) {
            char buf [32];
            const char *id = s_recv_id (a, NULL, buf, sizeof buf);
            CHECK (id != NULL);
            if (id)
                CHECK_MSG (*w == 'c'? !strcmp (id, "ok"): !*id, "receive %zu of \"%s\"",
                           (size_t) (w - rows [r].want), rows [r].want);
        }
        Mt__Envelope *got = NULL;
        CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);
    }
    zsock_destroy (&a);
    zsock_destroy (&b);
}

//  A burst goes out in pieces: at most MT_CODEC_BATCH_ITEMS items and
//  MT_CODEC_BATCH_BYTES bytes a message.
static void
test_batch_caps (void)
{
    struct {
        const char *name;
        int n;
        size_t id_size;
        int messages;
    } rows [] = {
        { "600 small: 256 + 256 + 88", 600, 8, 3 },
        { "3 of 40 KiB: alone each", 3, 40 * 1024, 3 },
        { "4 of 20 KiB: 3 + 1", 4, 20 * 1024, 2 },
    };
    zsock_t *a = zsock_new_pair ("@inproc://batch-caps");
    zsock_t *b = zsock_new_pair (">inproc://batch-caps");
    for (size_t r = 0; r < sizeof rows / sizeof rows [0]; r++) {
        mt_test_case ("%s", rows [r].name);
        char *id = (char *) malloc (rows [r].id_size);
        memset (id, 'x', rows [r].id_size - 1);
        id [rows [r].id_size - 1] = 0;
        for (int i = 0; i < rows [r].n; i++)
            CHECK_INT (s_hold (b, NULL, id, NULL), 0);
        CHECK_INT (mt_codec_flush (), 0);
        size_t items = 0;
        CHECK_INT (s_raw_count (a, &items), rows [r].messages);
        CHECK_INT ((int) items, rows [r].n);
        free (id);
    }
    zsock_destroy (&a);
    zsock_destroy (&b);
}

static int s_drops;
static char s_drop_keys [256];

static void
s_on_drop (void *arg, const char *key)
{
    CHECK (arg == (void *) &s_drops);
    s_drops++;
    strncat (s_drop_keys, key? key: "-", sizeof s_drop_keys - strlen (s_drop_keys) - 1);
}

//  A batch that cannot be sent runs every item's drop handling, at the
//  flush; a socket forgotten drops what is held and kept for it.
static void
test_batch_drops (void)
{
    mt_test_case ("dealer with no peer: every item dropped");
    zsock_t *lone = zsock_new (ZMQ_DEALER);    //  connected to nothing
    s_drops = 0;
    s_drop_keys [0] = 0;
    const char *keys [] = { "k1", "k2", "k3" };
    for (int i = 0; i < 3; i++) {
        mt_codec_drop_t drop = { .label = "test: dropped (expected)", .fn = s_on_drop,
                                 .arg = &s_drops, .key = keys [i] };
        CHECK_INT (s_hold (lone, NULL, keys [i], &drop), 0);
    }
    //  mt_codec_send on it flushes first: callbacks only at mt_codec_flush
    Mt__Cancel cancel;
    Mt__Envelope env = s_cancel (&cancel, "now");
    CHECK_INT (mt_codec_send (lone, NULL, &env), -1);
    CHECK_INT (s_drops, 0);
    zmq_pollitem_t item = { zsock_resolve (lone), 0, ZMQ_POLLIN, 0 };
    CHECK_INT (mt_codec_poll (&item, 1, 5000), 0);      //  due callbacks: no wait
    CHECK_INT ((int) mt_codec_flush (), 3);
    CHECK_INT (s_drops, 3);
    CHECK (!strcmp (s_drop_keys, "k1k2k3"));
    zsock_destroy (&lone);

    mt_test_case ("the drop key is a copy, cut to fit; the tenant only logged");
    lone = zsock_new (ZMQ_DEALER);
    s_drops = 0;
    s_drop_keys [0] = 0;
    char key [100];
    memset (key, 'k', sizeof key - 1);
    key [sizeof key - 1] = 0;
    mt_codec_drop_t cut = { .label = "test: dropped (expected)", .fn = s_on_drop,
                            .arg = &s_drops, .key = key, .tenant = "t1" };
    CHECK_INT (s_hold (lone, NULL, "long", &cut), 0);
    memset (key, 'x', sizeof key - 1);                      //  the caller's buffer moves on
    CHECK_INT ((int) mt_codec_flush (), 1);
    CHECK_INT (s_drops, 1);
    CHECK_INT ((int) strlen (s_drop_keys), MT_CODEC_DROP_TEXT - 1);
    CHECK (strspn (s_drop_keys, "k") == MT_CODEC_DROP_TEXT - 1);
    zsock_destroy (&lone);

    mt_test_case ("router, peer gone (mandatory): every item dropped");
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    zsock_set_router_mandatory (router, 1);
    CHECK_INT (zsock_bind (router, "inproc://batch-mandatory"), 0);
    zframe_t *rid = zframe_from ("nobody");
    s_drops = 0;
    s_drop_keys [0] = 0;
    for (int i = 0; i < 2; i++) {
        mt_codec_drop_t drop = { .fn = s_on_drop, .arg = &s_drops, .key = keys [i] };
        CHECK_INT (s_hold (router, rid, keys [i], &drop), 0);
    }
    CHECK_INT ((int) mt_codec_flush (), 2);
    CHECK_INT (s_drops, 2);
    CHECK (!strcmp (s_drop_keys, "k1k2"));
    zframe_destroy (&rid);
    zsock_destroy (&router);

    mt_test_case ("forget: held and kept items gone");
    zsock_t *a = zsock_new_pair ("@inproc://batch-forget");
    zsock_t *b = zsock_new_pair (">inproc://batch-forget");
    s_drops = 0;
    mt_codec_drop_t drop = { .fn = s_on_drop, .arg = &s_drops, .key = "f" };
    CHECK_INT (s_hold (b, NULL, "f1", &drop), 0);
    mt_codec_forget (b);
    CHECK_INT ((int) mt_codec_flush (), 0);
    CHECK_INT (s_drops, 0);
    Mt__Envelope *got = NULL;
    zclock_sleep (20);
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);      //  never sent
    CHECK_INT (s_hold (b, NULL, "f2", NULL), 0);
    CHECK_INT (s_hold (b, NULL, "f3", NULL), 0);
    CHECK_INT ((int) mt_codec_flush (), 0);
    char buf [32];
    const char *id = s_recv_id (a, NULL, buf, sizeof buf);
    CHECK (id && !strcmp (id, "f2"));
    mt_codec_forget (a);                                    //  f3 kept: gone now
    zmq_pollitem_t pa = { zsock_resolve (a), 0, ZMQ_POLLIN, 0 };
    CHECK_INT (mt_codec_poll (&pa, 1, 0), 0);
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);
    mt_codec_close (&a);
    CHECK (a == NULL);
    mt_codec_close (&b);
}

int
main (void)
{
    mt_log_init ("test_mt_codec_batch");
    test_batch_shapes ();
    MT_RUN (test_batch_two_peers);
    MT_RUN (test_batch_pending);
    test_batch_garbage ();
    test_batch_caps ();
    test_batch_drops ();
    return mt_test_done ("test_mt_codec_batch");
}
