//  All SQL of metering, on a database thread of its own: a czmq actor that
//  owns the PGconn, writes one batch per transaction and answers on its pipe.
//
//  Protocol on the actor pipe (picture "sp"):
//    owner -> actor  "BATCH", mtr_batch_t *   (the actor borrows the batch)
//    actor -> owner  "DONE",  mtr_batch_t *   (mtr_batch_rc: 0 stored, -1 failed)
//  The owner must not touch a batch between BATCH and DONE.
#ifndef MTR_STORE_H_INCLUDED
#define MTR_STORE_H_INCLUDED

#include <czmq.h>
#include <libpq-fe.h>
#include <stdbool.h>

#include "mtr_batch.h"

//  Start the database actor. conn_p: an open connection the actor takes over
//  (nulled). dsn is copied, for reconnecting. Caller owns; destroy with
//  zactor_destroy (the actor finishes the batch it is writing first).
zactor_t *mtr_store_new (const char *dsn, PGconn **conn_p);

//  True while the database answered the last attempt. Any thread.
bool mtr_store_up (void);

#endif
