//  auth-gateway: the front door. Tracks every HTTP connection from accept to
//  close and holds it to its limits: how long its headers, body and idle
//  keep-alive may take, how many connections the gateway and each client
//  address may hold, and how many 401s a client address may collect.
//
//  libmicrohttpd's own timeout only counts inactivity (a client that sends a
//  byte now and then is never cut) and, at its connection limit, it leaves
//  new connections in the kernel's accept queue. So the gateway keeps
//  deadlines of its own and ends a late connection with shutdown(2), and
//  it keeps a small reserve of connections above max-connections that may
//  only ask /healthz and /metrics: everyone else is refused at once.
//
//  The policies are pure modules (gw_clients.c, gw_throttle.c); this is the
//  shell that feeds them from libmicrohttpd's callbacks.
#ifndef GW_FRONT_H_INCLUDED
#define GW_FRONT_H_INCLUDED

#include "gw_server.h"
#include "mt_errors.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

//  Connections above max-connections kept for health probes and metrics.
#define GW_FRONT_RESERVE        32
//  A reserve connection's headers (and idle time) are held to this at most.
#define GW_FRONT_RESERVE_MS     2000
//  File descriptors kept free for everything else (ZeroMQ, PostgreSQL).
#define GW_FRONT_FD_SPARE       512
//  Client addresses whose 401s are remembered at once, at most.
#define GW_FRONT_THROTTLE_KEYS  100000

typedef struct _gw_front_t gw_front_t;

//  Reads the front door's options from config; lowers max-connections to
//  what the open-files limit allows (logs it). Logs and returns NULL on a
//  bad option. Caller owns; destroy with gw_front_destroy after the daemon
//  has stopped.
gw_front_t *gw_front_new (const gw_server_config_t *config);
void gw_front_destroy (gw_front_t **self_p);

//  MHD_OPTION_CONNECTION_LIMIT and MHD_OPTION_CONNECTION_TIMEOUT (seconds)
//  for the daemon: the limit sits above the reserve (twice: see
//  gw_front_accept) so that libmicrohttpd never stops accepting; its
//  inactivity timeout is a backstop (a client that stops reading its
//  response).
unsigned int gw_front_mhd_limit (gw_front_t *self);
unsigned int gw_front_mhd_timeout (gw_front_t *self);

//  libmicrohttpd callbacks; cls is the gw_front_t. The accept policy
//  refuses over the per-client cap (direct peers) and over the reserve;
//  with the reserve full, the new connection takes the place of the oldest
//  reserve connection still waiting for a request.
enum MHD_Result gw_front_accept (void *cls, const struct sockaddr *addr, socklen_t addrlen);
void gw_front_notify (void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

//  A request's headers are in. probe: the route is /healthz or /metrics.
//  Returns NULL to go on, or the error to answer: over max-connections 503
//  server_busy (only probes pass; answer at once, the connection closes),
//  or for a proxied client over its cap 429 too_many_connections (answer
//  once the body is in: the proxy's connection, shared by other clients,
//  stays). *retry_after is set for those.
const mt_error_t *gw_front_on_headers (gw_front_t *self, struct MHD_Connection *conn, bool probe,
                                       uint32_t *retry_after);

//  The request's body is in (or it will not be read): no more deadline
//  until its response is done.
void gw_front_on_body (gw_front_t *self, struct MHD_Connection *conn);

//  The request is finished; the connection may wait for the next one.
void gw_front_on_completed (gw_front_t *self, struct MHD_Connection *conn);

//  The request carried no valid key. Returns true when its client address
//  is throttled (answer 429, *retry_after set); else counts the failure
//  (answer 401). Trusted proxies and valid keys are never throttled.
bool gw_front_auth_failed (gw_front_t *self, struct MHD_Connection *conn, uint32_t *retry_after);

//  Close every connection past its deadline; once a second, forget quiet
//  addresses and log refusals. Call after MHD_run.
void gw_front_tick (gw_front_t *self, uint64_t now_mono);

#endif
