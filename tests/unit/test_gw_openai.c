//  Unit tests of the gateway's pure modules: OpenAI JSON mapping, SSE framing,
//  rate-limit reset durations.
#include "mt_test.h"
#include "gw_openai.h"
#include "gw_sse.h"
#include "mt_log.h"
#include "mt_util.h"

#include <stdlib.h>

static void
test_parse_table (void)
{
    struct {
        gw_kind_t kind;
        const char *body;
        const char *code;           //  NULL = accepted
        const char *param;
        unsigned int max_tokens;    //  expected when accepted
    } table [] = {
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":7}", NULL, NULL, 7 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":9}", NULL, NULL, 9 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{not json", "invalid_json", NULL, 0 },
        { GW_KIND_CHAT, "", "invalid_json", NULL, 0 },
        { GW_KIND_CHAT, "[1,2]", "invalid_value", NULL, 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"model\":\"n\",\"messages\":[]}", "invalid_json", NULL, 0 },
        { GW_KIND_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "missing_required_parameter", "model", 0 },
        { GW_KIND_CHAT, "{\"model\":42,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "invalid_value", "model", 0 },
        { GW_KIND_CHAT, "{\"model\":\"\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", "invalid_value", "model", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\"}", "missing_required_parameter", "messages", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[]}", "invalid_value", "messages", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "invalid_value", "messages", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"hi\"}]}", "invalid_value", "messages[0].role", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", "invalid_value", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":-1}", "invalid_value", "max_tokens", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0}", "invalid_value", "max_tokens", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":\"5\"}", "invalid_value", "max_tokens", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":99999999999}", "invalid_value", "max_tokens", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":\"yes\"}", "invalid_value", "stream", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", "invalid_value", "n", 0 },
        { GW_KIND_COMPLETION, "{\"model\":\"m\",\"prompt\":\"Say this\"}", NULL, NULL, 512 },
        { GW_KIND_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"],\"max_tokens\":3}", NULL, NULL, 3 },
        { GW_KIND_COMPLETION, "{\"model\":\"m\"}", "missing_required_parameter", "prompt", 0 },
        { GW_KIND_COMPLETION, "{\"model\":\"m\",\"prompt\":[1]}", "invalid_value", "prompt", 0 },
        { GW_KIND_COMPLETION, "{\"model\":\"m\",\"prompt\":{}}", "invalid_value", "prompt", 0 },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        gw_request_t req;
        gw_refusal_t why;
        int rc = gw_request_parse (table [i].kind, table [i].body, strlen (table [i].body), 512, &req, &why);
        if (!table [i].code) {
            CHECK_MSG (rc == 0, "case %zu refused: %s", i, why.message);
            if (rc == 0) {
                CHECK_INT (req.max_tokens, table [i].max_tokens);
                CHECK_STR (req.model, "m");
                CHECK (req.prompt != NULL);
            }
            gw_request_clear (&req);
        }
        else {
            CHECK_MSG (rc == -1, "case %zu accepted", i);
            if (rc == -1) {
                CHECK_STR (why.error->code, table [i].code);
                CHECK_STR (why.param, table [i].param? table [i].param: "");
                CHECK (strlen (why.message) > 0);
            }
        }
    }
}

static void
test_parse_fields (void)
{
    const char *body = "{\"model\":\"sim-small\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"What is 2+2?\"}],\"temperature\":0.2}";
    gw_request_t req;
    gw_refusal_t why;
    CHECK_INT (gw_request_parse (GW_KIND_CHAT, body, strlen (body), 100, &req, &why), 0);
    CHECK (req.stream);
    CHECK (req.include_usage);
    CHECK_STR (req.prompt, "system: Be brief.\nuser: What is 2+2?\n");
    CHECK_INT (req.prompt_tokens, mt_tokens_count (req.prompt, strlen (req.prompt)));
    gw_request_clear (&req);
}

static void
test_bodies (void)
{
    char *body = gw_openai_completion (GW_KIND_CHAT, "chatcmpl-1", "m", 1700000000, "Hi there", 8, "stop", 5, 2);
    CHECK (body && strstr (body, "\"object\":\"chat.completion\""));
    CHECK (body && strstr (body, "\"content\":\"Hi there\""));
    CHECK (body && strstr (body, "\"role\":\"assistant\""));
    CHECK (body && strstr (body, "\"total_tokens\":7"));
    CHECK (body && strstr (body, "\"finish_reason\":\"stop\""));
    free (body);
    body = gw_openai_completion (GW_KIND_COMPLETION, "cmpl-1", "m", 1, "x\"y", 3, "length", 1, 1);
    CHECK (body && strstr (body, "\"object\":\"text_completion\""));
    CHECK (body && strstr (body, "\"text\":\"x\\\"y\""));
    free (body);
    body = gw_openai_chunk (GW_KIND_CHAT, "chatcmpl-1", "m", 1, "Hi", 2, true, NULL);
    CHECK (body && strstr (body, "\"object\":\"chat.completion.chunk\""));
    CHECK (body && strstr (body, "\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"}"));
    CHECK (body && strstr (body, "\"finish_reason\":null"));
    CHECK (body && !strchr (body, '\n'));
    free (body);
    body = gw_openai_chunk (GW_KIND_CHAT, "chatcmpl-1", "m", 1, NULL, 0, false, "stop");
    CHECK (body && strstr (body, "\"delta\":{}"));
    CHECK (body && strstr (body, "\"finish_reason\":\"stop\""));
    free (body);
    body = gw_openai_usage_chunk (GW_KIND_CHAT, "chatcmpl-1", "m", 1, 3, 4);
    CHECK (body && strstr (body, "\"choices\":[]"));
    CHECK (body && strstr (body, "\"total_tokens\":7"));
    free (body);
    const char *models [] = { "a", "b" };
    body = gw_openai_models (models, 2, 1);
    CHECK (body && strstr (body, "\"object\":\"list\""));
    CHECK (body && strstr (body, "\"id\":\"b\""));
    free (body);
    body = gw_openai_model ("sim-small", 7);
    CHECK (body && strstr (body, "\"id\":\"sim-small\""));
    CHECK (body && strstr (body, "\"object\":\"model\""));
    CHECK (body && strstr (body, "\"created\":7"));
    free (body);
    body = gw_openai_models (NULL, 0, 1);
    CHECK (body && strstr (body, "\"data\":[]"));
    free (body);
}

static void
test_sse (void)
{
    gw_sse_t *sse = gw_sse_new ();
    CHECK (!gw_sse_finished (sse));
    gw_sse_event (sse, "{\"a\":1}", 7);
    gw_sse_comment (sse, "keep-alive");
    char buf [8];
    char all [256] = "";
    size_t n;
    //  drained in small pieces, as a content reader with a small buffer would
    while ((n = gw_sse_read (sse, buf, sizeof buf)) > 0)
        strncat (all, buf, n);
    CHECK_STR (all, "data: {\"a\":1}\n\n: keep-alive\n\n");
    CHECK (!gw_sse_finished (sse));
    //  interleave writes and reads across buffer growth
    for (int i = 0; i < 1000; i++)
        gw_sse_event (sse, "0123456789", 10);
    CHECK_INT (gw_sse_pending (sse), 1000 * 18);
    size_t total = 0;
    while ((n = gw_sse_read (sse, buf, sizeof buf)) > 0)
        total += n;
    CHECK_INT (total, 1000 * 18);
    CHECK_INT (gw_sse_done (sse), 0);
    CHECK_INT (gw_sse_event (sse, "x", 1), -1);
    CHECK (!gw_sse_finished (sse));
    char done [32] = "";
    n = gw_sse_read (sse, done, sizeof done - 1);
    done [n] = 0;
    CHECK_STR (done, "data: [DONE]\n\n");
    CHECK (gw_sse_finished (sse));
    gw_sse_destroy (&sse);
    CHECK (sse == NULL);
}

static void
test_duration (void)
{
    struct { uint64_t ms; const char *text; } table [] = {
        { 0, "0ms" }, { 12, "12ms" }, { 999, "999ms" }, { 1000, "1s" }, { 1500, "1.5s" },
        { 59999, "59.999s" }, { 60000, "1m0s" }, { 360000, "6m0s" }, { 61250, "1m1.25s" },
        { 3723000, "1h2m3s" },
    };
    for (size_t i = 0; i < sizeof table / sizeof table [0]; i++) {
        char out [32];
        gw_openai_duration (table [i].ms, out, sizeof out);
        CHECK_STR (out, table [i].text);
    }
}

int
main (void)
{
    mt_log_init ("test_gw_openai");
    MT_RUN (test_parse_table);
    MT_RUN (test_parse_fields);
    MT_RUN (test_bodies);
    MT_RUN (test_sse);
    MT_RUN (test_duration);
    return mt_test_done ("test_gw_openai");
}
