//  What the load generators (mt_qe_load.c, mt_sched_load.c, mt_wa_load.c)
//  share: the sort order of round trips and their sockets' set-up (a
//  certificate of the role they stand in for, queues that never block a
//  burst). Their clock is mt_mono_us (mt_util.h).
#ifndef MT_LOAD_H
#define MT_LOAD_H

#include <czmq.h>
#include <stdint.h>

//  qsort order of uint64_t values, smallest first.
int mt_load_cmp_u64 (const void *a, const void *b);

//  With CURVE on and cert_file set, the socket takes that certificate's keys
//  instead of this process's own (a generator standing in for a gateway or a
//  worker); then both queues are raised to a million messages. Returns -1,
//  after saying why on stderr as "who: ...", when the file cannot be loaded.
int mt_load_prepare (zsock_t *sock, const char *who, const char *cert_file);

#endif
