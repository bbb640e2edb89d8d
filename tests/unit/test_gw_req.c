//  Unit tests of the gateway's request registry (gw_req.c): the id index and
//  renames, open streams, requests with a connection, deadline lists, and
//  the response counters by status. No sockets: requests without a
//  connection.
#include "mt_test.h"
#include "gw_req.h"

#include "mt_metrics.h"

#include <stdlib.h>

static void
test_index (void)
{
    gw_reqs_t *reqs = gw_reqs_new (NULL);
    CHECK (reqs != NULL);
    gw_req_t *a = gw_req_new (reqs, NULL);
    gw_req_t *b = gw_req_new (reqs, NULL);
    CHECK (a && b);
    CHECK (!strncmp (a->id, "req-", 4));
    CHECK_INT (gw_reqs_active (reqs), 2);
    CHECK_INT (gw_reqs_size (reqs), 0);         //  named, not indexed yet
    CHECK_INT (gw_req_index (a, "chatcmpl-1"), 0);
    CHECK (gw_reqs_lookup (reqs, "chatcmpl-1") == a);
    CHECK_INT (gw_req_index (a, "chatcmpl-1"), 0);     //  named so already
    //  A name another request holds: refused, both unchanged
    char before [48];
    snprintf (before, sizeof before, "%s", b->id);
    CHECK_INT (gw_req_index (b, "chatcmpl-1"), -1);
    CHECK_STR (b->id, before);
    CHECK (gw_reqs_lookup (reqs, "chatcmpl-1") == a);
    //  A rename frees the old name
    CHECK_INT (gw_req_index (a, "store-7"), 0);
    CHECK (gw_reqs_lookup (reqs, "chatcmpl-1") == NULL);
    CHECK (gw_reqs_lookup (reqs, "store-7") == a);
    CHECK_INT (gw_req_index (b, "chatcmpl-1"), 0);
    CHECK_INT (gw_reqs_size (reqs), 2);
    size_t seen = 0;
    for (gw_req_t *r = gw_reqs_first (reqs); r; r = gw_reqs_next (reqs))
        seen += r == a || r == b;
    CHECK_INT (seen, 2);
    zlistx_t *list = gw_reqs_list (reqs);
    CHECK_INT (list? zlistx_size (list): 0, 2);
    zlistx_destroy (&list);
    //  Detached (the connection completed), then freed: out of the index
    gw_req_detach (a);
    CHECK_INT (gw_reqs_active (reqs), 1);
    gw_req_maybe_free (a);
    CHECK (gw_reqs_lookup (reqs, "store-7") == NULL);
    CHECK_INT (gw_reqs_size (reqs), 1);
    gw_req_free (b);
    CHECK_INT (gw_reqs_size (reqs), 0);
    CHECK_INT (gw_reqs_active (reqs), 1);       //  b's connection never completed
    gw_reqs_destroy (&reqs);
    CHECK (reqs == NULL);
    gw_reqs_destroy (&reqs);                    //  no-op on NULL
}

static void
test_streams (void)
{
    gw_reqs_t *reqs = gw_reqs_new (NULL);
    int64_t open = gw_reqs_streams_open (reqs);
    gw_req_t *r [3];
    for (int i = 0; i < 3; i++) {
        r [i] = gw_req_new (reqs, NULL);
        gw_stream_add (r [i]);
    }
    CHECK_INT (gw_reqs_streams_open (reqs), open + 3);
    CHECK (gw_reqs_streams (reqs) == r [2]);    //  newest first
    gw_stream_remove (r [1]);
    gw_stream_remove (r [1]);                   //  once only
    CHECK_INT (gw_reqs_streams_open (reqs), open + 2);
    CHECK (r [2]->snext == r [0] && r [0]->sprev == r [2]);
    gw_req_detach (r [2]);                      //  a closed connection ends its stream
    CHECK (gw_reqs_streams (reqs) == r [0]);
    CHECK_INT (gw_reqs_streams_open (reqs), open + 1);
    for (int i = 0; i < 3; i++)
        gw_req_free (r [i]);
    CHECK_INT (gw_reqs_streams_open (reqs), open);
    CHECK (gw_reqs_streams (reqs) == NULL);
    gw_reqs_destroy (&reqs);
}

static void
test_lists (void)
{
    gw_reqs_t *reqs = gw_reqs_new (NULL);
    gw_list_t waiting = { NULL, NULL, 1000 }, running = { NULL, NULL, 60000 };
    gw_req_t *a = gw_req_new (reqs, NULL), *b = gw_req_new (reqs, NULL);
    gw_list_add (&waiting, a);
    gw_list_add (&waiting, b);
    CHECK (waiting.head == a && waiting.tail == b);
    CHECK (a->deadline <= b->deadline);
    gw_list_add (&running, a);                  //  moves: never on both
    CHECK (waiting.head == b && waiting.tail == b);
    CHECK (running.head == a && a->list == &running);
    CHECK (b->deadline < a->deadline);
    gw_req_free (a);                            //  leaves its list
    CHECK (running.head == NULL && running.tail == NULL);
    gw_list_remove (b);
    gw_list_remove (b);                         //  no-op off a list
    CHECK (waiting.head == NULL && b->list == NULL);
    gw_req_free (b);
    gw_reqs_destroy (&reqs);
}

//  One row a status: the label of mt_gw_http_responses_total it counts in.
static void
test_count_status (void)
{
    struct { unsigned int status; const char *label; } rows [] = {
        { 200, "2xx" }, { 201, "2xx" }, { 400, "400" }, { 401, "401" }, { 403, "4xx" },
        { 404, "404" }, { 405, "4xx" }, { 429, "429" }, { 500, "5xx" }, { 502, "5xx" },
        { 503, "503" },
    };
    gw_reqs_t *reqs = gw_reqs_new (NULL);
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("count status %u", rows [i].status);
        char name [96];
        snprintf (name, sizeof name, "mt_gw_http_responses_total{status=\"%s\"}", rows [i].label);
        mt_metric_t *m = mt_metric_counter (name, NULL);    //  the registry's, by name
        int64_t before = mt_metric_value (m);
        gw_reqs_count_status (reqs, rows [i].status);
        CHECK_INT (mt_metric_value (m), before + 1);
    }
    gw_reqs_destroy (&reqs);
}

int
main (void)
{
    MT_RUN (test_index);
    MT_RUN (test_streams);
    MT_RUN (test_lists);
    test_count_status ();
    return mt_test_done ("test_gw_req");
}
