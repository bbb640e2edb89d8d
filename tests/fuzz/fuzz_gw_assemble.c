//  libFuzzer target: the gateway's stream-to-whole assembly (gw_assemble)
//  and its splices, on choice objects from a worker. The input is split at
//  newlines into deltas (a first byte of '#' makes one plain text of choice
//  0); the first byte of the input chooses the kind (bit 0: chat or
//  completion). Each delta is also spliced into a stream chunk, which must
//  then be one JSON object whenever the delta was; the whole choices must
//  render as a JSON array of objects with an index each.
#include "gw_assemble.h"
#include "gw_openai.h"
#include "gw_sse.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    gw_kind_t kind = (data [0] & 1)? GW_KIND_COMPLETION: GW_KIND_CHAT;
    gw_assemble_t *a = gw_assemble_new (kind);
    gw_sse_t *sse = gw_sse_new ();
    char *head = gw_openai_chunk_prefix (kind, "chatcmpl-x", "m", 1, "fp");
    if (!a || !sse || !head)
        abort ();
    size_t hlen = strlen (head);
    size_t at = 1;
    while (at < size) {
        const uint8_t *nl = memchr (data + at, '\n', size - at);
        size_t len = nl? (size_t) (nl - (data + at)): size - at;
        char *delta = (char *) malloc (len? len: 1);      //  exact size: ASan sees overreads
        if (!delta)
            abort ();
        memcpy (delta, data + at, len);
        if (len && delta [0] == '#')
            gw_assemble_text (a, delta + 1, len - 1);
        else
        if (gw_assemble_choice (a, delta, len) == 0) {
            //  A readable choice spliced into a chunk is one JSON object
            json_t *one = json_loadb (delta, len, 0, NULL);
            char *compact = json_dumps (one, JSON_COMPACT);
            json_decref (one);
            if (!compact)
                abort ();
            size_t before = gw_sse_pending (sse);
            if (gw_sse_event_splice (sse, head, hlen, compact, strlen (compact), "]}", 2))
                abort ();
            size_t n = gw_sse_pending (sse) - before;
            char *event = (char *) malloc (n + 1);
            if (!event || gw_sse_read (sse, event, n + 1) != n)
                abort ();
            event [n] = 0;
            if (n < 8 || memcmp (event, "data: ", 6) || memcmp (event + n - 2, "\n\n", 2))
                abort ();
            event [n - 2] = 0;
            json_t *chunk = json_loads (event + 6, JSON_ALLOW_NUL, NULL);
            if (!json_is_object (chunk) || json_array_size (json_object_get (chunk, "choices")) != 1)
                abort ();
            json_decref (chunk);
            free (event);
            free (compact);
        }
        free (delta);
        at += len + 1;
    }
    json_t *choices = gw_assemble_choices (a, (data [0] & 2)? "stop": NULL);
    if (!json_is_array (choices) || json_array_size (choices) == 0)
        abort ();
    size_t i;
    json_t *c;
    json_array_foreach (choices, i, c)
        if (!json_is_integer (json_object_get (c, "index")))
            abort ();
    char *whole = gw_openai_whole (kind, "chatcmpl-x", "m", 1, "fp", choices, 1, 2);
    json_t *root = whole? json_loads (whole, JSON_ALLOW_NUL, NULL): NULL;
    if (!json_is_object (root))
        abort ();
    json_decref (root);
    free (whole);
    free (head);
    gw_sse_destroy (&sse);
    gw_assemble_destroy (&a);
    return 0;
}
