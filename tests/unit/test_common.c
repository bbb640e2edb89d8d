//  Unit tests of common/: codec, config table, tokens, errors, time helpers.
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_config.h"
#include "mt_errors.h"
#include "mt_buf.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void
test_codec (void)
{
    Mt__Envelope env = MT__ENVELOPE__INIT;
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "req-1";
    cancel.tenant_id = "t-1";
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    uint8_t buf [256];
    size_t n = mt__envelope__pack (&env, buf);
    Mt__Envelope *back = mt_codec_decode (buf, n);
    CHECK (back != NULL);
    if (back) {
        CHECK_INT (back->body_case, MT__ENVELOPE__BODY_CANCEL);
        CHECK_STR (back->cancel->req_id, "req-1");
        CHECK_STR (mt_codec_body_name (back), "cancel");
    }
    mt_codec_free (&back);
    CHECK (back == NULL);

    //  Garbage, empty and oversized input never decode
    struct { const char *bytes; size_t size; } bad [] = {
        { "", 0 },
        { "\xff\xff\xff\xff", 4 },
        { "garbage on the wire", 19 },
        { "\x0a\x05", 2 },               //  truncated field
        { "\x08\x01", 2 },               //  valid varint, unknown field, no body
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        Mt__Envelope *e = mt_codec_decode ((const uint8_t *) bad [i].bytes, bad [i].size);
        CHECK_MSG (e == NULL, "case %zu decoded", i);
        mt_codec_free (&e);
    }
}

static void
test_config (void)
{
    mt_opt_t opts [] = {
        { "port", "MT_TEST_PORT", MT_OPT_INT, "8080", 1, 65535, "" },
        { "name", "MT_TEST_NAME", MT_OPT_STRING, "x", 0, 0, "" },
        { "on", "MT_TEST_ON", MT_OPT_BOOL, "false", 0, 0, "" },
        { NULL }
    };
    char *argv1 [] = { "prog", NULL };
    unsetenv ("MT_TEST_PORT");
    CHECK_INT (mt_config_load (opts, 1, argv1), 0);
    CHECK_INT (mt_config_int (opts, "port"), 8080);
    setenv ("MT_TEST_PORT", "9000", 1);
    CHECK_INT (mt_config_load (opts, 1, argv1), 0);
    CHECK_INT (mt_config_int (opts, "port"), 9000);
    char *argv2 [] = { "prog", "--port=9100", "--name", "y", "--on", NULL };
    CHECK_INT (mt_config_load (opts, 5, argv2), 0);
    CHECK_INT (mt_config_int (opts, "port"), 9100);
    CHECK_STR (mt_config_str (opts, "name"), "y");
    CHECK_INT (mt_config_int (opts, "on"), 1);
    struct { const char *env; int rc; } table [] = {
        { "0", -1 }, { "70000", -1 }, { "12ab", -1 }, { "", -1 }, { "1", 0 }, { "65535", 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        setenv ("MT_TEST_PORT", table [i].env, 1);
        CHECK_MSG (mt_config_load (opts, 1, argv1) == table [i].rc, "port=%s", table [i].env);
    }
    unsetenv ("MT_TEST_PORT");
    char *argv3 [] = { "prog", "--nope=1", NULL };
    CHECK_INT (mt_config_load (opts, 2, argv3), -1);
    mt_opt_t req [] = { { "dsn", "MT_TEST_DSN_UNSET", MT_OPT_STRING, NULL, 0, 0, "" }, { NULL } };
    CHECK_INT (mt_config_load (req, 1, argv1), -1);
}

static void
test_tokens (void)
{
    struct { const char *text; uint32_t tokens; } table [] = {
        { "", 0 }, { "   ", 0 }, { "hi", 1 }, { "hello", 2 }, { "hello world", 4 },
        { "a, b.", 4 }, { "abcd", 1 }, { "abcdefgh", 2 }, { "abcdefghi", 3 },
        { "What is 2+2?", 6 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        uint32_t n = mt_tokens_count (table [i].text, strlen (table [i].text));
        CHECK_MSG (n == table [i].tokens, "\"%s\" -> %u want %u", table [i].text, n, table [i].tokens);
    }
}

static void
test_errors (void)
{
    const mt_error_t *e = mt_error_lookup ("invalid_api_key");
    CHECK_INT (e->status, 401);
    CHECK_INT (mt_error_lookup ("no_such_code")->status, 500);
    CHECK_INT (mt_error_from_proto (MT__ERROR_CODE__ERR_QUOTA)->status, 429);
    CHECK_INT (mt_error_from_proto (MT__ERROR_CODE__ERR_CONCURRENCY)->status, 429);
    CHECK_INT (mt_error_from_proto (MT__ERROR_CODE__ERR_NO_CAPACITY)->status, 503);
    char *body = mt_error_body (mt_error_lookup ("quota_exceeded"), NULL, NULL, "2026-01-02T00:00:00Z");
    CHECK (body && strstr (body, "\"code\":\"quota_exceeded\""));
    CHECK (body && strstr (body, "\"type\":\"insufficient_quota\""));
    CHECK (body && strstr (body, "\"param\":null"));
    CHECK (body && strstr (body, "\"reset_at\":\"2026-01-02T00:00:00Z\""));
    free (body);
    body = mt_error_body (mt_error_lookup ("rate_limit_exceeded_tokens"), "x \"quoted\"", "messages", NULL);
    CHECK (body && strstr (body, "\"code\":\"rate_limit_exceeded\""));
    CHECK (body && strstr (body, "\"type\":\"tokens\""));
    CHECK (body && strstr (body, "x \\\"quoted\\\""));
    free (body);
}

static void
test_time_ids (void)
{
    char out [21];
    mt_next_midnight_utc (1767225600000ull + 5000, out);        //  2026-01-01T00:00:05Z
    CHECK_STR (out, "2026-01-02T00:00:00Z");
    mt_next_midnight_utc (1767225600000ull - 1, out);           //  2025-12-31T23:59:59.999Z
    CHECK_STR (out, "2026-01-01T00:00:00Z");
    CHECK_INT (mt_day_start_ms (1767225600000ull + 86399999ull), 1767225600000ull);
    char key [MT_KEY_LEN + 1], key2 [MT_KEY_LEN + 1];
    CHECK_INT (mt_key_generate (key), 0);
    CHECK_INT (mt_key_generate (key2), 0);
    CHECK_INT (strlen (key), MT_KEY_LEN);
    CHECK (strncmp (key, "sk-mt-", 6) == 0);
    CHECK (strcmp (key, key2) != 0);
    char hash [65];
    mt_sha256_hex ("abc", 3, hash);
    CHECK_STR (hash, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char uuid [37];
    mt_uuid (uuid);
    CHECK (mt_is_uuid (uuid));
    CHECK (!mt_is_uuid ("not-a-uuid"));
    CHECK (!mt_is_uuid (NULL));
}

//  mt_codec_poll: sockets (owned by the codec or not) and a plain fd; a
//  socket found idle and untouched is not looked at before the wait, yet a
//  message that arrives during the wait is seen.
static void
test_codec_poll (void)
{
    zsock_t *a = zsock_new_pair ("@inproc://test-codec-poll");
    zsock_t *b = zsock_new_pair (">inproc://test-codec-poll");
    zsock_t *c = zsock_new_pair ("@inproc://test-codec-poll-2");
    zsock_t *d = zsock_new_pair (">inproc://test-codec-poll-2");
    CHECK (a && b && c && d);
    mt_codec_poll_own (a);
    int fds [2];
    CHECK_INT (pipe (fds), 0);
    zmq_pollitem_t items [] = {
        { zsock_resolve (a), 0, ZMQ_POLLIN, 0 },
        { zsock_resolve (c), 0, ZMQ_POLLIN, 0 },
        { NULL, fds [0], ZMQ_POLLIN, 0 },
    };
    CHECK_INT (mt_codec_poll (items, 3, 0), 0);             //  nothing yet
    CHECK_INT (mt_codec_poll (items, 3, 10), 0);            //  a quiet now: still nothing
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "r1";
    cancel.tenant_id = "t1";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    CHECK_INT (mt_codec_send (b, NULL, &env), 0);
    CHECK_INT (mt_codec_poll (items, 3, 2000), 1);          //  seen though a was quiet
    CHECK (items [0].revents & ZMQ_POLLIN);
    CHECK_INT (items [1].revents | items [2].revents, 0);
    Mt__Envelope *got = NULL;
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 1);
    CHECK (got && got->body_case == MT__ENVELOPE__BODY_CANCEL && !strcmp (got->cancel->req_id, "r1"));
    mt_codec_free (&got);
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);      //  drained
    CHECK_INT (mt_codec_poll (items, 3, 0), 0);
    //  Two at once on a socket not owned, and the plain fd
    CHECK_INT (mt_codec_send (d, NULL, &env), 0);
    CHECK_INT (mt_codec_send (b, NULL, &env), 0);
    CHECK_INT (write (fds [1], "x", 1), 1);
    int n = 0;
    for (int i = 0; i < 20 && n < 3; i++)                   //  inproc delivery is not instant
        n = mt_codec_poll (items, 3, 100);
    CHECK_INT (n, 3);
    CHECK (items [2].revents & ZMQ_POLLIN);
    //  A call outside the codec on an owned socket (czmq's zsock_events here)
    //  takes the wake-up from its mailbox: said with mt_codec_poll_touched,
    //  the next poll looks at the socket and sees the message
    while (mt_codec_recv_next (a, NULL, &got))
        mt_codec_free (&got);
    CHECK_INT (mt_codec_poll (items, 1, 0), 0);             //  a quiet again
    CHECK_INT (mt_codec_send (b, NULL, &env), 0);
    for (int i = 0; i < 20 && !(zsock_events (a) & ZMQ_POLLIN); i++)
        zclock_sleep (10);
    mt_codec_poll_touched (a);
    CHECK_INT (mt_codec_poll (items, 1, 0), 1);
    CHECK (items [0].revents & ZMQ_POLLIN);
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 1);
    mt_codec_free (&got);
    close (fds [0]);
    close (fds [1]);
    zsock_destroy (&a);
    zsock_destroy (&b);
    zsock_destroy (&c);
    zsock_destroy (&d);
}

//  Held messages go out at the flush, or before a message sent at once on
//  the same socket: each socket's order stays the order of the calls.
static void
test_codec_send_later (void)
{
    zsock_t *a = zsock_new_pair ("@inproc://test-codec-later");
    zsock_t *b = zsock_new_pair (">inproc://test-codec-later");
    CHECK (a && b);
    const char *ids [] = { "held-1", "now-2", "held-3", "held-4" };
    Mt__Cancel cancel [4];
    Mt__Envelope env [4];
    for (int i = 0; i < 4; i++) {
        cancel [i] = (Mt__Cancel) MT__CANCEL__INIT;
        cancel [i].req_id = (char *) ids [i];
        cancel [i].tenant_id = "t1";
        env [i] = (Mt__Envelope) MT__ENVELOPE__INIT;
        env [i].body_case = MT__ENVELOPE__BODY_CANCEL;
        env [i].cancel = &cancel [i];
    }
    CHECK_INT (mt_codec_send_later (b, NULL, &env [0], NULL), 0);
    zclock_sleep (20);
    Mt__Envelope *got = NULL;
    CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);      //  held: nothing sent yet
    CHECK_INT (mt_codec_send (b, NULL, &env [1]), 0);        //  the held one first
    CHECK_INT (mt_codec_send_later (b, NULL, &env [2], NULL), 0);
    CHECK_INT (mt_codec_send_later (b, NULL, &env [3], &(mt_codec_drop_t) { .label = "never logged" }), 0);
    CHECK_INT (mt_codec_flush (), 0);
    CHECK_INT (mt_codec_flush (), 0);                       //  nothing left
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 50 && !(zsock_events (a) & ZMQ_POLLIN); k++)
            zclock_sleep (10);
        CHECK_INT (mt_codec_recv_next (a, NULL, &got), 1);
        CHECK_MSG (got && !strcmp (got->cancel->req_id, ids [i]), "message %d out of order", i);
        mt_codec_free (&got);
    }
    zsock_destroy (&a);
    zsock_destroy (&b);
}

//  An empty receive leaves an owned socket marked idle (no look before the
//  next wait), yet what arrives after it, or during the wait, is seen.
static void
test_codec_idle_after_empty_recv (void)
{
    zsock_t *a = zsock_new_pair ("@inproc://test-codec-idle");
    zsock_t *b = zsock_new_pair (">inproc://test-codec-idle");
    CHECK (a && b);
    mt_codec_poll_own (a);
    zmq_pollitem_t item = { zsock_resolve (a), 0, ZMQ_POLLIN, 0 };
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "r1";
    cancel.tenant_id = "t1";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    Mt__Envelope *got = NULL;
    for (int round = 0; round < 3; round++) {
        CHECK_INT (mt_codec_recv_next (a, NULL, &got), 0);  //  empty: idle now
        CHECK_INT (mt_codec_send (b, NULL, &env), 0);       //  then a message comes
        int n = 0;
        for (int i = 0; i < 20 && n == 0; i++)
            n = mt_codec_poll (&item, 1, 100);
        CHECK_INT (n, 1);
        CHECK_INT (mt_codec_recv_next (a, NULL, &got), 1);
        mt_codec_free (&got);
        //  Two sent back to back, one read: the second is still seen
        CHECK_INT (mt_codec_send (b, NULL, &env), 0);
        CHECK_INT (mt_codec_send (b, NULL, &env), 0);
        for (int i = 0; i < 20 && !mt_codec_recv_next (a, NULL, &got); i++)
            zclock_sleep (10);
        mt_codec_free (&got);
        CHECK_INT (mt_codec_poll (&item, 1, 1000), 1);
        CHECK_INT (mt_codec_recv_next (a, NULL, &got), 1);
        mt_codec_free (&got);
    }
    zsock_destroy (&a);
    zsock_destroy (&b);
}

//  getpid () is the kernel's answer, in this process and in a fork's child.
static void
test_getpid (void)
{
    CHECK_INT (getpid (), (pid_t) syscall (SYS_getpid));
    CHECK_INT (getpid (), getpid ());
    int fds [2];
    CHECK_INT (pipe (fds), 0);
    pid_t child = fork ();
    if (child == 0) {
        pid_t pids [2] = { getpid (), (pid_t) syscall (SYS_getpid) };
        ssize_t w = write (fds [1], pids, sizeof pids);
        _exit (w == (ssize_t) sizeof pids? 0: 1);
    }
    CHECK (child > 0);
    pid_t pids [2] = { 0, 0 };
    CHECK_INT ((int) read (fds [0], pids, sizeof pids), (int) sizeof pids);
    CHECK_INT (pids [0], child);
    CHECK_INT (pids [1], child);
    int status = 0;
    CHECK_INT (waitpid (child, &status, 0), child);
    CHECK_INT (getpid (), (pid_t) syscall (SYS_getpid));
    close (fds [0]);
    close (fds [1]);
}

//  The one id rule: every row a case.
static void
test_id_ok (void)
{
    char long_ok [129], long_bad [130];
    memset (long_ok, 'x', 128);
    long_ok [128] = 0;
    memset (long_bad, 'x', 129);
    long_bad [129] = 0;
    struct { const char *name, *id; bool ok; } rows [] = {
        { "NULL", NULL, false }, { "empty", "", false }, { "one byte", "a", true },
        { "uuid", "00000000-0000-4000-8000-000000000001", true },
        { "request id", "chatcmpl-0123abcd", true }, { "pool/model", "org/model-7b:q4", true },
        { "max bytes", long_ok, true }, { "one over", long_bad, false },
        { "space", "a b", false }, { "quote", "a\"b", false }, { "backslash", "a\\b", false },
        { "newline", "a\nb", false }, { "DEL", "a\x7f", false }, { "UTF-8", "caf\xc3\xa9", false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("mt_id_ok: %s", rows [i].name);
        CHECK_INT (mt_id_ok (rows [i].id, 128), rows [i].ok);
    }
}

//  A JobSpec copy outlives its envelope and leaves unknown fields behind.
static void
test_job_copy (void)
{
    //  Envelope{submit{job{req_id "req-1", tenant "t1", model "m", pool "p", field 0}}}
    static const uint8_t wire [] = {
        0x0a, 0x16, 0x0a, 0x14, 0x0a, 0x05, 'r', 'e', 'q', '-', '1', 0x12, 0x02, 't', '1',
        0x1a, 0x01, 'm', 0x22, 0x01, 'p', 0x80, 0x00, 0x00
    };
    Mt__Envelope *env = mt_codec_decode (wire, sizeof wire);
    CHECK (env && env->body_case == MT__ENVELOPE__BODY_SUBMIT && env->submit->job);
    if (!env)
        return;
    Mt__JobSpec *copy = mt_codec_job_copy (env->submit->job);
    mt_codec_free (&env);
    CHECK (copy != NULL);
    if (copy) {
        CHECK_STR (copy->req_id, "req-1");
        CHECK_STR (copy->tenant_id, "t1");
        CHECK_STR (copy->model, "m");
        CHECK_STR (copy->pool, "p");
        CHECK_INT (copy->base.n_unknown_fields, 0);
        mt__job_spec__free_unpacked (copy, NULL);
    }
}

//  PostgreSQL messages as one log-safe line.
static void
test_pg_line (void)
{
    char line [32];
    CHECK_STR (mt_pg_line ("ERROR:  relation \"x\" does not exist\nLINE 1: ...", line, sizeof line),
               "ERROR:  relation 'x' does not e");
    CHECK_STR (mt_pg_line ("a\\b\r\nc", line, sizeof line), "a'b");
    CHECK_STR (mt_pg_line (NULL, line, sizeof line), "");
    CHECK_STR (mt_pg_error_line (NULL, NULL, line, sizeof line), "out of memory");
    PGresult *res = PQmakeEmptyPGresult (NULL, PGRES_FATAL_ERROR);
    CHECK_STR (mt_pg_error_line (NULL, res, line, sizeof line), "out of memory");
    PQclear (res);
}

//  The growable buffer: appends keep a NUL after the bytes; growth doubles.
static void
test_buf (void)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    CHECK_INT (mt_buf_append (&buf, &len, &cap, "", 0), 0);
    CHECK (buf && cap == 256 && len == 0 && buf [0] == 0);
    CHECK_INT (mt_buf_append (&buf, &len, &cap, "hello", 5), 0);
    CHECK_INT (mt_buf_append (&buf, &len, &cap, ", world", 7), 0);
    CHECK_STR (buf, "hello, world");
    CHECK_INT (len, 12);
    char big [1000];
    memset (big, 'x', sizeof big);
    CHECK_INT (mt_buf_append (&buf, &len, &cap, big, sizeof big), 0);
    CHECK_INT (len, 1012);
    CHECK_INT (cap, 1024);
    CHECK (buf [1012] == 0 && buf [1011] == 'x');
    CHECK_INT (mt_buf_append (&buf, &len, &cap, big, (size_t) -1), -1);    //  cannot fit
    CHECK_INT (len, 1012);
    CHECK_INT (mt_buf_reserve (&buf, &cap, 100), 0);                      //  no shrink
    CHECK_INT (cap, 1024);
    free (buf);
}

//  mt_codec_recv_wait: nothing in time, then a message that comes during the
//  wait, garbage (taken, NULL), a routing id on a ROUTER, and 0 = no wait.
static void
test_codec_recv_wait (void)
{
    zsock_t *a = zsock_new_router ("@inproc://test-codec-wait");
    zsock_t *b = zsock_new_dealer (">inproc://test-codec-wait");
    CHECK (a && b);
    mt_codec_poll_own (a);
    Mt__Envelope *got = NULL;
    zframe_t *rid = NULL;
    CHECK_INT (mt_codec_recv_wait (a, &rid, &got, 0), 0);
    CHECK_INT (mt_codec_recv_wait (a, &rid, &got, 10), 0);
    CHECK (!got && !rid);
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "r1";
    cancel.tenant_id = "t1";
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    CHECK_INT (mt_codec_send (b, NULL, &env), 0);
    CHECK_INT (mt_codec_recv_wait (a, &rid, &got, 2000), 1);
    CHECK (got && got->body_case == MT__ENVELOPE__BODY_CANCEL && !strcmp (got->cancel->req_id, "r1"));
    CHECK (rid != NULL);
    mt_codec_free (&got);
    //  The answer goes back by that routing id
    CHECK_INT (mt_codec_send (a, rid, &env), 0);
    zframe_destroy (&rid);
    CHECK_INT (mt_codec_recv_wait (b, NULL, &got, 2000), 1);
    CHECK (got && got->body_case == MT__ENVELOPE__BODY_CANCEL);
    mt_codec_free (&got);
    CHECK_INT (zstr_send (b, "garbage"), 0);
    CHECK_INT (mt_codec_recv_wait (a, &rid, &got, 2000), 1);    //  taken and dropped
    CHECK (!got && !rid);
    CHECK_INT (mt_codec_recv_wait (a, &rid, &got, 0), 0);
    //  After a wait, the poll of an owned socket still sees what comes
    CHECK_INT (mt_codec_send (b, NULL, &env), 0);
    zmq_pollitem_t item = { zsock_resolve (a), 0, ZMQ_POLLIN, 0 };
    CHECK_INT (mt_codec_poll (&item, 1, 2000), 1);
    CHECK_INT (mt_codec_recv_next (a, &rid, &got), 1);
    CHECK (got != NULL);
    mt_codec_free (&got);
    zframe_destroy (&rid);
    zsock_destroy (&a);
    zsock_destroy (&b);
}

int
main (void)
{
    mt_log_init ("test_common");
    MT_RUN (test_codec);
    MT_RUN (test_codec_poll);
    MT_RUN (test_codec_recv_wait);
    MT_RUN (test_codec_send_later);
    MT_RUN (test_config);
    MT_RUN (test_tokens);
    MT_RUN (test_errors);
    MT_RUN (test_time_ids);
    test_id_ok ();
    MT_RUN (test_codec_idle_after_empty_recv);
    MT_RUN (test_getpid);
    MT_RUN (test_job_copy);
    MT_RUN (test_pg_line);
    MT_RUN (test_buf);
    return mt_test_done ("test_common");
}
