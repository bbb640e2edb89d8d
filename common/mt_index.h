//  A table of items by name (the scheduler's jobs by request id and leases
//  by tenant id, the quota-enforcer's settled request ids). Open addressing: a lookup costs one
//  look at the slot array, where a zhashx walks a chain of nodes and their
//  keys (three cache misses a lookup on tables of 10,000 jobs). Keys are
//  borrowed: each lives in its item, as long as the item is in the table.
//  Items are borrowed too. Pure: no I/O.
#ifndef MT_INDEX_H_INCLUDED
#define MT_INDEX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _mt_index_t mt_index_t;

//  An empty table. Caller owns; destroy with mt_index_destroy.
mt_index_t *mt_index_new (void);

//  Destroy the table (not its items); no-op on NULL; nulls the pointer.
void mt_index_destroy (mt_index_t **self_p);

//  The item named key, or NULL.
void *mt_index_lookup (mt_index_t *self, const char *key);

//  Add item under key (borrowed: it must stay valid and unchanged while the
//  item is in the table). Returns 0, or -1 when key is there already, or
//  when the table is full and no memory is left to make it larger (a table
//  that cannot grow takes items past half full until then).
int mt_index_insert (mt_index_t *self, const char *key, void *item);

//  Take the item named key out of the table. Returns it, or NULL. A table
//  left an eighth full (after a burst) is made smaller.
void *mt_index_delete (mt_index_t *self, const char *key);

//  Items in the table.
size_t mt_index_size (mt_index_t *self);

//  Walk the items in no particular order: the first, then the next, NULL at
//  the end. The table must not change during a walk.
void *mt_index_first (mt_index_t *self);
void *mt_index_next (mt_index_t *self);

#endif
