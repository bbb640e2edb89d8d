//  Metering's disk spool: usage events the database could not take yet and
//  memory could not hold. Append-only records (4-byte little-endian length,
//  then the packed UsageEvent), fsync'd before the events are acknowledged,
//  read back in order once the database answers, and the file emptied when
//  every record read back is in the ledger. A torn record at the end (a crash
//  mid-write, never acknowledged) is cut off when the spool is opened.
#ifndef MTR_SPOOL_H_INCLUDED
#define MTR_SPOOL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt.pb-c.h"

#define MTR_SPOOL_RECORD_MAX 65536  //  a longer record is damage, not an event

typedef struct _mtr_spool_t mtr_spool_t;

//  Open (create) the spool file at path. Returns NULL on failure, logged.
//  Caller owns; destroy with mtr_spool_destroy.
mtr_spool_t *mtr_spool_new (const char *path);
void mtr_spool_destroy (mtr_spool_t **self_p);

//  Append one event (not yet durable). Returns 0 or -1.
int mtr_spool_append (mtr_spool_t *self, const Mt__UsageEvent *ev);

//  Make every append so far durable. Returns 0 or -1 (nothing may then be
//  acknowledged).
int mtr_spool_sync (mtr_spool_t *self);

//  The next record not read back yet, decoded (free with
//  mt__usage_event__free_unpacked), or NULL at the end. An undecodable
//  record is skipped, logged.
Mt__UsageEvent *mtr_spool_next (mtr_spool_t *self);

//  Records appended and not read back; bytes in the file.
bool mtr_spool_unread (mtr_spool_t *self);
uint64_t mtr_spool_bytes (mtr_spool_t *self);

//  Empty the file (every record read back is stored). Returns 0 or -1.
int mtr_spool_truncate (mtr_spool_t *self);

//  Pure framing, exposed for tests. mtr_spool_valid_length: bytes of buf
//  (size bytes) that hold whole records, the rest being a torn tail.
size_t mtr_spool_valid_length (const uint8_t *buf, size_t size);

#endif
