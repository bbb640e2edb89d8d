//  libFuzzer target: the worker's parsing of engine bytes (wa_openai.c and
//  its pure half wa_openai_parse.c). wa_openai.c is compiled into this file so the static curl write callback
//  (SSE line framing) can be driven without a socket. The first byte chooses
//  (bits 0-1):
//    0  wa_openai_parse_event on one data payload, and the same payload and a
//       shorter one after it resumed from its scan cache into one sink, each
//       checked against its parse from the start
//    1  an SSE response body with a 2xx status, split into chunks at points
//       the second byte seeds, through s_write_cb, then the end-of-transfer
//       flush of wa_openai_dispatch, every piece taken, and the result
//    2  the same with a non-2xx status (error body kept, parsed at the end)
//    3  wa_openai_body on a JobSpec's request_json (bytes from the gateway)
//       with max_tokens from the next 2 bytes
//  With bit 2 set, embeddings instead: 4 and 6 wa_openai_parse_embeddings on a
//  whole answer, 5 and 7 an embeddings transfer through s_write_cb (2xx) and
//  its end, every item taken.
//  Chunks are exact-size heap copies so ASan sees any read past their end.
#include "../../services/worker-adapter/wa_openai.c"
#include "../../services/worker-adapter/wa_openai_parse.c"

//  Every choice forwarded is a JSON object of its stated length.
static void
s_check_choice (const wa_choice_t *c)
{
    if (!c->json || strlen (c->json) != c->len || c->tokens > 1
    ||  strnlen (c->finish_reason, sizeof c->finish_reason) >= sizeof c->finish_reason)
        abort ();
    json_t *root = json_loadb (c->json, c->len, 0, NULL);
    if (!json_is_object (root))
        abort ();
    json_decref (root);
}

static void
s_check_choices (const wa_openai_event_t *ev)
{
    if (ev->nchoices && !ev->choices)
        abort ();
    for (size_t i = 0; i < ev->nchoices; i++)
        s_check_choice (&ev->choices [i]);
}

static void
s_embeddings (const uint8_t *data, size_t size)
{
    char *payload = (char *) malloc (size? size: 1);
    assert (payload);
    memcpy (payload, data, size);
    wa_openai_event_t ev;
    if (wa_openai_parse_embeddings (payload, size, &ev) == 0) {
        s_check_choices (&ev);
        if (ev.completion_tokens)
            abort ();
        wa_openai_event_clear (&ev);
    }
    else
    if (ev.choices || ev.nchoices)
        abort ();
    free (payload);
}

//  The scan's reading of an event equals jansson's whole parse, and what the
//  common scanner takes as a document jansson takes (unless a number it
//  cannot hold).
static void
s_same_as_whole (const char *payload, size_t size)
{
    mt_json_scan_t s;
    mt_json_scan_init (&s, payload, size);
    if (mt_json_scan_value (&s, NULL) && mt_json_scan_end (&s) && !(s.seen & MT_JSON_SEEN_BIGNUM)) {
        json_t *any = json_loadb (payload, size, JSON_DECODE_ANY, NULL);
        if (!any)
            abort ();
        json_decref (any);
    }
    wa_openai_event_t scan, whole;
    memset (&scan, 0, sizeof scan);
    wa_openai_sink_t sink = { NULL, 0, 0, NULL, 0, 0 };
    int rc = s_parse_event_scan (payload, size, &scan, NULL, &sink);
    scan.content = sink.text_len? sink.text: NULL;
    if (!scan.content)
        free (sink.text);
    scan.choices = sink.choices;
    scan.nchoices = sink.nchoices;
    if (rc != 0) {
        wa_openai_event_clear (&scan);
        return;
    }
    memset (&whole, 0, sizeof whole);
    if (s_parse_event_whole (payload, size, &whole) != 0)
        abort ();
    if ((scan.content == NULL) != (whole.content == NULL)
    ||  (scan.content && strcmp (scan.content, whole.content))
    ||  strcmp (scan.finish_reason, whole.finish_reason)
    ||  scan.has_usage != whole.has_usage || scan.prompt_tokens != whole.prompt_tokens
    ||  scan.completion_tokens != whole.completion_tokens
    ||  (scan.error == NULL) != (whole.error == NULL)
    ||  (scan.error && strcmp (scan.error, whole.error))
    ||  strcmp (scan.system_fingerprint, whole.system_fingerprint)
    ||  scan.nchoices != whole.nchoices)
        abort ();
    for (size_t i = 0; i < scan.nchoices; i++) {
        wa_choice_t *a = &scan.choices [i], *b = &whole.choices [i];
        json_t *ja = json_loadb (a->json, a->len, 0, NULL);
        json_t *jb = json_loadb (b->json, b->len, 0, NULL);
        if (a->index != b->index || a->tokens != b->tokens
        ||  strcmp (a->finish_reason, b->finish_reason) || !json_equal (ja, jb))
            abort ();
        json_decref (ja);
        json_decref (jb);
    }
    wa_openai_event_clear (&scan);
    wa_openai_event_clear (&whole);
}

//  Two parse results the same (b's text and choices: in the sink, from
//  text_len and nchoices on).
static void
s_same_into (const wa_openai_event_t *a, int rc_a, const wa_openai_event_t *b, int rc_b,
             const wa_openai_sink_t *sink, size_t text_len, size_t nchoices)
{
    if (rc_a != rc_b || b->content || b->choices || b->nchoices)
        abort ();
    if (rc_b != 0) {
        if (sink->text_len != text_len || sink->nchoices != nchoices)
            abort ();           //  a refused event leaves the sink as it was
        return;
    }
    size_t added = sink->text_len - text_len;
    if ((a->content? strlen (a->content): 0) != added
    ||  (added && memcmp (a->content, sink->text + text_len, added))
    ||  (sink->text && sink->text [sink->text_len])
    ||  strcmp (a->finish_reason, b->finish_reason)
    ||  a->has_usage != b->has_usage || a->prompt_tokens != b->prompt_tokens
    ||  a->completion_tokens != b->completion_tokens
    ||  (a->error == NULL) != (b->error == NULL) || (a->error && strcmp (a->error, b->error))
    ||  strcmp (a->system_fingerprint, b->system_fingerprint)
    ||  a->nchoices != sink->nchoices - nchoices)
        abort ();
    for (size_t i = 0; i < a->nchoices; i++) {
        const wa_choice_t *x = &a->choices [i], *y = &sink->choices [nchoices + i];
        if (x->index != y->index || x->tokens != y->tokens || x->len != y->len
        ||  memcmp (x->json, y->json, x->len) || strcmp (x->finish_reason, y->finish_reason))
            abort ();
    }
}

//  payload, then a shorter copy of it (cut seeds where), parsed with one scan
//  cache into one sink: each the same as its parse from the start.
static void
s_cached (const char *payload, size_t size, size_t cut)
{
    wa_openai_scan_cache_t cache;
    memset (&cache, 0, sizeof cache);
    wa_openai_sink_t sink = { NULL, 0, 0, NULL, 0, 0 };
    size_t lens [3] = { size, size, size - cut % (size + 1) };
    for (int k = 0; k < 3; k++) {
        char *copy = (char *) malloc (lens [k]? lens [k]: 1);
        assert (copy);
        memcpy (copy, payload, lens [k]);
        wa_openai_event_t a, b;
        int rc_a = wa_openai_parse_event (copy, lens [k], &a);
        size_t text_len = sink.text_len, nchoices = sink.nchoices;
        int rc_b = wa_openai_parse_event_into (copy, lens [k], &b, &cache, &sink);
        s_same_into (&a, rc_a, &b, rc_b, &sink, text_len, nchoices);
        wa_openai_event_clear (&a);
        wa_openai_event_clear (&b);
        free (copy);
    }
    for (size_t i = 0; i < sink.nchoices; i++)
        free (sink.choices [i].json);
    free (sink.choices);
    free (sink.text);
}

static void
s_event (const uint8_t *data, size_t size)
{
    size_t cut = size? data [size / 2]: 0;
    char *payload = (char *) malloc (size? size: 1);
    assert (payload);
    memcpy (payload, data, size);
    s_same_as_whole (payload, size);
    s_cached (payload, size, cut);
    wa_openai_event_t ev;
    if (wa_openai_parse_event (payload, size, &ev) == 0) {
        if (strnlen (ev.finish_reason, sizeof ev.finish_reason) >= sizeof ev.finish_reason)
            abort ();
        if (ev.content && !*ev.content)
            abort ();           //  empty deltas are not pieces
        s_check_choices (&ev);
        wa_openai_event_clear (&ev);
        if (ev.content || ev.error)
            abort ();
    }
    free (payload);
}

static void
s_stream (const uint8_t *data, size_t size, bool ok, bool embedding)
{
    static const long statuses [] = { 200, 201, 204, 299, 100, 400, 404, 429, 500, 503 };
    if (size < 2)
        return;
    uint32_t seed = data [0] | 1u;
    long status = ok? statuses [data [1] % 4]: statuses [4 + data [1] % 6];
    data += 2;
    size -= 2;

    wa_openai_req_t *req = (wa_openai_req_t *) zmalloc (sizeof (wa_openai_req_t));
    assert (req);
    req->embedding = embedding;
    req->status = status;       //  as curl would report it; no easy handle here

    size_t at = 0;
    bool aborted = false;
    while (at < size) {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        size_t n = 1 + seed % 97;
        if (n > size - at)
            n = size - at;
        char *chunk = (char *) malloc (n);
        assert (chunk);
        memcpy (chunk, data + at, n);
        size_t took = s_write_cb (chunk, 1, n, req);
        free (chunk);
        if (took != n) {
            if (took != 0 || !req->failed)
                abort ();       //  a short write must be the abort, with a reason
            aborted = true;
            break;
        }
        at += n;
    }
    //  The end of the transfer, as wa_openai_dispatch does it
    req->finished = true;
    req->result = aborted? CURLE_WRITE_ERROR: CURLE_OK;
    if (req->line_len && req->status >= 200 && req->status < 300) {
        s_on_line (req, req->line, req->line_len);
        req->line_len = 0;
    }
    if (embedding)
        s_on_embeddings (req);
    if (req->errbody_len > S_ERRBODY_MAX || req->errbody [req->errbody_len] != 0)
        abort ();

    //  Every choice forwarded is a JSON object; the text counted is at most
    //  what the choices carried
    size_t text_len = 0;
    const char *text = wa_openai_req_text (req, &text_len);
    if (!text || (text_len && strlen (text) > text_len))
        abort ();
    size_t count = 0;
    wa_choice_t *choices = wa_openai_req_choices (req, &count);
    for (size_t i = 0; i < count; i++)
        s_check_choice (&choices [i]);
    wa_openai_req_choices_clear (req);
    if (wa_openai_req_choices (req, &count) && count)
        abort ();
    if (strnlen (wa_openai_req_fingerprint (req), sizeof req->fingerprint) >= sizeof req->fingerprint)
        abort ();

    wa_openai_result_t result;
    wa_openai_req_result (req, &result);
    if (!result.finish_reason || !result.error_message
    ||  strlen (result.error_message) >= sizeof req->message
    ||  (!ok && result.error == MT__ERROR_CODE__ERR_NONE))
        abort ();
    wa_openai_req_destroy (NULL, &req);     //  no easy handle: the backend is not used
}

static void
s_body (const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    uint32_t max_tokens = (uint32_t) data [0] << 8 | data [1];
    data += 2;
    size -= 2;
    char *json = (char *) malloc (size? size: 1);
    assert (json);
    memcpy (json, data, size);
    char err [128] = "";
    //  The splice says what jansson's render says
    for (int embed = 0; embed < 2; embed++) {
        char *spliced = s_splice_body (json, size, !embed, embed? 0: max_tokens);
        if (!spliced)
            continue;
        char *rendered = s_render_body (json, size, !embed, embed? 0: max_tokens, err, sizeof err);
        json_t *a = json_loads (spliced, 0, NULL), *b = rendered? json_loads (rendered, 0, NULL): NULL;
        if (!a || !b || !json_equal (a, b))
            abort ();
        json_decref (a);
        json_decref (b);
        free (rendered);
        free (spliced);
    }
    char *body = wa_openai_body (json, size, max_tokens, err, sizeof err);
    if (body) {
        //  What goes to the engine streams and never asks for more than the grant
        json_t *root = json_loads (body, 0, NULL);
        if (!json_is_object (root) || !json_is_true (json_object_get (root, "stream")))
            abort ();
        if (max_tokens > 0) {
            const char *keys [] = { "max_tokens", "max_completion_tokens" };
            bool any = false;
            for (size_t i = 0; i < 2; i++) {
                json_t *v = json_object_get (root, keys [i]);
                if (!v)
                    continue;
                any = true;
                if (!json_is_integer (v) || json_integer_value (v) < 1
                ||  json_integer_value (v) > max_tokens)
                    abort ();
            }
            if (!any)
                abort ();
        }
        json_decref (root);
        free (body);
    }
    else
    if (!*err)
        abort ();
    free (json);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data [0] & 4) {
        if (data [0] & 1)
            s_stream (data + 1, size - 1, true, true);
        else
            s_embeddings (data + 1, size - 1);
        return 0;
    }
    switch (data [0] & 3) {
        case 0: s_event (data + 1, size - 1); break;
        case 1: s_stream (data + 1, size - 1, true, false); break;
        case 2: s_stream (data + 1, size - 1, false, false); break;
        case 3: s_body (data + 1, size - 1); break;
    }
    return 0;
}
