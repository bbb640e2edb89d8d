//  The admin API and tenant-facing /v1/usage, run on the store thread.
//
//  Two halves: gw_admin.c, pure request handling (routing, body validation,
//  query and time parsing, rendering replies; no I/O, table-tested in
//  tests/unit/test_gw_admin.c), and gw_admin_sql.c, the handlers that run the
//  SQL on the store thread's connection (gw_admin_handle, gw_admin_usage).
#ifndef GW_ADMIN_H_INCLUDED
#define GW_ADMIN_H_INCLUDED

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A refusal: code for mt_error_lookup, the offending field, a message.
typedef struct {
    const char *code;           //  NULL = no error
    char param [64];            //  "" = JSON null
    char message [256];         //  "" = the error table's default
} gw_admin_err_t;

//  Who makes an admin request, for the role check and the audit trail.
typedef struct {
    char token_id [37];             //  admin_tokens.id
    char name [129];                //  admin_tokens.name
    char role [8];                  //  "admin" or "viewer"
    char request_id [48];           //  the request's x-request-id
} gw_admin_who_t;

//  What a request is, once method and path are matched.
typedef enum {
    GW_ADMIN_NONE = 0,          //  no route: err says not_found or method_not_allowed
    GW_ADMIN_TENANT_CREATE,     //  POST   /admin/v1/tenants
    GW_ADMIN_TENANT_LIST,       //  GET    /admin/v1/tenants
    GW_ADMIN_TENANT_GET,        //  GET    /admin/v1/tenants/{id}
    GW_ADMIN_TENANT_PATCH,      //  PATCH  /admin/v1/tenants/{id}
    GW_ADMIN_TENANT_DELETE,     //  DELETE /admin/v1/tenants/{id}
    GW_ADMIN_KEY_CREATE,        //  POST   /admin/v1/tenants/{id}/keys
    GW_ADMIN_KEY_LIST,          //  GET    /admin/v1/tenants/{id}/keys
    GW_ADMIN_KEY_REVOKE,        //  DELETE /admin/v1/keys/{id}
    GW_ADMIN_USAGE,             //  GET    /admin/v1/usage
    GW_ADMIN_KEY_PATCH,         //  PATCH  /admin/v1/keys/{id}
    GW_ADMIN_ADMIN_LIST,        //  GET    /admin/v1/admin-tokens
    GW_ADMIN_ADMIN_CREATE,      //  POST   /admin/v1/admin-tokens
    GW_ADMIN_ADMIN_REVOKE,      //  DELETE /admin/v1/admin-tokens/{id}
    GW_ADMIN_AUDIT,             //  GET    /admin/v1/audit
} gw_admin_op_t;

//  The four per-tenant overrides, in this order everywhere.
#define GW_ADMIN_LIMITS 4
extern const char *gw_admin_limit_names [GW_ADMIN_LIMITS];

typedef enum {
    GW_FIELD_ABSENT = 0,        //  not in the body
    GW_FIELD_NULL,              //  JSON null: inherit the tier's value
    GW_FIELD_SET,               //  a value
} gw_field_t;

//  A validated tenant body (POST or PATCH). Strings borrowed from the json_t.
typedef struct {
    const char *name;           //  NULL when absent
    const char *tier;           //  NULL when absent
    gw_field_t limit_state [GW_ADMIN_LIMITS];   //  per override, gw_admin_limit_names order
    int64_t limit [GW_ADMIN_LIMITS];    //  the value where limit_state is GW_FIELD_SET
} gw_tenant_input_t;

//  Usage query bounds, validated and normalised.
typedef struct {
    char tenant_id [37];        //  "" = every tenant
    char from [20];             //  "YYYY-MM-DD HH:MM:SS" inclusive, "" = open
    char to [20];               //  same, exclusive, "" = open
} gw_usage_query_t;

//  A key body: POST /admin/v1/tenants/{id}/keys (may be empty) or PATCH
//  /admin/v1/keys/{id}. Times as "YYYY-MM-DD HH:MM:SS" UTC.
typedef struct {
    gw_field_t name_state;
    const char *name;           //  borrowed from the json_t
    gw_field_t expires_state;
    char expires_at [20];
    gw_field_t revoke_state;    //  PATCH only
    char revoke_at [20];
} gw_key_input_t;

#define GW_ADMIN_NAME_MAX 64      //  bytes of an admin token's name

//  A new admin token's body.
typedef struct {
    const char *name;           //  borrowed from the json_t
    bool viewer;                //  role "viewer" (else "admin")
} gw_admin_input_t;

//  GET /admin/v1/audit: filters and a page.
typedef struct {
    char tenant_id [37];        //  "" = any
    char action [64];           //  "" = any
    char from [20];             //  inclusive, "" = open
    char to [20];               //  exclusive, "" = open
    int64_t before;             //  rows with id < before; 0 = from the newest
    int limit;                  //  rows per page, 1..GW_AUDIT_LIMIT_MAX
} gw_audit_query_t;

#define GW_AUDIT_LIMIT_DEFAULT 100
#define GW_AUDIT_LIMIT_MAX     1000
#define GW_GRACE_MAX_S         (366LL * 86400)    //  longest scheduled revocation

//  Match a method and path. Copies the {id} segment into id ("" when the
//  route has none). On GW_ADMIN_NONE, err holds not_found or method_not_allowed.
gw_admin_op_t gw_admin_route (const char *method, const char *path, char id [64],
                              gw_admin_err_t *err);

//  Parse a request body that must be a JSON object. Caller owns the result;
//  json_decref. NULL with err set (invalid_json, invalid_value).
json_t *gw_admin_parse_body (const char *body, size_t len, gw_admin_err_t *err);

//  Validate a tenant body. create: name and tier required, null overrides
//  mean absent. Returns 0, or -1 with err set (param = the field).
int gw_admin_check_tenant (json_t *body, bool create, gw_tenant_input_t *in,
                           gw_admin_err_t *err);

//  Find name in a query string ("a=1&b=2") and URL-decode its value into out.
//  Returns 1 found, 0 absent, -1 malformed or too long.
int gw_admin_query_get (const char *query, const char *name, char *out, size_t size);

//  Parse an ISO date "YYYY-MM-DD" or date-time "YYYY-MM-DDTHH:MM[:SS[.fff]][Z]"
//  (UTC; a space may stand for the T) into "YYYY-MM-DD HH:MM:SS". end: the
//  result is an exclusive upper bound (a date means through that whole day, a
//  date-time through that second). Returns 0 or -1.
int gw_admin_parse_time (const char *text, bool end, char out [20]);

//  Read tenant_id (when admin), from and to out of a query string.
//  Returns 0, or -1 with err set (invalid_value, param = the field).
int gw_admin_usage_query (const char *query, bool admin, gw_usage_query_t *q,
                          gw_admin_err_t *err);

//  True when op changes state (and so writes an audit row).
bool gw_admin_op_writes (gw_admin_op_t op);

//  May a token of this role run op? Viewers read tenants, keys, usage and the
//  audit trail; they write nothing and do not see the admin tokens.
bool gw_admin_allowed (bool viewer, gw_admin_op_t op);

//  Validate a key body (create: POST, revoke_at not allowed; body may be
//  NULL = empty). Returns 0, or -1 with err set.
int gw_admin_check_key (json_t *body, bool create, gw_key_input_t *in, gw_admin_err_t *err);

//  Validate a new admin token's body: name (required, 1 to
//  GW_ADMIN_NAME_MAX bytes), role ("admin" or "viewer", required). Returns 0, or -1 with err set.
int gw_admin_check_admin (json_t *body, gw_admin_input_t *in, gw_admin_err_t *err);

//  DELETE /admin/v1/keys/{id}: "" = now, "grace_seconds=N" or "revoke_at=T"
//  schedule it. Fills *grace_s (-1 when revoke_at is given) and revoke_at.
//  Returns 0, or -1 with err set.
int gw_admin_revoke_query (const char *query, int64_t *grace_s, char revoke_at [20],
                           gw_admin_err_t *err);

//  Read tenant_id, action, from, to, limit and before for GET /admin/v1/audit.
//  Returns 0, or -1 with err set.
int gw_admin_audit_query (const char *query, gw_audit_query_t *q, gw_admin_err_t *err);

//  Render err as an OpenAI error body and its HTTP status. Caller owns; free().
char *gw_admin_err_body (const gw_admin_err_t *err, unsigned *status);

//  A handler's answer.
typedef struct {
    unsigned status;            //  HTTP status
    char *body;                 //  JSON text; caller owns, free()
    bool changed;               //  a write committed: reload the cache first
} gw_admin_reply_t;

//  Answer with an error in OpenAI's shape (code for mt_error_lookup; param and
//  message may be NULL). Replaces any body reply already holds.
void gw_admin_reply_err (gw_admin_reply_t *reply, const char *code, const char *param,
                         const char *message);

//  Answer status with root rendered compactly; takes root (NULL or a render
//  failure answers internal_error). Replaces any body reply already holds.
void gw_admin_reply_json (gw_admin_reply_t *reply, unsigned status, json_t *root);

//  ---------------------------------------------------------------------
//  SQL handlers (gw_admin_sql.c)

//  Run one admin request on conn for who (role checked here: a viewer's
//  write is 403 permission_denied). Every committed write adds one audit_log
//  row in its own transaction. Always fills reply (errors in OpenAI's shape;
//  503 service_unavailable when the connection is lost).
void gw_admin_handle (PGconn *conn, const gw_admin_who_t *who, const char *method,
                      const char *path, const char *query, const char *body,
                      size_t body_len, gw_admin_reply_t *reply);

//  Enter token (MT_ADMIN_TOKEN) as the first admin, named "bootstrap-<8 hex
//  of its hash>", with an audit row: only while no live admin-role token
//  exists and its hash is not known (a revoked one stays revoked). Logged;
//  returns 0 (entered or nothing to do) or -1.
int gw_admin_bootstrap (PGconn *conn, const char *token);

//  Run GET /v1/usage for tenant_id under row-level security (role mt_tenant,
//  mt.tenant_id set in the transaction). Always fills reply.
void gw_admin_usage (PGconn *conn, const char *tenant_id, const char *query,
                     gw_admin_reply_t *reply);

#endif
