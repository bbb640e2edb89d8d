//  auth-gateway: the request registry (id index, open streams, request and
//  response counters), a request's lifecycle (index, deadline lists, suspend
//  and resume, free) and its response (status, body, headers).
#include "gw_req.h"
#include "gw_live.h"

#include "mt_buf.h"
#include "mt_metrics.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_util.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  The registry

struct _gw_reqs_t {
    zhashx_t *index;                //  id -> gw_req_t (not owned)
    gw_req_t *shead;                //  open SSE streams, for keep-alives
    size_t active;                  //  requests with a live connection
    gw_live_t *live;                //  errors set on requests go here; borrowed
    mt_metric_t *m_req [8];         //  responses by status, as s_status_labels
    mt_metric_t *m_active, *m_streams;
};

static const char *s_status_labels [8] = { "2xx", "400", "401", "404", "429", "5xx", "4xx", "503" };

gw_reqs_t *
gw_reqs_new (gw_live_t *live)
{
    gw_reqs_t *self = (gw_reqs_t *) calloc (1, sizeof (gw_reqs_t));
    if (!self)
        return NULL;
    self->live = live;
    for (int i = 0; i < 8; i++) {
        char name [96];
        snprintf (name, sizeof name, "mt_gw_http_responses_total{status=\"%s\"}", s_status_labels [i]);
        self->m_req [i] = mt_metric_counter (name, "HTTP responses by status");
    }
    self->m_active = mt_metric_gauge ("mt_gw_http_connections_active", "requests with an open connection");
    self->m_streams = mt_metric_gauge ("mt_gw_streams_open", "SSE streams open");
    self->index = zhashx_new ();
    if (!self->index)
        gw_reqs_destroy (&self);
    return self;
}

void
gw_reqs_destroy (gw_reqs_t **self_p)
{
    assert (self_p);
    gw_reqs_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->index);
    free (self);
    *self_p = NULL;
}

gw_req_t *
gw_reqs_lookup (gw_reqs_t *self, const char *id)
{
    return (gw_req_t *) zhashx_lookup (self->index, id);
}

gw_req_t *
gw_reqs_first (gw_reqs_t *self)
{
    return (gw_req_t *) zhashx_first (self->index);
}

gw_req_t *
gw_reqs_next (gw_reqs_t *self)
{
    return (gw_req_t *) zhashx_next (self->index);
}

zlistx_t *
gw_reqs_list (gw_reqs_t *self)
{
    return zhashx_values (self->index);
}

size_t
gw_reqs_size (gw_reqs_t *self)
{
    return zhashx_size (self->index);
}

size_t
gw_reqs_active (gw_reqs_t *self)
{
    return self->active;
}

gw_req_t *
gw_reqs_streams (gw_reqs_t *self)
{
    return self->shead;
}

int64_t
gw_reqs_streams_open (gw_reqs_t *self)
{
    return mt_metric_value (self->m_streams);
}

void
gw_reqs_count_status (gw_reqs_t *self, unsigned int status)
{
    int i = status < 300? 0: status == 400? 1: status == 401? 2: status == 404? 3:
            status == 429? 4: status == 503? 7: status >= 500? 5: 6;
    mt_metric_add (self->m_req [i], 1);
}

//  --------------------------------------------------------------------------
//  The request

gw_req_t *
gw_req_new (gw_reqs_t *reqs, struct MHD_Connection *conn)
{
    gw_req_t *req = (gw_req_t *) calloc (1, sizeof *req);
    if (!req)
        return NULL;
    req->reqs = reqs;
    req->conn = conn;
    req->phase = GW_P_UPLOAD;
    req->arrival_ms = mt_now_ms ();
    req->start_mono = mt_mono_ms ();
    //  A label until the request has its id (chatcmpl-…): unique in
    //  this process is enough, so a counter stands in without randomness
    static uint64_t s_counter;
    char hex [25];
    if (mt_random_hex (hex, 12))
        snprintf (hex, sizeof hex, "local%019llu", (unsigned long long) ++s_counter);
    snprintf (req->id, sizeof req->id, "req-%s", hex);
    reqs->active++;
    mt_metric_set (reqs->m_active, (int64_t) reqs->active);
    return req;
}

void
gw_req_detach (gw_req_t *req)
{
    gw_reqs_t *reqs = req->reqs;
    req->conn = NULL;
    req->suspended = false;
    reqs->active--;
    mt_metric_set (reqs->m_active, (int64_t) reqs->active);
    gw_stream_remove (req);
}

void
gw_list_remove (gw_req_t *req)
{
    gw_list_t *list = req->list;
    if (!list)
        return;
    if (req->wprev) req->wprev->wnext = req->wnext; else list->head = req->wnext;
    if (req->wnext) req->wnext->wprev = req->wprev; else list->tail = req->wprev;
    req->wprev = req->wnext = NULL;
    req->list = NULL;
}

void
gw_list_add (gw_list_t *list, gw_req_t *req)
{
    gw_list_remove (req);
    req->deadline = mt_mono_ms () + list->timeout_ms;
    req->wprev = list->tail;
    req->wnext = NULL;
    if (list->tail) list->tail->wnext = req; else list->head = req;
    list->tail = req;
    req->list = list;
}

void
gw_stream_remove (gw_req_t *req)
{
    gw_reqs_t *self = req->reqs;
    if (!req->streaming)
        return;
    if (req->sprev) req->sprev->snext = req->snext; else self->shead = req->snext;
    if (req->snext) req->snext->sprev = req->sprev;
    req->sprev = req->snext = NULL;
    req->streaming = false;
    mt_metric_add (self->m_streams, -1);
}

void
gw_stream_add (gw_req_t *req)
{
    gw_reqs_t *self = req->reqs;
    req->snext = self->shead;
    req->sprev = NULL;
    if (self->shead) self->shead->sprev = req;
    self->shead = req;
    req->streaming = true;
    mt_metric_add (self->m_streams, 1);
}

void
gw_req_free (gw_req_t *req)
{
    gw_reqs_t *self = req->reqs;
    gw_list_remove (req);
    gw_stream_remove (req);
    if (req->indexed)
        zhashx_delete (self->index, req->id);
    gw_request_clear (&req->parsed);
    gw_sse_destroy (&req->sse);
    free (req->body);
    free (req->resp);
    free (req->text);
    gw_assemble_destroy (&req->assembly);
    free (req->chunk_head);
    free (req);
}

//  Free the request once neither the client nor a service needs it.
void
gw_req_maybe_free (gw_req_t *req)
{
    if (!req->conn && !req->backend_busy)
        gw_req_free (req);
}

//  (Re)name the request and index it for replies addressed to that name.
int
gw_req_index (gw_req_t *req, const char *id)
{
    gw_reqs_t *self = req->reqs;
    gw_req_t *other = (gw_req_t *) zhashx_lookup (self->index, id);
    if (other == req)
        return 0;                   //  named so already
    if (other) {
        mt_log ("request-id-taken req=%s id=%s", req->id, id);
        return -1;
    }
    if (req->indexed)
        zhashx_delete (self->index, req->id);
    snprintf (req->id, sizeof req->id, "%s", id);
    req->indexed = zhashx_insert (self->index, req->id, req) == 0;
    return req->indexed? 0: -1;
}

//  Resumes so far, in this process: the loop runs MHD after one.
static uint64_t s_resumes;

void
gw_req_resume (gw_req_t *req)
{
    if (req->conn && req->suspended) {
        req->suspended = false;
        MHD_resume_connection (req->conn);
        s_resumes++;
    }
}

uint64_t
gw_req_resumes (void)
{
    return s_resumes;
}

void
gw_req_suspend (gw_req_t *req)
{
    if (req->conn && !req->suspended) {
        req->suspended = true;
        MHD_suspend_connection (req->conn);
    }
}

//  Set a complete error response; reset_at may be NULL.
void
gw_req_set_error (gw_req_t *req, const mt_error_t *err, const char *message, const char *param,
                  const char *reset_at)
{
    if (req->reqs && req->reqs->live)
        gw_live_error (req->reqs->live, req->id, req->tenant_id, err, message,
                       !req->accepted, mt_now_ms ());
    free (req->resp);
    req->resp = mt_error_body (err, message, param, reset_at);
    req->resp_len = req->resp? strlen (req->resp): 0;
    req->status = err->status;
    if (err->status == 429 && req->retry_after == 0)
        req->retry_after = 1;
    req->phase = GW_P_RESPOND;
}

void
gw_req_set_body (gw_req_t *req, unsigned int status, char *body)
{
    free (req->resp);
    req->resp = body;
    req->resp_len = body? strlen (body): 0;
    req->status = status;
    req->phase = GW_P_RESPOND;
}

void
gw_req_add_headers (gw_req_t *req, struct MHD_Response *resp)
{
    MHD_add_response_header (resp, "x-request-id", req->id);
    if (req->retry_after) {
        char v [16];
        snprintf (v, sizeof v, "%u", req->retry_after);
        MHD_add_response_header (resp, "Retry-After", v);
    }
    if (req->have_limits) {
        static const char *names [6] = {
            "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"
        };
        for (int i = 0; i < 6; i++) {
            if (req->lim [i < 3? 0: 3] == 0)
                continue;               //  unlimited: no header
            char v [32];
            if (i == 2 || i == 5)
                gw_openai_duration (req->lim [i], v, sizeof v);
            else
                snprintf (v, sizeof v, "%llu", (unsigned long long) req->lim [i]);
            MHD_add_response_header (resp, names [i], v);
        }
    }
}

enum MHD_Result
gw_req_queue_body (gw_req_t *req, const char *ctype)
{
    //  The body is handed to MHD (it frees it with the response): no copy
    struct MHD_Response *resp = req->resp
        ? MHD_create_response_from_buffer (req->resp_len, req->resp, MHD_RESPMEM_MUST_FREE)
        : MHD_create_response_from_buffer (0, (char *) "", MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    req->resp = NULL;
    req->resp_len = 0;
    MHD_add_response_header (resp, "Content-Type", ctype);
    gw_req_add_headers (req, resp);
    enum MHD_Result rc = MHD_queue_response (req->conn, req->status, resp);
    MHD_destroy_response (resp);
    gw_reqs_count_status (req->reqs, req->status);
    req->phase = GW_P_SENT;
    return rc;
}

void
gw_req_text_append (gw_req_t *req, const char *text, size_t len)
{
    mt_buf_append (&req->text, &req->text_len, &req->text_cap, text, len);
}

void
gw_req_answer_reset (gw_req_t *req)
{
    gw_assemble_destroy (&req->assembly);
    free (req->text);
    req->text = NULL;
    req->text_len = req->text_cap = 0;
    req->relayed = 0;
    req->engine_finished = false;
    req->fingerprint [0] = 0;
    req->first_token_mono = 0;
}

//  End the client's side of a job that will not finish in time: an error
//  event on a stream, an error response otherwise.
void
gw_req_fail_client (gw_req_t *req, const mt_error_t *err, const char *msg)
{
    if (!req->conn)
        return;
    if (req->sse) {
        if (!gw_sse_closed (req->sse)) {
            char *event = mt_error_body (err, msg, NULL, NULL);
            if (event)
                gw_sse_event (req->sse, event, strlen (event));
            free (event);
            gw_sse_done (req->sse);
        }
    }
    else
    if (req->phase == GW_P_RUNNING)
        gw_req_set_error (req, err, msg, NULL, NULL);
    gw_req_resume (req);
}
