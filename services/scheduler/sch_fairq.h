//  Weighted fair queue of one (pool, model): one FIFO per tenant, next job
//  from the backlogged tenant with the lowest virtual token counter.
//  Pure: no sockets, no clock, no logging.
#ifndef SCH_FAIRQ_H_INCLUDED
#define SCH_FAIRQ_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sch_fairq_t sch_fairq_t;

//  What sch_fairq_pop hands back.
typedef struct {
    void *item;                 //  the caller's item, as pushed
    const char *tenant_id;      //  borrowed; valid while the fair queue lives
    uint64_t charged;           //  tokens charged to the tenant for this job
    uint32_t weight;            //  weight it was charged with
    uint64_t seq;               //  insertion order (for sch_fairq_unpop)
} sch_fairq_pick_t;

//  Create an empty fair queue. Caller owns; destroy with sch_fairq_destroy.
sch_fairq_t *sch_fairq_new (void);

//  Destroy; no-op on NULL; nulls the pointer. Items are not freed (the
//  caller owns them).
void sch_fairq_destroy (sch_fairq_t **self_p);

//  Queue a job at the tail of its tenant's FIFO. cost is the estimate charged
//  at dispatch (prompt_tokens + max_tokens); weight 0 counts as 1. req_id is
//  copied and must be unique in this queue. Returns 0, or -1 on a duplicate.
int sch_fairq_push (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                    const char *req_id, uint64_t cost, void *item);

//  Take the next job by weighted fair queuing and charge its tenant
//  cost / weight. Returns false when the queue is empty.
bool sch_fairq_pop (sch_fairq_t *self, sch_fairq_pick_t *pick);

//  Undo the last pop of this job (the dispatch failed): refund the charge and
//  put the job back at the head of its tenant's FIFO. Returns 0 or -1.
int sch_fairq_unpop (sch_fairq_t *self, const char *req_id, const sch_fairq_pick_t *pick);

//  Remove a queued job (cancel). Returns its item, or NULL when unknown.
void *sch_fairq_remove (sch_fairq_t *self, const char *req_id);

//  A job finished: correct its tenant's counter by (actual - charged) / weight.
void sch_fairq_correct (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                        uint64_t charged, uint64_t actual);

//  Queued jobs in total.
size_t sch_fairq_size (sch_fairq_t *self);

//  A tenant's virtual counter (tests, logs); 0 for an unknown tenant.
double sch_fairq_counter (sch_fairq_t *self, const char *tenant_id);

#endif
