//  Writes packed Envelopes of several body types into a directory: the seed
//  corpus of the codec target. run.sh builds and runs it on every fuzz run,
//  so the seeds follow proto/mt.proto; the copies under corpus/codec/ were
//  made with it.
//    gen_seeds DIR
#include "mt.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_write (const char *dir, const char *name, const Mt__Envelope *env)
{
    size_t size = mt__envelope__get_packed_size (env);
    uint8_t *buf = (uint8_t *) malloc (size);
    if (!buf)
        return -1;
    mt__envelope__pack (env, buf);
    char path [512];
    snprintf (path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen (path, "wb");
    int rc = f && fwrite (buf, 1, size, f) == size? 0: -1;
    if (f && fclose (f))
        rc = -1;
    free (buf);
    return rc;
}

int
main (int argc, char *argv [])
{
    if (argc != 2) {
        fprintf (stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    const char *dir = argv [1];
    int rc = 0;
    static const char request [] =
        "{\"model\":\"sim-small\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    Mt__JobSpec spec = MT__JOB_SPEC__INIT;
    spec.req_id = "req-0001";
    spec.tenant_id = "3f1c2a9e-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
    spec.model = "sim-small";
    spec.pool = "default";
    spec.kind = MT__JOB_KIND__KIND_CHAT;
    spec.prompt = "user: hi\n";
    spec.request_json.data = (uint8_t *) request;
    spec.request_json.len = sizeof request - 1;
    spec.max_tokens = 64;
    spec.prompt_tokens = 3;
    spec.reply_to = "tcp://127.0.0.1:5600";
    spec.submitted_ms = 1700000000000ull;
    spec.reply_token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";

    Mt__Envelope env = MT__ENVELOPE__INIT;
    Mt__Submit submit = MT__SUBMIT__INIT;
    submit.job = &spec;
    submit.weight = 4;
    submit.max_concurrent = 8;
    submit.requeue = 1;                 //  submitted again after a loss
    char *ended [] = { "req-0000", "req-ffff" };
    submit.ended = ended;               //  the tenant's jobs whose end reached the gateway
    submit.n_ended = 2;
    env.body_case = MT__ENVELOPE__BODY_SUBMIT;
    env.submit = &submit;
    rc |= s_write (dir, "submit", &env);

    Mt__Job job = MT__JOB__INIT;
    job.job = &spec;
    env.body_case = MT__ENVELOPE__BODY_JOB;
    env.job = &job;
    rc |= s_write (dir, "job", &env);

    Mt__SubmitReply reply = MT__SUBMIT_REPLY__INIT;
    reply.req_id = "req-0001";
    reply.accepted = 0;
    reply.code = MT__ERROR_CODE__ERR_NO_CAPACITY;
    reply.message = "no worker";
    reply.retry_after_s = 1;
    reply.scheduler_id = "5c4b3a29181706f5e4d3c2b1a0918273";
    reply.reply_token = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    env.body_case = MT__ENVELOPE__BODY_SUBMIT_REPLY;
    env.submit_reply = &reply;
    rc |= s_write (dir, "submit_reply", &env);

    char *pieces [] = { "Hello", ",", " world" };
    Mt__TokenChunk chunk = MT__TOKEN_CHUNK__INIT;
    chunk.req_id = "req-0001";
    chunk.n_pieces = 3;
    chunk.pieces = pieces;
    chunk.seq = 5;
    chunk.reply_token = spec.reply_token;
    env.body_case = MT__ENVELOPE__BODY_TOKEN_CHUNK;
    env.token_chunk = &chunk;
    rc |= s_write (dir, "token_chunk", &env);

    Mt__ChoiceDelta delta = MT__CHOICE_DELTA__INIT;
    Mt__ChoiceDelta *deltas [] = { &delta };
    const char *djson = "{\"index\":1,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
                        "{\"arguments\":\"{\\\"a\"}}]},\"finish_reason\":\"tool_calls\"}";
    delta.index = 1;
    delta.json.data = (uint8_t *) djson;
    delta.json.len = strlen (djson);
    delta.finish_reason = "tool_calls";
    delta.tokens = 1;
    Mt__TokenChunk rich = MT__TOKEN_CHUNK__INIT;
    rich.req_id = "req-0002";
    rich.n_choices = 1;
    rich.choices = deltas;
    rich.system_fingerprint = "fp_1";
    env.token_chunk = &rich;
    rc |= s_write (dir, "token_chunk_choices", &env);

    Mt__JobDone done = MT__JOB_DONE__INIT;
    done.req_id = "req-0001";
    done.worker_id = "w1";
    done.tenant_id = spec.tenant_id;
    done.prompt_tokens = 3;
    done.completion_tokens = 9;
    done.finish_reason = "stop";
    done.error = MT__ERROR_CODE__ERR_NONE;
    done.error_message = "";
    done.ttft_ms = 12;
    done.reply_token = spec.reply_token;
    env.body_case = MT__ENVELOPE__BODY_JOB_DONE;
    env.job_done = &done;
    rc |= s_write (dir, "job_done", &env);

    //  A short answer: its last tokens inside the gateway's JobDone
    Mt__TokenChunk tail = MT__TOKEN_CHUNK__INIT;
    tail.pieces = chunk.pieces;
    tail.n_pieces = chunk.n_pieces;
    tail.seq = 7;
    done.tokens = &tail;
    rc |= s_write (dir, "job_done_tokens", &env);
    done.tokens = &rich;
    rc |= s_write (dir, "job_done_choices", &env);
    done.tokens = NULL;

    Mt__Cancel cancel = MT__CANCEL__INIT;
    cancel.req_id = "req-0001";
    cancel.tenant_id = spec.tenant_id;
    cancel.reply_token = spec.reply_token;  //  one attempt of the job
    env.body_case = MT__ENVELOPE__BODY_CANCEL;
    env.cancel = &cancel;
    rc |= s_write (dir, "cancel", &env);

    char *models [] = { "sim-small", "sim-large" };
    Mt__WorkerReady ready = MT__WORKER_READY__INIT;
    ready.worker_id = "w1";
    ready.pool = "default";
    ready.n_models = 2;
    ready.models = models;
    ready.free_slots = 4;
    ready.total_slots = 4;
    env.body_case = MT__ENVELOPE__BODY_WORKER_READY;
    env.worker_ready = &ready;
    rc |= s_write (dir, "worker_ready", &env);

    Mt__Heartbeat beat = MT__HEARTBEAT__INIT;
    beat.sender = "w1";
    beat.free_slots = 2;
    beat.running = 2;
    beat.seq = 42;
    env.body_case = MT__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &beat;
    rc |= s_write (dir, "heartbeat", &env);

    Mt__PoolModels pool = MT__POOL_MODELS__INIT;
    pool.pool = "default";
    pool.n_models = 2;
    pool.models = models;
    pool.live_workers = 1;
    pool.queued = 0;
    Mt__PoolModels *pools [] = { &pool, &pool };
    Mt__Catalog catalog = MT__CATALOG__INIT;
    catalog.n_pools = 2;
    catalog.pools = pools;
    catalog.scheduler_id = reply.scheduler_id;
    catalog.warming_up = 1;
    catalog.heartbeat_seq = 42;
    env.body_case = MT__ENVELOPE__BODY_CATALOG;
    env.catalog = &catalog;
    rc |= s_write (dir, "catalog", &env);

    Mt__Limits limits = MT__LIMITS__INIT;
    limits.requests_per_minute = 60;
    limits.tokens_per_minute = 100000;
    limits.daily_tokens = 1000000;
    Mt__Admit admit = MT__ADMIT__INIT;
    admit.req_id = "req-0001";
    admit.tenant_id = spec.tenant_id;
    admit.prompt_tokens = 3;
    admit.max_tokens = 64;
    admit.limits = &limits;
    env.body_case = MT__ENVELOPE__BODY_ADMIT;
    env.admit = &admit;
    rc |= s_write (dir, "admit", &env);

    Mt__AdmitReply areply = MT__ADMIT_REPLY__INIT;
    areply.req_id = "req-0001";
    areply.ok = 0;
    areply.code = MT__ERROR_CODE__ERR_QUOTA;
    areply.reset_at = "2024-01-02T00:00:00Z";
    areply.limit_tokens = 100000;
    areply.reset_tokens_ms = 1234;
    env.body_case = MT__ENVELOPE__BODY_ADMIT_REPLY;
    env.admit_reply = &areply;
    rc |= s_write (dir, "admit_reply", &env);

    Mt__Settle settle = MT__SETTLE__INIT;
    settle.req_id = "req-0001";
    settle.tenant_id = spec.tenant_id;
    settle.used_tokens = 12;
    env.body_case = MT__ENVELOPE__BODY_SETTLE;
    env.settle = &settle;
    rc |= s_write (dir, "settle", &env);

    Mt__UsageEvent usage = MT__USAGE_EVENT__INIT;
    usage.event_id = "req-0001";
    usage.tenant_id = spec.tenant_id;
    usage.key_id = "5a0e8b1c-2d3f-4a5b-8c7d-9e0f1a2b3c4d";
    usage.model = "sim-small";
    usage.pool = "default";
    usage.prompt_tokens = 3;
    usage.completion_tokens = 9;
    usage.status = "ok";
    usage.http_status = 200;
    usage.created_ms = 1700000000000ull;
    env.body_case = MT__ENVELOPE__BODY_USAGE_EVENT;
    env.usage_event = &usage;
    rc |= s_write (dir, "usage_event", &env);

    char *ids [] = { "req-0001", "req-0002" };
    Mt__UsageAck ack = MT__USAGE_ACK__INIT;
    ack.n_event_ids = 2;
    ack.event_ids = ids;
    env.body_case = MT__ENVELOPE__BODY_USAGE_ACK;
    env.usage_ack = &ack;
    rc |= s_write (dir, "usage_ack", &env);

    Mt__JobProgress progress = MT__JOB_PROGRESS__INIT;
    progress.req_id = "req-0001";
    progress.completion_tokens = 16;
    env.body_case = MT__ENVELOPE__BODY_JOB_PROGRESS;
    env.job_progress = &progress;
    rc |= s_write (dir, "job_progress", &env);

    //  A Batch of a Settle, a JobProgress and a garbage item, as the codec
    //  sends what a loop turn held for one peer
    uint8_t items_buf [3][256];
    ProtobufCBinaryData items [3];
    env.body_case = MT__ENVELOPE__BODY_SETTLE;
    env.settle = &settle;
    items [0].len = mt__envelope__pack (&env, items_buf [0]);
    env.body_case = MT__ENVELOPE__BODY_JOB_PROGRESS;
    env.job_progress = &progress;
    items [1].len = mt__envelope__pack (&env, items_buf [1]);
    memcpy (items_buf [2], "\xff\x01garbage", 9);
    items [2].len = 9;
    for (int i = 0; i < 3; i++)
        items [i].data = items_buf [i];
    Mt__Batch batch = MT__BATCH__INIT;
    batch.n_envelopes = 3;
    batch.envelopes = items;
    env.body_case = MT__ENVELOPE__BODY_BATCH;
    env.batch = &batch;
    rc |= s_write (dir, "batch", &env);

    if (rc)
        fprintf (stderr, "gen_seeds: cannot write into %s\n", dir);
    return rc? 1: 0;
}
