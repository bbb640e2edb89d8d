//  A table of the scheduler's items by name (a job by its request id, a
//  tenant's leases by its tenant id). Open addressing: a lookup costs one
//  look at the slot array, where a zhashx walks a chain of nodes and their
//  keys (three cache misses a lookup on tables of 10,000 jobs). Keys are
//  borrowed: each lives in its item, as long as the item is in the table.
//  Items are borrowed too. Pure: no I/O.
#ifndef SCH_INDEX_H_INCLUDED
#define SCH_INDEX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _sch_index_t sch_index_t;

//  An empty table. Caller owns; destroy with sch_index_destroy.
sch_index_t *sch_index_new (void);

//  Destroy the table (not its items); no-op on NULL; nulls the pointer.
void sch_index_destroy (sch_index_t **self_p);

//  The item named key, or NULL.
void *sch_index_lookup (sch_index_t *self, const char *key);

//  Add item under key (borrowed: it must stay valid and unchanged while the
//  item is in the table). Returns 0, or -1 when key is there already.
int sch_index_insert (sch_index_t *self, const char *key, void *item);

//  Take the item named key out of the table. Returns it, or NULL.
void *sch_index_delete (sch_index_t *self, const char *key);

//  Items in the table.
size_t sch_index_size (sch_index_t *self);

//  Walk the items in no particular order: the first, then the next, NULL at
//  the end. The table must not change during a walk.
void *sch_index_first (sch_index_t *self);
void *sch_index_next (sch_index_t *self);

#endif
