//  The admin API and tenant-facing /v1/usage. Pure request handling first
//  (routing, validation, query and time parsing), then the SQL handlers that
//  run on the store thread's connection.
#include "gw_admin.h"
#include "mt_errors.h"
#include "mt_log.h"
#include "mt_util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *gw_admin_limit_names [GW_ADMIN_LIMITS] = {
    "max_concurrent_requests", "daily_token_limit", "requests_per_minute", "tokens_per_minute"
};
//  Smallest and largest value of each override (columns INT, BIGINT x3)
static const int64_t s_limit_min [GW_ADMIN_LIMITS] = { 1, 0, 0, 0 };
static const int64_t s_limit_max [GW_ADMIN_LIMITS] = { 2147483647, INT64_MAX, INT64_MAX, INT64_MAX };

#define GW_NAME_MAX 128         //  characters of a tenant name
#define GW_TIER_MAX 31          //  bytes of a tier name (gw_tenant_t.tier)

static void
s_err (gw_admin_err_t *err, const char *code, const char *param, const char *message)
{
    err->code = code;
    snprintf (err->param, sizeof err->param, "%s", param? param: "");
    snprintf (err->message, sizeof err->message, "%s", message? message: "");
}

//  ---------------------------------------------------------------------
//  Routing

gw_admin_op_t
gw_admin_route (const char *method, const char *path, char id [64], gw_admin_err_t *err)
{
    static const char base [] = "/admin/v1/";
    id [0] = 0;
    memset (err, 0, sizeof *err);
    if (!method || !path || strncmp (path, base, sizeof base - 1)) {
        s_err (err, "not_found", NULL, NULL);
        return GW_ADMIN_NONE;
    }
    //  Split what follows into at most three segments; one trailing '/' is fine
    char rest [256];
    size_t len = strlen (path + sizeof base - 1);
    if (len >= sizeof rest) {
        s_err (err, "not_found", NULL, NULL);
        return GW_ADMIN_NONE;
    }
    memcpy (rest, path + sizeof base - 1, len + 1);
    if (len > 0 && rest [len - 1] == '/')
        rest [--len] = 0;
    char *seg [4] = { NULL };
    int nseg = 0;
    char *p = rest;
    while (nseg < 4) {
        seg [nseg++] = p;
        char *slash = strchr (p, '/');
        if (!slash)
            break;
        *slash = 0;
        p = slash + 1;
    }
    for (int i = 0; i < nseg; i++)
        if (!*seg [i] || nseg == 4) {
            s_err (err, "not_found", NULL, NULL);
            return GW_ADMIN_NONE;
        }
    //  Which route, then which method
    bool get = !strcmp (method, "GET"), post = !strcmp (method, "POST");
    bool patch = !strcmp (method, "PATCH"), del = !strcmp (method, "DELETE");
    gw_admin_op_t op = GW_ADMIN_NONE;
    bool known = true;
    if (nseg == 1 && !strcmp (seg [0], "tenants"))
        op = get? GW_ADMIN_TENANT_LIST: post? GW_ADMIN_TENANT_CREATE: GW_ADMIN_NONE;
    else
    if (nseg == 2 && !strcmp (seg [0], "tenants"))
        op = get? GW_ADMIN_TENANT_GET: patch? GW_ADMIN_TENANT_PATCH:
             del? GW_ADMIN_TENANT_DELETE: GW_ADMIN_NONE;
    else
    if (nseg == 3 && !strcmp (seg [0], "tenants") && !strcmp (seg [2], "keys"))
        op = get? GW_ADMIN_KEY_LIST: post? GW_ADMIN_KEY_CREATE: GW_ADMIN_NONE;
    else
    if (nseg == 2 && !strcmp (seg [0], "keys"))
        op = del? GW_ADMIN_KEY_REVOKE: GW_ADMIN_NONE;
    else
    if (nseg == 1 && !strcmp (seg [0], "usage"))
        op = get? GW_ADMIN_USAGE: GW_ADMIN_NONE;
    else
        known = false;

    if (!known) {
        s_err (err, "not_found", NULL, NULL);
        return GW_ADMIN_NONE;
    }
    if (op == GW_ADMIN_NONE) {
        s_err (err, "method_not_allowed", NULL, NULL);
        return GW_ADMIN_NONE;
    }
    if (nseg >= 2) {
        if (strlen (seg [1]) >= 64) {
            s_err (err, "not_found", NULL, NULL);
            return GW_ADMIN_NONE;
        }
        snprintf (id, 64, "%s", seg [1]);
    }
    return op;
}

//  ---------------------------------------------------------------------
//  Bodies

json_t *
gw_admin_parse_body (const char *body, size_t len, gw_admin_err_t *err)
{
    memset (err, 0, sizeof *err);
    if (!body || len == 0) {
        s_err (err, "invalid_json", NULL, "The request body is empty; a JSON object is required.");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb (body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root) {
        s_err (err, "invalid_json", NULL, NULL);
        return NULL;
    }
    if (!json_is_object (root)) {
        json_decref (root);
        s_err (err, "invalid_value", NULL, "The request body must be a JSON object.");
        return NULL;
    }
    return root;
}

//  Characters of a UTF-8 text (jansson strings are valid UTF-8).
static size_t
s_utf8_chars (const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if ((*p & 0xC0) != 0x80)
            n++;
    return n;
}

static bool
s_has_control (const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (*p < 0x20 || *p == 0x7F)
            return true;
    return false;
}

//  Check a required-on-create string field. Returns 0 or -1 with err set.
static int
s_check_text (json_t *body, const char *field, bool create, size_t max, bool chars,
              const char **out, gw_admin_err_t *err)
{
    char msg [160];
    json_t *v = json_object_get (body, field);
    *out = NULL;
    if (!v || (json_is_null (v) && create)) {
        if (!create)
            return 0;
        snprintf (msg, sizeof msg, "Missing required parameter: '%s'.", field);
        s_err (err, "missing_required_parameter", field, msg);
        return -1;
    }
    const char *text = json_string_value (v);
    size_t n = text? (chars? s_utf8_chars (text): strlen (text)): 0;
    if (!json_is_string (v) || n < 1 || n > max || s_has_control (text)) {
        snprintf (msg, sizeof msg, "'%s' must be a string of 1 to %zu %s.",
                  field, max, chars? "characters": "bytes");
        s_err (err, "invalid_value", field, msg);
        return -1;
    }
    *out = text;
    return 0;
}

int
gw_admin_check_tenant (json_t *body, bool create, gw_tenant_input_t *in, gw_admin_err_t *err)
{
    memset (in, 0, sizeof *in);
    memset (err, 0, sizeof *err);
    char msg [192];
    if (!json_is_object (body)) {
        s_err (err, "invalid_value", NULL, "The request body must be a JSON object.");
        return -1;
    }
    //  Unknown fields are refused, so a misspelt limit never passes silently
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        bool known = !strcmp (key, "name") || !strcmp (key, "tier");
        for (int i = 0; i < GW_ADMIN_LIMITS && !known; i++)
            known = !strcmp (key, gw_admin_limit_names [i]);
        if (!known) {
            s_err (err, "invalid_value", strlen (key) < sizeof err->param? key: NULL,
                   "Unrecognized request argument supplied.");
            return -1;
        }
    }
    if (!create) {
        //  PATCH: name and tier may not be cleared
        const char *fields [] = { "name", "tier" };
        for (int i = 0; i < 2; i++)
            if (json_is_null (json_object_get (body, fields [i]))) {
                snprintf (msg, sizeof msg, "'%s' cannot be null.", fields [i]);
                s_err (err, "invalid_value", fields [i], msg);
                return -1;
            }
    }
    if (s_check_text (body, "name", create, GW_NAME_MAX, true, &in->name, err)
    ||  s_check_text (body, "tier", create, GW_TIER_MAX, false, &in->tier, err))
        return -1;
    for (int i = 0; i < GW_ADMIN_LIMITS; i++) {
        const char *field = gw_admin_limit_names [i];
        json_t *v = json_object_get (body, field);
        if (!v)
            in->limit_state [i] = GW_FIELD_ABSENT;
        else
        if (json_is_null (v))
            in->limit_state [i] = create? GW_FIELD_ABSENT: GW_FIELD_NULL;
        else
        if (json_is_integer (v)
        &&  json_integer_value (v) >= s_limit_min [i]
        &&  json_integer_value (v) <= s_limit_max [i]) {
            in->limit_state [i] = GW_FIELD_SET;
            in->limit [i] = json_integer_value (v);
        }
        else {
            snprintf (msg, sizeof msg, "'%s' must be an integer >= %lld, or null.",
                      field, (long long) s_limit_min [i]);
            s_err (err, "invalid_value", field, msg);
            return -1;
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Query strings and times

static int
s_hex (int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//  URL-decode [src, src+len) into out. Returns 0, or -1 if malformed or too long.
static int
s_url_decode (const char *src, size_t len, char *out, size_t size)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char) src [i];
        if (c == '+')
            c = ' ';
        else
        if (c == '%') {
            int hi = i + 1 < len? s_hex (src [i + 1]): -1;
            int lo = i + 2 < len? s_hex (src [i + 2]): -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (n + 1 >= size)
            return -1;
        out [n++] = (char) c;
    }
    out [n] = 0;
    return 0;
}

int
gw_admin_query_get (const char *query, const char *name, char *out, size_t size)
{
    if (!query || !name || !out || size == 0)
        return 0;
    const char *p = query;
    while (*p) {
        const char *end = strchr (p, '&');
        size_t plen = end? (size_t) (end - p): strlen (p);
        const char *eq = memchr (p, '=', plen);
        size_t klen = eq? (size_t) (eq - p): plen;
        char key [64];
        if (klen > 0 && s_url_decode (p, klen, key, sizeof key) == 0 && !strcmp (key, name)) {
            if (!eq) {
                out [0] = 0;
                return 1;
            }
            return s_url_decode (eq + 1, plen - klen - 1, out, size) == 0? 1: -1;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

//  Read exactly n digits. Returns the value or -1.
static int
s_digits (const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit ((unsigned char) (*p) [i]))
            return -1;
        v = v * 10 + ((*p) [i] - '0');
    }
    *p += n;
    return v;
}

int
gw_admin_parse_time (const char *text, bool end, char out [20])
{
    static const int mdays [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (!text)
        return -1;
    const char *p = text;
    int year = s_digits (&p, 4);
    if (year < 1 || *p++ != '-') return -1;
    int mon = s_digits (&p, 2);
    if (mon < 1 || mon > 12 || *p++ != '-') return -1;
    int day = s_digits (&p, 2);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > mdays [mon - 1] + (mon == 2 && leap)) return -1;
    int hour = 0, min = 0, sec = 0;
    bool date_only = (*p == 0);
    if (!date_only) {
        if (*p != 'T' && *p != 't' && *p != ' ') return -1;
        p++;
        hour = s_digits (&p, 2);
        if (hour < 0 || hour > 23 || *p++ != ':') return -1;
        min = s_digits (&p, 2);
        if (min < 0 || min > 59) return -1;
        if (*p == ':') {
            p++;
            sec = s_digits (&p, 2);
            if (sec < 0 || sec > 59) return -1;
            if (*p == '.') {            //  fractions of a second: dropped
                p++;
                if (!isdigit ((unsigned char) *p)) return -1;
                while (isdigit ((unsigned char) *p)) p++;
            }
        }
        //  UTC only: "Z", "+00:00", or nothing
        if (*p == 'Z' || *p == 'z') p++;
        else
        if (!strcmp (p, "+00:00")) p += 6;
        if (*p) return -1;
    }
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm (&tm);
    if (end)
        t += date_only? 86400: 1;
    struct tm back;
    if (!gmtime_r (&t, &back))
        return -1;
    if (strftime (out, 20, "%Y-%m-%d %H:%M:%S", &back) != 19)
        return -1;
    return 0;
}

int
gw_admin_usage_query (const char *query, bool admin, gw_usage_query_t *q, gw_admin_err_t *err)
{
    memset (q, 0, sizeof *q);
    memset (err, 0, sizeof *err);
    char value [128];
    int rc;
    if (admin) {
        rc = gw_admin_query_get (query, "tenant_id", value, sizeof value);
        if (rc < 0 || (rc == 1 && *value && !mt_is_uuid (value))) {
            s_err (err, "invalid_value", "tenant_id", "'tenant_id' must be a tenant id (UUID).");
            return -1;
        }
        if (rc == 1 && *value) {
            memcpy (q->tenant_id, value, 36);       //  a UUID: 36 characters
            q->tenant_id [36] = 0;
        }
    }
    const char *bounds [] = { "from", "to" };
    char *outs [] = { q->from, q->to };
    for (int i = 0; i < 2; i++) {
        rc = gw_admin_query_get (query, bounds [i], value, sizeof value);
        if (rc == 0 || (rc == 1 && !*value))
            continue;
        if (rc < 0 || gw_admin_parse_time (value, i == 1, outs [i])) {
            char msg [160];
            snprintf (msg, sizeof msg, "'%s' must be an ISO 8601 date (YYYY-MM-DD) or "
                      "UTC date-time (YYYY-MM-DDTHH:MM:SSZ).", bounds [i]);
            s_err (err, "invalid_value", bounds [i], msg);
            return -1;
        }
    }
    return 0;
}

char *
gw_admin_err_body (const gw_admin_err_t *err, unsigned *status)
{
    const mt_error_t *e = mt_error_lookup (err->code? err->code: "internal_error");
    if (status)
        *status = e->status;
    return mt_error_body (e, err->message [0]? err->message: NULL,
                          err->param [0]? err->param: NULL, NULL);
}

//  ---------------------------------------------------------------------
//  SQL handlers (store thread)

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

static void
s_reply_err (gw_admin_reply_t *reply, const char *code, const char *param, const char *message)
{
    gw_admin_err_t err;
    s_err (&err, code, param, message);
    free (reply->body);
    reply->body = gw_admin_err_body (&err, &reply->status);
}

//  Reply with a JSON value (taken).
static void
s_reply_json (gw_admin_reply_t *reply, unsigned status, json_t *root)
{
    char *text = root? json_dumps (root, JSON_COMPACT): NULL;
    json_decref (root);
    if (!text) {
        s_reply_err (reply, "internal_error", NULL, NULL);
        return;
    }
    free (reply->body);
    reply->body = text;
    reply->status = status;
}

//  A failed statement: 503 when the connection is gone, else 500.
static void
s_reply_db_error (PGconn *conn, gw_admin_reply_t *reply)
{
    if (!conn || PQstatus (conn) != CONNECTION_OK)
        s_reply_err (reply, "service_unavailable", NULL, "The database is unavailable.");
    else
        s_reply_err (reply, "internal_error", NULL, NULL);
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
        s_reply_err (reply, "conflict", "name", "A tenant with this name already exists.");
    else
    if (!strcmp (state, "23503"))
        s_reply_err (reply, "invalid_value", "tier", "Unknown tier.");
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
    s_reply_json (reply, 201, tenant);
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
    s_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
}

static void
s_reply_no_tenant (gw_admin_reply_t *reply)
{
    s_reply_err (reply, "not_found", "id", "No tenant with this id.");
}

static void
s_tenant_get (PGconn *conn, const char *id, gw_admin_reply_t *reply)
{
    bool found;
    json_t *tenant = s_tenant_fetch (conn, id, &found);
    if (tenant)
        s_reply_json (reply, 200, tenant);
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
    s_reply_json (reply, 200, tenant);
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
    s_reply_json (reply, 200, json_pack ("{s:s, s:s, s:b}", "id", id, "object", "tenant",
                                         "deleted", 1));
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
        s_reply_json (reply, 201, key);
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
    s_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
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
        s_reply_err (reply, "not_found", "key_id", "No API key with this id.");
    else
        s_reply_json (reply, 200, json_pack ("{s:s, s:s, s:b, s:s}", "id", key_id,
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
    s_reply_json (reply, 200, json_pack ("{s:s, s:o}", "object", "list", "data", data));
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
        s_reply_err (reply, "internal_error", NULL, NULL);
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
    s_reply_json (reply, 200, json_pack ("{s:s, s:s, s:o, s:I}", "object", "list",
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
            s_reply_err (reply, "not_found", "key_id", "No API key with this id.");
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
        default:                     s_reply_err (reply, "internal_error", NULL, NULL); break;
    }
    if (!reply->body)
        s_reply_err (reply, "internal_error", NULL, NULL);
}
