//  The gateway's relay of one whole choice delta into a stream chunk: spliced
//  unparsed after a head built once per stream (what gw_choices.c does),
//  against parsing it and rebuilding the chunk with jansson. Reports; never
//  fails. Built and run by tests/bench/run.sh.
#include "gw_openai.h"
#include "gw_sse.h"
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static double now (void) { struct timespec t; clock_gettime (CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main (void) {
    const char *choice = "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Pa\"}}]},\"logprobs\":null,\"finish_reason\":null}";
    size_t clen = strlen (choice);
    int N = 200000;
    char buf [65536];
    gw_sse_t *sse = gw_sse_new ();
    double t0 = now ();
    char *head = gw_openai_chunk_prefix (GW_KIND_CHAT, "chatcmpl-0123456789abcdef01234567", "sim-small", 1700000000, "fp_x");
    size_t hlen = strlen (head);
    for (int i = 0; i < N; i++) {
        gw_sse_event_splice (sse, head, hlen, choice, clen, "]}", 2);
        gw_sse_read (sse, buf, sizeof buf);
    }
    free (head);
    double t1 = now ();
    for (int i = 0; i < N; i++) {
        json_t *c = json_loadb (choice, clen, 0, NULL);
        json_t *root = json_pack ("{s:s, s:s, s:I, s:s, s:s, s:[o]}", "id", "chatcmpl-0123456789abcdef01234567", "object", "chat.completion.chunk", "created", (json_int_t) 1700000000, "model", "sim-small", "system_fingerprint", "fp_x", "choices", c);
        char *text = json_dumps (root, JSON_COMPACT);
        json_decref (root);
        gw_sse_event (sse, text, strlen (text));
        free (text);
        gw_sse_read (sse, buf, sizeof buf);
    }
    double t2 = now ();
    printf ("relay of a choice delta: splice %.3f us, parse and rebuild %.3f us\n", (t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6);
    gw_sse_destroy (&sse);
    return 0;
}
