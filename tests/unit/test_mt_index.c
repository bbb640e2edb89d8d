//  mt_index: the table of items by name (scheduler, quota-enforcer), against a plain array
//  of the same names (a row of the table: a number of names, a deletion
//  pattern; every lookup, insert and delete checked).
#include "mt_index.h"
#include "mt_test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    const char *name;
    int count;                  //  names inserted
    int delete_every;           //  delete each k-th name, then insert them again
    const char *format;         //  printf format of a name from its number
} s_row_t;

static const s_row_t s_rows [] = {
    { "empty", 0, 1, "r%d" },
    { "one", 1, 1, "r%d" },
    { "a few, every other deleted", 17, 2, "req-%d" },
    { "past the first growth", 100, 3, "s%d-0" },
    { "10,000 tenants' ids, all deleted", 10000, 1, "00000000-0000-4000-8000-%012d" },
    { "10,000, every 7th deleted", 10000, 7, "%d" },
    { "long names", 300, 5, "a-name-longer-than-one-step-of-the-hash-%032d" },
};

static void
s_row (const s_row_t *row)
{
    mt_test_case ("%s", row->name);
    mt_index_t *ix = mt_index_new ();
    CHECK (ix != NULL);
    if (!ix)
        return;
    int n = row->count;
    char (*names) [96] = calloc (n? (size_t) n: 1, sizeof *names);
    bool *in = calloc (n? (size_t) n: 1, sizeof (bool));
    for (int i = 0; i < n; i++) {
        snprintf (names [i], sizeof names [i], row->format, i);
        CHECK (mt_index_lookup (ix, names [i]) == NULL);
        CHECK_INT (mt_index_insert (ix, names [i], names [i]), 0);
        in [i] = true;
    }
    CHECK_INT (mt_index_size (ix), n);
    if (n)
        CHECK_INT (mt_index_insert (ix, names [0], NULL), -1);    //  there already
    int deleted = 0;
    for (int i = 0; i < n; i += row->delete_every) {
        //  A copy of the name: found by its text, not its address
        char copy [96];
        snprintf (copy, sizeof copy, "%s", names [i]);
        CHECK (mt_index_delete (ix, copy) == names [i]);
        CHECK (mt_index_delete (ix, copy) == NULL);
        in [i] = false;
        deleted++;
    }
    CHECK_INT (mt_index_size (ix), n - deleted);
    bool all = true;
    for (int i = 0; i < n; i++) {
        void *item = mt_index_lookup (ix, names [i]);
        if (item != (in [i]? names [i]: NULL))
            all = false;
    }
    CHECK_MSG (all, "every name that stayed is found, no deleted one is");
    //  A walk sees each item once
    int walked = 0;
    for (void *item = mt_index_first (ix); item; item = mt_index_next (ix))
        walked++;
    CHECK_INT (walked, n - deleted);
    for (int i = 0; i < n; i++)
        if (!in [i])
            CHECK_INT (mt_index_insert (ix, names [i], names [i]), 0);
    all = true;
    for (int i = 0; i < n; i++)
        if (mt_index_lookup (ix, names [i]) != names [i])
            all = false;
    CHECK_MSG (all, "every name inserted again is found");
    CHECK_INT (mt_index_size (ix), n);
    CHECK (mt_index_lookup (ix, "not-there") == NULL);
    mt_index_destroy (&ix);
    CHECK (ix == NULL);
    mt_index_destroy (&ix);        //  no-op on NULL
    free (names);
    free (in);
}

int
main (void)
{
    for (size_t i = 0; i < sizeof s_rows / sizeof s_rows [0]; i++)
        s_row (&s_rows [i]);
    return mt_test_done ("test_mt_index");
}
