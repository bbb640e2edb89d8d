//  PostgreSQL helpers.
#ifndef MT_PG_H_INCLUDED
#define MT_PG_H_INCLUDED

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

//  Connect, retrying up to timeout_ms (the database may still be starting).
//  Logs failures without the DSN (it may hold a password). Caller owns;
//  close with PQfinish. NULL on failure.
PGconn *mt_pg_connect (const char *dsn, int timeout_ms);

//  Run a command with no result rows wanted. Returns 0 or -1 (logged).
int mt_pg_exec (PGconn *conn, const char *sql);

//  A PostgreSQL message as one log-safe line in out (size bytes): its first
//  line, with '"' and '\\' made '\''. Returns out.
const char *mt_pg_line (const char *message, char *out, size_t size);

//  The error of res, or (res NULL, or its message empty) of conn, or "out of
//  memory" without either, as mt_pg_line makes it. Returns out.
const char *mt_pg_error_line (const PGconn *conn, const PGresult *res, char *out, size_t size);

//  True when the connection is usable; tries one PQreset when it is not.
bool mt_pg_ensure (PGconn *conn);

#endif
