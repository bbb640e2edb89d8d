//  Fair queue of one (pool, model): one FIFO per tenant, next job by the
//  queue's policy. Pure: no sockets, no clock, no logging.
//
//  Policies:
//    vtc   weighted virtual token counting: the backlogged tenant with the
//          lowest counter (tokens served / weight) goes next (of equal
//          counters, the one served longest ago); a tenant that becomes
//          backlogged starts at max(its counter, virtual time), the
//          virtual time being the highest counter a job was dispatched at
//          (the lowest backlogged counter at the time); head_start below it
//          when jobs of it still run (it was between two requests). The
//          counters follow what was really generated: the dispatch charge
//          (the caller's estimate, see sch_fairq_estimate), then progress
//          reports beyond it, then the final count corrects the sum.
//    fifo  one line in order of arrival over every tenant (no counters used
//          for the choice; they are still kept).
//  The backlogged tenants sit in a binary heap: push, pop and a counter
//  change cost O(log tenants). A tenant idle for forget_after dispatches is
//  forgotten when that changes nothing about where it starts again.
#ifndef SCH_FAIRQ_H_INCLUDED
#define SCH_FAIRQ_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sch_fairq_t sch_fairq_t;

//  A queued job, for a caller that keeps its jobs' handles instead of
//  naming them (sch_fairq_add). Borrowed; valid until the job is popped or
//  removed.
typedef struct _sch_fairq_entry_t sch_fairq_entry_t;

//  A tenant's state in the queue, as a pop hands it back. Borrowed; valid
//  while the tenant has a job popped and not yet corrected (or unpopped).
typedef struct _sch_fairq_tenant_t sch_fairq_tenant_t;

typedef enum {
    SCH_FAIRQ_VTC = 0,          //  weighted virtual token counting (default)
    SCH_FAIRQ_FIFO = 1,         //  order of arrival
} sch_fairq_policy_t;

//  The service's default head start (tokens / weight): enough to keep the
//  credit of a tenant whose queue empties for a moment between two of its
//  requests (client turnaround), small enough to be one or two requests.
#define SCH_FAIRQ_HEAD_START 128

//  The service's default for forget_after: dispatches a tenant stays idle
//  before its state may be dropped (about 5 minutes at 30 dispatches a
//  second).
#define SCH_FAIRQ_FORGET_AFTER 10000

typedef struct {
    sch_fairq_policy_t policy;
    uint64_t head_start;        //  vtc: virtual tokens a tenant with jobs running
                                //  may start below the virtual time when it comes
                                //  back to the queue (0: VTC's plain lift)
    bool lift_to_floor;         //  vtc: start from the lowest backlogged counter
                                //  instead of the virtual time, as the scheduler
                                //  did before (kept to compare designs)
    bool tie_by_head;           //  vtc: of equal counters the oldest head job goes
                                //  first, as before (kept to compare designs)
    uint64_t forget_after;      //  dispatches a tenant with nothing queued or
                                //  running stays known; then its state goes once
                                //  its counter is no higher than where it would
                                //  start again (0: never forget)
} sch_fairq_config_t;

//  What sch_fairq_pop hands back.
typedef struct {
    void *item;                 //  the caller's item, as pushed
    const char *tenant_id;      //  borrowed; valid until the job is corrected or
                                //  unpopped
    sch_fairq_tenant_t *tenant; //  the tenant's state, for the sch_fairq_tenant_ calls;
                                //  borrowed, valid as long as tenant_id
    uint64_t charged;           //  tokens charged to the tenant for this job
    uint32_t weight;            //  weight it was charged with
    uint64_t seq;               //  insertion order (for sch_fairq_unpop)
    uint64_t served_at;         //  the tenant's previous turn (for sch_fairq_unpop)
} sch_fairq_pick_t;

//  "vtc" or "fifo" -> *policy; returns 0, or -1 for another name.
int sch_fairq_policy_parse (const char *name, sch_fairq_policy_t *policy);

//  The policy's name. Static string.
const char *sch_fairq_policy_name (sch_fairq_policy_t policy);

//  Create an empty fair queue (vtc, no head start). Caller owns; destroy
//  with sch_fairq_destroy.
sch_fairq_t *sch_fairq_new (void);

//  Create an empty fair queue with this policy. Caller owns; destroy with
//  sch_fairq_destroy.
sch_fairq_t *sch_fairq_new_config (const sch_fairq_config_t *config);

//  Destroy; no-op on NULL; nulls the pointer. Items are not freed (the
//  caller owns them).
void sch_fairq_destroy (sch_fairq_t **self_p);

//  Queue a job at the tail of its tenant's FIFO. cost is charged to the
//  tenant at dispatch; weight 0 counts as 1. req_id is copied and must be
//  unique in this queue. Returns 0, or -1 on a duplicate.
int sch_fairq_push (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                    const char *req_id, uint64_t cost, void *item);

//  Queue a job that was dispatched before and lost (its worker died or handed
//  it back) at the head of its tenant's FIFO, ahead of every job pushed with
//  sch_fairq_push (fifo: ahead of every tenant's). The tenant becomes
//  backlogged as with sch_fairq_push; its counter was corrected for the lost
//  run already, so the next dispatch charges it once. Returns 0, or -1 on a
//  duplicate.
int sch_fairq_push_head (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                         const char *req_id, uint64_t cost, void *item);

//  The same without a name: the caller keeps the handle to remove the job
//  (sch_fairq_remove_entry) and makes sure it queues it once. head: as
//  sch_fairq_push_head. Returns the handle (borrowed; valid until the job is
//  popped or removed).
sch_fairq_entry_t *sch_fairq_add (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                                  uint64_t cost, void *item, bool head);

//  Take the next job by the queue's policy and charge its tenant
//  cost / weight. Returns false when the queue is empty.
bool sch_fairq_pop (sch_fairq_t *self, sch_fairq_pick_t *pick);

//  Undo the last pop of this job (the dispatch failed): refund the charge and
//  put the job back at the head of its tenant's FIFO. Returns 0 or -1.
int sch_fairq_unpop (sch_fairq_t *self, const char *req_id, const sch_fairq_pick_t *pick);

//  The same for a job queued with sch_fairq_add: its new handle.
sch_fairq_entry_t *sch_fairq_unpop_entry (sch_fairq_t *self, const sch_fairq_pick_t *pick);

//  Remove a queued job (cancel). Returns its item, or NULL when unknown.
void *sch_fairq_remove (sch_fairq_t *self, const char *req_id);

//  Remove a job queued with sch_fairq_add (entry: its handle, still queued).
//  Returns its item.
void *sch_fairq_remove_entry (sch_fairq_t *self, sch_fairq_entry_t *entry);

//  A running job generated tokens: add tokens / weight to its tenant's
//  counter.
void sch_fairq_progress (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                         uint64_t tokens);

//  The same for the tenant of a pick (pick.tenant), without looking it up.
void sch_fairq_tenant_progress (sch_fairq_t *self, sch_fairq_tenant_t *tenant,
                                uint32_t weight, uint64_t tokens);

//  Completion tokens to charge at dispatch for a job of this tenant that may
//  generate up to max_tokens: what its recent jobs generated (a moving
//  average), at most max_tokens; max_tokens while it has no history.
uint64_t sch_fairq_estimate (sch_fairq_t *self, const char *tenant_id, uint64_t max_tokens);

//  A job of this tenant ended having generated completion_tokens: feed the
//  moving average behind sch_fairq_estimate.
void sch_fairq_learn (sch_fairq_t *self, const char *tenant_id, uint64_t completion_tokens);

//  The same for the tenant of a pick (pick.tenant).
void sch_fairq_tenant_learn (sch_fairq_t *self, sch_fairq_tenant_t *tenant,
                             uint64_t completion_tokens);

//  A job finished (once for every job popped and not unpopped): correct its
//  tenant's counter by (actual - charged) / weight, where charged is all that
//  was charged for it (at dispatch and by progress).
void sch_fairq_correct (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                        uint64_t charged, uint64_t actual);

//  The same for the tenant of a pick (pick.tenant). Once the tenant has no
//  job popped, its state stays valid only until the next push or pop (a
//  sch_fairq_tenant_learn may follow).
void sch_fairq_tenant_correct (sch_fairq_t *self, sch_fairq_tenant_t *tenant, uint32_t weight,
                               uint64_t charged, uint64_t actual);

//  Queued jobs in total.
size_t sch_fairq_size (sch_fairq_t *self);

//  Tenants the queue keeps state for (backlogged, running, or idle and not
//  yet forgotten).
size_t sch_fairq_tenants (sch_fairq_t *self);

//  Backlogged tenants (with a queued job).
size_t sch_fairq_backlogged (sch_fairq_t *self);

//  A tenant's virtual counter (tests, logs); 0 for an unknown tenant.
double sch_fairq_counter (sch_fairq_t *self, const char *tenant_id);

//  The virtual time: the highest counter a job was dispatched at (tests,
//  logs).
double sch_fairq_vtime (sch_fairq_t *self);

#endif
