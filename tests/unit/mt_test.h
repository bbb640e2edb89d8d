//  Minimal table-driven unit test support. Each test binary ends by printing
//  "<name>: N passed, N failed" and exits non-zero when anything failed.
#ifndef MT_TEST_H_INCLUDED
#define MT_TEST_H_INCLUDED

#include <stdio.h>
#include <string.h>

static int mt_test_passed = 0;
static int mt_test_failed = 0;

#define CHECK(cond) do { \
    if (cond) mt_test_passed++; \
    else { mt_test_failed++; \
           fprintf (stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_MSG(cond, ...) do { \
    if (cond) mt_test_passed++; \
    else { mt_test_failed++; \
           fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
           fprintf (stderr, __VA_ARGS__); fputc ('\n', stderr); } \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    CHECK_MSG (a_ && b_ && strcmp (a_, b_) == 0, "got \"%s\" want \"%s\"", \
               a_? a_: "(null)", b_? b_: "(null)"); \
} while (0)

#define CHECK_INT(a, b) CHECK_MSG ((long long) (a) == (long long) (b), \
                                   "got %lld want %lld", (long long) (a), (long long) (b))

static inline int
mt_test_done (const char *name)
{
    printf ("%s: %d passed, %d failed\n", name, mt_test_passed, mt_test_failed);
    return mt_test_failed? 1: 0;
}

#endif
