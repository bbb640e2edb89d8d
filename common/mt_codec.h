//  The one codec: packs and unpacks Envelope frames on ZeroMQ sockets.
//  No service builds frames by hand.
#ifndef MT_CODEC_H_INCLUDED
#define MT_CODEC_H_INCLUDED

#include <czmq.h>
#include "mt.pb-c.h"

//  Largest Envelope accepted from the wire; bigger frames are dropped.
#define MT_CODEC_MAX_FRAME (32u * 1024u * 1024u)

//  Create a socket that refuses frames over MT_CODEC_MAX_FRAME at the wire
//  (a peer cannot make libzmq allocate what it declares) and never lingers.
//  Caller owns; destroy with zsock_destroy.
zsock_t *mt_codec_socket (int type);

//  Decode one Envelope. Returns NULL on garbage, an empty body or an
//  oversized frame. Caller owns; free with mt_codec_free.
Mt__Envelope *mt_codec_decode (const uint8_t *data, size_t size);

//  Free a decoded Envelope; no-op on NULL; nulls the pointer.
void mt_codec_free (Mt__Envelope **env_p);

//  Send an Envelope. On a ROUTER socket pass the peer's routing id (borrowed),
//  else NULL. Never blocks: a full peer queue drops the message (returns -1).
int mt_codec_send (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env);

//  What to do when a message held by mt_codec_send_later is dropped at the
//  flush (the peer's queue full, a ROUTER_MANDATORY peer gone, no peer).
//  With a label, one line is logged at once: "<label> body=<body> req=<key>
//  tenant=<tenant>" (the last two when given). fn (if any) is called as
//  fn (arg, key) by the next mt_codec_flush of this thread, never from
//  inside another codec call, so it may send, free and requeue freely. arg
//  must outlive the hold (the service itself). Nothing is formatted or
//  allocated for the drop until it happens: label is NOT copied (a string
//  literal, or text that outlives the hold); key (e.g. a request id) and
//  tenant are copied, their first MT_CODEC_DROP_TEXT - 1 bytes, and key is
//  a value, not a pointer that could dangle.
#define MT_CODEC_DROP_TEXT 64
typedef void (mt_codec_drop_fn) (void *arg, const char *key);
typedef struct {
    const char *label;              //  the log line's event and fixed fields, or NULL
    mt_codec_drop_fn *fn;           //  or NULL
    void *arg;
    const char *key;                //  or NULL
    const char *tenant;             //  or NULL: only logged
} mt_codec_drop_t;

//  Submit.ended: the names a scheduler takes from one Submit, at most
//  (proto/mt.proto); a gateway sends no more.
#define MT_SUBMIT_ENDED_MAX 16

//  Largest batch the flush makes: items and bytes of the items together. A
//  burst goes out in pieces; an item bigger than the byte cap goes alone.
#define MT_CODEC_BATCH_ITEMS 256
#define MT_CODEC_BATCH_BYTES (64u * 1024u)

//  Send an Envelope at the next flush of this thread: to routing_id
//  (borrowed, copied; on a ROUTER) or NULL (DEALER). Packed now, sent then.
//  Messages held for the same socket and peer go out as ONE message, a
//  Batch of them in the order held (one alone: the plain Envelope; see
//  MT_CODEC_BATCH_*). The flushes: mt_codec_flush; mt_codec_poll before it
//  waits; mt_codec_recv_wait when it would have to wait; mt_codec_send on
//  the same socket first sends what is held for it, so each socket's
//  messages keep their order. drop may be NULL (dropped silently). Returns
//  0; or, when it could not hold (out of memory), what mt_codec_send
//  returned sending it at once: -1 means lost, its label logged here, its
//  callback NOT run: the caller handles it as a failed mt_codec_send.
int mt_codec_send_later (zsock_t *sock, zframe_t *routing_id, const Mt__Envelope *env,
                         const mt_codec_drop_t *drop);

//  Send what this thread holds, then run the drop callbacks of what was
//  dropped since the last call (a caller that gives callbacks calls this in
//  its loop; mt_codec_poll does not wait while some are due). Returns how
//  many messages were dropped since the last call.
size_t mt_codec_flush (void);

//  Send what this thread holds for sock only (as mt_codec_send does first):
//  for a loop that wants one socket's messages out before slower work of
//  its turn. Drop callbacks wait for the next mt_codec_flush.
void mt_codec_flush_for (zsock_t *sock);

//  Before sock is destroyed while the process runs (a reconnect, a peer
//  gone, shutdown): drop what this thread holds for it (drop handling not
//  run) and the batch items received on it and not yet returned. A later
//  socket at the same address never sees them. No-op for NULL.
void mt_codec_forget (zsock_t *sock);

//  mt_codec_forget, then zsock_destroy.
void mt_codec_close (zsock_t **sock_p);

//  Whether held messages are sent as Batches (default: on; the environment
//  variable MT_BUS_BATCH=0, read once per process, turns it off: every
//  Envelope alone, for peers older than the Batch). Load generators and
//  tests set it.
void mt_codec_set_batch (bool on);
bool mt_codec_batching (void);

//  ZeroMQ messages this thread sent and received through the codec (a
//  Batch counts once), for load generators and benchmarks.
uint64_t mt_codec_frames (void);

//  Receive one message. A Batch is taken apart here: its first item is
//  returned, the rest are kept for this socket (with the sender's routing
//  id) and returned, in order, by the next receives on it from this thread
//  before the socket is read again. A garbage item, an empty Batch or a
//  Batch inside a Batch counts as garbage (logged, NULL); the other items
//  still count. On a ROUTER socket the first frame is the routing id,
//  returned in *routing_id (caller owns; destroy with zframe_destroy); pass
//  NULL for other sockets. Returns NULL (after logging and dropping the
//  message) on garbage: the caller just carries on. Caller owns the result;
//  free with mt_codec_free.
Mt__Envelope *mt_codec_recv (zsock_t *sock, zframe_t **routing_id);

//  The same, for a loop that drains a socket: returns 1 when a message was
//  taken off the socket (*env_p the Envelope, or NULL for garbage, logged and
//  dropped), 0 when none was waiting. Draining until 0 costs one look at the
//  socket's mailbox for the whole run, where asking zsock_events before each
//  message costs one per message (a getpid and a poll in libzmq).
int mt_codec_recv_next (zsock_t *sock, zframe_t **routing_id, Mt__Envelope **env_p);

//  The same, waiting up to timeout_ms (-1: until a message comes; 0: not at
//  all) when none is waiting: for a loop that serves this one socket and
//  nothing else (the quota-enforcer). libzmq's own blocking receive waits on
//  the socket's mailbox and takes what woke it at once: per wake-up one
//  poll() fewer than mt_codec_poll then a look at the socket, and no empty
//  receive to learn that the socket is drained (the next wait is that look).
//  A kept Batch item is returned at once; what this thread holds is sent
//  (mt_codec_flush's sending, no callbacks) only when it would have to wait.
//  Returns 0 when none came in time or a signal came; leaves the socket's
//  ZMQ_RCVTIMEO at timeout_ms (mt_codec_recv_next does not heed it).
int mt_codec_recv_wait (zsock_t *sock, zframe_t **routing_id, Mt__Envelope **env_p,
                        int timeout_ms);

//  zmq_poll, with fewer looks at the sockets' mailboxes (each a getpid and a
//  poll inside libzmq): a socket's ZMQ_EVENTS is read once before waiting
//  and, after the wait, again only when its ZMQ_FD was signalled; zmq_poll
//  reads every socket's twice per wait and polls twice. Same items, same
//  revents (POLLIN and POLLOUT on sockets; POLLIN, POLLOUT, POLLPRI and
//  POLLERR on plain fds), same return and errno; timeout in ms, -1 forever.
//  First sends what this thread holds. A socket with Batch items kept is
//  ready (ZMQ_POLLIN) at once; no wait either while drop callbacks are due.
int mt_codec_poll (zmq_pollitem_t *items, int nitems, long timeout);

//  Say that every call on sock from this thread goes through this codec
//  (mt_codec_send, mt_codec_recv, mt_codec_recv_next, mt_codec_poll) after
//  its bind or connect. Then mt_codec_poll skips even the look before the
//  wait when the socket was found idle and no call touched it since: its
//  state can only change through its mailbox, which signals its ZMQ_FD. A
//  receive that found nothing counts as finding it idle (libzmq emptied the
//  mailbox for it). Up to 16 sockets a thread; more are looked at as usual.
void mt_codec_poll_own (zsock_t *sock);

//  A call outside the codec (czmq's zmsg_send, zsock_events...) used sock, a
//  socket given to mt_codec_poll_own: the next mt_codec_poll looks at it
//  before waiting. A socket whose other users call this after each use may
//  be given to mt_codec_poll_own too. No-op for other sockets.
void mt_codec_poll_touched (zsock_t *sock);

//  Copy a decoded JobSpec so it outlives its envelope. Unknown fields are
//  left behind (protobuf-c may keep one it cannot write back in a form it
//  would read again). Caller owns; free with mt__job_spec__free_unpacked.
//  NULL if out of memory.
Mt__JobSpec *mt_codec_job_copy (const Mt__JobSpec *spec);

//  Name of an Envelope body, for logs.
const char *mt_codec_body_name (const Mt__Envelope *env);

#endif
