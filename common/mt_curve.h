//  CURVE on every ZeroMQ socket. Each service instance has a keypair (a czmq
//  certificate file); a folder of public certificates, one subfolder per role
//  (gateway, scheduler, worker, quota-enforcer, metering), says who is who.
//  A server socket admits only the client roles it serves, through a ZAP
//  handler of this process; a client socket knows its server's public key.
//  Refusals are logged once per peer and counted.
//
//  One process-wide state: libzmq has one ZAP endpoint per context and czmq
//  one context per process. Before mt_curve_start every call is a no-op, as
//  after a start with CURVE off (the one switch for local debugging).
#ifndef MT_CURVE_H_INCLUDED
#define MT_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "mt_config.h"

//  The three options every service's table holds.
#define MT_CURVE_OPTIONS \
    { "curve", "MT_CURVE", MT_OPT_BOOL, "1", 0, 0, \
      "CURVE on every ZeroMQ socket (0 = off, for local debugging only)" }, \
    { "curve-cert", "MT_CURVE_CERT", MT_OPT_STRING, "", 0, 0, \
      "this instance's secret certificate (czmq zcert file)" }, \
    { "curve-keys", "MT_CURVE_KEYS", MT_OPT_STRING, "", 0, 0, \
      "folder of public certificates, one subfolder per role" }

//  Roles, as subfolder names of the keys folder.
#define MT_ROLE_GATEWAY "gateway"
#define MT_ROLE_SCHEDULER "scheduler"
#define MT_ROLE_WORKER "worker"
#define MT_ROLE_QUOTA "quota-enforcer"
#define MT_ROLE_METERING "metering"

//  Load this instance's certificate and every role's public keys from the
//  options above, and start the ZAP handler. Returns 0, or -1 after one log
//  line naming the option at fault. With curve=0 logs a warning and returns 0.
int mt_curve_start (mt_opt_t *opts);

//  Read the keys folder again now: a worker or gateway added or removed
//  while we run. The ZAP handler does it every 5 s by itself. When the
//  folder is unreadable, empty or holds a secret, the keys loaded before
//  stay (logged once).
void mt_curve_reload (void);

//  Stop the ZAP handler and forget the keys. Call after every socket is gone.
void mt_curve_stop (void);

//  True once started with CURVE on.
bool mt_curve_on (void);

//  This instance's public key (Z85, 40 chars), or "" when CURVE is off.
//  Borrowed; valid until mt_curve_stop.
const char *mt_curve_public_key (void);

//  Make sock (before bind) a CURVE server that admits only clients whose
//  public key is in role client_role. domain names the socket in logs.
//  Returns 0 or -1 (logged).
int mt_curve_server (zsock_t *sock, const char *domain, const char *client_role);

//  Make sock (before connect) a CURVE client of the one server of
//  server_role (its keys subfolder must hold exactly one certificate).
//  Returns 0 or -1 (logged).
int mt_curve_client (zsock_t *sock, const char *server_role);

//  The same for a server whose public key arrived in a message (a gateway's
//  token endpoint): accepted only when it is a key of server_role.
//  Returns 0 or -1 (logged).
int mt_curve_client_to (zsock_t *sock, const char *server_key, const char *server_role);

//  True when key (Z85) is one of role's public keys, or CURVE is off.
bool mt_curve_known (const char *role, const char *key);

//  Handshakes refused so far (bad, unknown or wrong-role keys, and peers
//  that did not speak CURVE).
uint64_t mt_curve_refused (void);

#endif
