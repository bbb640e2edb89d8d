//  Unit tests of JSON log lines (mt_log_json).
#include "mt_test.h"
#include "mt_log.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *line;
    const char *want;               //  compact JSON, or NULL: nothing
} s_case_t;

static void
test_table (void)
{
    //  2026-11-29T20:00:00.123Z
    const uint64_t now = 1795982400123ULL;
    s_case_t cases [] = {
        { "done req=r1 tenant=t1 status=ok",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"done\",\"req\":\"r1\",\"tenant\":\"t1\",\"status\":\"ok\"}" },
        { "start-failed reason=\"cannot bind tcp://*:1\"",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"start-failed\",\"reason\":\"cannot bind tcp://*:1\"}" },
        { "x msg=\"say \\\"hi\\\"\" k=",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"x\",\"msg\":\"say \\\"hi\\\"\",\"k\":\"\"}" },
        { "  listening on port 80 a=1",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"listening\",\"extra\":\"on port 80\",\"a\":\"1\"}" },
        { "bad \xff\xfe v=\xc3",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"bad\",\"extra\":\"??\",\"v\":\"?\"}" },
        { "unterminated a=\"open",
          "{\"ts\":\"2026-11-29T20:00:00.123Z\",\"service\":\"svc\",\"event\":\"unterminated\",\"a\":\"open\"}" },
        { "", NULL },
        { "   ", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        char out [1024];
        size_t n = mt_log_json ("svc", cases [i].line, now, out, sizeof out);
        if (!cases [i].want) {
            CHECK_INT (n, 0);
            continue;
        }
        CHECK_MSG (n > 0, "case %zu: nothing", i);
        if (!n)
            continue;
        //  Valid JSON, and the same object as wanted (key order aside)
        json_t *got = json_loads (out, 0, NULL);
        json_t *want = json_loads (cases [i].want, 0, NULL);
        CHECK_MSG (got && want && json_equal (got, want), "case %zu: %s", i, out);
        CHECK_INT (strlen (out), n);
        json_decref (got);
        json_decref (want);
    }
}

static void
test_limits (void)
{
    char small [40];
    CHECK_INT (mt_log_json ("svc", "event a=1", 0, small, sizeof small), 0);    //  does not fit
    CHECK_INT (mt_log_json ("svc", NULL, 0, small, sizeof small), 0);
    CHECK_INT (mt_log_json ("svc", "e", 0, NULL, 0), 0);
    //  A very long value is cut, never overflows
    char line [3000], out [4096];
    memset (line, 'v', sizeof line - 1);
    line [sizeof line - 1] = 0;
    memcpy (line, "e k=", 4);
    size_t n = mt_log_json ("svc", line, 0, out, sizeof out);
    CHECK (n > 1000 && n < sizeof out);
}

//  --------------------------------------------------------------------------
//  Held lines (mt_log_hold): each case runs in a child whose stderr is a pipe

static void
s_child_order (void)
{
    mt_log_hold (60000);
    mt_log ("one n=%d", 1);
    mt_log ("two");
    ssize_t rc = write (STDERR_FILENO, "mark\n", 5);      //  overtakes held lines
    (void) rc;
    mt_log_flush ();
    mt_log ("three");                                       //  written at exit
    exit (0);
}

//  Held until due: nothing written before, all of it after
static void
s_child_due (void)
{
    mt_log_hold (50);
    mt_log ("a");
    long first = mt_log_flush_due ();          //  not due yet: held
    ssize_t rc = write (STDERR_FILENO, first > 0 && first <= 50? "wait\n": "bad\n", first > 0 && first <= 50? 5: 4);
    usleep (60 * 1000);
    mt_log ("b");
    long after = mt_log_flush_due ();          //  due: written, none held
    rc = write (STDERR_FILENO, after == -1? "none\n": "bad\n", after == -1? 5: 4);
    (void) rc;
    _exit (0);
}

static void
s_child_abort (void)
{
    mt_log_hold (60000);
    mt_log ("kept before=abort");
    abort ();
}

static void
s_child_fault (void)
{
    mt_log_hold (60000);
    mt_log ("kept before=fault");
    //  A page that may not be written: a real fault (a null pointer would
    //  be the sanitizer's own report, which exits without the signal)
    volatile int *p = mmap (NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        *p = 1;
    exit (0);
}

static void *
s_other (void *arg)
{
    (void) arg;
    mt_log ("other");
    return NULL;
}

static void
s_child_thread (void)
{
    mt_log_hold (60000);
    mt_log ("mine");
    pthread_t t;
    if (pthread_create (&t, NULL, s_other, NULL) == 0)
        pthread_join (t, NULL);
    mt_log_flush ();
    _exit (0);
}

static void
s_child_full (void)
{
    mt_log_hold (60000);
    for (int i = 0; i < 100; i++)
        mt_log ("line i=%03d pad=%080d", i, 0);
    ssize_t rc = write (STDERR_FILENO, "mark\n", 5);
    (void) rc;
    exit (0);
}

//  Runs fn in a child with stderr on a pipe; returns what it wrote
static char *
s_run_child (void (*fn) (void), int *status)
{
    int fds [2];
    if (pipe (fds))
        return NULL;
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        signal (SIGABRT, SIG_DFL);
        struct rlimit none = { 0, 0 };      //  no core file of the faults
        setrlimit (RLIMIT_CORE, &none);
        dup2 (fds [1], STDERR_FILENO);
        close (fds [0]);
        close (fds [1]);
        mt_log_init ("t");
        fn ();
        _exit (3);
    }
    close (fds [1]);
    size_t size = 65536, len = 0;
    char *out = calloc (1, size);
    ssize_t n;
    while (out && (n = read (fds [0], out + len, size - 1 - len)) > 0)
        len += (size_t) n;
    close (fds [0]);
    waitpid (pid, status, 0);
    return out;
}

static void
test_hold (void)
{
    int status = 0;
    mt_test_case ("held lines wait for the flush, the rest at exit");
    char *out = s_run_child (s_child_order, &status);
    CHECK_STR (out, "mark\nt: one n=1\nt: two\nt: three\n");
    CHECK (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    free (out);

    mt_test_case ("held lines written once the oldest is due");
    out = s_run_child (s_child_due, &status);
    CHECK_STR (out, "wait\nt: a\nt: b\nnone\n");
    free (out);

    mt_test_case ("held lines written on abort");
    out = s_run_child (s_child_abort, &status);
    CHECK_STR (out, "t: kept before=abort\n");
    CHECK (WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT);
    free (out);

    mt_test_case ("held lines written on a fault, before its handler");
    out = s_run_child (s_child_fault, &status);
    CHECK (out && strstr (out, "t: kept before=fault\n"));
    CHECK (!(WIFEXITED (status) && WEXITSTATUS (status) == 0));
    free (out);

    mt_test_case ("another thread's lines go out at once");
    out = s_run_child (s_child_thread, &status);
    CHECK_STR (out, "t: other\nt: mine\n");
    free (out);

    mt_test_case ("a full buffer is written whole lines at a time");
    out = s_run_child (s_child_full, &status);
    CHECK (out != NULL);
    if (out) {
        char *mark = strstr (out, "mark\n");
        CHECK (mark && mark > out && mark [5] != 0);   //  some before, the rest at exit
        int lines = 0;
        char *c = out;
        while (c && *c) {
            if (!strncmp (c, "mark\n", 5))
                c += 5;
            else {
                char want [64];
                snprintf (want, sizeof want, "t: line i=%03d pad=", lines);
                CHECK_MSG (!strncmp (c, want, strlen (want)), "line %d", lines);
                lines++;
                c = strchr (c, '\n');
                if (c)
                    c++;
            }
            if (lines > 200)
                break;
        }
        CHECK_INT (lines, 100);
    }
    free (out);
}

int
main (void)
{
    test_table ();
    test_limits ();
    test_hold ();
    return mt_test_done ("test_mt_log");
}
