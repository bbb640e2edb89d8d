//  The admin API and tenant-facing /v1/usage: the pure half. Routing, body
//  validation, query and time parsing, and rendering replies; no I/O. The SQL
//  handlers that use it are in gw_admin_sql.c.
#include "gw_admin.h"
#include "mt_errors.h"
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
        op = del? GW_ADMIN_KEY_REVOKE: patch? GW_ADMIN_KEY_PATCH: GW_ADMIN_NONE;
    else
    if (nseg == 1 && !strcmp (seg [0], "usage"))
        op = get? GW_ADMIN_USAGE: GW_ADMIN_NONE;
    else
    if (nseg == 1 && !strcmp (seg [0], "admin-tokens"))
        op = get? GW_ADMIN_ADMIN_LIST: post? GW_ADMIN_ADMIN_CREATE: GW_ADMIN_NONE;
    else
    if (nseg == 2 && !strcmp (seg [0], "admin-tokens"))
        op = del? GW_ADMIN_ADMIN_REVOKE: GW_ADMIN_NONE;
    else
    if (nseg == 1 && !strcmp (seg [0], "audit"))
        op = get? GW_ADMIN_AUDIT: GW_ADMIN_NONE;
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

//  ---------------------------------------------------------------------
//  Roles, keys, admin tokens, the audit trail

bool
gw_admin_op_writes (gw_admin_op_t op)
{
    switch (op) {
        case GW_ADMIN_TENANT_CREATE: case GW_ADMIN_TENANT_PATCH: case GW_ADMIN_TENANT_DELETE:
        case GW_ADMIN_KEY_CREATE: case GW_ADMIN_KEY_PATCH: case GW_ADMIN_KEY_REVOKE:
        case GW_ADMIN_ADMIN_CREATE: case GW_ADMIN_ADMIN_REVOKE:
            return true;
        default:
            return false;
    }
}

bool
gw_admin_allowed (bool viewer, gw_admin_op_t op)
{
    if (op == GW_ADMIN_NONE)
        return false;
    if (!viewer)
        return true;
    return !gw_admin_op_writes (op) && op != GW_ADMIN_ADMIN_LIST;
}

//  An optional time field: absent, null, or an ISO date-time. Returns 0 or
//  -1 with err set.
static int
s_check_time (json_t *body, const char *field, gw_field_t *state, char out [20],
              gw_admin_err_t *err)
{
    json_t *v = json_object_get (body, field);
    out [0] = 0;
    *state = !v? GW_FIELD_ABSENT: json_is_null (v)? GW_FIELD_NULL: GW_FIELD_SET;
    if (*state != GW_FIELD_SET)
        return 0;
    if (!json_is_string (v) || gw_admin_parse_time (json_string_value (v), false, out)) {
        char msg [160];
        snprintf (msg, sizeof msg, "'%s' must be a UTC date-time (YYYY-MM-DDTHH:MM:SSZ) "
                  "or a date (YYYY-MM-DD), or null.", field);
        s_err (err, "invalid_value", field, msg);
        return -1;
    }
    return 0;
}

//  Refuse any field not in known (NULL-terminated). Returns 0 or -1.
static int
s_only_fields (json_t *body, const char *const *known, gw_admin_err_t *err)
{
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        bool ok = false;
        for (int i = 0; known [i] && !ok; i++)
            ok = !strcmp (key, known [i]);
        if (!ok) {
            s_err (err, "invalid_value", strlen (key) < sizeof err->param? key: NULL,
                   "Unrecognized request argument supplied.");
            return -1;
        }
    }
    return 0;
}

int
gw_admin_check_key (json_t *body, bool create, gw_key_input_t *in, gw_admin_err_t *err)
{
    memset (in, 0, sizeof *in);
    memset (err, 0, sizeof *err);
    if (!body && create)
        return 0;
    if (!body) {
        s_err (err, "invalid_json", NULL, "The request body is empty; a JSON object is required.");
        return -1;
    }
    if (!json_is_object (body)) {
        s_err (err, "invalid_value", NULL, "The request body must be a JSON object.");
        return -1;
    }
    static const char *create_fields [] = { "name", "expires_at", NULL };
    static const char *patch_fields [] = { "name", "expires_at", "revoke_at", NULL };
    if (s_only_fields (body, create? create_fields: patch_fields, err))
        return -1;
    json_t *name = json_object_get (body, "name");
    in->name_state = !name? GW_FIELD_ABSENT: json_is_null (name)? GW_FIELD_NULL: GW_FIELD_SET;
    if (in->name_state == GW_FIELD_SET
    &&  s_check_text (body, "name", true, GW_NAME_MAX, true, &in->name, err))
        return -1;
    if (s_check_time (body, "expires_at", &in->expires_state, in->expires_at, err))
        return -1;
    if (!create && s_check_time (body, "revoke_at", &in->revoke_state, in->revoke_at, err))
        return -1;
    return 0;
}

int
gw_admin_check_admin (json_t *body, gw_admin_input_t *in, gw_admin_err_t *err)
{
    memset (in, 0, sizeof *in);
    memset (err, 0, sizeof *err);
    if (!json_is_object (body)) {
        s_err (err, "invalid_value", NULL, "The request body must be a JSON object.");
        return -1;
    }
    static const char *fields [] = { "name", "role", NULL };
    const char *role = NULL;
    if (s_only_fields (body, fields, err)
    ||  s_check_text (body, "name", true, GW_ADMIN_NAME_MAX, false, &in->name, err)
    ||  s_check_text (body, "role", true, 16, false, &role, err))
        return -1;
    if (strcmp (role, "admin") && strcmp (role, "viewer")) {
        s_err (err, "invalid_value", "role", "'role' must be \"admin\" or \"viewer\".");
        return -1;
    }
    in->viewer = !strcmp (role, "viewer");
    return 0;
}

//  A whole decimal number in [min, max]. Returns 0 or -1.
static int
s_parse_int (const char *text, int64_t min, int64_t max, int64_t *out)
{
    if (!*text || strlen (text) > 18)
        return -1;
    int64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit ((unsigned char) *p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
gw_admin_revoke_query (const char *query, int64_t *grace_s, char revoke_at [20],
                       gw_admin_err_t *err)
{
    memset (err, 0, sizeof *err);
    *grace_s = 0;
    revoke_at [0] = 0;
    char value [128];
    int rc = gw_admin_query_get (query, "grace_seconds", value, sizeof value);
    char other [128];
    if (rc != 0 && gw_admin_query_get (query, "revoke_at", other, sizeof other) != 0) {
        s_err (err, "invalid_value", "revoke_at", "Give 'grace_seconds' or 'revoke_at', not both.");
        return -1;
    }
    if (rc < 0 || (rc == 1 && s_parse_int (value, 0, GW_GRACE_MAX_S, grace_s))) {
        char msg [128];
        snprintf (msg, sizeof msg, "'grace_seconds' must be a whole number from 0 to %lld.",
                  (long long) GW_GRACE_MAX_S);
        s_err (err, "invalid_value", "grace_seconds", msg);
        return -1;
    }
    if (rc == 1)
        return 0;
    rc = gw_admin_query_get (query, "revoke_at", value, sizeof value);
    if (rc < 0 || (rc == 1 && gw_admin_parse_time (value, false, revoke_at))) {
        s_err (err, "invalid_value", "revoke_at",
               "'revoke_at' must be a UTC date-time (YYYY-MM-DDTHH:MM:SSZ).");
        return -1;
    }
    if (rc == 1)
        *grace_s = -1;
    return 0;
}

int
gw_admin_audit_query (const char *query, gw_audit_query_t *q, gw_admin_err_t *err)
{
    memset (q, 0, sizeof *q);
    memset (err, 0, sizeof *err);
    q->limit = GW_AUDIT_LIMIT_DEFAULT;
    //  tenant_id, from and to read as for /admin/v1/usage
    gw_usage_query_t u;
    if (gw_admin_usage_query (query, true, &u, err))
        return -1;
    memcpy (q->tenant_id, u.tenant_id, sizeof q->tenant_id);
    memcpy (q->from, u.from, sizeof q->from);
    memcpy (q->to, u.to, sizeof q->to);
    char value [128];
    int rc = gw_admin_query_get (query, "action", value, sizeof value);
    bool ok = rc >= 0 && strlen (value) < sizeof q->action;
    for (const char *p = value; rc == 1 && ok && *p; p++)
        ok = islower ((unsigned char) *p) || *p == '.' || *p == '_' || *p == '-';
    if (!ok) {
        s_err (err, "invalid_value", "action", "'action' must be an action name such as "
               "\"key.revoke\".");
        return -1;
    }
    if (rc == 1)
        memcpy (q->action, value, strlen (value) + 1);     //  shorter than q->action
    int64_t n;
    rc = gw_admin_query_get (query, "limit", value, sizeof value);
    if (rc < 0 || (rc == 1 && s_parse_int (value, 1, GW_AUDIT_LIMIT_MAX, &n))) {
        char msg [96];
        snprintf (msg, sizeof msg, "'limit' must be a whole number from 1 to %d.",
                  GW_AUDIT_LIMIT_MAX);
        s_err (err, "invalid_value", "limit", msg);
        return -1;
    }
    if (rc == 1)
        q->limit = (int) n;
    rc = gw_admin_query_get (query, "before", value, sizeof value);
    if (rc < 0 || (rc == 1 && s_parse_int (value, 1, INT64_MAX / 16, &q->before))) {
        s_err (err, "invalid_value", "before",
               "'before' must be the next_before value of the previous page.");
        return -1;
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
//  Replies

void
gw_admin_reply_err (gw_admin_reply_t *reply, const char *code, const char *param,
                    const char *message)
{
    gw_admin_err_t err;
    s_err (&err, code, param, message);
    free (reply->body);
    reply->body = gw_admin_err_body (&err, &reply->status);
}

void
gw_admin_reply_json (gw_admin_reply_t *reply, unsigned status, json_t *root)
{
    char *text = root? json_dumps (root, JSON_COMPACT): NULL;
    json_decref (root);
    if (!text) {
        gw_admin_reply_err (reply, "internal_error", NULL, NULL);
        return;
    }
    free (reply->body);
    reply->body = text;
    reply->status = status;
}
