//  Usage events on their way to the ledger: validation, a batch of copied
//  events with their senders, deduplication inside a batch, and the text of
//  the SQL parameter arrays. Pure: no sockets, no database, no clock.
#ifndef MTR_BATCH_H_INCLUDED
#define MTR_BATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mt.pb-c.h"

#define MTR_ID_MAX 128              //  longest event_id
#define MTR_TEXT_MAX 256            //  longest model / pool
#define MTR_STATUS_MAX 32           //  longest status
#define MTR_TOKENS_MAX 100000000u   //  more tokens in one request is absurd
#define MTR_MS_MAX 604800000u       //  a week: longest ttft / latency
#define MTR_CREATED_MIN 946684800000ull   //  2000-01-01T00:00:00Z
#define MTR_CREATED_AHEAD 86400000ull     //  at most a day ahead of our clock
#define MTR_SENDER_MAX 256          //  ZeroMQ routing ids are at most 255 bytes
#define MTR_PARAMS 12               //  parameters of the insert statement

typedef enum {
    MTR_EV_PENDING,                 //  not written yet
    MTR_EV_STORED,                  //  inserted by this batch
    MTR_EV_DUPLICATE,               //  already in the ledger (or earlier in this batch)
    MTR_EV_REJECTED                 //  the database refused this one event's data
} mtr_ev_state_t;

//  One event, copied out of the decoded message.
typedef struct {
    char *event_id;                 //  owned, all strings
    char *tenant_id;
    char *key_id;                   //  "" = none (NULL in the ledger)
    char *model;
    char *pool;
    char *status;
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint32_t ttft_ms;
    uint32_t latency_ms;
    uint32_t http_status;
    uint64_t created_ms;
    uint8_t sender [MTR_SENDER_MAX];     //  routing id to acknowledge to
    size_t sender_size;
    size_t first;                   //  index of the first event with this id in the batch
    mtr_ev_state_t state;
} mtr_event_t;

typedef struct _mtr_batch_t mtr_batch_t;

//  Check an event before it is stored. Returns NULL when valid, else a
//  short static reason.
const char *mtr_event_check (const Mt__UsageEvent *ev, uint64_t now_ms);

//  Caller owns; destroy with mtr_batch_destroy.
mtr_batch_t *mtr_batch_new (void);
void mtr_batch_destroy (mtr_batch_t **self_p);

//  Copy a (checked) event and its sender into the batch. Returns 0 or -1.
int mtr_batch_add (mtr_batch_t *self, const Mt__UsageEvent *ev,
                   const uint8_t *sender, size_t sender_size);

//  Events in the batch, repeats included; and distinct event ids.
size_t mtr_batch_size (mtr_batch_t *self);
size_t mtr_batch_unique (mtr_batch_t *self);

//  Event i; borrowed, valid while the batch lives.
mtr_event_t *mtr_batch_event (mtr_batch_t *self, size_t i);

//  Opaque slot for the owner: mono time the batch started, result code.
//  The acknowledgements a settled batch owes: fn is called once per sender,
//  in the order senders first appear, with the ids of all its events
//  (borrowed for the call). Returns 0, or -1 if out of memory (no call).
typedef void (mtr_batch_ack_fn) (void *arg, const uint8_t *sender, size_t sender_size,
                                 char **event_ids, size_t count);
int mtr_batch_acks (mtr_batch_t *self, mtr_batch_ack_fn *fn, void *arg);

//  Milliseconds until a batch started at mono `started` is due after
//  batch_ms; 0 when it is.
uint64_t mtr_due_in (uint64_t started, uint64_t now, uint64_t batch_ms);

//  Whether the senders' socket may stay unread while the batch being filled
//  (the last; `size` events, NULL-less: has_tail) gathers events: it is
//  neither full nor due, batches wait at all (batch_ms > 0) and the database
//  takes them (db_up). Then what arrives waits in the socket's queue and is
//  read, all at once, when the batch is due.
bool mtr_defer_reads (bool has_tail, size_t size, size_t batch_max, uint64_t started,
                      uint64_t now, uint64_t batch_ms, bool db_up);

uint64_t mtr_batch_started (mtr_batch_t *self);
void mtr_batch_set_started (mtr_batch_t *self, uint64_t mono_ms);
int mtr_batch_rc (mtr_batch_t *self);
void mtr_batch_set_rc (mtr_batch_t *self, int rc);

//  The insert's parameters, as PostgreSQL array literals, for every distinct
//  still-pending event (only = -1) or for event `only` alone. In order:
//  request_id, tenant_id, key_id, model, pool (text[]), prompt_tokens,
//  completion_tokens, latency, ttft (int[]), status (text[]), http_status
//  (int[]), created_ms (bigint[]). Returns the number of rows, -1 on no memory.
//  Fills params; free with mtr_params_free.
int mtr_batch_params (mtr_batch_t *self, long only, char *params [MTR_PARAMS]);
void mtr_params_free (char *params [MTR_PARAMS]);

//  Mark an event id as inserted. Returns false if no such id is pending.
bool mtr_batch_mark (mtr_batch_t *self, const char *event_id, mtr_ev_state_t state);

//  After the commit: every distinct event still pending was already in the
//  ledger; repeats take their first's state.
void mtr_batch_finish (mtr_batch_t *self);

//  A parameter's text being built: zeroed = empty; buf is NUL-terminated
//  once anything was appended (free it with free()).
typedef struct {
    char *buf;
    size_t len, cap;
} mtr_text_t;

//  Quote a string as an element of a PostgreSQL array literal ("..." with
//  backslash escapes), or NULL when value is NULL, appended to t. Returns 0,
//  or -1 when out of memory (t as it was). Exposed for tests.
int mtr_array_element (mtr_text_t *t, const char *value);

#endif
