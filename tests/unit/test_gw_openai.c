//  Unit tests of the gateway's pure modules: OpenAI JSON mapping, SSE framing,
//  rate-limit reset durations.
#include "mt_test.h"
#include "gw_openai.h"
#include "gw_assemble.h"
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
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":0}", "invalid_value", "n", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":129}", "invalid_value", "n", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":1.5}", "invalid_value", "n", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":{}}", "invalid_value", "tools", 0 },
        //  Every message shape of the API
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"c\",\"content\":\"42\"}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"refusal\":\"no\"}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"see\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}},{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"AA==\",\"format\":\"wav\"}},{\"type\":\"file\",\"file\":{\"file_id\":\"f\"}}]}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\",\"refusal\":\"no\"}]}]}", NULL, NULL, 512 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}", "missing_required_parameter", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"tool_call_id\":\"c\"}]}", "missing_required_parameter", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}]}", "invalid_value", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[7]}]}", "invalid_value", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]}", "invalid_value", "messages[0].content", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":{}}]}", "invalid_value", "messages[0].tool_calls", 0 },
        { GW_KIND_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[1]}]}", "invalid_value", "messages[0].tool_calls", 0 },
        //  Embeddings
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":\"hello world\"}", NULL, NULL, 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"encoding_format\":\"base64\",\"dimensions\":8}", NULL, NULL, 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[1,2,3],\"encoding_format\":\"float\"}", NULL, NULL, 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[[1,2],[3]]}", NULL, NULL, 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\"}", "missing_required_parameter", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":\"\"}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[]}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[\"a\",\"\"]}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[\"a\",1]}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":[[1],[-2]]}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":{}}", "invalid_value", "input", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":\"a\",\"encoding_format\":\"int8\"}", "invalid_value", "encoding_format", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":\"a\",\"dimensions\":0}", "invalid_value", "dimensions", 0 },
        { GW_KIND_EMBEDDING, "{\"model\":\"m\",\"input\":\"a\",\"stream\":true}", "invalid_value", "stream", 0 },
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
    CHECK_INT (req.n, 1);
    gw_request_clear (&req);
    //  Images and other parts count an allowance each; tool calls count as text
    body = "{\"model\":\"m\",\"n\":3,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
           "\"text\":\"Look\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}},{\"type\":\"image_url\","
           "\"image_url\":{\"url\":\"y\"}}]},{\"role\":\"assistant\",\"tool_calls\":[{\"function\":"
           "{\"name\":\"f\",\"arguments\":\"{}\"}}]}]}";
    CHECK_INT (gw_request_parse (GW_KIND_CHAT, body, strlen (body), 100, &req, &why), 0);
    CHECK_STR (req.prompt, "user: Look\nassistant:  f({})\n");
    CHECK_INT (req.prompt_tokens, mt_tokens_count (req.prompt, strlen (req.prompt)) + 2 * GW_PART_TOKENS);
    CHECK_INT (req.n, 3);
    gw_request_clear (&req);
    //  Embeddings: input tokens, token ids count as themselves; no completion
    body = "{\"model\":\"m\",\"input\":[\"one two\",\"three\"]}";
    CHECK_INT (gw_request_parse (GW_KIND_EMBEDDING, body, strlen (body), 100, &req, &why), 0);
    CHECK_INT (req.prompt_tokens, mt_tokens_count ("one two", 7) + mt_tokens_count ("three", 5));
    CHECK_INT (req.max_tokens, 0);
    CHECK (!req.stream);
    gw_request_clear (&req);
    body = "{\"model\":\"m\",\"input\":[[1,2,3],[4]]}";
    CHECK_INT (gw_request_parse (GW_KIND_EMBEDDING, body, strlen (body), 100, &req, &why), 0);
    CHECK_INT (req.prompt_tokens, 4);
    gw_request_clear (&req);
}

//  Splices: a prefix and a choice make one valid chunk; embeddings items
//  make one valid body; a whole answer carries the fingerprint.
static void
test_splices (void)
{
    json_error_t jerr;
    char *head = gw_openai_chunk_prefix (GW_KIND_CHAT, "chatcmpl-1", "m", 7, "fp_1");
    CHECK (head && head [strlen (head) - 1] == '[');
    const char *choice = "{\"index\":1,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}";
    char event [512];
    snprintf (event, sizeof event, "%s%s]}", head? head: "", choice);
    json_t *root = json_loads (event, 0, &jerr);
    CHECK_MSG (root != NULL, "chunk %s", event);
    CHECK_STR (json_string_value (json_object_get (root, "system_fingerprint")), "fp_1");
    CHECK_STR (json_string_value (json_object_get (root, "object")), "chat.completion.chunk");
    CHECK_INT (json_integer_value (json_object_get (json_array_get (json_object_get (root, "choices"), 0), "index")), 1);
    json_decref (root);
    free (head);
    head = gw_openai_chunk_prefix (GW_KIND_COMPLETION, "cmpl-1", "m", 7, "");
    CHECK (head && !strstr (head, "system_fingerprint") && strstr (head, "text_completion"));
    free (head);

    const char *items = "{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.5]},"
                        "{\"object\":\"embedding\",\"index\":1,\"embedding\":\"AAAAPw==\"}";
    char *body = gw_openai_embeddings ("m", items, strlen (items), 9);
    root = body? json_loads (body, 0, &jerr): NULL;
    CHECK_MSG (root != NULL, "embeddings body %s", body? body: "(null)");
    CHECK_STR (json_string_value (json_object_get (root, "object")), "list");
    CHECK_INT (json_array_size (json_object_get (root, "data")), 2);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (root, "usage"), "prompt_tokens")), 9);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (root, "usage"), "total_tokens")), 9);
    json_decref (root);
    free (body);
    body = gw_openai_embeddings ("m", "", 0, 0);
    root = body? json_loads (body, 0, &jerr): NULL;
    CHECK (root && json_array_size (json_object_get (root, "data")) == 0);
    json_decref (root);
    free (body);

    body = gw_openai_whole (GW_KIND_CHAT, "chatcmpl-2", "m", 1, "fp_2", json_array (), 3, 4);
    root = body? json_loads (body, 0, &jerr): NULL;
    CHECK (root != NULL);
    CHECK_STR (json_string_value (json_object_get (root, "system_fingerprint")), "fp_2");
    CHECK_STR (json_string_value (json_object_get (root, "object")), "chat.completion");
    CHECK_INT (json_integer_value (json_object_get (json_object_get (root, "usage"), "total_tokens")), 7);
    json_decref (root);
    free (body);
    //  An SSE event spliced from three parts; a newline in any is refused
    gw_sse_t *sse = gw_sse_new ();
    CHECK_INT (gw_sse_event_splice (sse, "{\"a\":[", 6, "1", 1, "]}", 2), 0);
    CHECK_INT (gw_sse_event_splice (sse, "{", 1, "\n", 1, "}", 1), -1);
    char out [64] = "";
    size_t n = gw_sse_read (sse, out, sizeof out - 1);
    out [n] = 0;
    CHECK_STR (out, "data: {\"a\":[1]}\n\n");
    gw_sse_done (sse);
    CHECK_INT (gw_sse_event_splice (sse, "{", 1, "1", 1, "}", 1), -1);
    gw_sse_destroy (&sse);
    body = gw_openai_whole (GW_KIND_COMPLETION, "cmpl-2", "m", 1, NULL, json_array (), 3, 4);
    CHECK (body && strstr (body, "\"system_fingerprint\":null") && strstr (body, "text_completion"));
    free (body);
}

//  A whole answer of plain text, as the gateway builds it from pieces.
static char *
s_whole_text (gw_kind_t kind, const char *id, uint64_t created, const char *text,
              const char *finish, uint32_t prompt, uint32_t completion)
{
    gw_assemble_t *a = gw_assemble_new (kind);
    gw_assemble_text (a, text, strlen (text));
    char *body = gw_openai_whole (kind, id, "m", created, "", gw_assemble_choices (a, finish),
                                  prompt, completion);
    gw_assemble_destroy (&a);
    return body;
}

static void
test_bodies (void)
{
    char *body = s_whole_text (GW_KIND_CHAT, "chatcmpl-1", 1700000000, "Hi there", "stop", 5, 2);
    CHECK (body && strstr (body, "\"object\":\"chat.completion\""));
    CHECK (body && strstr (body, "\"content\":\"Hi there\""));
    CHECK (body && strstr (body, "\"role\":\"assistant\""));
    CHECK (body && strstr (body, "\"total_tokens\":7"));
    CHECK (body && strstr (body, "\"finish_reason\":\"stop\""));
    free (body);
    body = s_whole_text (GW_KIND_COMPLETION, "cmpl-1", 1, "x\"y", "length", 1, 1);
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
    MT_RUN (test_splices);
    MT_RUN (test_bodies);
    MT_RUN (test_sse);
    MT_RUN (test_duration);
    return mt_test_done ("test_gw_openai");
}
