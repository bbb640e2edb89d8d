//  Usage event batches. Pure: no sockets, no database, no clock.
#include "mtr_batch.h"
#include "mt_buf.h"
#include "mt_util.h"

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct _mtr_batch_t {
    mtr_event_t *events;            //  owned array
    size_t size;
    size_t capacity;
    size_t unique;                  //  distinct event ids
    zhashx_t *index;                //  event id -> index + 1, for repeats
    uint64_t started;               //  owner's slot
    int rc;                         //  owner's slot
};

//  Valid UTF-8 with no control characters, at most max bytes, at least min.
static bool
s_text_ok (const char *s, size_t min, size_t max)
{
    const unsigned char *p = (const unsigned char *) s;
    size_t len = 0;
    while (*p) {
        unsigned char c = *p;
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            n = 1;
            cp = c;
        }
        else
        if ((c & 0xe0) == 0xc0) { n = 2; cp = c & 0x1f; }
        else
        if ((c & 0xf0) == 0xe0) { n = 3; cp = c & 0x0f; }
        else
        if ((c & 0xf8) == 0xf0) { n = 4; cp = c & 0x07; }
        else
            return false;
        for (size_t i = 1; i < n; i++) {
            if ((p [i] & 0xc0) != 0x80)
                return false;       //  also stops at the NUL
            cp = (cp << 6) | (p [i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
        ||  cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
            return false;
        p += n;
        len += n;
        if (len > max)
            return false;
    }
    return len >= min;
}

const char *
mtr_event_check (const Mt__UsageEvent *ev, uint64_t now_ms)
{
    if (!mt_id_ok (ev->event_id, MTR_ID_MAX))
        return "bad event_id";
    if (!mt_is_uuid (ev->tenant_id))
        return "tenant_id not a UUID";
    if (*ev->key_id && !mt_is_uuid (ev->key_id))
        return "key_id not a UUID";
    if (!s_text_ok (ev->model, 1, MTR_TEXT_MAX))
        return "bad model";
    if (!s_text_ok (ev->pool, 0, MTR_TEXT_MAX))
        return "bad pool";
    if (!mt_id_ok (ev->status, MTR_STATUS_MAX))
        return "bad status";
    if (ev->prompt_tokens > MTR_TOKENS_MAX || ev->completion_tokens > MTR_TOKENS_MAX)
        return "absurd token count";
    if (ev->ttft_ms > MTR_MS_MAX || ev->latency_ms > MTR_MS_MAX)
        return "absurd duration";
    if (ev->http_status > 999)
        return "bad http_status";
    if (ev->created_ms < MTR_CREATED_MIN || ev->created_ms > now_ms + MTR_CREATED_AHEAD)
        return "created_ms out of range";
    return NULL;
}

mtr_batch_t *
mtr_batch_new (void)
{
    mtr_batch_t *self = (mtr_batch_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->index = zhashx_new ();
    if (!self->index) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_event_free (mtr_event_t *e)
{
    free (e->event_id);
    free (e->tenant_id);
    free (e->key_id);
    free (e->model);
    free (e->pool);
    free (e->status);
}

void
mtr_batch_destroy (mtr_batch_t **self_p)
{
    assert (self_p);
    mtr_batch_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_event_free (&self->events [i]);
    free (self->events);
    zhashx_destroy (&self->index);
    free (self);
    *self_p = NULL;
}

int
mtr_batch_add (mtr_batch_t *self, const Mt__UsageEvent *ev,
               const uint8_t *sender, size_t sender_size)
{
    assert (self && ev);
    if (sender_size > MTR_SENDER_MAX)
        return -1;
    if (self->size == self->capacity) {
        size_t cap = self->capacity? self->capacity * 2: 64;
        mtr_event_t *bigger = (mtr_event_t *) realloc (self->events, cap * sizeof *bigger);
        if (!bigger)
            return -1;
        self->events = bigger;
        self->capacity = cap;
    }
    mtr_event_t *e = &self->events [self->size];
    memset (e, 0, sizeof *e);
    e->event_id = strdup (ev->event_id);
    e->tenant_id = strdup (ev->tenant_id);
    e->key_id = strdup (ev->key_id);
    e->model = strdup (ev->model);
    e->pool = strdup (ev->pool);
    e->status = strdup (ev->status);
    if (!e->event_id || !e->tenant_id || !e->key_id || !e->model || !e->pool || !e->status) {
        s_event_free (e);
        return -1;
    }
    e->prompt_tokens = ev->prompt_tokens;
    e->completion_tokens = ev->completion_tokens;
    e->ttft_ms = ev->ttft_ms;
    e->latency_ms = ev->latency_ms;
    e->http_status = ev->http_status;
    e->created_ms = ev->created_ms;
    if (sender_size)
        memcpy (e->sender, sender, sender_size);
    e->sender_size = sender_size;
    e->state = MTR_EV_PENDING;
    uintptr_t first = (uintptr_t) zhashx_lookup (self->index, e->event_id);
    if (first)
        e->first = first - 1;
    else {
        e->first = self->size;
        zhashx_insert (self->index, e->event_id, (void *) (uintptr_t) (self->size + 1));
        self->unique++;
    }
    self->size++;
    return 0;
}

size_t
mtr_batch_size (mtr_batch_t *self)
{
    return self->size;
}

size_t
mtr_batch_unique (mtr_batch_t *self)
{
    return self->unique;
}

mtr_event_t *
mtr_batch_event (mtr_batch_t *self, size_t i)
{
    return i < self->size? &self->events [i]: NULL;
}

uint64_t
mtr_due_in (uint64_t started, uint64_t now, uint64_t batch_ms)
{
    uint64_t age = now > started? now - started: 0;
    return age >= batch_ms? 0: batch_ms - age;
}

bool
mtr_defer_reads (bool has_tail, size_t size, size_t batch_max, uint64_t started,
                 uint64_t now, uint64_t batch_ms, bool db_up)
{
    return has_tail && batch_ms > 0 && db_up && size < batch_max
        && mtr_due_in (started, now, batch_ms) > 0;
}

uint64_t
mtr_batch_started (mtr_batch_t *self)
{
    return self->started;
}

void
mtr_batch_set_started (mtr_batch_t *self, uint64_t mono_ms)
{
    self->started = mono_ms;
}

int
mtr_batch_rc (mtr_batch_t *self)
{
    return self->rc;
}

void
mtr_batch_set_rc (mtr_batch_t *self, int rc)
{
    self->rc = rc;
}

//  Room for need more bytes (and a NUL) in a parameter's text.
static int
s_room (mtr_text_t *t, size_t need)
{
    return mt_buf_reserve (&t->buf, &t->cap, t->len + need + 1);
}

int
mtr_array_element (mtr_text_t *t, const char *value)
{
    size_t n = value? strlen (value): 0;
    if (s_room (t, value? 2 * n + 2: 4))    //  every byte escaped, at worst
        return -1;
    char *out = t->buf + t->len;
    if (!value) {
        memcpy (out, "NULL", 4);
        out += 4;
    }
    else {
        *out++ = '"';
        for (const char *p = value; *p; p++) {
            if (*p == '"' || *p == '\\')
                *out++ = '\\';
            *out++ = *p;
        }
        *out++ = '"';
    }
    t->len = (size_t) (out - t->buf);
    t->buf [t->len] = 0;
    return 0;
}

//  An unsigned number, in decimal.
static int
s_number (mtr_text_t *t, uint64_t value)
{
    char digits [20];
    size_t at = sizeof digits;
    do
        digits [--at] = (char) ('0' + value % 10);
    while ((value /= 10));
    return mt_buf_append (&t->buf, &t->len, &t->cap, digits + at, sizeof digits - at);
}

static int
s_char (mtr_text_t *t, char c)
{
    return mt_buf_append (&t->buf, &t->len, &t->cap, &c, 1);
}

void
mtr_params_free (char *params [MTR_PARAMS])
{
    for (int i = 0; i < MTR_PARAMS; i++) {
        free (params [i]);
        params [i] = NULL;
    }
}

int
mtr_batch_params (mtr_batch_t *self, long only, char *params [MTR_PARAMS])
{
    assert (self);
    //  Each array's text built in one buffer, grown by doubling from a guess
    //  for the whole batch: a few allocations a batch, not one per character
    mtr_text_t t [MTR_PARAMS];
    memset (t, 0, sizeof t);
    size_t rows_max = only >= 0? 1: self->size;
    int failed = 0;
    for (int i = 0; i < MTR_PARAMS; i++) {
        bool number = (i >= 5 && i <= 8) || i >= 10;
        failed |= mt_buf_reserve (&t [i].buf, &t [i].cap, (number? 24: 64) * (rows_max + 1));
        failed |= s_char (&t [i], '{');
    }
    int rows = 0;
    for (size_t i = 0; !failed && i < self->size; i++) {
        mtr_event_t *e = &self->events [i];
        if (only >= 0? (size_t) only != i: (e->first != i || e->state != MTR_EV_PENDING))
            continue;
        if (rows) {
            for (int p = 0; p < MTR_PARAMS; p++)
                failed |= s_char (&t [p], ',');
        }
        failed |= mtr_array_element (&t [0], e->event_id);
        failed |= mtr_array_element (&t [1], e->tenant_id);
        failed |= mtr_array_element (&t [2], *e->key_id? e->key_id: NULL);
        failed |= mtr_array_element (&t [3], e->model);
        failed |= mtr_array_element (&t [4], e->pool);
        failed |= s_number (&t [5], e->prompt_tokens);
        failed |= s_number (&t [6], e->completion_tokens);
        failed |= s_number (&t [7], e->latency_ms);
        failed |= s_number (&t [8], e->ttft_ms);
        failed |= mtr_array_element (&t [9], e->status);
        failed |= s_number (&t [10], e->http_status);
        failed |= s_number (&t [11], e->created_ms);
        rows++;
    }
    for (int i = 0; i < MTR_PARAMS; i++) {
        failed |= s_char (&t [i], '}');
        params [i] = t [i].buf;
    }
    if (failed) {
        mtr_params_free (params);
        return -1;
    }
    return rows;
}

bool
mtr_batch_mark (mtr_batch_t *self, const char *event_id, mtr_ev_state_t state)
{
    uintptr_t first = (uintptr_t) zhashx_lookup (self->index, event_id);
    if (!first)
        return false;
    mtr_event_t *e = &self->events [first - 1];
    if (e->state != MTR_EV_PENDING)
        return false;
    e->state = state;
    return true;
}

void
mtr_batch_finish (mtr_batch_t *self)
{
    for (size_t i = 0; i < self->size; i++) {
        mtr_event_t *e = &self->events [i];
        if (e->first == i) {
            if (e->state == MTR_EV_PENDING)
                e->state = MTR_EV_DUPLICATE;
        }
        else {
            mtr_ev_state_t first = self->events [e->first].state;
            e->state = first == MTR_EV_REJECTED? MTR_EV_REJECTED: MTR_EV_DUPLICATE;
        }
    }
}

int
mtr_batch_acks (mtr_batch_t *self, mtr_batch_ack_fn *fn, void *arg)
{
    assert (self && fn);
    size_t size = self->size;
    char **ids = (char **) calloc (size? size: 1, sizeof *ids);
    bool *done = (bool *) calloc (size? size: 1, sizeof *done);
    int rc = ids && done? 0: -1;
    for (size_t i = 0; rc == 0 && i < size; i++) {
        if (done [i])
            continue;
        mtr_event_t *e = &self->events [i];
        size_t count = 0;
        for (size_t j = i; j < size; j++) {
            mtr_event_t *o = &self->events [j];
            if (!done [j] && o->sender_size == e->sender_size
            &&  memcmp (o->sender, e->sender, e->sender_size) == 0) {
                done [j] = true;
                ids [count++] = o->event_id;
            }
        }
        fn (arg, e->sender, e->sender_size, ids, count);
    }
    free (ids);
    free (done);
    return rc;
}
