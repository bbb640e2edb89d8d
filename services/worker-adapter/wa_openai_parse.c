//  openai backend, the pure half: an SSE line of the engine's stream, the
//  JSON of one event, and the request body sent to the engine. No I/O, no
//  libcurl (wa_openai.c does that).
#include "wa_openai.h"
#include "mt_buf.h"
#include "mt_json_scan.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wa_openai_line_t
wa_openai_sse_line (char *line, size_t *len, const char **data)
{
    size_t n = *len;
    *data = NULL;
    if (n && line [n - 1] == '\r')
        line [--n] = 0;
    *len = n;
    if (n < 5 || memcmp (line, "data:", 5))
        return WA_OPENAI_LINE_OTHER;
    const char *d = line + 5;
    n -= 5;
    if (n && *d == ' ') {
        d++;
        n--;
    }
    *data = d;
    *len = n;
    if (n == 6 && !memcmp (d, "[DONE]", 6))
        return WA_OPENAI_LINE_DONE;
    return WA_OPENAI_LINE_DATA;
}

void
wa_openai_event_clear (wa_openai_event_t *event)
{
    free (event->content);
    free (event->error);
    for (size_t i = 0; i < event->nchoices; i++)
        free (event->choices [i].json);
    free (event->choices);
    memset (event, 0, sizeof *event);
}

//  Append a JSON string's text to the buffer (when it is one).
static bool
s_text (char **text, size_t *len, size_t *cap, json_t *value)
{
    if (!json_is_string (value) || json_string_length (value) == 0)
        return false;
    mt_buf_append (text, len, cap, json_string_value (value), json_string_length (value));
    return true;
}

//  The text a choice carries: content, refusal, completion text, tool-call
//  names and argument fragments. True when there was any.
static bool
s_choice_text (json_t *choice, char **text, size_t *len, size_t *cap)
{
    json_t *delta = json_object_get (choice, "delta");
    if (!json_is_object (delta))
        return s_text (text, len, cap, json_object_get (choice, "text"));
    bool any = s_text (text, len, cap, json_object_get (delta, "content"));
    any |= s_text (text, len, cap, json_object_get (delta, "refusal"));
    json_t *calls = json_object_get (delta, "tool_calls");
    size_t i;
    json_t *call;
    json_array_foreach (calls, i, call) {
        json_t *fn = json_object_get (call, "function");
        any |= s_text (text, len, cap, json_object_get (fn, "arguments"));
    }
    return any;
}

//  Fill c (zeroed) from one object of choices (or embedding items), element
//  i; finish_reason of event set by it. raw (may be NULL) is its text as it
//  came, used as is when compact. False when it is not taken (not an
//  object, out of memory).
static bool
s_fill_choice (json_t *choice, size_t i, bool chat_like, wa_choice_t *c, wa_openai_event_t *event,
               char **text, size_t *text_len, size_t *text_cap, const char *raw, size_t raw_len)
{
    if (!json_is_object (choice))
        return false;
    json_t *index = json_object_get (choice, "index");
    c->index = json_is_integer (index) && json_integer_value (index) >= 0
            && json_integer_value (index) < 65536? (uint32_t) json_integer_value (index)
                                                  : (uint32_t) i;
    if (raw) {
        c->json = (char *) malloc (raw_len + 1);
        if (c->json) {
            memcpy (c->json, raw, raw_len);
            c->json [raw_len] = 0;
        }
    }
    else
        c->json = json_dumps (choice, JSON_COMPACT);
    if (!c->json)
        return false;
    c->len = raw? raw_len: strlen (c->json);
    if (chat_like) {
        c->tokens = s_choice_text (choice, text, text_len, text_cap)? 1: 0;
        json_t *finish = json_object_get (choice, "finish_reason");
        if (json_is_string (finish)) {
            snprintf (c->finish_reason, sizeof c->finish_reason, "%s", json_string_value (finish));
            snprintf (event->finish_reason, sizeof event->finish_reason, "%s",
                      json_string_value (finish));
        }
    }
    return true;
}

//  Keep one object of choices (or embedding items), element i, in event
//  (room made for it).
static void
s_take_choice (json_t *choice, size_t i, bool chat_like, wa_openai_event_t *event,
               char **text, size_t *text_len, size_t *text_cap)
{
    wa_choice_t *c = &event->choices [event->nchoices];
    memset (c, 0, sizeof *c);
    if (s_fill_choice (choice, i, chat_like, c, event, text, text_len, text_cap, NULL, 0))
        event->nchoices++;
}

//  Room for count choices in event; false when out of memory.
static bool
s_choices_alloc (wa_openai_event_t *event, size_t count)
{
    event->choices = (wa_choice_t *) calloc (count, sizeof (wa_choice_t));
    return event->choices != NULL;
}

//  Render each object of array (choices, or embedding items) into event.
static void
s_take_choices (json_t *array, bool chat_like, wa_openai_event_t *event,
                char **text, size_t *text_len, size_t *text_cap)
{
    size_t count = json_array_size (array);
    if (count == 0 || !s_choices_alloc (event, count))
        return;
    size_t i;
    json_t *choice;
    json_array_foreach (array, i, choice)
        s_take_choice (choice, i, chat_like, event, text, text_len, text_cap);
}

static void
s_take_usage (json_t *usage, wa_openai_event_t *event, bool embeddings)
{
    if (!json_is_object (usage))
        return;
    json_t *p = json_object_get (usage, "prompt_tokens");
    json_t *c = embeddings? NULL: json_object_get (usage, "completion_tokens");
    if (json_is_integer (p) && json_integer_value (p) >= 0 && json_integer_value (p) <= UINT32_MAX
    &&  (embeddings || (json_is_integer (c) && json_integer_value (c) >= 0
                        && json_integer_value (c) <= UINT32_MAX))) {
        event->has_usage = true;
        event->prompt_tokens = (uint32_t) json_integer_value (p);
        event->completion_tokens = c? (uint32_t) json_integer_value (c): 0;
    }
}

//  An "error" member, whatever its value: the event reports an error.
static void
s_take_error (json_t *err, wa_openai_event_t *event)
{
    json_t *msg = json_is_object (err)? json_object_get (err, "message"): err;
    event->error = strdup (json_is_string (msg)? json_string_value (msg): "engine error");
}

static void
s_take_fingerprint (json_t *fp, wa_openai_event_t *event)
{
    if (json_is_string (fp) && json_string_length (fp) < sizeof event->system_fingerprint)
        snprintf (event->system_fingerprint, sizeof event->system_fingerprint, "%s",
                  json_string_value (fp));
}

//  The whole event parsed with jansson.
static int
s_parse_event_whole (const char *data, size_t len, wa_openai_event_t *event)
{
    json_error_t jerr;
    json_t *root = json_loadb (data, len, 0, &jerr);
    if (!json_is_object (root)) {
        json_decref (root);
        return -1;
    }
    json_t *err = json_object_get (root, "error");
    if (err)
        s_take_error (err, event);
    s_take_fingerprint (json_object_get (root, "system_fingerprint"), event);
    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    json_t *choices = json_object_get (root, "choices");
    if (json_is_array (choices))
        s_take_choices (choices, true, event, &text, &text_len, &text_cap);
    if (text && text_len)
        event->content = text;
    else
        free (text);
    s_take_usage (json_object_get (root, "usage"), event, false);
    json_decref (root);
    return 0;
}

//  --------------------------------------------------------------------------
//  The event parse without building what the worker does not read. An
//  engine's event is mostly id, object, created and model around one small
//  choice; jansson building all of it and rendering the choice again cost
//  about 5 us an event, 18 events a 16-token answer. The common scanner
//  (mt_json_scan: grammar, strict strings and UTF-8, nothing allocated)
//  walks the event once; usage, error and system_fingerprint are parsed
//  with jansson (when present), and so is a choice the walk does not take
//  (spaced, a number jansson might not hold, an escape in a string it
//  reads, a tool-call array); a compact choice goes on as its own text.
//  Anything the scan does not take (not one object, a key with an escape,
//  nesting deeper than MT_JSON_SCAN_DEPTH, a member or choice jansson
//  refuses, "choices" twice, a number jansson might not hold outside the
//  choices) goes to the whole parse, which decides as before. Members not
//  read are checked as strictly as the ones read.

//  One member's value parsed with jansson; NULL when it refuses it.
static json_t *
s_load (mt_json_span_t span)
{
    json_error_t jerr;
    return json_loadb (span.at, span.len, JSON_DECODE_ANY, &jerr);
}

//  A string's text (no escape), appended when not empty (as s_text takes).
static bool
s_plain_text (const char *at, size_t len, char **text, size_t *tlen, size_t *cap)
{
    if (!at || len == 0)
        return false;
    mt_buf_append (text, tlen, cap, at, len);
    return true;
}

//  What the walk of one choice read.
typedef struct {
    bool plain;                 //  every member read is plain: the walk's reading stands
    bool delta;                 //  the last "delta" was an object
    long index;                 //  -1: none usable (the position stands)
    const char *content, *refusal, *text, *finish;     //  NULL: absent or not a string
    size_t content_len, refusal_len, text_len, finish_len;
} s_plain_t;

//  A string member's value; *at NULL when it is not a string. A string
//  with an escape is read by jansson (out->plain false).
static bool
s_plain_member (mt_json_scan_t *s, s_plain_t *out, const char **at, size_t *len)
{
    *at = NULL;
    mt_json_scan_ws (s);
    if (s->p >= s->end || *s->p != '"')
        return mt_json_scan_value (s, NULL);
    unsigned seen = s->seen;
    s->seen = 0;
    if (!mt_json_scan_string (s, at, len))
        return false;
    if (s->seen & MT_JSON_SEEN_ESCAPE)
        out->plain = false;
    s->seen |= seen;
    return true;
}

//  The delta object of a choice: content and refusal; tool calls are
//  jansson's (out->plain false).
static bool
s_plain_delta (mt_json_scan_t *s, s_plain_t *out)
{
    out->content = out->refusal = NULL;
    if (!mt_json_scan_open (s, '{'))
        return false;
    const char *key;
    size_t klen;
    int rc;
    while ((rc = mt_json_scan_member (s, &key, &klen)) == 1) {
        bool ok;
        if (klen == 7 && !memcmp (key, "content", 7))
            ok = s_plain_member (s, out, &out->content, &out->content_len);
        else
        if (klen == 7 && !memcmp (key, "refusal", 7))
            ok = s_plain_member (s, out, &out->refusal, &out->refusal_len);
        else {
            if (klen == 10 && !memcmp (key, "tool_calls", 10)) {
                mt_json_scan_ws (s);
                if (s->p < s->end && *s->p == '[')
                    out->plain = false;
            }
            ok = mt_json_scan_value (s, NULL);
        }
        if (!ok)
            return false;
    }
    return rc == 0;
}

//  The "index" member: an integer 0..65535, else -1 (the position stands,
//  as s_take_choice has it).
static bool
s_plain_index (mt_json_scan_t *s, long *index)
{
    mt_json_span_t v;
    if (!mt_json_scan_value (s, &v))
        return false;
    *index = -1;
    const char *p = v.at, *end = v.at + v.len;
    bool minus = p < end && *p == '-';
    if (minus)
        p++;
    long n = 0;
    while (p < end && *p >= '0' && *p <= '9' && n < 1000000)
        n = n * 10 + (*p++ - '0');
    if (p == end && p > v.at + minus && (minus? n == 0: n < 65536))
        *index = n;
    return true;
}

//  One choice object, at the scan: walked once, reading what s_take_choice
//  reads. False when it is not well formed.
static bool
s_plain_choice (mt_json_scan_t *s, s_plain_t *out)
{
    memset (out, 0, sizeof *out);
    out->index = -1;
    out->plain = true;
    if (!mt_json_scan_open (s, '{'))
        return false;
    const char *key;
    size_t klen;
    int rc;
    while ((rc = mt_json_scan_member (s, &key, &klen)) == 1) {
        bool ok;
        if (klen == 5 && !memcmp (key, "index", 5))
            ok = s_plain_index (s, &out->index);
        else
        if (klen == 5 && !memcmp (key, "delta", 5)) {
            mt_json_scan_ws (s);
            out->delta = s->p < s->end && *s->p == '{';
            ok = out->delta? s_plain_delta (s, out): mt_json_scan_value (s, NULL);
        }
        else
        if (klen == 4 && !memcmp (key, "text", 4))
            ok = s_plain_member (s, out, &out->text, &out->text_len);
        else
        if (klen == 13 && !memcmp (key, "finish_reason", 13))
            ok = s_plain_member (s, out, &out->finish, &out->finish_len);
        else
            ok = mt_json_scan_value (s, NULL);
        if (!ok)
            return false;
    }
    return rc == 0;
}

//  Room for one more choice in the sink; false when out of memory.
static bool
s_choices_grow (wa_openai_sink_t *sink)
{
    if (sink->nchoices < sink->capchoices)
        return true;
    size_t room = sink->capchoices? sink->capchoices * 2: 4;
    wa_choice_t *grown = (wa_choice_t *) realloc (sink->choices, room * sizeof (wa_choice_t));
    if (!grown)
        return false;
    sink->choices = grown;
    sink->capchoices = room;
    return true;
}

//  One element (position i) of the choices array, scanned well as span
//  (seen: what its scan met; f: its walk, NULL when not an object): read
//  from the walk when plain and compact, else parsed alone with jansson
//  (kept as its own text when compact). False when jansson refuses it.
static bool
s_take_choice_span (mt_json_span_t span, unsigned seen, const s_plain_t *f, size_t i,
                    wa_openai_event_t *event, wa_openai_sink_t *sink)
{
    if (!f)
        return true;                    //  not an object: skipped, as s_take_choice does
    if (!s_choices_grow (sink))
        return true;                    //  dropped, as s_take_choice would
    char **text = &sink->text;
    size_t *text_len = &sink->text_len, *text_cap = &sink->text_cap;
    wa_choice_t *c = &sink->choices [sink->nchoices];
    memset (c, 0, sizeof *c);
    bool compact = !(seen & MT_JSON_SEEN_SPACE);
    if (!f->plain || !compact || (seen & MT_JSON_SEEN_BIGNUM)) {
        json_t *choice = s_load (span);
        if (!choice)
            return false;
        if (s_fill_choice (choice, i, true, c, event, text, text_len, text_cap,
                           compact? span.at: NULL, span.len))
            sink->nchoices++;
        json_decref (choice);
        return true;
    }
    c->json = (char *) malloc (span.len + 1);
    if (!c->json)
        return true;                    //  dropped, as s_take_choice would
    memcpy (c->json, span.at, span.len);
    c->json [span.len] = 0;
    c->len = span.len;
    c->index = f->index >= 0? (uint32_t) f->index: (uint32_t) i;
    bool any;
    if (f->delta) {
        any = s_plain_text (f->content, f->content_len, text, text_len, text_cap);
        any |= s_plain_text (f->refusal, f->refusal_len, text, text_len, text_cap);
    }
    else
        any = s_plain_text (f->text, f->text_len, text, text_len, text_cap);
    c->tokens = any? 1: 0;
    if (f->finish) {
        int n = (int) f->finish_len;
        snprintf (c->finish_reason, sizeof c->finish_reason, "%.*s", n, f->finish);
        snprintf (event->finish_reason, sizeof event->finish_reason, "%.*s", n, f->finish);
    }
    sink->nchoices++;
    return true;
}

//  The choices array, at the scan: each element walked once and taken.
//  False when it is not well formed or jansson refuses an element.
static bool
s_take_choices_scan (mt_json_scan_t *s, wa_openai_event_t *event, wa_openai_sink_t *sink)
{
    if (!mt_json_scan_open (s, '['))
        return false;
    size_t i = 0;
    int rc;
    while ((rc = mt_json_scan_element (s)) == 1) {
        unsigned seen = s->seen;
        s->seen = 0;
        mt_json_span_t span = { s->p, 0 };
        s_plain_t f;
        bool object = *s->p == '{';
        if (!(object? s_plain_choice (s, &f): mt_json_scan_value (s, NULL)))
            return false;
        span.len = (size_t) (s->p - span.at);
        unsigned met = s->seen;
        s->seen = seen;                 //  the choice's own flags stay with it
        if (!s_take_choice_span (span, met, object? &f: NULL, i++, event, sink))
            return false;
    }
    return rc == 0;
}

//  A span of the scan: the JSON literal null.
static bool
s_is_null (mt_json_span_t v)
{
    return v.len == 4 && !memcmp (v.at, "null", 4);
}

//  A member value, scanned well, that jansson reads as an integer 0 ..
//  UINT32_MAX: digits only (a '-' only before 0). *ok false when it is
//  anything else (a fraction, an exponent, negative, too big, not a number).
static uint32_t
s_plain_u32 (mt_json_span_t v, bool *ok)
{
    const char *p = v.at, *end = v.at + v.len;
    if (p < end && *p == '-')
        p++;
    uint64_t n = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && p - digits < 11)
        n = n * 10 + (uint64_t) (*p++ - '0');
    *ok = p == end && p > digits && n <= UINT32_MAX && (*v.at != '-' || n == 0);
    return (uint32_t) n;
}

//  The usage object, scanned well (no number jansson might not hold): its
//  two counts read from the scan as s_take_usage reads them. False when
//  jansson must decide (a key with an escape).
static bool
s_plain_usage (mt_json_span_t span, wa_openai_event_t *event)
{
    if (*span.at != '{')
        return true;                    //  null, or not an object: no usage
    mt_json_scan_t s;
    mt_json_scan_init (&s, span.at, span.len);
    if (!mt_json_scan_open (&s, '{'))
        return false;
    mt_json_span_t p = { NULL, 0 }, c = { NULL, 0 };
    const char *key;
    size_t klen;
    int rc;
    while ((rc = mt_json_scan_member (&s, &key, &klen)) == 1) {
        if (memchr (key, '\\', klen))
            return false;
        mt_json_span_t value;
        if (!mt_json_scan_value (&s, &value))
            return false;
        if (klen == 13 && !memcmp (key, "prompt_tokens", 13))
            p = value;                  //  a key twice: the last, as jansson
        else
        if (klen == 17 && !memcmp (key, "completion_tokens", 17))
            c = value;
    }
    if (rc != 0)
        return false;
    bool p_ok = false, c_ok = false;
    uint32_t prompt = p.at? s_plain_u32 (p, &p_ok): 0;
    uint32_t completion = c.at? s_plain_u32 (c, &c_ok): 0;
    if (p_ok && c_ok) {
        event->has_usage = true;
        event->prompt_tokens = prompt;
        event->completion_tokens = completion;
    }
    return true;
}

//  The part of the engine's last event before its choices, and the scan's
//  state there: the next event of the same stream that starts with the same
//  bytes resumes the scan at its choices (wa_openai_scan_cache_t).
static void
s_cache_keep (wa_openai_scan_cache_t *cache, const char *data, const mt_json_scan_t *s)
{
    size_t len = (size_t) (s->p - data);
    if (len > sizeof cache->prefix)
        return;
    memcpy (cache->prefix, data, len);
    cache->len = len;
    cache->depth = s->depth;
    cache->first = s->first;
    cache->seen = s->seen;
}

//  0: parsed (text and choices appended to sink); 1: not taken (the whole
//  parse decides; the sink left as it was). cache (may be NULL): see
//  wa_openai_parse_event_cached.
static int
s_parse_event_scan (const char *data, size_t len, wa_openai_event_t *event,
                    wa_openai_scan_cache_t *cache, wa_openai_sink_t *sink)
{
    mt_json_scan_t s;
    mt_json_scan_init (&s, data, len);
    mt_json_span_t usage = { NULL, 0 }, error = { NULL, 0 }, fp = { NULL, 0 };
    bool choices = false;
    const char *key = NULL;
    size_t klen = 0;
    int rc = 1;
    //  The bytes before the choices as the last event had them: the scan of
    //  those bytes ends where it ended then (nothing in them was taken)
    bool resumed = cache && cache->len && len > cache->len
                && !memcmp (data, cache->prefix, cache->len);
    wa_openai_scan_cache_t *keep = resumed? NULL: cache;
    if (resumed) {
        s.p = data + cache->len;
        s.depth = cache->depth;
        s.first = cache->first;
        s.seen = cache->seen;
        key = "choices";
        klen = 7;
    }
    else
    if (!mt_json_scan_open (&s, '{'))
        return 1;
    while (resumed || (rc = mt_json_scan_member (&s, &key, &klen)) == 1) {
        resumed = false;
        if (memchr (key, '\\', klen))
            break;                      //  it might spell a member read
        bool ok;
        mt_json_span_t value;
        if (klen == 7 && !memcmp (key, "choices", 7)) {
            if (keep && !choices && !usage.at && !error.at && !fp.at)
                s_cache_keep (keep, data, &s);
            mt_json_scan_ws (&s);
            if (choices)
                break;                  //  twice: jansson keeps the last
            choices = true;
            ok = s.p < s.end && *s.p == '['
               ? s_take_choices_scan (&s, event, sink)
               : mt_json_scan_value (&s, NULL);
        }
        else {
            ok = mt_json_scan_value (&s, &value);
            if (klen == 5 && !memcmp (key, "usage", 5))
                usage = value;
            else
            if (klen == 5 && !memcmp (key, "error", 5))
                error = value;
            else
            if (klen == 18 && !memcmp (key, "system_fingerprint", 18))
                fp = value;
        }
        if (!ok)
            break;
    }
    if (rc != 0 || !mt_json_scan_end (&s) || (s.seen & MT_JSON_SEEN_BIGNUM))
        return 1;
    json_t *value;
    if (error.at) {
        if (!(value = s_load (error)))
            return 1;
        s_take_error (value, event);
        json_decref (value);
    }
    //  A fingerprint that is null, or a string without escapes, is its text
    if (fp.at && *fp.at == '"' && !memchr (fp.at, '\\', fp.len)) {
        if (fp.len - 2 < sizeof event->system_fingerprint)
            snprintf (event->system_fingerprint, sizeof event->system_fingerprint, "%.*s",
                      (int) (fp.len - 2), fp.at + 1);
    }
    else
    if (fp.at && !s_is_null (fp)) {
        if (!(value = s_load (fp)))
            return 1;
        s_take_fingerprint (value, event);
        json_decref (value);
    }
    if (usage.at && !s_plain_usage (usage, event)) {
        if (!(value = s_load (usage)))
            return 1;
        s_take_usage (value, event, false);
        json_decref (value);
    }
    return 0;
}

//  Back to what the sink held before an event's scan began.
static void
s_sink_undo (wa_openai_sink_t *sink, size_t text_len, size_t nchoices)
{
    while (sink->nchoices > nchoices)
        free (sink->choices [--sink->nchoices].json);
    sink->text_len = text_len;
    if (sink->text)
        sink->text [text_len] = 0;
}

int
wa_openai_parse_event_into (const char *data, size_t len, wa_openai_event_t *event,
                            wa_openai_scan_cache_t *cache, wa_openai_sink_t *sink)
{
    memset (event, 0, sizeof *event);
    size_t text_len = sink->text_len, nchoices = sink->nchoices;
    int rc = s_parse_event_scan (data, len, event, cache, sink);
    if (rc == 0)
        return 0;
    s_sink_undo (sink, text_len, nchoices);
    wa_openai_event_clear (event);
    //  The whole parse, its text and choices then moved to the sink
    rc = s_parse_event_whole (data, len, event);
    if (rc == 0 && event->content
    &&  mt_buf_append (&sink->text, &sink->text_len, &sink->text_cap, event->content,
                       strlen (event->content)) == 0) {
        free (event->content);
        event->content = NULL;
    }
    for (size_t i = 0; rc == 0 && i < event->nchoices && s_choices_grow (sink); i++) {
        sink->choices [sink->nchoices++] = event->choices [i];
        event->choices [i].json = NULL;
    }
    //  What was not moved (out of memory) is dropped; the rest of the event stays
    free (event->content);
    event->content = NULL;
    for (size_t i = 0; i < event->nchoices; i++)
        free (event->choices [i].json);
    free (event->choices);
    event->choices = NULL;
    event->nchoices = 0;
    return rc;
}

int
wa_openai_parse_event_cached (const char *data, size_t len, wa_openai_event_t *event,
                              wa_openai_scan_cache_t *cache)
{
    wa_openai_sink_t sink = { NULL, 0, 0, NULL, 0, 0 };
    int rc = wa_openai_parse_event_into (data, len, event, cache, &sink);
    if (sink.text_len)
        event->content = sink.text;
    else
        free (sink.text);
    if (sink.nchoices)
        event->choices = sink.choices;
    else
        free (sink.choices);
    event->nchoices = sink.nchoices;
    return rc;
}

int
wa_openai_parse_event (const char *data, size_t len, wa_openai_event_t *event)
{
    return wa_openai_parse_event_cached (data, len, event, NULL);
}

int
wa_openai_parse_embeddings (const char *data, size_t len, wa_openai_event_t *event)
{
    memset (event, 0, sizeof *event);
    json_error_t jerr;
    json_t *root = json_loadb (data, len, 0, &jerr);
    json_t *items = json_object_get (root, "data");
    if (!json_is_object (root) || !json_is_array (items)) {
        json_decref (root);
        return -1;
    }
    s_take_choices (items, false, event, NULL, NULL, NULL);
    s_take_usage (json_object_get (root, "usage"), event, true);
    json_decref (root);
    return 0;
}

//  The body without jansson: request_json's own text, its members copied as
//  they came but stream, stream_options and (with a cap) max_tokens and
//  max_completion_tokens, which follow as s_render_body sets them. Taken only
//  when the scan reads it as jansson would: one object, strict strings, keys
//  without escapes and each once (at most S_BODY_KEYS), no number jansson
//  might not hold. NULL: not taken (s_render_body decides).
#define S_BODY_KEYS 64

//  A member value that is an integer (jansson's: no fraction or exponent).
static bool
s_body_integer (mt_json_span_t v, long long *value)
{
    if (!v.at || !memchr ("-0123456789", *v.at, 11)
    ||  memchr (v.at, '.', v.len) || memchr (v.at, 'e', v.len) || memchr (v.at, 'E', v.len))
        return false;
    *value = strtoll (v.at, NULL, 10);
    return true;
}

static char *
s_splice_body (const char *request_json, size_t len, bool stream, uint32_t max_tokens)
{
    mt_json_scan_t s;
    mt_json_scan_init (&s, request_json, len);
    if (!mt_json_scan_open (&s, '{'))
        return NULL;
    mt_json_span_t keys [S_BODY_KEYS], members [S_BODY_KEYS], caps [2] = { { NULL, 0 } };
    bool drop [S_BODY_KEYS];
    size_t n = 0;
    const char *key;
    size_t klen;
    int rc;
    bool cap = stream && max_tokens > 0;
    while ((rc = mt_json_scan_member (&s, &key, &klen)) == 1) {
        if (n == S_BODY_KEYS || memchr (key, '\\', klen))
            return NULL;
        for (size_t i = 0; i < n; i++)
            if (keys [i].len == klen && !memcmp (keys [i].at, key, klen))
                return NULL;            //  a key twice: jansson keeps the last
        mt_json_span_t value;
        if (!mt_json_scan_value (&s, &value))
            return NULL;
        keys [n] = (mt_json_span_t) { key, klen };
        members [n] = (mt_json_span_t) { key - 1, (size_t) (value.at + value.len - (key - 1)) };
        drop [n] = stream && ((klen == 6 && !memcmp (key, "stream", 6))
                           || (klen == 14 && !memcmp (key, "stream_options", 14)));
        if (cap && klen == 10 && !memcmp (key, "max_tokens", 10))
            caps [0] = value, drop [n] = true;
        if (cap && klen == 21 && !memcmp (key, "max_completion_tokens", 21))
            caps [1] = value, drop [n] = true;
        n++;
    }
    if (rc != 0 || !mt_json_scan_end (&s) || (s.seen & MT_JSON_SEEN_BIGNUM))
        return NULL;
    char *body = (char *) malloc (len + 160);
    if (!body)
        return NULL;
    char *p = body;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (drop [i])
            continue;
        if (p > body + 1)
            *p++ = ',';
        memcpy (p, members [i].at, members [i].len);
        p += members [i].len;
    }
    const char *comma = p > body + 1? ",": "";
    if (stream)
        p += sprintf (p, "%s\"stream\":true,\"stream_options\":{\"include_usage\":true}", comma);
    if (cap) {
        const char *names [] = { "max_tokens", "max_completion_tokens" };
        bool any = false;
        for (size_t i = 0; i < 2; i++) {
            long long v;
            if (!s_body_integer (caps [i], &v))
                continue;               //  absent, or not an integer: left out
            any = true;
            p += sprintf (p, ",\"%s\":%lld", names [i],
                          v <= 0 || v > (long long) max_tokens? (long long) max_tokens: v);
        }
        if (!any)
            p += sprintf (p, ",\"max_tokens\":%u", max_tokens);
    }
    *p++ = '}';
    *p = 0;
    return body;
}

//  The body to send: request_json re-rendered, with streaming asked for and
//  max_tokens capped when stream is true (chat, completions), as it came
//  otherwise (embeddings).
static char *
s_render_body (const char *request_json, size_t len, bool stream, uint32_t max_tokens,
        char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_loadb (request_json, len, 0, &jerr);
    if (!json_is_object (root)) {
        snprintf (err, errsize, "request_json is not a JSON object");
        json_decref (root);
        return NULL;
    }
    if (stream) {
        json_object_set_new (root, "stream", json_true ());
        json_object_set_new (root, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    }
    if (stream && max_tokens > 0) {
        const char *keys [] = { "max_tokens", "max_completion_tokens" };
        bool any = false;
        for (size_t i = 0; i < 2; i++) {
            json_t *v = json_object_get (root, keys [i]);
            if (json_is_integer (v)) {
                any = true;
                if (json_integer_value (v) <= 0 || json_integer_value (v) > max_tokens)
                    json_object_set_new (root, keys [i], json_integer (max_tokens));
            }
            else
            if (v)
                json_object_del (root, keys [i]);
        }
        if (!any)
            json_object_set_new (root, "max_tokens", json_integer (max_tokens));
    }
    char *body = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    if (!body)
        snprintf (err, errsize, "cannot render the request body");
    return body;
}

char *
wa_openai_body (const char *request_json, size_t len, uint32_t max_tokens,
                char *err, size_t errsize)
{
    char *body = s_splice_body (request_json, len, true, max_tokens);
    return body? body: s_render_body (request_json, len, true, max_tokens, err, errsize);
}

char *
wa_openai_body_embeddings (const char *request_json, size_t len, char *err, size_t errsize)
{
    char *body = s_splice_body (request_json, len, false, 0);
    return body? body: s_render_body (request_json, len, false, 0, err, errsize);
}
