//  libFuzzer target: the pure half of the admin API (gw_admin.c), on the
//  bytes a client controls. The first byte chooses the entry point (bits
//  0-1) and a flag (bit 2); the rest is the input:
//    0  gw_admin_route: "METHOD\nPATH", then mt_is_uuid on the {id} segment
//       as gw_admin_handle does, and the error body on no route
//    1  gw_admin_parse_body + gw_admin_check_tenant (flag: create or PATCH)
//    2  gw_admin_usage_query (flag: admin or tenant /v1/usage)
//    3  gw_admin_query_get ("NAME\nQUERY", out buffer of the second byte's
//       size) and gw_admin_parse_time (flag: end) on the whole text
//  With bit 3 set, the entry points of keys, admin tokens and the audit trail:
//    0  gw_admin_parse_body + gw_admin_check_key (flag: create or PATCH)
//    1  gw_admin_parse_body + gw_admin_check_admin
//    2  gw_admin_revoke_query
//    3  gw_admin_audit_query
//  Strings are exact-size heap copies so ASan sees any read past the end.
#include "gw_admin.h"
#include "mt_errors.h"
#include "mt_util.h"

#include <stdlib.h>
#include <string.h>

//  Exact-size, NUL-terminated copy of [data, data+size).
static char *
s_strndup (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    text [size] = 0;
    return text;
}

static void
s_err_body (const gw_admin_err_t *err)
{
    if (!err->code || strlen (err->param) >= sizeof err->param
    ||  strlen (err->message) >= sizeof err->message)
        abort ();
    unsigned status = 0;
    char *body = gw_admin_err_body (err, &status);
    if (!body || status < 400 || status > 599)
        abort ();
    free (body);
}

static void
s_route (const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr (data, '\n', size);
    size_t mlen = nl? (size_t) (nl - data): size;
    char *method = s_strndup (data, mlen);
    char *path = nl? s_strndup (nl + 1, size - mlen - 1): s_strndup (data, 0);
    char id [64];
    gw_admin_err_t err;
    gw_admin_op_t op = gw_admin_route (method, path, id, &err);
    if (strlen (id) >= sizeof id)
        abort ();
    if (op == GW_ADMIN_NONE)
        s_err_body (&err);
    else
    if (err.code)
        abort ();
    else
    if (*id)
        (void) mt_is_uuid (id);
    free (method);
    free (path);
}

static void
s_body (const uint8_t *data, size_t size, bool create)
{
    //  libmicrohttpd's upload buffer: exact size, not terminated
    char *body = (char *) malloc (size? size: 1);
    if (!body)
        abort ();
    memcpy (body, data, size);
    gw_admin_err_t err;
    json_t *root = gw_admin_parse_body (body, size, &err);
    if (!root) {
        s_err_body (&err);
        free (body);
        return;
    }
    gw_tenant_input_t in;
    if (gw_admin_check_tenant (root, create, &in, &err))
        s_err_body (&err);
    else {
        if (err.code || (create && (!in.name || !in.tier)))
            abort ();
        volatile size_t sink = 0;
        if (in.name)
            sink += strlen (in.name);
        if (in.tier)
            sink += strlen (in.tier);
        for (int i = 0; i < GW_ADMIN_LIMITS; i++)
            if (in.limit_state [i] == GW_FIELD_SET && in.limit [i] < 0)
                abort ();
        (void) sink;
    }
    gw_admin_reply_t reply = { 0 };
    gw_admin_reply_json (&reply, 200, root);        //  takes root
    free (reply.body);
    free (body);
}

static void
s_usage (const uint8_t *data, size_t size, bool admin)
{
    char *query = s_strndup (data, size);
    gw_usage_query_t q;
    gw_admin_err_t err;
    if (gw_admin_usage_query (query, admin, &q, &err))
        s_err_body (&err);
    else {
        if (err.code
        ||  (*q.tenant_id && (!admin || !mt_is_uuid (q.tenant_id)))
        ||  (*q.from && strlen (q.from) != 19)
        ||  (*q.to && strlen (q.to) != 19))
            abort ();
    }
    free (query);
}

static void
s_query_time (const uint8_t *data, size_t size, bool end)
{
    if (size < 1)
        return;
    size_t outsize = data [0] % 130;        //  0 .. 129 bytes
    data++;
    size--;
    const uint8_t *nl = memchr (data, '\n', size);
    size_t nlen = nl? (size_t) (nl - data): size;
    char *name = s_strndup (data, nlen);
    char *query = nl? s_strndup (nl + 1, size - nlen - 1): s_strndup (data, 0);
    char *out = (char *) malloc (outsize? outsize: 1);
    if (!out)
        abort ();
    int rc = gw_admin_query_get (query, name, out, outsize);
    if (rc < -1 || rc > 1 || (rc == 1 && strnlen (out, outsize) >= outsize))
        abort ();
    free (out);
    free (query);
    free (name);

    char *text = s_strndup (data, size);
    char *when = (char *) malloc (20);
    if (!when)
        abort ();
    if (gw_admin_parse_time (text, end, when) == 0 && strnlen (when, 20) != 19)
        abort ();
    free (when);
    free (text);
}

static void
s_keys (const uint8_t *data, size_t size, int which, bool flag)
{
    char *text = s_strndup (data, size);
    gw_admin_err_t err;
    if (which <= 1) {
        json_t *root = gw_admin_parse_body (text, size, &err);
        if (root && which == 0) {
            gw_key_input_t in;
            if (gw_admin_check_key (root, flag, &in, &err))
                s_err_body (&err);
            else
            if ((in.expires_state == GW_FIELD_SET && strlen (in.expires_at) != 19)
            ||  (in.revoke_state == GW_FIELD_SET && (flag || strlen (in.revoke_at) != 19))
            ||  (in.name_state == GW_FIELD_SET && !in.name))
                abort ();
        }
        else
        if (root) {
            gw_admin_input_t in;
            if (gw_admin_check_admin (root, &in, &err))
                s_err_body (&err);
            else
            if (!in.name)
                abort ();
        }
        else
            s_err_body (&err);
        json_decref (root);
    }
    else
    if (which == 2) {
        int64_t grace;
        char at [20];
        if (gw_admin_revoke_query (text, &grace, at, &err))
            s_err_body (&err);
        else
        if (grace < -1 || grace > GW_GRACE_MAX_S || (grace == -1) != (strlen (at) == 19))
            abort ();
    }
    else {
        gw_audit_query_t q;
        if (gw_admin_audit_query (text, &q, &err))
            s_err_body (&err);
        else
        if (q.limit < 1 || q.limit > GW_AUDIT_LIMIT_MAX || q.before < 0
        ||  strspn (q.action, "abcdefghijklmnopqrstuvwxyz._-") != strlen (q.action))
            abort ();
    }
    free (text);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool flag = (data [0] & 4) != 0;
    if (data [0] & 8) {
        s_keys (data + 1, size - 1, data [0] & 3, flag);
        return 0;
    }
    switch (data [0] & 3) {
        case 0: s_route (data + 1, size - 1); break;
        case 1: s_body (data + 1, size - 1, flag); break;
        case 2: s_usage (data + 1, size - 1, flag); break;
        case 3: s_query_time (data + 1, size - 1, flag); break;
    }
    return 0;
}
