//  The scheduler's server: two ROUTER sockets (gateways, workers), message
//  handling, logging, metrics and the liveness sweep, in one thread. It owns
//  an sch_jobs_t (sch_jobs.c), which holds the job table, per-tenant
//  concurrency leases, fair queues per (pool, model), workers and their
//  credit, and the catalog, and passes it the time.
#ifndef SCH_SERVER_H_INCLUDED
#define SCH_SERVER_H_INCLUDED

#include "sch_fairq.h"

#include <stdint.h>

typedef struct {
    const char *gateway_bind;   //  ROUTER endpoint for gateways
    const char *worker_bind;    //  ROUTER endpoint for workers
    int worker_timeout_ms;      //  a worker silent this long is dead
    int gateway_timeout_ms;     //  a gateway silent this long is gone (0: the default)
    int queue_max;              //  queued jobs per (pool, model) before ERR_NO_CAPACITY
    sch_fairq_policy_t policy;  //  who goes next in a queue (0: vtc)
    uint64_t head_start;        //  vtc: credit a newly backlogged tenant may start with
} sch_server_config_t;

typedef struct _sch_server_t sch_server_t;

//  Bind both sockets. Returns NULL (logged) when a bind fails.
//  Caller owns; destroy with sch_server_destroy.
sch_server_t *sch_server_new (const sch_server_config_t *config);

//  Destroy; no-op on NULL; nulls the pointer.
void sch_server_destroy (sch_server_t **self_p);

//  One turn of the loop: wait up to timeout_ms for messages, handle all that
//  are waiting, then run the liveness sweep when due. Returns 0 or -1 when
//  interrupted.
int sch_server_poll (sch_server_t *self, int timeout_ms);

//  Loop until mt_stopping(). Returns 0.
int sch_server_run (sch_server_t *self);

//  The endpoints actually bound (resolves tcp://...:* ports). Borrowed.
const char *sch_server_gateway_endpoint (sch_server_t *self);
const char *sch_server_worker_endpoint (sch_server_t *self);

//  Counts, for tests and health.
uint32_t sch_server_queued (sch_server_t *self);
uint32_t sch_server_running (sch_server_t *self);
uint32_t sch_server_workers (sch_server_t *self);
uint32_t sch_server_gateways (sch_server_t *self);     //  gateways heartbeating

#endif
