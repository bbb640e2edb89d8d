//  auth-gateway: a request's lifecycle (index, deadline lists, suspend and
//  resume, free) and its response (status, body, headers).
#include "gw_req.h"

#include "mt_buf.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  --------------------------------------------------------------------------
//  Small helpers

const char *gw_status_labels [8] = { "2xx", "400", "401", "404", "429", "5xx", "4xx", "503" };

void
gw_req_count_status (gw_server_t *self, unsigned int status)
{
    int i = status < 300? 0: status == 400? 1: status == 401? 2: status == 404? 3:
            status == 429? 4: status == 503? 7: status >= 500? 5: 6;
    mt_metric_add (self->m_req [i], 1);
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
gw_stream_remove (gw_server_t *self, gw_req_t *req)
{
    if (!req->streaming)
        return;
    if (req->sprev) req->sprev->snext = req->snext; else self->shead = req->snext;
    if (req->snext) req->snext->sprev = req->sprev;
    req->sprev = req->snext = NULL;
    req->streaming = false;
    mt_metric_add (self->m_streams, -1);
}

void
gw_stream_add (gw_server_t *self, gw_req_t *req)
{
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
    gw_server_t *self = req->server;
    gw_list_remove (req);
    gw_stream_remove (self, req);
    if (req->indexed)
        zhashx_delete (self->reqs, req->id);
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
    gw_server_t *self = req->server;
    gw_req_t *other = (gw_req_t *) zhashx_lookup (self->reqs, id);
    if (other == req)
        return 0;                   //  named so already
    if (other) {
        mt_log ("request-id-taken req=%s id=%s", req->id, id);
        return -1;
    }
    if (req->indexed)
        zhashx_delete (self->reqs, req->id);
    snprintf (req->id, sizeof req->id, "%s", id);
    req->indexed = zhashx_insert (self->reqs, req->id, req) == 0;
    return req->indexed? 0: -1;
}

void
gw_req_resume (gw_req_t *req)
{
    if (req->conn && req->suspended) {
        req->suspended = false;
        MHD_resume_connection (req->conn);
    }
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
    struct MHD_Response *resp = MHD_create_response_from_buffer (
        req->resp_len, req->resp? req->resp: (char *) "", MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header (resp, "Content-Type", ctype);
    gw_req_add_headers (req, resp);
    enum MHD_Result rc = MHD_queue_response (req->conn, req->status, resp);
    MHD_destroy_response (resp);
    gw_req_count_status (req->server, req->status);
    req->phase = GW_P_SENT;
    return rc;
}

void
gw_req_text_append (gw_req_t *req, const char *text, size_t len)
{
    mt_buf_append (&req->text, &req->text_len, &req->text_cap, text, len);
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
