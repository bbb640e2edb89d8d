//  The quota-enforcer's socket side: one ROUTER, Admit -> AdmitReply,
//  Settle and Heartbeat (no reply), a sweep of expired reservations every
//  second, and the release of the reservations of gateways that stopped
//  heartbeating.
#ifndef QE_SERVER_H_INCLUDED
#define QE_SERVER_H_INCLUDED

#include "qe_quota.h"

typedef struct _qe_server_t qe_server_t;

//  Bind the ROUTER at endpoint and take over the quota state (nulls
//  *quota_p, success or not). Caller owns; destroy with qe_server_destroy.
//  NULL after logging when the endpoint cannot be bound.
qe_server_t *qe_server_new (const char *endpoint, qe_quota_t **quota_p);

//  For warmup_ms from now, Admits wait (answered after) while the gateways'
//  re-announced reservations (Admit.restore) are recorded at once, so a
//  restarted process knows what is in flight before it grants anything.
void qe_server_set_warmup (qe_server_t *self, int warmup_ms);

//  A gateway that has heartbeated and is then silent for timeout_ms is gone:
//  its reservations are released unused (qe_quota_release_owner). Default
//  5000 ms.
void qe_server_set_gateway_timeout (qe_server_t *self, int timeout_ms);
void qe_server_destroy (qe_server_t **self_p);

//  The endpoint bound, e.g. "tcp://127.0.0.1:41234" after binding port *.
//  Borrowed; valid while the server lives.
const char *qe_server_endpoint (qe_server_t *self);

//  Serve until mt_stopping(). Returns 0.
int qe_server_run (qe_server_t *self);

//  Handle whatever is waiting, for at most timeout_ms, then sweep if due.
//  For component tests; qe_server_run loops on it.
void qe_server_step (qe_server_t *self, int timeout_ms);

#endif
