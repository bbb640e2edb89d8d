//  The JobDones a worker holds back from the scheduler for a few ms.
#include "wa_held.h"

#include <stdlib.h>
#include <string.h>

struct _wa_held_t {
    uint32_t hold_ms;
    uint64_t due_ms;            //  0 while none is held
    size_t size;
    wa_held_done_t items [WA_HELD_MAX];
};

bool
wa_held_may_hold (const wa_held_state_t *state)
{
    if (!state->hold_ms || !state->engine_up || state->waiting || state->held >= WA_HELD_MAX)
        return false;
    //  The scheduler counts a held job as running: with it, under half busy
    uint64_t seen = (uint64_t) state->running + state->held;
    return 2 * seen < (uint64_t) state->slots;
}

wa_held_t *
wa_held_new (uint32_t hold_ms)
{
    wa_held_t *self = (wa_held_t *) calloc (1, sizeof (wa_held_t));
    if (self)
        self->hold_ms = hold_ms;
    return self;
}

static void
s_done_free (wa_held_done_t *done)
{
    free (done->req_id);
    free (done->tenant_id);
    free (done->reply_token);
    free (done->finish_reason);
    free (done->error_message);
    memset (done, 0, sizeof *done);
}

void
wa_held_destroy (wa_held_t **self_p)
{
    wa_held_t *self = self_p? *self_p: NULL;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_done_free (&self->items [i]);
    free (self);
    *self_p = NULL;
}

static char *
s_dup (const char *text)
{
    return strdup (text? text: "");
}

int
wa_held_add (wa_held_t *self, const wa_held_done_t *done, uint64_t now_ms)
{
    if (self->size >= WA_HELD_MAX)
        return -1;
    wa_held_done_t *item = &self->items [self->size];
    *item = *done;
    item->req_id = s_dup (done->req_id);
    item->tenant_id = s_dup (done->tenant_id);
    item->reply_token = s_dup (done->reply_token);
    item->finish_reason = s_dup (done->finish_reason);
    item->error_message = s_dup (done->error_message);
    if (!item->req_id || !item->tenant_id || !item->reply_token || !item->finish_reason
    ||  !item->error_message) {
        s_done_free (item);
        return -1;
    }
    if (!self->size++)
        self->due_ms = now_ms + self->hold_ms;
    return 0;
}

size_t
wa_held_size (wa_held_t *self)
{
    return self? self->size: 0;
}

uint64_t
wa_held_due (wa_held_t *self)
{
    return self && self->size? self->due_ms: 0;
}

size_t
wa_held_drain (wa_held_t *self, wa_held_fn *fn, void *arg)
{
    size_t n = self->size;
    for (size_t i = 0; i < n; i++) {
        fn (arg, &self->items [i]);
        s_done_free (&self->items [i]);
    }
    self->size = 0;
    self->due_ms = 0;
    return n;
}
