//  The JobDones a worker holds back from the scheduler for a few ms, to send
//  several in one message.
//
//  Why: one request at a time, a job's JobDone to the scheduler is one
//  ZeroMQ message of the six a request moves, and it leaves at the same
//  moment as the answer to the gateway, whose I/O thread it then races for a
//  core. The gateway already has the answer (its JobDone is never held); the
//  scheduler needs this one to count the worker's slot free again, correct
//  its fair queue, and free the tenant's concurrency lease (the gateway's
//  next Submit frees that lease first: Submit.ended). Held a few ms, the
//  JobDones of several requests go as one Batch.
//
//  Only the JobDone of a job that ended without error is held (a failure or
//  a cancel goes at once), and only while the scheduler, counting the held
//  jobs as running, still sees the worker less than half busy, nothing waits
//  for a slot, and the engine answers: a busy worker, or one of one or two
//  slots, sends each at once, so no job waits in the scheduler's queue for a
//  slot that is free.
//
//  Pure: no clock or socket of its own; callers pass the time in.
#ifndef WA_HELD_H_INCLUDED
#define WA_HELD_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WA_HELD_MAX 64          //  JobDones held at most; the next one sends them

//  What the hold depends on, as the worker sees it now.
typedef struct {
    uint32_t hold_ms;           //  the hold; 0: never hold
    uint32_t slots;             //  the worker's slots
    size_t running;             //  sequences running (the one ending included)
    size_t held;                //  JobDones held already
    bool waiting;               //  jobs wait for a slot or for the engine
    bool engine_up;
} wa_held_state_t;

//  Whether a JobDone may be held now, or those held stay held.
bool wa_held_may_hold (const wa_held_state_t *state);

//  One held JobDone: the fields the scheduler reads.
typedef struct {
    char *req_id;
    char *tenant_id;
    char *reply_token;
    char *finish_reason;
    char *error_message;
    uint32_t prompt_tokens;
    uint32_t completion_tokens;
    uint32_t ttft_ms;
    int error;                  //  Mt__ErrorCode
} wa_held_done_t;

typedef struct _wa_held_t wa_held_t;

//  Caller owns; destroy with wa_held_destroy. NULL when out of memory.
wa_held_t *wa_held_new (uint32_t hold_ms);

//  Destroy, dropping what is held; no-op on NULL; nulls the pointer.
void wa_held_destroy (wa_held_t **self_p);

//  Hold a copy of done (NULL strings kept as ""). The first held sets the
//  time they are due: now_ms + hold_ms. Returns 0, or -1 when full or out
//  of memory (nothing held then; send it at once).
int wa_held_add (wa_held_t *self, const wa_held_done_t *done, uint64_t now_ms);

//  JobDones held.
size_t wa_held_size (wa_held_t *self);

//  When those held are due (monotonic ms); 0 when none is held.
uint64_t wa_held_due (wa_held_t *self);

//  Hand every held JobDone to fn, oldest first, and forget them. Returns
//  how many.
typedef void (wa_held_fn) (void *arg, const wa_held_done_t *done);
size_t wa_held_drain (wa_held_t *self, wa_held_fn *fn, void *arg);

#endif
