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

//  Append a message's content (a string, null, or an array of parts of any
//  type) to f; *parts counts the parts that are not text (images, audio,
//  files). Returns 0, or -1 with the reason in why.
static int
s_flatten_content (json_t *content, FILE *f, uint32_t *parts, const char **why)
{
    if (json_is_string (content)) {
        fwrite (json_string_value (content), 1, json_string_length (content), f);
        return 0;
    }
    if (json_is_null (content))
        return 0;
    *why = "'content' must be a string, null, or an array of content parts.";
    if (!json_is_array (content))
        return -1;
    size_t i;
    json_t *part;
    json_array_foreach (content, i, part) {
        const char *type = json_string_value (json_object_get (part, "type"));
        if (!json_is_object (part) || !type || !*type) {
            *why = "Each content part must be an object with a string 'type'.";
            return -1;
        }
        const char *field = !strcmp (type, "text")? "text": !strcmp (type, "refusal")? "refusal": NULL;
        if (field) {
            json_t *text = json_object_get (part, field);
            if (!json_is_string (text)) {
                *why = "A text part needs a string 'text' (a refusal part a string 'refusal').";
                return -1;
            }
            if (i)
                fputc (' ', f);
            fwrite (json_string_value (text), 1, json_string_length (text), f);
        }
        else
            (*parts)++;         //  image_url, input_audio, file, ...: passed through
    }
    return 0;
}

//  Append an assistant message's tool calls (names and arguments) to f.
static int
s_flatten_calls (json_t *calls, FILE *f)
{
    if (!calls || json_is_null (calls))
        return 0;
    if (!json_is_array (calls))
        return -1;
    size_t i;
    json_t *call;
    json_array_foreach (calls, i, call) {
        if (!json_is_object (call))
            return -1;
        json_t *fn = json_object_get (call, "function");
        const char *name = json_string_value (json_object_get (fn, "name"));
        const char *args = json_string_value (json_object_get (fn, "arguments"));
        fprintf (f, " %s(%s)", name? name: "", args? args: "");
    }
    return 0;
}

static int
s_flatten_chat (json_t *messages, char **prompt, uint32_t *parts, gw_refusal_t *why)
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
        char param [64];
        if (!json_is_object (msg) || !role || !*role) {
            snprintf (param, sizeof param, "messages[%zu].role", i);
            rc = s_refuse (why, "invalid_value", param, "Each message needs a string 'role'.");
            break;
        }
        fprintf (f, "%s: ", role);
        json_t *content = json_object_get (msg, "content");
        bool assistant = !strcmp (role, "assistant");
        const char *reason = NULL;
        //  An assistant message may leave content out (tool calls, refusal)
        if (!content && !assistant) {
            snprintf (param, sizeof param, "messages[%zu].content", i);
            rc = s_refuse (why, "missing_required_parameter", param,
                           "Missing required parameter: '%s'.", param);
            break;
        }
        if (content && s_flatten_content (content, f, parts, &reason)) {
            snprintf (param, sizeof param, "messages[%zu].content", i);
            rc = s_refuse (why, "invalid_value", param, "%s", reason);
            break;
        }
        if (s_flatten_calls (json_object_get (msg, "tool_calls"), f)) {
            snprintf (param, sizeof param, "messages[%zu].tool_calls", i);
            rc = s_refuse (why, "invalid_value", param, "'tool_calls' must be an array of objects.");
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

//  /v1/embeddings: input (a string, an array of strings, an array of token
//  ids, an array of arrays of token ids), encoding_format, dimensions.
static int
s_parse_embedding (json_t *root, gw_request_t *req, gw_refusal_t *why)
{
    json_t *input = json_object_get (root, "input");
    if (!input)
        return s_refuse (why, "missing_required_parameter", "input",
                         "Missing required parameter: 'input'.");
    const char *bad = "'input' must be a non-empty string, an array of non-empty strings, "
                      "an array of token ids or an array of arrays of token ids.";
    size_t size = 0;
    FILE *f = open_memstream (&req->prompt, &size);
    if (!f)
        return s_refuse (why, "internal_error", NULL, "out of memory");
    int rc = 0;
    uint64_t tokens = 0;
    bool ids = json_is_array (input) && json_is_integer (json_array_get (input, 0));
    size_t count = json_is_array (input) && !ids? json_array_size (input): 1;
    if ((json_is_string (input) && json_string_length (input) == 0)
    ||  (json_is_array (input) && json_array_size (input) == 0)
    ||  (!json_is_string (input) && !json_is_array (input))
    ||  count > GW_EMBED_INPUTS_MAX)
        rc = -1;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        json_t *item = json_is_array (input) && !ids? json_array_get (input, i): input;
        if (json_is_string (item) && json_string_length (item) > 0) {
            if (i)
                fputc ('\n', f);
            fwrite (json_string_value (item), 1, json_string_length (item), f);
            tokens += mt_tokens_count (json_string_value (item), json_string_length (item));
        }
        else
        if (json_is_array (item) && json_array_size (item) > 0) {
            size_t k;
            json_t *id;
            json_array_foreach (item, k, id)
                if (!json_is_integer (id) || json_integer_value (id) < 0)
                    rc = -1;
            tokens += json_array_size (item);
        }
        else
            rc = -1;
    }
    fclose (f);
    if (rc)
        return s_refuse (why, "invalid_value", "input", "%s", bad);
    req->prompt_tokens = tokens > UINT32_MAX? UINT32_MAX: (uint32_t) tokens;
    json_t *format = json_object_get (root, "encoding_format");
    if (format && !json_is_null (format)
    &&  !(json_is_string (format) && (!strcmp (json_string_value (format), "float")
                                   || !strcmp (json_string_value (format), "base64"))))
        return s_refuse (why, "invalid_value", "encoding_format",
                         "'encoding_format' must be 'float' or 'base64'.");
    json_t *dims = json_object_get (root, "dimensions");
    if (dims && !json_is_null (dims)
    &&  !(json_is_integer (dims) && json_integer_value (dims) >= 1 && json_integer_value (dims) <= 65536))
        return s_refuse (why, "invalid_value", "dimensions",
                         "'dimensions' must be an integer between 1 and 65536.");
    json_t *stream = json_object_get (root, "stream");
    if (json_is_true (stream))
        return s_refuse (why, "invalid_value", "stream", "Embeddings are not streamed.");
    req->max_tokens = 0;
    return 0;
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

    req->n = 1;
    if (kind == GW_KIND_EMBEDDING) {
        if (s_parse_embedding (root, req, why))
            goto refused;
        return 0;
    }
    uint32_t parts = 0;
    int rc = kind == GW_KIND_CHAT
           ? s_flatten_chat (json_object_get (root, "messages"), &req->prompt, &parts, why)
           : s_flatten_prompt (json_object_get (root, "prompt"), &req->prompt, why);
    if (rc)
        goto refused;
    req->prompt_tokens = mt_tokens_count (req->prompt, strlen (req->prompt))
                       + parts * GW_PART_TOKENS;

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
    if (n && !json_is_null (n)) {
        if (!json_is_integer (n) || json_integer_value (n) < 1 || json_integer_value (n) > GW_N_MAX) {
            s_refuse (why, "invalid_value", "n", "'n' must be an integer between 1 and %d.", GW_N_MAX);
            goto refused;
        }
        req->n = (uint32_t) json_integer_value (n);
    }
    json_t *tools = json_object_get (root, "tools");
    if (tools && !json_is_null (tools) && !json_is_array (tools)) {
        s_refuse (why, "invalid_value", "tools", "'tools' must be an array.");
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

//  The body without its last two bytes ("]}" of an empty array that is the
//  last member): the start of a splice, ending in "[".
static char *
s_dump_open (json_t *root)
{
    char *text = s_dump (root);
    size_t len = text? strlen (text): 0;
    if (len < 2 || strcmp (text + len - 2, "]}")) {
        free (text);
        return NULL;
    }
    text [len - 2] = 0;
    return text;
}

char *
gw_openai_chunk_prefix (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                        const char *fingerprint)
{
    json_t *root = json_pack ("{s:s, s:s, s:I, s:s}", "id", id,
                              "object", kind == GW_KIND_CHAT? "chat.completion.chunk": "text_completion",
                              "created", (json_int_t) created, "model", model);
    if (!root)
        return NULL;
    if (fingerprint && *fingerprint)
        json_object_set_new (root, "system_fingerprint", json_string (fingerprint));
    json_object_set_new (root, "choices", json_array ());
    return s_dump_open (root);    //  ends in "choices":[
}

char *
gw_openai_whole (gw_kind_t kind, const char *id, const char *model, uint64_t created,
                 const char *fingerprint, json_t *choices, uint32_t prompt_tokens,
                 uint32_t completion_tokens)
{
    json_t *root = json_pack ("{s:s, s:s, s:I, s:s, s:o, s:o}", "id", id,
                              "object", kind == GW_KIND_CHAT? "chat.completion": "text_completion",
                              "created", (json_int_t) created, "model", model, "choices", choices,
                              "usage", s_usage (prompt_tokens, completion_tokens));
    if (root)
        json_object_set_new (root, "system_fingerprint",
                             fingerprint && *fingerprint? json_string (fingerprint): json_null ());
    return s_dump (root);
}

char *
gw_openai_embeddings (const char *model, const char *items, size_t len, uint32_t prompt_tokens)
{
    char *head = s_dump_open (json_pack ("{s:s, s:s, s:{s:I, s:I}, s:[]}", "object", "list",
                                         "model", model, "usage", "prompt_tokens",
                                         (json_int_t) prompt_tokens, "total_tokens",
                                         (json_int_t) prompt_tokens, "data"));
    if (!head)
        return NULL;
    size_t hlen = strlen (head);
    char *body = malloc (hlen + len + 3);
    if (body) {
        memcpy (body, head, hlen);
        memcpy (body + hlen, items? items: "", len);
        memcpy (body + hlen + len, "]}", 3);
    }
    free (head);
    return body;
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
