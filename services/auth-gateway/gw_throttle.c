//  auth-gateway: failures per client address, as a GCRA token bucket. Pure.
#include "gw_throttle.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>

struct _gw_throttle_t {
    zhashx_t *keys;             //  address -> uint64_t tat (ms), owned
    uint32_t burst;             //  failures allowed in a burst; 0 = off
    uint32_t interval_ms;       //  one failure earned back per interval
    size_t max_keys;            //  addresses tracked at most
};

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

gw_throttle_t *
gw_throttle_new (uint32_t burst, uint32_t interval_ms, size_t max_keys)
{
    gw_throttle_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->keys = zhashx_new ();
    if (!self->keys) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->keys, s_free);
    self->burst = burst;
    self->interval_ms = interval_ms? interval_ms: 1;
    self->max_keys = max_keys;
    return self;
}

void
gw_throttle_destroy (gw_throttle_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_throttle_t *self = *self_p;
    zhashx_destroy (&self->keys);
    free (self);
    *self_p = NULL;
}

bool
gw_throttle_allow (gw_throttle_t *self, const char *key, uint64_t now_ms, uint64_t *retry_ms)
{
    assert (self && key);
    if (retry_ms)
        *retry_ms = 0;
    if (self->burst == 0)
        return true;
    uint64_t *tat = zhashx_lookup (self->keys, key);
    if (!tat)
        return true;
    //  One more failure would push the arrival time to t + interval; it may
    //  run ahead of now by at most burst intervals.
    uint64_t t = *tat > now_ms? *tat: now_ms;
    uint64_t ahead = t + self->interval_ms - now_ms;
    uint64_t room = (uint64_t) self->burst * self->interval_ms;
    if (ahead <= room)
        return true;
    if (retry_ms)
        *retry_ms = ahead - room;
    return false;
}

void
gw_throttle_fail (gw_throttle_t *self, const char *key, uint64_t now_ms)
{
    assert (self && key);
    if (self->burst == 0)
        return;
    uint64_t *tat = zhashx_lookup (self->keys, key);
    if (!tat) {
        if (zhashx_size (self->keys) >= self->max_keys)
            return;             //  full: not tracked until a sweep
        tat = malloc (sizeof *tat);
        if (!tat)
            return;
        *tat = now_ms;
        zhashx_insert (self->keys, key, tat);
    }
    *tat = (*tat > now_ms? *tat: now_ms) + self->interval_ms;
}

size_t
gw_throttle_sweep (gw_throttle_t *self, uint64_t now_ms)
{
    assert (self);
    zlistx_t *keys = zhashx_keys (self->keys);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        uint64_t *tat = zhashx_lookup (self->keys, key);
        if (tat && *tat <= now_ms)
            zhashx_delete (self->keys, key);
    }
    zlistx_destroy (&keys);
    return zhashx_size (self->keys);
}

size_t
gw_throttle_size (gw_throttle_t *self)
{
    assert (self);
    return zhashx_size (self->keys);
}
