//  Readiness of the gateway: a socket monitor per watched DEALER counts its
//  connections (handshake succeeded, minus disconnected). The events wait in
//  an inproc PAIR until /readyz reads them, on the main thread.
#include "gw_ready.h"
#include "mt_log.h"
#include "mt_util.h"

#include <zmq.h>

#define GW_READY_MAX 4
//  The events are read at most this often: the gateway's loop asks on every
//  turn, and each read of an empty PAIR costs libzmq a look at its mailbox
//  (a getpid and a poll), about fifteen a request one at a time.
#define GW_READY_LOOK_MS 10

typedef struct {
    char name [32];
    zsock_t *events;            //  PAIR connected to the monitor, owned
    int up;                     //  connections up
    uint64_t next_ms;           //  monotonic: no read of the events before then
} s_watch_t;

struct _gw_ready_t {
    s_watch_t watch [GW_READY_MAX];
    int count;
};

gw_ready_t *
gw_ready_new (void)
{
    return (gw_ready_t *) zmalloc (sizeof (gw_ready_t));
}

void
gw_ready_destroy (gw_ready_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_ready_t *self = *self_p;
    for (int i = 0; i < self->count; i++)
        zsock_destroy (&self->watch [i].events);
    free (self);
    *self_p = NULL;
}

int
gw_ready_watch (gw_ready_t *self, zsock_t *sock, const char *name)
{
    if (!self || !sock || self->count == GW_READY_MAX)
        return -1;
    s_watch_t *w = &self->watch [self->count];
    char endpoint [96];
    snprintf (endpoint, sizeof endpoint, "inproc://gw-ready-%p-%d", (void *) self, self->count);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)) {
        mt_log ("ready-watch-failed peer=%s reason=\"%s\"", name, zmq_strerror (zmq_errno ()));
        return -1;
    }
    w->events = zsock_new (ZMQ_PAIR);
    if (!w->events || zsock_connect (w->events, "%s", endpoint)) {
        zsock_destroy (&w->events);
        zmq_socket_monitor (zsock_resolve (sock), NULL, 0);
        return -1;
    }
    snprintf (w->name, sizeof w->name, "%s", name);
    self->count++;
    return 0;
}

//  Read the waiting events of one watch: [event id (2) value (4)][endpoint].
static void
s_drain (s_watch_t *w)
{
    void *handle = zsock_resolve (w->events);
    while (true) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) == -1) {
            zmq_msg_close (&msg);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&msg) >= 2)
            memcpy (&event, zmq_msg_data (&msg), 2);
        bool more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        while (more) {              //  the endpoint frame
            zmq_msg_init (&msg);
            if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) == -1)
                more = false;
            else
                more = zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            w->up++;
        else
        if (event == ZMQ_EVENT_DISCONNECTED && w->up > 0)
            w->up--;
    }
}

bool
gw_ready_connected (gw_ready_t *self, const char *name)
{
    for (int i = 0; self && i < self->count; i++)
        if (!strcmp (self->watch [i].name, name)) {
            uint64_t now = mt_mono_ms ();
            if (now >= self->watch [i].next_ms) {
                s_drain (&self->watch [i]);
                self->watch [i].next_ms = now + GW_READY_LOOK_MS;
            }
            return self->watch [i].up > 0;
        }
    return false;
}
