//  mt-migrate: applies sql/migrations/NNNN_name.sql in order, each once, each in
//  its own transaction, recorded in schema_migrations. An advisory lock keeps
//  two runners (two replicas starting at once) from racing.
#include "mt_config.h"
#include "mt_log.h"
#include "mt_pg.h"
#include "mt_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LOCK_KEY "7310000001"

static mt_opt_t s_opts [] = {
    { "pg-dsn", "MT_PG_DSN", MT_OPT_STRING, NULL, 0, 0, "PostgreSQL connection string" },
    { "dir", "MT_MIGRATIONS_DIR", MT_OPT_STRING, "sql/migrations", 0, 0, "migrations folder" },
    { "wait-ms", "MT_PG_WAIT_MS", MT_OPT_INT, "30000", 0, 600000, "how long to wait for PostgreSQL" },
    { NULL }
};

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char * const *) a, *(char * const *) b);
}

static char *
s_slurp (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t size = 0;
    FILE *mem = open_memstream (&buf, &size);
    if (!mem) {
        fclose (f);
        return NULL;
    }
    char chunk [8192];
    size_t n;
    bool ok = true;
    while (ok && (n = fread (chunk, 1, sizeof chunk, f)) > 0)
        ok = fwrite (chunk, 1, n, mem) == n;
    ok = ok && !ferror (f);
    fclose (f);
    if (fclose (mem) || !ok) {
        free (buf);
        return NULL;
    }
    return buf;
}

//  Apply one file unless recorded. Returns 1 applied, 0 skipped, -1 error.
static int
s_apply (PGconn *conn, const char *dir, const char *name)
{
    const char *params [1] = { name };
    PGresult *res = PQexecParams (conn, "SELECT 1 FROM schema_migrations WHERE name = $1",
                                  1, NULL, params, NULL, NULL, 0);
    int done = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) > 0;
    int failed = PQresultStatus (res) != PGRES_TUPLES_OK;
    PQclear (res);
    if (failed)
        return -1;
    if (done)
        return 0;
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    char *sql = s_slurp (path);
    if (!sql) {
        mt_log ("migrate-error file=%s reason=\"cannot read\"", name);
        return -1;
    }
    int rc = -1;
    if (mt_pg_exec (conn, "BEGIN"))
        goto cleanup;
    if (mt_pg_exec (conn, sql)) {
        mt_log ("migrate-error file=%s", name);
        mt_pg_exec (conn, "ROLLBACK");
        goto cleanup;
    }
    res = PQexecParams (conn, "INSERT INTO schema_migrations (name) VALUES ($1)",
                        1, NULL, params, NULL, NULL, 0);
    failed = PQresultStatus (res) != PGRES_COMMAND_OK;
    PQclear (res);
    if (failed || mt_pg_exec (conn, "COMMIT")) {
        mt_pg_exec (conn, "ROLLBACK");
        goto cleanup;
    }
    mt_log ("migration-applied file=%s", name);
    rc = 1;
cleanup:
    free (sql);
    return rc;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("mt-migrate", s_opts, argc, argv, &rc))
        return rc;
    const char *dir = mt_config_str (s_opts, "dir");
    PGconn *conn = mt_pg_connect (mt_config_str (s_opts, "pg-dsn"),
                                  (int) mt_config_int (s_opts, "wait-ms"));
    if (!conn)
        return 1;
    char **names = NULL;
    size_t count = 0;
    int applied = 0;
    rc = 1;
    DIR *d = opendir (dir);
    if (!d) {
        mt_log ("migrate-error dir=%s reason=\"cannot open\"", dir);
        goto cleanup;
    }
    struct dirent *e;
    while ((e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (len > 4 && !strcmp (e->d_name + len - 4, ".sql")) {
            char **grown = realloc (names, (count + 1) * sizeof *names);
            char *name = grown? strdup (e->d_name): NULL;
            if (grown)
                names = grown;
            if (!name) {
                mt_log ("migrate-error dir=%s reason=\"out of memory\"", dir);
                closedir (d);
                goto cleanup;
            }
            names [count++] = name;
        }
    }
    closedir (d);
    qsort (names, count, sizeof *names, s_cmp);
    if (mt_pg_exec (conn, "SELECT pg_advisory_lock (" S_LOCK_KEY ")")
    ||  mt_pg_exec (conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                          " name TEXT PRIMARY KEY,"
                          " applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))"))
        goto cleanup;
    size_t i;
    for (i = 0; i < count && !mt_stopping (); i++) {
        //  A stop asked for lands between two migrations, never inside one
        int r = s_apply (conn, dir, names [i]);
        if (r < 0)
            break;
        applied += r;
    }
    if (i == count) {
        mt_log ("migrations-done applied=%d total=%zu", applied, count);
        rc = 0;
    }
    mt_pg_exec (conn, "SELECT pg_advisory_unlock (" S_LOCK_KEY ")");
cleanup:
    for (size_t j = 0; j < count; j++)
        free (names [j]);
    free (names);
    PQfinish (conn);
    return rc;
}
