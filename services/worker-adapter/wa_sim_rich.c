//  Engine simulator: tool calls, logprobs, n > 1 and embeddings.
#include "wa_sim_rich.h"
#include "mt_util.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FRAGMENT 4                //  bytes of arguments per step, at most
#define S_SCHEMA_DEPTH 8            //  nesting followed in a schema

struct _wa_sim_rich_t {
    bool chat;
    uint32_t n;                     //  choices
    bool logprobs;                  //  chat: logprobs true; completion: logprobs >= 0
    uint32_t top_logprobs;
    char *tool;                     //  function to call, owned; NULL = text
    char *arguments;                //  its arguments, compact JSON, owned
    size_t *cuts;                   //  fragment boundaries in arguments, owned
    size_t ncuts;                   //  fragments + 1
    uint64_t hash;
};

//  --------------------------------------------------------------------------
//  Values from a JSON schema

static const char *s_words [] = { "alpha", "blue", "paris", "seven", "delta", "north", "oak", "sim" };

static json_t *s_value (json_t *schema, uint64_t hash, int depth);

//  The first type named by "type" (a string or an array), "null" last.
static const char *
s_type (json_t *schema)
{
    json_t *type = json_object_get (schema, "type");
    if (json_is_string (type))
        return json_string_value (type);
    const char *pick = NULL;
    size_t i;
    json_t *t;
    json_array_foreach (type, i, t)
        if (json_is_string (t) && (!pick || !strcmp (pick, "null")))
            pick = json_string_value (t);
    if (pick)
        return pick;
    if (json_is_object (json_object_get (schema, "properties")))
        return "object";
    if (json_object_get (schema, "items"))
        return "array";
    return "string";
}

static json_t *
s_number (json_t *schema, uint64_t hash, bool integer)
{
    json_t *min = json_object_get (schema, "minimum");
    json_t *max = json_object_get (schema, "maximum");
    double lo = json_is_number (min)? json_number_value (min): 1;
    double hi = json_is_number (max)? json_number_value (max): lo + 99;
    if (hi < lo)
        hi = lo;
    double v = lo + (double) (hash % 100) * (hi - lo) / 100.0;
    if (integer) {
        v = ceil (v);
        if (v > hi)
            v = floor (hi);
        if (v < -9e15 || v > 9e15)
            v = 0;
        return json_integer ((json_int_t) v);
    }
    return json_real (v);
}

static json_t *
s_object (json_t *schema, uint64_t hash, int depth)
{
    json_t *out = json_object ();
    json_t *props = json_object_get (schema, "properties");
    const char *key;
    json_t *sub;
    uint64_t h = hash;
    json_object_foreach (props, key, sub) {
        h = wa_sim_mix (h);
        json_t *v = s_value (sub, h, depth + 1);
        if (v)
            json_object_set_new (out, key, v);
    }
    return out;
}

static json_t *
s_value (json_t *schema, uint64_t hash, int depth)
{
    if (depth > S_SCHEMA_DEPTH || !json_is_object (schema))
        return json_null ();
    json_t *c = json_object_get (schema, "const");
    if (c)
        return json_deep_copy (c);
    json_t *en = json_object_get (schema, "enum");
    if (json_is_array (en) && json_array_size (en))
        return json_deep_copy (json_array_get (en, hash % json_array_size (en)));
    const char *alts [] = { "anyOf", "oneOf", "allOf" };
    for (int i = 0; i < 3; i++) {
        json_t *list = json_object_get (schema, alts [i]);
        if (json_is_array (list) && json_array_size (list))
            return s_value (json_array_get (list, 0), hash, depth + 1);
    }
    const char *type = s_type (schema);
    if (!strcmp (type, "object"))
        return s_object (schema, hash, depth);
    if (!strcmp (type, "array")) {
        json_t *out = json_array ();
        json_t *min = json_object_get (schema, "minItems");
        json_int_t count = json_is_integer (min) && json_integer_value (min) > 1
                         ? json_integer_value (min): 1;
        if (count > 3)
            count = 3;
        json_t *items = json_object_get (schema, "items");
        for (json_int_t i = 0; i < count; i++)
            json_array_append_new (out, items? s_value (items, wa_sim_mix (hash + (uint64_t) i), depth + 1)
                                             : json_string ("sim"));
        return out;
    }
    if (!strcmp (type, "integer"))
        return s_number (schema, hash, true);
    if (!strcmp (type, "number"))
        return s_number (schema, hash, false);
    if (!strcmp (type, "boolean"))
        return json_boolean (hash & 1);
    if (!strcmp (type, "null"))
        return json_null ();
    //  A string, long enough for minLength
    char word [64];
    snprintf (word, sizeof word, "%s", s_words [hash % (sizeof s_words / sizeof s_words [0])]);
    json_t *min = json_object_get (schema, "minLength");
    size_t want = json_is_integer (min) && json_integer_value (min) > 0
                ? (size_t) json_integer_value (min): 0;
    size_t len = strlen (word);
    while (len < want && len < sizeof word - 1)
        word [len++] = 'x';
    word [len] = 0;
    return json_string (word);
}

char *
wa_sim_schema_value (const char *schema_json, size_t len, uint64_t hash)
{
    json_error_t jerr;
    json_t *schema = json_loadb (schema_json, len, 0, &jerr);
    json_t *v = s_value (schema, hash, 0);
    char *text = v? json_dumps (v, JSON_COMPACT | JSON_ENCODE_ANY): NULL;
    json_decref (v);
    json_decref (schema);
    return text;
}

//  --------------------------------------------------------------------------
//  Options

//  The tool the request makes the model call, or NULL for a text answer.
static json_t *
s_pick_tool (json_t *root, uint64_t hash)
{
    json_t *tools = json_object_get (root, "tools");
    if (!json_is_array (tools) || json_array_size (tools) == 0)
        return NULL;
    json_t *choice = json_object_get (root, "tool_choice");
    const char *mode = json_is_string (choice)? json_string_value (choice): "auto";
    const char *named = NULL;
    if (json_is_object (choice)) {
        named = json_string_value (json_object_get (json_object_get (choice, "function"), "name"));
        mode = "required";
    }
    if (!strcmp (mode, "none"))
        return NULL;
    if (strcmp (mode, "required")) {
        //  auto: answer in words once a tool's result is in
        json_t *msgs = json_object_get (root, "messages");
        json_t *last = json_array_get (msgs, json_array_size (msgs) - 1);
        const char *role = json_string_value (json_object_get (last, "role"));
        if (role && (!strcmp (role, "tool") || !strcmp (role, "function")))
            return NULL;
    }
    size_t i;
    json_t *tool;
    json_t *pick = NULL;
    json_array_foreach (tools, i, tool) {
        json_t *fn = json_object_get (tool, "function");
        const char *name = json_string_value (json_object_get (fn, "name"));
        if (!name || !*name)
            continue;
        if (named && !strcmp (name, named))
            return fn;
        if (!pick || (!named && hash % json_array_size (tools) == i))
            pick = fn;
    }
    return pick;
}

static void
s_cut_arguments (wa_sim_rich_t *self)
{
    size_t len = strlen (self->arguments);
    self->cuts = (size_t *) calloc (len + 2, sizeof (size_t));
    if (!self->cuts)
        return;
    size_t at = 0;
    self->cuts [self->ncuts++] = 0;
    while (at < len) {
        at += S_FRAGMENT;
        if (at > len)
            at = len;
        while (at < len && ((unsigned char) self->arguments [at] & 0xC0) == 0x80)
            at++;               //  never split a UTF-8 sequence
        self->cuts [self->ncuts++] = at;
    }
}

wa_sim_rich_t *
wa_sim_rich_new (bool chat, const char *request_json, size_t len, uint64_t hash)
{
    wa_sim_rich_t *self = (wa_sim_rich_t *) calloc (1, sizeof (wa_sim_rich_t));
    if (!self)
        return NULL;
    self->chat = chat;
    self->n = 1;
    self->hash = hash;
    json_error_t jerr;
    json_t *root = request_json? json_loadb (request_json, len, 0, &jerr): NULL;
    if (!json_is_object (root)) {
        json_decref (root);
        return self;
    }
    json_t *n = json_object_get (root, "n");
    if (json_is_integer (n) && json_integer_value (n) > 1)
        self->n = json_integer_value (n) > WA_SIM_N_MAX? WA_SIM_N_MAX: (uint32_t) json_integer_value (n);
    json_t *lp = json_object_get (root, "logprobs");
    json_t *top = json_object_get (root, chat? "top_logprobs": "logprobs");
    self->logprobs = chat? json_is_true (lp): json_is_integer (lp) && json_integer_value (lp) >= 0;
    if (self->logprobs && json_is_integer (top) && json_integer_value (top) > 0)
        self->top_logprobs = json_integer_value (top) > 20? 20: (uint32_t) json_integer_value (top);
    json_t *fn = chat? s_pick_tool (root, hash): NULL;
    if (fn) {
        self->tool = strdup (json_string_value (json_object_get (fn, "name")));
        json_t *params = json_object_get (fn, "parameters");
        json_t *args = json_is_object (params)? s_value (params, hash, 0): json_object ();
        if (!json_is_object (args)) {
            json_decref (args);
            args = json_object ();
        }
        self->arguments = json_dumps (args, JSON_COMPACT);
        json_decref (args);
        if (self->tool && self->arguments)
            s_cut_arguments (self);
        if (!self->cuts) {
            free (self->tool);
            free (self->arguments);
            self->tool = self->arguments = NULL;
        }
    }
    json_decref (root);
    return self;
}

void
wa_sim_rich_destroy (wa_sim_rich_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    wa_sim_rich_t *self = *self_p;
    free (self->tool);
    free (self->arguments);
    free (self->cuts);
    free (self);
    *self_p = NULL;
}

bool
wa_sim_rich_needed (wa_sim_rich_t *self)
{
    return self->n > 1 || self->logprobs || self->tool;
}

uint32_t
wa_sim_rich_n (wa_sim_rich_t *self)
{
    return self->n;
}

const char *
wa_sim_rich_tool (wa_sim_rich_t *self)
{
    return self->tool;
}

const char *
wa_sim_rich_arguments (wa_sim_rich_t *self)
{
    return self->arguments;
}

void
wa_sim_rich_plan (wa_sim_rich_t *self, wa_sim_plan_t *plan, uint32_t max_tokens)
{
    if (!self->tool)
        return;
    uint32_t steps = (uint32_t) self->ncuts;        //  the name, then each fragment
    plan->capped = max_tokens > 0 && steps > max_tokens;
    plan->completion_tokens = plan->capped? max_tokens: steps;
}

const char *
wa_sim_rich_finish (wa_sim_rich_t *self, const wa_sim_plan_t *plan)
{
    return plan->capped? "length": self->tool? "tool_calls": "stop";
}

//  -log p of a token, from the hash: a number in (0, 5].
static double
s_logprob (uint64_t r, uint32_t rank)
{
    return -((double) (r % 400) / 100.0 + 0.01 + rank * 0.75);
}

static json_t *
s_bytes (const char *text)
{
    json_t *bytes = json_array ();
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        json_array_append_new (bytes, json_integer (*c));
    return bytes;
}

//  The k-th likeliest token at a step (k = 0: the token itself), into alt
//  (WA_SIM_PIECE_MAX bytes), and its logprob.
static double
s_alternative (const wa_sim_plan_t *plan, uint32_t step, uint32_t k, const char *token, char *alt)
{
    if (k == 0)
        snprintf (alt, WA_SIM_PIECE_MAX, "%s", token);
    else {
        wa_sim_plan_t other = *plan;
        other.hash = wa_sim_mix (plan->hash + k);
        wa_sim_piece (&other, step, alt);
    }
    return s_logprob (wa_sim_mix (plan->hash ^ ((uint64_t) step << 20)), k);
}

//  Chat logprobs of one token: {"content":[{token, logprob, bytes, top_logprobs}], "refusal":null}.
static json_t *
s_chat_logprobs (wa_sim_rich_t *self, const wa_sim_plan_t *plan, uint32_t step, const char *token)
{
    json_t *top = json_array ();
    char alt [WA_SIM_PIECE_MAX];
    for (uint32_t k = 0; k < self->top_logprobs; k++) {
        double lp = s_alternative (plan, step, k, token, alt);
        json_array_append_new (top, json_pack ("{s:s, s:f, s:o}", "token", alt, "logprob", lp,
                                               "bytes", s_bytes (alt)));
    }
    return json_pack ("{s:[{s:s, s:f, s:o, s:o}], s:n}", "content", "token", token,
                      "logprob", s_alternative (plan, step, 0, token, alt), "bytes", s_bytes (token),
                      "top_logprobs", top, "refusal");
}

//  Completion logprobs: {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
static json_t *
s_text_logprobs (wa_sim_rich_t *self, const wa_sim_plan_t *plan, uint32_t step, const char *token,
                 size_t offset)
{
    json_t *top = json_object ();
    char alt [WA_SIM_PIECE_MAX];
    for (uint32_t k = 0; k < self->top_logprobs; k++) {
        double lp = s_alternative (plan, step, k, token, alt);
        if (!json_object_get (top, alt))
            json_object_set_new (top, alt, json_real (lp));
    }
    return json_pack ("{s:[s], s:[f], s:[o], s:[I]}", "tokens", token, "token_logprobs",
                      s_alternative (plan, step, 0, token, alt), "top_logprobs", top,
                      "text_offset", (json_int_t) offset);
}

char *
wa_sim_rich_delta (wa_sim_rich_t *self, const wa_sim_plan_t *plan, uint32_t step,
                   uint32_t choice, uint32_t *tokens)
{
    assert (self && plan && tokens);
    *tokens = 1;
    wa_sim_plan_t mine = *plan;
    if (choice)
        mine.hash = wa_sim_mix (plan->hash ^ choice);
    bool last = step + 1 >= plan->completion_tokens;
    json_t *finish = last? json_string (wa_sim_rich_finish (self, plan)): json_null ();
    json_t *out = NULL;
    if (!self->chat) {
        char piece [WA_SIM_PIECE_MAX];
        wa_sim_piece (&mine, step, piece);
        //  text_offset: the words before this one are at most 5 bytes each
        json_t *lp = self->logprobs? s_text_logprobs (self, &mine, step, piece, (size_t) step * 5)
                                   : json_null ();
        out = json_pack ("{s:I, s:s, s:o, s:o}", "index", (json_int_t) choice, "text", piece,
                         "logprobs", lp, "finish_reason", finish);
    }
    else
    if (self->tool) {
        json_t *call;
        if (step == 0) {
            char id [40];
            snprintf (id, sizeof id, "call_%016llx", (unsigned long long) wa_sim_mix (mine.hash ^ 0xca11));
            call = json_pack ("{s:i, s:s, s:s, s:{s:s, s:s}}", "index", 0, "id", id,
                              "type", "function", "function", "name", self->tool, "arguments", "");
        }
        else {
            size_t a = self->cuts [step - 1 < self->ncuts? step - 1: self->ncuts - 1];
            size_t b = self->cuts [step < self->ncuts? step: self->ncuts - 1];
            call = json_pack ("{s:i, s:{s:s%}}", "index", 0, "function", "arguments",
                              self->arguments + a, b - a);
        }
        json_t *delta = step == 0? json_pack ("{s:s, s:n, s:[o]}", "role", "assistant",
                                              "content", "tool_calls", call)
                                 : json_pack ("{s:[o]}", "tool_calls", call);
        out = json_pack ("{s:I, s:o, s:n, s:o}", "index", (json_int_t) choice, "delta", delta,
                         "logprobs", "finish_reason", finish);
    }
    else {
        char piece [WA_SIM_PIECE_MAX];
        wa_sim_piece (&mine, step, piece);
        json_t *delta = step == 0? json_pack ("{s:s, s:s}", "role", "assistant", "content", piece)
                                 : json_pack ("{s:s}", "content", piece);
        json_t *lp = self->logprobs? s_chat_logprobs (self, &mine, step, piece): json_null ();
        out = json_pack ("{s:I, s:o, s:o, s:o}", "index", (json_int_t) choice, "delta", delta,
                         "logprobs", lp, "finish_reason", finish);
    }
    char *text = out? json_dumps (out, JSON_COMPACT): NULL;
    json_decref (out);
    return text;
}

//  --------------------------------------------------------------------------
//  Embeddings

//  One unit vector of dims floats for an input's bytes.
static void
s_vector (const char *key, size_t len, float *v, uint32_t dims)
{
    uint64_t h = wa_sim_hash (key, len);
    double norm = 0;
    for (uint32_t j = 0; j < dims; j++) {
        uint64_t r = wa_sim_mix (h ^ ((uint64_t) j * 0x100000001b3ull));
        v [j] = (float) ((double) (r >> 11) / (double) (1ull << 53) * 2.0 - 1.0);
        norm += (double) v [j] * v [j];
    }
    norm = sqrt (norm);
    for (uint32_t j = 0; j < dims && norm > 0; j++)
        v [j] = (float) (v [j] / norm);
}

static char *
s_base64 (const unsigned char *data, size_t len)
{
    static const char tab [] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = (char *) malloc ((len + 2) / 3 * 4 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t b = (uint32_t) data [i] << 16;
        if (i + 1 < len) b |= (uint32_t) data [i + 1] << 8;
        if (i + 2 < len) b |= data [i + 2];
        out [o++] = tab [(b >> 18) & 63];
        out [o++] = tab [(b >> 12) & 63];
        out [o++] = i + 1 < len? tab [(b >> 6) & 63]: '=';
        out [o++] = i + 2 < len? tab [b & 63]: '=';
    }
    out [o] = 0;
    return out;
}

//  One input as bytes to hash and its token count; -1 when it is not one.
static int
s_input (json_t *in, char **key, size_t *len, uint32_t *tokens)
{
    if (json_is_string (in)) {
        *key = strndup (json_string_value (in), json_string_length (in));
        *len = json_string_length (in);
        *tokens = mt_tokens_count (json_string_value (in), *len);
        return *key? 0: -1;
    }
    if (!json_is_array (in) || json_array_size (in) == 0)
        return -1;
    size_t i;
    json_t *id;
    json_array_foreach (in, i, id)
        if (!json_is_integer (id))
            return -1;
    *key = json_dumps (in, JSON_COMPACT);
    *len = *key? strlen (*key): 0;
    *tokens = (uint32_t) json_array_size (in);
    return *key? 0: -1;
}

int
wa_sim_embeddings (const char *request_json, size_t len, char ***items_p, size_t *count_p,
                   uint32_t *prompt_tokens, char *err, size_t errsize)
{
    *items_p = NULL;
    *count_p = 0;
    *prompt_tokens = 0;
    json_error_t jerr;
    json_t *root = json_loadb (request_json, len, 0, &jerr);
    json_t *input = json_object_get (root, "input");
    int rc = -1;
    float *v = NULL;
    char **items = NULL;
    size_t count = 0;
    if (!input) {
        snprintf (err, errsize, "no input");
        goto cleanup;
    }
    json_t *dims_j = json_object_get (root, "dimensions");
    uint32_t dims = json_is_integer (dims_j) && json_integer_value (dims_j) > 0
                  ? (json_integer_value (dims_j) > WA_SIM_DIMS_MAX? WA_SIM_DIMS_MAX
                                                                  : (uint32_t) json_integer_value (dims_j))
                  : WA_SIM_DIMS_DEFAULT;
    bool base64 = !strcmp (json_string_value (json_object_get (root, "encoding_format"))?
                           json_string_value (json_object_get (root, "encoding_format")): "float",
                           "base64");
    //  One input, or an array of inputs (strings or token arrays)
    bool many = json_is_array (input) && json_array_size (input)
             && !json_is_integer (json_array_get (input, 0));
    size_t total = many? json_array_size (input): 1;
    items = (char **) calloc (total, sizeof (char *));
    v = (float *) malloc (dims * sizeof (float));
    if (!items || !v) {
        snprintf (err, errsize, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < total; i++) {
        char *key = NULL;
        size_t klen = 0;
        uint32_t tokens = 0;
        if (s_input (many? json_array_get (input, i): input, &key, &klen, &tokens)) {
            snprintf (err, errsize, "input %zu is not a string or an array of token ids", i);
            goto cleanup;
        }
        s_vector (key, klen, v, dims);
        free (key);
        *prompt_tokens += tokens;
        json_t *emb;
        if (base64) {
            unsigned char *raw = (unsigned char *) malloc ((size_t) dims * 4);
            char *b64 = NULL;
            if (raw) {
                for (uint32_t j = 0; j < dims; j++) {
                    uint32_t bits;
                    memcpy (&bits, &v [j], 4);
                    for (int b = 0; b < 4; b++)
                        raw [j * 4 + b] = (unsigned char) (bits >> (8 * b));     //  little-endian
                }
                b64 = s_base64 (raw, (size_t) dims * 4);
            }
            free (raw);
            emb = b64? json_string (b64): NULL;
            free (b64);
        }
        else {
            emb = json_array ();
            for (uint32_t j = 0; j < dims; j++)
                json_array_append_new (emb, json_real ((double) v [j]));
        }
        json_t *item = json_pack ("{s:s, s:I, s:o*}", "object", "embedding", "index",
                                  (json_int_t) i, "embedding", emb);
        items [i] = item? json_dumps (item, JSON_COMPACT | JSON_REAL_PRECISION (9)): NULL;
        json_decref (item);
        if (!items [i]) {
            snprintf (err, errsize, "out of memory");
            goto cleanup;
        }
        count++;
    }
    rc = 0;

cleanup:
    if (rc) {
        for (size_t i = 0; i < count; i++)
            free (items [i]);
        free (items);
        items = NULL;
        count = 0;
    }
    *items_p = items;
    *count_p = count;
    free (v);
    json_decref (root);
    return rc;
}
