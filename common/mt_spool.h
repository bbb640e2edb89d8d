//  A disk spool of usage events, append-only: records of a 4-byte
//  little-endian length, then the packed UsageEvent; synced in batches, read
//  back in order, emptied when its owner no longer needs any of it. A torn
//  record at the end (a crash mid-write) is cut off when the spool is opened.
//  Metering spools the events the database cannot take yet (synced before it
//  acknowledges them); the gateway, the events metering has not acknowledged.
#ifndef MT_SPOOL_H_INCLUDED
#define MT_SPOOL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt.pb-c.h"

#define MT_SPOOL_RECORD_MAX 65536  //  a longer record is damage, not an event

typedef struct _mt_spool_t mt_spool_t;

//  Open (create) the spool file at path. Returns NULL on failure, logged.
//  Caller owns; destroy with mt_spool_destroy.
mt_spool_t *mt_spool_new (const char *path);
void mt_spool_destroy (mt_spool_t **self_p);

//  Append one event (not yet durable). Returns 0 or -1.
int mt_spool_append (mt_spool_t *self, const Mt__UsageEvent *ev);

//  Make every append so far durable. Returns 0 or -1 (nothing may then be
//  acknowledged).
int mt_spool_sync (mt_spool_t *self);

//  The next record not read back yet, decoded (free with
//  mt__usage_event__free_unpacked), or NULL at the end. An undecodable
//  record is skipped, logged.
Mt__UsageEvent *mt_spool_next (mt_spool_t *self);

//  Records appended and not read back; bytes in the file.
bool mt_spool_unread (mt_spool_t *self);
uint64_t mt_spool_bytes (mt_spool_t *self);

//  Empty the file (every record read back is stored). Returns 0 or -1.
int mt_spool_truncate (mt_spool_t *self);

//  Pure framing, exposed for tests. mt_spool_valid_length: bytes of buf
//  (size bytes) that hold whole records, the rest being a torn tail.
size_t mt_spool_valid_length (const uint8_t *buf, size_t size);

#endif
