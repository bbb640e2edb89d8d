//  Liveness of a ROUTER's peers by routing id. Pure: no I/O, no clock.
#include "mt_peers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_QUIET_FACTOR 10       //  unwatched peers go after this many timeouts
#define S_ID_MAX 255            //  a ZeroMQ routing id is 1 to 255 bytes

//  A key of the table: the routing id's length in its first byte, then its
//  bytes (a lookup builds one on the stack: nothing allocated per message).
typedef uint8_t s_key_t;

typedef struct {
    uint64_t last_seen_ms;      //  monotonic, of its last message
    bool watched;               //  it sent a Heartbeat
    char hex [];                //  the routing id in hex, as the sweep reports it
} s_peer_t;

struct _mt_peers_t {
    zhashx_t *peers;            //  routing id (s_key_t) -> s_peer_t, owned
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

//  FNV-1a over the length byte and the id
static size_t
s_key_hash (const void *key)
{
    const s_key_t *k = (const s_key_t *) key;
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i <= k [0]; i++) {
        h ^= k [i];
        h *= 1099511628211ULL;
    }
    return (size_t) h;
}

static int
s_key_compare (const void *a, const void *b)
{
    const s_key_t *ka = (const s_key_t *) a, *kb = (const s_key_t *) b;
    if (ka [0] != kb [0])
        return ka [0] < kb [0]? -1: 1;
    return memcmp (ka + 1, kb + 1, ka [0]);
}

static void *
s_key_dup (const void *key)
{
    const s_key_t *k = (const s_key_t *) key;
    s_key_t *copy = (s_key_t *) malloc ((size_t) k [0] + 1);
    if (copy)
        memcpy (copy, k, (size_t) k [0] + 1);
    return copy;
}

//  The table's key of an id into key (S_ID_MAX + 1 bytes); false when the
//  id cannot be one.
static bool
s_key_make (s_key_t *key, const void *id, size_t len)
{
    if (!id || len == 0 || len > S_ID_MAX)
        return false;
    key [0] = (s_key_t) len;
    memcpy (key + 1, id, len);
    return true;
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
    zhashx_set_key_hasher (self->peers, s_key_hash);
    zhashx_set_key_comparator (self->peers, s_key_compare);
    zhashx_set_key_duplicator (self->peers, s_key_dup);
    zhashx_set_key_destructor (self->peers, s_free);
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

const char *
mt_peers_seen (mt_peers_t *self, const void *id, size_t len, bool heartbeat, uint64_t now_ms)
{
    assert (self);
    s_key_t key [S_ID_MAX + 1];
    if (!s_key_make (key, id, len))
        return NULL;
    s_peer_t *p = (s_peer_t *) zhashx_lookup (self->peers, key);
    if (!p) {
        p = (s_peer_t *) calloc (1, sizeof *p + 2 * len + 1);
        if (!p)
            return NULL;        //  out of memory: this peer is not watched
        static const char digits [] = "0123456789ABCDEF";      //  as zframe_strhex
        for (size_t i = 0; i < len; i++) {
            p->hex [2 * i] = digits [key [1 + i] >> 4];
            p->hex [2 * i + 1] = digits [key [1 + i] & 15];
        }
        if (zhashx_insert (self->peers, key, p)) {
            free (p);
            return NULL;
        }
    }
    if (now_ms > p->last_seen_ms)
        p->last_seen_ms = now_ms;
    if (heartbeat && !p->watched) {
        p->watched = true;
        self->watched++;
    }
    return p->hex;
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
    for (const s_key_t *key = (const s_key_t *) zlistx_first (keys); key;
         key = (const s_key_t *) zlistx_next (keys)) {
        s_peer_t *p = (s_peer_t *) zhashx_lookup (self->peers, key);
        if (stalled) {
            //  We were not listening: nobody's silence counts
            if (now_ms > p->last_seen_ms)
                p->last_seen_ms = now_ms;
            continue;
        }
        uint64_t silent = now_ms > p->last_seen_ms? now_ms - p->last_seen_ms: 0;
        if (p->watched && silent > self->timeout_ms) {
            char *copy = strdup (p->hex);
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
mt_peers_watched (mt_peers_t *self, const void *id, size_t len)
{
    assert (self);
    s_key_t key [S_ID_MAX + 1];
    if (!s_key_make (key, id, len))
        return false;
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
