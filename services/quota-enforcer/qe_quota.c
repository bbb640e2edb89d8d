//  Quota math: reserve-then-settle over fixed minute windows and UTC days.
//  Pure: no I/O, no clock of its own.
#include "qe_quota.h"
#include "mt_index.h"
#include "mt_util.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#define S_DAY_MS 86400000u

//  One tenant's counters.
typedef struct {
    uint64_t day_start;             //  UTC day used_today belongs to
    uint64_t used_today;            //  settled tokens of that day
    uint64_t reserved;              //  outstanding reservations, any day
    uint64_t window_start;          //  current minute window
    uint64_t requests_in_window;    //  admitted requests in that window
    uint64_t tokens_in_window;      //  reserved or used tokens in that window
} s_tenant_t;

//  One outstanding reservation, its ids in the same allocation; req_id is
//  also its key in the reservations table (not copied there).
typedef struct {
    char *req_id;                   //  in text
    char *tenant_id;                //  in text
    uint64_t reserve;               //  prompt + granted
    uint64_t granted;               //  completion tokens granted
    uint64_t window_start;
    uint64_t day_start;
    uint64_t expires_at;
    char *owner;                    //  the holding gateway's routing id, or NULL:
                                    //  owner_buf, or owned when longer
    char owner_buf [24];
    void *handle;                   //  position in the expiry list
    char text [];                   //  req_id, then tenant_id
} s_reservation_t;

//  Settled request ids, kept for a TTL so a second Settle or a late Admit
//  changes nothing. They expire in the order they were settled (one TTL, a
//  clock that does not go back... and when it does, they wait a little
//  longer), so they live in a queue of blocks, one after the other, found by
//  an mt_index of the ids: no allocation per id, and expiry frees whole
//  blocks, not one small chunk per id (thousands of them at a time, which
//  malloc then spends its time gathering up).
typedef struct {
    uint64_t expires_at;
    uint64_t granted;
    uint32_t size;                  //  of this record, id and padding included
    char id [];
} s_settled_t;

#define S_BLOCK_SIZE 65000u         //  bytes of records a block holds, at least

typedef struct _s_block_t {
    struct _s_block_t *next;        //  younger
    uint32_t used;                  //  bytes of records written
    uint32_t head;                  //  bytes of records expired
    char data [];
} s_block_t;

typedef struct {
    s_block_t *oldest, *youngest;   //  owned, a chain by next
    mt_index_t *index;              //  owned: id -> its record in a block
} s_settled_ids_t;

static s_settled_t *
s_settled_find (s_settled_ids_t *self, const char *id)
{
    return (s_settled_t *) mt_index_lookup (self->index, id);
}

//  Remember id; no-op when out of memory (a duplicate then is not caught).
static void
s_settled_add (s_settled_ids_t *self, const char *id, uint64_t granted, uint64_t expires_at)
{
    size_t len = strlen (id) + 1;
    uint32_t size = (uint32_t) ((sizeof (s_settled_t) + len + 7) & ~(size_t) 7);
    if (len > S_BLOCK_SIZE / 2)
        return;
    s_block_t *b = self->youngest;
    if (!b || b->used + size > S_BLOCK_SIZE) {
        b = (s_block_t *) malloc (sizeof *b + S_BLOCK_SIZE);
        if (!b)
            return;
        b->next = NULL;
        b->used = b->head = 0;
        if (self->youngest)
            self->youngest->next = b;
        else
            self->oldest = b;
        self->youngest = b;
    }
    s_settled_t *s = (s_settled_t *) (b->data + b->used);
    s->expires_at = expires_at;
    s->granted = granted;
    s->size = size;
    memcpy (s->id, id, len);
    //  Every record in a block is in the index: one the index did not take
    //  (there already, or out of memory) is not kept
    if (mt_index_insert (self->index, s->id, s) == 0)
        b->used += size;
}

//  Forget the ids expired at now_ms, oldest first; a block emptied is freed
//  (and the index, left an eighth full after a burst, is made smaller).
static void
s_settled_expire (s_settled_ids_t *self, uint64_t now_ms)
{
    s_block_t *b;
    while ((b = self->oldest)) {
        while (b->head < b->used) {
            s_settled_t *s = (s_settled_t *) (b->data + b->head);
            if (s->expires_at > now_ms)
                return;
            mt_index_delete (self->index, s->id);
            b->head += s->size;
        }
        if (b == self->youngest) {
            b->used = b->head = 0;          //  empty: reused from the start
            return;
        }
        self->oldest = b->next;
        free (b);
    }
}

static void
s_settled_destroy (s_settled_ids_t *self)
{
    while (self->oldest) {
        s_block_t *b = self->oldest;
        self->oldest = b->next;
        free (b);
    }
    self->youngest = NULL;
    mt_index_destroy (&self->index);
}

struct _qe_quota_t {
    uint64_t ttl_ms;
    zhashx_t *tenants;              //  tenant id -> s_tenant_t, owned
    zhashx_t *reservations;         //  req id -> s_reservation_t, owned
    zlistx_t *reservation_order;    //  s_reservation_t, borrowed, by expiry
    s_settled_ids_t settled;
};

static void
s_reservation_destroy (void **item_p)
{
    s_reservation_t *r = (s_reservation_t *) *item_p;
    if (r) {
        if (r->owner != r->owner_buf)
            free (r->owner);
        free (r);
        *item_p = NULL;
    }
}

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

qe_quota_t *
qe_quota_new (uint64_t ttl_ms)
{
    qe_quota_t *self = (qe_quota_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->ttl_ms = ttl_ms;
    self->tenants = zhashx_new ();
    self->reservations = zhashx_new ();
    self->reservation_order = zlistx_new ();
    self->settled.index = mt_index_new ();
    if (!self->tenants || !self->reservations || !self->reservation_order
    ||  !self->settled.index) {
        qe_quota_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->tenants, s_free);
    zhashx_set_destructor (self->reservations, s_reservation_destroy);
    //  Keyed by the req_id inside the item: one allocation an entry, not three
    zhashx_set_key_duplicator (self->reservations, NULL);
    zhashx_set_key_destructor (self->reservations, NULL);
    return self;
}

void
qe_quota_destroy (qe_quota_t **self_p)
{
    assert (self_p);
    qe_quota_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->reservation_order);
    zhashx_destroy (&self->reservations);
    s_settled_destroy (&self->settled);
    zhashx_destroy (&self->tenants);
    free (self);
    *self_p = NULL;
}

static uint64_t
s_window_start (uint64_t now_ms)
{
    return now_ms - now_ms % QE_WINDOW_MS;
}

static uint64_t
s_sub (uint64_t a, uint64_t b)
{
    return a > b? a - b: 0;
}

static uint32_t
s_ceil_s (uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s < 1? 1: (uint32_t) s;
}

//  Move a tenant's counters to the window and day holding now_ms.
static void
s_roll (s_tenant_t *t, uint64_t now_ms)
{
    uint64_t day = mt_day_start_ms (now_ms);
    if (t->day_start != day) {
        t->day_start = day;
        t->used_today = 0;          //  outstanding reservations stay reserved
    }
    uint64_t window = s_window_start (now_ms);
    if (t->window_start != window) {
        t->window_start = window;
        t->requests_in_window = 0;
        t->tokens_in_window = 0;
    }
}

//  Find a tenant, or create it when create is set. Rolled to now_ms.
static s_tenant_t *
s_tenant (qe_quota_t *self, const char *tenant_id, uint64_t now_ms, bool create)
{
    s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    if (!t && create) {
        t = (s_tenant_t *) calloc (1, sizeof *t);
        if (!t)
            return NULL;
        t->day_start = mt_day_start_ms (now_ms);
        t->window_start = s_window_start (now_ms);
        zhashx_insert (self->tenants, tenant_id, t);
    }
    if (t)
        s_roll (t, now_ms);
    return t;
}

void
qe_quota_set_used_today (qe_quota_t *self, const char *tenant_id, uint64_t used,
                         uint64_t now_ms)
{
    assert (self && tenant_id);
    s_tenant_t *t = s_tenant (self, tenant_id, now_ms, true);
    if (t)
        t->used_today = used;
}

//  The x-ratelimit-* figures of a reply, from the tenant's state now.
static void
s_fill_limits (const s_tenant_t *t, const qe_limits_t *limits, uint64_t now_ms,
               qe_admit_t *out)
{
    uint64_t to_end = t->window_start + QE_WINDOW_MS - now_ms;
    out->limit_requests = limits->rpm;
    out->remaining_requests = limits->rpm? s_sub (limits->rpm, t->requests_in_window): 0;
    out->reset_requests_ms = to_end;
    out->limit_tokens = limits->tpm;
    out->remaining_tokens = limits->tpm? s_sub (limits->tpm, t->tokens_in_window): 0;
    out->reset_tokens_ms = to_end;
}

static void
s_refuse (qe_admit_t *out, Mt__ErrorCode code, uint64_t wait_ms)
{
    out->ok = false;
    out->code = code;
    out->granted_tokens = 0;
    out->retry_after_s = s_ceil_s (wait_ms);
}

//  Hold reserve tokens (granted of them completion) for req_id in tenant t's
//  window and day, counting one request. Returns 0, or -1 when out of memory
//  (nothing held).
static int
s_reserve (qe_quota_t *self, s_tenant_t *t, const char *req_id, const char *tenant_id,
           uint64_t reserve, uint64_t granted, uint64_t now_ms)
{
    size_t req_len = strlen (req_id) + 1, tenant_len = strlen (tenant_id) + 1;
    s_reservation_t *r = (s_reservation_t *) calloc (1, sizeof *r + req_len + tenant_len);
    if (!r)
        return -1;
    r->req_id = memcpy (r->text, req_id, req_len);
    r->tenant_id = memcpy (r->text + req_len, tenant_id, tenant_len);
    r->reserve = reserve;
    r->granted = granted;
    r->window_start = t->window_start;
    r->day_start = t->day_start;
    r->expires_at = now_ms + self->ttl_ms;
    zhashx_insert (self->reservations, r->req_id, r);
    r->handle = zlistx_add_end (self->reservation_order, r);
    t->requests_in_window += 1;
    t->tokens_in_window += reserve;
    t->reserved += reserve;
    return 0;
}

void
qe_quota_admit (qe_quota_t *self, const char *req_id, const char *tenant_id,
                uint64_t prompt_tokens, uint64_t max_tokens, const qe_limits_t *limits,
                uint64_t now_ms, qe_admit_t *out)
{
    assert (self && req_id && tenant_id && limits && out);
    memset (out, 0, sizeof *out);
    out->code = MT__ERROR_CODE__ERR_NONE;
    //  No sum below can overflow
    if (prompt_tokens > QE_TOKENS_MAX)
        prompt_tokens = QE_TOKENS_MAX;
    if (max_tokens > QE_TOKENS_MAX)
        max_tokens = QE_TOKENS_MAX;

    //  Tenant counters, rolled to this window and day (rule 1)
    s_tenant_t *t = s_tenant (self, tenant_id, now_ms, true);
    if (!t) {
        s_refuse (out, MT__ERROR_CODE__ERR_UNAVAILABLE, 1000);
        return;
    }
    //  A resent Admit: same answer, counted once
    s_reservation_t *held = (s_reservation_t *) zhashx_lookup (self->reservations, req_id);
    s_settled_t *done = held? NULL: s_settled_find (&self->settled, req_id);
    if (held || done) {
        out->ok = true;
        out->duplicate = true;
        out->granted_tokens = held? held->granted: done->granted;
        s_fill_limits (t, limits, now_ms, out);
        return;
    }
    uint64_t window_left = t->window_start + QE_WINDOW_MS - now_ms;

    //  Rule 2: requests per minute
    if (limits->rpm && t->requests_in_window + 1 > limits->rpm) {
        s_refuse (out, MT__ERROR_CODE__ERR_RATE_REQUESTS, window_left);
        s_fill_limits (t, limits, now_ms, out);
        return;
    }
    //  Rule 3: daily tokens; the grant never reaches past the limit
    uint64_t granted = max_tokens;
    if (limits->daily) {
        uint64_t remaining = s_sub (limits->daily, t->used_today + t->reserved);
        if (remaining < prompt_tokens + 1) {
            s_refuse (out, MT__ERROR_CODE__ERR_QUOTA, t->day_start + S_DAY_MS - now_ms);
            mt_next_midnight_utc (now_ms, out->reset_at);
            s_fill_limits (t, limits, now_ms, out);
            return;
        }
        if (granted > remaining - prompt_tokens)
            granted = remaining - prompt_tokens;
    }
    //  Rule 4: tokens per minute
    uint64_t reserve = prompt_tokens + granted;
    if (limits->tpm && t->tokens_in_window + reserve > limits->tpm) {
        s_refuse (out, MT__ERROR_CODE__ERR_RATE_TOKENS, window_left);
        s_fill_limits (t, limits, now_ms, out);
        return;
    }
    //  Rule 5: admit and reserve
    if (s_reserve (self, t, req_id, tenant_id, reserve, granted, now_ms)) {
        s_refuse (out, MT__ERROR_CODE__ERR_UNAVAILABLE, 1000);
        s_fill_limits (t, limits, now_ms, out);
        return;
    }
    out->ok = true;
    out->granted_tokens = granted;
    s_fill_limits (t, limits, now_ms, out);
}

void
qe_quota_restore (qe_quota_t *self, const char *req_id, const char *tenant_id,
                  uint64_t prompt_tokens, uint64_t granted, uint64_t now_ms)
{
    assert (self && req_id && tenant_id);
    if (zhashx_lookup (self->reservations, req_id) || s_settled_find (&self->settled, req_id))
        return;
    if (prompt_tokens > QE_TOKENS_MAX)
        prompt_tokens = QE_TOKENS_MAX;
    if (granted > QE_TOKENS_MAX)
        granted = QE_TOKENS_MAX;
    s_tenant_t *t = s_tenant (self, tenant_id, now_ms, true);
    if (t)
        s_reserve (self, t, req_id, tenant_id, prompt_tokens + granted, granted, now_ms);
}

//  Remember a settled id for TTL.
static void
s_remember (qe_quota_t *self, const char *req_id, uint64_t granted, uint64_t now_ms)
{
    //  Messages of one gateway arrive in order, so a duplicate can only come
    //  from a resend within seconds; ten seconds bound the memory this takes
    //  (about 1 MB a second at 10,000 requests/s; the reservation TTL would
    //  hold millions of ids).
    s_settled_add (&self->settled, req_id, granted,
                   now_ms + (self->ttl_ms < QE_SETTLED_TTL_MS? self->ttl_ms: QE_SETTLED_TTL_MS));
}

//  Forget a reservation. Frees r.
static void
s_drop (qe_quota_t *self, s_reservation_t *r)
{
    //  zhashx_delete uses the key only to find the item, before freeing it
    zlistx_delete (self->reservation_order, r->handle);
    zhashx_delete (self->reservations, r->req_id);
}

void
qe_quota_set_owner (qe_quota_t *self, const char *req_id, const char *owner)
{
    assert (self && req_id && owner);
    s_reservation_t *r = (s_reservation_t *) zhashx_lookup (self->reservations, req_id);
    if (!r || (r->owner && !strcmp (r->owner, owner)))
        return;
    size_t len = strlen (owner) + 1;
    //  A gateway's routing id in hex fits in the reservation: no allocation
    char *copy = len <= sizeof r->owner_buf? r->owner_buf: strdup (owner);
    if (!copy)
        return;                     //  out of memory: it expires by its TTL instead
    if (r->owner != r->owner_buf)
        free (r->owner);
    if (copy == r->owner_buf)
        memcpy (copy, owner, len);
    r->owner = copy;
}

size_t
qe_quota_release_owner (qe_quota_t *self, const char *owner, uint64_t now_ms,
                        qe_expire_fn *fn, void *arg)
{
    assert (self && owner);
    zlistx_t *victims = zlistx_new ();
    if (!victims)
        return 0;
    for (s_reservation_t *r = (s_reservation_t *) zlistx_first (self->reservation_order); r;
         r = (s_reservation_t *) zlistx_next (self->reservation_order))
        if (r->owner && !strcmp (r->owner, owner))
            zlistx_add_end (victims, r);
    size_t released = 0;
    for (s_reservation_t *r = (s_reservation_t *) zlistx_first (victims); r;
         r = (s_reservation_t *) zlistx_next (victims)) {
        s_tenant_t *t = s_tenant (self, r->tenant_id, now_ms, false);
        if (t) {
            t->reserved = s_sub (t->reserved, r->reserve);
            if (r->window_start == t->window_start)
                t->tokens_in_window = s_sub (t->tokens_in_window, r->reserve);
        }
        if (fn)
            fn (r->req_id, r->tenant_id, r->reserve, arg);
        s_drop (self, r);
        released++;
    }
    zlistx_destroy (&victims);
    return released;
}

qe_settle_t
qe_quota_settle (qe_quota_t *self, const char *req_id, const char *tenant_id,
                 uint64_t used_tokens, bool refused, uint64_t now_ms)
{
    assert (self && req_id && tenant_id);
    if (s_settled_find (&self->settled, req_id))
        return QE_SETTLE_DUPLICATE;
    if (used_tokens > QE_TOKENS_MAX)
        used_tokens = QE_TOKENS_MAX;

    s_reservation_t *r = (s_reservation_t *) zhashx_lookup (self->reservations, req_id);
    if (!r) {
        //  Expired or from before a restart: the tokens were really spent
        if (!refused && used_tokens) {
            s_tenant_t *t = s_tenant (self, tenant_id, now_ms, true);
            if (t)
                t->used_today += used_tokens;
        }
        s_remember (self, req_id, 0, now_ms);
        return QE_SETTLE_UNKNOWN;
    }
    s_tenant_t *t = s_tenant (self, r->tenant_id, now_ms, true);
    if (t) {
        t->reserved = s_sub (t->reserved, r->reserve);
        bool same_window = r->window_start == t->window_start;
        if (refused) {
            if (same_window) {
                t->requests_in_window = s_sub (t->requests_in_window, 1);
                t->tokens_in_window = s_sub (t->tokens_in_window, r->reserve);
            }
        }
        else {
            if (r->day_start == t->day_start)
                t->used_today += used_tokens;
            if (same_window)
                t->tokens_in_window = s_sub (t->tokens_in_window + used_tokens, r->reserve);
        }
    }
    s_remember (self, req_id, r->granted, now_ms);
    s_drop (self, r);
    return refused? QE_SETTLE_RELEASED: QE_SETTLE_USED;
}

size_t
qe_quota_expire (qe_quota_t *self, uint64_t now_ms, qe_expire_fn *fn, void *arg)
{
    assert (self);
    size_t dropped = 0;
    s_reservation_t *r;
    while ((r = (s_reservation_t *) zlistx_first (self->reservation_order))
    &&     r->expires_at <= now_ms) {
        s_tenant_t *t = (s_tenant_t *) zhashx_lookup (self->tenants, r->tenant_id);
        if (t)
            t->reserved = s_sub (t->reserved, r->reserve);
        if (fn)
            fn (r->req_id, r->tenant_id, r->reserve, arg);
        s_drop (self, r);
        dropped++;
    }
    s_settled_expire (&self->settled, now_ms);
    return dropped;
}

size_t
qe_quota_reservations (qe_quota_t *self)
{
    assert (self);
    return zhashx_size (self->reservations);
}

bool
qe_quota_tenant_stats (qe_quota_t *self, const char *tenant_id, uint64_t now_ms,
                       qe_tenant_stats_t *out)
{
    assert (self && tenant_id && out);
    s_tenant_t *t = s_tenant (self, tenant_id, now_ms, false);
    if (!t)
        return false;
    out->day_start = t->day_start;
    out->used_today = t->used_today;
    out->reserved = t->reserved;
    out->window_start = t->window_start;
    out->requests_in_window = t->requests_in_window;
    out->tokens_in_window = t->tokens_in_window;
    return true;
}
