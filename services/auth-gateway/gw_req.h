//  The auth-gateway's inside: the request record every part of the server
//  shares, the server's state, and the functions the parts call across files.
//  gw_req.c: request lifecycle and responses; gw_http.c: libmicrohttpd side;
//  gw_server.c: the poll loop and every ZeroMQ message.
#ifndef GW_REQ_H_INCLUDED
#define GW_REQ_H_INCLUDED

#include "mt_spool.h"
#include "gw_server.h"
#include "gw_bill.h"
#include "gw_front.h"
#include "gw_openai.h"
#include "gw_ready.h"
#include "gw_assemble.h"
#include "gw_sse.h"
#include "gw_store.h"
#include "gw_live.h"
#include "gw_retry.h"

#include "mt_errors.h"
#include "mt_metrics.h"

#include <czmq.h>
#include <microhttpd.h>

#define GW_CATALOG_STALE_MS   5000   //  scheduler silent this long: 503
#define GW_USAGE_RESEND_MS    3000   //  resend a usage event not acked by then
#define GW_USAGE_PENDING_MAX  200000 //  unacked usage events kept at most
#define GW_KEEPALIVE_MS       5000   //  SSE comment on a quiet stream

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
typedef struct _gw_server_t gw_server_t;

//  A deadline list: requests that share one timeout, so in deadline order.
typedef struct {
    gw_req_t *head, *tail;
    uint64_t timeout_ms;
} gw_list_t;

struct _gw_req_t {
    gw_server_t *server;
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
    bool indexed;                   //  in server->reqs
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
    char sched_id [33];             //  the scheduler instance that accepted the job
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

struct _gw_server_t {
    const gw_server_config_t *config;   //  borrowed; outlives the server
    char *token_endpoint;           //  token ROUTER as workers reach it, owned
    char *tls_cert, *tls_key;       //  PEM text while the daemon runs, owned
    struct MHD_Daemon *daemon;
    int epoll_fd;                   //  MHD's, polled with the sockets
    int http_port;                  //  the port bound (config's, or chosen)
    zsock_t *scheduler;             //  DEALER
    zsock_t *quota;                 //  DEALER
    mt_spool_t *spool;              //  usage events not yet acknowledged, on disk; or NULL
    bool spool_dirty;               //  appended since the last sync
    bool quota_up;                  //  connected to a quota-enforcer at the last look
    zsock_t *metering;              //  DEALER
    zsock_t *tokens;                //  ROUTER, worker token streams
    gw_ready_t *ready;              //  connection watch of the three DEALERs, owned
    gw_store_t *store;
    gw_front_t *front;              //  connection limits and deadlines, owned
    gw_cache_t *cache;              //  owned; swapped on every store update
    Mt__Envelope *catalog;          //  last Catalog from the scheduler, owned
    uint64_t catalog_mono;
    zhashx_t *reqs;                 //  id -> gw_req_t (not owned)
    gw_usageq_t *usage;             //  usage events not yet acknowledged
    gw_list_t waiting;               //  waiting for a service's answer
    gw_list_t running;               //  job accepted, not yet done
    gw_req_t *shead;                //  streams list
    uint64_t admin_seq;
    size_t active;                  //  requests with a live connection
    bool draining;
    gw_live_t *live;                //  per-tenant activity (console, /metrics), owned
    size_t cancels_unsent;          //  Cancels that failed to go out (about)
    bool stop_asked;                //  gw_server_stop was called
    bool closed_open;               //  drain time over, open requests closed
    bool finished;                  //  drained: gw_server_step returns false
    uint64_t drain_deadline;
    uint64_t next_second;           //  next once-a-second duties
    //  metrics
    mt_metric_t *m_req [8];
    mt_metric_t *m_active, *m_streams, *m_usage_pending, *m_latency;
    mt_metric_t *m_tokens, *m_usage_resent, *m_cancels, *m_dropped;
    //  submitting again (gw_retry.h)
    char sched_id [33];             //  the scheduler instance of the last Catalog
    mt_metric_t *m_resubmits;
};

extern const char *gw_status_labels [8];

//  gw_req.c ----------------------------------------------------------------
//  Count a response in gw_http_responses_total.
void gw_req_count_status (gw_server_t *self, unsigned int status);
//  Put the request on a deadline list (the list's timeout from now), or
//  take it off whatever list holds it.
void gw_list_add (gw_list_t *list, gw_req_t *req);
void gw_list_remove (gw_req_t *req);
//  The open SSE streams, for keep-alives.
void gw_stream_add (gw_server_t *self, gw_req_t *req);
void gw_stream_remove (gw_server_t *self, gw_req_t *req);
//  Free the request now; or once neither the client nor a service needs it.
void gw_req_free (gw_req_t *req);
void gw_req_maybe_free (gw_req_t *req);
//  (Re)name the request and index it for replies addressed to that name.
//  Returns 0, or -1 when another request has that name (logged; unchanged).
int gw_req_index (gw_req_t *req, const char *id);
//  Suspend or resume the request's connection (no-op without one).
void gw_req_suspend (gw_req_t *req);
void gw_req_resume (gw_req_t *req);
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
//  End the client's side of a job that will not finish: an error event on a
//  stream, an error response otherwise.
void gw_req_fail_client (gw_req_t *req, const mt_error_t *err, const char *msg);

//  gw_choices.c ------------------------------------------------------------
//  A chunk's whole choices (and system_fingerprint): spliced into stream
//  chunks, folded into the whole answer, or kept as embeddings items.
void gw_req_relay_choices (gw_req_t *req, Mt__TokenChunk *chunk);
//  Plain pieces of a non-streamed answer, into its assembly.
void gw_req_assemble_pieces (gw_req_t *req, Mt__TokenChunk *chunk);
//  The whole answer of a non-streamed request from what was assembled;
//  choices without a finish_reason of their own get finish. Caller owns.
char *gw_req_whole_body (gw_req_t *req, const char *finish, uint32_t prompt_tokens,
                         uint32_t completion_tokens);

//  gw_server.c -------------------------------------------------------------
//  Reserve tokens at the quota-enforcer; the reply moves the request on.
void gw_server_send_admit (gw_server_t *self, gw_req_t *req);
//  Ask the scheduler to cancel the request's job (once).
void gw_server_send_cancel (gw_server_t *self, gw_req_t *req);

//  gw_http.c ---------------------------------------------------------------
//  libmicrohttpd's access handler and request-completed callback; cls is
//  the gw_server_t.
enum MHD_Result gw_http_access (void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls);
void gw_http_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

#endif
