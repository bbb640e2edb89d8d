//  Unit tests of the stream-to-whole assembly (gw_assemble): a table of
//  chunk choice sequences and the whole choices OpenAI would have sent.
#include "mt_test.h"
#include "gw_assemble.h"

#include <jansson.h>
#include <stdlib.h>

#define S_MAX_DELTAS 40

typedef struct {
    const char *name;
    gw_kind_t kind;
    const char *deltas [S_MAX_DELTAS];     //  chunk choices in arrival order, NULL-ended;
                                            //  a leading '#' means plain text of choice 0
    const char *finish;                     //  JobDone's finish_reason (NULL: null)
    const char *want;                       //  the whole choices array
} s_case_t;

static const s_case_t s_cases [] = {
    { "plain text from pieces", GW_KIND_CHAT,
      { "#Hello", "# world", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hello world\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
    { "nothing at all", GW_KIND_CHAT, { NULL }, "length",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"length\"}]" },
    { "arguments split across many chunks", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
        "\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},"
        "\"logprobs\":null,\"finish_reason\":null}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"ci\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"Pa\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ris\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"\\\"}\"}}]}}",
        "{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
      "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
      "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]" },
    { "parallel tool calls, interleaved", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"\"}},{\"index\":1,\"id\":\"b\",\"type\":\"function\","
        "\"function\":{\"name\":\"g\",\"arguments\":\"{\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"}\"}}]}}",
        "{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"x\\\":1}\"}}]}}",
        NULL }, "tool_calls",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,\"tool_calls\":["
      "{\"id\":\"a\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"}},"
      "{\"id\":\"b\",\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]},"
      "\"logprobs\":null,\"finish_reason\":\"tool_calls\"}]" },
    { "a choice finishing before another", GW_KIND_CHAT,
      { "{\"index\":1,\"delta\":{\"role\":\"assistant\",\"content\":\"B\"}}",
        "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"A\"}}",
        "{\"index\":1,\"delta\":{},\"finish_reason\":\"stop\"}",
        "{\"index\":0,\"delta\":{\"content\":\"AA\"}}",
        "{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"AAA\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"length\"},"
      "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"B\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
    { "a choice without its own finish takes the job's", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"content\":\"x\"}}", "{\"index\":1,\"delta\":{\"content\":\"y\"},"
        "\"finish_reason\":\"stop\"}", NULL }, "length",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"x\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"length\"},"
      "{\"index\":1,\"message\":{\"role\":\"assistant\",\"content\":\"y\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
    { "refusal, content null", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}",
        "{\"index\":0,\"delta\":{\"refusal\":\"I can\"}}", "{\"index\":0,\"delta\":{\"refusal\":\"not.\"}}",
        NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"I cannot.\"},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
    { "logprobs content and top_logprobs joined", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-1,"
        "\"bytes\":[97],\"top_logprobs\":[{\"token\":\"a\",\"logprob\":-1,\"bytes\":[97]}]}],\"refusal\":null}}",
        "{\"index\":0,\"delta\":{\"content\":\"b\"},\"logprobs\":{\"content\":[{\"token\":\"b\",\"logprob\":-2,"
        "\"bytes\":[98],\"top_logprobs\":[]}],\"refusal\":null}}",
        "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}", NULL }, NULL,
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ab\",\"refusal\":null},"
      "\"logprobs\":{\"content\":[{\"token\":\"a\",\"logprob\":-1,\"bytes\":[97],\"top_logprobs\":"
      "[{\"token\":\"a\",\"logprob\":-1,\"bytes\":[97]}]},{\"token\":\"b\",\"logprob\":-2,\"bytes\":[98],"
      "\"top_logprobs\":[]}],\"refusal\":null},\"finish_reason\":\"stop\"}]" },
    { "unknown fields kept: strings joined, others last", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"reasoning_content\":\"thin\",\"content\":\"\"},\"stop_reason\":null}",
        "{\"index\":0,\"delta\":{\"reasoning_content\":\"k\",\"content\":\"ok\"},\"stop_reason\":42,"
        "\"finish_reason\":\"stop\"}", NULL }, NULL,
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\",\"refusal\":null,"
      "\"reasoning_content\":\"think\"},\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":42}]" },
    { "the legacy function_call, name and arguments joined", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"function_call\":{\"name\":\"f\","
        "\"arguments\":\"\"}}}",
        "{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"{\\\"a\\\":\"}}}",
        "{\"index\":0,\"delta\":{\"function_call\":{\"arguments\":\"1}\"}},\"finish_reason\":\"function_call\"}",
        NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,\"refusal\":null,"
      "\"function_call\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}},\"logprobs\":null,"
      "\"finish_reason\":\"function_call\"}]" },
    { "completion text and logprobs", GW_KIND_COMPLETION,
      { "{\"index\":0,\"text\":\" a\",\"logprobs\":{\"tokens\":[\" a\"],\"token_logprobs\":[-1],"
        "\"top_logprobs\":[{\" a\":-1}],\"text_offset\":[0]},\"finish_reason\":null}",
        "{\"index\":0,\"text\":\" b\",\"logprobs\":{\"tokens\":[\" b\"],\"token_logprobs\":[-2],"
        "\"top_logprobs\":[{\" b\":-2}],\"text_offset\":[2]},\"finish_reason\":\"length\"}", NULL }, "stop",
      "[{\"index\":0,\"text\":\" a b\",\"logprobs\":{\"tokens\":[\" a\",\" b\"],\"token_logprobs\":[-1,-2],"
      "\"top_logprobs\":[{\" a\":-1},{\" b\":-2}],\"text_offset\":[0,2]},\"finish_reason\":\"length\"}]" },
    { "plain tokens scanned, the rest parsed, the same whole", GW_KIND_CHAT,
      { " { \"index\" : 0 ,\n \"delta\" : { \"role\" : \"assistant\" , \"content\" : \"a\" } ,"
        " \"logprobs\" : null , \"finish_reason\" : null } ",
        "{\"index\":0,\"delta\":{\"content\":\"\\u00e9\\n\"},\"logprobs\":null,\"finish_reason\":null}",
        "{\"delta\":{\"content\":\"\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80\",\"refusal\":null},\"index\":0}",
        "{\"index\":0,\"delta\":{\"content\":\"x\",\"content\":\"y\"}}",
        "{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"a\xc3\xa9\\n\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80" "y\","
      "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"length\"}]" },
    { "what the scan refuses, the parse skips as before", GW_KIND_CHAT,
      { "{\"index\":0,\"delta\":{\"content\":\"\xc3\x28\"}}",
        "{\"index\":0,\"delta\":{\"content\":\"\xed\xa0\x80\"}}",
        "{\"index\":0,\"delta\":{\"content\":\"\xc0\xaf\"}}",
        "{\"index\":0,\"delta\":{\"content\":\"tab\there\"}}",
        "{\"index\":0,\"delta\":{\"content\":\"trailing\"}} x",
        "{\"index\":0,\"delta\":{\"content\":\"open\"}",
        "{\"index\":1e0,\"delta\":{\"content\":\"exp\"}}",
        "{\"index\":0,\"delta\":{\"content\":\"ok\"}}", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
    { "unreadable deltas are skipped", GW_KIND_CHAT,
      { "not json", "[1]", "{\"index\":-1,\"delta\":{\"content\":\"no\"}}",
        "{\"index\":\"0\",\"delta\":{\"content\":\"no\"}}", "{\"index\":100000,\"delta\":{\"content\":\"no\"}}",
        "{\"index\":0,\"delta\":\"x\",\"logprobs\":7}", "{\"index\":0,\"delta\":{\"tool_calls\":[7,"
        "{\"index\":999,\"function\":{\"arguments\":\"x\"}}]}}", "#ok", NULL }, "stop",
      "[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\",\"refusal\":null},"
      "\"logprobs\":null,\"finish_reason\":\"stop\"}]" },
};

static void
test_table (void)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases [0]; i++) {
        const s_case_t *c = &s_cases [i];
        gw_assemble_t *a = gw_assemble_new (c->kind);
        CHECK (a != NULL);
        for (size_t k = 0; c->deltas [k]; k++) {
            const char *d = c->deltas [k];
            if (*d == '#')
                gw_assemble_text (a, d + 1, strlen (d + 1));
            else
                gw_assemble_choice (a, d, strlen (d));
        }
        json_t *got = gw_assemble_choices (a, c->finish);
        json_error_t jerr;
        json_t *want = json_loads (c->want, 0, &jerr);
        CHECK_MSG (want != NULL, "%s: the wanted JSON does not parse: %s", c->name, jerr.text);
        char *text = json_dumps (got, JSON_COMPACT);
        CHECK_MSG (json_equal (got, want), "%s:\n  got  %s\n  want %s", c->name, text, c->want);
        free (text);
        json_decref (got);
        json_decref (want);
        gw_assemble_destroy (&a);
        CHECK (a == NULL);
    }
    gw_assemble_destroy (NULL);
}

//  Splitting the same arguments at every point gives the same whole call.
static void
test_every_split (void)
{
    const char *args = "{\"city\":\"Z\\u00fcrich\",\"days\":3}";
    json_t *want = NULL;
    size_t len = strlen (args);
    for (size_t cut = 0; cut <= len; cut++) {
        gw_assemble_t *a = gw_assemble_new (GW_KIND_CHAT);
        json_t *first = json_pack ("{s:i, s:{s:[{s:i, s:s, s:s, s:{s:s, s:s%}}]}}", "index", 0, "delta",
                                   "tool_calls", "index", 0, "id", "c", "type", "function", "function",
                                   "name", "f", "arguments", args, cut);
        json_t *second = json_pack ("{s:i, s:{s:[{s:i, s:{s:s}}]}}", "index", 0, "delta", "tool_calls",
                                    "index", 0, "function", "arguments", args + cut);
        char *t1 = json_dumps (first, JSON_COMPACT);
        char *t2 = json_dumps (second, JSON_COMPACT);
        gw_assemble_choice (a, t1, strlen (t1));
        gw_assemble_choice (a, t2, strlen (t2));
        json_t *got = gw_assemble_choices (a, "tool_calls");
        if (!want)
            want = json_incref (got);
        CHECK_MSG (json_equal (got, want), "split at %zu differs", cut);
        const char *whole = json_string_value (json_object_get (json_object_get (json_array_get (
            json_object_get (json_object_get (json_array_get (got, 0), "message"), "tool_calls"), 0),
            "function"), "arguments"));
        CHECK_STR (whole, args);
        free (t1);
        free (t2);
        json_decref (first);
        json_decref (second);
        json_decref (got);
        gw_assemble_destroy (&a);
    }
    json_decref (want);
}

int
main (void)
{
    MT_RUN (test_table);
    MT_RUN (test_every_split);
    return mt_test_done ("test_gw_assemble");
}
