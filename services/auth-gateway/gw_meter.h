//  The gateway's side of metering: every usage event goes to metering and is
//  kept (gw_usageq_t) until metering acknowledges it, sent again when it is
//  not, and, with a spool file, appended to disk as it is emitted so that a
//  restarted gateway owes it again (replayed at start). What is billed is
//  decided before (gw_bill.c); the counters of it are the server's.
#ifndef GW_METER_H_INCLUDED
#define GW_METER_H_INCLUDED

#include "gw_bill.h"

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gw_meter_t gw_meter_t;

//  metering: the DEALER to metering; borrowed, outlives the meter (only
//  sent on). max: events kept unacknowledged at most. Caller owns; destroy
//  with gw_meter_destroy. NULL if out of memory.
gw_meter_t *gw_meter_new (zsock_t *metering, size_t max, uint64_t resend_ms);
void gw_meter_destroy (gw_meter_t **self_p);

//  Open the spool file and send again what it holds (what the last process
//  owed metering). Returns 0, or -1 when it cannot be opened (logged).
int gw_meter_spool (gw_meter_t *self, const char *path);

//  Send an event and keep it until acknowledged (spooled first). Returns 0,
//  or -1 when max events are pending already: dropped (logged). With a
//  hold (gw_meter_hold) it is sent with the others of its batch.
int gw_meter_emit (gw_meter_t *self, const gw_usage_t *event, uint64_t now_mono);

//  Hold emitted events and send them together: once the oldest held has
//  waited hold_ms, or hold_max are held (gw_meter_send_held). Metering
//  takes a batch in one wake-up and acknowledges it in one UsageAck, where
//  one event at a time costs a message, its wake-ups and often an ack
//  each. Spooling is not delayed. hold_ms 0 (the default): sent at once.
void gw_meter_hold (gw_meter_t *self, uint64_t hold_ms, size_t hold_max);

//  Send the held events when their batch is due, or now (force: before a
//  stop). Returns how many were sent.
size_t gw_meter_send_held (gw_meter_t *self, uint64_t now_mono, bool force);

//  Milliseconds until the held events are due (0: now), -1 when none are
//  held: a bound for the loop's wait.
long gw_meter_held_wait (gw_meter_t *self, uint64_t now_mono);

//  Metering acknowledged these events; the spool is emptied (or compacted).
void gw_meter_ack (gw_meter_t *self, char **event_ids, size_t count);

//  Sync the spool if anything was appended since the last sync: once per
//  poll round, before the answers go out.
void gw_meter_sync (gw_meter_t *self);

//  Send again the events not acknowledged in time (at most max_count).
//  Returns how many.
size_t gw_meter_resend (gw_meter_t *self, uint64_t now_mono, size_t max_count);

//  Events not yet acknowledged.
size_t gw_meter_pending (gw_meter_t *self);

#endif
