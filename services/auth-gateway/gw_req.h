//  The auth-gateway's request: the record every part of the server shares,
//  from a request's first byte until neither the client nor a service needs
//  it, and the request registry (gw_reqs_t) every request belongs to: the id
//  index replies are routed by, the open streams, and the counters of
//  requests and responses. gw_req.c: both, and the response; gw_choices.c:
//  what a worker sends beyond plain text. Nothing here knows the server.
#ifndef GW_REQ_H_INCLUDED
#define GW_REQ_H_INCLUDED

#include "gw_openai.h"
#include "gw_assemble.h"
#include "gw_sse.h"

#include "mt_errors.h"
#include "mt.pb-c.h"

#include <czmq.h>
#include <microhttpd.h>

typedef enum {
    GW_P_UPLOAD,        //  receiving the body
    GW_P_ADMIT,         //  waiting for quota-enforcer
    GW_P_SUBMIT,        //  waiting for the scheduler to queue the job
    GW_P_RUNNING,       //  job queued or running
    GW_P_STORE,         //  waiting for the store thread (admin, usage)
    GW_P_RESPOND,       //  a complete response is ready to queue
    GW_P_SENT           //  response queued
} gw_phase_t;

typedef enum {
    GW_R_NONE, GW_R_HEALTH, GW_R_READY, GW_R_METRICS, GW_R_MODELS, GW_R_MODEL, GW_R_USAGE, GW_R_CHAT,
    GW_R_COMPLETION, GW_R_ADMIN, GW_R_EMBEDDINGS, GW_R_CONSOLE
} gw_route_t;

typedef struct _gw_req_t gw_req_t;
typedef struct _gw_reqs_t gw_reqs_t;
typedef struct _gw_live_t gw_live_t;

//  A deadline list: requests that share one timeout, so in deadline order.
typedef struct {
    gw_req_t *head, *tail;
    uint64_t timeout_ms;
} gw_list_t;

struct _gw_req_t {
    gw_reqs_t *reqs;                //  the registry it belongs to; borrowed
    char id [48];                   //  request id, x-request-id, ledger event id
    char reply_token [33];          //  the job's capability: only its worker knows it
    gw_route_t route;
    gw_phase_t phase;
    struct MHD_Connection *conn;    //  NULL once the connection completed
    bool suspended;                 //  connection suspended by us
    bool backend_busy;              //  a service still owes us an answer
    bool cancel_wanted;             //  the job is to be cancelled
    bool cancel_sent;               //  ... and the Cancel went out
    bool accepted;                  //  the scheduler took the job
    bool timed_out;                 //  gave up on the job; the client was told
    bool indexed;                   //  in reqs' id index
    //  body upload
    char *body;
    size_t body_len;
    size_t body_cap;
    bool too_large;
    //  response
    unsigned int status;
    char *resp;                     //  owned
    const char *ctype;              //  Content-Type when not JSON (static), or NULL
    size_t resp_len;
    uint32_t retry_after;
    bool have_limits;
    uint64_t lim [6];               //  limit/remaining/reset for requests, tokens
    //  inference
    gw_request_t parsed;
    char tenant_id [37];
    char key_id [37];
    char pool [64];
    uint32_t weight;
    uint32_t max_concurrent;
    uint64_t rpm, tpm, daily;
    uint32_t granted;
    uint64_t created_s;
    uint64_t arrival_ms;            //  wall clock
    uint64_t start_mono;
    uint64_t first_token_mono;
    uint64_t last_write_mono;
    gw_sse_t *sse;
    bool sent_first;
    char *text;                     //  embeddings: the data items so far, comma-separated
    gw_assemble_t *assembly;        //  non-stream completions: the choices so far; owned
    bool engine_finished;           //  a choice delta carrying finish_reason was relayed
    char fingerprint [64];          //  the engine's system_fingerprint, "" until one came
    char *chunk_head;               //  streams: the start of every chunk, up to "choices":[; owned
    size_t text_len;
    size_t text_cap;
    uint32_t relayed;               //  completion tokens relayed so far
    //  submitting again (gw_retry.h): the body and prompt are kept until the
    //  first token of a stream, until the end otherwise
    bool started;                   //  a TokenChunk of the job came
    uint32_t requeues;              //  submitted again after a worker loss or hand-back
    char sched_id [33];             //  the scheduler instance the job was submitted to
                                    //  (the gateway's last Catalog's, then)
    uint64_t submit_hb;             //  the first heartbeat numbered after that Submit
    char prev_token [33];           //  an attempt a dead scheduler may have started:
                                    //  its chunks count too, until a first chunk decides
    //  deadline list: waiting (admit/submit/store answers) or running (the
    //  whole job); never both at once
    gw_req_t *wprev, *wnext;
    gw_list_t *list;
    uint64_t deadline;
    //  streams list, for keep-alives
    gw_req_t *sprev, *snext;
    bool streaming;
};


//  gw_req.c: the registry ---------------------------------------------------
//  live is borrowed and outlives the registry: errors set on its requests are
//  recorded there (console). Registers the request and response metrics.
//  Caller owns; destroy with gw_reqs_destroy (which frees no request: free
//  them first). NULL if out of memory.
gw_reqs_t *gw_reqs_new (gw_live_t *live);
void gw_reqs_destroy (gw_reqs_t **self_p);
//  The request of that id (borrowed), or NULL.
gw_req_t *gw_reqs_lookup (gw_reqs_t *self, const char *id);
//  The indexed requests, in no order: first/next (do not free while
//  walking), or a list to walk while freeing (caller owns; zlistx_destroy).
gw_req_t *gw_reqs_first (gw_reqs_t *self);
gw_req_t *gw_reqs_next (gw_reqs_t *self);
zlistx_t *gw_reqs_list (gw_reqs_t *self);
size_t gw_reqs_size (gw_reqs_t *self);
//  Requests with a live connection; the first open SSE stream (then snext);
//  the mt_gw_streams_open gauge.
size_t gw_reqs_active (gw_reqs_t *self);
gw_req_t *gw_reqs_streams (gw_reqs_t *self);
int64_t gw_reqs_streams_open (gw_reqs_t *self);
//  Count a response in mt_gw_http_responses_total.
void gw_reqs_count_status (gw_reqs_t *self, unsigned int status);

//  gw_req.c: the request ----------------------------------------------------
//  A request that has just arrived on conn, counted as active until
//  gw_req_detach. Caller owns; free with gw_req_free / gw_req_maybe_free.
//  NULL if out of memory.
gw_req_t *gw_req_new (gw_reqs_t *reqs, struct MHD_Connection *conn);
//  The client's connection completed: no longer active, no stream.
void gw_req_detach (gw_req_t *req);
//  Put the request on a deadline list (the list's timeout from now), or
//  take it off whatever list holds it.
void gw_list_add (gw_list_t *list, gw_req_t *req);
void gw_list_remove (gw_req_t *req);
//  The open SSE streams, for keep-alives.
void gw_stream_add (gw_req_t *req);
void gw_stream_remove (gw_req_t *req);
//  Free the request now; or once neither the client nor a service needs it.
void gw_req_free (gw_req_t *req);
void gw_req_maybe_free (gw_req_t *req);
//  (Re)name the request and index it for replies addressed to that name.
//  Returns 0, or -1 when another request has that name (logged; unchanged).
int gw_req_index (gw_req_t *req, const char *id);
//  Suspend or resume the request's connection (no-op without one).
void gw_req_suspend (gw_req_t *req);
void gw_req_resume (gw_req_t *req);

//  How many connections gw_req_resume has resumed in this process so far:
//  MHD has work to do when the count moved since its last run.
uint64_t gw_req_resumes (void);
//  Set a complete error response; message, param, reset_at may be NULL.
void gw_req_set_error (gw_req_t *req, const mt_error_t *err, const char *message,
                       const char *param, const char *reset_at);
//  Set a complete response; takes ownership of body (malloc'd or NULL).
void gw_req_set_body (gw_req_t *req, unsigned int status, char *body);
//  x-request-id, Retry-After and the x-ratelimit-* headers.
void gw_req_add_headers (gw_req_t *req, struct MHD_Response *resp);
//  Queue the response set by gw_req_set_body / gw_req_set_error.
enum MHD_Result gw_req_queue_body (gw_req_t *req, const char *ctype);
//  Append completion text (non-streamed requests).
void gw_req_text_append (gw_req_t *req, const char *text, size_t len);
//  Forget what the job produced so far (an attempt lost before the client
//  saw any of it): the assembled answer, its text, the tokens relayed, the
//  engine's fingerprint and finish, the first token's time.
void gw_req_answer_reset (gw_req_t *req);
//  End the client's side of a job that will not finish: an error event on a
//  stream, an error response otherwise.
void gw_req_fail_client (gw_req_t *req, const mt_error_t *err, const char *msg);

//  gw_choices.c ------------------------------------------------------------
//  A chunk's whole choices (and system_fingerprint): spliced into stream
//  chunks, folded into the whole answer, or kept as embeddings items.
//  Returns the completion tokens they carried (added to req->relayed).
uint32_t gw_req_relay_choices (gw_req_t *req, Mt__TokenChunk *chunk);
//  Plain pieces of a non-streamed answer, into its assembly.
void gw_req_assemble_pieces (gw_req_t *req, Mt__TokenChunk *chunk);
//  The whole answer of a non-streamed request from what was assembled;
//  choices without a finish_reason of their own get finish. Caller owns.
char *gw_req_whole_body (gw_req_t *req, const char *finish, uint32_t prompt_tokens,
                         uint32_t completion_tokens);

#endif
