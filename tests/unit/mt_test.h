//  Minimal table-driven unit test support.
//
//  What is counted is test cases, not checks: a case starts with MT_RUN
//  (a test function) or mt_test_case (a row of a table, a step of a
//  scenario) and ends where the next one starts. A case passes when it made
//  at least one check and none failed; a case that checks nothing fails (a
//  test must assert what it exercises). Checks made before the first case
//  belong to a case named "main".
//
//  Each test binary ends by printing "<name>: N passed, N failed" (cases)
//  after a line "<name>: N checks", and exits non-zero when anything failed.
#ifndef MT_TEST_H_INCLUDED
#define MT_TEST_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int mt_test_passed = 0;          //  cases that passed
static int mt_test_failed = 0;          //  cases that failed
static long mt_test_checks = 0;         //  checks made, all cases
static char mt_test_name [128];         //  the open case, if any
static bool mt_test_open = false;       //  a case is open
static long mt_test_case_checks = 0;    //  checks made in the open case
static long mt_test_case_fails = 0;     //  checks failed in the open case

//  Close the open case, if any, and count it.
static inline void
mt_test_case_end (void)
{
    if (!mt_test_open)
        return;
    if (mt_test_case_checks == 0) {
        fprintf (stderr, "FAIL case \"%s\" made no check\n", mt_test_name);
        mt_test_failed++;
    }
    else
    if (mt_test_case_fails > 0)
        mt_test_failed++;
    else
        mt_test_passed++;
    mt_test_open = false;
}

//  Start a new test case (ends the one before). The name may be a format.
__attribute__ ((format (printf, 1, 2)))
static inline void
mt_test_case (const char *format, ...)
{
    mt_test_case_end ();
    va_list args;
    va_start (args, format);
    vsnprintf (mt_test_name, sizeof mt_test_name, format, args);
    va_end (args);
    mt_test_open = true;
    mt_test_case_checks = 0;
    mt_test_case_fails = 0;
}

//  One check: counted in the open case (opens "main" when none is).
static inline void
mt_test_check (bool ok)
{
    if (!mt_test_open)
        mt_test_case ("main");
    mt_test_checks++;
    mt_test_case_checks++;
    if (!ok) {
        mt_test_case_fails++;
        fprintf (stderr, "FAIL [%s] ", mt_test_name);
    }
}

//  Run a test function as one case named after it.
#define MT_RUN(fn) do { mt_test_case ("%s", #fn); fn (); } while (0)
#define MT_RUN_ARG(fn, arg) do { mt_test_case ("%s", #fn); fn (arg); } while (0)

#define CHECK(cond) do { \
    bool ok_ = (cond); \
    mt_test_check (ok_); \
    if (!ok_) fprintf (stderr, "%s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    bool ok_ = (cond); \
    mt_test_check (ok_); \
    if (!ok_) { fprintf (stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
                fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    CHECK_MSG (a_ && b_ && strcmp (a_, b_) == 0, "got \"%s\" want \"%s\"", \
               a_? a_: "(null)", b_? b_: "(null)"); \
} while (0)

#define CHECK_INT(a, b) CHECK_MSG ((long long) (a) == (long long) (b), \
                                   "got %lld want %lld", (long long) (a), (long long) (b))

//  Close the last case and print the counts. No case at all is a failure.
static inline int
mt_test_done (const char *name)
{
    mt_test_case_end ();
    if (mt_test_passed + mt_test_failed == 0) {
        fprintf (stderr, "FAIL %s ran no test case\n", name);
        mt_test_failed++;
    }
    printf ("%s: %ld checks\n", name, mt_test_checks);
    printf ("%s: %d passed, %d failed\n", name, mt_test_passed, mt_test_failed);
    return mt_test_failed? 1: 0;
}

#endif
