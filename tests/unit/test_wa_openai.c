//  Unit tests of the openai backend's pure parts: SSE event parsing and the
//  request body sent to the engine.
#include "mt_test.h"
#include "../../services/worker-adapter/wa_openai.h"

#include <jansson.h>
#include <stdlib.h>

static void
test_parse_event (void)
{
    struct {
        const char *data;
        int rc;
        const char *content;    //  NULL: none
        const char *finish;
        bool usage;
        uint32_t prompt, completion;
        const char *error;      //  NULL: none
    } table [] = {
        { "{\"choices\":[{\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}", 0,
          "Hello", "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}", 0, NULL, "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"\"},\"finish_reason\":\"length\"}]}", 0,
          NULL, "length", false, 0, 0, NULL },
        { "{\"choices\":[{\"text\":\" world\",\"finish_reason\":\"stop\"}]}", 0,
          " world", "stop", false, 0, 0, NULL },
        { "{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":34,"
          "\"total_tokens\":46}}", 0, NULL, "", true, 12, 34, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\":null}", 0, "x", "", false, 0, 0, NULL },
        { "{\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":3}}", 0, NULL, "", false, 0, 0, NULL },
        { "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}", 0,
          NULL, "", false, 0, 0, "out of memory" },
        { "{\"error\":\"plain\"}", 0, NULL, "", false, 0, 0, "plain" },
        { "{\"choices\":\"nonsense\",\"usage\":7}", 0, NULL, "", false, 0, 0, NULL },
        { "[1,2]", -1, NULL, "", false, 0, 0, NULL },
        { "not json", -1, NULL, "", false, 0, 0, NULL },
        { "", -1, NULL, "", false, 0, 0, NULL },
        { "{\"created\":1e999,\"choices\":[{\"delta\":{\"content\":\"x\"}}]}", -1, NULL, "", false,
          0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}", -1, NULL, "", false, 0, 0, NULL },
        { "{\"model\":\"\xc0\xaf\",\"choices\":[]}", -1, NULL, "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"x\"}},", -1, NULL, "", false, 0, 0, NULL },
        { "{\"choices\":[{\"delta\":{\"content\":\"caf\\u00e9 \\n\"}}]}", 0, "caf\xc3\xa9 \n", "",
          false, 0, 0, NULL },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_openai_event_t ev;
        int rc = wa_openai_parse_event (table [i].data, strlen (table [i].data), &ev);
        CHECK_MSG (rc == table [i].rc, "case %zu rc %d", i, rc);
        if (table [i].content)
            CHECK_STR (ev.content, table [i].content);
        else
            CHECK_MSG (ev.content == NULL, "case %zu content \"%s\"", i, ev.content);
        CHECK_STR (ev.finish_reason, table [i].finish);
        CHECK_INT (ev.has_usage, table [i].usage);
        CHECK_INT (ev.prompt_tokens, table [i].prompt);
        CHECK_INT (ev.completion_tokens, table [i].completion);
        if (table [i].error)
            CHECK_STR (ev.error, table [i].error);
        else
            CHECK (ev.error == NULL);
        wa_openai_event_clear (&ev);
    }
}

static void
test_body (void)
{
    struct {
        const char *in;
        uint32_t cap;
        const char *max_tokens_key;     //  key to check, NULL: none expected
        json_int_t want;                //  its value
        bool ok;
    } table [] = {
        { "{\"model\":\"m\",\"messages\":[]}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":50}", 100, "max_tokens", 50, true },
        { "{\"model\":\"m\",\"max_tokens\":500}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_completion_tokens\":500}", 100, "max_completion_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":\"lots\"}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":0}", 7, "max_tokens", 7, true },
        { "{\"model\":\"m\",\"stream\":false}", 0, NULL, 0, true },
        { " { \"model\" : \"m\" , \"max_tokens\" : 500 } ", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"stream\":false,\"stream_options\":{\"x\":1},\"n\":2}", 9,
          "max_tokens", 9, true },
        { "{\"model\":\"m\",\"max_tokens\":5,\"max_tokens\":500}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"\\u006dax_tokens\":500}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":1.5}", 100, "max_tokens", 100, true },
        { "{\"model\":\"m\",\"max_tokens\":-3,\"max_completion_tokens\":4}", 100,
          "max_completion_tokens", 4, true },
        { "{\"model\":\"m\",\"messages\":[{\"content\":\"caf\xc3\xa9\"}],\"max_tokens\":2}", 10,
          "max_tokens", 2, true },
        { "{\"model\":\"m\",\"x\":\"\xff\"}", 10, NULL, 0, false },
        { "{\"model\":\"m\"} x", 10, NULL, 0, false },
        { "[]", 10, NULL, 0, false },
        { "", 10, NULL, 0, false },
        { "{\"model\":", 10, NULL, 0, false },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char err [128] = "";
        char *body = wa_openai_body (table [i].in, strlen (table [i].in), table [i].cap,
                                     err, sizeof err);
        CHECK_MSG ((body != NULL) == table [i].ok, "case %zu body %s err %s", i,
                   body? body: "(null)", err);
        if (!body) {
            CHECK (*err);
            continue;
        }
        json_t *root = json_loads (body, 0, NULL);
        CHECK (json_is_object (root));
        CHECK (json_is_true (json_object_get (root, "stream")));
        CHECK (json_is_true (json_object_get (json_object_get (root, "stream_options"),
                                              "include_usage")));
        CHECK_STR (json_string_value (json_object_get (root, "model")), "m");
        if (table [i].max_tokens_key)
            CHECK_MSG (json_integer_value (json_object_get (root, table [i].max_tokens_key))
                       == table [i].want, "case %zu body %s", i, body);
        else
            CHECK (json_object_get (root, "max_tokens") == NULL);
        json_decref (root);
        free (body);
    }
}

//  SSE lines of the engine's stream: one case per row.
static void
test_sse_line (void)
{
    struct {
        const char *name, *line;
        wa_openai_line_t kind;
        const char *data;       //  payload of a DATA line
    } rows [] = {
        { "data with a space", "data: {\"a\":1}", WA_OPENAI_LINE_DATA, "{\"a\":1}" },
        { "data without a space", "data:{}", WA_OPENAI_LINE_DATA, "{}" },
        { "data with CR", "data: x\r", WA_OPENAI_LINE_DATA, "x" },
        { "done", "data: [DONE]", WA_OPENAI_LINE_DONE, NULL },
        { "done with CR", "data: [DONE]\r", WA_OPENAI_LINE_DONE, NULL },
        { "empty data", "data:", WA_OPENAI_LINE_DATA, "" },
        { "comment", ": keep-alive", WA_OPENAI_LINE_OTHER, NULL },
        { "event field", "event: message", WA_OPENAI_LINE_OTHER, NULL },
        { "blank with CR", "\r", WA_OPENAI_LINE_OTHER, NULL },
        { "short", "dat", WA_OPENAI_LINE_OTHER, NULL },
        { "done, two spaces", "data:  [DONE]", WA_OPENAI_LINE_DATA, " [DONE]" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("sse line: %s", rows [i].name);
        char line [64];
        snprintf (line, sizeof line, "%s", rows [i].line);
        size_t len = strlen (line);
        const char *data = NULL;
        CHECK_INT (wa_openai_sse_line (line, &len, &data), rows [i].kind);
        if (rows [i].kind == WA_OPENAI_LINE_DATA) {
            CHECK (data != NULL);
            if (data) {
                CHECK_INT (len, strlen (rows [i].data));
                CHECK (!memcmp (data, rows [i].data, len));
            }
        }
    }
}

//  Whole choices: each one forwarded as it came, with its index, finish and
//  token count; the text of every choice for counting.
static void
test_parse_choices (void)
{
    struct {
        const char *data;
        size_t nchoices;
        uint32_t index [3];
        uint32_t tokens [3];
        const char *finish [3];
        const char *content;        //  all text, NULL: none
        const char *fingerprint;
    } table [] = {
        { "{\"system_fingerprint\":\"fp_x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
          "\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":"
          "{\"name\":\"f\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}",
          1, { 0 }, { 0 }, { "" }, NULL, "fp_x" },
        { "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":"
          "\"{\\\"a\"}}]}}]}", 1, { 0 }, { 1 }, { "" }, "{\"a", "" },
        { "{\"choices\":[{\"index\":2,\"delta\":{\"content\":\"x\"}},{\"index\":1,\"delta\":{},"
          "\"finish_reason\":\"stop\"},{\"index\":0,\"delta\":{\"refusal\":\"no\"}}]}",
          3, { 2, 1, 0 }, { 1, 0, 1 }, { "", "stop", "" }, "xno", "" },
        { "{\"choices\":[{\"text\":\" a\",\"logprobs\":{\"tokens\":[\" a\"]},\"finish_reason\":\"length\"}]}",
          1, { 0 }, { 1 }, { "length" }, " a", "" },
        { "{\"choices\":[7,{\"index\":-3,\"delta\":{}}]}", 1, { 1 }, { 0 }, { "" }, NULL, "" },
        { "{\"choices\":[],\"system_fingerprint\":5}", 0, { 0 }, { 0 }, { "" }, NULL, "" },
        //  Plain choices, read from the scan: the same as jansson reads them
        { "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},\"logprobs\":null,"
          "\"finish_reason\":null}]}", 1, { 0 }, { 1 }, { "" }, " the", "" },
        { "{\"choices\":[{\"delta\":{\"content\":\"a\"},\"delta\":{\"content\":\"b\"}}]}",
          1, { 0 }, { 1 }, { "" }, "b", "" },
        { "{\"choices\":[{\"index\":70000,\"delta\":{}},{\"index\":1.0,\"delta\":{}},"
          "{\"index\":\"0\",\"delta\":{}}]}", 3, { 0, 1, 2 }, { 0, 0, 0 }, { "", "", "" }, NULL, "" },
        { "{\"choices\":[{\"delta\":null,\"text\":\"t\",\"index\":-1}]}", 1, { 0 }, { 1 }, { "" },
          "t", "" },
        { "{\"choices\":[{\"delta\":{\"content\":\"\"},\"finish_reason\":"
          "\"a_finish_reason_longer_than_its_field\"}]}", 1, { 0 }, { 0 },
          { "a_finish_reason_longer_than_its" }, NULL, "" },
        { "{\"choices\":[{\"delta\":{\"refusal\":\"r\",\"content\":\"c\"},\"finish_reason\":7}]}",
          1, { 0 }, { 1 }, { "" }, "cr", "" },
        { "{\"choices\":[{\"delta\":{\"tool_calls\":[]},\"n\":123456789012345678}]}", 1, { 0 },
          { 0 }, { "" }, NULL, "" },
        { "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xc3\xa9\"}}]}", 1, { 0 }, { 1 },
          { "" }, "caf\xc3\xa9", "" },
        { "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\nb\\u00e9\"}}]}", 1, { 0 }, { 1 },
          { "" }, "a\nb\xc3\xa9", "" },
        { "{\"choices\":[ {\"index\" : 1, \"delta\": {\"content\":\"s\"}} ]}", 1, { 1 }, { 1 },
          { "" }, "s", "" },
        { "{\"id\":\"x\xc3\xa9\",\"choices\":[{\"delta\":{\"content\":\"u\"},\"finish_reason\":\"stop\"}]}",
          1, { 0 }, { 1 }, { "stop" }, "u", "" },
        { "{\"choices\":[{\"delta\":{\"content\":\"v\"},\"logprobs\":{\"content\":[{\"logprob\":"
          "-0.31326168751822286}]}}]}", 1, { 0 }, { 1 }, { "" }, "v", "" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        wa_openai_event_t ev;
        CHECK_INT (wa_openai_parse_event (table [i].data, strlen (table [i].data), &ev), 0);
        CHECK_MSG (ev.nchoices == table [i].nchoices, "case %zu: %zu choices", i, ev.nchoices);
        for (size_t k = 0; k < ev.nchoices && k < table [i].nchoices; k++) {
            CHECK_INT (ev.choices [k].index, table [i].index [k]);
            CHECK_INT (ev.choices [k].tokens, table [i].tokens [k]);
            CHECK_STR (ev.choices [k].finish_reason, table [i].finish [k]);
            json_t *c = json_loadb (ev.choices [k].json, ev.choices [k].len, 0, NULL);
            CHECK_MSG (json_is_object (c), "case %zu choice %zu not an object", i, k);
            json_decref (c);
        }
        if (table [i].content)
            CHECK_STR (ev.content, table [i].content);
        else
            CHECK (ev.content == NULL);
        CHECK_STR (ev.system_fingerprint, table [i].fingerprint);
        wa_openai_event_clear (&ev);
    }
    //  The engine's fields all reach the choice forwarded
    const char *vllm = "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\",\"reasoning_content\":\"r\"},"
                       "\"logprobs\":{\"content\":[{\"token\":\"hi\",\"logprob\":-0.5}]},\"stop_reason\":null}]}";
    wa_openai_event_t ev;
    CHECK_INT (wa_openai_parse_event (vllm, strlen (vllm), &ev), 0);
    CHECK (ev.nchoices == 1 && strstr (ev.choices [0].json, "\"reasoning_content\":\"r\"")
           && strstr (ev.choices [0].json, "\"logprob\":-0.5") && strstr (ev.choices [0].json, "stop_reason"));
    wa_openai_event_clear (&ev);
}

//  The same event in every form an engine may write it: the scan finds what
//  the worker reads, or leaves the event to the whole parse, which decides
//  as before. One case per row.
static void
test_parse_event_forms (void)
{
    char deep [400] = "{\"x\":";
    for (int i = 0; i < 70; i++)
        strcat (deep, "[");
    for (int i = 0; i < 70; i++)
        strcat (deep, "]");
    strcat (deep, ",\"choices\":[{\"delta\":{\"content\":\"d\"}}]}");
    struct {
        const char *name, *data;
        int rc;
        size_t nchoices;
        const char *json;       //  choice 0 exactly, NULL: not checked
        const char *content;    //  NULL: none
        const char *error;      //  NULL: none
        bool usage;
    } rows [] = {
        { "compact: the choice goes on as it came",
          "{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":"
          "[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9\"},\"finish_reason\":null}]}", 0, 1,
          "{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9\"},\"finish_reason\":null}", "caf\xc3\xa9",
          NULL, false },
        { "whitespace: the choice rendered compact",
          " { \"id\" : \"c\" ,\n\"choices\" : [ { \"index\" : 0 , \"delta\" : { \"content\" : \" the\" } ,"
          " \"finish_reason\" : null } ] ,\r\n\t\"usage\" : { \"prompt_tokens\" : 1 , \"completion_tokens\" : 2 } } ",
          0, 1, "{\"index\":0,\"delta\":{\"content\":\" the\"},\"finish_reason\":null}", " the", NULL, true },
        { "a key with an escape: whole parse", "{\"cho\\u0069ces\":[{\"delta\":{\"content\":\"a\"}}]}",
          0, 1, NULL, "a", NULL, false },
        { "a repeated key: the last", "{\"choices\":[{\"delta\":{\"content\":\"a\"}}],"
          "\"choices\":[{\"delta\":{\"content\":\"b\"}}]}", 0, 1, NULL, "b", NULL, false },
        { "literals and numbers", "{\"created\":-1.5e+3,\"x\":[true,false,null,0,12.25E-1],\"choices\":"
          "[{\"delta\":{\"content\":\"t\"},\"finish_reason\":null}]}", 0, 1, NULL, "t", NULL, false },
        { "nesting deeper than the scan's", deep, 0, 1, NULL, "d", NULL, false },
        { "empty object", "{}", 0, 0, NULL, NULL, NULL, false },
        { "error null", "{\"error\":null}", 0, 0, NULL, NULL, "engine error", false },
        { "two choices, one not an object", "{\"choices\":[1, {\"index\":3,\"text\":\"z\"}]}", 0, 1,
          "{\"index\":3,\"text\":\"z\"}", "z", NULL, false },
        { "after the object", "{\"choices\":[]} x", -1, 0, NULL, NULL, NULL, false },
        { "two objects", "{}{}", -1, 0, NULL, NULL, NULL, false },
        { "missing comma", "{\"a\":1 \"b\":2}", -1, 0, NULL, NULL, NULL, false },
        { "trailing comma", "{\"choices\":[{\"delta\":{}},]}", -1, 0, NULL, NULL, NULL, false },
        { "unterminated string", "{\"choices\":[{\"delta\":{\"content\":\"a}}]}", -1, 0, NULL, NULL,
          NULL, false },
        { "bad escape", "{\"id\":\"\\q\"}", -1, 0, NULL, NULL, NULL, false },
        { "leading zero", "{\"created\":01}", -1, 0, NULL, NULL, NULL, false },
        { "control byte in a string", "{\"id\":\"a\x01\"}", -1, 0, NULL, NULL, NULL, false },
        { "NUL escape in a choice", "{\"choices\":[{\"text\":\"a\\u0000\"}]}", -1, 0, NULL, NULL, NULL,
          false },
        { "cut short", "{\"choices\":[{\"delta\":", -1, 0, NULL, NULL, NULL, false },
        { "bare word", "{\"a\":nul}", -1, 0, NULL, NULL, NULL, false },
        { "a number jansson refuses in a choice", "{\"choices\":[{\"delta\":{\"content\":\"a\"},"
          "\"x\":1e999}]}", -1, 0, NULL, NULL, NULL, false },
        { "an integer jansson refuses in a choice", "{\"choices\":[{\"delta\":{\"content\":\"a\"},"
          "\"x\":123456789012345678901234567890}]}", -1, 0, NULL, NULL, NULL, false },
        { "bad UTF-8 in a choice", "{\"choices\":[{\"delta\":{\"content\":\"a\xff\"}}]}", -1, 0,
          NULL, NULL, NULL, false },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        wa_openai_event_t ev;
        int rc = wa_openai_parse_event (rows [i].data, strlen (rows [i].data), &ev);
        CHECK_MSG (rc == rows [i].rc, "%s: rc %d", rows [i].name, rc);
        CHECK_MSG (ev.nchoices == rows [i].nchoices, "%s: %zu choices", rows [i].name, ev.nchoices);
        if (rows [i].json && ev.nchoices)
            CHECK_MSG (!strcmp (ev.choices [0].json, rows [i].json)
                       && ev.choices [0].len == strlen (rows [i].json),
                       "%s: choice %s", rows [i].name, ev.choices [0].json);
        if (rows [i].content)
            CHECK_MSG (ev.content && !strcmp (ev.content, rows [i].content), "%s: content %s",
                       rows [i].name, ev.content? ev.content: "(none)");
        else
            CHECK_MSG (!ev.content, "%s: content %s", rows [i].name, ev.content);
        if (rows [i].error)
            CHECK_MSG (ev.error && !strcmp (ev.error, rows [i].error), "%s: error", rows [i].name);
        else
            CHECK_MSG (!ev.error, "%s: error %s", rows [i].name, ev.error);
        CHECK_MSG (ev.has_usage == rows [i].usage, "%s: usage", rows [i].name);
        wa_openai_event_clear (&ev);
    }
}


//  Two parse results the same, field by field.
static bool
s_same_event (const wa_openai_event_t *a, const wa_openai_event_t *b)
{
    if ((a->content == NULL) != (b->content == NULL)
    ||  (a->content && strcmp (a->content, b->content))
    ||  (a->error == NULL) != (b->error == NULL) || (a->error && strcmp (a->error, b->error))
    ||  strcmp (a->finish_reason, b->finish_reason)
    ||  strcmp (a->system_fingerprint, b->system_fingerprint)
    ||  a->has_usage != b->has_usage || a->prompt_tokens != b->prompt_tokens
    ||  a->completion_tokens != b->completion_tokens || a->nchoices != b->nchoices)
        return false;
    for (size_t i = 0; i < a->nchoices; i++)
        if (a->choices [i].index != b->choices [i].index || a->choices [i].len != b->choices [i].len
        ||  memcmp (a->choices [i].json, b->choices [i].json, a->choices [i].len)
        ||  a->choices [i].tokens != b->choices [i].tokens
        ||  strcmp (a->choices [i].finish_reason, b->choices [i].finish_reason))
            return false;
    return true;
}

//  usage and system_fingerprint read from the scan: as jansson reads them.
//  One case per row.
static void
test_parse_usage (void)
{
    struct {
        const char *name, *data;
        bool usage;
        uint32_t prompt, completion;
        const char *fingerprint;
    } rows [] = {
        { "plain usage", "{\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":16,"
          "\"total_tokens\":26}}", true, 10, 16, "" },
        { "usage null", "{\"choices\":[],\"usage\":null}", false, 0, 0, "" },
        { "usage not an object", "{\"usage\":[1,2]}", false, 0, 0, "" },
        { "minus zero", "{\"usage\":{\"prompt_tokens\":-0,\"completion_tokens\":0}}", true, 0, 0, "" },
        { "negative", "{\"usage\":{\"prompt_tokens\":-2,\"completion_tokens\":1}}", false, 0, 0, "" },
        { "a fraction", "{\"usage\":{\"prompt_tokens\":1.0,\"completion_tokens\":1}}", false, 0, 0, "" },
        { "an exponent", "{\"usage\":{\"prompt_tokens\":1e2,\"completion_tokens\":1}}", false, 0, 0, "" },
        { "the largest", "{\"usage\":{\"prompt_tokens\":4294967295,\"completion_tokens\":7}}", true,
          4294967295u, 7, "" },
        { "past 32 bits", "{\"usage\":{\"prompt_tokens\":4294967296,\"completion_tokens\":7}}", false,
          0, 0, "" },
        { "fifteen digits", "{\"usage\":{\"prompt_tokens\":123456789012345,\"completion_tokens\":7}}",
          false, 0, 0, "" },
        { "a string", "{\"usage\":{\"prompt_tokens\":\"1\",\"completion_tokens\":7}}", false, 0, 0, "" },
        { "one count missing", "{\"usage\":{\"prompt_tokens\":1}}", false, 0, 0, "" },
        { "a key twice: the last", "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,"
          "\"prompt_tokens\":3}}", true, 3, 2, "" },
        { "a key with an escape", "{\"usage\":{\"prompt_\\u0074okens\":5,\"completion_tokens\":6}}",
          true, 5, 6, "" },
        { "nested members", "{\"usage\":{\"prompt_tokens_details\":{\"cached_tokens\":0},"
          "\"prompt_tokens\":4,\"completion_tokens\":5}}", true, 4, 5, "" },
        { "fingerprint", "{\"system_fingerprint\":\"fp_1\",\"choices\":[]}", false, 0, 0, "fp_1" },
        { "fingerprint null", "{\"system_fingerprint\":null}", false, 0, 0, "" },
        { "fingerprint with an escape", "{\"system_fingerprint\":\"f\\u0070\"}", false, 0, 0, "fp" },
        { "fingerprint too long", "{\"system_fingerprint\":\"0123456789012345678901234567890123456789"
          "012345678901234567890123\"}", false, 0, 0, "" },
        { "fingerprint the longest", "{\"system_fingerprint\":\"012345678901234567890123456789012345678"
          "901234567890123456789012\"}", false, 0, 0,
          "012345678901234567890123456789012345678901234567890123456789012" },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("usage: %s", rows [i].name);
        wa_openai_event_t ev;
        CHECK_INT (wa_openai_parse_event (rows [i].data, strlen (rows [i].data), &ev), 0);
        CHECK_INT (ev.has_usage, rows [i].usage);
        CHECK_INT (ev.prompt_tokens, rows [i].prompt);
        CHECK_INT (ev.completion_tokens, rows [i].completion);
        CHECK_STR (ev.system_fingerprint, rows [i].fingerprint);
        wa_openai_event_clear (&ev);
    }
}

//  The scan resumed at the choices of an event that starts as the one
//  before: the same result as a parse from the start, whatever came before
//  and whatever follows. One case per row: its events parsed in order with
//  one cache, each compared with its parse without.
static void
test_parse_cached (void)
{
    #define S_HEAD "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\","
    struct {
        const char *name;
        const char *events [5];
        bool resumes;           //  the last event resumes the scan
    } rows [] = {
        { "a stream", { S_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"}}]}",
                        S_HEAD "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"}}]}",
                        S_HEAD "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}",
                        S_HEAD "\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}" },
          true },
        { "whitespace after the key", { S_HEAD "\"choices\":[]}",
                                        S_HEAD "\"choices\": [{\"delta\":{\"content\":\"a\"}}]}" }, true },
        { "not an array after the key", { S_HEAD "\"choices\":[]}", S_HEAD "\"choices\":7}" }, true },
        { "broken after the key", { S_HEAD "\"choices\":[]}", S_HEAD "\"choices\":[{\"delta\":}]}" },
          true },
        { "a number jansson refuses after the key", { S_HEAD "\"choices\":[]}",
          S_HEAD "\"choices\":[],\"x\":1e999}" }, true },
        { "choices twice", { S_HEAD "\"choices\":[]}",
          S_HEAD "\"choices\":[{\"text\":\"a\"}],\"choices\":[{\"text\":\"b\"}]}" }, true },
        { "another start", { S_HEAD "\"choices\":[]}",
          "{\"id\":\"chatcmpl-2\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}" }, false },
        { "the prefix alone", { S_HEAD "\"choices\":[]}", S_HEAD "\"choices\":" }, false },
        { "usage before the choices: nothing kept",
          { "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1},\"choices\":[]}",
            "{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1},\"choices\":[{\"text\":\"a\"}]}" },
          false },
        { "a fingerprint before the choices: nothing kept",
          { "{\"system_fingerprint\":\"a\",\"choices\":[]}",
            "{\"system_fingerprint\":\"a\",\"choices\":[{\"text\":\"b\"}]}" }, false },
        { "a key with an escape before: nothing kept",
          { "{\"i\\u0064\":1,\"choices\":[]}", "{\"i\\u0064\":1,\"choices\":[{\"text\":\"b\"}]}" },
          false },
        { "whitespace in the prefix", { "{ \"id\" : \"x\" , \"choices\" :[]}",
          "{ \"id\" : \"x\" , \"choices\" :[{\"delta\":{\"content\":\"s\"}}]}" }, true },
        { "a big number in the prefix", { "{\"created\":1e5,\"choices\":[]}",
          "{\"created\":1e5,\"choices\":[{\"text\":\"n\"}]}" }, true },
        { "non-ASCII in the prefix", { "{\"model\":\"caf\xc3\xa9\",\"choices\":[]}",
          "{\"model\":\"caf\xc3\xa9\",\"choices\":[{\"text\":\"n\"}]}" }, true },
        { "a choice taken, then the whole parse", { S_HEAD "\"choices\":[{\"text\":\"a\"}]}",
          S_HEAD "\"choices\":[{\"text\":\"b\"},{\"text\":\"c\"}],\"error\":{\"message\":\"\\u0065\"}}",
          S_HEAD "\"choices\":[{\"text\":\"d\"}]}" }, true },
        { "a choice taken, then refused", { S_HEAD "\"choices\":[{\"text\":\"a\"}]}",
          S_HEAD "\"choices\":[{\"text\":\"b\"},{\"text\":\"c\",\"n\":1e999}]}",
          S_HEAD "\"choices\":[{\"delta\":{\"content\":\"d\"},\"finish_reason\":\"stop\"}]}" }, true },
    };
    #undef S_HEAD
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        mt_test_case ("cached scan: %s", rows [i].name);
        wa_openai_scan_cache_t cache, cache2;
        memset (&cache, 0, sizeof cache);
        memset (&cache2, 0, sizeof cache2);
        wa_openai_sink_t sink;
        memset (&sink, 0, sizeof sink);
        size_t n = 0;
        while (n < 5 && rows [i].events [n])
            n++;
        for (size_t k = 0; k < n; k++) {
            const char *data = rows [i].events [k];
            size_t len = strlen (data);
            bool hit = cache.len && len > cache.len && !memcmp (data, cache.prefix, cache.len);
            wa_openai_event_t a, b;
            int rc_a = wa_openai_parse_event_cached (data, len, &a, &cache);
            int rc_b = wa_openai_parse_event (data, len, &b);
            CHECK_MSG (rc_a == rc_b, "event %zu: rc %d, not %d", k, rc_a, rc_b);
            CHECK_MSG (s_same_event (&a, &b), "event %zu: another result", k);
            //  Into a sink: the same, its text and choices appended there
            size_t text_len = sink.text_len, nchoices = sink.nchoices;
            wa_openai_event_t c;
            CHECK_INT (wa_openai_parse_event_into (data, len, &c, &cache2, &sink), rc_b);
            CHECK (c.content == NULL && c.choices == NULL && c.nchoices == 0);
            c.content = sink.text_len > text_len? sink.text + text_len: NULL;
            c.choices = sink.choices + nchoices;
            c.nchoices = sink.nchoices - nchoices;
            CHECK_MSG (s_same_event (&c, &b), "event %zu: another result into the sink", k);
            CHECK (!sink.text || sink.text [sink.text_len] == 0);
            free (c.error);
            wa_openai_event_clear (&a);
            wa_openai_event_clear (&b);
            if (k + 1 == n)
                CHECK_MSG (hit == rows [i].resumes, "the last event: resumed %d", hit);
        }
        for (size_t k = 0; k < sink.nchoices; k++)
            free (sink.choices [k].json);
        free (sink.choices);
        free (sink.text);
    }
}

static void
test_parse_embeddings (void)
{
    const char *ok = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,0.2]},"
                     "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"AAAA\"}],\"model\":\"m\","
                     "\"usage\":{\"prompt_tokens\":7,\"total_tokens\":7}}";
    wa_openai_event_t ev;
    CHECK_INT (wa_openai_parse_embeddings (ok, strlen (ok), &ev), 0);
    CHECK_INT (ev.nchoices, 2);
    CHECK_INT (ev.has_usage, 1);
    CHECK_INT (ev.prompt_tokens, 7);
    CHECK_INT (ev.completion_tokens, 0);
    CHECK (ev.nchoices == 2 && ev.choices [1].index == 1 && ev.choices [0].tokens == 0);
    json_t *item = ev.nchoices == 2? json_loadb (ev.choices [0].json, ev.choices [0].len, 0, NULL): NULL;
    CHECK (json_real_value (json_array_get (json_object_get (item, "embedding"), 1)) == 0.2);
    json_decref (item);
    wa_openai_event_clear (&ev);
    const char *bad [] = { "", "[]", "{}", "{\"data\":{}}", "{\"data\":\"x\"}" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        CHECK_INT (wa_openai_parse_embeddings (bad [i], strlen (bad [i]), &ev), -1);
        CHECK (ev.nchoices == 0 && ev.choices == NULL);
    }
    const char *nousage = "{\"data\":[],\"usage\":{\"prompt_tokens\":-1}}";
    CHECK_INT (wa_openai_parse_embeddings (nousage, strlen (nousage), &ev), 0);
    CHECK_INT (ev.has_usage, 0);
    wa_openai_event_clear (&ev);
    char err [64];
    const char *in = "{\"model\":\"m\",\"input\":\"x\"}";
    char *body = wa_openai_body_embeddings (in, strlen (in), err, sizeof err);
    CHECK (body && !strstr (body, "stream") && strstr (body, "\"input\":\"x\""));
    free (body);
    CHECK (wa_openai_body_embeddings ("[1]", 3, err, sizeof err) == NULL);
}

int
main (void)
{
    MT_RUN (test_parse_event);
    MT_RUN (test_parse_choices);
    MT_RUN (test_parse_event_forms);
    MT_RUN (test_parse_embeddings);
    MT_RUN (test_body);
    test_sse_line ();
    test_parse_usage ();
    test_parse_cached ();
    return mt_test_done ("test_wa_openai");
}
