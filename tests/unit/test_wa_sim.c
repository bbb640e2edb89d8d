//  Unit tests of the worker-adapter's engine simulator (wa_sim).
#include "mt_test.h"
#include "mt_util.h"
#include "../../services/worker-adapter/wa_sim.h"

#include <stdint.h>
#include <stdlib.h>

//  The whole answer of a plan, concatenated. Caller frees.
static char *
s_answer (const wa_sim_plan_t *plan)
{
    char *text = (char *) calloc ((size_t) plan->completion_tokens * WA_SIM_PIECE_MAX + 1, 1);
    size_t len = 0;
    for (uint32_t i = 0; i < plan->completion_tokens; i++) {
        char piece [WA_SIM_PIECE_MAX];
        size_t n = wa_sim_piece (plan, i, piece);
        CHECK_INT (n, strlen (piece));
        CHECK_MSG (mt_tokens_count (piece, n) == 1, "piece %u \"%s\" is not one token", i, piece);
        if (i == 0)
            CHECK_MSG (piece [0] != ' ', "first piece \"%s\" has a leading space", piece);
        memcpy (text + len, piece, n);
        len += n;
    }
    return text;
}

static void
test_lengths (void)
{
    struct {
        const char *prompt;
        uint32_t max_tokens, sim_tokens;
        uint32_t lo, hi;        //  completion_tokens in [lo, hi]
        const char *finish;     //  NULL: either
    } table [] = {
        { "hello world", 0, 48, 24, 48, NULL },
        { "hello world", 1000, 48, 24, 48, "stop" },
        { "hello world", 5, 48, 5, 5, "length" },
        { "hello world", 1, 48, 1, 1, "length" },
        { "", 0, 48, 24, 48, NULL },
        { "x", 0, 1, 1, 1, "stop" },
        { "x", 0, 2, 1, 2, "stop" },
        { "a much longer prompt, with punctuation!", 0, 4096, 2048, 4096, "stop" },
        { "cap exactly", 24, 48, 24, 24, "length" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_sim_plan_t plan;
        wa_sim_plan (&plan, table [i].prompt, strlen (table [i].prompt), table [i].max_tokens,
                     table [i].sim_tokens, 40, 10, 1000);
        CHECK_MSG (plan.completion_tokens >= table [i].lo && plan.completion_tokens <= table [i].hi,
                   "case %zu n=%u", i, plan.completion_tokens);
        if (table [i].finish)
            CHECK_STR (wa_sim_finish_reason (&plan), table [i].finish);
        CHECK_INT (plan.prompt_tokens, mt_tokens_count (table [i].prompt, strlen (table [i].prompt)));
    }
}

//  Same prompt, same answer; many prompts: honest counts and a spread of lengths.
static void
test_determinism_and_counts (void)
{
    uint32_t min_n = UINT32_MAX, max_n = 0;
    int periods = 0;
    for (int i = 0; i < 2000; i++) {
        char prompt [64];
        snprintf (prompt, sizeof prompt, "prompt number %d, please", i);
        wa_sim_plan_t a, b;
        wa_sim_plan (&a, prompt, strlen (prompt), (uint32_t) (i % 7 == 0? 10: 0), 48, 0, 0, 0);
        wa_sim_plan (&b, prompt, strlen (prompt), (uint32_t) (i % 7 == 0? 10: 0), 48, 40, 10, 99);
        CHECK_INT (a.completion_tokens, b.completion_tokens);
        char *ta = s_answer (&a);
        char *tb = s_answer (&b);
        CHECK_STR (ta, tb);
        CHECK_MSG (mt_tokens_count (ta, strlen (ta)) == a.completion_tokens,
                   "prompt %d: %u tokens counted, %u claimed: \"%s\"", i,
                   mt_tokens_count (ta, strlen (ta)), a.completion_tokens, ta);
        if (strchr (ta, '.'))
            periods++;
        if (a.completion_tokens < min_n)
            min_n = a.completion_tokens;
        if (a.completion_tokens > max_n)
            max_n = a.completion_tokens;
        free (ta);
        free (tb);
    }
    CHECK_INT (min_n, 10);              //  the capped ones
    CHECK_INT (max_n, 48);
    CHECK (periods > 100);
    //  Different prompts give different answers
    wa_sim_plan_t p1, p2;
    wa_sim_plan (&p1, "one", 3, 0, 48, 0, 0, 0);
    wa_sim_plan (&p2, "two", 3, 0, 48, 0, 0, 0);
    char *t1 = s_answer (&p1), *t2 = s_answer (&p2);
    CHECK (strcmp (t1, t2) != 0);
    free (t1);
    free (t2);
}

static void
test_due_times (void)
{
    struct {
        uint32_t ttft, itl;
        uint64_t now;           //  start is 1000
        uint32_t want_due;      //  of n = 5 (max_tokens 5)
    } table [] = {
        { 40, 10, 999, 0 },
        { 40, 10, 1000, 0 },
        { 40, 10, 1039, 0 },
        { 40, 10, 1040, 1 },
        { 40, 10, 1049, 1 },
        { 40, 10, 1050, 2 },
        { 40, 10, 1080, 5 },
        { 40, 10, 99999, 5 },
        { 0, 0, 1000, 5 },      //  zero-delay mode: everything at once
        { 0, 10, 1000, 1 },
        { 40, 0, 1040, 5 },
        { 40, 0, 1039, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_sim_plan_t plan;
        wa_sim_plan (&plan, "due", 3, 5, 48, table [i].ttft, table [i].itl, 1000);
        CHECK_INT (plan.completion_tokens, 5);
        CHECK_MSG (wa_sim_due_count (&plan, table [i].now) == table [i].want_due,
                   "case %zu due %u want %u", i, wa_sim_due_count (&plan, table [i].now),
                   table [i].want_due);
    }
    wa_sim_plan_t plan;
    wa_sim_plan (&plan, "due", 3, 5, 48, 40, 10, 1000);
    CHECK_INT (wa_sim_due_ms (&plan, 0), 1040);
    CHECK_INT (wa_sim_due_ms (&plan, 4), 1080);
    //  due_count(due_ms(i)) covers piece i
    for (uint32_t i = 0; i < 5; i++)
        CHECK_INT (wa_sim_due_count (&plan, wa_sim_due_ms (&plan, i)), i + 1);
}

int
main (void)
{
    MT_RUN (test_lengths);
    MT_RUN (test_determinism_and_counts);
    MT_RUN (test_due_times);
    return mt_test_done ("test_wa_sim");
}
