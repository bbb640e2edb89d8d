//  The admin API and tenant-facing /v1/usage: the SQL handlers, run on the
//  store thread's connection (gw_store.c). Requests are routed and validated
//  by the pure half in gw_admin.c; every statement here takes parameters.
#include "gw_admin.h"
#include "gw_console.h"
#include "mt_log.h"
#include "mt_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_ISO(col) "to_char (" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

//  Columns of a tenant row, in the order s_tenant_json reads them
#define TENANT_SELECT \
    "SELECT t.id, t.name, t.tier, t.max_concurrent_requests, t.daily_token_limit," \
    " t.requests_per_minute, t.tokens_per_minute," \
    " COALESCE (t.max_concurrent_requests, r.max_concurrent_requests)," \
    " COALESCE (t.daily_token_limit, r.daily_token_limit)," \
    " COALESCE (t.requests_per_minute, r.requests_per_minute)," \
    " COALESCE (t.tokens_per_minute, r.tokens_per_minute)," \
    " r.weight, r.pool, " GW_ISO ("t.created_at") \
    " FROM tenants t JOIN tiers r ON r.name = t.tier WHERE t.deleted_at IS NULL"

#define NOW_UTC "(now () AT TIME ZONE 'UTC')"

//  A failed statement: 503 when the connection is gone, else 500.
static void
s_reply_db_error (PGconn *conn, gw_admin_reply_t *reply)
{
    if (!conn || PQstatus (conn) != CONNECTION_OK)
        gw_admin_reply_err (reply, "service_unavailable", NULL, "The database is unavailable.");
    else
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
}

//  Run a parameterised statement. Returns the result (caller clears) or NULL
//  on failure, logged, with the SQLSTATE in state ("" if none).
static PGresult *
s_query (PGconn *conn, const char *sql, int n, const char *const *params, char state [6])
{
    state [0] = 0;
    if (!conn)
        return NULL;
    PGresult *res = PQexecParams (conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus (res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    const char *code = PQresultErrorField (res, PG_DIAG_SQLSTATE);
    snprintf (state, 6, "%s", code? code: "");
    char line [256];
    snprintf (line, sizeof line, "%s", res? PQresultErrorMessage (res): PQerrorMessage (conn));
    line [strcspn (line, "\n")] = 0;
    //  Constraint violations are the client's doing: not worth a log line
    if (strcmp (state, "23505") && strcmp (state, "23503"))
        mt_log ("pg-error sqlstate=%s reason=\"%s\"", *state? state: "-", line);
    PQclear (res);
    return NULL;
}

static void
s_rollback (PGconn *conn)
{
    if (conn && PQstatus (conn) == CONNECTION_OK)
        PQclear (PQexec (conn, "ROLLBACK"));
}

//  BEGIN. Returns true when the transaction started.
static bool
s_begin (PGconn *conn)
{
    char state [6];
    PGresult *res = s_query (conn, "BEGIN", 0, NULL, state);
    PQclear (res);
    return res != NULL;
}

//  COMMIT. Returns 0 or -1 (a failed COMMIT has rolled back).
static int
s_commit (PGconn *conn)
{
    char state [6];
    PGresult *res = s_query (conn, "COMMIT", 0, NULL, state);
    //  COMMIT of an aborted transaction answers ROLLBACK without an error
    int rc = res && !strcmp (PQcmdStatus (res), "COMMIT")? 0: -1;
    PQclear (res);
    return rc;
}

static json_t *
s_int_or_null (const PGresult *res, int row, int col)
{
    if (PQgetisnull (res, row, col))
        return json_null ();
    return json_integer (strtoll (PQgetvalue (res, row, col), NULL, 10));
}

//  The tenant object of one TENANT_SELECT row. Caller owns.
static json_t *
s_tenant_json (const PGresult *res, int row)
{
    json_t *obj = json_object ();
    json_object_set_new (obj, "id", json_string (PQgetvalue (res, row, 0)));
    json_object_set_new (obj, "object", json_string ("tenant"));
    json_object_set_new (obj, "name", json_string (PQgetvalue (res, row, 1)));
    json_object_set_new (obj, "tier", json_string (PQgetvalue (res, row, 2)));
    json_t *eff = json_object ();
    for (int i = 0; i < GW_ADMIN_LIMITS; i++) {
        json_object_set_new (obj, gw_admin_limit_names [i], s_int_or_null (res, row, 3 + i));
        json_object_set_new (eff, gw_admin_limit_names [i], s_int_or_null (res, row, 7 + i));
    }
    json_object_set_new (eff, "weight", s_int_or_null (res, row, 11));
    json_object_set_new (eff, "pool", json_string (PQgetvalue (res, row, 12)));
    json_object_set_new (obj, "effective", eff);
    json_object_set_new (obj, "created_at", json_string (PQgetvalue (res, row, 13)));
    return obj;
}

//  Fetch one live tenant. Returns the object (caller owns), NULL with
//  *found false when there is none, NULL with *found true on error.
static json_t *
s_tenant_fetch (PGconn *conn, const char *id, bool *found)
{
    char state [6];
    const char *params [] = { id };
    *found = true;
    PGresult *res = s_query (conn, TENANT_SELECT " AND t.id = $1", 1, params, state);
    if (!res)
        return NULL;
    json_t *obj = NULL;
    if (PQntuples (res) == 1)
        obj = s_tenant_json (res, 0);
    else
        *found = false;
    PQclear (res);
    return obj;
}

//  Insert a fresh key for tenant_id (which must be live). Returns the key
//  object with "api_key" (caller owns), NULL with *found false when the tenant
//  is not live, NULL with *found true on error.
static json_t *
s_key_insert (PGconn *conn, const char *tenant_id, bool *found)
{
    char key [MT_KEY_LEN + 1], hash [65], prefix [13];
    *found = true;
    if (mt_key_generate (key))
        return NULL;
    mt_sha256_hex (key, strlen (key), hash);
    memcpy (prefix, key, sizeof prefix - 1);        //  the first 12 characters
    prefix [sizeof prefix - 1] = 0;
    const char *params [] = { tenant_id, hash, prefix };
    char state [6];
    PGresult *res = s_query (conn,
        "INSERT INTO api_keys (tenant_id, key_hash, prefix)"
        " SELECT id, $2, $3 FROM tenants WHERE id = $1 AND deleted_at IS NULL"
        " RETURNING id, tenant_id, " GW_ISO ("created_at"), 3, params, state);
    json_t *obj = NULL;
    if (res && PQntuples (res) == 1)
        obj = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}",
                         "id", PQgetvalue (res, 0, 0), "object", "api_key",
                         "tenant_id", PQgetvalue (res, 0, 1), "api_key", key,
                         "prefix", prefix, "created_at", PQgetvalue (res, 0, 2));
    else
    if (res)
        *found = false;
    PQclear (res);
    memset (key, 0, sizeof key);
    return obj;
}

//  Text of a limit value for a parameter.
static const char *
s_limit_param (const gw_tenant_input_t *in, int i, char buf [24])
{
    if (in->limit_state [i] != GW_FIELD_SET)
        return NULL;
    snprintf (buf, 24, "%lld", (long long) in->limit [i]);
    return buf;
}

//  A constraint violation of a tenant write, or a database error.
static void
s_reply_tenant_write_error (PGconn *conn, gw_admin_reply_t *reply, const char *state)
{
    if (!strcmp (state, "23505"))
        gw_admin_reply_err (reply, "conflict", "name", "A tenant with this name already exists.");
    else
    if (!strcmp (state, "23503"))
        gw_admin_reply_err (reply, "invalid_value", "tier", "Unknown tier.");
    else
        s_reply_db_error (conn, reply);
}

static void
s_tenant_create (PGconn *conn, const char *body, size_t body_len, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_tenant_input_t in;
    json_t *root = gw_admin_parse_body (body, body_len, &err), *tenant = NULL, *key = NULL;
    PGresult *res = NULL;
    bool in_tx = false, found;
    if (!root || gw_admin_check_tenant (root, true, &in, &err)) {
        free (reply->body);
        reply->body = gw_admin_err_body (&err, &reply->status);
        goto cleanup;
    }
    if (!(in_tx = s_begin (conn))) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    char b [GW_ADMIN_LIMITS][24];
    const char *params [] = { in.name, in.tier, s_limit_param (&in, 0, b [0]),
                              s_limit_param (&in, 1, b [1]), s_limit_param (&in, 2, b [2]),
                              s_limit_param (&in, 3, b [3]) };
    char state [6];
    res = s_query (conn,
        "INSERT INTO tenants (name, tier, max_concurrent_requests, daily_token_limit,"
        " requests_per_minute, tokens_per_minute)"
        " VALUES ($1, $2, $3::int, $4::bigint, $5::bigint, $6::bigint) RETURNING id",
        6, params, state);
    if (!res) {
        s_reply_tenant_write_error (conn, reply, state);
        goto cleanup;
    }
    char id [37];
    snprintf (id, sizeof id, "%s", PQgetvalue (res, 0, 0));
    key = s_key_insert (conn, id, &found);
    if (key)
        tenant = s_tenant_fetch (conn, id, &found);
    if (!key || !tenant) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    json_object_set (tenant, "api_key", json_object_get (key, "api_key"));
    json_object_set (tenant, "key_id", json_object_get (key, "id"));
    reply->changed = true;
    gw_admin_reply_json (reply, 201, tenant);
    tenant = NULL;
    mt_log ("tenant-created tenant=%s tier=%s", id, in.tier);
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (key);
    json_decref (tenant);
    json_decref (root);
}

static void
s_tenant_list (PGconn *conn, gw_admin_reply_t *reply)
{
    char state [6];
    PGresult *res = s_query (conn, TENANT_SELECT " ORDER BY t.created_at, t.id", 0, NULL, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        return;
    }
    json_t *data = json_array ();
    for (int i = 0; i < PQntuples (res); i++)
        json_array_append_new (data, s_tenant_json (res, i));
    PQclear (res);
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

static void
s_reply_no_tenant (gw_admin_reply_t *reply)
{
    gw_admin_reply_err (reply, "not_found", "id", "No tenant with this id.");
}

static void
s_reply_no_key (gw_admin_reply_t *reply)
{
    gw_admin_reply_err (reply, "not_found", "key_id", "No API key with this id.");
}

static void
s_tenant_get (PGconn *conn, const char *id, gw_admin_reply_t *reply)
{
    bool found;
    json_t *tenant = s_tenant_fetch (conn, id, &found);
    if (tenant)
        gw_admin_reply_json (reply, 200, tenant);
    else
    if (!found)
        s_reply_no_tenant (reply);
    else
        s_reply_db_error (conn, reply);
}

static void
s_tenant_patch (PGconn *conn, const char *id, const char *body, size_t body_len,
                gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_tenant_input_t in;
    json_t *root = gw_admin_parse_body (body, body_len, &err), *tenant = NULL;
    PGresult *res = NULL;
    bool in_tx = false, found;
    if (!root || gw_admin_check_tenant (root, false, &in, &err)) {
        free (reply->body);
        reply->body = gw_admin_err_body (&err, &reply->status);
        goto cleanup;
    }
    //  UPDATE tenants SET <only the fields given> WHERE id = $1: column
    //  names come from our own table, values are all parameters
    char sql [512] = "UPDATE tenants SET id = id";
    const char *params [2 + GW_ADMIN_LIMITS + 1] = { id };
    int n = 1;
    char b [GW_ADMIN_LIMITS][24];
    static const char *casts [GW_ADMIN_LIMITS] = { "int", "bigint", "bigint", "bigint" };
    if (in.name) {
        params [n++] = in.name;
        snprintf (sql + strlen (sql), sizeof sql - strlen (sql), ", name = $%d", n);
    }
    if (in.tier) {
        params [n++] = in.tier;
        snprintf (sql + strlen (sql), sizeof sql - strlen (sql), ", tier = $%d", n);
    }
    for (int i = 0; i < GW_ADMIN_LIMITS; i++) {
        if (in.limit_state [i] == GW_FIELD_ABSENT)
            continue;
        params [n++] = s_limit_param (&in, i, b [i]);     //  NULL clears
        snprintf (sql + strlen (sql), sizeof sql - strlen (sql), ", %s = $%d::%s",
                  gw_admin_limit_names [i], n, casts [i]);
    }
    snprintf (sql + strlen (sql), sizeof sql - strlen (sql),
              " WHERE id = $1 AND deleted_at IS NULL");
    if (!(in_tx = s_begin (conn))) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    char state [6];
    if (n > 1) {
        res = s_query (conn, sql, n, params, state);
        if (!res) {
            s_reply_tenant_write_error (conn, reply, state);
            goto cleanup;
        }
        if (strcmp (PQcmdTuples (res), "1")) {
            s_reply_no_tenant (reply);
            goto cleanup;
        }
    }
    tenant = s_tenant_fetch (conn, id, &found);
    if (!tenant) {
        if (found)
            s_reply_db_error (conn, reply);
        else
            s_reply_no_tenant (reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    reply->changed = n > 1;
    gw_admin_reply_json (reply, 200, tenant);
    tenant = NULL;
    mt_log ("tenant-updated tenant=%s fields=%d", id, n - 1);
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (tenant);
    json_decref (root);
}

//  Soft delete: deleted_at = now, every key revoked, in one transaction.
static void
s_tenant_delete (PGconn *conn, const char *id, gw_admin_reply_t *reply)
{
    PGresult *res = NULL;
    const char *params [] = { id };
    char state [6];
    bool in_tx = s_begin (conn);
    if (!in_tx) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    res = s_query (conn, "UPDATE tenants SET deleted_at = " NOW_UTC
                   " WHERE id = $1 AND deleted_at IS NULL", 1, params, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    if (strcmp (PQcmdTuples (res), "1")) {
        s_reply_no_tenant (reply);
        goto cleanup;
    }
    PQclear (res);
    res = s_query (conn, "UPDATE api_keys SET revoked_at = " NOW_UTC
                   " WHERE tenant_id = $1 AND revoked_at IS NULL", 1, params, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    char revoked [16];
    snprintf (revoked, sizeof revoked, "%s", PQcmdTuples (res));
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    reply->changed = true;
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:s, s:b}", "id", id,
                                                "object", "tenant", "deleted", 1));
    mt_log ("tenant-deleted tenant=%s keys_revoked=%s", id, revoked);
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
}

static void
s_key_create (PGconn *conn, const char *tenant_id, gw_admin_reply_t *reply)
{
    bool found;
    json_t *key = s_key_insert (conn, tenant_id, &found);
    if (key) {
        reply->changed = true;
        gw_admin_reply_json (reply, 201, key);
        mt_log ("key-created tenant=%s", tenant_id);
    }
    else
    if (!found)
        s_reply_no_tenant (reply);
    else
        s_reply_db_error (conn, reply);
}

static void
s_key_list (PGconn *conn, const char *tenant_id, gw_admin_reply_t *reply)
{
    bool found;
    const char *params [] = { tenant_id };
    char state [6];
    json_t *tenant = s_tenant_fetch (conn, tenant_id, &found);
    if (!tenant) {
        if (found)
            s_reply_db_error (conn, reply);
        else
            s_reply_no_tenant (reply);
        return;
    }
    json_decref (tenant);
    PGresult *res = s_query (conn,
        "SELECT id, tenant_id, prefix, " GW_ISO ("created_at") ", " GW_ISO ("revoked_at")
        " FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id", 1, params, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        return;
    }
    json_t *data = json_array ();
    for (int i = 0; i < PQntuples (res); i++) {
        json_t *k = json_pack ("{s:s, s:s, s:s, s:s, s:s}",
                               "id", PQgetvalue (res, i, 0), "object", "api_key",
                               "tenant_id", PQgetvalue (res, i, 1),
                               "prefix", PQgetvalue (res, i, 2),
                               "created_at", PQgetvalue (res, i, 3));
        json_object_set_new (k, "revoked_at", PQgetisnull (res, i, 4)? json_null ():
                             json_string (PQgetvalue (res, i, 4)));
        json_array_append_new (data, k);
    }
    PQclear (res);
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

//  Revoke a key. Revoking a revoked key again answers the first revocation.
static void
s_key_revoke (PGconn *conn, const char *key_id, gw_admin_reply_t *reply)
{
    const char *params [] = { key_id };
    char state [6];
    PGresult *res = s_query (conn,
        "UPDATE api_keys SET revoked_at = " NOW_UTC " WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING tenant_id, " GW_ISO ("revoked_at"), 1, params, state);
    if (res && PQntuples (res) == 1) {
        reply->changed = true;
        mt_log ("key-revoked tenant=%s key=%s", PQgetvalue (res, 0, 0), key_id);
    }
    else
    if (res) {
        PQclear (res);
        res = s_query (conn, "SELECT tenant_id, " GW_ISO ("revoked_at")
                       " FROM api_keys WHERE id = $1", 1, params, state);
    }
    if (!res)
        s_reply_db_error (conn, reply);
    else
    if (PQntuples (res) != 1)
        s_reply_no_key (reply);
    else
        gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:s, s:b, s:s}", "id", key_id,
                                                    "object", "api_key", "revoked", 1,
                                                    "revoked_at", PQgetvalue (res, 0, 1)));
    PQclear (res);
}

//  usage_records rows between the bounds, for one tenant ("" = all; under
//  row-level security the policy narrows it further). Adds the rows to data
//  and their tokens to *total. Returns 0 or -1.
static int
s_usage_rows (PGconn *conn, const gw_usage_query_t *q, json_t *data, int64_t *total)
{
    const char *params [] = { q->tenant_id [0]? q->tenant_id: NULL,
                              q->from [0]? q->from: NULL, q->to [0]? q->to: NULL };
    char state [6];
    PGresult *res = s_query (conn,
        "SELECT tenant_id, " GW_ISO ("timestamp") ", tokens_used, request_count,"
        " prompt_tokens, completion_tokens FROM usage_records"
        " WHERE ($1::uuid IS NULL OR tenant_id = $1::uuid)"
        " AND ($2::timestamp IS NULL OR timestamp >= $2::timestamp)"
        " AND ($3::timestamp IS NULL OR timestamp < $3::timestamp)"
        " ORDER BY timestamp, tenant_id", 3, params, state);
    if (!res)
        return -1;
    *total = 0;
    for (int i = 0; i < PQntuples (res); i++) {
        json_t *row = json_pack ("{s:s, s:s}", "tenant_id", PQgetvalue (res, i, 0),
                                 "timestamp", PQgetvalue (res, i, 1));
        static const char *cols [] = { "tokens_used", "request_count", "prompt_tokens",
                                       "completion_tokens" };
        for (int c = 0; c < 4; c++)
            json_object_set_new (row, cols [c], s_int_or_null (res, i, 2 + c));
        *total += strtoll (PQgetvalue (res, i, 2), NULL, 10);
        json_array_append_new (data, row);
    }
    PQclear (res);
    return 0;
}

static void
s_usage_admin (PGconn *conn, const char *query, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_usage_query_t q;
    if (gw_admin_usage_query (query, true, &q, &err)) {
        free (reply->body);
        reply->body = gw_admin_err_body (&err, &reply->status);
        return;
    }
    json_t *data = json_array ();
    int64_t total;
    if (s_usage_rows (conn, &q, data, &total)) {
        json_decref (data);
        s_reply_db_error (conn, reply);
        return;
    }
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

void
gw_admin_usage (PGconn *conn, const char *tenant_id, const char *query,
                gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_usage_query_t q;
    json_t *data = NULL;
    memset (reply, 0, sizeof *reply);
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        s_reply_db_error (conn, reply);
        return;
    }
    if (!tenant_id || !mt_is_uuid (tenant_id)) {
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
        return;
    }
    if (gw_admin_usage_query (query, false, &q, &err)) {
        reply->body = gw_admin_err_body (&err, &reply->status);
        return;
    }
    //  The filter is the policy's: the query itself names no tenant
    const char *params [] = { tenant_id };
    char state [6];
    bool in_tx = s_begin (conn);
    PGresult *res = NULL;
    if (!in_tx)
        goto failed;
    res = s_query (conn, "SET LOCAL ROLE mt_tenant", 0, NULL, state);
    if (!res)
        goto failed;
    PQclear (res);
    res = s_query (conn, "SELECT set_config ('mt.tenant_id', $1, true)", 1, params, state);
    if (!res)
        goto failed;
    data = json_array ();
    int64_t total;
    if (s_usage_rows (conn, &q, data, &total))
        goto failed;
    in_tx = false;
    if (s_commit (conn))
        goto failed;
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:s, s:o, s:I}", "object", "list",
                                                "tenant_id", tenant_id, "data", data,
                                                "total_tokens", (json_int_t) total));
    data = NULL;
    goto cleanup;
failed:
    s_reply_db_error (conn, reply);
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (data);
}

void
gw_admin_handle (PGconn *conn, const char *method, const char *path, const char *query,
                 const char *body, size_t body_len, gw_admin_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (gw_series_match (path)) {                   //  the console's usage charts
        gw_series_handle (conn, method, query, reply);
        return;
    }
    gw_admin_err_t err;
    char id [64];
    gw_admin_op_t op = gw_admin_route (method, path, id, &err);
    if (op == GW_ADMIN_NONE) {
        reply->body = gw_admin_err_body (&err, &reply->status);
        return;
    }
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        s_reply_db_error (conn, reply);
        return;
    }
    //  Ids in paths are UUIDs; anything else names nothing
    if (*id && !mt_is_uuid (id)) {
        if (op == GW_ADMIN_KEY_REVOKE)
            s_reply_no_key (reply);
        else
            s_reply_no_tenant (reply);
        return;
    }
    switch (op) {
        case GW_ADMIN_TENANT_CREATE: s_tenant_create (conn, body, body_len, reply); break;
        case GW_ADMIN_TENANT_LIST:   s_tenant_list (conn, reply); break;
        case GW_ADMIN_TENANT_GET:    s_tenant_get (conn, id, reply); break;
        case GW_ADMIN_TENANT_PATCH:  s_tenant_patch (conn, id, body, body_len, reply); break;
        case GW_ADMIN_TENANT_DELETE: s_tenant_delete (conn, id, reply); break;
        case GW_ADMIN_KEY_CREATE:    s_key_create (conn, id, reply); break;
        case GW_ADMIN_KEY_LIST:      s_key_list (conn, id, reply); break;
        case GW_ADMIN_KEY_REVOKE:    s_key_revoke (conn, id, reply); break;
        case GW_ADMIN_USAGE:         s_usage_admin (conn, query, reply); break;
        default:
            gw_admin_reply_err (reply, "internal_error", NULL, NULL);
            break;
    }
    if (!reply->body)
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
}
