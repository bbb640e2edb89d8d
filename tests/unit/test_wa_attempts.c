//  Component test of the worker-adapter with two attempts of one job (a
//  gateway that submitted a job again after a scheduler restart, the first
//  attempt still on this worker): the real wa_server (simulator) on
//  127.0.0.1, a fake scheduler (ROUTER) and a fake gateway token endpoint
//  (ROUTER). Checks, one case each: the same attempt twice is run once; a
//  second attempt before anything was sent takes over the sequence (its
//  reply token on every chunk and the JobDone); a second attempt of a
//  sequence that streams already is refused to the scheduler only; a Cancel
//  naming another attempt's token leaves the sequence alone; the last
//  tokens ride in the gateway's JobDone only.
#include "mt_test.h"
#include "mt_codec.h"
#include "mt_log.h"
#include "mt_util.h"
#include "../../services/worker-adapter/wa_server.h"

#include <czmq.h>

typedef struct {
    wa_server_t *wa;
    zsock_t *sched;             //  ROUTER: fake scheduler
    zsock_t *tokens;            //  ROUTER: fake gateway token endpoint
    char *token_endpoint;
    zframe_t *worker;           //  the worker's routing id at the scheduler
    //  what arrived
    int chunks, chunks_other;   //  chunks with the expected token, with another
    int done_gw, done_sched;    //  JobDones at the gateway, at the scheduler
    char want_token [40];       //  token chunks and JobDones should carry
    Mt__ErrorCode sched_error;  //  the last JobDone at the scheduler
    char sched_token [40];      //  ... and its token
    char sched_req [40];        //  ... and its request
    bool sched_tokens;          //  a JobDone at the scheduler carried tokens
    int done_gw_tokens;         //  JobDones at the gateway carrying tokens
    uint32_t pieces;            //  pieces at the gateway, chunks and JobDones
    uint32_t gaps;              //  a chunk whose seq is not the pieces before it
    uint32_t gw_completion;     //  the last gateway JobDone's completion tokens
} s_rig_t;

//  Pieces at the fake gateway, counted in order.
static void
s_pieces (s_rig_t *rig, const Mt__TokenChunk *chunk)
{
    if (chunk->seq != rig->pieces)
        rig->gaps++;
    rig->pieces += (uint32_t) chunk->n_pieces;
}

static void
s_drain (s_rig_t *rig)
{
    zframe_t *rid = NULL;
    Mt__Envelope *env = NULL;
    while (mt_codec_recv_next (rig->sched, &rid, &env)) {
        if (!rig->worker && rid)
            rig->worker = zframe_dup (rid);
        zframe_destroy (&rid);
        if (env && env->body_case == MT__ENVELOPE__BODY_JOB_DONE) {
            rig->done_sched++;
            rig->sched_error = env->job_done->error;
            snprintf (rig->sched_token, sizeof rig->sched_token, "%s", env->job_done->reply_token);
            snprintf (rig->sched_req, sizeof rig->sched_req, "%s", env->job_done->req_id);
            rig->sched_tokens |= env->job_done->tokens != NULL;
        }
        mt_codec_free (&env);
    }
    while (mt_codec_recv_next (rig->tokens, &rid, &env)) {
        zframe_destroy (&rid);
        if (env && env->body_case == MT__ENVELOPE__BODY_TOKEN_CHUNK) {
            if (!strcmp (env->token_chunk->reply_token, rig->want_token))
                rig->chunks++;
            else
                rig->chunks_other++;
            s_pieces (rig, env->token_chunk);
        }
        if (env && env->body_case == MT__ENVELOPE__BODY_JOB_DONE) {
            rig->done_gw++;
            rig->gw_completion = env->job_done->completion_tokens;
            if (strcmp (env->job_done->reply_token, rig->want_token))
                rig->chunks_other++;
            if (env->job_done->tokens) {
                rig->done_gw_tokens++;
                //  the last tokens, under the JobDone's own name and token
                if (strcmp (env->job_done->tokens->reply_token, "")
                ||  strcmp (env->job_done->tokens->req_id, ""))
                    rig->chunks_other++;
                s_pieces (rig, env->job_done->tokens);
            }
        }
        mt_codec_free (&env);
    }
}

static void
s_pump (s_rig_t *rig, int ms)
{
    uint64_t end = mt_mono_ms () + (uint64_t) ms;
    while (mt_mono_ms () < end) {
        wa_server_poll (rig->wa, 2);
        s_drain (rig);
    }
}

//  Pump until the scheduler got a JobDone of req (bounded); true if it did.
static bool
s_until_done (s_rig_t *rig, const char *req)
{
    uint64_t end = mt_mono_ms () + 5000;
    while (strcmp (rig->sched_req, req) && mt_mono_ms () < end)
        s_pump (rig, 5);
    return !strcmp (rig->sched_req, req);
}

static void
s_job (s_rig_t *rig, const char *req, const char *token)
{
    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = (char *) req;
    spec.tenant_id = "t1";
    spec.model = "m1";
    spec.pool = "standard";
    spec.prompt = (char *) req;
    spec.prompt_tokens = 2;
    spec.max_tokens = 8;
    spec.reply_to = rig->token_endpoint;
    spec.reply_token = (char *) token;
    Mt__Job job = MT__JOB__INIT;
    job.job = &spec;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_JOB;
    env.job = &job;
    zframe_t *rid = zframe_dup (rig->worker);
    mt_codec_send (rig->sched, rid, &env);
    zframe_destroy (&rid);
}

static void
s_cancel (s_rig_t *rig, const char *req, const char *token)
{
    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = (char *) req;
    cancel.tenant_id = "t1";
    cancel.reply_token = (char *) token;
    Mt__Envelope env = MT__ENVELOPE__INIT;
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    zframe_t *rid = zframe_dup (rig->worker);
    mt_codec_send (rig->sched, rid, &env);
    zframe_destroy (&rid);
}

static void
s_reset (s_rig_t *rig, const char *want)
{
    rig->chunks = rig->chunks_other = rig->done_gw = rig->done_sched = 0;
    rig->sched_error = MT__ERROR_CODE__ERR_NONE;
    rig->sched_token [0] = 0;
    rig->sched_req [0] = 0;
    rig->sched_tokens = false;
    rig->done_gw_tokens = 0;
    rig->pieces = rig->gaps = rig->gw_completion = 0;
    snprintf (rig->want_token, sizeof rig->want_token, "%s", want);
}

int
main (void)
{
    mt_log_init ("test_wa_attempts");
    s_rig_t rig_s = { 0 }, *rig = &rig_s;
    rig->sched = zsock_new (ZMQ_ROUTER);
    rig->tokens = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (rig->sched, 0);
    zsock_set_linger (rig->tokens, 0);
    CHECK (zsock_bind (rig->sched, "tcp://127.0.0.1:*") > 0);
    CHECK (zsock_bind (rig->tokens, "tcp://127.0.0.1:*") > 0);
    rig->token_endpoint = zsock_last_endpoint (rig->tokens);
    char *sched_ep = zsock_last_endpoint (rig->sched);
    const char *models [] = { "m1" };
    wa_server_config_t config = {
        .scheduler = sched_ep, .worker_id = "w-attempts", .pool = "standard",
        .models = models, .nmodels = 1, .slots = 4, .sim_ttft_ms = 150, .sim_itl_ms = 50,
        .sim_tokens = 8, .ready_interval_ms = 100,
    };
    rig->wa = wa_server_new (&config);
    CHECK (rig->wa != NULL);
    uint64_t until = mt_mono_ms () + 3000;
    while (rig->wa && !rig->worker && mt_mono_ms () < until)
        s_pump (rig, 10);
    CHECK (rig->worker != NULL);
    if (!rig->wa || !rig->worker)
        return mt_test_done ("test_wa_attempts");

    mt_test_case ("the same attempt twice runs once");
    s_reset (rig, "aaaa");
    s_job (rig, "r-same", "aaaa");
    s_job (rig, "r-same", "aaaa");
    CHECK (s_until_done (rig, "r-same"));
    s_pump (rig, 100);
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->done_sched, 1);
    CHECK (rig->chunks > 0);
    CHECK_INT (rig->chunks_other, 0);

    mt_test_case ("the last tokens ride in the gateway's JobDone, not the scheduler's");
    s_reset (rig, "aaaa");
    s_job (rig, "r-tail", "aaaa");
    CHECK (s_until_done (rig, "r-tail"));
    s_pump (rig, 50);
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->done_gw_tokens, 1);
    CHECK (!rig->sched_tokens);
    CHECK_INT (rig->chunks_other, 0);
    CHECK_INT (rig->gaps, 0);
    CHECK (rig->pieces > 0);
    CHECK_INT (rig->pieces, rig->gw_completion);  //  every piece once

    mt_test_case ("a second attempt before the first token takes over the sequence");
    s_reset (rig, "bbbb");
    s_job (rig, "r-early", "aaaa");
    s_pump (rig, 30);                           //  started, first token due at 150 ms
    s_job (rig, "r-early", "bbbb");
    CHECK (s_until_done (rig, "r-early"));
    s_pump (rig, 20);
    CHECK (rig->chunks > 0);
    CHECK_INT (rig->chunks_other, 0);           //  nothing under the first token
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->done_sched, 1);
    CHECK_STR (rig->sched_token, "bbbb");
    CHECK_INT (rig->sched_error, MT__ERROR_CODE__ERR_NONE);

    mt_test_case ("a second attempt of a streaming sequence is refused to the scheduler only");
    s_reset (rig, "aaaa");
    s_job (rig, "r-late", "aaaa");
    s_pump (rig, 220);                          //  tokens flow under aaaa
    CHECK (rig->chunks > 0);
    s_job (rig, "r-late", "cccc");
    CHECK (s_until_done (rig, "r-late"));       //  the refusal
    CHECK_INT (rig->done_sched, 1);
    CHECK_STR (rig->sched_token, "cccc");
    CHECK_INT (rig->sched_error, MT__ERROR_CODE__ERR_CANCELLED);
    CHECK_INT (rig->done_gw, 0);                //  the gateway keeps the first
    rig->sched_req [0] = 0;
    CHECK (s_until_done (rig, "r-late"));
    s_pump (rig, 20);
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->chunks_other, 0);

    mt_test_case ("a cancel naming another attempt leaves the sequence alone");
    s_reset (rig, "aaaa");
    s_job (rig, "r-cancel", "aaaa");
    s_pump (rig, 30);
    s_cancel (rig, "r-cancel", "dddd");
    CHECK (s_until_done (rig, "r-cancel"));
    s_pump (rig, 20);
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->sched_error, MT__ERROR_CODE__ERR_NONE);
    s_reset (rig, "aaaa");
    s_job (rig, "r-cancel2", "aaaa");
    s_pump (rig, 30);
    s_cancel (rig, "r-cancel2", "aaaa");        //  its own token: cancelled
    CHECK (s_until_done (rig, "r-cancel2"));
    s_pump (rig, 20);
    CHECK_INT (rig->done_gw, 1);
    CHECK_INT (rig->sched_error, MT__ERROR_CODE__ERR_CANCELLED);

    wa_server_destroy (&rig->wa);
    zframe_destroy (&rig->worker);
    zsock_destroy (&rig->sched);
    zsock_destroy (&rig->tokens);
    zstr_free (&rig->token_endpoint);
    zstr_free (&sched_ep);
    return mt_test_done ("test_wa_attempts");
}
