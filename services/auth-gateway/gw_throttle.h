//  auth-gateway: a throttle of failures per client address (401s). Pure: no
//  sockets, no clock of its own (the time is an argument).
//
//  Each address has a bucket of `burst` failures that refills one failure
//  every `interval_ms` (GCRA: one "theoretical arrival time" per address).
//  A caller asks gw_throttle_allow before answering a failure, and records
//  it with gw_throttle_fail; successes never touch the throttle.
#ifndef GW_THROTTLE_H_INCLUDED
#define GW_THROTTLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _gw_throttle_t gw_throttle_t;

//  burst 0 turns the throttle off (every failure allowed). max_keys bounds
//  the addresses tracked at once; past it, new addresses are not tracked
//  (allowed) until gw_throttle_sweep forgets the quiet ones.
//  Caller owns; destroy with gw_throttle_destroy.
gw_throttle_t *gw_throttle_new (uint32_t burst, uint32_t interval_ms, size_t max_keys);
void gw_throttle_destroy (gw_throttle_t **self_p);

//  True when `key` may have one more failure at now_ms. When false,
//  *retry_ms (if not NULL) says how long until it may.
bool gw_throttle_allow (gw_throttle_t *self, const char *key, uint64_t now_ms, uint64_t *retry_ms);

//  Record one failure of `key` at now_ms.
void gw_throttle_fail (gw_throttle_t *self, const char *key, uint64_t now_ms);

//  Forget every address whose bucket is full again at now_ms (it carries no
//  information). Returns the number still tracked.
size_t gw_throttle_sweep (gw_throttle_t *self, uint64_t now_ms);

//  Addresses tracked now.
size_t gw_throttle_size (gw_throttle_t *self);

#endif
