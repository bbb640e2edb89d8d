//  openai backend: streaming POSTs to an OpenAI-compatible engine with the
//  libcurl multi interface and usage capture. Driven by the worker's
//  zmq_poll loop through curl's socket and timer callbacks. The pure half
//  (SSE lines, event JSON, the request bodies) is in wa_openai_parse.c.
#include "wa_openai.h"
#include "mt_buf.h"
#include "mt_log.h"
#include "mt_util.h"

#include <assert.h>
#include <curl/curl.h>
#include <jansson.h>

#define S_LINE_MAX (1024 * 1024)    //  longest SSE line accepted from the engine
#define S_ERRBODY_MAX 1024          //  bytes of a non-2xx body kept for the message
#define S_EMBED_MAX (64 * 1024 * 1024)  //  largest embeddings answer accepted
#define S_IDLE_MAX 64               //  finished easy handles kept for the next requests

typedef struct {
    curl_socket_t fd;
    int what;                   //  CURL_POLL_IN / OUT / INOUT
} s_fd_t;

struct _wa_openai_t {
    CURLM *multi;
    char *url_chat;             //  owned; engine_url + "/chat/completions"
    char *url_completion;       //  owned; engine_url + "/completions"
    char *url_embeddings;       //  owned; engine_url + "/embeddings"
    s_fd_t *fds;                //  sockets curl wants watched
    size_t nfds, capfds;
    int64_t timer_ms;           //  monotonic deadline of curl's timer, -1 none
    long stall_s;               //  no byte for this long ends a transfer; 0 = never
    struct curl_slist *hdr_stream;  //  request headers of a streamed request, owned
    struct curl_slist *hdr_json;    //  request headers of an embeddings request, owned
    CURL *idle [S_IDLE_MAX];    //  easy handles of finished requests, owned: reused
    const char *idle_url [S_IDLE_MAX];  //  the URL each has set (one of ours)
    size_t nidle;               //  (options set once, curl's buffers kept)
};

struct _wa_openai_req_t {
    CURL *easy;
    const char *url;            //  the URL set on easy (one of the backend's), NULL: none
    wa_openai_scan_cache_t scan;    //  the stream's events: what they start with
    char *body;                 //  owned; POST body
    char *line;                 //  partial SSE line; owned
    size_t line_len, line_cap;
    wa_openai_sink_t got;       //  owned: all content so far (embeddings: the body) and
                                //  the choices received, not yet cleared (with their json)
    bool embedding;             //  a whole JSON answer, not a stream
    char fingerprint [64];      //  system_fingerprint, "" until one came
    char errbody [S_ERRBODY_MAX + 1];
    size_t errbody_len;
    bool finished;              //  the transfer ended
    bool got_done;              //  "data: [DONE]" came
    bool failed;                //  a parse or size problem stopped it
    CURLcode result;
    long status;
    bool has_usage;
    uint32_t prompt_tokens, completion_tokens;
    char finish_reason [32];
    char message [256];         //  error message for JobDone
};

//  --------------------------------------------------------------------------
//  Curl callbacks

static int
s_socket_cb (CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    wa_openai_t *self = (wa_openai_t *) userp;
    size_t i = 0;
    while (i < self->nfds && self->fds [i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < self->nfds)
            self->fds [i] = self->fds [--self->nfds];
        return 0;
    }
    if (i == self->nfds) {
        if (self->nfds == self->capfds) {
            size_t cap = self->capfds? self->capfds * 2: 16;
            s_fd_t *fds = (s_fd_t *) realloc (self->fds, cap * sizeof (s_fd_t));
            if (!fds)
                return -1;
            self->fds = fds;
            self->capfds = cap;
        }
        self->nfds++;
    }
    self->fds [i].fd = fd;
    self->fds [i].what = what;
    return 0;
}

static int
s_timer_cb (CURLM *multi, long timeout_ms, void *userp)
{
    wa_openai_t *self = (wa_openai_t *) userp;
    self->timer_ms = timeout_ms < 0? -1: (int64_t) (mt_mono_ms () + (uint64_t) timeout_ms);
    return 0;
}

static void s_on_event (wa_openai_req_t *req, wa_openai_event_t *event);

//  One complete SSE line from the engine.
static void
s_on_line (wa_openai_req_t *req, char *line, size_t len)
{
    const char *data;
    wa_openai_line_t kind = wa_openai_sse_line (line, &len, &data);
    if (kind == WA_OPENAI_LINE_OTHER)
        return;                 //  blank, comment, event:, id: ...
    if (kind == WA_OPENAI_LINE_DONE) {
        req->got_done = true;
        return;
    }
    wa_openai_event_t ev;
    if (wa_openai_parse_event_into (data, len, &ev, &req->scan, &req->got)) {
        mt_log ("engine-bad-event bytes=%zu action=skipped", len);
        return;
    }
    s_on_event (req, &ev);
}

//  Keep what one parsed event (or embeddings answer) said; clears it.
static void
s_on_event (wa_openai_req_t *req, wa_openai_event_t *event)
{
    wa_openai_event_t ev = *event;
    memset (event, 0, sizeof *event);
    if (ev.content)
        mt_buf_append (&req->got.text, &req->got.text_len, &req->got.text_cap, ev.content,
                       strlen (ev.content));
    if (req->got.nchoices + ev.nchoices > req->got.capchoices) {
        size_t cap = req->got.capchoices? req->got.capchoices: 16;
        while (cap < req->got.nchoices + ev.nchoices)
            cap *= 2;
        wa_choice_t *grown = (wa_choice_t *) realloc (req->got.choices, cap * sizeof (wa_choice_t));
        if (grown) {
            req->got.choices = grown;
            req->got.capchoices = cap;
        }
    }
    for (size_t i = 0; i < ev.nchoices && req->got.nchoices < req->got.capchoices; i++) {
        req->got.choices [req->got.nchoices++] = ev.choices [i];
        ev.choices [i].json = NULL;     //  the request's now
    }
    if (*ev.system_fingerprint && !*req->fingerprint)
        snprintf (req->fingerprint, sizeof req->fingerprint, "%s", ev.system_fingerprint);
    if (*ev.finish_reason)
        snprintf (req->finish_reason, sizeof req->finish_reason, "%s", ev.finish_reason);
    if (ev.has_usage) {
        req->has_usage = true;
        req->prompt_tokens = ev.prompt_tokens;
        req->completion_tokens = ev.completion_tokens;
    }
    if (ev.error) {
        req->failed = true;
        snprintf (req->message, sizeof req->message, "engine: %.200s", ev.error);
    }
    wa_openai_event_clear (&ev);
}

static size_t
s_write_cb (char *ptr, size_t size, size_t nmemb, void *userdata)
{
    wa_openai_req_t *req = (wa_openai_req_t *) userdata;
    size_t n = size * nmemb;
    if (req->status == 0)
        curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (req->status < 200 || req->status >= 300) {
        //  An error body: keep the start of it for the message
        size_t room = S_ERRBODY_MAX - req->errbody_len;
        size_t take = n < room? n: room;
        memcpy (req->errbody + req->errbody_len, ptr, take);
        req->errbody_len += take;
        req->errbody [req->errbody_len] = 0;
        return n;
    }
    if (req->embedding) {
        if (req->got.text_len + n > S_EMBED_MAX
        ||  mt_buf_append (&req->got.text, &req->got.text_len, &req->got.text_cap, ptr, n)) {
            req->failed = true;
            snprintf (req->message, sizeof req->message, "engine sent an oversized answer");
            return 0;
        }
        return n;
    }
    char *p = ptr, *end = ptr + n;
    while (p < end) {
        char *nl = (char *) memchr (p, '\n', (size_t) (end - p));
        size_t run = (size_t) ((nl? nl: end) - p);
        if (nl && req->line_len == 0) {
            //  A whole line in curl's buffer: read where it is (its '\r'
            //  cut here, not written over in curl's buffer)
            if (run && p [run - 1] == '\r')
                run--;
            if (run)                //  a blank line only ends an event
                s_on_line (req, p, run);
            p = nl + 1;
            continue;
        }
        //  The start (or more) of a line that ends in a later piece
        if (req->line_len + run > S_LINE_MAX
        ||  mt_buf_append (&req->line, &req->line_len, &req->line_cap, p, run)) {
            req->failed = true;
            snprintf (req->message, sizeof req->message, "engine sent an oversized line");
            return 0;           //  aborts the transfer
        }
        if (nl) {
            s_on_line (req, req->line, req->line_len);
            req->line_len = 0;
        }
        p = nl? nl + 1: end;
    }
    return n;
}

//  The whole embeddings answer is in: its items become choices.
static void
s_on_embeddings (wa_openai_req_t *req)
{
    if (req->failed || req->result != CURLE_OK || req->status < 200 || req->status >= 300)
        return;
    wa_openai_event_t ev;
    if (wa_openai_parse_embeddings (req->got.text? req->got.text: "", req->got.text_len, &ev)) {
        req->failed = true;
        snprintf (req->message, sizeof req->message, "engine: the embeddings answer has no data");
        return;
    }
    req->got.text_len = 0;              //  counted by items, not by text
    s_on_event (req, &ev);
    req->got_done = true;
}

//  --------------------------------------------------------------------------
//  Backend

//  The headers of a POST that accepts this; NULL when out of memory.
static struct curl_slist *
s_headers (const char *accept)
{
    struct curl_slist *list = curl_slist_append (NULL, "Content-Type: application/json");
    struct curl_slist *both = list? curl_slist_append (list, accept): NULL;
    if (!both)
        curl_slist_free_all (list);
    return both;
}

wa_openai_t *
wa_openai_new (const char *engine_url)
{
    assert (engine_url);
    if (curl_global_init (CURL_GLOBAL_DEFAULT))
        return NULL;
    wa_openai_t *self = (wa_openai_t *) zmalloc (sizeof (wa_openai_t));
    assert (self);
    size_t len = strlen (engine_url);
    while (len && engine_url [len - 1] == '/')
        len--;
    self->url_chat = (char *) malloc (len + 32);
    self->url_completion = (char *) malloc (len + 32);
    self->url_embeddings = (char *) malloc (len + 32);
    assert (self->url_chat && self->url_completion && self->url_embeddings);
    snprintf (self->url_chat, len + 32, "%.*s/chat/completions", (int) len, engine_url);
    snprintf (self->url_completion, len + 32, "%.*s/completions", (int) len, engine_url);
    snprintf (self->url_embeddings, len + 32, "%.*s/embeddings", (int) len, engine_url);
    self->timer_ms = -1;
    self->multi = curl_multi_init ();
    if (!self->multi) {
        wa_openai_destroy (&self);
        return NULL;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    self->hdr_stream = s_headers ("Accept: text/event-stream");
    self->hdr_json = s_headers ("Accept: application/json");
    if (!self->hdr_stream || !self->hdr_json) {
        wa_openai_destroy (&self);
        return NULL;
    }
    return self;
}

void
wa_openai_set_connections (wa_openai_t *self, uint32_t connections)
{
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long) (connections? connections: 1));
}

void
wa_openai_set_stall (wa_openai_t *self, uint32_t stall_ms)
{
    self->stall_s = stall_ms? (long) ((stall_ms + 999) / 1000): 0;
}

void
wa_openai_destroy (wa_openai_t **self_p)
{
    assert (self_p);
    wa_openai_t *self = *self_p;
    if (!self)
        return;
    while (self->nidle)
        curl_easy_cleanup (self->idle [--self->nidle]);
    if (self->multi)
        curl_multi_cleanup (self->multi);
    curl_slist_free_all (self->hdr_stream);
    curl_slist_free_all (self->hdr_json);
    free (self->url_chat);
    free (self->url_completion);
    free (self->url_embeddings);
    free (self->fds);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

//  An easy handle for the next request: one a finished request left (*url:
//  the URL it has set), or a new one with the options every request shares
//  (*url NULL). Its connection comes from the multi handle's cache either way.
static CURL *
s_easy (wa_openai_t *self, const char **url)
{
    *url = NULL;
    if (self->nidle) {
        self->nidle--;
        *url = self->idle_url [self->nidle];
        return self->idle [self->nidle];
    }
    CURL *e = curl_easy_init ();
    if (!e)
        return NULL;
    curl_easy_setopt (e, CURLOPT_POST, 1L);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    if (self->stall_s > 0) {
        curl_easy_setopt (e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt (e, CURLOPT_LOW_SPEED_TIME, self->stall_s);
    }
    curl_easy_setopt (e, CURLOPT_TCP_NODELAY, 1L);
    return e;
}

wa_openai_req_t *
wa_openai_start (wa_openai_t *self, const Mt__JobSpec *spec, char *err, size_t errsize)
{
    assert (self && spec);
    bool embedding = spec->kind == MT__JOB_KIND__KIND_EMBEDDING;
    char *body = embedding
               ? wa_openai_body_embeddings ((const char *) spec->request_json.data,
                                            spec->request_json.len, err, errsize)
               : wa_openai_body ((const char *) spec->request_json.data, spec->request_json.len,
                                 spec->max_tokens, err, errsize);
    if (!body)
        return NULL;
    wa_openai_req_t *req = (wa_openai_req_t *) zmalloc (sizeof (wa_openai_req_t));
    assert (req);
    req->body = body;
    req->embedding = embedding;
    req->easy = s_easy (self, &req->url);
    if (!req->easy) {
        snprintf (err, errsize, "curl_easy_init failed");
        wa_openai_req_destroy (self, &req);
        return NULL;
    }
    CURL *e = req->easy;
    const char *url = embedding? self->url_embeddings:
                      spec->kind == MT__JOB_KIND__KIND_COMPLETION? self->url_completion
                                                                  : self->url_chat;
    //  A handle keeps its URL: set (copied by curl) only when it changes
    if (url != req->url)
        req->url = curl_easy_setopt (e, CURLOPT_URL, url) == CURLE_OK? url: NULL;
    curl_easy_setopt (e, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, (long) strlen (req->body));
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, embedding? self->hdr_json: self->hdr_stream);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt (e, CURLOPT_PRIVATE, req);
    if (curl_multi_add_handle (self->multi, e) != CURLM_OK) {
        snprintf (err, errsize, "curl_multi_add_handle failed");
        wa_openai_req_destroy (self, &req);
        return NULL;
    }
    return req;
}

void
wa_openai_req_destroy (wa_openai_t *self, wa_openai_req_t **req_p)
{
    assert (req_p);
    wa_openai_req_t *req = *req_p;
    if (!req)
        return;
    if (req->easy) {
        curl_multi_remove_handle (self->multi, req->easy);
        //  Kept for the next request; nothing of this one stays reachable
        curl_easy_setopt (req->easy, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt (req->easy, CURLOPT_PRIVATE, NULL);
        curl_easy_setopt (req->easy, CURLOPT_POSTFIELDS, NULL);
        if (self->nidle < S_IDLE_MAX) {
            self->idle_url [self->nidle] = req->url;
            self->idle [self->nidle++] = req->easy;
        }
        else
            curl_easy_cleanup (req->easy);
    }
    free (req->body);
    free (req->line);
    free (req->got.text);
    wa_openai_req_choices_clear (req);
    free (req->got.choices);
    free (req);
    *req_p = NULL;
}

size_t
wa_openai_fds (wa_openai_t *self)
{
    return self->nfds;
}

size_t
wa_openai_pollitems (wa_openai_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < self->nfds && n < max; i++) {
        items [n].socket = NULL;
        items [n].fd = self->fds [i].fd;
        items [n].events = (short) (((self->fds [i].what & CURL_POLL_IN)? ZMQ_POLLIN: 0)
                                  | ((self->fds [i].what & CURL_POLL_OUT)? ZMQ_POLLOUT: 0));
        items [n].revents = 0;
        n++;
    }
    return n;
}

int64_t
wa_openai_timeout (wa_openai_t *self, uint64_t now_ms)
{
    if (self->timer_ms < 0)
        return -1;
    return (uint64_t) self->timer_ms > now_ms? (int64_t) ((uint64_t) self->timer_ms - now_ms): 0;
}

void
wa_openai_dispatch (wa_openai_t *self, zmq_pollitem_t *items, size_t n, uint64_t now_ms)
{
    int running = 0;
    for (size_t i = 0; i < n; i++) {
        if (!items [i].revents)
            continue;
        int flags = ((items [i].revents & ZMQ_POLLIN)? CURL_CSELECT_IN: 0)
                  | ((items [i].revents & ZMQ_POLLOUT)? CURL_CSELECT_OUT: 0)
                  | ((items [i].revents & ZMQ_POLLERR)? CURL_CSELECT_ERR: 0);
        curl_multi_socket_action (self->multi, items [i].fd, flags, &running);
    }
    if (self->timer_ms >= 0 && (uint64_t) self->timer_ms <= now_ms) {
        self->timer_ms = -1;
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        wa_openai_req_t *req = NULL;
        curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &req);
        if (!req)
            continue;
        req->finished = true;
        req->result = msg->data.result;
        curl_easy_getinfo (req->easy, CURLINFO_RESPONSE_CODE, &req->status);
        //  A last line without its newline
        if (req->line_len && req->status >= 200 && req->status < 300) {
            s_on_line (req, req->line, req->line_len);
            req->line_len = 0;
        }
        if (req->embedding)
            s_on_embeddings (req);
    }
}

wa_choice_t *
wa_openai_req_choices (wa_openai_req_t *req, size_t *count)
{
    *count = req->got.nchoices;
    return req->got.choices;
}

void
wa_openai_req_choices_clear (wa_openai_req_t *req)
{
    for (size_t i = 0; i < req->got.nchoices; i++)
        free (req->got.choices [i].json);
    req->got.nchoices = 0;
}

const char *
wa_openai_req_fingerprint (wa_openai_req_t *req)
{
    return req->fingerprint;
}

bool
wa_openai_req_finished (wa_openai_req_t *req)
{
    return req->finished;
}

const char *
wa_openai_req_text (wa_openai_req_t *req, size_t *len)
{
    *len = req->got.text_len;
    return req->got.text? req->got.text: "";
}

void
wa_openai_req_result (wa_openai_req_t *req, wa_openai_result_t *result)
{
    memset (result, 0, sizeof *result);
    result->has_usage = req->has_usage;
    result->prompt_tokens = req->prompt_tokens;
    result->completion_tokens = req->completion_tokens;
    result->finish_reason = *req->finish_reason? req->finish_reason: "stop";
    result->error_message = "";
    if (req->failed) {
        result->error = MT__ERROR_CODE__ERR_ENGINE;
        result->error_message = req->message;
    }
    else
    if (req->result != CURLE_OK) {
        snprintf (req->message, sizeof req->message, "engine: %s",
                  curl_easy_strerror (req->result));
        bool answered = req->status != 0;
        result->unreachable = req->result == CURLE_COULDNT_CONNECT
                           || req->result == CURLE_COULDNT_RESOLVE_HOST
                           || (req->result == CURLE_OPERATION_TIMEDOUT && !answered);
        result->stalled = req->result == CURLE_OPERATION_TIMEDOUT && answered;
        result->error = MT__ERROR_CODE__ERR_ENGINE;
        result->error_message = req->message;
    }
    else
    if (req->status < 200 || req->status >= 300) {
        //  The engine's own message, when its body is OpenAI-shaped
        wa_openai_event_t ev;
        bool parsed = wa_openai_parse_event (req->errbody, req->errbody_len, &ev) == 0;
        snprintf (req->message, sizeof req->message, "engine status %ld: %.200s", req->status,
                  parsed && ev.error? ev.error: "request failed");
        if (parsed)
            wa_openai_event_clear (&ev);
        result->error = req->status >= 400 && req->status < 500?
                        MT__ERROR_CODE__ERR_BAD_REQUEST: MT__ERROR_CODE__ERR_ENGINE;
        result->error_message = req->message;
    }
}
