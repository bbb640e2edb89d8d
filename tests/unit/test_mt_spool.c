//  Unit tests of metering's disk spool (mt_spool.c): record framing, torn
//  tails cut on open, append / read back / empty, in a temporary file.
#include "mt_test.h"
#include "mt_spool.h"

#include <stdlib.h>
#include <unistd.h>

#define TENANT "3f1c2b8e-8a4d-4e52-9d6b-1a2b3c4d5e6f"

static Mt__UsageEvent
s_event (const char *id, uint32_t tokens)
{
    Mt__UsageEvent ev = MT__USAGE_EVENT__INIT;
    ev.event_id = (char *) id;
    ev.tenant_id = TENANT;
    ev.key_id = "";
    ev.model = "sim-small";
    ev.pool = "standard";
    ev.status = "ok";
    ev.completion_tokens = tokens;
    ev.http_status = 200;
    ev.created_ms = 1710072000000ull;
    return ev;
}

static void
s_framing (void)
{
    struct {
        const char *what;
        uint8_t bytes [16];
        size_t size;
        size_t valid;
    } table [] = {
        { "empty", { 0 }, 0, 0 },
        { "header cut", { 2, 0 }, 2, 0 },
        { "one whole record", { 2, 0, 0, 0, 0xaa, 0xbb }, 6, 6 },
        { "body cut", { 3, 0, 0, 0, 0xaa, 0xbb }, 6, 0 },
        { "whole then cut", { 1, 0, 0, 0, 0xaa, 5, 0, 0, 0, 1 }, 10, 5 },
        { "two whole", { 1, 0, 0, 0, 0xaa, 1, 0, 0, 0, 0xbb }, 10, 10 },
        { "zero length is damage", { 0, 0, 0, 0, 1, 0, 0, 0, 0xaa }, 9, 0 },
        { "absurd length", { 0, 0, 0, 0x7f, 0xaa }, 5, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        mt_test_case ("framing: %s", table [i].what);
        CHECK_MSG (mt_spool_valid_length (table [i].bytes, table [i].size) == table [i].valid,
                   "%s", table [i].what);
    }
}

static void
s_file (void)
{
    char path [] = "/tmp/test_mt_spool.XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    if (fd < 0)
        return;
    close (fd);
    mt_spool_t *spool = mt_spool_new (path);
    CHECK (spool && !mt_spool_unread (spool) && mt_spool_bytes (spool) == 0);
    const char *ids [] = { "req-a", "req-b", "req-c" };
    for (int i = 0; i < 3; i++) {
        Mt__UsageEvent ev = s_event (ids [i], (uint32_t) (i + 1) * 10);
        CHECK (mt_spool_append (spool, &ev) == 0);
    }
    CHECK (mt_spool_sync (spool) == 0);
    uint64_t bytes = mt_spool_bytes (spool);
    mt_spool_destroy (&spool);

    //  A torn record at the end (a crash mid-write) is cut on open
    FILE *f = fopen (path, "ab");
    CHECK (f && fwrite ("\x40\x00\x00\x00\x01\x02", 1, 6, f) == 6);
    if (f)
        fclose (f);
    spool = mt_spool_new (path);
    CHECK (spool && mt_spool_bytes (spool) == bytes && mt_spool_unread (spool));
    for (int i = 0; spool && i < 3; i++) {
        Mt__UsageEvent *ev = mt_spool_next (spool);
        CHECK (ev != NULL);
        if (!ev)
            break;
        CHECK_STR (ev->event_id, ids [i]);
        CHECK_STR (ev->tenant_id, TENANT);
        CHECK_INT (ev->completion_tokens, (i + 1) * 10);
        mt__usage_event__free_unpacked (ev, NULL);
    }
    CHECK (spool && mt_spool_next (spool) == NULL && !mt_spool_unread (spool));
    //  Appends after a cut tail start clean and are read back
    Mt__UsageEvent ev = s_event ("req-d", 7);
    CHECK (spool && mt_spool_append (spool, &ev) == 0 && mt_spool_unread (spool));
    Mt__UsageEvent *back = spool? mt_spool_next (spool): NULL;
    CHECK (back && !strcmp (back->event_id, "req-d"));
    if (back)
        mt__usage_event__free_unpacked (back, NULL);
    //  Emptied once everything read back is stored
    CHECK (spool && mt_spool_truncate (spool) == 0 && mt_spool_bytes (spool) == 0);
    mt_spool_destroy (&spool);
    spool = mt_spool_new (path);
    CHECK (spool && mt_spool_bytes (spool) == 0 && mt_spool_next (spool) == NULL);
    mt_spool_destroy (&spool);
    unlink (path);
}

int
main (void)
{
    s_framing ();
    MT_RUN (s_file);
    return mt_test_done ("test_mt_spool");
}
