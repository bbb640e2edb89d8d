//  PostgreSQL helpers.
#ifndef MT_PG_H_INCLUDED
#define MT_PG_H_INCLUDED

#include <libpq-fe.h>
#include <stdbool.h>

//  Connect, retrying up to timeout_ms (the database may still be starting).
//  Logs failures without the DSN (it may hold a password). Caller owns;
//  close with PQfinish. NULL on failure.
PGconn *mt_pg_connect (const char *dsn, int timeout_ms);

//  Run a command with no result rows wanted. Returns 0 or -1 (logged).
int mt_pg_exec (PGconn *conn, const char *sql);

//  True when the connection is usable; tries one PQreset when it is not.
bool mt_pg_ensure (PGconn *conn);

#endif
