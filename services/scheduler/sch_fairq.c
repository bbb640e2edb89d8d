//  Weighted fair queue over tenants (virtual token counting). Pure: no
//  sockets, no clock of its own.
//
//  Each tenant has a counter that grows by the tokens it was served divided
//  by its weight. The next job comes from the backlogged tenant with the
//  lowest counter; ties go to the tenant whose head job is oldest. A tenant
//  that becomes backlogged starts at max(its counter, floor), where floor is
//  the smallest counter among backlogged tenants (or, when none is, the
//  counter of the last job served), so idling earns no credit.
//
//  The backlogged tenants are a binary min-heap on (counter, head job's
//  insertion order): the next job and the floor are at its top, so a pop or
//  a push costs O(log tenants), not a walk over every queued tenant.
#include "sch_fairq.h"

#include <assert.h>
#include <czmq.h>

typedef struct {
    char *tenant_id;            //  owned
    double counter;             //  virtual tokens served / weight
    uint32_t weight;            //  latest weight seen, >= 1
    zlistx_t *fifo;             //  s_entry_t *, owned by the fair queue
    size_t heap_at;             //  index + 1 in self->heap, 0 when idle
} s_tenant_t;

typedef struct {
    char *req_id;               //  owned; key in self->entries
    s_tenant_t *tenant;         //  borrowed
    uint64_t cost;              //  estimate charged at dispatch
    uint64_t seq;               //  insertion order
    void *item;                 //  caller's item, borrowed
    void *fifo_handle;          //  handle in tenant->fifo
} s_entry_t;

struct _sch_fairq_t {
    zhashx_t *tenants;          //  tenant id -> s_tenant_t, owned
    zhashx_t *entries;          //  req id -> s_entry_t, borrowed (freed by hand)
    s_tenant_t **heap;          //  tenants with a non-empty FIFO, borrowed; min-heap
    size_t heap_len, heap_cap;
    double vtime;               //  counter of the last job served, before charge
    uint64_t next_seq;          //  insertion order of the next push
};

static void
s_tenant_destroy (void **item_p)
{
    s_tenant_t *t = (s_tenant_t *) *item_p;
    if (!t)
        return;
    zlistx_destroy (&t->fifo);
    free (t->tenant_id);
    free (t);
    *item_p = NULL;
}

static void
s_entry_free (s_entry_t *e)
{
    if (e) {
        free (e->req_id);
        free (e);
    }
}

sch_fairq_t *
sch_fairq_new (void)
{
    sch_fairq_t *self = (sch_fairq_t *) zmalloc (sizeof (sch_fairq_t));
    assert (self);
    self->tenants = zhashx_new ();
    zhashx_set_destructor (self->tenants, s_tenant_destroy);
    self->entries = zhashx_new ();
    return self;
}

void
sch_fairq_destroy (sch_fairq_t **self_p)
{
    assert (self_p);
    sch_fairq_t *self = *self_p;
    if (!self)
        return;
    s_entry_t *e = (s_entry_t *) zhashx_first (self->entries);
    while (e) {
        s_entry_free (e);
        e = (s_entry_t *) zhashx_next (self->entries);
    }
    zhashx_destroy (&self->entries);
    free (self->heap);
    zhashx_destroy (&self->tenants);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  The heap of backlogged tenants

static uint64_t
s_head_seq (s_tenant_t *t)
{
    s_entry_t *head = (s_entry_t *) zlistx_first (t->fifo);
    assert (head);
    return head->seq;
}

//  True when a comes before b: lower counter, then older head job.
static bool
s_before (s_tenant_t *a, s_tenant_t *b)
{
    if (a->counter != b->counter)
        return a->counter < b->counter;
    return s_head_seq (a) < s_head_seq (b);
}

static void
s_heap_set (sch_fairq_t *self, size_t i, s_tenant_t *t)
{
    self->heap [i] = t;
    t->heap_at = i + 1;
}

static void
s_heap_up (sch_fairq_t *self, size_t i)
{
    s_tenant_t *t = self->heap [i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!s_before (t, self->heap [parent]))
            break;
        s_heap_set (self, i, self->heap [parent]);
        i = parent;
    }
    s_heap_set (self, i, t);
}

static void
s_heap_down (sch_fairq_t *self, size_t i)
{
    s_tenant_t *t = self->heap [i];
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= self->heap_len)
            break;
        if (child + 1 < self->heap_len && s_before (self->heap [child + 1], self->heap [child]))
            child++;
        if (!s_before (self->heap [child], t))
            break;
        s_heap_set (self, i, self->heap [child]);
        i = child;
    }
    s_heap_set (self, i, t);
}

static void
s_heap_add (sch_fairq_t *self, s_tenant_t *t)
{
    if (self->heap_len == self->heap_cap) {
        self->heap_cap = self->heap_cap? self->heap_cap * 2: 64;
        self->heap = (s_tenant_t **) realloc (self->heap, self->heap_cap * sizeof *self->heap);
        assert (self->heap);
    }
    s_heap_set (self, self->heap_len++, t);
    s_heap_up (self, self->heap_len - 1);
}

//  A backlogged tenant's counter or head changed: put it back in order.
static void
s_heap_fix (sch_fairq_t *self, s_tenant_t *t)
{
    size_t i = t->heap_at - 1;
    s_heap_up (self, i);
    s_heap_down (self, t->heap_at - 1);
}

static void
s_heap_remove (sch_fairq_t *self, s_tenant_t *t)
{
    size_t i = t->heap_at - 1;
    t->heap_at = 0;
    s_tenant_t *last = self->heap [--self->heap_len];
    if (last == t)
        return;
    s_heap_set (self, i, last);
    s_heap_fix (self, last);
}

//  Smallest counter among backlogged tenants, or the last served counter.
static double
s_floor (sch_fairq_t *self)
{
    return self->heap_len? self->heap [0]->counter: self->vtime;
}

static s_tenant_t *
s_tenant_require (sch_fairq_t *self, const char *tenant_id, uint32_t weight)
{
    s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    if (!t) {
        t = (s_tenant_t *) zmalloc (sizeof (s_tenant_t));
        assert (t);
        t->tenant_id = strdup (tenant_id);
        t->fifo = zlistx_new ();
        assert (t->tenant_id && t->fifo);
        zhashx_insert (self->tenants, tenant_id, t);
    }
    t->weight = weight? weight: 1;
    return t;
}

int
sch_fairq_push (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                const char *req_id, uint64_t cost, void *item)
{
    assert (self && tenant_id && req_id);
    if (zhashx_lookup (self->entries, req_id))
        return -1;
    s_tenant_t *t = s_tenant_require (self, tenant_id, weight);
    bool idle = !t->heap_at;
    if (idle) {
        //  Becomes backlogged: no credit for the time it was idle
        double floor = s_floor (self);
        if (t->counter < floor)
            t->counter = floor;
    }
    s_entry_t *e = (s_entry_t *) zmalloc (sizeof (s_entry_t));
    assert (e);
    e->req_id = strdup (req_id);
    assert (e->req_id);
    e->tenant = t;
    e->cost = cost;
    e->seq = self->next_seq++;
    e->item = item;
    e->fifo_handle = zlistx_add_end (t->fifo, e);
    zhashx_insert (self->entries, req_id, e);
    if (idle)
        s_heap_add (self, t);   //  with its head in place
    return 0;
}

//  Take an entry out of its tenant's FIFO and the index; frees the entry.
static void
s_entry_unlink (sch_fairq_t *self, s_entry_t *e)
{
    s_tenant_t *t = e->tenant;
    zlistx_delete (t->fifo, e->fifo_handle);
    if (t->heap_at) {
        if (zlistx_size (t->fifo) == 0)
            s_heap_remove (self, t);
        else
            s_heap_fix (self, t);     //  its head may have changed
    }
    zhashx_delete (self->entries, e->req_id);
    s_entry_free (e);
}

bool
sch_fairq_pop (sch_fairq_t *self, sch_fairq_pick_t *pick)
{
    assert (self && pick);
    if (!self->heap_len)
        return false;
    s_tenant_t *best = self->heap [0];
    s_entry_t *e = (s_entry_t *) zlistx_first (best->fifo);
    if (best->counter > self->vtime)
        self->vtime = best->counter;
    best->counter += (double) e->cost / best->weight;
    pick->item = e->item;
    pick->tenant_id = best->tenant_id;
    pick->charged = e->cost;
    pick->weight = best->weight;
    pick->seq = e->seq;
    s_entry_unlink (self, e);
    return true;
}

int
sch_fairq_unpop (sch_fairq_t *self, const char *req_id, const sch_fairq_pick_t *pick)
{
    assert (self && req_id && pick);
    if (zhashx_lookup (self->entries, req_id))
        return -1;
    s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, pick->tenant_id);
    if (!t)
        return -1;
    uint32_t weight = pick->weight? pick->weight: 1;
    t->counter -= (double) pick->charged / weight;
    s_entry_t *e = (s_entry_t *) zmalloc (sizeof (s_entry_t));
    assert (e);
    e->req_id = strdup (req_id);
    assert (e->req_id);
    e->tenant = t;
    e->cost = pick->charged;
    e->seq = pick->seq;
    e->item = pick->item;
    e->fifo_handle = zlistx_add_start (t->fifo, e);
    zhashx_insert (self->entries, req_id, e);
    if (t->heap_at)
        s_heap_fix (self, t);
    else
        s_heap_add (self, t);
    return 0;
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

void
sch_fairq_correct (sch_fairq_t *self, const char *tenant_id, uint32_t weight,
                   uint64_t charged, uint64_t actual)
{
    assert (self && tenant_id);
    s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    if (!t)
        return;                 //  Never queued here: nothing to correct
    t->counter += ((double) actual - (double) charged) / (weight? weight: 1);
    if (t->heap_at)
        s_heap_fix (self, t);
}

size_t
sch_fairq_size (sch_fairq_t *self)
{
    assert (self);
    return zhashx_size (self->entries);
}

double
sch_fairq_counter (sch_fairq_t *self, const char *tenant_id)
{
    assert (self && tenant_id);
    s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    return t? t->counter: 0;
}
