//  GET /admin/v1/usage/series: usage_records summed per hour or per day, for
//  one tenant or all, between two times. Query parsing is pure (unit-tested);
//  the query runs on the store thread's connection.
#include "gw_console.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
gw_series_match (const char *path)
{
    return path && !strcmp (path, "/admin/v1/usage/series");
}

int
gw_series_query (const char *query, gw_series_query_t *q, gw_admin_err_t *err)
{
    memset (q, 0, sizeof *q);
    if (gw_admin_usage_query (query, true, &q->range, err))
        return -1;
    char g [16];
    int rc = gw_admin_query_get (query? query: "", "granularity", g, sizeof g);
    if (rc == 0 || (rc == 1 && !strcmp (g, "hour")))
        return 0;
    if (rc == 1 && !strcmp (g, "day")) {
        q->day = true;
        return 0;
    }
    memset (err, 0, sizeof *err);
    err->code = "invalid_value";
    snprintf (err->param, sizeof err->param, "granularity");
    snprintf (err->message, sizeof err->message, "granularity must be 'hour' or 'day'.");
    return -1;
}

void
gw_series_handle (PGconn *conn, const char *method, const char *query, gw_admin_reply_t *reply)
{
    memset (reply, 0, sizeof *reply);
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        gw_admin_reply_err (reply, "method_not_allowed", NULL, NULL);
        return;
    }
    gw_admin_err_t err;
    gw_series_query_t q;
    if (gw_series_query (query, &q, &err)) {
        reply->body = gw_admin_err_body (&err, &reply->status);
        return;
    }
    const char *params [] = { q.day? "day": "hour",
                              q.range.tenant_id [0]? q.range.tenant_id: NULL,
                              q.range.from [0]? q.range.from: NULL,
                              q.range.to [0]? q.range.to: NULL };
    PGresult *res = PQexecParams (conn,
        "SELECT to_char (date_trunc ($1, timestamp), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " SUM (tokens_used), SUM (prompt_tokens), SUM (completion_tokens), SUM (request_count)"
        " FROM usage_records"
        " WHERE ($2::uuid IS NULL OR tenant_id = $2::uuid)"
        " AND ($3::timestamp IS NULL OR timestamp >= $3::timestamp)"
        " AND ($4::timestamp IS NULL OR timestamp < $4::timestamp)"
        " GROUP BY 1 ORDER BY 1", 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
        bool lost = PQstatus (conn) != CONNECTION_OK;
        PQclear (res);
        if (lost)
            gw_admin_reply_err (reply, "service_unavailable", NULL, NULL);
        else
        if (state && !strcmp (state, "22P02"))
            gw_admin_reply_err (reply, "invalid_value", "tenant_id", "tenant_id is not a UUID.");
        else
            gw_admin_reply_err (reply, "internal_error", NULL, NULL);
        return;
    }
    json_t *data = json_array ();
    json_int_t total [4] = { 0, 0, 0, 0 };
    static const char *cols [] = { "tokens_used", "prompt_tokens", "completion_tokens",
                                   "request_count" };
    for (int i = 0; data && i < PQntuples (res); i++) {
        json_t *row = json_pack ("{s:s}", "timestamp", PQgetvalue (res, i, 0));
        for (int c = 0; row && c < 4; c++) {
            json_int_t v = strtoll (PQgetvalue (res, i, 1 + c), NULL, 10);
            total [c] += v;
            json_object_set_new (row, cols [c], json_integer (v));
        }
        json_array_append_new (data, row);
    }
    PQclear (res);
    json_t *sum = json_object ();
    for (int c = 0; sum && c < 4; c++)
        json_object_set_new (sum, cols [c], json_integer (total [c]));
    gw_admin_reply_json (reply, 200, json_pack ("{s:s, s:s, s:s?, s:o, s:o}", "object", "list",
                         "granularity", q.day? "day": "hour",
                         "tenant_id", q.range.tenant_id [0]? q.range.tenant_id: NULL,
                         "total", sum, "data", data));
}
