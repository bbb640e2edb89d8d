//  Metering's database actor: batches in, one statement (one transaction) each,
//  results out.
#include "mtr_store.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define S_BACKOFF_MIN 200           //  ms before the first reconnect attempt
#define S_BACKOFF_MAX 5000
#define S_PING_MS 5000              //  idle this long: check the connection

//  One statement: insert the events not yet in the ledger, and add exactly
//  the rows really inserted to their hourly usage records. Rows go in a fixed
//  order so two metering replicas never deadlock on each other's locks.
static const char *s_insert_sql =
    "WITH ev AS ("
    "  SELECT * FROM unnest ($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],"
    "                        $6::int[], $7::int[], $8::int[], $9::int[], $10::text[],"
    "                        $11::int[], $12::bigint[])"
    "      AS e (request_id, tenant_id, key_id, model, pool, prompt_tokens,"
    "            completion_tokens, latency, ttft, status, http_status, created_ms)"
    "), ins AS ("
    "  INSERT INTO request_logs (request_id, tenant_id, key_id, model, pool, prompt_tokens,"
    "                            completion_tokens, latency, ttft, status, http_status,"
    "                            timestamp)"
    "  SELECT request_id, tenant_id, key_id, model, pool, prompt_tokens, completion_tokens,"
    "         latency, ttft, status, http_status,"
    "         to_timestamp (created_ms / 1000.0) AT TIME ZONE 'UTC'"
    "    FROM ev ORDER BY request_id"
    "  ON CONFLICT (request_id) DO NOTHING"
    "  RETURNING request_id, tenant_id, prompt_tokens, completion_tokens, timestamp"
    "), up AS ("
    "  INSERT INTO usage_records AS u (tenant_id, timestamp, tokens_used, request_count,"
    "                                  prompt_tokens, completion_tokens)"
    "  SELECT tenant_id, date_trunc ('hour', timestamp),"
    "         SUM (prompt_tokens::bigint + completion_tokens), COUNT (*),"
    "         SUM (prompt_tokens::bigint), SUM (completion_tokens::bigint)"
    "    FROM ins GROUP BY 1, 2 ORDER BY 1, 2"
    "  ON CONFLICT (tenant_id, timestamp) DO UPDATE SET"
    "    tokens_used = u.tokens_used + EXCLUDED.tokens_used,"
    "    request_count = u.request_count + EXCLUDED.request_count,"
    "    prompt_tokens = u.prompt_tokens + EXCLUDED.prompt_tokens,"
    "    completion_tokens = u.completion_tokens + EXCLUDED.completion_tokens"
    "  RETURNING 1"
    ")"
    "SELECT request_id FROM ins";

static atomic_bool s_up = false;

typedef struct {
    char *dsn;                      //  owned
    PGconn *conn;                   //  owned; NULL while down
    uint64_t retry_at;              //  mono ms of the next reconnect attempt
    int backoff;                    //  ms
    uint64_t used_at;               //  mono ms of the last statement
} s_args_t;

bool
mtr_store_up (void)
{
    return atomic_load (&s_up);
}

static void
s_set_up (bool up)
{
    bool was = atomic_exchange (&s_up, up);
    if (was != up)
        mt_log (up? "db-up": "db-down reason=\"database unreachable\"");
}

//  Log a result's error in one line, without data.
static void
s_log_error (const char *what, PGresult *res, PGconn *conn)
{
    char line [256];
    mt_pg_error_line (conn, res, line, sizeof line);
    const char *state = res? PQresultErrorField (res, PG_DIAG_SQLSTATE): NULL;
    mt_log ("db-error op=%s sqlstate=%s reason=\"%s\"", what, state? state: "-", line);
}

static void
s_disconnect (s_args_t *self)
{
    PQfinish (self->conn);
    self->conn = NULL;
    self->retry_at = mt_mono_ms () + (uint64_t) self->backoff;
    self->backoff = self->backoff * 2 > S_BACKOFF_MAX? S_BACKOFF_MAX: self->backoff * 2;
    s_set_up (false);
}

static int
s_session (PGconn *conn)
{
    return mt_pg_exec (conn, "SET statement_timeout = 30000");
}

//  Reconnect when due. Returns true when connected.
static bool
s_ensure (s_args_t *self)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        return true;
    if (self->conn) {
        s_disconnect (self);
        return false;
    }
    if (mt_mono_ms () < self->retry_at)
        return false;
    //  One attempt, bounded: the DSN's own settings, then a connect timeout
    const char *keys [] = { "dbname", "connect_timeout", NULL };
    const char *values [] = { self->dsn, "5", NULL };
    PGconn *conn = PQconnectdbParams (keys, values, 1);
    if (!conn || PQstatus (conn) != CONNECTION_OK || s_session (conn)) {
        char line [256];
        mt_pg_error_line (conn, NULL, line, sizeof line);
        mt_log ("db-reconnect-failed retry_in_ms=%d reason=\"%s\"", self->backoff, line);
        self->conn = conn;
        s_disconnect (self);
        return false;
    }
    self->conn = conn;
    self->backoff = S_BACKOFF_MIN;
    mt_log ("db-reconnected");
    s_set_up (true);
    return true;
}

//  A data problem of the rows themselves (class 22 data exception, class 23
//  integrity violation), not of the database.
static bool
s_data_error (PGresult *res)
{
    const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
    return state && (!strncmp (state, "22", 2) || !strncmp (state, "23", 2));
}

typedef enum { S_OK, S_DATA, S_FAIL } s_outcome_t;

//  Write the batch's pending events (or event `only`) in one statement (one
//  transaction, one round trip) and mark what was inserted.
static s_outcome_t
s_write (s_args_t *self, mtr_batch_t *batch, long only)
{
    char *params [MTR_PARAMS];
    int rows = mtr_batch_params (batch, only, params);
    if (rows < 0)
        return S_FAIL;
    s_outcome_t outcome = S_FAIL;
    PGresult *res = NULL;
    if (rows == 0) {
        outcome = S_OK;
        goto cleanup;
    }
    //  One statement in autocommit: its own transaction, one round trip. libpq
    //  returns PGRES_TUPLES_OK only once the server said ReadyForQuery after
    //  the implicit COMMIT; a failed commit or a lost connection is an error
    //  result, so nothing is marked (and nothing acknowledged) that is not
    //  durably in the ledger.
    res = PQexecParams (self->conn, s_insert_sql, MTR_PARAMS, NULL,
                        (const char * const *) params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        bool data = s_data_error (res);
        s_log_error (only < 0? "insert-batch": "insert-one", res, self->conn);
        outcome = data? S_DATA: S_FAIL;
        goto cleanup;
    }
    int n = PQntuples (res);
    for (int i = 0; i < n; i++)
        mtr_batch_mark (batch, PQgetvalue (res, i, 0), MTR_EV_STORED);
    outcome = S_OK;
cleanup:
    PQclear (res);
    mtr_params_free (params);
    return outcome;
}

//  One batch: the whole batch in one transaction; when a row's data is what
//  the database refuses, each event alone, so one bad event never blocks the
//  others (it is rejected and acknowledged, the rest stored).
static int
s_handle_batch (s_args_t *self, mtr_batch_t *batch)
{
    if (!s_ensure (self))
        return -1;
    s_outcome_t outcome = s_write (self, batch, -1);
    if (outcome == S_DATA) {
        mt_log ("batch-data-error events=%zu action=one_by_one", mtr_batch_size (batch));
        outcome = S_OK;
        for (size_t i = 0; i < mtr_batch_size (batch) && outcome == S_OK; i++) {
            mtr_event_t *e = mtr_batch_event (batch, i);
            if (e->first != i || e->state != MTR_EV_PENDING)
                continue;
            s_outcome_t one = s_write (self, batch, (long) i);
            if (one == S_DATA) {
                mtr_batch_mark (batch, e->event_id, MTR_EV_REJECTED);
                mt_log ("event-rejected req=%s tenant=%s reason=\"database refused its data\"",
                        e->event_id, e->tenant_id);
            }
            else
                outcome = one;
        }
    }
    if (outcome != S_OK) {
        if (PQstatus (self->conn) != CONNECTION_OK)
            s_disconnect (self);
        else
        if (PQtransactionStatus (self->conn) != PQTRANS_IDLE)
            PQclear (PQexec (self->conn, "ROLLBACK"));
        return -1;
    }
    mtr_batch_finish (batch);
    s_set_up (true);
    return 0;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_args_t *self = (s_args_t *) arg;
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    while (poller) {
        zsock_t *which = (zsock_t *) zpoller_wait (poller, 100);
        if (!which) {
            if (zpoller_terminated (poller))
                break;
            if (!self->conn)
                s_ensure (self);        //  come back up without waiting for traffic
            else
            if (mt_mono_ms () - self->used_at >= S_PING_MS) {
                //  Idle: notice a lost database before the next batch does
                self->used_at = mt_mono_ms ();
                if (mt_pg_exec (self->conn, "SELECT 1"))
                    s_disconnect (self);
            }
            continue;
        }
        char *cmd = NULL;
        void *ptr = NULL;
        if (zsock_recv (pipe, "sp", &cmd, &ptr) == -1) {
            free (cmd);
            break;
        }
        if (cmd && !strcmp (cmd, "$TERM")) {
            free (cmd);
            break;
        }
        if (cmd && !strcmp (cmd, "BATCH") && ptr) {
            mtr_batch_t *batch = (mtr_batch_t *) ptr;
            self->used_at = mt_mono_ms ();
            mtr_batch_set_rc (batch, s_handle_batch (self, batch));
            //  The main thread waits for this DONE before the next batch:
            //  never lose it (the pipe fails only while the context ends)
            int tries = 0;
            while (zsock_send (pipe, "sp", "DONE", batch) == -1) {
                if (tries++ % 100 == 0)
                    mt_log ("actor-done-failed tries=%d reason=\"%s\"", tries, zmq_strerror (errno));
                if (errno == ETERM || zsys_interrupted)
                    break;
                zclock_sleep (10);
            }
        }
        free (cmd);
    }
    zpoller_destroy (&poller);
    PQfinish (self->conn);
    free (self->dsn);
    free (self);
}

zactor_t *
mtr_store_new (const char *dsn, PGconn **conn_p)
{
    s_args_t *args = (s_args_t *) calloc (1, sizeof *args);
    PGconn *conn = *conn_p;
    *conn_p = NULL;
    if (!args || !(args->dsn = strdup (dsn))) {
        free (args);
        PQfinish (conn);
        return NULL;
    }
    args->conn = conn;
    args->backoff = S_BACKOFF_MIN;
    if (conn && s_session (conn)) {
        PQfinish (conn);
        args->conn = NULL;
    }
    s_set_up (args->conn != NULL);
    zactor_t *actor = zactor_new (s_actor, args);
    if (!actor) {
        PQfinish (args->conn);
        free (args->dsn);
        free (args);
    }
    return actor;
}
