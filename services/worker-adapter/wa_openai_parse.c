//  openai backend, the pure half: an SSE line of the engine's stream, the
//  JSON of one event, and the request body sent to the engine. No I/O, no
//  libcurl (wa_openai.c does that).
#include "wa_openai.h"

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

//  Append a JSON string's text to the open memstream (when it is one).
static bool
s_text (FILE *f, json_t *value)
{
    if (!json_is_string (value) || json_string_length (value) == 0)
        return false;
    fwrite (json_string_value (value), 1, json_string_length (value), f);
    return true;
}

//  The text a choice carries: content, refusal, completion text, tool-call
//  names and argument fragments. True when there was any.
static bool
s_choice_text (json_t *choice, FILE *f)
{
    json_t *delta = json_object_get (choice, "delta");
    if (!json_is_object (delta))
        return s_text (f, json_object_get (choice, "text"));
    bool any = s_text (f, json_object_get (delta, "content"));
    any |= s_text (f, json_object_get (delta, "refusal"));
    json_t *calls = json_object_get (delta, "tool_calls");
    size_t i;
    json_t *call;
    json_array_foreach (calls, i, call) {
        json_t *fn = json_object_get (call, "function");
        any |= s_text (f, json_object_get (fn, "arguments"));
    }
    return any;
}

//  Render each object of array (choices, or embedding items) into event.
static void
s_take_choices (json_t *array, bool chat_like, wa_openai_event_t *event, FILE *text)
{
    size_t count = json_array_size (array);
    if (count == 0)
        return;
    event->choices = (wa_choice_t *) calloc (count, sizeof (wa_choice_t));
    if (!event->choices)
        return;
    size_t i;
    json_t *choice;
    json_array_foreach (array, i, choice) {
        if (!json_is_object (choice))
            continue;
        wa_choice_t *c = &event->choices [event->nchoices];
        json_t *index = json_object_get (choice, "index");
        c->index = json_is_integer (index) && json_integer_value (index) >= 0
                && json_integer_value (index) < 65536? (uint32_t) json_integer_value (index)
                                                      : (uint32_t) i;
        c->json = json_dumps (choice, JSON_COMPACT);
        if (!c->json)
            continue;
        c->len = strlen (c->json);
        if (chat_like) {
            c->tokens = s_choice_text (choice, text)? 1: 0;
            json_t *finish = json_object_get (choice, "finish_reason");
            if (json_is_string (finish)) {
                snprintf (c->finish_reason, sizeof c->finish_reason, "%s", json_string_value (finish));
                snprintf (event->finish_reason, sizeof event->finish_reason, "%s",
                          json_string_value (finish));
            }
        }
        event->nchoices++;
    }
}

static void
s_take_usage (json_t *root, wa_openai_event_t *event, bool embeddings)
{
    json_t *usage = json_object_get (root, "usage");
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

int
wa_openai_parse_event (const char *data, size_t len, wa_openai_event_t *event)
{
    memset (event, 0, sizeof *event);
    json_error_t jerr;
    json_t *root = json_loadb (data, len, 0, &jerr);
    if (!json_is_object (root)) {
        json_decref (root);
        return -1;
    }
    json_t *err = json_object_get (root, "error");
    if (err) {
        json_t *msg = json_is_object (err)? json_object_get (err, "message"): err;
        event->error = strdup (json_is_string (msg)? json_string_value (msg): "engine error");
    }
    json_t *fp = json_object_get (root, "system_fingerprint");
    if (json_is_string (fp) && json_string_length (fp) < sizeof event->system_fingerprint)
        snprintf (event->system_fingerprint, sizeof event->system_fingerprint, "%s",
                  json_string_value (fp));
    char *text = NULL;
    size_t text_len = 0;
    FILE *f = open_memstream (&text, &text_len);
    json_t *choices = json_object_get (root, "choices");
    if (f && json_is_array (choices))
        s_take_choices (choices, true, event, f);
    if (f)
        fclose (f);
    if (text && text_len)
        event->content = text;
    else
        free (text);
    s_take_usage (root, event, false);
    json_decref (root);
    return 0;
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
    s_take_choices (items, false, event, NULL);
    s_take_usage (root, event, true);
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
