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
//
//  An accepted Submit gets no answer (mt.proto): the gateway learns it from
//  the Catalog that answers a heartbeat it sent after the Submit (heartbeats
//  to the scheduler are numbered, the Catalog echoes the number), when that
//  Catalog comes from the instance the Submit was sent to and no refusal
//  came before it. A Catalog of another instance (a restart) decides what
//  becomes of the Submits not confirmed yet (gw_retry_on_catalog).
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

//  What a Catalog says of a Submit not confirmed yet (no refusal, no token).
typedef enum {
    GW_SUBMIT_WAIT,         //  nothing new: wait for a later Catalog (or the service timeout)
    GW_SUBMIT_ACCEPTED,     //  the instance it went to read it before this heartbeat and did
                            //  not refuse it: it is queued
    GW_SUBMIT_MOVED,        //  sent after the heartbeat a new instance answers: it went to
                            //  that one; wait for its word
    GW_SUBMIT_AGAIN,        //  sent to an instance that is gone (before the heartbeat ahead
                            //  of the new instance's first): submit again (requeue, fresh
                            //  token); the old attempt may run, its first token counts too
    GW_SUBMIT_AGAIN_ALONE   //  sent just before the new instance's first heartbeat: it may
                            //  be at either. Submit again (requeue, fresh token: the new
                            //  instance drops the attempt it may hold); only the new
                            //  attempt counts
} gw_submit_seen_t;

//  A Catalog came from instance cat_id answering heartbeat cat_hb (0: an
//  older scheduler, whose SubmitReply says); the Submit was sent to the
//  instance sent_to ("" = not known) before heartbeat sent_hb (the first
//  numbered after it). A Catalog of another instance than sent_to is taken
//  as the new instance's first (the gateway submits again or moves every
//  Submit on the first one).
gw_submit_seen_t gw_retry_on_catalog (const gw_retry_req_t *req, const char *sent_to,
                                      uint64_t sent_hb, const char *cat_id, uint64_t cat_hb);

#endif
