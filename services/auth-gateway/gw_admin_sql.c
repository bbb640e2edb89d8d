//  The admin API and tenant-facing /v1/usage: the SQL handlers, run on the
//  store thread's connection (gw_store.c). Requests are routed and validated
//  by the pure half in gw_admin.c; every statement here takes parameters.
#include "gw_admin.h"
#include "gw_console.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <openssl/crypto.h>
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
    mt_pg_error_line (conn, res, line, sizeof line);
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

//  One result row as an object: every column by its name, text or null.
//  Caller owns.
static json_t *
s_row_object (const PGresult *res, int row)
{
    json_t *obj = json_object ();
    for (int c = 0; c < PQnfields (res); c++)
        json_object_set_new (obj, PQfname (res, c), PQgetisnull (res, row, c)? json_null ():
                             json_string (PQgetvalue (res, row, c)));
    return obj;
}

//  Columns of an API key row (never its hash), as s_row_object names them.
//  revoked_at is when it stopped or stops working: revoked, or revoke_at
//  once passed.
#define KEY_SELECT \
    "SELECT id, 'api_key' AS object, tenant_id, name, prefix," \
    " " GW_ISO ("created_at") " AS created_at, " GW_ISO ("expires_at") " AS expires_at," \
    " " GW_ISO ("revoke_at") " AS revoke_at," \
    " " GW_ISO ("COALESCE (revoked_at, CASE WHEN revoke_at <= " NOW_UTC " THEN revoke_at END)") \
    " AS revoked_at, " GW_ISO ("last_used_at") " AS last_used_at," \
    " CASE WHEN revoked_at IS NOT NULL OR revoke_at <= " NOW_UTC " THEN 'revoked'" \
    "      WHEN expires_at <= " NOW_UTC " THEN 'expired' ELSE 'active' END AS status" \
    " FROM api_keys"

//  Columns of an admin token row (never its hash).
#define ADMIN_SELECT \
    "SELECT id, 'admin_token' AS object, name, role, prefix," \
    " " GW_ISO ("created_at") " AS created_at, created_by," \
    " " GW_ISO ("revoked_at") " AS revoked_at FROM admin_tokens"

//  Write the audit row of a change, inside the caller's transaction. before
//  and after are borrowed (NULL = SQL NULL). Returns 0 or -1.
static int
s_audit (PGconn *conn, const gw_admin_who_t *who, const char *action, const char *target_type,
         const char *target_id, const char *tenant_id, json_t *before, json_t *after)
{
    char *b = before? json_dumps (before, JSON_COMPACT | JSON_SORT_KEYS): NULL;
    char *a = after? json_dumps (after, JSON_COMPACT | JSON_SORT_KEYS): NULL;
    const char *params [] = { who && *who->name? who->name: "unknown",
                              who && mt_is_uuid (who->token_id)? who->token_id: NULL,
                              action, target_type, target_id,
                              tenant_id && mt_is_uuid (tenant_id)? tenant_id: NULL, b, a,
                              who && *who->request_id? who->request_id: NULL };
    char state [6];
    PGresult *res = s_query (conn,
        "INSERT INTO audit_log (admin_name, admin_id, action, target_type, target_id,"
        " tenant_id, before, after, request_id)"
        " VALUES ($1, $2::uuid, $3, $4, $5, $6::uuid, $7::jsonb, $8::jsonb, $9)",
        9, params, state);
    free (b);
    free (a);
    PQclear (res);
    return res? 0: -1;
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

//  Fetch one API key by id. Returns the object (caller owns), NULL with
//  *found false when there is none, NULL with *found true on error.
//  lock: FOR UPDATE, inside a transaction.
static json_t *
s_key_fetch (PGconn *conn, const char *key_id, bool lock, bool *found)
{
    char state [6];
    const char *params [] = { key_id };
    *found = true;
    PGresult *res = s_query (conn, lock? KEY_SELECT " WHERE id = $1 FOR UPDATE":
                             KEY_SELECT " WHERE id = $1", 1, params, state);
    if (!res)
        return NULL;
    json_t *obj = NULL;
    if (PQntuples (res) == 1)
        obj = s_row_object (res, 0);
    else
        *found = false;
    PQclear (res);
    return obj;
}

//  Insert a fresh key for tenant_id (which must be live), with an optional
//  name and expiry (in). Returns the key object with "api_key" (caller
//  owns), NULL with *found false when the tenant is not live, NULL with
//  *found true on error.
static json_t *
s_key_insert (PGconn *conn, const char *tenant_id, const gw_key_input_t *in, bool *found)
{
    char key [MT_KEY_LEN + 1], hash [65], prefix [13];
    *found = true;
    if (mt_key_generate (key))
        return NULL;
    mt_sha256_hex (key, strlen (key), hash);
    memcpy (prefix, key, sizeof prefix - 1);        //  the first 12 characters
    prefix [sizeof prefix - 1] = 0;
    const char *params [] = { tenant_id, hash, prefix,
                              in && in->name_state == GW_FIELD_SET? in->name: NULL,
                              in && in->expires_state == GW_FIELD_SET? in->expires_at: NULL };
    char state [6];
    PGresult *res = s_query (conn,
        "INSERT INTO api_keys (tenant_id, key_hash, prefix, name, expires_at)"
        " SELECT id, $2, $3, $4, $5::timestamp FROM tenants WHERE id = $1 AND deleted_at IS NULL"
        " RETURNING id", 5, params, state);
    json_t *obj = NULL;
    if (res && PQntuples (res) == 1) {
        char id [37];
        snprintf (id, sizeof id, "%s", PQgetvalue (res, 0, 0));
        bool there;
        obj = s_key_fetch (conn, id, false, &there);
        if (obj)
            json_object_set_new (obj, "api_key", json_string (key));
    }
    else
    if (res)
        *found = false;
    PQclear (res);
    OPENSSL_cleanse (key, sizeof key);
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
s_tenant_create (PGconn *conn, const gw_admin_who_t *who, const char *body, size_t body_len,
                 gw_admin_reply_t *reply)
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
    key = s_key_insert (conn, id, NULL, &found);
    if (key)
        tenant = s_tenant_fetch (conn, id, &found);
    if (!key || !tenant) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    json_object_set (tenant, "key_id", json_object_get (key, "id"));
    if (s_audit (conn, who, "tenant.create", "tenant", id, id, NULL, tenant)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    json_object_set (tenant, "api_key", json_object_get (key, "api_key"));
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

//  A refused body or query string: err in OpenAI's shape.
static void
s_reply_input_err (gw_admin_reply_t *reply, const gw_admin_err_t *err)
{
    free (reply->body);
    reply->body = gw_admin_err_body (err, &reply->status);
}

//  BEGIN and fetch the key FOR UPDATE. Returns it (caller owns) inside the
//  open transaction, or NULL with reply set and no transaction left open.
static json_t *
s_key_begin (PGconn *conn, const char *key_id, gw_admin_reply_t *reply)
{
    bool found;
    if (!s_begin (conn)) {
        s_reply_db_error (conn, reply);
        return NULL;
    }
    json_t *key = s_key_fetch (conn, key_id, true, &found);
    if (!key) {
        if (found)
            s_reply_db_error (conn, reply);
        else
            s_reply_no_key (reply);
        s_rollback (conn);
    }
    return key;
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
s_tenant_patch (PGconn *conn, const gw_admin_who_t *who, const char *id, const char *body,
                size_t body_len, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_tenant_input_t in;
    json_t *root = gw_admin_parse_body (body, body_len, &err), *tenant = NULL, *before = NULL;
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
        //  The row as it was, locked until this transaction ends
        PGresult *lock = s_query (conn, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE",
                                  1, params, state);
        PQclear (lock);
        before = lock? s_tenant_fetch (conn, id, &found): NULL;
        if (!before) {
            if (lock && !found)
                s_reply_no_tenant (reply);
            else
                s_reply_db_error (conn, reply);
            goto cleanup;
        }
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
    if (n > 1 && s_audit (conn, who, "tenant.update", "tenant", id, id, before, tenant)) {
        s_reply_db_error (conn, reply);
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
    json_decref (before);
    json_decref (root);
}

//  Soft delete: deleted_at = now, every key revoked, in one transaction.
static void
s_tenant_delete (PGconn *conn, const gw_admin_who_t *who, const char *id,
                 gw_admin_reply_t *reply)
{
    PGresult *res = NULL;
    const char *params [] = { id };
    char state [6];
    bool found;
    json_t *before = NULL, *after = NULL;
    bool in_tx = s_begin (conn);
    if (!in_tx) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    res = s_query (conn, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", 1, params, state);
    before = res? s_tenant_fetch (conn, id, &found): NULL;
    if (!before) {
        if (res && !found)
            s_reply_no_tenant (reply);
        else
            s_reply_db_error (conn, reply);
        goto cleanup;
    }
    PQclear (res);
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
    after = json_pack ("{s:s, s:b, s:I}", "id", id, "deleted", 1,
                       "keys_revoked", (json_int_t) strtoll (revoked, NULL, 10));
    if (s_audit (conn, who, "tenant.delete", "tenant", id, id, before, after)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
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
    json_decref (before);
    json_decref (after);
}

static void
s_key_create (PGconn *conn, const gw_admin_who_t *who, const char *tenant_id,
              const char *body, size_t body_len, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_key_input_t in;
    json_t *root = NULL, *key = NULL;
    bool found, in_tx = false;
    //  An empty body is fine: a key without name or expiry
    if ((body_len && !(root = gw_admin_parse_body (body, body_len, &err)))
    ||  gw_admin_check_key (root, true, &in, &err)) {
        s_reply_input_err (reply, &err);
        goto cleanup;
    }
    if (!(in_tx = s_begin (conn))) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    key = s_key_insert (conn, tenant_id, &in, &found);
    if (!key) {
        if (found)
            s_reply_db_error (conn, reply);
        else
            s_reply_no_tenant (reply);
        goto cleanup;
    }
    //  The audit row gets the key without its secret
    json_t *secret = json_incref (json_object_get (key, "api_key"));
    json_object_del (key, "api_key");
    int rc = s_audit (conn, who, "key.create", "api_key",
                      json_string_value (json_object_get (key, "id")), tenant_id, NULL, key);
    json_object_set_new (key, "api_key", secret);
    in_tx = false;
    if (rc || s_commit (conn)) {
        if (rc)
            s_rollback (conn);
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    json_object_set (key, "key_id", json_object_get (key, "id"));
    reply->changed = true;
    gw_admin_reply_json (reply, 201, key);
    key = NULL;
    mt_log ("key-created tenant=%s", tenant_id);
cleanup:
    if (in_tx)
        s_rollback (conn);
    json_decref (key);
    json_decref (root);
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
    //  Qualified: a bare created_at would be the text column above (whole seconds)
    PGresult *res = s_query (conn, KEY_SELECT " WHERE tenant_id = $1 ORDER BY api_keys.created_at, id",
                             1, params, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        return;
    }
    json_t *data = json_array ();
    for (int i = 0; i < PQntuples (res); i++)
        json_array_append_new (data, s_row_object (res, i));
    PQclear (res);
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

//  PATCH /admin/v1/keys/{id}: name, expires_at, revoke_at (null clears).
//  A revoked key cannot be changed (409).
static void
s_key_patch (PGconn *conn, const gw_admin_who_t *who, const char *key_id, const char *body,
             size_t body_len, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_key_input_t in;
    json_t *root = gw_admin_parse_body (body, body_len, &err), *before = NULL, *after = NULL;
    PGresult *res = NULL;
    bool in_tx = false, found;
    if (!root || gw_admin_check_key (root, false, &in, &err)) {
        s_reply_input_err (reply, &err);
        goto cleanup;
    }
    if (!(before = s_key_begin (conn, key_id, reply)))
        goto cleanup;
    in_tx = true;
    if (!json_is_null (json_object_get (before, "revoked_at"))) {
        gw_admin_reply_err (reply, "conflict", "key_id", "This API key is revoked.");
        goto cleanup;
    }
    if (in.name_state == GW_FIELD_ABSENT && in.expires_state == GW_FIELD_ABSENT
    &&  in.revoke_state == GW_FIELD_ABSENT) {
        gw_admin_reply_json (reply, 200, before);       //  nothing to change, nothing to audit
        before = NULL;
        goto cleanup;
    }
    //  $2..$4 set a field when the matching flag $5..$7 is true
    const char *params [] = { key_id,
        in.name_state == GW_FIELD_SET? in.name: NULL,
        in.expires_state == GW_FIELD_SET? in.expires_at: NULL,
        in.revoke_state == GW_FIELD_SET? in.revoke_at: NULL,
        in.name_state != GW_FIELD_ABSENT? "t": "f",
        in.expires_state != GW_FIELD_ABSENT? "t": "f",
        in.revoke_state != GW_FIELD_ABSENT? "t": "f" };
    char state [6];
    res = s_query (conn,
        "UPDATE api_keys SET"
        " name = CASE WHEN $5::bool THEN $2 ELSE name END,"
        " expires_at = CASE WHEN $6::bool THEN $3::timestamp ELSE expires_at END,"
        " revoke_at = CASE WHEN $7::bool THEN $4::timestamp ELSE revoke_at END"
        " WHERE id = $1", 7, params, state);
    after = res? s_key_fetch (conn, key_id, false, &found): NULL;
    if (!after || s_audit (conn, who, "key.update", "api_key", key_id,
                           json_string_value (json_object_get (before, "tenant_id")),
                           before, after)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    reply->changed = true;
    gw_admin_reply_json (reply, 200, after);
    after = NULL;
    mt_log ("key-updated key=%s", key_id);
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (before);
    json_decref (after);
    json_decref (root);
}

//  Revoke a key now, or schedule it (?grace_seconds=N or ?revoke_at=T).
//  Revoking a revoked key again answers the first revocation.
static void
s_key_revoke (PGconn *conn, const gw_admin_who_t *who, const char *key_id, const char *query,
              gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    int64_t grace;
    char revoke_at [20];
    json_t *before = NULL, *after = NULL;
    PGresult *res = NULL;
    bool found, in_tx = false;
    if (gw_admin_revoke_query (query, &grace, revoke_at, &err)) {
        s_reply_input_err (reply, &err);
        goto cleanup;
    }
    if (!(before = s_key_begin (conn, key_id, reply)))
        goto cleanup;
    in_tx = true;
    bool now = grace == 0;
    if (json_is_null (json_object_get (before, "revoked_at"))) {
        char grace_text [24];
        snprintf (grace_text, sizeof grace_text, "%lld", (long long) (grace > 0? grace: 0));
        const char *params [] = { key_id, grace < 0? revoke_at: NULL, grace_text };
        char state [6];
        res = s_query (conn, now?
            "UPDATE api_keys SET revoked_at = " NOW_UTC " WHERE id = $1":
            "UPDATE api_keys SET revoke_at = COALESCE ($2::timestamp,"
            " " NOW_UTC " + make_interval (secs => $3::bigint)) WHERE id = $1",
            now? 1: 3, params, state);
        after = res? s_key_fetch (conn, key_id, false, &found): NULL;
        if (!after || s_audit (conn, who, now? "key.revoke": "key.schedule_revoke", "api_key",
                               key_id, json_string_value (json_object_get (before, "tenant_id")),
                               before, after)) {
            s_reply_db_error (conn, reply);
            goto cleanup;
        }
        reply->changed = true;
    }
    else
        after = json_incref (before);
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        reply->changed = false;
        goto cleanup;
    }
    json_object_set_new (after, "revoked", json_boolean (!json_is_null (json_object_get (after, "revoked_at"))));
    if (reply->changed)
        mt_log ("key-revoked tenant=%s key=%s at=%s", json_string_value (json_object_get (after, "tenant_id")),
                key_id, now? "now": json_string_value (json_object_get (after, "revoke_at")));
    gw_admin_reply_json (reply, 200, after);
    after = NULL;
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (before);
    json_decref (after);
}

//  ---------------------------------------------------------------------
//  Admin tokens

#define GW_ADMIN_TOKEN_PREFIX "mt-adm-"

static void
s_reply_no_admin (gw_admin_reply_t *reply)
{
    gw_admin_reply_err (reply, "not_found", "id", "No admin token with this id.");
}

static void
s_admin_list (PGconn *conn, gw_admin_reply_t *reply)
{
    char state [6];
    PGresult *res = s_query (conn, ADMIN_SELECT " ORDER BY admin_tokens.created_at, id", 0, NULL, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        return;
    }
    json_t *data = json_array ();
    for (int i = 0; i < PQntuples (res); i++)
        json_array_append_new (data, s_row_object (res, i));
    PQclear (res);
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

//  Insert an admin token with hash and prefix; returns its row object (caller
//  owns) or NULL, with the SQLSTATE in state.
static json_t *
s_admin_insert (PGconn *conn, const char *name, const char *role, const char *hash,
                const char *prefix, const char *created_by, char state [6])
{
    const char *params [] = { name, role, hash, prefix, created_by };
    PGresult *res = s_query (conn,
        "WITH t AS (INSERT INTO admin_tokens (name, role, token_hash, prefix, created_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *)"
        " SELECT id, 'admin_token' AS object, name, role, prefix,"
        " " GW_ISO ("created_at") " AS created_at, created_by,"
        " " GW_ISO ("revoked_at") " AS revoked_at FROM t", 5, params, state);
    json_t *obj = res && PQntuples (res) == 1? s_row_object (res, 0): NULL;
    PQclear (res);
    return obj;
}

static void
s_admin_create (PGconn *conn, const gw_admin_who_t *who, const char *body, size_t body_len,
                gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_admin_input_t in;
    json_t *root = gw_admin_parse_body (body, body_len, &err), *obj = NULL;
    char token [64], hash [65], prefix [13], state [6];
    bool in_tx = false;
    memcpy (token, GW_ADMIN_TOKEN_PREFIX, sizeof GW_ADMIN_TOKEN_PREFIX);
    if (!root || gw_admin_check_admin (root, &in, &err)) {
        s_reply_input_err (reply, &err);
        goto cleanup;
    }
    if (mt_random_hex (token + strlen (token), 24)) {
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
        goto cleanup;
    }
    mt_sha256_hex (token, strlen (token), hash);
    memcpy (prefix, token, sizeof prefix - 1);
    prefix [sizeof prefix - 1] = 0;
    if (!(in_tx = s_begin (conn))) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    obj = s_admin_insert (conn, in.name, in.viewer? "viewer": "admin", hash, prefix, who->name,
                          state);
    if (!obj) {
        if (!strcmp (state, "23505"))
            gw_admin_reply_err (reply, "conflict", "name",
                                "A live admin token with this name already exists.");
        else
            s_reply_db_error (conn, reply);
        goto cleanup;
    }
    const char *id = json_string_value (json_object_get (obj, "id"));
    if (s_audit (conn, who, "admin_token.create", "admin_token", id, NULL, NULL, obj)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    mt_log ("admin-token-created id=%s role=%s by=\"%s\"", id, in.viewer? "viewer": "admin",
            who->name);
    json_object_set_new (obj, "token", json_string (token));
    reply->changed = true;
    gw_admin_reply_json (reply, 201, obj);
    obj = NULL;
cleanup:
    if (in_tx)
        s_rollback (conn);
    OPENSSL_cleanse (token, sizeof token);
    json_decref (obj);
    json_decref (root);
}

//  Revoke an admin token; the last live admin (role admin) cannot go, so the
//  admin API can never lock itself out.
static void
s_admin_revoke (PGconn *conn, const gw_admin_who_t *who, const char *id,
                gw_admin_reply_t *reply)
{
    const char *params [] = { id };
    char state [6];
    PGresult *res = NULL;
    json_t *before = NULL, *after = NULL;
    bool in_tx = s_begin (conn);
    if (!in_tx) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    //  Lock every live admin row: two concurrent revocations see each other
    res = s_query (conn, "SELECT id FROM admin_tokens WHERE revoked_at IS NULL AND role = 'admin'"
                   " ORDER BY id FOR UPDATE", 0, NULL, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    int live_admins = PQntuples (res);
    PQclear (res);
    res = s_query (conn, ADMIN_SELECT " WHERE id = $1 FOR UPDATE", 1, params, state);
    if (!res || PQntuples (res) != 1) {
        if (res)
            s_reply_no_admin (reply);
        else
            s_reply_db_error (conn, reply);
        goto cleanup;
    }
    before = s_row_object (res, 0);
    PQclear (res);
    res = NULL;
    if (!json_is_null (json_object_get (before, "revoked_at"))) {
        in_tx = false;
        s_rollback (conn);
        json_object_set_new (before, "revoked", json_true ());
        gw_admin_reply_json (reply, 200, before);
        before = NULL;
        goto cleanup;
    }
    if (!strcmp (json_string_value (json_object_get (before, "role")), "admin")
    &&  live_admins <= 1) {
        gw_admin_reply_err (reply, "conflict", "id",
                            "This is the last admin token with role admin; create another first.");
        goto cleanup;
    }
    res = s_query (conn, "UPDATE admin_tokens SET revoked_at = " NOW_UTC " WHERE id = $1",
                   1, params, state);
    PQclear (res);
    if (res) {
        PGresult *r2 = s_query (conn, ADMIN_SELECT " WHERE id = $1", 1, params, state);
        after = r2 && PQntuples (r2) == 1? s_row_object (r2, 0): NULL;
        PQclear (r2);
    }
    res = NULL;
    if (!after || s_audit (conn, who, "admin_token.revoke", "admin_token", id, NULL, before, after)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    in_tx = false;
    if (s_commit (conn)) {
        s_reply_db_error (conn, reply);
        goto cleanup;
    }
    mt_log ("admin-token-revoked id=%s by=\"%s\"", id, who->name);
    json_object_set_new (after, "revoked", json_true ());
    reply->changed = true;
    gw_admin_reply_json (reply, 200, after);
    after = NULL;
cleanup:
    if (in_tx)
        s_rollback (conn);
    PQclear (res);
    json_decref (before);
    json_decref (after);
}

int
gw_admin_bootstrap (PGconn *conn, const char *token)
{
    if (!conn || !token || !*token)
        return 0;
    char hash [65], name [32], state [6];
    mt_sha256_hex (token, strlen (token), hash);
    //  Named by its hash, never by a prefix of the token itself: it may be short
    snprintf (name, sizeof name, "bootstrap-%.8s", hash);
    if (!s_begin (conn))
        return -1;
    int rc = -1;
    bool insert = false;
    json_t *obj = NULL;
    const char *params [] = { hash };
    //  Gateways starting together: one at a time
    PGresult *res = s_query (conn, "SELECT pg_advisory_xact_lock (hashtext ('mt_admin_bootstrap'))",
                             0, NULL, state);
    PQclear (res);
    res = res? s_query (conn,
        "SELECT (SELECT CASE WHEN revoked_at IS NULL THEN 'live' ELSE 'revoked' END"
        "        FROM admin_tokens WHERE token_hash = $1),"
        " (SELECT count(*) FROM admin_tokens WHERE revoked_at IS NULL AND role = 'admin')",
        1, params, state): NULL;
    if (!res)
        goto cleanup;
    rc = 0;
    if (!PQgetisnull (res, 0, 0)) {
        if (!strcmp (PQgetvalue (res, 0, 0), "revoked"))
            mt_log ("admin-bootstrap-skipped name=%s reason=\"MT_ADMIN_TOKEN was revoked; "
                    "it stays revoked\"", name);
    }
    else
    if (strcmp (PQgetvalue (res, 0, 1), "0"))
        mt_log ("admin-bootstrap-skipped name=%s reason=\"admin tokens exist; MT_ADMIN_TOKEN "
                "only enters the first\"", name);
    else
        insert = true;
    if (!insert)
        goto cleanup;
    gw_admin_who_t who;
    memset (&who, 0, sizeof who);
    snprintf (who.name, sizeof who.name, "%s", "MT_ADMIN_TOKEN");
    obj = s_admin_insert (conn, name, "admin", hash, "(env)", NULL, state);
    rc = !obj || s_audit (conn, &who, "admin_token.bootstrap", "admin_token",
                          json_string_value (json_object_get (obj, "id")), NULL, NULL, obj)
      || s_commit (conn)? -1: 0;
    if (rc == 0)
        mt_log ("admin-bootstrap name=%s", name);
    else
        mt_log ("admin-bootstrap-failed name=%s", name);
    insert = rc == 0;               //  committed: nothing to roll back
cleanup:
    if (!insert)
        s_rollback (conn);
    PQclear (res);
    json_decref (obj);
    return rc;
}

//  ---------------------------------------------------------------------
//  The audit trail

static void
s_audit_list (PGconn *conn, const char *query, gw_admin_reply_t *reply)
{
    gw_admin_err_t err;
    gw_audit_query_t q;
    if (gw_admin_audit_query (query, &q, &err)) {
        s_reply_input_err (reply, &err);
        return;
    }
    char before [24], limit [16];
    snprintf (before, sizeof before, "%lld", (long long) q.before);
    snprintf (limit, sizeof limit, "%d", q.limit + 1);     //  one more: is there a next page?
    const char *params [] = { q.tenant_id [0]? q.tenant_id: NULL, q.action [0]? q.action: NULL,
                              q.from [0]? q.from: NULL, q.to [0]? q.to: NULL,
                              q.before? before: NULL, limit };
    char state [6];
    PGresult *res = s_query (conn,
        "SELECT id, " GW_ISO ("at") ", admin_name, admin_id, action, target_type, target_id,"
        " tenant_id, before::text, after::text, request_id FROM audit_log"
        " WHERE ($1::uuid IS NULL OR tenant_id = $1::uuid)"
        " AND ($2::text IS NULL OR action = $2)"
        " AND ($3::timestamp IS NULL OR at >= $3::timestamp)"
        " AND ($4::timestamp IS NULL OR at < $4::timestamp)"
        " AND ($5::bigint IS NULL OR id < $5::bigint)"
        " ORDER BY id DESC LIMIT $6::int", 6, params, state);
    if (!res) {
        s_reply_db_error (conn, reply);
        return;
    }
    int rows = PQntuples (res);
    bool more = rows > q.limit;
    if (more)
        rows = q.limit;
    json_t *data = json_array ();
    static const char *names [] = { "id", "at", "admin_name", "admin_id", "action",
                                    "target_type", "target_id", "tenant_id", "before", "after",
                                    "request_id" };
    for (int i = 0; i < rows; i++) {
        json_t *row = json_object ();
        for (int c = 0; c < 11; c++) {
            json_t *v;
            if (PQgetisnull (res, i, c))
                v = json_null ();
            else
            if (c == 0)
                v = json_integer (strtoll (PQgetvalue (res, i, c), NULL, 10));
            else
            if (c == 8 || c == 9) {
                v = json_loads (PQgetvalue (res, i, c), JSON_DECODE_ANY, NULL);
                if (!v)
                    v = json_null ();
            }
            else
                v = json_string (PQgetvalue (res, i, c));
            json_object_set_new (row, names [c], v);
        }
        json_object_set_new (row, "object", json_string ("audit_entry"));
        json_array_append_new (data, row);
    }
    json_t *root = json_pack ("{s:s, s:o, s:b}", "object", "list", "data", data,
                              "has_more", more);
    json_object_set_new (root, "next_before", more?
        json_integer (strtoll (PQgetvalue (res, rows - 1, 0), NULL, 10)): json_null ());
    PQclear (res);
    gw_admin_reply_json (reply, 200, root);
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
gw_admin_handle (PGconn *conn, const gw_admin_who_t *who, const char *method, const char *path,
                 const char *query, const char *body, size_t body_len,
                 gw_admin_reply_t *reply)
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
    bool viewer = !who || strcmp (who->role, "admin");
    if (!gw_admin_allowed (viewer, op)) {
        gw_admin_reply_err (reply, "permission_denied", NULL,
                            "This admin token has role viewer: it may read tenants, keys, "
                            "usage and the audit trail, and change nothing.");
        return;
    }
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        s_reply_db_error (conn, reply);
        return;
    }
    //  Ids in paths are UUIDs; anything else names nothing
    if (*id && !mt_is_uuid (id)) {
        if (op == GW_ADMIN_KEY_REVOKE || op == GW_ADMIN_KEY_PATCH)
            s_reply_no_key (reply);
        else
        if (op == GW_ADMIN_ADMIN_REVOKE)
            s_reply_no_admin (reply);
        else
            s_reply_no_tenant (reply);
        return;
    }
    switch (op) {
        case GW_ADMIN_TENANT_CREATE: s_tenant_create (conn, who, body, body_len, reply); break;
        case GW_ADMIN_TENANT_LIST:   s_tenant_list (conn, reply); break;
        case GW_ADMIN_TENANT_GET:    s_tenant_get (conn, id, reply); break;
        case GW_ADMIN_TENANT_PATCH:  s_tenant_patch (conn, who, id, body, body_len, reply); break;
        case GW_ADMIN_TENANT_DELETE: s_tenant_delete (conn, who, id, reply); break;
        case GW_ADMIN_KEY_CREATE:    s_key_create (conn, who, id, body, body_len, reply); break;
        case GW_ADMIN_KEY_LIST:      s_key_list (conn, id, reply); break;
        case GW_ADMIN_KEY_PATCH:     s_key_patch (conn, who, id, body, body_len, reply); break;
        case GW_ADMIN_KEY_REVOKE:    s_key_revoke (conn, who, id, query, reply); break;
        case GW_ADMIN_USAGE:         s_usage_admin (conn, query, reply); break;
        case GW_ADMIN_ADMIN_LIST:    s_admin_list (conn, reply); break;
        case GW_ADMIN_ADMIN_CREATE:  s_admin_create (conn, who, body, body_len, reply); break;
        case GW_ADMIN_ADMIN_REVOKE:  s_admin_revoke (conn, who, id, reply); break;
        case GW_ADMIN_AUDIT:         s_audit_list (conn, query, reply); break;
        default:
            gw_admin_reply_err (reply, "internal_error", NULL, NULL);
            break;
    }
    if (!reply->body)
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
}
