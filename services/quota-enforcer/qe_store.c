//  All SQL of the quota-enforcer. Runs only before the socket is served.
#include "qe_store.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Today's tokens per tenant; the day is the one the quota math uses
//  (mt_day_start_ms of our clock), passed as ms since the epoch.
static const char *s_used_today_sql =
    "SELECT tenant_id::text, SUM (prompt_tokens::bigint + completion_tokens)::bigint"
    "  FROM request_logs"
    " WHERE timestamp >= to_timestamp ($1::bigint / 1000.0) AT TIME ZONE 'UTC'"
    " GROUP BY tenant_id";

int
qe_store_rebuild (const char *dsn, int wait_ms, qe_quota_t *quota, uint64_t now_ms)
{
    PGconn *conn = mt_pg_connect (dsn, wait_ms);
    if (!conn) {
        mt_log ("rebuild-failed reason=\"database unreachable after %d ms\"", wait_ms);
        return -1;
    }
    int rc = -1;
    char day [32];
    snprintf (day, sizeof day, "%" PRIu64, mt_day_start_ms (now_ms));
    const char *params [1] = { day };
    PGresult *res = PQexecParams (conn, s_used_today_sql, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        char line [256];
        mt_pg_error_line (conn, res, line, sizeof line);
        mt_log ("rebuild-failed reason=\"%s\"", line);
        goto cleanup;
    }
    uint64_t total = 0;
    int rows = PQntuples (res);
    for (int i = 0; i < rows; i++) {
        const char *tenant = PQgetvalue (res, i, 0);
        uint64_t used = strtoull (PQgetvalue (res, i, 1), NULL, 10);
        qe_quota_set_used_today (quota, tenant, used, now_ms);
        total += used;
        mt_debug ("rebuild-tenant tenant=%s used_today=%" PRIu64, tenant, used);
    }
    mt_log ("rebuild-done tenants=%d tokens=%" PRIu64, rows, total);
    rc = rows;
cleanup:
    PQclear (res);
    PQfinish (conn);
    return rc;
}
