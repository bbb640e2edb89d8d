//  OpenAI JSON mapping.
#include "gw_openai.h"
#include "mt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_refuse (gw_refusal_t *why, const char *code, const char *param, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_refuse (gw_refusal_t *why, const char *code, const char *param, const char *fmt, ...)
{
    why->error = mt_error_lookup (code);
    snprintf (why->param, sizeof why->param, "%s", param? param: "");
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (why->message, sizeof why->message, fmt, ap);
    va_end (ap);
    return -1;
}

//  Append a message's content (string, or array of text parts) to f.
static int
s_flatten_content (json_t *content, FILE *f)
{
    if (json_is_string (content)) {
        fwrite (json_string_value (content), 1, json_string_length (content), f);
        return 0;
    }
    if (json_is_null (content))
        return 0;
    if (!json_is_array (content))
        return -1;
    size_t i;
    json_t *part;
    json_array_foreach (content, i, part) {
        json_t *text = json_object_get (part, "text");
        const char *type = json_string_value (json_object_get (part, "type"));
        if (!type)
            return -1;
        if (!strcmp (type, "text")) {
            if (!json_is_string (text))
                return -1;
            if (i)
                fputc (' ', f);
            fwrite (json_string_value (text), 1, json_string_length (text), f);
        }
    }
    return 0;
}

static int
s_flatten_chat (json_t *messages, char **prompt, gw_refusal_t *why)
{
    if (!messages)
        return s_refuse (why, "missing_required_parameter", "messages",
                         "Missing required parameter: 'messages'.");
    if (!json_is_array (messages) || json_array_size (messages) == 0)
        return s_refuse (why, "invalid_value", "messages",
                         "'messages' must be a non-empty array.");
    size_t size = 0;
    FILE *f = open_memstream (prompt, &size);
    if (!f)
        return s_refuse (why, "internal_error", NULL, "out of memory");
    size_t i;
    json_t *msg;
    int rc = 0;
    json_array_foreach (messages, i, msg) {
        const char *role = json_string_value (json_object_get (msg, "role"));
        if (!json_is_object (msg) || !role || !*role) {
            char param [64];
            snprintf (param, sizeof param, "messages[%zu].role", i);
            rc = s_refuse (why, "invalid_value", param, "Each message needs a string 'role'.");
            break;
        }
        fprintf (f, "%s: ", role);
        if (s_flatten_content (json_object_get (msg, "content"), f)) {
            char param [64];
            snprintf (param, sizeof param, "messages[%zu].content", i);
            rc = s_refuse (why, "invalid_value", param,
                           "'content' must be a string or an array of text parts.");
            break;
        }
        fputc ('\n', f);
    }
    fclose (f);
    if (rc) {
        free (*prompt);
        *prompt = NULL;
    }
    return rc;
}

static int
s_flatten_prompt (json_t *prompt_json, char **prompt, gw_refusal_t *why)
{
    if (!prompt_json)
        return s_refuse (why, "missing_required_parameter", "prompt",
                         "Missing required parameter: 'prompt'.");
    if (json_is_string (prompt_json)) {
        *prompt = strndup (json_string_value (prompt_json), json_string_length (prompt_json));
        return *prompt? 0: s_refuse (why, "internal_error", NULL, "out of memory");
    }
    if (!json_is_array (prompt_json) || json_array_size (prompt_json) == 0)
        return s_refuse (why, "invalid_value", "prompt",
                         "'prompt' must be a string or a non-empty array of strings.");
    size_t size = 0;
    FILE *f = open_memstream (prompt, &size);
    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach (prompt_json, i, item) {
        if (!json_is_string (item)) {
            rc = s_refuse (why, "invalid_value", "prompt",
                           "'prompt' must be a string or an array of strings.");
            break;
        }
        if (i)
            fputc ('\n', f);
        fwrite (json_string_value (item), 1, json_string_length (item), f);
    }
    fclose (f);
    if (rc) {
        free (*prompt);
        *prompt = NULL;
    }
    return rc;
}

int
gw_request_parse (gw_kind_t kind, const char *body, size_t len, uint32_t default_max_tokens,
                  gw_request_t *req, gw_refusal_t *why)
{
    memset (req, 0, sizeof *req);
    memset (why, 0, sizeof *why);
    req->kind = kind;
    json_error_t jerr;
    json_t *root = json_loadb (body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return s_refuse (why, "invalid_json", NULL,
                         "We could not parse the JSON body of your request: %s (line %d).",
                         jerr.text, jerr.line);
    req->body = root;
    if (!json_is_object (root)) {
        s_refuse (why, "invalid_value", NULL, "The request body must be a JSON object.");
        goto refused;
    }
    json_t *model = json_object_get (root, "model");
    if (!model) {
        s_refuse (why, "missing_required_parameter", "model", "Missing required parameter: 'model'.");
        goto refused;
    }
    if (!json_is_string (model) || json_string_length (model) == 0
    ||  json_string_length (model) >= sizeof req->model) {
        s_refuse (why, "invalid_value", "model", "'model' must be a non-empty string.");
        goto refused;
    }
    snprintf (req->model, sizeof req->model, "%s", json_string_value (model));

    int rc = kind == GW_KIND_CHAT
           ? s_flatten_chat (json_object_get (root, "messages"), &req->prompt, why)
           : s_flatten_prompt (json_object_get (root, "prompt"), &req->prompt, why);
    if (rc)
        goto refused;
    req->prompt_tokens = mt_tokens_count (req->prompt, strlen (req->prompt));

    const char *max_name = "max_tokens";
    json_t *max = json_object_get (root, "max_tokens");
    if (kind == GW_KIND_CHAT && (!max || json_is_null (max))) {
        max_name = "max_completion_tokens";
        max = json_object_get (root, "max_completion_tokens");
    }
    if (max && !json_is_null (max)) {
        if (!json_is_integer (max) || json_integer_value (max) < 1
        ||  json_integer_value (max) > GW_MAX_TOKENS_CAP) {
            s_refuse (why, "invalid_value", max_name,
                      "'%s' must be an integer between 1 and %d.", max_name, GW_MAX_TOKENS_CAP);
            goto refused;
        }
        req->max_tokens = (uint32_t) json_integer_value (max);
    }
    else
        req->max_tokens = default_max_tokens;

    json_t *stream = json_object_get (root, "stream");
    if (stream && !json_is_null (stream) && !json_is_boolean (stream)) {
        s_refuse (why, "invalid_value", "stream", "'stream' must be a boolean.");
        goto refused;
    }
    req->stream = json_is_true (stream);
    json_t *opts = json_object_get (root, "stream_options");
    if (opts && !json_is_null (opts)) {
        if (!json_is_object (opts)) {
            s_refuse (why, "invalid_value", "stream_options", "'stream_options' must be an object.");
            goto refused;
        }
        req->include_usage = json_is_true (json_object_get (opts, "include_usage"));
    }
    json_t *n = json_object_get (root, "n");
    if (n && !json_is_null (n) && !(json_is_integer (n) && json_integer_value (n) == 1)) {
        s_refuse (why, "invalid_value", "n", "Only n = 1 is supported.");
        goto refused;
    }
    return 0;

refused:
    gw_request_clear (req);
    return -1;
}

void
gw_request_clear (gw_request_t *req)
{
    json_decref (req->body);
    req->body = NULL;
    free (req->prompt);
    req->prompt = NULL;
}

static json_t *
s_usage (uint32_t prompt_tokens, uint32_t completion_tokens)
{
    return json_pack ("{s:i, s:i, s:i}", "prompt_tokens", (json_int_t) prompt_tokens,
                      "completion_tokens", (json_int_t) completion_tokens,
                      "total_tokens", (json_int_t) prompt_tokens + completion_tokens);
}

static char *
s_dump (json_t *root)
{
    if (!root)
        return NULL;
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

char *
gw_openai_completion (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                      const char *text, size_t text_len, const char *finish_reason,
                      uint32_t prompt_tokens, uint32_t completion_tokens)
{
    json_t *choice;
    if (kind == GW_KIND_CHAT)
        choice = json_pack ("{s:i, s:{s:s, s:s%}, s:n, s:s?}", "index", 0,
                            "message", "role", "assistant", "content", text? text: "", text_len,
                            "logprobs", "finish_reason", finish_reason);
    else
        choice = json_pack ("{s:i, s:s%, s:n, s:s?}", "index", 0, "text", text? text: "", text_len,
                            "logprobs", "finish_reason", finish_reason);
    return s_dump (json_pack ("{s:s, s:s, s:I, s:s, s:[o], s:o}", "id", id,
                              "object", kind == GW_KIND_CHAT? "chat.completion": "text_completion",
                              "created", (json_int_t) created, "model", model,
                              "choices", choice, "usage", s_usage (prompt_tokens, completion_tokens)));
}

char *
gw_openai_chunk (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                 const char *text, size_t text_len, bool first, const char *finish_reason)
{
    json_t *choice;
    if (kind == GW_KIND_CHAT) {
        json_t *delta = json_object ();
        if (first)
            json_object_set_new (delta, "role", json_string ("assistant"));
        if (text)
            json_object_set_new (delta, "content", json_stringn (text, text_len));
        choice = json_pack ("{s:i, s:o, s:n, s:s?}", "index", 0, "delta", delta,
                            "logprobs", "finish_reason", finish_reason);
    }
    else
        choice = json_pack ("{s:i, s:s%, s:n, s:s?}", "index", 0, "text", text? text: "",
                            text? text_len: 0, "logprobs", "finish_reason", finish_reason);
    return s_dump (json_pack ("{s:s, s:s, s:I, s:s, s:[o]}", "id", id,
                              "object", kind == GW_KIND_CHAT? "chat.completion.chunk": "text_completion",
                              "created", (json_int_t) created, "model", model, "choices", choice));
}

char *
gw_openai_usage_chunk (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                       uint32_t prompt_tokens, uint32_t completion_tokens)
{
    return s_dump (json_pack ("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", id,
                              "object", kind == GW_KIND_CHAT? "chat.completion.chunk": "text_completion",
                              "created", (json_int_t) created, "model", model, "choices",
                              "usage", s_usage (prompt_tokens, completion_tokens)));
}

static json_t *
s_model (const char *model, uint64_t created)
{
    return json_pack ("{s:s, s:s, s:I, s:s}", "id", model, "object", "model",
                      "created", (json_int_t) created, "owned_by", "mt");
}

char *
gw_openai_models (const char *const *models, size_t count, uint64_t created)
{
    json_t *data = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (data, s_model (models [i], created));
    return s_dump (json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

char *
gw_openai_model (const char *model, uint64_t created)
{
    return s_dump (s_model (model, created));
}

void
gw_openai_duration (uint64_t ms, char *out, size_t size)
{
    if (ms < 1000) {
        snprintf (out, size, "%llums", (unsigned long long) ms);
        return;
    }
    uint64_t h = ms / 3600000u;
    uint64_t m = (ms / 60000u) % 60u;
    uint64_t s = (ms / 1000u) % 60u;
    uint64_t frac = ms % 1000u;
    char secs [32];
    if (frac) {
        snprintf (secs, sizeof secs, "%llu.%03llu", (unsigned long long) s, (unsigned long long) frac);
        size_t n = strlen (secs);
        while (secs [n - 1] == '0')
            secs [--n] = 0;
    }
    else
        snprintf (secs, sizeof secs, "%llu", (unsigned long long) s);
    if (h)
        snprintf (out, size, "%lluh%llum%ss", (unsigned long long) h, (unsigned long long) m, secs);
    else
    if (m)
        snprintf (out, size, "%llum%ss", (unsigned long long) m, secs);
    else
        snprintf (out, size, "%ss", secs);
}
