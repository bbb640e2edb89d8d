//  Fair queue over tenants. Pure: no sockets, no clock of its own.
//
//  vtc: each tenant has a counter that grows by the tokens it was served
//  divided by its weight. The next job comes from the backlogged tenant with
//  the lowest counter; ties go to the tenant served longest ago, then to the
//  one whose head job is oldest. (Requests of one size make whole levels of
//  tenants with the same counter; a tenant coming back at the virtual time
//  ties with every tenant on that level, and by the age of its head job alone
//  it would wait behind all of them: 40 dispatches beside 40 backlogged
//  tenants.) The virtual time is the highest counter a job was dispatched at
//  (the lowest backlogged counter at that moment). A tenant that becomes backlogged
//  starts at max(its counter, virtual time), or at max(its counter, virtual
//  time - head_start) when jobs of it are still running (it was only between
//  two requests, and keeps up to head_start of the credit it was owed). So
//  idling earns nothing, and tenants arriving together start at one place.
//  fifo: the tenant whose head job is oldest goes next.
//
//  Forgetting: a tenant with nothing queued and nothing running is idle; once
//  it has been idle for forget_after dispatches and its counter is at or
//  below where it would start again (the virtual time), its state goes. It
//  comes back exactly where it would have come back, so it gains nothing; it
//  loses only its usual answer length (its first job is charged max_tokens at
//  dispatch, corrected at the end). A tenant idle above the virtual time is
//  kept until the virtual time passes it: dropping it would be banking.
//  Idle tenants wait in a list in the order they became idle; each push and
//  pop looks at the oldest two, so the table shrinks at O(1) per operation.
//
//  Backlogged tenants sit in a binary min-heap on (counter, last served,
//  head seq) (fifo: head seq only), each slot holding its tenant's key; each
//  tenant knows its index in the heap, so a counter change or a new head
//  moves it in O(log n). A tenant's FIFO and the idle list are linked through
//  the entries and tenants themselves; entries are kept for reuse. Jobs come
//  named (sch_fairq_push: found again by request id) or by handle
//  (sch_fairq_add: the scheduler's way, no index of request ids).
#include "sch_fairq.h"
#include "mt_index.h"

#include <assert.h>
#include <czmq.h>

typedef struct _sch_fairq_entry_t s_entry_t;
typedef struct _sch_fairq_tenant_t s_tenant_t;

struct _sch_fairq_tenant_t {
    char *tenant_id;            //  owned
    double counter;             //  virtual tokens served / weight
    uint32_t weight;            //  latest weight seen, >= 1
    s_entry_t *head, *tail;     //  its FIFO of queued entries (linked through them)
    size_t heap_index;          //  index in self->heap, or S_NONE when idle
    uint64_t head_seq;          //  seq of the head of the FIFO, while backlogged
    uint64_t served_at;         //  pops of the queue before its latest (0: never)
    uint32_t running;           //  jobs popped and not yet corrected (ended)
    double expect;              //  moving average of completion tokens a job
    bool learned;               //  expect holds at least one job's count
    bool idle;                  //  in the idle list
    s_tenant_t *idle_prev, *idle_next;  //  links in self's idle list while idle
    uint64_t idle_since;        //  self->pops when it became idle
};

//  A queued job. Entries are kept for reuse (self->spare) instead of freed.
struct _sch_fairq_entry_t {
    s_entry_t *prev, *next;     //  links in its tenant's FIFO (next: in the spare list)
    s_tenant_t *tenant;         //  borrowed
    uint64_t cost;              //  charged at dispatch
    uint64_t seq;               //  insertion order
    void *item;                 //  caller's item, borrowed
    char *req_id;               //  owned; its key in self->entries, or NULL when the
                                //  caller keeps the handle instead (sch_fairq_add)
};

//  A backlogged tenant in the heap, with the key the heap orders by (so a
//  step of the heap compares slots side by side instead of reading tenants).
typedef struct {
    double counter;             //  the tenant's, as below
    uint64_t served_at;
    uint64_t head_seq;
    s_tenant_t *tenant;         //  borrowed
} s_slot_t;

#define S_NONE ((size_t) -1)
#define S_SPARE_MAX 4096        //  entries kept for reuse at most

struct _sch_fairq_t {
    sch_fairq_config_t config;  //  policy and its parameter
    mt_index_t *tenants;       //  tenant id -> s_tenant_t, owned (the key is the tenant's)
    zhashx_t *entries;          //  req id -> s_entry_t of named entries, borrowed
    size_t size;                //  queued entries, named or not
    s_entry_t *spare;           //  entries for reuse, linked through next
    size_t nspare;              //  entries in spare
    s_tenant_t *idle_first, *idle_last; //  idle tenants, oldest first; borrowed
    s_slot_t *heap;             //  backlogged tenants, min-heap, their keys in it
    size_t heap_size;           //  tenants in the heap
    size_t heap_max;            //  allocated entries
    double vtime;               //  virtual time: highest counter a job was served at
    uint64_t next_seq;          //  insertion order of the next push
    uint64_t head_seq;          //  order of the next push_head: counts down from
                                //  below the first push's, so it goes first
    uint64_t pops;              //  jobs popped so far (unpopped ones too)
    s_tenant_t *last;           //  the tenant looked up last (one job's calls come in a
                                //  row: estimate then push, correct then learn); borrowed
};

#define S_SEQ_START (1ull << 62)    //  first seq of sch_fairq_push

int
sch_fairq_policy_parse (const char *name, sch_fairq_policy_t *policy)
{
    if (name && !strcmp (name, "vtc"))
        *policy = SCH_FAIRQ_VTC;
    else
    if (name && !strcmp (name, "fifo"))
        *policy = SCH_FAIRQ_FIFO;
    else
        return -1;
    return 0;
}

const char *
sch_fairq_policy_name (sch_fairq_policy_t policy)
{
    return policy == SCH_FAIRQ_FIFO? "fifo": "vtc";
}

static void
s_tenant_destroy (s_tenant_t *t)
{
    free (t->tenant_id);
    free (t);
}

sch_fairq_t *
sch_fairq_new_config (const sch_fairq_config_t *config)
{
    assert (config);
    sch_fairq_t *self = (sch_fairq_t *) zmalloc (sizeof (sch_fairq_t));
    assert (self);
    self->config = *config;
    self->tenants = mt_index_new ();
    assert (self->tenants);
    self->entries = zhashx_new ();
    assert (self->entries);
    //  Keys live in their items (an entry's req id): not copied per insert
    zhashx_set_key_duplicator (self->entries, NULL);
    zhashx_set_key_destructor (self->entries, NULL);
    self->next_seq = S_SEQ_START;
    self->head_seq = S_SEQ_START - 1;
    return self;
}

sch_fairq_t *
sch_fairq_new (void)
{
    sch_fairq_config_t config = { SCH_FAIRQ_VTC, 0 };
    return sch_fairq_new_config (&config);
}

void
sch_fairq_destroy (sch_fairq_t **self_p)
{
    assert (self_p);
    sch_fairq_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->entries);
    //  Every queued entry is in its tenant's FIFO
    for (s_tenant_t *t = (s_tenant_t *) mt_index_first (self->tenants); t;
         t = (s_tenant_t *) mt_index_next (self->tenants)) {
        while (t->head) {
            s_entry_t *e = t->head;
            t->head = e->next;
            free (e->req_id);
            free (e);
        }
        s_tenant_destroy (t);
    }
    while (self->spare) {
        s_entry_t *e = self->spare;
        self->spare = e->next;
        free (e);
    }
    free (self->heap);
    mt_index_destroy (&self->tenants);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The heap of backlogged tenants

//  The head of t's FIFO changed: remember its seq for the heap's order.
static void
s_head_update (s_tenant_t *t)
{
    t->head_seq = t->head? t->head->seq: 0;
}

//  True when a goes before b.
static inline bool
s_before (const sch_fairq_t *self, const s_slot_t *a, const s_slot_t *b)
{
    if (self->config.policy == SCH_FAIRQ_VTC) {
        if (a->counter != b->counter)
            return a->counter < b->counter;
        if (a->served_at != b->served_at && !self->config.tie_by_head)
            return a->served_at < b->served_at;
    }
    return a->head_seq < b->head_seq;
}

static inline void
s_heap_set (sch_fairq_t *self, size_t i, const s_slot_t *slot)
{
    self->heap [i] = *slot;
    slot->tenant->heap_index = i;
}

//  The heap slot of t, its key as t has it now.
static inline s_slot_t
s_slot_of (s_tenant_t *t)
{
    s_slot_t slot = { t->counter, t->served_at, t->head_seq, t };
    return slot;
}

static void
s_heap_up (sch_fairq_t *self, size_t i)
{
    s_slot_t slot = self->heap [i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!s_before (self, &slot, &self->heap [parent]))
            break;
        s_heap_set (self, i, &self->heap [parent]);
        i = parent;
    }
    s_heap_set (self, i, &slot);
}

static void
s_heap_down (sch_fairq_t *self, size_t i)
{
    s_slot_t slot = self->heap [i];
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= self->heap_size)
            break;
        if (child + 1 < self->heap_size
        &&  s_before (self, &self->heap [child + 1], &self->heap [child]))
            child++;
        if (!s_before (self, &self->heap [child], &slot))
            break;
        s_heap_set (self, i, &self->heap [child]);
        i = child;
    }
    s_heap_set (self, i, &slot);
}

//  t's key changed: move it to its place.
static void
s_heap_fix (sch_fairq_t *self, s_tenant_t *t)
{
    if (t->heap_index == S_NONE)
        return;
    self->heap [t->heap_index] = s_slot_of (t);
    s_heap_up (self, t->heap_index);
    s_heap_down (self, t->heap_index);
}

static void
s_heap_add (sch_fairq_t *self, s_tenant_t *t)
{
    if (self->heap_size == self->heap_max) {
        size_t max = self->heap_max? 2 * self->heap_max: 16;
        s_slot_t *heap = (s_slot_t *) realloc (self->heap, max * sizeof *heap);
        assert (heap);
        self->heap = heap;
        self->heap_max = max;
    }
    s_slot_t slot = s_slot_of (t);
    s_heap_set (self, self->heap_size++, &slot);
    s_heap_up (self, t->heap_index);
}

static void
s_heap_remove (sch_fairq_t *self, s_tenant_t *t)
{
    size_t i = t->heap_index;
    assert (i != S_NONE && i < self->heap_size);
    t->heap_index = S_NONE;
    s_slot_t last = self->heap [--self->heap_size];
    if (last.tenant == t)
        return;
    s_heap_set (self, i, &last);
    s_heap_fix (self, last.tenant);
}

//  --------------------------------------------------------------------------
//  Idle tenants

//  Where t starts when it becomes backlogged: never below this.
static double
s_floor (sch_fairq_t *self, s_tenant_t *t)
{
    //  From the virtual time of the latest dispatch, which tenants coming
    //  back cannot lower. A tenant that still has jobs running was only
    //  between two requests: it keeps up to head_start of what it was owed.
    //  An idle one starts at the virtual time: idling earns nothing.
    //  (lift_to_floor: from the lowest backlogged counter, the heap's top,
    //  with the head start for all, the designs this replaced.)
    double floor = self->vtime;
    if (self->config.lift_to_floor && self->heap_size)
        floor = self->heap [0].counter;
    if (t->running > 0 || self->config.lift_to_floor)
        floor -= (double) self->config.head_start;
    return floor;
}

//  t has nothing queued and nothing running: it joins the idle list.
static void
s_idle_check (sch_fairq_t *self, s_tenant_t *t)
{
    if (t->heap_index != S_NONE || t->running > 0 || t->idle)
        return;
    t->idle_since = self->pops;
    t->idle = true;
    t->idle_next = NULL;
    t->idle_prev = self->idle_last;
    if (self->idle_last)
        self->idle_last->idle_next = t;
    else
        self->idle_first = t;
    self->idle_last = t;
}

//  t has work again: it leaves the idle list.
static void
s_idle_leave (sch_fairq_t *self, s_tenant_t *t)
{
    if (!t->idle)
        return;
    if (t->idle_prev)
        t->idle_prev->idle_next = t->idle_next;
    else
        self->idle_first = t->idle_next;
    if (t->idle_next)
        t->idle_next->idle_prev = t->idle_prev;
    else
        self->idle_last = t->idle_prev;
    t->idle_prev = t->idle_next = NULL;
    t->idle = false;
}

//  Drop the state of the oldest idle tenants that have been idle long
//  enough and stand no higher than where they would start again.
static void
s_forget (sch_fairq_t *self)
{
    if (!self->config.forget_after || self->config.lift_to_floor)
        return;
    for (int i = 0; i < 2; i++) {
        s_tenant_t *t = self->idle_first;
        if (!t || self->pops - t->idle_since < self->config.forget_after)
            return;
        s_idle_leave (self, t);
        if (t->counter <= s_floor (self, t)) {
            if (self->last == t)
                self->last = NULL;
            mt_index_delete (self->tenants, t->tenant_id);
            s_tenant_destroy (t);
        }
        else
            s_idle_check (self, t);         //  ahead: look again later
    }
}

//  --------------------------------------------------------------------------
//  Queue operations

//  The tenant's state, or NULL.
static s_tenant_t *
s_tenant_find (sch_fairq_t *self, const char *tenant_id)
{
    if (self->last && !strcmp (self->last->tenant_id, tenant_id))
        return self->last;
    s_tenant_t *t = (s_tenant_t *) mt_index_lookup (self->tenants, tenant_id);
    if (t)
        self->last = t;
    return t;
}

static s_tenant_t *
s_tenant_require (sch_fairq_t *self, const char *tenant_id, uint32_t weight)
{
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    if (!t) {
        t = (s_tenant_t *) zmalloc (sizeof (s_tenant_t));
        assert (t);
        t->tenant_id = strdup (tenant_id);
        t->heap_index = S_NONE;
        assert (t->tenant_id);
        mt_index_insert (self->tenants, t->tenant_id, t);
        self->last = t;
    }
    t->weight = weight? weight: 1;
    return t;
}

//  A new entry (a spare one when there is one) at the head or the tail of
//  t's FIFO. req_id, when set, is copied and names it in the index.
static s_entry_t *
s_entry_new (sch_fairq_t *self, s_tenant_t *t, const char *req_id, uint64_t cost,
             uint64_t seq, void *item, bool head)
{
    s_entry_t *e = self->spare;
    if (e) {
        self->spare = e->next;
        self->nspare--;
    }
    else {
        e = (s_entry_t *) malloc (sizeof (s_entry_t));
        assert (e);
    }
    e->tenant = t;
    e->cost = cost;
    e->seq = seq;
    e->item = item;
    e->req_id = NULL;
    if (req_id) {
        e->req_id = strdup (req_id);
        assert (e->req_id);
        zhashx_insert (self->entries, e->req_id, e);
    }
    if (head) {
        e->prev = NULL;
        e->next = t->head;
        if (t->head)
            t->head->prev = e;
        else
            t->tail = e;
        t->head = e;
    }
    else {
        e->next = NULL;
        e->prev = t->tail;
        if (t->tail)
            t->tail->next = e;
        else
            t->head = e;
        t->tail = e;
    }
    self->size++;
    return e;
}

//  Queue at the tail of the tenant's FIFO, or at its head. NULL when req_id
//  (may be NULL: not named) is queued already.
static s_entry_t *
s_push (sch_fairq_t *self, const char *tenant_id, uint32_t weight, const char *req_id,
        uint64_t cost, void *item, bool head)
{
    assert (self && tenant_id);
    if (req_id && zhashx_lookup (self->entries, req_id))
        return NULL;
    s_forget (self);
    s_tenant_t *t = s_tenant_require (self, tenant_id, weight);
    bool fresh = t->heap_index == S_NONE;
    if (fresh) {
        //  Becomes backlogged: never below where s_floor says
        s_idle_leave (self, t);
        double floor = s_floor (self, t);
        if (t->counter < floor)
            t->counter = floor;
    }
    s_entry_t *e = s_entry_new (self, t, req_id, cost,
                                head? self->head_seq--: self->next_seq++, item, head);
    s_head_update (t);
    if (fresh)
        s_heap_add (self, t);
    else
    if (head)
        s_heap_fix (self, t);
    return e;
}

int
sch_fairq_push (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                const char *req_id, uint64_t cost, void *item)
{
    assert (req_id);
    return s_push (self, tenant_id, weight, req_id, cost, item, false)? 0: -1;
}

int
sch_fairq_push_head (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                     const char *req_id, uint64_t cost, void *item)
{
    assert (req_id);
    return s_push (self, tenant_id, weight, req_id, cost, item, true)? 0: -1;
}

sch_fairq_entry_t *
sch_fairq_add (sch_fairq_t *self, const char *tenant_id, uint32_t weight, uint64_t cost,
               void *item, bool head)
{
    return s_push (self, tenant_id, weight, NULL, cost, item, head);
}

//  Take an entry out of its tenant's FIFO and the index; keeps it for reuse.
static void
s_entry_unlink (sch_fairq_t *self, s_entry_t *e)
{
    s_tenant_t *t = e->tenant;
    bool was_head = t->head == e;
    if (e->prev)
        e->prev->next = e->next;
    else
        t->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        t->tail = e->prev;
    if (e->req_id) {
        zhashx_delete (self->entries, e->req_id);
        free (e->req_id);
    }
    self->size--;
    if (self->nspare < S_SPARE_MAX) {
        e->next = self->spare;
        self->spare = e;
        self->nspare++;
    }
    else
        free (e);
    if (t->heap_index == S_NONE)
        return;
    if (!t->head) {
        s_heap_remove (self, t);
        s_idle_check (self, t);
    }
    else
    if (was_head) {
        s_head_update (t);
        s_heap_fix (self, t);
    }
}

bool
sch_fairq_pop (sch_fairq_t *self, sch_fairq_pick_t *pick)
{
    assert (self && pick);
    if (self->heap_size == 0)
        return false;
    s_tenant_t *best = self->heap [0].tenant;
    s_entry_t *e = best->head;
    assert (e);
    if (best->counter > self->vtime)
        self->vtime = best->counter;
    best->counter += (double) e->cost / best->weight;
    best->running++;
    pick->item = e->item;
    pick->tenant_id = best->tenant_id;
    pick->tenant = best;
    pick->charged = e->cost;
    pick->weight = best->weight;
    pick->seq = e->seq;
    pick->served_at = best->served_at;
    best->served_at = ++self->pops;
    s_entry_unlink (self, e);
    s_heap_fix (self, best);
    s_forget (self);
    return true;
}

//  Undo a pop: refund, and queue the job again at its tenant's head.
static s_entry_t *
s_unpop (sch_fairq_t *self, const char *req_id, const sch_fairq_pick_t *pick)
{
    s_tenant_t *t = pick->tenant;
    uint32_t weight = pick->weight? pick->weight: 1;
    t->counter -= (double) pick->charged / weight;
    if (t->running > 0)
        t->running--;
    t->served_at = pick->served_at;
    s_idle_leave (self, t);
    s_entry_t *e = s_entry_new (self, t, req_id, pick->charged, pick->seq, pick->item, true);
    s_head_update (t);
    if (t->heap_index == S_NONE)
        s_heap_add (self, t);
    else
        s_heap_fix (self, t);
    return e;
}

int
sch_fairq_unpop (sch_fairq_t *self, const char *req_id, const sch_fairq_pick_t *pick)
{
    assert (self && req_id && pick);
    if (zhashx_lookup (self->entries, req_id))
        return -1;
    if (!pick->tenant || s_tenant_find (self, pick->tenant_id) != pick->tenant)
        return -1;
    s_unpop (self, req_id, pick);
    return 0;
}

sch_fairq_entry_t *
sch_fairq_unpop_entry (sch_fairq_t *self, const sch_fairq_pick_t *pick)
{
    assert (self && pick && pick->tenant);
    return s_unpop (self, NULL, pick);
}

void *
sch_fairq_remove (sch_fairq_t *self, const char *req_id)
{
    assert (self && req_id);
    s_entry_t *e = (s_entry_t *) zhashx_lookup (self->entries, req_id);
    if (!e)
        return NULL;
    void *item = e->item;
    s_entry_unlink (self, e);
    return item;
}

void *
sch_fairq_remove_entry (sch_fairq_t *self, sch_fairq_entry_t *entry)
{
    assert (self && entry);
    void *item = entry->item;
    s_entry_unlink (self, entry);
    return item;
}

//  Add delta / weight to a tenant's counter and keep the heap in order.
static void
s_charge (sch_fairq_t *self, s_tenant_t *t, uint32_t weight, double delta)
{
    t->counter += delta / (weight? weight: 1);
    s_heap_fix (self, t);
}

void
sch_fairq_progress (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                    uint64_t tokens)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    if (t)                      //  else never queued here: nothing to charge
        s_charge (self, t, weight, (double) tokens);
}

void
sch_fairq_tenant_progress (sch_fairq_t *self, sch_fairq_tenant_t *tenant, uint32_t weight,
                           uint64_t tokens)
{
    assert (self && tenant);
    s_charge (self, tenant, weight, (double) tokens);
}

static void
s_correct (sch_fairq_t *self, s_tenant_t *t, uint32_t weight, uint64_t charged,
           uint64_t actual)
{
    if (t->running > 0)
        t->running--;
    s_charge (self, t, weight, (double) actual - (double) charged);
    s_idle_check (self, t);
}

void
sch_fairq_correct (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                   uint64_t charged, uint64_t actual)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    if (t)
        s_correct (self, t, weight, charged, actual);
}

void
sch_fairq_tenant_correct (sch_fairq_t *self, sch_fairq_tenant_t *tenant, uint32_t weight,
                          uint64_t charged, uint64_t actual)
{
    assert (self && tenant);
    s_correct (self, tenant, weight, charged, actual);
}

#define S_LEARN_RATE 0.2         //  weight of the newest job in the moving average

uint64_t
sch_fairq_estimate (sch_fairq_t *self, const char *tenant_id, uint64_t max_tokens)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    if (!t || !t->learned)
        return max_tokens;
    uint64_t expect = (uint64_t) (t->expect + 0.5);
    return expect < max_tokens? expect: max_tokens;
}

static void
s_learn (s_tenant_t *t, uint64_t completion_tokens)
{
    if (t->learned)
        t->expect += S_LEARN_RATE * ((double) completion_tokens - t->expect);
    else
        t->expect = (double) completion_tokens;
    t->learned = true;
}

void
sch_fairq_learn (sch_fairq_t *self, const char *tenant_id, uint64_t completion_tokens)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    if (t)
        s_learn (t, completion_tokens);
}

void
sch_fairq_tenant_learn (sch_fairq_t *self, sch_fairq_tenant_t *tenant,
                        uint64_t completion_tokens)
{
    assert (self && tenant);
    s_learn (tenant, completion_tokens);
}

size_t
sch_fairq_size (sch_fairq_t *self)
{
    assert (self);
    return self->size;
}

size_t
sch_fairq_tenants (sch_fairq_t *self)
{
    assert (self);
    return mt_index_size (self->tenants);
}

size_t
sch_fairq_backlogged (sch_fairq_t *self)
{
    assert (self);
    return self->heap_size;
}

double
sch_fairq_counter (sch_fairq_t *self, const char *tenant_id)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant_find (self, tenant_id);
    return t? t->counter: 0;
}

double
sch_fairq_vtime (sch_fairq_t *self)
{
    assert (self);
    return self->vtime;
}
