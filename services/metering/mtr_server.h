//  Metering's socket side: one ROUTER takes UsageEvents, fills batches, hands
//  them to the database actor one at a time and acknowledges what is stored.
#ifndef MTR_SERVER_H_INCLUDED
#define MTR_SERVER_H_INCLUDED

#include <czmq.h>
#include <stddef.h>

typedef struct _mtr_server_t mtr_server_t;

//  Bind the ROUTER and take over the database actor (nulls *store_p,
//  success or not). memory_max: events held in memory while the database
//  does not take them; beyond that they go to the spool file at spool_path
//  (NULL or "": none; they are then not acknowledged and their senders send
//  them again). Caller owns; destroy with mtr_server_destroy. NULL after
//  logging when the endpoint cannot be bound or the spool not opened.
mtr_server_t *mtr_server_new (const char *endpoint, zactor_t **store_p,
                              size_t batch_max, int batch_ms,
                              size_t memory_max, const char *spool_path);
void mtr_server_destroy (mtr_server_t **self_p);

//  Serve until mt_stopping(), then write what is pending (up to a few
//  seconds; with the database down, to the spool). Returns 0.
int mtr_server_run (mtr_server_t *self);

#endif
