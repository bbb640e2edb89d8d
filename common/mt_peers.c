//  Liveness of a ROUTER's peers by routing id. Pure: no I/O, no clock.
#include "mt_peers.h"

#include <assert.h>
#include <stdlib.h>

#define S_QUIET_FACTOR 10       //  unwatched peers go after this many timeouts

typedef struct {
    uint64_t last_seen_ms;      //  monotonic, of its last message
    bool watched;               //  it sent a Heartbeat
} s_peer_t;

struct _mt_peers_t {
    zhashx_t *peers;            //  routing id hex -> s_peer_t, owned
    uint64_t timeout_ms;        //  a watched peer silent this long is gone
    uint64_t last_sweep_ms;     //  of the previous sweep; 0 before the first
    size_t watched;             //  watched peers in the table
};

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

mt_peers_t *
mt_peers_new (uint64_t timeout_ms)
{
    mt_peers_t *self = (mt_peers_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->peers = zhashx_new ();
    if (!self->peers) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->peers, s_free);
    self->timeout_ms = timeout_ms? timeout_ms: 1;
    return self;
}

void
mt_peers_destroy (mt_peers_t **self_p)
{
    assert (self_p);
    mt_peers_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->peers);
    free (self);
    *self_p = NULL;
}

void
mt_peers_seen (mt_peers_t *self, const char *key, bool heartbeat, uint64_t now_ms)
{
    assert (self && key);
    s_peer_t *p = (s_peer_t *) zhashx_lookup (self->peers, key);
    if (!p) {
        p = (s_peer_t *) calloc (1, sizeof *p);
        if (!p)
            return;             //  out of memory: this peer is not watched
        zhashx_insert (self->peers, key, p);
    }
    if (now_ms > p->last_seen_ms)
        p->last_seen_ms = now_ms;
    if (heartbeat && !p->watched) {
        p->watched = true;
        self->watched++;
    }
}

zlistx_t *
mt_peers_sweep (mt_peers_t *self, uint64_t now_ms)
{
    assert (self);
    zlistx_t *gone = zlistx_new ();
    assert (gone);
    zlistx_set_destructor (gone, s_free);
    bool stalled = self->last_sweep_ms && now_ms > self->last_sweep_ms
                && now_ms - self->last_sweep_ms > self->timeout_ms / 2;
    self->last_sweep_ms = now_ms;
    zlistx_t *keys = zhashx_keys (self->peers);
    assert (keys);
    for (const char *key = (const char *) zlistx_first (keys); key;
         key = (const char *) zlistx_next (keys)) {
        s_peer_t *p = (s_peer_t *) zhashx_lookup (self->peers, key);
        if (stalled) {
            //  We were not listening: nobody's silence counts
            if (now_ms > p->last_seen_ms)
                p->last_seen_ms = now_ms;
            continue;
        }
        uint64_t silent = now_ms > p->last_seen_ms? now_ms - p->last_seen_ms: 0;
        if (p->watched && silent > self->timeout_ms) {
            char *copy = strdup (key);
            assert (copy);
            zlistx_add_end (gone, copy);
            self->watched--;
            zhashx_delete (self->peers, key);
        }
        else
        if (!p->watched && silent > self->timeout_ms * S_QUIET_FACTOR)
            zhashx_delete (self->peers, key);
    }
    zlistx_destroy (&keys);
    return gone;
}

bool
mt_peers_watched (mt_peers_t *self, const char *key)
{
    assert (self && key);
    s_peer_t *p = (s_peer_t *) zhashx_lookup (self->peers, key);
    return p && p->watched;
}

size_t
mt_peers_live (mt_peers_t *self)
{
    assert (self);
    return self->watched;
}

size_t
mt_peers_size (mt_peers_t *self)
{
    assert (self);
    return zhashx_size (self->peers);
}
