//  openai backend, the pure half: an SSE line of the engine's stream, the
//  JSON of one event, and the request body sent to the engine. No I/O, no
//  libcurl (wa_openai.c does that).
#include "wa_openai.h"
#include "mt_buf.h"

#include <ctype.h>
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
wa_choice_destroy (wa_choice_t **choice_p)
{
    if (!choice_p || !*choice_p)
        return;
    free ((*choice_p)->json);
    free (*choice_p);
    *choice_p = NULL;
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

//  Keep one object of choices (or embedding items), element i, in event.
//  raw (may be NULL) is its text as it came, used as is when compact.
static void
s_take_choice (json_t *choice, size_t i, bool chat_like, wa_openai_event_t *event,
               char **text, size_t *text_len, size_t *text_cap, const char *raw, size_t raw_len)
{
    if (!json_is_object (choice))
        return;
    wa_choice_t *c = &event->choices [event->nchoices];
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
        return;
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
        s_take_choice (choice, i, chat_like, event, text, text_len, text_cap, NULL, 0);
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
//  about 5 us an event, 18 events a 16-token answer. A structural scan
//  (grammar only: strings and their escapes, numbers, literals, nesting; no
//  values built, nothing allocated) finds the members read; only those are
//  parsed with jansson, and a choice already compact goes on as its own
//  text. Members not read are checked for grammar only (not for UTF-8, NUL
//  escapes or integer range, which jansson refuses). Anything the scan does
//  not take (not one object, a key with an escape, nesting deeper than
//  S_SCAN_DEPTH, a member jansson refuses) goes to the whole parse, which
//  decides as before.

#define S_SCAN_DEPTH 64         //  deeper than this: the whole parse

typedef struct {
    const char *p, *end;
    int depth;
    bool spaced;                //  whitespace was skipped (reset by the caller)
} s_scan_t;

typedef struct {
    const char *at;             //  NULL: the member is absent
    size_t len;
} s_span_t;

static void
s_scan_ws (s_scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) {
        s->p++;
        s->spaced = true;
    }
}

//  At '"'.
static bool
s_scan_string (s_scan_t *s)
{
    s->p++;
    while (s->p < s->end) {
        unsigned char c = (unsigned char) *s->p++;
        if (c == '"')
            return true;
        if (c < 0x20)
            return false;
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            return false;
        c = (unsigned char) *s->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, s->p++)
                if (s->p >= s->end || !isxdigit ((unsigned char) *s->p))
                    return false;
        }
        else
        if (!memchr ("\"\\/bfnrt", c, 8))
            return false;
    }
    return false;
}

static bool
s_scan_digits (s_scan_t *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start;
}

static bool
s_scan_number (s_scan_t *s)
{
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else
    if (!s_scan_digits (s))
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (!s_scan_digits (s))
            return false;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (!s_scan_digits (s))
            return false;
    }
    return true;
}

static bool
s_scan_word (s_scan_t *s, const char *word, size_t len)
{
    if ((size_t) (s->end - s->p) < len || memcmp (s->p, word, len))
        return false;
    s->p += len;
    return true;
}

static bool s_scan_value (s_scan_t *s);

//  At '{' or '['.
static bool
s_scan_container (s_scan_t *s)
{
    char close = *s->p == '{'? '}': ']';
    if (++s->depth > S_SCAN_DEPTH)
        return false;
    s->p++;
    s_scan_ws (s);
    if (s->p < s->end && *s->p == close) {
        s->p++;
        s->depth--;
        return true;
    }
    while (s->p < s->end) {
        if (close == '}') {
            if (*s->p != '"' || !s_scan_string (s))
                return false;
            s_scan_ws (s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            s->p++;
            s_scan_ws (s);
        }
        if (!s_scan_value (s))
            return false;
        s_scan_ws (s);
        if (s->p < s->end && *s->p == close) {
            s->p++;
            s->depth--;
            return true;
        }
        if (s->p >= s->end || *s->p != ',')
            return false;
        s->p++;
        s_scan_ws (s);
    }
    return false;
}

//  One value, at its first byte; stops right after its last.
static bool
s_scan_value (s_scan_t *s)
{
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
        case '"':
            return s_scan_string (s);
        case '{':
        case '[':
            return s_scan_container (s);
        case 't':
            return s_scan_word (s, "true", 4);
        case 'f':
            return s_scan_word (s, "false", 5);
        case 'n':
            return s_scan_word (s, "null", 4);
        default:
            return (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && s_scan_number (s);
    }
}

//  The root object's members the worker reads, as spans of data (a repeated
//  key: the last, as jansson keeps it). False when data is not one
//  well-formed object, or has a key with an escape (it might spell one of
//  these).
static bool
s_scan_event (const char *data, size_t len, s_span_t *choices, s_span_t *usage,
              s_span_t *error, s_span_t *fingerprint)
{
    s_scan_t s = { data, data + len, 1, false };
    s_scan_ws (&s);
    if (s.p >= s.end || *s.p != '{')
        return false;
    s.p++;
    s_scan_ws (&s);
    bool more = s.p >= s.end || *s.p != '}';
    if (!more)
        s.p++;
    while (more) {
        if (s.p >= s.end || *s.p != '"')
            return false;
        const char *key = s.p + 1;
        if (!s_scan_string (&s))
            return false;
        size_t klen = (size_t) (s.p - 1 - key);
        if (memchr (key, '\\', klen))
            return false;
        s_scan_ws (&s);
        if (s.p >= s.end || *s.p != ':')
            return false;
        s.p++;
        s_scan_ws (&s);
        const char *at = s.p;
        if (!s_scan_value (&s))
            return false;
        s_span_t span = { at, (size_t) (s.p - at) };
        if (klen == 7 && !memcmp (key, "choices", 7))
            *choices = span;
        else
        if (klen == 5 && !memcmp (key, "usage", 5))
            *usage = span;
        else
        if (klen == 5 && !memcmp (key, "error", 5))
            *error = span;
        else
        if (klen == 18 && !memcmp (key, "system_fingerprint", 18))
            *fingerprint = span;
        s_scan_ws (&s);
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            more = false;
        }
        else
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            s_scan_ws (&s);
        }
        else
            return false;
    }
    s_scan_ws (&s);
    return s.p == s.end;        //  nothing after the object
}

//  One member's value parsed with jansson; NULL when it refuses it.
static json_t *
s_load (s_span_t span)
{
    json_error_t jerr;
    return json_loadb (span.at, span.len, JSON_DECODE_ANY, &jerr);
}

//  A member's value span within an object span, from the scan: the last of
//  that key among the object's members (jansson keeps the last), or absent.
//  The object scanned well already.
static void
s_members (s_span_t object, const char **keys, s_span_t *values, size_t nkeys)
{
    s_scan_t s = { object.at + 1, object.at + object.len, 1, false };
    s_scan_ws (&s);
    while (s.p < s.end && *s.p == '"') {
        const char *key = s.p + 1;
        if (!s_scan_string (&s))
            return;
        size_t klen = (size_t) (s.p - 1 - key);
        s_scan_ws (&s);
        s.p++;                          //  ':'
        s_scan_ws (&s);
        const char *at = s.p;
        if (!s_scan_value (&s))
            return;
        for (size_t k = 0; k < nkeys; k++)
            if (strlen (keys [k]) == klen && !memcmp (keys [k], key, klen))
                values [k] = (s_span_t) { at, (size_t) (s.p - at) };
        s_scan_ws (&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            s_scan_ws (&s);
        }
    }
}

//  A string span's text without its quotes: non-empty (as s_text takes).
static bool
s_plain_text (s_span_t span, char **text, size_t *len, size_t *cap)
{
    if (!span.at || *span.at != '"' || span.len <= 2)
        return false;
    mt_buf_append (text, len, cap, span.at + 1, span.len - 2);
    return true;
}

//  The choices most engines stream, read from the scan alone, as
//  s_take_choice reads them with jansson: a compact object, ASCII only, no
//  escape (so every string is its own text, and jansson would take it: the
//  grammar is checked), no number longer than 15 digits or with an
//  exponent, no tool calls. About a fifth of what jansson costs per choice.
//  False: not taken, jansson reads it.
static bool
s_take_choice_plain (s_span_t span, size_t i, wa_openai_event_t *event,
                     char **text, size_t *text_len, size_t *text_cap)
{
    if (span.len < 2 || *span.at != '{')
        return false;
    size_t digits = 0;
    for (size_t k = 0; k < span.len; k++) {
        unsigned char c = (unsigned char) span.at [k];
        if (c >= 0x80 || c == '\\')
            return false;
        if ((c == 'e' || c == 'E') && digits)
            return false;               //  an exponent: jansson refuses some (1e999)
        digits = c >= '0' && c <= '9'? digits + 1: 0;
        if (digits > 15)
            return false;               //  an integer jansson may refuse
    }
    const char *keys [] = { "index", "delta", "text", "finish_reason" };
    s_span_t v [4] = { { NULL, 0 } };
    s_members (span, keys, v, 4);
    s_span_t content = { NULL, 0 }, refusal = { NULL, 0 };
    bool delta = v [1].at && *v [1].at == '{';
    if (delta) {
        const char *dkeys [] = { "content", "refusal", "tool_calls" };
        s_span_t dv [3] = { { NULL, 0 } };
        s_members (v [1], dkeys, dv, 3);
        if (dv [2].at && *dv [2].at == '[')
            return false;               //  tool calls: jansson
        content = dv [0];
        refusal = dv [1];
    }
    wa_choice_t *c = &event->choices [event->nchoices];
    c->json = (char *) malloc (span.len + 1);
    if (!c->json)
        return true;                    //  dropped, as s_take_choice would
    memcpy (c->json, span.at, span.len);
    c->json [span.len] = 0;
    c->len = span.len;
    c->index = (uint32_t) i;
    if (v [0].at && (*v [0].at == '-' || (*v [0].at >= '0' && *v [0].at <= '9'))
    &&  !memchr (v [0].at, '.', v [0].len) && !memchr (v [0].at, 'e', v [0].len)
    &&  !memchr (v [0].at, 'E', v [0].len)) {
        long long index = strtoll (v [0].at, NULL, 10);
        if (index >= 0 && index < 65536)
            c->index = (uint32_t) index;
    }
    bool any;
    if (delta) {
        any = s_plain_text (content, text, text_len, text_cap);
        any |= s_plain_text (refusal, text, text_len, text_cap);
    }
    else
        any = s_plain_text (v [2], text, text_len, text_cap);
    c->tokens = any? 1: 0;
    if (v [3].at && *v [3].at == '"') {
        int n = (int) v [3].len - 2;
        snprintf (c->finish_reason, sizeof c->finish_reason, "%.*s", n, v [3].at + 1);
        snprintf (event->finish_reason, sizeof event->finish_reason, "%.*s", n, v [3].at + 1);
    }
    event->nchoices++;
    return true;
}

//  Each element of the choices array (a span that scanned well): read from
//  the scan when plain (s_take_choice_plain), else parsed alone with
//  jansson, kept as its own text when compact. False when jansson refuses one.
static bool
s_take_choice_spans (s_span_t choices, wa_openai_event_t *event,
                     char **text, size_t *text_len, size_t *text_cap)
{
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        s_scan_t s = { choices.at + 1, choices.at + choices.len, 1, false };
        s_scan_ws (&s);
        size_t i = 0;
        while (s.p < s.end && *s.p != ']') {
            const char *at = s.p;
            s.spaced = false;
            if (!s_scan_value (&s))
                return false;
            if (pass == 1) {
                s_span_t span = { at, (size_t) (s.p - at) };
                if (!s.spaced && s_take_choice_plain (span, i, event, text, text_len, text_cap)) {
                    i++;
                    s_scan_ws (&s);
                    if (s.p < s.end && *s.p == ',') {
                        s.p++;
                        s_scan_ws (&s);
                    }
                    continue;
                }
                json_t *choice = s_load (span);
                if (!choice)
                    return false;
                s_take_choice (choice, i, true, event, text, text_len, text_cap,
                               s.spaced? NULL: span.at, span.len);
                json_decref (choice);
            }
            i++;
            s_scan_ws (&s);
            if (s.p < s.end && *s.p == ',') {
                s.p++;
                s_scan_ws (&s);
            }
        }
        count = i;
        if (pass == 0 && (count == 0 || !s_choices_alloc (event, count)))
            return true;
    }
    return true;
}

//  0: parsed; 1: not taken (the whole parse decides).
static int
s_parse_event_scan (const char *data, size_t len, wa_openai_event_t *event)
{
    s_span_t choices = { NULL, 0 }, usage = { NULL, 0 }, error = { NULL, 0 }, fp = { NULL, 0 };
    if (!s_scan_event (data, len, &choices, &usage, &error, &fp))
        return 1;
    json_t *value;
    if (error.at) {
        if (!(value = s_load (error)))
            return 1;
        s_take_error (value, event);
        json_decref (value);
    }
    if (fp.at) {
        if (!(value = s_load (fp)))
            return 1;
        s_take_fingerprint (value, event);
        json_decref (value);
    }
    char *text = NULL;
    size_t text_len = 0, text_cap = 0;
    if (choices.at && *choices.at == '['
    &&  !s_take_choice_spans (choices, event, &text, &text_len, &text_cap)) {
        free (text);
        return 1;
    }
    if (text && text_len)
        event->content = text;
    else
        free (text);
    if (usage.at) {
        if (!(value = s_load (usage)))
            return 1;
        s_take_usage (value, event, false);
        json_decref (value);
    }
    return 0;
}

int
wa_openai_parse_event (const char *data, size_t len, wa_openai_event_t *event)
{
    memset (event, 0, sizeof *event);
    if (s_parse_event_scan (data, len, event) == 0)
        return 0;
    wa_openai_event_clear (event);
    return s_parse_event_whole (data, len, event);
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
    return s_render_body (request_json, len, true, max_tokens, err, errsize);
}

char *
wa_openai_body_embeddings (const char *request_json, size_t len, char *err, size_t errsize)
{
    return s_render_body (request_json, len, false, 0, err, errsize);
}
