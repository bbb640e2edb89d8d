//  Stream to whole: the choices of one non-streamed answer.
#include "gw_assemble.h"
#include "mt_buf.h"
#include "mt_json_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

//  A growable string.
typedef struct {
    char *data;
    size_t len, cap;
    bool seen;                  //  a value came (even "")
} s_buf_t;

static int
s_buf_add (s_buf_t *b, const char *text, size_t len)
{
    b->seen = true;
    return mt_buf_append (&b->data, &b->len, &b->cap, text, len);
}

//  The text as a JSON string; "" when it is not valid UTF-8 (plain pieces
//  cut inside a character), never NULL.
static json_t *
s_buf_json (s_buf_t *b)
{
    json_t *text = json_stringn (b->data? b->data: "", b->len);
    return text? text: json_string ("");
}

typedef struct {
    bool used;
    s_buf_t id, type, name, arguments;
} s_call_t;

//  One string field of a delta or choice the engine sent beyond the known ones.
typedef struct {
    char *key;
    s_buf_t value;
} s_field_t;

typedef struct {
    bool used;
    char role [32];
    s_buf_t content;            //  chat content, or completion text
    s_buf_t refusal;
    s_call_t *calls;            //  GW_ASSEMBLE_CALLS_MAX, allocated on the first call
    s_call_t function_call;     //  the legacy function_call {name, arguments}
    size_t ncalls;              //  highest call index + 1
    json_t *lp_content;         //  chat logprobs.content items, or NULL
    json_t *lp_refusal;         //  chat logprobs.refusal items, or NULL
    json_t *lp_text;            //  completion logprobs {tokens, token_logprobs, ...}, or NULL
    char finish [32];
    json_t *extra_message;      //  other delta fields (non-string), object
    json_t *extra_choice;       //  other choice fields, object
    s_field_t *strings;         //  other delta fields that are strings, concatenated
    size_t nstrings;
} s_choice_t;

struct _gw_assemble_t {
    gw_kind_t kind;
    s_choice_t *choices;        //  by index, grown on demand
    size_t count;               //  highest index + 1
};

gw_assemble_t *
gw_assemble_new (gw_kind_t kind)
{
    gw_assemble_t *self = (gw_assemble_t *) calloc (1, sizeof (gw_assemble_t));
    if (self)
        self->kind = kind;
    return self;
}

static void
s_choice_free (s_choice_t *c)
{
    free (c->content.data);
    free (c->refusal.data);
    for (size_t i = 0; c->calls && i < GW_ASSEMBLE_CALLS_MAX; i++) {
        free (c->calls [i].id.data);
        free (c->calls [i].type.data);
        free (c->calls [i].name.data);
        free (c->calls [i].arguments.data);
    }
    free (c->calls);
    free (c->function_call.name.data);
    free (c->function_call.arguments.data);
    json_decref (c->lp_content);
    json_decref (c->lp_refusal);
    json_decref (c->lp_text);
    json_decref (c->extra_message);
    json_decref (c->extra_choice);
    for (size_t i = 0; i < c->nstrings; i++) {
        free (c->strings [i].key);
        free (c->strings [i].value.data);
    }
    free (c->strings);
}

void
gw_assemble_destroy (gw_assemble_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_assemble_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_choice_free (&self->choices [i]);
    free (self->choices);
    free (self);
    *self_p = NULL;
}

static s_choice_t *
s_choice (gw_assemble_t *self, size_t index)
{
    if (index >= GW_ASSEMBLE_CHOICES_MAX)
        return NULL;
    if (index >= self->count) {
        s_choice_t *grown = (s_choice_t *) realloc (self->choices, (index + 1) * sizeof (s_choice_t));
        if (!grown)
            return NULL;
        memset (grown + self->count, 0, (index + 1 - self->count) * sizeof (s_choice_t));
        self->choices = grown;
        self->count = index + 1;
    }
    s_choice_t *c = &self->choices [index];
    c->used = true;
    return c;
}

int
gw_assemble_text (gw_assemble_t *self, const char *text, size_t len)
{
    s_choice_t *c = s_choice (self, 0);
    return c? s_buf_add (&c->content, text, len): -1;
}

//  Append a string value to buf when it is one.
static void
s_add_string (s_buf_t *buf, json_t *value)
{
    if (json_is_string (value))
        s_buf_add (buf, json_string_value (value), json_string_length (value));
}

//  Append the items of array value to *list (created on first use).
static void
s_extend (json_t **list, json_t *value)
{
    if (!json_is_array (value))
        return;
    if (!*list)
        *list = json_array ();
    json_array_extend (*list, value);
}

static void
s_merge_call (s_choice_t *c, json_t *call, size_t position)
{
    if (!json_is_object (call))
        return;
    json_t *index = json_object_get (call, "index");
    size_t i = json_is_integer (index) && json_integer_value (index) >= 0
             ? (size_t) json_integer_value (index): position;
    if (i >= GW_ASSEMBLE_CALLS_MAX)
        return;
    if (!c->calls) {
        c->calls = (s_call_t *) calloc (GW_ASSEMBLE_CALLS_MAX, sizeof (s_call_t));
        if (!c->calls)
            return;
    }
    s_call_t *t = &c->calls [i];
    t->used = true;
    if (i + 1 > c->ncalls)
        c->ncalls = i + 1;
    s_add_string (&t->id, json_object_get (call, "id"));
    s_add_string (&t->type, json_object_get (call, "type"));
    json_t *fn = json_object_get (call, "function");
    s_add_string (&t->name, json_object_get (fn, "name"));
    s_add_string (&t->arguments, json_object_get (fn, "arguments"));
}

static s_field_t *
s_field (s_choice_t *c, const char *key)
{
    for (size_t i = 0; i < c->nstrings; i++)
        if (!strcmp (c->strings [i].key, key))
            return &c->strings [i];
    if (c->nstrings >= 32)
        return NULL;
    s_field_t *grown = (s_field_t *) realloc (c->strings, (c->nstrings + 1) * sizeof (s_field_t));
    if (!grown)
        return NULL;
    c->strings = grown;
    s_field_t *f = &c->strings [c->nstrings];
    memset (f, 0, sizeof *f);
    f->key = strdup (key);
    if (!f->key)
        return NULL;
    c->nstrings++;
    return f;
}

static void
s_merge_delta (s_choice_t *c, json_t *delta)
{
    const char *key;
    json_t *value;
    json_object_foreach (delta, key, value) {
        if (!strcmp (key, "role")) {
            if (json_is_string (value))
                snprintf (c->role, sizeof c->role, "%s", json_string_value (value));
        }
        else
        if (!strcmp (key, "content"))
            s_add_string (&c->content, value);
        else
        if (!strcmp (key, "refusal"))
            s_add_string (&c->refusal, value);
        else
        if (!strcmp (key, "tool_calls")) {
            size_t i;
            json_t *call;
            json_array_foreach (value, i, call)
                s_merge_call (c, call, i);
        }
        else
        if (!strcmp (key, "function_call") && json_is_object (value)) {
            c->function_call.used = true;
            s_add_string (&c->function_call.name, json_object_get (value, "name"));
            s_add_string (&c->function_call.arguments, json_object_get (value, "arguments"));
        }
        else
        if (json_is_string (value)) {
            s_field_t *f = s_field (c, key);
            if (f)
                s_add_string (&f->value, value);
        }
        else
        if (!json_is_null (value) || !json_object_get (c->extra_message, key)) {
            if (!c->extra_message)
                c->extra_message = json_object ();
            json_object_set (c->extra_message, key, value);
        }
    }
}

static void
s_merge_logprobs (gw_assemble_t *self, s_choice_t *c, json_t *lp)
{
    if (!json_is_object (lp))
        return;
    if (self->kind == GW_KIND_CHAT) {
        s_extend (&c->lp_content, json_object_get (lp, "content"));
        s_extend (&c->lp_refusal, json_object_get (lp, "refusal"));
        return;
    }
    if (!c->lp_text)
        c->lp_text = json_object ();
    const char *key;
    json_t *value;
    json_object_foreach (lp, key, value) {
        json_t *list = json_object_get (c->lp_text, key);
        if (json_is_array (value)) {
            if (!list)
                json_object_set_new (c->lp_text, key, list = json_array ());
            json_array_extend (list, value);
        }
    }
}

//  --------------------------------------------------------------------------
//  The common choice without jansson: an engine's plain token, as in
//  {"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}.
//  Only members index, delta (role, content, refusal), text, logprobs (null)
//  and finish_reason; strings without escapes (the common scanner,
//  mt_json_scan, checks UTF-8 and control characters); each member once.
//  Anything else, or anything in doubt, goes to the whole parse below,
//  which decides as before: the scan takes only what jansson would read
//  the same way.

typedef struct {
    const char *at;             //  the string's bytes (no escapes), or NULL for null
    size_t len;
    bool given;
} s_str_t;

//  A string with no escape; the scan at it.
static bool
s_plain_string (mt_json_scan_t *s, const char **at, size_t *len)
{
    unsigned seen = s->seen;
    s->seen = 0;
    bool ok = mt_json_scan_string (s, at, len) && !(s->seen & MT_JSON_SEEN_ESCAPE);
    s->seen |= seen;
    return ok;
}

//  A member's value: a plain string or null.
static bool
s_str_or_null (mt_json_scan_t *s, s_str_t *out)
{
    if (out->given)
        return false;               //  the same member twice: jansson decides
    out->given = true;
    if (mt_json_scan_word (s, "null")) {
        out->at = NULL;
        return true;
    }
    return s_plain_string (s, &out->at, &out->len);
}

//  Walk an object's members; member () reads each value. Keys plain.
static bool
s_object (mt_json_scan_t *s, bool (*member) (mt_json_scan_t *, const char *, size_t, void *),
          void *arg)
{
    if (!mt_json_scan_open (s, '{'))
        return false;
    const char *key;
    size_t klen;
    int rc;
    //  Values read are plain: an escape met is a key's
    while ((rc = mt_json_scan_member (s, &key, &klen)) == 1)
        if ((s->seen & MT_JSON_SEEN_ESCAPE) || !member (s, key, klen, arg))
            return false;
    return rc == 0;
}

typedef struct {
    bool has_index, has_delta, has_logprobs;
    size_t index;
    s_str_t role, content, refusal, text, finish;
} s_fast_t;

static bool
s_key_is (const char *key, size_t klen, const char *name)
{
    return klen == strlen (name) && !memcmp (key, name, klen);
}

static bool
s_delta_member (mt_json_scan_t *s, const char *key, size_t klen, void *arg)
{
    s_fast_t *f = (s_fast_t *) arg;
    if (s_key_is (key, klen, "role"))
        return s_str_or_null (s, &f->role);
    if (s_key_is (key, klen, "content"))
        return s_str_or_null (s, &f->content);
    if (s_key_is (key, klen, "refusal"))
        return s_str_or_null (s, &f->refusal);
    return false;
}

static bool
s_choice_member (mt_json_scan_t *s, const char *key, size_t klen, void *arg)
{
    s_fast_t *f = (s_fast_t *) arg;
    if (s_key_is (key, klen, "index")) {
        if (f->has_index)
            return false;
        f->has_index = true;
        //  0 or 1-9 digits without a leading zero; no sign, fraction or exponent
        uint64_t v;
        if (!mt_json_scan_uint (s, 999999999, &v))
            return false;
        f->index = (size_t) v;
        return true;
    }
    if (s_key_is (key, klen, "delta")) {
        if (f->has_delta)
            return false;
        f->has_delta = true;
        return s_object (s, s_delta_member, f);
    }
    if (s_key_is (key, klen, "text"))
        return s_str_or_null (s, &f->text);
    if (s_key_is (key, klen, "finish_reason"))
        return s_str_or_null (s, &f->finish);
    if (s_key_is (key, klen, "logprobs")) {
        if (f->has_logprobs)
            return false;
        f->has_logprobs = true;
        return mt_json_scan_word (s, "null");
    }
    return false;
}

static void
s_fast_add (s_buf_t *buf, const s_str_t *str)
{
    if (str->given && str->at)
        s_buf_add (buf, str->at, str->len);
}

//  0 when taken, -1 when not this shape (nothing changed).
static int
s_choice_fast (gw_assemble_t *self, const char *json, size_t len)
{
    s_fast_t f;
    memset (&f, 0, sizeof f);
    mt_json_scan_t s;
    mt_json_scan_init (&s, json, len);
    if (!s_object (&s, s_choice_member, &f) || !mt_json_scan_end (&s))
        return -1;
    if (f.content.at && f.text.at)
        return -1;                  //  both: appended in their order, by the parse
    s_choice_t *c = s_choice (self, f.has_index? f.index: 0);
    if (!c)
        return -1;
    if (f.role.given && f.role.at)
        snprintf (c->role, sizeof c->role, "%.*s", (int) f.role.len, f.role.at);
    s_fast_add (&c->content, &f.content);
    s_fast_add (&c->refusal, &f.refusal);
    s_fast_add (&c->content, &f.text);
    if (f.finish.given && f.finish.at)
        snprintf (c->finish, sizeof c->finish, "%.*s", (int) f.finish.len, f.finish.at);
    return 0;
}

int
gw_assemble_choice (gw_assemble_t *self, const char *json, size_t len)
{
    if (s_choice_fast (self, json, len) == 0)
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb (json, len, 0, &jerr);
    if (!json_is_object (root)) {
        json_decref (root);
        return -1;
    }
    json_t *index = json_object_get (root, "index");
    s_choice_t *c = NULL;
    if (!index || (json_is_integer (index) && json_integer_value (index) >= 0))
        c = s_choice (self, index? (size_t) json_integer_value (index): 0);
    if (!c) {
        json_decref (root);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        if (!strcmp (key, "index"))
            continue;
        if (!strcmp (key, "delta")) {
            if (json_is_object (value))
                s_merge_delta (c, value);
        }
        else
        if (!strcmp (key, "message")) {         //  an engine that sent a whole choice
            if (json_is_object (value))
                s_merge_delta (c, value);
        }
        else
        if (!strcmp (key, "text"))
            s_add_string (&c->content, value);
        else
        if (!strcmp (key, "logprobs"))
            s_merge_logprobs (self, c, value);
        else
        if (!strcmp (key, "finish_reason")) {
            if (json_is_string (value))
                snprintf (c->finish, sizeof c->finish, "%s", json_string_value (value));
        }
        else
        if (!json_is_null (value) || !json_object_get (c->extra_choice, key)) {
            if (!c->extra_choice)
                c->extra_choice = json_object ();
            json_object_set (c->extra_choice, key, value);
        }
    }
    json_decref (root);
    return 0;
}

static json_t *
s_render_calls (s_choice_t *c)
{
    json_t *calls = json_array ();
    for (size_t i = 0; i < c->ncalls; i++) {
        s_call_t *t = &c->calls [i];
        if (!t->used)
            continue;
        json_array_append_new (calls, json_pack ("{s:o, s:o, s:{s:o, s:o}}",
            "id", s_buf_json (&t->id),
            "type", t->type.len? s_buf_json (&t->type): json_string ("function"),
            "function", "name", s_buf_json (&t->name), "arguments", s_buf_json (&t->arguments)));
    }
    return calls;
}

static json_t *
s_render (gw_assemble_t *self, s_choice_t *c, size_t index, const char *finish)
{
    const char *fin = *c->finish? c->finish: finish;
    json_t *out = json_object ();
    json_object_set_new (out, "index", json_integer ((json_int_t) index));
    if (self->kind == GW_KIND_CHAT) {
        json_t *msg = json_object ();
        json_object_set_new (msg, "role", json_string (*c->role? c->role: "assistant"));
        bool calls = c->ncalls > 0;
        //  No content came: null beside tool calls or a refusal, as OpenAI
        //  writes it; "" for an empty answer
        bool other = calls || c->refusal.seen || c->function_call.used;
        json_object_set_new (msg, "content", c->content.seen || !other? s_buf_json (&c->content)
                                                                       : json_null ());
        json_object_set_new (msg, "refusal", c->refusal.seen? s_buf_json (&c->refusal): json_null ());
        for (size_t i = 0; i < c->nstrings; i++)
            json_object_set_new (msg, c->strings [i].key, s_buf_json (&c->strings [i].value));
        if (c->extra_message)
            json_object_update_missing (msg, c->extra_message);
        if (calls)
            json_object_set_new (msg, "tool_calls", s_render_calls (c));
        if (c->function_call.used)
            json_object_set_new (msg, "function_call", json_pack ("{s:o, s:o}",
                "name", s_buf_json (&c->function_call.name),
                "arguments", s_buf_json (&c->function_call.arguments)));
        json_object_set_new (out, "message", msg);
        json_object_set_new (out, "logprobs", c->lp_content || c->lp_refusal
            ? json_pack ("{s:O?, s:O?}", "content", c->lp_content, "refusal", c->lp_refusal)
            : json_null ());
    }
    else {
        json_object_set_new (out, "text", s_buf_json (&c->content));
        json_object_set_new (out, "logprobs", c->lp_text? json_incref (c->lp_text): json_null ());
    }
    json_object_set_new (out, "finish_reason", fin? json_string (fin): json_null ());
    if (c->extra_choice)
        json_object_update_missing (out, c->extra_choice);
    return out;
}

json_t *
gw_assemble_choices (gw_assemble_t *self, const char *finish)
{
    json_t *list = json_array ();
    if (self->count == 0) {
        s_choice_t empty;
        memset (&empty, 0, sizeof empty);
        json_array_append_new (list, s_render (self, &empty, 0, finish));
        return list;
    }
    for (size_t i = 0; i < self->count; i++)
        if (self->choices [i].used)
            json_array_append_new (list, s_render (self, &self->choices [i], i, finish));
    return list;
}
