//  openai backend, the pure half: an SSE line of the engine's stream, the
//  JSON of one event, and the request body sent to the engine. No I/O, no
//  libcurl (wa_openai.c does that).
#include "wa_openai.h"

#include <jansson.h>
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
    memset (event, 0, sizeof *event);
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
    json_t *choices = json_object_get (root, "choices");
    json_t *choice = json_is_array (choices)? json_array_get (choices, 0): NULL;
    if (json_is_object (choice)) {
        json_t *delta = json_object_get (choice, "delta");
        json_t *text = json_is_object (delta)? json_object_get (delta, "content")
                                             : json_object_get (choice, "text");
        if (json_is_string (text) && json_string_length (text) > 0)
            event->content = strndup (json_string_value (text), json_string_length (text));
        json_t *finish = json_object_get (choice, "finish_reason");
        if (json_is_string (finish))
            snprintf (event->finish_reason, sizeof event->finish_reason, "%s",
                      json_string_value (finish));
    }
    json_t *usage = json_object_get (root, "usage");
    if (json_is_object (usage)) {
        json_t *p = json_object_get (usage, "prompt_tokens");
        json_t *c = json_object_get (usage, "completion_tokens");
        if (json_is_integer (p) && json_is_integer (c)
        &&  json_integer_value (p) >= 0 && json_integer_value (c) >= 0) {
            event->has_usage = true;
            event->prompt_tokens = (uint32_t) json_integer_value (p);
            event->completion_tokens = (uint32_t) json_integer_value (c);
        }
    }
    json_decref (root);
    return 0;
}

char *
wa_openai_body (const char *request_json, size_t len, uint32_t max_tokens,
                char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_loadb (request_json, len, 0, &jerr);
    if (!json_is_object (root)) {
        snprintf (err, errsize, "request_json is not a JSON object");
        json_decref (root);
        return NULL;
    }
    json_object_set_new (root, "stream", json_true ());
    json_object_set_new (root, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    if (max_tokens > 0) {
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
