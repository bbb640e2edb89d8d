//  Liveness of the peers of a ROUTER socket, keyed by routing id (its raw
//  bytes: a message costs a lookup, no allocation; the hex form is made
//  once per peer): who has been silent too long. Pure: no sockets, no clock
//  of its own (every call takes now_ms, monotonic), no logging.
//
//  A peer is watched once it has sent a Heartbeat (a peer that never does,
//  say an older gateway, is never declared gone: its silence means nothing).
//  A watched peer silent longer than the timeout is gone: the sweep reports
//  it once and forgets it. A restarted peer connects with a new routing id,
//  so it is a new peer; its old id goes silent and is swept.
//
//  The owner's own loop can stall (a stopped process, a long burst): when
//  two sweeps are more than half the timeout apart, nobody is declared gone
//  in that sweep and every peer counts as seen then; their messages are
//  still queued and are read first.
#ifndef MT_PEERS_H_INCLUDED
#define MT_PEERS_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _mt_peers_t mt_peers_t;

//  An empty table; a watched peer silent longer than timeout_ms is gone.
//  Caller owns; destroy with mt_peers_destroy.
mt_peers_t *mt_peers_new (uint64_t timeout_ms);

//  Destroy; no-op on NULL; nulls the pointer.
void mt_peers_destroy (mt_peers_t **self_p);

//  A message from the peer of routing id id (len bytes, 1 to 255) at now_ms;
//  heartbeat when it was a Heartbeat (the peer is watched from then on).
//  Returns the peer's key, its routing id in hex (as the sweep reports it),
//  borrowed: valid until a sweep forgets the peer. NULL when the id is empty
//  or longer than 255 bytes, or out of memory (the peer is not tracked).
const char *mt_peers_seen (mt_peers_t *self, const void *id, size_t len, bool heartbeat,
                           uint64_t now_ms);

//  The watched peers silent longer than the timeout at now_ms, forgotten
//  here. Peers that never heartbeated and are silent ten timeouts are
//  forgotten without a word (the table stays bounded). Caller owns the
//  list (of hex key strings it frees); destroy with zlistx_destroy.
zlistx_t *mt_peers_sweep (mt_peers_t *self, uint64_t now_ms);

//  True when the peer of routing id id (len bytes) is watched (it
//  heartbeated and was not swept).
bool mt_peers_watched (mt_peers_t *self, const void *id, size_t len);

//  Watched peers.
size_t mt_peers_live (mt_peers_t *self);

//  Peers in the table, watched or not.
size_t mt_peers_size (mt_peers_t *self);

#endif
