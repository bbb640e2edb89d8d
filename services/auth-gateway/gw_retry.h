//  When the gateway submits a job again. Pure: no sockets, no clock.
//
//  The gateway is the one that knows whether anything reached the client,
//  so it decides. A job is submitted again (Submit.requeue, a fresh reply
//  token) when it was lost before it showed the client anything:
//    - its worker died (JobDone ERR_WORKER_LOST from the scheduler) or handed
//      it back because its engine is down (ERR_UNAVAILABLE from the worker):
//      a non-streamed job always (the client sees nothing before the end;
//      what was assembled is thrown away), a streamed one before its first
//      token; once per request (a second loss fails it);
//    - the scheduler that accepted it is gone (the Catalog names another
//      instance) and no token of it came yet: the job was queued there, or
//      started without a word so far (it may still answer: its first token
//      then decides which attempt the client gets).
//  Never for a request whose client left, that timed out, or whose cancel
//  went out.
#ifndef GW_RETRY_H_INCLUDED
#define GW_RETRY_H_INCLUDED

#include "mt.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define GW_RETRY_MAX 1              //  resubmits after a loss, per request

//  What the gateway knows of a request whose job is in flight.
typedef struct {
    bool stream;                    //  an SSE stream
    bool started;                   //  a TokenChunk of the job came
    bool client_gone;               //  the connection closed
    bool timed_out;                 //  the gateway gave up on it
    bool cancelled;                 //  a Cancel was wanted
    uint32_t requeues;              //  resubmits after a loss so far
} gw_retry_req_t;

//  The job ended with error (a JobDone of the current attempt): true when
//  it is to be submitted again instead of failing.
bool gw_retry_on_done (const gw_retry_req_t *req, Mt__ErrorCode error);

//  A Catalog came from scheduler instance now_id; the job was accepted by
//  accepted_id ("" = not known). True when it is to be submitted again.
bool gw_retry_on_restart (const gw_retry_req_t *req, const char *accepted_id, const char *now_id);

#endif
