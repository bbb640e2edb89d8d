//  Readiness of the gateway (/readyz): which of its ZeroMQ peers it is
//  connected to, from libzmq's socket monitor events.
#ifndef GW_READY_H_INCLUDED
#define GW_READY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct _gw_ready_t gw_ready_t;

//  Caller owns; destroy with gw_ready_destroy.
gw_ready_t *gw_ready_new (void);
void gw_ready_destroy (gw_ready_t **self_p);

//  Watch the connections of sock (borrowed; must outlive self) under name.
//  Call before zsock_connect, so that no event is missed. Returns 0 or -1.
int gw_ready_watch (gw_ready_t *self, zsock_t *sock, const char *name);

//  True while sock watched under name has at least one connection whose
//  handshake succeeded. Reads the events that came since the last read, at
//  most every 10 ms (what it says may be that much late).
bool gw_ready_connected (gw_ready_t *self, const char *name);

#endif
