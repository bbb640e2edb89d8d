//  Jobs whose end reached this gateway, per tenant, for the next Submit.
#include "gw_ended.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char tenant_id [GW_ENDED_ID];
    char req_id [GW_ENDED_ID];
    uint64_t at_ms;
    bool used;                  //  holds an entry not handed out yet
} s_entry_t;

struct _gw_ended_t {
    s_entry_t *ring;
    size_t capacity;
    size_t next;                //  where the next entry goes (the oldest when full)
    size_t first;               //  the oldest entry held: every entry lies from here to
                                //  next, so a take looks at those slots only
    size_t size;                //  used entries
};

gw_ended_t *
gw_ended_new (size_t capacity)
{
    gw_ended_t *self = (gw_ended_t *) calloc (1, sizeof (gw_ended_t));
    if (!self)
        return NULL;
    self->capacity = capacity? capacity: 1;
    self->ring = (s_entry_t *) calloc (self->capacity, sizeof (s_entry_t));
    if (!self->ring) {
        free (self);
        return NULL;
    }
    return self;
}

void
gw_ended_destroy (gw_ended_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ring);
    free (*self_p);
    *self_p = NULL;
}

static bool
s_fits (const char *s)
{
    return s && *s && strlen (s) < GW_ENDED_ID;
}

void
gw_ended_add (gw_ended_t *self, const char *tenant_id, const char *req_id, uint64_t now_ms)
{
    if (!self || !s_fits (tenant_id) || !s_fits (req_id))
        return;
    s_entry_t *e = &self->ring [self->next];
    if (e->used)                //  full: the oldest goes
        self->first = (self->next + 1) % self->capacity;
    else {
        if (!self->size)
            self->first = self->next;
        self->size++;
    }
    strcpy (e->tenant_id, tenant_id);
    strcpy (e->req_id, req_id);
    e->at_ms = now_ms;
    e->used = true;
    self->next = (self->next + 1) % self->capacity;
}

size_t
gw_ended_take (gw_ended_t *self, const char *tenant_id, uint64_t now_ms, uint64_t max_age_ms,
               char ids [][GW_ENDED_ID], size_t max)
{
    if (!self || !self->size || !tenant_id || !ids)
        return 0;
    if (max > GW_ENDED_TAKE_MAX)
        max = GW_ENDED_TAKE_MAX;
    size_t n = 0;
    //  From the oldest entry to the newest
    size_t span = (self->next + self->capacity - self->first) % self->capacity;
    if (span == 0)
        span = self->capacity;  //  full (size > 0 here)
    for (size_t k = 0; k < span && n < max; k++) {
        s_entry_t *e = &self->ring [(self->first + k) % self->capacity];
        if (!e->used || strcmp (e->tenant_id, tenant_id))
            continue;
        e->used = false;
        self->size--;
        if (now_ms >= e->at_ms && now_ms - e->at_ms > max_age_ms)
            continue;           //  too old to matter: dropped, not handed out
        memcpy (ids [n++], e->req_id, GW_ENDED_ID);
    }
    while (self->size && !self->ring [self->first].used)
        self->first = (self->first + 1) % self->capacity;
    return n;
}

size_t
gw_ended_size (gw_ended_t *self)
{
    return self? self->size: 0;
}
