//  Unit tests of the simulator's tool calls, logprobs, n and embeddings
//  (wa_sim_rich).
#include "mt_test.h"
#include "mt_util.h"
#include "../../services/worker-adapter/wa_sim_rich.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>

static const char *s_weather =
    "{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"minLength\":8},"
    "\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]},"
    "\"days\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":7},"
    "\"temp\":{\"type\":[\"number\",\"null\"],\"minimum\":-5,\"maximum\":5},"
    "\"ok\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"minItems\":2},"
    "\"where\":{\"type\":\"object\",\"properties\":{\"lat\":{\"type\":\"number\"}}},"
    "\"kind\":{\"const\":\"k\"},\"alt\":{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\"}]}},"
    "\"required\":[\"city\"]}";

//  The value matches the weather schema.
static void
s_check_weather (json_t *v, uint64_t hash)
{
    CHECK_MSG (json_is_object (v), "hash %llu: not an object", (unsigned long long) hash);
    json_t *city = json_object_get (v, "city");
    CHECK (json_is_string (city) && json_string_length (city) >= 8);
    const char *unit = json_string_value (json_object_get (v, "unit"));
    CHECK (unit && (!strcmp (unit, "celsius") || !strcmp (unit, "fahrenheit")));
    json_t *days = json_object_get (v, "days");
    CHECK (json_is_integer (days) && json_integer_value (days) >= 1 && json_integer_value (days) <= 7);
    json_t *temp = json_object_get (v, "temp");
    CHECK (json_is_number (temp) && json_number_value (temp) >= -5 && json_number_value (temp) <= 5);
    CHECK (json_is_boolean (json_object_get (v, "ok")));
    json_t *tags = json_object_get (v, "tags");
    CHECK (json_is_array (tags) && json_array_size (tags) == 2 && json_is_string (json_array_get (tags, 1)));
    CHECK (json_is_number (json_object_get (json_object_get (v, "where"), "lat")));
    CHECK_STR (json_string_value (json_object_get (v, "kind")), "k");
    CHECK (json_is_integer (json_object_get (v, "alt")));
}

static void
test_schema (void)
{
    for (uint64_t hash = 0; hash < 50; hash++) {
        char *text = wa_sim_schema_value (s_weather, strlen (s_weather), hash * 7919);
        json_t *v = text? json_loads (text, 0, NULL): NULL;
        s_check_weather (v, hash);
        json_decref (v);
        free (text);
    }
    //  Odd schemas still give a value
    const char *odd [] = { "", "[]", "{}", "{\"type\":\"null\"}", "{\"enum\":[]}", "{\"items\":{}}",
                           "{\"type\":[\"null\"]}", "{\"type\":\"integer\",\"minimum\":1e300}",
                           "{\"properties\":{\"a\":{\"properties\":{\"b\":{\"properties\":{\"c\":{"
                           "\"properties\":{\"d\":{\"properties\":{\"e\":{\"properties\":{\"f\":{"
                           "\"properties\":{\"g\":{\"properties\":{\"h\":{\"properties\":{\"i\":{}}}}}}}}}}}}}}}}}}}" };
    for (size_t i = 0; i < sizeof odd / sizeof odd [0]; i++) {
        char *text = wa_sim_schema_value (odd [i], strlen (odd [i]), 1);
        CHECK_MSG (text != NULL, "odd schema %zu", i);
        free (text);
    }
}

//  Build a request with the weather tool and run the whole sequence.
static void
test_tool_call (void)
{
    char body [2048];
    snprintf (body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
              "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":%s}}]}",
              s_weather);
    for (uint32_t max = 0; max < 80; max += 7) {
        wa_sim_rich_t *r = wa_sim_rich_new (true, body, strlen (body), 12345);
        CHECK (r && wa_sim_rich_needed (r));
        CHECK_STR (wa_sim_rich_tool (r), "get_weather");
        wa_sim_plan_t plan;
        wa_sim_plan (&plan, "hi", 2, max, 48, 0, 0, 0);
        plan.hash = 12345;
        wa_sim_rich_plan (r, &plan, max);
        //  Fold the deltas the way a client would
        char args [2048] = "";
        char name [64] = "";
        const char *finish = NULL;
        for (uint32_t step = 0; step < plan.completion_tokens; step++) {
            uint32_t tokens = 0;
            char *d = wa_sim_rich_delta (r, &plan, step, 0, &tokens);
            CHECK_INT (tokens, 1);
            json_t *c = d? json_loads (d, 0, NULL): NULL;
            CHECK (c != NULL);
            json_t *call = json_array_get (json_object_get (json_object_get (c, "delta"), "tool_calls"), 0);
            CHECK_INT (json_integer_value (json_object_get (call, "index")), 0);
            json_t *fn = json_object_get (call, "function");
            if (step == 0) {
                snprintf (name, sizeof name, "%s", json_string_value (json_object_get (fn, "name")));
                CHECK (json_string_length (json_object_get (call, "id")) > 5);
                CHECK_STR (json_string_value (json_object_get (json_object_get (c, "delta"), "role")), "assistant");
            }
            const char *frag = json_string_value (json_object_get (fn, "arguments"));
            CHECK (frag != NULL);
            if (frag)
                strncat (args, frag, sizeof args - strlen (args) - 1);
            json_t *fin = json_object_get (c, "finish_reason");
            if (step + 1 == plan.completion_tokens)
                finish = json_is_string (fin)? wa_sim_rich_finish (r, &plan): NULL;
            else
                CHECK (json_is_null (fin));
            json_decref (c);
            free (d);
        }
        CHECK_STR (name, "get_weather");
        CHECK (finish != NULL);
        if (max == 0 || max >= plan.completion_tokens + (plan.capped? 1: 0)) {
            if (!plan.capped) {
                CHECK_STR (args, wa_sim_rich_arguments (r));
                CHECK_STR (finish, "tool_calls");
                json_t *v = json_loads (args, 0, NULL);
                s_check_weather (v, max);
                json_decref (v);
            }
        }
        if (plan.capped) {
            CHECK_STR (finish, "length");
            CHECK_INT (plan.completion_tokens, max);
            CHECK (strlen (args) < strlen (wa_sim_rich_arguments (r)));
        }
        wa_sim_rich_destroy (&r);
        CHECK (r == NULL);
    }
}

static void
test_choices (void)
{
    struct {
        bool chat;
        const char *body;
        bool needed;
        uint32_t n;
        const char *tool;           //  NULL: text
    } table [] = {
        { true, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", false, 1, NULL },
        { true, "not json", false, 1, NULL },
        { true, "{\"n\":3}", true, 3, NULL },
        { true, "{\"n\":1000}", true, WA_SIM_N_MAX, NULL },
        { true, "{\"logprobs\":true,\"top_logprobs\":3}", true, 1, NULL },
        { true, "{\"logprobs\":false,\"top_logprobs\":3}", false, 1, NULL },
        { false, "{\"logprobs\":2}", true, 1, NULL },
        { true, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":\"none\"}", false, 1, NULL },
        { true, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}", true, 1, "a" },
        { true, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"messages\":[{\"role\":\"tool\",\"content\":\"1\"}]}", false, 1, NULL },
        { true, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}],\"tool_choice\":\"required\",\"messages\":[{\"role\":\"tool\",\"content\":\"1\"}]}", true, 1, "a" },
        { true, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}},{\"type\":\"function\",\"function\":{\"name\":\"b\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"b\"}}}", true, 1, "b" },
        { true, "{\"tools\":[{\"type\":\"function\"},{\"type\":\"function\",\"function\":{\"name\":\"\"}}]}", false, 1, NULL },
        { false, "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"a\"}}]}", false, 1, NULL },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_sim_rich_t *r = wa_sim_rich_new (table [i].chat, table [i].body, strlen (table [i].body), 99);
        CHECK_MSG (wa_sim_rich_needed (r) == table [i].needed, "case %zu needed", i);
        CHECK_INT (wa_sim_rich_n (r), table [i].n);
        if (table [i].tool)
            CHECK_STR (wa_sim_rich_tool (r), table [i].tool);
        else
            CHECK_MSG (wa_sim_rich_tool (r) == NULL, "case %zu calls %s", i, wa_sim_rich_tool (r));
        wa_sim_rich_destroy (&r);
    }
    //  n choices, logprobs on each token: distinct texts, one logprob each
    const char *body = "{\"n\":3,\"logprobs\":true,\"top_logprobs\":2}";
    wa_sim_rich_t *r = wa_sim_rich_new (true, body, strlen (body), 5);
    wa_sim_plan_t plan;
    wa_sim_plan (&plan, "abc", 3, 6, 48, 0, 0, 0);
    char text [3][256] = { "", "", "" };
    for (uint32_t step = 0; step < plan.completion_tokens; step++)
        for (uint32_t c = 0; c < 3; c++) {
            uint32_t tokens = 0;
            char *d = wa_sim_rich_delta (r, &plan, step, c, &tokens);
            json_t *j = d? json_loads (d, 0, NULL): NULL;
            CHECK_INT (json_integer_value (json_object_get (j, "index")), c);
            const char *piece = json_string_value (json_object_get (json_object_get (j, "delta"), "content"));
            CHECK (piece != NULL);
            if (piece)
                strncat (text [c], piece, sizeof text [c] - strlen (text [c]) - 1);
            json_t *lp = json_array_get (json_object_get (json_object_get (j, "logprobs"), "content"), 0);
            CHECK_STR (json_string_value (json_object_get (lp, "token")), piece);
            CHECK (json_real_value (json_object_get (lp, "logprob")) < 0);
            CHECK_INT (json_array_size (json_object_get (lp, "top_logprobs")), 2);
            json_decref (j);
            free (d);
        }
    CHECK (strcmp (text [0], text [1]) || strcmp (text [1], text [2]));
    CHECK_STR (wa_sim_rich_finish (r, &plan), "length");
    wa_sim_rich_destroy (&r);
    wa_sim_rich_destroy (NULL);
}

static void
test_embeddings (void)
{
    struct {
        const char *body;
        int rc;
        size_t count;
        uint32_t dims;
        bool base64;
        uint32_t tokens;            //  -1: mt_tokens_count of "hello world"
    } table [] = {
        { "{\"input\":\"hello world\"}", 0, 1, WA_SIM_DIMS_DEFAULT, false, 2 },
        { "{\"input\":[\"a\",\"b c\"],\"dimensions\":5}", 0, 2, 5, false, 3 },
        { "{\"input\":[1,2,3],\"encoding_format\":\"base64\",\"dimensions\":3}", 0, 1, 3, true, 3 },
        { "{\"input\":[[1,2],[3]],\"dimensions\":100000}", 0, 2, WA_SIM_DIMS_MAX, false, 3 },
        { "{}", -1, 0, 0, false, 0 },
        { "{\"input\":[\"a\",{}]}", -1, 0, 0, false, 0 },
        { "{\"input\":[[1,\"x\"]]}", -1, 0, 0, false, 0 },
        { "nonsense", -1, 0, 0, false, 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char **items = NULL;
        size_t count = 0;
        uint32_t tokens = 0;
        char err [128] = "";
        int rc = wa_sim_embeddings (table [i].body, strlen (table [i].body), &items, &count, &tokens,
                                    err, sizeof err);
        CHECK_MSG (rc == table [i].rc, "case %zu rc %d %s", i, rc, err);
        CHECK_INT (count, table [i].count);
        if (rc == 0) {
            if (i == 0)
                CHECK_INT (tokens, mt_tokens_count ("hello world", 11));
            else
                CHECK_INT (tokens, table [i].tokens);
        }
        for (size_t k = 0; k < count; k++) {
            json_t *item = json_loads (items [k], 0, NULL);
            CHECK_STR (json_string_value (json_object_get (item, "object")), "embedding");
            CHECK_INT (json_integer_value (json_object_get (item, "index")), k);
            json_t *e = json_object_get (item, "embedding");
            if (table [i].base64)
                CHECK_INT (json_string_length (e), (table [i].dims * 4 + 2) / 3 * 4);
            else {
                CHECK_INT (json_array_size (e), table [i].dims);
                double norm = 0;
                for (size_t j = 0; j < json_array_size (e); j++)
                    norm += json_real_value (json_array_get (e, j)) * json_real_value (json_array_get (e, j));
                CHECK_MSG (fabs (sqrt (norm) - 1) < 1e-4, "case %zu norm %f", i, sqrt (norm));
            }
            json_decref (item);
            free (items [k]);
        }
        free (items);
    }
    //  Deterministic, and distinct inputs differ
    char **a = NULL, **b = NULL;
    size_t na, nb;
    uint32_t t;
    char err [64];
    const char *body = "{\"input\":[\"x\",\"y\",\"x\"],\"dimensions\":4}";
    wa_sim_embeddings (body, strlen (body), &a, &na, &t, err, sizeof err);
    wa_sim_embeddings (body, strlen (body), &b, &nb, &t, err, sizeof err);
    CHECK (na == 3 && nb == 3);
    if (na == 3 && nb == 3) {
        CHECK_STR (a [0], b [0]);
        const char *va = strstr (a [0], "\"embedding\":["), *vb = strstr (a [1], "\"embedding\":["),
                   *vc = strstr (a [2], "\"embedding\":[");
        CHECK (va && vb && vc && strcmp (va, vb) && !strcmp (va, vc));
    }
    for (size_t k = 0; k < na; k++) free (a [k]);
    for (size_t k = 0; k < nb; k++) free (b [k]);
    free (a);
    free (b);
}

int
main (void)
{
    MT_RUN (test_schema);
    MT_RUN (test_tool_call);
    MT_RUN (test_choices);
    MT_RUN (test_embeddings);
    return mt_test_done ("test_wa_sim_rich");
}
