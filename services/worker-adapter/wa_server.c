//  Worker-adapter server: pulls jobs from the scheduler by credit, runs them
//  on the simulator or an OpenAI-compatible engine (wa_openai), streams
//  TokenChunks straight to each job's gateway and reports JobDone to the
//  gateway (its last tokens inside: one message where a TokenChunk and a
//  JobDone were), then the scheduler.
#include "wa_server.h"
#include "wa_sim.h"
#include "wa_sim_rich.h"
#include "wa_openai.h"
#include "wa_engine.h"
#include "wa_probe.h"
#include "wa_held.h"
#include "mt_codec.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <assert.h>
#include <czmq.h>
#include <stdatomic.h>

#define S_HWM 100000            //  send queue per peer, messages
#define S_MAX_GATEWAYS 1024     //  distinct reply_to endpoints kept open
#define S_DRAIN_MAX 1000        //  scheduler messages handled per turn
#define S_PROGRESS_TOKENS 16    //  tokens between JobProgress reports
#define S_TO_GATEWAY "send-failed to=gateway"       //  s_send_env's drop labels
#define S_TO_SCHEDULER "send-failed to=scheduler"
#define S_DELTAS_LOCAL 32       //  choice deltas of one chunk built on the stack
#define S_SNAP_LOCAL 256        //  running sequences walked from a stack snapshot
//  libzmq resolves a tcp://name:port endpoint with a blocking getaddrinfo in
//  the I/O thread of the connection. Two I/O threads, and each socket pinned
//  to one (ZMQ_AFFINITY): a gateway's name that takes long to resolve (a slow
//  or unreachable DNS server) holds up the token streams, not the heartbeat
//  (WorkerReady) to the scheduler, which would declare this worker dead.
//  main.c asks for the two threads; without them (a test in one process
//  with other sockets) the sockets share the one thread there is.
#define S_IO_SCHEDULER 1        //  affinity bit of the scheduler's I/O thread
#define S_IO_GATEWAYS 2         //  affinity bit of the gateways' I/O thread

//  One running sequence.
typedef struct {
    char *req_id;               //  owned; key in self->index
    char *tenant_id;            //  owned
    char *reply_token;          //  owned: the job's capability at its gateway
    zsock_t *gateway;           //  borrowed from self->gateways; NULL when unreachable
    wa_sim_plan_t plan;         //  simulator backend
    wa_sim_rich_t *rich;        //  simulator: whole choices (tools, logprobs, n); owned or NULL
    wa_openai_req_t *req;       //  openai backend; owned
    uint32_t prompt_tokens;     //  our count, until the engine says otherwise
    uint64_t start_ms;          //  monotonic
    uint32_t sent;              //  pieces (simulator: steps) sent so far
    uint32_t tokens;            //  completion tokens sent so far
    uint32_t progressed;        //  tokens last reported to the scheduler (JobProgress)
    uint32_t ttft_ms;           //  measured: start to first chunk sent
    bool final;                 //  the chunk being sent is the last: it rides in the
                                //  JobDone (count and end), no JobProgress before it
    bool reported;              //  its JobDone went out
    void *handle;               //  in self->active
} s_seq_t;

struct _wa_server_t {
    zsock_t *scheduler;         //  DEALER, routing id = worker id
    char *worker_id;            //  owned
    char *pool;                 //  owned
    char **models;              //  owned array of owned strings
    size_t nmodels;
    uint32_t slots;
    uint32_t ttft_ms, itl_ms, sim_tokens;
    uint32_t ready_interval_ms;
    uint64_t next_ready_ms;     //  monotonic time of the next WorkerReady
    zhashx_t *gateways;         //  "reply_to reply_key" -> zsock_t DEALER, owned
    zlistx_t *active;           //  s_seq_t, owned
    zhashx_t *index;            //  req id -> s_seq_t, borrowed
    zlistx_t *waiting;          //  Mt__JobSpec copies waiting for a slot, owned
    wa_openai_t *openai;        //  openai backend, or NULL for the simulator
    bool started;               //  a sequence started during this advance pass
    zactor_t *probe;            //  engine health probe (openai backend), or NULL
    wa_engine_t engine;         //  is the engine answering
    bool pinned;                //  scheduler and gateways on I/O threads of their own
    mt_metric_t *m_started, *m_done, *m_cancelled, *m_failed, *m_tokens, *m_busy;
    mt_metric_t *m_engine_up, *m_handed_back, *m_done_held;
    uint32_t engine_failures;   //  engine failures in a row since its last success (for the console)
    wa_held_t *held;            //  JobDones held back from the scheduler
    uint32_t done_hold_ms;      //  how long at most
};

//  Why the engine is down, for /readyz (another thread); NULL while up.
static _Atomic (const char *) s_engine_down = NULL;

bool
wa_server_health (char *why, size_t size)
{
    const char *reason = atomic_load (&s_engine_down);
    if (!reason)
        return true;
    snprintf (why, size, "%s", reason);
    return false;
}

//  Jobs are taken only while the engine answers (the simulator always does).
static bool
s_engine_up (wa_server_t *self)
{
    return !self->openai || self->engine.up;
}

//  --------------------------------------------------------------------------
//  Helpers

static void
s_seq_destroy (void **item_p)
{
    s_seq_t *seq = (s_seq_t *) *item_p;
    if (!seq)
        return;
    wa_sim_rich_destroy (&seq->rich);
    free (seq->req_id);
    free (seq->tenant_id);
    free (seq->reply_token);
    free (seq);
    *item_p = NULL;
}

static void
s_sock_destructor (void **item_p)
{
    mt_codec_close ((zsock_t **) item_p);  //  nothing held or kept for it outlives it
}

static void
s_spec_destructor (void **item_p)
{
    if (*item_p)
        mt__job_spec__free_unpacked ((Mt__JobSpec *) *item_p, NULL);
    *item_p = NULL;
}

//  The DEALER for a job's gateway (token endpoint and, with CURVE, that
//  gateway's public key), connected on first use. Borrowed; NULL when the
//  endpoint is unusable or the key is not a gateway's (logged).
static zsock_t *
s_gateway (wa_server_t *self, const Mt__JobSpec *spec)
{
    const char *endpoint = spec->reply_to;
    const char *req_id = spec->req_id;
    char name [600];
    snprintf (name, sizeof name, "%.500s %.64s", endpoint, spec->reply_key);
    zsock_t *sock = (zsock_t *) zhashx_lookup (self->gateways, name);
    if (sock)
        return sock;
    if (!*endpoint || zhashx_size (self->gateways) >= S_MAX_GATEWAYS) {
        mt_log ("gateway-unusable req=%s endpoint=%.128s reason=\"%s\"", req_id, endpoint,
                *endpoint? "too many gateways": "no reply_to");
        return NULL;
    }
    sock = mt_codec_socket (ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (self->pinned)
        zsock_set_affinity (sock, S_IO_GATEWAYS);
    zsock_set_sndhwm (sock, S_HWM);
    zsock_set_linger (sock, 0);
    if (mt_curve_client_to (sock, spec->reply_key, MT_ROLE_GATEWAY)) {
        mt_log ("gateway-unusable req=%s endpoint=%.128s reason=\"not a gateway's key\"",
                req_id, endpoint);
        zsock_destroy (&sock);
        return NULL;
    }
    if (zsock_connect (sock, "%s", endpoint) == -1) {
        mt_log ("gateway-unusable req=%s endpoint=%.128s reason=\"%s\"", req_id, endpoint,
                zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    zhashx_insert (self->gateways, name, sock);
    mt_log ("gateway-connected endpoint=%s", endpoint);
    return sock;
}

//  Held in the codec until the loop waits (mt_codec_poll flushes): what a
//  turn produced for one gateway, or for the scheduler, goes as one Batch.
//  label: S_TO_GATEWAY or S_TO_SCHEDULER, logged by the codec if it is lost.
static void
s_send_env (zsock_t *sock, const Mt__Envelope *env, const char *label, const char *req_id)
{
    if (sock)
        mt_codec_send_later (sock, NULL, env, &(mt_codec_drop_t) { .label = label, .key = req_id });
}

//  The scheduler's JobDones held back (wa_held.h says when and why).
static bool
s_done_may_hold (wa_server_t *self)
{
    wa_held_state_t state = {
        .hold_ms = self->done_hold_ms, .slots = self->slots,
        .running = zlistx_size (self->active), .held = wa_held_size (self->held),
        .waiting = zlistx_size (self->waiting) > 0, .engine_up = s_engine_up (self)
    };
    return wa_held_may_hold (&state);
}

//  This worker's JobDone with the fields of d (borrowed).
static void
s_done_fill (wa_server_t *self, Mt__JobDone *done, const wa_held_done_t *d)
{
    *done = (Mt__JobDone) MT__JOB_DONE__INIT;
    done->req_id = d->req_id;
    done->worker_id = self->worker_id;
    done->tenant_id = d->tenant_id;
    done->reply_token = d->reply_token;
    done->prompt_tokens = d->prompt_tokens;
    done->completion_tokens = d->completion_tokens;
    done->finish_reason = d->finish_reason;
    done->error = (Mt__ErrorCode) d->error;
    done->error_message = d->error_message;
    done->ttft_ms = d->ttft_ms;
}

static void
s_held_send (void *arg, const wa_held_done_t *held)
{
    wa_server_t *self = (wa_server_t *) arg;
    Mt__JobDone done;
    s_done_fill (self, &done, held);
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    s_send_env (self->scheduler, &env, S_TO_SCHEDULER, held->req_id);
}

//  What is held goes to the codec (out as one Batch when the loop waits).
static void
s_held_flush (wa_server_t *self)
{
    if (wa_held_size (self->held))      //  0 also before the store exists
        wa_held_drain (self->held, s_held_send, self);
}

//  Report the end of a job: first to the gateway, then to the scheduler
//  (held a few ms when wa_held allows).
//  tail: the job's last tokens, not sent before (NULL: none), to the gateway
//  in the same message: one message, where a TokenChunk and a JobDone were.
static void
s_send_done (wa_server_t *self, zsock_t *gateway, const char *req_id, const char *tenant_id,
             const char *reply_token,
             uint32_t prompt_tokens, uint32_t completion_tokens, const char *finish_reason,
             Mt__ErrorCode error, const char *error_message, uint32_t ttft_ms,
             Mt__TokenChunk *tail)
{
    wa_held_done_t fields = {
        .req_id = (char *) req_id, .tenant_id = (char *) tenant_id,
        .reply_token = (char *) reply_token, .finish_reason = (char *) finish_reason,
        .error_message = (char *) error_message, .prompt_tokens = prompt_tokens,
        .completion_tokens = completion_tokens, .ttft_ms = ttft_ms, .error = (int) error
    };
    Mt__JobDone done;
    s_done_fill (self, &done, &fields);
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    done.tokens = tail;
    s_send_env (gateway, &env, S_TO_GATEWAY, req_id);
    done.tokens = NULL;
    //  Only an answer's end: a failure or a cancel reaches the scheduler at once
    if (error == MT__ERROR_CODE__ERR_NONE && s_done_may_hold (self)
    &&  wa_held_add (self->held, &fields, mt_mono_ms ()) == 0) {
        mt_metric_add (self->m_done_held, 1);
        return;
    }
    s_held_flush (self);                //  the scheduler sees the ends in order
    s_send_env (self->scheduler, &env, S_TO_SCHEDULER, req_id);
}

//  The engine answered a request (ok) or failed it: failures in a row, as
//  the scheduler and the console's live page see them. Whether the engine
//  is up (zero credit, /readyz, mt_wa_engine_up) is wa_engine's call.
static void
s_engine_outcome (wa_server_t *self, bool ok)
{
    self->engine_failures = ok? 0: self->engine_failures + 1;
}

static void
s_send_ready (wa_server_t *self)
{
    s_held_flush (self);                //  the ends it holds go before its count
    uint32_t busy = (uint32_t) zlistx_size (self->active);
    Mt__WorkerReady ready = MT__WORKER_READY__INIT;
    ready.worker_id = self->worker_id;
    ready.pool = self->pool;
    ready.models = self->models;
    ready.n_models = self->nmodels;
    ready.free_slots = busy >= self->slots || zlistx_size (self->waiting) || !s_engine_up (self)
                     ? 0: self->slots - busy;
    ready.total_slots = self->slots;
    ready.engine_failures = self->engine_failures;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_WORKER_READY;
    env.worker_ready = &ready;
    s_send_env (self->scheduler, &env, S_TO_SCHEDULER, "-");
}

//  --------------------------------------------------------------------------
//  Sequences

static void s_sim_embeddings (wa_server_t *self, zsock_t *gateway, const Mt__JobSpec *spec);

//  Start a sequence now (a slot is free). The spec is borrowed: what the
//  sequence keeps is copied.
static void
s_seq_start (wa_server_t *self, const Mt__JobSpec *spec, uint64_t now)
{
    zsock_t *gateway = s_gateway (self, spec);
    if (!gateway) {
        //  Nowhere to stream: end it at once so the scheduler frees the lease
        s_send_done (self, NULL, spec->req_id, spec->tenant_id, spec->reply_token, 0, 0, "",
                     MT__ERROR_CODE__ERR_BAD_REQUEST, "unusable reply_to endpoint", 0, NULL);
        return;
    }
    s_seq_t *seq = (s_seq_t *) zmalloc (sizeof (s_seq_t));
    assert (seq);
    seq->req_id = strdup (spec->req_id);
    seq->tenant_id = strdup (spec->tenant_id);
    seq->reply_token = strdup (spec->reply_token);
    assert (seq->req_id && seq->tenant_id && seq->reply_token);
    seq->gateway = gateway;
    seq->start_ms = now;
    if (self->openai) {
        char err [160] = "";
        seq->req = wa_openai_start (self->openai, spec, err, sizeof err);
        seq->prompt_tokens = spec->prompt_tokens? spec->prompt_tokens
                           : mt_tokens_count (spec->prompt, strlen (spec->prompt));
        if (!seq->req) {
            mt_log ("job-refused req=%s tenant=%s reason=\"%s\"", seq->req_id, seq->tenant_id,
                    err);
            s_send_done (self, gateway, spec->req_id, spec->tenant_id, spec->reply_token,
                         seq->prompt_tokens, 0, "",
                         MT__ERROR_CODE__ERR_BAD_REQUEST, err, 0, NULL);
            void *item = seq;
            s_seq_destroy (&item);
            return;
        }
    }
    else
    if (spec->kind == MT__JOB_KIND__KIND_EMBEDDING) {
        s_sim_embeddings (self, gateway, spec);
        void *item = seq;
        s_seq_destroy (&item);
        return;
    }
    else {
        wa_sim_plan (&seq->plan, spec->prompt, strlen (spec->prompt), spec->max_tokens,
                     self->sim_tokens, self->ttft_ms, self->itl_ms, now);
        seq->prompt_tokens = seq->plan.prompt_tokens;
        seq->rich = wa_sim_rich_new (spec->kind == MT__JOB_KIND__KIND_CHAT,
                                     (const char *) spec->request_json.data,
                                     spec->request_json.len, seq->plan.hash);
        if (seq->rich && wa_sim_rich_needed (seq->rich))
            wa_sim_rich_plan (seq->rich, &seq->plan, spec->max_tokens);
        else
            wa_sim_rich_destroy (&seq->rich);
    }
    seq->handle = zlistx_add_end (self->active, seq);
    self->started = true;
    zhashx_insert (self->index, seq->req_id, seq);
    mt_metric_add (self->m_started, 1);
    mt_metric_set (self->m_busy, (int64_t) zlistx_size (self->active));
    mt_debug ("job-started req=%s tenant=%s model=%s tokens=%u", seq->req_id, seq->tenant_id,
              spec->model, seq->plan.completion_tokens);
}

//  Drop a finished sequence and start the next waiting job, if any.
static void
s_seq_end (wa_server_t *self, s_seq_t *seq, uint64_t now)
{
    zhashx_delete (self->index, seq->req_id);
    wa_openai_req_destroy (self->openai, &seq->req);
    zlistx_delete (self->active, seq->handle);      //  destroys seq
    while (zlistx_size (self->waiting) && zlistx_size (self->active) < self->slots
       &&  s_engine_up (self)) {
        Mt__JobSpec *spec = (Mt__JobSpec *) zlistx_detach (self->waiting, NULL);
        s_seq_start (self, spec, now);
        mt__job_spec__free_unpacked (spec, NULL);
    }
    mt_metric_set (self->m_busy, (int64_t) zlistx_size (self->active));
}

//  Tell the scheduler how many completion tokens a job generated so far,
//  every S_PROGRESS_TOKENS: its fair queue charges them as they come.
static void
s_report_progress (wa_server_t *self, s_seq_t *seq)
{
    if (seq->final || seq->tokens - seq->progressed < S_PROGRESS_TOKENS)
        return;
    Mt__JobProgress progress = MT__JOB_PROGRESS__INIT;
    progress.req_id = seq->req_id;
    progress.completion_tokens = seq->tokens;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB_PROGRESS;
    env.job_progress = &progress;
    s_send_env (self->scheduler, &env, S_TO_SCHEDULER, seq->req_id);
    seq->progressed = seq->tokens;
}

static void s_seq_done (wa_server_t *self, s_seq_t *seq, Mt__TokenChunk *tail, uint64_t now);

//  Send a sequence's tokens as one TokenChunk; the last ones (seq->final)
//  ride in its JobDone instead, and end it.
static void
s_send_tokens (wa_server_t *self, s_seq_t *seq, Mt__TokenChunk *chunk, uint64_t now)
{
    if (seq->final) {
        s_seq_done (self, seq, chunk, now);
        return;
    }
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_TOKEN_CHUNK;
    env.token_chunk = chunk;
    s_send_env (seq->gateway, &env, S_TO_GATEWAY, seq->req_id);
    s_report_progress (self, seq);
}

//  Send pieces as one TokenChunk and count them.
static void
s_send_chunk (wa_server_t *self, s_seq_t *seq, char **pieces, uint32_t count, uint64_t now)
{
    Mt__TokenChunk chunk = MT__TOKEN_CHUNK__INIT;
    chunk.req_id = seq->req_id;
    chunk.pieces = pieces;
    chunk.n_pieces = count;
    chunk.seq = seq->sent;
    chunk.reply_token = seq->reply_token;
    if (seq->sent == 0)
        seq->ttft_ms = (uint32_t) (now - seq->start_ms);
    seq->sent += count;
    seq->tokens += count;
    mt_metric_add (self->m_tokens, count);
    s_send_tokens (self, seq, &chunk, now);
}

//  Send whole choice deltas as one TokenChunk; steps is what they advance
//  the sequence by (simulator), their tokens what they add to the bill.
static void
s_send_choices (wa_server_t *self, s_seq_t *seq, Mt__ChoiceDelta **choices, size_t count,
                const char *fingerprint, uint32_t steps, uint64_t now)
{
    Mt__TokenChunk chunk = MT__TOKEN_CHUNK__INIT;
    chunk.req_id = seq->req_id;
    chunk.reply_token = seq->reply_token;
    chunk.choices = choices;
    chunk.n_choices = count;
    chunk.system_fingerprint = (char *) (fingerprint? fingerprint: "");
    chunk.seq = seq->tokens;
    uint32_t tokens = 0;
    for (size_t i = 0; i < count; i++)
        tokens += choices [i]->tokens;
    if (seq->tokens == 0 && tokens > 0)
        seq->ttft_ms = (uint32_t) (now - seq->start_ms);     //  the first token, not a role
    seq->sent += steps;
    seq->tokens += tokens;
    mt_metric_add (self->m_tokens, tokens);
    s_send_tokens (self, seq, &chunk, now);
}

//  The simulator's embeddings: answered at once, nothing to stream: the
//  items ride in the JobDone.
static void
s_sim_embeddings (wa_server_t *self, zsock_t *gateway, const Mt__JobSpec *spec)
{
    char err [160] = "";
    char **items = NULL;
    size_t count = 0;
    uint32_t prompt = 0;
    if (wa_sim_embeddings ((const char *) spec->request_json.data, spec->request_json.len,
                           &items, &count, &prompt, err, sizeof err)) {
        mt_log ("job-refused req=%s tenant=%s reason=\"%s\"", spec->req_id, spec->tenant_id, err);
        s_send_done (self, gateway, spec->req_id, spec->tenant_id, spec->reply_token, 0, 0, "",
                     MT__ERROR_CODE__ERR_BAD_REQUEST, err, 0, NULL);
        return;
    }
    size_t size = count? count: 1;
    Mt__ChoiceDelta *deltas = (Mt__ChoiceDelta *) calloc (size, sizeof (Mt__ChoiceDelta));
    Mt__ChoiceDelta **ptrs = (Mt__ChoiceDelta **) calloc (size, sizeof (Mt__ChoiceDelta *));
    assert (deltas && ptrs);
    for (size_t i = 0; i < count; i++) {
        mt__choice_delta__init (&deltas [i]);
        deltas [i].index = (uint32_t) i;
        deltas [i].json.data = (uint8_t *) items [i];
        deltas [i].json.len = strlen (items [i]);
        deltas [i].finish_reason = (char *) "";
        ptrs [i] = &deltas [i];
    }
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.choices = ptrs;
    tail.n_choices = count;
    s_send_done (self, gateway, spec->req_id, spec->tenant_id, spec->reply_token, prompt, 0, "stop",
                 MT__ERROR_CODE__ERR_NONE, "", 0, count? &tail: NULL);
    mt_metric_add (self->m_done, 1);
    for (size_t i = 0; i < count; i++)
        free (items [i]);
    free (items);
    free (deltas);
    free (ptrs);
}

//  Tokens generated so far, as billed when a sequence stops early.
static uint32_t
s_tokens_so_far (s_seq_t *seq)
{
    if (!seq->req)
        return seq->tokens;
    size_t len = 0;
    const char *text = wa_openai_req_text (seq->req, &len);
    return mt_tokens_count (text, len);
}

//  A job the worker will not start (the engine is down): given back at once,
//  nothing generated, nothing billed.
static void
s_hand_back (wa_server_t *self, const Mt__JobSpec *spec)
{
    mt_log ("job-handed-back req=%s tenant=%s reason=\"%s\"", spec->req_id, spec->tenant_id,
            self->engine.reason);
    s_send_done (self, s_gateway (self, spec), spec->req_id, spec->tenant_id, spec->reply_token,
                 0, 0, "", MT__ERROR_CODE__ERR_UNAVAILABLE, "the engine is unavailable", 0, NULL);
    mt_metric_add (self->m_handed_back, 1);
}

//  The engine went down or came back: say so, stop or resume taking jobs.
static void
s_engine_changed (wa_server_t *self)
{
    atomic_store (&s_engine_down, self->engine.up? NULL: self->engine.reason);
    mt_metric_set (self->m_engine_up, self->engine.up? 1: 0);
    if (self->engine.up)
        mt_log ("engine-up action=taking_jobs");
    else {
        mt_log ("engine-down reason=\"%s\" running=%zu waiting=%zu action=zero_credit",
                self->engine.reason, zlistx_size (self->active), zlistx_size (self->waiting));
        Mt__JobSpec *spec;
        while ((spec = (Mt__JobSpec *) zlistx_first (self->waiting))) {
            s_hand_back (self, spec);
            zlistx_delete (self->waiting, zlistx_cursor (self->waiting));
        }
    }
    //  The scheduler hears at once, not at the next period
    s_send_ready (self);
    self->next_ready_ms = mt_mono_ms () + self->ready_interval_ms;
}

static void
s_engine_note (wa_server_t *self, wa_engine_event_t event, uint64_t at_ms, uint64_t now)
{
    if (self->openai && wa_engine_note (&self->engine, event, at_ms, now))
        s_engine_changed (self);
}

//  openai backend: the end of a finished transfer, reported (tail: the last
//  tokens, to ride in the JobDone; NULL when none).
static void
s_seq_done_engine (wa_server_t *self, s_seq_t *seq, Mt__TokenChunk *tail, uint64_t now)
{
    wa_openai_result_t result;
    wa_openai_req_result (seq->req, &result);
    uint32_t prompt = result.has_usage? result.prompt_tokens: seq->prompt_tokens;
    uint32_t completion = result.has_usage? result.completion_tokens: s_tokens_so_far (seq);
    if (result.unreachable || result.stalled)
        s_engine_note (self, result.stalled? WA_ENGINE_JOB_STALLED: WA_ENGINE_JOB_UNREACHABLE,
                       now, now);
    if (result.error) {
        mt_log ("job-failed req=%s tenant=%s tokens=%u reason=\"%s\"", seq->req_id,
                seq->tenant_id, completion, result.error_message);
        s_send_done (self, seq->gateway, seq->req_id, seq->tenant_id, seq->reply_token,
                     prompt, completion, "",
                     result.error, result.error_message, seq->ttft_ms, tail);
        mt_metric_add (self->m_failed, 1);
        if (result.error != MT__ERROR_CODE__ERR_BAD_REQUEST
        &&  result.error != MT__ERROR_CODE__ERR_CANCELLED)
            s_engine_outcome (self, false);
    }
    else {
        s_engine_outcome (self, true);
        s_send_done (self, seq->gateway, seq->req_id, seq->tenant_id, seq->reply_token,
                     prompt, completion,
                     result.finish_reason, MT__ERROR_CODE__ERR_NONE, "", seq->ttft_ms, tail);
        mt_metric_add (self->m_done, 1);
        mt_debug ("job-done req=%s tenant=%s tokens=%u finish=%s usage=%s", seq->req_id,
                  seq->tenant_id, completion, result.finish_reason,
                  result.has_usage? "engine": "counted");
    }
}

//  Report the end of a sequence that has no more to send: its JobDone,
//  carrying tail (the last tokens, not sent as a TokenChunk) when given.
//  The caller ends the sequence (s_seq_end).
static void
s_seq_done (wa_server_t *self, s_seq_t *seq, Mt__TokenChunk *tail, uint64_t now)
{
    assert (!seq->reported);
    seq->reported = true;
    if (tail) {
        //  The JobDone's own name and token stand for the chunk's
        tail->req_id = (char *) "";
        tail->reply_token = (char *) "";
    }
    if (seq->req) {
        s_seq_done_engine (self, seq, tail, now);
        return;
    }
    const char *finish = seq->rich? wa_sim_rich_finish (seq->rich, &seq->plan)
                                  : wa_sim_finish_reason (&seq->plan);
    s_send_done (self, seq->gateway, seq->req_id, seq->tenant_id, seq->reply_token,
                 seq->plan.prompt_tokens, seq->tokens, finish, MT__ERROR_CODE__ERR_NONE, "",
                 seq->ttft_ms, tail);
    mt_metric_add (self->m_done, 1);
    mt_debug ("job-done req=%s tenant=%s tokens=%u finish=%s", seq->req_id, seq->tenant_id,
              seq->tokens, finish);
}

//  openai backend: send what the engine streamed since last time; report
//  the end when the transfer is over (the last tokens inside the JobDone).
//  Returns true when the sequence ended.
static bool
s_seq_advance_engine (wa_server_t *self, s_seq_t *seq, uint64_t now)
{
    size_t count = 0;
    wa_choice_t *taken = wa_openai_req_choices (seq->req, &count);
    seq->final = wa_openai_req_finished (seq->req);
    if (count) {
        //  The engine's choice objects go out as they came
        Mt__ChoiceDelta local [S_DELTAS_LOCAL], *local_ptrs [S_DELTAS_LOCAL];
        bool heap = count > S_DELTAS_LOCAL;
        Mt__ChoiceDelta *deltas = heap? (Mt__ChoiceDelta *) calloc (count, sizeof (Mt__ChoiceDelta))
                                      : local;
        Mt__ChoiceDelta **ptrs = heap? (Mt__ChoiceDelta **) calloc (count, sizeof (Mt__ChoiceDelta *))
                                     : local_ptrs;
        assert (deltas && ptrs);
        for (size_t i = 0; i < count; i++) {
            mt__choice_delta__init (&deltas [i]);
            deltas [i].index = taken [i].index;
            deltas [i].json.data = (uint8_t *) taken [i].json;
            deltas [i].json.len = taken [i].len;
            deltas [i].finish_reason = taken [i].finish_reason;
            deltas [i].tokens = taken [i].tokens;
            ptrs [i] = &deltas [i];
        }
        s_send_choices (self, seq, ptrs, count, wa_openai_req_fingerprint (seq->req), 0, now);
        if (heap) {
            free (deltas);
            free (ptrs);
        }
        wa_openai_req_choices_clear (seq->req);
    }
    if (!seq->final)
        return false;
    if (!seq->reported)
        s_seq_done (self, seq, NULL, now);
    s_seq_end (self, seq, now);
    return true;
}

//  Simulator, whole choices: every step now due, each choice's delta.
static void
s_seq_send_rich (wa_server_t *self, s_seq_t *seq, uint32_t due, uint64_t now)
{
    uint32_t n = wa_sim_rich_n (seq->rich);
    size_t count = (size_t) (due - seq->sent) * n;
    Mt__ChoiceDelta *deltas = (Mt__ChoiceDelta *) calloc (count, sizeof (Mt__ChoiceDelta));
    Mt__ChoiceDelta **ptrs = (Mt__ChoiceDelta **) calloc (count, sizeof (Mt__ChoiceDelta *));
    assert (deltas && ptrs);
    size_t k = 0;
    for (uint32_t step = seq->sent; step < due; step++)
        for (uint32_t c = 0; c < n; c++) {
            uint32_t tokens = 0;
            char *json = wa_sim_rich_delta (seq->rich, &seq->plan, step, c, &tokens);
            if (!json)
                continue;
            mt__choice_delta__init (&deltas [k]);
            deltas [k].index = c;
            deltas [k].json.data = (uint8_t *) json;
            deltas [k].json.len = strlen (json);
            deltas [k].tokens = tokens;
            deltas [k].finish_reason = (char *) (step + 1 >= seq->plan.completion_tokens
                                     ? wa_sim_rich_finish (seq->rich, &seq->plan): "");
            ptrs [k] = &deltas [k];
            k++;
        }
    s_send_choices (self, seq, ptrs, k, NULL, due - seq->sent, now);
    for (size_t i = 0; i < k; i++)
        free (deltas [i].json.data);
    free (deltas);
    free (ptrs);
}

//  Send the pieces now due as one TokenChunk (the last ones inside the
//  JobDone); finish when all are out. Returns true when the sequence ended.
static bool
s_seq_advance (wa_server_t *self, s_seq_t *seq, uint64_t now)
{
    if (seq->req)
        return s_seq_advance_engine (self, seq, now);
    uint32_t due = wa_sim_due_count (&seq->plan, now);
    seq->final = due >= seq->plan.completion_tokens;
    if (due > seq->sent && seq->rich)
        s_seq_send_rich (self, seq, due, now);
    else
    if (due > seq->sent) {
        uint32_t count = due - seq->sent;
        char *text = (char *) malloc ((size_t) count * WA_SIM_PIECE_MAX);
        char **pieces = (char **) malloc ((size_t) count * sizeof (char *));
        assert (text && pieces);
        for (uint32_t i = 0; i < count; i++) {
            pieces [i] = text + (size_t) i * WA_SIM_PIECE_MAX;
            wa_sim_piece (&seq->plan, seq->sent + i, pieces [i]);
        }
        s_send_chunk (self, seq, pieces, count, now);
        free (pieces);
        free (text);
    }
    if (seq->sent < seq->plan.completion_tokens)
        return false;
    if (!seq->reported)
        s_seq_done (self, seq, NULL, now);
    s_seq_end (self, seq, now);
    return true;
}

//  Advance every sequence; returns ms until the next piece is due (-1: none).
static int64_t
s_advance_all (wa_server_t *self, uint64_t now)
{
    int64_t wait = -1;
    self->started = false;
    size_t count = zlistx_size (self->active);
    if (count == 0)
        return wait;
    //  Work on a snapshot: ending a sequence deletes it and may start waiting
    //  jobs, and zlistx moves its cursor on both
    s_seq_t *local [S_SNAP_LOCAL];
    s_seq_t **snap = count <= S_SNAP_LOCAL? local: (s_seq_t **) malloc (count * sizeof (s_seq_t *));
    assert (snap);
    size_t n = 0;
    for (s_seq_t *seq = (s_seq_t *) zlistx_first (self->active); seq && n < count;
         seq = (s_seq_t *) zlistx_next (self->active))
        snap [n++] = seq;
    for (size_t i = 0; i < n; i++) {
        s_seq_t *seq = snap [i];
        if (!s_seq_advance (self, seq, now) && !seq->req) {
            uint64_t due = wa_sim_due_ms (&seq->plan, seq->sent);
            int64_t in = due > now? (int64_t) (due - now): 0;
            if (wait < 0 || in < wait)
                wait = in;
        }
    }
    if (snap != local)
        free (snap);
    //  Jobs started from the waiting list during this pass may be due now
    if (self->started)
        wait = 0;
    return wait;
}

//  --------------------------------------------------------------------------
//  Scheduler messages

//  A job we run already. The same attempt: ignored. Another attempt (its
//  gateway submitted it again after a scheduler restart, not knowing this
//  one had started): while nothing was sent, the sequence carries on under
//  the new attempt's reply token; once it streams, the new attempt is not
//  run, and the scheduler hears it ended (the gateway keeps the first).
static void
s_handle_duplicate (wa_server_t *self, s_seq_t *seq, const Mt__JobSpec *spec)
{
    if (!strcmp (seq->reply_token, spec->reply_token)) {
        mt_log ("job-duplicate req=%s tenant=%s action=ignored", spec->req_id, spec->tenant_id);
        return;
    }
    if (seq->sent == 0 && seq->tokens == 0 && seq->ttft_ms == 0) {
        char *token = strdup (spec->reply_token);
        if (token) {
            free (seq->reply_token);
            seq->reply_token = token;
            mt_log ("job-readopted req=%s tenant=%s", spec->req_id, spec->tenant_id);
            return;
        }
    }
    mt_log ("job-duplicate req=%s tenant=%s action=refused reason=\"started under another "
            "attempt\"", spec->req_id, spec->tenant_id);
    //  To the scheduler only (no gateway): the gateway keeps the attempt that runs
    s_send_done (self, NULL, spec->req_id, spec->tenant_id, spec->reply_token,
                 spec->prompt_tokens, 0, "", MT__ERROR_CODE__ERR_CANCELLED, "duplicate", 0, NULL);
}

static void
s_handle_job (wa_server_t *self, Mt__Job *body, uint64_t now)
{
    Mt__JobSpec *spec = body? body->job: NULL;
    if (!spec || !*spec->req_id) {
        mt_log ("job-invalid reason=\"no job or req_id\" action=dropped");
        return;
    }
    s_seq_t *dup = (s_seq_t *) zhashx_lookup (self->index, spec->req_id);
    if (dup) {
        s_handle_duplicate (self, dup, spec);
        return;
    }
    if (!s_engine_up (self)) {
        s_hand_back (self, spec);
        return;
    }
    if (zlistx_size (self->active) < self->slots) {
        s_seq_start (self, spec, now);      //  borrows the envelope's: no copy
        return;
    }
    Mt__JobSpec *copy = mt_codec_job_copy (spec);
    if (!copy) {
        mt_log ("job-failed req=%s tenant=%s reason=\"out of memory\"", spec->req_id,
                spec->tenant_id);
        return;
    }
    mt_log ("job-waiting req=%s tenant=%s reason=\"no free slot\" waiting=%zu",
            spec->req_id, spec->tenant_id, zlistx_size (self->waiting) + 1);
    zlistx_add_end (self->waiting, copy);
}

//  A Cancel that names an attempt (its reply token) cancels only that one.
static bool
s_cancel_hits (const Mt__Cancel *cancel, const char *reply_token)
{
    return !*cancel->reply_token || (reply_token && !strcmp (cancel->reply_token, reply_token));
}

static void
s_handle_cancel (wa_server_t *self, Mt__Cancel *cancel, uint64_t now)
{
    s_seq_t *seq = (s_seq_t *) zhashx_lookup (self->index, cancel->req_id);
    if (seq && !s_cancel_hits (cancel, seq->reply_token)) {
        mt_log ("cancel-other-attempt req=%s tenant=%s action=ignored", seq->req_id,
                seq->tenant_id);
        return;
    }
    if (seq) {
        uint32_t tokens = s_tokens_so_far (seq);
        mt_log ("job-cancelled req=%s tenant=%s tokens=%u", seq->req_id, seq->tenant_id, tokens);
        s_send_done (self, seq->gateway, seq->req_id, seq->tenant_id, seq->reply_token,
                     seq->prompt_tokens,
                     tokens, "", MT__ERROR_CODE__ERR_CANCELLED, "cancelled", seq->ttft_ms, NULL);
        mt_metric_add (self->m_cancelled, 1);
        s_seq_end (self, seq, now);
        return;
    }
    Mt__JobSpec *spec = (Mt__JobSpec *) zlistx_first (self->waiting);
    while (spec) {
        if (!strcmp (spec->req_id, cancel->req_id) && s_cancel_hits (cancel, spec->reply_token)) {
            mt_log ("job-cancelled req=%s tenant=%s tokens=0 state=waiting", spec->req_id,
                    spec->tenant_id);
            s_send_done (self, s_gateway (self, spec), spec->req_id,
                         spec->tenant_id, spec->reply_token, spec->prompt_tokens, 0, "",
                         MT__ERROR_CODE__ERR_CANCELLED, "cancelled", 0, NULL);
            mt_metric_add (self->m_cancelled, 1);
            zlistx_delete (self->waiting, zlistx_cursor (self->waiting));
            return;
        }
        spec = (Mt__JobSpec *) zlistx_next (self->waiting);
    }
    mt_debug ("cancel-unknown req=%.64s action=ignored", cancel->req_id);
}

//  Takes one message off the socket; false when none was waiting.
static bool
s_on_scheduler (wa_server_t *self, uint64_t now)
{
    Mt__Envelope *env = NULL;
    if (!mt_codec_recv_next (self->scheduler, NULL, &env))
        return false;
    if (!env)
        return true;
    switch (env->body_case) {
        case MT__ENVELOPE__BODY_JOB:
            s_handle_job (self, env->job, now);
            break;
        case MT__ENVELOPE__BODY_CANCEL:
            if (env->cancel)
                s_handle_cancel (self, env->cancel, now);
            break;
        default:
            mt_log ("unexpected-message socket=scheduler body=%s action=dropped",
                    mt_codec_body_name (env));
            break;
    }
    mt_codec_free (&env);
    return true;
}

//  --------------------------------------------------------------------------
//  Lifecycle

wa_server_t *
wa_server_new (const wa_server_config_t *config)
{
    assert (config && config->nmodels > 0);
    wa_server_t *self = (wa_server_t *) zmalloc (sizeof (wa_server_t));
    assert (self);
    self->worker_id = strdup (config->worker_id);
    self->pool = strdup (config->pool);
    self->models = (char **) calloc (config->nmodels, sizeof (char *));
    assert (self->worker_id && self->pool && self->models);
    for (size_t i = 0; i < config->nmodels; i++) {
        self->models [i] = strdup (config->models [i]);
        assert (self->models [i]);
    }
    self->nmodels = config->nmodels;
    self->slots = config->slots? config->slots: 1;
    self->ttft_ms = config->sim_ttft_ms;
    self->itl_ms = config->sim_itl_ms;
    self->sim_tokens = config->sim_tokens;
    self->ready_interval_ms = config->ready_interval_ms? config->ready_interval_ms: 1000;
    self->done_hold_ms = config->done_hold_ms;
    self->held = wa_held_new (self->done_hold_ms);
    if (!self->held) {
        wa_server_destroy (&self);
        return NULL;
    }
    self->gateways = zhashx_new ();
    zhashx_set_destructor (self->gateways, s_sock_destructor);
    self->active = zlistx_new ();
    zlistx_set_destructor (self->active, s_seq_destroy);
    self->index = zhashx_new ();
    self->waiting = zlistx_new ();
    zlistx_set_destructor (self->waiting, s_spec_destructor);
    self->m_started = mt_metric_counter ("mt_wa_jobs_started_total", "sequences started");
    self->m_done = mt_metric_counter ("mt_wa_jobs_done_total", "sequences finished");
    self->m_cancelled = mt_metric_counter ("mt_wa_jobs_cancelled_total", "sequences cancelled");
    self->m_failed = mt_metric_counter ("mt_wa_jobs_failed_total", "sequences the engine failed");
    self->m_tokens = mt_metric_counter ("mt_wa_tokens_generated_total", "completion tokens sent");
    self->m_busy = mt_metric_gauge ("mt_wa_slots_busy", "slots running a sequence");
    self->m_engine_up = mt_metric_gauge ("mt_wa_engine_up", "1 while the engine answers, else 0");
    self->m_handed_back = mt_metric_counter ("mt_wa_jobs_handed_back_total",
                                             "jobs given back unstarted: the engine was down");
    self->m_done_held = mt_metric_counter ("mt_wa_done_held_total",
                                           "JobDones held back from the scheduler, sent together");
    mt_metric_set (self->m_engine_up, 1);
    wa_engine_init (&self->engine, mt_mono_ms ());
    atomic_store (&s_engine_down, NULL);
    if (config->engine_url && *config->engine_url) {
        self->openai = wa_openai_new (config->engine_url);
        if (!self->openai) {
            mt_log ("backend-failed backend=openai reason=\"libcurl init failed\"");
            wa_server_destroy (&self);
            return NULL;
        }
        wa_openai_set_stall (self->openai, config->engine_stall_ms);
        wa_openai_set_connections (self->openai, self->slots);
        if (config->engine_health_url && *config->engine_health_url) {
            self->probe = wa_probe_new (config->engine_health_url,
                                        (int) config->engine_probe_ms,
                                        (int) config->engine_probe_timeout_ms);
            if (!self->probe) {
                wa_server_destroy (&self);
                return NULL;
            }
            mt_log ("engine-probe url=%s interval_ms=%u", config->engine_health_url,
                    config->engine_probe_ms);
        }
    }
    self->pinned = zmq_ctx_get (zsys_init (), ZMQ_IO_THREADS) >= 2;
    self->scheduler = mt_codec_socket (ZMQ_DEALER);
    if (!self->scheduler || mt_curve_client (self->scheduler, MT_ROLE_SCHEDULER)) {
        wa_server_destroy (&self);
        return NULL;
    }
    //  A routing id of this process's own: a worker restarted under the same
    //  MT_WA_ID is a new peer to the scheduler, so the jobs the dead process
    //  held time out and fail instead of staying assigned for ever
    char identity [256];
    char nonce [9];
    if (mt_random_hex (nonce, 4))
        snprintf (nonce, sizeof nonce, "%08x", (unsigned) getpid ());
    snprintf (identity, sizeof identity, "%.200s/%s", self->worker_id, nonce);
    zsock_set_identity (self->scheduler, identity);
    if (self->pinned)
        zsock_set_affinity (self->scheduler, S_IO_SCHEDULER);
    zsock_set_sndhwm (self->scheduler, S_HWM);
    zsock_set_rcvhwm (self->scheduler, S_HWM);
    zsock_set_linger (self->scheduler, 0);
    if (zsock_connect (self->scheduler, "%s", config->scheduler) == -1) {
        mt_log ("connect-failed endpoint=%s errno=%s", config->scheduler,
                zmq_strerror (zmq_errno ()));
        wa_server_destroy (&self);
        return NULL;
    }
    if (self->openai)
        mt_log ("started worker=%s pool=%s models=%zu slots=%u scheduler=%s backend=openai",
                self->worker_id, self->pool, self->nmodels, self->slots, config->scheduler);
    else
        mt_log ("started worker=%s pool=%s models=%zu slots=%u scheduler=%s backend=sim "
                "ttft_ms=%u itl_ms=%u tokens=%u", self->worker_id, self->pool, self->nmodels,
                self->slots, config->scheduler, self->ttft_ms, self->itl_ms, self->sim_tokens);
    s_send_ready (self);
    self->next_ready_ms = mt_mono_ms () + self->ready_interval_ms;
    return self;
}

void
wa_server_destroy (wa_server_t **self_p)
{
    assert (self_p);
    wa_server_t *self = *self_p;
    if (!self)
        return;
    zactor_destroy (&self->probe);
    zhashx_destroy (&self->index);
    for (s_seq_t *seq = self->active? (s_seq_t *) zlistx_first (self->active): NULL; seq;
         seq = (s_seq_t *) zlistx_next (self->active))
        wa_openai_req_destroy (self->openai, &seq->req);
    zlistx_destroy (&self->active);
    zlistx_destroy (&self->waiting);
    s_held_flush (self);
    wa_held_destroy (&self->held);
    mt_codec_flush ();                  //  what is held goes before its sockets close
    zhashx_destroy (&self->gateways);
    mt_codec_close (&self->scheduler);
    wa_openai_destroy (&self->openai);
    free (self->worker_id);
    free (self->pool);
    for (size_t i = 0; self->models && i < self->nmodels; i++)
        free (self->models [i]);
    free (self->models);
    free (self);
    *self_p = NULL;
}

int
wa_server_poll (wa_server_t *self, int max_wait_ms)
{
    assert (self);
    uint64_t now = mt_mono_ms ();
    int64_t wait = s_advance_all (self, now);
    int64_t to_ready = self->next_ready_ms > now? (int64_t) (self->next_ready_ms - now): 0;
    if (wait < 0 || wait > to_ready)
        wait = to_ready;
    uint64_t held_due = wa_held_due (self->held);
    if (held_due) {
        int64_t to_held = held_due > now? (int64_t) (held_due - now): 0;
        if (to_held < wait)
            wait = to_held;
    }
    if (wait > max_wait_ms)
        wait = max_wait_ms;
    //  The scheduler socket, then the engine's sockets when the openai
    //  backend has transfers running
    size_t nfds = self->openai? wa_openai_fds (self->openai): 0;
    zmq_pollitem_t local [8];
    zmq_pollitem_t *items = nfds + 2 <= 8? local
                          : (zmq_pollitem_t *) malloc ((nfds + 2) * sizeof (zmq_pollitem_t));
    assert (items);
    items [0] = (zmq_pollitem_t) { zsock_resolve (self->scheduler), 0, ZMQ_POLLIN, 0 };
    size_t n = 1;
    if (self->probe)
        items [n++] = (zmq_pollitem_t) { zsock_resolve (self->probe), 0, ZMQ_POLLIN, 0 };
    size_t first_fd = n;
    if (self->openai) {
        n += wa_openai_pollitems (self->openai, items + first_fd, nfds);
        int64_t curl_wait = wa_openai_timeout (self->openai, now);
        if (curl_wait >= 0 && curl_wait < wait)
            wait = curl_wait;
    }
    int rc = mt_codec_poll (items, (int) n, (long) wait);
    if (rc == -1 && zmq_errno () != EINTR) {
        if (items != local)
            free (items);
        return -1;
    }
    bool from_scheduler = rc > 0 && (items [0].revents & ZMQ_POLLIN);
    bool from_probe = rc > 0 && self->probe && (items [1].revents & ZMQ_POLLIN);
    if (self->openai)
        wa_openai_dispatch (self->openai, items + first_fd, rc > 0? n - first_fd: 0,
                            mt_mono_ms ());
    if (items != local)
        free (items);
    //  The probe's socket only when the poll found it readable: one look at
    //  its mailbox less on every other turn
    while (from_probe && (zsock_events (self->probe) & ZMQ_POLLIN)) {
        char *what = NULL, *ok = NULL, *at = NULL;
        if (zstr_recvx (self->probe, &what, &ok, &at, NULL) != -1 && ok && at)
            s_engine_note (self, *ok == '1'? WA_ENGINE_PROBE_OK: WA_ENGINE_PROBE_FAILED,
                           strtoull (at, NULL, 10), mt_mono_ms ());
        zstr_free (&what);
        zstr_free (&ok);
        zstr_free (&at);
    }
    if (from_probe)
        mt_codec_poll_touched (zactor_sock (self->probe));
    //  Until the socket has none: one look at its mailbox, not one per message
    for (int i = 0; from_scheduler && i < S_DRAIN_MAX && s_on_scheduler (self, mt_mono_ms ()); i++)
        ;
    //  Requests the jobs just started are sent now, not one loop turn later
    //  (curl asks for a timer of 0 ms on every new transfer)
    if (from_scheduler && self->openai)
        wa_openai_dispatch (self->openai, NULL, 0, mt_mono_ms ());
    now = mt_mono_ms ();
    s_advance_all (self, now);
    //  Held ends go when due, or once the jobs started since would make the
    //  worker look busier than a hold allows
    held_due = wa_held_due (self->held);
    if (held_due && (now >= held_due || !s_done_may_hold (self)))
        s_held_flush (self);
    if (now >= self->next_ready_ms) {
        s_send_ready (self);
        self->next_ready_ms = now + self->ready_interval_ms;
    }
    return 0;
}

int
wa_server_run (wa_server_t *self)
{
    //  Neither socket changes but through its mailbox: the poll skips the
    //  look at each before waiting while it was idle (the probe's reads are
    //  said with mt_codec_poll_touched)
    mt_codec_poll_own (self->scheduler);
    if (self->probe)
        mt_codec_poll_own (zactor_sock (self->probe));
    while (!mt_stopping ())
        if (wa_server_poll (self, 100) == -1 && !mt_stopping ()) {
            mt_log ("poll-failed errno=%s", zmq_strerror (zmq_errno ()));
            zclock_sleep (100);
        }
    mt_log ("stopping running=%zu waiting=%zu", zlistx_size (self->active),
            zlistx_size (self->waiting));
    return 0;
}

uint32_t
wa_server_running (wa_server_t *self)
{
    return (uint32_t) zlistx_size (self->active);
}

uint32_t
wa_server_waiting (wa_server_t *self)
{
    return (uint32_t) zlistx_size (self->waiting);
}
