//  Unit tests of the admin API's pure half (gw_admin.c): routing, body and
//  tenant validation, query strings, ISO times, usage bounds, error bodies.
#include "mt_test.h"
#include "gw_admin.h"

#include <stdlib.h>

static void
test_route (void)
{
    const char *u = "0f8fad5b-d9cb-469f-a165-70867728950e";
    char p_tenant [128], p_keys [128], p_key [128], p_slash [128];
    snprintf (p_tenant, sizeof p_tenant, "/admin/v1/tenants/%s", u);
    snprintf (p_keys, sizeof p_keys, "/admin/v1/tenants/%s/keys", u);
    snprintf (p_key, sizeof p_key, "/admin/v1/keys/%s", u);
    snprintf (p_slash, sizeof p_slash, "/admin/v1/tenants/%s/", u);
    struct {
        const char *method, *path;
        gw_admin_op_t op;
        const char *code;           //  when op is NONE
        const char *id;
    } cases [] = {
        { "POST",   "/admin/v1/tenants",  GW_ADMIN_TENANT_CREATE, NULL, "" },
        { "GET",    "/admin/v1/tenants",  GW_ADMIN_TENANT_LIST, NULL, "" },
        { "GET",    "/admin/v1/tenants/", GW_ADMIN_TENANT_LIST, NULL, "" },
        { "DELETE", "/admin/v1/tenants",  GW_ADMIN_NONE, "method_not_allowed", "" },
        { "PUT",    "/admin/v1/tenants",  GW_ADMIN_NONE, "method_not_allowed", "" },
        { "GET",    p_tenant,             GW_ADMIN_TENANT_GET, NULL, u },
        { "PATCH",  p_tenant,             GW_ADMIN_TENANT_PATCH, NULL, u },
        { "DELETE", p_tenant,             GW_ADMIN_TENANT_DELETE, NULL, u },
        { "GET",    p_slash,              GW_ADMIN_TENANT_GET, NULL, u },
        { "POST",   p_tenant,             GW_ADMIN_NONE, "method_not_allowed", "" },
        { "POST",   p_keys,               GW_ADMIN_KEY_CREATE, NULL, u },
        { "GET",    p_keys,               GW_ADMIN_KEY_LIST, NULL, u },
        { "DELETE", p_keys,               GW_ADMIN_NONE, "method_not_allowed", "" },
        { "DELETE", p_key,                GW_ADMIN_KEY_REVOKE, NULL, u },
        { "GET",    p_key,                GW_ADMIN_NONE, "method_not_allowed", "" },
        { "PATCH",  p_key,                GW_ADMIN_KEY_PATCH, NULL, u },
        { "GET",    "/admin/v1/admin-tokens", GW_ADMIN_ADMIN_LIST, NULL, "" },
        { "POST",   "/admin/v1/admin-tokens", GW_ADMIN_ADMIN_CREATE, NULL, "" },
        { "DELETE", "/admin/v1/admin-tokens", GW_ADMIN_NONE, "method_not_allowed", "" },
        { "DELETE", "/admin/v1/admin-tokens/abc", GW_ADMIN_ADMIN_REVOKE, NULL, "abc" },
        { "GET",    "/admin/v1/admin-tokens/abc", GW_ADMIN_NONE, "method_not_allowed", "" },
        { "GET",    "/admin/v1/audit",    GW_ADMIN_AUDIT, NULL, "" },
        { "GET",    "/admin/v1/audit/",   GW_ADMIN_AUDIT, NULL, "" },
        { "DELETE", "/admin/v1/audit",    GW_ADMIN_NONE, "method_not_allowed", "" },
        { "GET",    "/admin/v1/audit/1",  GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1/usage",    GW_ADMIN_USAGE, NULL, "" },
        { "POST",   "/admin/v1/usage",    GW_ADMIN_NONE, "method_not_allowed", "" },
        //  The id is whatever the segment says; the handler 404s non-UUIDs
        { "GET",    "/admin/v1/tenants/abc", GW_ADMIN_TENANT_GET, NULL, "abc" },
        { "GET",    "/admin/v1/keys",     GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1/tenants//keys", GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1/tenants/x/keys/y", GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1/tenants/x/nope", GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1/",         GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v1",          GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/admin/v2/tenants",  GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "/v1/usage",          GW_ADMIN_NONE, "not_found", "" },
        { "GET",    "",                   GW_ADMIN_NONE, "not_found", "" },
        { "get",    "/admin/v1/tenants",  GW_ADMIN_NONE, "method_not_allowed", "" },
        { "GET",    "/admin/v1/tenants/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                    GW_ADMIN_NONE, "not_found", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char id [64];
        gw_admin_err_t err;
        gw_admin_op_t op = gw_admin_route (cases [i].method, cases [i].path, id, &err);
        CHECK_MSG (op == cases [i].op, "route case %zu (%s %s): op %d want %d", i,
                   cases [i].method, cases [i].path, op, cases [i].op);
        if (cases [i].code)
            CHECK_MSG (err.code && !strcmp (err.code, cases [i].code), "route case %zu code %s",
                       i, err.code? err.code: "(null)");
        else {
            CHECK_MSG (err.code == NULL, "route case %zu has error", i);
            CHECK_STR (id, cases [i].id);
        }
    }
    //  NULL method or path never crash
    char id [64];
    gw_admin_err_t err;
    CHECK (gw_admin_route (NULL, "/admin/v1/tenants", id, &err) == GW_ADMIN_NONE);
    CHECK (gw_admin_route ("GET", NULL, id, &err) == GW_ADMIN_NONE);
}

static void
test_body (void)
{
    struct {
        const char *body;
        const char *code;           //  NULL = parses
    } cases [] = {
        { "{}", NULL },
        { "{\"a\":1}", NULL },
        { "  {\"a\": [1, 2]}  ", NULL },
        { "", "invalid_json" },
        { "{", "invalid_json" },
        { "{\"a\":1,}", "invalid_json" },
        { "{\"a\":1,\"a\":2}", "invalid_json" },        //  duplicate key
        { "nul", "invalid_json" },
        { "[1]", "invalid_value" },
        { "\"text\"", "invalid_value" },
        { "42", "invalid_value" },
        { "null", "invalid_value" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        gw_admin_err_t err;
        json_t *j = gw_admin_parse_body (cases [i].body, strlen (cases [i].body), &err);
        if (!cases [i].code)
            CHECK_MSG (j != NULL && err.code == NULL, "body case %zu", i);
        else
            CHECK_MSG (!j && err.code && !strcmp (err.code, cases [i].code),
                       "body case %zu: %s", i, err.code? err.code: "(null)");
        json_decref (j);
    }
    gw_admin_err_t err;
    CHECK (gw_admin_parse_body (NULL, 0, &err) == NULL);
    //  Embedded NUL bytes are not JSON
    CHECK (gw_admin_parse_body ("{}\0{}", 5, &err) == NULL);
}

static void
test_tenant (void)
{
    char long_name [200];
    memset (long_name, 'n', 129);
    long_name [129] = 0;
    char max_name [200];
    memset (max_name, 'n', 128);
    max_name [128] = 0;
    //  128 characters of two bytes each: 256 bytes, still fine
    char utf8_name [400] = "";
    for (int i = 0; i < 128; i++)
        strcat (utf8_name, "\xc3\xa9");
    char j_long [400], j_max [400], j_utf8 [600];
    snprintf (j_long, sizeof j_long, "{\"name\":\"%s\",\"tier\":\"free\"}", long_name);
    snprintf (j_max, sizeof j_max, "{\"name\":\"%s\",\"tier\":\"free\"}", max_name);
    snprintf (j_utf8, sizeof j_utf8, "{\"name\":\"%s\",\"tier\":\"free\"}", utf8_name);

    struct {
        bool create;
        const char *body;
        const char *code;           //  NULL = valid
        const char *param;
    } cases [] = {
        { true,  "{\"name\":\"acme\",\"tier\":\"free\"}", NULL, NULL },
        { true,  "{\"name\":\"acme\",\"tier\":\"pro\",\"max_concurrent_requests\":1,"
                 "\"daily_token_limit\":0,\"requests_per_minute\":0,\"tokens_per_minute\":5}",
                 NULL, NULL },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"daily_token_limit\":null}", NULL, NULL },
        { true,  j_max, NULL, NULL },
        { true,  j_utf8, NULL, NULL },
        { true,  j_long, "invalid_value", "name" },
        { true,  "{\"tier\":\"free\"}", "missing_required_parameter", "name" },
        { true,  "{\"name\":null,\"tier\":\"free\"}", "missing_required_parameter", "name" },
        { true,  "{\"name\":\"acme\"}", "missing_required_parameter", "tier" },
        { true,  "{\"name\":\"\",\"tier\":\"free\"}", "invalid_value", "name" },
        { true,  "{\"name\":7,\"tier\":\"free\"}", "invalid_value", "name" },
        { true,  "{\"name\":\"a\\nb\",\"tier\":\"free\"}", "invalid_value", "name" },
        { true,  "{\"name\":\"acme\",\"tier\":\"\"}", "invalid_value", "tier" },
        { true,  "{\"name\":\"acme\",\"tier\":[\"free\"]}", "invalid_value", "tier" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"max_concurrent_requests\":0}",
                 "invalid_value", "max_concurrent_requests" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"max_concurrent_requests\":2147483648}",
                 "invalid_value", "max_concurrent_requests" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"daily_token_limit\":-1}",
                 "invalid_value", "daily_token_limit" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"requests_per_minute\":1.5}",
                 "invalid_value", "requests_per_minute" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"tokens_per_minute\":\"10\"}",
                 "invalid_value", "tokens_per_minute" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"tokens_per_minute\":true}",
                 "invalid_value", "tokens_per_minute" },
        { true,  "{\"name\":\"acme\",\"tier\":\"free\",\"daily_tokens\":5}",
                 "invalid_value", "daily_tokens" },
        //  PATCH: everything optional, null clears a limit, name/tier not nullable
        { false, "{}", NULL, NULL },
        { false, "{\"daily_token_limit\":null}", NULL, NULL },
        { false, "{\"tier\":\"enterprise\"}", NULL, NULL },
        { false, "{\"name\":null}", "invalid_value", "name" },
        { false, "{\"tier\":null}", "invalid_value", "tier" },
        { false, "{\"max_concurrent_requests\":-3}", "invalid_value", "max_concurrent_requests" },
        { false, "{\"id\":\"x\"}", "invalid_value", "id" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        gw_admin_err_t err;
        gw_tenant_input_t in;
        json_t *body = json_loads (cases [i].body, 0, NULL);
        CHECK_MSG (body != NULL, "tenant case %zu: test body is not JSON", i);
        int rc = gw_admin_check_tenant (body, cases [i].create, &in, &err);
        if (!cases [i].code)
            CHECK_MSG (rc == 0 && !err.code, "tenant case %zu refused: %s (%s)", i,
                       err.code? err.code: "", err.message);
        else {
            CHECK_MSG (rc == -1 && err.code && !strcmp (err.code, cases [i].code),
                       "tenant case %zu: code %s", i, err.code? err.code: "(null)");
            CHECK_MSG (!strcmp (err.param, cases [i].param), "tenant case %zu: param %s", i,
                       err.param);
        }
        json_decref (body);
    }

    //  What a valid body turns into
    gw_admin_err_t err;
    gw_tenant_input_t in;
    json_t *body = json_loads ("{\"name\":\"acme\",\"tier\":\"pro\",\"daily_token_limit\":0,"
                               "\"tokens_per_minute\":null}", 0, NULL);
    CHECK_INT (gw_admin_check_tenant (body, true, &in, &err), 0);
    CHECK_STR (in.name, "acme");
    CHECK_STR (in.tier, "pro");
    CHECK_INT (in.limit_state [0], GW_FIELD_ABSENT);
    CHECK_INT (in.limit_state [1], GW_FIELD_SET);
    CHECK_INT (in.limit [1], 0);
    CHECK_INT (in.limit_state [3], GW_FIELD_ABSENT);      //  create: null = inherit
    CHECK_INT (gw_admin_check_tenant (body, false, &in, &err), 0);
    CHECK_INT (in.limit_state [3], GW_FIELD_NULL);        //  patch: null clears
    json_decref (body);
    CHECK_INT (gw_admin_check_tenant (NULL, true, &in, &err), -1);
}

static void
test_query (void)
{
    struct {
        const char *query, *name;
        int rc;
        const char *value;
    } cases [] = {
        { "from=2024-01-01&to=2024-01-02", "from", 1, "2024-01-01" },
        { "from=2024-01-01&to=2024-01-02", "to", 1, "2024-01-02" },
        { "from=2024-01-01&to=2024-01-02", "tenant_id", 0, NULL },
        { "", "from", 0, NULL },
        { "from", "from", 1, "" },
        { "from=", "from", 1, "" },
        { "fromage=1&from=2", "from", 1, "2" },
        { "x=1&&from=a%20b", "from", 1, "a b" },
        { "from=a+b", "from", 1, "a b" },
        { "from=2024-01-01T10%3A00%3A00Z", "from", 1, "2024-01-01T10:00:00Z" },
        { "fr%6Fm=x", "from", 1, "x" },                 //  encoded name
        { "from=1&from=2", "from", 1, "1" },            //  first one wins
        { "from=%zz", "from", -1, NULL },
        { "from=%2", "from", -1, NULL },
        { "from=%", "from", -1, NULL },
        { "from=%00", "from", -1, NULL },               //  no NUL smuggling
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char out [64];
        int rc = gw_admin_query_get (cases [i].query, cases [i].name, out, sizeof out);
        CHECK_MSG (rc == cases [i].rc, "query case %zu: rc %d", i, rc);
        if (rc == 1 && cases [i].value)
            CHECK_STR (out, cases [i].value);
    }
    //  Too long for the buffer
    char out [4];
    CHECK_INT (gw_admin_query_get ("from=12345", "from", out, sizeof out), -1);
    CHECK_INT (gw_admin_query_get ("from=123", "from", out, sizeof out), 1);
    CHECK_INT (gw_admin_query_get (NULL, "from", out, sizeof out), 0);
}

static void
test_time (void)
{
    struct {
        const char *text;
        bool end;
        const char *out;            //  NULL = refused
    } cases [] = {
        { "2024-05-01", false, "2024-05-01 00:00:00" },
        { "2024-05-01", true,  "2024-05-02 00:00:00" },     //  through that day
        { "2024-12-31", true,  "2025-01-01 00:00:00" },
        { "2024-02-28", true,  "2024-02-29 00:00:00" },     //  leap year
        { "2024-02-29", false, "2024-02-29 00:00:00" },
        { "2023-02-29", false, NULL },
        { "1900-02-29", false, NULL },
        { "2000-02-29", false, "2000-02-29 00:00:00" },
        { "2024-05-01T10:20:30Z", false, "2024-05-01 10:20:30" },
        { "2024-05-01T10:20:30Z", true,  "2024-05-01 10:20:31" },
        { "2024-05-01T23:59:59Z", true,  "2024-05-02 00:00:00" },
        { "2024-05-01T10:20:30", false, "2024-05-01 10:20:30" },
        { "2024-05-01 10:20:30", false, "2024-05-01 10:20:30" },
        { "2024-05-01t10:20z", false, "2024-05-01 10:20:00" },
        { "2024-05-01T10:20:30.123456Z", false, "2024-05-01 10:20:30" },
        { "2024-05-01T10:20:30+00:00", false, "2024-05-01 10:20:30" },
        { "2024-05-01T10:20:30+02:00", false, NULL },        //  UTC only
        { "2024-05-01T10:20:30.Z", false, NULL },
        { "2024-05-01T24:00:00Z", false, NULL },
        { "2024-05-01T10:60:00Z", false, NULL },
        { "2024-05-01T10:20:60Z", false, NULL },
        { "2024-13-01", false, NULL },
        { "2024-00-01", false, NULL },
        { "2024-04-31", false, NULL },
        { "2024-5-01", false, NULL },
        { "24-05-01", false, NULL },
        { "2024/05/01", false, NULL },
        { "2024-05-01X", false, NULL },
        { "2024-05-01T", false, NULL },
        { "2024-05-01T10", false, NULL },
        { "yesterday", false, NULL },
        { "", false, NULL },
        { "0000-01-01", false, NULL },
        { "9999-12-31", true, NULL },                        //  no 5-digit years
        { "9999-12-31", false, "9999-12-31 00:00:00" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char out [20] = "";
        int rc = gw_admin_parse_time (cases [i].text, cases [i].end, out);
        if (cases [i].out) {
            CHECK_MSG (rc == 0, "time case %zu (%s) refused", i, cases [i].text);
            CHECK_STR (out, cases [i].out);
        }
        else
            CHECK_MSG (rc == -1, "time case %zu (%s) accepted as %s", i, cases [i].text, out);
    }
    char out [20];
    CHECK_INT (gw_admin_parse_time (NULL, false, out), -1);
}

static void
test_usage_query (void)
{
    struct {
        const char *query;
        bool admin;
        const char *param;          //  NULL = accepted
        const char *tenant, *from, *to;
    } cases [] = {
        { "", true, NULL, "", "", "" },
        { "from=2024-05-01&to=2024-05-02", false, NULL, "", "2024-05-01 00:00:00",
          "2024-05-03 00:00:00" },
        { "tenant_id=0f8fad5b-d9cb-469f-a165-70867728950e", true, NULL,
          "0f8fad5b-d9cb-469f-a165-70867728950e", "", "" },
        //  A tenant cannot pick another tenant: the field is not read
        { "tenant_id=0f8fad5b-d9cb-469f-a165-70867728950e", false, NULL, "", "", "" },
        { "tenant_id=", true, NULL, "", "", "" },
        { "tenant_id=nope", true, "tenant_id", NULL, NULL, NULL },
        { "tenant_id=%zz", true, "tenant_id", NULL, NULL, NULL },
        { "from=2024-05-01T10%3A00%3A00Z", true, NULL, "", "2024-05-01 10:00:00", "" },
        { "from=", false, NULL, "", "", "" },
        { "from=tomorrow", false, "from", NULL, NULL, NULL },
        { "to=2024-02-30", true, "to", NULL, NULL, NULL },
        { "to=%", true, "to", NULL, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        gw_usage_query_t q;
        gw_admin_err_t err;
        int rc = gw_admin_usage_query (cases [i].query, cases [i].admin, &q, &err);
        if (!cases [i].param) {
            CHECK_MSG (rc == 0, "usage case %zu refused: %s", i, err.message);
            CHECK_STR (q.tenant_id, cases [i].tenant);
            CHECK_STR (q.from, cases [i].from);
            CHECK_STR (q.to, cases [i].to);
        }
        else {
            CHECK_MSG (rc == -1 && err.code && !strcmp (err.code, "invalid_value"),
                       "usage case %zu accepted", i);
            CHECK_STR (err.param, cases [i].param);
        }
    }
}

static void
test_err_body (void)
{
    gw_admin_err_t err = { .code = "conflict", .param = "name", .message = "Taken." };
    unsigned status = 0;
    char *body = gw_admin_err_body (&err, &status);
    CHECK_INT (status, 409);
    json_t *j = json_loads (body? body: "", 0, NULL);
    json_t *e = json_object_get (j, "error");
    CHECK_STR (json_string_value (json_object_get (e, "code")), "conflict");
    CHECK_STR (json_string_value (json_object_get (e, "param")), "name");
    CHECK_STR (json_string_value (json_object_get (e, "message")), "Taken.");
    CHECK_STR (json_string_value (json_object_get (e, "type")), "invalid_request_error");
    json_decref (j);
    free (body);

    //  Empty param is JSON null; empty message is the table's
    gw_admin_err_t err2 = { .code = "not_found" };
    body = gw_admin_err_body (&err2, &status);
    CHECK_INT (status, 404);
    j = json_loads (body? body: "", 0, NULL);
    e = json_object_get (j, "error");
    CHECK (json_is_null (json_object_get (e, "param")));
    CHECK_STR (json_string_value (json_object_get (e, "message")), "Unknown route.");
    json_decref (j);
    free (body);

    gw_admin_err_t err3 = { .code = "service_unavailable" };
    body = gw_admin_err_body (&err3, &status);
    CHECK_INT (status, 503);
    free (body);
}

//  gw_admin_handle without a connection: routing errors still answer, and
//  everything else is a fast 503, never a crash
static void
test_handle_offline (void)
{
    struct {
        const char *method, *path;
        unsigned status;
    } cases [] = {
        { "GET", "/admin/v1/nothing", 404 },
        { "PUT", "/admin/v1/tenants", 405 },
        { "GET", "/admin/v1/tenants", 503 },
        { "POST", "/admin/v1/tenants", 503 },
    };
    gw_admin_who_t admin = { .name = "ops", .role = "admin" };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        gw_admin_reply_t reply;
        gw_admin_handle (NULL, &admin, cases [i].method, cases [i].path, "", "{}", 2, &reply);
        CHECK_MSG (reply.status == cases [i].status, "offline case %zu: %u", i, reply.status);
        CHECK (reply.body != NULL && !reply.changed);
        free (reply.body);
    }
    //  A viewer's write is refused before anything else (403 in OpenAI's
    //  shape); its reads go on (here: 503, no database). No who = viewer.
    gw_admin_who_t viewer = { .name = "auditor", .role = "viewer" };
    struct {
        const gw_admin_who_t *who;
        const char *method, *path;
        unsigned status;
    } roles [] = {
        { &viewer, "POST", "/admin/v1/tenants", 403 },
        { &viewer, "DELETE", "/admin/v1/keys/x", 403 },
        { &viewer, "POST", "/admin/v1/admin-tokens", 403 },
        { &viewer, "GET", "/admin/v1/admin-tokens", 403 },
        { &viewer, "GET", "/admin/v1/tenants", 503 },
        { &viewer, "GET", "/admin/v1/audit", 503 },
        { NULL, "POST", "/admin/v1/tenants", 403 },
        { &admin, "POST", "/admin/v1/admin-tokens", 503 },
    };
    for (size_t i = 0; i < sizeof roles / sizeof roles [0]; i++) {
        gw_admin_reply_t reply;
        gw_admin_handle (NULL, roles [i].who, roles [i].method, roles [i].path, "", "{}", 2,
                         &reply);
        CHECK_MSG (reply.status == roles [i].status, "role case %zu: %u", i, reply.status);
        if (roles [i].status == 403) {
            json_t *b = reply.body? json_loads (reply.body, 0, NULL): NULL;
            CHECK_MSG (b && !strcmp (json_string_value (json_object_get (
                       json_object_get (b, "error"), "code")) ?: "", "permission_denied"),
                       "role case %zu body %s", i, reply.body);
            json_decref (b);
        }
        free (reply.body);
    }
    gw_admin_reply_t reply;
    gw_admin_usage (NULL, "0f8fad5b-d9cb-469f-a165-70867728950e", "", &reply);
    CHECK_INT (reply.status, 503);
    free (reply.body);
}

//  Which role may run which operation
static void
test_roles (void)
{
    struct { gw_admin_op_t op; bool writes, viewer_ok; } cases [] = {
        { GW_ADMIN_TENANT_CREATE, true, false },
        { GW_ADMIN_TENANT_LIST, false, true },
        { GW_ADMIN_TENANT_GET, false, true },
        { GW_ADMIN_TENANT_PATCH, true, false },
        { GW_ADMIN_TENANT_DELETE, true, false },
        { GW_ADMIN_KEY_CREATE, true, false },
        { GW_ADMIN_KEY_LIST, false, true },
        { GW_ADMIN_KEY_PATCH, true, false },
        { GW_ADMIN_KEY_REVOKE, true, false },
        { GW_ADMIN_USAGE, false, true },
        { GW_ADMIN_ADMIN_LIST, false, false },
        { GW_ADMIN_ADMIN_CREATE, true, false },
        { GW_ADMIN_ADMIN_REVOKE, true, false },
        { GW_ADMIN_AUDIT, false, true },
        { GW_ADMIN_NONE, false, false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        CHECK_MSG (gw_admin_op_writes (cases [i].op) == cases [i].writes, "writes case %zu", i);
        CHECK_MSG (gw_admin_allowed (true, cases [i].op) == cases [i].viewer_ok, "viewer case %zu", i);
        CHECK_MSG (gw_admin_allowed (false, cases [i].op) == (cases [i].op != GW_ADMIN_NONE),
                   "admin case %zu", i);
    }
}

//  Key bodies (create and PATCH) and admin token bodies
static void
test_key_bodies (void)
{
    struct {
        const char *body;           //  NULL = no body
        bool create;
        int rc;
        const char *param;          //  on error
        gw_field_t name, expires, revoke;
        const char *expires_at, *revoke_at;
    } cases [] = {
        { NULL, true, 0, NULL, GW_FIELD_ABSENT, GW_FIELD_ABSENT, GW_FIELD_ABSENT, "", "" },
        { NULL, false, -1, "", 0, 0, 0, "", "" },
        { "{}", true, 0, NULL, GW_FIELD_ABSENT, GW_FIELD_ABSENT, GW_FIELD_ABSENT, "", "" },
        { "{\"name\":\"ci\",\"expires_at\":\"2027-01-02T03:04:05Z\"}", true, 0, NULL,
          GW_FIELD_SET, GW_FIELD_SET, GW_FIELD_ABSENT, "2027-01-02 03:04:05", "" },
        { "{\"expires_at\":\"2027-01-02\"}", true, 0, NULL,
          GW_FIELD_ABSENT, GW_FIELD_SET, GW_FIELD_ABSENT, "2027-01-02 00:00:00", "" },
        { "{\"revoke_at\":\"2027-01-02T00:00:00Z\"}", true, -1, "revoke_at", 0, 0, 0, "", "" },
        { "{\"revoke_at\":\"2027-01-02T00:00:00Z\",\"name\":null}", false, 0, NULL,
          GW_FIELD_NULL, GW_FIELD_ABSENT, GW_FIELD_SET, "", "2027-01-02 00:00:00" },
        { "{\"expires_at\":null,\"revoke_at\":null}", false, 0, NULL,
          GW_FIELD_ABSENT, GW_FIELD_NULL, GW_FIELD_NULL, "", "" },
        { "{\"expires_at\":\"tomorrow\"}", true, -1, "expires_at", 0, 0, 0, "", "" },
        { "{\"expires_at\":\"2027-01-02T00:00:00+02:00\"}", true, -1, "expires_at", 0, 0, 0, "", "" },
        { "{\"expires_at\":1893456000}", true, -1, "expires_at", 0, 0, 0, "", "" },
        { "{\"expires_at\":\"'; DROP TABLE api_keys; --\"}", true, -1, "expires_at", 0, 0, 0, "", "" },
        { "{\"name\":\"\"}", true, -1, "name", 0, 0, 0, "", "" },
        { "{\"name\":7}", true, -1, "name", 0, 0, 0, "", "" },
        { "{\"name\":\"a\\nb\"}", true, -1, "name", 0, 0, 0, "", "" },
        { "{\"key_hash\":\"x\"}", false, -1, "key_hash", 0, 0, 0, "", "" },
        { "[1]", true, -1, "", 0, 0, 0, "", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *body = cases [i].body? json_loads (cases [i].body, JSON_DECODE_ANY, NULL): NULL;
        CHECK_MSG (!cases [i].body || body, "key body case %zu does not parse", i);
        gw_key_input_t in;
        gw_admin_err_t err;
        int rc = gw_admin_check_key (body, cases [i].create, &in, &err);
        CHECK_MSG (rc == cases [i].rc, "key body case %zu: rc %d", i, rc);
        if (rc == 0) {
            CHECK_MSG (in.name_state == cases [i].name && in.expires_state == cases [i].expires
                       && in.revoke_state == cases [i].revoke, "key body case %zu: states", i);
            CHECK_STR (in.expires_at, cases [i].expires_at);
            CHECK_STR (in.revoke_at, cases [i].revoke_at);
        }
        else {
            CHECK_MSG (err.code != NULL, "key body case %zu: no code", i);
            if (cases [i].param)
                CHECK_STR (err.param, cases [i].param);
        }
        json_decref (body);
    }

    struct { const char *body; int rc; bool viewer; const char *param; } admins [] = {
        { "{\"name\":\"ci\",\"role\":\"admin\"}", 0, false, NULL },
        { "{\"name\":\"auditor\",\"role\":\"viewer\"}", 0, true, NULL },
        { "{\"name\":\"ci\"}", -1, false, "role" },
        { "{\"role\":\"admin\"}", -1, false, "name" },
        { "{\"name\":\"ci\",\"role\":\"root\"}", -1, false, "role" },
        { "{\"name\":\"ci\",\"role\":\"Admin\"}", -1, false, "role" },
        { "{\"name\":\"ci\",\"role\":\"admin\",\"token\":\"mine\"}", -1, false, "token" },
        { "\"admin\"", -1, false, "" },
        //  Names are bytes, at most 64: they are kept in fixed fields
        { "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"role\":\"admin\"}", 0, false, NULL },
        { "{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"role\":\"admin\"}", -1, false, "name" },
        { "{\"name\":\"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\",\"role\":\"admin\"}", -1, false, "name" },
    };
    for (size_t i = 0; i < sizeof admins / sizeof admins [0]; i++) {
        json_t *body = json_loads (admins [i].body, JSON_DECODE_ANY, NULL);
        gw_admin_input_t in;
        gw_admin_err_t err;
        int rc = gw_admin_check_admin (body, &in, &err);
        CHECK_MSG (rc == admins [i].rc, "admin body case %zu: rc %d", i, rc);
        if (rc == 0)
            CHECK_MSG (in.viewer == admins [i].viewer && in.name, "admin body case %zu", i);
        else
        if (admins [i].param)
            CHECK_STR (err.param, admins [i].param);
        json_decref (body);
    }
}

//  DELETE /admin/v1/keys/{id} query strings
static void
test_revoke_query (void)
{
    struct { const char *query; int rc; int64_t grace; const char *at; } cases [] = {
        { "", 0, 0, "" },
        { "grace_seconds=0", 0, 0, "" },
        { "grace_seconds=3600", 0, 3600, "" },
        { "grace_seconds=31622400", 0, 31622400, "" },
        { "grace_seconds=31622401", -1, 0, "" },
        { "grace_seconds=-5", -1, 0, "" },
        { "grace_seconds=1e3", -1, 0, "" },
        { "grace_seconds=", -1, 0, "" },
        { "grace_seconds=99999999999999999999999", -1, 0, "" },
        { "revoke_at=2027-03-04T05:06:07Z", 0, -1, "2027-03-04 05:06:07" },
        { "revoke_at=2027-03-04", 0, -1, "2027-03-04 00:00:00" },
        { "revoke_at=soon", -1, 0, "" },
        { "revoke_at=2027-03-04&grace_seconds=5", -1, 0, "" },
        { "other=1", 0, 0, "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        int64_t grace = 99;
        char at [20];
        gw_admin_err_t err;
        int rc = gw_admin_revoke_query (cases [i].query, &grace, at, &err);
        CHECK_MSG (rc == cases [i].rc, "revoke case %zu (%s): rc %d", i, cases [i].query, rc);
        if (rc == 0) {
            CHECK_MSG (grace == cases [i].grace, "revoke case %zu: grace %lld", i, (long long) grace);
            CHECK_STR (at, cases [i].at);
        }
        else
            CHECK (err.code && !strcmp (err.code, "invalid_value"));
    }
}

//  GET /admin/v1/audit query strings
static void
test_audit_query (void)
{
    const char *u = "0f8fad5b-d9cb-469f-a165-70867728950e";
    char q1 [160];
    snprintf (q1, sizeof q1, "tenant_id=%s&action=key.revoke&from=2026-11-01&to=2026-11-02"
              "&limit=5&before=42", u);
    gw_audit_query_t q;
    gw_admin_err_t err;
    CHECK_INT (gw_admin_audit_query (q1, &q, &err), 0);
    CHECK_STR (q.tenant_id, u);
    CHECK_STR (q.action, "key.revoke");
    CHECK_STR (q.from, "2026-11-01 00:00:00");
    CHECK_STR (q.to, "2026-11-03 00:00:00");
    CHECK_INT (q.limit, 5);
    CHECK_INT (q.before, 42);
    CHECK_INT (gw_admin_audit_query ("", &q, &err), 0);
    CHECK_INT (q.limit, GW_AUDIT_LIMIT_DEFAULT);
    CHECK_INT (q.before, 0);
    CHECK_STR (q.action, "");
    struct { const char *query; const char *param; } bad [] = {
        { "limit=0", "limit" },
        { "limit=1001", "limit" },
        { "limit=ten", "limit" },
        { "before=0", "before" },
        { "before=-1", "before" },
        { "action=key.revoke'--", "action" },
        { "action=KEY", "action" },
        { "action=%27%3B%20DROP%20TABLE%20audit_log", "action" },
        { "tenant_id=1%20OR%201=1", "tenant_id" },
        { "from=yesterday", "from" },
        { "to=2026-02-30", "to" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        int rc = gw_admin_audit_query (bad [i].query, &q, &err);
        CHECK_MSG (rc == -1, "audit bad case %zu (%s) accepted", i, bad [i].query);
        if (rc == -1)
            CHECK_STR (err.param, bad [i].param);
    }
}

int
main (void)
{
    MT_RUN (test_route);
    MT_RUN (test_body);
    MT_RUN (test_tenant);
    MT_RUN (test_query);
    MT_RUN (test_time);
    MT_RUN (test_usage_query);
    MT_RUN (test_err_body);
    MT_RUN (test_handle_offline);
    MT_RUN (test_roles);
    MT_RUN (test_key_bodies);
    MT_RUN (test_revoke_query);
    MT_RUN (test_audit_query);
    return mt_test_done ("test_gw_admin");
}
