//  PostgreSQL helpers.
#include "mt_pg.h"
#include "mt_log.h"
#include "mt_util.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

PGconn *
mt_pg_connect (const char *dsn, int timeout_ms)
{
    uint64_t deadline = mt_mono_ms () + (uint64_t) (timeout_ms > 0? timeout_ms: 0);
    int attempt = 0;
    while (true) {
        PGconn *conn = PQconnectdb (dsn);
        if (conn && PQstatus (conn) == CONNECTION_OK)
            return conn;
        char line [256];
        mt_pg_error_line (conn, NULL, line, sizeof line);
        if (attempt++ % 10 == 0)
            mt_log ("pg-connect-failed attempt=%d reason=\"%s\"", attempt, line);
        PQfinish (conn);
        if (mt_mono_ms () >= deadline || mt_stopping ())
            return NULL;
        usleep (200 * 1000);
    }
}

int
mt_pg_exec (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    ExecStatusType st = PQresultStatus (res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char line [256];
        mt_pg_error_line (conn, res, line, sizeof line);
        mt_log ("pg-error reason=\"%s\"", line);
        rc = -1;
    }
    PQclear (res);
    return rc;
}

bool
mt_pg_ensure (PGconn *conn)
{
    if (PQstatus (conn) == CONNECTION_OK)
        return true;
    PQreset (conn);
    return PQstatus (conn) == CONNECTION_OK;
}

const char *
mt_pg_line (const char *message, char *out, size_t size)
{
    snprintf (out, size, "%s", message? message: "");
    out [strcspn (out, "\r\n")] = 0;
    for (char *p = out; *p; p++)
        if (*p == '"' || *p == '\\')
            *p = '\'';
    return out;
}

const char *
mt_pg_error_line (const PGconn *conn, const PGresult *res, char *out, size_t size)
{
    const char *msg = res? PQresultErrorMessage (res): NULL;
    if (!msg || !*msg)
        msg = conn? PQerrorMessage (conn): "out of memory";
    return mt_pg_line (msg, out, size);
}
